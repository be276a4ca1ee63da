//! Storage: where accepted reports go, and what the summary reads.
//!
//! - [`Spec`]: what `--store` names (an embedded SQLite file, a PostgreSQL database, `stdout`).
//! - [`Incoming`]: a checked report on its way in, its nodes behind [`NodeSource`], so the store
//!   never knows how they are held (the collector reads them from the received JSON one at a
//!   time; tests hand a list).
//! - [`schema`]: the one schema, and the one place where the two databases' SQL differs.
//! - [`write`]: a batch of reports in one transaction, step by step (duplicates, rate limit,
//!   rows, rollups), and retention; [`rollup`]: the rollups per cluster and period, kept as
//!   reports are stored; [`forget`]: deleting everything of a cluster; [`read`]: what summaries,
//!   trends and the dashboard read (the rollups); [`stored`]: stored reports read back, a page
//!   at a time (exports). All are written once, over [`sql::Conn`], which [`sqlite::Db`] and
//!   [`postgres::Pg`] implement.
//! - [`Sink`]: the write side a writer thread owns; [`Reader`]: the read side.

pub mod forget;
pub(crate) mod lock;
pub(crate) mod pgsink;
pub(crate) mod pgtls;
pub(crate) mod pgurl;
pub mod postgres;
pub mod read;
pub(crate) mod rollup;
pub(crate) mod rows;
pub mod schema;
pub mod sql;
pub mod sqlite;
pub(crate) mod stdout;
pub mod stored;
pub(crate) mod write;
pub(crate) mod writer;

use crate::contract::{Node, Report};
use crate::exit::{Class, fail, usage};
use anyhow::{Result, anyhow};
use std::fmt;
use std::path::PathBuf;

pub use forget::Forgot;
pub(crate) use pgsink::PgSink;
pub use pgurl::PgUrl;
pub use postgres::Pg;
pub(crate) use sqlite::Db;
pub(crate) use stdout::StdoutSink;
pub use write::{Outcome, Rules};
pub(crate) use write::{Pruned, Seen};

/// What `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// The embedded store: one SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, shared by any number of collectors.
    Postgres(PgUrl),
    /// Print each accepted report as one JSON line on stdout; nothing is kept.
    Stdout,
}

impl Spec {
    /// Parse `--store`: `stdout`, a file path, `sqlite:PATH` or `postgres://...`. Errors are
    /// usage errors, and never repeat a password.
    pub fn parse(spec: &str) -> Result<Spec> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(usage("--store is empty"));
        }
        if spec == "stdout" || spec == "-" {
            return Ok(Spec::Stdout);
        }
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return PgUrl::parse(spec)
                .map(Spec::Postgres)
                .map_err(|e| usage(format!("--store {}: {e}", pgurl::redact_given(spec))));
        }
        if let Some(path) = spec
            .strip_prefix("sqlite://")
            .or(spec.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(usage(format!("--store {spec}: no file path")));
            }
            return Ok(Spec::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = spec.split_once("://") {
            // Not the rest: it may hold a password.
            let scheme = crate::text::printable(scheme, 32);
            return Err(usage(format!(
                "--store {scheme}://...: unknown store type `{scheme}` (want a file path, postgres://... or `stdout`)"
            )));
        }
        Ok(Spec::Sqlite(PathBuf::from(spec)))
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Sqlite(path) => write!(f, "{}", path.display()),
            Spec::Postgres(url) => write!(f, "{url}"),
            Spec::Stdout => f.write_str("stdout"),
        }
    }
}

/// Where a report's nodes are, for the store to read them one at a time.
pub trait NodeSource: Send + fmt::Debug {
    /// How many there are.
    fn count(&self) -> usize;
    /// Each node, in order; stops at `f`'s first error.
    fn for_each(&self, f: &mut dyn FnMut(usize, Node) -> Result<()>) -> Result<()>;
}

impl NodeSource for Vec<Node> {
    fn count(&self) -> usize {
        self.len()
    }

    fn for_each(&self, f: &mut dyn FnMut(usize, Node) -> Result<()>) -> Result<()> {
        for (i, node) in self.iter().enumerate() {
            f(i, node.clone())?;
        }
        Ok(())
    }
}

