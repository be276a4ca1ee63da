//! The collector as users meet it: the real `spartakus collect` binary on 127.0.0.1, spoken to
//! over raw HTTP/1.1, and `spartakus summary` reading what it stored.

use crate::support;
use crate::support::collect::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// The original collector's behaviour, and the wire format
// ---------------------------------------------------------------------------------------------

/// Method, path, headers, body, expected status.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, Vec<u8>, u16);

#[test]
fn original_collector_behaviour_table() {
    let dir = TempDir::new("table");
    let c = Collector::sqlite(&dir, &[]);
    let json = "application/json";
    let valid = |id: &str| report(id, 2).into_bytes();
    let cases: Vec<Case> = vec![
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
        // Beyond the original table:
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
    ];
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
    assert_eq!(c.get("/version").text().trim(), env!("CARGO_PKG_VERSION"));
    let r = c.post(b"{", &[]);
    assert!(r.error().contains("invalid JSON"), "{}", r.error());
    assert_eq!(c.get("/api/v1").header("allow"), Some("POST"));
    let r = c.post(
        report("c-br2", 1).as_bytes(),
        &[("Content-Encoding", "deflate")],
    );
    assert_eq!(r.header("accept-encoding"), Some("gzip, identity"));

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
    assert!(c.metric("spartakus_collector_request_duration_seconds_count") >= cases.len() as f64);

    // The original volunteer's report is stored as sent, with the collector's own time.
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

    // No client address anywhere in the log (every connection came from 127.0.0.1).
    let log = c.log();
    assert!(log.contains("POST /api/v1 204"), "{log}");
    assert_eq!(
        log.lines().filter(|l| l.contains("127.0.0.1")).count(),
        1,
        "only the listening line names an address:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------------
// Limits
// ---------------------------------------------------------------------------------------------

/// A process's memory figure in KiB from /proc/PID/status, e.g. `VmHWM` (peak resident) or
/// `VmRSS` (resident now).
fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Peak resident memory of a process.
fn peak_rss_kib(pid: u32) -> u64 {
    proc_kib(pid, "VmHWM")
}

#[test]
fn size_limits_and_gzip_bomb() {
    let dir = TempDir::new("limits");
    let c = Collector::sqlite(&dir, &[]);

    // Declared too large: refused from the headers, before any body byte.
    let mut s = connect(c.addr);
    s.write_all(
        b"POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 50331649\r\n\r\n",
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let r = parse_response(&raw);
    assert_eq!(r.status, 413, "{}", r.text());
    assert!(r.error().contains("48 MiB"));

    // Streamed without a length (chunked): refused once past the limit.
    let mut s = connect(c.addr);
    s.write_all(
        b"POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
    )
    .unwrap();
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b' '; 1 << 20];
        // Past the 48 MiB limit.
        for _ in 0..64 {
            if writer
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .is_err()
                || writer.write_all(&chunk).is_err()
                || writer.write_all(b"\r\n").is_err()
            {
                return;
            }
        }
    });
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert_eq!(parse_response(&raw).status, 413);
    sender.join().unwrap();

    // A gzip bomb: 1 GiB of zeros in about 1 MB (1,024 gzip members of 1 MiB each, which a
    // multi-member reader like Go's accepts), and a single-member one of 64 MiB.
    let member = gzip_at(&vec![0u8; 1 << 20], flate2::Compression::best());
    let bomb: Vec<u8> = member.repeat(1024);
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let single = gzip(&vec![b' '; 64 << 20]);
    for body in [&bomb, &single] {
        let start = Instant::now();
        let r = c.post(body, &[("Content-Encoding", "gzip")]);
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.error().contains("decompressed"), "{}", r.error());
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            start.elapsed()
        );
    }
    let peak = peak_rss_kib(c.child.id());
    assert!(
        peak < 200 * 1024,
        "peak RSS {peak} KiB: the bomb was inflated too far"
    );

    // Counts and lengths: structural faults are refused...
    let ids: Vec<String> = (0..100_001)
        .map(|i| format!(r#"{{"id":"{i:032x}"}}"#))
        .collect();
    let too_many = format!(
        r#"{{"version":"v1.0.0","clusterID":"many","nodes":[{}]}}"#,
        ids.join(",")
    );
    let r = c.post(too_many.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("more than 100000 entries in `nodes`"),
        "{}",
        r.error()
    );
    let long_id = report(&"x".repeat(129), 1);
    let r = c.post(long_id.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert!(r.error().contains("clusterID"), "{}", r.error());
    let spaces = report("   ", 1);
    assert_eq!(
        c.post(spaces.as_bytes(), &[]).status,
        400,
        "a cluster ID of spaces"
    );
    let bad_id = r#"{"version":"v1.0.0","clusterID":"c","nodes":[{"id":"n"}]}"#;
    let r = c.post(bad_id.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("nodes[0].id must be 32 lowercase hex"),
        "{}",
        r.error()
    );
    let twice = format!(
        r#"{{"version":"v1.0.0","clusterID":"c","nodes":[{}]}}"#,
        vec![format!(r#"{{"id":"{:032x}"}}"#, 7); 3].join(",")
    );
    let r = c.post(twice.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("appears more than once"),
        "{}",
        r.error()
    );
    let huge_string = report("c", 1).replace("Ubuntu 24.04.2 LTS", &"u".repeat(70_000));
    let r = c.post(huge_string.as_bytes(), &[]);
    assert_eq!(r.status, 400);
    assert!(
        r.error().contains("string is longer than 65536 bytes"),
        "{}",
        r.error()
    );
    // ...while optional values over their limits are clamped, stored and counted.
    let long_image = report("long-image", 1).replace("Ubuntu 24.04.2 LTS", &"u".repeat(257));
    let r = c.post(long_image.as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    let clamped = "spartakus_collector_values_clamped_total";
    assert_eq!(
        c.metric(&format!("{clamped}{{field=\"nodes.osImage\"}}")),
        1.0
    );
    let caps = format!(
        r#"{{"version":"v1.0.0","clusterID":"caps","nodes":[{{"id":"{:032x}","capacity":[{}]}}]}}"#,
        1,
        vec![r#"{"resource":"r","value":"1"}"#; 65].join(",")
    );
    assert_eq!(c.post(caps.as_bytes(), &[]).status, 204);
    assert_eq!(
        c.metric(&format!("{clamped}{{field=\"nodes.capacity\"}}")),
        2.0
    );
    let s = summary_json(&dir.db(), &["--cluster", "long-image"]);
    assert_eq!(s["osImages"][0]["value"], "u".repeat(256));

    // A large but legal report (20,000 nodes, ~7 MB) goes through, gzip or not.
    let big = report("big-cluster", 20_000);
    assert!(big.len() > 6 << 20);
    let r = c.post(&gzip(big.as_bytes()), &[("Content-Encoding", "gzip")]);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(c.get("/healthz").status, 200);
    let s = summary_json(&dir.db(), &["--cluster", "big-cluster"]);
    assert_eq!(s["nodes"], 20_000);
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"too_large\"}"),
        4.0
    );
}

#[test]
fn rate_limit_per_cluster_with_retry_after() {
    let dir = TempDir::new("rate");
    let c = Collector::sqlite(&dir, &["--rate-limit", "2"]);
    let body = |n: usize| report("busy", n);
    assert_eq!(
        c.post(body(1).as_bytes(), &[("Idempotency-Key", "k1")])
            .status,
        204
    );
    assert_eq!(
        c.post(body(2).as_bytes(), &[("Idempotency-Key", "k2")])
            .status,
        204
    );
    let r = c.post(body(3).as_bytes(), &[("Idempotency-Key", "k3")]);
    assert_eq!(r.status, 429, "{}", r.text());
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    // A retry of a stored report is still answered 204: duplicates do not count.
    assert_eq!(
        c.post(body(1).as_bytes(), &[("Idempotency-Key", "k1")])
            .status,
        204
    );
    // Other clusters are not affected.
    assert_eq!(c.post(report("quiet", 1).as_bytes(), &[]).status, 204);
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"rate_limited\"}"),
        1.0
    );
    assert_eq!(
        summary_json(&dir.db(), &["--cluster", "busy"])["reports"],
        2
    );
}

#[test]
fn slow_clients_are_cut_off() {
    let dir = TempDir::new("slow");
    let c = Collector::sqlite(&dir, &["--header-timeout", "1s", "--request-timeout", "2s"]);

    // Headers that never end.
    let start = Instant::now();
    let mut s = connect(c.addr);
    s.write_all(b"POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: appl")
        .unwrap();
    let mut raw = Vec::new();
    let ended = s.read_to_end(&mut raw);
    let took = start.elapsed();
    assert!(
        ended.is_ok()
            || ended
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{ended:?}"
    );
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(15),
        "{took:?}"
    );

    // A body that stalls half way: 408, and the connection is closed.
    let start = Instant::now();
    let mut s = connect(c.addr);
    s.write_all(
        b"POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"version\":",
    )
    .unwrap();
    // Meanwhile the server serves others.
    assert_eq!(c.get("/healthz").status, 200);
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let took = start.elapsed();
    let r = parse_response(&raw);
    assert_eq!(r.status, 408, "{}", r.text());
    assert_eq!(r.header("connection"), Some("close"));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(15),
        "{took:?}"
    );

    // An idle keep-alive connection is closed too.
    let start = Instant::now();
    let mut s = connect(c.addr);
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n")
        .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"timeout\"}"),
        1.0
    );
}

