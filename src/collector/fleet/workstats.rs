//! The fleet's workload statistics, as the summary shows them: from each cluster's latest
//! workload part (`spartakus report --workload-stats`, see `contract::workloads`), how many
//! clusters sent one, how many namespaces clusters have, how much of each kind they run and how
//! it spreads over namespaces, and how old namespaces, pods and services are. Pure.
//!
//! Medians across clusters are the value at rank `ceil(n / 2)`, smallest first, as the reporter
//! ranks its own ages. A fleet's mean age is the mean of all objects, `Σ mean × count / Σ count`.

use crate::contract::limits::{WORKLOAD_BUCKETS, bucket_label, namespace_bucket};
use crate::contract::{ObjectKind, Workloads};
use serde::Serialize;
use std::fmt::Write;

/// The fleet's workload statistics (the summary's `workloads`).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSummary {
    /// Clusters in the window.
    pub clusters: u64,
    /// Of them, those whose latest report carried workload statistics.
    pub(crate) clusters_with_statistics: u64,
    /// Clusters by how many namespaces they have (of those that counted their namespaces).
    pub(crate) namespaces_per_cluster: Vec<ClusterBucket>,
    /// Each kind some cluster counted.
    pub kinds: Vec<Kind>,
    /// Namespaces, pods and services: how old they are.
    pub ages: Vec<Age>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct ClusterBucket {
    /// A range of namespace counts (`64-127`).
    pub namespaces: String,
    pub clusters: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Kind {
    /// The resource name (`pods`).
    pub kind: &'static str,
    /// Clusters that counted it.
    pub clusters: u64,
    /// Objects of the kind in those clusters.
    pub total: u64,
    pub(crate) median_per_cluster: u64,
    /// The fleet's namespaces by how many objects of the kind each holds (summed over the
    /// clusters; the bucket of none only over clusters that also counted their namespaces).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_namespace: Vec<NamespaceBucket>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NamespaceBucket {
    /// A range of object counts (`2-3`).
    pub objects: String,
    pub namespaces: u64,
    /// Of the namespaces in the histogram.
    pub percent: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Age {
    pub kind: &'static str,
    /// Clusters that sent the kind's ages.
    pub clusters: u64,
    /// Objects whose age is known.
    pub objects: u64,
    /// The mean age of all those objects, in days.
    pub mean_days: u64,
    /// The median, across clusters, of each cluster's median age.
    pub(crate) median_of_medians_days: u64,
    /// The median, across clusters, of each cluster's 90th percentile.
    pub(crate) median_of_p90s_days: u64,
}

/// The value at rank `ceil(n / 2)` of `values`, smallest first; 0 for none.
pub(crate) fn median(mut values: Vec<u64>) -> u64 {
    if values.is_empty() {
        return 0;
    }
    values.sort_unstable();
    values[values.len().div_ceil(2) - 1]
}

/// Values kept one by one for a median, at most; past them a [`Median`] counts them in bins.
pub const EXACT_MEDIAN: usize = 1 << 16;

/// The values a median is taken of, in bounded memory: each value while there are at most
/// [`EXACT_MEDIAN`] (the median exact), then counted in bins of their 8 leading bits (values
/// below 256 exactly; the median then within 1 % of the exact one, from below). At most about
/// 7,400 bins, whatever the number of values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Median {
    values: Vec<u64>,
    bins: std::collections::BTreeMap<u64, u64>,
}

impl Median {
    pub(crate) fn add(&mut self, value: u64) {
        if self.bins.is_empty() && self.values.len() < EXACT_MEDIAN {
            self.values.push(value);
            return;
        }
        for v in std::mem::take(&mut self.values) {
            *self.bins.entry(Self::bin(v)).or_default() += 1;
        }
        *self.bins.entry(Self::bin(value)).or_default() += 1;
    }

    /// `value` with all but its 8 leading bits zero.
    fn bin(value: u64) -> u64 {
        let bits = 64 - value.leading_zeros();
        let drop = bits.saturating_sub(8);
        value >> drop << drop
    }

    /// The value at rank `ceil(n / 2)` (of a bin: its least value); 0 for none.
    pub(crate) fn value(self) -> u64 {
        if self.bins.is_empty() {
            return median(self.values);
        }
        let n: u64 = self.bins.values().sum();
        let mut rank = n.div_ceil(2);
        for (bin, count) in &self.bins {
            if rank <= *count {
                return *bin;
            }
            rank -= count;
        }
        0
    }
}

/// One kind's numbers as parts are added.
#[derive(Debug, Clone, Default)]
struct KindParts {
    clusters: u64,
    total: u64,
    totals: Median,
    buckets: [u64; WORKLOAD_BUCKETS],
    /// Of the clusters that sent the kind's ages.
    aged: u64,
    objects: u64,
    days: u128,
    medians: Median,
    p90s: Median,
}

/// The fleet's workload statistics as they are read, one cluster's latest part at a time, in
/// memory that does not grow with the number of clusters (see [`Median`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Parts {
    parts: u64,
    sizes: [u64; WORKLOAD_BUCKETS],
    kinds: [KindParts; ObjectKind::ALL.len()],
}

