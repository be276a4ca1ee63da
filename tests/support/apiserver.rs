//! A stand-in Kubernetes API server: HTTPS on 127.0.0.1 with a fresh CA, bearer-token auth,
//! `/version`, discovery, paged node lists generated on the fly (any number of nodes), ConfigMaps,
//! and injectable faults. Every error is a `Status` object like a real API server sends.

use super::http::{Body, CloseConnection, Server, read_body};
use super::nodes;
use super::tls::TestCa;
use super::util::{
    base64_decode, base64_encode, base64url_encode, now_rfc3339, query_param, random_uuid,
};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Every string of node `index` that must never appear in a report (see
/// [`nodes::identifying_strings`]).
pub fn identifying_strings(index: usize) -> Vec<String> {
    nodes::identifying_strings(index)
}

/// The service account the stand-in says the caller is, in Forbidden messages.
pub const DEFAULT_USER: &str = "system:serviceaccount:spartakus:spartakus";

/// An injected failure: answer with `status` for the next `times` requests (`usize::MAX`: always).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    pub status: u16,
    pub times: usize,
}

impl Fault {
    pub fn times(status: u16, times: usize) -> Fault {
        Fault { status, times }
    }

    pub fn always(status: u16) -> Fault {
        Fault {
            status,
            times: usize::MAX,
        }
    }
}

/// How the stand-in behaves. Every field can also be changed while it runs (see the `set_*`
/// methods of [`ApiServer`]).
#[derive(Clone, Debug)]
pub struct Config {
    /// How many nodes the cluster has.
    pub nodes: usize,
    /// `gitVersion` of `/version`.
    pub git_version: String,
    /// The bearer token every request must carry.
    pub token: String,
    /// The user named in Forbidden messages.
    pub user: String,
    /// Node list requests (`GET /api/v1/nodes`) fail like this first.
    pub nodes_fault: Option<Fault>,
    /// The continue token of this page expires once (410 Gone, reason Expired). Pages count from
    /// 0 for the first request of a list (which has no token), so this is at least 1.
    pub expire_continue_at_page: Option<usize>,
    /// `/version` fails like this first.
    pub version_fault: Option<Fault>,
    /// ConfigMap reads, lists and creates answer 403 Forbidden.
    pub forbid_configmaps: bool,
    /// The next ConfigMap create loses a race: a ConfigMap of the same name holding
    /// `clusterID` = this value appears first, and the create answers 409 AlreadyExists.
    pub lose_create_race: Option<String>,
    /// Every response waits this long first (a hung server).
    pub delay: Option<Duration>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            nodes: 5,
            git_version: "v1.33.2".to_string(),
            token: "stand-in-token-3b9c5e1f7a".to_string(),
            user: DEFAULT_USER.to_string(),
            nodes_fault: None,
            expire_continue_at_page: None,
            version_fault: None,
            forbid_configmaps: false,
            lose_create_race: None,
            delay: None,
        }
    }
}

impl Config {
    pub fn with_nodes(mut self, nodes: usize) -> Config {
        self.nodes = nodes;
        self
    }

    pub fn with_git_version(mut self, version: &str) -> Config {
        self.git_version = version.to_string();
        self
    }

    pub fn with_token(mut self, token: &str) -> Config {
        self.token = token.to_string();
        self
    }

    pub fn with_nodes_fault(mut self, status: u16, times: usize) -> Config {
        self.nodes_fault = Some(Fault::times(status, times));
        self
    }

    pub fn with_expired_continue_at_page(mut self, page: usize) -> Config {
        self.expire_continue_at_page = Some(page);
        self
    }

    pub fn with_version_fault(mut self, status: u16, times: usize) -> Config {
        self.version_fault = Some(Fault::times(status, times));
        self
    }

    pub fn with_forbidden_configmaps(mut self) -> Config {
        self.forbid_configmaps = true;
        self
    }

    pub fn with_lost_create_race(mut self, winner_cluster_id: &str) -> Config {
        self.lose_create_race = Some(winner_cluster_id.to_string());
        self
    }

