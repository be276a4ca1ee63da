use super::*;
use crate::collector::fleet::Tally;
use crate::collector::fleet::trends::Every;

const WEEK: i64 = 7 * 86_400;

fn v(s: &str) -> Label {
    Label::Value(s.into())
}

/// A period of clusters on the given (version, clusters, nodes), skews and OS images alike.
fn period(start: i64, versions: &[(&str, u64, u64)]) -> Period {
    let mut p = Period::empty(start);
    for (version, clusters, nodes) in versions {
        let e = |label: Label| Entry::new(label, *clusters, *nodes);
        p.tally.add(Dimension::KubernetesVersion, e(v(version)));
        p.tally.add(Dimension::OsImage, e(v("Ubuntu <b>24.04</b>")));
        p.tally.add(Dimension::VersionSkew, e(v("1")));
        p.tally.clusters += clusters;
        p.tally.nodes += nodes;
        *p.sizes.entry("6-20").or_default() += clusters;
    }
    p.tally.sort();
    p
}

fn view(periods: Vec<Period>, until: i64, current: Period) -> View {
    View {
        generated_at: until,
        trend: Trend {
            every: Every::Week,
            until,
            periods,
        },
        current,
        current_days: 7,
    }
}

/// Three weeks, the last not finished; now: 6 clusters on v1.33.
fn three_weeks() -> View {
    let w0 = Every::Week.start(0) + 10 * WEEK;
    let periods = vec![
        period(w0, &[("v1.32", 5, 15)]),
        period(w0 + WEEK, &[("v1.32", 3, 9), ("v1.33", 2, 80)]),
        period(w0 + 2 * WEEK, &[("v1.33", 1, 40)]),
    ];
    view(
        periods,
        w0 + 2 * WEEK + 86_400,
        period(0, &[("v1.33", 6, 240)]),
    )
}

