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

mod command_line;
mod hostile;
mod init;
mod sending;
mod workloads;

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
