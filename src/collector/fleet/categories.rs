//! What a fleet is made of: the categories a node or a cluster is counted in ([`Dimension`]),
//! each a value folded from the report ([`node_value`]: versions to their minor release, OS
//! images to their family, the kubelet's version skew against the API server), and what a
//! count of one shows ([`Label`]: a reported value, or a bucket that no reported value can be
//! confused with).
//!
//! Pure: reports in, labels out.

use crate::contract::{Node, Report};

/// A way of dividing a fleet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
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
    /// How many minor versions a kubelet is behind its API server ([`SKEWS`]): nodes each by
    /// their own, clusters by their worst node.
    VersionSkew,
}

impl Dimension {
    pub const ALL: [Dimension; 8] = [
        Dimension::KubernetesVersion,
        Dimension::KubeletVersion,
        Dimension::OsImage,
        Dimension::Architecture,
        Dimension::ContainerRuntime,
        Dimension::CloudProvider,
        Dimension::Accelerator,
        Dimension::VersionSkew,
    ];

    /// The dimensions counted per node: all but the first, the Kubernetes version.
    pub(crate) const NODE: &[Dimension] = Dimension::ALL.split_at(1).1;

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
            Dimension::VersionSkew => "version_skew",
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
            Dimension::VersionSkew => "Version skew: kubelet minors behind the API server",
        }
    }

    /// The dimension of `name` (as [`Dimension::name`] writes it).
    pub(crate) fn from_name(name: &str) -> Option<Dimension> {
        Dimension::ALL.into_iter().find(|d| d.name() == name)
    }

    /// How the store's `profile_values.dimension` holds it: its place in [`Dimension::ALL`].
    /// (The version skew of a cluster as a whole is [`CLUSTER_SKEW`].)
    pub(crate) fn code(self) -> i64 {
        Dimension::ALL.iter().position(|d| *d == self).unwrap_or(0) as i64
    }

    /// Whether a table of it counts clusters first (one value per cluster), not nodes.
    pub fn by_clusters(self) -> bool {
        matches!(self, Dimension::KubernetesVersion | Dimension::VersionSkew)
    }

    /// What its tables count first, in words: `clusters` or `nodes`.
    pub(crate) fn unit(self) -> &'static str {
        if self.by_clusters() {
            "clusters"
        } else {
            "nodes"
        }
    }
}

/// The store's dimension code of a cluster's worst version skew (its nodes are all its nodes).
pub(crate) const CLUSTER_SKEW: i64 = 8;

/// What one count is of: a value a report gave (folded), or one of two buckets. A bucket is
/// never spelled like a value: JSON and CSV name it in a field of its own, metrics in a label of
/// its own, and text shows it in parentheses, where a value that starts with `(` has that
/// character escaped ([`Label::shown`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Label {
    Value(String),
    /// The report left the field out.
    NotReported,
    /// Every other value, summed: those past the top of a table, and those a report had past
    /// [`super::profile::MAX_VALUES`] in one dimension.
    Other,
}

impl Label {
    /// How the store's `profile_values.kind` holds it (the value is `''` for a bucket).
    pub(crate) fn kind(&self) -> i64 {
        match self {
            Label::Value(_) => 0,
            Label::NotReported => 1,
            Label::Other => 2,
        }
    }

    /// The label of a stored (kind, value).
    pub(crate) fn stored(kind: i64, value: String) -> Label {
        match kind {
            1 => Label::NotReported,
            2 => Label::Other,
            _ => Label::Value(value),
        }
    }

    /// The value, or `""` for a bucket.
    pub fn value(&self) -> &str {
        match self {
            Label::Value(v) => v,
            _ => "",
        }
    }

    /// The bucket's name (`not_reported`, `other`), or `None` for a value.
    pub fn bucket(&self) -> Option<&'static str> {
        match self {
            Label::Value(_) => None,
            Label::NotReported => Some("not_reported"),
            Label::Other => Some("other"),
        }
    }

    /// The label for a person: a value through `escape` (which makes it one safe line), with a
    /// leading `(` written `\u{28}`; a bucket as `(not reported)` or `(other)`.
    pub fn shown(&self, escape: impl Fn(&str) -> String) -> String {
        match self {
            Label::Value(v) => {
                let text = escape(v);
                match text.strip_prefix('(') {
                    Some(rest) => format!("\\u{{28}}{rest}"),
                    None => text,
                }
            }
            Label::NotReported => NOT_REPORTED.to_string(),
            Label::Other => "(other)".to_string(),
        }
    }
}

/// How a missing value is shown.
pub const NOT_REPORTED: &str = "(not reported)";

/// `v1.33.2-eks-1` -> `v1.33`; anything that does not start like a version is kept as is.
pub fn minor(version: &str) -> String {
    match numbers(version) {
        Some((major, minor)) => {
            let prefix = if version.starts_with('v') { "v" } else { "" };
            format!("{prefix}{major}.{minor}")
        }
        None => version.to_string(),
    }
}

