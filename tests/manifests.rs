//! The install manifests, rendered the way `kubectl apply -k` renders them and checked object by
//! object: schema (strictly), fields written as the API server stores them (for server-side
//! apply), Pod Security "restricted", RBAC, the CronJob's settings, the project's overlays, and
//! what re-applying with a new image would do.
//!
//! Rendering: `kubectl kustomize DIR`, then `kubectl patch --local --type merge --patch {}
//! --output json` to turn the YAML into JSON with kubectl's own YAML decoder (the one `kubectl
//! apply` uses, so a value such as `on` or `0755` means here what it means to kubectl). That patch
//! is a no-op that keeps every field, known or not, and needs no cluster.
//!
//! Strict schema: each object is deserialized into its k8s-openapi type (wrong types, kinds or
//! apiVersions fail there), serialized back, and compared with the original: a field the type does
//! not know is dropped by the round trip, and the test names its path.
//!
//! kubectl (v1.27 or later, with its built-in kustomize) must be on PATH, and git for the tests
//! of which overlays the project ships; without them these tests go by `support::need`'s rule
//! (under CI they fail, elsewhere they say `SKIPPED`).

use crate::support::need;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, PodSpec, PodTemplateSpec,
    SecurityContext, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

mod components;
mod containers;
mod jobs;
mod overlays;
mod pod_security;
mod rbac;
mod schema;
mod server_side_apply;

use containers::template_of;
use jobs::{environment, init_job_name, seconds};
use pod_security::{COMMON_LABELS, pod_templates};
use rbac::{permissions, set};
use schema::check_schema;

/// The namespace of the install.
const NAMESPACE: &str = "spartakus";
/// The image every container runs, tagged with this crate's version.
const IMAGE_REPO: &str = "ghcr.io/spartakus/spartakus";
/// The fixed non-root UID and GID of every container (the Dockerfile's `USER`).
const UID: i64 = 65532;
/// The install's endpoint: a placeholder under a reserved domain that never resolves.
const PLACEHOLDER_ENDPOINT: &str = "https://collector.spartakus.example/api/v1";
/// The endpoint of overlays/self-hosted: its collector's Service.
const SELF_HOSTED_ENDPOINT: &str = "http://spartakus-collector.spartakus.svc/api/v1";
/// The reporter's default `--timeout`.
const DEFAULT_TIMEOUT_SECONDS: i64 = 300;

// ---------------------------------------------------------------------------------------------
// Rendering

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs kubectl with `args`, feeding `stdin`, and returns its stdout. No kubeconfig of the
/// machine is read: nothing here talks to a cluster.
fn kubectl(args: &[&str], stdin: &str) -> String {
    let mut child = match Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "kubectl is not on PATH: install kubectl (v1.27 or later, with its built-in \
             kustomize) to render and check the manifests"
        ),
        Err(e) => panic!("starting kubectl {args:?}: {e}"),
    };
    let mut input = child.stdin.take().expect("kubectl stdin");
    let feed = stdin.to_owned();
    let writer = std::thread::spawn(move || input.write_all(feed.as_bytes()));
    let out = child.wait_with_output().expect("waiting for kubectl");
    writer
        .join()
        .expect("stdin writer")
        .expect("writing kubectl's stdin");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("kubectl output is UTF-8")
}

/// The objects `kubectl apply -k dir` would send, as JSON, in kustomize's order.
fn render(dir: &Path) -> Vec<Value> {
    let dir = dir.to_str().expect("UTF-8 path");
    let yaml = kubectl(&["kustomize", dir], "");
    let json = kubectl(
        &[
            "patch",
            "--local",
            "--type",
            "merge",
            "--patch",
            "{}",
            "--output",
            "json",
            "--filename",
            "-",
        ],
        &yaml,
    );
    let objects = serde_json::Deserializer::from_str(&json)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .expect("kubectl printed JSON objects");
    assert!(!objects.is_empty(), "{dir} rendered no objects");
    objects
}

