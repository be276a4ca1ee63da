//! The stand-in API server: paging, continue tokens, tokens, discovery, faults, delays,
//! ConfigMaps, the kubeconfig it writes, and kubectl against it.

use super::*;

#[test]
fn paging_returns_every_node_exactly_once() {
    let server = ApiServer::with_nodes(53);
    let api = Api::new(&server);
    for (limit, want_pages) in [(7, 8), (20, 3), (53, 1), (500, 1)] {
        let (items, pages) = list_all(&api, limit);
        assert_eq!(items.len(), 53, "limit {limit}");
        assert_eq!(pages, want_pages, "limit {limit}");
        assert_eq!(uids(&items).len(), 53, "unique uids, limit {limit}");
        let names: BTreeSet<&str> = items
            .iter()
            .map(|n| n["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 53);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(item["metadata"]["uid"], nodes::node_uid(i));
            assert!(item.get("kind").is_none(), "list items carry no kind");
        }
    }
    // No limit: everything at once, no continue token.
    let (status, all) = api.get("/api/v1/nodes");
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 53);
    assert!(all["metadata"].get("continue").is_none());
    // remainingItemCount counts what is left after the page.
    let (_, first) = api.get("/api/v1/nodes?limit=10");
    assert_eq!(first["metadata"]["remainingItemCount"], 43);
    // A garbled token is a 400 Status.
    let (status, bad) = api.get("/api/v1/nodes?limit=10&continue=%21%21not-a-token");
    assert_eq!(status, 400);
    assert_status(&bad, 400, "BadRequest");
    // Requests were recorded with their query and Accept header.
    let lists = server.node_list_requests();
    assert!(
        lists
            .iter()
            .any(|r| r.query("limit").as_deref() == Some("7"))
    );
    assert!(lists.iter().all(|r| r.accept.is_some()));
}

#[test]
fn empty_cluster_lists_no_items() {
    let server = ApiServer::with_nodes(0);
    let api = Api::new(&server);
    let (status, list) = api.get("/api/v1/nodes?limit=500");
    assert_eq!(status, 200);
    assert_eq!(list["items"], serde_json::json!([]));
    assert!(list["metadata"].get("continue").is_none());
}

#[test]
fn large_unpaged_list_streams_in_chunks() {
    let server = ApiServer::with_nodes(1500);
    let api = Api::new(&server);
    let (status, list) = api.get("/api/v1/nodes");
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1500);
    assert_eq!(uids(items).len(), 1500);
}

#[test]
fn continue_token_expires_once_on_the_configured_page() {
    let server = ApiServer::start(
        Config::default()
            .with_nodes(30)
            .with_expired_continue_at_page(2),
    );
    let api = Api::new(&server);
    let (_, page0) = api.get("/api/v1/nodes?limit=10");
    let t1 = page0["metadata"]["continue"].as_str().unwrap().to_string();
    let (status, page1) = api.get(&format!("/api/v1/nodes?limit=10&continue={t1}"));
    assert_eq!(status, 200);
    let t2 = page1["metadata"]["continue"].as_str().unwrap().to_string();
    let (status, gone) = api.get(&format!("/api/v1/nodes?limit=10&continue={t2}"));
    assert_eq!(status, 410);
    assert_status(&gone, 410, "Expired");
    assert!(
        gone["message"]
            .as_str()
            .unwrap()
            .contains("too old to display a consistent list result")
    );
    // Tokens of the old list stay expired, like after an etcd compaction.
    let (status, _) = api.get(&format!("/api/v1/nodes?limit=10&continue={t1}"));
    assert_eq!(status, 410);
    // A new list goes through: the fault fired once.
    let (items, pages) = list_all(&api, 10);
    assert_eq!((items.len(), pages), (30, 3));
    assert_eq!(uids(&items).len(), 30);
    let statuses: Vec<u16> = server
        .node_list_requests()
        .iter()
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [200, 200, 410, 410, 200, 200, 200]);
}

#[test]
fn missing_or_wrong_token_is_401() {
    let server = ApiServer::with_nodes(3);
    let api = Api::new(&server);
    for token in [None, Some("wrong-token")] {
        for path in [
            "/version",
            "/api/v1/nodes",
            "/api/v1/namespaces/x/configmaps/y",
        ] {
            let (status, body, _) = api.get_with(path, token);
            assert_eq!(status, 401, "{path} {token:?}");
            assert_status(&body, 401, "Unauthorized");
        }
    }
    assert!(server.requests().iter().all(|r| r.status == 401));
}