impl Parts {
    /// Counts one cluster's latest part.
    pub(crate) fn add(&mut self, part: &Workloads) {
        self.parts += 1;
        if let Some(n) = part.namespace_count() {
            self.sizes[namespace_bucket(n)] += 1;
        }
        // Without the namespace list, bucket 0 is unknown (the reporter sends 0).
        let zero_known = part.namespaces.is_some();
        for (kind, k) in ObjectKind::ALL.into_iter().zip(&mut self.kinds) {
            let Some(stats) = part.get(kind) else {
                continue;
            };
            k.clusters += 1;
            k.total += stats.total;
            k.totals.add(stats.total);
            for (i, n) in stats.per_namespace.iter().enumerate() {
                if i > 0 || zero_known {
                    k.buckets[i.min(WORKLOAD_BUCKETS - 1)] += n;
                }
            }
            if let Some(age) = stats.age.filter(|a| a.count > 0) {
                k.aged += 1;
                k.objects += age.count;
                k.days += u128::from(age.mean_days) * u128::from(age.count);
                k.medians.add(age.median_days);
                k.p90s.add(age.p90_days);
            }
        }
    }

    /// The statistics of the parts added, among `clusters` clusters.
    pub(crate) fn summary(self, clusters: u64) -> WorkloadSummary {
        let mut kinds = Vec::new();
        let mut ages = Vec::new();
        for (kind, mut k) in ObjectKind::ALL.into_iter().zip(self.kinds) {
            if k.aged > 0 && kind.with_ages() {
                let mean = (k.days + u128::from(k.objects) / 2) / u128::from(k.objects.max(1));
                ages.push(Age {
                    kind: kind.name(),
                    clusters: k.aged,
                    objects: k.objects,
                    mean_days: u64::try_from(mean).unwrap_or(u64::MAX),
                    median_of_medians_days: std::mem::take(&mut k.medians).value(),
                    median_of_p90s_days: std::mem::take(&mut k.p90s).value(),
                });
            }
            if k.clusters > 0 {
                kinds.push(kind_summary(kind, k));
            }
        }
        WorkloadSummary {
            clusters,
            clusters_with_statistics: self.parts,
            namespaces_per_cluster: trimmed(&self.sizes)
                .map(|(i, n)| ClusterBucket {
                    namespaces: bucket_label(i),
                    clusters: n,
                })
                .collect(),
            kinds,
            ages,
        }
    }
}

/// The statistics of `parts` (each cluster's latest, at most one per cluster) among `clusters`
/// clusters.
#[cfg(test)]
pub(crate) fn summarize(clusters: u64, parts: &[Workloads]) -> WorkloadSummary {
    let mut all = Parts::default();
    for part in parts {
        all.add(part);
    }
    all.summary(clusters)
}

/// The buckets from the first to the last that is not empty, with their index.
fn trimmed(buckets: &[u64]) -> impl Iterator<Item = (usize, u64)> + '_ {
    let first = buckets.iter().position(|n| *n > 0).unwrap_or(buckets.len());
    let last = buckets.iter().rposition(|n| *n > 0).map_or(0, |i| i + 1);
    buckets.iter().copied().enumerate().take(last).skip(first)
}

fn kind_summary(kind: ObjectKind, k: KindParts) -> Kind {
    let all: u64 = k.buckets.iter().sum();
    let per_namespace = if kind.namespaced() {
        trimmed(&k.buckets)
            .map(|(i, n)| NamespaceBucket {
                objects: bucket_label(i),
                namespaces: n,
                percent: share(n, all),
            })
            .collect()
    } else {
        Vec::new()
    };
    Kind {
        kind: kind.name(),
        clusters: k.clusters,
        total: k.total,
        median_per_cluster: k.totals.value(),
        per_namespace,
    }
}

