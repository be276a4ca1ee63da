//! Node `index` as a `k8s_openapi` Node: the shape's parts (see `shapes`) plus what every node
//! has: the kubelet's labels, resources, conditions, images and managedFields.

use super::shapes::{self, Ctx, Parts};
use super::tables::{self, ACME_APPS, Machine, TEAMS, THIRD_PARTY, Table};
use super::{COMPANY_RESOURCE, SHAPES, Shape, h, node_uid, shape};
use crate::support::util::{base36, fnv, pick, splitmix, timestamp, uuid_from};
use k8s_openapi::api::core::v1::{
    AttachedVolume, ContainerImage, DaemonEndpoint, Node, NodeAddress, NodeCondition,
    NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    FieldsV1, ManagedFieldsEntry, ObjectMeta, Time,
};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::OnceLock;

/// A generated node and the identifying strings planted in it that are not plain fields.
pub struct Generated {
    pub node: Node,
    pub secrets: Vec<String>,
}

/// Resource quantities by name.
type Quantities = BTreeMap<String, Quantity>;

/// (type, status, reason, message)
type Condition = (&'static str, &'static str, &'static str, &'static str);

const KUBELET_CONDITIONS: [Condition; 4] = [
    (
        "MemoryPressure",
        "False",
        "KubeletHasSufficientMemory",
        "kubelet has sufficient memory available",
    ),
    (
        "DiskPressure",
        "False",
        "KubeletHasNoDiskPressure",
        "kubelet has no disk pressure",
    ),
    (
        "PIDPressure",
        "False",
        "KubeletHasSufficientPID",
        "kubelet has sufficient PID available",
    ),
    (
        "Ready",
        "True",
        "KubeletReady",
        "kubelet is posting ready status",
    ),
];

/// node-problem-detector's, as GKE runs it.
const PROBLEM_DETECTOR_CONDITIONS: [Condition; 2] = [
    (
        "FrequentContainerdRestart",
        "False",
        "NoFrequentContainerdRestart",
        "containerd is functioning properly",
    ),
    (
        "KernelDeadlock",
        "False",
        "KernelHasNoDeadlock",
        "kernel has no deadlock",
    ),
];

/// The values shapes share for node `index`.
fn context(index: usize) -> Ctx {
    let ip = u32::from_be_bytes([10, 213, 0, 4]).wrapping_add(index as u32);
    let [_, _, c, d] = ip.to_be_bytes();
    let pod_cidr = u32::from_be_bytes([100, 96, 0, 0]).wrapping_add((index as u32) << 8);
    let team = *pick(TEAMS, h(index, 30));
    Ctx {
        index,
        n: index / SHAPES.len(),
        shape: shape(index),
        ip: Ipv4Addr::from(ip).to_string(),
        c,
        d,
        pod_cidr: format!("{}/24", Ipv4Addr::from(pod_cidr)),
        team,
    }
}

/// Node `index`, complete.
pub fn generate(index: usize) -> Generated {
    let x = context(index);
    let mut p = shapes::parts(&x);
    let table = tables::table(x.shape);
    common_labels(&x, &mut p, table.os);
    let created = 1_735_689_600 + h(index, 32) % (180 * 86_400);
    let heartbeat = Time(timestamp(1_751_371_200 + created % 3_600));
    let created = Time(timestamp(created));
    let conditions = conditions(p.extra_conditions, index % 97 != 96);
    let status = status(&x, &p, table, &conditions, &heartbeat, &created);
    let cidr = p.pod_cidr.then(|| x.pod_cidr.clone());
    let spec = NodeSpec {
        pod_cidr: cidr.clone(),
        pod_cidrs: cidr.clone().map(|c| vec![c]),
        provider_id: p.provider_id.clone(),
        taints: (!p.taints.is_empty()).then(|| p.taints.iter().map(taint).collect()),
        ..NodeSpec::default()
    };
    let times = (&created, &heartbeat);
    let managed = managed_fields(&p, &spec, &status, times, &conditions);
    let metadata = ObjectMeta {
        name: Some(std::mem::take(&mut p.name)),
        uid: Some(node_uid(index)),
        resource_version: Some((4_000_000 + h(index, 3) % 6_000_000).to_string()),
        creation_timestamp: Some(created),
        labels: Some(std::mem::take(&mut p.labels)),
        annotations: Some(std::mem::take(&mut p.annotations)),
        managed_fields: Some(managed),
        ..ObjectMeta::default()
    };
    let node = Node {
        metadata,
        spec: Some(spec),
        status: Some(status),
    };
    Generated {
        node,
        secrets: p.secrets,
    }
}

