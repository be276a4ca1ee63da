//! The fleet's history as those who collect meet it, through the binary: `spartakus summary`
//! (the fleet now, as text, JSON and CSV), its trends by day, week and month, and `spartakus
//! export` (JSON lines and CSV, a closed pipe, and memory that stays small over a large store).
//! The stores are filled through the library's write path, with reports received over the
//! last weeks.

use crate::support::HANG_GUARD;
use crate::support::collect::{BIN, TempDir, ok, spartakus, store_reports};
use spartakus::collector::store::Spec;
use spartakus::contract::{Report, testing};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const DAY: i64 = 86_400;

fn now() -> i64 {
    spartakus::time::now_secs()
}

/// Store `reports` (each with the time it was received) in a SQLite store at `path`.
fn store(path: &Path, reports: Vec<(Report, i64)>) {
    store_reports(&Spec::Sqlite(path.to_path_buf()), reports);
}

/// Cluster a: a report a day for the last 20 days, 3 nodes, on v1.32 until 10 days ago and
/// v1.33 since. Cluster b: every third day, 2 nodes, with workload statistics. Cluster c: one
/// report 40 days ago.
fn fleet(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.join("fleet.db");
    let now = now();
    let mut reports = Vec::new();
    for day in 0..20 {
        let at = now - day * DAY;
        let mut a = testing::report("cluster-a", at, 3);
        a.master_version = Some(if day < 10 { "v1.33.1" } else { "v1.32.4" }.into());
        reports.push((a, at));
        if day % 3 == 0 {
            let mut b = testing::report("cluster-b", at, 2);
            b.workloads = Some(testing::workloads());
            reports.push((b, at));
        }
    }
    reports.push((
        testing::report("cluster-c", now - 40 * DAY, 7),
        now - 40 * DAY,
    ));
    store(&path, reports);
    path
}

#[test]
fn the_fleet_now_as_text_json_and_csv() {
    let dir = TempDir::new("history-now");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&ok(&["summary", "--store", db, "--json"])).unwrap();
    assert_eq!(
        (json["clusters"].as_u64(), json["nodes"].as_u64()),
        (Some(2), Some(5))
    );
    assert_eq!(
        json["reports"],
        20 + 7,
        "every report of the window, not only the latest"
    );
    assert_eq!(json["kubernetesVersions"][0]["value"], "v1.33");
    assert_eq!(json["kubernetesVersions"][0]["clusters"], 2);
    assert_eq!(json["workloads"]["clustersWithStatistics"], 1);
    assert_eq!(json["workloads"]["kinds"][1]["kind"], "pods");
    assert_eq!(json["recent"].as_array().unwrap().len(), 2);
    let same: serde_json::Value =
        serde_json::from_str(&ok(&["summary", "--store", db, "--format", "json"])).unwrap();
    let without_time = |mut v: serde_json::Value| {
        v["generatedAt"] = serde_json::Value::Null;
        v
    };
    assert_eq!(
        without_time(same),
        without_time(json.clone()),
        "--json is --format json"
    );
    let wide: serde_json::Value =
        serde_json::from_str(&ok(&["summary", "--store", db, "--json", "--days", "60"])).unwrap();
    assert_eq!(wide["clusters"], 3);

    let text = ok(&["summary", "--store", db]);
    for needle in [
        "Clusters reporting: 2    Nodes (latest reports): 5    Reports received: 27",
        "Accelerator",
        "Workload statistics: 1 of 2 clusters sent them",
        "cluster-a",
    ] {
        assert!(text.contains(needle), "{needle}:\n{text}");
    }

    let csv = tidy(&ok(&["summary", "--store", db, "--format", "csv"]));
    let first = json["since"].as_str().unwrap().split('T').next().unwrap();
    let row = |d: &str, v: &str| csv.get(&(first.to_string(), d.to_string(), v.to_string()));
    assert_eq!(row("total", ""), Some(&(2, 5)), "{csv:?}");
    assert_eq!(row("kubernetes_version", "v1.33"), Some(&(2, 5)), "{csv:?}");
    assert_eq!(row("version_skew", "unknown"), Some(&(2, 5)), "{csv:?}");
    assert_eq!(row("cloud_provider", "kind"), Some(&(2, 5)), "{csv:?}");

    let out = spartakus(&["summary", "--store", db, "--json", "--format", "csv"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The CSV's rows as (period start, dimension, value or `(bucket)`) -> (clusters, nodes).
type Tidy = std::collections::BTreeMap<(String, String, String), (u64, u64)>;

/// The trend's CSV as [`Tidy`] rows, its header and column count checked.
fn tidy(csv: &str) -> Tidy {
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("period_start,dimension,value,clusters,nodes,bucket,finished")
    );
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 7, "{line}");
            // A bucket as `(its name)`: a value that is spelled so has `bucket` empty.
            let value = match f[5] {
                "" => f[2].to_string(),
                bucket => format!("({bucket})"),
            };
            let key = (f[0].to_string(), f[1].to_string(), value);
            (key, (f[3].parse().unwrap(), f[4].parse().unwrap()))
        })
        .collect()
}