/// A report on its way into the store, with what the collector itself knows about it.
#[derive(Debug)]
pub struct Incoming {
    /// The report's own fields (`nodes` is empty: they are in `nodes`).
    pub report: Report,
    pub nodes: Box<dyn NodeSource>,
    /// Unix seconds, the collector's clock.
    pub received_at: i64,
    pub(crate) idempotency_key: Option<String>,
    /// SHA-256 of the decompressed body.
    pub sha256: [u8; 32],
}

impl Incoming {
    /// A report held whole (its nodes move into the source).
    pub fn whole(
        mut report: Report,
        received_at: i64,
        idempotency_key: Option<String>,
        sha256: [u8; 32],
    ) -> Incoming {
        let nodes = std::mem::take(&mut report.nodes);
        Incoming {
            report,
            nodes: Box::new(nodes),
            received_at,
            idempotency_key,
            sha256,
        }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.count()
    }
}

/// The write side, owned by a writer thread.
pub enum Sink {
    Sqlite(Box<Db>),
    Postgres(Box<PgSink>),
    Stdout(Box<StdoutSink>),
}

impl Sink {
    /// Open the store named by `spec` for writing: created and migrated as needed, and checked
    /// to take a write. `rate_limit` is for `stdout`, which keeps its limit in memory.
    pub fn open(spec: &Spec, rate_limit: u32) -> Result<Sink> {
        Ok(match spec {
            Spec::Sqlite(path) => Sink::Sqlite(Box::new(Db::open(path)?)),
            Spec::Postgres(url) => Sink::Postgres(Box::new(PgSink::new(Pg::open(url)?))),
            Spec::Stdout => Sink::Stdout(Box::new(StdoutSink::new(
                Box::new(std::io::stdout()),
                rate_limit,
            ))),
        })
    }

    /// Pay what this sink keeps in memory from the collector's budget (the stdout store's
    /// duplicate table; the databases keep theirs on disk).
    pub(crate) fn pay_from(&mut self, budget: &crate::collector::guard::budget::Budget) {
        if let Sink::Stdout(s) = self {
            s.pay_from(budget);
        }
    }

    /// Store a batch in one transaction: each report's outcome, or an error of the whole
    /// batch (nothing of it stored).
    pub fn store_batch(
        &mut self,
        batch: &[&Incoming],
        rules: &Rules,
        now_ms: u64,
    ) -> Result<Vec<Result<Outcome>>> {
        match self {
            Sink::Sqlite(db) => write::store_batch(db.as_mut(), batch, rules, now_ms),
            Sink::Postgres(pg) => pg.with(|pg| write::store_batch(pg, batch, rules, now_ms)),
            Sink::Stdout(s) => Ok(s.store_batch(batch, rules.window_secs, now_ms)),
        }
    }

    /// Delete reports received before `cutoff` (Unix seconds; `None` keeps them) and rate limit
    /// entries past at `now_ms`.
    pub fn prune(&mut self, cutoff: Option<i64>, now_ms: u64) -> Result<Pruned> {
        match self {
            Sink::Sqlite(db) => write::prune(db.as_mut(), cutoff, now_ms),
            Sink::Postgres(pg) => pg.with(|pg| write::prune(pg, cutoff, now_ms)),
            Sink::Stdout(_) => Ok(Pruned::default()),
        }
    }

    /// Delete everything stored of `cluster` (see [`forget`]), unless its deletion requests
    /// are over their limit at `now_ms`. `stdout` keeps nothing to delete.
    pub fn forget(&mut self, cluster: &str, now_ms: u64) -> Result<Forgot> {
        match self {
            Sink::Sqlite(db) => db.forget(cluster, now_ms),
            Sink::Postgres(pg) => pg.with(|pg| forget::forget(pg, cluster, now_ms)),
            Sink::Stdout(_) => Ok(Forgot::Done),
        }
    }

    /// Another writer's sink on the same store (PostgreSQL: a connection of its own); `None` for
    /// stores that have one writer.
    pub fn another(&self) -> Result<Option<Sink>> {
        match self {
            Sink::Postgres(pg) => Ok(Some(Sink::Postgres(Box::new(pg.sibling()?)))),
            Sink::Sqlite(_) | Sink::Stdout(_) => Ok(None),
        }
    }

