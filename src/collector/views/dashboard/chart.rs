//! Charts as SVG, drawn on the server: lines over time, shares stacked over time, and bars. Each
//! series is a `<g class="series" data-series="...">` so a reader (or a test) can find it; a
//! chart of several series has a legend (`<g class="legend">`) naming each with its colour. A
//! period not finished yet is drawn apart: its line dashed, its shares pale. A text too long
//! for its place is cut, with the whole of it as its tooltip (`<title>`). Pure.

pub(crate) use crate::text::html as escape;
use std::fmt::Write;

/// One named line or band.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    /// As shown (already made safe to show; escaped here).
    pub name: String,
    pub values: Vec<f64>,
    /// The `other` bucket: drawn grey.
    pub other: bool,
}

impl Series {
    pub(crate) fn new(name: &str, values: Vec<f64>) -> Series {
        Series {
            name: name.to_string(),
            values,
            other: false,
        }
    }
}

/// What a chart over time shows along its x axis.
pub(crate) struct Axis<'a> {
    /// A label per period.
    pub labels: &'a [String],
    /// Whether the last period is not finished yet.
    pub unfinished: bool,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Characters of a bar's label that fit left of it, and of a legend's entry.
const LABEL_CHARS: usize = 23;
/// A legend's entries per line, and the height of a line.
const LEGEND_COLUMNS: usize = 3;
const LEGEND_LINE: f64 = 18.0;

/// The palette, in order of series: twenty colours told apart (the most values a chart over
/// time shows, `store::read::MOST_LED`), and grey for `other`.
const COLOURS: [&str; 20] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22",
    "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2",
    "#dbdb8d", "#9edae5", "#393b79", "#637939",
];
const OTHER: &str = "#8a8a8a";

pub(crate) fn colour(i: usize, other: bool) -> &'static str {
    if other {
        OTHER
    } else {
        COLOURS[i % COLOURS.len()]
    }
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub(crate) fn cut(text: &str, max: usize) -> String {
    crate::text::cut(text, max, '…')
}

fn open(out: &mut String, title: &str, height: f64) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
}

/// The top of an axis with four gridlines: four times a "nice" step (1, 2 or 5 times a power of
/// ten), at least `max`, so that every gridline falls on a round number.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 4.0;
    }
    let want = max / 4.0;
    let power = 10f64.powf(want.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|v| *v >= want)
        .unwrap_or(10.0 * power);
    // Counts are whole: no gridline at a fraction of one.
    4.0 * step.max(1.0)
}

/// The axes: a y scale up to `top` with a few gridlines, and the first, middle and last of the
/// labels under the x axis (the last marked "so far" when it is not finished).
fn axes(out: &mut String, top: f64, axis: &Axis, percent: bool) {
    let plot_h = HEIGHT - TOP - BOTTOM;
    for i in 0..=4 {
        let value = top * f64::from(i) / 4.0;
        let y = TOP + plot_h * (1.0 - f64::from(i) / 4.0);
        let text = if percent {
            format!("{:.0}%", value * 100.0)
        } else {
            format!("{value:.0}")
        };
        let _ = write!(
            out,
            r##"<line class="grid" x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{text}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0
        );
    }
    let n = axis.labels.len();
    let shown: std::collections::BTreeSet<usize> = [0, n / 2, n.saturating_sub(1)].into();
    for i in shown {
        if let Some(label) = axis.labels.get(i) {
            // The first and last are aligned to the plot's edges, to stay inside the picture.
            let anchor = match i {
                0 if n > 1 => "start",
                i if i + 1 == n && n > 1 => "end",
                _ => "middle",
            };
            let so_far = if i + 1 == n && axis.unfinished {
                " (so far)"
            } else {
                ""
            };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11">{}{so_far}</text>"#,
                x_of(i, n),
                HEIGHT - 8.0,
                escape(label)
            );
        }
    }
}

fn x_of(i: usize, n: usize) -> f64 {
    let plot_w = WIDTH - LEFT - RIGHT;
    if n <= 1 {
        return LEFT + plot_w / 2.0;
    }
    LEFT + plot_w * i as f64 / (n - 1) as f64
}

fn y_of(value: f64, top: f64) -> f64 {
    let plot_h = HEIGHT - TOP - BOTTOM;
    TOP + plot_h * (1.0 - (value / top).clamp(0.0, 1.0))
}

