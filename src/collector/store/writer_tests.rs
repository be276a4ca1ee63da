//! Tests of the writer threads, on the SQLite store (both stores: tests/store.rs).

use super::*;
use crate::collector::guard::limit::Gcra;
use crate::collector::store::sqlite::tests::Scratch;
use crate::collector::store::tests::incoming;
use crate::collector::store::{Reader, Spec, read};

fn rules(per_hour: u32) -> Rules {
    Rules {
        window_secs: 3600,
        rate: Gcra::new(per_hour),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn thread_round_trip_probe_and_stop() {
    let dir = Scratch::new("writer-thread");
    let spec = Spec::Sqlite(dir.join("s.db"));
    let sink = Sink::open(&spec, 0).unwrap();
    let writer = Writer::spawn(vec![sink], rules(0)).unwrap();
    let h = writer.handle();
    assert_eq!(
        h.ingest(incoming("a", 10, None, 1)).await.unwrap(),
        Outcome::Stored
    );
    assert_eq!(
        h.ingest(incoming("a", 20, None, 1)).await.unwrap(),
        Outcome::Stored,
        "different timestamp, different content"
    );
    h.probe().await.unwrap();
    assert!(!h.health().failing());
    let pruned = h.prune(Some(15)).await.unwrap();
    assert_eq!(pruned.reports, 1);
    writer.stop().await;
    assert!(!h.alive());
    assert!(h.ingest(incoming("a", 30, None, 1)).await.is_err());
    // The report received at 10 is gone; the day's rollup still counts it.
    assert_eq!(totals(&spec), (1, 1, 2));
    let mut reader = Reader::open(&spec).unwrap();
    let reports = reader
        .conn()
        .unwrap()
        .query_int("SELECT COUNT(*) FROM reports", &[]);
    assert_eq!(reports.unwrap(), 1);
}

/// (clusters, nodes of their latest reports, reports) since the epoch, from the rollups.
fn totals(spec: &Spec) -> (u64, u64, u64) {
    let mut reader = Reader::open(spec).unwrap();
    let now = read::current_of(reader.conn().unwrap(), 0, None, 10).unwrap();
    let reports = read::reports(reader.conn().unwrap(), 0, None).unwrap();
    (now.tally.clusters, now.tally.nodes, reports)
}

/// Reports sent at once are committed together, and each gets its own outcome: two copies of
/// one report in a batch are stored once, and the limit counts within the batch.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_reports_share_transactions_and_keep_their_outcomes() {
    let dir = Scratch::new("writer-batch");
    let spec = Spec::Sqlite(dir.join("s.db"));
    let writer = Writer::spawn(vec![Sink::open(&spec, 0).unwrap()], rules(2)).unwrap();
    let h = writer.handle();
    let sent = [
        incoming("a", 1, Some("k1"), 2),
        incoming("a", 1, Some("k1"), 2),
        incoming("a", 2, Some("k2"), 2),
        incoming("a", 3, Some("k3"), 2),
        incoming("b", 1, Some("k1"), 2),
    ];
    let tasks: Vec<_> = sent
        .into_iter()
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.ingest(i).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [
            Outcome::Duplicate,
            Outcome::RateLimited(1800),
            Outcome::Stored,
            Outcome::Stored,
            Outcome::Stored
        ]
    );
    writer.stop().await;
    assert_eq!(totals(&spec), (2, 4, 3));
}

#[test]
fn health_logs_transitions_once_and_tracks_success() {
    let health = Health::default();
    assert!(!health.failing());
    health.failed(&anyhow!("disk full"));
    health.failed(&anyhow!("disk full"));
    assert!(health.failing());
    health.succeeded();
    assert!(!health.failing());
    assert!(health.since_success() < Duration::from_secs(5));
}
