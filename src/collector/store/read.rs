//! The read side: what summaries, trends and the dashboard read, from the rollups
//! ([`super::rollup`]), never by scanning reports, once for both databases.
//!
//! - [`periods`]: for a trend, per period, each profile and how many clusters had it as their
//!   latest report's (grouped in SQL; each distinct profile decoded once, and shared by the rows
//!   that have it: a profile is a few dozen allocations, a copy of it per row would cost more
//!   than the query).
//! - [`current`]: the fleet now, each cluster by its latest report in the last days, from the
//!   day rows; [`window`] and [`reports`]: what the summary shows of them.
//!
//! Windows of days are whole UTC days: "the last 30 days" are today and the 29 days before.
//! The two dialects run every query here unchanged; a difference found later goes into one
//! function of this module, branching on [`Conn::dialect`].

use super::schema::Dialect;
use super::sql::{Cell, Conn, Row, Value};
use crate::collector::fleet::Profile;
use crate::collector::fleet::trends::{Every, Period, Trend};
use crate::contract::Workloads;
use anyhow::{Result, anyhow};
use std::collections::HashMap;
use std::sync::Arc;

/// Profiles looked up per query.
const LOOKUP: usize = 500;

/// The first day (Unix seconds, UTC midnight) of the last `days` days at `now`: today and the
/// `days - 1` days before it.
pub(crate) fn window_start(now: i64, days: u32) -> i64 {
    Every::Day.start(now) - (i64::from(days.max(1)) - 1) * 86_400
}

/// A trend's rows: for each period of `every` from the one holding `since` to the one holding
/// `until` (Unix seconds), each profile that was some cluster's latest in the period, and how
/// many clusters it was. Periods without reports have no rows.
pub fn periods(
    db: &mut dyn Conn,
    every: Every,
    since: i64,
    until: i64,
) -> Result<Vec<(i64, Arc<Profile>, u64)>> {
    periods_of(db, every, since, until, None)
}

/// The trend from `since` to `until` by `every`, of one cluster or of all: [`periods_of`],
/// counted into every period (empty ones too).
pub fn trend(
    db: &mut dyn Conn,
    every: Every,
    since: i64,
    until: i64,
    cluster: Option<&str>,
) -> Result<Trend> {
    let rows = periods_of(db, every, since, until, cluster)?;
    let rows = rows.iter().map(|(start, p, n)| (*start, &**p, *n));
    Ok(Trend::build(every, since, until, rows))
}

/// [`periods_of`]'s statement. `every` is written into it (one of three codes), so that a week
/// trend is counted along the index on week rows as it is read: a planner matches a partial
/// index's condition with the query's own text, not with a parameter's value.
pub(crate) fn periods_sql(every: Every) -> String {
    format!(
        "SELECT period_start, profile, COUNT(*) FROM cluster_periods
         WHERE every = {} AND period_start >= $1 AND period_start <= $2
           AND ($3 = '' OR cluster_id = $3)
         GROUP BY period_start, profile",
        every.code()
    )
}

/// [`periods`] of one cluster only, or of all.
pub(crate) fn periods_of(
    db: &mut dyn Conn,
    every: Every,
    since: i64,
    until: i64,
    cluster: Option<&str>,
) -> Result<Vec<(i64, Arc<Profile>, u64)>> {
    let rows = db.query(
        &periods_sql(every),
        &[
            Value::Int(every.start(since)),
            Value::Int(until),
            Value::from(cluster.unwrap_or("")),
        ],
    )?;
    let rows: Vec<(i64, String, u64)> = rows
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            Ok((next().int()?, next().string()?, count(next())?))
        })
        .collect::<Result<_>>()?;
    let profiles = profiles(db, rows.iter().map(|(_, key, _)| key.as_str()))?;
    rows.into_iter()
        .map(|(start, key, clusters)| Ok((start, found(&profiles, &key)?.clone(), clusters)))
        .collect()
}

/// The fleet now: each cluster that reported in the last `days` days at `now`, by its latest
/// report (from the day rows).
pub fn current(db: &mut dyn Conn, now: i64, days: u32) -> Result<Period> {
    current_of(db, window_start(now, days), None)
}

