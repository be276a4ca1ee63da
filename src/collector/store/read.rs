//! The read side: what summaries, trends, the dashboard and the fleet gauges read, from the
//! rollups ([`super::rollup`]), never by scanning reports, once for both databases.
//!
//! The database adds the numbers up and hands over only what is shown, so a reader's memory does
//! not grow with the number of distinct values, clusters or nodes (however many a report or a
//! fleet has): for each period, each cluster once, by the profile of its latest report (see
//! [`TALLY`]), per dimension the values that **led** (were among the `top` of a period), at
//! most `most` of them, each with its clusters and nodes in every period, and the rest as one
//! `other` whose clusters count each cluster once. The version skew and the accelerators, short
//! lists fixed by the code, are shown whole. [`each_count`] hands over every value instead, one
//! row at a time, for the CSV.
//!
//! - [`trend`]: a period's numbers for each period of a trend (rows of every cluster's latest
//!   report in the period).
//! - [`current`], [`last_day`], [`window`]: the fleet now, each cluster by its latest report in
//!   the last days (from the day rows); the window also the latest reports and the workload
//!   statistics, streamed.
//!
//! Windows of days are whole UTC days: "the last 30 days" are today and the 29 days before.
//! The two dialects run every query here unchanged but for [`Dialect::fill`]'s placeholders.

use super::schema::Dialect;
use super::sql::{Cell, Conn, Row, Value};
use crate::collector::fleet::trends::{Every, Period, Trend};
use crate::collector::fleet::workstats::{Parts, WorkloadSummary};
use crate::collector::fleet::{CLUSTER_SKEW, Dimension, Entry, Label, SIZE_BUCKETS};
use anyhow::{Result, anyhow};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Values shown per dimension in a trend, at most, whatever `top` (unless `top` is more): the
/// columns of a table, the series of a chart.
pub const MOST_LED: usize = 20;

/// The first day (Unix seconds, UTC midnight) of the last `days` days at `now`: today and the
/// `days - 1` days before it.
pub(crate) fn window_start(now: i64, days: u32) -> i64 {
    Every::Day.start(now) - (i64::from(days.max(1)) - 1) * 86_400
}

/// Whose rows a question counts: parameters `$1` to `$3`, and a CTE `c (p, profile, n)`: per
/// period `p`, each profile and the number `n` of clusters whose row has it.
#[derive(Debug, Clone, Copy)]
enum Rows<'a> {
    /// Every cluster's row of each period of `every` from the one holding `since` to `until`.
    Periods {
        every: Every,
        since: i64,
        until: i64,
        cluster: Option<&'a str>,
    },
    /// Each cluster's latest day row from the day `since_day`, if received at
    /// `received_since` or later (period `p` is 0).
    Latest {
        since_day: i64,
        cluster: Option<&'a str>,
        received_since: i64,
    },
}

/// Each cluster's latest day row in the window (and its period start).
const LATEST: &str = "latest AS (
        SELECT cluster_id, MAX(period_start) AS day FROM cluster_periods
        WHERE every = 1 AND period_start >= $1 AND ($2 = '' OR cluster_id = $2)
        GROUP BY cluster_id
    )";

/// The day rows of [`LATEST`], as `c`, found by their primary key. (`CROSS JOIN` keeps SQLite's
/// planner from reading every day row to join them to the latest; PostgreSQL plans it as a join.)
const OF_LATEST: &str = "FROM latest l CROSS JOIN cluster_periods c
    WHERE c.every = 1 AND c.period_start = l.day AND c.cluster_id = l.cluster_id";

