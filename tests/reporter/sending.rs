//! Sending: delivered gzip with nothing identifying, retries, final answers, deadlines, a
//! private CA and proxies.

use super::*;

#[test]
fn delivered_with_204_gzip_and_nothing_identifying() {
    let api = ApiServer::with_nodes(24);
    api.insert_configmap(NS, "spartakus", [("clusterID", CLUSTER_ID)]);
    let collector = Collector::new();
    let run = spartakus(&api, &["report", "--endpoint", &collector.url()], &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 1);
    let req = &got[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert!(req.is_gzip(), "gzip by default");
    assert!(req.header("idempotency-key").is_some_and(|k| k.len() >= 32));
    assert!(req.raw.len() < req.body.len(), "compressed on the wire");
    let report = req.report();
    assert_eq!(report.version, "v1.0.0");
    assert_eq!(report.cluster_id, CLUSTER_ID);
    assert_eq!(report.nodes.len(), 24);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let ts: u64 = report.timestamp.parse().unwrap();
    assert!(now.abs_diff(ts) < 60);
    let body = req.text().to_ascii_lowercase();
    for i in 0..24 {
        for secret in nodes::identifying_strings(i) {
            assert!(
                !body.contains(&secret.to_ascii_lowercase()),
                "{secret} leaked"
            );
            assert!(
                !run.stderr
                    .to_ascii_lowercase()
                    .contains(&secret.to_ascii_lowercase()),
                "{secret} logged"
            );
        }
    }
    assert!(
        !run.stderr.contains(CLUSTER_ID),
        "the log holds counts, not the report"
    );
    assert!(run.stderr.contains("delivered: 204"), "{}", run.stderr);
}

#[test]
fn retry_after_then_success_sends_the_same_body_and_key() {
    let api = ApiServer::with_nodes(5);
    let collector = Collector::with_script(vec![Reply::status(503).retry_after_secs(1)]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].raw, got[1].raw, "same bytes");
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );
    let waited = got[1].at.duration_since(got[0].at);
    assert!(
        waited >= Duration::from_millis(900),
        "Retry-After honoured: {waited:?}"
    );
    assert_eq!(
        api.node_list_requests().len(),
        1,
        "the cluster is not listed again"
    );

    // As an HTTP date, on a 429.
    let collector = Collector::with_script(vec![
        Reply::status(429).retry_after_date_in(Duration::from_secs(2)),
    ]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 2);
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(900));
}

#[test]
fn a_400_is_final() {
    let api = ApiServer::with_nodes(3);
    let collector = Collector::with_script(vec![
        Reply::status(400).body(r#"{"error":"clusterID is required"}"#),
    ]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 4);
    assert_eq!(collector.request_count(), 1, "not retried");
    assert!(
        run.stderr.contains("400") && run.stderr.contains("clusterID is required"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_original_collector_gets_an_uncompressed_report() {
    let api = ApiServer::with_nodes(4);
    let collector = Collector::start(CollectorConfig {
        reject_gzip: true,
        ..CollectorConfig::default()
    });
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].status, 400);
    assert!(!got[1].is_gzip());
    assert_eq!(got[1].status, 204);
    assert_eq!(got[1].report().nodes.len(), 4);
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );
}

#[test]
fn a_collector_that_never_answers_hits_the_deadline() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::with_script(vec![Reply::hang()]);
    collector.set_default(Reply::hang());
    let run = report_to(&api, &collector, &["--timeout", "3s"]);
    assert_exit(&run, 5);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    assert!(
        run.stderr.contains("deadline")
            || run.stderr.contains("timed out")
            || run.stderr.contains("Timeout"),
        "{}",
        run.stderr
    );
}

#[test]
fn connection_refused_is_retried_then_unreachable() {
    let api = ApiServer::with_nodes(2);
    let run = report_url(&api, &refused_url(), &["--timeout", "3s"], &[]);
    assert_exit(&run, 5);
    assert!(
        run.stderr.matches("sending report").count() >= 2,
        "retried:\n{}",
        run.stderr
    );
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(30));
}

