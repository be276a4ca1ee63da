//! A report's **profile**: how many nodes it has, and per dimension each of its values with its
//! node count; what the rollups keep per cluster and period (see `store`), one stored row per
//! value. It holds nothing but categories and counts: no cluster ID, no node ID.
//!
//! A profile keeps at most [`MAX_VALUES`] values per dimension, those with the most nodes; the
//! nodes of the rest (a report whose every node names its own OS image, say) are counted in the
//! dimension's [`Label::Other`]. While a report's nodes are read it counts at most
//! [`COUNTED_VALUES`] distinct values per dimension, and a value first met past them goes to
//! `other` at once. So a profile is small whatever a report holds, and so is what it costs to
//! store and to read. Pure.

use super::categories::{
    CLUSTER_SKEW, Dimension, Label, SKEWS, node_value, numbers, version_label, worse,
};
use crate::contract::{Node, Report};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

/// The most values a profile keeps of one dimension (those with the most nodes); the rest are
/// its `other`.
pub const MAX_VALUES: usize = 16;

/// The most distinct values of one dimension a profile counts while a report's nodes are read
/// (its [`MAX_VALUES`] are chosen from these): a value first met after them is counted in
/// `other`. At most a few megabytes, for a report whose every node names values of its own.
pub(crate) const COUNTED_VALUES: usize = 1024;

/// A report's profile (see the module's documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub nodes: u64,
    version: Option<Label>,
    /// The API server's (major, minor), for the version skew.
    api: Option<(u64, u64)>,
    /// By (dimension code, label): nodes.
    values: BTreeMap<(i64, Label), u64>,
    /// By dimension code: how many values (not `other`) `values` counts.
    counted: BTreeMap<i64, usize>,
}

impl Profile {
    /// Starts the profile of a report from its own fields; add its nodes with [`Profile::add`].
    pub fn of(report: &Report) -> Profile {
        Profile {
            version: Some(version_label(report)),
            api: report.master_version.as_deref().and_then(numbers),
            ..Profile::default()
        }
    }

    /// Counts one node.
    pub fn add(&mut self, node: &Node) {
        self.nodes += 1;
        for &dimension in Dimension::NODE {
            let label = node_value(node, dimension, self.api);
            self.count(dimension.code(), label, 1);
        }
    }

    /// Adds `nodes` nodes of `label` to the dimension of `code`; to its `other` if `label` is
    /// new and the dimension already counts [`COUNTED_VALUES`] values.
    fn count(&mut self, code: i64, label: Label, nodes: u64) {
        let vacant = match self.values.entry((code, label)) {
            Entry::Occupied(mut known) => {
                *known.get_mut() += nodes;
                return;
            }
            Entry::Vacant(vacant) => vacant,
        };
        let counted = self.counted.entry(code).or_default();
        if vacant.key().1 != Label::Other {
            if *counted >= COUNTED_VALUES {
                *self.values.entry((code, Label::Other)).or_default() += nodes;
                return;
            }
            *counted += 1;
        }
        vacant.insert(nodes);
    }

    /// The stored rows: (dimension code, label, nodes), in key order, each dimension's
    /// [`MAX_VALUES`] largest ([`kept`]) and its `other`. The Kubernetes version and the
    /// cluster's worst skew ([`CLUSTER_SKEW`]) count every node of the report.
    pub(crate) fn rows(&self) -> Vec<(i64, Label, u64)> {
        let mut rows = Vec::with_capacity(self.values.len().min(8 * (MAX_VALUES + 1)) + 2);
        let version = self.version.clone().unwrap_or(Label::NotReported);
        rows.push((Dimension::KubernetesVersion.code(), version, self.nodes));
        let values: Vec<(&(i64, Label), &u64)> = self.values.iter().collect();
        for dimension in values.chunk_by(|a, b| a.0.0 == b.0.0) {
            kept(dimension, &mut rows);
        }
        let worst = SKEWS[self.worst()].to_string();
        rows.push((CLUSTER_SKEW, Label::Value(worst), self.nodes));
        rows
    }

