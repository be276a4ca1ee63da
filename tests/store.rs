//! The store's suite, run against both stores: the embedded SQLite file and a real PostgreSQL
//! server (see `pg_server`). Batches, duplicates inside and across batches, the rate limit,
//! a report that fails alone, retention, the summary's queries, several writers on one store,
//! and for PostgreSQL: an outage and reconnection, and TLS in each `sslmode`. The rollups, stored
//! reports read back, forgetting a cluster and the migration that rolls up a store's history are
//! in `store/rollups.rs`.

mod migrations;
mod rollups;
mod urls;

use crate::support;
use crate::support::pg_server;
use anyhow::Result;
use sha2::Digest;
use spartakus::collector::guard::limit::Gcra;
use spartakus::collector::store::{
    Incoming, NodeSource, Outcome, Reader, Rules, Sink, Spec, read, sql::Conn,
};
use spartakus::contract::{Node, testing};
use std::time::{Duration, Instant};
use support::util::TempDir as Scratch;

/// A store of each kind, fresh; SQLite only when PostgreSQL cannot run here (see
/// `support::need`: under CI that fails instead).
fn stores(name: &str) -> Vec<(Spec, Scratch)> {
    let scratch = Scratch::new(name);
    let mut out = vec![(Spec::Sqlite(scratch.join("s.db")), scratch)];
    if let Some(server) = pg_server::shared() {
        let url = server.fresh_url();
        out.push((Spec::parse(&url).unwrap(), Scratch::new(name)));
    }
    out
}

fn incoming(cluster: &str, at: i64, key: Option<&str>, nodes: usize) -> Incoming {
    let report = testing::report(cluster, at, nodes);
    let sha: [u8; 32] = sha2::Sha256::digest(serde_json::to_vec(&report).unwrap()).into();
    Incoming::whole(report, at, key.map(String::from), sha)
}

fn rules(per_hour: u32) -> Rules {
    Rules {
        window_secs: 3600,
        rate: Gcra::new(per_hour),
    }
}

fn outcomes(sink: &mut Sink, batch: &[&Incoming], rules: &Rules, now_ms: u64) -> Vec<Outcome> {
    sink.store_batch(batch, rules, now_ms)
        .unwrap()
        .into_iter()
        .map(Result::unwrap)
        .collect()
}

/// A fresh store at schema version `version` (as an older release left it), and a way to run
/// statements on it.
fn store_at(spec: &Spec, version: i64) -> Box<dyn FnMut(&str)> {
    use spartakus::collector::store::schema::{self, Dialect};
    let setup = |dialect: Dialect| {
        let mut sql = vec![schema::SCHEMA_MIGRATIONS.to_string()];
        for v in 1..=version {
            sql.push(dialect.migration(v).unwrap());
            sql.push(format!(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ({v}, 0)"
            ));
        }
        sql
    };
    match spec {
        Spec::Sqlite(path) => {
            let conn = rusqlite::Connection::open(path).unwrap();
            for sql in setup(Dialect::Sqlite) {
                conn.execute_batch(&sql).unwrap();
            }
            Box::new(move |sql: &str| conn.execute_batch(sql).unwrap())
        }
        Spec::Postgres(url) => {
            let mut pg = spartakus::collector::store::Pg::connect(url).unwrap();
            for sql in setup(Dialect::Postgres) {
                use spartakus::collector::store::sql::Conn;
                pg.batch(&sql).unwrap();
            }
            Box::new(move |sql: &str| {
                use spartakus::collector::store::sql::Conn;
                pg.batch(sql).unwrap()
            })
        }
        Spec::Stdout => unreachable!(),
    }
}

fn count(spec: &Spec, sql: &str) -> i64 {
    let mut reader = Reader::open(spec).unwrap();
    reader.conn().unwrap().query_int(sql, &[]).unwrap()
}

