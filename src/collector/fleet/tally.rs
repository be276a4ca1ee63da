//! A fleet's numbers as the store hands them over (`store::read`), already cut to size: how many
//! clusters and nodes, and per dimension the values shown (those that led, see `store::read`)
//! with their counts, the rest summed into one `other`. Nothing here grows with the number of
//! distinct values, clusters or nodes. Pure.

use super::categories::{Dimension, Label, SKEWS};
use std::collections::BTreeMap;

/// Clusters and nodes of one label of one dimension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: Label,
    /// Clusters with nodes of it (for a cluster-level dimension: clusters of it).
    pub clusters: u64,
    pub nodes: u64,
}

impl Entry {
    pub fn new(label: Label, clusters: u64, nodes: u64) -> Entry {
        Entry {
            label,
            clusters,
            nodes,
        }
    }

    /// The count a table of `dimension` leads with: clusters or nodes.
    pub fn count(&self, dimension: Dimension) -> u64 {
        if dimension.by_clusters() {
            self.clusters
        } else {
            self.nodes
        }
    }
}

/// Clusters and nodes in all, and by dimension the labels shown, the one a table leads with
/// first (then the other count, then the value), `other` last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub clusters: u64,
    pub nodes: u64,
    pub by: BTreeMap<Dimension, Vec<Entry>>,
}

impl Tally {
    /// The entries of `dimension`, in order.
    pub fn entries(&self, dimension: Dimension) -> &[Entry] {
        self.by.get(&dimension).map_or(&[], Vec::as_slice)
    }

    /// The entry of `label` in `dimension`.
    pub fn get(&self, dimension: Dimension, label: &Label) -> Option<&Entry> {
        self.entries(dimension).iter().find(|e| e.label == *label)
    }

    /// Adds a stored count; [`Tally::sort`] puts them in order once all are in.
    pub(crate) fn add(&mut self, dimension: Dimension, entry: Entry) {
        let entries = self.by.entry(dimension).or_default();
        match entries.iter_mut().find(|e| e.label == entry.label) {
            Some(e) => {
                e.clusters += entry.clusters;
                e.nodes += entry.nodes;
            }
            None => entries.push(entry),
        }
    }

    /// Every dimension's entries in order: the version skew in the order of [`SKEWS`], the
    /// others by the count a table leads with.
    pub(crate) fn sort(&mut self) {
        for (dimension, entries) in &mut self.by {
            let d = *dimension;
            entries.sort_by(|a, b| {
                let skew = |e: &Entry| SKEWS.iter().position(|s| *s == e.label.value());
                let other = |e: &Entry| e.label == Label::Other;
                other(a).cmp(&other(b)).then_with(|| {
                    if d == Dimension::VersionSkew {
                        return skew(a).cmp(&skew(b));
                    }
                    (b.count(d), b.clusters, b.nodes)
                        .cmp(&(a.count(d), a.clusters, a.nodes))
                        .then_with(|| a.label.cmp(&b.label))
                })
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_add_up_and_sort_by_what_the_table_leads_with() {
        let v = |s: &str| Label::Value(s.into());
        let mut t = Tally::default();
        let k = Dimension::KubernetesVersion;
        t.add(k, Entry::new(Label::Other, 9, 900));
        t.add(k, Entry::new(v("v1.33"), 3, 10));
        t.add(k, Entry::new(v("v1.32"), 2, 500));
        t.add(k, Entry::new(v("v1.33"), 1, 1));
        let a = Dimension::Architecture;
        t.add(a, Entry::new(v("arm64"), 3, 10));
        t.add(a, Entry::new(v("amd64"), 2, 500));
        let s = Dimension::VersionSkew;
        for skew in ["unknown", "ahead", "0", "2"] {
            t.add(s, Entry::new(v(skew), 1, 1));
        }
        t.sort();
        let labels = |d| -> Vec<String> {
            t.entries(d)
                .iter()
                .map(|e| e.label.shown(|s| s.to_string()))
                .collect()
        };
        assert_eq!(labels(k), ["v1.33", "v1.32", "(other)"], "by clusters");
        assert_eq!(t.get(k, &v("v1.33")).unwrap().clusters, 4);
        assert_eq!(labels(a), ["amd64", "arm64"], "by nodes");
        assert_eq!(labels(s), ["0", "2", "ahead", "unknown"]);
        assert!(t.entries(Dimension::OsImage).is_empty());
    }
}
