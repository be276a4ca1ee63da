//! The rollups, written: for each cluster and period (day, ISO week, calendar month), its latest
//! report's time, Kubernetes version and profile ([`Profile`]), and how many reports it sent in
//! the period; for the day, also its latest report's workload part. Kept up to date as reports
//! are stored, in the batch's transaction; read by [`super::read`]. Retention deletes reports
//! and keeps these, so summaries and trends outlive the raw reports.
//!
//! A batch's rollups wait in [`Rollups`] until the batch's rows are written: a cluster with two
//! reports in one batch gets one row per period (the later report, both counted), and every row
//! is written by multi-row upserts that keep a stored row unless the new report is at least as
//! late. Profiles are shared by every row with the same one, keyed by their SHA-256, each stored
//! as its rows in `profile_values` (at most [`crate::collector::fleet::MAX_VALUES`] values per
//! dimension); a writer remembers the ones it stored ([`Known`]) and inserts each once.
//!
//! Written once for both databases, deferred ([`Conn::defer`]).

use super::sql::{Cell, Conn, Value, insert_rows};
use super::stored;
use crate::collector::fleet::trends::Every;
use crate::collector::fleet::{Label, Profile, profile};
use crate::contract::Report;
use anyhow::{Result, anyhow};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};

/// Profiles a writer remembers as stored, at most.
pub(crate) const MAX_KNOWN: usize = 65_536;

/// Rows per multi-row statement.
const ROWS: usize = 64;

const PERIOD_COLUMNS: [&str; 8] = [
    "every",
    "period_start",
    "cluster_id",
    "received_at",
    "master_version",
    "report_count",
    "profile",
    "workloads",
];

const VALUE_COLUMNS: [&str; 5] = ["profile", "dimension", "kind", "value", "nodes"];

/// The columns a later report replaces (`report_count` adds up instead).
const REPLACED: [&str; 4] = ["received_at", "master_version", "profile", "workloads"];

/// Profiles known to be committed to the store (this writer stored them, or found them there),
/// so that a report with one of them does not insert it again. Profiles are never deleted, so
/// what is known stays true. Bounded: when full it starts again from empty.
#[derive(Debug, Default)]
pub(crate) struct Known(HashSet<[u8; 32]>);

impl Known {
    pub(crate) fn contains(&self, hash: &[u8; 32]) -> bool {
        self.0.contains(hash)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }

    /// Profiles a committed transaction stored.
    pub(crate) fn learn(&mut self, hashes: &[[u8; 32]]) {
        if self.0.len() + hashes.len() > MAX_KNOWN {
            self.0.clear();
        }
        self.0.extend(hashes.iter().copied());
    }
}

/// A workload part's key in `workload_parts`: the SHA-256 of its encoding, salted with the
/// cluster ID, so that no two clusters share a row and a cluster's rows can be deleted with it.
pub(crate) fn part_key(cluster: &str, encoded: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"spartakus workloads\0")
        .chain_update(cluster.as_bytes())
        .chain_update(b"\0")
        .chain_update(encoded.as_bytes())
        .finalize();
    hex::encode(digest)
}

/// One cluster's row of one period, as the batch leaves it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    received_at: i64,
    master_version: Option<String>,
    report_count: i64,
    profile: String,
    workloads: Option<String>,
}

/// A profile's stored rows: (dimension code, label, nodes).
type ProfileRows = Vec<(i64, Label, u64)>;

/// The rollups of a batch (or of a report, under its own savepoint), until they are written.
#[derive(Debug, Default)]
pub(crate) struct Rollups {
    /// By (every, period start, cluster).
    rows: BTreeMap<(i64, i64, String), Row>,
    /// Profiles not known to be stored, by key (hex).
    profiles: BTreeMap<String, ProfileRows>,
    /// Workload parts, by key, encoded.
    parts: BTreeMap<String, String>,
    /// Profiles written: known once the transaction commits.
    written: Vec<[u8; 32]>,
}

