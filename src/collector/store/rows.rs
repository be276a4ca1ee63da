//! The rows a report brings besides its own (nodes, their capacity entries, extensions, its
//! workload part), held until [`ROWS`] of a table are waiting and then written in one multi-row
//! insert: the reports of a batch share statements. Its profile is counted as its nodes are
//! read, and its rollups ([`Rollups`]) wait for the end of the batch. Written once for both
//! databases, deferred ([`Conn::defer`]).

use super::Incoming;
use super::rollup::{Known, Rollups};
use super::sql::{Conn, Value, insert_rows};
use crate::collector::fleet::Profile;
use crate::contract::{Node, ObjectKind, Workloads};
use anyhow::Result;

/// Rows per multi-row insert.
pub(crate) const ROWS: usize = 64;

const NODE_COLUMNS: [&str; 10] = [
    "report_id",
    "position",
    "node_id",
    "operating_system",
    "os_image",
    "kernel_version",
    "architecture",
    "container_runtime_version",
    "kubelet_version",
    "cloud_provider",
];
const CAPACITY_COLUMNS: [&str; 4] = ["report_id", "node_position", "resource", "value"];
const EXTENSION_COLUMNS: [&str; 3] = ["report_id", "name", "value"];
const KIND_COLUMNS: [&str; 7] = [
    "report_id",
    "kind",
    "total",
    "age_count",
    "age_mean_days",
    "age_median_days",
    "age_p90_days",
];
const BUCKET_COLUMNS: [&str; 4] = ["report_id", "kind", "bucket", "namespaces"];