/// Per period of `every` from `$1` to `$2` (of the cluster `$3`, or all with `''`), each
/// profile and how many clusters had it as their latest report's. `every` is written in (one of
/// three codes), so that a week trend is counted along the index on week rows as it is read: a
/// planner matches a partial index's condition with the query's own text, not with a
/// parameter's value.
pub(crate) fn periods_sql(every: Every) -> String {
    format!(
        "SELECT period_start AS p, profile, COUNT(*) AS n FROM cluster_periods
         WHERE every = {} AND period_start >= $1 AND period_start <= $2
           AND ($3 = '' OR cluster_id = $3)
         GROUP BY period_start, profile",
        every.code()
    )
}

impl Rows<'_> {
    /// `WITH` and the CTEs `c` needs, ending with `c`'s (and a comma, for more to follow).
    fn with(&self) -> String {
        match self {
            Rows::Periods { every, .. } => format!("WITH c AS ({}),", periods_sql(*every)),
            Rows::Latest { .. } => format!(
                "WITH {LATEST}, c AS (
                    SELECT 0 AS p, c.profile, COUNT(*) AS n {OF_LATEST} AND c.received_at >= $3
                    GROUP BY c.profile
                ),"
            ),
        }
    }

    fn params(&self) -> [Value<'_>; 3] {
        match *self {
            Rows::Periods {
                every,
                since,
                until,
                cluster,
            } => [
                Value::Int(every.start(since)),
                Value::Int(until),
                Value::from(cluster.unwrap_or("")),
            ],
            Rows::Latest {
                since_day,
                cluster,
                received_since,
            } => {
                let [day, cluster] = bounds(since_day, cluster);
                [day, cluster, Value::Int(received_since)]
            }
        }
    }
}

/// After [`Rows::with`]: `j`, every (period, profile) with each of its values (`{dims}`: of some
/// dimensions only, or empty for all).
const JOINED: &str = "
    j AS (
        SELECT c.p, c.n, v.dimension AS d, v.kind AS k, v.value AS val, v.nodes AS vn
        FROM c JOIN profile_values v ON v.profile = c.profile{dims}
    )";

/// After [`JOINED`]: each period's dimensions with the values shown (`$4`: the top of each
/// period that leads, `$5`: at most that many leaders per dimension; dimension codes 6 and up
/// are the fixed lists, all shown), as (period, dimension code, kind, value, clusters, nodes).
/// After [`JOINED`]: `t` the values' counts, `r` their rank in their period, `s` the values
/// shown. Then [`OTHERS`].
const TALLY: &str = "
    t AS (
        SELECT p, d, k, val, SUM(n) AS cl, SUM(n * vn) AS nd FROM j GROUP BY p, d, k, val
    ),
    r AS (
        SELECT d, k, val, cl, nd, ROW_NUMBER() OVER (PARTITION BY p, d ORDER BY
            CASE WHEN d IN (0, 8) THEN cl ELSE nd END DESC, cl DESC, nd DESC, k, val{bytes}) AS rk
        FROM t WHERE k <> 2
    ),
    led AS (
        SELECT d, k, val, ROW_NUMBER() OVER (PARTITION BY d ORDER BY
            MIN(rk), SUM(CASE WHEN d IN (0, 8) THEN cl ELSE nd END) DESC, k, val{bytes}) AS place
        FROM r WHERE rk <= $4 OR d >= 6
        GROUP BY d, k, val
    ),
    s AS (SELECT d, k, val FROM led WHERE place <= $5 OR d >= 6)";

/// After [`TALLY`]: the values shown, and `other` (kind 2), whose clusters count each cluster
/// once. A cluster has one value of a cluster-level dimension (codes 0 and 8), so there the
/// clusters not shown add up; of a node dimension it may have several, so `po` finds each
/// profile's nodes on values not shown, and `o` adds up the clusters of those profiles.
const OTHERS: &str = "
    SELECT t.p, t.d, t.k, t.val, CAST(t.cl AS BIGINT), CAST(t.nd AS BIGINT)
    FROM t JOIN s ON s.d = t.d AND s.k = t.k AND s.val = t.val
    UNION ALL
    SELECT t.p, t.d, 2, '', CAST(SUM(t.cl) AS BIGINT), CAST(SUM(t.nd) AS BIGINT)
    FROM t LEFT JOIN s ON s.d = t.d AND s.k = t.k AND s.val = t.val
    WHERE s.d IS NULL AND t.d IN (0, 8)
    GROUP BY t.p, t.d";

