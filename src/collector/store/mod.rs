//! Storage: where accepted reports go, and what the summary reads.
//!
//! - [`Spec`]: what `--store` names (an embedded SQLite file, or `stdout`).
//! - [`Incoming`]: a checked report on its way in, its nodes behind [`NodeSource`], so the store
//!   never knows how they are held (the collector reads them from the received JSON one at a
//!   time; tests hand a list).
//! - [`Sink`]: the write side the collector's writer thread owns: duplicate lookup, insert,
//!   retention pruning. [`sqlite::Db`] or [`stdout::StdoutSink`].

pub mod sqlite;
pub mod stdout;

use crate::contract::{Node, Report};
use crate::exit::{Class, fail};
use anyhow::{Result, anyhow};
use std::fmt;
use std::path::PathBuf;

pub use sqlite::Db;
pub use stdout::StdoutSink;

/// What `--store` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Spec {
    /// The embedded store: one SQLite file.
    Sqlite(PathBuf),
    /// Print each accepted report as one JSON line on stdout; nothing is kept.
    Stdout,
}

impl Spec {
    /// Parse `--store`: `stdout`, a file path, or `sqlite:PATH`. Errors are usage errors.
    pub fn parse(spec: &str) -> Result<Spec> {
        let usage = |msg: String| fail(Class::Usage, anyhow!("{msg}"));
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(usage("--store is empty".into()));
        }
        if spec == "stdout" || spec == "-" {
            return Ok(Spec::Stdout);
        }
        let lower = spec.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Err(usage(
                "--store: PostgreSQL stores are not built yet; use a file path (SQLite) or `stdout`"
                    .into(),
            ));
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
            return Err(usage(format!(
                "--store {spec}: unknown store type `{scheme}` (want a file path or `stdout`)"
            )));
        }
        Ok(Spec::Sqlite(PathBuf::from(spec)))
    }
}

impl fmt::Display for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Spec::Sqlite(path) => write!(f, "{}", path.display()),
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
    pub idempotency_key: Option<String>,
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

/// Whether a report was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    New,
    /// Same idempotency key and content, or same content within the window: already stored.
    Duplicate,
    /// Same idempotency key, different content: a client bug, refused.
    KeyConflict,
}

/// The write side, owned by the writer thread.
pub enum Sink {
    Db(Box<Db>),
    Stdout(StdoutSink),
}

impl Sink {
    /// Open the store named by `spec` for writing (creating and migrating SQLite as needed).
    pub fn open(spec: &Spec) -> Result<Sink> {
        Ok(match spec {
            Spec::Sqlite(path) => Sink::Db(Box::new(Db::open(path)?)),
            Spec::Stdout => Sink::Stdout(StdoutSink::new(Box::new(std::io::stdout()))),
        })
    }

    pub fn seen(&mut self, incoming: &Incoming, window_secs: i64) -> Result<Seen> {
        match self {
            Sink::Db(db) => db.seen(incoming, window_secs),
            Sink::Stdout(s) => Ok(s.seen(incoming, window_secs)),
        }
    }

    /// Store durably; returns only once committed.
    pub fn insert(&mut self, incoming: &Incoming) -> Result<()> {
        match self {
            Sink::Db(db) => db.insert(incoming).map(|_| ()),
            Sink::Stdout(s) => s.insert(incoming),
        }
    }

    /// Delete reports received before `cutoff` (Unix seconds); returns how many.
    pub fn prune(&mut self, cutoff: i64) -> Result<usize> {
        match self {
            Sink::Db(db) => db.prune(cutoff),
            Sink::Stdout(_) => Ok(0),
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
        for bad in ["mysql://h", "", "sqlite:"] {
            let e = Spec::parse(bad).unwrap_err();
            assert_eq!(crate::exit::class_of(&e), Class::Usage, "{bad}");
        }
        assert_eq!(Spec::parse("/d/s.db").unwrap().to_string(), "/d/s.db");
    }
}
