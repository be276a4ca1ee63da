//! The dashboard page: plain HTML with SVG charts drawn here and a data table beside each, no
//! script and nothing from elsewhere (it works offline and under `default-src 'none'`). It shows
//! tallies only: never a cluster ID. Pure.
//!
//! Over time: clusters and nodes, and the shares of Kubernetes versions and of version skews,
//! each naming every value that led a period (see `store::read`) and `(other)`, the period not
//! finished yet drawn apart and named "so far". Now: each dimension's top values and `(other)`,
//! in the order of the count its table leads with. A value is shown as reported, with control
//! and invisible characters escaped ([`crate::text::visible`]), a bucket in parentheses and
//! italics; a section without data says why.

use super::chart::{self, Axis, Series, escape};
use crate::collector::fleet::trends::{Period, Trend};
use crate::collector::fleet::{Dimension, Entry, Label, SIZE_BUCKETS};
use crate::time::{rfc3339, rfc3339_date};
use std::fmt::Write;

/// What the page shows.
#[derive(Debug, Clone)]
pub struct View {
    /// Unix seconds.
    pub generated_at: i64,
    /// The fleet period by period, oldest first.
    pub trend: Trend,
    /// The fleet now: each cluster by its latest report in the last `current_days` days.
    pub current: Period,
    pub current_days: u32,
}

/// Values of a dimension that lead a period; the rest are `other`.
pub const TOP: usize = 7;

