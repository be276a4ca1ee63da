//! The dashboard page: plain HTML with SVG charts drawn here and a data table beside each, no
//! script and nothing from elsewhere (it works offline and under `default-src 'none'`). It shows
//! tallies only: never a cluster ID. Pure.

use super::chart::{self, Series, escape};
use crate::collector::fleet::trends::{Period, Trend};
use crate::collector::fleet::{Dimension, SIZE_BUCKETS};
use crate::time::{rfc3339, rfc3339_date};
use std::collections::BTreeMap;
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

/// Values of a dimension shown as their own series; the rest are `other`.
const TOP: usize = 7;

/// The stylesheet, served as `/style.css`.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:1200px;color:#222}\
h1{margin:0 0 .2rem}header p{color:#555;margin:0 0 1rem}\
section{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start;border-top:1px solid #ddd;padding:1rem 0}\
section h2{flex-basis:100%;margin:0;font-size:1.15rem}\
figure{margin:0;flex:2 1 560px}figure svg{width:100%;height:auto}\
table{border-collapse:collapse;font-size:.85rem;flex:1 1 260px}\
th,td{padding:.15rem .5rem;text-align:right;border-bottom:1px solid #eee}th:first-child,td:first-child{text-align:left;min-width:6.5em}\
.key{display:inline-block;width:.8em;height:.8em;margin-right:.3em}";

/// The Content-Security-Policy the page is served with.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The whole page.
pub fn page(view: &View) -> String {
    let mut out = String::with_capacity(64 * 1024);
    let now = &view.current.tally;
    let _ = write!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><title>spartakus: the fleet</title><link rel="stylesheet" href="/style.css"></head><body><header><h1>The fleet</h1><p>{} clusters and {} nodes reported in the last {} days; {} periods of a {}; made {}.</p></header>"#,
        now.clusters,
        now.nodes,
        view.current_days,
        view.trend.periods.len(),
        view.trend.every.name(),
        rfc3339(view.generated_at)
    );
    size_over_time(&mut out, &view.trend);
    versions_over_time(&mut out, &view.trend);
    for dimension in Dimension::ALL {
        shares_now(&mut out, view, dimension);
    }
    cluster_sizes(&mut out, view);
    out.push_str("</body></html>\n");
    out
}

fn labels(trend: &Trend) -> Vec<String> {
    trend
        .periods
        .iter()
        .map(|p| rfc3339_date(p.start))
        .collect()
}

/// A section: heading, figure, then a table of `header` columns and `rows`.
fn section(
    out: &mut String,
    id: &str,
    title: &str,
    svg: &str,
    header: &[String],
    rows: &[Vec<String>],
) {
    let _ = write!(
        out,
        r#"<section id="{id}"><h2>{}</h2><figure>{svg}</figure><table><thead><tr>"#,
        escape(title)
    );
    for h in header {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></section>");
}

fn size_over_time(out: &mut String, trend: &Trend) {
    let labels = labels(trend);
    let clusters: Vec<f64> = trend
        .periods
        .iter()
        .map(|p| p.tally.clusters as f64)
        .collect();
    let nodes: Vec<f64> = trend.periods.iter().map(|p| p.tally.nodes as f64).collect();
    let rows: Vec<Vec<String>> = trend
        .periods
        .iter()
        .map(|p| {
            vec![
                rfc3339_date(p.start),
                p.tally.clusters.to_string(),
                p.tally.nodes.to_string(),
            ]
        })
        .collect();
    let header = ["period".to_string(), "clusters".into(), "nodes".into()];
    let svg = chart::lines(
        "Clusters reporting",
        &labels,
        &[Series {
            name: "clusters".into(),
            values: clusters,
        }],
    );
    section(out, "clusters", "Clusters reporting", &svg, &header, &rows);
    let svg = chart::lines(
        "Nodes",
        &labels,
        &[Series {
            name: "nodes".into(),
            values: nodes,
        }],
    );
    let node_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| vec![r[0].clone(), r[2].clone()])
        .collect();
    section(
        out,
        "nodes",
        "Nodes in those clusters",
        &svg,
        &["period".into(), "nodes".into()],
        &node_rows,
    );
}

/// The values shown as series: the `TOP` with most clusters over the whole trend.
fn leading(trend: &Trend, dimension: Dimension) -> Vec<String> {
    let mut totals: BTreeMap<&str, u64> = BTreeMap::new();
    for p in &trend.periods {
        for (value, count) in p.tally.by.get(&dimension).into_iter().flatten() {
            *totals.entry(value).or_default() += count.clusters;
        }
    }
    let mut values: Vec<(&str, u64)> = totals.into_iter().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    values
        .into_iter()
        .take(TOP)
        .map(|(v, _)| v.to_string())
        .collect()
}

fn versions_over_time(out: &mut String, trend: &Trend) {
    let dimension = Dimension::KubernetesVersion;
    let mut names = leading(trend, dimension);
    names.sort_by(|a, b| b.cmp(a)); // newest version on top of the stack's legend
    let of = |p: &Period, v: &str| {
        p.tally
            .by
            .get(&dimension)
            .and_then(|m| m.get(v))
            .map_or(0, |c| c.clusters)
    };
    let mut series: Vec<Series> = names
        .iter()
        .map(|v| Series {
            name: v.clone(),
            values: trend.periods.iter().map(|p| of(p, v) as f64).collect(),
        })
        .collect();
    let other: Vec<f64> = trend
        .periods
        .iter()
        .map(|p| {
            p.tally
                .clusters
                .saturating_sub(names.iter().map(|v| of(p, v)).sum::<u64>()) as f64
        })
        .collect();
    if other.iter().any(|v| *v > 0.0) {
        series.push(Series {
            name: "other".into(),
            values: other,
        });
    }
    let svg = chart::stacked(
        "Kubernetes versions, share of clusters",
        &labels(trend),
        &series,
    );
    let mut header = vec!["period".to_string()];
    header.extend(series.iter().map(|s| s.name.clone()));
    let rows: Vec<Vec<String>> = trend
        .periods
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut row = vec![rfc3339_date(p.start)];
            row.extend(series.iter().map(|s| format!("{}", s.values[i])));
            row
        })
        .collect();
    section(
        out,
        "versions",
        "Adoption of Kubernetes versions (clusters)",
        &svg,
        &header,
        &rows,
    );
}