    /// The worst version skew of its nodes (an index into [`SKEWS`]; `unknown` without nodes).
    fn worst(&self) -> usize {
        let code = Dimension::VersionSkew.code();
        self.values
            .keys()
            .filter(|(c, _)| *c == code)
            .filter_map(|(_, label)| SKEWS.iter().position(|s| *s == label.value()))
            .reduce(worse)
            .unwrap_or(5)
    }

    /// The profile's key in the store: [`Profile::hash`], hex.
    #[cfg(test)]
    pub(crate) fn key(&self) -> String {
        hex::encode(self.hash())
    }

    /// The SHA-256 of the profile's rows ([`hash_of`] its [`Profile::rows`]).
    #[cfg(test)]
    pub(crate) fn hash(&self) -> [u8; 32] {
        hash_of(&self.rows())
    }

    /// A profile as schema versions 3 and 4 stored it (JSON: the node count, and per dimension
    /// name each value with its node count, `(not reported)` for a missing one), kept as this
    /// version keeps them: at most [`MAX_VALUES`] per dimension (the largest), the version skew
    /// worked out from the Kubernetes and kubelet versions.
    pub(crate) fn from_stored_json(text: &str) -> Option<Profile> {
        #[derive(serde::Deserialize)]
        struct Old {
            nodes: u64,
            values: BTreeMap<String, BTreeMap<String, u64>>,
        }
        let old: Old = serde_json::from_str(text).ok()?;
        let label = |v: &str| match v {
            super::NOT_REPORTED => Label::NotReported,
            v => Label::Value(v.to_string()),
        };
        let mut profile = Profile {
            nodes: old.nodes,
            ..Profile::default()
        };
        for (name, values) in &old.values {
            let Some(dimension) = Dimension::from_name(name) else {
                continue;
            };
            if dimension == Dimension::KubernetesVersion {
                let version = values
                    .keys()
                    .next()
                    .map_or(Label::NotReported, |v| label(v));
                profile.api = numbers(version.value());
                profile.version = Some(version);
                continue;
            }
            let mut largest: Vec<(&String, &u64)> = values.iter().collect();
            largest.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            for (value, nodes) in largest {
                profile.count(dimension.code(), label(value), *nodes);
            }
        }
        profile.old_skew(old.values.get(Dimension::KubeletVersion.name()));
        Some(profile)
    }

    /// The version skew of a profile stored before it was counted, from its kubelet versions.
    fn old_skew(&mut self, kubelets: Option<&BTreeMap<String, u64>>) {
        let code = Dimension::VersionSkew.code();
        let mut unknown = self.nodes;
        for (kubelet, nodes) in kubelets.into_iter().flatten() {
            let at = super::categories::skew(self.api, Some(kubelet.as_str()));
            unknown = unknown.saturating_sub(*nodes);
            self.count(code, Label::Value(SKEWS[at].to_string()), *nodes);
        }
        if unknown > 0 {
            self.count(code, Label::Value(SKEWS[5].to_string()), unknown);
        }
    }
}

/// The SHA-256 of a profile's stored rows, its key in the store (also for rows already made,
/// so that a report's rows are made once).
pub(crate) fn hash_of(rows: &[(i64, Label, u64)]) -> [u8; 32] {
    let mut hash = Sha256::new().chain_update(b"spartakus profile 5\0");
    for (code, label, nodes) in rows {
        let value = label.value().as_bytes();
        hash.update(code.to_be_bytes());
        hash.update(label.kind().to_be_bytes());
        hash.update((value.len() as u64).to_be_bytes());
        hash.update(value);
        hash.update(nodes.to_be_bytes());
    }
    hash.finalize().into()
}

