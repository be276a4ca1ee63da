//! End to end: `spartakus init` and `spartakus report` against the stand-in API server, sending
//! to a real `spartakus collect` on 127.0.0.1, then `spartakus summary` shows the cluster.

use crate::support;
use std::path::Path;
use std::process::{Command, Output};
use support::apiserver::ApiServer;
use support::collect::{BIN, Collector};
use support::util::TempDir;

fn run(args: &[&str], kubeconfig: &Path) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .env_clear()
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("running spartakus");
    assert!(
        out.status.success(),
        "spartakus {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn report_to_a_real_collector_then_summary() {
    let scratch = TempDir::new("e2e");
    let kubeconfig = scratch.join("kubeconfig");
    let store = scratch.join("reports.db");
    let api = ApiServer::with_nodes(37);
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let collector = Collector::start(store.to_str().unwrap(), &[]);
    let endpoint = format!("http://{}/api/v1", collector.addr);

    let init = run(&["init"], &kubeconfig);
    let cluster_id = String::from_utf8(init.stdout).unwrap().trim().to_string();
    assert_eq!(cluster_id.len(), 36);

    let report = run(&["report", "--endpoint", &endpoint], &kubeconfig);
    let log = String::from_utf8_lossy(&report.stderr);
    assert!(log.contains("delivered: 204 after 1 attempt"), "{log}");
    // Another report (with an extension), sent uncompressed as the original reporter did.
    let ext = scratch.join("ext.json");
    std::fs::write(&ext, br#"{"example.com/tier": "gold"}"#).unwrap();
    run(
        &[
            "report",
            "--endpoint",
            &endpoint,
            "--no-gzip",
            "--extensions",
            ext.to_str().unwrap(),
        ],
        &kubeconfig,
    );

    let summary = run(
        &["summary", "--store", store.to_str().unwrap(), "--json"],
        &kubeconfig,
    );
    let summary: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(summary["clusters"], 1, "{summary:#}");
    assert_eq!(summary["nodes"], 37, "{summary:#}");
    assert_eq!(summary["reports"], 2, "{summary:#}");
    let recent = summary["recent"].as_array().unwrap();
    assert!(
        recent.iter().any(|r| r["clusterID"] == cluster_id.as_str()),
        "{summary:#}"
    );
    // No node name reached the store.
    let text = summary.to_string().to_ascii_lowercase();
    for i in 0..37 {
        for secret in support::nodes::identifying_strings(i) {
            assert!(!text.contains(&secret.to_ascii_lowercase()), "{secret}");
        }
    }
    let db = std::fs::read(&store).unwrap();
    let db = String::from_utf8_lossy(&db).to_ascii_lowercase();
    assert!(!db.contains(&support::nodes::node_name(0).to_ascii_lowercase()));

    // The human-readable summary names the version and the cluster count.
    let table = run(
        &["summary", "--store", store.to_str().unwrap()],
        &kubeconfig,
    );
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("v1.33"), "{table}");
}

/// The air-gapped path: `report --output` in the cluster, `send` from another machine (no
/// kubeconfig at all), twice, to a real collector: one report is stored.
#[test]
fn an_exported_report_sent_twice_is_one_report_at_the_collector() {
    let scratch = TempDir::new("e2e-send");
    let kubeconfig = scratch.join("kubeconfig");
    let store = scratch.join("reports.db");
    let file = scratch.join("report.json");
    let api = ApiServer::with_nodes(5);
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    run(&["init"], &kubeconfig);
    run(&["report", "--output", file.to_str().unwrap()], &kubeconfig);
    drop(api);
    let collector = Collector::start(store.to_str().unwrap(), &[]);
    let endpoint = format!("http://{}/api/v1", collector.addr);
    let nowhere = scratch.join("no-kubeconfig");
    for _ in 0..2 {
        let sent = run(
            &["send", file.to_str().unwrap(), "--endpoint", &endpoint],
            &nowhere,
        );
        let log = String::from_utf8_lossy(&sent.stderr);
        assert!(log.contains("delivered: 204 after 1 attempt"), "{log}");
    }
    let summary = run(
        &["summary", "--store", store.to_str().unwrap(), "--json"],
        &nowhere,
    );
    let summary: serde_json::Value = serde_json::from_slice(&summary.stdout).unwrap();
    assert_eq!(summary["reports"], 1, "{summary:#}");
    assert_eq!(summary["nodes"], 5, "{summary:#}");
}

/// The workload statistics from the reporter through a real collector: `--store stdout` prints
/// the part as the reporter built it (totals and histograms as a preview shows them; ages move
/// only with the clock).
#[test]
fn workload_statistics_reach_a_real_collector_whole() {
    let scratch = TempDir::new("e2e-workloads");
    let kubeconfig = scratch.join("kubeconfig");
    let api = ApiServer::start(
        support::apiserver::Config::default()
            .with_nodes(4)
            .with_namespaces(60)
            .with_objects(support::objects::Resource::Pods, 900),
    );
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let collector = Collector::start("stdout", &[]);
    let endpoint = format!("http://{}/api/v1", collector.addr);
    let args = [
        "report",
        "--cluster-id",
        "e2e-workloads",
        "--workload-stats",
    ];
    run(
        &[&args[..], &["--endpoint", &endpoint]].concat(),
        &kubeconfig,
    );
    let preview = run(&[&args[..], &["--dry-run"]].concat(), &kubeconfig);
    let printed = collector.stdout_lines(1);
    drop(collector);

    let stored: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let stored = &stored["report"]["workloads"];
    let previewed: serde_json::Value = serde_json::from_slice(&preview.stdout).unwrap();
    let previewed = &previewed["workloads"];
    assert_eq!(stored["namespaces"]["total"], 60);
    assert_eq!(stored["pods"]["total"], 900);
    let kinds = previewed.as_object().unwrap().keys();
    assert_eq!(kinds.len(), 8, "{previewed}");
    for kind in kinds {
        for field in ["total", "perNamespace"] {
            assert_eq!(
                stored[kind][field], previewed[kind][field],
                "{kind}.{field}"
            );
        }
        assert_eq!(
            stored[kind]["age"]["count"],
            previewed[kind]["age"]["count"]
        );
    }
}