fn shares_now(out: &mut String, view: &View, dimension: Dimension) {
    let by_clusters = dimension == Dimension::KubernetesVersion;
    let tally = &view.current.tally;
    let rows = tally.top(dimension, TOP);
    let bars: Vec<(String, f64)> = rows
        .iter()
        .map(|(v, c)| {
            (
                v.clone(),
                (if by_clusters { c.clusters } else { c.nodes }) as f64,
            )
        })
        .collect();
    let unit = if by_clusters { "clusters" } else { "nodes" };
    let title = format!("{} now ({unit})", dimension.title());
    let svg = chart::bars(&title, &bars);
    let whole = if by_clusters {
        tally.clusters
    } else {
        tally.nodes
    }
    .max(1);
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|(v, c)| {
            let n = if by_clusters { c.clusters } else { c.nodes };
            vec![
                v.clone(),
                c.clusters.to_string(),
                c.nodes.to_string(),
                format!("{:.1}%", n as f64 * 100.0 / whole as f64),
            ]
        })
        .collect();
    let header = [
        "value".to_string(),
        "clusters".into(),
        "nodes".into(),
        "share".into(),
    ];
    section(out, dimension.name(), &title, &svg, &header, &table);
}

fn cluster_sizes(out: &mut String, view: &View) {
    let bars: Vec<(String, f64)> = SIZE_BUCKETS
        .iter()
        .map(|(_, label)| {
            let n = view.current.sizes.get(label).copied().unwrap_or(0);
            (label.to_string(), n as f64)
        })
        .collect();
    let svg = chart::bars("Clusters by number of nodes", &bars);
    let rows: Vec<Vec<String>> = bars
        .iter()
        .map(|(label, n)| vec![label.clone(), format!("{n}")])
        .collect();
    section(
        out,
        "sizes",
        "Cluster sizes (clusters by nodes)",
        &svg,
        &["nodes".into(), "clusters".into()],
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fleet::Profile;
    use crate::collector::fleet::trends::Every;
    use crate::contract::{Node, Report};

    fn profile(version: &str, nodes: u64) -> Profile {
        let mut p = Profile::of(&Report {
            master_version: Some(version.into()),
            ..Report::default()
        });
        for _ in 0..nodes {
            p.add(&Node {
                id: "0".repeat(32),
                os_image: Some("Ubuntu <b>24.04</b>".into()),
                ..Node::default()
            });
        }
        p
    }

    #[test]
    fn the_page_holds_every_chart_and_no_script() {
        let (a, b) = (profile("v1.32.0", 3), profile("v1.33.1", 40));
        let week = 7 * 86_400;
        let w0 = Every::Week.start(0);
        let rows = vec![
            (w0, &a, 5),
            (w0 + week, &a, 3),
            (w0 + week, &b, 2),
            (w0 + 2 * week, &b, 6),
        ];
        let trend = Trend::build(Every::Week, w0, w0 + 2 * week, rows);
        let mut current = Period::default();
        current.add(&b, 6);
        let view = View {
            generated_at: 3 * week,
            trend,
            current,
            current_days: 7,
        };
        let html = page(&view);
        for id in [
            "clusters",
            "nodes",
            "versions",
            "kubernetes_version",
            "os_image",
            "accelerator",
            "sizes",
        ] {
            assert!(html.contains(&format!(r#"<section id="{id}">"#)), "{id}");
        }
        assert!(html.contains(r#"data-series="v1.33""#) && html.contains(r#"data-series="v1.32""#));
        assert!(html.contains("Ubuntu &lt;b&gt;24.04&lt;/b&gt;") || html.contains("Ubuntu"));
        assert!(!html.contains("<b>"), "report text is escaped");
        assert!(!html.to_ascii_lowercase().contains("<script"));
        assert!(
            !html.contains("http://")
                || html.matches("http://").count()
                    == html.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(html.contains("6 clusters and 240 nodes reported in the last 7 days"));
    }
}