/// `part` of `whole` in percent, to one decimal.
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// The statistics as text tables, appended to `out`.
pub(crate) fn render(out: &mut String, s: &WorkloadSummary) {
    let _ = writeln!(out);
    if s.clusters_with_statistics == 0 {
        let _ = writeln!(
            out,
            "Workload statistics: none of the {} sent them (spartakus report --workload-stats)",
            crate::text::count(s.clusters, "cluster")
        );
        return;
    }
    let _ = writeln!(
        out,
        "Workload statistics: {} of {} sent them (their latest reports)",
        s.clusters_with_statistics,
        crate::text::count(s.clusters, "cluster")
    );
    if !s.namespaces_per_cluster.is_empty() {
        let counted: u64 = s.namespaces_per_cluster.iter().map(|b| b.clusters).sum();
        let _ = writeln!(out, "\n{:<14}  {:>8} {:>7}", "Namespaces", "clusters", "%");
        for b in &s.namespaces_per_cluster {
            let share = format!("{:.1}%", share(b.clusters, counted));
            let _ = writeln!(out, "{:<14}  {:>8} {share:>7}", b.namespaces, b.clusters);
        }
    }
    let _ = writeln!(
        out,
        "\n{:<14}  {:>8}  {:>12}  {:>18}",
        "Kind", "clusters", "total", "median per cluster"
    );
    for k in &s.kinds {
        let _ = writeln!(
            out,
            "{:<14}  {:>8}  {:>12}  {:>18}",
            k.kind, k.clusters, k.total, k.median_per_cluster
        );
    }
    histograms(out, &s.kinds);
    if !s.ages.is_empty() {
        let _ = writeln!(
            out,
            "\n{:<14}  {:>8}  {:>12}  {:>9}  {:>17}  {:>14}",
            "Age (days)", "clusters", "objects", "mean", "median of medians", "median of p90s"
        );
        for a in &s.ages {
            let _ = writeln!(
                out,
                "{:<14}  {:>8}  {:>12}  {:>9}  {:>17}  {:>14}",
                a.kind,
                a.clusters,
                a.objects,
                a.mean_days,
                a.median_of_medians_days,
                a.median_of_p90s_days
            );
        }
    }
}

