//! Tests of the SQLite store.

use super::*;
use crate::collector::store::tests::incoming;

/// A scratch directory, removed when dropped.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "spartakus-store-{name}-{}-{:x}",
            std::process::id(),
            crate::retry::random_u64()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn schema_insert_dedup_and_prune() {
    let dir = Scratch::new("db");
    let path = dir.join("s.db");
    let mut db = Db::open(&path).unwrap();
    // Reopening does not re-apply migrations.
    drop(db);
    db = Db::open(&path).unwrap();
    assert_eq!(db.current_version().unwrap(), schema_version());

    let a = incoming("a", 1000, Some("k1"), 3);
    assert_eq!(db.seen(&a, 3600).unwrap(), Seen::New);
    db.insert(&a).unwrap();
    // Same key, same content: duplicate even much later.
    let mut again = incoming("a", 1000, Some("k1"), 3);
    again.received_at = 1_000_000;
    assert_eq!(db.seen(&again, 3600).unwrap(), Seen::Duplicate);
    // Same key, other content: conflict. Same key, other cluster: new.
    let mut other = incoming("a", 1001, Some("k1"), 4);
    assert_eq!(db.seen(&other, 3600).unwrap(), Seen::KeyConflict);
    other.report.cluster_id = "b".into();
    assert_eq!(db.seen(&other, 3600).unwrap(), Seen::New);
    // No key, same content: duplicate inside the window only.
    let mut nokey = incoming("a", 1000, None, 3);
    nokey.received_at = 1000 + 3600;
    assert_eq!(db.seen(&nokey, 3600).unwrap(), Seen::Duplicate);
    nokey.received_at = 1000 + 3601;
    assert_eq!(db.seen(&nokey, 3600).unwrap(), Seen::New);
    assert_eq!(db.seen(&nokey, 0).unwrap(), Seen::New);

    // Nodes read from the received JSON while inserting are stored the same.
    let b = incoming("b", 5000, None, 1);
    assert_eq!(b.node_count(), 1);
    db.insert(&b).unwrap();
    let node_b: (String, Option<String>, i64) = db
        .conn
        .query_row(
            "SELECT n.node_id, n.architecture, r.node_count FROM nodes n
             JOIN reports r ON r.id = n.report_id WHERE r.cluster_id = 'b'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(node_b, (format!("{:032x}", 0), Some("amd64".into()), 1));
    let count = |db: &Db, table: &str| -> i64 {
        db.conn
            .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count(&db, "nodes"), 4);
    assert_eq!(count(&db, "capacities"), 4);
    assert_eq!(count(&db, "extensions"), 2);
    let stored: (String, Option<String>, i64) = db
        .conn
        .query_row(
            "SELECT format_version, client_timestamp, node_count FROM reports WHERE cluster_id = 'a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(stored, ("v1.0.0".into(), Some("1000".into()), 3));

    assert_eq!(db.prune(2000).unwrap(), 1);
    assert_eq!(count(&db, "reports"), 1);
    assert_eq!(count(&db, "nodes"), 1);
    assert_eq!(count(&db, "capacities"), 1);
    assert_eq!(count(&db, "extensions"), 1);
    db.ping().unwrap();

    let reader = Db::open_existing(&path).unwrap();
    assert!(
        reader.conn.execute("DELETE FROM reports", []).is_err(),
        "read only"
    );
}

#[test]
fn open_existing_refuses_missing_and_newer_stores() {
    let dir = Scratch::new("existing");
    let missing = dir.join("none.db");
    let e = Db::open_existing(&missing).unwrap_err();
    assert!(format!("{e:#}").contains("does not exist"));
    assert!(!missing.exists(), "never created");

    let path = dir.join("s.db");
    let db = Db::open(&path).unwrap();
    db.conn
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
    drop(db);
    let e = Db::open_existing(&path).unwrap_err();
    assert!(format!("{e:#}").contains("schema version 99"), "{e:#}");
    let e = Db::open(&path).unwrap_err();
    assert!(format!("{e:#}").contains("newer than this binary"), "{e:#}");
}