#[test]
fn version_discovery_and_unknown_paths() {
    let server = ApiServer::start(Config::default().with_git_version("v1.31.4-eks-2d5f260"));
    let api = Api::new(&server);
    let (status, version) = api.get("/version");
    assert_eq!(status, 200);
    assert_eq!(version["gitVersion"], "v1.31.4-eks-2d5f260");
    assert_eq!(version["major"], "1");
    assert_eq!(version["minor"], "31");
    assert_eq!(version["platform"], "linux/amd64");
    let (_, api_versions) = api.get("/api");
    assert_eq!(api_versions["versions"], serde_json::json!(["v1"]));
    let (_, groups) = api.get("/apis");
    assert_eq!(groups["kind"], "APIGroupList");
    let (_, resources) = api.get("/api/v1");
    let names: Vec<&str> = resources["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"nodes") && names.contains(&"configmaps"));
    let (status, missing) = api.get("/api/v1/secrets");
    assert_eq!(status, 404);
    assert_status(&missing, 404, "NotFound");
    // One node by name, with kind and apiVersion this time.
    let name = nodes::node_name(2);
    let (status, node) = api.get(&format!("/api/v1/nodes/{name}"));
    assert_eq!(status, 200);
    assert_eq!(node["kind"], "Node");
    assert_eq!(node["metadata"]["name"], name.as_str());
    let (status, absent) = api.get("/api/v1/nodes/no-such-node");
    assert_eq!(status, 404);
    assert_eq!(absent["details"]["kind"], "nodes");
    let counts = server.request_counts();
    assert_eq!(counts["version"], 1);
    assert_eq!(counts["discovery"], 3);
    assert_eq!(counts["node"], 2);
    assert_eq!(server.request_count(), 7);
}

#[test]
fn faults_fire_the_configured_number_of_times() {
    let server = ApiServer::start(
        Config::default()
            .with_nodes(4)
            .with_nodes_fault(503, 2)
            .with_version_fault(500, 1),
    );
    let api = Api::new(&server);
    for _ in 0..2 {
        let (status, body) = api.get("/api/v1/nodes?limit=500");
        assert_eq!(status, 503);
        assert_status(&body, 503, "ServiceUnavailable");
    }
    assert_eq!(api.get("/api/v1/nodes?limit=500").0, 200);
    let (status, body) = api.get("/version");
    assert_eq!(status, 500);
    assert_status(&body, 500, "InternalError");
    assert_eq!(api.get("/version").0, 200);

    server.set_nodes_fault(Some(Fault::always(403)));
    for _ in 0..3 {
        let (status, body) = api.get("/api/v1/nodes");
        assert_eq!(status, 403);
        assert_status(&body, 403, "Forbidden");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains("cannot list resource \"nodes\" in API group \"\" at the cluster scope")
        );
    }
    server.set_nodes_fault(Some(Fault::times(429, 1)));
    let (status, body, retry_after) = api.get_with("/api/v1/nodes", Some(server.token()));
    assert_eq!(status, 429);
    assert_status(&body, 429, "TooManyRequests");
    assert_eq!(retry_after.as_deref(), Some("1"));
    assert_eq!(api.get("/api/v1/nodes").0, 200);
}