/// The major and minor numbers of a version (`v1.33.2-eks-1`, `1.33`), if it starts like one.
pub(crate) fn numbers(version: &str) -> Option<(u64, u64)> {
    let rest = version.strip_prefix('v').unwrap_or(version);
    let mut parts = rest.splitn(3, '.');
    let major = parts.next()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    if major.is_empty() || !major.bytes().all(|b| b.is_ascii_digit()) || minor.is_empty() {
        return None;
    }
    Some((major.parse().ok()?, minor.parse().ok()?))
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

/// The values of [`Dimension::VersionSkew`], from the least to the most off: a kubelet 0, 1, 2,
/// or 3 or more minor versions behind its API server, ahead of it (which Kubernetes does not
/// support), or `unknown` (either version missing or not a version).
pub const SKEWS: [&str; 6] = ["0", "1", "2", "3+", "ahead", "unknown"];

/// How far a kubelet of `kubelet` is from an API server of version `api` (major, minor): an
/// index into [`SKEWS`].
pub(crate) fn skew(api: Option<(u64, u64)>, kubelet: Option<&str>) -> usize {
    let (Some((major, minor)), Some((k_major, k_minor))) = (api, kubelet.and_then(numbers)) else {
        return 5;
    };
    if k_major != major {
        return if k_major < major { 3 } else { 4 };
    }
    match minor.checked_sub(k_minor) {
        None => 4,
        Some(behind) => behind.min(3) as usize,
    }
}

/// The worse of two [`skew`]s: `ahead` before 3 or more behind, and so on down; `unknown` only
/// where nothing is known.
pub(crate) fn worse(a: usize, b: usize) -> usize {
    let rank = |s: usize| if s == 5 { 0 } else { s + 1 };
    if rank(b) > rank(a) { b } else { a }
}

/// A node's label in a node dimension ([`Dimension::VersionSkew`] against `api`, the API
/// server's version).
pub(crate) fn node_value(node: &Node, dimension: Dimension, api: Option<(u64, u64)>) -> Label {
    let text = |v: &Option<String>, fold: fn(&str) -> String| {
        v.as_deref()
            .map_or(Label::NotReported, |v| Label::Value(fold(v)))
    };
    let same = |v: &str| v.to_string();
    match dimension {
        Dimension::KubernetesVersion => Label::NotReported,
        Dimension::KubeletVersion => text(&node.kubelet_version, minor),
        Dimension::OsImage => text(&node.os_image, os_family),
        Dimension::Architecture => text(&node.architecture, same),
        Dimension::ContainerRuntime => text(&node.container_runtime_version, runtime),
        Dimension::CloudProvider => text(&node.cloud_provider, same),
        Dimension::Accelerator => Label::Value(
            node.capacity
                .iter()
                .filter(|r| !r.value.trim_start_matches('0').is_empty())
                .find_map(|r| accelerator(&r.resource))
                .unwrap_or("none")
                .to_string(),
        ),
        Dimension::VersionSkew => {
            Label::Value(SKEWS[skew(api, node.kubelet_version.as_deref())].to_string())
        }
    }
}

/// A report's label in [`Dimension::KubernetesVersion`].
pub(crate) fn version_label(report: &Report) -> Label {
    report
        .master_version
        .as_deref()
        .map_or(Label::NotReported, |v| Label::Value(minor(v)))
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

#[cfg(test)]
mod tests {
    use super::*;

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
        for d in Dimension::ALL {
            assert_eq!(Dimension::from_name(d.name()), Some(d));
        }
        assert_eq!(Dimension::VersionSkew.code(), 7);
    }

    #[test]
    fn version_skew_per_node_and_the_worst() {
        let api = numbers("v1.33.2-eks-1");
        assert_eq!(api, Some((1, 33)));
        let of = |kubelet: Option<&str>| SKEWS[skew(api, kubelet)];
        assert_eq!(of(Some("v1.33.0")), "0");
        assert_eq!(of(Some("v1.32.9+k3s1")), "1");
        assert_eq!(of(Some("v1.31.1")), "2");
        assert_eq!(of(Some("v1.30.1")), "3+");
        assert_eq!(of(Some("v1.20.1")), "3+");
        assert_eq!(of(Some("v1.34.0")), "ahead");
        assert_eq!(of(Some("v2.0.0")), "ahead");
        assert_eq!(of(Some("v0.9.0")), "3+");
        assert_eq!(of(Some("weird")), "unknown");
        assert_eq!(of(None), "unknown");
        assert_eq!(SKEWS[skew(None, Some("v1.33.0"))], "unknown");
        assert_eq!(worse(5, 0), 0, "anything known is worse than unknown");
        assert_eq!(worse(1, 3), 3);
        assert_eq!(worse(4, 3), 4, "ahead is the worst");
        assert_eq!(worse(2, 5), 2);
    }

    #[test]
    fn buckets_cannot_pass_for_values() {
        let plain = |s: &str| s.to_string();
        assert_eq!(Label::Value("other".into()).shown(plain), "other");
        assert_eq!(Label::Other.shown(plain), "(other)");
        assert_eq!(Label::Value("(other)".into()).shown(plain), "\\u{28}other)");
        assert_eq!(Label::NotReported.shown(plain), NOT_REPORTED);
        assert_ne!(
            Label::Value(NOT_REPORTED.into()).shown(plain),
            Label::NotReported.shown(plain)
        );
        for label in [Label::Value("x".into()), Label::NotReported, Label::Other] {
            assert_eq!(Label::stored(label.kind(), label.value().into()), label);
        }
        assert_eq!(Label::Other.bucket(), Some("other"));
        assert_eq!(Label::Value("other".into()).bucket(), None);
    }
}