/// [`OTHERS`]' `other` of node dimensions, for a question that counts them.
const NODE_OTHERS: &str = "
    UNION ALL
    SELECT c.p, po.d, 2, '', CAST(SUM(c.n) AS BIGINT), CAST(SUM(c.n * po.vn) AS BIGINT)
    FROM c JOIN (
        SELECT v.profile, v.dimension AS d, SUM(v.nodes) AS vn
        FROM (SELECT DISTINCT profile FROM c) u JOIN profile_values v ON v.profile = u.profile
        LEFT JOIN s ON s.d = v.dimension AND s.k = v.kind AND s.val = v.value
        WHERE s.d IS NULL AND v.dimension NOT IN (0, 8)
        GROUP BY v.profile, v.dimension
    ) po ON po.profile = c.profile
    GROUP BY c.p, po.d";

/// Which dimensions a question counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    All,
    /// Those counted by clusters (the Kubernetes version, and the version skew by each
    /// cluster's worst; its nodes are not counted): what the dashboard draws over time.
    Clusters,
}

impl Scope {
    fn filter(self) -> &'static str {
        match self {
            Scope::All => "",
            Scope::Clusters => " AND v.dimension IN (0, 8)",
        }
    }
}

/// After [`Rows::with`] (its trailing comma dropped), or after [`TALLY`] and `UNION ALL`: each
/// period's clusters and nodes by size bucket, as (period, -1, the index of the bucket in
/// [`SIZE_BUCKETS`], '', clusters, nodes), from each profile's Kubernetes version row, which
/// counts all its nodes.
fn sizes_sql() -> String {
    let mut case = String::from("CASE");
    for (i, (max, _)) in SIZE_BUCKETS.iter().enumerate().take(SIZE_BUCKETS.len() - 1) {
        case.push_str(&format!(" WHEN v.nodes <= {max} THEN {i}"));
    }
    case.push_str(&format!(" ELSE {} END", SIZE_BUCKETS.len() - 1));
    format!(
        " SELECT c.p, -1, {case}, '', CAST(SUM(c.n) AS BIGINT), CAST(SUM(c.n * v.nodes) AS BIGINT)
        FROM c JOIN profile_values v ON v.profile = c.profile AND v.dimension = 0
        GROUP BY c.p, {case}"
    )
}

/// The periods of `rows` (empty ones at the `starts` given), each with its tally of `scope`'s
/// dimensions (`shown`: at most the top so many values per period lead, at most so many leaders
/// per dimension) and its sizes.
fn tally(
    db: &mut dyn Conn,
    rows: Rows,
    starts: &[i64],
    scope: Scope,
    shown: [usize; 2],
) -> Result<Vec<Period>> {
    let [top, most] = shown;
    let dialect = db.dialect();
    let with = rows.with();
    // One statement: each cluster's rows are read once (the window's latest, the costliest).
    let nodes = if scope == Scope::All { NODE_OTHERS } else { "" };
    let sql = format!(
        "{with}{JOINED},{TALLY}{OTHERS}{nodes} UNION ALL{}",
        sizes_sql()
    )
    .replace("{dims}", scope.filter());
    let [a, b, c] = rows.params();
    let limits = [
        Value::Int(i64::try_from(top).unwrap_or(i64::MAX)),
        Value::Int(i64::try_from(most).unwrap_or(i64::MAX)),
    ];
    let params = [a, b, c, limits[0], limits[1]];
    let mut periods: Vec<Period> = starts.iter().map(|s| Period::empty(*s)).collect();
    fn at(periods: &mut [Period], p: i64) -> Option<&mut Period> {
        let i = periods.binary_search_by_key(&p, |x| x.start).ok()?;
        periods.get_mut(i)
    }
    for row in db.query(&dialect.fill(&sql), &params)? {
        if let Some((p, bucket, clusters, nodes)) = size_row(&row)? {
            if let Some(period) = at(&mut periods, p) {
                let label = SIZE_BUCKETS.get(bucket).map_or(">1000", |b| b.1);
                *period.sizes.entry(label).or_default() += clusters;
                period.tally.clusters += clusters;
                period.tally.nodes += nodes;
            }
            continue;
        }
        let (p, dimension, entry) = counted(row)?;
        if let (Some(period), Some(dimension)) = (at(&mut periods, p), dimension) {
            period.tally.add(dimension, entry);
        }
    }
    for period in &mut periods {
        period.tally.sort();
    }
    Ok(periods)
}

