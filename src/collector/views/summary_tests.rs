use super::*;
use crate::collector::fleet::Label;
use crate::collector::store::Db;
use crate::collector::store::sqlite::tests::{Scratch, insert};
use crate::collector::store::tests::{incoming, whole};
use crate::contract::testing::{self, report};

const DAY: i64 = 86_400;
const NOW: i64 = 100 * DAY + 7200;

/// Clusters a to d, reporting in and out of a 30-day window before [`NOW`].
fn fleet(dir: &Scratch) -> Db {
    let mut db = Db::open(&dir.join("s.db")).unwrap();
    let (day, now) = (DAY, NOW);
    // a: an old report (outside the window) and two inside; the last one counts.
    let mut old = report("a", now - 40 * day, 50);
    old.master_version = Some("v1.20.1".into());
    insert(&mut db, &whole(old));
    let mut a1 = report("a", now - 10 * day, 2);
    a1.master_version = Some("v1.32.1".into());
    a1.workloads = Some(testing::workloads());
    insert(&mut db, &whole(a1));
    // a's latest: kubelets 0, 1 and 3 minors behind its API server.
    let mut a2 = report("a", now - day, 3);
    a2.master_version = Some("v1.33.2-eks-1".into());
    for (node, kubelet) in a2.nodes.iter_mut().zip(["v1.33.1", "v1.32.4", "v1.30.0"]) {
        node.kubelet_version = Some(kubelet.into());
    }
    a2.nodes[2].container_runtime_version = Some("cri-o://1.33.1".into());
    a2.nodes[2].cloud_provider = None;
    insert(&mut db, &whole(a2));
    // b: one report, one node, with workload statistics; c: 1,200 nodes; d: no nodes, no
    // master version.
    let mut b = report("b", now - 2 * day, 1);
    b.master_version = Some("v1.33.0".into());
    b.nodes[0].kubelet_version = Some("v1.32.0".into());
    b.workloads = Some(testing::workloads());
    insert(&mut db, &whole(b));
    insert(&mut db, &incoming("c", now - 3 * day, None, 1200));
    let mut d = report("d", now - 3 * day, 0);
    d.master_version = None;
    insert(&mut db, &whole(d));
    db
}

fn row<'a>(rows: &'a [JsonValue], v: &str) -> Option<&'a JsonValue> {
    rows.iter().find(|r| r.value.as_deref() == Some(v))
}

#[test]
fn latest_report_per_cluster_in_the_window() {
    let dir = Scratch::new("summary");
    let mut db = fleet(&dir);
    let s = build(&mut db, NOW, 30, None, 10).unwrap();
    assert_eq!((s.clusters, s.nodes, s.reports), (4, 3 + 1 + 1200, 5));
    assert_eq!(
        s.since, "1970-03-13T00:00:00Z",
        "today and the 29 days before"
    );
    assert_eq!(
        row(&s.kubernetes_versions, "v1.33").map(|r| r.clusters),
        Some(3),
        "a, b and c (fixture default v1.33.2)"
    );
    let none = s
        .kubernetes_versions
        .iter()
        .find(|r| r.bucket == Some("not_reported"));
    assert_eq!(none.map(|r| r.clusters), Some(1));
    assert!(
        row(&s.kubernetes_versions, "v1.32").is_none(),
        "not a's latest"
    );
    assert!(
        row(&s.kubernetes_versions, "v1.20").is_none(),
        "outside the window"
    );
    assert!(s.kubernetes_versions.iter().all(|r| r.nodes.is_none()));

    let containerd = row(&s.container_runtimes, "containerd://1.7").unwrap();
    assert_eq!(
        (containerd.nodes, containerd.clusters),
        (Some(2 + 1 + 1200), 3)
    );
    let crio = row(&s.container_runtimes, "cri-o://1.33").unwrap();
    assert_eq!((crio.nodes, crio.clusters), (Some(1), 1));
    assert_eq!(
        s.container_runtimes[0].value.as_deref(),
        Some("containerd://1.7"),
        "most nodes first"
    );
    let no_provider = s
        .cloud_providers
        .iter()
        .find(|r| r.bucket.is_some())
        .unwrap();
    assert_eq!(no_provider.nodes, Some(1));
    assert_eq!(row(&s.architectures, "arm64").unwrap().nodes, Some(1 + 600));
    assert_eq!(row(&s.accelerators, "none").unwrap().nodes, Some(1204));

    assert_eq!(s.recent[0].cluster_id, "a");
    assert_eq!(s.recent[0].master_version.as_deref(), Some("v1.33.2-eks-1"));
    assert_eq!(s.recent[0].nodes, 3);
    assert_eq!(s.recent.len(), 4);
    let two = build(&mut db, NOW, 30, None, 2).unwrap();
    assert_eq!(two.recent.len(), 2, "--top latest reports");
    // a's workload part was in an earlier report than its latest: only b's counts.
    assert_eq!(
        (s.workloads.clusters, s.workloads.clusters_with_statistics),
        (4, 1)
    );
}

