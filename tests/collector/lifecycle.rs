//! Duplicates stored once, and the lifecycle: a 204 survives SIGKILL, SIGTERM finishes what is
//! in flight, the stdout store, startup errors, and clients that hang up.

use super::*;
use crate::support::{HANG_GUARD, wait_until};

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
    wait_until("the listener to close", || {
        TcpStream::connect_timeout(&c.addr, Duration::from_secs(1)).is_err()
    });
    // ...but the request in flight completes.
    s.write_all(&body.as_bytes()[10..]).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    assert_eq!(parse_response(&raw).status, 204);
    let status = c.wait(HANG_GUARD).expect("exited");
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
    let lines = c.stdout_lines(2);
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
    let logged = || {
        c.log()
            .lines()
            .filter(|l| l.contains("POST /api/v1 204") && l.contains("cluster=\"gone-"))
            .count()
    };
    // Settled: counted, and the log lines read from the collector's stderr (a busy machine may
    // read them later than the metric changes).
    let settled = Instant::now() + HANG_GUARD;
    while (c.metric(accepted) < N as f64 || logged() < N) && Instant::now() < settled {
        std::thread::sleep(Duration::from_millis(100));
    }
    let logged = logged();
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
