//! What a Node may become in a report: the pure, anonymizing transform.
//!
//! The reporter reads a few fields of each Node into [`NodeFacts`] and turns them into a report
//! [`Node`] with [`build_node`]: an opaque ID that cannot be reversed, the provider only if it is
//! on [`KNOWN_PROVIDERS`], capacity resources only if their names are on the allowlist
//! ([`is_known_resource`]), everything else counted, never named. Nothing here does I/O.

use super::limits::OTHER_RESOURCES;
use super::{Node, Resource};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// What `cloudProvider` says when the node's provider is not on [`KNOWN_PROVIDERS`].
pub const UNKNOWN_PROVIDER: &str = "unknown";

/// Schemes of `spec.providerID` reported as they are. Each is the scheme a cloud controller
/// manager (or a well-known distribution) writes; anything else is reported as `unknown`, because
/// a home-made scheme could name its owner.
pub const KNOWN_PROVIDERS: &[&str] = &[
    "aws",
    "azure",
    "gce",
    "openstack",
    "vsphere",
    "kind",
    "k3s",
    "rke2",
    "digitalocean",
    "hcloud",
    "linode",
    "oci",
    "ibm",
    "alicloud",
    "tencentcloud",
    "qcloud",
    "huaweicloud",
    "scaleway",
    "vultr",
    "exoscale",
    "equinixmetal",
    "packet",
    "ovhcloud",
    "ionos",
    "upcloud",
    "civo",
    "cloudstack",
    "kubevirt",
    "nutanix",
    "proxmox",
    "harvester",
    "metal3",
    "docker",
    "talos",
];

/// Resource names reported as they are: the core Kubernetes resources and device-plugin
/// resources of hardware vendors. Custom names may carry a company's own domain, so they are only
/// counted (see [`OTHER_RESOURCES`]).
pub(crate) const KNOWN_RESOURCES: &[&str] = &[
    "cpu",
    "memory",
    "pods",
    "ephemeral-storage",
    "storage",
    "alpha.kubernetes.io/nvidia-gpu",
    "nvidia.com/gpu",
    "nvidia.com/gpu.shared",
    "amd.com/gpu",
    "gpu.intel.com/i915",
    "gpu.intel.com/xe",
    "habana.ai/gaudi",
    "vpc.amazonaws.com/efa",
    "google.com/tpu",
];

/// Resource name prefixes reported as they are, when what follows is short and plain (see
/// [`is_known_resource`]): huge pages of any size, attachable volume limits of in-tree drivers,
/// NVIDIA MIG profiles (`nvidia.com/mig-1g.5gb`), AWS Neuron devices (`aws.amazon.com/neuron`,
/// `neuroncore`, `neurondevice`...) and KubeVirt's devices (`devices.kubevirt.io/kvm`, `tun`,
/// `vhost-net`, `sev`...). README.md lists these from [`documented_resources`].
pub(crate) const KNOWN_RESOURCE_PREFIXES: &[&str] = &[
    "hugepages-",
    "attachable-volumes-",
    "nvidia.com/mig-",
    "aws.amazon.com/neuron",
    "devices.kubevirt.io/",
];

/// Prefixes whose bare name (nothing after the prefix) is a resource too.
const BARE_PREFIXES: &[&str] = &["aws.amazon.com/neuron"];

