//! The rollups, against both stores: each cluster's latest report per day, week and month (a
//! later report replaces, an earlier one that arrives late does not, every one is counted),
//! retention that keeps them, forgetting a cluster (everything of it, nothing of others, the
//! answer rate-limited), stored reports read back page by page, and the migration that rolls up
//! a store's history.

use super::{count, outcomes, rules, store_at, stores};
use sha2::Digest;
use spartakus::collector::fleet::trends::Every;
use spartakus::collector::store::forget::{Forgot, limit_key};
use spartakus::collector::store::read::Scope;
use spartakus::collector::store::sql::Conn;
use spartakus::collector::store::stored::{Cursor, nodes};
use spartakus::collector::store::{Incoming, Reader, Sink, Spec, read, schema};
use spartakus::contract::{Report, testing};
use spartakus::time::days_from_civil;

const DAY: i64 = 86_400;
const HOUR: i64 = 3_600;

/// Monday 2026-11-30; the next day starts December.
fn monday() -> i64 {
    days_from_civil(2026, 11, 30) * DAY
}

/// A report of `cluster` with `nodes` nodes and Kubernetes `version`, received at `at`.
fn report(cluster: &str, at: i64, nodes: usize, version: &str) -> Report {
    let mut report = testing::report(cluster, at, nodes);
    report.master_version = Some(version.into());
    report
}

fn received(report: Report, at: i64) -> Incoming {
    let sha: [u8; 32] = sha2::Sha256::digest(serde_json::to_vec(&report).unwrap()).into();
    Incoming::whole(report, at, None, sha)
}

fn store(sink: &mut Sink, reports: Vec<(Report, i64)>) {
    let batch: Vec<Incoming> = reports.into_iter().map(|(r, at)| received(r, at)).collect();
    let refs: Vec<&Incoming> = batch.iter().collect();
    let got = outcomes(sink, &refs, &rules(0), 0);
    assert!(got.iter().all(|o| format!("{o:?}") == "Stored"), "{got:?}");
}

/// (clusters, nodes) per period start of a trend.
fn totals(conn: &mut dyn Conn, every: Every, since: i64, until: i64) -> Vec<(i64, u64, u64)> {
    read::trend(conn, every, (since, until), None, Scope::All, 10)
        .unwrap()
        .periods
        .iter()
        .map(|p| (p.start, p.tally.clusters, p.tally.nodes))
        .collect()
}

/// Three clusters over a Monday and a Tuesday: a's reports late, out of order, two in one
/// batch, one as late as the day's latest; b's and c's profiles alike.
fn fill(spec: &Spec) {
    let (mon, tue) = (monday(), monday() + DAY);
    let mut sink = Sink::open(spec, 0).unwrap();
    store(
        &mut sink,
        vec![
            (report("a", mon + 10 * HOUR, 2, "v1.32.1"), mon + 10 * HOUR),
            (report("b", mon + HOUR, 1, "v1.33.0"), mon + HOUR),
            // The same profile as b's.
            (report("c", mon + 2 * HOUR, 1, "v1.33.0"), mon + 2 * HOUR),
        ],
    );
    store(
        &mut sink,
        vec![(report("a", mon + 20 * HOUR, 3, "v1.33.1"), mon + 20 * HOUR)],
    );
    // Older than a's latest of the day, arriving after it: counted, but it replaces nothing.
    store(
        &mut sink,
        vec![(report("a", mon + 15 * HOUR, 5, "v1.31.0"), mon + 15 * HOUR)],
    );
    // Two reports of one cluster in one batch, on the next day (and month).
    store(
        &mut sink,
        vec![
            (report("a", tue + 2 * HOUR, 6, "v1.34.0"), tue + 2 * HOUR),
            (report("a", tue + HOUR, 4, "v1.34.0"), tue + HOUR),
        ],
    );
    // As late as the day's latest: it replaces it.
    store(
        &mut sink,
        vec![(report("a", tue + 2 * HOUR, 8, "v1.34.1"), tue + 2 * HOUR)],
    );
    drop(sink);
}

