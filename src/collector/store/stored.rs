//! Stored reports read back as they were received, oldest first, never many at a time: a
//! [`Cursor`] over the reports (a page of [`PAGE`] reports, each with its extensions and
//! workload part), and each report's nodes a page of [`NODE_PAGE`] at a time ([`nodes`]). For
//! `spartakus export`, and for rolling up the reports of a store as it is upgraded.
//!
//! Pages follow each other by the last (received time, ID) seen, so memory stays bounded by a
//! page however many reports there are, in both databases. Written once for both.

use super::sql::{Cell, Conn, Row, Value};
use crate::contract::{Ages, Extension, KindStats, Node, ObjectKind, Report, Resource, Workloads};
use anyhow::{Result, bail};
use std::collections::{BTreeMap, VecDeque};

/// Reports per page.
pub(crate) const PAGE: usize = 256;
/// Nodes per page.
pub(crate) const NODE_PAGE: usize = 1_000;

/// A stored report without its nodes (read them with [`nodes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub id: i64,
    /// Unix seconds, the collector's clock.
    pub received_at: i64,
    pub node_count: i64,
    /// The report as received (its `nodes` empty), extensions and workload part included.
    pub report: Report,
}

/// The reports received since a time, oldest first.
#[derive(Debug)]
pub struct Cursor {
    since: i64,
    /// The last (received time, ID) read.
    after: (i64, i64),
    page: VecDeque<Stored>,
    done: bool,
}

const REPORTS: &str = "SELECT id, received_at, node_count, cluster_id, client_timestamp,
        format_version, master_version
    FROM reports
    WHERE received_at >= $1 AND (received_at > $2 OR (received_at = $2 AND id > $3))
    ORDER BY received_at, id
    LIMIT $4";

impl Cursor {
    /// The reports received at or after `since` (Unix seconds).
    pub fn new(since: i64) -> Cursor {
        Cursor {
            since,
            after: (since.saturating_sub(1), i64::MAX),
            page: VecDeque::new(),
            done: false,
        }
    }

    /// The next report, or `None` after the last.
    pub fn next(&mut self, db: &mut dyn Conn) -> Result<Option<Stored>> {
        if self.page.is_empty() && !self.done {
            self.read_page(db)?;
        }
        Ok(self.page.pop_front())
    }

    fn read_page(&mut self, db: &mut dyn Conn) -> Result<()> {
        let rows = db.query(
            REPORTS,
            &[
                Value::Int(self.since),
                Value::Int(self.after.0),
                Value::Int(self.after.1),
                Value::Int(PAGE as i64),
            ],
        )?;
        self.done = rows.len() < PAGE;
        let mut page = rows
            .into_iter()
            .map(header)
            .collect::<Result<Vec<Stored>>>()?;
        if let Some(last) = page.last() {
            self.after = (last.received_at, last.id);
        }
        if !page.is_empty() {
            attach(db, &mut page)?;
        }
        self.page = page.into();
        Ok(())
    }
}

fn header(row: Row) -> Result<Stored> {
    let mut cells = row.into_iter();
    let mut next = || cells.next().unwrap_or(Cell::Null);
    let (id, received_at, node_count) = (next().int()?, next().int()?, next().int()?);
    let report = Report {
        cluster_id: next().string()?,
        timestamp: next().text()?.unwrap_or_default(),
        version: next().string()?,
        master_version: next().text()?,
        ..Report::default()
    };
    Ok(Stored {
        id,
        received_at,
        node_count,
        report,
    })
}