/// Renders of the repository's kustomizations, done once per test binary.
fn rendered(which: &'static str) -> &'static [Value] {
    static CACHE: OnceLock<std::sync::Mutex<BTreeMap<&'static str, &'static [Value]>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(which)
        .or_insert_with(|| Vec::leak(render(&repo().join(which))))
}

const INSTALL: &str = "kustomize";

/// The project's own overlays, by name. Only these are rendered and checked: a directory a user
/// adds under overlays/ for their own cluster is theirs (another image, another endpoint) and
/// must not make these tests fail. `the_listed_overlays_are_the_ones_the_project_ships` keeps
/// this list in step with the overlays git tracks.
const OVERLAYS: [&str; 4] = [
    "overlays/custom-endpoint",
    "overlays/self-hosted",
    "overlays/self-hosted-postgres",
    "overlays/workload-stats",
];
/// The overlay that adds the opt-in workload statistics (kustomize/components/workload-stats).
const WORKLOAD_STATS: &str = "overlays/workload-stats";

/// Every kustomization a user may apply: the install and the project's overlays.
fn all_renders() -> Vec<(&'static str, &'static [Value])> {
    std::iter::once(INSTALL)
        .chain(OVERLAYS)
        .map(|dir| (dir, rendered(dir)))
        .collect()
}

/// `Kind/namespace/name` (namespace empty for cluster-scoped objects).
fn id(obj: &Value) -> String {
    format!(
        "{}/{}/{}",
        obj["kind"].as_str().unwrap_or("?"),
        obj["metadata"]["namespace"].as_str().unwrap_or(""),
        obj["metadata"]["name"].as_str().unwrap_or("?")
    )
}

fn by_id(objects: &[Value]) -> BTreeMap<String, &Value> {
    let mut map = BTreeMap::new();
    for obj in objects {
        assert!(map.insert(id(obj), obj).is_none(), "{} twice", id(obj));
    }
    map
}

fn typed<T: DeserializeOwned>(obj: &Value) -> T {
    serde_json::from_value(obj.clone()).unwrap_or_else(|e| panic!("{}: {e}", id(obj)))
}

fn all_of<T: DeserializeOwned>(objects: &[Value], kind: &str) -> Vec<(String, T)> {
    objects
        .iter()
        .filter(|o| o["kind"] == kind)
        .map(|o| (id(o), typed(o)))
        .collect()
}

fn the_one<T: DeserializeOwned>(objects: &[Value], kind: &str) -> (String, T) {
    let mut all = all_of(objects, kind);
    assert_eq!(all.len(), 1, "expected exactly one {kind}");
    all.remove(0)
}

/// Paths (JSON pointers) where `a` and `b` differ; `a`'s keys missing from `b` and the other way.
fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                let sub = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
                match (x.get(key), y.get(key)) {
                    (Some(p), Some(q)) => diff(&sub, p, q, out),
                    _ => out.push(sub),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (p, q)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}/{i}"), p, q, out);
            }
        }
        _ if a == b => {}
        _ => out.push(path.to_owned()),
    }
}

/// What changed from `before` to `after`: ids added, ids removed, and changed paths per id.
struct Changes {
    added: BTreeSet<String>,
    removed: BTreeSet<String>,
    changed: BTreeMap<String, Vec<String>>,
}

fn changes(before: &[Value], after: &[Value]) -> Changes {
    let (b, a) = (by_id(before), by_id(after));
    let mut changed = BTreeMap::new();
    for (key, old) in &b {
        if let Some(new) = a.get(key) {
            let mut paths = Vec::new();
            diff("", old, new, &mut paths);
            if !paths.is_empty() {
                changed.insert(key.clone(), paths);
            }
        }
    }
    Changes {
        added: a.keys().filter(|k| !b.contains_key(*k)).cloned().collect(),
        removed: b.keys().filter(|k| !a.contains_key(*k)).cloned().collect(),
        changed,
    }
}