/// One kind of a report's workload part: (report, kind, total, age: count, mean, median, p90).
type KindRow = (i64, &'static str, i64, Option<[i64; 4]>);

/// Rows waiting to be written, by table, each with its report's ID; and the batch's rollups.
#[derive(Debug)]
pub(crate) struct Rows<'k> {
    nodes: Vec<(i64, i64, Node)>,
    capacities: Vec<(i64, i64, String, String)>,
    extensions: Vec<(i64, String, String)>,
    kinds: Vec<KindRow>,
    /// (report, kind, bucket, namespaces), non-empty buckets only.
    buckets: Vec<(i64, &'static str, i64, i64)>,
    rollups: Rollups,
    /// The profiles this writer knows are stored.
    known: &'k Known,
}

impl<'k> Rows<'k> {
    pub(crate) fn new(known: &'k Known) -> Rows<'k> {
        Rows {
            nodes: Vec::new(),
            capacities: Vec::new(),
            extensions: Vec::new(),
            kinds: Vec::new(),
            buckets: Vec::new(),
            rollups: Rollups::default(),
            known,
        }
    }

    /// The rows of report `id`, its nodes read one at a time, and its profile counted from them;
    /// a table's rows are written as soon as [`ROWS`] of them wait.
    pub(crate) fn add(
        &mut self,
        db: &mut dyn Conn,
        id: i64,
        incoming: &Incoming,
    ) -> Result<Profile> {
        let mut profile = Profile::of(&incoming.report);
        incoming.nodes.for_each(&mut |position, node| {
            let position = position as i64;
            profile.add(&node);
            for c in &node.capacity {
                let (resource, value) = (c.resource.clone(), c.value.clone());
                self.capacities.push((id, position, resource, value));
            }
            self.nodes.push((id, position, node));
            self.write_full(db)
        })?;
        for e in &incoming.report.extensions {
            self.extensions.push((id, e.name.clone(), e.value.clone()));
        }
        if let Some(workloads) = &incoming.report.workloads {
            self.add_workloads(id, workloads);
        }
        self.write_full(db)?;
        Ok(profile)
    }

    /// The report's rollups, written with the batch's (see [`Rollups`]).
    pub(crate) fn rollup(&mut self, incoming: &Incoming, profile: &Profile) {
        let at = incoming.received_at;
        self.rollups.add(&incoming.report, at, profile, self.known);
    }

    /// The profiles written, to be known once the transaction commits.
    pub(crate) fn written(&mut self) -> Vec<[u8; 32]> {
        self.rollups.written()
    }

    fn add_workloads(&mut self, id: i64, workloads: &Workloads) {
        let int = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for kind in ObjectKind::ALL {
            let Some(stats) = workloads.get(kind) else {
                continue;
            };
            let age = stats
                .age
                .map(|a| [a.count, a.mean_days, a.median_days, a.p90_days].map(int));
            self.kinds.push((id, kind.name(), int(stats.total), age));
            for (bucket, n) in stats.per_namespace.iter().enumerate() {
                if *n > 0 {
                    self.buckets.push((id, kind.name(), bucket as i64, int(*n)));
                }
            }
        }
    }

    /// Write every table with [`ROWS`] rows waiting.
    fn write_full(&mut self, db: &mut dyn Conn) -> Result<()> {
        if self.nodes.len() >= ROWS {
            self.write_nodes(db)?;
        }
        if self.capacities.len() >= ROWS {
            self.write_capacities(db)?;
        }
        if self.extensions.len() >= ROWS {
            self.write_extensions(db)?;
        }
        if self.kinds.len() >= ROWS || self.buckets.len() >= ROWS {
            self.write_workloads(db)?;
        }
        Ok(())
    }

    /// Write everything waiting, the rollups last.
    pub(crate) fn flush(&mut self, db: &mut dyn Conn) -> Result<()> {
        self.write_nodes(db)?;
        self.write_capacities(db)?;
        self.write_extensions(db)?;
        self.write_workloads(db)?;
        self.rollups.flush(db)
    }

    fn write_workloads(&mut self, db: &mut dyn Conn) -> Result<()> {
        for rows in self.kinds.chunks(ROWS) {
            let mut params = Vec::with_capacity(rows.len() * KIND_COLUMNS.len());
            for (id, kind, total, age) in rows {
                let age = |i: usize| age.map_or(Value::Text(None), |a| Value::Int(a[i]));
                params.extend([Value::Int(*id), Value::from(*kind), Value::Int(*total)]);
                params.extend([age(0), age(1), age(2), age(3)]);
            }
            let sql = insert_rows("workload_kinds", &KIND_COLUMNS, rows.len());
            db.defer(&sql, &params)?;
        }
        self.kinds.clear();
        for rows in self.buckets.chunks(ROWS) {
            let mut params = Vec::with_capacity(rows.len() * BUCKET_COLUMNS.len());
            for (id, kind, bucket, n) in rows {
                params.extend([Value::Int(*id), Value::from(*kind)]);
                params.extend([Value::Int(*bucket), Value::Int(*n)]);
            }
            let sql = insert_rows("workload_buckets", &BUCKET_COLUMNS, rows.len());
            db.defer(&sql, &params)?;
        }
        self.buckets.clear();
        Ok(())
    }

    fn write_nodes(&mut self, db: &mut dyn Conn) -> Result<()> {
        for rows in self.nodes.chunks(ROWS) {
            let mut params = Vec::with_capacity(rows.len() * NODE_COLUMNS.len());
            for (id, position, n) in rows {
                params.extend([
                    Value::Int(*id),
                    Value::Int(*position),
                    Value::from(&n.id),
                    Value::from(&n.operating_system),
                    Value::from(&n.os_image),
                    Value::from(&n.kernel_version),
                    Value::from(&n.architecture),
                    Value::from(&n.container_runtime_version),
                    Value::from(&n.kubelet_version),
                    Value::from(&n.cloud_provider),
                ]);
            }
            db.defer(&insert_rows("nodes", &NODE_COLUMNS, rows.len()), &params)?;
        }
        self.nodes.clear();
        Ok(())
    }

    fn write_capacities(&mut self, db: &mut dyn Conn) -> Result<()> {
        for rows in self.capacities.chunks(ROWS) {
            let mut params = Vec::with_capacity(rows.len() * CAPACITY_COLUMNS.len());
            for (id, position, resource, value) in rows {
                params.extend([
                    Value::Int(*id),
                    Value::Int(*position),
                    Value::from(resource),
                    Value::from(value),
                ]);
            }
            let sql = insert_rows("capacities", &CAPACITY_COLUMNS, rows.len());
            db.defer(&sql, &params)?;
        }
        self.capacities.clear();
        Ok(())
    }

    fn write_extensions(&mut self, db: &mut dyn Conn) -> Result<()> {
        for rows in self.extensions.chunks(ROWS) {
            let mut params = Vec::with_capacity(rows.len() * EXTENSION_COLUMNS.len());
            for (id, name, value) in rows {
                params.extend([Value::Int(*id), Value::from(name), Value::from(value)]);
            }
            let sql = insert_rows("extensions", &EXTENSION_COLUMNS, rows.len());
            db.defer(&sql, &params)?;
        }
        self.extensions.clear();
        Ok(())
    }
}
