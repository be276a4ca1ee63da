//! `spartakus summary`: the fleet at a glance, from the rollups ([`read`]), the same for SQLite
//! and PostgreSQL.
//!
//! Each cluster counts once, by its latest report in the window (whole UTC days: the last 30
//! days are today and the 29 before). The categories are those of [`Dimension`], with versions
//! folded to their minor release and OS images to their family (see [`crate::collector::fleet`]). The
//! workload statistics are those of [`workstats`].

use crate::collector::fleet::trends;
use crate::collector::fleet::trends::{Period, clip};
use crate::collector::fleet::workstats::{self, WorkloadSummary};
use crate::collector::fleet::{Count, Dimension, SIZE_BUCKETS};
use crate::collector::settings::{Format, SummarySettings, TrendSpec};
use crate::collector::store;
use crate::collector::store::read;
use crate::collector::store::sql::Conn;
use crate::text::printable;
use anyhow::{Context, Result};
use serde::Serialize;
use std::fmt::Write;

/// `spartakus summary`: print the fleet at a glance, or how it changed.
pub(crate) fn run(s: &SummarySettings) -> Result<()> {
    let mut reader = store::Reader::open(&s.store)?;
    let now = crate::time::now_secs();
    let text = match s.trend {
        None => snapshot(reader.conn(), s, now),
        Some(trend) => self::trend(reader.conn(), s, trend, now),
    }
    .with_context(|| format!("querying store {}", s.store))?;
    crate::exit::print(text.as_bytes())
}

/// The fleet now, as `s.format` says.
fn snapshot(db: &mut dyn store::sql::Conn, s: &SummarySettings, now: i64) -> Result<String> {
    let cluster = s.cluster.as_deref();
    Ok(match s.format {
        Format::Table => render(&build(db, now, s.days, cluster, s.top)?, s.top),
        Format::Json => {
            let summary = build(db, now, s.days, cluster, s.top)?;
            let mut json = serde_json::to_string_pretty(&summary)?;
            json.push('\n');
            json
        }
        // One period: the window, from its first day.
        Format::Csv => {
            let since = store::read::window_start(now, s.days);
            let period = store::read::current_of(db, since, cluster)?;
            trends::csv(&trends::Trend {
                every: trends::Every::Day,
                periods: vec![period],
            })
        }
    })
}

/// How the fleet changed, period by period, as `s.format` says.
fn trend(
    db: &mut dyn store::sql::Conn,
    s: &SummarySettings,
    spec: TrendSpec,
    now: i64,
) -> Result<String> {
    let since = now - i64::try_from(spec.since.as_secs()).unwrap_or(i64::MAX / 2);
    let trend = store::read::trend(db, spec.every, since, now, s.cluster.as_deref())?;
    Ok(match s.format {
        Format::Table => format!(
            "{}\n{}",
            trends::title(&trend, s.cluster.as_deref()),
            trends::table(&trend, s.top)
        ),
        Format::Json => trends::json(&trend),
        Format::Csv => trends::csv(&trend),
    })
}

/// What a missing value is shown as.
pub use crate::collector::fleet::NOT_REPORTED as NONE;

/// The whole summary; its JSON form (`--format json`) is a stable interface for scripts and
/// tests.
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
    pub(crate) kubernetes_versions: Vec<Row>,
    pub(crate) kubelet_versions: Vec<Row>,
    /// OS image families (`Ubuntu`, `Amazon Linux`).
    pub(crate) os_images: Vec<Row>,
    pub(crate) architectures: Vec<Row>,
    pub(crate) container_runtimes: Vec<Row>,
    pub(crate) cloud_providers: Vec<Row>,
    /// Accelerator kinds (`nvidia`, ...; `none` for nodes without).
    pub accelerators: Vec<Row>,
    pub(crate) node_counts: Vec<Bucket>,
    /// The most recent latest reports, newest first (at most `--top`).
    pub recent: Vec<Recent>,
    pub workloads: WorkloadSummary,
}

/// One value and how many clusters (and, for node attributes, nodes) have it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    pub value: String,
    pub clusters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
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