/// What the kubelet reports about the machine and its software.
fn node_info(x: &Ctx, p: &Parts, table: &Table) -> NodeSystemInfo {
    let index = x.index;
    let system_uuid = uuid_from(h(index, 42), h(index, 43));
    NodeSystemInfo {
        machine_id: format!("{:016x}{:016x}", h(index, 40), h(index, 41)),
        system_uuid: if x.shape == Shape::Windows {
            system_uuid.to_uppercase()
        } else {
            system_uuid
        },
        boot_id: uuid_from(h(index, 44), h(index, 45)),
        kernel_version: p.kernel.to_string(),
        os_image: table.os_image.to_string(),
        container_runtime_version: table.runtime.to_string(),
        kubelet_version: table.kubelet.to_string(),
        kube_proxy_version: table.kubelet.to_string(),
        operating_system: table.os.to_string(),
        architecture: p.arch.to_string(),
        swap: None,
    }
}

fn status(
    x: &Ctx,
    p: &Parts,
    table: &Table,
    conditions: &[Condition],
    heartbeat: &Time,
    created: &Time,
) -> NodeStatus {
    let m = p.machine;
    let (capacity, allocatable) = resources(
        x.index,
        m,
        table.hugepages,
        p.company_resource,
        table.disk_ki,
    );
    let mut addresses = vec![address("InternalIP", &x.ip)];
    addresses.extend(p.addresses.iter().map(|(kind, a)| address(kind, a)));
    addresses.push(address("Hostname", &p.name));
    let attached = |v: &String| AttachedVolume {
        name: v.clone(),
        device_path: String::new(),
    };
    let volumes = !p.volumes.is_empty();
    NodeStatus {
        conditions: Some(
            conditions
                .iter()
                .map(|c| condition(c, heartbeat, created))
                .collect(),
        ),
        addresses: Some(addresses),
        daemon_endpoints: Some(NodeDaemonEndpoints {
            kubelet_endpoint: Some(DaemonEndpoint { port: 10250 }),
        }),
        node_info: Some(node_info(x, p, table)),
        images: Some(images(x.index, x.shape, table.registry)),
        volumes_in_use: volumes.then(|| p.volumes.clone()),
        volumes_attached: volumes.then(|| p.volumes.iter().map(attached).collect()),
        capacity: Some(capacity),
        allocatable: Some(allocatable),
        ..NodeStatus::default()
    }
}

/// The kubelet's labels, the company's labels and the annotations every node has.
fn common_labels(x: &Ctx, p: &mut Parts, os: &str) {
    let team = format!("team-{}-acme", x.team);
    let cost_center = format!("cc-{}-acme", 4000 + h(x.index, 31) % 900);
    let owner = format!("sre-{}@acme-corp.example", x.team);
    let arch = p.arch;
    let hostname = p.name.clone();
    for (key, value) in [
        ("beta.kubernetes.io/arch", arch),
        ("beta.kubernetes.io/os", os),
        ("kubernetes.io/arch", arch),
        ("kubernetes.io/hostname", &hostname),
        ("kubernetes.io/os", os),
        ("acme-corp.example/team", &team),
        ("acme-corp.example/cost-center", &cost_center),
    ] {
        p.labels.insert(key.to_string(), value.to_string());
    }
    for (key, value) in [
        ("acme-corp.example/owner", owner.as_str()),
        ("node.alpha.kubernetes.io/ttl", "0"),
        (
            "volumes.kubernetes.io/controller-managed-attach-detach",
            "true",
        ),
    ] {
        p.annotations.insert(key.to_string(), value.to_string());
    }
    p.secrets.extend([team, cost_center, owner]);
}

fn address(kind: &str, address: &str) -> NodeAddress {
    NodeAddress {
        type_: kind.to_string(),
        address: address.to_string(),
    }
}

fn taint(&(key, value, effect): &(&str, &str, &str)) -> Taint {
    Taint {
        key: key.to_string(),
        value: (!value.is_empty()).then(|| value.to_string()),
        effect: effect.to_string(),
        time_added: None,
    }
}

fn conditions(problem_detector: bool, ready: bool) -> Vec<Condition> {
    let mut out = Vec::with_capacity(6);
    if problem_detector {
        out.extend(PROBLEM_DETECTOR_CONDITIONS);
    }
    if ready {
        out.extend(KUBELET_CONDITIONS);
    } else {
        let unknown = |(kind, ..): Condition| -> Condition {
            (
                kind,
                "Unknown",
                "NodeStatusUnknown",
                "Kubelet stopped posting node status.",
            )
        };
        out.extend(KUBELET_CONDITIONS.map(unknown));
    }
    out
}