/// A row of [`TALLY`]: period, dimension (`None` for a code this binary does not know), entry.
/// The version skew's clusters are those of the cluster's worst ([`CLUSTER_SKEW`]), its nodes
/// each node's own.
fn counted(row: Row) -> Result<(i64, Option<Dimension>, Entry)> {
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(Cell::Null);
    let (p, code, kind) = (next().int()?, next().int()?, next().int()?);
    let label = Label::stored(kind, next().string()?);
    let (clusters, nodes) = (count(next())?, count(next())?);
    let (dimension, entry) = match code {
        CLUSTER_SKEW => (Some(Dimension::VersionSkew), (label, clusters, 0)),
        7 => (Some(Dimension::VersionSkew), (label, 0, nodes)),
        code => (
            usize::try_from(code)
                .ok()
                .and_then(|i| Dimension::ALL.get(i).copied()),
            (label, clusters, nodes),
        ),
    };
    let (label, clusters, nodes) = entry;
    Ok((p, dimension, Entry::new(label, clusters, nodes)))
}

/// A row of [`sizes_sql`] (dimension -1): (period, bucket, clusters, nodes); `None` for another.
fn size_row(row: &Row) -> Result<Option<(i64, usize, u64, u64)>> {
    let int = |i: usize| row.get(i).map_or(Ok(0), Cell::int);
    if int(1)? != -1 {
        return Ok(None);
    }
    let count = |i: usize| int(i).map(|n| u64::try_from(n).unwrap_or(0));
    let bucket = usize::try_from(int(2)?).unwrap_or(0);
    Ok(Some((int(0)?, bucket, count(4)?, count(5)?)))
}

fn count(cell: Cell) -> Result<u64> {
    match cell {
        Cell::Null => Ok(0),
        cell => Ok(u64::try_from(cell.int()?).unwrap_or(0)),
    }
}

/// The trend from `since` to `until` by `every`, of one cluster or of all, of `scope`'s
/// dimensions: every period (empty ones too), at most `top` values of each period leading, at
/// most `top` or [`MOST_LED`] (whichever is more) leaders per dimension.
pub fn trend(
    db: &mut dyn Conn,
    every: Every,
    (since, until): (i64, i64),
    cluster: Option<&str>,
    scope: Scope,
    top: usize,
) -> Result<Trend> {
    let rows = Rows::Periods {
        every,
        since,
        until,
        cluster,
    };
    let starts = every.starts(since, until);
    let periods = tally(db, rows, &starts, scope, [top, top.max(MOST_LED)])?;
    Ok(Trend {
        every,
        until,
        periods,
    })
}

/// The fleet now: each cluster that reported in the last `days` days at `now`, by its latest
/// report (from the day rows), `top` values per dimension.
pub fn current(db: &mut dyn Conn, now: i64, days: u32, top: usize) -> Result<Period> {
    current_of(db, window_start(now, days), None, top)
}

