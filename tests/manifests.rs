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
//! kubectl (with its built-in kustomize) must be on PATH: these tests panic with that message
//! otherwise.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, Namespace, PersistentVolumeClaim, PodSpec, PodTemplateSpec,
    SecurityContext, Service, ServiceAccount,
};
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
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

// ---------------------------------------------------------------------------------------------
// Schema

/// Deserializes `obj` into `T` and back; any field lost or altered on the way is unknown to the
/// schema (or has the wrong shape).
fn strict<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<(), String> {
    let value: T = serde_json::from_value(obj.clone()).map_err(|e| e.to_string())?;
    let back = serde_json::to_value(&value).map_err(|e| e.to_string())?;
    let mut paths = Vec::new();
    diff("", obj, &back, &mut paths);
    if paths.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fields unknown to the schema: {}",
            paths.join(", ")
        ))
    }
}

fn check_schema(obj: &Value) -> Result<(), String> {
    match obj["kind"].as_str().unwrap_or("") {
        "Namespace" => strict::<Namespace>(obj),
        "ConfigMap" => strict::<ConfigMap>(obj),
        "ServiceAccount" => strict::<ServiceAccount>(obj),
        "Role" => strict::<Role>(obj),
        "RoleBinding" => strict::<RoleBinding>(obj),
        "ClusterRole" => strict::<ClusterRole>(obj),
        "ClusterRoleBinding" => strict::<ClusterRoleBinding>(obj),
        "Job" => strict::<Job>(obj),
        "CronJob" => strict::<CronJob>(obj),
        "Deployment" => strict::<Deployment>(obj),
        "Service" => strict::<Service>(obj),
        "PersistentVolumeClaim" => strict::<PersistentVolumeClaim>(obj),
        other => Err(format!(
            "kind {other:?} has no schema check here: add it to check_schema"
        )),
    }
}

