//! The write side, once for both databases: a batch of reports in one transaction, each report
//! under a savepoint of its own, in steps ([`store_one`]): duplicates, the rate limit, the rows.
//!
//! The rollups ([`super::rollup`]) are the step after the report's rows: the profile is counted
//! as the rows are read, and the rollups are written with the batch's rows, in the same
//! transaction; a failure rolls back that report alone.

use super::Incoming;
use super::rollup::Known;
use super::rows::Rows;
use super::schema;
use super::sql::{Conn, Value};
use crate::collector::guard::limit::Gcra;
use anyhow::{Context, Result, anyhow, bail};

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Stored,
    /// Already stored; nothing written.
    Duplicate,
    /// The idempotency key was used before for different content.
    KeyConflict,
    /// Over the cluster's hourly allowance: retry after this many seconds.
    RateLimited(u64),
}

/// Whether a report was seen before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    New,
    /// Same idempotency key and content, or same content within the window: already stored.
    Duplicate,
    /// Same idempotency key, different content: a client bug, refused.
    KeyConflict,
}

/// The rules every report of a batch is stored by.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// Same content from the same cluster this recently is a duplicate; 0: keys only.
    pub window_secs: i64,
    /// The per-cluster rate limit, if any.
    pub rate: Option<Gcra>,
}

/// A connection the write side can use: [`Conn`], and how a batch's transaction begins.
pub(crate) trait Writable: Conn {
    /// Begin the transaction of a batch about these clusters (sorted, distinct), holding
    /// whatever keeps other writers off them until it ends.
    fn begin(&mut self, clusters: &[&str]) -> Result<()>;

    /// The profiles this connection's writer knows are stored (see [`Known`]).
    fn known(&mut self) -> &mut Known;
}

/// Store `batch` in one transaction: each report's outcome, or its own error (the others kept).
/// An error of the whole (the transaction could not begin or commit) means nothing of the batch
/// is stored.
///
/// First all at once, without savepoints, each report's row sent with the next report's
/// lookups (a round trip per report to PostgreSQL), and the batch's nodes, capacities and
/// extensions in shared multi-row inserts ([`Rows`]). Should any statement fail, that attempt is
/// rolled back and the batch is stored again with a savepoint per report, so that the failing
/// report is rolled back alone. Savepoints cost two statements a report, a fifth of them, and
/// are almost never needed.
pub(crate) fn store_batch(
    db: &mut dyn Writable,
    batch: &[&Incoming],
    rules: &Rules,
    now_ms: u64,
) -> Result<Vec<Result<Outcome>>> {
    let mut known = std::mem::take(db.known());
    let stored = store_known(db, &known, batch, rules, now_ms);
    let stored = stored.map(|(outcomes, written)| {
        known.learn(&written);
        outcomes
    });
    *db.known() = known;
    stored
}

/// Each report's outcome, and the profiles written (known once the batch commits).
type Stored = (Vec<Result<Outcome>>, Vec<[u8; 32]>);