/// [`current`] from the day starting at `since_day`, of one cluster only, or of all.
pub(crate) fn current_of(
    db: &mut dyn Conn,
    since_day: i64,
    cluster: Option<&str>,
    top: usize,
) -> Result<Period> {
    latest(db, since_day, cluster, i64::MIN, top)
}

/// The fleet of the last 24 hours at `now`: each cluster whose latest report was received
/// since then, by that report (the collector's fleet gauges).
pub fn last_day(db: &mut dyn Conn, now: i64, top: usize) -> Result<Period> {
    latest(db, window_start(now, 2), None, now - 86_400, top)
}

fn latest(
    db: &mut dyn Conn,
    since_day: i64,
    cluster: Option<&str>,
    received_since: i64,
    top: usize,
) -> Result<Period> {
    let rows = Rows::Latest {
        since_day,
        cluster,
        received_since,
    };
    let mut periods = tally(db, rows, &[0], Scope::All, [top, top])?;
    let mut period = periods.pop().unwrap_or_default();
    period.start = since_day;
    Ok(period)
}

/// What [`each_count`] hands over: a period's totals, before its values; a value's counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Counted {
    /// (period start, clusters, nodes)
    Total(i64, u64, u64),
    /// (period start, dimension, entry)
    Value(i64, Dimension, Entry),
}

/// Every period of `every` from `since` to `until` (or, with `every` `None`, the fleet from the
/// day `since`) with every value in it and its clusters and nodes, one at a time, in order of
/// period, dimension and label, for the CSV. Only the database holds them all (the totals per
/// period are read first: one row per period).
pub(crate) fn each_count(
    db: &mut dyn Conn,
    every: Option<Every>,
    since: i64,
    until: i64,
    cluster: Option<&str>,
    f: &mut dyn FnMut(Counted) -> Result<()>,
) -> Result<()> {
    let (rows, starts) = match every {
        Some(every) => (
            Rows::Periods {
                every,
                since,
                until,
                cluster,
            },
            every.starts(since, until),
        ),
        None => (
            Rows::Latest {
                since_day: since,
                cluster,
                received_since: i64::MIN,
            },
            vec![0],
        ),
    };
    let shown = |p: i64| if every.is_some() { p } else { since };
    let sizes = format!("{}{}", rows.with().trim_end_matches(','), sizes_sql());
    let mut totals: Vec<(i64, u64, u64)> = starts.iter().map(|s| (*s, 0, 0)).collect();
    for row in db.query(&sizes, &rows.params())? {
        if let Some((p, _, clusters, nodes)) = size_row(&row)?
            && let Ok(i) = totals.binary_search_by_key(&p, |t| t.0)
        {
            totals[i].1 += clusters;
            totals[i].2 += nodes;
        }
    }
    let mut totals = totals.into_iter().peekable();
    let sql = format!(
        "{}{JOINED}
        SELECT p, d, k, val, CAST(SUM(n) AS BIGINT), CAST(SUM(n * vn) AS BIGINT) FROM j
        GROUP BY p, d, k, val ORDER BY p, CASE WHEN d = 8 THEN 7 ELSE d END, k, val{{bytes}}, d",
        rows.with()
    );
    let sql = db.dialect().fill(&sql.replace("{dims}", ""));
    // The version skew's two rows of a label (nodes, then clusters) come one after the other.
    let mut held: Option<(i64, Dimension, Entry)> = None;
    db.query_each(&sql, &rows.params(), &mut |row| {
        let (p, dimension, entry) = counted(row)?;
        let Some(dimension) = dimension else {
            return Ok(());
        };
        if let Some((hp, hd, mut he)) = held.take() {
            if (hp, hd, &he.label) == (p, dimension, &entry.label) {
                he.clusters += entry.clusters;
                he.nodes += entry.nodes;
                held = Some((hp, hd, he));
                return Ok(());
            }
            f(Counted::Value(shown(hp), hd, he))?;
        }
        while let Some(total) = totals.next_if(|t| t.0 <= p) {
            f(Counted::Total(shown(total.0), total.1, total.2))?;
        }
        held = Some((p, dimension, entry));
        Ok(())
    })?;
    if let Some((hp, hd, he)) = held {
        f(Counted::Value(shown(hp), hd, he))?;
    }
    for total in totals {
        f(Counted::Total(shown(total.0), total.1, total.2))?;
    }
    Ok(())
}