#[test]
fn every_rendered_object_matches_the_api_schema_strictly() {
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        for obj in objects {
            if let Err(e) = check_schema(obj) {
                errors.push(format!("{dir}: {}: {e}", id(obj)));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_strict_schema_check_catches_unknown_and_mistyped_fields() {
    let (_, cronjob) = the_one::<CronJob>(rendered(INSTALL), "CronJob");
    let good = serde_json::to_value(&cronjob).unwrap();
    assert_eq!(check_schema(&good), Ok(()));

    let mut unknown = good.clone();
    unknown["spec"]["jobTemplate"]["spec"]["backofLimit"] = 1.into();
    let err = check_schema(&unknown).unwrap_err();
    assert!(err.contains("/spec/jobTemplate/spec/backofLimit"), "{err}");

    let mut mistyped = good.clone();
    mistyped["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "1".into();
    assert!(check_schema(&mistyped).is_err());

    let mut wrong_version = good;
    wrong_version["apiVersion"] = "batch/v1beta1".into();
    assert!(check_schema(&wrong_version).is_err());
}

#[test]
fn every_namespaced_object_is_in_the_restricted_spartakus_namespace() {
    for (dir, objects) in all_renders() {
        let (_, ns) = the_one::<Namespace>(objects, "Namespace");
        assert_eq!(ns.metadata.name.as_deref(), Some(NAMESPACE), "{dir}");
        let labels = ns.metadata.labels.unwrap_or_default();
        for mode in ["enforce", "audit", "warn"] {
            assert_eq!(
                labels
                    .get(&format!("pod-security.kubernetes.io/{mode}"))
                    .map(String::as_str),
                Some("restricted"),
                "{dir}: Namespace label pod-security.kubernetes.io/{mode}"
            );
        }
        for obj in objects {
            let cluster_scoped = matches!(
                obj["kind"].as_str(),
                Some("Namespace" | "ClusterRole" | "ClusterRoleBinding")
            );
            let ns = obj["metadata"]["namespace"].as_str();
            if cluster_scoped {
                assert_eq!(ns, None, "{dir}: {}", id(obj));
            } else {
                assert_eq!(ns, Some(NAMESPACE), "{dir}: {}", id(obj));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server-side apply

// What this guards. Server-side apply (`kubectl apply --server-side`, Argo CD's
// `ServerSideApply=true`, Flux) tracks an owner per field, except inside a structure the API's
// OpenAPI schema marks atomic (`x-kubernetes-map-type: atomic`, from `+structType=atomic`; lists
// with `x-kubernetes-list-type: atomic`): such a structure is one value, owned and compared whole.
// When the API server stored one with a field filled in that the manifest leaves out, the applied
// value differs from the stored one; as another manager owns it (an earlier client-side `kubectl
// apply` always does), the apply fails with a conflict, and a GitOps tool shows a diff forever.
// Issue 9.10 was exactly that: two `env[].valueFrom.fieldRef` without `apiVersion: v1`. So the
// manifests write atomic structures as the server stores them. What the server fills in, as of
// Kubernetes 1.33 (its OpenAPI schema and the SetDefaults_* of pkg/apis/{core,rbac,batch}/v1):
//
// - `fieldRef` (ObjectFieldSelector, atomic): `apiVersion` defaults to "v1".
// - `resourceFieldRef` (ResourceFieldSelector, atomic): `divisor` is a Quantity, which is never
//   left out when stored: an absent one comes back as "0". Every value validation accepts ("1m",
//   "1", "1Ki", ...) is already in the form the server stores.
// - `roleRef` (RoleRef, atomic): `apiGroup` defaults to rbac.authorization.k8s.io.
// - `subjects[]` (Subject, atomic): `apiGroup` defaults to rbac.authorization.k8s.io for a User or
//   a Group (to "" for a ServiceAccount, which is the same as leaving it out).
// - `projected.sources` (an atomic list): a `serviceAccountToken`'s `expirationSeconds` defaults
//   to 3600.
//
// Two more ways an applied value can differ from the stored one, atomic or not:
// - a quantity is stored in canonical form ("0.5" becomes "500m", "1024Mi" becomes "1Gi");
// - a keyed list's entry is found by its key, and `ports` are keyed by port and `protocol`, which
//   defaults to TCP: stated, the applied key is the stored key.
//
// Atomic with nothing filled in (nothing to check): `configMapKeyRef`, `secretKeyRef` and every
// LocalObjectReference (`name` is `+default=""`, stored as absent), LabelSelector (`selector`),
// `envFrom`, podFailurePolicy `rules` (`onPodConditions[].status` is required, so the strict
// schema check enforces it), `nodeSelector`, Service `selector`, `tolerations`. Filled in, but
// each field has its own owner, so leaving it out conflicts with nobody: probes' `httpGet.scheme`
// and `path`, probe periods and thresholds, `seccompProfile` (not atomic), volumes'
// `defaultMode`, `imagePullPolicy`, `terminationMessagePath`, and the like.

/// Every `divisor` that validation accepts, as the server stores it ("0": none given).
const DIVISORS: [&str; 15] = [
    "0", "1m", "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
];

/// Whether `q` is a quantity written as the API server stores it: an integer without leading
/// zeros and with the largest suffix that keeps it an integer ("1500m", "1", "2k", "128Mi",
/// "2Gi"; not "1000m", "0.5", "1024Mi" or "2000"). Stricter than Kubernetes: a decimal fraction
/// or an exponent is refused even where it happens to be canonical.
fn canonical_quantity(q: &str) -> bool {
    let digits = q.bytes().take_while(u8::is_ascii_digit).count();
    let (number, suffix) = q.split_at(digits);
    let Ok(n) = number.parse::<u64>() else {
        return false;
    };
    if number.starts_with('0') {
        return q == "0";
    }
    match suffix {
        "m" | "" | "k" | "M" | "G" | "T" | "P" => n % 1000 != 0,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" => n % 1024 != 0,
        "E" | "Ei" => true,
        _ => false,
    }
}

/// Where `obj` differs from what the API server would store for it in a way server-side apply
/// notices (see above), as `JSON pointer: what`. Fields are recognised by name, which is unique
/// to each of these structures in the API; maps of free-form keys are not searched.
fn server_side_apply_gaps(obj: &Value) -> Vec<String> {
    fn walk(path: &str, value: &Value, out: &mut Vec<String>) {
        let items: Vec<(String, &Value)> = match value {
            Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(list) => list
                .iter()
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => Vec::new(),
        };
        for (key, child) in items {
            let here = format!("{path}/{key}");
            let lacks = |field: &str| child.is_object() && child.get(field).is_none();
            let list = || child.as_array().into_iter().flatten().enumerate();
            match key.as_str() {
                "data" | "binaryData" | "labels" | "annotations" => continue,
                "fieldRef" if lacks("apiVersion") => {
                    out.push(format!(
                        "{here}: no apiVersion (the server fills in \"v1\")"
                    ));
                }
                "resourceFieldRef" if child.is_object() => match child["divisor"].as_str() {
                    None => out.push(format!("{here}: no divisor (the server stores \"0\")")),
                    Some(d) if !DIVISORS.contains(&d) => {
                        out.push(format!("{here}: divisor {d:?} is not one of {DIVISORS:?}"));
                    }
                    Some(_) => {}
                },
                "serviceAccountToken" if lacks("expirationSeconds") => out.push(format!(
                    "{here}: no expirationSeconds (the server fills in 3600 in an atomic list)"
                )),
                "roleRef" if lacks("apiGroup") => out.push(format!(
                    "{here}: no apiGroup (the server fills in rbac.authorization.k8s.io)"
                )),
                "subjects" => {
                    for (i, subject) in list() {
                        let kind = subject["kind"].as_str().unwrap_or("");
                        if matches!(kind, "User" | "Group") && subject.get("apiGroup").is_none() {
                            out.push(format!(
                                "{here}/{i}: {kind} without apiGroup (the server fills in \
                                 rbac.authorization.k8s.io)"
                            ));
                        }
                    }
                }
                "ports" => {
                    for (i, port) in list() {
                        if port.is_object() && port.get("protocol").is_none() {
                            out.push(format!(
                                "{here}/{i}: no protocol (part of the key; the server fills in TCP)"
                            ));
                        }
                    }
                }
                "requests" | "limits" | "sizeLimit" => {
                    let quantities: Vec<(String, &Value)> = match child {
                        Value::Object(map) => {
                            map.iter().map(|(k, v)| (format!("/{k}"), v)).collect()
                        }
                        Value::String(_) => vec![(String::new(), child)],
                        _ => Vec::new(),
                    };
                    for (sub, q) in quantities {
                        if !q.as_str().is_some_and(canonical_quantity) {
                            out.push(format!(
                                "{here}{sub}: quantity {q} is not written as the server stores it"
                            ));
                        }
                    }
                }
                _ => {}
            }
            walk(&here, child, out);
        }
    }
    let mut out = Vec::new();
    walk("", obj, &mut out);
    out
}

#[test]
fn atomic_structures_and_quantities_are_written_as_the_server_stores_them() {
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        for obj in objects {
            for gap in server_side_apply_gaps(obj) {
                errors.push(format!("{dir}: {}: {gap}", id(obj)));
            }
        }
    }
    assert!(
        errors.is_empty(),
        "server-side apply would conflict with an earlier apply here:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_server_side_apply_check_catches_each_field_the_server_fills_in() {
    for q in [
        "0", "1", "10m", "1500m", "999", "1k", "16Mi", "1536Mi", "2Gi", "5Ei",
    ] {
        assert!(canonical_quantity(q), "{q}");
    }
    for q in [
        "", "m", "1000m", "0.5", "2000", "1024Mi", "01", "0Mi", "1e3", "1K", "1 Mi",
    ] {
        assert!(!canonical_quantity(q), "{q}");
    }

    let (_, cronjob) = the_one::<CronJob>(rendered(INSTALL), "CronJob");
    let good = serde_json::to_value(&cronjob).unwrap();
    assert_eq!(server_side_apply_gaps(&good), Vec::<String>::new());
    let container = "/spec/jobTemplate/spec/template/spec/containers/0";
    let cases: [(&str, Value, &str); 7] = [
        (
            "/env/0/valueFrom",
            serde_json::json!({"fieldRef": {"fieldPath": "metadata.name"}}),
            "/valueFrom/fieldRef: no apiVersion",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"resourceFieldRef": {"resource": "limits.cpu"}}),
            "no divisor",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1000m"}}),
            "divisor \"1000m\"",
        ),
        (
            "/resources/limits/memory",
            "0.5Gi".into(),
            "/resources/limits/memory: quantity",
        ),
        (
            "/ports",
            serde_json::json!([{"containerPort": 8080}]),
            "/ports/0: no protocol",
        ),
        (
            "/ports",
            serde_json::json!([{"containerPort": 8080, "protocol": "TCP"}]),
            "",
        ),
        (
            "/env/0/valueFrom",
            serde_json::json!({"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}),
            "",
        ),
    ];
    for (pointer, value, expected) in cases {
        let mut bad = good.clone();
        let full = format!("{container}{pointer}");
        let (parent, key) = full.rsplit_once('/').unwrap();
        bad.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap()
            .insert(key.to_owned(), value);
        let gaps = server_side_apply_gaps(&bad);
        if expected.is_empty() {
            assert_eq!(gaps, Vec::<String>::new(), "{pointer}");
        } else {
            assert!(
                gaps.len() == 1 && gaps[0].contains(expected),
                "setting {pointer} should report {expected:?}, got {gaps:?}"
            );
        }
    }

    let binding = serde_json::json!({
        "kind": "RoleBinding",
        "roleRef": {"kind": "Role", "name": "r"},
        "subjects": [
            {"kind": "ServiceAccount", "name": "a"},
            {"kind": "User", "name": "u"},
            {"kind": "Group", "name": "g", "apiGroup": "rbac.authorization.k8s.io"},
        ],
    });
    assert_eq!(
        server_side_apply_gaps(&binding),
        [
            "/roleRef: no apiGroup (the server fills in rbac.authorization.k8s.io)",
            "/subjects/1: User without apiGroup (the server fills in rbac.authorization.k8s.io)",
        ]
    );
    let volume =
        serde_json::json!({"projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}});
    assert_eq!(
        server_side_apply_gaps(&volume),
        [
            "/projected/sources/0/serviceAccountToken: no expirationSeconds (the server fills in 3600 \
          in an atomic list)"
        ]
    );
    // A ConfigMap's keys are its own: one named like a field is not taken for it.
    let config =
        serde_json::json!({"kind": "ConfigMap", "data": {"limits": "many", "ports": "80"}});
    assert_eq!(server_side_apply_gaps(&config), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------------
// Pod security

/// Every pod template in `objects`, with the id of the object that holds it.
fn pod_templates(objects: &[Value]) -> Vec<(String, PodTemplateSpec)> {
    let mut out = Vec::new();
    for obj in objects {
        let pointer = match obj["kind"].as_str() {
            Some("Job" | "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet") => {
                "/spec/template"
            }
            Some("CronJob") => "/spec/jobTemplate/spec/template",
            Some("Pod" | "PodTemplate") => {
                panic!("{}: bare pods and PodTemplates are not expected", id(obj))
            }
            _ => continue,
        };
        let template = obj.pointer(pointer).cloned().unwrap_or(Value::Null);
        out.push((
            id(obj),
            serde_json::from_value(template).expect("pod template"),
        ));
    }
    out
}

fn all_containers(spec: &PodSpec) -> Vec<(String, SecurityContext, &Container)> {
    let mut out: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(&spec.containers)
        .map(|c| {
            (
                c.name.clone(),
                c.security_context.clone().unwrap_or_default(),
                c,
            )
        })
        .collect();
    // Ephemeral containers are checked by the profile too, though none is ever rendered.
    assert!(spec.ephemeral_containers.is_none());
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Volume types the restricted profile allows.
const RESTRICTED_VOLUME_TYPES: [&str; 8] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// SELinux types the baseline profile allows.
const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

/// Violations of the Pod Security Standard "restricted" (which includes "baseline"), as of
/// Kubernetes 1.33, field by field, plus this project's own rules (marked "ours").
fn restricted_violations(template: &PodTemplateSpec) -> Vec<String> {
    let mut v = Vec::new();
    let spec = template.spec.clone().unwrap_or_default();
    let pod_sc = spec.security_context.clone().unwrap_or_default();

    // baseline: host namespaces, host ports, hostPath, sysctls, SELinux, AppArmor, Windows.
    for (name, value) in [
        ("hostNetwork", spec.host_network),
        ("hostPID", spec.host_pid),
        ("hostIPC", spec.host_ipc),
    ] {
        if value == Some(true) {
            v.push(format!("{name} is true"));
        }
    }
    if pod_sc.sysctls.as_ref().is_some_and(|s| !s.is_empty()) {
        v.push("pod sets sysctls".into());
    }
    if pod_sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
        v.push("pod is a Windows hostProcess".into());
    }
    let selinux_ok = |o: &Option<k8s_openapi::api::core::v1::SELinuxOptions>| {
        o.as_ref().is_none_or(|o| {
            SELINUX_TYPES.contains(&o.type_.as_deref().unwrap_or(""))
                && o.user.is_none()
                && o.role.is_none()
        })
    };
    if !selinux_ok(&pod_sc.se_linux_options) {
        v.push("pod seLinuxOptions not allowed".into());
    }
    let apparmor_ok = |p: &Option<k8s_openapi::api::core::v1::AppArmorProfile>| {
        p.as_ref().is_none_or(|p| p.type_ != "Unconfined")
    };
    if !apparmor_ok(&pod_sc.app_armor_profile) {
        v.push("pod AppArmor profile Unconfined".into());
    }
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.clone())
        .unwrap_or_default();
    for (key, value) in &annotations {
        if key.starts_with("container.apparmor.security.beta.kubernetes.io/")
            && value != "runtime/default"
            && !value.starts_with("localhost/")
        {
            v.push(format!("annotation {key}={value}"));
        }
    }
    for volume in spec.volumes.iter().flatten() {
        let json = serde_json::to_value(volume).unwrap();
        for key in json.as_object().unwrap().keys() {
            if key != "name" && !RESTRICTED_VOLUME_TYPES.contains(&key.as_str()) {
                v.push(format!("volume {} has type {key}", volume.name));
            }
        }
    }

    // restricted: seccomp and non-root at pod level or in every container.
    let seccomp_ok = |t: &str| t == "RuntimeDefault" || t == "Localhost";
    if let Some(p) = &pod_sc.seccomp_profile
        && !seccomp_ok(&p.type_)
    {
        v.push(format!("pod seccompProfile {}", p.type_));
    }
    if pod_sc.run_as_user == Some(0) {
        v.push("pod runAsUser 0".into());
    }

    for (name, sc, container) in all_containers(&spec) {
        let c = |msg: &str| format!("container {name}: {msg}");
        if sc.privileged == Some(true) {
            v.push(c("privileged"));
        }
        if sc.allow_privilege_escalation != Some(false) {
            v.push(c("allowPrivilegeEscalation is not false"));
        }
        let caps = sc.capabilities.clone().unwrap_or_default();
        if !caps.drop.unwrap_or_default().iter().any(|d| d == "ALL") {
            v.push(c("capabilities.drop lacks ALL"));
        }
        for add in caps.add.unwrap_or_default() {
            if add != "NET_BIND_SERVICE" {
                v.push(c(&format!("capabilities.add {add}")));
            }
        }
        if sc.proc_mount.as_deref().is_some_and(|p| p != "Default") {
            v.push(c("procMount not Default"));
        }
        if !selinux_ok(&sc.se_linux_options) {
            v.push(c("seLinuxOptions not allowed"));
        }
        if !apparmor_ok(&sc.app_armor_profile) {
            v.push(c("AppArmor profile Unconfined"));
        }
        if sc.windows_options.as_ref().and_then(|w| w.host_process) == Some(true) {
            v.push(c("Windows hostProcess"));
        }
        for port in container.ports.iter().flatten() {
            if port.host_port.is_some_and(|p| p != 0) {
                v.push(c("hostPort"));
            }
        }
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .or(pod_sc.seccomp_profile.as_ref())
            .map(|p| p.type_.as_str());
        if !seccomp.is_some_and(seccomp_ok) {
            v.push(c("no RuntimeDefault or Localhost seccompProfile"));
        }
        if sc.run_as_non_root.or(pod_sc.run_as_non_root) != Some(true) {
            v.push(c("runAsNonRoot is not true"));
        }
        if sc.run_as_user == Some(0) {
            v.push(c("runAsUser 0"));
        }

        // ours: a read-only root, the fixed UID and GID, bounded resources, the pinned image.
        if sc.read_only_root_filesystem != Some(true) {
            v.push(c("readOnlyRootFilesystem is not true (ours)"));
        }
        if sc.run_as_user.or(pod_sc.run_as_user) != Some(UID)
            || sc.run_as_group.or(pod_sc.run_as_group) != Some(UID)
        {
            v.push(c(&format!("does not run as {UID}:{UID} (ours)")));
        }
        let resources = container.resources.clone().unwrap_or_default();
        for (what, list) in [
            ("requests", resources.requests),
            ("limits", resources.limits),
        ] {
            let list = list.unwrap_or_default();
            for resource in ["cpu", "memory"] {
                if !list.contains_key(resource) {
                    v.push(c(&format!("no {resource} in resources.{what} (ours)")));
                }
            }
        }
        if container.termination_message_policy.as_deref() != Some("FallbackToLogsOnError") {
            v.push(c(
                "terminationMessagePolicy is not FallbackToLogsOnError: a crash's error would \
                 not show in kubectl describe (ours)",
            ));
        }
        let image = format!("{IMAGE_REPO}:{}", env!("CARGO_PKG_VERSION"));
        if container.image.as_deref() != Some(image.as_str()) {
            v.push(c(&format!(
                "image {:?} is not {image} (ours)",
                container.image
            )));
        }
    }

    // ours: own ServiceAccount, the token only where asked for, no Service env variables.
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(|s| s == "default")
    {
        v.push("runs as the namespace's default ServiceAccount (ours)".into());
    }
    if spec.automount_service_account_token.is_none() {
        v.push("automountServiceAccountToken not stated (ours)".into());
    }
    if spec.enable_service_links != Some(false) {
        v.push("enableServiceLinks is not false (ours)".into());
    }
    v
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        let templates = pod_templates(objects);
        assert!(!templates.is_empty(), "{dir} has no pods");
        for (holder, template) in templates {
            for violation in restricted_violations(&template) {
                errors.push(format!("{dir}: {holder}: {violation}"));
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_pod_security_check_catches_each_kind_of_violation() {
    let (_, good) = pod_templates(rendered(INSTALL))
        .into_iter()
        .find(|(id, _)| id.starts_with("CronJob/"))
        .unwrap();
    assert_eq!(restricted_violations(&good), Vec::<String>::new());
    let good = serde_json::to_value(&good).unwrap();
    let cases: [(&str, &str, Value); 14] = [
        ("/spec/hostNetwork", "hostNetwork", true.into()),
        ("/spec/hostPID", "hostPID", true.into()),
        (
            "/spec/volumes/0",
            "hostPath",
            serde_json::json!({"name": "h", "hostPath": {"path": "/"}}),
        ),
        (
            "/spec/containers/0/securityContext/privileged",
            "privileged",
            true.into(),
        ),
        (
            "/spec/containers/0/securityContext/allowPrivilegeEscalation",
            "allowPrivilegeEscalation",
            true.into(),
        ),
        (
            "/spec/containers/0/securityContext/capabilities",
            "capabilities.drop",
            serde_json::json!({"drop": ["NET_RAW"]}),
        ),
        (
            "/spec/containers/0/securityContext/capabilities",
            "capabilities.add SYS_ADMIN",
            serde_json::json!({"drop": ["ALL"], "add": ["SYS_ADMIN"]}),
        ),
        (
            "/spec/securityContext/seccompProfile",
            "seccompProfile",
            serde_json::json!({"type": "Unconfined"}),
        ),
        (
            "/spec/securityContext/runAsNonRoot",
            "runAsNonRoot",
            false.into(),
        ),
        (
            "/spec/containers/0/securityContext/readOnlyRootFilesystem",
            "readOnlyRootFilesystem",
            false.into(),
        ),
        (
            "/spec/containers/0/resources",
            "resources.limits",
            serde_json::json!({"requests": {"cpu": "1m", "memory": "1Mi"}}),
        ),
        (
            "/spec/containers/0/ports",
            "hostPort",
            serde_json::json!([{"containerPort": 80, "hostPort": 80}]),
        ),
        (
            "/spec/containers/0/image",
            "image",
            "ghcr.io/spartakus/spartakus:latest".into(),
        ),
        ("/spec/serviceAccountName", "default", "default".into()),
    ];
    for (pointer, expected, value) in cases {
        let mut bad = good.clone();
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let parent = bad.pointer_mut(parent).unwrap();
        match parent {
            Value::Array(items) => items.insert(key.parse().unwrap(), value),
            Value::Object(map) => {
                map.insert(key.to_owned(), value);
            }
            _ => panic!("{pointer}"),
        }
        let violations = restricted_violations(&serde_json::from_value(bad).unwrap());
        assert!(
            violations.iter().any(|v| v.contains(expected)),
            "setting {pointer} should report {expected:?}, got {violations:?}"
        );
    }
}

/// The labels every rendered object and pod carries, so that `kubectl get all,cm,sa,pvc -A -l
/// app.kubernetes.io/part-of=spartakus` (or a prune by label) finds the whole install.
const COMMON_LABELS: [(&str, &str); 2] = [
    ("app.kubernetes.io/name", "spartakus"),
    ("app.kubernetes.io/part-of", "spartakus"),
];

#[test]
fn every_object_and_pod_carries_the_common_labels() {
    let mut errors = Vec::new();
    for (dir, objects) in all_renders() {
        let mut labelled: Vec<(String, Value)> = objects
            .iter()
            .map(|o| (id(o), o["metadata"]["labels"].clone()))
            .collect();
        for (holder, template) in pod_templates(objects) {
            let labels = template.metadata.and_then(|m| m.labels).unwrap_or_default();
            labelled.push((
                format!("{holder} pod"),
                serde_json::to_value(labels).unwrap(),
            ));
        }
        for (what, labels) in labelled {
            for (key, value) in COMMON_LABELS {
                if labels[key] != value {
                    errors.push(format!("{dir}: {what}: label {key} is not {value}"));
                }
            }
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_pod_keeps_service_mesh_sidecars_out() {
    for (dir, objects) in all_renders() {
        for (holder, template) in pod_templates(objects) {
            let meta = template.metadata.unwrap_or_default();
            let annotations = meta.annotations.unwrap_or_default();
            let labels = meta.labels.unwrap_or_default();
            let get = |m: &BTreeMap<String, String>, k: &str| m.get(k).cloned();
            assert_eq!(
                get(&annotations, "sidecar.istio.io/inject").as_deref(),
                Some("false"),
                "{dir}: {holder}"
            );
            assert_eq!(
                get(&labels, "sidecar.istio.io/inject").as_deref(),
                Some("false"),
                "{dir}: {holder}"
            );
            assert_eq!(
                get(&annotations, "linkerd.io/inject").as_deref(),
                Some("disabled"),
                "{dir}: {holder}"
            );
            let default = get(&annotations, "kubectl.kubernetes.io/default-container");
            let spec = template.spec.unwrap_or_default();
            assert!(
                spec.containers
                    .iter()
                    .any(|c| Some(&c.name) == default.as_ref()),
                "{dir}: {holder}: kubectl.kubernetes.io/default-container {default:?} names no container"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RBAC

/// One permission, spelled out: `cluster: nodes list`, `spartakus: configmaps/spartakus get`,
/// `spartakus: configmaps create` (any name).
fn grants(scope: &str, rule: &PolicyRule) -> Vec<String> {
    let mut out = Vec::new();
    let names = rule.resource_names.clone().unwrap_or_default();
    let names: Vec<Option<String>> = if names.is_empty() {
        vec![None]
    } else {
        names.into_iter().map(Some).collect()
    };
    for url in rule.non_resource_urls.iter().flatten() {
        for verb in &rule.verbs {
            out.push(format!("{scope}: url {url} {verb}"));
        }
    }
    for group in rule.api_groups.iter().flatten() {
        for resource in rule.resources.iter().flatten() {
            for name in &names {
                for verb in &rule.verbs {
                    let mut what = if group.is_empty() {
                        resource.clone()
                    } else {
                        format!("{group}/{resource}")
                    };
                    if let Some(name) = name {
                        what = format!("{what}/{name}");
                    }
                    out.push(format!("{scope}: {what} {verb}"));
                }
            }
        }
    }
    out
}

/// Everything each ServiceAccount of `objects` may do, through the bindings in `objects`. Fails
/// on a binding to a role that is not rendered here (a built-in one such as `view` included), on
/// subjects that are not rendered ServiceAccounts, and on roles nothing binds.
fn permissions(objects: &[Value]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> =
        all_of::<ServiceAccount>(objects, "ServiceAccount")
            .into_iter()
            .map(|(_, sa)| {
                let key = format!(
                    "{}/{}",
                    sa.metadata.namespace.unwrap(),
                    sa.metadata.name.unwrap()
                );
                (key, BTreeSet::new())
            })
            .collect();
    let roles: BTreeMap<String, Vec<PolicyRule>> = all_of::<Role>(objects, "Role")
        .into_iter()
        .map(|(id, r)| (id, r.rules.unwrap_or_default()))
        .chain(
            all_of::<ClusterRole>(objects, "ClusterRole")
                .into_iter()
                .map(|(id, r)| {
                    assert!(r.aggregation_rule.is_none(), "{id}: aggregated");
                    (id, r.rules.unwrap_or_default())
                }),
        )
        .collect();
    let mut bound = BTreeSet::new();
    let bindings = all_of::<RoleBinding>(objects, "RoleBinding")
        .into_iter()
        .map(|(id, b)| (id, b.metadata.namespace, b.role_ref, b.subjects))
        .chain(
            all_of::<ClusterRoleBinding>(objects, "ClusterRoleBinding")
                .into_iter()
                .map(|(id, b)| (id, None, b.role_ref, b.subjects)),
        );
    for (binding, namespace, role_ref, subjects) in bindings {
        assert_eq!(role_ref.api_group, "rbac.authorization.k8s.io", "{binding}");
        let role_id = match role_ref.kind.as_str() {
            "Role" => format!(
                "Role/{}/{}",
                namespace.as_deref().expect("RoleBinding namespace"),
                role_ref.name
            ),
            "ClusterRole" => format!("ClusterRole//{}", role_ref.name),
            other => panic!("{binding}: roleRef kind {other}"),
        };
        let rules = roles
            .get(&role_id)
            .unwrap_or_else(|| panic!("{binding} binds {role_id}, which is not in the manifests"));
        bound.insert(role_id);
        let scope = namespace.clone().unwrap_or_else(|| "cluster".into());
        for subject in subjects.unwrap_or_default() {
            assert_eq!(
                subject.kind, "ServiceAccount",
                "{binding}: subject {subject:?}"
            );
            let sa_ns = subject.namespace.clone().or(namespace.clone());
            let key = format!("{}/{}", sa_ns.unwrap_or_default(), subject.name);
            let granted = out
                .get_mut(&key)
                .unwrap_or_else(|| panic!("{binding} binds {key}, which is not in the manifests"));
            for rule in rules {
                granted.extend(grants(&scope, rule));
            }
        }
    }
    for role in roles.keys() {
        assert!(bound.contains(role), "{role} is bound to nothing");
    }
    out
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn rbac_grants_each_service_account_exactly_what_it_uses() {
    let init = set(&[
        "spartakus: configmaps create",
        "spartakus: configmaps/spartakus get",
    ]);
    // The receipt adds exactly two: creating its Event, and reading the one CronJob's UID that
    // `kubectl describe cronjob` matches Events by.
    let reporter = set(&[
        "cluster: nodes list",
        "spartakus: configmaps/spartakus get",
        "spartakus: events.k8s.io/events create",
        "spartakus: batch/cronjobs/spartakus get",
    ]);
    for (dir, objects) in all_renders() {
        let mut expected = BTreeMap::from([
            ("spartakus/spartakus-init".to_owned(), init.clone()),
            ("spartakus/spartakus-reporter".to_owned(), reporter.clone()),
        ]);
        if dir.starts_with("overlays/self-hosted") {
            expected.insert("spartakus/spartakus-collector".into(), BTreeSet::new());
        }
        if dir == WORKLOAD_STATS {
            let reporter = expected.get_mut("spartakus/spartakus-reporter").unwrap();
            reporter.extend(workload_stats_grants());
        }
        assert_eq!(permissions(objects), expected, "{dir}");
    }
}

/// What kustomize/components/workload-stats grants the reporter: `list`, cluster-wide, on the
/// eight kinds the statistics count, and nothing else.
fn workload_stats_grants() -> BTreeSet<String> {
    set(&[
        "cluster: namespaces list",
        "cluster: pods list",
        "cluster: services list",
        "cluster: apps/deployments list",
        "cluster: apps/statefulsets list",
        "cluster: apps/daemonsets list",
        "cluster: batch/jobs list",
        "cluster: batch/cronjobs list",
    ])
}

/// The component's role, rule by rule as written, and what the reporter lists: one grant per
/// kind of the statistics, in the API group of the path the reporter lists it at.
#[test]
fn the_workload_stats_component_grants_exactly_list_on_the_kinds_counted() {
    let text = std::fs::read_to_string(
        repo().join("kustomize/components/workload-stats/kustomization.yaml"),
    )
    .unwrap();
    assert!(
        text.contains("\nkind: Component\n"),
        "a kustomize Component, for overlays to add"
    );
    let objects = rendered(WORKLOAD_STATS);
    let (_, role) = all_of::<ClusterRole>(objects, "ClusterRole")
        .into_iter()
        .find(|(id, _)| id == "ClusterRole//spartakus-workload-stats")
        .expect("the component's ClusterRole");
    let rule = |group: &str, resources: &[&str]| PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: vec!["list".to_owned()],
        ..PolicyRule::default()
    };
    assert_eq!(
        role.rules.unwrap(),
        [
            rule("", &["namespaces", "pods", "services"]),
            rule("apps", &["deployments", "statefulsets", "daemonsets"]),
            rule("batch", &["jobs", "cronjobs"]),
        ]
    );
    let lists: BTreeSet<String> = spartakus::contract::ObjectKind::ALL
        .into_iter()
        .map(|kind| {
            let path = spartakus::reporter::listing::object_list(kind).path;
            match path.strip_prefix("/apis/") {
                Some(rest) => format!(
                    "cluster: {}/{} list",
                    rest.split('/').next().unwrap(),
                    kind.name()
                ),
                None => format!("cluster: {} list", kind.name()),
            }
        })
        .collect();
    assert_eq!(
        lists,
        workload_stats_grants(),
        "what the reporter lists is what is granted"
    );
}

/// The overlay adds the role, its binding and the switch, and changes nothing else: the default
/// install's RBAC and settings stay as they are.
#[test]
fn the_workload_stats_overlay_adds_its_role_and_switch_and_nothing_else() {
    let c = changes(rendered(INSTALL), rendered(WORKLOAD_STATS));
    assert_eq!(
        c.added,
        set(&[
            "ClusterRole//spartakus-workload-stats",
            "ClusterRoleBinding//spartakus-workload-stats",
        ])
    );
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_WORKLOAD_STATS".to_owned()]
        )])
    );
    let switch = |objects: &[Value]| {
        let cm = by_id(objects)[&format!("ConfigMap/{NAMESPACE}/spartakus-config")];
        cm["data"]["SPARTAKUS_WORKLOAD_STATS"]
            .as_str()
            .map(str::to_owned)
    };
    assert_eq!(switch(rendered(WORKLOAD_STATS)).as_deref(), Some("true"));
    assert_eq!(
        switch(rendered(INSTALL)),
        None,
        "off in the default install"
    );
}

#[test]
fn each_pod_runs_as_its_own_service_account_and_only_api_clients_get_a_token() {
    for (dir, objects) in all_renders() {
        let accounts: BTreeMap<String, ServiceAccount> = all_of(objects, "ServiceAccount")
            .into_iter()
            .map(|(_, sa): (_, ServiceAccount)| (sa.metadata.name.clone().unwrap(), sa))
            .collect();
        for sa in accounts.values() {
            assert_eq!(
                sa.automount_service_account_token,
                Some(false),
                "{dir}: ServiceAccount {:?}: pods opt in to a token themselves",
                sa.metadata.name
            );
        }
        for (holder, template) in pod_templates(objects) {
            let spec = template.spec.unwrap();
            let (account, token) = match holder.split('/').next().unwrap() {
                "Job" => ("spartakus-init", true),
                "CronJob" => ("spartakus-reporter", true),
                "Deployment" => ("spartakus-collector", false),
                other => panic!("{dir}: unexpected {other}"),
            };
            assert_eq!(
                spec.service_account_name.as_deref(),
                Some(account),
                "{dir}: {holder}"
            );
            assert!(
                accounts.contains_key(account),
                "{dir}: {account} not rendered"
            );
            assert_eq!(
                spec.automount_service_account_token,
                Some(token),
                "{dir}: {holder}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Jobs

/// `5m`, `90s`, `4h`, `1h30m` in seconds.
fn seconds(duration: &str) -> i64 {
    let mut total = 0;
    let mut number = String::new();
    for ch in duration.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit = match ch {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => panic!("duration {duration:?}: unit {ch:?}"),
        };
        total += number.parse::<i64>().expect(duration) * unit;
        number.clear();
    }
    assert!(number.is_empty(), "duration {duration:?} lacks a unit");
    total
}

/// The environment a container starts with, as the kubelet builds it: `envFrom` first, then
/// `env` (which wins). ConfigMaps come from `objects` (a missing optional one adds nothing);
/// `fieldRef`s are resolved from `pod_labels` and the namespace.
fn environment(
    container: &Container,
    objects: &[Value],
    pod_labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let configmap = |name: &str| -> Option<BTreeMap<String, String>> {
        objects
            .iter()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == name)
            .map(|o| typed::<ConfigMap>(o).data.unwrap_or_default())
    };
    let mut env = BTreeMap::new();
    for source in container.env_from.iter().flatten() {
        let cm = source
            .config_map_ref
            .as_ref()
            .expect("only configMapRef in envFrom");
        assert!(source.secret_ref.is_none());
        match configmap(&cm.name) {
            Some(data) => {
                for (k, v) in data {
                    env.insert(
                        format!("{}{k}", source.prefix.clone().unwrap_or_default()),
                        v,
                    );
                }
            }
            None => assert_eq!(
                cm.optional,
                Some(true),
                "ConfigMap {} not rendered",
                cm.name
            ),
        }
    }
    for var in container.env.iter().flatten() {
        let value = if let Some(value) = &var.value {
            value.clone()
        } else {
            let from = var.value_from.as_ref().expect("value or valueFrom");
            let field = &from.field_ref.as_ref().expect("only fieldRef").field_path;
            if field == "metadata.namespace" {
                NAMESPACE.to_owned()
            } else if field == "metadata.name" {
                "spartakus-29188997-x7k2p".to_owned()
            } else if let Some(label) = field
                .strip_prefix("metadata.labels['")
                .and_then(|l| l.strip_suffix("']"))
            {
                pod_labels.get(label).cloned().unwrap_or_default()
            } else {
                panic!("fieldRef {field} not resolved by this test")
            }
        };
        env.insert(var.name.clone(), value);
    }
    env
}

#[test]
fn the_cronjob_reports_daily_with_bounded_retries_and_a_deadline_above_the_reporters() {
    for (dir, objects) in all_renders() {
        let (holder, cronjob) = the_one::<CronJob>(objects, "CronJob");
        let spec = cronjob.spec.unwrap();
        let fields: Vec<&str> = spec.schedule.split_whitespace().collect();
        assert_eq!(
            fields.len(),
            5,
            "{dir}: {holder}: schedule {}",
            spec.schedule
        );
        assert!(
            fields[0].parse::<u32>().is_ok()
                && fields[1].parse::<u32>().is_ok()
                && fields[2..] == ["*", "*", "*"],
            "{dir}: {holder}: once a day at a fixed time, got {}",
            spec.schedule
        );
        assert_eq!(spec.time_zone.as_deref(), Some("Etc/UTC"), "{dir}");
        assert_eq!(spec.concurrency_policy.as_deref(), Some("Forbid"), "{dir}");
        let starting = spec
            .starting_deadline_seconds
            .expect("startingDeadlineSeconds");
        assert!(
            (60..86_400).contains(&starting),
            "{dir}: startingDeadlineSeconds {starting}"
        );
        assert!(
            spec.successful_jobs_history_limit
                .is_some_and(|n| (1..=3).contains(&n))
        );
        assert!(
            spec.failed_jobs_history_limit
                .is_some_and(|n| (1..=5).contains(&n))
        );
        assert_ne!(spec.suspend, Some(true));

        let job = spec.job_template.spec.unwrap();
        assert!(
            job.backoff_limit.is_some_and(|n| (0..=2).contains(&n)),
            "{dir}: backoffLimit"
        );
        assert!(
            job.ttl_seconds_after_finished.is_none(),
            "{dir}: history limits clean up"
        );
        let template = job.template;
        let labels = template
            .metadata
            .clone()
            .unwrap_or_default()
            .labels
            .unwrap_or_default();
        let pod = template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{dir}");
        assert_eq!(pod.containers.len(), 1, "{dir}");
        let container = &pod.containers[0];
        assert_eq!(
            container.command, None,
            "{dir}: the image's entrypoint runs"
        );
        assert_eq!(
            container.args.as_deref(),
            Some(&["report".to_owned()][..]),
            "{dir}"
        );

        // The deadline: each pod (the first and every retry) may wait the whole spread and then
        // run to the reporter's own --timeout.
        let env = environment(container, objects, &labels);
        let timeout = env
            .get("SPARTAKUS_TIMEOUT")
            .map_or(DEFAULT_TIMEOUT_SECONDS, |t| seconds(t));
        let spread = env.get("SPARTAKUS_SPREAD").map_or(0, |t| seconds(t));
        let deadline = job.active_deadline_seconds.expect("activeDeadlineSeconds");
        let pods = i64::from(job.backoff_limit.unwrap()) + 1;
        assert!(
            deadline > pods * (spread + timeout),
            "{dir}: activeDeadlineSeconds {deadline} must exceed {pods} x (spread {spread}s + \
             timeout {timeout}s)"
        );
        // Both are pinned in the container's env, which wins over the ConfigMap.
        let pinned: BTreeSet<&str> = container
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert!(pinned.contains("SPARTAKUS_TIMEOUT") && pinned.contains("SPARTAKUS_SPREAD"));
        // The spread needs the Job's name to tell a scheduled run from a manual one.
        let job_name = container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == "SPARTAKUS_JOB_NAME")
            .and_then(|e| e.value_from.clone())
            .and_then(|f| f.field_ref)
            .map(|f| f.field_path);
        assert_eq!(
            job_name.as_deref(),
            Some("metadata.labels['batch.kubernetes.io/job-name']"),
            "{dir}"
        );
        // The receipt names the pod that made it, and needs the CronJob the Role lets it read.
        let field = |name: &str| {
            let var = container.env.iter().flatten().find(|e| e.name == name);
            var.and_then(|e| e.value_from.clone())
                .and_then(|f| f.field_ref)
                .map(|f| f.field_path)
        };
        assert_eq!(
            field("SPARTAKUS_POD_NAME").as_deref(),
            Some("metadata.name"),
            "{dir}"
        );
        assert_eq!(
            cronjob.metadata.name.as_deref(),
            Some(spartakus::reporter::receipt::CRONJOB),
            "{dir}"
        );
        // Retrying a configuration error (2) or a rejected report (4) cannot help.
        let rules = job.pod_failure_policy.expect("podFailurePolicy").rules;
        let fail_job = rules
            .iter()
            .find(|r| r.action == "FailJob")
            .and_then(|r| r.on_exit_codes.clone())
            .expect("a FailJob rule on exit codes");
        assert_eq!(
            fail_job.container_name.as_deref(),
            Some(container.name.as_str())
        );
        assert_eq!(
            (fail_job.operator.as_str(), fail_job.values),
            ("In", vec![2, 4])
        );

        // The cluster-ID ConfigMap the reporter reads is the one its Role names.
        assert_eq!(
            env.get("SPARTAKUS_CONFIGMAP")
                .map_or("spartakus", String::as_str),
            "spartakus"
        );
    }
}

#[test]
fn the_init_job_runs_init_once_and_ends() {
    for (dir, objects) in all_renders() {
        let (holder, job) = the_one::<Job>(objects, "Job");
        let spec = job.spec.unwrap();
        assert!(
            spec.backoff_limit.is_some_and(|n| (0..=3).contains(&n)),
            "{dir}: {holder}"
        );
        assert!(
            spec.active_deadline_seconds
                .is_some_and(|s| (60..=3600).contains(&s)),
            "{dir}: {holder}: activeDeadlineSeconds"
        );
        // Deliberately kept: see manifests/init-job.yaml.
        assert_eq!(spec.ttl_seconds_after_finished, None, "{dir}: {holder}");
        let pod = spec.template.spec.unwrap();
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"), "{dir}");
        assert_eq!(pod.containers.len(), 1);
        assert_eq!(pod.containers[0].command, None);
        assert_eq!(
            pod.containers[0].args.as_deref(),
            Some(&["init".to_owned()][..])
        );
        let rules = spec.pod_failure_policy.expect("podFailurePolicy").rules;
        for rule in &rules {
            if let Some(codes) = &rule.on_exit_codes {
                assert_eq!(
                    codes.container_name.as_deref(),
                    Some(pod.containers[0].name.as_str())
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Re-applying

fn init_job_name(objects: &[Value]) -> String {
    let (_, job) = the_one::<Job>(objects, "Job");
    job.metadata.name.unwrap()
}

#[test]
fn the_init_job_is_named_by_a_hash_of_its_content() {
    let name = init_job_name(rendered(INSTALL));
    let hash = name
        .strip_prefix("spartakus-init-")
        .unwrap_or_else(|| panic!("{name}: kustomize did not add a hash suffix"));
    assert!(
        hash.len() == 10 && hash.chars().all(|c| c.is_ascii_alphanumeric()),
        "{name}"
    );
    // kustomize consumed its marker annotation.
    for (dir, objects) in all_renders() {
        let text = serde_json::to_string(objects).unwrap();
        assert!(!text.contains("internal.config.kubernetes.io"), "{dir}");
    }
    // Rendering is deterministic: re-applying unchanged manifests changes nothing.
    assert_eq!(render(&repo().join(INSTALL)), rendered(INSTALL));
}

#[test]
fn reapplying_with_a_new_image_creates_a_new_init_job_and_mutates_only_mutable_fields() {
    let before = rendered(INSTALL);
    // tests/manifests/new-image: the install with `images:` set to another name and tag.
    let after = render(&repo().join("tests/manifests/new-image"));
    let c = changes(before, &after);
    let old_job = format!("Job/{NAMESPACE}/{}", init_job_name(before));
    let new_job = format!("Job/{NAMESPACE}/{}", init_job_name(&after));
    assert_ne!(old_job, new_job, "the init Job must get a new name");
    // kubectl apply creates the new Job; the old one is left, finished, and is not patched.
    assert_eq!(c.added, BTreeSet::from([new_job]));
    assert_eq!(c.removed, BTreeSet::from([old_job]));
    // Everything else of the same name is patched in place: only the CronJob's pod template,
    // which is mutable (it applies to the next Job), and only its image.
    let expected_path = "/spec/jobTemplate/spec/template/spec/containers/0/image";
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("CronJob/{NAMESPACE}/spartakus"),
            vec![expected_path.to_owned()]
        )])
    );
    let cronjob = by_id(&after)[&format!("CronJob/{NAMESPACE}/spartakus")];
    assert_eq!(
        cronjob.pointer(expected_path).and_then(Value::as_str),
        Some("registry.internal/mirror/spartakus:9.9.9")
    );
    // The endpoint overlay leaves the Job alone: same name, no new init run.
    assert_eq!(
        init_job_name(rendered("overlays/custom-endpoint")),
        init_job_name(before)
    );
}

// ---------------------------------------------------------------------------------------------
// Endpoint and overlays

fn endpoint(objects: &[Value]) -> String {
    let cm = by_id(objects)[&format!("ConfigMap/{NAMESPACE}/spartakus-config")];
    cm["data"]["SPARTAKUS_ENDPOINT"]
        .as_str()
        .expect("SPARTAKUS_ENDPOINT in spartakus-config")
        .to_owned()
}

#[test]
fn the_install_endpoint_is_a_placeholder_that_cannot_resolve() {
    assert_eq!(endpoint(rendered(INSTALL)), PLACEHOLDER_ENDPOINT);
    // RFC 2606 reserves `.example`: no report can leave the cluster before it is set.
    let host = PLACEHOLDER_ENDPOINT
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap();
    assert!(host.ends_with(".example"), "{host}");
}

#[test]
fn the_custom_endpoint_overlay_changes_the_endpoint_and_nothing_else() {
    let overlay = rendered("overlays/custom-endpoint");
    let c = changes(rendered(INSTALL), overlay);
    assert!(
        c.added.is_empty() && c.removed.is_empty(),
        "{:?} {:?}",
        c.added,
        c.removed
    );
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_ENDPOINT".to_owned()]
        )])
    );
    assert!(endpoint(overlay).starts_with("https://"));
}

#[test]
fn the_install_docs_show_the_endpoint_overlay_in_full() {
    let overlay =
        std::fs::read_to_string(repo().join("overlays/custom-endpoint/kustomization.yaml"))
            .unwrap();
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    assert!(
        text.contains("overlays/custom-endpoint"),
        "README.md must name the endpoint overlay's path"
    );
    assert!(
        text.contains(overlay.trim_end()),
        "README.md names overlays/custom-endpoint but does not show its kustomization.yaml as it is"
    );
    assert!(
        text.contains(PLACEHOLDER_ENDPOINT),
        "README.md must name the placeholder endpoint"
    );
}

#[test]
fn the_self_hosted_overlay_adds_a_collector_and_points_the_reporter_at_it() {
    let objects = rendered("overlays/self-hosted");
    let c = changes(rendered(INSTALL), objects);
    assert!(c.removed.is_empty(), "{:?}", c.removed);
    assert_eq!(
        c.added,
        set(&[
            "Deployment/spartakus/spartakus-collector",
            "PersistentVolumeClaim/spartakus/spartakus-collector",
            "Service/spartakus/spartakus-collector",
            "ServiceAccount/spartakus/spartakus-collector",
        ])
    );
    assert_eq!(
        c.changed,
        BTreeMap::from([(
            format!("ConfigMap/{NAMESPACE}/spartakus-config"),
            vec!["/data/SPARTAKUS_ENDPOINT".to_owned()]
        )])
    );
    assert_eq!(endpoint(objects), SELF_HOSTED_ENDPOINT);

    let (_, service) = the_one::<Service>(objects, "Service");
    let (_, deployment) = the_one::<Deployment>(objects, "Deployment");
    let (_, claim) = the_one::<PersistentVolumeClaim>(objects, "PersistentVolumeClaim");

    // The endpoint's host is this Service, on its port 80.
    let service_name = service.metadata.name.clone().unwrap();
    assert_eq!(
        SELF_HOSTED_ENDPOINT,
        format!("http://{service_name}.{NAMESPACE}.svc/api/v1")
    );
    let service_spec = service.spec.unwrap();
    let ports = service_spec.ports.unwrap();
    assert_eq!(ports.len(), 1);
    assert_eq!(ports[0].port, 80);

    // SQLite has one writer: one replica, replaced by stopping the old pod first.
    let spec = deployment.spec.unwrap();
    assert_eq!(spec.replicas, Some(1));
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("Recreate")
    );
    let template = spec.template;
    let pod_labels = template.metadata.unwrap().labels.unwrap();
    let selector = spec.selector.match_labels.unwrap();
    for (k, v) in service_spec
        .selector
        .as_ref()
        .unwrap()
        .iter()
        .chain(&selector)
    {
        assert_eq!(
            pod_labels.get(k),
            Some(v),
            "selector {k}={v} does not match the pod"
        );
    }
    let pod = template.spec.unwrap();
    let container = &pod.containers[0];
    let container_port = container.ports.as_ref().unwrap()[0].clone();
    assert_eq!(container_port.container_port, 8080);
    let target = ports[0].target_port.clone().unwrap();
    assert!(
        target == IntOrString::Int(8080)
            || Some(&target)
                == container_port
                    .name
                    .clone()
                    .map(IntOrString::String)
                    .as_ref(),
        "the Service's targetPort {target:?} is not the container's port"
    );
    let args = container.args.clone().unwrap();
    let flag = |name: &str| {
        let at = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("{name}"));
        args[at + 1].clone()
    };
    assert_eq!(args[0], "collect");
    assert_eq!(flag("--listen"), "0.0.0.0:8080");
    let store = flag("--store");

    // Probes: live on /healthz, ready on /readyz, on the container's port.
    for (probe, path) in [
        (container.liveness_probe.clone(), "/healthz"),
        (container.readiness_probe.clone(), "/readyz"),
    ] {
        let get = probe.and_then(|p| p.http_get).expect("an HTTP probe");
        assert_eq!(get.path.as_deref(), Some(path));
        assert!(
            get.port == IntOrString::Int(8080)
                || Some(&get.port)
                    == container_port
                        .name
                        .clone()
                        .map(IntOrString::String)
                        .as_ref()
        );
    }

    // The store is on the claim.
    let data = pod
        .volumes
        .unwrap()
        .into_iter()
        .find(|v| v.persistent_volume_claim.is_some())
        .expect("a PVC volume");
    assert_eq!(
        data.persistent_volume_claim.unwrap().claim_name,
        claim.metadata.name.unwrap()
    );
    let mount = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == data.name)
        .expect("the PVC is mounted");
    assert_eq!(mount.mount_path, "/data");
    assert!(
        store.starts_with("/data/"),
        "--store {store} is not on the volume"
    );
    assert_eq!(
        pod.security_context.and_then(|s| s.fs_group),
        Some(UID),
        "the volume must be writable by the collector's group"
    );
}

/// The PostgreSQL variant: no volume, several replicas rolled one at a time, and the store's URL
/// (a password in it) from a Secret, never a flag.
#[test]
fn the_postgres_overlay_runs_replicas_on_a_database_from_a_secret() {
    let objects = rendered("overlays/self-hosted-postgres");
    let c = changes(rendered("overlays/self-hosted"), objects);
    assert_eq!(
        c.removed,
        set(&["PersistentVolumeClaim/spartakus/spartakus-collector"])
    );
    assert!(c.added.is_empty(), "{:?}", c.added);
    assert_eq!(c.changed.len(), 1, "only the Deployment: {:?}", c.changed);
    let (_, deployment) = the_one::<Deployment>(objects, "Deployment");
    let spec = deployment.spec.unwrap();
    assert!(spec.replicas.unwrap_or(1) >= 2);
    assert_eq!(
        spec.strategy.and_then(|s| s.type_).as_deref(),
        Some("RollingUpdate")
    );
    let pod = spec.template.spec.unwrap();
    assert!(
        pod.volumes
            .iter()
            .flatten()
            .all(|v| v.persistent_volume_claim.is_none()),
        "no volume claim"
    );
    let container = &pod.containers[0];
    let args = container.args.clone().unwrap_or_default();
    assert!(!args.iter().any(|a| a == "--store"), "{args:?}");
    let store = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "SPARTAKUS_STORE")
        .expect("SPARTAKUS_STORE");
    assert!(store.value.is_none());
    let secret = store
        .value_from
        .as_ref()
        .and_then(|v| v.secret_key_ref.as_ref())
        .expect("SPARTAKUS_STORE from a Secret");
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("spartakus-collector-store", "url")
    );
}

#[test]
fn the_collector_drains_within_its_termination_grace_period() {
    let objects = rendered("overlays/self-hosted");
    let (holder, deployment) = the_one::<Deployment>(objects, "Deployment");
    let pod = deployment.spec.unwrap().template.spec.unwrap();
    // Stated, not left to the API server's default (also 30 s), so that the drain below is
    // checked against the number the cluster uses.
    let grace_period = pod
        .termination_grace_period_seconds
        .unwrap_or_else(|| panic!("{holder}: terminationGracePeriodSeconds is not stated"));
    let container = &pod.containers[0];
    let env = environment(container, objects, &BTreeMap::new());
    // The flag wins over the variable.
    let flag = container
        .args
        .iter()
        .flatten()
        .collect::<Vec<_>>()
        .windows(2)
        .find(|w| w[0] == "--shutdown-grace")
        .map(|w| w[1].clone());
    let drain = flag
        .or_else(|| env.get("SPARTAKUS_SHUTDOWN_GRACE").cloned())
        .map(|d| seconds(&d))
        .unwrap_or_else(|| {
            panic!(
                "{holder}: neither --shutdown-grace nor SPARTAKUS_SHUTDOWN_GRACE is set: state \
                 the collector's drain after SIGTERM (its default is 25s) next to the grace \
                 period"
            )
        });
    assert!(
        drain < grace_period,
        "{holder}: the collector drains for up to {drain}s after SIGTERM, but is killed after \
         terminationGracePeriodSeconds {grace_period}s"
    );
}

// ---------------------------------------------------------------------------------------------
// Which overlays are the project's

/// `overlays/<name>` for each `overlays/<name>/kustomization.yaml` that git tracks in the checkout
/// at `root`; `None` where git cannot tell (no git, or not a checkout, as in a source archive).
/// A directory a user made and did not commit is not tracked, so it is never among them.
fn tracked_overlays(root: &Path) -> Option<BTreeSet<String>> {
    let out = Command::new("git")
        .args(["ls-files", "-z", "--", "overlays"])
        .current_dir(root)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let paths = String::from_utf8(out.stdout).expect("git prints UTF-8 paths here");
    Some(
        paths
            .split('\0')
            .filter_map(|path| path.strip_suffix("/kustomization.yaml"))
            .filter(|dir| dir.matches('/').count() == 1)
            .map(str::to_owned)
            .collect(),
    )
}

/// How `listed` (the overlays these tests check) and `shipped` (the overlays git tracks) differ.
fn overlay_list_problems(listed: &[&str], shipped: &BTreeSet<String>) -> Vec<String> {
    let listed: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    let mut problems: Vec<String> = shipped
        .difference(&listed)
        .map(|dir| {
            format!(
                "{dir} is committed but not in OVERLAYS, so nothing checks it: add it there if \
                 it is one of the project's overlays (a user's own overlay belongs outside \
                 overlays/, see README)"
            )
        })
        .collect();
    problems.extend(listed.difference(shipped).map(|dir| {
        format!("{dir} is in OVERLAYS but git does not track {dir}/kustomization.yaml")
    }));
    problems
}

#[test]
fn the_listed_overlays_are_the_ones_the_project_ships() {
    for dir in OVERLAYS {
        assert!(
            repo().join(dir).join("kustomization.yaml").is_file(),
            "{dir}/kustomization.yaml is missing"
        );
    }
    match tracked_overlays(&repo()) {
        Some(shipped) => {
            let problems = overlay_list_problems(&OVERLAYS, &shipped);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
        }
        None => eprintln!("not a git checkout: the overlays git tracks cannot be compared"),
    }
}

/// A user who follows the README and adds `overlays/my-cluster/` (own image, own endpoint) must
/// still see `cargo test` pass. Proven on a scratch git checkout, not on this one, so that no
/// test ever writes into overlays/ while others render it.
#[test]
fn a_users_own_overlay_under_overlays_is_ignored() {
    let scratch = TempDir::new("user-overlay");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(scratch.path())
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
    };
    match git(&["init", "--quiet"]) {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("git init: {}", String::from_utf8_lossy(&out.stderr)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("git is not on PATH: skipped");
            return;
        }
        Err(e) => panic!("running git: {e}"),
    }
    for dir in OVERLAYS.iter().copied().chain(["overlays/my-cluster"]) {
        std::fs::create_dir_all(scratch.join(dir)).unwrap();
        // The user's overlay runs another image, which the checks of the project's would refuse.
        std::fs::write(
            scratch.join(dir).join("kustomization.yaml"),
            "images:\n  - name: ghcr.io/spartakus/spartakus\n    newTag: mine\n",
        )
        .unwrap();
    }
    for dir in OVERLAYS {
        let out = git(&["add", &format!("{dir}/kustomization.yaml")]).unwrap();
        assert!(
            out.status.success(),
            "git add: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shipped = tracked_overlays(scratch.path()).expect("a git checkout");
    assert_eq!(shipped, OVERLAYS.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        overlay_list_problems(&OVERLAYS, &shipped),
        Vec::<String>::new()
    );

    // The other way round: a project overlay left out of the list, or listed but not shipped.
    let mut more = shipped.clone();
    more.insert("overlays/new-example".into());
    let problems = overlay_list_problems(&OVERLAYS, &more);
    assert!(
        problems.len() == 1 && problems[0].starts_with("overlays/new-example is committed"),
        "{problems:?}"
    );
    let problems = overlay_list_problems(&OVERLAYS, &BTreeSet::new());
    assert_eq!(problems.len(), OVERLAYS.len(), "{problems:?}");
}

// ---------------------------------------------------------------------------------------------
// The rendered containers, run as they are

use crate::support;

use support::apiserver::ApiServer;
use support::collector::Collector;
use support::util::TempDir;

/// The one container of `template`, as the kubelet would start it, but with this build's binary
/// for the image's entrypoint `/spartakus`: the rendered args; the rendered environment (see
/// [`environment`]) with the pod's labels; each volume as a directory under `scratch` (a
/// ConfigMap volume holds the rendered ConfigMap's keys as files, or nothing if it is optional
/// and absent), paths in the environment under a mount moved with it; and, instead of the
/// in-cluster service account, KUBECONFIG for the stand-in API server with the pod's namespace.
/// Nothing else of this machine's environment but PATH.
fn container_command(
    template: &PodTemplateSpec,
    objects: &[Value],
    job_name: &str,
    api: &ApiServer,
    scratch: &Path,
) -> Command {
    let spec = template.spec.clone().unwrap();
    assert_eq!(spec.containers.len(), 1);
    let container = &spec.containers[0];
    assert_eq!(container.command, None, "the image's entrypoint runs");
    let mut labels = template
        .metadata
        .clone()
        .and_then(|m| m.labels)
        .unwrap_or_default();
    labels.insert("batch.kubernetes.io/job-name".into(), job_name.into());
    let mut env = environment(container, objects, &labels);

    for mount in container.volume_mounts.iter().flatten() {
        let volume = spec
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mount.name)
            .expect("the mounted volume");
        let dir = scratch.join("volumes").join(&volume.name);
        std::fs::create_dir_all(&dir).unwrap();
        if let Some(cm) = &volume.config_map {
            let rendered = objects
                .iter()
                .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == cm.name);
            match rendered {
                Some(obj) => {
                    for (key, value) in typed::<ConfigMap>(obj).data.unwrap_or_default() {
                        std::fs::write(dir.join(key), value).unwrap();
                    }
                }
                None => assert_eq!(
                    cm.optional,
                    Some(true),
                    "ConfigMap {} not rendered",
                    cm.name
                ),
            }
        } else {
            assert!(
                volume.empty_dir.is_some(),
                "volume {} not simulated",
                volume.name
            );
        }
        for value in env.values_mut() {
            if let Some(rest) = value.strip_prefix(&mount.mount_path) {
                *value = format!("{}{rest}", dir.display());
            }
        }
    }

    let home = scratch.join("home");
    let kubeconfig = home.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some(NAMESPACE));
    let mut command = Command::new(env!("CARGO_BIN_EXE_spartakus"));
    command
        .args(container.args.iter().flatten())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("KUBECONFIG", &kubeconfig)
        .envs(&env);
    command
}

fn run(mut command: Command) -> (i32, String, String) {
    let out = command.output().expect("running spartakus");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn template_of(objects: &[Value], kind: &str) -> PodTemplateSpec {
    pod_templates(objects)
        .into_iter()
        .find(|(id, _)| id.starts_with(&format!("{kind}/")))
        .map(|(_, t)| t)
        .unwrap_or_else(|| panic!("no {kind}"))
}

#[test]
fn the_rendered_init_job_and_cronjob_create_the_id_and_deliver_a_report() {
    const NODES: usize = 7;
    let api = ApiServer::with_nodes(NODES);
    let collector = Collector::new();
    let scratch = TempDir::new("manifests-run");

    // The install, with the endpoint set as overlays/custom-endpoint sets it.
    let mut objects = rendered(INSTALL).to_vec();
    let config = objects
        .iter_mut()
        .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "spartakus-config")
        .unwrap();
    config["data"]["SPARTAKUS_ENDPOINT"] = collector.url().into();

    // The init Job creates the ConfigMap and prints the ID; run again (a re-apply), it keeps it.
    let init = template_of(&objects, "Job");
    let job = init_job_name(&objects);
    let (code, stdout, stderr) = run(container_command(
        &init,
        &objects,
        &job,
        &api,
        &scratch.join("init"),
    ));
    assert_eq!(code, 0, "init: {stderr}");
    let id = stdout.trim().to_owned();
    assert_eq!(id.len(), 36, "init printed {stdout:?}");
    let stored = api
        .configmap(NAMESPACE, "spartakus")
        .expect("init created ConfigMap spartakus");
    assert_eq!(stored.get("clusterID"), Some(&id));
    let (code, again, stderr) = run(container_command(
        &init,
        &objects,
        &job,
        &api,
        &scratch.join("init-again"),
    ));
    assert_eq!(
        (code, again.trim()),
        (0, id.as_str()),
        "init again: {stderr}"
    );

    // A manual run (`kubectl create job --from=cronjob/spartakus spartakus-manual`) reports at
    // once, with the cluster ID from the ConfigMap.
    let report = template_of(&objects, "CronJob");
    let started = std::time::Instant::now();
    let (code, _, stderr) = run(container_command(
        &report,
        &objects,
        "spartakus-manual",
        &api,
        &scratch.join("manual"),
    ));
    assert_eq!(code, 0, "report: {stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "a manual run must not wait for the spread"
    );
    let received = collector.requests();
    assert_eq!(received.len(), 1, "{stderr}");
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/api/v1");
    let sent = received[0].report();
    assert_eq!(sent.cluster_id, id);
    assert_eq!(sent.nodes.len(), NODES);

    // A scheduled run (the CronJob's Job is named `spartakus-<minutes since the epoch>`) waits
    // its cluster's delay first. When that delay is long enough to see, watch it wait.
    let spread = Duration::from_secs(seconds(
        &environment(
            &report.spec.clone().unwrap().containers[0],
            &objects,
            &BTreeMap::new(),
        )["SPARTAKUS_SPREAD"],
    ) as u64);
    // The wait counts from the scheduled minute, so up to 60 s of the delay may be gone already.
    if spartakus::reporter::spread::delay(&id, spread) > Duration::from_secs(90) {
        let minutes = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            / 60;
        let mut command = container_command(
            &report,
            &objects,
            &format!("spartakus-{minutes}"),
            &api,
            &scratch.join("scheduled"),
        );
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("running spartakus");
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            child.try_wait().unwrap().is_none(),
            "a scheduled run ended instead of waiting"
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(collector.request_count(), 1, "a scheduled run sent at once");
    }
}

/// A stand-in API server that forbids the reporter every list of a workload kind its rendered
/// RBAC does not grant.
fn api_as_rbac_allows(objects: &[Value], nodes: usize) -> ApiServer {
    let granted = &permissions(objects)["spartakus/spartakus-reporter"];
    let mut config = support::apiserver::Config::default().with_nodes(nodes);
    for resource in support::objects::Resource::ALL {
        let what = match resource.group() {
            "" => resource.plural().to_owned(),
            group => format!("{group}/{}", resource.plural()),
        };
        if !granted.contains(&format!("cluster: {what} list")) {
            config = config.with_forbidden(resource.plural(), "list");
        }
    }
    ApiServer::start(config)
}

/// The rendered CronJob of the workload-stats overlay, run against a stand-in that allows just
/// what the rendered RBAC grants, sends every kind of the statistics; the default install's,
/// with the same stand-in rules, lists none of them and sends none.
#[test]
fn the_rendered_workload_stats_overlay_reports_every_kind_it_is_granted() {
    for (dir, expect_stats) in [(WORKLOAD_STATS, true), (INSTALL, false)] {
        let mut objects = rendered(dir).to_vec();
        let api = api_as_rbac_allows(&objects, 3);
        api.insert_configmap(NAMESPACE, "spartakus", [("clusterID", "c0ffee00-1")]);
        let collector = Collector::new();
        let config = objects
            .iter_mut()
            .find(|o| o["kind"] == "ConfigMap" && o["metadata"]["name"] == "spartakus-config")
            .unwrap();
        config["data"]["SPARTAKUS_ENDPOINT"] = collector.url().into();
        let scratch = TempDir::new("manifests-workloads");
        let template = template_of(&objects, "CronJob");
        let command = container_command(
            &template,
            &objects,
            "spartakus-manual",
            &api,
            scratch.path(),
        );
        let (code, _, stderr) = run(command);
        assert_eq!(code, 0, "{dir}: {stderr}");
        let sent = collector.requests()[0].report();
        assert_eq!(sent.nodes.len(), 3, "{dir}");
        let listed: usize = support::objects::Resource::ALL
            .iter()
            .map(|r| api.requests_of(r.plural()).len())
            .sum();
        match sent.workloads {
            Some(w) => {
                assert!(expect_stats, "{dir}: {w:?}");
                for kind in spartakus::contract::ObjectKind::ALL {
                    assert!(w.get(kind).is_some(), "{dir}: {kind:?} left out: {stderr}");
                }
                assert!(!stderr.contains("left out"), "{dir}: {stderr}");
            }
            None => {
                assert!(!expect_stats, "{dir}: no statistics: {stderr}");
                assert_eq!(listed, 0, "{dir}: nothing but nodes is listed");
            }
        }
    }
}