/// [`store_batch`], knowing the profiles in `known`.
fn store_known(
    db: &mut dyn Writable,
    known: &Known,
    batch: &[&Incoming],
    rules: &Rules,
    now_ms: u64,
) -> Result<Stored> {
    let mut clusters: Vec<&str> = batch.iter().map(|i| i.report.cluster_id.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    db.begin(&clusters)?;
    let mut rows = Rows::new(known);
    let at_once: Result<Vec<Outcome>> = batch
        .iter()
        .map(|incoming| store_one(db, incoming, rules, now_ms, &mut rows))
        .collect();
    let at_once = at_once.and_then(|outcomes| {
        rows.flush(db)?;
        db.sync()?;
        Ok(outcomes)
    });
    match at_once {
        Ok(outcomes) => {
            let outcomes = outcomes.into_iter().map(Ok).collect();
            return commit(db, (outcomes, rows.written()));
        }
        Err(_) => {
            let _ = db.batch("ROLLBACK");
        }
    }
    db.begin(&clusters)?;
    let outcomes = each_under_a_savepoint(db, known, batch, rules, now_ms);
    match outcomes {
        Ok(outcomes) => commit(db, outcomes),
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn commit<T>(db: &mut dyn Writable, outcomes: T) -> Result<T> {
    match db.batch("COMMIT").context("committing") {
        Ok(()) => Ok(outcomes),
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}

fn each_under_a_savepoint(
    db: &mut dyn Writable,
    known: &Known,
    batch: &[&Incoming],
    rules: &Rules,
    now_ms: u64,
) -> Result<Stored> {
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut written = Vec::new();
    for incoming in batch {
        db.defer_batch("SAVEPOINT report")?;
        // The release waits for every statement of the report: their errors are its own.
        let mut rows = Rows::new(known);
        let outcome = store_one(db, incoming, rules, now_ms, &mut rows).and_then(|o| {
            rows.flush(db)?;
            db.batch("RELEASE SAVEPOINT report").map(|()| o)
        });
        let outcome = match outcome {
            Ok(o) => {
                written.extend(rows.written());
                Ok(o)
            }
            Err(e) => {
                // A failure that ends the whole transaction (a full disk: SQLite rolls it back
                // itself) leaves no savepoint to go back to; the report's own error says why.
                if db.batch("ROLLBACK TO SAVEPOINT report").is_err() {
                    return Err(e);
                }
                db.batch("RELEASE SAVEPOINT report")?;
                answer_conflict(db, incoming).ok_or(e)
            }
        };
        outcomes.push(outcome);
    }
    Ok((outcomes, written))
}

/// One report, in steps. Duplicates first (a retry never counts against the limit), then the
/// limit, then the rows; the allowance is used only once they are written.
pub(crate) fn store_one(
    db: &mut dyn Conn,
    incoming: &Incoming,
    rules: &Rules,
    now_ms: u64,
    rows: &mut Rows<'_>,
) -> Result<Outcome> {
    // Both lookups at once: whether it is a duplicate, and the cluster's allowance.
    let cluster = incoming.report.cluster_id.as_str();
    let (found, tat, id) = lookups(db, incoming, rules.window_secs)?;
    match found {
        Seen::Duplicate => return Ok(Outcome::Duplicate),
        Seen::KeyConflict => return Ok(Outcome::KeyConflict),
        Seen::New => {}
    }
    let tat = match &rules.rate {
        None => None,
        Some(gcra) => match gcra.allow(tat, now_ms) {
            Ok(tat) => Some(tat),
            Err(wait) => return Ok(Outcome::RateLimited(wait)),
        },
    };
    let Some(id) = id else {
        anyhow::bail!("the store gave no ID for a new report");
    };
    insert_report(db, id, incoming)?;
    let profile = rows.add(db, id, incoming)?;
    rows.rollup(incoming, &profile);
    if let Some(tat) = tat {
        use_allowance(db, cluster, tat)?;
    }
    Ok(Outcome::Stored)
}

const SEEN: &str = "SELECT idempotency_key, content_sha256 FROM reports
     WHERE cluster_id = $1
       AND (idempotency_key = $2 OR (content_sha256 = $3 AND received_at >= $4))
     ORDER BY CASE WHEN idempotency_key = $2 THEN 0 ELSE 1 END
     LIMIT 1";

const ALLOWANCE: &str = "SELECT tat_ms FROM rate_limits WHERE cluster_id = $1";

/// Duplicate lookup: by idempotency key (any age), then by content within the window.
pub(crate) fn seen(db: &mut dyn Conn, incoming: &Incoming, window_secs: i64) -> Result<Seen> {
    let sha = hex::encode(incoming.sha256);
    let rows = db.query(SEEN, &seen_params(incoming, &sha, window_secs))?;
    seen_in(incoming, &sha, rows)
}

/// What a report's way in needs to know, in one statement: [`seen`], the cluster's GCRA time if
/// it has one, and the ID the report will have if it is stored.
fn lookups(
    db: &mut dyn Conn,
    incoming: &Incoming,
    window_secs: i64,
) -> Result<(Seen, Option<u64>, Option<i64>)> {
    let sha = hex::encode(incoming.sha256);
    let sql = lookups_sql(db.dialect());
    let row = db
        .query_opt(sql, &seen_params(incoming, &sha, window_secs))?
        .unwrap_or_default();
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(super::sql::Cell::Null);
    let (key, stored_sha, tat, id) = (next(), next(), next(), next());
    let seen = match stored_sha.text()? {
        None => Seen::New,
        Some(stored) => seen_from(incoming, &sha, key.text()?, &stored),
    };
    let tat = tat.int().ok().map(|t| u64::try_from(t).unwrap_or(0));
    Ok((seen, tat, id.int().ok()))
}

/// The statement of [`lookups`] (built once per dialect).
fn lookups_sql(dialect: super::schema::Dialect) -> &'static str {
    use std::sync::OnceLock;
    static SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];
    let slot = match dialect {
        super::schema::Dialect::Sqlite => &SQL[0],
        super::schema::Dialect::Postgres => &SQL[1],
    };
    slot.get_or_init(|| {
        let of = |column: &str| SEEN.replacen("idempotency_key, content_sha256", column, 1);
        format!(
            "SELECT ({}), ({}), ({}), {}",
            of("idempotency_key"),
            of("content_sha256"),
            ALLOWANCE,
            dialect.next_report_id()
        )
    })
}

fn seen_params<'a>(incoming: &'a Incoming, sha: &'a str, window_secs: i64) -> [Value<'a>; 4] {
    let since = if window_secs > 0 {
        incoming.received_at - window_secs
    } else {
        i64::MAX
    };
    [
        Value::from(&incoming.report.cluster_id),
        Value::Text(incoming.idempotency_key.as_deref()),
        Value::from(sha),
        Value::Int(since),
    ]
}

fn seen_in(incoming: &Incoming, sha: &str, rows: Vec<super::sql::Row>) -> Result<Seen> {
    let Some(row) = rows.into_iter().next() else {
        return Ok(Seen::New);
    };
    let mut cells = row.into_iter();
    let stored_key = cells.next().map(|c| c.text()).transpose()?.flatten();
    let stored_sha = cells.next().map(|c| c.string()).transpose()?;
    Ok(seen_from(
        incoming,
        sha,
        stored_key,
        stored_sha.as_deref().unwrap_or(""),
    ))
}

/// A stored report matched: the same key with other content is a conflict, else a duplicate.
fn seen_from(incoming: &Incoming, sha: &str, stored_key: Option<String>, stored_sha: &str) -> Seen {
    let key = incoming.idempotency_key.as_deref();
    match stored_key {
        Some(k) if key == Some(k.as_str()) && stored_sha != sha => Seen::KeyConflict,
        _ => Seen::Duplicate,
    }
}

fn use_allowance(db: &mut dyn Conn, cluster: &str, tat: u64) -> Result<()> {
    db.defer(
        "INSERT INTO rate_limits (cluster_id, tat_ms) VALUES ($1, $2)
         ON CONFLICT (cluster_id) DO UPDATE SET tat_ms = excluded.tat_ms",
        &[
            Value::from(cluster),
            Value::Int(i64::try_from(tat).unwrap_or(i64::MAX)),
        ],
    )
}

/// The report's own row. A key stored meanwhile by another writer fails it on the unique index
/// (see [`answer_conflict`]).
fn insert_report(db: &mut dyn Conn, id: i64, incoming: &Incoming) -> Result<()> {
    let report = &incoming.report;
    let sha = hex::encode(incoming.sha256);
    let timestamp = Some(report.timestamp.as_str()).filter(|t| !t.is_empty());
    db.defer(
        "INSERT INTO reports (id, cluster_id, received_at, client_timestamp, format_version,
            master_version, node_count, idempotency_key, content_sha256)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            Value::Int(id),
            Value::from(&report.cluster_id),
            Value::Int(incoming.received_at),
            Value::Text(timestamp),
            Value::from(&report.version),
            Value::from(&report.master_version),
            Value::Int(incoming.node_count() as i64),
            Value::from(&incoming.idempotency_key),
            Value::from(sha.as_str()),
        ],
    )
}