#[test]
fn each_clusters_latest_report_per_period_and_every_report_counted() {
    let (mon, tue) = (monday(), monday() + DAY);
    for (spec, _dir) in stores("rollups") {
        fill(&spec);
        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        assert_eq!(
            totals(conn, Every::Day, mon, tue),
            [(mon, 3, 3 + 1 + 1), (tue, 1, 8)],
            "{spec}"
        );
        assert_eq!(
            totals(conn, Every::Week, mon, tue),
            [(mon, 3, 8 + 1 + 1)],
            "{spec}"
        );
        let december = days_from_civil(2026, 12, 1) * DAY;
        assert_eq!(
            totals(conn, Every::Month, mon, tue),
            [
                (days_from_civil(2026, 11, 1) * DAY, 3, 3 + 1 + 1),
                (december, 1, 8)
            ],
            "{spec}"
        );
        let days = read::trend(conn, Every::Day, (mon, mon), None, Scope::All, 10).unwrap();
        let versions = days.periods[0]
            .tally
            .entries(spartakus::collector::fleet::Dimension::KubernetesVersion);
        let v133 = versions
            .iter()
            .find(|e| e.label.value() == "v1.33")
            .unwrap();
        assert_eq!(
            (v133.clusters, v133.nodes),
            (3, 3 + 1 + 1),
            "a, b, c: {spec}"
        );
        assert_eq!(read::reports(conn, mon, None).unwrap(), 8, "{spec}");
        assert_eq!(read::reports(conn, tue, Some("a")).unwrap(), 3, "{spec}");
    }
}

/// The same store read as the fleet now, the last 24 hours (the fleet gauges) and the latest
/// reports of a window; the rows that hold it.
#[test]
fn the_fleet_now_the_last_day_and_the_latest_reports() {
    let (mon, tue) = (monday(), monday() + DAY);
    for (spec, _dir) in stores("rollups-now") {
        fill(&spec);
        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        let now = read::current(conn, tue + 5 * HOUR, 2, 10).unwrap();
        assert_eq!(
            (now.tally.clusters, now.tally.nodes),
            (3, 8 + 1 + 1),
            "{spec}"
        );
        assert_eq!(now.sizes["6-20"], 1);
        let today = read::current(conn, tue + 5 * HOUR, 1, 10).unwrap();
        assert_eq!((today.tally.clusters, today.tally.nodes), (1, 8), "{spec}");
        // The last 24 hours (the fleet gauges): c, 23 h 30 min before, in; b, 24 h 30 min, out.
        let day = read::last_day(conn, tue + HOUR + HOUR / 2, 10).unwrap();
        assert_eq!((day.tally.clusters, day.tally.nodes), (2, 8 + 1), "{spec}");
        let day = read::last_day(conn, tue + 5 * HOUR, 10).unwrap();
        assert_eq!((day.tally.clusters, day.tally.nodes), (1, 8), "{spec}");
        let latest = read::window(conn, mon, None, 10).unwrap().latest;
        assert_eq!(latest[0].cluster_id, "a");
        assert_eq!(latest[0].master_version.as_deref(), Some("v1.34.1"));
        assert_eq!(
            (latest[0].received_at, latest[0].nodes),
            (tue + 2 * HOUR, 8)
        );
        assert_eq!(latest[1].cluster_id, "c");
        assert_eq!(
            count(&spec, "SELECT COUNT(*) FROM cluster_periods"),
            3 + 3 + 3 + 2
        );
        // Eight reports, seven profiles: b's and c's are one.
        let profiles = "SELECT COUNT(DISTINCT profile) FROM profile_values";
        assert_eq!(count(&spec, profiles), 7, "{spec}");
    }
}

#[test]
fn retention_deletes_reports_and_keeps_the_rollups() {
    let mon = monday();
    for (spec, _dir) in stores("retention-rollups") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let mut a = report("a", mon, 3, "v1.33.0");
        a.workloads = Some(testing::workloads());
        store(&mut sink, vec![(a, mon)]);
        store(
            &mut sink,
            vec![(report("b", mon + 3 * DAY, 2, "v1.33.0"), mon + 3 * DAY)],
        );
        let before = {
            let mut reader = Reader::open(&spec).unwrap();
            totals(reader.conn().unwrap(), Every::Day, mon, mon + 3 * DAY)
        };
        assert!(count(&spec, "SELECT COUNT(*) FROM workload_kinds") > 0);
        assert_eq!(sink.prune(Some(mon + DAY), 0).unwrap().reports, 1, "{spec}");
        drop(sink);
        for table in ["workload_kinds", "workload_buckets"] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            assert_eq!(count(&spec, &sql), 0, "{table}: {spec}");
        }
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM nodes"), 2, "{spec}");
        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        assert_eq!(
            totals(conn, Every::Day, mon, mon + 3 * DAY),
            before,
            "{spec}"
        );
        assert_eq!(read::reports(conn, mon, None).unwrap(), 2, "{spec}");
        let parts = read::window(conn, mon, None, 10).unwrap().workloads;
        let parts = serde_json::to_value(parts).unwrap();
        assert_eq!(
            parts["clustersWithStatistics"], 1,
            "a's statistics outlive its report: {spec}"
        );
        let pods = parts["kinds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kind"] == "pods")
            .unwrap();
        let sent = testing::workloads().pods.unwrap().total;
        assert_eq!(pods["total"], sent, "{spec}");
    }
}

