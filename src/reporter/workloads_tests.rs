//! Tests of [`super`]: what is counted, how, and what is left out.

use super::*;
use crate::contract::limits::MAX_AGE_DAYS;
use crate::time::rfc3339;

/// 2026-01-01T00:00:00Z, and a creation time `days` (and a few hours) before it.
const NOW: i64 = 1_767_225_600;

fn ago(days: i64) -> String {
    rfc3339(NOW - days * 86_400 - 3 * 3600)
}

fn list(tally: &mut Tally, kind: ObjectKind, objects: &[(Option<&str>, Option<String>)]) {
    tally.start(kind);
    for (namespace, created) in objects {
        tally.object(kind, *namespace, created.as_deref());
    }
    tally.complete(kind);
}

fn namespaces(tally: &mut Tally, n: usize) {
    let objects: Vec<_> = (0..n).map(|i| (None, Some(ago(i as i64 * 10)))).collect();
    list(tally, ObjectKind::Namespaces, &objects);
}

#[test]
fn totals_histograms_and_ages() {
    let mut tally = Tally::new(NOW);
    namespaces(&mut tally, 6);
    // 1 pod in a, 3 in b, 8 in c, none in the 3 other namespaces.
    let mut pods = vec![(Some("a"), Some(ago(0)))];
    pods.extend((0..3).map(|i| (Some("b"), Some(ago(i)))));
    pods.extend((0..8).map(|i| (Some("c"), Some(ago(100 + i)))));
    list(&mut tally, ObjectKind::Pods, &pods);
    list(
        &mut tally,
        ObjectKind::Deployments,
        &[(Some("c"), Some(ago(3)))],
    );
    list(&mut tally, ObjectKind::Jobs, &[]);
    let w = tally.finish().unwrap();

    let ns = w.namespaces.unwrap();
    assert_eq!(ns.total, 6);
    assert!(ns.per_namespace.is_empty(), "namespaces hold no namespaces");
    // Ages 0, 10, ..., 50 days: mean 25, median rank 3 (20), p90 rank 6 (50).
    assert_eq!(
        ns.age,
        Some(Ages {
            count: 6,
            mean_days: 25,
            median_days: 20,
            p90_days: 50
        })
    );
    let pods = w.pods.unwrap();
    assert_eq!(pods.total, 12);
    // 0: 3 namespaces; 1: a; 2-3: b; 4-7: none; 8-15: c.
    assert_eq!(pods.per_namespace, [3, 1, 1, 0, 1]);
    // Ages 0, 0, 1, 2, 100..107: sum 831 over 12 (69.25), rank 6 is 101, rank 11 is 106.
    assert_eq!(
        pods.age,
        Some(Ages {
            count: 12,
            mean_days: 69,
            median_days: 101,
            p90_days: 106
        })
    );
    let deployments = w.deployments.unwrap();
    assert_eq!(
        (deployments.total, deployments.per_namespace),
        (1, vec![5, 1])
    );
    assert_eq!(deployments.age, None, "only namespaces, pods and services");
    assert_eq!(
        w.jobs.unwrap(),
        KindStats {
            total: 0,
            per_namespace: vec![6],
            age: None
        }
    );
    assert!(w.services.is_none() && w.cronjobs.is_none(), "not listed");
}

/// Nearest-rank median and 90th percentile, the mean rounded half up.
#[test]
fn ages_by_rank() {
    let one = ages(&[0, 0, 1]).unwrap();
    assert_eq!(
        (one.count, one.mean_days, one.median_days, one.p90_days),
        (1, 2, 2, 2)
    );
    // Days 0..=9 once each: mean 4.5 rounds to 5; rank 5 is day 4, rank 9 is day 8.
    let ten = ages(&[1; 10]).unwrap();
    assert_eq!((ten.mean_days, ten.median_days, ten.p90_days), (5, 4, 8));
    // Eleven: rank 6 and rank 10.
    let eleven = ages(&[1; 11]).unwrap();
    assert_eq!((eleven.median_days, eleven.p90_days), (5, 9));
    assert_eq!(ages(&[]), None);
    assert_eq!(ages(&[0, 0]), None);
    let skewed = ages(&[90, 0, 0, 0, 0, 0, 0, 0, 0, 10]).unwrap();
    assert_eq!(
        (skewed.mean_days, skewed.median_days, skewed.p90_days),
        (1, 0, 0)
    );
}

