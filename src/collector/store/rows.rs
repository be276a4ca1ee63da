//! The rows a report brings besides its own (nodes, their capacity entries, extensions), held
//! until [`ROWS`] of a table are waiting and then written in one multi-row insert: the reports of
//! a batch share statements. Written once for both databases, deferred ([`Conn::defer`]).

use super::Incoming;
use super::sql::{Conn, Value, insert_rows};
use crate::contract::Node;
use anyhow::Result;

/// Rows per multi-row insert.
pub const ROWS: usize = 64;

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

/// Rows waiting to be written, by table, each with its report's ID.
#[derive(Debug, Default)]
pub struct Rows {
    nodes: Vec<(i64, i64, Node)>,
    capacities: Vec<(i64, i64, String, String)>,
    extensions: Vec<(i64, String, String)>,
}

impl Rows {
    /// The rows of report `id`, its nodes read one at a time; a table's rows are written as soon
    /// as [`ROWS`] of them wait.
    pub fn add(&mut self, db: &mut dyn Conn, id: i64, incoming: &Incoming) -> Result<()> {
        incoming.nodes.for_each(&mut |position, node| {
            let position = position as i64;
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
        self.write_full(db)
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
        Ok(())
    }

    /// Write everything waiting.
    pub fn flush(&mut self, db: &mut dyn Conn) -> Result<()> {
        self.write_nodes(db)?;
        self.write_capacities(db)?;
        self.write_extensions(db)
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