/// The stylesheet, served as `/style.css`.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1200px;color:#222}\
h1{margin:0 0 .2rem}header p{color:#555;margin:0 0 1rem}\
section{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start;border-top:1px solid #ddd;padding:1rem 0}\
section h2{flex-basis:100%;margin:0;font-size:1.15rem}section p{flex-basis:100%;margin:0;color:#555}\
figure{margin:0;flex:2 1 560px}figure svg{width:100%;height:auto}\
table{border-collapse:collapse;font-size:.85rem;flex:1 1 360px;max-width:100%}\
th,td{padding:.15rem .5rem;text-align:right;border-bottom:1px solid #eee;white-space:nowrap}\
th{white-space:normal}\
th:first-child,td:first-child{text-align:left;min-width:10em;max-width:20em;white-space:normal;overflow-wrap:anywhere}\
.bucket{font-style:italic}";

/// The longest heading a table shows whole; a longer one (a value's, over time) is cut, the
/// whole of it its tooltip. A number never wraps, a heading only between words, a value (the
/// first column) anywhere.
const HEADING_CHARS: usize = 16;

/// The Content-Security-Policy the page is served with.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The whole page.
pub fn page(view: &View) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let now = &view.current.tally;
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>spartakus: the fleet</title><link rel="stylesheet" href="/style.css"></head><body><header><h1>The fleet</h1><p>{} and {} reported in the last {}; {} of a {}; made {}.</p></header>"#,
        crate::text::count(now.clusters, "cluster"),
        crate::text::count(now.nodes, "node"),
        crate::text::count(u64::from(view.current_days), "day"),
        crate::text::count(view.trend.periods.len() as u64, "period"),
        view.trend.every.name(),
        rfc3339(view.generated_at)
    );
    size_over_time(&mut out, &view.trend);
    shares_over_time(&mut out, &view.trend, Dimension::KubernetesVersion);
    shares_over_time(&mut out, &view.trend, Dimension::VersionSkew);
    for dimension in Dimension::ALL {
        shares_now(&mut out, view, dimension);
    }
    cluster_sizes(&mut out, view);
    out.push_str("</body></html>\n");
    out
}

/// A label as the page shows it (not yet escaped for HTML).
fn shown(label: &Label) -> String {
    label.shown(crate::text::visible)
}

/// One row of a table: its first cell (a label, and whether it is a bucket), then numbers.
struct Row {
    head: String,
    bucket: bool,
    cells: Vec<String>,
}

/// A section: heading, a note saying what the figure shows or why it is empty, the figure,
/// then a table of `header` columns and `rows`.
fn section(
    out: &mut String,
    id: &str,
    title: &str,
    note: &str,
    svg: &str,
    table: (&[String], &[Row]),
) {
    let _ = write!(out, r#"<section id="{id}"><h2>{}</h2>"#, escape(title));
    if !note.is_empty() {
        let _ = write!(out, "<p>{}</p>", escape(note));
    }
    let (header, rows) = table;
    if rows.is_empty() {
        out.push_str("</section>");
        return;
    }
    let _ = write!(out, "<figure>{svg}</figure><table><thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i > 0 && h.starts_with('(') && h.ends_with(')') {
            r#" class="bucket""#
        } else {
            ""
        };
        // A value as a column's heading (the tables over time): cut, the whole as its tooltip.
        if h.chars().count() > HEADING_CHARS {
            let short = escape(&super::chart::cut(h, HEADING_CHARS));
            let _ = write!(out, r#"<th{class} title="{}">{short}</th>"#, escape(h));
        } else {
            let _ = write!(out, "<th{class}>{}</th>", escape(h));
        }
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        let class = if row.bucket { r#" class="bucket""# } else { "" };
        let _ = write!(out, "<tr><td{class}>{}</td>", escape(&row.head));
        for cell in &row.cells {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

/// A period's name in a table, "so far" when it is not finished.
fn period_name(trend: &Trend, p: &Period) -> String {
    let date = rfc3339_date(p.start);
    if trend.finished(p.start) {
        date
    } else {
        format!("{date} (so far)")
    }
}

/// The start dates of a trend's periods: a chart's labels over time.
fn dates(trend: &Trend) -> Vec<String> {
    trend
        .periods
        .iter()
        .map(|p| rfc3339_date(p.start))
        .collect()
}

/// What a chart over time says of itself: why it is empty, or that its last period is not
/// finished.
fn note_over_time(trend: &Trend) -> String {
    if trend.is_empty() {
        return "No cluster has reported in these periods.".into();
    }
    match trend.periods.last() {
        Some(p) if !trend.finished(p.start) => format!(
            "The last {} (since {}) is not finished: drawn apart, its clusters so far.",
            trend.every.name(),
            rfc3339_date(p.start)
        ),
        _ => String::new(),
    }
}

fn size_over_time(out: &mut String, trend: &Trend) {
    let labels = dates(trend);
    let axis = Axis {
        labels: &labels,
        unfinished: trend.last_unfinished(),
    };
    let note = note_over_time(trend);
    let empty = trend.is_empty();
    for (id, title, name, of) in [
        (
            "clusters",
            "Clusters reporting",
            "clusters",
            (|p| p.tally.clusters) as fn(&Period) -> u64,
        ),
        ("nodes", "Nodes in those clusters", "nodes", |p| {
            p.tally.nodes
        }),
    ] {
        let values = trend.periods.iter().map(|p| of(p) as f64).collect();
        let svg = chart::lines(title, &axis, &[Series::new(name, values)]);
        let rows: Vec<Row> = if empty {
            Vec::new()
        } else {
            trend
                .periods
                .iter()
                .map(|p| Row {
                    head: period_name(trend, p),
                    bucket: false,
                    cells: vec![of(p).to_string()],
                })
                .collect()
        };
        let header = ["period".to_string(), name.to_string()];
        section(out, id, title, &note, &svg, (&header, &rows));
    }
}

/// A dimension's shares of clusters over time, stacked: each value that led a period, then
/// `(other)`.
fn shares_over_time(out: &mut String, trend: &Trend, dimension: Dimension) {
    let (id, title) = match dimension {
        Dimension::VersionSkew => (
            "skew",
            "Version skew over time (clusters by their kubelet furthest behind the API server)",
        ),
        _ => ("versions", "Adoption of Kubernetes versions (clusters)"),
    };
    let mut labels = trend.columns(dimension);
    if dimension == Dimension::KubernetesVersion {
        // The newest version on top of the stack and of its legend.
        labels.sort_by_key(|l| {
            std::cmp::Reverse(crate::collector::fleet::categories::numbers(l.value()))
        });
    }
    if trend
        .periods
        .iter()
        .any(|p| p.tally.get(dimension, &Label::Other).is_some())
    {
        labels.push(Label::Other);
    }
    let series: Vec<Series> = labels
        .iter()
        .map(|label| Series {
            name: shown(label),
            values: trend
                .periods
                .iter()
                .map(|p| {
                    p.tally
                        .get(dimension, label)
                        .map_or(0.0, |e| e.clusters as f64)
                })
                .collect(),
            other: *label == Label::Other,
        })
        .collect();
    let labels = dates(trend);
    let axis = Axis {
        labels: &labels,
        unfinished: trend.last_unfinished(),
    };
    let svg = chart::stacked(&format!("{title}, share of clusters"), &axis, &series);
    let mut header = vec!["period".to_string()];
    header.extend(series.iter().map(|s| s.name.clone()));
    let rows: Vec<Row> = if series.is_empty() {
        Vec::new()
    } else {
        trend
            .periods
            .iter()
            .enumerate()
            .map(|(i, p)| Row {
                head: period_name(trend, p),
                bucket: false,
                cells: series.iter().map(|s| format!("{}", s.values[i])).collect(),
            })
            .collect()
    };
    section(
        out,
        id,
        title,
        &note_over_time(trend),
        &svg,
        (&header, &rows),
    );
}

/// A dimension now: bars and a table of its entries, in the order of the count a table of it
/// leads with (clusters for the Kubernetes version and the version skew, else nodes).
fn shares_now(out: &mut String, view: &View, dimension: Dimension) {
    let tally = &view.current.tally;
    let entries = tally.entries(dimension);
    let title = format!("{} now ({})", dimension.title(), dimension.unit());
    let note = if tally.clusters == 0 {
        format!(
            "No cluster has reported in the last {}.",
            crate::text::count(u64::from(view.current_days), "day")
        )
    } else if entries.is_empty() {
        format!(
            "None of the {} of the last {} reported nodes.",
            crate::text::count(tally.clusters, "cluster"),
            crate::text::count(u64::from(view.current_days), "day")
        )
    } else if dimension == Dimension::VersionSkew {
        "Clusters by their kubelet furthest behind the API server (any kubelet ahead of it makes a cluster \"ahead\"), nodes each by its own.".into()
    } else {
        String::new()
    };
    let bars: Vec<(String, f64, bool)> = entries
        .iter()
        .map(|e| {
            (
                shown(&e.label),
                e.count(dimension) as f64,
                e.label == Label::Other,
            )
        })
        .collect();
    let svg = chart::bars(&title, &bars);
    let share = |n: u64, whole: u64| format!("{:.1}%", n as f64 * 100.0 / whole.max(1) as f64);
    let rows: Vec<Row> = entries
        .iter()
        .map(|e: &Entry| Row {
            head: shown(&e.label),
            bucket: e.label.bucket().is_some(),
            cells: vec![
                e.clusters.to_string(),
                share(e.clusters, tally.clusters),
                e.nodes.to_string(),
                share(e.nodes, tally.nodes),
            ],
        })
        .collect();
    let header = [
        "value".to_string(),
        "clusters".into(),
        "of clusters".into(),
        "nodes".into(),
        "of nodes".into(),
    ];
    section(out, dimension.name(), &title, &note, &svg, (&header, &rows));
}

fn cluster_sizes(out: &mut String, view: &View) {
    let bars: Vec<(String, f64, bool)> = SIZE_BUCKETS
        .iter()
        .map(|(_, label)| {
            let n = view.current.sizes.get(label).copied().unwrap_or(0);
            (label.to_string(), n as f64, false)
        })
        .collect();
    let svg = chart::bars("Clusters by number of nodes", &bars);
    let note = if view.current.tally.clusters == 0 {
        format!(
            "No cluster has reported in the last {}.",
            crate::text::count(u64::from(view.current_days), "day")
        )
    } else {
        String::new()
    };
    let rows: Vec<Row> = if note.is_empty() {
        bars.iter()
            .map(|(label, n, _)| Row {
                head: label.clone(),
                bucket: false,
                cells: vec![format!("{n}")],
            })
            .collect()
    } else {
        Vec::new()
    };
    let header = ["nodes".to_string(), "clusters".into()];
    section(
        out,
        "sizes",
        "Cluster sizes (clusters by nodes)",
        &note,
        &svg,
        (&header, &rows),
    );
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