#[test]
fn a_batch_stores_each_report_once_and_answers_each() {
    for (spec, _dir) in stores("batch") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let a = incoming("a", 1000, Some("k1"), 3);
        let copy = incoming("a", 1000, Some("k1"), 3);
        let conflict = incoming("a", 1001, Some("k1"), 4);
        let no_key = incoming("b", 1000, None, 1);
        let no_key_again = incoming("b", 1000, None, 1);
        let a2 = incoming("a", 1002, Some("k2"), 1);
        let a3 = incoming("a", 1003, Some("k3"), 1);
        let got = outcomes(
            &mut sink,
            &[&a, &copy, &conflict, &no_key, &no_key_again, &a2, &a3],
            &rules(2),
            5_000,
        );
        assert_eq!(
            got,
            [
                Outcome::Stored,
                Outcome::Duplicate,
                Outcome::KeyConflict,
                Outcome::Stored,
                Outcome::Duplicate,
                Outcome::Stored,
                Outcome::RateLimited(1800),
            ],
            "{spec}"
        );
        // A later batch sees the first: a retry is a duplicate, even past the rate limit.
        let got = outcomes(&mut sink, &[&copy, &a3], &rules(2), 6_000);
        assert_eq!(
            got,
            [Outcome::Duplicate, Outcome::RateLimited(1799)],
            "{spec}"
        );
        // Same content without a key, outside the window: new.
        let mut late = incoming("b", 1000, None, 1);
        late.received_at = 1000 + 3601;
        assert_eq!(
            outcomes(&mut sink, &[&late], &rules(0), 7_000),
            [Outcome::Stored]
        );
        drop(sink);
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM reports"), 4, "{spec}");
        assert_eq!(
            count(&spec, "SELECT COUNT(*) FROM nodes"),
            3 + 1 + 1 + 1,
            "{spec}"
        );
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM capacities"), 6, "{spec}");
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM extensions"), 4, "{spec}");
        assert_eq!(
            count(&spec, "SELECT COUNT(*) FROM rate_limits"),
            2,
            "{spec}"
        );
    }
}

/// Nodes that fail half way through a report, as a report whose JSON changed would.
#[derive(Debug)]
struct Breaks(Vec<Node>);

impl NodeSource for Breaks {
    fn count(&self) -> usize {
        self.0.len()
    }

    fn for_each(&self, f: &mut dyn FnMut(usize, Node) -> Result<()>) -> Result<()> {
        for (i, node) in self.0.iter().enumerate().take(self.0.len() / 2 + 1) {
            f(i, node.clone())?;
        }
        anyhow::bail!("the report changed after it was checked")
    }
}

#[test]
fn a_failing_report_is_rolled_back_alone() {
    for (spec, _dir) in stores("savepoint") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let before = incoming("ok-1", 1000, None, 2);
        let mut broken = incoming("broken", 1000, None, 0);
        broken.nodes = Box::new(Breaks(testing::report("broken", 1000, 200).nodes));
        let after = incoming("ok-2", 1000, None, 2);
        let got = sink
            .store_batch(&[&before, &broken, &after], &rules(1), 1_000)
            .unwrap();
        assert_eq!(got[0].as_ref().unwrap(), &Outcome::Stored, "{spec}");
        let e = got[1].as_ref().unwrap_err();
        assert!(
            format!("{e:#}").contains("changed after it was checked"),
            "{e:#}"
        );
        assert_eq!(got[2].as_ref().unwrap(), &Outcome::Stored, "{spec}");
        drop(sink);
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM reports"), 2, "{spec}");
        assert_eq!(
            count(&spec, "SELECT COUNT(*) FROM nodes"),
            4,
            "none of its nodes: {spec}"
        );
        assert_eq!(
            count(
                &spec,
                "SELECT COUNT(*) FROM rate_limits WHERE cluster_id = 'broken'"
            ),
            0,
            "its allowance is not used: {spec}"
        );
    }
}