#[test]
fn odd_creation_times() {
    let mut tally = Tally::new(NOW);
    let future = rfc3339(NOW + 3 * 86_400);
    let ancient = rfc3339(NOW - 200 * 365 * 86_400);
    list(
        &mut tally,
        ObjectKind::Services,
        &[
            (Some("a"), Some(future)),
            (Some("a"), Some(ancient)),
            (Some("a"), Some("yesterday".into())),
            (Some("a"), None),
        ],
    );
    let services = tally.finish().unwrap().services.unwrap();
    assert_eq!(services.total, 4, "every object counts in the total");
    let age = services.age.unwrap();
    assert_eq!(age.count, 2, "only known ages count in the age");
    assert_eq!((age.median_days, age.p90_days), (0, MAX_AGE_DAYS));
}

/// Without the namespace list, objects still count, and bucket 0 is unknown (0).
#[test]
fn without_namespaces_bucket_zero_is_unknown() {
    let mut tally = Tally::new(NOW);
    list(
        &mut tally,
        ObjectKind::Pods,
        &[(Some("a"), None), (Some("a"), None), (None, None)],
    );
    let w = tally.finish().unwrap();
    assert_eq!(w.namespace_count(), None);
    let pods = w.pods.unwrap();
    assert_eq!(
        pods.total, 3,
        "an object without a namespace counts in the total"
    );
    assert_eq!(pods.per_namespace, [0, 0, 1]);
    // Namespaces made after they were listed cannot make bucket 0 negative.
    let mut tally = Tally::new(NOW);
    namespaces(&mut tally, 1);
    list(
        &mut tally,
        ObjectKind::Pods,
        &[(Some("a"), None), (Some("b"), None)],
    );
    assert_eq!(tally.finish().unwrap().pods.unwrap().per_namespace, [0, 2]);
}

/// A restarted list forgets what it counted; a list that failed, or never finished, is left
/// out whole.
#[test]
fn restarted_failed_and_unfinished_lists() {
    let mut tally = Tally::new(NOW);
    tally.start(ObjectKind::Pods);
    tally.object(ObjectKind::Pods, Some("a"), None);
    list(&mut tally, ObjectKind::Pods, &[(Some("b"), None)]);
    list(&mut tally, ObjectKind::Services, &[(Some("b"), None)]);
    tally.abandon(ObjectKind::Services);
    tally.start(ObjectKind::Jobs);
    tally.object(ObjectKind::Jobs, Some("b"), None);
    let w = tally.finish().unwrap();
    assert_eq!(w.pods.unwrap().total, 1);
    assert!(w.services.is_none() && w.jobs.is_none());
    assert_eq!(Tally::new(NOW).finish(), None, "nothing listed: no part");
}

/// Past the most namespaces counted, the histograms are left out rather than sent in part.
#[test]
fn too_many_namespaces_drop_the_histograms_not_the_totals() {
    let mut tally = Tally::new(NOW);
    tally.start(ObjectKind::Pods);
    for i in 0..=MAX_NAMESPACES {
        tally.object(ObjectKind::Pods, Some(&format!("ns-{i}")), None);
    }
    tally.complete(ObjectKind::Pods);
    assert!(tally.overflowed());
    assert_eq!(tally.namespaces.len(), MAX_NAMESPACES);
    let pods = tally.finish().unwrap().pods.unwrap();
    assert_eq!(pods.total, MAX_NAMESPACES as u64 + 1);
    assert!(pods.per_namespace.is_empty());
}

