//! Self-tests of the stand-ins in `tests/support`: the API server pages exactly like a real one,
//! its faults fire as configured, kubectl can use it, its nodes are realistic and carry the
//! planted identifying strings, and the collector records and answers as scripted.

mod lists;
mod writes;

use crate::support;
use serde_json::Value;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use support::apiserver::{ApiServer, Config, Fault};
use support::collector::{Collector, CollectorConfig, Reply, refused_url};
use support::nodes;
use support::util::{self, TempDir, gzip};

// ---------------------------------------------------------------------------------------------
// A small HTTPS client for the tests.
// ---------------------------------------------------------------------------------------------

fn agent(ca_pem: Option<&str>) -> ureq::Agent {
    agent_with_timeout(ca_pem, Duration::from_secs(30))
}

fn agent_with_timeout(ca_pem: Option<&str>, timeout: Duration) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(timeout));
    if let Some(pem) = ca_pem {
        let cert = ureq::tls::Certificate::from_pem(pem.as_bytes()).unwrap();
        let tls = ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::new_with_certs(&[cert]))
            .build();
        config = config.tls_config(tls);
    }
    config.build().new_agent()
}

struct Api<'a> {
    server: &'a ApiServer,
    agent: ureq::Agent,
}

impl<'a> Api<'a> {
    fn new(server: &'a ApiServer) -> Api<'a> {
        Api {
            server,
            agent: agent(Some(server.ca_pem())),
        }
    }

    fn get_with(&self, path: &str, token: Option<&str>) -> (u16, Value, Option<String>) {
        let mut req = self.agent.get(format!("{}{path}", self.server.url()));
        if let Some(token) = token {
            req = req.header("Authorization", &format!("Bearer {token}"));
        }
        let mut resp = req.call().unwrap();
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text:.300}"));
        (status, value, retry_after)
    }

    /// A GET with this `Accept` header: status, body and `Content-Type`.
    fn get_accept(&self, path: &str, accept: &str) -> (u16, Value, String) {
        let mut resp = (self.agent.get(format!("{}{path}", self.server.url())))
            .header("Authorization", &format!("Bearer {}", self.server.token()))
            .header("Accept", accept)
            .call()
            .unwrap();
        let content_type = resp.headers().get("content-type").unwrap();
        let content_type = content_type.to_str().unwrap().to_string();
        let text = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .unwrap();
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text:.300}"));
        (resp.status().as_u16(), value, content_type)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (status, value, _) = self.get_with(path, Some(self.server.token()));
        (status, value)
    }

    fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let mut resp = self
            .agent
            .post(format!("{}{path}", self.server.url()))
            .header("Authorization", &format!("Bearer {}", self.server.token()))
            .header("Content-Type", "application/json")
            .send(serde_json::to_vec(body).unwrap().as_slice())
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap())
    }
}

