//! Test support shared by the unit tests and the integration tests (not part of the API): one
//! seeded random generator, one mutator for fuzzing report bodies, generators of random nodes,
//! of workload parts and of plain reports, and gzip.

use super::anonymize::{FactsMetadata, FactsNodeInfo, NodeFacts};
use super::limits::{MAX_AGE_DAYS, MAX_WORKLOAD_COUNT, WORKLOAD_BUCKETS};
use super::{Ages, FORMAT_VERSION, KindStats, Node, ObjectKind, Report, Resource, Workloads};
use std::collections::BTreeMap;
use std::io::Write;

/// A small seeded PRNG (xorshift64*), so property tests are repeatable without a crate.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A string of `0..max` characters drawn from plain ASCII, accented letters, CJK, emoji,
    /// JSON's special characters and C0/C1 controls.
    pub fn text(&mut self, max: usize) -> String {
        const CHARS: &[char] = &[
            'a',
            'Z',
            '0',
            '.',
            '-',
            ' ',
            '/',
            '"',
            '\\',
            'é',
            'ß',
            '中',
            '\u{1F600}',
            '\u{0}',
            '\n',
            '\u{1b}',
            '\u{7f}',
            '\u{85}',
            '\u{2028}',
            '\u{202E}',
        ];
        let len = self.below(max + 1);
        (0..len).map(|_| *self.pick(CHARS)).collect()
    }

    /// Bytes derived from `seeds` by a few random edits (bit flips, inserted JSON tokens,
    /// truncation, deletion), or, one time in five, random bytes.
    pub fn mutate(&mut self, seeds: &[&[u8]]) -> Vec<u8> {
        const TOKENS: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b",",
            b":",
            b"null",
            b"1e999",
            b"-0",
            b"\\u0000",
            b"\\ud800",
            b"\xff",
            b"\"nodes\":",
            b"\"capacity\":[",
            b"true",
        ];
        if self.below(5) == 0 {
            return (0..self.below(200))
                .map(|_| self.next_u64() as u8)
                .collect();
        }
        let mut b = self.pick(seeds).to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(b.len() + 1);
            match self.below(4) {
                0 if at < b.len() => b[at] ^= 1 << self.below(8),
                1 => {
                    let t = *self.pick(TOKENS);
                    b.splice(at..at, t.iter().copied());
                }
                2 => b.truncate(at),
                _ if at < b.len() => {
                    b.remove(at);
                }
                _ => {}
            }
        }
        b
    }

    /// A Node's facts as an API server might give them, at their most awkward: long and
    /// non-ASCII strings, control characters, empty values, up to hundreds of capacity entries.
    pub fn node_facts(&mut self) -> NodeFacts {
        let text = |rng: &mut Rng| match rng.below(4) {
            0 => None,
            1 => Some(rng.text(8)),
            2 => Some(rng.text(40)),
            _ => Some(rng.text(600)),
        };
        let mut facts = NodeFacts {
            metadata: FactsMetadata {
                uid: Some(format!("{:016x}{:016x}", self.next_u64(), self.next_u64())),
            },
            ..NodeFacts::default()
        };
        facts.spec.provider_id = text(self);
        facts.status.node_info = FactsNodeInfo {
            operating_system: text(self),
            os_image: text(self),
            kernel_version: text(self),
            architecture: text(self),
            container_runtime_version: text(self),
            kubelet_version: text(self),
        };
        let entries = *self.pick(&[0, 3, 10, 70, 300]);
        let mut capacity = BTreeMap::new();
        for _ in 0..entries {
            let name = match self.below(4) {
                0 => format!("hugepages-{}Mi", self.below(100_000)),
                1 => format!("nvidia.com/mig-{}g.{}gb", self.below(8), self.below(99)),
                2 => format!("acme.example/{}", self.text(30)),
                _ => (*self.pick(&["cpu", "memory", "pods", "other"])).to_string(),
            };
            let value = self.text(300);
            capacity.insert(name, value);
        }
        facts.status.capacity = (entries > 0 || self.below(2) == 0).then_some(capacity);
        facts
    }
}