    /// Whether the store can take a write now (a transaction rolled back).
    pub fn probe(&mut self) -> Result<()> {
        match self {
            Sink::Sqlite(db) => write::probe(db.as_mut()),
            Sink::Postgres(pg) => pg.with(|pg| write::probe(pg)),
            Sink::Stdout(_) => Ok(()),
        }
    }
}

/// The read side: a connection the summary's queries ([`read`]) run on. A PostgreSQL reader
/// connects again by itself when its connection is gone (the database restarted), failing at
/// once while it waits to try (see [`PgSink`]).
pub enum Reader {
    Sqlite(Box<Db>),
    Postgres(Box<PgSink>),
}

impl Reader {
    /// Open an existing store of this binary's schema version, to read it.
    pub fn open(spec: &Spec) -> Result<Reader> {
        match spec {
            Spec::Sqlite(path) => Ok(Reader::Sqlite(Box::new(Db::open_existing(path)?))),
            Spec::Postgres(url) => Ok(Reader::Postgres(Box::new(PgSink::reader(
                Pg::open_existing(url)?,
            )))),
            Spec::Stdout => Err(fail(
                Class::Usage,
                anyhow!("--store stdout keeps nothing to read; give the collector's store"),
            )),
        }
    }

    /// `f` on the connection (connecting again first, or once more after `f` found it gone).
    pub fn with<T>(&mut self, mut f: impl FnMut(&mut dyn sql::Conn) -> Result<T>) -> Result<T> {
        match self {
            Reader::Sqlite(db) => f(db.as_mut()),
            Reader::Postgres(pg) => pg.with(|pg| f(pg)),
        }
    }

    /// The connection, as it is (a test's, or a command's that reads once).
    pub fn conn(&mut self) -> Result<&mut dyn sql::Conn> {
        match self {
            Reader::Sqlite(db) => Ok(db.as_mut()),
            Reader::Postgres(pg) => pg.connected().map(|pg| pg as &mut dyn sql::Conn),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::testing;
    use sha2::Digest;

    /// [`testing::report`] on its way in, whole.
    pub(crate) fn incoming(cluster: &str, at: i64, key: Option<&str>, nodes: usize) -> Incoming {
        let mut incoming = whole(testing::report(cluster, at, nodes));
        incoming.idempotency_key = key.map(String::from);
        incoming
    }

    /// `report` on its way in, received at its timestamp.
    pub(crate) fn whole(report: Report) -> Incoming {
        let sha256 = sha2::Sha256::digest(serde_json::to_vec(&report).unwrap()).into();
        let at = report.timestamp.parse().unwrap_or(0);
        Incoming::whole(report, at, None, sha256)
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(Spec::parse("stdout").unwrap(), Spec::Stdout);
        assert_eq!(
            Spec::parse("data/s.db").unwrap(),
            Spec::Sqlite("data/s.db".into())
        );
        assert_eq!(
            Spec::parse("sqlite:///var/lib/s.db").unwrap(),
            Spec::Sqlite("/var/lib/s.db".into())
        );
        for bad in [
            "mysql://u:hunter2@h",
            "",
            "sqlite:",
            "postgres://u:hunter2@/d",
            "postgres://u:hunter2/x@h:port/d",
            "postgres://u:hunter2/x",
        ] {
            let e = Spec::parse(bad).unwrap_err();
            assert_eq!(crate::exit::class_of(&e), Class::Usage, "{bad}");
            assert!(!format!("{e:#}").contains("hunter2"), "{e:#}");
        }
        let Spec::Postgres(url) = Spec::parse("postgres://u:hunter2@db:5433/s").unwrap() else {
            panic!("not postgres");
        };
        assert_eq!((url.host.as_str(), url.port), ("db", 5433));
        assert_eq!(
            Spec::Postgres(url).to_string(),
            "postgres://u:****@db:5433/s?sslmode=prefer"
        );
        assert_eq!(Spec::parse("/d/s.db").unwrap().to_string(), "/d/s.db");
    }
}