    pub fn with_delay(mut self, delay: Duration) -> Config {
        self.delay = Some(delay);
        self
    }
}

/// One request as the stand-in saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Path with the query string, as sent.
    pub path: String,
    /// The status answered; 0 while the answer is still pending (see [`Config::delay`]).
    pub status: u16,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// What was asked for: `nodes` (a node list), `node`, `version`, `configmaps`, `discovery`,
    /// `openapi`, `health` or `other`.
    pub kind: &'static str,
}

impl Recorded {
    /// A query parameter of the request, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        self.path
            .split_once('?')
            .and_then(|(_, query)| query_param(query, key))
    }
}

struct State {
    config: Config,
    /// The current resourceVersion; every write and every expiry moves it on.
    rv: u64,
    /// Continue tokens from before this resourceVersion have expired.
    compacted: u64,
    configmaps: BTreeMap<(String, String), Value>,
    requests: Vec<Recorded>,
}

struct Shared {
    state: Mutex<State>,
    port: u16,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running stand-in. Stops when dropped.
pub struct ApiServer {
    shared: Arc<Shared>,
    ca: TestCa,
    token: String,
    // Last, so the server stops before the rest goes.
    server: Server,
}

impl ApiServer {
    /// Starts a stand-in with the default [`Config`] and `nodes` nodes.
    pub fn with_nodes(nodes: usize) -> ApiServer {
        ApiServer::start(Config::default().with_nodes(nodes))
    }

    pub fn start(config: Config) -> ApiServer {
        let ca = TestCa::new("stand-in kube-apiserver");
        let token = config.token.clone();
        // The handler needs the port (for discovery), known only once bound: hand it over.
        let cell: Arc<Mutex<Option<Arc<Shared>>>> = Arc::new(Mutex::new(None));
        let for_handler = cell.clone();
        let server = Server::start("stand-in-apiserver", Some(ca.server_config()), move |req| {
            let shared = for_handler
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .expect("server state set before the first request");
            handle(shared, req)
        });
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                config,
                rv: 4_000_000 + u64::from(server.port()) % 1000 * 1000,
                compacted: 0,
                configmaps: BTreeMap::new(),
                requests: Vec::new(),
            }),
            port: server.port(),
        });
        *cell.lock().unwrap_or_else(|p| p.into_inner()) = Some(shared.clone());
        ApiServer {
            shared,
            ca,
            token,
            server,
        }
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.server.port())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The CA certificate (PEM) that signed the server's certificate.
    pub fn ca_pem(&self) -> &str {
        self.ca.ca_pem()
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// The node list requests so far.
    pub fn node_list_requests(&self) -> Vec<Recorded> {
        self.shared
            .lock()
            .requests
            .iter()
            .filter(|r| r.kind == "nodes")
            .cloned()
            .collect()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// How many requests of each [`Recorded::kind`] were received.
    pub fn request_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for r in &self.shared.lock().requests {
            *counts.entry(r.kind).or_insert(0) += 1;
        }
        counts
    }

    /// Forgets the requests recorded so far.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// The `data` of ConfigMap `ns/name`, if it exists.
    pub fn configmap(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.configmap_object(ns, name)
            .map(|cm| string_map(&cm["data"]))
    }

    /// The labels of ConfigMap `ns/name`, if it exists.
    pub fn configmap_labels(&self, ns: &str, name: &str) -> Option<BTreeMap<String, String>> {
        self.configmap_object(ns, name)
            .map(|cm| string_map(&cm["metadata"]["labels"]))
    }

    /// The whole stored ConfigMap object.
    pub fn configmap_object(&self, ns: &str, name: &str) -> Option<Value> {
        self.shared
            .lock()
            .configmaps
            .get(&(ns.to_string(), name.to_string()))
            .cloned()
    }

    /// Stores (or replaces) ConfigMap `ns/name` with `data`.
    pub fn insert_configmap<K, V>(
        &self,
        ns: &str,
        name: &str,
        data: impl IntoIterator<Item = (K, V)>,
    ) where
        K: Into<String>,
        V: Into<String>,
    {
        let data: BTreeMap<String, String> = data
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let mut state = self.shared.lock();
        let object = new_configmap(&mut state, ns, name, json!(data), json!({}));
        state
            .configmaps
            .insert((ns.to_string(), name.to_string()), object);
    }

    /// Deletes ConfigMap `ns/name`; whether it existed.
    pub fn remove_configmap(&self, ns: &str, name: &str) -> bool {
        self.shared
            .lock()
            .configmaps
            .remove(&(ns.to_string(), name.to_string()))
            .is_some()
    }

    pub fn set_node_count(&self, nodes: usize) {
        self.shared.lock().config.nodes = nodes;
    }

    pub fn set_nodes_fault(&self, fault: Option<Fault>) {
        self.shared.lock().config.nodes_fault = fault;
    }

    pub fn set_version_fault(&self, fault: Option<Fault>) {
        self.shared.lock().config.version_fault = fault;
    }

    pub fn set_expire_continue_at_page(&self, page: Option<usize>) {
        self.shared.lock().config.expire_continue_at_page = page;
    }

    pub fn set_forbid_configmaps(&self, forbid: bool) {
        self.shared.lock().config.forbid_configmaps = forbid;
    }

    pub fn lose_next_create_race(&self, winner_cluster_id: &str) {
        self.shared.lock().config.lose_create_race = Some(winner_cluster_id.to_string());
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        self.shared.lock().config.delay = delay;
    }

    /// A kubeconfig for this server: the CA inline, the bearer token, one context (with
    /// `namespace` if given), selected as current.
    pub fn kubeconfig(&self, namespace: Option<&str>) -> String {
        let namespace = namespace
            .map(|ns| format!("    namespace: {ns}\n"))
            .unwrap_or_default();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: stand-in\n  cluster:\n    certificate-authority-data: {ca}\n    server: {url}\nusers:\n- name: stand-in-user\n  user:\n    token: {token}\ncontexts:\n- name: stand-in\n  context:\n    cluster: stand-in\n    user: stand-in-user\n{namespace}current-context: stand-in\npreferences: {{}}\n",
            ca = base64_encode(self.ca_pem().as_bytes()),
            url = self.url(),
            token = self.token,
        )
    }

    /// Writes [`ApiServer::kubeconfig`] to `path`, creating its directory. Panics on failure.
    pub fn write_kubeconfig(&self, path: &Path, namespace: Option<&str>) {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(path, self.kubeconfig(namespace))
            .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Writes the CA certificate as PEM. Panics on failure.
    pub fn write_ca(&self, path: &Path) {
        self.ca.write_ca_pem(path);
    }
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    value
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Body,
}

