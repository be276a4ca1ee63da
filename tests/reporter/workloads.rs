//! Workload statistics (`--workload-stats`): paged metadata-only lists, off unless asked for,
//! forbidden kinds left out, restarts and retries in time, and a large cluster.

use super::*;
use crate::support::apiserver::Fault;

const WORKLOAD_KINDS: usize = 8;

fn kind_of(resource: Resource) -> ObjectKind {
    let kind = ObjectKind::ALL
        .into_iter()
        .find(|k| k.name() == resource.plural());
    kind.unwrap_or_else(|| panic!("{resource:?} is not a kind of the statistics"))
}

/// The per-namespace histogram the stand-in's layout implies for `resource`: every namespace
/// when namespaces were listed, else only those holding some.
fn expected_histogram(layout: &Layout, resource: Resource, namespaces_listed: bool) -> Vec<u64> {
    let mut buckets = vec![0u64; limits::WORKLOAD_BUCKETS];
    for k in 0..layout.len(Resource::Namespaces) {
        let n = layout.count_in(resource, k) as u64;
        if n > 0 || namespaces_listed {
            buckets[limits::namespace_bucket(n)] += 1;
        }
    }
    while buckets.last() == Some(&0) {
        buckets.pop();
    }
    buckets
}

/// The age distribution of every object of `resource` at `now`, by sorting their ages.
fn expected_ages(layout: &Layout, resource: Resource, now: i64) -> Ages {
    let mut days: Vec<u64> = (0..layout.len(resource))
        .map(|g| {
            let created = layout.metadata(resource, g).creation_timestamp.unwrap();
            ((now - created.0.as_second()).max(0) / 86_400) as u64
        })
        .collect();
    days.sort_unstable();
    let count = days.len() as u64;
    let at_rank = |rank: u64| days[rank as usize - 1];
    Ages {
        count,
        mean_days: (days.iter().sum::<u64>() * 2 + count) / (2 * count),
        median_days: at_rank(count.div_ceil(2)),
        p90_days: at_rank((count * 9).div_ceil(10)),
    }
}

/// Each statistic of `got` lies between those at the earliest and the latest moment the reporter
/// can have counted from (ages only grow with time).
fn assert_ages_between(got: Option<Ages>, early: Ages, late: Ages, what: &str) {
    let got = got.unwrap_or_else(|| panic!("{what}: no ages"));
    assert_eq!(got.count, early.count, "{what}");
    for (name, value, low, high) in [
        ("mean", got.mean_days, early.mean_days, late.mean_days),
        (
            "median",
            got.median_days,
            early.median_days,
            late.median_days,
        ),
        ("p90", got.p90_days, early.p90_days, late.p90_days),
    ] {
        assert!(
            (low..=high).contains(&value),
            "{what}: {name} {value} not in {low}..={high}"
        );
    }
}

