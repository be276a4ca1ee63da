//! Operating a collector: a flood of new clusters from one source, a full disk, log lines that
//! cannot be forged, and probes in the log.

use super::*;
use crate::support::HANG_GUARD;
use crate::support::need;

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

/// A small filesystem of its own for a store (tmpfs), where the machine allows mounting one:
/// `None` when the test cannot run (see `support::need`).
struct SmallDisk(std::path::PathBuf);

impl SmallDisk {
    fn mount(dir: &TempDir, size: &str) -> Option<SmallDisk> {
        if !need::root("mount a small tmpfs") {
            return None;
        }
        let path = dir.join("disk");
        std::fs::create_dir_all(&path).unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            need::missing(
                "permission to mount a tmpfs",
                "run the tests as root where mounting is allowed (a container needs CAP_SYS_ADMIN)",
            );
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
        assert!(start.elapsed() < HANG_GUARD, "still ready with a full disk");
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
        assert!(start.elapsed() < HANG_GUARD, "never noticed the space");
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
        assert!(start.elapsed() < HANG_GUARD, "nothing logged:\n{}", c.log());
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
        assert!(start.elapsed() < HANG_GUARD);
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
        assert!(start.elapsed() < HANG_GUARD, "{}", loud.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}
