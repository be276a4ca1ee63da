//! The receipt: each run of `spartakus report` in a pod leaves one Event on the CronJob, which
//! `kubectl describe cronjob` and `kubectl get events` show; writing it never changes the run.

use super::{CLUSTER_ID, NS, POD, in_pod, kubectl, path_str, run};
use crate::support::apiserver::{ApiServer, Config, batch};
use crate::support::collector::{Collector, Reply};
use crate::support::need;
use crate::support::nodes::identifying_strings;
use crate::support::util::TempDir;
use k8s_openapi::api::events::v1::Event;
use std::time::Duration;

/// The one Event the run left; panics unless there is exactly one.
fn the_event(api: &ApiServer) -> Event {
    let mut events = api.events(NS);
    assert_eq!(events.len(), 1, "{events:#?}");
    events.remove(0)
}

fn cronjob_uid(api: &ApiServer) -> String {
    let cronjob = api.cronjob(batch::NAMESPACE, batch::CRONJOB).unwrap();
    cronjob.metadata.uid.unwrap()
}

/// Nothing of the cluster's but counts: no node's identifying string, no token.
fn assert_private(api: &ApiServer, event: &Event, nodes: usize) {
    let text = serde_json::to_string(event).unwrap().to_ascii_lowercase();
    for i in 0..nodes {
        for secret in identifying_strings(i) {
            assert!(!text.contains(&secret.to_ascii_lowercase()), "{secret}");
        }
    }
    assert!(!text.contains(&api.token().to_ascii_lowercase()));
}

#[test]
fn a_sent_report_leaves_its_receipt_on_the_cronjob() {
    if !need::kubectl() {
        return;
    }
    let api = ApiServer::with_nodes(7);
    let collector = Collector::new();
    let run = in_pod(&api, &["--endpoint", &collector.url()]);
    run.expect(0);
    let event = the_event(&api);
    let regarding = event.regarding.clone().unwrap();
    assert_eq!(regarding.kind.as_deref(), Some("CronJob"));
    assert_eq!(regarding.api_version.as_deref(), Some("batch/v1"));
    assert_eq!(regarding.name.as_deref(), Some("spartakus"));
    assert_eq!(regarding.namespace.as_deref(), Some(NS));
    // kubectl describe matches a CronJob's Events by its UID.
    assert_eq!(regarding.uid, Some(cronjob_uid(&api)));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert_eq!(event.reason.as_deref(), Some("ReportSent"));
    assert_eq!(event.action.as_deref(), Some("Report"));
    assert_eq!(
        event.reporting_controller.as_deref(),
        Some("spartakus.io/reporter")
    );
    assert_eq!(event.reporting_instance.as_deref(), Some(POD));
    let note = event.note.clone().unwrap();
    let sent = collector.requests()[0].raw.len();
    assert!(
        note.starts_with("Report sent: 7 nodes, ")
            && note.contains(&format!("({sent} bytes sent, gzip) in 1 attempt;"))
            && note.ends_with("the collector answered 204"),
        "{note}"
    );
    assert_private(&api, &event, 7);
    assert_eq!(
        run.stderr
            .matches("receipt recorded: Event spartakus/spartakus.")
            .count(),
        1
    );
    // Where operators look.
    let described = kubectl(&api, &["describe", "cronjob", "-n", NS, "spartakus"]);
    assert!(described.contains("ReportSent"), "{described}");
    // (The stand-in serves no server-side tables: the columns of a real `kubectl get events`.)
    let columns =
        "custom-columns=TYPE:.type,REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message";
    let events = kubectl(&api, &["get", "events", "-n", NS, "-o", columns]);
    let row = events.lines().nth(1).unwrap_or("");
    assert!(
        row.starts_with("Normal")
            && row.contains("ReportSent")
            && row.contains("spartakus")
            && row.contains("Report sent: 7 nodes"),
        "{events}"
    );
}

