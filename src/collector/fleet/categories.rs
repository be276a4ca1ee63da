//! What a fleet is made of: the categories a report is counted in, and a report's **profile**
//! (its node count and, per category, its values with their node counts). Profiles are what the
//! rollups keep per cluster and period (see `store`), what trends, the dashboard and the fleet
//! metrics add up, and they hold nothing but categories and counts: no cluster ID, no node ID.
//!
//! Pure: reports in, profiles out.

use crate::contract::{Node, Report};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A way of dividing a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// The API server's minor version (`v1.33`); a cluster-level value.
    KubernetesVersion,
    /// The kubelet's minor version, per node.
    KubeletVersion,
    /// The OS image's family (`Ubuntu`, `Amazon Linux`, `Talos`), per node.
    OsImage,
    Architecture,
    /// The container runtime and its minor version (`containerd://1.7`).
    ContainerRuntime,
    CloudProvider,
    /// The kind of accelerator a node has (`nvidia`, `amd`, `intel`, `habana`, `aws-neuron`,
    /// `google-tpu`), or `none`.
    Accelerator,
}

impl Dimension {
    pub const ALL: [Dimension; 7] = [
        Dimension::KubernetesVersion,
        Dimension::KubeletVersion,
        Dimension::OsImage,
        Dimension::Architecture,
        Dimension::ContainerRuntime,
        Dimension::CloudProvider,
        Dimension::Accelerator,
    ];

    /// The name in CSV, JSON and metric labels.
    pub fn name(self) -> &'static str {
        match self {
            Dimension::KubernetesVersion => "kubernetes_version",
            Dimension::KubeletVersion => "kubelet_version",
            Dimension::OsImage => "os_image",
            Dimension::Architecture => "architecture",
            Dimension::ContainerRuntime => "container_runtime",
            Dimension::CloudProvider => "cloud_provider",
            Dimension::Accelerator => "accelerator",
        }
    }

    /// The heading people read.
    pub fn title(self) -> &'static str {
        match self {
            Dimension::KubernetesVersion => "Kubernetes version",
            Dimension::KubeletVersion => "Kubelet version",
            Dimension::OsImage => "OS image",
            Dimension::Architecture => "Architecture",
            Dimension::ContainerRuntime => "Container runtime",
            Dimension::CloudProvider => "Cloud provider",
            Dimension::Accelerator => "Accelerator",
        }
    }
}

/// What a missing value is counted as.
pub const NOT_REPORTED: &str = "(not reported)";

/// `v1.33.2-eks-1` -> `v1.33`; anything that does not start like a version is kept as is.
pub fn minor(version: &str) -> String {
    let (prefix, rest) = match version.strip_prefix('v') {
        Some(rest) => ("v", rest),
        None => ("", version),
    };
    let mut parts = rest.splitn(3, '.');
    let major = parts.next().unwrap_or("");
    let minor: String = parts
        .next()
        .unwrap_or("")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) || minor.is_empty() {
        return version.to_string();
    }
    format!("{prefix}{major}.{minor}")
}

/// `containerd://1.7.27` -> `containerd://1.7`.
pub fn runtime(version: &str) -> String {
    match version.split_once("://") {
        Some((name, v)) => format!("{name}://{}", minor(v)),
        None => minor(version),
    }
}

/// An OS image's family: its words up to the first that is a version (starts with a digit, a
/// `v` and a digit, or a parenthesis): `Ubuntu 24.04.1 LTS` -> `Ubuntu`, `Talos (v1.10.3)` ->
/// `Talos`, `Container-Optimized OS from Google` stays.
pub(crate) fn os_family(image: &str) -> String {
    let versionish = |word: &str| {
        let mut chars = word.chars();
        match chars.next() {
            Some(c) if c.is_ascii_digit() || c == '(' => true,
            Some('v') => chars.next().is_some_and(|c| c.is_ascii_digit()),
            _ => false,
        }
    };
    let family: Vec<&str> = image
        .split_whitespace()
        .take_while(|w| !versionish(w))
        .collect();
    if family.is_empty() {
        image.trim().to_string()
    } else {
        family.join(" ")
    }
}

pub use crate::contract::limits::accelerator;