impl Rollups {
    /// Rolls up a report received at `received_at` whose profile is `profile`.
    pub(crate) fn add(
        &mut self,
        report: &Report,
        received_at: i64,
        profile: &Profile,
        known: &Known,
    ) {
        let rows = profile.rows();
        let hash = profile::hash_of(&rows);
        let key = hex::encode(hash);
        if !known.contains(&hash) && !self.profiles.contains_key(&key) {
            self.profiles.insert(key.clone(), rows);
            self.written.push(hash);
        }
        let cluster = &report.cluster_id;
        let part = report
            .workloads
            .as_ref()
            .filter(|w| !w.is_empty())
            .map(|w| {
                let encoded = serde_json::to_string(w).unwrap_or_default();
                let key = part_key(cluster, &encoded);
                self.parts.insert(key.clone(), encoded);
                key
            });
        for every in Every::ALL {
            let row = Row {
                received_at,
                master_version: report.master_version.clone(),
                report_count: 1,
                profile: key.clone(),
                // The summary reads day rows only.
                workloads: part.clone().filter(|_| every == Every::Day),
            };
            let at = (every.code(), every.start(received_at), cluster.clone());
            match self.rows.get_mut(&at) {
                None => {
                    self.rows.insert(at, row);
                }
                Some(old) => {
                    let count = old.report_count + 1;
                    if row.received_at >= old.received_at {
                        *old = row;
                    }
                    old.report_count = count;
                }
            }
        }
    }

    /// Writes what waits: new profiles and workload parts first (in key order, so that two
    /// transactions inserting the same ones take their locks in the same order), then the rows.
    pub(crate) fn flush(&mut self, db: &mut dyn Conn) -> Result<()> {
        for (key, rows) in std::mem::take(&mut self.profiles) {
            insert_profile(db, &key, &rows)?;
        }
        let parts: Vec<(String, String)> = std::mem::take(&mut self.parts).into_iter().collect();
        insert_shared(db, "workload_parts", "part", &parts)?;
        let rows: Vec<_> = std::mem::take(&mut self.rows).into_iter().collect();
        for chunk in rows.chunks(ROWS) {
            let mut params = Vec::with_capacity(chunk.len() * PERIOD_COLUMNS.len());
            for ((every, start, cluster), row) in chunk {
                params.extend([
                    Value::Int(*every),
                    Value::Int(*start),
                    Value::from(cluster),
                    Value::Int(row.received_at),
                    Value::from(&row.master_version),
                    Value::Int(row.report_count),
                    Value::from(&row.profile),
                    Value::from(&row.workloads),
                ]);
            }
            db.defer(&upsert(chunk.len()), &params)?;
        }
        Ok(())
    }

    /// The profiles this batch wrote (to learn once it commits).
    pub(crate) fn written(&mut self) -> Vec<[u8; 32]> {
        std::mem::take(&mut self.written)
    }
}

/// A profile's rows into `profile_values` (nothing where they are there already).
fn insert_profile(db: &mut dyn Conn, key: &str, rows: &[(i64, Label, u64)]) -> Result<()> {
    for chunk in rows.chunks(ROWS) {
        let mut params = Vec::with_capacity(chunk.len() * VALUE_COLUMNS.len());
        for (code, label, nodes) in chunk {
            params.extend([
                Value::from(key),
                Value::Int(*code),
                Value::Int(label.kind()),
                Value::from(label.value()),
                Value::Int(i64::try_from(*nodes).unwrap_or(i64::MAX)),
            ]);
        }
        let sql = format!(
            "{} ON CONFLICT (profile, dimension, kind, value) DO NOTHING",
            insert_rows("profile_values", &VALUE_COLUMNS, chunk.len())
        );
        db.defer(&sql, &params)?;
    }
    Ok(())
}

