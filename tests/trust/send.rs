//! `spartakus send FILE`: a report exported with `report --output` in a cluster without internet
//! access is checked and sent from another machine, as `report` sends.

use super::{CLUSTER_ID, Run, path_str, run, run_with};
use crate::support::apiserver::ApiServer;
use crate::support::collector::{Collector, CollectorConfig, Reply, refused_url};
use crate::support::util::TempDir;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A report of `nodes` nodes written by `report --output` in `dir`.
fn export(dir: &TempDir, nodes: usize) -> PathBuf {
    let api = ApiServer::with_nodes(nodes);
    let file = dir.join("report.json");
    let args = [
        "report",
        "--cluster-id",
        CLUSTER_ID,
        "--output",
        path_str(&file),
    ];
    run(&api, &args, &[]).expect(0);
    file
}

/// `spartakus send FILE --endpoint URL ...` on a machine without any cluster.
fn send(file: &Path, endpoint: &str, extra: &[&str]) -> Run {
    let mut args = vec!["send", path_str(file), "--endpoint", endpoint];
    args.extend_from_slice(extra);
    run_with("", &args, &[])
}

#[test]
fn an_exported_report_is_sent_as_it_is_and_twice_is_the_same_report() {
    let dir = TempDir::new("send");
    let file = export(&dir, 9);
    let bytes = std::fs::read(&file).unwrap();
    let collector = Collector::new();
    let run = send(&file, &collector.url(), &[]);
    run.expect(0);
    assert!(
        run.stderr.contains("9 nodes") && run.stderr.contains("report delivered: 204"),
        "{}",
        run.stderr
    );
    send(&file, &collector.url(), &[]).expect(0);
    let received = collector.requests();
    assert_eq!(received.len(), 2);
    for r in &received {
        assert!(r.is_gzip());
        assert_eq!(r.body, bytes, "the reviewed bytes, exactly");
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let key = received[0].header("idempotency-key").unwrap();
    assert_eq!(
        Some(key),
        received[1].header("idempotency-key"),
        "derived from the content"
    );
    // Another file, another key.
    let mut other = bytes.clone();
    other.push(b'\n');
    let other_file = dir.join("other.json");
    std::fs::write(&other_file, &other).unwrap();
    send(&other_file, &collector.url(), &[]).expect(0);
    assert_ne!(collector.requests()[2].header("idempotency-key"), Some(key));
}

#[test]
fn a_file_a_collector_would_refuse_is_refused_before_sending() {
    let dir = TempDir::new("send-refused");
    let good = std::fs::read_to_string(export(&dir, 2)).unwrap();
    let collector = Collector::new();
    let bad_id = good.replacen("\"id\":\"", "\"id\":\"X", 1);
    let placeholder = good.replace(CLUSTER_ID, "00000000-0000-0000-0000-000000000000");
    let cases: [(&str, &str, &str); 4] = [
        (
            "bad-id.json",
            &bad_id,
            "nodes[0].id must be 32 lowercase hex characters",
        ),
        ("truncated.json", &good[..good.len() / 2], "invalid JSON"),
        ("not-a-report.json", "[1, 2, 3]", "invalid report"),
        ("preview.json", &placeholder, "placeholder cluster ID"),
    ];
    for (name, content, why) in cases {
        let file = dir.join(name);
        std::fs::write(&file, content).unwrap();
        let run = send(&file, &collector.url(), &[]);
        run.expect(2);
        let line = run.error_line();
        assert!(
            line.contains(name) && line.contains(why) && line.contains("nothing was sent"),
            "{line}"
        );
    }
    let run = send(&dir.join("missing.json"), &collector.url(), &[]);
    run.expect(2);
    assert!(run.error_line().contains("missing.json"), "{}", run.stderr);
    let placeholder_endpoint = "https://collector.spartakus.example/api/v1";
    let run = send(&dir.join("report.json"), placeholder_endpoint, &[]);
    run.expect(2);
    assert!(
        run.error_line().contains("is a placeholder"),
        "{}",
        run.stderr
    );
    assert_eq!(collector.request_count(), 0);
}

#[test]
fn send_falls_back_retries_and_exits_as_report_does() {
    let dir = TempDir::new("send-behaviour");
    let file = export(&dir, 3);
    let bytes = std::fs::read(&file).unwrap();
    // The original collector cannot read gzip: the same report again, uncompressed.
    let original = Collector::start(CollectorConfig {
        reject_gzip: true,
        ..CollectorConfig::default()
    });
    send(&file, &original.url(), &[]).expect(0);
    let last = original.requests().pop().unwrap();
    assert!(!last.is_gzip() && last.raw == bytes);
    // A 503 is retried with the same body and key.
    let busy = Collector::with_script(vec![Reply::status(503).retry_after_secs(1)]);
    send(&file, &busy.url(), &[]).expect(0);
    let received = busy.requests();
    assert_eq!(received.len(), 2);
    assert_eq!(
        received[0].header("idempotency-key"),
        received[1].header("idempotency-key")
    );
    // A 4xx is final: 4. Nobody listening until the deadline: 5.
    let refusing = Collector::with_script(vec![Reply::status(400).body("no")]);
    send(&file, &refusing.url(), &[]).expect(4);
    let run = send(&file, &refused_url(), &["--timeout", "3s"]);
    run.expect(5);
    assert!(run.took < Duration::from_secs(30));
    // Help documents the exit codes.
    let help = run_with("", &["send", "--help"], &[]);
    help.expect(0);
    for code in ["0", "2", "4", "5"] {
        assert!(
            help.stdout.contains(&format!("  {code} ")),
            "{}",
            help.stdout
        );
    }
}
