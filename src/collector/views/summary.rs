//! `spartakus summary`: the fleet at a glance, from the rollups ([`read`]), the same for SQLite
//! and PostgreSQL.
//!
//! Each cluster counts once, by its latest report in the window (whole UTC days: the last 30
//! days are today and the 29 before). The categories are those of [`Dimension`], with versions
//! folded to their minor release and OS images to their family (see [`crate::collector::fleet`]).
//! The text and JSON show the `--top` values of each and the rest as `other`; the CSV every
//! value, streamed from the database. The workload statistics are those of [`workstats`].

use crate::collector::fleet::trends::{self, JsonValue, Period, cut_marked, wholes};
use crate::collector::fleet::workstats::{self, WorkloadSummary};
use crate::collector::fleet::{Dimension, SIZE_BUCKETS};
use crate::collector::settings::{Format, SummarySettings, TrendSpec};
use crate::collector::store;
use crate::collector::store::read::{self, Counted, Scope};
use crate::collector::store::sql::Conn;
use crate::text::printable;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write;

/// `spartakus summary`: print the fleet at a glance, or how it changed.
pub(crate) fn run(s: &SummarySettings) -> Result<()> {
    let mut reader = store::Reader::open(&s.store)?;
    let now = crate::time::now_secs();
    let db = reader.conn()?;
    let text = match (s.format, s.trend) {
        (Format::Csv, trend) => return csv(db, s, trend, now),
        (_, None) => snapshot(db, s, now),
        (_, Some(trend)) => self::trend(db, s, trend, now),
    }
    .with_context(|| format!("querying store {}", s.store))?;
    crate::exit::print(text.as_bytes())
}

/// The fleet now, as text or JSON.
fn snapshot(db: &mut dyn Conn, s: &SummarySettings, now: i64) -> Result<String> {
    let summary = build(db, now, s.days, s.cluster.as_deref(), s.top)?;
    Ok(match s.format {
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&summary)?;
            json.push('\n');
            json
        }
        _ => render(&summary),
    })
}

/// How the fleet changed, period by period, as text or JSON.
fn trend(db: &mut dyn Conn, s: &SummarySettings, spec: TrendSpec, now: i64) -> Result<String> {
    let since = crate::time::ago(now, spec.since);
    let cluster = s.cluster.as_deref();
    let trend = read::trend(db, spec.every, (since, now), cluster, Scope::All, s.top)?;
    Ok(match s.format {
        Format::Json => trends::json(&trend),
        _ => format!(
            "{}\n{}",
            trends::title(&trend, cluster),
            trends::table(&trend)
        ),
    })
}

/// The CSV (every value; the fleet now as one period from the window's first day), written as
/// the database hands it over.
fn csv(db: &mut dyn Conn, s: &SummarySettings, spec: Option<TrendSpec>, now: i64) -> Result<()> {
    let (every, since) = match spec {
        None => (None, read::window_start(now, s.days)),
        Some(t) => (Some(t.every), crate::time::ago(now, t.since)),
    };
    let mut failed = None;
    crate::exit::print_with(|out| {
        out.write_all(trends::CSV_HEADER.as_bytes())?;
        let mut line = String::new();
        let read = read::each_count(db, every, since, now, s.cluster.as_deref(), &mut |c| {
            line.clear();
            let finished = |start: i64| every.map(|e| e.next(start) <= now);
            match c {
                Counted::Total(p, clusters, nodes) => {
                    trends::csv_total(&mut line, p, clusters, nodes, finished(p))
                }
                Counted::Value(p, d, e) => trends::csv_row(&mut line, p, d, &e, finished(p)),
            }
            Ok(out.write_all(line.as_bytes())?)
        });
        if let Err(e) = read {
            match e.downcast::<std::io::Error>() {
                Ok(io) => return Err(io),
                Err(e) => failed = Some(e),
            }
        }
        Ok(())
    })?;
    match failed {
        Some(e) => Err(e.context(format!("querying store {}", s.store))),
        None => Ok(()),
    }
}

/// What a missing value is shown as.
pub use crate::collector::fleet::NOT_REPORTED as NONE;

