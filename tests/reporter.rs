//! The real `spartakus` binary against the stand-in API server (HTTPS, bearer token, a temporary
//! kubeconfig) and the stand-in collector, both on 127.0.0.1 and started by each test.

use crate::support;
use spartakus::contract::{Ages, ObjectKind, limits};
use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;
use support::apiserver::{ApiServer, Config};
use support::collector::{Collector, CollectorConfig, Reply, refused_url};
use support::nodes;
use support::objects::{Layout, Resource};
use support::run::Run;
use support::util::TempDir;

const NS: &str = "spartakus";
const CLUSTER_ID: &str = "3b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";

/// Runs the binary with a kubeconfig for `api` and nothing from this machine's environment but
/// PATH (no proxies, no SPARTAKUS_* variables, no ~/.kube).
fn spartakus(api: &ApiServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    support::run::against(api, NS, args, env)
}

/// `spartakus report --endpoint {url} --cluster-id CLUSTER_ID {extra...}` with `env` added.
fn report_url(api: &ApiServer, url: &str, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["report", "--endpoint", url, "--cluster-id", CLUSTER_ID];
    args.extend_from_slice(extra);
    spartakus(api, &args, env)
}

/// `spartakus report --dry-run --cluster-id CLUSTER_ID` with `env` added.
fn dry_run(api: &ApiServer, env: &[(&str, &str)]) -> Run {
    spartakus(
        api,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
        env,
    )
}

fn report_to(api: &ApiServer, collector: &Collector, extra: &[&str]) -> Run {
    report_url(api, &collector.url(), extra, &[])
}

fn assert_exit(run: &Run, code: i32) {
    assert_eq!(
        run.code, code,
        "expected exit {code}\nstdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
}

fn distinct_ids(report: &spartakus::contract::Report) -> usize {
    report
        .nodes
        .iter()
        .map(|n| n.id.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

// ---------------------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------------------

#[test]
fn several_pages_with_continue_tokens() {
    let api = ApiServer::with_nodes(1203);
    let run = dry_run(&api, &[]);
    assert_exit(&run, 0);
    let report = run.report();
    assert_eq!(report.nodes.len(), 1203);
    assert_eq!(distinct_ids(&report), 1203);
    assert_eq!(report.cluster_id, CLUSTER_ID);
    assert_eq!(report.master_version.as_deref(), Some("v1.33.2"));
    let lists = api.node_list_requests();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|r| r.query("limit").as_deref() == Some("500"))
    );
    assert_eq!(lists[0].query("continue"), None);
    assert!(lists[1].query("continue").is_some() && lists[2].query("continue").is_some());
    assert!(
        run.stderr.contains("listed 1203 nodes (3 pages"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_expired_continue_token_restarts_the_list() {
    let api = ApiServer::start(
        Config::default()
            .with_nodes(1100)
            .with_expired_continue_at_page(2),
    );
    let run = dry_run(&api, &[]);
    assert_exit(&run, 0);
    let report = run.report();
    assert_eq!(report.nodes.len(), 1100, "no node lost or counted twice");
    assert_eq!(distinct_ids(&report), 1100);
    let lists = api.node_list_requests();
    assert_eq!(lists.iter().filter(|r| r.status == 410).count(), 1);
    // pages 1 and 2, page 3 (410), then pages 1-3 again
    assert_eq!(lists.len(), 6, "{lists:?}");
    assert_eq!(lists[2].status, 410);
    assert_eq!(lists[3].query("continue"), None, "the list started over");
    assert!(lists.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("spartakus/"))
    }));
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
}

#[test]
fn forbidden_nodes_is_final_and_names_verb_and_resource() {
    let api = ApiServer::start(Config::default().with_nodes_fault(403, usize::MAX));
    let collector = Collector::new();
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 3);
    assert!(run.stderr.contains("list nodes"), "{}", run.stderr);
    assert!(run.stderr.contains("403"), "{}", run.stderr);
    assert_eq!(api.node_list_requests().len(), 1, "403 is not retried");
    assert_eq!(collector.request_count(), 0, "nothing partial is sent");
    assert_eq!(
        run.stderr
            .trim_end()
            .lines()
            .last()
            .map(|l| l.starts_with("spartakus: error: list nodes")),
        Some(true),
        "{}",
        run.stderr
    );
}