fn condition(
    &(kind, status, reason, message): &Condition,
    heartbeat: &Time,
    created: &Time,
) -> NodeCondition {
    NodeCondition {
        type_: kind.to_string(),
        status: status.to_string(),
        last_heartbeat_time: Some(heartbeat.clone()),
        last_transition_time: Some(created.clone()),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
    }
}

fn digest(repo: &str, tag: &str) -> String {
    let seed = fnv(repo) ^ fnv(tag).rotate_left(17);
    let [a, b, c, d] = [0, 1, 2, 3].map(|k| splitmix(seed ^ k));
    format!("{a:016x}{b:016x}{c:016x}{d:016x}")
}

/// An image as the kubelet lists it: by digest and by tag.
fn image(name: &str, salt: u64) -> ContainerImage {
    let (repo, tag) = name.rsplit_once(':').expect("image with a tag");
    ContainerImage {
        names: Some(vec![
            format!("{repo}@sha256:{}", digest(repo, tag)),
            name.to_string(),
        ]),
        size_bytes: Some((4_000_000 + splitmix(fnv(name) ^ salt) % 900_000_000) as i64),
    }
}

/// The images every node of a shape has, and [`THIRD_PARTY`]'s, made once.
fn shared_images() -> &'static (Vec<Vec<ContainerImage>>, Vec<ContainerImage>) {
    static IMAGES: OnceLock<(Vec<Vec<ContainerImage>>, Vec<ContainerImage>)> = OnceLock::new();
    IMAGES.get_or_init(|| {
        let system = SHAPES.map(|s| tables::table(s).system_images.map(|n| image(n, 0)).to_vec());
        (
            system.to_vec(),
            THIRD_PARTY.iter().map(|n| image(n, 0)).collect(),
        )
    })
}

/// The shape's system images, 18 of [`THIRD_PARTY`] and 10 of the company's own.
fn images(index: usize, shape: Shape, registry: &str) -> Vec<ContainerImage> {
    let (system, third_party) = shared_images();
    let mut out = Vec::with_capacity(36);
    out.extend(system[shape as usize].iter().cloned());
    let start = h(index, 10) as usize;
    out.extend((0..18).map(|k| third_party[(start + k) % third_party.len()].clone()));
    let start = h(index, 11) as usize;
    out.extend((0..10).map(|k| {
        let app = ACME_APPS[(start + k) % ACME_APPS.len()];
        let v = h(index, 12 + k as u64);
        let version = format!("v{}.{}.{}", 1 + v % 4, v / 4 % 30, v / 120 % 12);
        let build = base36(v / 1440 % 46_656, 3);
        image(&format!("{registry}/{app}:{version}-acme.{build}"), 1)
    }));
    out
}

/// Capacity and allocatable for a machine, in the units and spelling the kubelet reports.
fn resources(
    index: usize,
    m: &Machine,
    hugepages: bool,
    company: bool,
    disk_ki: u64,
) -> (Quantities, Quantities) {
    let mem_less = 250_000 + h(index, 20) % 200_000;
    let ki = |less: u64| format!("{}Ki", u64::from(m.gib) * 1_048_576 - less);
    let mut both = vec![("pods", m.pods.to_string(), m.pods.to_string())];
    both.push((
        "cpu",
        m.cpu.to_string(),
        format!("{}m", m.cpu * 1000 - 80 - m.cpu * 10),
    ));
    both.push((
        "ephemeral-storage",
        format!("{disk_ki}Ki"),
        (disk_ki * 1024 / 100 * 90).to_string(),
    ));
    let reserved = mem_less + 1_048_576 + u64::from(m.gib) * 10_000;
    both.push(("memory", ki(mem_less), ki(reserved)));
    if hugepages {
        both.push(("hugepages-1Gi", "0".to_string(), "0".to_string()));
        both.push(("hugepages-2Mi", "0".to_string(), "0".to_string()));
    }
    if m.gpus > 0 {
        both.push(("nvidia.com/gpu", m.gpus.to_string(), m.gpus.to_string()));
    }
    if company {
        both.push((COMPANY_RESOURCE, "2".to_string(), "2".to_string()));
    }
    let (mut capacity, mut allocatable) = (Quantities::new(), Quantities::new());
    for (name, cap, alloc) in both {
        capacity.insert(name.to_string(), Quantity(cap));
        allocatable.insert(name.to_string(), Quantity(alloc));
    }
    (capacity, allocatable)
}

/// `{".":{},"f:a":{},...}`: the fields a manager owns in a map.
fn owned<'a>(keys: impl IntoIterator<Item = &'a String>) -> Value {
    let mut map = Map::new();
    map.insert(".".to_string(), empty());
    for key in keys {
        map.insert(format!("f:{key}"), empty());
    }
    Value::Object(map)
}