/// Every table's rows that name `cluster`, or belong to its reports.
fn traces(spec: &Spec, cluster: &str) -> i64 {
    let mut total = 0;
    for table in [
        "nodes",
        "capacities",
        "extensions",
        "workload_kinds",
        "workload_buckets",
    ] {
        total += count(
            spec,
            &format!(
                "SELECT COUNT(*) FROM {table} WHERE report_id IN
                    (SELECT id FROM reports WHERE cluster_id = '{cluster}')"
            ),
        );
    }
    for table in ["reports", "cluster_periods", "rate_limits"] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE cluster_id = '{cluster}'");
        total += count(spec, &sql);
    }
    total
}

#[test]
fn forgetting_a_cluster_removes_everything_of_it_and_nothing_of_others() {
    let mon = monday();
    let gone = "forget-me-7d1e0c55";
    for (spec, _dir) in stores("forget") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let rules = rules(6);
        for (cluster, day) in [(gone, 0), (gone, 40), ("stays", 0), ("stays", 40)] {
            let at = mon + day * DAY;
            let mut r = report(cluster, at, 3, "v1.33.0");
            r.workloads = Some(testing::workloads());
            let batch = [received(r, at)];
            outcomes(&mut sink, &[&batch[0]], &rules, 1_000);
        }
        let tables = [
            "reports",
            "nodes",
            "capacities",
            "extensions",
            "workload_kinds",
            "workload_buckets",
            "cluster_periods",
            "workload_parts",
            "profile_values",
        ];
        let before: Vec<i64> = tables
            .iter()
            .map(|t| count(&spec, &format!("SELECT COUNT(*) FROM {t}")))
            .collect();
        assert!(traces(&spec, gone) > 0);
        let stays = traces(&spec, "stays");

        assert_eq!(sink.forget(gone, 2_000).unwrap(), Forgot::Done, "{spec}");
        assert_eq!(traces(&spec, gone), 0, "{spec}");
        assert_eq!(traces(&spec, "stays"), stays, "{spec}");
        for (table, before) in tables.iter().zip(before) {
            let after = count(&spec, &format!("SELECT COUNT(*) FROM {table}"));
            match *table {
                // Shared, and without an ID: they stay.
                "profile_values" => assert_eq!(after, before, "{spec}"),
                _ => assert_eq!(after * 2, before, "{table}: half was the cluster's: {spec}"),
            }
        }
        // What the deletion leaves for its own limit does not name the cluster.
        let key = limit_key(gone);
        let sql = format!("SELECT COUNT(*) FROM rate_limits WHERE cluster_id = '{key}'");
        assert_eq!(count(&spec, &sql), 1);
        assert!(!key.contains(gone));

        // An unknown cluster: the same answer. Then the limit, per cluster ID.
        assert_eq!(sink.forget("never-seen", 2_000).unwrap(), Forgot::Done);
        for _ in 1..6 {
            assert_eq!(sink.forget(gone, 3_000).unwrap(), Forgot::Done, "{spec}");
        }
        let Forgot::RateLimited(wait) = sink.forget(gone, 3_000).unwrap() else {
            panic!("{spec}: a seventh deletion within the hour");
        };
        assert!((1..=600).contains(&wait), "{wait}");
        assert_eq!(sink.forget("stays", 3_000).unwrap(), Forgot::Done);
        assert_eq!(traces(&spec, "stays"), 0);
        drop(sink);
        if let Spec::Sqlite(path) = &spec {
            // Nothing of the cluster is left in the file or its WAL: deleted content is
            // overwritten, not only unlinked.
            for file in [path.clone(), path.with_extension("db-wal")] {
                let bytes = std::fs::read(&file).unwrap_or_default();
                let found = bytes.windows(gone.len()).any(|w| w == gone.as_bytes());
                assert!(!found, "{} still holds the cluster ID", file.display());
            }
        }
    }
}