#[test]
fn dry_run_prints_the_exact_report_and_sends_nothing() {
    let api = ApiServer::with_nodes(9);
    let collector = Collector::new();
    let dir = TempDir::new("ext");
    let ext = dir.join("ext.json");
    std::fs::write(&ext, br#"{"example.com/tier": "gold", "plan": "basic"}"#).unwrap();
    let run = report_to(
        &api,
        &collector,
        &["--dry-run", "--extensions", ext.to_str().unwrap()],
    );
    assert_exit(&run, 0);
    assert_eq!(collector.request_count(), 0);
    let report = run.report();
    assert_eq!(report.nodes.len(), 9);
    let names: Vec<_> = report.extensions.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["example.com/tier", "plan"]);

    // The same bytes a real run sends (but for the timestamp).
    let sent = report_to(&api, &collector, &["--extensions", ext.to_str().unwrap()]);
    assert_exit(&sent, 0);
    let mut a = collector.requests()[0].report();
    let mut b = report;
    a.timestamp.clear();
    b.timestamp.clear();
    assert_eq!(a, b);
}

#[test]
fn bad_extensions_stop_before_anything_is_contacted() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::new();
    let dir = TempDir::new("badext");
    let ext = dir.join("team.json");
    std::fs::write(&ext, br#"{"Bad Key!": "x"}"#).unwrap();
    let run = report_to(&api, &collector, &["--extensions", ext.to_str().unwrap()]);
    assert_exit(&run, 2);
    assert!(
        run.stderr.contains("team.json") && run.stderr.contains("Bad Key!"),
        "{}",
        run.stderr
    );
    assert_eq!(api.request_count(), 0);
    assert_eq!(collector.request_count(), 0);
}

#[test]
fn private_ca_for_the_collector() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::start(CollectorConfig {
        tls: true,
        ..CollectorConfig::default()
    });
    // Unknown CA: a configuration error, not retried, and says what to do.
    let run = report_to(&api, &collector, &["--timeout", "2m"]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("--ca-file"), "{}", run.stderr);
    assert!(
        run.took < Duration::from_secs(30),
        "retried: {:?}",
        run.took
    );
    assert_eq!(
        run.stderr.matches("sending report").count(),
        1,
        "{}",
        run.stderr
    );
    let dir = TempDir::new("ca");
    // A CA file that holds no certificate: refused before the cluster is read.
    let bad = dir.join("bad.pem");
    std::fs::write(&bad, "not a certificate\n").unwrap();
    let before = api.request_count();
    let run = report_to(&api, &collector, &["--ca-file", bad.to_str().unwrap()]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("bad.pem"), "{}", run.stderr);
    assert_eq!(api.request_count(), before, "the cluster was not read");
    // https:// to a plain-HTTP collector: said at once, not retried to the deadline.
    let plain = Collector::new();
    let url = plain.url().replacen("http://", "https://", 1);
    let run = report_url(&api, &url, &["--timeout", "2m"], &[]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("does not speak TLS"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(30));
    let ca = dir.join("ca.pem");
    collector.write_ca(&ca);
    let run = report_to(&api, &collector, &["--ca-file", ca.to_str().unwrap()]);
    assert_exit(&run, 0);
    assert_eq!(collector.requests().last().unwrap().status, 204);
}

#[test]
fn proxies_from_the_environment() {
    let api = ApiServer::with_nodes(3);
    let collector = Collector::new();
    // A proxy that refuses connections, on another loopback address than the servers.
    let dead = std::net::TcpListener::bind("127.0.0.2:0").unwrap();
    let dead_proxy = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let run_with =
        |env: &[(&str, &str)]| report_url(&api, &collector.url(), &["--timeout", "4s"], env);
    // NO_PROXY names the collector's host: both servers are reached directly.
    let run = run_with(&[
        ("HTTPS_PROXY", &dead_proxy),
        ("HTTP_PROXY", &dead_proxy),
        ("NO_PROXY", "localhost,127.0.0.1"),
    ]);
    assert_exit(&run, 0);
    assert_eq!(collector.request_count(), 1);
    // Without NO_PROXY the upload goes through the (dead) proxy, so the proxy is really used;
    // the API server on a loopback address is still reached directly, as kubectl does.
    let run = run_with(&[("HTTPS_PROXY", &dead_proxy), ("HTTP_PROXY", &dead_proxy)]);
    assert_exit(&run, 5);
    assert!(run.stderr.contains("listed 3 nodes"), "{}", run.stderr);
    assert_eq!(
        collector.request_count(),
        1,
        "nothing reached the collector"
    );
}
