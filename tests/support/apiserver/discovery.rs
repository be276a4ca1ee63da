//! `/version` and discovery (`/api`, `/apis`, the resource lists) for the resources served, so
//! kubectl finds them.

use super::State;
use super::status::{self, Reply};
use serde_json::{Value, json};

pub fn version(state: &mut State) -> Reply {
    let git = state.config.git_version.clone();
    let numbers: Vec<&str> = git.trim_start_matches('v').split(['.', '-', '+']).collect();
    let major = numbers.first().copied().unwrap_or("1");
    let minor = numbers.get(1).copied().unwrap_or("0");
    let previous = minor
        .parse::<u32>()
        .map(|m| m.saturating_sub(1).to_string());
    Reply::value(
        200,
        &json!({
            "major": major,
            "minor": minor,
            "emulationMajor": major,
            "emulationMinor": minor,
            "minCompatibilityMajor": major,
            "minCompatibilityMinor": previous.unwrap_or_default(),
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

const ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// `(name, singular, namespaced, kind, short names)` of a group version's resources.
type Entry = (
    &'static str,
    &'static str,
    bool,
    &'static str,
    &'static [&'static str],
);

fn resources(group: &str) -> Option<&'static [Entry]> {
    Some(match group {
        "" => &[
            ("configmaps", "configmap", true, "ConfigMap", &["cm"]),
            ("events", "event", true, "Event", &["ev"]),
            ("namespaces", "namespace", false, "Namespace", &["ns"]),
            ("nodes", "node", false, "Node", &["no"]),
            ("pods", "pod", true, "Pod", &["po"]),
            ("services", "service", true, "Service", &["svc"]),
        ],
        "apps" => &[
            ("daemonsets", "daemonset", true, "DaemonSet", &["ds"]),
            ("deployments", "deployment", true, "Deployment", &["deploy"]),
            ("statefulsets", "statefulset", true, "StatefulSet", &["sts"]),
        ],
        "batch" => &[
            ("cronjobs", "cronjob", true, "CronJob", &["cj"]),
            ("jobs", "job", true, "Job", &[]),
        ],
        "events.k8s.io" => &[("events", "event", true, "Event", &["ev"])],
        _ => return None,
    })
}

const GROUPS: [&str; 3] = ["apps", "batch", "events.k8s.io"];

fn group_json(group: &str) -> Value {
    let version = json!({"groupVersion": format!("{group}/v1"), "version": "v1"});
    json!({"name": group, "versions": [version], "preferredVersion": version})
}

fn resource_list(group: &str, entries: &[Entry]) -> Value {
    let group_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let resources: Vec<Value> = entries
        .iter()
        .map(|(name, singular, namespaced, kind, short)| {
            let mut r = json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind, "verbs": ALL});
            if !short.is_empty() {
                r["shortNames"] = json!(short);
            }
            r
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}

/// `/api`, `/apis`, `/api/v1`, `/apis/{group}` and `/apis/{group}/v1`.
pub fn discovery(path: &str, port: u16) -> Reply {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let value = match segments.as_slice() {
        ["api"] => json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{port}")}],
        }),
        ["apis"] => json!({
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": GROUPS.map(group_json),
        }),
        ["api", "v1"] => resource_list("", resources("").expect("core")),
        ["apis", group] if GROUPS.contains(group) => {
            let mut value = group_json(group);
            value["kind"] = json!("APIGroup");
            value["apiVersion"] = json!("v1");
            value
        }
        ["apis", group, "v1"] if GROUPS.contains(group) => {
            resource_list(group, resources(group).expect("a served group"))
        }
        _ => return status::no_such_path(),
    };
    Reply::value(200, &value)
}