#[test]
fn retention_deletes_old_reports_and_full_allowances() {
    for (spec, _dir) in stores("prune") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let old = incoming("a", 1000, None, 2);
        let new = incoming("b", 5000, None, 2);
        outcomes(&mut sink, &[&old, &new], &rules(6), 1_000);
        let pruned = sink.prune(Some(2000), 1_000).unwrap();
        assert_eq!(pruned.reports, 1, "{spec}");
        assert_eq!(pruned.allowances, 0, "both still in their hour: {spec}");
        let pruned = sink.prune(None, 1_000 + 3_600_000).unwrap();
        assert_eq!((pruned.reports, pruned.allowances), (0, 2), "{spec}");
        drop(sink);
        // b's report is left, with its two nodes, their capacities and its extension.
        for (table, left) in [
            ("reports", 1),
            ("nodes", 2),
            ("capacities", 2),
            ("extensions", 1),
        ] {
            let sql = format!("SELECT COUNT(*) FROM {table}");
            assert_eq!(count(&spec, &sql), left, "{table}: {spec}");
        }
    }
}

#[test]
fn both_stores_summarize_the_same_fleet_alike() {
    let mut summaries = Vec::new();
    for (spec, _dir) in stores("summary") {
        let mut sink = Sink::open(&spec, 0).unwrap();
        let mut batch = Vec::new();
        for (i, cluster) in ["a", "b", "c", "a"].iter().enumerate() {
            let mut report = testing::report(cluster, 1000 + i as i64, 1 + i * 7);
            report.master_version = Some(format!("v1.3{i}.1"));
            let sha: [u8; 32] = sha2::Sha256::digest(serde_json::to_vec(&report).unwrap()).into();
            batch.push(Incoming::whole(report, 1000 + i as i64, None, sha));
        }
        let refs: Vec<&Incoming> = batch.iter().collect();
        outcomes(&mut sink, &refs, &rules(0), 0);
        drop(sink);
        let mut reader = Reader::open(&spec).unwrap();
        let s =
            spartakus::collector::views::summary::build(reader.conn().unwrap(), 2000, 30, None, 10)
                .unwrap();
        assert_eq!(
            (s.clusters, s.nodes, s.reports),
            (3, 22 + 8 + 15, 4),
            "{spec}"
        );
        let one = read::window(reader.conn().unwrap(), 0, Some("a"), 10)
            .unwrap()
            .latest;
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].master_version.as_deref(), Some("v1.33.1"));
        summaries.push(serde_json::to_value(&s).unwrap());
    }
    if let [sqlite, postgres] = &summaries[..] {
        assert_eq!(sqlite, postgres);
    }
}

/// Writers on two connections (two collectors) store the same reports at once: each once,
/// and the rate limit holds across them.
#[test]
fn two_writers_on_one_store_store_once_and_share_the_limit() {
    for (spec, _dir) in stores("writers") {
        drop(Sink::open(&spec, 0).unwrap());
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let spec = spec.clone();
                std::thread::spawn(move || {
                    let reports: Vec<Incoming> = (0..40)
                        .map(|i| {
                            let key = format!("k{i}");
                            incoming(&format!("c{}", i % 10), 1000 + i / 10, Some(&key), 2)
                        })
                        .collect();
                    let mut sink = Sink::open(&spec, 0).unwrap();
                    let mut all = Vec::new();
                    // Each writer sends every report, in batches of 5, from its own end.
                    let order: Vec<&Incoming> = if w == 0 {
                        reports.iter().collect()
                    } else {
                        reports.iter().rev().collect()
                    };
                    for chunk in order.chunks(5) {
                        all.extend(outcomes(&mut sink, chunk, &rules(3), 10_000));
                    }
                    all
                })
            })
            .collect();
        let all: Vec<Outcome> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        let stored = all.iter().filter(|o| **o == Outcome::Stored).count();
        let limited = all
            .iter()
            .filter(|o| matches!(o, Outcome::RateLimited(_)))
            .count();
        // Ten clusters, four reports each, three an hour: 30 stored once, in all.
        assert_eq!(stored, 30, "{spec}: {all:?}");
        assert_eq!(count(&spec, "SELECT COUNT(*) FROM reports"), 30, "{spec}");
        assert!(limited >= 10, "{spec}: {all:?}");
    }
}