/// Build the summary of the `days` days up to `now` (Unix seconds), from the rollups.
pub fn build(
    db: &mut dyn Conn,
    now: i64,
    days: u32,
    cluster: Option<&str>,
    top: usize,
) -> Result<Summary> {
    let since = read::window_start(now, days);
    let window = read::window(db, since, cluster)?;
    let reports = read::reports(db, since, cluster)?;
    let recent = window
        .latest
        .into_iter()
        .take(top)
        .map(|row| Recent {
            cluster_id: row.cluster_id,
            master_version: row.master_version,
            nodes: row.nodes,
            received_at: crate::time::rfc3339(row.received_at),
        })
        .collect();
    let period = window.period;
    let workloads = workstats::summarize(period.tally.clusters, &window.workloads);
    let rows = |dimension| rows(&period, dimension);
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
        node_counts: node_counts(&period),
        recent,
        workloads,
    })
}

/// A dimension's values: clusters only for the Kubernetes version (one per cluster), clusters
/// and nodes otherwise.
fn rows(period: &Period, dimension: Dimension) -> Vec<Row> {
    let by_nodes = dimension != Dimension::KubernetesVersion;
    let values = period.tally.by.get(&dimension);
    let rows = values
        .into_iter()
        .flatten()
        .map(|(value, Count { clusters, nodes })| Row {
            value: value.clone(),
            clusters: *clusters,
            nodes: by_nodes.then_some(*nodes),
        })
        .collect();
    sorted(rows)
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

/// Most nodes (else clusters) first, then by value.
fn sorted(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_by(|a, b| {
        (b.nodes, b.clusters)
            .cmp(&(a.nodes, a.clusters))
            .then_with(|| a.value.cmp(&b.value))
    });
    rows
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{:.1}%", part as f64 * 100.0 / whole as f64)
}

/// The summary as a readable text table; at most `top` rows per table, the rest summed up.
pub fn render(s: &Summary, top: usize) -> String {
    let mut out = String::new();
    let scope = s
        .cluster_id
        .as_deref()
        .map(|c| format!(" (cluster {})", printable(c, 128)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Fleet summary{scope}: last {} days, since {}",
        s.days, s.since
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
    let tables: [(Dimension, &[Row]); 7] = [
        (Dimension::KubernetesVersion, &s.kubernetes_versions),
        (Dimension::KubeletVersion, &s.kubelet_versions),
        (Dimension::OsImage, &s.os_images),
        (Dimension::Architecture, &s.architectures),
        (Dimension::ContainerRuntime, &s.container_runtimes),
        (Dimension::CloudProvider, &s.cloud_providers),
        (Dimension::Accelerator, &s.accelerators),
    ];
    for (dimension, rows) in tables {
        let t = Table {
            title: dimension.title(),
            by_nodes: dimension != Dimension::KubernetesVersion,
            top,
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
                "{}  {:<36}  {:>6} nodes  {}",
                r.received_at,
                clip(&printable(&r.cluster_id, 128), 36),
                r.nodes,
                printable(r.master_version.as_deref().unwrap_or(NONE), 64)
            );
        }
    }
    workstats::render(&mut out, &s.workloads);
    out
}

/// One table of the text summary.
struct Table<'a> {
    title: &'a str,
    /// A node table (nodes, %, clusters) rather than a cluster table (clusters, %).
    by_nodes: bool,
    top: usize,
    total_nodes: u64,
    total_clusters: u64,
}

impl Table<'_> {
    fn render(&self, out: &mut String, rows: &[Row]) {
        let title = self.title;
        let width = rows
            .iter()
            .take(self.top)
            .map(|r| printable(&r.value, 256).chars().count())
            .chain([title.len(), 12])
            .max()
            .unwrap_or(12)
            .min(48);
        let _ = writeln!(out);
        if self.by_nodes {
            let _ = writeln!(
                out,
                "{title:<width$}  {:>8} {:>7}  {:>8}",
                "nodes", "%", "clusters"
            );
        } else {
            let _ = writeln!(out, "{title:<width$}  {:>8} {:>7}", "clusters", "%");
        }
        for r in rows.iter().take(self.top) {
            self.line(out, width, &r.value, r.clusters, r.nodes);
        }
        if rows.len() > self.top {
            let rest = &rows[self.top..];
            let nodes = rest.iter().map(|r| r.nodes.unwrap_or(0)).sum();
            let clusters = rest.iter().map(|r| r.clusters).sum();
            // Clusters may appear in several of the summed rows, so show them only for
            // cluster-level tables, where each cluster has exactly one value.
            let label = format!("({} more)", rest.len());
            if self.by_nodes {
                let share = percent(nodes, self.total_nodes);
                let _ = writeln!(out, "{label:<width$}  {nodes:>8} {share:>7}  {:>8}", "");
            } else {
                self.line(out, width, &label, clusters, None);
            }
        }
    }

    fn line(&self, out: &mut String, width: usize, value: &str, clusters: u64, nodes: Option<u64>) {
        let value = clip(&printable(value, 256), width);
        match nodes {
            Some(n) if self.by_nodes => {
                let share = percent(n, self.total_nodes);
                let _ = writeln!(out, "{value:<width$}  {n:>8} {share:>7}  {clusters:>8}");
            }
            _ => {
                let share = percent(clusters, self.total_clusters);
                let _ = writeln!(out, "{value:<width$}  {clusters:>8} {share:>7}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::Db;
    use crate::collector::store::sqlite::tests::{Scratch, insert};
    use crate::collector::store::tests::{incoming, whole};
    use crate::contract::testing::{self, report};

    const DAY: i64 = 86_400;
    const NOW: i64 = 100 * DAY + 7200;

    /// Clusters a to d, reporting in and out of a 30-day window before [`NOW`].
    fn fleet(dir: &Scratch) -> Db {
        let mut db = Db::open(&dir.join("s.db")).unwrap();
        let (day, now) = (DAY, NOW);
        // a: an old report (outside the window) and two inside; the last one counts.
        let mut old = report("a", now - 40 * day, 50);
        old.master_version = Some("v1.20.1".into());
        insert(&mut db, &whole(old));
        let mut a1 = report("a", now - 10 * day, 2);
        a1.master_version = Some("v1.32.1".into());
        a1.workloads = Some(testing::workloads());
        insert(&mut db, &whole(a1));
        let mut a2 = report("a", now - day, 3);
        a2.master_version = Some("v1.33.2-eks-1".into());
        a2.nodes[2].container_runtime_version = Some("cri-o://1.33.1".into());
        a2.nodes[2].cloud_provider = None;
        insert(&mut db, &whole(a2));
        // b: one report, one node, with workload statistics; c: 1,200 nodes; d: no nodes, no
        // master version.
        let mut b = report("b", now - 2 * day, 1);
        b.master_version = Some("v1.33.0".into());
        b.workloads = Some(testing::workloads());
        insert(&mut db, &whole(b));
        insert(&mut db, &incoming("c", now - 3 * day, None, 1200));
        let mut d = report("d", now - 3 * day, 0);
        d.master_version = None;
        insert(&mut db, &whole(d));
        db
    }

    #[test]
    fn latest_report_per_cluster_in_the_window() {
        let dir = Scratch::new("summary");
        let mut db = fleet(&dir);
        let s = build(&mut db, NOW, 30, None, 10).unwrap();
        assert_eq!((s.clusters, s.nodes, s.reports), (4, 3 + 1 + 1200, 5));
        assert_eq!(
            s.since, "1970-03-13T00:00:00Z",
            "today and the 29 days before"
        );
        let row = |rows: &[Row], v: &str| rows.iter().find(|r| r.value == v).cloned();
        assert_eq!(
            row(&s.kubernetes_versions, "v1.33").map(|r| r.clusters),
            Some(3),
            "a, b and c (fixture default v1.33.2)"
        );
        assert_eq!(
            row(&s.kubernetes_versions, NONE).map(|r| r.clusters),
            Some(1)
        );
        assert!(
            row(&s.kubernetes_versions, "v1.32").is_none(),
            "not a's latest"
        );
        assert!(
            row(&s.kubernetes_versions, "v1.20").is_none(),
            "outside the window"
        );
        assert!(s.kubernetes_versions.iter().all(|r| r.nodes.is_none()));

        let containerd = row(&s.container_runtimes, "containerd://1.7").unwrap();
        assert_eq!(
            (containerd.nodes, containerd.clusters),
            (Some(2 + 1 + 1200), 3)
        );
        let crio = row(&s.container_runtimes, "cri-o://1.33").unwrap();
        assert_eq!((crio.nodes, crio.clusters), (Some(1), 1));
        assert_eq!(
            s.container_runtimes[0].value, "containerd://1.7",
            "most nodes first"
        );
        assert_eq!(row(&s.cloud_providers, NONE).unwrap().nodes, Some(1));
        let arm = row(&s.architectures, "arm64").unwrap();
        assert_eq!(arm.nodes, Some(1 + 600));
        assert_eq!(row(&s.accelerators, "none").unwrap().nodes, Some(1204));

        let buckets: Vec<(String, u64)> = s
            .node_counts
            .iter()
            .map(|b| (b.nodes.clone(), b.clusters))
            .collect();
        assert_eq!(
            buckets,
            [
                ("0", 1),
                ("1", 1),
                ("2-5", 1),
                ("6-20", 0),
                ("21-100", 0),
                ("101-1000", 0),
                (">1000", 1)
            ]
            .map(|(b, n)| (b.to_string(), n))
        );
        assert_eq!(s.recent[0].cluster_id, "a");
        assert_eq!(s.recent[0].master_version.as_deref(), Some("v1.33.2-eks-1"));
        assert_eq!(s.recent[0].nodes, 3);
        assert_eq!(s.recent.len(), 4);
        // a's workload part was in an earlier report than its latest: only b's counts.
        assert_eq!(
            (s.workloads.clusters, s.workloads.clusters_with_statistics),
            (4, 1)
        );
    }

    #[test]
    fn one_cluster_an_empty_window_text_and_json() {
        let dir = Scratch::new("summary-views");
        let mut db = fleet(&dir);
        let (day, now) = (DAY, NOW);
        let s = build(&mut db, now, 30, None, 10).unwrap();
        let one = build(&mut db, now, 30, Some("a"), 10).unwrap();
        assert_eq!((one.clusters, one.nodes, one.reports), (1, 3, 2));
        assert_eq!(one.kubernetes_versions[0].value, "v1.33");
        let short = build(&mut db, now, 3, None, 10).unwrap();
        assert_eq!(
            (short.clusters, short.reports),
            (2, 2),
            "a and b: today and the 2 days before"
        );
        let none = build(&mut db, now + 365 * day, 30, None, 10).unwrap();
        assert_eq!((none.clusters, none.nodes), (0, 0));
        assert!(render(&none, 10).contains("No reports in this window."));

        let mut odd = s.clone();
        odd.os_images[0].value = "Ubuntu\u{2028}Fake line\u{202e}".into();
        odd.recent[0].cluster_id = "a\u{1b}[2J".into();
        let text = render(&odd, 10);
        assert!(text.contains("Ubuntu\\u{2028}Fake line\\u{202e}"), "{text}");
        assert!(text.contains("a\\u{1b}[2J"), "{text}");
        assert!(
            text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
            "{text}"
        );
        let text = render(&s, 1);
        assert!(text.contains("Clusters reporting: 4"), "{text}");
        assert!(text.contains("containerd://1.7"), "{text}");
        assert!(text.contains("(1 more)"), "top 1 sums up the rest:\n{text}");
        assert!(text.contains(">1000"), "{text}");
        assert!(text.contains("Accelerator"), "{text}");
        assert!(
            text.contains("Workload statistics: 1 of 4 clusters"),
            "{text}"
        );

        let json: serde_json::Value = serde_json::to_value(&s).unwrap();
        assert_eq!(json["clusters"], 4);
        assert_eq!(json["recent"][0]["clusterID"], "a");
        assert_eq!(json["nodeCounts"][6]["nodes"], ">1000");
        assert_eq!(json["workloads"]["clustersWithStatistics"], 1);
        assert_eq!(
            json["osImages"][0]["value"], NONE,
            "the fixture's nodes send no image"
        );
    }
}
