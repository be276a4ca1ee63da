//! How a fleet changes: periods (day, week, month), the fleet's numbers in each ([`Period`], as
//! the store hands them over, see `store::read`), and the three ways of showing them
//! (`--format table|json|csv`). Pure.

use super::{Dimension, Entry, Label, Tally};
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
    /// A period without clusters.
    pub fn empty(start: i64) -> Period {
        Period {
            start,
            ..Period::default()
        }
    }
}

/// A trend: every period from the first to the last, empty ones included.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    pub every: Every,
    /// When it was read (Unix seconds): the period holding it is not finished.
    pub until: i64,
    pub periods: Vec<Period>,
}

impl Trend {
    /// Whether the period starting at `start` had ended when the trend was read.
    pub fn finished(&self, start: i64) -> bool {
        self.every.next(start) <= self.until
    }

    /// Whether its last period had not ended when the trend was read.
    pub fn last_unfinished(&self) -> bool {
        self.periods.last().is_some_and(|p| !self.finished(p.start))
    }

    /// Whether no cluster reported in any of its periods.
    pub fn is_empty(&self) -> bool {
        self.periods.iter().all(|p| p.tally.clusters == 0)
    }

    /// The labels of `dimension` shown in any period (those that led one): those placed highest
    /// in any period first, and among them the largest over all periods (the version skew in
    /// its own order); `other` is not among them.
    pub fn columns(&self, dimension: Dimension) -> Vec<Label> {
        let mut best: BTreeMap<&Label, (usize, u64)> = BTreeMap::new();
        for p in &self.periods {
            for (place, e) in p.tally.entries(dimension).iter().enumerate() {
                if e.label == Label::Other {
                    continue;
                }
                let slot = best.entry(&e.label).or_insert((place, 0));
                slot.0 = slot.0.min(place);
                slot.1 += e.count(dimension);
            }
        }
        let mut columns: Vec<(&Label, (usize, u64))> = best.into_iter().collect();
        if dimension != Dimension::VersionSkew {
            columns.sort_by(|a, b| (a.1.0, b.1.1).cmp(&(b.1.0, a.1.1)).then(a.0.cmp(b.0)));
        } else {
            let at = |l: &Label| super::SKEWS.iter().position(|s| *s == l.value());
            columns.sort_by_key(|c| at(c.0));
        }
        columns.into_iter().map(|(l, _)| l.clone()).collect()
    }
}

/// The CSV's header: long and tidy, a row per period, dimension and label, and a `total` row
/// per period. `bucket` is empty for a value, else `not_reported` or `other` (with `value`
/// empty).
pub const CSV_HEADER: &str = "period_start,dimension,value,clusters,nodes,bucket,finished\n";

/// The CSV's `finished` field: `true` or `false` for a period of a trend (`false` for the one
/// holding now), empty for the window of a summary.
fn finished_field(finished: Option<bool>) -> &'static str {
    match finished {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// A `total` row of the CSV.
pub(crate) fn csv_total(
    out: &mut String,
    start: i64,
    clusters: u64,
    nodes: u64,
    finished: Option<bool>,
) {
    let _ = writeln!(
        out,
        "{},total,,{clusters},{nodes},,{}",
        rfc3339_date(start),
        finished_field(finished)
    );
}

/// A row of the CSV.
pub(crate) fn csv_row(
    out: &mut String,
    start: i64,
    dimension: Dimension,
    e: &Entry,
    finished: Option<bool>,
) {
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{}",
        rfc3339_date(start),
        dimension.name(),
        csv_field(e.label.value()),
        e.clusters,
        e.nodes,
        e.label.bucket().unwrap_or(""),
        finished_field(finished)
    );
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
    /// Whether the period had ended when the trend was read.
    finished: bool,
    clusters: u64,
    nodes: u64,
    dimensions: BTreeMap<&'static str, Vec<JsonValue>>,
    cluster_sizes: BTreeMap<&'static str, u64>,
}

/// A label and its counts in JSON: a value as `value`, a bucket as `bucket`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JsonValue {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bucket: Option<&'static str>,
    pub clusters: u64,
    /// Left out for the Kubernetes version in the summary (one per cluster).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<u64>,
}

impl JsonValue {
    /// The label it is of.
    pub fn label(&self) -> Label {
        match self.bucket {
            Some("other") => Label::Other,
            Some(_) => Label::NotReported,
            None => Label::Value(self.value.clone().unwrap_or_default()),
        }
    }

    pub(crate) fn of(e: &Entry, nodes: bool) -> JsonValue {
        JsonValue {
            value: e
                .label
                .bucket()
                .is_none()
                .then(|| e.label.value().to_string()),
            bucket: e.label.bucket(),
            clusters: e.clusters,
            nodes: nodes.then_some(e.nodes),
        }
    }
}