/// [`current`] from the day starting at `since_day`, of one cluster only, or of all.
pub(crate) fn current_of(
    db: &mut dyn Conn,
    since_day: i64,
    cluster: Option<&str>,
) -> Result<Period> {
    fleet(db, since_day, cluster, i64::MIN)
}

/// The fleet of the last 24 hours at `now`: each cluster whose latest report was received
/// since then, by that report (the collector's fleet gauges).
pub fn last_day(db: &mut dyn Conn, now: i64) -> Result<Period> {
    fleet(db, window_start(now, 2), None, now - 86_400)
}

/// Each cluster by its latest day row from `since_day`, if that report was received at
/// `received_since` or later.
fn fleet(
    db: &mut dyn Conn,
    since_day: i64,
    cluster: Option<&str>,
    received_since: i64,
) -> Result<Period> {
    let sql = format!(
        "{LATEST} SELECT c.profile, COUNT(*) {OF_LATEST} AND c.received_at >= $3
         GROUP BY c.profile"
    );
    let [a, b] = bounds(since_day, cluster);
    let rows: Vec<(String, u64)> = db
        .query(&sql, &[a, b, Value::Int(received_since)])?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            Ok((next().string()?, count(next())?))
        })
        .collect::<Result<_>>()?;
    let profiles = profiles(db, rows.iter().map(|(key, _)| key.as_str()))?;
    let mut period = Period {
        start: since_day,
        ..Period::default()
    };
    for (key, clusters) in &rows {
        period.add(found(&profiles, key)?, *clusters);
    }
    Ok(period)
}

/// Each cluster's latest day row in the window (and its period start).
const LATEST: &str = "WITH latest AS (
        SELECT cluster_id, MAX(period_start) AS day FROM cluster_periods
        WHERE every = 1 AND period_start >= $1 AND ($2 = '' OR cluster_id = $2)
        GROUP BY cluster_id
    )";

/// The day rows of [`LATEST`], as `c`, found by their primary key. (`CROSS JOIN` keeps SQLite's
/// planner from reading every day row to join them to the latest; PostgreSQL plans it as a join.)
const OF_LATEST: &str = "FROM latest l CROSS JOIN cluster_periods c
    WHERE c.every = 1 AND c.period_start = l.day AND c.cluster_id = l.cluster_id";

fn bounds(since_day: i64, cluster: Option<&str>) -> [Value<'_>; 2] {
    [Value::Int(since_day), Value::from(cluster.unwrap_or(""))]
}

/// A cluster's latest report in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latest {
    pub cluster_id: String,
    /// Unix seconds.
    pub received_at: i64,
    pub master_version: Option<String>,
    pub nodes: u64,
}

/// Whether any report of `cluster` is stored.
pub(crate) fn has_cluster(db: &mut dyn Conn, cluster: &str) -> Result<bool> {
    let found = db.query_opt(
        "SELECT 1 FROM reports WHERE cluster_id = $1 LIMIT 1",
        &[Value::from(cluster)],
    )?;
    Ok(found.is_some())
}

/// What the summary shows of a window: the fleet, each cluster's latest report (newest first),
/// and the workload parts of those that had one.
#[derive(Debug, Clone)]
pub struct Window {
    pub period: Period,
    pub latest: Vec<Latest>,
    pub workloads: Vec<Workloads>,
}

/// The clusters' latest reports in the window from `since_day` (one query for all three parts
/// of a [`Window`], and the profiles and workload parts they name).
pub fn window(db: &mut dyn Conn, since_day: i64, cluster: Option<&str>) -> Result<Window> {
    let sql = format!(
        "{LATEST} SELECT c.cluster_id, c.received_at, c.master_version, c.profile, c.workloads
         {OF_LATEST}"
    );
    let rows: Vec<(Latest, String, Option<String>)> = db
        .query(&sql, &bounds(since_day, cluster))?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            let latest = Latest {
                cluster_id: next().string()?,
                received_at: next().int()?,
                master_version: next().text()?,
                nodes: 0,
            };
            Ok((latest, next().string()?, next().text()?))
        })
        .collect::<Result<_>>()?;
    let profiles = profiles(db, rows.iter().map(|(_, key, _)| key.as_str()))?;
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for (_, key, _) in &rows {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    let mut period = Period {
        start: since_day,
        ..Period::default()
    };
    for (key, clusters) in counts {
        period.add(found(&profiles, key)?, clusters);
    }
    let workloads = parts(db, rows.iter().filter_map(|(_, _, part)| part.as_deref()))?;
    let mut latest = rows
        .iter()
        .map(|(latest, key, _)| {
            let nodes = found(&profiles, key)?.nodes;
            Ok(Latest {
                nodes,
                ..latest.clone()
            })
        })
        .collect::<Result<Vec<_>>>()?;
    latest.sort_by(|a, b| (b.received_at, &a.cluster_id).cmp(&(a.received_at, &b.cluster_id)));
    Ok(Window {
        period,
        latest,
        workloads,
    })
}

