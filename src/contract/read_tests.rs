//! Tests of [`super`]: what the collector accepts, clamps and refuses.

use super::*;
use crate::contract::decode::decode;
use crate::contract::limits::{Field, MAX_CAPACITY, MAX_CLUSTER_ID_CHARS, MAX_STRING_CHARS};
use crate::contract::testing::{Rng, gzip, report, workloads};
use crate::contract::{FORMAT_VERSION, NodeFacts, ReportWriter, Resource, build_node, node_id};

/// The example report of the original spartakus README, as its volunteer sent it.
const ORIGINAL: &str = include_str!("../../tests/fixtures/original-volunteer.json");

fn err(json: &str) -> Invalid {
    parse(json.as_bytes()).unwrap_err()
}

fn schema_message(json: &str) -> String {
    match err(json) {
        Invalid::Schema(m) => m,
        other => panic!("expected a schema error for {json}, got {other:?}"),
    }
}

const ID: &str = "0123456789abcdef0123456789abcdef";

fn with_node(node: &str) -> String {
    format!(r#"{{"version":"v1","clusterID":"x","nodes":[{node}]}}"#)
}

#[test]
fn original_volunteer_report_is_accepted() {
    let (r, clamps) = parse(ORIGINAL.as_bytes()).unwrap();
    assert!(clamps.is_empty());
    assert_eq!(r.version, "v1.0.0");
    assert_eq!(r.timestamp, "867530909031976");
    assert_eq!(r.master_version.as_deref(), Some("v1.3.5"));
    assert_eq!(r.nodes.len(), 2);
    let n = &r.nodes[0];
    assert_eq!(
        n.container_runtime_version.as_deref(),
        Some("docker://1.11.2")
    );
    assert_eq!(n.capacity.len(), 4);
    assert_eq!(n.capacity[2].resource, "memory");
    assert_eq!(n.capacity[2].value, "15437428Ki");
}

/// The original volunteer sends extension values as long as the operator wrote them: the
/// report is kept, the value cut and counted.
#[test]
fn a_long_extension_value_is_clamped_not_refused() {
    let mut original: serde_json::Value = serde_json::from_str(ORIGINAL).unwrap();
    original["extensions"] = serde_json::json!([{"name": "team", "value": "v".repeat(300)}]);
    let (r, clamps) = parse(original.to_string().as_bytes()).unwrap();
    assert_eq!(r.extensions[0].value, "v".repeat(MAX_STRING_CHARS));
    assert_eq!(clamps.get(Field::ExtensionValue), 1);
    assert_eq!(clamps.total(), 1);
    assert_eq!(r.nodes.len(), 2);
}

#[test]
fn optional_values_over_their_limits_are_clamped_and_counted() {
    let capacity: Vec<String> = (0..MAX_CAPACITY + 5)
        .map(|i| format!(r#"{{"resource":"hugepages-{i}Mi","value":"0"}}"#))
        .collect();
    let extensions: Vec<String> = (0..105)
        .map(|i| format!(r#"{{"name":"k{i}","value":"v"}}"#))
        .collect();
    let json = format!(
        r#"{{"version":"v1","clusterID":"x","masterVersion":"v1\u001b[31m",
            "nodes":[{{"id":"{ID}","osImage":"{}","capacity":[{}]}}],
            "extensions":[{}]}}"#,
        "é".repeat(MAX_STRING_CHARS + 1),
        capacity.join(","),
        extensions.join(",")
    );
    let (r, clamps) = parse(json.as_bytes()).unwrap();
    let node = &r.nodes[0];
    assert_eq!(
        node.os_image.as_ref().unwrap().chars().count(),
        MAX_STRING_CHARS
    );
    assert_eq!(node.capacity.len(), MAX_CAPACITY);
    assert_eq!(node.capacity.last().unwrap().value, "6");
    assert_eq!(r.extensions.len(), 100);
    assert_eq!(r.master_version.as_deref(), Some("v1\u{FFFD}[31m"));
    assert_eq!(
        clamps.to_string(),
        "masterVersion:1,nodes.osImage:1,nodes.capacity:6,extensions:5"
    );
    // check() counts the same without keeping nodes.
    let json = decode(json.as_bytes(), false, 1 << 20).unwrap();
    assert_eq!(check(&json).unwrap().clamps, clamps);
}

/// The largest clusters' report, written the way this project's reporter writes it, from nodes
/// with long but real values and eight capacity entries, fits the limits.
#[test]
fn the_largest_clusters_report_fits() {
    let mut facts = NodeFacts::default();
    facts.spec.provider_id = Some("aws:///us-east-1a/i-0123456789abcdef0".into());
    let info = &mut facts.status.node_info;
    info.operating_system = Some("linux".into());
    info.os_image = Some("Red Hat Enterprise Linux CoreOS 418.94.202410090804-0 (Plow)".into());
    info.kernel_version = Some("5.14.0-427.40.1.el9_4.x86_64".into());
    info.architecture = Some("amd64".into());
    info.container_runtime_version = Some("cri-o://1.31.1-4.rhaos4.18.gitb8e3b7b.el9".into());
    info.kubelet_version = Some("v1.31.1+5f8a2b4".into());
    facts.status.capacity = Some(
        [
            ("cpu", "192"),
            ("ephemeral-storage", "3748905984Ki"),
            ("hugepages-1Gi", "0"),
            ("hugepages-2Mi", "0"),
            ("memory", "2113459512Ki"),
            ("nvidia.com/gpu", "8"),
            ("pods", "250"),
            ("widgets.example-corp.com/fpga", "2"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
    );
    let header = Report {
        version: FORMAT_VERSION.into(),
        timestamp: "1764201600".into(),
        cluster_id: "0f8e3a2c-5b6d-4e7f-8a9b-1c2d3e4f5a6b".into(),
        master_version: Some("v1.31.1+5f8a2b4".into()),
        ..Report::default()
    };
    let mut w = ReportWriter::start(Vec::new(), &header).unwrap();
    for i in 0..65_000u32 {
        let id = node_id("c", &i.to_string()).unwrap();
        w.node(build_node(&facts, id)).unwrap();
    }
    let body = w.finish().unwrap();
    assert!(
        body.len() > 30 << 20,
        "a realistic worst case: {} bytes",
        body.len()
    );
    let json = decode(&body, false, limits::MAX_BODY_BYTES).expect("within the size limit");
    let checked = check(&json).expect("within every other limit");
    assert_eq!(checked.nodes, 65_000);
    assert!(checked.clamps.is_empty());
}

#[test]
fn minimal_nulls_empties_and_unknown_fields() {
    let (r, _) = parse(br#"{"version":"v1","clusterID":"x"}"#).unwrap();
    assert_eq!(r.timestamp, "");
    assert!(r.nodes.is_empty() && r.extensions.is_empty());
    let json = format!(
        r#"{{"version":"v1","clusterID":"x","timestamp":null,"masterVersion":"",
            "nodes":[{{"id":"{ID}","osImage":null,"capacity":null,"future":{{"a":[1,2]}}}}],
            "extensions":null,"later":[{{"deep":true}}]}}"#
    );
    let (r, clamps) = parse(json.as_bytes()).unwrap();
    assert!(clamps.is_empty(), "empty is absent, not clamped");
    assert_eq!(r.master_version, None);
    assert_eq!(r.nodes[0].os_image, None);
    assert!(r.nodes[0].capacity.is_empty());
}

#[test]
fn required_fields_and_types() {
    let node_with = |extra: &str| with_node(&format!(r#"{{"id":"{ID}"{extra}}}"#));
    for (json, needle) in [
        (
            r#"{"clusterID":"x"}"#.to_string(),
            "missing field `version`",
        ),
        (r#"{"version":"v1"}"#.into(), "missing field `clusterID`"),
        (
            r#"{"version":"","clusterID":"x"}"#.into(),
            "version is empty",
        ),
        (
            r#"{"version":"v1","clusterID":""}"#.into(),
            "clusterID must be 1 to 128",
        ),
        (
            r#"{"version":"v1","clusterID":"   "}"#.into(),
            "clusterID must be printable",
        ),
        (
            r#"{"version":1,"clusterID":"x"}"#.into(),
            "version: invalid type",
        ),
        (
            r#"{"version":"v1","clusterID":null}"#.into(),
            "clusterID: invalid type",
        ),
        (
            r#"{"version":"v1","clusterID":"x","timestamp":1700000000}"#.into(),
            "timestamp: invalid type",
        ),
        (
            r#"{"version":"v1","clusterID":"x","nodes":{}}"#.into(),
            "nodes: invalid type",
        ),
        (with_node("1"), "nodes[0]: invalid type"),
        (with_node("{}"), "nodes[0]: missing field `id`"),
        (
            node_with(r#","osImage":7"#),
            "nodes[0].osImage: invalid type",
        ),
        (
            node_with(r#","capacity":[{"resource":"cpu"}]"#),
            "nodes[0].capacity[0]: missing field `value`",
        ),
        (
            r#"{"version":"v1","clusterID":"x","extensions":[{"name":"a","value":1}]}"#.into(),
            "extensions[0].value: invalid type",
        ),
        (
            r#"{"version":"v1","clusterID":"x","extensions":[{"value":"1"}]}"#.into(),
            "extensions[0]: missing field `name`",
        ),
        (
            r#"{"version":"v1","version":"v2","clusterID":"x"}"#.into(),
            "duplicate field `version`",
        ),
        (
            node_with(r#","osImage":"a","osImage":"b""#),
            "nodes[0]: duplicate field `osImage`",
        ),
        (r#"[]"#.into(), "report object"),
        (r#""text""#.into(), "report object"),
    ] {
        let m = schema_message(&json);
        assert!(m.contains(needle), "{json}: {m}");
    }
}

#[test]
fn node_ids_are_what_reporters_send_and_distinct() {
    for bad in [
        "",
        "n",
        &ID.to_uppercase(),
        &format!("{ID}0"),
        &"g".repeat(32),
    ] {
        let m = schema_message(&with_node(&format!(r#"{{"id":"{bad}"}}"#)));
        assert!(
            m.contains("nodes[0].id must be 32 lowercase hex"),
            "{bad:?}: {m}"
        );
    }
    let twice = format!(
        r#"{{"id":"{ID}"}},{{"id":"{}"}},{{"id":"{ID}"}}"#,
        "f".repeat(32)
    );
    let m = schema_message(&with_node(&twice));
    assert!(
        m.contains(&format!("node ID {ID} appears more than once")),
        "{m}"
    );
}

#[test]
fn syntax_errors_are_not_schema_errors() {
    for json in [
        "",
        "{",
        "{\"version\":",
        "nul",
        "{\"version\":\"v1\",\"clusterID\":\"x\"}x",
        "\u{feff}{}",
    ] {
        assert!(matches!(err(json), Invalid::Syntax(_)), "{json:?}");
    }
}

#[test]
fn identity_values_are_limited() {
    let id = "a".repeat(MAX_CLUSTER_ID_CHARS);
    assert!(parse(format!(r#"{{"version":"v1","clusterID":"{id}"}}"#).as_bytes()).is_ok());
    let m = schema_message(&format!(r#"{{"version":"v1","clusterID":"{id}x"}}"#));
    assert!(m.contains("clusterID must be 1 to 128"), "{m}");
    let m = schema_message(r#"{"version":"v1","clusterID":"x\u001b[31m"}"#);
    assert!(m.contains("clusterID must be printable"), "{m}");
    let m = schema_message(&format!(
        r#"{{"version":"{}","clusterID":"x"}}"#,
        "v".repeat(257)
    ));
    assert!(m.contains("version is longer than 256"), "{m}");
}

#[test]
fn counts_are_limited_and_the_pass_stops_early() {
    let nodes: Vec<String> = (0..limits::MAX_NODES + 1)
        .map(|i| format!(r#"{{"id":"{i:032x}"}}"#))
        .collect();
    let ok = format!(
        r#"{{"version":"v1","clusterID":"x","nodes":[{}]}}"#,
        nodes[..limits::MAX_NODES].join(",")
    );
    assert_eq!(
        parse(ok.as_bytes()).unwrap().0.nodes.len(),
        limits::MAX_NODES
    );
    let over = with_node(&nodes.join(","));
    assert!(schema_message(&over).contains("more than 100000 entries in `nodes`"));

    let cap = vec![r#"{"resource":"r","value":"1"}"#; MAX_LIST + 1].join(",");
    let m = schema_message(&with_node(&format!(
        r#"{{"id":"{ID}","capacity":[{cap}]}}"#
    )));
    assert!(
        m.contains("nodes[0].capacity: more than 1024 entries"),
        "{m}"
    );
}

#[test]
fn deep_nesting_never_overflows_the_stack() {
    let (open, close) = ("[".repeat(100_000), "]".repeat(100_000));
    // Skipped without recursion when unknown...
    let unknown = format!(r#"{{"version":"v1","clusterID":"x","junk":{open}{close}}}"#);
    assert!(parse(unknown.as_bytes()).is_ok());
    // ...and a type error at the first level where it is known.
    let known = with_node(&format!("{open}{close}"));
    assert!(schema_message(&known).contains("nodes[0]"));
}

/// Every key of a report as written is one the reader knows.
#[test]
fn the_readers_keys_are_the_reports() {
    let full = Report {
        workloads: Some(workloads()),
        ..report("c", 1, 1)
    };
    let value = serde_json::to_value(&full).unwrap();
    for key in value.as_object().unwrap().keys() {
        let parsed: Key = serde_json::from_value(serde_json::json!(key)).unwrap();
        assert!(!matches!(parsed, Key::Unknown), "{key}");
    }
    assert_eq!(parse(&serde_json::to_vec(&full).unwrap()).unwrap().0, full);
}

/// Arbitrary and mutated bodies never panic, and the collector's two passes agree.
#[test]
fn property_arbitrary_and_mutated_bytes_never_panic() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let ext = br#"{"version":"v1.0.0","clusterID":"c","extensions":[{"name":"a/b","value":"c"}]}"#;
    let seeds: [&[u8]; 2] = [ORIGINAL.as_bytes(), ext];
    let mut accepted = 0;
    for _ in 0..20_000 {
        let input = rng.mutate(&seeds);
        let gz = rng.below(8) == 0;
        let body = if gz { gzip(&input) } else { input.clone() };
        let Ok(json) = decode(&body, gz, 1 << 20) else {
            continue;
        };
        let checked = check(&json);
        let whole = parse(&json.to_vec());
        assert_eq!(
            checked
                .as_ref()
                .map(|c| c.nodes)
                .map_err(std::mem::discriminant),
            whole
                .as_ref()
                .map(|(r, _)| r.nodes.len())
                .map_err(std::mem::discriminant),
            "check and parse agree"
        );
        if let Ok((r, _)) = whole {
            accepted += 1;
            assert!(limits::check_cluster_id(&r.cluster_id).is_ok());
        }
    }
    assert!(
        accepted > 100,
        "mutations should keep some reports valid: {accepted}"
    );
}

/// What the reporter writes, from any node an API server could hold, the collector accepts
/// without a clamp, and reads back exactly as written.
#[test]
fn property_every_written_report_reads_back_as_written() {
    let mut rng = Rng(0xfeed_0000_1111_2222);
    for round in 0..300 {
        let header = Report {
            version: FORMAT_VERSION.into(),
            timestamp: rng.text(300),
            cluster_id: format!("cluster-{round}"),
            master_version: Some(rng.text(400)),
            extensions: Vec::new(),
            ..Report::default()
        };
        let mut w = ReportWriter::start(Vec::new(), &header).unwrap();
        let mut written = Vec::new();
        for i in 0..rng.below(6) {
            let facts = rng.node_facts();
            let id = node_id(&header.cluster_id, &format!("{round}-{i}")).unwrap();
            let node = build_node(&facts, id);
            // What the writer writes is the node after the clamp rules.
            let mut expected = node.clone();
            limits::clamp_node(&mut expected, &mut Clamps::default());
            written.push(expected);
            w.node(node).unwrap();
        }
        let bytes = w.finish().unwrap();
        let (back, clamps) = parse(&bytes)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", String::from_utf8_lossy(&bytes)));
        assert!(
            clamps.is_empty(),
            "round {round}: the collector clamped {clamps}"
        );
        assert_eq!(back.nodes, written, "round {round}");
        for n in &back.nodes {
            assert!(n.capacity.len() <= MAX_CAPACITY);
            assert!(
                n.capacity
                    .iter()
                    .all(|r| r.resource.chars().count() <= MAX_STRING_CHARS)
            );
        }
        let mut expected_header = header.header();
        limits::clamp_header(&mut expected_header, &mut Clamps::default());
        assert_eq!(back.header(), expected_header);
    }
}

#[test]
fn a_report_of_ours_reads_back_whole() {
    let ours = Report {
        nodes: vec![Node {
            id: "a".repeat(32),
            cloud_provider: Some("kind".into()),
            capacity: vec![Resource {
                resource: "cpu".into(),
                value: "2".into(),
            }],
            ..Node::default()
        }],
        ..report("c", 1_700_000_000, 0)
    };
    let bytes = serde_json::to_vec(&ours).unwrap();
    assert_eq!(parse(&bytes).unwrap(), (ours, Clamps::default()));
}

/// The workload part is read whole, checked and clamped by the rules of `limits`; `check`
/// carries it in the checked report for the store.
#[test]
fn a_workload_part_is_read_clamped_and_carried() {
    let json = format!(
        r#"{{"version":"v1","clusterID":"x","nodes":[{{"id":"{ID}"}}],
            "workloads":{{"namespaces":{{"total":3,"age":{{"count":3,"meanDays":99999,"medianDays":2,"p90Days":3}}}},
              "pods":{{"total":200000000,"perNamespace":[1,0,2,0,0],"future":true}},
              "services":null,"secrets":{{"total":4}}}}}}"#
    );
    let (r, clamps) = parse(json.as_bytes()).unwrap();
    let w = r.workloads.as_ref().unwrap();
    assert_eq!(w.namespace_count(), Some(3));
    assert_eq!(
        w.namespaces.as_ref().unwrap().age.unwrap().mean_days,
        limits::MAX_AGE_DAYS
    );
    let pods = w.pods.as_ref().unwrap();
    assert_eq!(pods.total, limits::MAX_WORKLOAD_COUNT);
    assert_eq!(
        pods.per_namespace,
        [1, 0, 2],
        "trailing empty buckets dropped"
    );
    assert_eq!(w.services, None);
    assert_eq!(clamps.to_string(), "workloads.count:1,workloads.age:1");
    let checked = check(&decode(json.as_bytes(), false, 1 << 20).unwrap()).unwrap();
    assert_eq!(checked.report.workloads, r.workloads);
    assert_eq!((checked.nodes, checked.clamps), (1, clamps));
    // Absent, null, an empty object or only kinds this reader does not know: no workload part.
    for part in [
        "",
        r#","workloads":null"#,
        r#","workloads":{}"#,
        r#","workloads":{"secrets":{"total":1}}"#,
    ] {
        let json = format!(r#"{{"version":"v1","clusterID":"x"{part}}}"#);
        let (r, clamps) = parse(json.as_bytes()).unwrap();
        assert_eq!((r.workloads, clamps.is_empty()), (None, true), "{part}");
    }
}

/// Wrong types in the workload part refuse the report, as they do anywhere, and say where.
#[test]
fn workload_type_errors_are_refused_with_their_place() {
    let with = |part: &str| format!(r#"{{"version":"v1","clusterID":"x","workloads":{part}}}"#);
    let many = vec!["1"; MAX_LIST + 1].join(",");
    for (part, needle) in [
        (r#""all""#.to_string(), "workloads: invalid type"),
        (
            r#"{"pods":{}}"#.into(),
            "workloads.pods: missing field `total`",
        ),
        (
            r#"{"pods":{"total":-1}}"#.into(),
            "workloads.pods.total: invalid value",
        ),
        (
            r#"{"pods":{"total":1.5}}"#.into(),
            "workloads.pods.total: invalid type",
        ),
        (
            r#"{"pods":{"total":"3"}}"#.into(),
            "workloads.pods.total: invalid type",
        ),
        (
            r#"{"pods":{"total":1,"perNamespace":[1,-2]}}"#.into(),
            "workloads.pods.perNamespace[1]: invalid value",
        ),
        (
            format!(r#"{{"pods":{{"total":1,"perNamespace":[{many}]}}}}"#),
            "workloads.pods.perNamespace: more than 1024 entries",
        ),
        (
            r#"{"pods":{"total":1,"age":{"count":1,"meanDays":1,"medianDays":1}}}"#.into(),
            "workloads.pods.age: missing field `p90Days`",
        ),
        (
            r#"{"pods":{"total":1},"pods":{"total":2}}"#.into(),
            "workloads: duplicate field `pods`",
        ),
    ] {
        let m = schema_message(&with(&part));
        assert!(m.contains(needle), "{part}: {m}");
    }
    let twice = r#"{"version":"v1","clusterID":"x","workloads":{},"workloads":{}}"#;
    assert!(schema_message(twice).contains("duplicate field `workloads`"));
}

/// What the reporter writes with a workload part, whatever its values, the collector accepts
/// without a clamp and reads back exactly as written.
#[test]
fn property_every_written_workload_part_reads_back_as_written() {
    let mut rng = Rng(0x0b1e_c7c0_a575_2026);
    let mut with_part = 0;
    for round in 0..2_000 {
        let header = Report {
            version: FORMAT_VERSION.into(),
            timestamp: "1764201600".into(),
            cluster_id: format!("cluster-{round}"),
            ..Report::default()
        };
        let mut w = ReportWriter::start(Vec::new(), &header).unwrap();
        for i in 0..rng.below(3) {
            let id = node_id(&header.cluster_id, &i.to_string()).unwrap();
            w.node(build_node(&rng.node_facts(), id)).unwrap();
        }
        let part = rng.workloads();
        let mut expected = part.clone();
        limits::clamp_workloads(&mut expected, &mut Clamps::default());
        w.set_workloads(part);
        let bytes = w.finish().unwrap();
        let json = decode(&bytes, false, 1 << 20).unwrap();
        let checked = check(&json)
            .unwrap_or_else(|e| panic!("round {round}: {e}\n{}", String::from_utf8_lossy(&bytes)));
        assert!(
            checked.clamps.is_empty(),
            "round {round}: the collector clamped {}",
            checked.clamps
        );
        assert_eq!(checked.report.workloads, expected, "round {round}");
        with_part += usize::from(expected.is_some());
        if let Some(w) = &expected {
            for kind in crate::contract::ObjectKind::ALL {
                let Some(stats) = w.get(kind) else { continue };
                assert!(stats.total <= limits::MAX_WORKLOAD_COUNT);
                assert!(stats.per_namespace.len() <= limits::WORKLOAD_BUCKETS);
                assert_ne!(stats.per_namespace.last(), Some(&0));
            }
        }
    }
    assert!(
        with_part > 1_000,
        "most rounds carry a workload part: {with_part}"
    );
}
