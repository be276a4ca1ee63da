//! The workload statistics (`--workload-stats`), counted as the metadata-only lists stream in:
//! each object arrives reduced to its namespace and creation time
//! ([`super::nodelist::OBJECT_FIELDS`]), is counted, and is forgotten. Pure: bytes in, counts
//! out.
//!
//! Memory is bounded by the number of namespaces, never by the number of objects: a namespace is
//! kept as a keyed hash of its name (random per run; the name itself is dropped at once) and an
//! index, each kind keeps one counter per namespace, and ages are counted per whole day (exact
//! medians and percentiles without keeping a timestamp).
//!
//! What the counts mean when not everything could be listed:
//! - every object listed counts in its kind's total, whether its namespace was listed or not;
//! - bucket 0 of a histogram is the number of namespaces listed minus those holding at least one
//!   object of the kind; when namespaces could not be listed it is 0 (unknown), and the report
//!   says so by carrying no `namespaces` entry;
//! - a kind whose list failed midway is left out whole, never sent in part.

use super::nodelist::{ListSink, ListStats};
use crate::contract::limits::{MAX_AGE_DAYS, WORKLOAD_BUCKETS, namespace_bucket};
use crate::contract::{Ages, KindStats, ObjectKind, Workloads};
use anyhow::Result;
use serde::Deserialize;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

/// Most distinct namespaces counted in one run: ten times the most a cluster is tested with
/// (10,000), a few MiB at most. Past it the per-namespace histograms are left out (a partial one
/// would be read as whole); totals and ages are still sent.
pub(crate) const MAX_NAMESPACES: usize = 100_000;

/// What the scanner hands out for an object.
#[derive(Debug, Default, Deserialize)]
struct Facts {
    #[serde(default)]
    metadata: Meta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct Meta {
    namespace: Option<String>,
    creation_timestamp: Option<String>,
}

/// The counts of one kind while it is listed.
#[derive(Debug, Default)]
struct Counts {
    /// The listing finished: the counts are whole.
    complete: bool,
    total: u64,
    /// Objects in each namespace, by the namespace's index.
    per_namespace: Vec<u32>,
    /// Objects by whole days of age (for the kinds with ages).
    by_day: Vec<u64>,
}

/// The counts of every kind listed so far.
pub(crate) struct Tally {
    now: i64,
    keys: RandomState,
    /// A keyed hash of each namespace name seen in an object, and its index.
    namespaces: HashMap<u64, u32>,
    /// More than [`MAX_NAMESPACES`] namespaces were seen.
    overflow: bool,
    kinds: [Option<Counts>; ObjectKind::ALL.len()],
}

fn index(kind: ObjectKind) -> usize {
    ObjectKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
}

impl Tally {
    /// Counting ages from `now` (Unix seconds).
    pub(crate) fn new(now: i64) -> Tally {
        Tally {
            now,
            keys: RandomState::new(),
            namespaces: HashMap::new(),
            overflow: false,
            kinds: Default::default(),
        }
    }

    /// Where the items of `kind`'s list go.
    pub(crate) fn sink(&mut self, kind: ObjectKind) -> KindSink<'_> {
        KindSink {
            tally: self,
            kind,
            items: 0,
        }
    }

    /// `kind` is (again) being listed from the start: forget its counts.
    pub(crate) fn start(&mut self, kind: ObjectKind) {
        self.kinds[index(kind)] = Some(Counts::default());
    }

    /// `kind` was listed whole.
    pub(crate) fn complete(&mut self, kind: ObjectKind) {
        if let Some(counts) = &mut self.kinds[index(kind)] {
            counts.complete = true;
        }
    }

    /// `kind` could not be listed whole: it is left out.
    pub(crate) fn abandon(&mut self, kind: ObjectKind) {
        self.kinds[index(kind)] = None;
    }

    /// One object of `kind`, in `namespace`, created at `created` (RFC 3339).
    pub(crate) fn object(
        &mut self,
        kind: ObjectKind,
        namespace: Option<&str>,
        created: Option<&str>,
    ) {
        let at = namespace
            .filter(|_| kind.namespaced())
            .and_then(|ns| self.namespace(ns));
        let now = self.now;
        let Some(counts) = &mut self.kinds[index(kind)] else {
            return;
        };
        counts.total += 1;
        if let Some(at) = at {
            if counts.per_namespace.len() <= at {
                counts.per_namespace.resize(at + 1, 0);
            }
            counts.per_namespace[at] = counts.per_namespace[at].saturating_add(1);
        }
        let created = created.and_then(crate::time::parse_rfc3339);
        if let Some(created) = created.filter(|_| kind.with_ages()) {
            // A creation time ahead of this clock is an age of 0 days.
            let days = ((now - created).max(0) / 86_400)
                .unsigned_abs()
                .min(MAX_AGE_DAYS) as usize;
            if counts.by_day.len() <= days {
                counts.by_day.resize(days + 1, 0);
            }
            counts.by_day[days] += 1;
        }
    }