/// A node's value in a node dimension.
pub(crate) fn node_value(node: &Node, dimension: Dimension) -> String {
    let text = |v: &Option<String>, fold: fn(&str) -> String| {
        v.as_deref().map_or_else(|| NOT_REPORTED.to_string(), fold)
    };
    let same = |v: &str| v.to_string();
    match dimension {
        Dimension::KubernetesVersion => NOT_REPORTED.to_string(),
        Dimension::KubeletVersion => text(&node.kubelet_version, minor),
        Dimension::OsImage => text(&node.os_image, os_family),
        Dimension::Architecture => text(&node.architecture, same),
        Dimension::ContainerRuntime => text(&node.container_runtime_version, runtime),
        Dimension::CloudProvider => text(&node.cloud_provider, same),
        Dimension::Accelerator => node
            .capacity
            .iter()
            .filter(|r| !r.value.trim_start_matches('0').is_empty())
            .find_map(|r| accelerator(&r.resource))
            .unwrap_or("none")
            .to_string(),
    }
}

/// A report's profile: how many nodes, and per dimension each value with its node count (for
/// the Kubernetes version, the cluster's one value with all its nodes).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub nodes: u64,
    pub values: BTreeMap<Dimension, BTreeMap<String, u64>>,
}

impl Profile {
    /// Starts the profile of a report from its own fields; add its nodes with [`Profile::add`].
    pub fn of(report: &Report) -> Profile {
        let version = report
            .master_version
            .as_deref()
            .map_or_else(|| NOT_REPORTED.to_string(), minor);
        let mut values = BTreeMap::new();
        values.insert(Dimension::KubernetesVersion, BTreeMap::from([(version, 0)]));
        Profile { nodes: 0, values }
    }

    /// Counts one node.
    pub fn add(&mut self, node: &Node) {
        self.nodes += 1;
        if let Some(version) = self.values.get_mut(&Dimension::KubernetesVersion) {
            version.values_mut().for_each(|n| *n += 1);
        }
        for dimension in &Dimension::ALL[1..] {
            *self
                .values
                .entry(*dimension)
                .or_default()
                .entry(node_value(node, *dimension))
                .or_default() += 1;
        }
    }

    /// The profile as stored: compact JSON, the same bytes for the same profile.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Option<Profile> {
        serde_json::from_str(text).ok()
    }
}

/// Clusters and nodes by value, for one dimension.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Count {
    pub clusters: u64,
    pub nodes: u64,
}

/// The sum of many clusters' profiles (each counted once): how many clusters and nodes in all,
/// and by dimension and value, how many clusters have it and how many nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub clusters: u64,
    pub nodes: u64,
    pub by: BTreeMap<Dimension, BTreeMap<String, Count>>,
}

impl Tally {
    /// Adds `clusters` clusters whose latest report has `profile`.
    pub fn add(&mut self, profile: &Profile, clusters: u64) {
        self.clusters += clusters;
        self.nodes += profile.nodes * clusters;
        for (dimension, values) in &profile.values {
            let counts = self.by.entry(*dimension).or_default();
            for (value, nodes) in values {
                // Most values are there already: no copy of the key for them.
                let count = match counts.get_mut(value) {
                    Some(count) => count,
                    None => counts.entry(value.clone()).or_default(),
                };
                count.clusters += clusters;
                count.nodes += nodes * clusters;
            }
        }
    }

    /// A dimension's values, most nodes (then clusters) first, at most `top` of them and the
    /// rest summed into `other` (`other` may count a cluster more than once).
    pub fn top(&self, dimension: Dimension, top: usize) -> Vec<(String, Count)> {
        let mut rows: Vec<(String, Count)> = self
            .by
            .get(&dimension)
            .map(|m| m.iter().map(|(v, c)| (v.clone(), c.clone())).collect())
            .unwrap_or_default();
        rows.sort_by(|a, b| {
            (b.1.nodes, b.1.clusters)
                .cmp(&(a.1.nodes, a.1.clusters))
                .then_with(|| a.0.cmp(&b.0))
        });
        if rows.len() > top {
            let rest = rows.split_off(top);
            let other = rest.iter().fold(Count::default(), |acc, (_, c)| Count {
                clusters: acc.clusters + c.clusters,
                nodes: acc.nodes + c.nodes,
            });
            rows.push(("other".to_string(), other));
        }
        rows
    }
}

/// The buckets of cluster sizes, by node count: upper bounds (inclusive) and labels.
pub(crate) const SIZE_BUCKETS: [(u64, &str); 7] = [
    (0, "0"),
    (1, "1"),
    (5, "2-5"),
    (20, "6-20"),
    (100, "21-100"),
    (1000, "101-1000"),
    (u64::MAX, ">1000"),
];

