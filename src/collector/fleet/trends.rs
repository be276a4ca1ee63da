//! How a fleet changes: periods (day, week, month), the fleet's tally in each, and the three
//! ways of showing it (`--format table|json|csv`). Pure: the store hands in, per period, each
//! profile with the number of clusters whose latest report in the period had it.

use super::{Count, Dimension, Profile, Tally, size_bucket};
use crate::text::{csv_field, printable};
use crate::time::{civil, days_from_civil, rfc3339_date};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;

/// The length of a period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Every {
    Day,
    /// ISO weeks, from Monday.
    Week,
    Month,
}

impl Every {
    pub const ALL: [Every; 3] = [Every::Day, Every::Week, Every::Month];

    pub fn parse(text: &str) -> Result<Every, String> {
        match text {
            "day" => Ok(Every::Day),
            "week" => Ok(Every::Week),
            "month" => Ok(Every::Month),
            _ => Err("want day, week or month".into()),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Every::Day => "day",
            Every::Week => "week",
            Every::Month => "month",
        }
    }

    /// How the store's `cluster_periods.every` holds it: the period's length in days, roughly.
    pub fn code(self) -> i64 {
        match self {
            Every::Day => 1,
            Every::Week => 7,
            Every::Month => 30,
        }
    }

    /// The start (Unix seconds, UTC midnight) of the period holding `secs`.
    pub fn start(self, secs: i64) -> i64 {
        let day = secs.div_euclid(86_400);
        let first = match self {
            Every::Day => day,
            // 1970-01-01 was a Thursday: Monday is 3 days before it.
            Every::Week => day - (day + 3).rem_euclid(7),
            Every::Month => {
                let (y, m, _) = civil(day);
                days_from_civil(y, m, 1)
            }
        };
        first * 86_400
    }