/// The whole summary; its JSON form (`--format json`) is a stable interface for scripts and
/// tests. Each dimension lists its `--top` values, then `other` (a `bucket`, never a `value`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub days: u32,
    /// The window's first day, RFC 3339.
    pub since: String,
    pub generated_at: String,
    /// Set when the summary is restricted to one cluster (`--cluster`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Clusters with at least one report in the window.
    pub clusters: u64,
    /// Nodes in those clusters' latest reports.
    pub nodes: u64,
    /// Reports received in the window (all of them, not only the latest).
    pub reports: u64,
    pub kubernetes_versions: Vec<JsonValue>,
    pub kubelet_versions: Vec<JsonValue>,
    /// OS image families (`Ubuntu`, `Amazon Linux`).
    pub os_images: Vec<JsonValue>,
    pub architectures: Vec<JsonValue>,
    pub container_runtimes: Vec<JsonValue>,
    pub cloud_providers: Vec<JsonValue>,
    /// Accelerator kinds (`nvidia`, ...; `none` for nodes without).
    pub accelerators: Vec<JsonValue>,
    /// Kubelets 0, 1, 2, 3+ minors behind the API server, `ahead`, `unknown`: clusters by their
    /// worst node, nodes each by its own.
    pub version_skew: Vec<JsonValue>,
    pub(crate) node_counts: Vec<Bucket>,
    /// The most recent latest reports, newest first (at most `--top`).
    pub recent: Vec<Recent>,
    pub workloads: WorkloadSummary,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct Bucket {
    pub nodes: String,
    pub clusters: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Recent {
    #[serde(rename = "clusterID")]
    pub cluster_id: String,
    pub master_version: Option<String>,
    pub nodes: u64,
    pub received_at: String,
}

/// Build the summary of the `days` days up to `now` (Unix seconds), from the rollups: `top`
/// values per dimension, and the `top` latest reports.
pub fn build(
    db: &mut dyn Conn,
    now: i64,
    days: u32,
    cluster: Option<&str>,
    top: usize,
) -> Result<Summary> {
    let since = read::window_start(now, days);
    let window = read::window(db, since, cluster, top)?;
    let reports = read::reports(db, since, cluster)?;
    let recent = window
        .latest
        .into_iter()
        .map(|row| Recent {
            cluster_id: row.cluster_id,
            master_version: row.master_version,
            nodes: row.nodes,
            received_at: crate::time::rfc3339(row.received_at),
        })
        .collect();
    let period = window.period;
    let rows = |dimension: Dimension| -> Vec<JsonValue> {
        let nodes = dimension != Dimension::KubernetesVersion;
        let entries = period.tally.entries(dimension);
        entries.iter().map(|e| JsonValue::of(e, nodes)).collect()
    };
    Ok(Summary {
        days,
        since: crate::time::rfc3339(since),
        generated_at: crate::time::rfc3339(now),
        cluster_id: cluster.map(String::from),
        clusters: period.tally.clusters,
        nodes: period.tally.nodes,
        reports,
        kubernetes_versions: rows(Dimension::KubernetesVersion),
        kubelet_versions: rows(Dimension::KubeletVersion),
        os_images: rows(Dimension::OsImage),
        architectures: rows(Dimension::Architecture),
        container_runtimes: rows(Dimension::ContainerRuntime),
        cloud_providers: rows(Dimension::CloudProvider),
        accelerators: rows(Dimension::Accelerator),
        version_skew: rows(Dimension::VersionSkew),
        node_counts: node_counts(&period),
        recent,
        workloads: window.workloads,
    })
}

/// Clusters by the size of their latest report, in [`SIZE_BUCKETS`] (`0` only when there are).
fn node_counts(period: &Period) -> Vec<Bucket> {
    SIZE_BUCKETS
        .iter()
        .map(|(_, label)| Bucket {
            nodes: label.to_string(),
            clusters: period.sizes.get(label).copied().unwrap_or(0),
        })
        .filter(|b| b.nodes != "0" || b.clusters > 0)
        .collect()
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The summary as a readable text table: a table per dimension, its values (at most `--top`)
/// and `(other)`.
pub fn render(s: &Summary) -> String {
    let mut out = String::new();
    let scope = s
        .cluster_id
        .as_deref()
        .map(|c| format!(" (cluster {})", printable(c, 128)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Fleet summary{scope}: last {}, since {}",
        crate::text::count(u64::from(s.days), "day"),
        s.since
    );
    let _ = writeln!(
        out,
        "Clusters reporting: {}    Nodes (latest reports): {}    Reports received: {}",
        s.clusters, s.nodes, s.reports
    );
    if s.clusters == 0 {
        let _ = writeln!(out, "\nNo reports in this window.");
        return out;
    }
    let tables: [(Dimension, &[JsonValue]); 8] = [
        (Dimension::KubernetesVersion, &s.kubernetes_versions),
        (Dimension::KubeletVersion, &s.kubelet_versions),
        (Dimension::OsImage, &s.os_images),
        (Dimension::Architecture, &s.architectures),
        (Dimension::ContainerRuntime, &s.container_runtimes),
        (Dimension::CloudProvider, &s.cloud_providers),
        (Dimension::Accelerator, &s.accelerators),
        (Dimension::VersionSkew, &s.version_skew),
    ];
    for (dimension, rows) in tables {
        let t = Table {
            dimension,
            total_nodes: s.nodes,
            total_clusters: s.clusters,
        };
        t.render(&mut out, rows);
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{:<12}  {:>8} {:>7}", "Nodes", "clusters", "%");
    for b in &s.node_counts {
        let _ = writeln!(
            out,
            "{:<12}  {:>8} {:>7}",
            b.nodes,
            b.clusters,
            percent(b.clusters, s.clusters)
        );
    }
    if !s.recent.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Latest reports (newest first)");
        for r in &s.recent {
            let _ = writeln!(
                out,
                "{}  {:<36}  {:>6} {:<5}  {}",
                r.received_at,
                crate::text::cut(&printable(&r.cluster_id, 128), 36, '~'),
                r.nodes,
                crate::text::plural(r.nodes, "node"),
                printable(r.master_version.as_deref().unwrap_or(NONE), 64)
            );
        }
    }
    workstats::render(&mut out, &s.workloads);
    out
}

/// One table of the text summary.
struct Table {
    dimension: Dimension,
    total_nodes: u64,
    total_clusters: u64,
}

/// The widest a value is shown in a table; a longer one is cut, marked `~N`, and given whole
/// under its table.
const VALUE: usize = 48;

impl Table {
    fn render(&self, out: &mut String, rows: &[JsonValue]) {
        let title = self.dimension.title();
        let shown: Vec<String> = rows.iter().map(|r| self.label(r)).collect();
        // The title heads the values' column, but the version skew's (on a line of its own).
        let title_width = match self.dimension {
            Dimension::VersionSkew => 0,
            _ => title.len(),
        };
        let width = shown
            .iter()
            .map(|v| v.chars().count())
            .chain([title_width, 12])
            .max()
            .unwrap_or(12)
            .min(VALUE);
        let _ = writeln!(out);
        let nodes = rows.iter().all(|r| r.nodes.is_some());
        match (self.dimension, nodes) {
            (Dimension::VersionSkew, _) => {
                let _ = writeln!(out, "{title}");
                let _ = writeln!(
                    out,
                    "{:<width$}  {:>8} {:>7}  {:>8} {:>7}",
                    "behind", "clusters", "%", "nodes", "%"
                );
            }
            (_, true) => {
                let _ = writeln!(
                    out,
                    "{title:<width$}  {:>8} {:>7}  {:>8}",
                    "nodes", "%", "clusters"
                );
            }
            (_, false) => {
                let _ = writeln!(out, "{title:<width$}  {:>8} {:>7}", "clusters", "%");
            }
        }
        if rows.is_empty() {
            let _ = writeln!(out, "(no nodes)");
        }
        let mut cut = Vec::new();
        for (r, value) in rows.iter().zip(shown) {
            let value = cut_marked(value, width, &mut cut);
            let (clusters, c_share) = (r.clusters, percent(r.clusters, self.total_clusters));
            match (self.dimension, r.nodes) {
                (Dimension::VersionSkew, Some(n)) => {
                    let share = percent(n, self.total_nodes);
                    let _ = writeln!(
                        out,
                        "{value:<width$}  {clusters:>8} {c_share:>7}  {n:>8} {share:>7}"
                    );
                }
                (_, Some(n)) => {
                    let share = percent(n, self.total_nodes);
                    let _ = writeln!(out, "{value:<width$}  {n:>8} {share:>7}  {clusters:>8}");
                }
                (_, None) => {
                    let _ = writeln!(out, "{value:<width$}  {clusters:>8} {c_share:>7}");
                }
            }
        }
        wholes(out, &cut);
    }

    fn label(&self, r: &JsonValue) -> String {
        r.label().shown(|v| printable(v, 256))
    }
}

#[cfg(test)]
#[path = "summary_tests.rs"]
mod tests;