impl Reply {
    fn json(status: u16, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Body::bytes(body),
        }
    }

    fn value(status: u16, value: &Value) -> Reply {
        Reply::json(status, serde_json::to_vec(value).expect("JSON"))
    }
}

fn reason_for(status: u16) -> &'static str {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        406 => "NotAcceptable",
        409 => "AlreadyExists",
        410 => "Expired",
        413 => "RequestEntityTooLarge",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        500 => "InternalError",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "",
    }
}

/// A `Status` object, as every error of a real API server.
fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Reply {
    let mut object = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(details) = details {
        object["details"] = details;
    }
    let mut reply = Reply::value(code, &object);
    if code == 429 {
        reply.headers.push(("retry-after", "1".to_string()));
    }
    reply
}

/// An injected failure; `forbidden` is the message of a 403.
fn fault_reply(code: u16, forbidden: &str) -> Reply {
    match code {
        401 => status(401, "Unauthorized", "Unauthorized", None),
        403 => status(403, "Forbidden", forbidden, None),
        429 => status(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
            Some(
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "Too many requests, please try again later."}], "retryAfterSeconds": 1}),
            ),
        ),
        500 => status(
            500,
            "InternalError",
            "Internal error occurred: etcdserver: request timed out",
            Some(json!({"causes": [{"message": "etcdserver: request timed out"}]})),
        ),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            None,
        ),
        504 => status(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
            None,
        ),
        _ => status(
            code,
            reason_for(code),
            &format!("injected failure {code}"),
            None,
        ),
    }
}