/// The legend under a chart of `HEIGHT`: each series' colour and name, [`LEGEND_COLUMNS`] a
/// line; the height it takes.
fn legend(out: &mut String, series: &[Series]) -> f64 {
    if series.len() < 2 {
        return 0.0;
    }
    out.push_str(r#"<g class="legend">"#);
    let column = (WIDTH - LEFT) / LEGEND_COLUMNS as f64;
    for (k, s) in series.iter().enumerate() {
        let x = LEFT + column * (k % LEGEND_COLUMNS) as f64;
        let y = HEIGHT + 6.0 + LEGEND_LINE * (k / LEGEND_COLUMNS) as f64;
        let _ = write!(
            out,
            r#"<g class="key" data-series="{}"><title>{}</title><rect x="{x:.1}" y="{y:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="11">{}</text></g>"#,
            escape(&s.name),
            escape(&s.name),
            colour(k, s.other),
            x + 14.0,
            y + 9.0,
            escape(&cut(&s.name, LABEL_CHARS))
        );
    }
    out.push_str("</g>");
    LEGEND_LINE * series.len().div_ceil(LEGEND_COLUMNS) as f64 + 8.0
}

/// A chart over time of `series` drawn by `draw` into the plot, its legend under it.
fn over_time(title: &str, series: &[Series], draw: impl FnOnce(&mut String)) -> String {
    let mut body = String::new();
    draw(&mut body);
    let legend_height = legend(&mut body, series);
    let mut out = String::with_capacity(body.len() + 256);
    open(&mut out, title, HEIGHT + legend_height);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

/// Lines over time, one per series, on a shared scale; the segment to a period not finished
/// dashed, a lone period a dot.
pub(crate) fn lines(title: &str, axis: &Axis, series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let top = nice(max);
    over_time(title, series, |out| {
        axes(out, top, axis, false);
        for (k, s) in series.iter().enumerate() {
            let n = s.values.len();
            let point = |i: usize| format!("{:.1},{:.1}", x_of(i, n), y_of(s.values[i], top));
            let colour = colour(k, s.other);
            let _ = write!(
                out,
                r#"<g class="series" data-series="{}">"#,
                escape(&s.name)
            );
            let solid = if axis.unfinished && n > 1 { n - 1 } else { n };
            let line = |out: &mut String, from: usize, to: usize, dash: &str| {
                let points: Vec<String> = (from..to).map(point).collect();
                let _ = write!(
                    out,
                    r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
                    points.join(" ")
                );
            };
            if solid > 1 {
                line(out, 0, solid, "");
            }
            if solid < n {
                line(
                    out,
                    solid - 1,
                    n,
                    r#" stroke-dasharray="5 4" class="unfinished""#,
                );
            }
            if n == 1 {
                // One period: a point, hollow when the period is not finished.
                let fill = if axis.unfinished {
                    format!(r#"fill="white" stroke="{colour}" stroke-width="2" class="unfinished""#)
                } else {
                    format!(r#"fill="{colour}""#)
                };
                let _ = write!(
                    out,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="4" {fill}/>"#,
                    x_of(0, 1),
                    y_of(s.values[0], top)
                );
            }
            out.push_str("</g>");
        }
    })
}

/// Shares over time: each period's values as fractions of its total, stacked as bands; one
/// period is a column; the band to a period not finished pale.
pub(crate) fn stacked(title: &str, axis: &Axis, series: &[Series]) -> String {
    let n = axis.labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    over_time(title, series, |out| {
        axes(out, 1.0, axis, true);
        let mut below = vec![0.0f64; n];
        for (k, s) in series.iter().enumerate() {
            let share = |i: usize| {
                let v = s.values.get(i).copied().unwrap_or(0.0);
                if totals[i] > 0.0 { v / totals[i] } else { 0.0 }
            };
            let upper: Vec<f64> = (0..n).map(|i| below[i] + share(i)).collect();
            let colour = colour(k, s.other);
            let _ = write!(
                out,
                r#"<g class="series" data-series="{}">"#,
                escape(&s.name)
            );
            if n == 1 {
                // One period: a column, drawn apart (lighter) as any unfinished period is.
                let (y0, y1) = (y_of(upper[0], 1.0), y_of(below[0], 1.0));
                let apart = if axis.unfinished {
                    r#" class="unfinished" fill-opacity="0.35""#
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    r#"<rect x="{:.1}" y="{y0:.1}" width="80" height="{:.1}" fill="{colour}"{apart}/>"#,
                    x_of(0, 1) - 40.0,
                    y1 - y0
                );
            } else {
                let solid = if axis.unfinished { n - 1 } else { n };
                let band = |from: usize, to: usize| -> String {
                    let top = (from..to).map(|i| (i, upper[i]));
                    let bottom = (from..to).rev().map(|i| (i, below[i]));
                    let points: Vec<String> = top
                        .chain(bottom)
                        .map(|(i, v)| format!("{:.1},{:.1}", x_of(i, n), y_of(v, 1.0)))
                        .collect();
                    points.join(" ")
                };
                if solid > 1 {
                    let _ = write!(
                        out,
                        r#"<polygon fill="{colour}" fill-opacity="0.85" points="{}"/>"#,
                        band(0, solid)
                    );
                }
                if solid < n {
                    let _ = write!(
                        out,
                        r#"<polygon class="unfinished" fill="{colour}" fill-opacity="0.35" points="{}"/>"#,
                        band(solid - 1, n)
                    );
                }
            }
            out.push_str("</g>");
            below = upper;
        }
    })
}

/// Horizontal bars, one per (label, value, other), in the order given.
pub(crate) fn bars(title: &str, bars: &[(String, f64, bool)]) -> String {
    let max = bars.iter().map(|(_, v, _)| *v).fold(0.0, f64::max);
    let top = nice(max);
    let height = TOP + BOTTOM + 22.0 * bars.len().max(1) as f64;
    let mut out = String::new();
    open(&mut out, title, height);
    let label_w = 180.0;
    let plot_w = WIDTH - label_w - RIGHT - 60.0;
    for (i, (label, value, other)) in bars.iter().enumerate() {
        let y = TOP + 22.0 * i as f64;
        let w = plot_w * (value / top).clamp(0.0, 1.0);
        // A long value is cut to fit its place; the whole is the bar's tooltip.
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}"><title>{}</title><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="16" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{value:.0}</text></g>"#,
            escape(label),
            escape(label),
            label_w - 6.0,
            y + 12.0,
            escape(&cut(label, LABEL_CHARS)),
            colour(i, *other),
            label_w + w + 4.0,
            y + 12.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
