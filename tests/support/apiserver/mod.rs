//! A stand-in Kubernetes API server: HTTPS on 127.0.0.1 with a fresh CA and a bearer token,
//! answering as kube-apiserver does. Modules by concern:
//!
//! - `router`: recording, authentication, which handler a path is for, permissions and faults;
//! - `status`: every error is a `Status` object worded as kube-apiserver words it, with
//!   `Retry-After` where it sends one; `faults`: injected failures by request kind;
//! - `paging`: `limit`/`continue` lists with one snapshot per list and expiring tokens (410);
//! - `lists`: generated nodes ([`crate::support::nodes`]) and namespaces, pods, services,
//!   deployments, statefulsets, daemonsets, jobs and cronjobs ([`crate::support::objects`]),
//!   whole or metadata-only (`PartialObjectMetadataList`) as the `Accept` header asks;
//! - `configmaps`, `events` (create with validation, list, get), `batch` (CronJob and Jobs by
//!   name), `discovery` (`/version`, `/api`, `/apis`), `kubeconfig`.
//!
//! Configure it with [`Config`] (or change it while it runs with the `set_*` methods):
//!
//! ```ignore
//! let server = ApiServer::start(
//!     Config::default()
//!         .with_nodes(3)
//!         .with_namespaces(10_000)
//!         .with_objects(Resource::Pods, 300_000)
//!         .with_forbidden("daemonsets", "list")
//!         .with_forbidden("events", "create"),
//! );
//! let layout = server.layout(); // where every generated object is, to check answers against
//! let events = server.events("spartakus"); // what was posted
//! ```

pub mod batch;
mod config;
mod configmaps;
mod discovery;
mod events;
mod faults;
mod hostile;
mod kubeconfig;
mod lists;
mod paging;
mod router;
mod status;

// Each test crate uses some of these, and the compiler flags the others in each.
#[allow(unused_imports)]
pub use config::{Config, DEFAULT_USER};
#[allow(unused_imports)]
pub use faults::Fault;
pub use hostile::Hostile;

use super::http::Server;
use super::objects::{Layout, Resource};
use super::tls::TestCa;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::events::v1::Event;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
    /// What was asked for: `nodes` (a node list), `node`, `namespaces`, `namespace`, `pods`,
    /// `services`, `deployments`, `statefulsets`, `daemonsets`, `jobs`, `cronjobs` (lists),
    /// `job`, `cronjob` (one by name), `events`, `configmaps`, `version`, `discovery`,
    /// `openapi`, `health` or `other`.
    pub kind: &'static str,
}

impl Recorded {
    /// A query parameter of the request, percent-decoded.
    pub fn query(&self, key: &str) -> Option<String> {
        let (_, query) = self.path.split_once('?')?;
        super::util::query_param(query, key)
    }
}