/// The label of the size bucket of a cluster of `nodes` nodes.
pub(crate) fn size_bucket(nodes: u64) -> &'static str {
    SIZE_BUCKETS
        .iter()
        .find(|(max, _)| nodes <= *max)
        .map_or(">1000", |(_, label)| *label)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::Resource;

    #[test]
    fn folding() {
        assert_eq!(minor("v1.33.2"), "v1.33");
        assert_eq!(minor("v1.28.3-eks-a1b2c3"), "v1.28");
        assert_eq!(minor("v1.30.0+k3s1"), "v1.30");
        assert_eq!(minor("1.7.27"), "1.7");
        assert_eq!(minor("weird"), "weird");
        assert_eq!(runtime("containerd://1.7.27"), "containerd://1.7");
        assert_eq!(runtime("cri-o://1.30.4"), "cri-o://1.30");
        for (image, family) in [
            ("Ubuntu 24.04.1 LTS", "Ubuntu"),
            ("Amazon Linux 2023.7.20250623", "Amazon Linux"),
            ("Talos (v1.10.3)", "Talos"),
            (
                "Container-Optimized OS from Google",
                "Container-Optimized OS from Google",
            ),
            ("Debian GNU/Linux 12 (bookworm)", "Debian GNU/Linux"),
            ("Bottlerocket OS 1.19.2 (aws-k8s-1.29)", "Bottlerocket OS"),
            (
                "Red Hat Enterprise Linux CoreOS 418.94.202410090804-0 (Plow)",
                "Red Hat Enterprise Linux CoreOS",
            ),
            ("Windows Server 2022 Datacenter", "Windows Server"),
            (
                "Flatcar Container Linux by Kinvolk 3975.2.0 (Oklo)",
                "Flatcar Container Linux by Kinvolk",
            ),
            ("v1.2 something", "v1.2 something"),
        ] {
            assert_eq!(os_family(image), family, "{image}");
        }
        assert_eq!(accelerator("nvidia.com/mig-1g.5gb"), Some("nvidia"));
        assert_eq!(accelerator("aws.amazon.com/neuroncore"), Some("aws-neuron"));
        assert_eq!(accelerator("cpu"), None);
    }

    fn node(arch: &str, gpus: &str) -> Node {
        Node {
            id: "0".repeat(32),
            architecture: Some(arch.into()),
            kubelet_version: Some("v1.33.1".into()),
            os_image: Some("Ubuntu 24.04.1 LTS".into()),
            capacity: vec![Resource {
                resource: "nvidia.com/gpu".into(),
                value: gpus.into(),
            }],
            ..Node::default()
        }
    }

    /// Three clusters: two of `p` (v1.33; amd64 with a GPU, amd64, arm64) and one of a single
    /// arm64 node; `p` is returned too.
    pub(crate) fn three_clusters() -> (Profile, Tally) {
        let report = Report {
            master_version: Some("v1.33.2-eks-1".into()),
            ..Report::default()
        };
        let mut p = Profile::of(&report);
        for n in [node("amd64", "0"), node("amd64", "8"), node("arm64", "0")] {
            p.add(&n);
        }
        let mut small = Profile::of(&Report::default());
        small.add(&node("arm64", "0"));
        let mut t = Tally::default();
        t.add(&p, 2);
        t.add(&small, 1);
        (p, t)
    }

    #[test]
    fn profiles_and_tallies() {
        let (p, t) = three_clusters();
        assert_eq!(p.nodes, 3);
        assert_eq!(p.values[&Dimension::KubernetesVersion]["v1.33"], 3);
        assert_eq!(p.values[&Dimension::Architecture]["amd64"], 2);
        assert_eq!(p.values[&Dimension::Accelerator]["nvidia"], 1);
        assert_eq!(p.values[&Dimension::Accelerator]["none"], 2);
        assert_eq!(p.values[&Dimension::CloudProvider][NOT_REPORTED], 3);
        assert_eq!(Profile::decode(&p.encode()), Some(p.clone()));
        assert_eq!(
            p.encode(),
            p.clone().encode(),
            "the same bytes for the same profile"
        );

        assert_eq!((t.clusters, t.nodes), (3, 7));
        let arch = t.top(Dimension::Architecture, 10);
        assert_eq!(arch[0].0, "amd64");
        assert_eq!(
            arch[0].1,
            Count {
                clusters: 2,
                nodes: 4
            }
        );
        assert_eq!(
            arch[1].1,
            Count {
                clusters: 3,
                nodes: 3
            }
        );
        let top1 = t.top(Dimension::Architecture, 1);
        assert_eq!(top1.len(), 2);
        assert_eq!(top1[1].0, "other");
        let versions = t.top(Dimension::KubernetesVersion, 10);
        assert_eq!(
            versions.iter().map(|(v, _)| v.as_str()).collect::<Vec<_>>(),
            ["v1.33", NOT_REPORTED]
        );
        assert_eq!(size_bucket(0), "0");
        assert_eq!(size_bucket(3), "2-5");
        assert_eq!(size_bucket(5000), ">1000");
    }
}
