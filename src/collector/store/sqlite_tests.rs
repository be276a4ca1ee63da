//! Tests of the SQLite store's own parts: files, messages, migrations, backups. What both stores
//! do alike (batches, duplicates, the rate limit, retention, several writers) is in
//! tests/store.rs, against both.

use super::*;
use crate::collector::store::Incoming;
use crate::collector::store::tests::incoming;
use crate::collector::store::write::{Outcome, Rules, store_batch};

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

/// Store one report, without duplicate window or rate limit; panics unless it is stored.
pub(crate) fn insert(db: &mut Db, incoming: &Incoming) {
    let rules = Rules {
        window_secs: 0,
        rate: None,
    };
    let outcomes = store_batch(db, &[incoming], &rules, 0).unwrap();
    assert_eq!(outcomes[0].as_ref().unwrap(), &Outcome::Stored);
}

fn message(e: anyhow::Error) -> (String, Class) {
    (format!("{e:#}"), crate::exit::class_of(&e))
}

#[test]
fn migrates_once_and_the_released_schema_is_unchanged() {
    use sha2::Digest;
    // The text of version 1 as released (before the dialects): it must never change.
    let v1 = Dialect::Sqlite.migration(1).unwrap();
    assert_eq!(
        hex::encode(sha2::Sha256::digest(v1.as_bytes())),
        "330af16431bf3b07109fa5d44963e1d0d4b75c9c7dee05c5c4cecbda29b97598"
    );
    let dir = Scratch::new("migrate");
    let path = dir.join("s.db");
    let mut db = Db::open(&path).unwrap();
    insert(&mut db, &incoming("a", 1000, Some("k"), 2));
    drop(db);
    let mut db = Db::open(&path).unwrap();
    let applied = db
        .query(
            "SELECT version FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap();
    assert_eq!(applied.len() as i64, schema::version(), "{applied:?}");
    let reader = Db::open_existing(&path).unwrap();
    assert!(
        reader.conn.execute("DELETE FROM reports", []).is_err(),
        "read only"
    );
}

#[test]
fn a_week_trend_is_counted_along_the_index_on_week_rows() {
    use crate::collector::fleet::trends::Every;
    let dir = Scratch::new("plan");
    let mut db = Db::open(&dir.join("s.db")).unwrap();
    let mut plan = |every| {
        let sql = format!(
            "EXPLAIN QUERY PLAN {}",
            crate::collector::store::read::periods_sql(every)
        );
        let params = [Value::Int(0), Value::Int(1), Value::from("")];
        let rows = db.query(&sql, &params).unwrap();
        rows.into_iter()
            .map(|row| format!("{:?}", row.last().unwrap()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let week = plan(Every::Week);
    assert!(week.contains("cluster_periods_week_profile"), "{week}");
    assert!(!week.contains("TEMP B-TREE"), "no sort: {week}");
    let day = plan(Every::Day);
    assert!(!day.contains("cluster_periods_week_profile"), "{day}");
}

#[test]
fn parameters_are_numbered_for_sqlite() {
    assert_eq!(
        numbered("SELECT $1, $2 WHERE a = $12 AND b = '$'"),
        "SELECT ?1, ?2 WHERE a = ?12 AND b = '$'"
    );
}

#[test]
fn files_that_are_not_stores_are_named_for_what_they_are() {
    let dir = Scratch::new("files");
    let missing = dir.join("none.db");
    let (e, class) = message(Db::open_existing(&missing).unwrap_err());
    assert!(e.contains("does not exist"), "{e}");
    assert_eq!(class, Class::Usage);
    assert!(!missing.exists(), "never created");

    let empty = dir.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let (e, class) = message(Db::open_existing(&empty).unwrap_err());
    assert_eq!(
        e,
        format!(
            "no spartakus store in {}: the file is empty",
            empty.display()
        )
    );
    assert_eq!(class, Class::Usage);
    // A copy of a running store's file, without its WAL: a database with no tables.
    let bare = dir.join("bare.db");
    Connection::open(&bare)
        .unwrap()
        .execute_batch("PRAGMA user_version = 1")
        .unwrap();
    let (e, _) = message(Db::open_existing(&bare).unwrap_err());
    assert!(
        e.starts_with(&format!(
            "no spartakus store in {}: the database is empty",
            bare.display()
        )),
        "{e}"
    );
    // `collect` makes a store of either.
    Db::open(&empty).unwrap();
    Db::open_existing(&empty).unwrap();

    let text = dir.join("notes.txt");
    std::fs::write(&text, b"these are not the reports you are looking for").unwrap();
    let other = dir.join("other.db");
    Connection::open(&other)
        .unwrap()
        .execute_batch("CREATE TABLE t (x)")
        .unwrap();
    for path in [&text, &other] {
        for e in [
            Db::open_existing(path).unwrap_err(),
            Db::open(path).unwrap_err(),
        ] {
            let (e, class) = message(e);
            assert!(
                e.starts_with(&format!("{} is not a spartakus store", path.display())),
                "{e}"
            );
            assert_eq!(class, Class::Usage, "{e}");
        }
    }
}

#[test]
fn newer_and_older_schemas_and_damaged_files_are_refused() {
    let dir = Scratch::new("versions");
    let path = dir.join("s.db");
    let db = Db::open(&path).unwrap();
    db.conn
        .execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)",
            [],
        )
        .unwrap();
    drop(db);
    for e in [
        Db::open_existing(&path).unwrap_err(),
        Db::open(&path).unwrap_err(),
    ] {
        let (e, class) = message(e);
        assert!(
            e.contains("schema version 99, newer than this binary's"),
            "{e}"
        );
        assert_eq!(class, Class::Usage);
    }

    let old = dir.join("old.db");
    let db = Db::open(&old).unwrap();
    db.conn
        .execute_batch("DELETE FROM schema_migrations WHERE version > 1")
        .unwrap();
    drop(db);
    let (e, _) = message(Db::open_existing(&old).unwrap_err());
    assert!(e.contains("has schema version 1, this binary reads"), "{e}");

    // Damage every page after the first: SQLite reads the header, then finds garbage.
    let damaged = dir.join("damaged.db");
    let mut db = Db::open(&damaged).unwrap();
    insert(&mut db, &incoming("a", 1, None, 50));
    db.conn
        .execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    drop(db);
    let mut bytes = std::fs::read(&damaged).unwrap();
    assert!(bytes.len() > 8192, "{}", bytes.len());
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&damaged, bytes).unwrap();
    let (e, class) = message(Db::open(&damaged).unwrap_err());
    assert!(e.contains("is damaged") || e.contains("malformed"), "{e}");
    assert_eq!(class, Class::Usage, "{e}");
}

#[test]
fn backups_are_consistent_copies_that_open_as_stores() {
    let dir = Scratch::new("backup");
    let path = dir.join("s.db");
    let mut db = Db::open(&path).unwrap();
    for i in 0..7 {
        insert(&mut db, &incoming(&format!("c{i}"), 1000 + i, None, 3));
    }
    // The collector is still running: its reports are in the WAL, not yet in the file.
    let wal = with_suffix(&path, "-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    let copy = dir.join("copy.db");
    let reader = Db::open_existing(&path).unwrap();
    assert_eq!(reader.backup(&copy).unwrap(), 7);
    assert!(!with_suffix(&copy, ".partial").exists());
    let mut restored = Db::open_existing(&copy).unwrap();
    assert_eq!(
        restored
            .query_int("SELECT COUNT(*) FROM nodes", &[])
            .unwrap(),
        21
    );
    // Copying the file alone, as the README once said, loses what is in the WAL. (Copied by
    // another process: a descriptor of the file opened and closed in this one would drop the
    // locks `db` holds on it.)
    let naive = dir.join("naive.db");
    let copied = std::process::Command::new("cp")
        .arg(&path)
        .arg(&naive)
        .status();
    assert!(copied.unwrap().success());
    let (e, _) = message(Db::open_existing(&naive).unwrap_err());
    assert!(e.contains("no spartakus store"), "{e}");
    drop(db);
}