/// `INSERT ... ON CONFLICT DO NOTHING` of (key, text) pairs into a shared table.
fn insert_shared(
    db: &mut dyn Conn,
    table: &str,
    column: &str,
    rows: &[(String, String)],
) -> Result<()> {
    for chunk in rows.chunks(ROWS) {
        let params: Vec<Value> = chunk
            .iter()
            .flat_map(|(key, text)| [Value::from(key), Value::from(text)])
            .collect();
        let sql = format!(
            "{} ON CONFLICT (sha256) DO NOTHING",
            insert_rows(table, &["sha256", column], chunk.len())
        );
        db.defer(&sql, &params)?;
    }
    Ok(())
}

/// The upsert of `rows` period rows: a stored row is replaced only by a report at least as late
/// as its own; the reports of the period add up either way.
fn upsert(rows: usize) -> String {
    let later = |column: &str| {
        format!(
            "{column} = CASE WHEN excluded.received_at >= cluster_periods.received_at \
             THEN excluded.{column} ELSE cluster_periods.{column} END"
        )
    };
    let replaced: Vec<String> = REPLACED.iter().map(|c| later(c)).collect();
    format!(
        "{} ON CONFLICT (every, period_start, cluster_id) DO UPDATE SET {}, \
         report_count = cluster_periods.report_count + excluded.report_count",
        insert_rows("cluster_periods", &PERIOD_COLUMNS, rows),
        replaced.join(", ")
    )
}

/// Rolls up every stored report, as the migration of a store without rollups does (inside its
/// transaction, see [`super::schema::CONVERT_VERSION`]): the reports are read a page at a time,
/// their nodes a page at a time, and the rollups written every [`ROWS`] reports. Returns how
/// many reports.
pub(crate) fn backfill(db: &mut dyn Conn) -> Result<u64> {
    let known = Known::default();
    let mut rollups = Rollups::default();
    let mut cursor = stored::Cursor::new(i64::MIN);
    let mut reports = 0;
    while let Some(report) = cursor.next(db)? {
        let mut profile = Profile::of(&report.report);
        stored::nodes(db, &report, &mut |node| {
            profile.add(&node);
            Ok(())
        })?;
        rollups.add(&report.report, report.received_at, &profile, &known);
        reports += 1;
        if reports % ROWS as u64 == 0 {
            rollups.flush(db)?;
            db.sync()?;
        }
    }
    rollups.flush(db)?;
    db.sync()?;
    Ok(reports)
}

/// JSON profiles read at once, at most (in bytes; at least one, however long).
const CONVERT_BYTES: i64 = 4 << 20;