    /// The start of the period after the one starting at `start`.
    pub fn next(self, start: i64) -> i64 {
        match self {
            Every::Day => start + 86_400,
            Every::Week => start + 7 * 86_400,
            Every::Month => {
                let (y, m, _) = civil(start.div_euclid(86_400));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The starts of the periods from the one holding `since` to the one holding `until`.
    pub fn starts(self, since: i64, until: i64) -> Vec<i64> {
        let mut out = Vec::new();
        let mut at = self.start(since);
        while at <= until {
            out.push(at);
            at = self.next(at);
        }
        out
    }
}

/// One period's fleet.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Period {
    /// Unix seconds.
    pub start: i64,
    pub tally: Tally,
    /// Clusters by size bucket (see [`super::SIZE_BUCKETS`]).
    pub sizes: BTreeMap<&'static str, u64>,
}

impl Period {
    /// Adds `clusters` clusters whose latest report in the period had `profile`.
    pub fn add(&mut self, profile: &Profile, clusters: u64) {
        self.tally.add(profile, clusters);
        *self.sizes.entry(size_bucket(profile.nodes)).or_default() += clusters;
    }
}

/// A trend: every period from the first to the last, empty ones included.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub every: Every,
    pub periods: Vec<Period>,
}

impl Trend {
    /// A trend over the periods from `since` to `until`, from `(period start, profile,
    /// clusters)` rows.
    pub fn build<'a>(
        every: Every,
        since: i64,
        until: i64,
        rows: impl IntoIterator<Item = (i64, &'a Profile, u64)>,
    ) -> Trend {
        let mut periods: Vec<Period> = every
            .starts(since, until)
            .into_iter()
            .map(|start| Period {
                start,
                ..Period::default()
            })
            .collect();
        for (start, profile, clusters) in rows {
            if let Ok(i) = periods.binary_search_by_key(&start, |p| p.start) {
                periods[i].add(profile, clusters);
            }
        }
        Trend { every, periods }
    }
}

/// Long, tidy CSV: `period_start,dimension,value,clusters,nodes`, a `total` row per period.
pub fn csv(trend: &Trend) -> String {
    let mut out = String::from("period_start,dimension,value,clusters,nodes\n");
    for p in &trend.periods {
        let date = rfc3339_date(p.start);
        let _ = writeln!(out, "{date},total,,{},{}", p.tally.clusters, p.tally.nodes);
        for (dimension, values) in &p.tally.by {
            for (value, count) in values {
                let _ = writeln!(
                    out,
                    "{date},{},{},{},{}",
                    dimension.name(),
                    csv_field(value),
                    count.clusters,
                    count.nodes
                );
            }
        }
    }
    out
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonTrend<'a> {
    every: &'a str,
    periods: Vec<JsonPeriod>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonPeriod {
    period_start: String,
    clusters: u64,
    nodes: u64,
    dimensions: BTreeMap<&'static str, Vec<JsonValue>>,
    cluster_sizes: BTreeMap<&'static str, u64>,
}

#[derive(Serialize)]
struct JsonValue {
    value: String,
    clusters: u64,
    nodes: u64,
}

/// The trend as one JSON document (a stable shape for scripts).
pub fn json(trend: &Trend) -> String {
    let periods = trend
        .periods
        .iter()
        .map(|p| JsonPeriod {
            period_start: rfc3339_date(p.start),
            clusters: p.tally.clusters,
            nodes: p.tally.nodes,
            dimensions: p
                .tally
                .by
                .iter()
                .map(|(d, values)| {
                    let values = values
                        .iter()
                        .map(|(value, c)| JsonValue {
                            value: value.clone(),
                            clusters: c.clusters,
                            nodes: c.nodes,
                        })
                        .collect();
                    (d.name(), values)
                })
                .collect(),
            cluster_sizes: p.sizes.clone(),
        })
        .collect();
    let doc = JsonTrend {
        every: trend.every.name(),
        periods,
    };
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The line that says what a trend's table shows.
pub fn title(trend: &Trend, cluster: Option<&str>) -> String {
    let (Some(first), Some(last)) = (trend.periods.first(), trend.periods.last()) else {
        return "Fleet trend: no periods".into();
    };
    let every = trend.every.name();
    let scope = cluster
        .map(|c| format!(" (cluster {})", printable(c, 128)))
        .unwrap_or_default();
    format!(
        "Fleet{scope} by {every}, {} to {}: each cluster once per {every}, by its latest report in it",
        rfc3339_date(first.start),
        rfc3339_date(last.start)
    )
}

/// The trend as text: the totals per period, then per dimension its `top` values (most in
/// the last period first) as columns, clusters for the Kubernetes version and nodes otherwise.
pub fn table(trend: &Trend, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>9} {:>9}",
        trend.every.name(),
        "clusters",
        "nodes"
    );
    for p in &trend.periods {
        let date = rfc3339_date(p.start);
        let _ = writeln!(
            out,
            "{date:<12} {:>9} {:>9}",
            p.tally.clusters, p.tally.nodes
        );
    }
    let Some(last) = trend.periods.iter().rev().find(|p| p.tally.clusters > 0) else {
        return out;
    };
    for dimension in Dimension::ALL {
        let columns: Vec<String> = last
            .tally
            .top(dimension, top)
            .into_iter()
            .map(|(value, _)| value)
            .filter(|v| v != "other")
            .collect();
        let by_clusters = dimension == Dimension::KubernetesVersion;
        let unit = if by_clusters { "clusters" } else { "nodes" };
        let _ = writeln!(out, "\n{} ({unit})", dimension.title());
        let heads: Vec<String> = columns
            .iter()
            .map(|c| clip(&printable(c, 64), 20))
            .collect();
        // As wide as the widest value shown (a count is narrower than any value's name).
        let width = heads
            .iter()
            .map(|h| h.chars().count())
            .max()
            .unwrap_or(0)
            .max(9);
        let _ = writeln!(out, "{:<12} {}", trend.every.name(), row(&heads, width));
        for p in &trend.periods {
            let values = p.tally.by.get(&dimension);
            let cells: Vec<String> = columns
                .iter()
                .map(|c| {
                    let count = values
                        .and_then(|v| v.get(c))
                        .cloned()
                        .unwrap_or(Count::default());
                    (if by_clusters {
                        count.clusters
                    } else {
                        count.nodes
                    })
                    .to_string()
                })
                .collect();
            let _ = writeln!(out, "{:<12} {}", rfc3339_date(p.start), row(&cells, width));
        }
    }
    out
}

fn row(cells: &[String], width: usize) -> String {
    cells
        .iter()
        .map(|c| format!("{c:>width$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `text` cut to `width` characters, a `~` marking the cut.
pub(crate) fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('~');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Node, Report};

    const DAY: i64 = 86_400;

    #[test]
    fn period_starts() {
        // 2026-12-01 is a Tuesday.
        let t = days_from_civil(2026, 12, 1) * DAY + 3600 * 13;
        assert_eq!(rfc3339_date(Every::Day.start(t)), "2026-12-01");
        assert_eq!(rfc3339_date(Every::Week.start(t)), "2026-11-30");
        assert_eq!(rfc3339_date(Every::Month.start(t)), "2026-12-01");
        assert_eq!(
            rfc3339_date(Every::Month.next(Every::Month.start(t))),
            "2027-01-01"
        );
        let feb = days_from_civil(2028, 2, 29) * DAY;
        assert_eq!(rfc3339_date(Every::Month.start(feb)), "2028-02-01");
        assert_eq!(
            rfc3339_date(Every::Month.next(Every::Month.start(feb))),
            "2028-03-01"
        );
        let weeks = Every::Week.starts(t - 180 * DAY, t);
        assert_eq!(weeks.len(), 27);
        assert!(weeks.windows(2).all(|w| w[1] - w[0] == 7 * DAY));
        assert_eq!(Every::parse("week"), Ok(Every::Week));
        assert!(Every::parse("year").is_err());
        for every in Every::ALL {
            let s = every.start(t);
            assert_eq!(every.start(s), s);
            assert!(every.next(s) > t);
        }
    }

    fn profile(version: &str, arch: &str, nodes: u64) -> Profile {
        let mut p = Profile::of(&Report {
            master_version: Some(version.into()),
            ..Report::default()
        });
        for _ in 0..nodes {
            p.add(&Node {
                id: "0".repeat(32),
                architecture: Some(arch.into()),
                ..Node::default()
            });
        }
        p
    }

    #[test]
    fn trends_in_three_formats() {
        let since = days_from_civil(2026, 11, 2) * DAY;
        let until = since + 20 * DAY;
        let old = profile("v1.32.1", "amd64", 3);
        let new = profile("v1.33.0", "arm,64", 2);
        let formula = profile("v1.33.0", "=HYPERLINK(\"x\")", 1);
        let rows = vec![
            (since, &old, 10),
            (since + 7 * DAY, &old, 6),
            (since + 7 * DAY, &new, 4),
            (since + 14 * DAY, &new, 9),
            (since + 14 * DAY, &formula, 1),
            (since + 99 * DAY, &new, 1000),
        ];
        let t = Trend::build(Every::Week, since, until, rows);
        assert_eq!(t.periods.len(), 3, "rows outside the range are dropped");
        assert_eq!(t.periods[1].tally.clusters, 10);
        assert_eq!(t.periods[1].tally.nodes, 6 * 3 + 4 * 2);
        assert_eq!(t.periods[0].sizes["2-5"], 10);

        let csv = csv(&t);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "period_start,dimension,value,clusters,nodes");
        assert!(lines.contains(&"2026-11-02,total,,10,30"), "{csv}");
        assert!(
            lines.contains(&"2026-11-09,kubernetes_version,v1.33,4,8"),
            "{csv}"
        );
        assert!(
            lines.contains(&"2026-11-16,architecture,\"arm,64\",9,18"),
            "{csv}"
        );
        assert!(
            lines.contains(&"2026-11-16,architecture,\"'=HYPERLINK(\"\"x\"\")\",1,1"),
            "{csv}"
        );

        let json: serde_json::Value = serde_json::from_str(&json(&t)).unwrap();
        assert_eq!(json["every"], "week");
        assert_eq!(json["periods"][1]["periodStart"], "2026-11-09");
        assert_eq!(
            json["periods"][1]["dimensions"]["kubernetes_version"][0]["value"],
            "v1.32"
        );
        assert_eq!(json["periods"][2]["clusterSizes"]["1"], 1);

        let text = table(&t, 5);
        assert!(text.contains("2026-11-16          10        19"), "{text}");
        assert!(text.contains("Kubernetes version (clusters)"), "{text}");
        assert!(
            text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
            "{text}"
        );
    }
}