fn empty() -> Value {
    Value::Object(Map::new())
}

/// `{"a":{},...}` for field names given with their prefix.
fn leaves(keys: &[&str]) -> Value {
    Value::Object(keys.iter().map(|k| (k.to_string(), empty())).collect())
}

fn entry(manager: &str, time: &Time, subresource: bool, fields: Value) -> ManagedFieldsEntry {
    ManagedFieldsEntry {
        manager: Some(manager.to_string()),
        operation: Some("Update".to_string()),
        api_version: Some("v1".to_string()),
        time: Some(time.clone()),
        fields_type: Some("FieldsV1".to_string()),
        fields_v1: Some(FieldsV1(fields)),
        subresource: subresource.then(|| "status".to_string()),
    }
}

/// Who wrote which fields, as the API server records it.
fn managed_fields(
    p: &Parts,
    spec: &NodeSpec,
    status: &NodeStatus,
    (created, heartbeat): (&Time, &Time),
    conditions: &[Condition],
) -> Vec<ManagedFieldsEntry> {
    // The kubelet registers the node with its own labels; the provider's tooling sets the others.
    let mut metadata = Map::new();
    let annotations = p
        .annotations
        .keys()
        .filter(|k| !k.starts_with("node.alpha"));
    metadata.insert("f:annotations".into(), owned(annotations));
    let labels = p.labels.keys().filter(|k| k.contains("kubernetes.io/"));
    metadata.insert("f:labels".into(), owned(labels));
    let mut registered = Map::from_iter([("f:metadata".to_string(), Value::Object(metadata))]);
    if spec.provider_id.is_some() {
        registered.insert("f:spec".into(), serde_json::json!({"f:providerID": {}}));
    }
    let mut out = vec![entry("kubelet", created, false, Value::Object(registered))];

    let mut controller = serde_json::json!({"f:metadata": {"f:annotations": {"f:node.alpha.kubernetes.io/ttl": {}}}});
    if let Some(cidr) = &spec.pod_cidr {
        let cidrs = leaves(&[".", &format!("v:\"{cidr}\"")]);
        controller["f:spec"] = serde_json::json!({"f:podCIDR": {}, "f:podCIDRs": cidrs});
    }
    out.push(entry("kube-controller-manager", created, false, controller));

    if let Some(manager) = p.cloud_manager {
        let one = || leaves(&[".", "f:address", "f:type"]);
        let addresses = status
            .addresses
            .iter()
            .flatten()
            .map(|a| (keyed(&a.type_), one()));
        let addresses = Value::Object(addresses.collect());
        let fields = serde_json::json!({"f:status": {"f:addresses": addresses}});
        out.push(entry(manager, created, true, fields));
    }
    out.push(entry(
        "kubelet",
        heartbeat,
        true,
        kubelet_status(status, conditions),
    ));
    out
}

/// `k:{"type":"Ready"}`: an element of a list keyed by type.
fn keyed(kind: &str) -> String {
    format!("k:{{\"type\":\"{kind}\"}}")
}

/// The status fields the kubelet keeps up to date.
fn kubelet_status(status: &NodeStatus, conditions: &[Condition]) -> Value {
    let kubelet = conditions
        .iter()
        .filter(|c| KUBELET_CONDITIONS.iter().any(|k| k.0 == c.0));
    let per_condition = [
        "f:lastHeartbeatTime",
        "f:lastTransitionTime",
        "f:message",
        "f:reason",
        "f:status",
    ];
    let conditions = kubelet.map(|c| (keyed(c.0), leaves(&per_condition)));
    let node_info = [
        "f:bootID",
        "f:containerRuntimeVersion",
        "f:kernelVersion",
        "f:kubeProxyVersion",
        "f:kubeletVersion",
        "f:machineID",
        "f:osImage",
        "f:systemUUID",
    ];
    let names =
        |q: &Option<Quantities>| owned(q.iter().flatten().map(|(k, _)| k).collect::<Vec<_>>());
    let mut fields = Map::new();
    fields.insert("f:allocatable".into(), names(&status.allocatable));
    fields.insert("f:capacity".into(), names(&status.capacity));
    fields.insert("f:conditions".into(), Value::Object(conditions.collect()));
    fields.insert("f:images".into(), empty());
    fields.insert("f:nodeInfo".into(), leaves(&node_info));
    if status.volumes_in_use.is_some() {
        fields.insert("f:volumesAttached".into(), empty());
        fields.insert("f:volumesInUse".into(), empty());
    }
    Value::Object(Map::from_iter([(
        "f:status".to_string(),
        Value::Object(fields),
    )]))
}