/// How many reports were received in the window from `since_day` (all, not only the latest).
pub fn reports(db: &mut dyn Conn, since_day: i64, cluster: Option<&str>) -> Result<u64> {
    let n = db.query_int(
        "SELECT COALESCE(SUM(report_count), 0) FROM cluster_periods
         WHERE every = 1 AND period_start >= $1 AND ($2 = '' OR cluster_id = $2)",
        &bounds(since_day, cluster),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The workload parts of `keys`, a few hundred per query. A part deleted under a reader (its
/// cluster forgotten meanwhile) is left out.
fn parts<'a>(db: &mut dyn Conn, keys: impl Iterator<Item = &'a str>) -> Result<Vec<Workloads>> {
    let keys: Vec<&str> = keys.collect();
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(LOOKUP) {
        let sql = format!(
            "SELECT part FROM workload_parts WHERE sha256 IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::from(*k)).collect();
        for row in db.query(&sql, &params)? {
            let text = row.into_iter().next().unwrap_or(Cell::Null).string()?;
            let part = serde_json::from_str(&text).map_err(|e| {
                anyhow!("the store holds a workload part this binary cannot read: {e}")
            })?;
            out.push(part);
        }
    }
    Ok(out)
}

/// `$1, $2, ...` for `n` parameters.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The profiles of `keys` (each decoded once), a few hundred per query.
fn profiles<'a>(
    db: &mut dyn Conn,
    keys: impl Iterator<Item = &'a str>,
) -> Result<HashMap<String, Arc<Profile>>> {
    let mut wanted: Vec<&str> = keys.collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = HashMap::with_capacity(wanted.len());
    for chunk in wanted.chunks(LOOKUP) {
        let sql = format!(
            "SELECT sha256, profile FROM profiles WHERE sha256 IN ({})",
            placeholders(chunk.len())
        );
        let params: Vec<Value> = chunk.iter().map(|k| Value::from(*k)).collect();
        for row in db.query(&sql, &params)? {
            let (key, profile) = decoded(row)?;
            out.insert(key, Arc::new(profile));
        }
    }
    Ok(out)
}

fn decoded(row: Row) -> Result<(String, Profile)> {
    let mut cells = row.into_iter();
    let key = cells.next().unwrap_or(Cell::Null).string()?;
    let text = cells.next().unwrap_or(Cell::Null).string()?;
    let profile = Profile::decode(&text)
        .ok_or_else(|| anyhow!("the store holds a profile this binary cannot read ({key})"))?;
    Ok((key, profile))
}

fn found<'a>(profiles: &'a HashMap<String, Arc<Profile>>, key: &str) -> Result<&'a Arc<Profile>> {
    profiles
        .get(key)
        .ok_or_else(|| anyhow!("the store has no profile {key}, which a rollup names"))
}

fn count(cell: Cell) -> Result<u64> {
    Ok(u64::try_from(cell.int()?).unwrap_or(0))
}

/// Begin a read-only transaction that sees one state of the store however long it lasts (an
/// export of many pages); end it with `COMMIT`.
pub fn snapshot(db: &mut dyn Conn) -> Result<()> {
    match db.dialect() {
        Dialect::Sqlite => db.batch("BEGIN"),
        Dialect::Postgres => db.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_days() {
        let day = 86_400;
        let now = 100 * day + 3600;
        assert_eq!(window_start(now, 1), 100 * day, "today");
        assert_eq!(window_start(now, 30), 71 * day);
        assert_eq!(window_start(now, 0), 100 * day, "at least today");
    }
}