/// The same window's version skew (each cluster by its worst node, each node by its own) and
/// its clusters by size.
#[test]
fn version_skew_and_sizes_in_the_window() {
    let dir = Scratch::new("summary-skew");
    let mut db = fleet(&dir);
    let s = build(&mut db, NOW, 30, None, 10).unwrap();
    // Version skew: a's worst is 3+ (nodes 0, 1, 3+), b's 1; c's 1,200 kubelets and d
    // unknown.
    let skew: Vec<(Option<&str>, u64, Option<u64>)> = s
        .version_skew
        .iter()
        .map(|r| (r.value.as_deref(), r.clusters, r.nodes))
        .collect();
    assert_eq!(
        skew,
        [
            (Some("0"), 0, Some(1)),
            (Some("1"), 1, Some(2)),
            (Some("3+"), 1, Some(1)),
            (Some("unknown"), 2, Some(1200)),
        ]
    );

    let buckets: Vec<(String, u64)> = s
        .node_counts
        .iter()
        .map(|b| (b.nodes.clone(), b.clusters))
        .collect();
    assert_eq!(
        buckets,
        [
            ("0", 1),
            ("1", 1),
            ("2-5", 1),
            ("6-20", 0),
            ("21-100", 0),
            ("101-1000", 0),
            (">1000", 1)
        ]
        .map(|(b, n)| (b.to_string(), n))
    );
}

#[test]
fn top_values_and_one_other_that_counts_each_cluster_once() {
    let dir = Scratch::new("summary-top");
    let mut db = Db::open(&dir.join("s.db")).unwrap();
    // Three clusters of four nodes, each node on its own OS image; one on `other`.
    for c in 0..3 {
        let mut r = report(&format!("c{c}"), NOW - DAY, 4);
        for (i, n) in r.nodes.iter_mut().enumerate() {
            n.os_image = Some(format!("Distro{c}{i} 1.0"));
        }
        r.nodes[0].os_image = Some("other".into());
        insert(&mut db, &whole(r));
    }
    let s = build(&mut db, NOW, 30, None, 2).unwrap();
    assert_eq!(s.os_images.len(), 3, "{:?}", s.os_images);
    assert_eq!(s.os_images[0].value.as_deref(), Some("other"));
    assert_eq!(
        (s.os_images[0].clusters, s.os_images[0].nodes),
        (3, Some(3))
    );
    let other = &s.os_images[2];
    assert_eq!(other.label(), Label::Other);
    assert_eq!((other.clusters, other.nodes), (3, Some(12 - 3 - 1)));
    let text = render(&s);
    assert!(text.contains("\nother "), "{text}");
    assert!(text.contains("\n(other) "), "{text}");
    let json = serde_json::to_value(&s).unwrap();
    assert_eq!(json["osImages"][2]["bucket"], "other");
    assert!(json["osImages"][2].get("value").is_none(), "{json}");
}