impl Rng {
    /// A count, often at or past the limit.
    fn count(&mut self, max: u64) -> u64 {
        match self.below(6) {
            0 => 0,
            1 => 1,
            2 => self.next_u64() % 1000,
            3 => max,
            4 => max + 1 + self.next_u64() % 5,
            _ => self.next_u64(),
        }
    }

    /// A workload part as any reporter might send it, at its most awkward: each kind there or
    /// not, counts past the limits, histograms longer than the buckets with trailing zeros,
    /// ages over the limit or of nothing.
    pub fn workloads(&mut self) -> Option<Workloads> {
        if self.below(5) == 0 {
            return None;
        }
        let mut w = Workloads::default();
        for kind in ObjectKind::ALL {
            if self.below(4) == 0 {
                continue;
            }
            let buckets = *self.pick(&[0, 1, 5, WORKLOAD_BUCKETS, WORKLOAD_BUCKETS + 9]);
            let per_namespace = (0..buckets)
                .map(|_| self.count(MAX_WORKLOAD_COUNT))
                .collect();
            let age = (self.below(2) == 0).then(|| Ages {
                count: self.count(MAX_WORKLOAD_COUNT),
                mean_days: self.count(MAX_AGE_DAYS),
                median_days: self.count(MAX_AGE_DAYS),
                p90_days: self.count(MAX_AGE_DAYS),
            });
            *w.slot(kind) = Some(KindStats {
                total: self.count(MAX_WORKLOAD_COUNT),
                per_namespace,
                age,
            });
        }
        Some(w)
    }
}

/// A realistic workload part: a cluster of 120 namespaces (the system ones the oldest).
pub fn workloads() -> Workloads {
    let ages = |count, mean_days, median_days, p90_days| Ages {
        count,
        mean_days,
        median_days,
        p90_days,
    };
    let kind = |total, per_namespace: &[u64], age| KindStats {
        total,
        per_namespace: per_namespace.to_vec(),
        age,
    };
    Workloads {
        namespaces: Some(kind(120, &[], Some(ages(120, 210, 180, 600)))),
        pods: Some(kind(
            2000,
            &[48, 12, 9, 14, 10, 11, 8, 5, 3],
            Some(ages(2000, 96, 41, 280)),
        )),
        services: Some(kind(
            500,
            &[51, 20, 17, 14, 10, 6, 2],
            Some(ages(500, 150, 122, 400)),
        )),
        deployments: Some(kind(400, &[55, 18, 16, 13, 9, 6, 3], None)),
        statefulsets: Some(kind(66, &[90, 20, 6, 3, 1], None)),
        cronjobs: Some(kind(50, &[92, 19, 6, 3], None)),
        ..Workloads::default()
    }
}

/// A plain report of `nodes` nodes (IDs `0..nodes` in hex) from cluster `cluster`, with one
/// extension: the shape the collector's tests store.
pub fn report(cluster: &str, timestamp: i64, nodes: usize) -> Report {
    Report {
        version: FORMAT_VERSION.into(),
        timestamp: timestamp.to_string(),
        cluster_id: cluster.into(),
        master_version: Some("v1.33.2".into()),
        nodes: (0..nodes)
            .map(|i| Node {
                id: format!("{i:032x}"),
                operating_system: Some("linux".into()),
                architecture: Some(if i % 2 == 0 { "amd64" } else { "arm64" }.into()),
                container_runtime_version: Some("containerd://1.7.27".into()),
                cloud_provider: Some("kind".into()),
                capacity: vec![Resource {
                    resource: "cpu".into(),
                    value: "4".into(),
                }],
                ..Node::default()
            })
            .collect(),
        extensions: vec![super::Extension {
            name: "example.com/tier".into(),
            value: "gold".into(),
        }],
        workloads: None,
    }
}

#[cfg(test)]
/// The JSON of [`report`] at timestamp 1.
pub(crate) fn report_json(cluster: &str, nodes: usize) -> Vec<u8> {
    serde_json::to_vec(&report(cluster, 1, nodes)).unwrap_or_default()
}

/// `data`, gzip-compressed (fast).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}