fn kind_of(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["version"] => "version",
        ["api", "v1", "nodes"] => "nodes",
        ["api", "v1", "nodes", _] => "node",
        ["api", "v1", "namespaces", _, "configmaps", ..] => "configmaps",
        ["api"] | ["apis"] | ["api", "v1"] | ["apis", ..] => "discovery",
        ["openapi", ..] => "openapi",
        ["healthz"] | ["livez"] | ["readyz"] => "health",
        _ => "other",
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Body>, CloseConnection> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let accept = header("accept");
    let user_agent = header("user-agent");
    let authorization = header("authorization");
    let kind = kind_of(&path);
    let (slot, delay) = {
        let mut state = shared.lock();
        state.requests.push(Recorded {
            method: method.to_string(),
            path: if query.is_empty() {
                path.clone()
            } else {
                format!("{path}?{query}")
            },
            status: 0,
            accept,
            user_agent,
            kind,
        });
        (state.requests.len() - 1, state.config.delay)
    };
    let body = if method == Method::POST || method == Method::PUT {
        read_body(req.into_body()).await
    } else {
        Vec::new()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let reply = {
        let mut state = shared.lock();
        let reply = if authorization.as_deref() != Some(&format!("Bearer {}", state.config.token)) {
            status(401, "Unauthorized", "Unauthorized", None)
        } else {
            route(&mut state, shared.port, &method, &path, &query, &body)
        };
        if let Some(r) = state.requests.get_mut(slot) {
            r.status = reply.status;
        }
        reply
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .header("cache-control", "no-cache, private")
        .header("audit-id", random_uuid());
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    Ok(response.body(reply.body).expect("response"))
}

fn route(
    state: &mut State,
    port: u16,
    method: &Method,
    path: &str,
    query: &str,
    body: &[u8],
) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let get = method == Method::GET;
    match (segments.as_slice(), method) {
        (["version"], &Method::GET) => version(state),
        (["api"], &Method::GET) => Reply::value(
            200,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{port}")}],
            }),
        ),
        (["apis"], &Method::GET) => Reply::value(
            200,
            &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": []}),
        ),
        (["api", "v1"], &Method::GET) => Reply::json(200, resource_list()),
        (["api", "v1", "nodes"], &Method::GET) => list_nodes(state, query),
        (["api", "v1", "nodes", name], &Method::GET) => get_node(state, name),
        (["api", "v1", "namespaces", ns, "configmaps"], &Method::GET) => list_configmaps(state, ns),
        (["api", "v1", "namespaces", ns, "configmaps"], &Method::POST) => {
            create_configmap(state, ns, body)
        }
        (["api", "v1", "namespaces", ns, "configmaps", name], &Method::GET) => {
            get_configmap(state, ns, name)
        }
        (["healthz"] | ["livez"] | ["readyz"], &Method::GET) => Reply {
            status: 200,
            headers: Vec::new(),
            body: Body::bytes("ok"),
        },
        (["version"] | ["api"] | ["apis"] | ["api", "v1"], _)
        | (["api", "v1", "nodes", ..], _)
        | (["api", "v1", "namespaces", _, "configmaps", ..], _)
            if !get =>
        {
            status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                None,
            )
        }
        _ => status(
            404,
            "NotFound",
            "the server could not find the requested resource",
            Some(
                json!({"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]}),
            ),
        ),
    }
}

fn take_fault(fault: &mut Option<Fault>) -> Option<u16> {
    let f = fault.as_mut()?;
    if f.times == 0 {
        *fault = None;
        return None;
    }
    if f.times != usize::MAX {
        f.times -= 1;
    }
    Some(f.status)
}