#[test]
fn delay_holds_every_response() {
    // Two seconds: far more than a request to 127.0.0.1 takes, however busy the machine.
    let server = ApiServer::start(Config::default().with_delay(Duration::from_secs(2)));
    let api = Api::new(&server);
    let started = Instant::now();
    assert_eq!(api.get("/version").0, 200);
    assert!(started.elapsed() >= Duration::from_secs(2));
    server.set_delay(None);
    let started = Instant::now();
    assert_eq!(api.get("/version").0, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn configmaps_create_get_conflict_and_race() {
    let server = ApiServer::with_nodes(1);
    let api = Api::new(&server);
    let path = "/api/v1/namespaces/spartakus/configmaps";

    let (status, absent) = api.get(&format!("{path}/spartakus"));
    assert_eq!(status, 404);
    assert_status(&absent, 404, "NotFound");
    assert_eq!(absent["details"]["name"], "spartakus");
    assert_eq!(absent["details"]["kind"], "configmaps");

    let object = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "spartakus", "labels": {"app.kubernetes.io/name": "spartakus"}},
        "data": {"clusterID": "11111111-2222-4333-8444-555555555555"},
    });
    let (status, created) = api.post(path, &object);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["kind"], "ConfigMap");
    assert_eq!(created["metadata"]["namespace"], "spartakus");
    for field in ["uid", "resourceVersion", "creationTimestamp"] {
        assert!(created["metadata"][field].is_string(), "{field}: {created}");
    }
    assert_eq!(
        server.configmap("spartakus", "spartakus").unwrap()["clusterID"],
        "11111111-2222-4333-8444-555555555555"
    );
    assert_eq!(
        server.configmap_labels("spartakus", "spartakus").unwrap()["app.kubernetes.io/name"],
        "spartakus"
    );
    let (status, got) = api.get(&format!("{path}/spartakus"));
    assert_eq!(status, 200);
    assert_eq!(got, created);

    let (status, conflict) = api.post(path, &object);
    assert_eq!(status, 409);
    assert_status(&conflict, 409, "AlreadyExists");
    assert_eq!(conflict["details"]["name"], "spartakus");

    // Losing the race: someone else's ConfigMap appears first, and the create gets a 409.
    server.lose_next_create_race("99999999-8888-4777-8666-555555555555");
    let mut other = object.clone();
    other["metadata"]["name"] = "raced".into();
    let (status, lost) = api.post(path, &other);
    assert_eq!(status, 409);
    assert_status(&lost, 409, "AlreadyExists");
    let (_, winner) = api.get(&format!("{path}/raced"));
    assert_eq!(
        winner["data"]["clusterID"],
        "99999999-8888-4777-8666-555555555555"
    );
    // Only once.
    let mut third = object.clone();
    third["metadata"]["name"] = "third".into();
    assert_eq!(api.post(path, &third).0, 201);

    let (status, list) = api.get(path);
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "ConfigMapList");
    assert_eq!(list["items"].as_array().unwrap().len(), 3);

    server.insert_configmap("other-ns", "spartakus", [("clusterID", "inserted")]);
    let (_, inserted) = api.get("/api/v1/namespaces/other-ns/configmaps/spartakus");
    assert_eq!(inserted["data"]["clusterID"], "inserted");

    // A namespace mismatch and a missing name are rejected like a real server does.
    let mut wrong_ns = object.clone();
    wrong_ns["metadata"]["namespace"] = "elsewhere".into();
    assert_eq!(api.post(path, &wrong_ns).0, 400);
    let (status, invalid) = api.post(path, &serde_json::json!({"metadata": {}}));
    assert_eq!(status, 422);
    assert_status(&invalid, 422, "Invalid");
}

#[test]
fn configmaps_forbidden() {
    let server = ApiServer::start(Config::default().with_forbidden_configmaps());
    let api = Api::new(&server);
    let (status, body) = api.get("/api/v1/namespaces/team-a/configmaps/spartakus");
    assert_eq!(status, 403);
    assert_status(&body, 403, "Forbidden");
    assert_eq!(
        body["message"],
        "configmaps \"spartakus\" is forbidden: User \"system:serviceaccount:spartakus:spartakus\" cannot get resource \"configmaps\" in API group \"\" in the namespace \"team-a\""
    );
    let (status, body) = api.post(
        "/api/v1/namespaces/team-a/configmaps",
        &serde_json::json!({"metadata": {"name": "spartakus"}, "data": {}}),
    );
    assert_eq!(status, 403);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("cannot create resource")
    );
    assert!(server.configmap("team-a", "spartakus").is_none());
}

#[test]
fn kubeconfig_is_complete() {
    let server = ApiServer::with_nodes(1);
    let dir = TempDir::new("kubeconfig");
    let path = dir.join("sub/kubeconfig");
    server.write_kubeconfig(&path, Some("team-a"));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("server: {}", server.url())));
    assert!(text.contains(&format!("token: {}", server.token())));
    assert!(text.contains("namespace: team-a"));
    assert!(text.contains("current-context: stand-in"));
    let ca_line = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("certificate-authority-data: "))
        .unwrap();
    assert_eq!(
        util::base64_decode(ca_line).unwrap(),
        server.ca_pem().as_bytes()
    );
}

#[test]
fn kubectl_lists_every_node_in_chunks() {
    if !need::kubectl() {
        return;
    }
    let server = ApiServer::with_nodes(20);
    let dir = TempDir::new("kubectl");
    let kubeconfig = dir.join("kubeconfig");
    server.write_kubeconfig(&kubeconfig, Some("default"));
    let out = std::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(["get", "nodes", "--chunk-size=7", "-o", "name"])
        .env_remove("KUBECONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let names: Vec<&str> = stdout.lines().collect();
    assert_eq!(names.len(), 20, "{stdout}");
    for (i, line) in names.iter().enumerate() {
        assert_eq!(*line, format!("node/{}", nodes::node_name(i)));
    }
    let lists = server.node_list_requests();
    assert_eq!(lists.len(), 3, "{lists:?}");
    assert!(
        lists
            .iter()
            .all(|r| r.query("limit").as_deref() == Some("7"))
    );
}