/// The total row of `day` (a date) in `rows`.
fn total(rows: &Tidy, day: String) -> Option<(u64, u64)> {
    rows.get(&(day, "total".to_string(), String::new()))
        .copied()
}

fn date(secs: i64) -> String {
    spartakus::time::rfc3339_date(secs)
}

#[test]
fn trends_by_day_say_today_is_unfinished_and_keep_empty_days() {
    let dir = TempDir::new("history-trends-day");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let now = now();
    let daily = ok(&[
        "summary", "--store", db, "--since", "21d", "--every", "day", "--format", "csv",
    ]);
    let days = tidy(&daily);
    // Today is not finished, and says so on each of its rows; every day before is.
    for line in daily.lines().skip(1) {
        let today = line.starts_with(&date(now));
        let finished = if today { ",false" } else { ",true" };
        assert!(line.ends_with(finished), "{line}");
    }
    assert_eq!(total(&days, date(now)), Some((2, 5)), "a and b today");
    assert_eq!(total(&days, date(now - DAY)), Some((1, 3)), "a only");
    assert_eq!(
        total(&days, date(now - 21 * DAY)),
        Some((0, 0)),
        "an empty day has its row"
    );
    assert_eq!(
        days.get(&(
            date(now - 15 * DAY),
            "kubernetes_version".into(),
            "v1.32".into()
        )),
        Some(&(1, 3))
    );
    let periods = days.keys().filter(|k| k.1 == "total").count();
    assert_eq!(periods, 22);
}

/// Weeks start on Mondays; a cluster counts once a week, by its latest report in it.
#[test]
fn trends_by_week_start_on_mondays_and_count_a_cluster_once() {
    let dir = TempDir::new("history-trends-week");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let now = now();
    let weeks = tidy(&ok(&[
        "summary", "--store", db, "--since", "60d", "--format", "csv",
    ]));
    let this_week = spartakus::collector::fleet::trends::Every::Week.start(now);
    assert_eq!(
        total(&weeks, date(this_week)),
        Some((2, 5)),
        "b reported today"
    );
    for (start, _, _) in weeks.keys() {
        let secs = spartakus::time::parse_rfc3339(&format!("{start}T00:00:00Z")).unwrap();
        assert_eq!((secs / DAY + 3) % 7, 0, "{start} is a Monday");
    }
    let c_week = date(spartakus::collector::fleet::trends::Every::Week.start(now - 40 * DAY));
    assert_eq!(
        weeks.get(&(c_week, "architecture".into(), "arm64".into())),
        Some(&(1, 3)),
        "c's 7 nodes: 3 arm64"
    );
}

#[test]
fn trends_by_month_start_on_the_first_and_a_weekly_table_is_plain_ascii() {
    let dir = TempDir::new("history-trends-month");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let json: serde_json::Value = serde_json::from_str(&ok(&[
        "summary", "--store", db, "--every", "month", "--since", "70d", "--json",
    ]))
    .unwrap();
    assert_eq!(json["every"], "month");
    let months = json["periods"].as_array().unwrap();
    assert!((3..=4).contains(&months.len()), "{json}");
    assert!(
        months
            .iter()
            .all(|p| p["periodStart"].as_str().unwrap().ends_with("-01"))
    );
    let table = ok(&[
        "summary", "--store", db, "--since", "21d", "--every", "week",
    ]);
    assert!(table.starts_with("Fleet by week, "), "{table}");
    assert!(table.contains("Kubernetes version (clusters)"), "{table}");
    assert!(table.chars().all(|c| c == '\n' || (' '..='~').contains(&c)));
}

#[test]
fn a_trend_of_one_cluster_counts_only_it() {
    let dir = TempDir::new("history-trends-one");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let now = now();
    let one = tidy(&ok(&[
        "summary",
        "--store",
        db,
        "--since",
        "21d",
        "--every",
        "day",
        "--format",
        "csv",
        "--cluster",
        "cluster-b",
    ]));
    assert_eq!(total(&one, date(now)), Some((1, 2)));
    assert_eq!(total(&one, date(now - DAY)), Some((0, 0)));
}

