//! The metadata of generated objects: names, labels, annotations, owner references and
//! managedFields as the controllers, Helm and kubectl that made them would have written them.

use super::{Layout, Resource, Spot, hash};
use crate::support::util::{base36, fnv, pick, timestamp, uuid_from};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, OwnerReference, Time,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The company's applications; every namespace but kube-system runs them.
const APPS: &[&str] = &[
    "acme-ledger-api",
    "acme-card-gateway",
    "acme-indexer",
    "acme-query-frontend",
    "acme-invoice-worker",
    "acme-sso-bridge",
    "acme-etl-runner",
    "acme-storefront",
    "acme-fraud-scorer",
    "acme-backup-agent",
    "acme-mailer",
    "acme-stock-sync",
    "acme-redis",
    "acme-postgres",
    "acme-kafka",
];
const SYSTEM_APPS: &[&str] = &[
    "coredns",
    "kube-proxy",
    "metrics-server",
    "ebs-csi-node",
    "aws-node",
    "konnectivity-agent",
];

/// Who owns an object (its controller).
#[derive(Clone)]
pub struct Owner {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub uid: String,
}

/// An object's identity and metadata, before it becomes an `ObjectMeta`.
#[derive(Clone)]
pub struct Described {
    pub name: String,
    pub app: &'static str,
    pub generate_name: Option<String>,
    pub owner: Option<Owner>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub uid: String,
    pub created: u64,
}

/// A 5-character suffix unique within the namespace (a bijection of `local` modulo 36^5).
fn suffix(s: &Spot, local: usize) -> String {
    let n = (local as u64 * 2_654_435_761 + s.ns_h(9)) % 60_466_176;
    base36(n, 5)
}

fn owner(s: &Spot, api_version: &'static str, kind: &'static str, name: String) -> Owner {
    let seed = fnv(&name) ^ s.ns_seed.rotate_left(29);
    let uid = uuid_from(hash(seed, 1), hash(seed, 2));
    Owner {
        api_version,
        kind,
        name,
        uid,
    }
}

/// The UID of object `g` of `resource`: unique, as the last 48 bits are a bijection of both.
fn uid(s: &Spot) -> String {
    let unique = ((s.resource as u64) << 40 | s.g as u64).wrapping_mul(0x9e37_79b9_7f4b);
    uuid_from(
        s.h(1),
        (s.h(2) & 0xffff_0000_0000_0000) | (unique & 0xffff_ffff_ffff),
    )
}

/// Describes object `g` of `resource`.
pub fn describe(layout: &Layout, resource: Resource, g: usize) -> Described {
    let s = layout.spot(resource, g);
    let mut d = Described {
        name: String::new(),
        app: "",
        generate_name: None,
        owner: None,
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        uid: uid(&s),
        created: s.created(),
    };
    if resource == Resource::Namespaces {
        describe_namespace(&s, &mut d);
        return d;
    }
    let apps = if s.namespace == "kube-system" {
        SYSTEM_APPS
    } else {
        APPS
    };
    // Consecutive objects belong to the same application, a few at a time.
    d.app = *pick(apps, s.ns_h(10 + (s.local / 7) as u64));
    let (app, local) = (d.app, s.local);
    d.labels.insert("app.kubernetes.io/name".into(), app.into());
    match resource {
        Resource::Pods => describe_pod(&s, &mut d),
        Resource::Jobs => {
            let cronjob = format!("{app}-nightly");
            d.name = format!("{cronjob}-{}", 28_000_000 + local);
            d.labels
                .insert("batch.kubernetes.io/job-name".into(), d.name.clone());
            d.owner = Some(owner(&s, "batch/v1", "CronJob", cronjob));
        }
        _ => d.name = format!("{app}-{}", suffix(&s, local)),
    }
    if s.h(7).is_multiple_of(2) && resource != Resource::Pods {
        let chart = format!("{app}-{}.{}.0", 1 + s.h(8) % 3, s.h(8) % 10);
        d.labels
            .insert("app.kubernetes.io/managed-by".into(), "Helm".into());
        d.labels.insert("helm.sh/chart".into(), chart);
        d.annotations
            .insert("meta.helm.sh/release-name".into(), app.into());
        let namespace = s.namespace.to_string();
        d.annotations
            .insert("meta.helm.sh/release-namespace".into(), namespace);
    }
    if resource == Resource::Deployments {
        let revision = (1 + s.h(11) % 20).to_string();
        d.annotations
            .insert("deployment.kubernetes.io/revision".into(), revision);
    }
    if app.contains("acme") {
        d.labels.insert(
            "acme-corp.example/team".into(),
            format!("team-{}-acme", s.team),
        );
        if s.h(12).is_multiple_of(2) {
            let owner = format!("sre-{}@acme-corp.example", s.team);
            d.annotations
                .insert("acme-corp.example/owner".into(), owner);
        }
    }
    d
}

