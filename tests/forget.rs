//! Forget-me, end to end: `DELETE /api/v1/clusters/{id}` on a real collector (the same answer
//! whether or not it had data, limits per cluster ID and per source, no ID in the log or the
//! metrics), and `spartakus forget` against it, with the ID given and read from the ConfigMap
//! `spartakus init` made on the stand-in API server.

use crate::support;
use crate::support::collect::*;
use std::process::{Command, Output};
use support::apiserver::ApiServer;

/// A cluster ID that would stand out in any log or file.
const GONE: &str = "forget-me-5c2f9a71-8d4e";

fn delete(c: &Collector, id: &str) -> Resp {
    request(
        c.addr,
        "DELETE",
        &format!("/api/v1/clusters/{id}"),
        &[],
        b"",
    )
}

/// [`delete`], answered no sooner than a second after it was asked, the same time whether or
/// not the cluster reported (its rows took longer to delete than an unknown one's none).
fn delete_no_sooner_than_a_second(c: &Collector, id: &str) -> Resp {
    let start = std::time::Instant::now();
    let answer = delete(c, id);
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_secs(1),
        "answered after {took:?}"
    );
    answer
}

fn clusters(dir: &TempDir, cluster: &str) -> serde_json::Value {
    summary_json(&dir.db(), &["--cluster", cluster])["clusters"].clone()
}

#[test]
fn a_deletion_request_forgets_the_cluster_and_says_nothing_else() {
    let dir = TempDir::new("forget-http");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    for cluster in [GONE, GONE, "stays"] {
        assert_eq!(c.post(report(cluster, 3).as_bytes(), &[]).status, 204);
    }
    assert_eq!(clusters(&dir, GONE), 1);

    let known = delete_no_sooner_than_a_second(&c, GONE);
    let unknown = delete_no_sooner_than_a_second(&c, "never-reported-here");
    assert_eq!((known.status, unknown.status), (204, 204));
    let shape = |r: &Resp| {
        let mut h: Vec<(String, String)> = r.headers.clone();
        h.retain(|(n, _)| n != "date");
        (h, r.body.clone())
    };
    assert_eq!(shape(&known), shape(&unknown), "the same answer either way");
    assert_eq!(clusters(&dir, GONE), 0);
    assert_eq!(clusters(&dir, "stays"), 1);

    // Six requests per cluster ID an hour (the store's limit), ten per source (in memory).
    for _ in 1..6 {
        assert_eq!(delete(&c, GONE).status, 204);
    }
    let limited = delete(&c, GONE);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert!(
        limited.error().contains("this cluster ID"),
        "{}",
        limited.text()
    );
    assert!(limited.header("retry-after").is_some());
    for i in 0..2 {
        assert_eq!(delete(&c, &format!("other-{i}")).status, 204);
    }
    let from_here = delete(&c, "other-2");
    assert_eq!(from_here.status, 429);
    assert!(
        from_here.error().contains("from here"),
        "{}",
        from_here.text()
    );

    // Not a cluster ID; not a deletion.
    assert_eq!(delete(&c, "a%20b").status, 400);
    let get = request(c.addr, "GET", &format!("/api/v1/clusters/{GONE}"), &[], b"");
    assert_eq!((get.status, get.header("allow")), (405, Some("DELETE")));

    let metrics = c.get("/metrics").text();
    let forget = "spartakus_collector_forget_requests_total";
    assert_eq!(
        c.metric(&format!("{forget}{{result=\"done\"}}")),
        2.0 + 5.0 + 2.0
    );
    assert_eq!(
        c.metric(&format!("{forget}{{result=\"rate_limited\"}}")),
        2.0
    );
    assert_eq!(c.metric(&format!("{forget}{{result=\"invalid\"}}")), 1.0);
    assert!(!metrics.contains(GONE));
    let log = c.log();
    let deletions: Vec<&str> = log.lines().filter(|l| l.contains("DELETE")).collect();
    assert_eq!(deletions.len(), 12, "{log}");
    assert!(
        deletions
            .iter()
            .all(|l| l.contains("DELETE /api/v1/clusters/... ")),
        "{log}"
    );
    for line in log.lines().filter(|l| !l.contains("POST /api/v1 204")) {
        assert!(!line.contains(GONE), "the ID in {line}");
        assert!(!line.contains("never-reported"), "the ID in {line}");
    }
}

fn forget(args: &[&str], kubeconfig: Option<&std::path::Path>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("forget").args(args).env_clear();
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    cmd.output().unwrap()
}

/// A collector to forget on, with the store in `dir`, and its endpoint.
fn collector(dir: &TempDir) -> (Collector, String) {
    let c = Collector::sqlite(dir, &["--rate-limit", "0"]);
    let endpoint = format!("http://{}/api/v1", c.addr);
    (c, endpoint)
}

#[test]
fn spartakus_forget_asks_a_real_collector() {
    let dir = TempDir::new("forget-cli");
    let (c, endpoint) = collector(&dir);
    assert_eq!(c.post(report(GONE, 2).as_bytes(), &[]).status, 204);
    let out = forget(&["--endpoint", &endpoint, "--cluster-id", GONE], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("the collector answered 204"), "{err}");
    assert_eq!(clusters(&dir, GONE), 0);
}

/// Without `--cluster-id`, the ID from the ConfigMap `spartakus init` made, as `report` reads it.
#[test]
fn spartakus_forget_reads_the_id_init_made() {
    let dir = TempDir::new("forget-cli-configmap");
    let (c, endpoint) = collector(&dir);
    let api = ApiServer::with_nodes(3);
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some("spartakus"));
    let init = Command::new(BIN)
        .arg("init")
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(init.status.success());
    let id = String::from_utf8(init.stdout).unwrap().trim().to_string();
    let report = Command::new(BIN)
        .args(["report", "--endpoint", &endpoint])
        .env_clear()
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    assert!(
        report.status.success(),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert_eq!(clusters(&dir, &id), 1);
    let out = forget(&["--endpoint", &endpoint], Some(&kubeconfig));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(clusters(&dir, &id), 0);
    assert!(c.log().contains("DELETE /api/v1/clusters/... 204"));
}

/// The placeholder endpoint or cluster ID; a collector that does not take deletions; none at all.
#[test]
fn spartakus_forget_refuses_placeholders_and_says_why_nothing_was_forgotten() {
    let dir = TempDir::new("forget-cli-refused");
    let (_c, endpoint) = collector(&dir);
    let placeholder = forget(
        &[
            "--endpoint",
            "https://collector.spartakus.example/api/v1",
            "--cluster-id",
            "x",
        ],
        None,
    );
    assert_eq!(placeholder.status.code(), Some(2));
    let older =
        support::collector::Collector::with_script(vec![support::collector::Reply::status(404)]);
    let out = forget(&["--endpoint", &older.url(), "--cluster-id", "x"], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("does not take deletion requests"), "{err}");
    assert_eq!(older.requests()[0].method, "DELETE");
    assert_eq!(older.requests()[0].path, "/api/v1/clusters/x");
    let gone = support::collector::refused_url();
    let out = forget(
        &["--endpoint", &gone, "--cluster-id", "x", "--timeout", "2s"],
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placeholder_id = forget(
        &[
            "--endpoint",
            &endpoint,
            "--cluster-id",
            "00000000-0000-0000-0000-000000000000",
        ],
        None,
    );
    assert_eq!(placeholder_id.status.code(), Some(2));
}