// ---------------------------------------------------------------------------------------------
// Duplicates
// ---------------------------------------------------------------------------------------------

#[test]
fn retries_and_repeats_are_stored_once() {
    let dir = TempDir::new("dup");
    let c = Collector::sqlite(&dir, &[]);
    // The reporter's retry: same key, same body (once gzip, once not: same content).
    let body = report("retrying", 3);
    let key = [("Idempotency-Key", "0b5e1b8c-2f0e-4d44-9a57-1f9d1f3c6a11")];
    assert_eq!(c.post(body.as_bytes(), &key).status, 204);
    assert_eq!(c.post(body.as_bytes(), &key).status, 204);
    let gz = [key[0], ("Content-Encoding", "gzip")];
    assert_eq!(c.post(&gzip(body.as_bytes()), &gz).status, 204);
    // Same key, different report: a client bug, refused.
    let r = c.post(report("retrying", 4).as_bytes(), &key);
    assert_eq!(r.status, 422, "{}", r.text());
    // No key, same content within the window: stored once.
    let plain = report("no-key", 2);
    assert_eq!(c.post(plain.as_bytes(), &[]).status, 204);
    assert_eq!(c.post(plain.as_bytes(), &[]).status, 204);

    assert_eq!(c.metric("spartakus_collector_reports_accepted_total"), 2.0);
    assert_eq!(c.metric("spartakus_collector_reports_duplicate_total"), 3.0);
    assert_eq!(
        summary_json(&dir.db(), &["--cluster", "retrying"])["reports"],
        1
    );
    assert_eq!(
        summary_json(&dir.db(), &["--cluster", "no-key"])["reports"],
        1
    );
    let s = summary_json(&dir.db(), &[]);
    assert_eq!(s["clusters"], 2);
    assert_eq!(s["reports"], 2);
    // The log tells a duplicate from a stored report.
    let log = c.log();
    assert_eq!(log.matches(" duplicate").count(), 3, "{log}");
}