/// After a report failed and was rolled back: if its idempotency key is stored now (the unique
/// index, the last line of defence, refused it), the answer is that of a duplicate.
fn answer_conflict(db: &mut dyn Conn, incoming: &Incoming) -> Option<Outcome> {
    incoming.idempotency_key.as_ref()?;
    match seen(db, incoming, 0).ok()? {
        Seen::Duplicate => Some(Outcome::Duplicate),
        Seen::KeyConflict => Some(Outcome::KeyConflict),
        Seen::New => None,
    }
}

/// The migrations not yet applied, inside the caller's transaction. Shared by both databases.
pub(crate) fn migrate(db: &mut dyn Conn, now: i64) -> Result<()> {
    let dialect = db.dialect();
    db.batch(schema::SCHEMA_MIGRATIONS)?;
    let current = db.query_int(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        &[],
    )?;
    if current > schema::version() {
        bail!(
            "schema version {current} is newer than this binary's ({}); run a newer spartakus",
            schema::version()
        );
    }
    for version in current + 1..=schema::version() {
        let sql = dialect
            .migration(version)
            .ok_or_else(|| anyhow!("no schema version {version}"))?;
        if version == schema::CONVERT_VERSION && current < schema::ROLLUPS_VERSION {
            super::rollup::backfill(db).with_context(|| {
                format!("rolling up the stored reports (schema version {version})")
            })?;
        } else if version == schema::CONVERT_VERSION {
            super::rollup::convert(db).with_context(|| {
                format!("moving the profiles into profile_values (schema version {version})")
            })?;
        }
        db.batch(&sql)
            .with_context(|| format!("applying schema version {version}"))?;
        db.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[Value::Int(version), Value::Int(now)],
        )?;
    }
    Ok(())
}