fn describe_namespace(s: &Spot, d: &mut Described) {
    d.name = s.namespace.to_string();
    d.labels
        .insert("kubernetes.io/metadata.name".into(), d.name.clone());
    if !d.name.contains("acme") {
        return;
    }
    d.labels.insert(
        "acme-corp.example/team".into(),
        format!("team-{}-acme", s.team),
    );
    let owner = format!("sre-{}@acme-corp.example", s.team);
    d.annotations
        .insert("acme-corp.example/owner".into(), owner);
    if s.ns_h(13).is_multiple_of(2) {
        let applied = format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{{\"annotations\":{{}},\"labels\":{{\"acme-corp.example/team\":\"team-{}-acme\"}},\"name\":\"{}\"}}}}\n",
            s.team, d.name
        );
        let key = "kubectl.kubernetes.io/last-applied-configuration";
        d.annotations.insert(key.into(), applied);
    }
}

/// A pod of a Deployment (through its ReplicaSet), StatefulSet, DaemonSet or Job, or a bare one.
fn describe_pod(s: &Spot, d: &mut Described) {
    let (app, local) = (d.app, s.local);
    let revision = base36(s.ns_h(20 + (local / 7) as u64) % 3_656_158_440_062_976, 10);
    let labels = &mut d.labels;
    let (owner, name, generate) = match s.h(6) % 100 {
        0..=61 => {
            let replica_set = format!("{app}-{revision}");
            labels.insert("pod-template-hash".into(), revision);
            let name = format!("{replica_set}-{}", suffix(s, local));
            let owner = owner(s, "apps/v1", "ReplicaSet", replica_set.clone());
            (Some(owner), name, Some(format!("{replica_set}-")))
        }
        62..=71 => {
            let name = format!("{app}-{local}");
            labels.insert(
                "controller-revision-hash".into(),
                format!("{app}-{revision}"),
            );
            labels.insert("statefulset.kubernetes.io/pod-name".into(), name.clone());
            let owner = owner(s, "apps/v1", "StatefulSet", app.to_string());
            (Some(owner), name, Some(format!("{app}-")))
        }
        72..=85 => {
            labels.insert("controller-revision-hash".into(), revision);
            labels.insert("pod-template-generation".into(), "1".into());
            let owner = owner(s, "apps/v1", "DaemonSet", app.to_string());
            (
                Some(owner),
                format!("{app}-{}", suffix(s, local)),
                Some(format!("{app}-")),
            )
        }
        86..=95 => {
            let job = format!("{app}-nightly-{}", 28_000_000 + s.ns_h(14) % 1_000_000);
            let owner = owner(s, "batch/v1", "Job", job.clone());
            labels.insert(
                "batch.kubernetes.io/controller-uid".into(),
                owner.uid.clone(),
            );
            labels.insert("batch.kubernetes.io/job-name".into(), job.clone());
            labels.insert("job-name".into(), job.clone());
            (
                Some(owner),
                format!("{job}-{}", suffix(s, local)),
                Some(format!("{job}-")),
            )
        }
        _ => (None, format!("{app}-debug-{}", suffix(s, local)), None),
    };
    (d.owner, d.name, d.generate_name) = (owner, name, generate);
    if s.h(15).is_multiple_of(3) {
        d.annotations
            .insert("prometheus.io/scrape".into(), "true".into());
        d.annotations
            .insert("prometheus.io/port".into(), "9090".into());
    }
}

fn empty() -> Value {
    Value::Object(Map::new())
}

/// `{".":{},"f:a":{},...}`
fn owned<'a>(keys: impl Iterator<Item = &'a String>) -> Value {
    let mut map = Map::from_iter([(".".to_string(), empty())]);
    map.extend(keys.map(|k| (format!("f:{k}"), empty())));
    Value::Object(map)
}