// ---------------------------------------------------------------------------------------------
// Durability and lifecycle
// ---------------------------------------------------------------------------------------------

#[test]
fn a_204_survives_sigkill() {
    let dir = TempDir::new("durable");
    let mut c = Collector::sqlite(&dir, &[]);
    assert_eq!(
        c.post(
            report("durable-cluster", 5).as_bytes(),
            &[("Idempotency-Key", "d1")]
        )
        .status,
        204
    );
    c.child.kill().unwrap(); // SIGKILL: no chance to flush anything.
    c.child.wait().unwrap();
    drop(c);

    let s = summary_json(&dir.db(), &[]);
    assert_eq!(s["clusters"], 1);
    assert_eq!(s["recent"][0]["clusterID"], "durable-cluster");
    assert_eq!(s["nodes"], 5);

    // Restarted on the same store: the key is remembered, new reports go in.
    let c = Collector::sqlite(&dir, &[]);
    assert_eq!(c.get("/readyz").status, 200);
    assert_eq!(
        c.post(
            report("durable-cluster", 5).as_bytes(),
            &[("Idempotency-Key", "d1")]
        )
        .status,
        204
    );
    assert_eq!(c.metric("spartakus_collector_reports_duplicate_total"), 1.0);
    assert_eq!(c.post(report("second", 1).as_bytes(), &[]).status, 204);
    let text = summary(&dir.db(), &[]);
    assert!(text.status.success());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("Clusters reporting: 2"), "{text}");
    assert!(text.contains("containerd://1.7"), "{text}");
}

#[test]
fn sigterm_finishes_the_request_in_flight_then_exits_0() {
    let dir = TempDir::new("term");
    let mut c = Collector::sqlite(&dir, &[]);
    let body = report("in-flight", 2);
    let mut s = connect(c.addr);
    let head = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body.as_bytes()[..10]).unwrap();
    // Wait until the server is handling it (the /metrics request itself counts one).
    c.await_in_flight(2);
    c.signal("-TERM");
    // No longer accepting...
    let start = Instant::now();
    while TcpStream::connect_timeout(&c.addr, Duration::from_secs(1)).is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the listener was not closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...but the request in flight completes.
    s.write_all(&body.as_bytes()[10..]).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).status, 204);
    let status = c.wait(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(0), "{}", c.log());
    assert!(c.log().contains("SIGTERM"), "{}", c.log());
    assert_eq!(summary_json(&dir.db(), &[])["clusters"], 1);
}