/// Items as the scanner hands them out are decoded and counted; a malformed one is an error that
/// never quotes the item's values.
#[test]
fn the_sink_decodes_items_and_never_quotes_them() {
    let mut tally = Tally::new(NOW);
    let mut sink = tally.sink(ObjectKind::Pods);
    sink.restart().unwrap();
    assert!(!sink.partial());
    let created = ago(4);
    let item = format!(
        r#"{{"metadata":{{"namespace":"acme-payments","creationTimestamp":"{created}"}}}}"#
    );
    sink.item(item.as_bytes()).unwrap();
    sink.item(br#"{"metadata":{"namespace":null}}"#).unwrap();
    sink.item(b"{}").unwrap();
    assert!(sink.partial());
    for bad in [
        &br#"{"metadata":{"namespace":7}}"#[..],
        br#"{"metadata":{"namespace":"acme-payments","creationTimestamp":["acme-ledger"]}}"#,
        br#"{"metadata":"acme-payments"}"#,
    ] {
        let err = format!("{:#}", sink.item(bad).unwrap_err());
        assert!(
            err.contains("expected shape") && !err.contains("acme"),
            "{err}"
        );
    }
    tally.complete(ObjectKind::Pods);
    let pods = tally.finish().unwrap().pods.unwrap();
    assert_eq!((pods.total, pods.per_namespace), (3, vec![0, 1]));
    assert_eq!(pods.age.unwrap().median_days, 4);
}

#[test]
fn the_log_line_holds_counts_and_what_was_left_out() {
    let mut tally = Tally::new(NOW);
    namespaces(&mut tally, 3);
    list(&mut tally, ObjectKind::Pods, &[(Some("a"), None)]);
    let w = tally.finish();
    let stats = ListStats {
        pages: 2,
        restarts: 1,
    };
    assert_eq!(
        summary(w.as_ref(), &stats, &["daemonsets", "cronjobs"]),
        "spartakus: workload statistics: 3 namespaces, 1 pods (2 pages, 1 restarts); left out: daemonsets, cronjobs (the report is sent without them)"
    );
    assert_eq!(
        summary(None, &ListStats::default(), &[]),
        "spartakus: workload statistics: nothing listed (0 pages)"
    );
}

/// Whatever the lists hold, the part the reporter builds is within every limit: written, the
/// collector's check accepts it without a clamp and reads back exactly what was counted.
#[test]
fn property_every_counted_part_is_accepted_as_counted() {
    use crate::contract::testing::Rng;
    use crate::contract::{FORMAT_VERSION, Report, ReportWriter, limits::Clamps, parse};
    let mut rng = Rng(0x5eed_0b1e_c7c0_0013);
    let mut with_part = 0;
    for round in 0..300 {
        let mut tally = Tally::new(NOW);
        let pool: Vec<String> = (0..1 + rng.below(40)).map(|i| format!("ns-{i}")).collect();
        for kind in ObjectKind::ALL {
            if rng.below(5) == 0 {
                continue;
            }
            tally.start(kind);
            for _ in 0..rng.below(300) {
                let namespace = (rng.below(10) > 0).then(|| rng.pick(&pool).clone());
                let created = match rng.below(6) {
                    0 => None,
                    1 => Some(rng.text(30)),
                    2 => Some(rfc3339(NOW + rng.below(1_000_000) as i64)),
                    3 => Some(rfc3339(NOW - 300 * 365 * 86_400)),
                    _ => Some(ago(rng.below(3_000) as i64)),
                };
                tally.object(kind, namespace.as_deref(), created.as_deref());
            }
            match rng.below(6) {
                0 => tally.abandon(kind),
                1 => {}
                _ => tally.complete(kind),
            }
        }
        let counted = tally.finish();
        with_part += usize::from(counted.is_some());
        let header = Report {
            version: FORMAT_VERSION.into(),
            cluster_id: format!("c{round}"),
            ..Report::default()
        };
        let mut writer = ReportWriter::start(Vec::new(), &header).unwrap();
        writer.set_workloads(counted.clone());
        assert_eq!(writer.clamps(), &Clamps::default(), "round {round}");
        let (back, clamps) = parse(&writer.finish().unwrap()).unwrap();
        assert!(clamps.is_empty(), "round {round}: {clamps}");
        assert_eq!(back.workloads, counted, "round {round}");
    }
    assert!(with_part > 250, "{with_part}");
}
