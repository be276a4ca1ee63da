//! The read side: the queries `spartakus summary` runs, once for both databases. "Latest" is
//! each cluster's last stored report since `since`, optionally for one cluster only.
//!
//! The two dialects run every query here unchanged; a difference found later goes into one
//! function of this module, branching on [`Conn::dialect`], so the summary never sees it.

use super::sql::{Conn, Value};
use anyhow::{Result, bail};

const LATEST: &str = "WITH latest AS (
        SELECT MAX(id) AS id FROM reports
        WHERE received_at >= $1 AND ($2 = '' OR cluster_id = $2)
        GROUP BY cluster_id
    )";

/// A cluster's latest report, as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRow {
    pub cluster_id: String,
    pub master_version: Option<String>,
    pub node_count: i64,
    /// Unix seconds.
    pub received_at: i64,
}

/// Node columns the summary groups by.
pub const NODE_COLUMNS: &[&str] = &[
    "operating_system",
    "os_image",
    "architecture",
    "container_runtime_version",
    "kubelet_version",
    "cloud_provider",
    "kernel_version",
];

/// The node count buckets, in order.
pub const NODE_BUCKETS: &[&str] = &["0", "1", "2-5", "6-20", "21-100", "101-1000", ">1000"];

/// Whether any report of `cluster` is stored.
pub fn has_cluster(db: &mut dyn Conn, cluster: &str) -> Result<bool> {
    let found = db.query_opt(
        "SELECT 1 FROM reports WHERE cluster_id = $1 LIMIT 1",
        &[Value::from(cluster)],
    )?;
    Ok(found.is_some())
}

fn window<'a>(since: i64, cluster: &'a str) -> [Value<'a>; 2] {
    [Value::Int(since), Value::from(cluster)]
}

/// (clusters, nodes in their latest reports, reports received in the window).
pub fn totals(db: &mut dyn Conn, since: i64, cluster: &str) -> Result<(i64, i64, i64)> {
    let sql = format!(
        "{LATEST} SELECT COUNT(*), COALESCE(SUM(r.node_count), 0)
            FROM reports r JOIN latest l ON r.id = l.id"
    );
    let row = db
        .query_opt(&sql, &window(since, cluster))?
        .unwrap_or_default();
    let (clusters, nodes) = match &row[..] {
        [c, n] => (c.int()?, n.int()?),
        _ => bail!("the store returned {} columns, not 2", row.len()),
    };
    let reports = db.query_int(
        "SELECT COUNT(*) FROM reports WHERE received_at >= $1 AND ($2 = '' OR cluster_id = $2)",
        &window(since, cluster),
    )?;
    Ok((clusters, nodes, reports))
}

/// Latest reports, newest first, at most `limit`.
pub fn latest_reports(
    db: &mut dyn Conn,
    since: i64,
    cluster: &str,
    limit: i64,
) -> Result<Vec<LatestRow>> {
    let sql = format!(
        "{LATEST} SELECT r.cluster_id, r.master_version, r.node_count, r.received_at
            FROM reports r JOIN latest l ON r.id = l.id
            ORDER BY r.received_at DESC, r.id DESC
            LIMIT $3"
    );
    let [a, b] = window(since, cluster);
    db.query(&sql, &[a, b, Value::Int(limit)])?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(super::sql::Cell::Null);
            Ok(LatestRow {
                cluster_id: next().string()?,
                master_version: next().text()?,
                node_count: next().int()?,
                received_at: next().int()?,
            })
        })
        .collect()
}

/// Master versions of the latest reports: (version, clusters).
pub fn master_versions(
    db: &mut dyn Conn,
    since: i64,
    cluster: &str,
) -> Result<Vec<(Option<String>, i64)>> {
    let sql = format!(
        "{LATEST} SELECT r.master_version, COUNT(*)
            FROM reports r JOIN latest l ON r.id = l.id
            GROUP BY r.master_version"
    );
    pairs(db, &sql, since, cluster, |c| c.text())
}

/// Nodes of the latest reports grouped by one node column and cluster:
/// (value, cluster ID, nodes). `column` is one of [`NODE_COLUMNS`].
pub fn node_values(
    db: &mut dyn Conn,
    since: i64,
    cluster: &str,
    column: &str,
) -> Result<Vec<(Option<String>, String, i64)>> {
    if !NODE_COLUMNS.contains(&column) {
        bail!("no node column {column}");
    }
    let sql = format!(
        "{LATEST} SELECT n.{column}, r.cluster_id, COUNT(*)
            FROM nodes n
            JOIN latest l ON n.report_id = l.id
            JOIN reports r ON r.id = n.report_id
            GROUP BY n.{column}, r.cluster_id"
    );
    db.query(&sql, &window(since, cluster))?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(super::sql::Cell::Null);
            Ok((next().text()?, next().string()?, next().int()?))
        })
        .collect()
}

/// Latest reports by node count bucket: (bucket, clusters); buckets are [`NODE_BUCKETS`].
pub fn node_count_buckets(
    db: &mut dyn Conn,
    since: i64,
    cluster: &str,
) -> Result<Vec<(String, i64)>> {
    let sql = format!(
        "{LATEST} SELECT CASE
                WHEN r.node_count = 0 THEN '0'
                WHEN r.node_count = 1 THEN '1'
                WHEN r.node_count <= 5 THEN '2-5'
                WHEN r.node_count <= 20 THEN '6-20'
                WHEN r.node_count <= 100 THEN '21-100'
                WHEN r.node_count <= 1000 THEN '101-1000'
                ELSE '>1000'
            END AS bucket, COUNT(*)
            FROM reports r JOIN latest l ON r.id = l.id
            GROUP BY bucket"
    );
    pairs(db, &sql, since, cluster, |c| c.string())
}

/// Rows of (a value, a count).
fn pairs<T>(
    db: &mut dyn Conn,
    sql: &str,
    since: i64,
    cluster: &str,
    first: impl Fn(super::sql::Cell) -> Result<T>,
) -> Result<Vec<(T, i64)>> {
    db.query(sql, &window(since, cluster))?
        .into_iter()
        .map(|row| {
            let mut cells = row.into_iter();
            let value = first(cells.next().unwrap_or(super::sql::Cell::Null))?;
            let count = cells.next().unwrap_or(super::sql::Cell::Null).int()?;
            Ok((value, count))
        })
        .collect()
}