/// `$1, $2, ...` for `n` parameters.
fn placeholders(n: usize) -> String {
    (1..=n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The page's extensions and workload parts, in one round trip.
fn attach(db: &mut dyn Conn, page: &mut [Stored]) -> Result<()> {
    let ids: Vec<Value> = page.iter().map(|s| Value::Int(s.id)).collect();
    let list = placeholders(ids.len());
    let extensions = format!(
        "SELECT report_id, name, value FROM extensions WHERE report_id IN ({list})
         ORDER BY report_id, name"
    );
    let kinds = format!(
        "SELECT report_id, kind, total, age_count, age_mean_days, age_median_days, age_p90_days
         FROM workload_kinds WHERE report_id IN ({list})"
    );
    let buckets = format!(
        "SELECT report_id, kind, bucket, namespaces FROM workload_buckets
         WHERE report_id IN ({list}) ORDER BY report_id, kind, bucket"
    );
    let answers = db.query_all(&[(&extensions, &ids), (&kinds, &ids), (&buckets, &ids)])?;
    let [extensions, kinds, buckets]: [Vec<Row>; 3] = answers
        .try_into()
        .map_err(|_| anyhow::anyhow!("the store answered a different number of queries"))?;
    let index: BTreeMap<i64, usize> = page.iter().enumerate().map(|(i, s)| (s.id, i)).collect();
    for row in extensions {
        let mut cells = row.into_iter();
        let mut next = || cells.next().unwrap_or(Cell::Null);
        let id = next().int()?;
        let (name, value) = (next().string()?, next().string()?);
        if let Some(&i) = index.get(&id) {
            page[i].report.extensions.push(Extension { name, value });
        }
    }
    for (id, workloads) in workloads(kinds, buckets)? {
        if let Some(&i) = index.get(&id) {
            page[i].report.workloads = Some(workloads);
        }
    }
    Ok(())
}

/// Workload parts from their rows, by report ID.
fn workloads(kinds: Vec<Row>, buckets: Vec<Row>) -> Result<BTreeMap<i64, Workloads>> {
    let kind_of = |name: &str| ObjectKind::ALL.into_iter().find(|k| k.name() == name);
    let count = |cell: Cell| cell.int().map(|n| u64::try_from(n).unwrap_or(0));
    let mut parts: BTreeMap<i64, Workloads> = BTreeMap::new();
    for row in kinds {
        let mut cells = row.into_iter();
        let mut next = || cells.next().unwrap_or(Cell::Null);
        let (id, name, total) = (next().int()?, next().string()?, count(next())?);
        let Some(kind) = kind_of(&name) else {
            bail!("the store holds an unknown workload kind {name:?}");
        };
        let age = match next() {
            Cell::Null => None,
            age_count => Some(Ages {
                count: count(age_count)?,
                mean_days: count(next())?,
                median_days: count(next())?,
                p90_days: count(next())?,
            }),
        };
        let stats = KindStats {
            total,
            per_namespace: Vec::new(),
            age,
        };
        *parts.entry(id).or_default().slot(kind) = Some(stats);
    }
    for row in buckets {
        let mut cells = row.into_iter();
        let mut next = || cells.next().unwrap_or(Cell::Null);
        let (id, name) = (next().int()?, next().string()?);
        let (bucket, namespaces) = (count(next())? as usize, count(next())?);
        let slot = kind_of(&name).and_then(|k| parts.get_mut(&id)?.slot(k).as_mut());
        if let Some(stats) = slot {
            let buckets = &mut stats.per_namespace;
            if buckets.len() <= bucket {
                buckets.resize(bucket + 1, 0);
            }
            buckets[bucket] = namespaces;
        }
    }
    Ok(parts)
}

const NODES: &str = "SELECT position, node_id, operating_system, os_image, kernel_version,
        architecture, container_runtime_version, kubelet_version, cloud_provider
    FROM nodes WHERE report_id = $1 AND position >= $2 AND position < $3
    ORDER BY position";

const CAPACITIES: &str = "SELECT node_position, resource, value FROM capacities
    WHERE report_id = $1 AND node_position >= $2 AND node_position < $3
    ORDER BY node_position, resource";

/// Each node of the report `stored`, in order, read [`NODE_PAGE`] at a time with their
/// capacities (each page's two queries in one round trip).
pub fn nodes(
    db: &mut dyn Conn,
    stored: &Stored,
    f: &mut dyn FnMut(Node) -> Result<()>,
) -> Result<()> {
    let mut from = 0;
    while from < stored.node_count {
        let to = from + NODE_PAGE as i64;
        let params = [Value::Int(stored.id), Value::Int(from), Value::Int(to)];
        let answers = db.query_all(&[(NODES, &params), (CAPACITIES, &params)])?;
        let [nodes, capacities]: [Vec<Row>; 2] = answers
            .try_into()
            .map_err(|_| anyhow::anyhow!("the store answered a different number of queries"))?;
        let mut capacities = capacities.into_iter().peekable();
        for row in nodes {
            let mut cells = row.into_iter();
            let mut next = || cells.next().unwrap_or(Cell::Null);
            let position = next().int()?;
            let mut node = Node {
                id: next().string()?,
                operating_system: next().text()?,
                os_image: next().text()?,
                kernel_version: next().text()?,
                architecture: next().text()?,
                container_runtime_version: next().text()?,
                kubelet_version: next().text()?,
                cloud_provider: next().text()?,
                capacity: Vec::new(),
            };
            while let Some(row) = capacities.next_if(|r| r.first() == Some(&Cell::Int(position))) {
                let mut cells = row.into_iter().skip(1);
                let mut next = || cells.next().unwrap_or(Cell::Null);
                node.capacity.push(Resource {
                    resource: next().string()?,
                    value: next().string()?,
                });
            }
            f(node)?;
        }
        from = to;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workload_rows_make_the_part_again() {
        let int = |n: i64| Cell::Int(n);
        let text = |t: &str| Cell::Text(t.into());
        let kinds = vec![
            vec![
                int(7),
                text("namespaces"),
                int(3),
                int(3),
                int(10),
                int(9),
                int(20),
            ],
            vec![
                int(7),
                text("pods"),
                int(5),
                Cell::Null,
                Cell::Null,
                Cell::Null,
                Cell::Null,
            ],
        ];
        let buckets = vec![
            vec![int(7), text("pods"), int(0), int(1)],
            vec![int(7), text("pods"), int(3), int(1)],
        ];
        let parts = workloads(kinds, buckets).unwrap();
        let w = &parts[&7];
        assert_eq!(w.namespace_count(), Some(3));
        assert_eq!(w.namespaces.as_ref().unwrap().age.unwrap().p90_days, 20);
        let pods = w.pods.as_ref().unwrap();
        assert_eq!((pods.total, pods.age), (5, None));
        assert_eq!(
            pods.per_namespace,
            [1, 0, 0, 1],
            "empty buckets between are zeros"
        );
        assert!(w.services.is_none());
        let unknown = vec![vec![int(7), text("widgets"), int(1), Cell::Null]];
        assert!(workloads(unknown, Vec::new()).is_err());
        assert_eq!(placeholders(3), "$1, $2, $3");
    }
}