    /// The index of `namespace`, made on first sight; `None` past [`MAX_NAMESPACES`].
    fn namespace(&mut self, namespace: &str) -> Option<usize> {
        let key = self.keys.hash_one(namespace);
        let next = self.namespaces.len();
        if next >= MAX_NAMESPACES && !self.namespaces.contains_key(&key) {
            self.overflow = true;
            return None;
        }
        Some(*self.namespaces.entry(key).or_insert(next as u32) as usize)
    }

    /// The statistics of every kind listed whole; `None` if there is none.
    pub(crate) fn finish(self) -> Option<Workloads> {
        let complete = |kind: ObjectKind| {
            let counts = self.kinds[index(kind)].as_ref();
            counts.filter(|c| c.complete)
        };
        let listed_namespaces = complete(ObjectKind::Namespaces).map(|c| c.total);
        let mut workloads = Workloads::default();
        for kind in ObjectKind::ALL {
            let Some(counts) = complete(kind) else {
                continue;
            };
            let per_namespace = if kind.namespaced() && !self.overflow {
                histogram(&counts.per_namespace, listed_namespaces)
            } else {
                Vec::new()
            };
            *workloads.slot(kind) = Some(KindStats {
                total: counts.total,
                per_namespace,
                age: ages(&counts.by_day),
            });
        }
        (!workloads.is_empty()).then_some(workloads)
    }

    /// Whether more namespaces were seen than are counted (see [`MAX_NAMESPACES`]).
    pub(crate) fn overflowed(&self) -> bool {
        self.overflow
    }
}

/// Namespaces by how many objects they hold, in the contract's buckets; bucket 0 is the
/// namespaces `listed` that hold none (0 when they were not listed). Trailing empty buckets are
/// left out.
fn histogram(per_namespace: &[u32], listed: Option<u64>) -> Vec<u64> {
    let mut buckets = vec![0u64; WORKLOAD_BUCKETS];
    let mut holding = 0u64;
    for &count in per_namespace.iter().filter(|c| **c > 0) {
        buckets[namespace_bucket(u64::from(count))] += 1;
        holding += 1;
    }
    buckets[0] = listed.unwrap_or(0).saturating_sub(holding);
    while buckets.last() == Some(&0) {
        buckets.pop();
    }
    buckets
}

/// The age distribution of objects counted by whole days; `None` if none was counted.
fn ages(by_day: &[u64]) -> Option<Ages> {
    let count: u64 = by_day.iter().sum();
    if count == 0 {
        return None;
    }
    let sum: u128 = (by_day.iter().enumerate())
        .map(|(day, n)| day as u128 * u128::from(*n))
        .sum();
    let mean = (sum + u128::from(count) / 2) / u128::from(count);
    // The age of the object at `rank` (from 1), youngest first.
    let at_rank = |rank: u64| -> u64 {
        let mut seen = 0;
        let day = by_day.iter().position(|n| {
            seen += n;
            seen >= rank
        });
        day.unwrap_or(by_day.len() - 1) as u64
    };
    Some(Ages {
        count,
        mean_days: mean as u64,
        median_days: at_rank(count.div_ceil(2)),
        p90_days: at_rank((u128::from(count) * 9).div_ceil(10) as u64),
    })
}

/// The list sink of one kind: each item decoded and counted.
pub(crate) struct KindSink<'a> {
    tally: &'a mut Tally,
    kind: ObjectKind,
    items: usize,
}

impl ListSink for KindSink<'_> {
    fn restart(&mut self) -> Result<()> {
        self.tally.start(self.kind);
        self.items = 0;
        Ok(())
    }

    fn partial(&self) -> bool {
        self.items > 0
    }

    fn item(&mut self, bytes: &[u8]) -> Result<()> {
        // serde's message may quote a value (a namespace name): keep only where.
        let facts: Facts = serde_json::from_slice(bytes).map_err(|e| {
            anyhow::anyhow!(
                "an object in the list does not have the expected shape (metadata.namespace or metadata.creationTimestamp is not a string, near column {})",
                e.column()
            )
        })?;
        let meta = &facts.metadata;
        let (namespace, created) = (
            meta.namespace.as_deref(),
            meta.creation_timestamp.as_deref(),
        );
        self.tally.object(self.kind, namespace, created);
        self.items += 1;
        Ok(())
    }
}

/// The log line after the statistics were gathered: counts only, and what was left out.
pub(crate) fn summary(
    workloads: Option<&Workloads>,
    stats: &ListStats,
    left_out: &[&str],
) -> String {
    let listed: Vec<String> = ObjectKind::ALL
        .iter()
        .filter_map(|k| Some(format!("{} {}", workloads?.get(*k)?.total, k.name())))
        .collect();
    let mut line = format!(
        "spartakus: workload statistics: {} ({} page{}{})",
        if listed.is_empty() {
            "nothing listed".to_string()
        } else {
            listed.join(", ")
        },
        stats.pages,
        if stats.pages == 1 { "" } else { "s" },
        if stats.restarts > 0 {
            format!(", {} restarts", stats.restarts)
        } else {
            String::new()
        }
    );
    if !left_out.is_empty() {
        line.push_str(&format!(
            "; left out: {} (the report is sent without them)",
            left_out.join(", ")
        ));
    }
    line
}

#[cfg(test)]
#[path = "workloads_tests.rs"]
mod tests;