#[test]
fn server_errors_from_the_api_are_retried() {
    let api = ApiServer::start(Config::default().with_nodes(7).with_nodes_fault(503, 2));
    let collector = Collector::new();
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    assert_eq!(api.node_list_requests().len(), 3);
    assert_eq!(collector.request_count(), 1);
    assert_eq!(collector.requests()[0].report().nodes.len(), 7);

    // An API that keeps failing: retried until the deadline, then a Kubernetes error.
    let api = ApiServer::start(Config::default().with_nodes_fault(500, usize::MAX));
    let run = report_to(&api, &collector, &["--timeout", "3s"]);
    assert_exit(&run, 3);
    assert!(api.node_list_requests().len() >= 2, "retried");
    assert!(
        run.took < Duration::from_secs(30),
        "bounded by the deadline: {:?}",
        run.took
    );
    assert!(
        run.stderr.contains("list nodes") && run.stderr.contains("500"),
        "{}",
        run.stderr
    );
    assert_eq!(collector.request_count(), 1, "no second report was sent");
}

#[test]
fn an_api_server_that_never_answers_is_a_kubernetes_error_at_the_deadline() {
    let api = ApiServer::start(Config::default().with_delay(Duration::from_secs(60)));
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--timeout", "2s"]);
    assert_exit(&run, 3);
    assert!(run.stderr.contains("deadline"), "{}", run.stderr);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    assert_eq!(collector.request_count(), 0);
}

#[test]
fn version_errors_are_retried_too() {
    let api = ApiServer::start(Config::default().with_nodes(3).with_version_fault(502, 1));
    let run = dry_run(&api, &[]);
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 3);
}

// ---------------------------------------------------------------------------------------------
// init and the cluster ID
// ---------------------------------------------------------------------------------------------

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[test]
fn init_creates_then_finds_the_cluster_id() {
    let api = ApiServer::with_nodes(2);
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 0);
    let id = run.stdout.trim().to_string();
    assert!(is_uuid_v4(&id), "{id:?}");
    assert_eq!(run.stdout.lines().count(), 1);
    let data = api
        .configmap(NS, "spartakus")
        .expect("created in the kubeconfig's namespace");
    assert_eq!(data.get("clusterID"), Some(&id));
    let labels = api.configmap_labels(NS, "spartakus").unwrap();
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("spartakus")
    );
    let before = api.configmap_object(NS, "spartakus").unwrap();

    let again = spartakus(&api, &["init"], &[]);
    assert_exit(&again, 0);
    assert_eq!(again.stdout.trim(), id, "idempotent");
    assert_eq!(
        api.configmap_object(NS, "spartakus").unwrap(),
        before,
        "never changed"
    );
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.method != "GET" && r.method != "POST"),
        "init only gets and creates"
    );

    // The report reads it.
    let run = spartakus(&api, &["report", "--dry-run"], &[]);
    assert_exit(&run, 0);
    assert_eq!(run.report().cluster_id, id);

    // Another namespace and name by flag.
    let run = spartakus(
        &api,
        &["init", "--namespace", "other", "--configmap", "cid"],
        &[],
    );
    assert_exit(&run, 0);
    assert_eq!(
        api.configmap("other", "cid")
            .unwrap()
            .get("clusterID")
            .map(String::as_str),
        Some(run.stdout.trim())
    );
}

#[test]
fn init_losing_the_create_race_prints_the_winner() {
    let api = ApiServer::with_nodes(1);
    api.lose_next_create_race("winner-0000-4000-8000-000000000000");
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 0);
    assert_eq!(run.stdout.trim(), "winner-0000-4000-8000-000000000000");
    assert_eq!(
        api.configmap(NS, "spartakus")
            .unwrap()
            .get("clusterID")
            .map(String::as_str),
        Some("winner-0000-4000-8000-000000000000")
    );
}

#[test]
fn init_forbidden_names_verb_resource_and_namespace() {
    let api = ApiServer::start(Config::default().with_forbidden_configmaps());
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 3);
    assert!(run.stdout.is_empty());
    let err = run.stderr.lines().last().unwrap_or_default();
    assert!(
        err.contains("configmaps \"spartakus\"")
            && err.contains("namespace \"spartakus\"")
            && err.contains("403"),
        "{err}"
    );
    assert!(err.contains("get") || err.contains("create"), "{err}");
}