fn entry(manager: &str, time: Time, fields: Value, status: bool) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: Some(manager.to_string()),
        operation: Some("Update".to_string()),
        api_version: Some("v1".to_string()),
        time: Some(time),
        fields_type: Some("FieldsV1".to_string()),
        fields_v1: Some(FieldsV1(fields)),
        subresource: status.then(|| "status".to_string()),
    }
}

/// Who wrote which fields: the object's controller, Helm or kubectl; the kubelet for a pod's
/// status.
fn managed_fields(d: &Described, resource: Resource) -> Vec<ManagedFieldsEntry> {
    let time = || Time(timestamp(d.created));
    let manager = match (&d.owner, d.labels.contains_key("helm.sh/chart")) {
        (Some(_), _) => "kube-controller-manager",
        (None, true) => "helm",
        (None, false) => "kubectl-client-side-apply",
    };
    let mut metadata = Map::new();
    metadata.insert("f:labels".into(), owned(d.labels.keys()));
    if !d.annotations.is_empty() {
        metadata.insert("f:annotations".into(), owned(d.annotations.keys()));
    }
    if let Some(owner) = &d.owner {
        let key = format!("k:{{\"uid\":\"{}\"}}", owner.uid);
        let refs = Map::from_iter([(".".to_string(), empty()), (key, empty())]);
        metadata.insert("f:ownerReferences".into(), Value::Object(refs));
    }
    let mut fields = Map::from_iter([("f:metadata".to_string(), Value::Object(metadata))]);
    if resource != Resource::Namespaces {
        fields.insert("f:spec".into(), empty());
    }
    let mut out = vec![entry(manager, time(), Value::Object(fields), false)];
    if resource == Resource::Pods {
        let status = [
            "f:conditions",
            "f:containerStatuses",
            "f:hostIP",
            "f:phase",
            "f:podIP",
            "f:startTime",
        ];
        let status = Map::from_iter(status.map(|k| (k.to_string(), empty())));
        let fields = Map::from_iter([("f:status".to_string(), Value::Object(status))]);
        out.push(entry("kubelet", time(), Value::Object(fields), true));
    }
    out
}

/// The metadata of object `g` of `resource`, as the API server returns it.
pub fn metadata(layout: &Layout, resource: Resource, g: usize) -> ObjectMeta {
    to_meta(describe(layout, resource, g), &layout.spot(resource, g))
}

/// The `ObjectMeta` of a described object.
pub fn to_meta(d: Described, spot: &Spot) -> ObjectMeta {
    let resource = spot.resource;
    let managed = managed_fields(&d, resource);
    let owner_references = d.owner.map(|o| {
        vec![OwnerReference {
            api_version: o.api_version.to_string(),
            kind: o.kind.to_string(),
            name: o.name,
            uid: o.uid,
            controller: Some(true),
            block_owner_deletion: Some(true),
        }]
    });
    ObjectMeta {
        name: Some(d.name),
        generate_name: d.generate_name,
        namespace: (resource != Resource::Namespaces).then(|| spot.namespace.to_string()),
        uid: Some(d.uid),
        resource_version: Some((1_000_000 + spot.h(3) % 3_000_000).to_string()),
        creation_timestamp: Some(Time(timestamp(d.created))),
        labels: Some(d.labels),
        annotations: (!d.annotations.is_empty()).then_some(d.annotations),
        owner_references,
        managed_fields: Some(managed),
        ..ObjectMeta::default()
    }
}

/// The company's names in object `g` (everything with `acme`), its UID and its owner's UID.
pub fn identifying_strings(layout: &Layout, resource: Resource, g: usize) -> Vec<String> {
    let d = describe(layout, resource, g);
    let spot = layout.spot(resource, g);
    let mut out = vec![d.uid, d.name, spot.namespace.to_string()];
    out.extend(d.generate_name);
    if let Some(owner) = d.owner {
        out.extend([owner.name, owner.uid]);
    }
    for (key, value) in d.labels.into_iter().chain(d.annotations) {
        out.extend([key, value]);
    }
    out.retain(|s| s.contains("acme") || s.len() == 36 && s.matches('-').count() == 4);
    out.sort();
    out.dedup();
    out
}
