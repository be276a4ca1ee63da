//! Reports with a workload part, on both stores and at a collector that behaves like the
//! original.

use super::*;

/// Both stores take a report with a workload part (the stdout store prints it as received); a
/// part over its limits is clamped and counted, not refused; a part of the wrong shape is
/// refused with where it is wrong, as any other fault of shape.
#[test]
fn reports_with_a_workload_part_are_accepted_checked_and_clamped() {
    let dir = TempDir::new("workloads");
    let c = Collector::sqlite(&dir, &[]);
    let body = report_with_workloads("w1", 3, &workloads_json());
    assert_eq!(c.post(body.as_bytes(), &[]).status, 204);
    let zipped = gzip(report_with_workloads("w1z", 2, &workloads_json()).as_bytes());
    let resp = c.post(&zipped, &[("Content-Encoding", "gzip")]);
    assert_eq!(resp.status, 204);
    let over = r#"{"pods":{"total":100000001,"perNamespace":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23]}}"#;
    assert_eq!(
        c.post(report_with_workloads("w2", 1, over).as_bytes(), &[])
            .status,
        204
    );
    let clamped = "spartakus_collector_values_clamped_total";
    assert_eq!(
        c.metric(&format!("{clamped}{{field=\"workloads.count\"}}")),
        1.0
    );
    assert_eq!(
        c.metric(&format!("{clamped}{{field=\"workloads.perNamespace\"}}")),
        1.0
    );
    for (part, place) in [
        (r#"{"pods":{"total":"many"}}"#, "workloads.pods.total"),
        (
            r#"{"pods":{"total":1,"age":{"count":-1}}}"#,
            "workloads.pods.age.count",
        ),
        (r#"[1,2]"#, "workloads"),
    ] {
        let resp = c.post(report_with_workloads("w3", 1, part).as_bytes(), &[]);
        assert_eq!(resp.status, 400, "{part}");
        assert!(resp.text().contains(place), "{part}: {}", resp.text());
    }
    assert_eq!(c.metric("spartakus_collector_reports_accepted_total"), 3.0);
    let summary = summary_json(&dir.db(), &[]);
    assert_eq!(summary["clusters"], 3, "{summary}");

    let c = Collector::start("stdout", &[]);
    assert_eq!(c.post(body.as_bytes(), &[]).status, 204);
    let line: serde_json::Value = serde_json::from_str(c.stdout_lines(1).trim()).unwrap();
    let sent: serde_json::Value = serde_json::from_str(&workloads_json()).unwrap();
    assert_eq!(line["report"]["workloads"], sent);
    assert_eq!(line["report"]["nodes"].as_array().unwrap().len(), 3);
}

/// A report carrying the workload part is still, to the original collector, exactly the report
/// without it: the fixture the original volunteer sent, with the part added, decodes into the
/// original's record as the fixture alone does, and our key cannot be taken for one of its
/// fields (Go compares keys case-insensitively). The original collector stand-in accepts it.
#[test]
fn the_original_collector_ignores_the_workload_part() {
    let with_part = format!(
        "{},\"workloads\":{}}}",
        ORIGINAL_VOLUNTEER.trim_end().trim_end_matches('}'),
        workloads_json()
    );
    let plain: OriginalRecord = serde_json::from_str(ORIGINAL_VOLUNTEER).unwrap();
    let extended: OriginalRecord = serde_json::from_str(&with_part).unwrap();
    assert_eq!(extended, plain);
    assert_eq!(plain.nodes.as_ref().map(Vec::len), Some(2), "not vacuous");
    let value: serde_json::Value = serde_json::from_str(&with_part).unwrap();
    for key in value.as_object().unwrap().keys() {
        let known = ORIGINAL_RECORD_KEYS
            .iter()
            .any(|k| k.eq_ignore_ascii_case(key));
        assert_eq!(known, key != "workloads", "{key}");
    }
    // Ours reads it whole: the fixture's nodes and the part.
    let (ours, clamps) = spartakus::contract::parse(with_part.as_bytes()).unwrap();
    assert!(clamps.is_empty());
    assert_eq!(ours.nodes.len(), 2);
    assert_eq!(
        ours.workloads,
        Some(spartakus::contract::testing::workloads())
    );
    // The original collector, as the stand-in plays it, answers 204.
    let original = support::collector::Collector::start(support::collector::CollectorConfig {
        reject_gzip: true,
        ..Default::default()
    });
    let addr: SocketAddr = format!("127.0.0.1:{}", original.port()).parse().unwrap();
    let json = [("Content-Type", "application/json")];
    let resp = request(addr, "POST", "/api/v1", &json, with_part.as_bytes());
    assert_eq!(resp.status, 204);
    assert_eq!(
        original.requests()[0].json()["workloads"]["pods"]["total"],
        2000
    );
}

/// `report(cluster, nodes)` with a workload part.
fn report_with_workloads(cluster: &str, nodes: usize, workloads: &str) -> String {
    let plain = report(cluster, nodes);
    format!("{},\"workloads\":{workloads}}}", &plain[..plain.len() - 1])
}

/// The workload part the reporter writes for a small cluster.
fn workloads_json() -> String {
    serde_json::to_string(&spartakus::contract::testing::workloads()).unwrap()
}

/// The original Go collector's record (`pkg/report/record.go` of kubernetes-retired/spartakus),
/// field by field, read as Go's `encoding/json` reads it into that struct: unknown keys are
/// skipped, and keys match field names without regard to case.
#[derive(Debug, PartialEq, serde::Deserialize)]
struct OriginalRecord {
    version: String,
    timestamp: String,
    #[serde(rename = "clusterID")]
    cluster_id: String,
    #[serde(rename = "masterVersion")]
    master_version: Option<String>,
    nodes: Option<Vec<serde_json::Map<String, serde_json::Value>>>,
    extensions: Option<Vec<OriginalExtension>>,
}

#[derive(Debug, PartialEq, serde::Deserialize)]
struct OriginalExtension {
    name: String,
    value: String,
}

/// The Go struct's JSON names: Go matches a key to one of them ignoring case.
const ORIGINAL_RECORD_KEYS: [&str; 6] = [
    "version",
    "timestamp",
    "clusterID",
    "masterVersion",
    "nodes",
    "extensions",
];