#[test]
fn stored_reports_read_back_as_received_a_page_at_a_time() {
    let mon = monday();
    for (spec, _dir) in stores("stored") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let mut sent = Vec::new();
        for i in 0..300 {
            // Received out of order; the cursor reads them oldest first.
            let at = mon + (i * 7919 % 300) * 60;
            let mut r = report(&format!("c{i}"), at, (i % 4) as usize, "v1.33.0");
            if i % 50 == 0 {
                r.workloads = Some(testing::workloads());
            }
            sent.push((r, at));
        }
        let mut big = report("big", mon + 5, 2_500, "v1.33.0");
        big.nodes[1_700]
            .capacity
            .push(spartakus::contract::Resource {
                resource: "nvidia.com/gpu".into(),
                value: "8".into(),
            });
        sent.push((big, mon + 5));
        for chunk in sent.chunks(64) {
            store(&mut sink, chunk.to_vec());
        }
        drop(sink);

        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        read::snapshot(conn).unwrap();
        let mut cursor = Cursor::new(mon + 60);
        let mut got = Vec::new();
        while let Some(stored) = cursor.next(conn).unwrap() {
            let mut report = stored.report.clone();
            nodes(conn, &stored, &mut |node| {
                report.nodes.push(node);
                Ok(())
            })
            .unwrap();
            got.push((report, stored.received_at));
        }
        conn.batch("COMMIT").unwrap();
        let mut want: Vec<(Report, i64)> =
            sent.into_iter().filter(|(_, at)| *at >= mon + 60).collect();
        want.sort_by_key(|(r, at)| (*at, r.cluster_id.clone()));
        let mut sorted = got.clone();
        sorted.sort_by_key(|(r, at)| (*at, r.cluster_id.clone()));
        assert_eq!(
            got.len(),
            299,
            "{spec}: all but the two received before `since`"
        );
        assert!(
            got.windows(2).all(|w| w[0].1 <= w[1].1),
            "oldest first: {spec}"
        );
        assert_eq!(sorted.len(), want.len());
        for ((g, gat), (w, wat)) in sorted.iter().zip(&want) {
            assert_eq!((g, gat), (w, wat), "{spec}");
        }
        let all: Vec<i64> = {
            let mut c = Cursor::new(i64::MIN);
            std::iter::from_fn(|| c.next(conn).unwrap().map(|s| s.node_count)).collect()
        };
        assert_eq!(all.len(), 301);
        assert!(all.contains(&2_500));
    }
}

/// A store of schema version 2, holding reports, is rolled up when it is migrated.
#[test]
fn the_migration_rolls_up_the_reports_already_stored() {
    let mon = monday();
    for (spec, _dir) in stores("backfill") {
        let statements = store_at(&spec, 2);
        let mut db: Box<dyn FnMut(&str)> = statements;
        for (i, (cluster, at, nodes)) in
            [("a", mon, 2), ("a", mon + HOUR, 3), ("b", mon + 8 * DAY, 1)]
                .iter()
                .enumerate()
        {
            let id = i + 1;
            db(&format!(
                "INSERT INTO reports (id, cluster_id, received_at, client_timestamp, format_version,
                    master_version, node_count, content_sha256)
                 VALUES ({id}, '{cluster}', {at}, '{at}', 'v1.0.0', 'v1.32.{i}', {nodes}, '{}')",
                "0".repeat(64)
            ));
            for n in 0..*nodes {
                db(&format!(
                    "INSERT INTO nodes (report_id, position, node_id, architecture, os_image)
                     VALUES ({id}, {n}, '{n:032x}', 'arm64', 'Ubuntu 24.04.1 LTS')"
                ));
                db(&format!(
                    "INSERT INTO capacities (report_id, node_position, resource, value)
                     VALUES ({id}, {n}, 'amd.com/gpu', '1')"
                ));
            }
        }
        drop(db);
        // The collector migrates it on start.
        drop(Sink::open(&spec, 0).unwrap());
        let mut reader = Reader::open(&spec).unwrap();
        let conn = reader.conn().unwrap();
        assert_eq!(
            totals(conn, Every::Week, mon, mon + 8 * DAY),
            [(mon, 1, 3), (mon + 7 * DAY, 1, 1)],
            "{spec}"
        );
        assert_eq!(read::reports(conn, mon, None).unwrap(), 3, "{spec}");
        let now = read::current(conn, mon + 8 * DAY, 30, 10).unwrap();
        use spartakus::collector::fleet::{Dimension, Label};
        let of = |d: Dimension, v: &str| now.tally.get(d, &Label::Value(v.into())).unwrap();
        assert_eq!(of(Dimension::OsImage, "Ubuntu").nodes, 4, "{spec}");
        assert_eq!(of(Dimension::Accelerator, "amd").clusters, 2, "{spec}");
        assert_eq!(
            of(Dimension::KubernetesVersion, "v1.32").clusters,
            2,
            "{spec}"
        );
        let version = conn
            .query_int("SELECT MAX(version) FROM schema_migrations", &[])
            .unwrap();
        assert_eq!(version, schema::version());
    }
}