/// Moves the JSON profiles of schema versions 3 to 5 into `profile_values` under their own
/// keys, as this version keeps profiles ([`Profile::from_stored_json`]), inside the migration's
/// transaction. They are read in key order, a few megabytes at a time (a profile of a report of
/// 100,000 distinct values is megabytes). Returns how many.
pub(crate) fn convert(db: &mut dyn Conn) -> Result<u64> {
    let mut after = String::new();
    let mut converted = 0;
    loop {
        let sizes = db.query(
            "SELECT sha256, LENGTH(profile) FROM profiles WHERE sha256 > $1
             ORDER BY sha256 LIMIT 256",
            &[Value::from(after.as_str())],
        )?;
        if sizes.is_empty() {
            return Ok(converted);
        }
        let mut budget = CONVERT_BYTES;
        let mut last = after.clone();
        for row in sizes {
            let mut cells = row.into_iter();
            let key = cells.next().unwrap_or(Cell::Null).string()?;
            budget -= cells.next().unwrap_or(Cell::Null).int()?;
            if budget < 0 && last != after {
                break;
            }
            last = key;
        }
        let page = db.query(
            "SELECT sha256, profile FROM profiles WHERE sha256 > $1 AND sha256 <= $2
             ORDER BY sha256",
            &[Value::from(after.as_str()), Value::from(last.as_str())],
        )?;
        for row in page {
            let mut cells = row.into_iter();
            let key = cells.next().unwrap_or(Cell::Null).string()?;
            let text = cells.next().unwrap_or(Cell::Null).string()?;
            let profile = Profile::from_stored_json(&text).ok_or_else(|| {
                anyhow!("the store holds a profile this binary cannot read ({key})")
            })?;
            insert_profile(db, &key, &profile.rows())?;
            converted += 1;
        }
        db.sync()?;
        after = last;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::testing;

    const DAY: i64 = 86_400;

    fn profile_of(report: &Report) -> Profile {
        let mut p = Profile::of(report);
        for n in &report.nodes {
            p.add(n);
        }
        p
    }

    #[test]
    fn a_batch_keeps_each_clusters_latest_report_per_period_and_counts_all() {
        // 2026-12-02, a Wednesday.
        let wednesday = crate::time::days_from_civil(2026, 12, 2) * DAY;
        let mut r = Rollups::default();
        let known = Known::default();
        let late = testing::report("a", 0, 2);
        let mut early = testing::report("a", 0, 1);
        early.master_version = Some("v1.32.0".into());
        r.add(&late, wednesday + 50, &profile_of(&late), &known);
        r.add(&early, wednesday + 10, &profile_of(&early), &known);
        // The next day: a new day row, the same week and month.
        r.add(&early, wednesday + DAY, &profile_of(&early), &known);
        assert_eq!(r.rows.len(), 3 + 1, "{:?}", r.rows.keys());
        let day = r.rows[&(1, wednesday, "a".to_string())].clone();
        assert_eq!(
            (
                day.received_at,
                day.report_count,
                day.master_version.as_deref()
            ),
            (wednesday + 50, 2, Some("v1.33.2")),
            "the later report, both counted"
        );
        let week_start = Every::Week.start(wednesday);
        let week = &r.rows[&(7, week_start, "a".to_string())];
        assert_eq!((week.received_at, week.report_count), (wednesday + DAY, 3));
        assert_eq!(week.profile, profile_of(&early).key());
        assert_eq!(r.profiles.len(), 2, "two distinct profiles, each once");
        assert_eq!(r.written().len(), 2);
        assert!(day.workloads.is_none());

        // Known profiles are not inserted again; a workload part goes to the day row only.
        let mut known = Known::default();
        known.learn(&[profile_of(&late).hash()]);
        let mut with = testing::report("b", 0, 2);
        with.workloads = Some(testing::workloads());
        let mut r = Rollups::default();
        r.add(&with, wednesday, &profile_of(&with), &known);
        assert!(r.profiles.is_empty(), "same profile as `late`: known");
        assert_eq!(r.parts.len(), 1);
        let key = r.parts.keys().next().unwrap().clone();
        assert_eq!(
            r.rows[&(1, wednesday, "b".to_string())].workloads,
            Some(key.clone())
        );
        assert_eq!(
            r.rows[&(30, Every::Month.start(wednesday), "b".to_string())].workloads,
            None
        );
        let encoded = r.parts[&key].clone();
        assert_ne!(key, part_key("c", &encoded), "salted by the cluster");
    }

    #[test]
    fn the_upsert_replaces_only_with_a_later_report() {
        let sql = upsert(2);
        assert!(
            sql.starts_with("INSERT INTO cluster_periods (every, period_start"),
            "{sql}"
        );
        assert!(
            sql.contains("($9, $10, $11, $12, $13, $14, $15, $16)"),
            "{sql}"
        );
        for column in REPLACED {
            assert!(
                sql.contains(&format!(
                    "{column} = CASE WHEN excluded.received_at >= cluster_periods.received_at THEN excluded.{column} ELSE cluster_periods.{column} END"
                )),
                "{sql}"
            );
        }
        assert!(
            sql.ends_with("report_count = cluster_periods.report_count + excluded.report_count")
        );
        let mut k = Known::default();
        k.learn(&[[1; 32], [2; 32]]);
        assert!(k.contains(&[1; 32]) && !k.contains(&[3; 32]));
        assert_eq!(k.len(), 2);
    }
}