/// The workload part of a run's report, checked against the stand-in's layout, every kind
/// listed but those in `left_out` (and without the histograms' bucket 0 when namespaces are).
fn check_workloads(run: &Run, layout: &Layout, left_out: &[Resource], with_ages: bool) {
    let report = run.report();
    let workloads = report.workloads.expect("a workload part");
    let namespaces_listed = !left_out.contains(&Resource::Namespaces);
    let ts: i64 = report.timestamp.parse().unwrap();
    let (early, late) = (ts, ts + run.took.as_secs() as i64 + 1);
    for resource in support::objects::Resource::ALL {
        let kind = kind_of(resource);
        let got = workloads.get(kind);
        if left_out.contains(&resource) {
            assert_eq!(got, None, "{resource:?} was left out");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{resource:?} missing: {workloads:?}"));
        assert_eq!(got.total, layout.len(resource) as u64, "{resource:?}");
        if kind.namespaced() {
            let want = expected_histogram(layout, resource, namespaces_listed);
            assert_eq!(got.per_namespace, want, "{resource:?}");
        }
        if !kind.with_ages() {
            assert_eq!(got.age, None, "{resource:?}");
        } else if with_ages {
            let (a, b) = (
                expected_ages(layout, resource, early),
                expected_ages(layout, resource, late),
            );
            assert_ages_between(got.age, a, b, resource.plural());
        } else {
            assert_eq!(got.age.unwrap().count, got.total, "{resource:?}");
        }
    }
}

/// The list requests of every kind of the statistics, in order.
fn workload_lists(api: &ApiServer) -> Vec<support::apiserver::Recorded> {
    let kinds: Vec<&str> = support::objects::Resource::ALL
        .iter()
        .map(|r| r.plural())
        .collect();
    let all = api.requests();
    all.into_iter()
        .filter(|r| kinds.contains(&r.kind))
        .collect()
}

#[test]
fn workload_stats_come_from_paged_metadata_only_lists() {
    let config = Config::default()
        .with_nodes(6)
        .with_namespaces(120)
        .with_objects(Resource::Pods, 2_000);
    let api = ApiServer::start(config);
    let run = spartakus(
        &api,
        &[
            "report",
            "--dry-run",
            "--cluster-id",
            CLUSTER_ID,
            "--workload-stats",
        ],
        &[],
    );
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 6, "the node report is whole");
    check_workloads(&run, &api.layout(), &[], true);
    // Metadata only, paged by 500 from the start, cluster-wide, never a get, a watch or a secret.
    let lists = workload_lists(&api);
    assert_eq!(lists.len(), WORKLOAD_KINDS - 1 + 2_000 / 500, "{lists:?}");
    for r in &lists {
        assert_eq!(r.method, "GET");
        assert!(r.accept.as_deref().is_some_and(|a| {
            a.starts_with("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
        }));
        assert_eq!(r.query("limit").as_deref(), Some("500"), "{}", r.path);
        assert_eq!(r.query("watch"), None);
        assert!(!r.path.contains("/namespaces/") || r.kind == "namespaces");
    }
    let pods: Vec<_> = lists.iter().filter(|r| r.kind == "pods").collect();
    assert_eq!(pods[0].query("continue"), None);
    assert!(pods[1..].iter().all(|r| r.query("continue").is_some()));
    let counts = api.request_counts();
    assert!(
        !counts.contains_key("namespace") && !counts.contains_key("other"),
        "{counts:?}"
    );
    assert!(
        run.stderr.contains(
            "workload statistics: 120 namespaces, 2000 pods, 60 services, 48 deployments, 8 statefulsets, 10 daemonsets, 30 jobs, 6 cronjobs (11 pages)"
        ),
        "{}",
        run.stderr
    );
}

#[test]
fn workload_stats_are_off_unless_asked_for() {
    let api = ApiServer::start(Config::default().with_nodes(2));
    let run = dry_run(&api, &[]);
    assert_exit(&run, 0);
    assert_eq!(run.report().workloads, None);
    assert!(!run.stdout.contains("workloads"));
    assert!(workload_lists(&api).is_empty(), "nothing else is listed");
    // The variable turns them on, as every flag's does.
    let run = dry_run(&api, &[("SPARTAKUS_WORKLOAD_STATS", "true")]);
    assert_exit(&run, 0);
    assert!(run.report().workloads.is_some());
}

/// A kind the reporter may not list is left out and named in the log; the report goes out with
/// the rest. Without the namespace list, histograms count only the namespaces holding objects.
#[test]
fn forbidden_kinds_are_left_out_and_named_and_the_report_still_goes() {
    let config = Config::default()
        .with_nodes(3)
        .with_forbidden("daemonsets", "list")
        .with_forbidden("namespaces", "list");
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats"]);
    assert_exit(&run, 0);
    assert_eq!(collector.request_count(), 1);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    assert_eq!(sent.report().nodes.len(), 3);
    let left_out = [Resource::Namespaces, Resource::DaemonSets];
    check_workloads(&sent, &api.layout(), &left_out, true);
    for kind in ["namespaces", "daemonsets"] {
        let line = format!("workload statistics: {kind} left out: list {kind}: Forbidden (403)");
        assert!(sent.stderr.contains(&line), "{line}\n{}", sent.stderr);
    }
    assert!(
        sent.stderr
            .contains("left out: namespaces, daemonsets (the report is sent without them)"),
        "{}",
        sent.stderr
    );
    assert!(
        sent.stderr.contains("report delivered: 204"),
        "{}",
        sent.stderr
    );
}

/// With no permission beyond the default install's, every kind is left out, the run says so,
/// and the node report is sent as it would be without the flag (exit 0).
#[test]
fn without_any_workload_permission_the_node_report_still_goes_out() {
    let mut config = Config::default().with_nodes(4);
    for resource in Resource::ALL {
        config = config.with_forbidden(resource.plural(), "list");
    }
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats"]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 1);
    let report = got[0].report();
    assert_eq!((report.nodes.len(), report.workloads), (4, None));
    assert!(!got[0].text().contains("workloads"));
    assert_eq!(
        workload_lists(&api).len(),
        WORKLOAD_KINDS,
        "one 403 each, not retried"
    );
    assert!(
        run.stderr.contains(
            "workload statistics: nothing listed (0 pages); left out: namespaces, pods, services, deployments, statefulsets, daemonsets, jobs, cronjobs"
        ),
        "{}",
        run.stderr
    );
}

/// An expired continue token restarts that kind's list, which is then counted once; a kind
/// whose server keeps failing is retried, then left out when its share of the time runs out,
/// and the report still goes out in time.
///
/// The failing kind's server asks, from its second answer on, for a wait longer than the whole
/// share (`Retry-After: 120`), so services are given up at once, and the kinds listed after them
/// keep most of the share however busy the machine is. (Retried on backoff until the share ran
/// out, services left the later kinds a random remainder, sometimes too little under load.)
#[test]
fn workload_lists_restart_retry_and_give_up_in_time() {
    let busy = Fault::times(503, 1).then(Fault::always(503).retry_after(120));
    let config = Config::default()
        .with_nodes(2)
        .with_namespaces(40)
        .with_objects(Resource::Pods, 1_600)
        .with_expired_continue("pods", 2)
        .with_fault_like("services", busy);
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats", "--timeout", "30s"]);
    assert_exit(&run, 0);
    assert!(run.took < Duration::from_secs(30), "took {:?}", run.took);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    let layout = api.layout();
    let services_out = sent.report().workloads.unwrap().services.is_none();
    assert!(services_out, "{}", sent.stderr);
    check_workloads(&sent, &layout, &[Resource::Services], true);
    let pods = api.requests_of("pods");
    assert_eq!(pods.iter().filter(|r| r.status == 410).count(), 1);
    assert_eq!(pods.len(), 3 + 4, "pages 0-2 (2 expired), then 0-3 again");
    assert!(api.requests_of("services").len() >= 2, "503 is retried");
    assert!(sent.stderr.contains("services left out"), "{}", sent.stderr);
}

/// The workload statistics of a large cluster through the real binary and code path: 10,000
/// namespaces of very different sizes and 300,000 pods, listed metadata-only in pages of 500,
/// every object counted once, every namespace in its bucket. (Peak memory and CPU at this size
/// are measured by bench/run; see BENCHMARKS.md.)
#[test]
#[ignore = "scale: run by CI, and by cargo test -- --include-ignored"]
fn a_large_cluster_reports_its_workloads() {
    let config = Config::default()
        .with_nodes(50)
        .with_namespaces(10_000)
        .with_objects(Resource::Pods, 300_000);
    let api = ApiServer::start(config);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--workload-stats", "--timeout", "20m"]);
    assert_exit(&run, 0);
    let sent = Run {
        stdout: collector.requests()[0].text(),
        ..run
    };
    assert_eq!(sent.report().nodes.len(), 50);
    check_workloads(&sent, &api.layout(), &[], false);
    assert_eq!(api.requests_of("pods").len(), 300_000 / 500);
    assert_eq!(api.requests_of("namespaces").len(), 10_000 / 500);
}
