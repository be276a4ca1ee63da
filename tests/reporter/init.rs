//! `spartakus init` and the cluster ID: created once, found again, a lost create race, and
//! what stops a report without one.

use super::*;

fn is_uuid_v4(s: &str) -> bool {
    let b = s.as_bytes();
    s.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && b[14] == b'4'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b')
        && s.chars()
            .all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
}

#[test]
fn init_creates_then_finds_the_cluster_id() {
    let api = ApiServer::with_nodes(2);
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 0);
    let id = run.stdout.trim().to_string();
    assert!(is_uuid_v4(&id), "{id:?}");
    assert_eq!(run.stdout.lines().count(), 1);
    let data = api
        .configmap(NS, "spartakus")
        .expect("created in the kubeconfig's namespace");
    assert_eq!(data.get("clusterID"), Some(&id));
    let labels = api.configmap_labels(NS, "spartakus").unwrap();
    assert_eq!(
        labels.get("app.kubernetes.io/name").map(String::as_str),
        Some("spartakus")
    );
    let before = api.configmap_object(NS, "spartakus").unwrap();

    let again = spartakus(&api, &["init"], &[]);
    assert_exit(&again, 0);
    assert_eq!(again.stdout.trim(), id, "idempotent");
    assert_eq!(
        api.configmap_object(NS, "spartakus").unwrap(),
        before,
        "never changed"
    );
    assert!(
        !api.requests()
            .iter()
            .any(|r| r.method != "GET" && r.method != "POST"),
        "init only gets and creates"
    );

    // The report reads it.
    let run = spartakus(&api, &["report", "--dry-run"], &[]);
    assert_exit(&run, 0);
    assert_eq!(run.report().cluster_id, id);

    // Another namespace and name by flag.
    let run = spartakus(
        &api,
        &["init", "--namespace", "other", "--configmap", "cid"],
        &[],
    );
    assert_exit(&run, 0);
    assert_eq!(
        api.configmap("other", "cid")
            .unwrap()
            .get("clusterID")
            .map(String::as_str),
        Some(run.stdout.trim())
    );
}

#[test]
fn init_losing_the_create_race_prints_the_winner() {
    let api = ApiServer::with_nodes(1);
    api.lose_next_create_race("winner-0000-4000-8000-000000000000");
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 0);
    assert_eq!(run.stdout.trim(), "winner-0000-4000-8000-000000000000");
    assert_eq!(
        api.configmap(NS, "spartakus")
            .unwrap()
            .get("clusterID")
            .map(String::as_str),
        Some("winner-0000-4000-8000-000000000000")
    );
}

#[test]
fn init_forbidden_names_verb_resource_and_namespace() {
    let api = ApiServer::start(Config::default().with_forbidden_configmaps());
    let run = spartakus(&api, &["init"], &[]);
    assert_exit(&run, 3);
    assert!(run.stdout.is_empty());
    let err = run.stderr.lines().last().unwrap_or_default();
    assert!(
        err.contains("configmaps \"spartakus\"")
            && err.contains("namespace \"spartakus\"")
            && err.contains("403"),
        "{err}"
    );
    assert!(err.contains("get") || err.contains("create"), "{err}");
}

#[test]
fn a_missing_cluster_id_stops_the_report() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::new();
    let run = spartakus(&api, &["report", "--endpoint", &collector.url()], &[]);
    assert_exit(&run, 2);
    let err = run.stderr.lines().last().unwrap_or_default();
    assert!(
        err.contains("\"spartakus\"")
            && err.contains("namespace \"spartakus\"")
            && err.contains("spartakus init"),
        "{err}"
    );
    assert_eq!(collector.request_count(), 0);

    // A ConfigMap without the key is no better.
    api.insert_configmap(NS, "spartakus", [("other", "x")]);
    let run = spartakus(&api, &["report", "--endpoint", &collector.url()], &[]);
    assert_exit(&run, 2);
    assert!(run.stderr.contains("clusterID"), "{}", run.stderr);
    assert_eq!(collector.request_count(), 0);
}
