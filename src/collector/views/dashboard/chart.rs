//! Charts as SVG, drawn on the server: lines over time, shares stacked over time, and bars. Each
//! series is a `<g class="series" data-series="...">` so a reader (or a test) can find it. Pure.

use std::fmt::Write;

/// Text for HTML and SVG: `&`, `<`, `>`, `"` and `'` escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// One named line or band.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;
/// Characters of a bar's label that fit left of it.
const LABEL_CHARS: usize = 23;

/// The palette, in order of series; the last colour is for `other`.
const COLOURS: [&str; 8] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

pub(crate) fn colour(i: usize) -> &'static str {
    COLOURS[i.min(COLOURS.len() - 1)]
}

fn open(out: &mut String, title: &str) {
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
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

/// The axes: a y scale up to `top` with a few gridlines, and the first, middle and last of
/// `labels` under the x axis.
fn axes(out: &mut String, top: f64, labels: &[String], percent: bool) {
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
    let n = labels.len();
    let shown: std::collections::BTreeSet<usize> = [0, n / 2, n.saturating_sub(1)].into();
    for i in shown {
        if let Some(label) = labels.get(i) {
            // The first and last are aligned to the plot's edges, to stay inside the picture.
            let anchor = match i {
                0 if n > 1 => "start",
                i if i + 1 == n && n > 1 => "end",
                _ => "middle",
            };
            let _ = write!(
                out,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="11">{}</text>"#,
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

/// Lines over time, one per series, on a shared scale.
pub(crate) fn lines(title: &str, labels: &[String], series: &[Series]) -> String {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let top = nice(max);
    let mut out = String::new();
    open(&mut out, title);
    axes(&mut out, top, labels, false);
    for (k, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{:.1},{:.1}", x_of(i, s.values.len()), y_of(*v, top)))
            .collect();
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}"><polyline fill="none" stroke="{}" stroke-width="2" points="{}"/></g>"#,
            escape(&s.name),
            colour(k),
            points.join(" ")
        );
    }
    out.push_str("</svg>");
    out
}

/// Shares over time: each period's values as fractions of its total, stacked as bands.
pub(crate) fn stacked(title: &str, labels: &[String], series: &[Series]) -> String {
    let n = labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let mut below = vec![0.0f64; n];
    let mut out = String::new();
    open(&mut out, title);
    axes(&mut out, 1.0, labels, true);
    for (k, s) in series.iter().enumerate() {
        let share = |i: usize| {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            if totals[i] > 0.0 { v / totals[i] } else { 0.0 }
        };
        let upper: Vec<f64> = (0..n).map(|i| below[i] + share(i)).collect();
        let mut points: Vec<String> = (0..n)
            .map(|i| format!("{:.1},{:.1}", x_of(i, n), y_of(upper[i], 1.0)))
            .collect();
        points.extend(
            (0..n)
                .rev()
                .map(|i| format!("{:.1},{:.1}", x_of(i, n), y_of(below[i], 1.0))),
        );
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}"><polygon fill="{}" fill-opacity="0.85" points="{}"/></g>"#,
            escape(&s.name),
            colour(k),
            points.join(" ")
        );
        below = upper;
    }
    out.push_str("</svg>");
    out
}

/// Horizontal bars, one per (label, value), largest scale first as given.
pub(crate) fn bars(title: &str, bars: &[(String, f64)]) -> String {
    let max = bars.iter().map(|(_, v)| *v).fold(0.0, f64::max);
    let top = nice(max);
    let height = TOP + BOTTOM + 22.0 * bars.len().max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    let label_w = 180.0;
    let plot_w = WIDTH - label_w - RIGHT - 60.0;
    for (i, (label, value)) in bars.iter().enumerate() {
        let y = TOP + 22.0 * i as f64;
        let w = plot_w * (value / top).clamp(0.0, 1.0);
        // A long value is cut to fit its place; the whole is the bar's tooltip.
        let shown: String = if label.chars().count() > LABEL_CHARS {
            label.chars().take(LABEL_CHARS - 1).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            out,
            r#"<g class="series" data-series="{}"><title>{}</title><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12">{}</text><rect x="{label_w}" y="{y:.1}" width="{w:.1}" height="16" fill="{}"/><text x="{:.1}" y="{:.1}" font-size="12">{value:.0}</text></g>"#,
            escape(label),
            escape(label),
            label_w - 6.0,
            y + 12.0,
            escape(&shown),
            colour(i),
            label_w + w + 4.0,
            y + 12.0
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("w{i}")).collect()
    }

    #[test]
    fn charts_name_their_series_and_escape_text() {
        let s = vec![
            Series {
                name: "clusters".into(),
                values: vec![1.0, 5.0, 3.0],
            },
            Series {
                name: "<nodes>".into(),
                values: vec![10.0, 50.0, 30.0],
            },
        ];
        let svg = lines("Fleet & size", &labels(3), &s);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"data-series="clusters""#));
        assert!(svg.contains(r#"data-series="&lt;nodes&gt;""#));
        assert!(svg.contains("<title>Fleet &amp; size</title>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains(">80</text>"), "axis up to a round 80: {svg}");

        let st = stacked("Versions", &labels(3), &s);
        assert_eq!(st.matches("<polygon").count(), 2);
        assert!(st.contains("100%"));

        let b = bars("Sizes", &[("1".into(), 3.0), ("2-5".into(), 7.0)]);
        assert_eq!(b.matches("<rect").count(), 2);
        assert!(b.contains(r#"data-series="2-5""#));
        assert_eq!(
            escape(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }

    #[test]
    fn gridlines_fall_on_round_numbers_and_labels_stay_inside() {
        for (max, top) in [
            (0.0, 4.0),
            (3.0, 4.0),
            (7.0, 8.0),
            (40.0, 40.0),
            (50.0, 80.0),
        ] {
            assert_eq!(nice(max), top, "{max}");
        }
        assert_eq!(nice(155.0), 200.0);
        assert_eq!(nice(3613.0), 4000.0);
        let svg = lines(
            "x",
            &labels(3),
            &[Series {
                name: "a".into(),
                values: vec![0.0, 25.0, 50.0],
            }],
        );
        for tick in [">0<", ">20<", ">40<", ">60<", ">80<"] {
            assert!(svg.contains(tick), "{tick}: {svg}");
        }
        assert!(
            svg.contains(r#"text-anchor="start" font-size="11">w0<"#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"text-anchor="end" font-size="11">w2<"#),
            "{svg}"
        );

        let long = "Container-Optimized OS from Google";
        let b = bars("x", &[(long.into(), 1.0)]);
        assert!(b.contains(&format!("<title>{long}</title>")), "{b}");
        assert!(b.contains(">Container-Optimized OS…<"), "{b}");
    }

    #[test]
    fn shares_stack_to_the_whole() {
        let s = vec![
            Series {
                name: "a".into(),
                values: vec![1.0, 0.0],
            },
            Series {
                name: "b".into(),
                values: vec![3.0, 0.0],
            },
        ];
        let svg = stacked("x", &labels(2), &s);
        // The top band's upper edge is at 100% in the first period, and an empty period stays 0.
        let top = y_of(1.0, 1.0);
        let bottom = y_of(0.0, 1.0);
        assert!(
            svg.contains(&format!("{:.1},{top:.1}", x_of(0, 2))),
            "{svg}"
        );
        assert!(
            svg.contains(&format!("{:.1},{bottom:.1}", x_of(1, 2))),
            "{svg}"
        );
    }
}
