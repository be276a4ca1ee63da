//! Realistic Node objects, generated deterministically from their index so that any number of
//! them can be served page by page without holding them.
//!
//! The shape of node `i` is [`shape`]`(i)`: EKS, GKE, AKS, kind, k3s, OpenShift, Windows and
//! bare metal in turn. Each is a `k8s_openapi` [`Node`] built from the shape's table
//! (`tables`) and its labels and annotations (`shapes`), 10-15 KB of JSON like a real node:
//! about 40 images with two names each, conditions, addresses, labels, annotations and
//! managedFields. Identifying strings are planted on purpose (see [`identifying_strings`]) and
//! all of them contain something a report can never contain (`acme`, unusual IP ranges, cloud
//! instance IDs, random hex...).

mod build;
mod shapes;
mod tables;

use crate::support::util::{splitmix, uuid_from};
use k8s_openapi::api::core::v1::Node;

/// The provider a node looks like it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shape {
    Eks,
    Gke,
    Aks,
    Kind,
    K3s,
    OpenShift,
    Windows,
    BareMetal,
}

/// All shapes, in the order [`shape`] cycles through them.
pub const SHAPES: [Shape; 8] = [
    Shape::Eks,
    Shape::Gke,
    Shape::Aks,
    Shape::Kind,
    Shape::K3s,
    Shape::OpenShift,
    Shape::Windows,
    Shape::BareMetal,
];

/// The shape of node `index`.
pub fn shape(index: usize) -> Shape {
    SHAPES[index % SHAPES.len()]
}

/// The company-specific extended resource some nodes advertise (it names the company).
pub const COMPANY_RESOURCE: &str = "widgets.acme-corp.example/fpga";

/// A hash of the node index and a salt naming what it is for.
fn h(index: usize, salt: u64) -> u64 {
    splitmix(splitmix(index as u64 ^ 0x5eed_0000_0000_0000) ^ salt)
}

/// `metadata.uid` of node `index`: a version-4 UUID whose last 48 bits are a bijection of the
/// index, so every node's UID is different.
pub fn node_uid(index: usize) -> String {
    let low = (index as u64).wrapping_mul(0x9e37_79b9_7f4b) & 0xffff_ffff_ffff;
    uuid_from(h(index, 1), (h(index, 2) & 0xffff_0000_0000_0000) | low)
}

/// Node `index`.
pub fn node(index: usize) -> Node {
    build::generate(index).node
}

/// `metadata.name` of node `index` (unique per index).
pub fn node_name(index: usize) -> String {
    node(index).metadata.name.unwrap_or_default()
}

/// Appends node `index` as it appears in a NodeList's `items` (no `kind`/`apiVersion`).
pub fn write_item(out: &mut Vec<u8>, index: usize) {
    crate::support::util::write_list_item(out, &node(index));
}

/// [`write_item`] for a `String`.
pub fn write_list_item(out: &mut String, index: usize) {
    let mut bytes = std::mem::take(out).into_bytes();
    write_item(&mut bytes, index);
    *out = String::from_utf8(bytes).expect("JSON is UTF-8");
}

/// Node `index` as `GET /api/v1/nodes/{name}` returns it.
pub fn node_json(index: usize) -> String {
    serde_json::to_string(&node(index)).expect("a Node serializes")
}

/// Every string of node `index` that must never appear in an anonymized report: its name, IP
/// addresses, host names, provider ID and instance ID, label and annotation values that name
/// things, the company's label keys, every image name, machineID, systemUUID, bootID, UID, the
/// company-specific resource name and the pod CIDR. None of them is a substring of a value a
/// report may carry (see [`report_values`]).
pub fn identifying_strings(index: usize) -> Vec<String> {
    let build::Generated { node, mut secrets } = build::generate(index);
    let (meta, spec, status) = (
        node.metadata,
        node.spec.unwrap_or_default(),
        node.status.unwrap_or_default(),
    );
    let name = meta.name.unwrap_or_default();
    let info = status.node_info.unwrap_or_default();
    secrets.extend([info.machine_id, info.system_uuid, info.boot_id]);
    secrets.extend(meta.uid);
    secrets.extend(status.addresses.into_iter().flatten().map(|a| a.address));
    secrets.extend(spec.provider_id);
    secrets.extend(spec.pod_cidr);
    secrets.extend(status.volumes_in_use.into_iter().flatten());
    let labels = meta.labels.into_iter().flatten();
    for (key, value) in labels.chain(meta.annotations.into_iter().flatten()) {
        if value.contains(&name) && !value.contains('"') {
            secrets.push(value);
        }
        if key.contains("acme") {
            secrets.push(key);
        }
    }
    if status
        .capacity
        .is_some_and(|c| c.contains_key(COMPANY_RESOURCE))
    {
        secrets.push(COMPANY_RESOURCE.to_string());
    }
    let images = status.images.into_iter().flatten();
    secrets.extend(images.flat_map(|image| image.names.unwrap_or_default()));
    secrets.push(name);
    secrets.sort();
    secrets.dedup();
    secrets
}

/// The values of node `index` that an anonymized report legitimately carries: the node info
/// fields, capacity names and quantities, and the provider scheme.
pub fn report_values(index: usize) -> Vec<String> {
    let node = node(index);
    let status = node.status.unwrap_or_default();
    let i = status.node_info.unwrap_or_default();
    let mut out = vec![
        i.operating_system,
        i.os_image,
        i.kernel_version,
        i.architecture,
        i.container_runtime_version,
        i.kubelet_version,
    ];
    for (name, quantity) in status.capacity.into_iter().flatten() {
        out.extend([name, quantity.0]);
    }
    let provider = node.spec.and_then(|s| s.provider_id);
    if let Some((scheme, _)) = provider.as_ref().and_then(|p| p.split_once("://")) {
        out.push(scheme.to_string());
    }
    out
}