#[test]
fn the_page_holds_every_chart_and_no_script() {
    let html = page(&three_weeks());
    for id in [
        "clusters",
        "nodes",
        "versions",
        "skew",
        "kubernetes_version",
        "os_image",
        "accelerator",
        "version_skew",
        "sizes",
    ] {
        assert!(html.contains(&format!(r#"<section id="{id}">"#)), "{id}");
    }
    assert!(html.contains(r#"data-series="v1.33""#) && html.contains(r#"data-series="v1.32""#));
    assert!(html.contains("Ubuntu &lt;b&gt;24.04&lt;/b&gt;"));
    assert!(!html.contains("<b>"), "report text is escaped");
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert!(
        !html.contains(" style="),
        "no inline style: the policy forbids it"
    );
    assert_eq!(
        html.matches("http://").count(),
        html.matches("http://www.w3.org/2000/svg").count()
    );
    assert!(html.contains("6 clusters and 240 nodes reported in the last 7 days"));
}

#[test]
fn charts_over_time_have_legends_and_mark_the_period_not_finished() {
    let html = page(&three_weeks());
    let versions = html.split(r#"<section id="versions">"#).nth(1).unwrap();
    let versions = versions.split("</section>").next().unwrap();
    assert!(versions.contains(r#"<g class="legend">"#), "{versions}");
    assert!(versions.contains(r#"<g class="key" data-series="v1.32">"#));
    assert!(versions.contains(r#"<g class="key" data-series="v1.33">"#));
    assert!(versions.contains(r#"class="unfinished""#), "{versions}");
    assert!(versions.contains("(so far)"), "{versions}");
    assert!(versions.contains("is not finished"), "{versions}");
    let clusters = html.split(r#"<section id="clusters">"#).nth(1).unwrap();
    let clusters = clusters.split("</section>").next().unwrap();
    assert!(clusters.contains("stroke-dasharray"), "{clusters}");
}

#[test]
fn one_period_is_drawn_and_empty_sections_say_why() {
    let w0 = Every::Week.start(0) + 10 * WEEK;
    let one = view(
        vec![period(w0, &[("v1.33", 2, 8), ("v1.32", 1, 3)])],
        w0 + 3 * WEEK,
        Period::empty(0),
    );
    let html = page(&one);
    assert!(
        html.contains("0 clusters and 0 nodes reported in the last 7 days; 1 period of a week"),
        "{html}"
    );
    let versions = html.split(r#"<section id="versions">"#).nth(1).unwrap();
    let versions = versions.split("</section>").next().unwrap();
    // The column's two bands (the legend's two keys are squares of their own).
    assert!(
        versions.contains(r#"width="80""#),
        "one period is a column: {versions}"
    );
    let now = html.split(r#"<section id="os_image">"#).nth(1).unwrap();
    let now = now.split("</section>").next().unwrap();
    assert!(
        now.contains("No cluster has reported in the last 7 days."),
        "{now}"
    );
    assert!(!now.contains("<table"), "{now}");

    let mut nodeless = Period::empty(0);
    nodeless.tally.clusters = 2;
    let html = page(&view(Vec::new(), w0, nodeless));
    assert!(
        html.contains("None of the 2 clusters of the last 7 days reported nodes."),
        "{html}"
    );
    assert!(html.contains("No cluster has reported in these periods."));
}

#[test]
fn values_are_unambiguous_and_now_tables_follow_their_heading() {
    let mut current = Period::empty(0);
    let mut t = Tally {
        clusters: 5,
        nodes: 1000,
        ..Tally::default()
    };
    let k = Dimension::KubernetesVersion;
    let e = Entry::new;
    t.add(k, e(v("v1.30"), 1, 900));
    t.add(k, e(v("v1.33"), 3, 60));
    t.add(k, e(v("other"), 1, 40));
    t.add(k, e(Label::Other, 1, 1));
    let o = Dimension::OsImage;
    t.add(o, e(v("gnp\u{202e}.exe"), 1, 1));
    t.add(o, e(v(&"x".repeat(256)), 1, 1));
    t.add(o, e(v("\\u{e9}"), 1, 1));
    t.add(o, e(v("é"), 1, 1));
    t.sort();
    current.tally = t;
    let html = page(&view(Vec::new(), 0, current));
    let versions = html
        .split(r#"<section id="kubernetes_version">"#)
        .nth(1)
        .unwrap();
    let versions = versions.split("</section>").next().unwrap();
    let rows: Vec<&str> = versions
        .split("<tr><td")
        .skip(1)
        .map(|r| r.split("</td>").next().unwrap())
        .collect();
    assert_eq!(
        rows,
        [">v1.33", ">v1.30", ">other", r#" class="bucket">(other)"#],
        "by clusters, as its heading says"
    );
    assert!(
        html.contains("gnp\\u{202e}.exe"),
        "a bidi control is shown, not obeyed"
    );
    assert!(!html.contains('\u{202e}'));
    assert!(
        html.contains(">é<") && html.contains(">\\\\u{e9}<"),
        "é and \\u{{e9}} apart"
    );
    assert!(
        STYLE.contains("overflow-wrap:anywhere"),
        "a long value wraps"
    );
}

/// A value as a column's heading (a table over time) longer than [`HEADING_CHARS`] is cut,
/// its whole text the heading's tooltip; a short one is shown as it is.
#[test]
fn a_long_heading_is_cut_with_the_whole_as_its_tooltip() {
    let long = format!("v1.33-{}", "y".repeat(40));
    let header = ["period".to_string(), "v1.33".to_string(), long.clone()];
    let rows = [Row {
        head: "2026-12-07".into(),
        bucket: false,
        cells: vec!["1".into(), "2".into()],
    }];
    let mut out = String::new();
    section(
        &mut out,
        "versions",
        "Versions",
        "",
        "<svg></svg>",
        (&header, &rows),
    );
    let cut = super::super::chart::cut(&long, HEADING_CHARS);
    assert_eq!(cut.chars().count(), HEADING_CHARS);
    assert!(
        out.contains(&format!(r#"<th title="{long}">{cut}</th>"#)),
        "{out}"
    );
    assert!(out.contains("<th>v1.33</th>"), "{out}");
}