/// One dimension's values (in key order, `other` last) as a profile stores them, added to
/// `rows`: the [`MAX_VALUES`] with the most nodes (the first in key order among equals), in key
/// order, then `other` with the nodes of the rest.
fn kept(values: &[(&(i64, Label), &u64)], rows: &mut Vec<(i64, Label, u64)>) {
    let Some(((code, _), _)) = values.first() else {
        return;
    };
    let mut by_size: Vec<usize> = (0..values.len())
        .filter(|&i| values[i].0.1 != Label::Other)
        .collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(*values[i].1));
    let mut keep = vec![false; values.len()];
    for &i in by_size.iter().take(MAX_VALUES) {
        keep[i] = true;
    }
    let mut other = 0;
    for (i, ((_, label), nodes)) in values.iter().enumerate() {
        if keep[i] {
            rows.push((*code, label.clone(), **nodes));
        } else {
            other += **nodes;
        }
    }
    if other > 0 {
        rows.push((*code, Label::Other, other));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::contract::Resource;

    pub(crate) fn node(arch: &str, gpus: &str) -> Node {
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

    fn nodes(p: &Profile, d: Dimension, label: &Label) -> Option<u64> {
        p.rows()
            .into_iter()
            .find(|(c, l, _)| *c == d.code() && l == label)
            .map(|(_, _, n)| n)
    }

    #[test]
    fn a_profile_counts_nodes_by_value() {
        let report = Report {
            master_version: Some("v1.34.2-eks-1".into()),
            ..Report::default()
        };
        let mut p = Profile::of(&report);
        for n in [node("amd64", "0"), node("amd64", "8"), node("arm64", "0")] {
            p.add(&n);
        }
        let v = |s: &str| Label::Value(s.into());
        assert_eq!(p.nodes, 3);
        assert_eq!(
            nodes(&p, Dimension::KubernetesVersion, &v("v1.34")),
            Some(3)
        );
        assert_eq!(nodes(&p, Dimension::Architecture, &v("amd64")), Some(2));
        assert_eq!(nodes(&p, Dimension::Accelerator, &v("nvidia")), Some(1));
        assert_eq!(nodes(&p, Dimension::Accelerator, &v("none")), Some(2));
        assert_eq!(
            nodes(&p, Dimension::CloudProvider, &Label::NotReported),
            Some(3)
        );
        assert_eq!(nodes(&p, Dimension::VersionSkew, &v("1")), Some(3));
        let worst = p.rows().into_iter().find(|r| r.0 == CLUSTER_SKEW).unwrap();
        assert_eq!((worst.1, worst.2), (v("1"), 3));
        // The same nodes counted again, in another order: the same key.
        let mut again = Profile::of(&report);
        for n in [node("arm64", "0"), node("amd64", "8"), node("amd64", "0")] {
            again.add(&n);
        }
        assert_eq!(p.key(), again.key(), "the same key for the same profile");
        let mut q = p.clone();
        q.add(&node("arm64", "0"));
        assert_ne!(p.key(), q.key());
        assert_eq!(p.key().len(), 64);
    }

    #[test]
    fn a_profile_keeps_at_most_max_values_per_dimension() {
        let mut p = Profile::of(&Report::default());
        for i in 0..1000 {
            let mut n = node("amd64", "0");
            n.os_image = Some(format!("Distro{i} 1.0"));
            p.add(&n);
        }
        let images: Vec<(Label, u64)> = p
            .rows()
            .into_iter()
            .filter(|r| r.0 == Dimension::OsImage.code())
            .map(|r| (r.1, r.2))
            .collect();
        assert_eq!(images.len(), MAX_VALUES + 1, "{images:?}");
        assert_eq!(
            images.last().unwrap(),
            &(Label::Other, 1000 - MAX_VALUES as u64)
        );
        assert_eq!(images.iter().map(|r| r.1).sum::<u64>(), 1000);
        assert_eq!(
            nodes(&p, Dimension::VersionSkew, &Label::Value("unknown".into())),
            Some(1000),
            "no API server version"
        );
    }

    fn images(p: &Profile) -> Vec<(Label, u64)> {
        p.rows()
            .into_iter()
            .filter(|r| r.0 == Dimension::OsImage.code())
            .map(|r| (r.1, r.2))
            .collect()
    }

    fn on_image(image: &str) -> Node {
        Node {
            os_image: Some(image.into()),
            ..node("amd64", "0")
        }
    }

    /// The largest values are kept whatever order the nodes come in: sixteen nodes of their
    /// own first, then a hundred of one image, which leads.
    #[test]
    fn a_profile_keeps_its_largest_values_not_its_first() {
        let mut p = Profile::of(&Report::default());
        for i in 0..MAX_VALUES {
            p.add(&on_image(&format!("Distro{i:02} 1.0")));
        }
        for _ in 0..100 {
            p.add(&on_image("Ubuntu 24.04.2 LTS"));
        }
        p.add(&on_image("Distro00 1.0"));
        let images = images(&p);
        let v = |s: &str| Label::Value(s.into());
        assert_eq!(images.len(), MAX_VALUES + 1, "{images:?}");
        // (An OS image is counted by its family: its first word.)
        assert!(images.contains(&(v("Ubuntu"), 100)), "{images:?}");
        assert!(images.contains(&(v("Distro00"), 2)), "{images:?}");
        // Fifteen of the sixteen with one node each: the first in key order.
        assert!(images.contains(&(v("Distro14"), 1)), "{images:?}");
        assert_eq!(images.last(), Some(&(Label::Other, 1)), "{images:?}");
        let key = p.key();
        // The same nodes in another order: the same profile.
        let mut q = Profile::of(&Report::default());
        q.add(&on_image("Distro00 1.0"));
        for _ in 0..100 {
            q.add(&on_image("Ubuntu 24.04.2 LTS"));
        }
        for i in (0..MAX_VALUES).rev() {
            q.add(&on_image(&format!("Distro{i:02} 1.0")));
        }
        assert_eq!(q.key(), key);
    }

    /// A value first met after [`COUNTED_VALUES`] others of its dimension is counted in
    /// `other`, however many nodes name it: what bounds a profile while a report is read.
    #[test]
    fn a_profile_counts_at_most_counted_values_per_dimension() {
        let mut p = Profile::of(&Report::default());
        for i in 0..COUNTED_VALUES {
            p.add(&on_image(&format!("Distro{i} 1.0")));
        }
        for _ in 0..50 {
            p.add(&on_image("Late 1.0"));
        }
        let counted = p
            .values
            .keys()
            .filter(|(c, _)| *c == Dimension::OsImage.code());
        assert_eq!(counted.count(), COUNTED_VALUES + 1, "bounded while counted");
        let images = images(&p);
        assert_eq!(
            images.last(),
            Some(&(Label::Other, (COUNTED_VALUES - MAX_VALUES) as u64 + 50)),
        );
        assert!(
            !images.iter().any(|(l, _)| l.value() == "Late"),
            "{images:?}"
        );
    }

    #[test]
    fn profiles_of_schema_version_4_read_as_this_version_keeps_them() {
        let mut images = String::new();
        for i in 0..40 {
            images.push_str(&format!(r#""Distro{i:02}":{},"#, 100 - i));
        }
        images.push_str(r#""(not reported)":7"#);
        let json = format!(
            r#"{{"nodes":2937,"values":{{"kubernetes_version":{{"v1.33":2937}},
            "kubelet_version":{{"v1.33":2000,"v1.30":900}},"os_image":{{{images}}},
            "architecture":{{"amd64":2937}}}}}}"#
        );
        let p = Profile::from_stored_json(&json).unwrap();
        let v = |s: &str| Label::Value(s.into());
        assert_eq!(p.nodes, 2937);
        assert_eq!(
            nodes(&p, Dimension::KubernetesVersion, &v("v1.33")),
            Some(2937)
        );
        assert_eq!(nodes(&p, Dimension::OsImage, &v("Distro00")), Some(100));
        assert_eq!(nodes(&p, Dimension::OsImage, &v("Distro39")), None);
        assert!(nodes(&p, Dimension::OsImage, &Label::Other).is_some());
        assert_eq!(nodes(&p, Dimension::VersionSkew, &v("0")), Some(2000));
        assert_eq!(nodes(&p, Dimension::VersionSkew, &v("3+")), Some(900));
        assert_eq!(nodes(&p, Dimension::VersionSkew, &v("unknown")), Some(37));
        let worst = p.rows().into_iter().find(|r| r.0 == CLUSTER_SKEW).unwrap();
        assert_eq!(worst.1, v("3+"));
        assert_eq!(Profile::from_stored_json("{"), None);
    }
}