/// What retention deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub reports: usize,
    /// Rate limit entries whose allowance is full again.
    pub allowances: usize,
}

/// Delete every report received before `cutoff` (Unix seconds; `None` keeps them), with its rows
/// in the other tables, and the rate limit entries that are past at `now_ms`. The rollups stay.
pub(crate) fn prune(db: &mut dyn Writable, cutoff: Option<i64>, now_ms: u64) -> Result<Pruned> {
    db.begin(&[])?;
    let pruned = prune_in(db, cutoff, now_ms);
    let done = pruned.and_then(|p| {
        db.batch("COMMIT")?;
        Ok(p)
    });
    if done.is_err() {
        let _ = db.batch("ROLLBACK");
    }
    done
}

fn prune_in(db: &mut dyn Conn, cutoff: Option<i64>, now_ms: u64) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    if let Some(cutoff) = cutoff {
        for table in super::schema::REPORT_ROWS {
            db.execute(
                &format!(
                    "DELETE FROM {table} WHERE report_id IN
                        (SELECT id FROM reports WHERE received_at < $1)"
                ),
                &[Value::Int(cutoff)],
            )?;
        }
        pruned.reports = db.execute(
            "DELETE FROM reports WHERE received_at < $1",
            &[Value::Int(cutoff)],
        )? as usize;
    }
    pruned.allowances = db.execute(
        "DELETE FROM rate_limits WHERE tat_ms <= $1",
        &[Value::Int(i64::try_from(now_ms).unwrap_or(i64::MAX))],
    )? as usize;
    Ok(pruned)
}

/// Bytes a probe writes: about what a small report needs, so that a disk with room for a
/// probe has room for reports.
pub(crate) const PROBE_BYTES: usize = 256 * 1024;

/// Whether the store can take a write now: a transaction that reads the newest report and
/// writes a rate limit row, then is rolled back. SQLite keeps a rolled-back transaction's pages
/// in memory, so there the probe commits [`PROBE_BYTES`] (written, then deleted in the same
/// transaction): a full disk fails it, as it fails reports.
pub(crate) fn probe(db: &mut dyn Writable) -> Result<()> {
    db.begin(&[])?;
    let probed = (|| {
        db.query("SELECT id FROM reports ORDER BY id DESC LIMIT 1", &[])?;
        let sqlite = db.dialect() == schema::Dialect::Sqlite;
        let filler = if sqlite {
            "x".repeat(PROBE_BYTES)
        } else {
            String::new()
        };
        let key = format!(" probe{filler}");
        db.execute(
            "INSERT INTO rate_limits (cluster_id, tat_ms) VALUES ($1, 0)
             ON CONFLICT (cluster_id) DO UPDATE SET tat_ms = excluded.tat_ms",
            &[Value::from(key.as_str())],
        )?;
        if sqlite {
            db.execute(
                "DELETE FROM rate_limits WHERE cluster_id = $1",
                &[Value::from(key.as_str())],
            )?;
        }
        Ok(sqlite)
    })();
    match probed {
        Ok(true) => db.batch("COMMIT"),
        Ok(false) => db.batch("ROLLBACK"),
        Err(e) => {
            let _ = db.batch("ROLLBACK");
            Err(e)
        }
    }
}