#[test]
fn postgres_outage_fails_fast_and_reconnects_by_itself() {
    if pg_server::skipped() {
        return;
    }
    let server = pg_server::PgServer::start(None);
    let spec = Spec::parse(&server.fresh_url()).unwrap();
    let mut sink = Sink::open(&spec, 0).unwrap();
    let first = incoming("a", 1000, None, 1);
    assert_eq!(
        outcomes(&mut sink, &[&first], &rules(0), 0),
        [Outcome::Stored]
    );
    server.stop();
    let down = incoming("b", 1000, None, 1);
    let start = Instant::now();
    for _ in 0..5 {
        let e = sink.store_batch(&[&down], &rules(0), 0).unwrap_err();
        assert!(format!("{e:#}").contains(&spec.to_string()), "{e:#}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(sink.probe().is_err());
    server.start_again();
    let start = Instant::now();
    while sink.probe().is_err() {
        assert!(start.elapsed() < support::HANG_GUARD, "never reconnected");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        outcomes(&mut sink, &[&down], &rules(0), 0),
        [Outcome::Stored]
    );
    drop(sink);
    assert_eq!(count(&spec, "SELECT COUNT(*) FROM reports"), 2);
}

/// TLS against a real server (ssl=on, a certificate made here for `localhost` only): each
/// sslmode does what libpq's does.
#[test]
fn postgres_tls_in_each_sslmode() {
    if pg_server::skipped() {
        return;
    }
    let (ca_pem, tls) = test_certificate();
    let server = pg_server::PgServer::start(Some(tls));
    let dir = Scratch::new("tls");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &ca_pem).unwrap();
    let (other_ca, _) = test_certificate();
    let wrong = dir.join("other-ca.pem");
    std::fs::write(&wrong, other_ca).unwrap();
    let url = |host: &str, params: &str| {
        format!(
            "postgres://postgres@{host}:{}/postgres?{params}",
            server.port
        )
    };
    let encrypted = |spec: &str| -> Result<bool> {
        let mut reader = spartakus::collector::store::Pg::connect(match &Spec::parse(spec)? {
            Spec::Postgres(u) => u,
            _ => unreachable!(),
        })?;
        let on = reader.query_int(
            "SELECT CASE WHEN ssl THEN 1 ELSE 0 END FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )?;
        Ok(on == 1)
    };
    let ca_s = ca.to_str().unwrap();
    assert!(!encrypted(&url("127.0.0.1", "sslmode=disable")).unwrap());
    assert!(encrypted(&url("127.0.0.1", "sslmode=prefer")).unwrap());
    assert!(encrypted(&url("127.0.0.1", "sslmode=require")).unwrap());
    let verify_ca = format!("sslmode=verify-ca&sslrootcert={ca_s}");
    assert!(
        encrypted(&url("127.0.0.1", &verify_ca)).unwrap(),
        "no name check"
    );
    let verify_full = format!("sslmode=verify-full&sslrootcert={ca_s}");
    assert!(encrypted(&url("localhost", &verify_full)).unwrap());
    let e = encrypted(&url("127.0.0.1", &verify_full)).unwrap_err();
    assert!(format!("{e:#}").contains("certificate"), "{e:#}");
    let e = encrypted(&url(
        "localhost",
        &format!("sslmode=verify-ca&sslrootcert={}", wrong.display()),
    ))
    .unwrap_err();
    assert!(format!("{e:#}").contains("certificate"), "{e:#}");
    assert_eq!(
        spartakus::exit::class_of(&e),
        spartakus::exit::Class::Usage,
        "a refused certificate is configuration"
    );
}

/// A CA, and a server certificate it signed for `localhost` only.
fn test_certificate() -> (String, pg_server::ServerTls) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, ExtendedKeyUsagePurpose, IsCa,
        KeyPair, KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let mut params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = IsCa::ExplicitNoCa;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    (
        ca.pem(),
        pg_server::ServerTls {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        },
    )
}