fn version(state: &mut State) -> Reply {
    if let Some(code) = take_fault(&mut state.config.version_fault) {
        let user = &state.config.user;
        return fault_reply(
            code,
            &format!("forbidden: User \"{user}\" cannot get path \"/version\""),
        );
    }
    let git = state.config.git_version.clone();
    let numbers: Vec<&str> = git.trim_start_matches('v').split(['.', '-', '+']).collect();
    let major = numbers.first().copied().unwrap_or("1");
    let minor = numbers.get(1).copied().unwrap_or("0");
    Reply::value(
        200,
        &json!({
            "major": major,
            "minor": minor,
            "emulationMajor": major,
            "emulationMinor": minor,
            "minCompatibilityMajor": major,
            "minCompatibilityMinor": minor.parse::<u32>().map(|m| m.saturating_sub(1).to_string()).unwrap_or_default(),
            "gitVersion": git,
            "gitCommit": "5e0fdde8a3c1f4b2d9e7a6b5c4d3e2f1a0b9c8d7",
            "gitTreeState": "clean",
            "buildDate": "2025-06-17T18:29:52Z",
            "goVersion": "go1.24.4",
            "compiler": "gc",
            "platform": "linux/amd64",
        }),
    )
}

fn resource_list() -> String {
    let resource = |name: &str,
                    singular: &str,
                    namespaced: bool,
                    kind: &str,
                    verbs: &[&str],
                    short: &[&str],
                    hash: &str| {
        let mut r = json!({
            "name": name,
            "singularName": singular,
            "namespaced": namespaced,
            "kind": kind,
            "verbs": verbs,
        });
        if !short.is_empty() {
            r["shortNames"] = json!(short);
        }
        if !hash.is_empty() {
            r["storageVersionHash"] = json!(hash);
        }
        r
    };
    let all = [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ];
    let list = json!({
        "kind": "APIResourceList",
        "groupVersion": "v1",
        "resources": [
            resource("configmaps", "configmap", true, "ConfigMap", &all, &["cm"], "aHsGUq4VHuM="),
            resource("namespaces", "namespace", false, "Namespace", &["create", "delete", "get", "list", "patch", "update", "watch"], &["ns"], "Yx2cQb9dMtA="),
            resource("namespaces/status", "", false, "Namespace", &["get", "patch", "update"], &[], ""),
            resource("nodes", "node", false, "Node", &all, &["no"], "Lm7cH3xK0pE="),
            resource("nodes/proxy", "", false, "NodeProxyOptions", &["create", "delete", "get", "patch", "update"], &[], ""),
            resource("nodes/status", "", false, "Node", &["get", "patch", "update"], &[], ""),
        ],
    });
    serde_json::to_string(&list).expect("JSON")
}

// ---------------------------------------------------------------------------------------------
// Nodes.
// ---------------------------------------------------------------------------------------------

/// What a continue token carries: where the next page starts, in which list, and its page number.
struct Continue {
    rv: u64,
    offset: usize,
    page: usize,
}

fn encode_continue(c: &Continue) -> String {
    let raw = format!(
        "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{},\"start\":\"{}\",\"page\":{}}}",
        c.rv, c.offset, c.page
    );
    base64url_encode(raw.as_bytes())
}

fn decode_continue(token: &str) -> Option<Continue> {
    let raw = base64_decode(token)?;
    let value: Value = serde_json::from_slice(&raw).ok()?;
    if value["v"] != "meta.k8s.io/v1" {
        return None;
    }
    Some(Continue {
        rv: value["rv"].as_u64()?,
        offset: value["start"].as_str()?.parse().ok()?,
        page: usize::try_from(value["page"].as_u64()?).ok()?,
    })
}

/// Nodes per generated chunk of a list response (about 200 KB).
const NODES_PER_CHUNK: usize = 16;

struct NodeChunks {
    head: Option<String>,
    next: usize,
    end: usize,
    done: bool,
}

impl Iterator for NodeChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = String::with_capacity(NODES_PER_CHUNK * 15 * 1024);
        let first = if let Some(head) = self.head.take() {
            out.push_str(&head);
            true
        } else {
            false
        };
        let stop = self.end.min(self.next + NODES_PER_CHUNK);
        while self.next < stop {
            if !(first && out.ends_with('[')) {
                out.push(',');
            }
            nodes::write_list_item(&mut out, self.next);
            self.next += 1;
        }
        if self.next >= self.end {
            out.push_str("]}");
            self.done = true;
        }
        Some(Bytes::from(out))
    }
}

