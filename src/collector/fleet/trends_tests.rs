use super::*;

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

fn v(s: &str) -> Label {
    Label::Value(s.into())
}

/// A period of `clusters` clusters of 2 nodes each on the versions given (clusters each).
fn period(start: i64, versions: &[(&str, u64)]) -> Period {
    let mut p = Period::empty(start);
    for (version, clusters) in versions {
        let e = |label: Label| Entry::new(label, *clusters, 2 * clusters);
        p.tally.add(Dimension::KubernetesVersion, e(v(version)));
        p.tally.add(Dimension::Architecture, e(v("amd64")));
        p.tally.clusters += clusters;
        p.tally.nodes += 2 * clusters;
    }
    p.tally.sort();
    p
}

/// A fleet that moved from v1.30 to v1.31 over three weeks, read on the third week's Tuesday.
fn moved() -> Trend {
    let w0 = Every::Week.start(days_from_civil(2026, 11, 2) * DAY);
    Trend {
        every: Every::Week,
        until: w0 + 15 * DAY,
        periods: vec![
            period(w0, &[("v1.30", 10)]),
            period(w0 + 7 * DAY, &[("v1.30", 6), ("v1.31", 4)]),
            period(w0 + 14 * DAY, &[("v1.31", 3)]),
        ],
    }
}

#[test]
fn every_value_that_led_a_period_is_a_column_and_the_last_period_is_marked() {
    let t = moved();
    assert_eq!(
        t.columns(Dimension::KubernetesVersion),
        [v("v1.30"), v("v1.31")]
    );
    assert!(t.finished(t.periods[1].start));
    assert!(!t.finished(t.periods[2].start));
    let text = table(&t);
    assert!(
        text.contains("week             v1.30     v1.31\n2026-11-02          10         0\n2026-11-09           6         4\n2026-11-16*          0         3\n"),
        "{text}"
    );
    assert!(text.contains("2026-11-16*          3         6"), "{text}");
    assert!(text.contains("* not finished: the week so far"), "{text}");
    assert!(
        text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
        "{text}"
    );
}

#[test]
fn long_heads_are_cut_and_given_whole_and_buckets_are_marked() {
    let w0 = Every::Week.start(0);
    let long = "x".repeat(300);
    let mut t = Trend {
        every: Every::Week,
        until: w0 + 30 * DAY,
        periods: vec![period(w0, &[(long.as_str(), 2), ("(other)", 1)])],
    };
    let other = Entry::new(Label::Other, 5, 9);
    t.periods[0].tally.add(Dimension::KubernetesVersion, other);
    t.periods[0].tally.sort();
    let text = table(&t);
    let head = format!("{}~1", "x".repeat(22));
    assert!(text.contains(&head), "{text}");
    assert!(
        text.contains(&format!("~1: {}...", "x".repeat(256))),
        "{text}"
    );
    assert!(text.contains("\\u{28}other)"), "a value `(other)`: {text}");
    assert!(text.contains("  (other)"), "the bucket: {text}");
    assert!(!text.contains('*'), "{text}");

    let json: serde_json::Value = serde_json::from_str(&json(&t)).unwrap();
    let versions = &json["periods"][0]["dimensions"]["kubernetes_version"];
    assert_eq!(versions[0]["value"], long.as_str());
    assert_eq!(versions[1]["value"], "(other)");
    assert_eq!(versions[2]["bucket"], "other");
    assert!(versions[2].get("value").is_none(), "{versions}");
    assert_eq!(json["periods"][0]["finished"], true);

    let mut csv = String::from(CSV_HEADER);
    csv_total(&mut csv, w0, 3, 6, Some(true));
    for e in t.periods[0].tally.entries(Dimension::KubernetesVersion) {
        csv_row(&mut csv, w0, Dimension::KubernetesVersion, e, Some(false));
    }
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "period_start,dimension,value,clusters,nodes,bucket,finished"
    );
    assert_eq!(lines[1], "1969-12-29,total,,3,6,,true");
    assert_eq!(lines[3], "1969-12-29,kubernetes_version,(other),1,2,,false");
    assert_eq!(lines[4], "1969-12-29,kubernetes_version,,5,9,other,false");
    let mut window = String::new();
    csv_total(&mut window, w0, 3, 6, None);
    assert_eq!(window, "1969-12-29,total,,3,6,,\n", "a summary's window");
}

#[test]
fn an_empty_trend_says_so() {
    let t = Trend {
        every: Every::Day,
        until: 10 * DAY,
        periods: vec![Period::empty(9 * DAY)],
    };
    assert!(table(&t).contains("No reports in these periods."));
}
