//! The collector as users meet it: the real `spartakus collect` binary on 127.0.0.1, spoken to
//! over raw HTTP/1.1, and `spartakus summary` reading what it stored.

use crate::support;
use crate::support::collect::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

mod lifecycle;
mod limits;
mod load;
mod operation;
mod workloads;

use limits::{peak_rss_kib, proc_kib};

// ---------------------------------------------------------------------------------------------
// The original collector's behaviour, and the wire format
// ---------------------------------------------------------------------------------------------

/// Method, path, headers, body, expected status.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

/// The original collector's table.
fn original_cases() -> Vec<Case<'static>> {
    let json = "application/json";
    let valid = |id: &str| report(id, 2).into_bytes();
    vec![
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json)],
            valid("c-valid"),
            204,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json)],
            b"{".to_vec(),
            400,
        ),
        ("POST", "/api/v1", vec![("Content-Type", json)], vec![], 400),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", "text/plain")],
            valid("c-text"),
            415,
        ),
        ("POST", "/api/v1", vec![], valid("c-none"), 415),
        ("GET", "/healthz", vec![], vec![], 200),
        ("GET", "/version", vec![], vec![], 200),
    ]
}

/// Beyond the original table: the original volunteer's report, media types and encodings.
fn media_types_and_encodings() -> Vec<Case<'static>> {
    let json = "application/json";
    let valid = |id: &str| report(id, 2).into_bytes();
    vec![
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json)],
            ORIGINAL_VOLUNTEER.as_bytes().to_vec(),
            204,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", "Application/JSON; charset=UTF-8")],
            valid("c-case"),
            204,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json), ("Content-Encoding", "gzip")],
            gzip(report("c-gzip", 3).as_bytes()),
            204,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json), ("Content-Encoding", "identity")],
            valid("c-identity"),
            204,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json), ("Content-Encoding", "br")],
            valid("c-br"),
            415,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json), ("Content-Encoding", "gzip")],
            b"{\"not\":\"gzip\"}".to_vec(),
            400,
        ),
    ]
}

/// Beyond the original table: bodies the schema refuses, a bad key, wrong methods and paths.
fn refusals_and_other_paths() -> Vec<Case<'static>> {
    let json = "application/json";
    let valid = |id: &str| report(id, 2).into_bytes();
    vec![
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json)],
            br#"{"version":"v1.0.0","timestamp":"1"}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json)],
            br#"{"version":"v1.0.0","clusterID":42}"#.to_vec(),
            400,
        ),
        (
            "POST",
            "/api/v1",
            vec![("Content-Type", json), ("Idempotency-Key", "has space")],
            valid("c-key"),
            400,
        ),
        ("GET", "/api/v1", vec![], vec![], 405),
        (
            "POST",
            "/healthz",
            vec![("Content-Type", json)],
            vec![],
            405,
        ),
        ("GET", "/api/v2", vec![], vec![], 404),
        ("GET", "/readyz", vec![], vec![], 200),
        ("GET", "/metrics", vec![], vec![], 200),
    ]
}

#[test]
fn original_collector_behaviour_table() {
    let dir = TempDir::new("table");
    let c = Collector::sqlite(&dir, &[]);
    let cases = [
        original_cases(),
        media_types_and_encodings(),
        refusals_and_other_paths(),
    ]
    .concat();
    for (i, (method, path, headers, body, want)) in cases.iter().enumerate() {
        let r = request(c.addr, method, path, headers, body);
        assert_eq!(
            r.status,
            *want,
            "case {i}: {method} {path} {headers:?} -> {} {}",
            r.status,
            r.text()
        );
        if r.status >= 400 {
            assert!(!r.error().is_empty(), "case {i}: JSON error body");
        }
    }
    answers_name_the_version_the_cause_and_what_is_allowed(&c);
    counts_each_acceptance_and_rejection(&c, cases.len());
    the_original_volunteers_report_is_stored_as_sent(&dir);
    no_client_address_is_logged(&c);
}

/// `/version`, an invalid body's error, a wrong method's `Allow`, an unknown encoding's
/// `Accept-Encoding`.
fn answers_name_the_version_the_cause_and_what_is_allowed(c: &Collector) {
    assert_eq!(c.get("/version").text().trim(), env!("CARGO_PKG_VERSION"));
    let r = c.post(b"{", &[]);
    assert!(r.error().contains("invalid JSON"), "{}", r.error());
    assert_eq!(c.get("/api/v1").header("allow"), Some("POST"));
    let r = c.post(
        report("c-br2", 1).as_bytes(),
        &[("Content-Encoding", "deflate")],
    );
    assert_eq!(r.header("accept-encoding"), Some("gzip, identity"));
}

/// The metrics after the table (`requests` of them) and the answers above.
fn counts_each_acceptance_and_rejection(c: &Collector, requests: usize) {
    assert_eq!(c.metric("spartakus_collector_reports_accepted_total"), 5.0);
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"unsupported_media_type\"}"),
        4.0
    );
    assert!(c.metric("spartakus_collector_reports_rejected_total{reason=\"invalid_json\"}") >= 3.0);
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"schema\"}"),
        2.0
    );
    assert!(c.metric("spartakus_collector_request_duration_seconds_count") >= requests as f64);
}

/// The original volunteer's report is stored as sent, with the collector's own time.
fn the_original_volunteers_report_is_stored_as_sent(dir: &TempDir) {
    let s = summary_json(
        &dir.db(),
        &["--cluster", "2f9c93d3-156c-47aa-8802-578ffca9b50e"],
    );
    assert_eq!(s["clusters"], 1);
    assert_eq!(s["nodes"], 2);
    assert_eq!(s["kubernetesVersions"][0]["value"], "v1.3");
    assert_eq!(s["containerRuntimes"][0]["value"], "docker://1.11");
    let received = s["recent"][0]["receivedAt"].as_str().unwrap();
    assert!(
        received.starts_with("20"),
        "collector time, not the client's: {received}"
    );
}

/// No client address anywhere in the log (every connection came from 127.0.0.1).
fn no_client_address_is_logged(c: &Collector) {
    let log = c.log();
    assert!(log.contains("POST /api/v1 204"), "{log}");
    assert_eq!(
        log.lines().filter(|l| l.contains("127.0.0.1")).count(),
        1,
        "only the listening line names an address:\n{log}"
    );
}