fn list_nodes(state: &mut State, query: &str) -> Reply {
    let user = state.config.user.clone();
    if let Some(code) = take_fault(&mut state.config.nodes_fault) {
        return fault_reply(
            code,
            &format!(
                "nodes is forbidden: User \"{user}\" cannot list resource \"nodes\" in API group \"\" at the cluster scope"
            ),
        );
    }
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let token = query_param(query, "continue").filter(|c| !c.is_empty());
    let (rv, offset, page) = match token {
        None => (state.rv, 0, 0),
        Some(token) => {
            let Some(c) = decode_continue(&token) else {
                return status(
                    400,
                    "BadRequest",
                    "continue key is not valid: illegal base64 data at input byte 0",
                    None,
                );
            };
            let expire_now = state.config.expire_continue_at_page == Some(c.page);
            if expire_now {
                state.config.expire_continue_at_page = None;
                state.rv += 1;
                state.compacted = state.rv;
            }
            if expire_now || c.rv < state.compacted {
                let mut reply = status(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    None,
                );
                let inconsistent = encode_continue(&Continue {
                    rv: state.rv,
                    offset: c.offset,
                    page: c.page,
                });
                reply = reply.with_metadata(json!({"continue": inconsistent}));
                return reply;
            }
            (c.rv, c.offset, c.page)
        }
    };
    let total = state.config.nodes;
    let start = offset.min(total);
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let mut metadata = format!("{{\"resourceVersion\":\"{rv}\"");
    if end < total {
        let next = encode_continue(&Continue {
            rv,
            offset: end,
            page: page + 1,
        });
        metadata.push_str(&format!(
            ",\"continue\":\"{next}\",\"remainingItemCount\":{}",
            total - end
        ));
    }
    metadata.push('}');
    let head = format!(
        "{{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{metadata},\"items\":["
    );
    Reply {
        status: 200,
        headers: Vec::new(),
        body: Body::Chunks(Box::new(NodeChunks {
            head: Some(head),
            next: start,
            end,
            done: false,
        })),
    }
}

impl Reply {
    fn with_metadata(self, metadata: Value) -> Reply {
        let Body::Full(Some(bytes)) = &self.body else {
            return self;
        };
        let mut value: Value = serde_json::from_slice(bytes).expect("own JSON");
        value["metadata"] = metadata;
        Reply {
            body: Body::bytes(serde_json::to_vec(&value).expect("JSON")),
            ..self
        }
    }
}

fn get_node(state: &mut State, name: &str) -> Reply {
    match (0..state.config.nodes).find(|&i| nodes::node_name(i) == name) {
        Some(index) => Reply::json(200, nodes::node_json(index)),
        None => status(
            404,
            "NotFound",
            &format!("nodes \"{name}\" not found"),
            Some(json!({"name": name, "kind": "nodes"})),
        ),
    }
}

// ---------------------------------------------------------------------------------------------
// ConfigMaps.
// ---------------------------------------------------------------------------------------------

fn forbidden_configmaps(state: &State, verb: &str, ns: &str, name: Option<&str>) -> Reply {
    let user = &state.config.user;
    let subject = match name {
        Some(name) => format!("configmaps \"{name}\""),
        None => "configmaps".to_string(),
    };
    let mut details = json!({"kind": "configmaps"});
    if let Some(name) = name {
        details["name"] = json!(name);
    }
    status(
        403,
        "Forbidden",
        &format!(
            "{subject} is forbidden: User \"{user}\" cannot {verb} resource \"configmaps\" in API group \"\" in the namespace \"{ns}\""
        ),
        Some(details),
    )
}

fn new_configmap(state: &mut State, ns: &str, name: &str, data: Value, labels: Value) -> Value {
    state.rv += 1;
    let mut metadata = json!({
        "name": name,
        "namespace": ns,
        "uid": random_uuid(),
        "resourceVersion": state.rv.to_string(),
        "creationTimestamp": now_rfc3339(),
    });
    if labels.as_object().is_some_and(|l| !l.is_empty()) {
        metadata["labels"] = labels;
    }
    json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": metadata, "data": data})
}