#[test]
fn a_missing_cluster_id_stops_the_report() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::new();
    let run = spartakus(&api, &["report", "--endpoint", &collector.url()], &[]);
    assert_exit(&run, 2);
    let err = run.stderr.lines().last().unwrap_or_default();
    assert!(
        err.contains("\"spartakus\"")
            && err.contains("namespace \"spartakus\"")
            && err.contains("spartakus init"),
        "{err}"
    );
    assert_eq!(collector.request_count(), 0);

    // A ConfigMap without the key is no better.
    api.insert_configmap(NS, "spartakus", [("other", "x")]);
    let run = spartakus(&api, &["report", "--endpoint", &collector.url()], &[]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("clusterID"), "{}", run.stderr);
    assert_eq!(collector.request_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

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

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let api = ApiServer::with_nodes(1);
    for args in [
        &["report"][..],
        &["report", "--endpoint", "ftp://x"],
        &["report", "--dry-run", "--timeout", "soon"],
        &["report", "--bogus"],
        &["nonsense"],
    ] {
        let run = spartakus(&api, args, &[]);
        assert_exit(&run, 2);
        assert!(!run.stderr.trim().is_empty());
    }
    assert_eq!(api.request_count(), 0);
    let help = spartakus(&api, &["--help"], &[]);
    assert_exit(&help, 0);
    for code in ["0", "2", "3", "4", "5"] {
        assert!(
            help.stdout.contains(&format!("  {code} ")),
            "exit code {code} in --help:\n{}",
            help.stdout
        );
    }
    let help = spartakus(&api, &["report", "--help"], &[]);
    assert_exit(&help, 0);
    for code in ["0", "1", "2", "3", "4", "5"] {
        assert!(
            help.stdout.contains(&format!("  {code} ")),
            "exit code {code} in report --help:\n{}",
            help.stdout
        );
    }
    let env_run = spartakus(
        &api,
        &["report"],
        &[
            ("SPARTAKUS_DRY_RUN", "true"),
            ("SPARTAKUS_CLUSTER_ID", CLUSTER_ID),
        ],
    );
    assert_exit(&env_run, 0);
    assert_eq!(env_run.report().cluster_id, CLUSTER_ID);
}

/// A large cluster through the real binary and code path: every node once, each with its own ID.
/// CI runs 10,000 nodes (a debug build); `SPARTAKUS_SCALE_NODES=65000 cargo test --release
/// --test integration reporter::a_large` runs the size of the largest clusters, which bench/run
/// also covers.
#[test]
fn a_large_cluster_reports_every_node_once() {
    let n: usize = std::env::var("SPARTAKUS_SCALE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let api = ApiServer::with_nodes(n);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--timeout", "10m"]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 1);
    let report = got[0].report();
    assert_eq!(report.nodes.len(), n);
    assert_eq!(distinct_ids(&report), n);
    assert_eq!(api.node_list_requests().len(), n.div_ceil(500));
    // Gzip pays: the repetitive report shrinks several times over.
    assert!(
        got[0].raw.len() * 4 < got[0].body.len(),
        "{} vs {}",
        got[0].raw.len(),
        got[0].body.len()
    );
}

#[test]
fn redirects_keeping_the_method_are_followed_others_are_not() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::with_script(vec![Reply::status(308).header("Location", "/api/v2")]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].path, "/api/v2");
    assert_eq!(got[0].raw, got[1].raw);
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );

    // A 301 would turn the POST into a GET elsewhere: not followed, and said so.
    let collector = Collector::with_script(vec![Reply::status(301).header("Location", "/api/v2")]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 4);
    assert_eq!(collector.request_count(), 1);
    assert!(run.stderr.contains("final URL"), "{}", run.stderr);
}

#[test]
fn a_kubeconfig_list_skips_missing_files_like_kubectl() {
    let api = ApiServer::with_nodes(2);
    let dir = TempDir::new("kclist");
    let kubeconfig = dir.join("config");
    api.write_kubeconfig(&kubeconfig, Some(NS));
    let list = format!("{}:{}", dir.join("missing").display(), kubeconfig.display());
    // KUBECONFIG from `env` replaces the single file `spartakus` points it at.
    let run = dry_run(&api, &[("KUBECONFIG", &list)]);
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 2);
}