#[test]
fn export_as_json_lines_and_csv() {
    let dir = TempDir::new("history-export");
    let db = fleet(&dir);
    let db = db.to_str().unwrap();
    let lines = ok(&["export", "--store", db, "--since", "30d"]);
    let reports: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reports.len(), 20 + 7, "c's report is older");
    let times: Vec<&str> = reports
        .iter()
        .map(|r| r["receivedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "oldest first");
    let b = reports
        .iter()
        .find(|r| r["report"]["clusterID"] == "cluster-b")
        .unwrap();
    let sent = serde_json::to_value(testing::workloads()).unwrap();
    assert_eq!(
        b["report"]["workloads"], sent,
        "the workload part as received"
    );
    assert_eq!(b["report"]["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(b["report"]["nodes"][1]["capacity"][0]["value"], "4");
    assert_eq!(b["report"]["extensions"][0]["name"], "example.com/tier");
    assert_eq!(ok(&["export", "--store", db]).lines().count(), 28);

    let csv = ok(&["export", "--store", db, "--since", "30d", "--format", "csv"]);
    let mut rows = csv.lines();
    let header = spartakus::collector::views::export::CSV_HEADER.trim_end();
    assert_eq!(rows.next(), Some(header));
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert_eq!(rows.len(), 20 * 3 + 7 * 2, "a row per node");
    assert!(rows.iter().all(|r| r.len() == 16), "{csv}");
    let a = rows.iter().find(|r| r[1] == "cluster-a").unwrap();
    assert!(a[0].ends_with('Z') && a[0].contains('T'), "RFC 3339: {a:?}");
    assert!(["v1.32.4", "v1.33.1"].contains(&a[2]), "{a:?}");
    assert_eq!((a[3].len(), a[4], a[10], a[11]), (32, "linux", "kind", "4"));
}

/// Peak resident memory (KiB) of a run of `args`, its stdout read and counted as it comes.
fn peak_rss(args: &[&str]) -> (u64, u64) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let (mut buf, mut n) = (vec![0; 1 << 16], 0u64);
        while let Ok(k) = out.read(&mut buf) {
            if k == 0 {
                break;
            }
            n += k as u64;
        }
        n
    });
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        // VmHWM only grows: the last reading before the exit is the peak, or close to it.
        let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()));
        if let Some(kib) = status.ok().as_deref().and_then(hwm) {
            peak = peak.max(kib);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    assert!(status.success(), "{args:?}");
    (peak, reader.join().unwrap())
}

fn hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A store of 300 reports of 1,000 nodes: one stored, then copied by SQL.
fn large_store(dir: &TempDir) -> std::path::PathBuf {
    let path = dir.join("large.db");
    store(
        &path,
        vec![(testing::report("large", now() - DAY, 1_000), now() - DAY)],
    );
    let conn = rusqlite::Connection::open(&path).unwrap();
    let copies = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 299)";
    conn.execute_batch(&format!(
        "BEGIN;
         {copies} INSERT INTO reports (id, cluster_id, received_at, client_timestamp,
            format_version, master_version, node_count, content_sha256)
            SELECT id + i, cluster_id || '-' || i, received_at + i, client_timestamp,
                format_version, master_version, node_count, content_sha256 FROM reports, n;
         {copies} INSERT INTO nodes SELECT report_id + i, position, node_id, operating_system,
            os_image, kernel_version, architecture, container_runtime_version, kubelet_version,
            cloud_provider FROM nodes, n;
         {copies} INSERT INTO capacities SELECT report_id + i, node_position, resource, value
            FROM capacities, n;
         COMMIT;"
    ))
    .unwrap();
    path
}

#[test]
#[ignore = "scale: run by CI, and by cargo test -- --include-ignored"]
fn export_memory_stays_small_over_a_large_store_and_a_closed_pipe_is_not_an_error() {
    let dir = TempDir::new("history-export-memory");
    let small = fleet(&dir);
    let large = large_store(&dir);
    let (small_kib, _) = peak_rss(&["export", "--store", small.to_str().unwrap()]);
    let large = large.to_str().unwrap();
    for format in ["jsonl", "csv"] {
        let (kib, bytes) = peak_rss(&["export", "--store", large, "--format", format]);
        assert!(bytes > 30 << 20, "{format}: {bytes} bytes exported");
        let grown = kib.saturating_sub(small_kib);
        eprintln!(
            "export {format}: {bytes} bytes, peak RSS {kib} KiB ({grown} KiB over a small store)"
        );
        assert!(
            grown < 12 * 1024,
            "{format}: {bytes} bytes out, peak RSS grew by {grown} KiB"
        );
    }

    // `spartakus export | head -c 100`: the reader goes away, the export ends quietly.
    let mut child = Command::new(BIN)
        .args(["export", "--store", large])
        .env_clear()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    let started = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert!(started.elapsed() < HANG_GUARD);
    assert!(head.starts_with(b"{\"receivedAt\":"));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"));
}