/// One table: a row per bucket, a column per kind, the share of its namespaces.
fn histograms(out: &mut String, kinds: &[Kind]) {
    let kinds: Vec<&Kind> = kinds
        .iter()
        .filter(|k| !k.per_namespace.is_empty())
        .collect();
    if kinds.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\nNamespaces holding N objects of a kind (% of namespaces)"
    );
    let mut head = format!("{:<14}", "N");
    for k in &kinds {
        let _ = write!(head, "  {:>12}", k.kind);
    }
    let _ = writeln!(out, "{head}");
    for i in 0..WORKLOAD_BUCKETS {
        let label = bucket_label(i);
        let cells: Vec<Option<f64>> = kinds
            .iter()
            .map(|k| {
                let b = k.per_namespace.iter().find(|b| b.objects == label);
                b.map(|b| b.percent)
            })
            .collect();
        if cells.iter().all(Option::is_none) {
            continue;
        }
        let mut line = format!("{label:<14}");
        for cell in cells {
            let text = cell.map_or_else(|| "-".to_string(), |p| format!("{p:.1}%"));
            let _ = write!(line, "  {text:>12}");
        }
        let _ = writeln!(out, "{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::testing;
    use crate::contract::{Ages, KindStats};

    fn pods(total: u64, per_namespace: &[u64], age: Option<(u64, u64, u64, u64)>) -> KindStats {
        KindStats {
            total,
            per_namespace: per_namespace.to_vec(),
            age: age.map(|(count, mean_days, median_days, p90_days)| Ages {
                count,
                mean_days,
                median_days,
                p90_days,
            }),
        }
    }

    #[test]
    fn medians_and_shares() {
        assert_eq!(median(vec![]), 0);
        assert_eq!(median(vec![5]), 5);
        assert_eq!(median(vec![9, 1]), 1, "rank ceil(2/2) = 1");
        assert_eq!(median(vec![3, 1, 2]), 2);
        assert_eq!(median(vec![4, 1, 3, 2]), 2);
        assert_eq!(share(1, 3), 33.3);
        assert_eq!(share(0, 0), 0.0);
    }

    #[test]
    fn medians_of_many_values_in_bounded_memory() {
        let mut small = Median::default();
        for v in [9, 1, 5] {
            small.add(v);
        }
        assert_eq!(small.value(), 5, "exact while few");
        let mut many = Median::default();
        let n = 3 * EXACT_MEDIAN as u64;
        for i in 0..n {
            many.add(1_000_000 + (i * 7919) % n);
        }
        assert!(
            many.values.is_empty() && many.bins.len() < 7_500,
            "{}",
            many.bins.len()
        );
        let exact = 1_000_000 + n.div_ceil(2) - 1;
        let got = many.value();
        assert!(got <= exact && got * 101 / 100 >= exact, "{got} vs {exact}");
        let mut low = Median::default();
        for i in 0..n {
            low.add(i % 100);
        }
        assert_eq!(low.value(), 49, "exact below 256");
    }

    /// a: the realistic part (120 namespaces); b: pods only, without the namespace list;
    /// c: namespaces and pods, young.
    fn three_clusters() -> WorkloadSummary {
        let a = testing::workloads();
        let b = Workloads {
            pods: Some(pods(10, &[7, 1, 0, 3], Some((10, 2, 1, 4)))),
            ..Workloads::default()
        };
        let c = Workloads {
            namespaces: Some(pods(3, &[], Some((3, 1, 1, 2)))),
            pods: Some(pods(4, &[1, 0, 2], Some((4, 4, 3, 9)))),
            ..Workloads::default()
        };
        summarize(5, &[a, b, c])
    }

    #[test]
    fn the_fleet_from_each_clusters_latest_part() {
        let s = three_clusters();
        assert_eq!((s.clusters, s.clusters_with_statistics), (5, 3));
        let sizes: Vec<(&str, u64)> = s
            .namespaces_per_cluster
            .iter()
            .map(|b| (b.namespaces.as_str(), b.clusters))
            .collect();
        assert_eq!(
            sizes,
            [
                ("2-3", 1),
                ("4-7", 0),
                ("8-15", 0),
                ("16-31", 0),
                ("32-63", 0),
                ("64-127", 1)
            ]
        );

        let pods = s.kinds.iter().find(|k| k.kind == "pods").unwrap();
        assert_eq!(
            (pods.clusters, pods.total, pods.median_per_cluster),
            (3, 2014, 10)
        );
        // Bucket 0: a's 48 and c's 1, not b's 7 (b did not count its namespaces).
        assert_eq!(pods.per_namespace[0].objects, "0");
        assert_eq!(pods.per_namespace[0].namespaces, 48 + 1);
        assert_eq!(pods.per_namespace[1].namespaces, 12 + 1);
        assert_eq!(pods.per_namespace[2].namespaces, 9 + 2);
        assert_eq!(pods.per_namespace[3].namespaces, 14 + 3);
        let all: u64 = pods.per_namespace.iter().map(|b| b.namespaces).sum();
        assert_eq!(all, 120 + 1 + 3 + 3);
        let namespaces = s.kinds.iter().find(|k| k.kind == "namespaces").unwrap();
        assert_eq!((namespaces.clusters, namespaces.total), (2, 123));
        assert!(namespaces.per_namespace.is_empty());
        assert!(
            s.kinds.iter().all(|k| k.kind != "daemonsets"),
            "nobody counted them"
        );

        let age = s.ages.iter().find(|a| a.kind == "pods").unwrap();
        assert_eq!((age.clusters, age.objects), (3, 2014));
        // (2000 x 96 + 10 x 2 + 4 x 4) / 2014 = 95.35
        assert_eq!(age.mean_days, 95);
        assert_eq!(
            (age.median_of_medians_days, age.median_of_p90s_days),
            (3, 9)
        );
    }

    #[test]
    fn as_json_and_text() {
        let s = three_clusters();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["clustersWithStatistics"], 3);
        assert_eq!(json["kinds"][1]["perNamespace"][0]["objects"], "0");
        // Namespaces: a's p90 600, c's 2; the median of two is the lower.
        assert_eq!(json["ages"][0]["medianOfP90sDays"], 2);

        let mut text = String::new();
        render(&mut text, &s);
        assert!(
            text.contains("Workload statistics: 3 of 5 clusters sent them"),
            "{text}"
        );
        assert!(text.contains("64-127                 1   50.0%"), "{text}");
        assert!(text.contains("median of medians"), "{text}");
        let none = summarize(4, &[]);
        let mut text = String::new();
        render(&mut text, &none);
        assert!(text.contains("none of the 4 clusters"), "{text}");
        assert!(none.kinds.is_empty() && none.namespaces_per_cluster.is_empty());
    }
}