#[test]
fn one_cluster_an_empty_window_text_and_json() {
    let dir = Scratch::new("summary-views");
    let mut db = fleet(&dir);
    let (day, now) = (DAY, NOW);
    let s = build(&mut db, now, 30, None, 10).unwrap();
    let one = build(&mut db, now, 30, Some("a"), 10).unwrap();
    assert_eq!((one.clusters, one.nodes, one.reports), (1, 3, 2));
    assert_eq!(one.kubernetes_versions[0].value.as_deref(), Some("v1.33"));
    let short = build(&mut db, now, 3, None, 10).unwrap();
    assert_eq!(
        (short.clusters, short.reports),
        (2, 2),
        "a and b: today and the 2 days before"
    );
    let none = build(&mut db, now + 365 * day, 30, None, 10).unwrap();
    assert_eq!((none.clusters, none.nodes), (0, 0));
    assert!(render(&none).contains("No reports in this window."));

    let mut odd = s.clone();
    odd.os_images[0].value = Some("Ubuntu\u{2028}Fake line\u{202e}".into());
    odd.os_images[0].bucket = None;
    odd.recent[0].cluster_id = "a\u{1b}[2J".into();
    let text = render(&odd);
    assert!(text.contains("Ubuntu\\u{2028}Fake line\\u{202e}"), "{text}");
    assert!(text.contains("a\\u{1b}[2J"), "{text}");
    assert!(
        text.chars().all(|c| c == '\n' || (' '..='~').contains(&c)),
        "{text}"
    );
    let text = render(&build(&mut db, now, 30, None, 1).unwrap());
    assert!(text.contains("Clusters reporting: 4"), "{text}");
    assert!(text.contains("containerd://1.7"), "{text}");
    assert!(text.contains("(other)"), "top 1 sums up the rest:\n{text}");
    assert!(text.contains(">1000"), "{text}");
    assert!(text.contains("Accelerator"), "{text}");
    assert!(text.contains("Version skew"), "{text}");
    assert!(
        text.contains("Workload statistics: 1 of 4 clusters"),
        "{text}"
    );

    let json: serde_json::Value = serde_json::to_value(&s).unwrap();
    assert_eq!(json["clusters"], 4);
    assert_eq!(json["recent"][0]["clusterID"], "a");
    assert_eq!(json["nodeCounts"][6]["nodes"], ">1000");
    assert_eq!(json["workloads"]["clustersWithStatistics"], 1);
    assert_eq!(json["versionSkew"][1]["value"], "1");
    assert_eq!(
        json["osImages"][0]["bucket"], "not_reported",
        "the fixture's nodes send no image"
    );
}

/// Two values longer than a table's column, alike in their first 48 characters: each cut and
/// marked `~N`, and given whole under the table, so they cannot be taken for one.
#[test]
fn long_values_are_cut_marked_and_given_whole() {
    let dir = Scratch::new("summary-long");
    let mut db = fleet(&dir);
    let mut s = build(&mut db, NOW, 30, None, 10).unwrap();
    let long = |end: &str| format!("{}{end}", "x".repeat(60));
    s.container_runtimes[0].value = Some(long("a"));
    s.container_runtimes[1].value = Some(long("b"));
    let text = render(&s);
    let at = text.find("Container runtime").unwrap();
    let table: Vec<&str> = text[at..].lines().take_while(|l| !l.is_empty()).collect();
    let first = format!("{}~1 ", "x".repeat(VALUE - 2));
    let second = format!("{}~2 ", "x".repeat(VALUE - 2));
    assert!(table[1].starts_with(&first), "{table:#?}");
    assert!(table[2].starts_with(&second), "{table:#?}");
    assert!(
        table.contains(&format!("~1: {}", long("a")).as_str()),
        "{table:#?}"
    );
    assert!(
        table.contains(&format!("~2: {}", long("b")).as_str()),
        "{table:#?}"
    );
}

/// A weekly trend at `--top 1`: each of three weeks led by another version, and every one of
/// them a column in every week with its own count, not folded into `(other)` where it did not
/// lead; what led no week is `(other)`.
#[test]
fn every_value_that_led_a_period_is_a_column_in_every_period() {
    use crate::collector::fleet::trends::{Every, table};
    let dir = Scratch::new("summary-led");
    let mut db = Db::open(&dir.join("s.db")).unwrap();
    let weeks = [
        ("v1.30.1", "v1.31.0", "v1.29.9"),
        ("v1.31.2", "v1.32.0", "v1.29.9"),
        ("v1.32.3", "v1.32.0", "v1.29.9"),
    ];
    for (back, (most, one, least)) in (0..3).rev().zip(weeks) {
        let at = NOW - back * 7 * DAY;
        let versions = [most, most, most, one, least];
        for (cluster, version) in ["p", "q", "r", "s", "t"].iter().zip(versions) {
            let mut r = report(cluster, at, 1);
            r.master_version = Some(version.into());
            insert(&mut db, &whole(r));
        }
    }
    let since = Every::Week.start(NOW - 14 * DAY);
    let trend = read::trend(&mut db, Every::Week, (since, NOW), None, Scope::All, 1).unwrap();
    let text = table(&trend);
    let at = text.find("Kubernetes version (clusters)").unwrap();
    let rows: Vec<Vec<&str>> = text[at..]
        .lines()
        .skip(1)
        .take(4)
        .map(|l| l.split_whitespace().collect())
        .collect();
    // Leaders first, the largest over the three weeks first among them.
    assert_eq!(
        rows[0],
        ["week", "v1.32", "v1.31", "v1.30", "(other)"],
        "{text}"
    );
    assert_eq!(rows[1][1..], ["0", "1", "3", "1"], "{text}");
    assert_eq!(rows[2][1..], ["1", "3", "0", "1"], "{text}");
    assert_eq!(rows[3][1..], ["4", "0", "0", "1"], "{text}");
}
