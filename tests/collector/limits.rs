//! Limits: sizes, a gzip bomb, the rate limit per cluster, and slow clients cut off.

use super::*;

/// A process's memory figure in KiB from /proc/PID/status, e.g. `VmHWM` (peak resident) or
/// `VmRSS` (resident now).
pub(super) fn proc_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// Peak resident memory of a process.
pub(super) fn peak_rss_kib(pid: u32) -> u64 {
    proc_kib(pid, "VmHWM")
}

/// The CPU time a process has used so far, all its threads, user and system, from
/// /proc/PID/stat: what its work cost, however busy the machine was meanwhile.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's name in parentheses: state is field 3, utime 14, stime 15.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // Linux reports these in USER_HZ, a hundred a second.
    Duration::from_millis(ticks * 10)
}

/// Bodies over the size limit: declared, or streamed without a length.
fn too_large_bodies_are_refused(c: &Collector) {
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
}

/// Gzip bombs, multi-member and single: refused once past the limit, without inflating them
/// further.
fn gzip_bombs_are_refused(c: &Collector) {
    // A gzip bomb: 1 GiB of zeros in about 1 MB (1,024 gzip members of 1 MiB each, which a
    // multi-member reader like Go's accepts), and a single-member one of 64 MiB. Stopping at the
    // limit is seen in the collector's CPU time (inflating it all would take many times the
    // bound), not the wall clock, which a busy machine stretches.
    let member = gzip_at(&vec![0u8; 1 << 20], flate2::Compression::best());
    let bomb: Vec<u8> = member.repeat(1024);
    assert!(bomb.len() < 2 << 20, "{}", bomb.len());
    let single = gzip(&vec![b' '; 64 << 20]);
    for body in [&bomb, &single] {
        let before = cpu_time(c.child.id());
        let r = c.post(body, &[("Content-Encoding", "gzip")]);
        assert_eq!(r.status, 413, "{}", r.text());
        assert!(r.error().contains("decompressed"), "{}", r.error());
        let spent = cpu_time(c.child.id()) - before;
        eprintln!(
            "gzip bomb of {} bytes: {spent:?} of the collector's CPU",
            body.len()
        );
        assert!(spent < Duration::from_secs(20), "{spent:?} of CPU");
    }
    let peak = peak_rss_kib(c.child.id());
    assert!(
        peak < 200 * 1024,
        "peak RSS {peak} KiB: the bomb was inflated too far"
    );
}

/// Reports whose counts or lengths break the contract.
fn structural_faults_are_refused(c: &Collector) {
    // Counts and lengths: structural faults are refused.
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
}

#[test]
fn size_limits_and_gzip_bomb() {
    let dir = TempDir::new("limits");
    let c = Collector::sqlite(&dir, &[]);

    too_large_bodies_are_refused(&c);
    gzip_bombs_are_refused(&c);
    structural_faults_are_refused(&c);

    // Optional values over their limits are clamped, stored and counted, not refused.
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
