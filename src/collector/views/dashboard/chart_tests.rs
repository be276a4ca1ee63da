use super::*;

fn labels(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("w{i}")).collect()
}

fn axis(labels: &[String], unfinished: bool) -> Axis<'_> {
    Axis { labels, unfinished }
}

#[test]
fn charts_name_their_series_and_escape_text() {
    let s = vec![
        Series::new("clusters", vec![1.0, 5.0, 3.0]),
        Series::new("<nodes>", vec![10.0, 50.0, 30.0]),
    ];
    let l = labels(3);
    let svg = lines("Fleet & size", &axis(&l, false), &s);
    assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
    assert!(svg.contains(r#"<g class="series" data-series="clusters""#));
    assert!(svg.contains(r#"data-series="&lt;nodes&gt;""#));
    assert!(svg.contains("<title>Fleet &amp; size</title>"));
    assert_eq!(svg.matches("<polyline").count(), 2);
    assert!(svg.contains(">80</text>"), "axis up to a round 80: {svg}");

    let st = stacked("Versions", &axis(&l, false), &s);
    assert_eq!(st.matches("<polygon").count(), 2);
    assert!(st.contains("100%"));

    let b = bars(
        "Sizes",
        &[("1".into(), 3.0, false), ("2-5".into(), 7.0, false)],
    );
    assert_eq!(b.matches("<rect").count(), 2);
    assert!(b.contains(r#"data-series="2-5""#));
    assert_eq!(
        escape(r#"<a href="x">'&"#),
        "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
    );
}

#[test]
fn a_chart_of_several_series_has_a_legend_naming_each_colour() {
    let mut s: Vec<Series> = (0..5)
        .map(|i| Series::new(&format!("v1.3{i}"), vec![1.0, 2.0]))
        .collect();
    s.push(Series {
        name: "(other)".into(),
        values: vec![1.0, 1.0],
        other: true,
    });
    s[1].name = "x".repeat(40);
    let l = labels(2);
    let svg = stacked("Versions", &axis(&l, false), &s);
    assert_eq!(svg.matches(r#"<g class="key""#).count(), 6, "{svg}");
    for (k, series) in s.iter().enumerate() {
        let colour = colour(k, series.other);
        let key = format!(r#"<g class="key" data-series="{}">"#, escape(&series.name));
        let at = svg.find(&key).unwrap_or_else(|| panic!("{key}: {svg}"));
        assert!(svg[at..].contains(&format!(r#"fill="{colour}""#)));
        let band = format!(
            r#"<g class="series" data-series="{}">"#,
            escape(&series.name)
        );
        let at = svg.find(&band).unwrap();
        assert!(
            svg[at..].starts_with(&format!(r#"{band}<polygon fill="{colour}""#)),
            "{}",
            &svg[at..at + 200]
        );
    }
    assert_eq!(colour(5, true), OTHER);
    // A long name is cut, whole in its tooltip; the picture is taller for two lines of keys.
    assert!(svg.contains(&format!("<title>{}</title>", "x".repeat(40))));
    assert!(svg.contains(&format!(">{}…<", "x".repeat(22))));
    assert!(svg.contains(r#"viewBox="0 0 640 284""#), "{}", &svg[..200]);
    let one = lines("x", &axis(&l, false), &s[..1]);
    assert!(
        !one.contains("class=\"legend\""),
        "one series needs no legend"
    );
}

#[test]
fn a_period_not_finished_is_drawn_apart_and_one_period_is_drawn_at_all() {
    let s = vec![Series::new("clusters", vec![40.0, 40.0, 12.0])];
    let l = labels(3);
    let svg = lines("x", &axis(&l, true), &s);
    assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
    let dashed = svg.split("stroke-dasharray").nth(1).unwrap();
    assert!(
        dashed.contains(&format!(
            "{:.1},{:.1} {:.1},{:.1}",
            x_of(1, 3),
            y_of(40.0, 40.0),
            x_of(2, 3),
            y_of(12.0, 40.0)
        )),
        "{svg}"
    );
    assert!(svg.contains(">w2 (so far)<"), "{svg}");
    let st = stacked("x", &axis(&l, true), &s);
    assert_eq!(st.matches(r#"class="unfinished""#).count(), 1, "{st}");

    let one = labels(1);
    let svg = lines("x", &axis(&one, false), &[Series::new("c", vec![3.0])]);
    assert!(svg.contains("<circle"), "{svg}");
    let two = vec![Series::new("a", vec![1.0]), Series::new("b", vec![3.0])];
    let st = stacked("x", &axis(&one, false), &two);
    assert_eq!(
        st.matches("<rect").count(),
        2 + 2,
        "two bands and two keys: {st}"
    );
    assert!(!st.contains(r#"height="0.0""#), "{st}");
    assert!(!st.contains("unfinished"), "{st}");
    // One period not finished yet: its column lighter, its point hollow, as the others.
    let st = stacked("x", &axis(&one, true), &two);
    assert_eq!(st.matches(r#"class="unfinished""#).count(), 2, "{st}");
    let svg = lines("x", &axis(&one, true), &[Series::new("c", vec![3.0])]);
    assert!(
        svg.contains(r#"fill="white""#) && svg.contains("unfinished"),
        "{svg}"
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
    let l = labels(3);
    let svg = lines(
        "x",
        &axis(&l, false),
        &[Series::new("a", vec![0.0, 25.0, 50.0])],
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
    let b = bars("x", &[(long.into(), 1.0, false)]);
    assert!(b.contains(&format!("<title>{long}</title>")), "{b}");
    assert!(b.contains(">Container-Optimized OS…<"), "{b}");
}

#[test]
fn shares_stack_to_the_whole() {
    let s = vec![
        Series::new("a", vec![1.0, 0.0]),
        Series::new("b", vec![3.0, 0.0]),
    ];
    let l = labels(2);
    let svg = stacked("x", &axis(&l, false), &s);
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