/// A preview piped into a reader that stops early (`report --dry-run | head -c 100`) exits 0:
/// the reader had what it wanted.
#[test]
fn a_preview_whose_reader_stops_early_exits_0() {
    use std::io::Read;
    let api = ApiServer::with_nodes(2_000);
    let home = TempDir::new("home");
    let kubeconfig = home.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some(NS));
    let mut child = Command::new(env!("CARGO_BIN_EXE_spartakus"))
        .args(["report", "--dry-run", "--cluster-id", CLUSTER_ID])
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe is closed here, with about a megabyte of report still to come.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with(b"{\"version\":\"v1.0.0\""));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"));
}

/// `--output -` and `--dry-run --output FILE` each say what to do instead, before anything runs.
#[test]
fn preview_and_output_flags_that_conflict_are_refused() {
    let api = ApiServer::with_nodes(1);
    for (args, needle) in [
        (
            &["report", "--output", "-"][..],
            "--output -: standard output is what --dry-run prints to",
        ),
        (&["report", "--dry-run", "--output", "r.json"], "choose one"),
    ] {
        let run = spartakus(&api, args, &[]);
        assert_exit(&run, 2);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(
            run.stderr.contains("(see `spartakus report --help`)"),
            "{}",
            run.stderr
        );
        assert_eq!(
            api.request_count(),
            0,
            "nothing was asked of the API server"
        );
    }
}

/// Runs the binary with `kubeconfig` (text) and nothing else from this machine's environment.
fn with_kubeconfig(kubeconfig: &str, args: &[&str]) -> Run {
    support::run::with_kubeconfig(kubeconfig, args, &[])
}