struct State {
    config: Config,
    /// Where the generated objects are; made again when the inventory changes.
    layout: Arc<Layout>,
    /// The current resourceVersion; every write and every expiry moves it on.
    rv: u64,
    /// Continue tokens from before this resourceVersion have expired.
    compacted: u64,
    configmaps: BTreeMap<(String, String), Value>,
    /// In the order they were created.
    events: Vec<Event>,
    cronjobs: BTreeMap<(String, String), CronJob>,
    jobs: BTreeMap<(String, String), Job>,
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
        ApiServer::start_with_tls(config, TestCa::new("stand-in kube-apiserver"))
    }

    /// Starts a stand-in presenting `ca`'s server certificate; its kubeconfig trusts
    /// [`TestCa::ca_pem`] (a CA, or the server's own certificate: see [`TestCa::self_signed`]).
    pub fn start_with_tls(config: Config, ca: TestCa) -> ApiServer {
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
            router::handle(shared, req)
        });
        let by_key =
            |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| batch::key(meta);
        let state = State {
            layout: Arc::new(Layout::new(&config.objects)),
            rv: 4_000_000 + u64::from(server.port()) % 1000 * 1000,
            compacted: 0,
            configmaps: BTreeMap::new(),
            events: Vec::new(),
            cronjobs: config
                .cronjobs
                .iter()
                .map(|c| (by_key(&c.metadata), c.clone()))
                .collect(),
            jobs: config
                .jobs
                .iter()
                .map(|j| (by_key(&j.metadata), j.clone()))
                .collect(),
            requests: Vec::new(),
            config,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
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

    /// The requests of `kind` so far (see [`Recorded::kind`]).
    pub fn requests_of(&self, kind: &str) -> Vec<Recorded> {
        let state = self.shared.lock();
        state
            .requests
            .iter()
            .filter(|r| r.kind == kind)
            .cloned()
            .collect()
    }

    /// The node list requests so far.
    pub fn node_list_requests(&self) -> Vec<Recorded> {
        self.requests_of("nodes")
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

    /// Where the generated namespaces, pods... are (to check what a client listed).
    pub fn layout(&self) -> Arc<Layout> {
        self.shared.lock().layout.clone()
    }

    /// How many objects of `resource` are generated.
    pub fn object_count(&self, resource: Resource) -> usize {
        self.shared.lock().layout.len(resource)
    }
}

// Changing the configuration while the server runs.
impl ApiServer {
    fn config(&self, change: impl FnOnce(&mut Config)) {
        change(&mut self.shared.lock().config);
    }

    /// Requests of `kind` fail like `fault` first (`None`: no more).
    pub fn set_fault(&self, kind: &str, fault: Option<Fault>) {
        self.config(|c| {
            c.faults.remove(kind);
            c.faults.extend(fault.map(|f| (kind.to_string(), f)));
        });
    }

    pub fn set_nodes_fault(&self, fault: Option<Fault>) {
        self.set_fault("nodes", fault);
    }

    /// Whether `verb` on `resource` answers 403 (see [`Config::with_forbidden`]).
    pub fn set_forbidden(&self, resource: &str, verb: &str, forbidden: bool) {
        let key = (resource.to_string(), verb.to_string());
        self.config(|c| {
            if forbidden {
                c.forbidden.insert(key);
            } else {
                c.forbidden.remove(&key);
            }
        });
    }

    pub fn lose_next_create_race(&self, winner_cluster_id: &str) {
        self.config(|c| c.lose_create_race = Some(winner_cluster_id.to_string()));
    }

    pub fn set_delay(&self, delay: Option<Duration>) {
        self.config(|c| c.delay = delay);
    }
}

// Stored objects: ConfigMaps, Events, CronJobs and Jobs.
impl ApiServer {
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
        let key = (ns.to_string(), name.to_string());
        self.shared.lock().configmaps.get(&key).cloned()
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
        let object = configmaps::new_configmap(&mut state, ns, name, json!(data), json!({}));
        state
            .configmaps
            .insert((ns.to_string(), name.to_string()), object);
    }

    /// The Events created in `ns` so far, in order (as `events.k8s.io/v1` objects).
    pub fn events(&self, ns: &str) -> Vec<Event> {
        let state = self.shared.lock();
        let here = state
            .events
            .iter()
            .filter(|e| e.metadata.namespace.as_deref() == Some(ns));
        here.cloned().collect()
    }

    /// CronJob `ns/name`, if served.
    pub fn cronjob(&self, ns: &str, name: &str) -> Option<CronJob> {
        let key = (ns.to_string(), name.to_string());
        self.shared.lock().cronjobs.get(&key).cloned()
    }

    /// Stops serving CronJob `ns/name`; whether it was served.
    pub fn remove_cronjob(&self, ns: &str, name: &str) -> bool {
        let key = (ns.to_string(), name.to_string());
        self.shared.lock().cronjobs.remove(&key).is_some()
    }

    /// Serves `job` (replacing one of the same namespace and name).
    pub fn insert_job(&self, job: Job) {
        let key = batch::key(&job.metadata);
        self.shared.lock().jobs.insert(key, job);
    }
}

fn string_map(value: &Value) -> BTreeMap<String, String> {
    let Some(map) = value.as_object() else {
        return BTreeMap::new();
    };
    let strings = map
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())));
    strings.collect()
}