/// The allowlist as README.md shows it: names, then prefixes as `prefix*`.
pub fn documented_resources() -> String {
    KNOWN_RESOURCES
        .iter()
        .map(|n| format!("`{n}`"))
        .chain(KNOWN_RESOURCE_PREFIXES.iter().map(|p| format!("`{p}*`")))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Input: the few fields of a Node the report needs.
// ---------------------------------------------------------------------------------------------

/// The fields of one Node that the report is built from. Deserializing a full Node into this
/// skips everything else (images, labels, addresses...) without allocating for it.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct NodeFacts {
    pub metadata: FactsMetadata,
    pub spec: FactsSpec,
    pub status: FactsStatus,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct FactsMetadata {
    pub uid: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct FactsSpec {
    #[serde(rename = "providerID")]
    pub provider_id: Option<String>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default)]
pub struct FactsStatus {
    #[serde(rename = "nodeInfo")]
    pub node_info: FactsNodeInfo,
    pub capacity: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct FactsNodeInfo {
    pub operating_system: Option<String>,
    pub os_image: Option<String>,
    pub kernel_version: Option<String>,
    pub architecture: Option<String>,
    pub container_runtime_version: Option<String>,
    pub kubelet_version: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The pure transform.
// ---------------------------------------------------------------------------------------------

/// The node's opaque ID: 32 hex characters of SHA-256 over a domain tag, the cluster ID and the
/// node's `metadata.uid`. The UID is a random UUID the API server assigns, so even a collector
/// that knows the cluster ID cannot recover a node name from it, and the same node keeps its ID
/// for its lifetime. Returns `None` without a UID: the name alone is never used.
pub fn node_id(cluster_id: &str, uid: &str) -> Option<String> {
    if uid.is_empty() {
        return None;
    }
    let mut hash = Sha256::new();
    hash.update(b"spartakus.node-id.v1\0");
    hash.update(cluster_id.as_bytes());
    hash.update(b"\0");
    hash.update(uid.as_bytes());
    Some(hex::encode(&hash.finalize()[..16]))
}

/// The cloud provider named by a `spec.providerID`: its scheme when on [`KNOWN_PROVIDERS`], else
/// [`UNKNOWN_PROVIDER`]. Only the scheme is ever looked at; the rest names the instance.
pub fn cloud_provider(provider_id: Option<&str>) -> &'static str {
    let Some(id) = provider_id else {
        return UNKNOWN_PROVIDER;
    };
    let Some((scheme, _)) = id.split_once("://") else {
        return UNKNOWN_PROVIDER;
    };
    KNOWN_PROVIDERS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(scheme))
        .copied()
        .unwrap_or(UNKNOWN_PROVIDER)
}

/// Whether a capacity resource name is reported as it is.
pub fn is_known_resource(name: &str) -> bool {
    KNOWN_RESOURCES.contains(&name)
        || KNOWN_RESOURCE_PREFIXES.iter().any(|prefix| {
            name.strip_prefix(prefix).is_some_and(|rest| {
                (rest.is_empty() && BARE_PREFIXES.contains(prefix))
                    || (!rest.is_empty() && is_plain_suffix(rest))
            })
        })
}

/// A prefix match is only trusted when what follows is short and plain (`2Mi`, `1g.5gb`,
/// `aws-ebs`), so `hugepages-` cannot smuggle a domain through.
fn is_plain_suffix(rest: &str) -> bool {
    rest.len() <= 32
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && !rest.contains("..")
        && rest.matches('.').count() <= 1
}

/// The capacity list of a node: known resources as they are, sorted by name; all other resources
/// become one entry, [`OTHER_RESOURCES`], whose value is how many there were.
pub fn capacity(capacity: Option<&BTreeMap<String, String>>) -> Vec<Resource> {
    let Some(capacity) = capacity else {
        return Vec::new();
    };
    let mut others = 0usize;
    // A BTreeMap iterates in name order, so the known entries come out sorted.
    let mut out: Vec<Resource> = Vec::with_capacity(capacity.len());
    for (name, value) in capacity {
        if is_known_resource(name) {
            out.push(Resource {
                resource: name.clone(),
                value: value.clone(),
            });
        } else {
            others += 1;
        }
    }
    if others > 0 {
        out.push(Resource {
            resource: OTHER_RESOURCES.to_string(),
            value: others.to_string(),
        });
        out.sort();
    }
    out
}

fn non_empty(value: &Option<String>) -> Option<String> {
    value.as_ref().filter(|v| !v.is_empty()).cloned()
}

/// Build the anonymized node entry. `id` comes from [`node_id`], or from the caller when the node
/// had no UID (see [`random_node_id`]).
pub fn build_node(facts: &NodeFacts, id: String) -> Node {
    let info = &facts.status.node_info;
    Node {
        id,
        operating_system: non_empty(&info.operating_system),
        os_image: non_empty(&info.os_image),
        kernel_version: non_empty(&info.kernel_version),
        architecture: non_empty(&info.architecture),
        container_runtime_version: non_empty(&info.container_runtime_version),
        kubelet_version: non_empty(&info.kubelet_version),
        cloud_provider: Some(cloud_provider(facts.spec.provider_id.as_deref()).to_string()),
        capacity: capacity(facts.status.capacity.as_ref()),
    }
}

/// An ID for a node without a UID (never seen from a real API server): random for this run, so
/// it identifies nothing, at the price of not being stable across runs.
pub(crate) fn random_node_id(random: [u8; 16]) -> String {
    hex::encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(json: serde_json::Value) -> NodeFacts {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn empty_node_has_only_id_and_unknown_provider() {
        let node = build_node(&NodeFacts::default(), "ab".repeat(16));
        let json = serde_json::to_value(&node).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": "ab".repeat(16), "cloudProvider": "unknown"})
        );
    }

    #[test]
    fn full_node_keeps_node_info_and_sorts_capacity() {
        let f = facts(serde_json::json!({
            "metadata": {"uid": "7b0f5d8e-1111-4222-8333-944445555666", "name": "ip-10-0-1-2"},
            "spec": {"providerID": "aws:///us-east-1a/i-0123456789abcdef0"},
            "status": {
                "nodeInfo": {
                    "operatingSystem": "linux", "osImage": "Amazon Linux 2023",
                    "kernelVersion": "6.1.0", "architecture": "arm64",
                    "containerRuntimeVersion": "containerd://1.7.11", "kubeletVersion": "v1.33.1",
                    "machineID": "secret-machine", "systemUUID": "secret-uuid", "bootID": "b"
                },
                "capacity": {"pods": "110", "memory": "16Gi", "cpu": "4",
                             "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}
            }
        }));
        let node = build_node(&f, "x".into());
        assert_eq!(node.cloud_provider.as_deref(), Some("aws"));
        assert_eq!(node.architecture.as_deref(), Some("arm64"));
        let names: Vec<&str> = node.capacity.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(
            names,
            [
                "cpu",
                "ephemeral-storage",
                "hugepages-2Mi",
                "memory",
                "pods"
            ]
        );
        assert_eq!(node.capacity[3].value, "16Gi");
    }

    #[test]
    fn empty_strings_are_omitted() {
        let f = facts(
            serde_json::json!({"status": {"nodeInfo": {"osImage": "", "kernelVersion": "5.15"}}}),
        );
        let node = build_node(&f, "x".into());
        assert_eq!(node.os_image, None);
        assert_eq!(node.kernel_version.as_deref(), Some("5.15"));
    }

    #[test]
    fn provider_cases() {
        let cases = [
            (Some("aws:///us-west-2a/i-0abc"), "aws"),
            (Some("gce://my-project/us-central1-a/gke-node-1"), "gce"),
            (
                Some("azure:///subscriptions/s/resourceGroups/r/providers/x"),
                "azure",
            ),
            (Some("kind://docker/kind/kind-control-plane"), "kind"),
            (Some("k3s://my-laptop"), "k3s"),
            (Some("AWS:///us-west-2a/i-0abc"), "aws"),
            (Some("mycorp-cloud://rack1/host7"), "unknown"),
            (Some("i-0123456789"), "unknown"),
            (Some(""), "unknown"),
            (Some("://x"), "unknown"),
            (None, "unknown"),
        ];
        for (id, want) in cases {
            assert_eq!(cloud_provider(id), want, "providerID {id:?}");
        }
    }

    #[test]
    fn unknown_resources_are_counted_not_named() {
        let mut cap = BTreeMap::new();
        for (k, v) in [
            ("cpu", "8"),
            ("nvidia.com/gpu", "2"),
            ("nvidia.com/mig-1g.5gb", "7"),
            ("acme-corp.example/fpga", "1"),
            ("internal.bank.example/hsm", "1"),
            ("hugepages-1Gi", "0"),
            ("hugepages-evil.example.com/x", "1"),
        ] {
            cap.insert(k.to_string(), v.to_string());
        }
        let out = capacity(Some(&cap));
        let text = serde_json::to_string(&out).unwrap();
        assert!(!text.contains("acme"), "{text}");
        assert!(!text.contains("bank"), "{text}");
        assert!(!text.contains("evil"), "{text}");
        let names: Vec<&str> = out.iter().map(|r| r.resource.as_str()).collect();
        assert_eq!(
            names,
            [
                "cpu",
                "hugepages-1Gi",
                "nvidia.com/gpu",
                "nvidia.com/mig-1g.5gb",
                "other"
            ]
        );
        assert_eq!(out.last().unwrap().value, "3");
    }

    #[test]
    fn node_id_is_stable_keyed_and_never_from_name_alone() {
        let a = node_id("cluster-a", "uid-1").unwrap();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_eq!(a, node_id("cluster-a", "uid-1").unwrap());
        assert_ne!(a, node_id("cluster-b", "uid-1").unwrap());
        assert_ne!(a, node_id("cluster-a", "uid-2").unwrap());
        // Domain separation: moving bytes between the two inputs changes the ID.
        assert_ne!(node_id("ab", "c").unwrap(), node_id("a", "bc").unwrap());
        assert_eq!(node_id("cluster-a", ""), None);
    }

    #[test]
    fn documented_prefixes_are_the_code() {
        for name in [
            "aws.amazon.com/neuron",
            "aws.amazon.com/neuronx",
            "aws.amazon.com/neuroncore",
            "aws.amazon.com/neurondevice",
            "devices.kubevirt.io/kvm",
            "devices.kubevirt.io/sev",
            "devices.kubevirt.io/vhost-net",
            "alpha.kubernetes.io/nvidia-gpu",
            "nvidia.com/gpu.shared",
            "hugepages-2Mi",
            "attachable-volumes-aws-ebs",
        ] {
            assert!(is_known_resource(name), "{name}");
        }
        for name in [
            "devices.kubevirt.io/",
            "devices.kubevirt.io/acme.corp.example/x",
            "aws.amazon.com/neuron/../acme",
            "hugepages-",
            "nvidia.com/mig-",
        ] {
            assert!(!is_known_resource(name), "{name}");
        }
        let doc = documented_resources();
        assert!(doc.contains("`aws.amazon.com/neuron*`"), "{doc}");
        assert!(doc.contains("`devices.kubevirt.io/*`"), "{doc}");
        assert!(doc.contains("`alpha.kubernetes.io/nvidia-gpu`"), "{doc}");
    }
}