fn assert_status(value: &Value, code: u16, reason: &str) {
    assert_eq!(value["kind"], "Status", "{value}");
    assert_eq!(value["apiVersion"], "v1", "{value}");
    assert_eq!(value["status"], "Failure", "{value}");
    assert_eq!(value["code"], code, "{value}");
    assert_eq!(value["reason"], reason, "{value}");
    assert!(value["metadata"].is_object(), "{value}");
    assert!(
        value["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{value}"
    );
}

/// Lists all nodes with `limit`, following continue tokens; returns the items and page count.
fn list_all(api: &Api, limit: usize) -> (Vec<Value>, usize) {
    let mut items = Vec::new();
    let mut pages = 0;
    let mut token: Option<String> = None;
    let mut rv: Option<String> = None;
    loop {
        let path = match &token {
            None => format!("/api/v1/nodes?limit={limit}"),
            Some(t) => format!("/api/v1/nodes?limit={limit}&continue={t}"),
        };
        let (status, list) = api.get(&path);
        assert_eq!(status, 200, "{list}");
        assert_eq!(list["kind"], "NodeList");
        assert_eq!(list["apiVersion"], "v1");
        let page_rv = list["metadata"]["resourceVersion"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            rv.get_or_insert(page_rv.clone()),
            &page_rv,
            "one snapshot per list"
        );
        let page = list["items"].as_array().unwrap();
        assert!(page.len() <= limit);
        items.extend(page.iter().cloned());
        pages += 1;
        match list["metadata"]["continue"].as_str() {
            Some(next) => {
                assert_eq!(page.len(), limit, "only full pages have a continue token");
                assert!(!next.is_empty());
                let remaining = list["metadata"]["remainingItemCount"].as_u64().unwrap();
                assert!(remaining > 0);
                token = Some(next.to_string());
            }
            None => {
                assert!(list["metadata"].get("remainingItemCount").is_none());
                return (items, pages);
            }
        }
    }
}

fn uids(items: &[Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|n| n["metadata"]["uid"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// API server.
// ---------------------------------------------------------------------------------------------

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
    let server = ApiServer::start(Config::default().with_delay(Duration::from_millis(400)));
    let api = Api::new(&server);
    let started = Instant::now();
    assert_eq!(api.get("/version").0, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    server.set_delay(None);
    let started = Instant::now();
    assert_eq!(api.get("/version").0, 200);
    assert!(started.elapsed() < Duration::from_millis(400));
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

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[test]
fn kubectl_lists_every_node_in_chunks() {
    if !on_path("kubectl") {
        eprintln!("SKIPPED kubectl_lists_every_node_in_chunks: kubectl is not on PATH");
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

// ---------------------------------------------------------------------------------------------
// Generated nodes.
// ---------------------------------------------------------------------------------------------

#[test]
fn nodes_are_10_to_15_kb_each() {
    // Every shape several times, and a sample across a 65,000-node cluster.
    let sample = (0..nodes::SHAPES.len() * 12).chain((0..65_000).step_by(61));
    let sizes: Vec<(usize, usize)> = sample
        .map(|i| {
            let json = nodes::node_json(i);
            let value: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["status"]["images"].as_array().unwrap().len(), 36);
            (i, json.len())
        })
        .collect();
    for shape in nodes::SHAPES {
        let of_shape: Vec<usize> = sizes
            .iter()
            .filter(|(i, _)| nodes::shape(*i) == shape)
            .map(|(_, size)| *size)
            .collect();
        eprintln!(
            "{shape:?}: node JSON bytes min {} max {}",
            of_shape.iter().min().unwrap(),
            of_shape.iter().max().unwrap()
        );
    }
    for (i, size) in &sizes {
        assert!(
            (10 * 1024..=15 * 1024).contains(size),
            "node {i} ({:?}) is {size} bytes",
            nodes::shape(*i),
        );
    }
    let avg = sizes.iter().map(|(_, s)| s).sum::<usize>() / sizes.len();
    eprintln!("node JSON bytes: average {avg}");
}

#[test]
fn every_shape_looks_like_its_provider() {
    for i in 0..nodes::SHAPES.len() * 2 {
        let node: Value = serde_json::from_str(&nodes::node_json(i)).unwrap();
        let provider = node["spec"]["providerID"].as_str();
        let info = &node["status"]["nodeInfo"];
        let scheme = provider.and_then(|p| p.split_once("://")).map(|p| p.0);
        match nodes::shape(i) {
            nodes::Shape::Eks => assert_eq!(scheme, Some("aws")),
            nodes::Shape::Gke => assert_eq!(scheme, Some("gce")),
            nodes::Shape::Aks => assert_eq!(scheme, Some("azure")),
            nodes::Shape::Kind => assert_eq!(scheme, Some("kind")),
            nodes::Shape::K3s => assert_eq!(scheme, Some("k3s")),
            nodes::Shape::OpenShift => {
                assert!(matches!(scheme, Some("aws" | "openstack")));
                assert!(
                    info["containerRuntimeVersion"]
                        .as_str()
                        .unwrap()
                        .starts_with("cri-o://")
                );
            }
            nodes::Shape::Windows => {
                assert_eq!(scheme, Some("azure"));
                assert_eq!(info["operatingSystem"], "windows");
            }
            nodes::Shape::BareMetal => assert_eq!(provider, None),
        }
        for field in [
            "machineID",
            "systemUUID",
            "bootID",
            "kernelVersion",
            "osImage",
            "containerRuntimeVersion",
            "kubeletVersion",
            "kubeProxyVersion",
            "operatingSystem",
            "architecture",
        ] {
            assert!(
                info[field].as_str().is_some_and(|v| !v.is_empty()),
                "{i} {field}"
            );
        }
        for part in ["capacity", "allocatable"] {
            let map = node["status"][part].as_object().unwrap();
            for key in ["cpu", "memory", "pods", "ephemeral-storage"] {
                assert!(map.contains_key(key), "{i} {part} {key}");
            }
        }
        assert!(node["metadata"]["managedFields"].as_array().unwrap().len() >= 3);
        assert!(node["status"]["conditions"].as_array().unwrap().len() >= 4);
    }
    // Some nodes have GPUs and some a company-specific resource.
    let caps: Vec<Value> = (0..64)
        .map(|i| {
            serde_json::from_str::<Value>(&nodes::node_json(i)).unwrap()["status"]["capacity"]
                .clone()
        })
        .collect();
    assert!(caps.iter().any(|c| c.get("nvidia.com/gpu").is_some()));
    assert!(
        caps.iter()
            .any(|c| c.get(nodes::COMPANY_RESOURCE).is_some())
    );
    assert!(caps.iter().any(|c| c.get("hugepages-2Mi").is_some()));
}

#[test]
fn uids_and_names_are_unique() {
    let count = 4000;
    let uids: BTreeSet<String> = (0..count).map(nodes::node_uid).collect();
    assert_eq!(uids.len(), count);
    let names: BTreeSet<String> = (0..count).map(nodes::node_name).collect();
    assert_eq!(names.len(), count);
    // Far indices too (a 65,000-node cluster).
    let far: BTreeSet<String> = (60_000..65_000).map(nodes::node_uid).collect();
    assert_eq!(far.len(), 5000);
    assert!(far.is_disjoint(&uids));
}

#[test]
fn identifying_strings_are_planted_and_distinct_from_report_values() {
    let count = nodes::SHAPES.len() * 6;
    // Everything a report may legitimately carry, from any node, plus the report's own words.
    // (The company resource is folded into `other`, with its quantity.)
    let mut legit: BTreeSet<String> = (0..count)
        .flat_map(nodes::report_values)
        .filter(|v| v != nodes::COMPANY_RESOURCE)
        .collect();
    legit.extend(
        [
            "version",
            "timestamp",
            "clusterID",
            "masterVersion",
            "nodes",
            "id",
            "operatingSystem",
            "osImage",
            "kernelVersion",
            "architecture",
            "containerRuntimeVersion",
            "kubeletVersion",
            "cloudProvider",
            "capacity",
            "resource",
            "value",
            "extensions",
            "name",
            "unknown",
            "other",
            "v1.0.0",
            "v1.33.2",
        ]
        .map(String::from),
    );
    for i in 0..count {
        let json = nodes::node_json(i);
        let planted = nodes::identifying_strings(i);
        assert!(planted.len() > 40, "node {i}: {}", planted.len());
        for secret in &planted {
            assert!(
                secret.len() >= 8,
                "node {i}: {secret:?} is too short to be distinctive"
            );
            assert!(!secret.contains('"') && !secret.contains('\\'));
            assert!(
                json.contains(secret.as_str()),
                "node {i}: {secret:?} not planted"
            );
            for value in &legit {
                assert!(
                    !value
                        .to_ascii_lowercase()
                        .contains(&secret.to_ascii_lowercase()),
                    "node {i}: {secret:?} is inside the legitimate value {value:?}"
                );
            }
        }
        for must in ["uid", "name", "machineID", "systemUUID", "bootID"] {
            let node: Value = serde_json::from_str(&json).unwrap();
            let value = node["metadata"][must]
                .as_str()
                .or(node["status"]["nodeInfo"][must].as_str())
                .unwrap();
            assert!(
                planted.iter().any(|p| p == value),
                "node {i}: {must} not listed"
            );
        }
        let node: Value = serde_json::from_str(&json).unwrap();
        for address in node["status"]["addresses"].as_array().unwrap() {
            let address = address["address"].as_str().unwrap();
            assert!(planted.iter().any(|p| p == address), "node {i}: {address}");
        }
        for image in node["status"]["images"].as_array().unwrap() {
            for name in image["names"].as_array().unwrap() {
                assert!(planted.iter().any(|p| p == name.as_str().unwrap()));
            }
        }
        if let Some(id) = node["spec"]["providerID"].as_str() {
            assert!(planted.iter().any(|p| p == id));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Collector.
// ---------------------------------------------------------------------------------------------

const REPORT: &str = r#"{"version":"v1.0.0","timestamp":"1700000000","clusterID":"c0ffee00-0000-4000-8000-000000000000","masterVersion":"v1.33.2"}"#;

fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    gzipped: bool,
    body: &[u8],
) -> Result<(u16, String, Option<String>), ureq::Error> {
    let mut req = agent
        .post(url)
        .header("Content-Type", content_type)
        .header("Idempotency-Key", "k-1");
    if gzipped {
        req = req.header("Content-Encoding", "gzip");
    }
    let mut resp = req.send(body)?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    Ok((
        resp.status().as_u16(),
        resp.body_mut().read_to_string()?,
        retry_after,
    ))
}

/// An uncompressed `application/json` POST.
fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
) -> Result<(u16, String, Option<String>), ureq::Error> {
    post(agent, url, "application/json", false, body)
}

#[test]
fn collector_records_gzip_bodies_decoded() {
    let collector = Collector::new();
    let agent = agent(None);
    let compressed = gzip(REPORT.as_bytes());
    let (status, _, _) = post(
        &agent,
        &collector.url(),
        "application/json",
        true,
        &compressed,
    )
    .unwrap();
    assert_eq!(status, 204);
    let got = &collector.requests()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/api/v1");
    assert!(got.is_gzip());
    assert_eq!(got.raw, compressed);
    assert_eq!(got.body, REPORT.as_bytes());
    assert_eq!(got.header("Idempotency-Key"), Some("k-1"));
    assert!(
        got.headers
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase())
    );
    assert_eq!(
        got.report().cluster_id,
        "c0ffee00-0000-4000-8000-000000000000"
    );
    assert_eq!(got.decode_error, None);
}

#[test]
fn collector_follows_its_script_then_answers_204() {
    let collector = Collector::with_script(vec![
        Reply::status(503).retry_after_secs(1),
        Reply::status(429).retry_after_date_in(Duration::from_secs(30)),
        Reply::status(400).body("bad report"),
    ]);
    let agent = agent(None);
    let url = collector.url();
    let (status, _, retry) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    let (status, _, retry) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!(status, 429);
    let date = httpdate::parse_http_date(&retry.unwrap()).unwrap();
    assert!(date > std::time::SystemTime::now() + Duration::from_secs(25));
    let (status, text, _) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!((status, text.as_str()), (400, "bad report"));
    for _ in 0..2 {
        assert_eq!(post_json(&agent, &url, REPORT.as_bytes()).unwrap().0, 204);
    }
    let statuses: Vec<u16> = collector.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 400, 204, 204]);
}

#[test]
fn collector_can_hang_and_close() {
    let collector = Collector::with_script(vec![Reply::hang(), Reply::close()]);
    let quick = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .new_agent();
    let started = Instant::now();
    let hung = post_json(&quick, &collector.url(), REPORT.as_bytes());
    assert!(hung.is_err(), "a hung collector gives no answer");
    assert!(started.elapsed() >= Duration::from_millis(450));
    let closed = post_json(&agent(None), &collector.url(), REPORT.as_bytes());
    assert!(closed.is_err(), "closed without an answer: {closed:?}");
    assert_eq!(collector.request_count(), 2);
    assert!(collector.requests().iter().all(|r| r.status == 0));
    // Dropping a collector with a hung request does not block.
    let started = Instant::now();
    drop(collector);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn collector_can_reject_gzip_like_the_original() {
    let collector = Collector::start(CollectorConfig {
        reject_gzip: true,
        ..CollectorConfig::default()
    });
    let agent = agent(None);
    let url = collector.url();
    let (status, text, _) = post(
        &agent,
        &url,
        "application/json",
        true,
        &gzip(REPORT.as_bytes()),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        text.starts_with("Error: failed to decode record: "),
        "{text}"
    );
    let (status, text, _) = post(&agent, &url, "text/plain", false, REPORT.as_bytes()).unwrap();
    assert_eq!(status, 415, "{text}");
    let (status, _, _) = post(
        &agent,
        &url,
        "application/json; charset=utf-8",
        false,
        REPORT.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 204);
    let (status, _, _) = post_json(&agent, &url, b"[1,2]").unwrap();
    assert_eq!(status, 400);
    let statuses: Vec<u16> = collector.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 415, 204, 400]);
    // The gzip body was still recorded decoded.
    assert_eq!(collector.requests()[0].body, REPORT.as_bytes());
}

#[test]
fn collector_over_https_and_refused_connections() {
    let collector = Collector::start(CollectorConfig {
        tls: true,
        ..CollectorConfig::default()
    });
    assert!(collector.url().starts_with("https://127.0.0.1:"));
    let agent = agent(collector.ca_pem());
    let (status, _, _) = post_json(&agent, &collector.url(), REPORT.as_bytes()).unwrap();
    assert_eq!(status, 204);
    assert_eq!(collector.requests()[0].body, REPORT.as_bytes());
    // Without the test CA the certificate is not trusted.
    let untrusted = ureq::Agent::config_builder()
        .proxy(None)
        .build()
        .new_agent();
    assert!(post_json(&untrusted, &collector.url(), b"{}").is_err());

    let refused = post_json(&agent, &refused_url(), b"{}");
    assert!(
        matches!(refused, Err(ureq::Error::Io(ref e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
}

#[test]
fn util_encodings() {
    for len in 0..40 {
        let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        assert_eq!(
            util::base64_decode(&util::base64_encode(&data)).unwrap(),
            data
        );
        assert_eq!(
            util::base64_decode(&util::base64url_encode(&data)).unwrap(),
            data
        );
    }
    assert_eq!(util::base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(util::base64_encode(b"fo"), "Zm8=");
    assert_eq!(util::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(util::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(util::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(util::percent_decode("a%2Fb%3D%3D+c%"), "a/b== c%");
    assert_eq!(
        util::query_param("limit=7&continue=x%3D", "continue").as_deref(),
        Some("x=")
    );
}