/// The trend as one JSON document (a stable shape for scripts): per period the values shown
/// (those that led a period, see `store::read`) and `other`.
pub fn json(trend: &Trend) -> String {
    let periods = trend
        .periods
        .iter()
        .map(|p| JsonPeriod {
            period_start: rfc3339_date(p.start),
            finished: trend.finished(p.start),
            clusters: p.tally.clusters,
            nodes: p.tally.nodes,
            dimensions: p
                .tally
                .by
                .iter()
                .map(|(d, entries)| {
                    (
                        d.name(),
                        entries.iter().map(|e| JsonValue::of(e, true)).collect(),
                    )
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

/// The widest a column's heading is shown; a longer one is cut, marked `~N`, and given whole
/// under its table.
const HEAD: usize = 24;

/// A period's name in a table: its start, and `*` when it is not finished.
fn period_name(trend: &Trend, p: &Period) -> String {
    let mark = if trend.finished(p.start) { "" } else { "*" };
    format!("{}{mark}", rfc3339_date(p.start))
}

/// The trend as text: the totals per period, then per dimension a column for each value that
/// led a period (see [`Trend::columns`]) and one for `(other)`: clusters for the Kubernetes
/// version and the version skew, nodes otherwise. A period not finished is marked `*`.
pub fn table(trend: &Trend) -> String {
    let mut out = String::new();
    let every = trend.every.name();
    let _ = writeln!(out, "{every:<12} {:>9} {:>9}", "clusters", "nodes");
    for p in &trend.periods {
        let name = period_name(trend, p);
        let _ = writeln!(
            out,
            "{name:<12} {:>9} {:>9}",
            p.tally.clusters, p.tally.nodes
        );
    }
    if trend.is_empty() {
        let _ = writeln!(out, "\nNo reports in these periods.");
        return out;
    }
    for dimension in Dimension::ALL {
        dimension_table(&mut out, trend, dimension);
    }
    if trend.periods.iter().any(|p| !trend.finished(p.start)) {
        let _ = writeln!(
            out,
            "\n* not finished: the {every} so far (clusters that have not reported in it yet are not counted)"
        );
    }
    out
}

fn dimension_table(out: &mut String, trend: &Trend, dimension: Dimension) {
    let mut columns = trend.columns(dimension);
    if trend
        .periods
        .iter()
        .any(|p| p.tally.get(dimension, &Label::Other).is_some())
    {
        columns.push(Label::Other);
    }
    let _ = writeln!(out, "\n{} ({})", dimension.title(), dimension.unit());
    if columns.is_empty() {
        let _ = writeln!(out, "(none reported)");
        return;
    }
    let mut cut = Vec::new();
    let heads: Vec<String> = columns
        .iter()
        .map(|c| cut_marked(c.shown(|v| printable(v, 256)), HEAD, &mut cut))
        .collect();
    // As wide as the widest heading shown (a count is narrower than any value's name).
    let width = heads
        .iter()
        .map(|h| h.chars().count())
        .max()
        .unwrap_or(0)
        .max(9);
    let _ = writeln!(out, "{:<12} {}", trend.every.name(), row(&heads, width));
    for p in &trend.periods {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| {
                p.tally
                    .get(dimension, c)
                    .map_or(0, |e| e.count(dimension))
                    .to_string()
            })
            .collect();
        let name = period_name(trend, p);
        let _ = writeln!(out, "{name:<12} {}", row(&cells, width));
    }
    wholes(out, &cut);
}

/// `shown` as it fits in `width` characters: whole, or cut and marked `~N`, its whole text
/// pushed to `cut` (the `N`th) for [`wholes`] to give under the table.
pub(crate) fn cut_marked(shown: String, width: usize, cut: &mut Vec<String>) -> String {
    if shown.chars().count() <= width {
        return shown;
    }
    cut.push(shown.clone());
    let mark = format!("~{}", cut.len());
    let keep = width.saturating_sub(mark.chars().count());
    format!("{}{mark}", shown.chars().take(keep).collect::<String>())
}

/// The whole texts of the values [`cut_marked`] cut, a line each: `~N: text`.
pub(crate) fn wholes(out: &mut String, cut: &[String]) {
    for (i, whole) in cut.iter().enumerate() {
        let _ = writeln!(out, "~{}: {whole}", i + 1);
    }
}

fn row(cells: &[String], width: usize) -> String {
    cells
        .iter()
        .map(|c| format!("{c:>width$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "trends_tests.rs"]
mod tests;