#[test]
fn stdout_store_prints_one_json_line_per_report() {
    let c = Collector::start("stdout", &[]);
    assert_eq!(
        c.post(ORIGINAL_VOLUNTEER.as_bytes(), &[("Idempotency-Key", "s1")])
            .status,
        204
    );
    assert_eq!(
        c.post(ORIGINAL_VOLUNTEER.as_bytes(), &[("Idempotency-Key", "s1")])
            .status,
        204
    );
    assert_eq!(c.post(report("other", 1).as_bytes(), &[]).status, 204);
    assert_eq!(c.get("/readyz").status, 200);
    let start = Instant::now();
    let lines = loop {
        let out = c.stdout.lock().unwrap().clone();
        if out.lines().count() >= 2 || start.elapsed() > Duration::from_secs(10) {
            break out;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let lines: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the duplicate is not printed: {lines:?}");
    assert_eq!(
        lines[0]["report"]["clusterID"],
        "2f9c93d3-156c-47aa-8802-578ffca9b50e"
    );
    assert_eq!(lines[0]["report"]["timestamp"], "867530909031976");
    assert!(lines[0]["receivedAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(lines[1]["report"]["clusterID"], "other");
}

#[test]
fn startup_errors_are_one_line_with_the_right_exit_code() {
    let run = |args: &[&str]| Command::new(BIN).args(args).env_clear().output().unwrap();

    // A PostgreSQL URL that does not parse: a usage error that does not repeat the password.
    let out = run(&[
        "collect",
        "--store",
        "postgres://u:hunter2@db.example/s?sslmode=maybe",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sslmode=maybe") && !err.contains("hunter2"),
        "{err}"
    );
    // A database that cannot be reached: exit 1, one line naming it, without the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://u:hunter2@127.0.0.1:{port}/s?sslmode=disable");
    let out = run(&["collect", "--listen", "127.0.0.1:0", "--store", &url]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("postgres://u:****@127.0.0.1:{port}/s")),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = run(&["collect", "--listen", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));

    // The port is taken: the error names the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let dir = TempDir::new("bind");
    let out = run(&[
        "collect",
        "--listen",
        &addr,
        "--store",
        dir.db().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&addr), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    // A store that cannot be created names its path: configuration, like every store that
    // cannot take a report.
    let out = run(&[
        "collect",
        "--listen",
        "127.0.0.1:0",
        "--store",
        "/nonexistent-dir/x/s.db",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent-dir/x/s.db"));

    // Summary of a store that does not exist: a usage error, and no file is created.
    let missing = dir.join("missing.db");
    let out = summary(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
    assert!(!missing.exists());
    let out = run(&["summary", "--store", "stdout"]);
    assert_eq!(out.status.code(), Some(2));
}

/// Every committed report is logged and counted, whether or not its client waited for the
/// answer: clients that hang up right after sending leave the store, the access log and
/// `/metrics` in agreement.
#[test]
fn reports_of_clients_that_hang_up_are_logged_and_counted() {
    let dir = TempDir::new("hang-up");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    const N: usize = 48;
    let senders: Vec<_> = (0..N)
        .map(|i| {
            let addr = c.addr;
            std::thread::spawn(move || {
                let body = report(&format!("gone-{i}"), 200);
                let mut s = connect(addr);
                let head = format!(
                    "POST /api/v1 HTTP/1.1\r\nHost: collector\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                s.write_all(head.as_bytes()).unwrap();
                s.write_all(body.as_bytes()).unwrap();
                // Gone before the answer.
                drop(s);
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    let accepted = "spartakus_collector_reports_accepted_total";
    let settled = Instant::now() + Duration::from_secs(30);
    while c.metric(accepted) < N as f64 && Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(100));
    }
    let logged = c
        .log()
        .lines()
        .filter(|l| l.contains("POST /api/v1 204") && l.contains("cluster=\"gone-"))
        .count();
    let stored = summary_json(&dir.db(), &[])["reports"].as_u64().unwrap() as usize;
    assert_eq!(stored, N, "every complete report is stored");
    assert_eq!(
        c.metric(accepted) as usize,
        stored,
        "metrics agree with the store"
    );
    assert_eq!(
        logged,
        stored,
        "the log agrees with the store:\n{}",
        c.log()
    );
}

// ---------------------------------------------------------------------------------------------
// Fuzz over the wire
// ---------------------------------------------------------------------------------------------

#[test]
fn arbitrary_and_mutated_bodies_never_break_the_collector() {
    use spartakus::contract::testing::Rng;
    let dir = TempDir::new("fuzz");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    let mut rng = Rng(0xC011_EC70_5EED_0042);
    let seeds = [
        ORIGINAL_VOLUNTEER.as_bytes().to_vec(),
        report("fuzz", 3).into_bytes(),
    ];
    let seeds: [&[u8]; 2] = [&seeds[0], &seeds[1]];
    let mut counts = std::collections::BTreeMap::new();
    for round in 0..600 {
        let input = rng.mutate(&seeds);
        let gz = rng.below(5) == 0;
        let body = if gz { gzip(&input) } else { input };
        let headers: &[(&str, &str)] = if gz {
            &[("Content-Encoding", "gzip")]
        } else {
            &[]
        };
        let r = c.post(&body, headers);
        assert!(
            [204, 400, 413].contains(&r.status),
            "round {round}: {} {} for {:?}",
            r.status,
            r.text(),
            String::from_utf8_lossy(&body)
        );
        if r.status != 204 {
            assert!(!r.error().is_empty());
        }
        *counts.entry(r.status).or_insert(0) += 1;
    }
    assert!(counts.get(&204).copied().unwrap_or(0) > 20, "{counts:?}");
    assert!(counts.get(&400).copied().unwrap_or(0) > 200, "{counts:?}");
    assert_eq!(c.get("/readyz").status, 200);
    assert!(c.child.id() > 0 && c.get("/healthz").status == 200);
    // Whatever was accepted can be summarized.
    assert!(summary_json(&dir.db(), &[])["clusters"].as_i64().unwrap() >= 1);
}

/// Many large reports at once: the collector's memory grows by no more than its budget (plus
/// fixed buffers), whatever the concurrency; what does not fit waits, or gets 503 and
/// Retry-After. Before the budget, each of these uploads held its body, its decompressed
/// JSON and the parsed report (about 3.3 times the JSON), so six of them took over 400 MiB.
#[test]
fn memory_stays_within_the_budget_under_concurrent_large_reports() {
    let dir = TempDir::new("budget");
    let budget_mib: u32 = 48;
    let c = Collector::sqlite(
        &dir,
        &[
            "--memory-budget",
            &format!("{budget_mib}Mi"),
            "--rate-limit",
            "0",
        ],
    );
    // Six reports of 50,000 nodes, about 16 MB of JSON each; half sent gzip (whose size is
    // known only while decompressing), half as they are (reserved up front by Content-Length).
    let bodies: Vec<(Vec<u8>, bool)> = (0..6)
        .map(|i| {
            let json = report(&format!("budget-{i}"), 50_000).into_bytes();
            assert!(json.len() > 15 << 20, "{}", json.len());
            if i % 2 == 0 {
                (gzip(&json), true)
            } else {
                (json, false)
            }
        })
        .collect();
    assert_eq!(c.get("/healthz").status, 200);
    let base = proc_kib(c.child.id(), "VmRSS");
    let addr = c.addr;
    let senders: Vec<_> = bodies
        .into_iter()
        .map(|(body, gz)| {
            std::thread::spawn(move || {
                let mut headers = vec![("Content-Type", "application/json")];
                if gz {
                    headers.push(("Content-Encoding", "gzip"));
                }
                request(addr, "POST", "/api/v1", &headers, &body)
            })
        })
        .collect();
    let mut stored = 0;
    for sender in senders {
        let r = sender.join().unwrap();
        match r.status {
            204 => stored += 1,
            503 => assert_eq!(r.header("retry-after"), Some("10"), "{}", r.text()),
            other => panic!("status {other}: {}", r.text()),
        }
    }
    assert!(stored >= 1, "nothing was stored");
    let grown_mib = peak_rss_kib(c.child.id()).saturating_sub(base) / 1024;
    // The budget, plus what does not grow with reports: decoders, SQLite's page cache, the
    // allocator's slack.
    let allowed_mib = u64::from(budget_mib) + 24;
    assert!(
        grown_mib <= allowed_mib,
        "peak RSS grew by {grown_mib} MiB under load, over the {budget_mib} MiB budget + 24 MiB"
    );
    assert_eq!(
        c.metric("spartakus_collector_memory_budget_bytes"),
        f64::from(budget_mib << 20)
    );
    assert_eq!(
        c.metric("spartakus_collector_memory_in_use_bytes"),
        0.0,
        "every request gave its memory back"
    );
    let s = summary_json(&dir.db(), &[]);
    assert_eq!(s["clusters"], stored);
    eprintln!(
        "memory bound: {stored}/6 stored, peak RSS grew by {grown_mib} MiB (budget {budget_mib} MiB)"
    );
}

/// A client that stalls mid-upload holds `collect` no longer than `--shutdown-grace` after
/// SIGTERM, and a second signal stops it at once.
#[test]
fn a_stalled_client_holds_shutdown_only_for_the_grace_period() {
    let stall = |c: &Collector| {
        let mut s = connect(c.addr);
        let head = "POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{";
        s.write_all(head.as_bytes()).unwrap();
        c.await_in_flight(2);
        s
    };
    // The grace period ends the wait (the request timeout alone would take two minutes).
    let dir = TempDir::new("grace");
    let mut c = Collector::sqlite(
        &dir,
        &["--shutdown-grace", "2s", "--request-timeout", "120s"],
    );
    let _stalled = stall(&c);
    c.signal("-TERM");
    let status = c
        .wait(Duration::from_secs(60))
        .expect("exited after the grace period");
    assert_eq!(status.code(), Some(0), "{}", c.log());
    assert!(
        c.log().contains("still open after the 2s grace period"),
        "{}",
        c.log()
    );

    // A second signal does not wait for the grace period.
    let dir = TempDir::new("second-signal");
    let mut c = Collector::sqlite(
        &dir,
        &["--shutdown-grace", "10m", "--request-timeout", "10m"],
    );
    let _stalled = stall(&c);
    c.signal("-TERM");
    let start = Instant::now();
    while !c.log().contains("a second signal stops at once") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", c.log());
        std::thread::sleep(Duration::from_millis(20));
    }
    c.signal("-INT");
    let status = c
        .wait(Duration::from_secs(60))
        .expect("exited on the second signal");
    assert_eq!(status.code(), Some(0), "{}", c.log());
    assert!(
        c.log().contains("second signal: stopping at once"),
        "{}",
        c.log()
    );
}

/// An upload in progress holds a connection but no report slot: `--max-requests` bounds the
/// work of checking and storing, so slow uploads cannot hold back the reports of others;
/// `--max-connections` holds back connections beyond it.
#[test]
fn uploads_hold_connections_not_report_slots() {
    let dir = TempDir::new("caps");
    let c = Collector::sqlite(&dir, &["--max-connections", "3", "--max-requests", "1"]);
    let body = report("capped", 1);
    let head = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: c\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // A: an upload in progress.
    let mut a = connect(c.addr);
    a.write_all(head.as_bytes()).unwrap();
    a.write_all(&body.as_bytes()[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    // B: a whole report goes through meanwhile, although A is in progress and there is one slot.
    let r = c.post(report("b", 1).as_bytes(), &[]);
    assert_eq!(r.status, 204, "{}", r.text());
    // D holds a second connection, the metrics scrape below the third; E is not served...
    let mut d = connect(c.addr);
    d.write_all(b"GET /healthz HTTP/1.1\r\nHost: c\r\n")
        .unwrap();
    let mut f = connect(c.addr);
    f.write_all(b"GET /healthz HTTP/1.1\r\nHost: c\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut e = connect(c.addr);
    e.write_all(b"GET /healthz HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")
        .unwrap();
    e.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut byte = [0u8; 1];
    let early = e.read(&mut byte);
    assert!(early.is_err(), "served beyond --max-connections: {early:?}");
    // ...until D goes.
    drop(d);
    e.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Vec::new();
    e.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).status, 200);
    drop(f);
    // A finishes normally, within the minimum rate.
    a.write_all(&body.as_bytes()[5..]).unwrap();
    let mut raw = Vec::new();
    a.read_to_end(&mut raw).unwrap();
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 204"),
        "{}",
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"overloaded\"}"),
        0.0
    );
}

/// A body trickling slower than the minimum rate is refused within a few seconds (408), and so
/// is a connection that never reads the answers to what it asked.
#[test]
fn slow_bodies_and_clients_that_never_read_are_cut_off() {
    let dir = TempDir::new("slow");
    let c = Collector::sqlite(&dir, &["--header-timeout", "2s", "--max-connections", "4"]);
    let body = report("slow", 50);
    let mut s = connect(c.addr);
    let head = format!(
        "POST /api/v1 HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    let start = Instant::now();
    let mut sent = 0;
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let answer = loop {
        // One byte a second.
        let _ = s.write_all(&body.as_bytes()[sent..sent + 1]);
        sent += 1;
        let mut raw = Vec::new();
        if s.read_to_end(&mut raw).is_ok() || !raw.is_empty() {
            break parse_response(&raw);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never cut off");
    };
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert!(
        answer.error().contains("arrived too slowly"),
        "{}",
        answer.text()
    );

    // Pipelined requests whose answers are never read: the connection is closed once a
    // response has waited the header timeout to be written, and others are still served.
    let mut greedy = connect(c.addr);
    let many = "GET /metrics HTTP/1.1\r\nHost: c\r\n\r\n".repeat(5_000);
    let writer = std::thread::spawn(move || {
        let _ = greedy.write_all(many.as_bytes());
        greedy
    });
    let start = Instant::now();
    let greedy = writer.join().unwrap();
    let _ = greedy;
    assert_eq!(c.get("/healthz").status, 200, "others are served");
    let mut greedy_closed = false;
    while start.elapsed() < Duration::from_secs(30) {
        if c.metric("spartakus_collector_connections_unread_total") > 0.0 {
            greedy_closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(greedy_closed, "{}", c.log());
}

/// Reports made of one enormous string (a 32 MiB OS image, cluster ID or object key) are
/// refused as the string arrives: neither the body nor the parser's copy of the string is held,
/// so memory stays within the documented bound for any input.
#[test]
fn enormous_strings_are_refused_before_they_are_held() {
    let dir = TempDir::new("long-strings");
    let budget_mib: u64 = 48;
    let c = Collector::sqlite(&dir, &["--memory-budget", "48Mi", "--rate-limit", "0"]);
    let huge = "u".repeat(32 << 20);
    let bodies = [
        report("long", 1).replace("Ubuntu 24.04.2 LTS", &huge),
        report(&huge, 1),
        format!(r#"{{"version":"v1.0.0","clusterID":"k","{huge}":1}}"#),
    ];
    assert_eq!(c.get("/healthz").status, 200);
    let base = proc_kib(c.child.id(), "VmRSS");
    let addr = c.addr;
    let senders: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            std::thread::spawn(move || {
                let mut headers = vec![("Content-Type", "application/json")];
                let body = if i == 0 {
                    headers.push(("Content-Encoding", "gzip"));
                    gzip(body.as_bytes())
                } else {
                    body.into_bytes()
                };
                request(addr, "POST", "/api/v1", &headers, &body)
            })
        })
        .collect();
    for sender in senders {
        let r = sender.join().unwrap();
        assert_eq!(r.status, 400, "{}", r.text());
        assert!(
            r.error().contains("string is longer than 65536 bytes"),
            "{}",
            r.error()
        );
    }
    let grown_mib = peak_rss_kib(c.child.id()).saturating_sub(base) / 1024;
    // Each refused after its first 64 KiB of string: far below the budget.
    assert!(
        grown_mib < budget_mib / 4,
        "peak RSS grew by {grown_mib} MiB for three refused strings"
    );
    assert_eq!(c.metric("spartakus_collector_memory_in_use_bytes"), 0.0);
    assert_eq!(c.get("/healthz").status, 200);
}

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
    let start = Instant::now();
    while c.stdout.lock().unwrap().is_empty() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let line: serde_json::Value = serde_json::from_str(c.stdout.lock().unwrap().trim()).unwrap();
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

/// One address flooding made-up cluster IDs gets 429 once it used its allowance of new
/// clusters; clusters the store knows still get through from it; behind a named proxy each
/// client is its own source; and no address reaches the log.
#[test]
fn a_flood_of_new_clusters_from_one_source_is_held_back() {
    let dir = TempDir::new("sources");
    let c = Collector::sqlite(
        &dir,
        &["--rate-limit", "0", "--new-clusters-per-source", "5"],
    );
    for i in 0..5 {
        let r = c.post(report(&format!("known-{i}"), 1).as_bytes(), &[]);
        assert_eq!(r.status, 204, "{}", r.text());
    }
    let r = c.post(report("made-up-1", 1).as_bytes(), &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(
        r.error()
            .contains("too many new clusters from this address"),
        "{}",
        r.error()
    );
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    // A cluster the store knows is never held back by its address.
    let again = report("known-3", 2);
    assert_eq!(c.post(again.as_bytes(), &[]).status, 204);
    // The header is anyone's to write: without a trusted proxy it changes nothing.
    let r = c.post(
        report("made-up-2", 1).as_bytes(),
        &[("X-Forwarded-For", "198.51.100.7")],
    );
    assert_eq!(r.status, 429);
    assert_eq!(
        c.metric("spartakus_collector_reports_rejected_total{reason=\"new_clusters\"}"),
        2.0
    );

    // Behind a named proxy, each client has its own allowance.
    let dir = TempDir::new("sources-proxied");
    let c = Collector::sqlite(
        &dir,
        &[
            "--rate-limit",
            "0",
            "--new-clusters-per-source",
            "2",
            "--trusted-proxy",
            "127.0.0.1/32",
        ],
    );
    for i in 0..6 {
        let client = format!("198.51.100.{}", i / 2);
        let r = c.post(
            report(&format!("behind-{i}"), 1).as_bytes(),
            &[("X-Forwarded-For", client.as_str())],
        );
        assert_eq!(r.status, 204, "{client}: {}", r.text());
    }
    let r = c.post(
        report("behind-over", 1).as_bytes(),
        &[("X-Forwarded-For", "198.51.100.0")],
    );
    assert_eq!(r.status, 429, "the first client used its two");
    assert!(
        !c.log().contains("198.51.100"),
        "an address reached the log:\n{}",
        c.log()
    );
}

/// A small filesystem of its own for a store (tmpfs), where the machine allows mounting one.
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &TempDir, size: &str) -> Option<SmallDisk> {
        let path = dir.join("disk");
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("SKIPPED: this machine does not allow mounting a small tmpfs");
            return None;
        }
        Some(SmallDisk(path))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// A full disk: reports get 503 with Retry-After (never a 2xx), `/readyz` says not ready, the
/// log says why once; when space comes back the collector notices by itself.
#[test]
fn a_full_disk_is_not_ready_and_recovers_by_itself() {
    let dir = TempDir::new("full-disk");
    let Some(disk) = SmallDisk::mount(&dir, "3M") else {
        return;
    };
    let store = disk.0.join("s.db");
    let c = Collector::start(
        store.to_str().unwrap(),
        &["--rate-limit", "0", "--new-clusters-per-source", "0"],
    );
    assert_eq!(c.post(report("first", 5).as_bytes(), &[]).status, 204);
    // Fill the disk but for a little.
    let filler = disk.0.join("filler");
    let _ = Command::new("dd")
        .args([
            "if=/dev/zero",
            &format!("of={}", filler.display()),
            "bs=64k",
        ])
        .output();
    let mut refused = None;
    for i in 0..200 {
        let r = c.post(report(&format!("full-{i}"), 200).as_bytes(), &[]);
        assert!(matches!(r.status, 204 | 503), "{} {}", r.status, r.text());
        if r.status == 503 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("a full disk refuses reports");
    assert!(refused.header("retry-after").is_some());
    let start = Instant::now();
    while c.get("/readyz").status != 503 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still ready with a full disk"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    for i in 0..5 {
        assert_eq!(
            c.post(report(&format!("more-{i}"), 200).as_bytes(), &[])
                .status,
            503
        );
    }
    let failing: Vec<String> = c
        .log()
        .lines()
        .filter(|l| l.contains("failing"))
        .map(String::from)
        .collect();
    assert_eq!(failing.len(), 1, "the cause is logged once:\n{}", c.log());
    assert!(
        failing[0].contains("full") && !failing[0].contains("savepoint"),
        "the cause, not what failed after it: {failing:?}"
    );
    // Space again: ready again without a restart, and reports are stored.
    std::fs::remove_file(&filler).unwrap();
    let start = Instant::now();
    while c.get("/readyz").status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never noticed the space"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(c.post(report("after", 5).as_bytes(), &[]).status, 204);
    assert!(c.log().contains("recovered"), "{}", c.log());
}

/// Raw UTF-8 in a request path cannot forge or hide log lines: every character that is not
/// printable ASCII is escaped, one request is one line.
#[test]
fn unicode_in_paths_cannot_forge_log_lines() {
    let c = Collector::start("stdout", &[]);
    let before = c.log().lines().count();
    let path = "/x\u{2028}2026-01-01T00:00:00Z\u{2002}POST\u{2002}/api/v1\u{2002}204\u{202e}evil";
    let mut s = connect(c.addr);
    let head = format!("GET {path} HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let start = Instant::now();
    while c.log().lines().count() == before {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "nothing logged:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = c.log();
    let new: Vec<&str> = log.lines().skip(before).collect();
    assert_eq!(new.len(), 1, "one request, one line: {new:?}");
    let line = new[0];
    assert!(
        line.contains(
            r"/x\u{2028}2026-01-01T00:00:00Z\u{2002}POST\u{2002}/api/v1\u{2002}204\u{202e}evil"
        ),
        "{line}"
    );
    assert!(line.chars().all(|ch| (' '..='~').contains(&ch)), "{line}");
}

/// Probes and scrapes do not bury the report lines: logged only when they fail, or with
/// `--log-probes`.
#[test]
fn probes_are_logged_only_when_they_fail_or_when_asked() {
    let quiet = Collector::start("stdout", &[]);
    for path in ["/healthz", "/readyz", "/metrics", "/healthz"] {
        assert_eq!(quiet.get(path).status, 200);
    }
    assert_eq!(quiet.post(report("logged", 1).as_bytes(), &[]).status, 204);
    let start = Instant::now();
    while !quiet.log().contains("POST /api/v1 204") {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = quiet.log();
    assert!(
        !log.contains("GET /healthz") && !log.contains("GET /metrics"),
        "{log}"
    );
    let loud = Collector::start("stdout", &["--log-probes"]);
    assert_eq!(loud.get("/healthz").status, 200);
    let start = Instant::now();
    while !loud.log().contains("GET /healthz 200") {
        assert!(start.elapsed() < Duration::from_secs(10), "{}", loud.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}
