//! The collector and its store, as operators meet them: every 2xx survives SIGKILL under load
//! (each store kind), several collectors share one PostgreSQL database, an outage of the
//! database is answered 503 quickly and ends by itself, store files that cannot be used stop the
//! start with one line, and `spartakus backup` copies a store while it is written to.

use crate::support::collect::spartakus as run;
use crate::support::collect::*;
use crate::support::pg_server;
use crate::support::{HANG_GUARD, wait_until};
use spartakus::collector::store::{Reader, Spec};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Cluster IDs of the reports stored in `spec`.
fn stored_clusters(spec: &Spec) -> BTreeSet<String> {
    let mut reader = Reader::open(spec).unwrap();
    reader
        .conn()
        .unwrap()
        .query("SELECT cluster_id FROM reports", &[])
        .unwrap()
        .into_iter()
        .map(|row| row.into_iter().next().unwrap().string().unwrap())
        .collect()
}

/// Post unique reports from `threads` threads until `stop`; the cluster IDs answered 204, and
/// how many have been so far.
fn load(
    c: &Collector,
    threads: usize,
    stop: Arc<AtomicBool>,
) -> (Vec<std::thread::JoinHandle<Vec<String>>>, Arc<AtomicUsize>) {
    let acked = Arc::new(AtomicUsize::new(0));
    let clients = (0..threads)
        .map(|t| {
            let (addr, stop, acked) = (c.addr, stop.clone(), acked.clone());
            std::thread::spawn(move || {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let cluster = format!("load-{t}-{i}");
                    let body = report(&cluster, 5);
                    let sent = std::panic::catch_unwind(|| {
                        request(
                            addr,
                            "POST",
                            "/api/v1",
                            &[("Content-Type", "application/json")],
                            body.as_bytes(),
                        )
                    });
                    match sent {
                        Ok(r) if r.status == 204 => {
                            acknowledged.push(cluster);
                            acked.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => panic!("status {} under load: {}", r.status, r.text()),
                        Err(_) => break, // the collector is gone
                    }
                }
                acknowledged
            })
        })
        .collect();
    (clients, acked)
}

/// SIGKILL while eight clients post: every report that got a 204 is in the store.
fn every_2xx_survives_sigkill(store: &str, spec: Option<Spec>) {
    // One test client makes hundreds of new clusters: no per-source limit here.
    let mut c = Collector::start(
        store,
        &["--rate-limit", "0", "--new-clusters-per-source", "0"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (clients, acked) = load(&c, 8, stop.clone());
    // Killed once enough went through to mean something, however busy the machine.
    wait_until("21 reports acknowledged", || {
        acked.load(Ordering::SeqCst) > 20
    });
    c.child.kill().unwrap(); // SIGKILL: nothing is flushed on the way out.
    c.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acknowledged: Vec<String> = clients
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert!(
        acknowledged.len() > 20,
        "{store}: only {} acknowledged",
        acknowledged.len()
    );
    let stored = match spec {
        Some(spec) => stored_clusters(&spec),
        None => {
            // stdout: every acknowledged report was written before its 204.
            c.stdout_to_end()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["report"]["clusterID"].as_str().unwrap().to_string()
                })
                .collect()
        }
    };
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|c| !stored.contains(*c))
        .collect();
    assert!(
        lost.is_empty(),
        "{store}: {} of {} acknowledged reports lost: {lost:?}",
        lost.len(),
        acknowledged.len()
    );
    eprintln!(
        "{store}: {} acknowledged, all stored ({} stored)",
        acknowledged.len(),
        stored.len()
    );
}

#[test]
fn every_2xx_survives_sigkill_under_load_sqlite() {
    let dir = TempDir::new("kill-sqlite");
    every_2xx_survives_sigkill(dir.db().to_str().unwrap(), Some(Spec::Sqlite(dir.db())));
}

#[test]
fn every_2xx_survives_sigkill_under_load_postgres() {
    let Some(server) = pg_server::shared() else {
        return;
    };
    let url = server.fresh_url();
    every_2xx_survives_sigkill(&url, Some(Spec::parse(&url).unwrap()));
}

#[test]
fn every_2xx_survives_sigkill_under_load_stdout() {
    every_2xx_survives_sigkill("stdout", None);
}

/// Two collectors behind one load balancer, one database: the same report sent to both is
/// stored once, and the rate limit holds across them.
#[test]
fn two_collectors_on_one_postgres_database() {
    let Some(server) = pg_server::shared() else {
        return;
    };
    let url = server.fresh_url();
    let a = Collector::start(&url, &["--rate-limit", "2"]);
    let b = Collector::start(&url, &["--rate-limit", "2"]);
    // The reporter's retry lands on the other replica, at the same moment.
    let body = report("shared", 3);
    let key = [("Idempotency-Key", "same-report")];
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| a.post(body.as_bytes(), &key));
        let tb = s.spawn(|| b.post(body.as_bytes(), &key));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    assert_eq!(
        (ra.status, rb.status),
        (204, 204),
        "{} {}",
        ra.text(),
        rb.text()
    );
    let accepted = |c: &Collector| c.metric("spartakus_collector_reports_accepted_total");
    assert_eq!(accepted(&a) + accepted(&b), 1.0, "stored once");
    // The second report of the hour on b, the third on a: over the limit of 2, wherever sent.
    assert_eq!(b.post(report("shared", 4).as_bytes(), &[]).status, 204);
    let r = a.post(report("shared", 5).as_bytes(), &[]);
    assert_eq!(r.status, 429, "{}", r.text());
    assert!(r.header("retry-after").is_some());
    let spec = Spec::parse(&url).unwrap();
    let mut reader = Reader::open(&spec).unwrap();
    let n = reader
        .conn()
        .unwrap()
        .query_int("SELECT COUNT(*) FROM reports", &[])
        .unwrap();
    assert_eq!(n, 2);
}

