//! The fleet's gauges on a real collector's `/metrics`: the clusters of the last 24 hours by
//! category, from the store's rollups, with bounded label sets and never a cluster ID.

use crate::support::collect::*;

#[test]
fn the_fleet_of_the_last_day_as_gauges() {
    let dir = TempDir::new("fleet-gauges");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    // Fifteen small clusters, each on an OS image of its own, and one of 25 nodes.
    let secret = |i: usize| format!("secret-fleet-{i:02}");
    for i in 0..15 {
        let body = report(&secret(i), 2).replace("Ubuntu 24.04.2 LTS", &format!("Distro{i} 1.0"));
        assert_eq!(c.post(body.as_bytes(), &[]).status, 204);
    }
    assert_eq!(c.post(report(&secret(99), 25).as_bytes(), &[]).status, 204);

    let metrics = c.get("/metrics").text();
    let fleet = |series: &str| c.metric(series);
    assert_eq!(fleet("spartakus_fleet_clusters"), 16.0, "{metrics}");
    assert_eq!(fleet("spartakus_fleet_nodes"), 55.0);
    assert_eq!(
        fleet(r#"spartakus_fleet_clusters_by_size{nodes="2-5"}"#),
        15.0
    );
    assert_eq!(
        fleet(r#"spartakus_fleet_clusters_by_size{nodes="21-100"}"#),
        1.0
    );
    assert_eq!(
        fleet(r#"spartakus_fleet_nodes_by_category{dimension="architecture",value="arm64"}"#),
        15.0 + 9.0,
        "one node in three is arm64: 1 of each small cluster's 2, 9 of the 25"
    );
    assert_eq!(
        fleet(
            r#"spartakus_fleet_clusters_by_category{dimension="kubernetes_version",value="v1.33"}"#
        ),
        16.0
    );

    // Sixteen OS image families: the top values and `other`, no more.
    let images: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("spartakus_fleet_clusters_by_category{dimension=\"os_image\""))
        .collect();
    assert!(images.len() <= 11, "{images:#?}");
    assert!(
        images.iter().any(|l| l.contains("bucket=\"other\"")),
        "{images:#?}"
    );
    let shown: f64 = images
        .iter()
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(shown, 16.0, "every cluster counted once: {images:#?}");

    assert!(
        !metrics.contains("secret-fleet"),
        "a cluster ID on /metrics"
    );
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("spartakus_fleet_"))
    {
        let (_, n) = line.rsplit_once(' ').unwrap();
        assert!(n.parse::<f64>().is_ok(), "{line}");
    }
}

#[test]
fn a_collector_that_keeps_nothing_has_no_fleet_gauges() {
    let c = Collector::start("stdout", &[]);
    assert_eq!(c.post(report("a", 3).as_bytes(), &[]).status, 204);
    let metrics = c.get("/metrics").text();
    assert!(metrics.contains("spartakus_collector_"), "{metrics}");
    assert!(!metrics.contains("spartakus_fleet_"), "{metrics}");
}

/// Values that once made the same series: `é` and the text `\u{e9}`, a reported `other` and the
/// bucket of the values past the top ten. Each is a series of its own, once.
#[test]
fn labels_that_cannot_collide() {
    let dir = TempDir::new("fleet-labels");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    let mut images: Vec<String> = (0..9).map(|i| format!("Distro{i} 1.0")).collect();
    images.extend(["other 2.0", "é 1.0", "\\\\u{e9} 1.0", "gnp\u{202e}.exe 1"].map(String::from));
    for (i, image) in images.iter().enumerate() {
        // More nodes for the colliding ones, so that they lead.
        let nodes = if i >= 9 { 5 } else { 2 };
        let body = report(&format!("label-{i:02}"), nodes).replace("Ubuntu 24.04.2 LTS", image);
        assert_eq!(c.post(body.as_bytes(), &[]).status, 204, "{image}");
    }
    let metrics = c.get("/metrics").text();
    let images: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("spartakus_fleet_clusters_by_category{dimension=\"os_image\""))
        .collect();
    let series: std::collections::BTreeSet<&str> = images
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(series.len(), images.len(), "a series twice: {images:#?}");
    for wanted in [
        r#"value="é"} 1"#,
        r#"value="\\\\u{e9}"} 1"#,
        r#"value="other"} 1"#,
        r#"value="gnp\\u{202e}.exe"} 1"#,
        r#"bucket="other"} 3"#,
    ] {
        assert!(
            images.iter().any(|l| l.ends_with(wanted)),
            "{wanted}: {images:#?}"
        );
    }
    assert!(
        !metrics.contains('\u{202e}'),
        "a bidi control reached /metrics"
    );
}

/// What a real Prometheus keeps of the same exposition: every series of the collector's page,
/// none dropped as a duplicate (before, `é` and the text `\u{e9}` made one series twice, and
/// Prometheus kept one of them), the values as reported.
#[test]
fn a_real_prometheus_keeps_every_series() {
    use crate::support::prometheus::Prometheus;
    if !crate::support::need::prometheus() {
        return;
    }
    let dir = TempDir::new("fleet-prometheus");
    let c = Collector::sqlite(&dir, &["--rate-limit", "0"]);
    for (i, image) in ["é 1.0", "\\\\u{e9} 1.0", "other 2.0", "Ubuntu 24.04.2 LTS"]
        .iter()
        .enumerate()
    {
        let body = report(&format!("prom-{i}"), 3).replace("Ubuntu 24.04.2 LTS", image);
        assert_eq!(c.post(body.as_bytes(), &[]).status, 204, "{image}");
    }
    let prom = Prometheus::scraping(c.addr);
    let scraped = |q: &str| prom.value(&format!("{q}{{job=\"spartakus\"}}"));
    assert_eq!(scraped("up"), 1.0, "{}", prom.log());
    // Scraped after the reports, so the fleet is all there from the first scrape on.
    let page = c.get("/metrics").text();
    let samples = page
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    assert_eq!(scraped("scrape_samples_scraped"), samples as f64, "{page}");
    // A series written twice with the same value is not counted below, only left out.
    assert_eq!(
        prom.value(r#"count({job="spartakus",__name__=~"spartakus_.+"})"#),
        page.lines().filter(|l| l.starts_with("spartakus_")).count() as f64,
        "Prometheus kept fewer series than the page has:\n{page}"
    );
    assert_eq!(
        prom.own("prometheus_target_scrapes_sample_duplicate_timestamp_total"),
        0.0,
        "Prometheus dropped a series as a duplicate:\n{page}"
    );
    let kept = prom.query(r#"spartakus_fleet_clusters_by_category{dimension="os_image"}"#);
    let mut values: Vec<String> = kept
        .iter()
        .map(|(labels, n)| {
            assert_eq!(*n, 1.0, "{labels}");
            let value = labels["value"].as_str().or(labels["bucket"].as_str());
            value.expect("a value or a bucket").to_string()
        })
        .collect();
    values.sort();
    // The text `\u{e9}` shown with its backslash doubled, as every reported backslash is.
    assert_eq!(values, ["Ubuntu", "\\\\u{e9}", "other", "é"], "{kept:#?}");
    assert!(
        kept.iter()
            .all(|(labels, _)| labels.get("bucket").is_none()),
        "a reported `other` is a value, not the bucket: {kept:#?}"
    );
}