/// The parameters of a window: its first day (`$1`) and its cluster (`$2`, `''` for all).
fn bounds(since_day: i64, cluster: Option<&str>) -> [Value<'_>; 2] {
    [Value::Int(since_day), Value::from(cluster.unwrap_or(""))]
}

/// A cluster's latest report in a window.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
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

/// What the summary shows of a window: the fleet, the latest reports (newest first, `top` of
/// them), and the workload statistics of the clusters' latest reports.
#[derive(Debug, Clone)]
pub struct Window {
    pub period: Period,
    pub latest: Vec<Latest>,
    pub workloads: WorkloadSummary,
}

/// The clusters' latest reports in the window from `since_day`: `top` values per dimension,
/// the `top` latest reports, and the workload statistics. The latest reports and the workload
/// parts are read in one pass, a row at a time: the `top` latest kept, each part counted.
pub fn window(
    db: &mut dyn Conn,
    since_day: i64,
    cluster: Option<&str>,
    top: usize,
) -> Result<Window> {
    let period = current_of(db, since_day, cluster, top)?;
    let sql = format!(
        "WITH {LATEST} SELECT c.cluster_id, c.received_at, c.master_version, v.nodes, w.part
         FROM latest l CROSS JOIN cluster_periods c CROSS JOIN profile_values v
         LEFT JOIN workload_parts w ON w.sha256 = c.workloads
         WHERE c.every = 1 AND c.period_start = l.day AND c.cluster_id = l.cluster_id
           AND v.profile = c.profile AND v.dimension = 0"
    );
    let params = bounds(since_day, cluster);
    // The `top` greatest (received time, cluster ID the other way): the newest, and of two
    // received at once the one whose ID comes first, as the summary lists them.
    type Key = (i64, Reverse<String>, Latest);
    let mut newest: BinaryHeap<Reverse<Key>> = BinaryHeap::with_capacity(top.min(1 << 16) + 1);
    let mut parts = Parts::default();
    db.query_each(&sql, &params, &mut |row| {
        let mut cells = row.into_iter();
        let mut next = || cells.next().unwrap_or(Cell::Null);
        let latest = Latest {
            cluster_id: next().string()?,
            received_at: next().int()?,
            master_version: next().text()?,
            nodes: count(next())?,
        };
        if let Some(text) = next().text()? {
            let part = serde_json::from_str(&text).map_err(|e| {
                anyhow!("the store holds a workload part this binary cannot read: {e}")
            })?;
            parts.add(&part);
        }
        let key = (
            latest.received_at,
            Reverse(latest.cluster_id.clone()),
            latest,
        );
        newest.push(Reverse(key));
        if newest.len() > top {
            newest.pop();
        }
        Ok(())
    })?;
    let mut latest: Vec<Latest> = newest.into_iter().map(|r| r.0.2).collect();
    latest.sort_by(|a, b| (b.received_at, &a.cluster_id).cmp(&(a.received_at, &b.cluster_id)));
    let workloads = parts.summary(period.tally.clusters);
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

    #[test]
    fn size_buckets_in_sql() {
        let sql = sizes_sql();
        assert!(
            sql.contains("WHEN v.nodes <= 0 THEN 0 WHEN v.nodes <= 1 THEN 1"),
            "{sql}"
        );
        assert!(
            sql.contains("WHEN v.nodes <= 1000 THEN 5 ELSE 6 END"),
            "{sql}"
        );
    }
}
