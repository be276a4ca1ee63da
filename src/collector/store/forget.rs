//! Forgetting a cluster (`DELETE /api/v1/clusters/{id}`): every stored report of it with all
//! their rows, its rollups and their workload parts, and its rate limit entry, in one
//! transaction. Profiles stay: they are shared by every cluster with the same one and hold no
//! ID. The same statements run whether or not the store holds anything of the cluster.
//!
//! Deletion requests are limited per cluster ID ([`PER_HOUR`], all collectors on a store
//! together), in the `rate_limits` table under a key derived from the ID by a hash (so the
//! cluster's own entry goes, and what stays for that hour does not name it).
//! Written once for both databases.

use super::sql::{Conn, Value};
use super::write::Writable;
use crate::collector::fleet::trends::Every;
use crate::collector::guard::limit::Gcra;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

/// Deletion requests per cluster ID per hour.
pub(crate) const PER_HOUR: u32 = 6;

/// Period starts per statement.
const STARTS: usize = 256;

/// What became of a deletion request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forgot {
    /// Nothing of the cluster is stored now (whether or not anything was).
    Done,
    /// Too many requests for this cluster ID: retry after this many seconds; nothing deleted.
    RateLimited(u64),
}

/// The `rate_limits` key of deletion requests for `cluster`.
pub fn limit_key(cluster: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"spartakus forget\0")
        .chain_update(cluster.as_bytes())
        .finalize();
    format!("forget:{}", hex::encode(digest))
}

/// Forget `cluster` at `now_ms` (Unix milliseconds, the rate limit's clock), in a transaction
/// of its own.
pub(crate) fn forget(db: &mut dyn Writable, cluster: &str, now_ms: u64) -> Result<Forgot> {
    db.begin(&[cluster])?;
    let done = forget_in(db, cluster, now_ms).and_then(|forgot| {
        db.sync()?;
        Ok(forgot)
    });
    let end = match done {
        Ok(Forgot::Done) => db.batch("COMMIT").context("committing"),
        _ => db.batch("ROLLBACK"),
    };
    if end.is_err() {
        let _ = db.batch("ROLLBACK");
    }
    let forgot = done?;
    end.map(|()| forgot)
}

fn forget_in(db: &mut dyn Conn, cluster: &str, now_ms: u64) -> Result<Forgot> {
    let key = limit_key(cluster);
    let gcra = Gcra::new(PER_HOUR).context("a rate limit of 0")?;
    let tat = db
        .query_opt(
            "SELECT tat_ms FROM rate_limits WHERE cluster_id = $1",
            &[Value::from(key.as_str())],
        )?
        .and_then(|row| row.first()?.int().ok())
        .map(|t| u64::try_from(t).unwrap_or(0));
    let tat = match gcra.allow(tat, now_ms) {
        Ok(tat) => tat,
        Err(wait) => return Ok(Forgot::RateLimited(wait)),
    };
    let id = [Value::from(cluster)];
    for table in super::schema::REPORT_ROWS {
        db.defer(
            &format!(
                "DELETE FROM {table} WHERE report_id IN
                    (SELECT id FROM reports WHERE cluster_id = $1)"
            ),
            &id,
        )?;
    }
    db.defer("DELETE FROM reports WHERE cluster_id = $1", &id)?;
    for every in Every::ALL {
        forget_periods(db, cluster, every)?;
    }
    db.defer("DELETE FROM rate_limits WHERE cluster_id = $1", &id)?;
    db.defer(
        "INSERT INTO rate_limits (cluster_id, tat_ms) VALUES ($1, $2)
         ON CONFLICT (cluster_id) DO UPDATE SET tat_ms = excluded.tat_ms",
        &[
            Value::from(key.as_str()),
            Value::Int(i64::try_from(tat).unwrap_or(i64::MAX)),
        ],
    )?;
    Ok(Forgot::Done)
}

/// The cluster's rows of every period of one length, and the workload parts they name. The
/// primary key leads with the period, so the rows are found by each period start the store
/// holds, a few hundred at a time, rather than by reading every row.
fn forget_periods(db: &mut dyn Conn, cluster: &str, every: Every) -> Result<()> {
    let range = db.query_opt(
        "SELECT MIN(period_start), MAX(period_start) FROM cluster_periods WHERE every = $1",
        &[Value::Int(every.code())],
    )?;
    let Some(range) = range else {
        return Ok(());
    };
    let (Some(first), Some(last)) = (
        range.first().and_then(|c| c.int().ok()),
        range.get(1).and_then(|c| c.int().ok()),
    ) else {
        return Ok(());
    };
    for starts in every.starts(first, last).chunks(STARTS) {
        let list: Vec<String> = (0..starts.len()).map(|i| format!("${}", i + 3)).collect();
        let rows = format!(
            "FROM cluster_periods WHERE every = $1 AND cluster_id = $2 AND period_start IN ({})",
            list.join(", ")
        );
        let mut params = vec![Value::Int(every.code()), Value::from(cluster)];
        params.extend(starts.iter().map(|s| Value::Int(*s)));
        if every == Every::Day {
            let parts =
                format!("DELETE FROM workload_parts WHERE sha256 IN (SELECT workloads {rows})");
            db.defer(&parts, &params)?;
        }
        db.defer(&format!("DELETE {rows}"), &params)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_key_does_not_hold_the_id() {
        let key = limit_key("3f2b0000-aaaa-bbbb-cccc-123456789abc");
        assert!(key.starts_with("forget:") && key.len() == 7 + 64, "{key}");
        assert!(!key.contains("3f2b"), "{key}");
        assert_eq!(key, limit_key("3f2b0000-aaaa-bbbb-cccc-123456789abc"));
        assert_ne!(key, limit_key("other"));
        assert!(key.len() <= crate::contract::limits::MAX_CLUSTER_ID_CHARS);
    }
}