/// The database goes away under a running collector: reports get 503 with Retry-After at once
/// (not after the request timeout), /readyz says not ready, the log says so once; when the
/// database is back, the collector notices by itself and takes reports again.
#[test]
fn postgres_outage_is_answered_503_quickly_and_ends_by_itself() {
    if pg_server::skipped() {
        return;
    }
    let server = pg_server::PgServer::start(None);
    let url = server.fresh_url();
    let c = Collector::start(&url, &[]);
    assert_eq!(c.post(report("before", 1).as_bytes(), &[]).status, 204);
    assert_eq!(c.get("/readyz").status, 200);
    server.stop();
    let start = Instant::now();
    for i in 0..5 {
        let r = c.post(report(&format!("during-{i}"), 1).as_bytes(), &[]);
        assert_eq!(r.status, 503, "{}", r.text());
        assert!(r.header("retry-after").is_some());
    }
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(c.get("/readyz").status, 503);
    server.start_again();
    let start = Instant::now();
    while c.get("/readyz").status != 200 {
        assert!(
            start.elapsed() < HANG_GUARD,
            "not ready again:\n{}",
            c.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(c.post(report("after", 1).as_bytes(), &[]).status, 204);
    let log = c.log();
    assert_eq!(log.matches("store: failing").count(), 1, "{log}");
    assert_eq!(log.matches("store: recovered").count(), 1, "{log}");
    assert!(!log.contains("storing a report failed"), "{log}");
}

#[test]
fn store_files_that_cannot_take_reports_stop_the_start_with_one_line() {
    let dir = TempDir::new("files");
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a database\n").unwrap();
    let damaged = dir.join("damaged.db");
    {
        let c = Collector::start(damaged.to_str().unwrap(), &[]);
        for i in 0..20 {
            assert_eq!(
                c.post(report(&format!("c{i}"), 30).as_bytes(), &[]).status,
                204
            );
        }
    }
    // The collector was killed: fold the WAL into the file, then damage all but its header.
    let out = run(&[
        "backup",
        "--store",
        damaged.to_str().unwrap(),
        "--to",
        dir.join("x.db").to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(dir.join("x.db"), &damaged).unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 253) as u8;
    }
    std::fs::write(&damaged, bytes).unwrap();
    for (path, says) in [
        (&text, "is not a spartakus store"),
        (&damaged, "is damaged"),
    ] {
        let out = run(&[
            "collect",
            "--listen",
            "127.0.0.1:0",
            "--store",
            path.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(says), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    let empty = dir.join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let out = summary(&empty, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "no spartakus store in {}: the file is empty",
            empty.display()
        )),
        "{err}"
    );
}

/// `spartakus backup` while a collector writes: a consistent copy, which `summary` reads; the
/// target is never overwritten unless told; PostgreSQL stores are pointed at pg_dump.
#[test]
fn backup_while_collecting() {
    let dir = TempDir::new("backup");
    let c = Collector::sqlite(
        &dir,
        &["--rate-limit", "0", "--new-clusters-per-source", "0"],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let (clients, acked) = load(&c, 4, stop.clone());
    wait_until("a report acknowledged", || acked.load(Ordering::SeqCst) > 0);
    let copy = dir.join("copy.db");
    let out = run(&[
        "backup",
        "--store",
        dir.db().to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    stop.store(true, Ordering::Relaxed);
    let sent: usize = clients.into_iter().map(|t| t.join().unwrap().len()).sum();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied: u64 = said
        .split(": ")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(copied > 0 && copied <= sent as u64, "{said} ({sent} sent)");
    assert_eq!(summary_json(&copy, &[])["reports"].as_u64(), Some(copied));

    let again = run(&[
        "backup",
        "--store",
        dir.db().to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let forced = run(&[
        "backup",
        "--store",
        dir.db().to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
        "--force",
    ]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(
        summary_json(&copy, &[])["reports"].as_u64(),
        Some(sent as u64)
    );

    let pg = run(&[
        "backup",
        "--store",
        "postgres://u:pw@db/s",
        "--to",
        "x.dump",
    ]);
    assert_eq!(pg.status.code(), Some(2));
    let err = String::from_utf8_lossy(&pg.stderr);
    assert!(err.contains("pg_dump") && !err.contains(":pw@"), "{err}");
}