/// A preview against a stale context (nothing listens on the kubeconfig's loopback port) or an
/// API server name that does not resolve ends at once with the reason, instead of retrying
/// until the five-minute deadline.
#[test]
fn a_preview_does_not_wait_for_a_refused_loopback_or_an_unknown_name() {
    let api = ApiServer::with_nodes(1);
    let good = api.kubeconfig(Some(NS));
    let refused = good.replace(
        &api.url(),
        &format!("https://127.0.0.1:{}", support::collector::refused_port()),
    );
    let run = with_kubeconfig(
        &refused,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 3);
    assert!(
        run.stderr.contains("cannot reach the API server 127.0.0.1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Connection refused"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is the kubeconfig's context the cluster you mean?"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("retrying"),
        "not retried:\n{}",
        run.stderr
    );

    let unknown = good.replace(&api.url(), "https://no-such-api-server.invalid:6443");
    let run = with_kubeconfig(
        &unknown,
        &[
            "report",
            "--dry-run",
            "--cluster-id",
            CLUSTER_ID,
            "--timeout",
            "2m",
        ],
    );
    assert_exit(&run, 3);
    assert!(
        run.stderr
            .contains("cannot reach the API server no-such-api-server.invalid"),
        "{}",
        run.stderr
    );
    assert!(
        run.took < Duration::from_secs(100),
        "gave up before the deadline: {:?}",
        run.took
    );
}

/// A scheduled run (no terminal, sending) retries a refused connection, and its first retry
/// says until when and how to change it.
#[test]
fn the_first_retry_says_it_retries_until_the_deadline() {
    let api = ApiServer::with_nodes(2);
    let run = report_url(&api, &refused_url(), &["--timeout", "3s"], &[]);
    assert_exit(&run, 5);
    let first = run
        .stderr
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_default();
    assert!(
        first.contains(
            "retrying until the run's deadline (3s in all, --timeout or SPARTAKUS_TIMEOUT)"
        ),
        "{}",
        run.stderr
    );
}

/// A kubeconfig `tokenFile` written with `echo "$TOKEN" > file` works, as it does for kubectl.
#[test]
fn a_token_file_ending_in_a_newline_works() {
    let api = ApiServer::with_nodes(3);
    let home = TempDir::new("token");
    let token_file = home.path().join("token");
    std::fs::write(&token_file, format!("{}\n", api.token())).unwrap();
    let kubeconfig = api.kubeconfig(Some(NS)).replace(
        &format!("token: {}", api.token()),
        &format!("tokenFile: {}", token_file.display()),
    );
    assert!(kubeconfig.contains("tokenFile:"));
    let run = with_kubeconfig(
        &kubeconfig,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 3);
    // A token that cannot be sent at all fails at once, as a configuration error, not as an
    // unreachable API server retried until the deadline.
    std::fs::write(&token_file, "two\nlines\n").unwrap();
    let before = api.request_count();
    let run = with_kubeconfig(
        &kubeconfig,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 2);
    assert!(
        run.stderr
            .contains("credentials of the kubeconfig cannot be used (nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(api.request_count(), before, "nothing was sent");
}

/// An endpoint without the collector's path gets a 404 that says which path to use.
#[test]
fn a_404_from_an_endpoint_without_the_report_path_says_which_path() {
    let api = ApiServer::with_nodes(1);
    let collector =
        Collector::with_script(vec![Reply::status(404).body(r#"{"error":"not found"}"#)]);
    for endpoint in [collector.base_url(), format!("{}/", collector.base_url())] {
        collector.push_replies([Reply::status(404).body(r#"{"error":"not found"}"#)]);
        let run = report_url(&api, &endpoint, &[], &[]);
        assert_exit(&run, 4);
        let want = format!("try {}/api/v1", collector.base_url());
        assert!(run.stderr.contains(&want), "{endpoint}: {}", run.stderr);
    }
}

/// `--version` and `-h` work as they do for other tools.
#[test]
fn version_and_short_help() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spartakus"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("spartakus {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [&["-h"][..], &["report", "-h"], &["collect", "--help"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: spartakus"),
            "{args:?}"
        );
    }
    let out = run(&["summary", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(see `spartakus summary --help`)"));
}

// ---------------------------------------------------------------------------------------------
// Workload statistics (--workload-stats)
// ---------------------------------------------------------------------------------------------

const WORKLOAD_KINDS: usize = 8;

fn kind_of(resource: Resource) -> ObjectKind {
    let kind = ObjectKind::ALL
        .into_iter()
        .find(|k| k.name() == resource.plural());
    kind.unwrap_or_else(|| panic!("{resource:?} is not a kind of the statistics"))
}

/// The per-namespace histogram the stand-in's layout implies for `resource`: every namespace
/// when namespaces were listed, else only those holding some.
fn expected_histogram(layout: &Layout, resource: Resource, namespaces_listed: bool) -> Vec<u64> {
    let mut buckets = vec![0u64; limits::WORKLOAD_BUCKETS];
    for k in 0..layout.len(Resource::Namespaces) {
        let n = layout.count_in(resource, k) as u64;
        if n > 0 || namespaces_listed {
            buckets[limits::namespace_bucket(n)] += 1;
        }
    }
    while buckets.last() == Some(&0) {
        buckets.pop();
    }
    buckets
}

/// The age distribution of every object of `resource` at `now`, by sorting their ages.
fn expected_ages(layout: &Layout, resource: Resource, now: i64) -> Ages {
    let mut days: Vec<u64> = (0..layout.len(resource))
        .map(|g| {
            let created = layout.metadata(resource, g).creation_timestamp.unwrap();
            ((now - created.0.as_second()).max(0) / 86_400) as u64
        })
        .collect();
    days.sort_unstable();
    let count = days.len() as u64;
    let at_rank = |rank: u64| days[rank as usize - 1];
    Ages {
        count,
        mean_days: (days.iter().sum::<u64>() * 2 + count) / (2 * count),
        median_days: at_rank(count.div_ceil(2)),
        p90_days: at_rank((count * 9).div_ceil(10)),
    }
}

/// Each statistic of `got` lies between those at the earliest and the latest moment the reporter
/// can have counted from (ages only grow with time).
fn assert_ages_between(got: Option<Ages>, early: Ages, late: Ages, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no ages"));
    assert_eq!(got.count, early.count, "{what}");
    for (name, value, low, high) in [
        ("mean", got.mean_days, early.mean_days, late.mean_days),
        (
            "median",
            got.median_days,
            early.median_days,
            late.median_days,
        ),
        ("p90", got.p90_days, early.p90_days, late.p90_days),
    ] {
        assert!(
            (low..=high).contains(&value),
            "{what}: {name} {value} not in {low}..={high}"
        );
    }
}

/// The workload part of a run's report, checked against the stand-in's layout, every kind
/// listed but those in `left_out` (and without the histograms' bucket 0 when namespaces are).
fn check_workloads(run: &Run, layout: &Layout, left_out: &[Resource], with_ages: bool) {
    let report = run.report();
    let workloads = report.workloads.expect("a workload part");
    let namespaces_listed = !left_out.contains(&Resource::Namespaces);
    let ts: i64 = report.timestamp.parse().unwrap();
    let (early, late) = (ts, ts + run.took.as_secs() as i64 + 1);
    for resource in support::objects::Resource::ALL {
        let kind = kind_of(resource);
        let got = workloads.get(kind);
        if left_out.contains(&resource) {
            assert_eq!(got, None, "{resource:?} was left out");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{resource:?} missing: {workloads:?}"));
        assert_eq!(got.total, layout.len(resource) as u64, "{resource:?}");
        if kind.namespaced() {
            let want = expected_histogram(layout, resource, namespaces_listed);
            assert_eq!(got.per_namespace, want, "{resource:?}");
        }
        if !kind.with_ages() {
            assert_eq!(got.age, None, "{resource:?}");
        } else if with_ages {
            let (a, b) = (
                expected_ages(layout, resource, early),
                expected_ages(layout, resource, late),
            );
            assert_ages_between(got.age, a, b, resource.plural());
        } else {
            assert_eq!(got.age.unwrap().count, got.total, "{resource:?}");
        }
    }
}

/// The list requests of every kind of the statistics, in order.
fn workload_lists(api: &ApiServer) -> Vec<support::apiserver::Recorded> {
    let kinds: Vec<&str> = support::objects::Resource::ALL
        .iter()
        .map(|r| r.plural())
        .collect();
    let all = api.requests();
    all.into_iter()
        .filter(|r| kinds.contains(&r.kind))
        .collect()
}

#[test]
fn workload_stats_come_from_paged_metadata_only_lists() {
    let config = Config::default()
        .with_nodes(6)
        .with_namespaces(120)
        .with_objects(Resource::Pods, 2_000);
    let api = ApiServer::start(config);
    let run = spartakus(
        &api,
        &[
            "report",
            "--dry-run",
            "--cluster-id",
            CLUSTER_ID,
            "--workload-stats",
        ],
        &[],
    );
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 6, "the node report is whole");
    check_workloads(&run, &api.layout(), &[], true);
    // Metadata only, paged by 500 from the start, cluster-wide, never a get, a watch or a secret.
    let lists = workload_lists(&api);
    assert_eq!(lists.len(), WORKLOAD_KINDS - 1 + 2_000 / 500, "{lists:?}");
    for r in &lists {
        assert_eq!(r.method, "GET");
        assert!(r.accept.as_deref().is_some_and(|a| {
            a.starts_with("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
        }));
        assert_eq!(r.query("limit").as_deref(), Some("500"), "{}", r.path);
        assert_eq!(r.query("watch"), None);
        assert!(!r.path.contains("/namespaces/") || r.kind == "namespaces");
    }
    let pods: Vec<_> = lists.iter().filter(|r| r.kind == "pods").collect();
    assert_eq!(pods[0].query("continue"), None);
    assert!(pods[1..].iter().all(|r| r.query("continue").is_some()));
    let counts = api.request_counts();
    assert!(
        !counts.contains_key("namespace") && !counts.contains_key("other"),
        "{counts:?}"
    );
    assert!(
        run.stderr.contains(
            "workload statistics: 120 namespaces, 2000 pods, 60 services, 48 deployments, 8 statefulsets, 10 daemonsets, 30 jobs, 6 cronjobs (11 pages)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn workload_stats_are_off_unless_asked_for() {
    let api = ApiServer::start(Config::default().with_nodes(2));
    let run = dry_run(&api, &[]);
    assert_exit(&run, 0);
    assert_eq!(run.report().workloads, None);
    assert!(!run.stdout.contains("workloads"));
    assert!(workload_lists(&api).is_empty(), "nothing else is listed");
    // The variable turns them on, as every flag's does.
    let run = dry_run(&api, &[("SPARTAKUS_WORKLOAD_STATS", "true")]);
    assert_exit(&run, 0);
    assert!(run.report().workloads.is_some());
}

/// A kind the reporter may not list is left out and named in the log; the report goes out with
/// the rest. Without the namespace list, histograms count only the namespaces holding objects.
#[test]
fn forbidden_kinds_are_left_out_and_named_and_the_report_still_goes() {
    let config = Config::default()
        .with_nodes(3)
        .with_forbidden("daemonsets", "list")
        .with_forbidden("namespaces", "list");
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats"]);
    assert_exit(&run, 0);
    assert_eq!(collector.request_count(), 1);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    assert_eq!(sent.report().nodes.len(), 3);
    let left_out = [Resource::Namespaces, Resource::DaemonSets];
    check_workloads(&sent, &api.layout(), &left_out, true);
    for kind in ["namespaces", "daemonsets"] {
        let line = format!("workload statistics: {kind} left out: list {kind}: Forbidden (403)");
        assert!(sent.stderr.contains(&line), "{line}\n{}", sent.stderr);
    }
    assert!(
        sent.stderr
            .contains("left out: namespaces, daemonsets (the report is sent without them)"),
        "{}",
        sent.stderr
    );
    assert!(
        sent.stderr.contains("report delivered: 204"),
        "{}",
        sent.stderr
    );
}

/// With no permission beyond the default install's, every kind is left out, the run says so,
/// and the node report is sent as it would be without the flag (exit 0).
#[test]
fn without_any_workload_permission_the_node_report_still_goes_out() {
    let mut config = Config::default().with_nodes(4);
    for resource in Resource::ALL {
        config = config.with_forbidden(resource.plural(), "list");
    }
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats"]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 1);
    let report = got[0].report();
    assert_eq!((report.nodes.len(), report.workloads), (4, None));
    assert!(!got[0].text().contains("workloads"));
    assert_eq!(
        workload_lists(&api).len(),
        WORKLOAD_KINDS,
        "one 403 each, not retried"
    );
    assert!(
        run.stderr.contains(
            "workload statistics: nothing listed (0 pages); left out: namespaces, pods, services, deployments, statefulsets, daemonsets, jobs, cronjobs"
        ),
        "{}",
        run.stderr
    );
}

/// An expired continue token restarts that kind's list, which is then counted once; a kind
/// whose server keeps failing is retried, then left out when its share of the time runs out,
/// and the report still goes out in time.
#[test]
fn workload_lists_restart_retry_and_give_up_in_time() {
    let config = Config::default()
        .with_nodes(2)
        .with_namespaces(40)
        .with_objects(Resource::Pods, 1_600)
        .with_expired_continue("pods", 2)
        .with_fault("services", 503, usize::MAX);
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats", "--timeout", "8s"]);
    assert_exit(&run, 0);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    let layout = api.layout();
    let services_out = sent.report().workloads.unwrap().services.is_none();
    assert!(services_out, "{}", sent.stderr);
    check_workloads(&sent, &layout, &[Resource::Services], true);
    let pods = api.requests_of("pods");
    assert_eq!(pods.iter().filter(|r| r.status == 410).count(), 1);
    assert_eq!(pods.len(), 3 + 4, "pages 0-2 (2 expired), then 0-3 again");
    assert!(api.requests_of("services").len() >= 2, "503 is retried");
    assert!(sent.stderr.contains("services left out"), "{}", sent.stderr);
}

/// The workload statistics of a large cluster through the real binary and code path: 10,000
/// namespaces of very different sizes and 300,000 pods, listed metadata-only in pages of 500,
/// every object counted once, every namespace in its bucket. (Peak memory and CPU at this size
/// are measured by bench/run; see BENCHMARKS.md.)
#[test]
fn a_large_cluster_reports_its_workloads() {
    let config = Config::default()
        .with_nodes(50)
        .with_namespaces(10_000)
        .with_objects(Resource::Pods, 300_000);
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats", "--timeout", "20m"]);
    assert_exit(&run, 0);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    assert_eq!(sent.report().nodes.len(), 50);
    check_workloads(&sent, &api.layout(), &[], false);
    assert_eq!(api.requests_of("pods").len(), 300_000 / 500);
    assert_eq!(api.requests_of("namespaces").len(), 10_000 / 500);
}