#[test]
fn a_failed_run_records_why_and_keeps_its_exit_code() {
    let api = ApiServer::with_nodes(3);
    let collector = Collector::with_script(vec![
        Reply::status(400).body(r#"{"error":"nodes[0].id must be 32 lowercase hex characters"}"#),
    ]);
    let run = in_pod(&api, &["--endpoint", &collector.url()]);
    run.expect(4);
    // The error stays the last line, for the pod's termination message.
    assert!(
        run.error_line().contains("rejected the report"),
        "{}",
        run.stderr
    );
    let event = the_event(&api);
    assert_eq!(event.type_.as_deref(), Some("Warning"));
    assert_eq!(event.reason.as_deref(), Some("ReportFailed"));
    let note = event.note.clone().unwrap();
    let message = run.error_line().trim_start_matches("spartakus: error: ");
    assert_eq!(
        note,
        format!("Report failed (rejected-by-collector, exit 4): {message}")
    );
    assert_private(&api, &event, 3);

    // A Kubernetes API failure too: a 403 on the node list.
    let api = ApiServer::start(Config::default().with_forbidden("nodes", "list"));
    let run = in_pod(&api, &["--endpoint", &collector.url()]);
    run.expect(3);
    let note = the_event(&api).note.unwrap();
    assert!(
        note.starts_with("Report failed (kubernetes-api, exit 3): list nodes: Forbidden (403)"),
        "{note}"
    );
}

#[test]
fn a_collector_that_rate_limits_until_the_deadline_is_named_for_it() {
    let api = ApiServer::with_nodes(2);
    let limited = Reply::status(429).header("Retry-After", "1");
    let collector = Collector::with_script(vec![limited; 40]);
    let run = in_pod(&api, &["--endpoint", &collector.url(), "--timeout", "3s"]);
    run.expect(5);
    assert!(
        run.error_line()
            .contains("429 Too Many Requests (rate limited)"),
        "{}",
        run.stderr
    );
    let note = the_event(&api).note.unwrap();
    assert!(
        note.starts_with("Report failed (rate-limited-by-collector, exit 5): "),
        "{note}"
    );
}

#[test]
fn a_collectors_noisy_answer_reaches_the_receipt_quoted() {
    let api = ApiServer::with_nodes(2);
    let noisy = "no\u{1b}]8;;http://evil.example\u{7}\u{0}\u{202e}fdp.exe ".repeat(50);
    let collector = Collector::with_script(vec![Reply::status(400).body(noisy)]);
    let run = in_pod(&api, &["--endpoint", &collector.url()]);
    run.expect(4);
    let note = the_event(&api).note.unwrap();
    assert!(
        note.contains("no\\u{1b}]8;;http://evil.example\\u{7}"),
        "{note}"
    );
    assert!(
        !note
            .chars()
            .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
        "{note:?}"
    );
}

#[test]
fn a_dry_run_and_an_output_file_leave_their_own_receipts() {
    let api = ApiServer::with_nodes(2);
    in_pod(&api, &["--dry-run"]).expect(0);
    let event = the_event(&api);
    assert_eq!(event.reason.as_deref(), Some("ReportPreviewed"));
    assert_eq!(event.action.as_deref(), Some("Preview"));
    assert_eq!(event.type_.as_deref(), Some("Normal"));
    assert!(event.note.unwrap().contains("2 nodes"));

    let api = ApiServer::with_nodes(2);
    let dir = TempDir::new("receipt-output");
    let file = dir.join("report.json");
    in_pod(&api, &["--output", path_str(&file)]).expect(0);
    let event = the_event(&api);
    assert_eq!(event.reason.as_deref(), Some("ReportWritten"));
    assert_eq!(event.action.as_deref(), Some("Export"));
    let note = event.note.unwrap();
    // Nothing about where the file went.
    assert!(
        note.contains("--output") && !note.contains("report.json"),
        "{note}"
    );
}

#[test]
fn without_rights_the_receipt_is_one_line_and_the_run_unchanged() {
    // No right to create Events: the run succeeds, and says once that there is no receipt.
    let api = ApiServer::start(Config::default().with_forbidden("events", "create"));
    let run = in_pod(&api, &["--dry-run"]);
    run.expect(0);
    assert!(api.events(NS).is_empty());
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.contains("receipt"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.stderr);
    assert!(
        lines[0].contains("the receipt Event was not recorded (create events.events.k8s.io in namespace \"spartakus\": Forbidden (403)")
            && lines[0].ends_with("the run's outcome is unchanged"),
        "{}",
        lines[0]
    );
    // No right to read the CronJob: the Event is written without its UID, and the log says
    // where it will show.
    let api = ApiServer::start(Config::default().with_forbidden("cronjobs", "get"));
    let run = in_pod(&api, &["--dry-run"]);
    run.expect(0);
    let event = the_event(&api);
    assert_eq!(event.regarding.unwrap().uid, None);
    assert!(
        run.stderr
            .contains("will show in `kubectl get events` but not in `kubectl describe cronjob`"),
        "{}",
        run.stderr
    );
    // A failing API server: one attempt, not retried.
    let api = ApiServer::start(Config::default().with_fault("events", 503, usize::MAX));
    let run = in_pod(&api, &["--dry-run"]);
    run.expect(0);
    assert_eq!(api.requests_of("events").len(), 1);
    assert!(
        run.stderr.contains("Service Unavailable (503)"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_receipt_has_a_short_budget_of_its_own() {
    // The CronJob's UID does not come: the Event is written without it, in time.
    let api =
        ApiServer::start(Config::default().with_delay_for("cronjob", Duration::from_secs(60)));
    let run = in_pod(&api, &["--dry-run"]);
    run.expect(0);
    assert_eq!(the_event(&api).regarding.unwrap().uid, None);
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
    // Creating the Event hangs: the run ends after the budget, with its own outcome.
    let api = ApiServer::start(Config::default().with_delay_for("events", Duration::from_secs(60)));
    let run = in_pod(&api, &["--dry-run"]);
    run.expect(0);
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
    assert!(
        run.stderr
            .contains("no answer from the API server within 5s"),
        "{}",
        run.stderr
    );
}

#[test]
fn outside_a_pod_the_receipt_is_skipped_with_one_line() {
    let api = ApiServer::with_nodes(1);
    let run = run(
        &api,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
        &[],
    );
    run.expect(0);
    assert_eq!(
        run.stderr
            .matches("no receipt Event: not running in a pod")
            .count(),
        1,
        "{}",
        run.stderr
    );
    assert!(api.events(NS).is_empty());
    assert!(api.requests_of("cronjob").is_empty() && api.requests_of("events").is_empty());
}