fn get_configmap(state: &mut State, ns: &str, name: &str) -> Reply {
    if state.config.forbid_configmaps {
        return forbidden_configmaps(state, "get", ns, Some(name));
    }
    match state.configmaps.get(&(ns.to_string(), name.to_string())) {
        Some(object) => Reply::value(200, object),
        None => status(
            404,
            "NotFound",
            &format!("configmaps \"{name}\" not found"),
            Some(json!({"name": name, "kind": "configmaps"})),
        ),
    }
}

fn list_configmaps(state: &mut State, ns: &str) -> Reply {
    if state.config.forbid_configmaps {
        return forbidden_configmaps(state, "list", ns, None);
    }
    let items: Vec<Value> = state
        .configmaps
        .iter()
        .filter(|((n, _), _)| n == ns)
        .map(|(_, object)| {
            let mut item = object.clone();
            if let Some(map) = item.as_object_mut() {
                map.remove("kind");
                map.remove("apiVersion");
            }
            item
        })
        .collect();
    Reply::value(
        200,
        &json!({
            "kind": "ConfigMapList",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": state.rv.to_string()},
            "items": items,
        }),
    )
}

fn create_configmap(state: &mut State, ns: &str, body: &[u8]) -> Reply {
    if state.config.forbid_configmaps {
        return forbidden_configmaps(state, "create", ns, None);
    }
    let Ok(object) = serde_json::from_slice::<Value>(body) else {
        return status(
            400,
            "BadRequest",
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf",
            None,
        );
    };
    if !object.is_object() {
        return status(
            400,
            "BadRequest",
            "the object provided is not a ConfigMap",
            None,
        );
    }
    if object.get("kind").is_some_and(|k| k != "ConfigMap") {
        return status(
            400,
            "BadRequest",
            &format!(
                "the object provided is unrecognized (must be of type ConfigMap): {}",
                object["kind"]
            ),
            None,
        );
    }
    if object["metadata"]["namespace"]
        .as_str()
        .is_some_and(|n| !n.is_empty() && n != ns)
    {
        return status(
            400,
            "BadRequest",
            "the namespace of the provided object does not match the namespace sent on the request",
            None,
        );
    }
    let name = match (
        object["metadata"]["name"].as_str(),
        object["metadata"]["generateName"].as_str(),
    ) {
        (Some(name), _) if !name.is_empty() => name.to_string(),
        (_, Some(prefix)) if !prefix.is_empty() => {
            format!("{prefix}{}", &random_uuid()[..5])
        }
        _ => {
            return status(
                422,
                "Invalid",
                "ConfigMap \"\" is invalid: metadata.name: Required value: name or generateName is required",
                Some(
                    json!({"kind": "ConfigMap", "causes": [{"reason": "FieldValueRequired", "message": "Required value: name or generateName is required", "field": "metadata.name"}]}),
                ),
            );
        }
    };
    let key = (ns.to_string(), name.clone());
    if let Some(winner) = state.config.lose_create_race.take() {
        let winner = new_configmap(
            state,
            ns,
            &name,
            json!({"clusterID": winner}),
            json!({"app.kubernetes.io/name": "spartakus"}),
        );
        state.configmaps.entry(key.clone()).or_insert(winner);
    }
    if state.configmaps.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("configmaps \"{name}\" already exists"),
            Some(json!({"name": name, "kind": "configmaps"})),
        );
    }
    let data = object.get("data").cloned().unwrap_or(json!({}));
    let labels = object["metadata"]
        .get("labels")
        .cloned()
        .unwrap_or(json!({}));
    let mut stored = new_configmap(state, ns, &name, data, labels);
    if let Some(annotations) = object["metadata"].get("annotations") {
        stored["metadata"]["annotations"] = annotations.clone();
    }
    if let Some(binary) = object.get("binaryData") {
        stored["binaryData"] = binary.clone();
    }
    if let Some(immutable) = object.get("immutable") {
        stored["immutable"] = immutable.clone();
    }
    state.configmaps.insert(key, stored.clone());
    Reply::value(201, &stored)
}
