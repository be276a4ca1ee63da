//! `spartakus export`: the stored reports on stdout, oldest first, for BigQuery, ClickHouse,
//! DuckDB or a spreadsheet, in one of two shapes:
//!
//! - JSON lines: a line per report, `{"receivedAt":"<RFC 3339>","report":{...}}`, the report as
//!   received (as `--store stdout` prints it): its extensions and workload part included, each
//!   node's capacity sorted by resource;
//! - CSV: a row per node ([`CSV_HEADER`]), with its report's time received, cluster ID and
//!   Kubernetes version; the main capacity resources as columns of their own, the others as
//!   `name=value;...` in `other_capacity`. Quoted as RFC 4180 says, and a value a spreadsheet
//!   would run as a formula defused as the trends' CSV does. A report without nodes has no row.
//!
//! The reports are read through [`stored`] in one read-only snapshot, a page at a time, so
//! memory stays bounded however many there are. A reader that stops reading (`| head`) ends the
//! export without an error.

use crate::collector::settings::{ExportFormat, ExportSettings};
use crate::collector::store::sql::Conn;
use crate::collector::store::stored::{self, Cursor};
use crate::collector::store::{Reader, read};
use crate::contract::{Node, Report, ReportWriter};
use crate::text::csv_field;
use anyhow::{Context, Result};
use std::io::Write;

/// The CSV's first line.
pub const CSV_HEADER: &str = "received_at,cluster_id,kubernetes_version,node_id,operating_system,os_image,kernel_version,architecture,container_runtime_version,kubelet_version,cloud_provider,cpu,memory,pods,ephemeral_storage,other_capacity\n";

/// Capacity resources with a CSV column of their own, in the header's order.
const RESOURCE_COLUMNS: [&str; 4] = ["cpu", "memory", "pods", "ephemeral-storage"];

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    pub reports: u64,
    pub nodes: u64,
}

/// `spartakus export`.
pub(crate) fn run(s: &ExportSettings) -> Result<()> {
    let mut reader = Reader::open(&s.store)?;
    let since = s
        .since
        .map_or(i64::MIN, |d| crate::time::ago(crate::time::now_secs(), d));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let written = write(reader.conn()?, since, s.format, &mut out).and_then(|written| {
        out.flush().context("writing to stdout")?;
        Ok(written)
    });
    match written {
        Ok(w) => {
            eprintln!(
                "spartakus: exported {} report(s), {} node(s), from store {}",
                w.reports, w.nodes, s.store
            );
            Ok(())
        }
        Err(e) if closed(&e) => Ok(()),
        Err(e) => Err(e.context(format!("exporting store {}", s.store))),
    }
}

/// Whether an error is stdout's reader having gone away.
fn closed(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(crate::exit::is_closed_pipe)
}

/// Writes the reports received since `since` (Unix seconds) to `out`, oldest first.
pub(crate) fn write(
    db: &mut dyn Conn,
    since: i64,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<Written> {
    read::snapshot(db)?;
    let written = write_in(db, since, format, out);
    let _ = db.batch("COMMIT");
    written
}

fn write_in(
    db: &mut dyn Conn,
    since: i64,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<Written> {
    if format == ExportFormat::Csv {
        out.write_all(CSV_HEADER.as_bytes())?;
    }
    let mut written = Written::default();
    let mut cursor = Cursor::new(since);
    while let Some(report) = cursor.next(db)? {
        let received = crate::time::rfc3339(report.received_at);
        match format {
            ExportFormat::Jsonl => {
                let mut line = ReportWriter::line(&mut *out, &received, &report.report)?;
                stored::nodes(db, &report, &mut |node| Ok(line.node(node)?))?;
                line.finish()?;
            }
            ExportFormat::Csv => stored::nodes(db, &report, &mut |node| {
                let row = csv_row(&received, &report.report, &node);
                Ok(out.write_all(row.as_bytes())?)
            })?,
        }
        written.reports += 1;
        written.nodes += u64::try_from(report.node_count).unwrap_or(0);
    }
    Ok(written)
}

/// A node's CSV row (with its newline).
pub(crate) fn csv_row(received_at: &str, report: &Report, node: &Node) -> String {
    let text = |v: &Option<String>| v.as_deref().unwrap_or("").to_string();
    let capacity = |name: &str| {
        node.capacity
            .iter()
            .find(|r| r.resource == name)
            .map_or(String::new(), |r| r.value.clone())
    };
    let other: Vec<String> = node
        .capacity
        .iter()
        .filter(|r| !RESOURCE_COLUMNS.contains(&r.resource.as_str()))
        .map(|r| format!("{}={}", escaped(&r.resource), escaped(&r.value)))
        .collect();
    let mut fields = vec![
        received_at.to_string(),
        report.cluster_id.clone(),
        text(&report.master_version),
        node.id.clone(),
        text(&node.operating_system),
        text(&node.os_image),
        text(&node.kernel_version),
        text(&node.architecture),
        text(&node.container_runtime_version),
        text(&node.kubelet_version),
        text(&node.cloud_provider),
    ];
    fields.extend(RESOURCE_COLUMNS.map(capacity));
    fields.push(other.join(";"));
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

/// `%`, `;` and `=` of a name or value in `other_capacity`, percent-encoded.
fn escaped(text: &str) -> String {
    text.replace('%', "%25")
        .replace(';', "%3B")
        .replace('=', "%3D")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Resource;

    #[test]
    fn a_csv_row_per_node() {
        let report = Report {
            cluster_id: "=cmd|' /C calc'!A0".into(),
            master_version: Some("v1.33.2".into()),
            ..Report::default()
        };
        let resource = |name: &str, value: &str| Resource {
            resource: name.into(),
            value: value.into(),
        };
        let node = Node {
            id: "0".repeat(32),
            os_image: Some("Ubuntu 24.04.1 LTS, \"noble\"".into()),
            architecture: Some("arm64".into()),
            capacity: vec![
                resource("cpu", "4"),
                resource("hugepages-2Mi", "0"),
                resource("memory", "16Gi"),
                resource("nvidia.com/gpu", "8;x=1%"),
            ],
            ..Node::default()
        };
        let row = csv_row("2026-12-01T00:00:00Z", &report, &node);
        assert_eq!(
            row,
            format!(
                "2026-12-01T00:00:00Z,'=cmd|' /C calc'!A0,v1.33.2,{},,\"Ubuntu 24.04.1 LTS, \"\"noble\"\"\",,arm64,,,,4,16Gi,,,hugepages-2Mi=0;nvidia.com/gpu=8%3Bx%3D1%25\n",
                "0".repeat(32)
            )
        );
        assert_eq!(
            row.split(',').count(),
            CSV_HEADER.split(',').count() + 1,
            "one comma inside the quoted image"
        );
    }
}
