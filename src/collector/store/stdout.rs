//! The `stdout` store: each accepted report printed as one JSON line, nothing kept. Duplicates
//! and the rate limit are remembered in this process's memory only, within bounds: the
//! duplicate table holds fixed-size digests, is paid for from the collector's memory budget (at
//! most [`DEDUP_SHARE`] of it), and forgets its oldest keys first when it may grow no more; the
//! rate limit's table is bounded by [`crate::collector::guard::limit::MAX_TRACKED`].

use super::{Incoming, Outcome, Seen};
use crate::collector::guard::budget::{Budget, Lease};
use crate::collector::guard::limit::Limiter;
use crate::contract::ReportWriter;
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::Write;

/// Bytes one remembered key costs: its entry in the table (a 16-byte digest, the time, the
/// content's 32-byte hash and the table's own overhead) and in the queue of arrival order.
pub(crate) const ENTRY_BYTES: usize = 128;

/// The share of the memory budget the duplicate table may hold (1/8: 12 MiB, about 98,000 keys,
/// of the default 96 MiB).
pub(crate) const DEDUP_SHARE: usize = 8;

/// Keys remembered without a budget (tests, tools).
const UNPAID_KEYS: usize = 65_536;

/// Prints each accepted report as one JSON line: `{"receivedAt": "...", "report": {...}}`.
/// Duplicates are remembered in memory for the dedup window, or less under a flood.
pub struct StdoutSink {
    out: Box<dyn Write + Send>,
    /// Digests of lookup keys (by idempotency key, by content) with the time they were seen and
    /// the content's hash.
    recent: HashMap<u128, (i64, [u8; 32])>,
    order: VecDeque<(i64, u128)>,
    limiter: Limiter,
    /// What the table is paid from, and the most it may hold.
    memory: Option<Lease>,
    max_keys: usize,
}

impl StdoutSink {
    /// Print to `out`; at most `rate_limit` reports per cluster per hour (0: no limit).
    pub(crate) fn new(out: Box<dyn Write + Send>, rate_limit: u32) -> Self {
        StdoutSink {
            out,
            recent: HashMap::new(),
            order: VecDeque::new(),
            limiter: Limiter::new(rate_limit),
            memory: None,
            max_keys: UNPAID_KEYS,
        }
    }

    /// Pay the duplicate table from `budget`, up to its [`DEDUP_SHARE`].
    pub(crate) fn pay_from(&mut self, budget: &Budget) {
        self.max_keys = (budget.bytes() / DEDUP_SHARE / ENTRY_BYTES).max(1);
        self.memory = Some(budget.lease());
    }

    #[cfg(test)]
    /// Keys remembered now.
    pub(crate) fn remembered(&self) -> usize {
        self.recent.len()
    }

    /// Room for one more key: paid for, or made by forgetting the oldest.
    fn make_room(&mut self) {
        let wanted = (self.recent.len() + 1) * ENTRY_BYTES;
        let paid = match &mut self.memory {
            Some(lease) => self.recent.len() < self.max_keys && lease.try_grow(wanted),
            None => self.recent.len() < self.max_keys,
        };
        if paid {
            return;
        }
        while let Some((_, key)) = self.order.pop_front() {
            if self.recent.remove(&key).is_some() {
                break;
            }
        }
    }

    /// Each report in turn: duplicates, then the limit, then the line.
    pub(crate) fn store_batch(
        &mut self,
        batch: &[&Incoming],
        window_secs: i64,
        now_ms: u64,
    ) -> Vec<anyhow::Result<Outcome>> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for incoming in batch {
            outcomes.push(match self.seen(incoming, window_secs) {
                Seen::Duplicate => Ok(Outcome::Duplicate),
                Seen::KeyConflict => Ok(Outcome::KeyConflict),
                Seen::New => {
                    let cluster = &incoming.report.cluster_id;
                    match self.limiter.check(cluster, now_ms) {
                        Err(wait) => Ok(Outcome::RateLimited(wait)),
                        Ok(()) => self.insert(incoming).map(|()| {
                            self.limiter.record(cluster, now_ms);
                            Outcome::Stored
                        }),
                    }
                }
            });
        }
        outcomes
    }

    /// `{"receivedAt":...,"report":{...}}` and a newline, the nodes written one at a time.
    fn write_line(out: &mut dyn Write, incoming: &Incoming) -> Result<()> {
        let buffered = std::io::BufWriter::with_capacity(64 * 1024, out);
        let received = crate::time::rfc3339(incoming.received_at);
        let mut w = ReportWriter::line(buffered, &received, &incoming.report)?;
        incoming
            .nodes
            .for_each(&mut |_, node| w.node(node).map_err(Into::into))?;
        w.finish()?.flush()?;
        Ok(())
    }

    /// The digests of a report's lookup keys: by idempotency key, and by content.
    fn keys(incoming: &Incoming) -> (Option<u128>, u128) {
        let cluster = &incoming.report.cluster_id;
        let digest = |parts: &[&[u8]]| {
            let mut h = Sha256::new();
            for p in parts {
                h.update(p);
                h.update([0]);
            }
            let mut bytes = [0u8; 16];
            bytes.copy_from_slice(&h.finalize()[..16]);
            u128::from_le_bytes(bytes)
        };
        let by_key = incoming
            .idempotency_key
            .as_ref()
            .map(|k| digest(&[b"k", cluster.as_bytes(), k.as_bytes()]));
        (
            by_key,
            digest(&[b"h", cluster.as_bytes(), &incoming.sha256]),
        )
    }

    pub(crate) fn seen(&mut self, incoming: &Incoming, window_secs: i64) -> Seen {
        let cutoff = incoming.received_at - window_secs;
        while let Some((t, _)) = self.order.front() {
            if *t >= cutoff {
                break;
            }
            if let Some((_, key)) = self.order.pop_front()
                && self
                    .recent
                    .get(&key)
                    .is_some_and(|(seen, _)| *seen < cutoff)
            {
                self.recent.remove(&key);
            }
        }
        let (by_key, by_hash) = Self::keys(incoming);
        if let Some((_, sha)) = by_key.and_then(|k| self.recent.get(&k)) {
            return if *sha == incoming.sha256 {
                Seen::Duplicate
            } else {
                Seen::KeyConflict
            };
        }
        if self.recent.contains_key(&by_hash) {
            return Seen::Duplicate;
        }
        Seen::New
    }

    pub(crate) fn insert(&mut self, incoming: &Incoming) -> Result<()> {
        Self::write_line(&mut self.out, incoming).context("writing the report to stdout")?;
        let (by_key, by_hash) = Self::keys(incoming);
        for key in by_key.into_iter().chain([by_hash]) {
            if !self.recent.contains_key(&key) {
                self.make_room();
            }
            self.recent
                .insert(key, (incoming.received_at, incoming.sha256));
            self.order.push_back((incoming.received_at, key));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::tests::incoming;

    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stdout_sink_prints_one_line_per_report_and_drops_duplicates() {
        let out = Shared::default();
        let mut sink = StdoutSink::new(Box::new(out.clone()), 0);
        let a = incoming("a", 1000, Some("k"), 2);
        assert_eq!(sink.seen(&a, 3600), Seen::New);
        sink.insert(&a).unwrap();
        assert_eq!(sink.seen(&a, 3600), Seen::Duplicate);
        let mut conflict = incoming("a", 1001, Some("k"), 3);
        assert_eq!(sink.seen(&conflict, 3600), Seen::KeyConflict);
        conflict.idempotency_key = None;
        assert_eq!(sink.seen(&conflict, 3600), Seen::New);
        // Forgotten after the window.
        let mut late = incoming("a", 1000, Some("k"), 2);
        late.received_at = 1000 + 3601;
        assert_eq!(sink.seen(&late, 3600), Seen::New);
        assert!(sink.recent.is_empty());

        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1);
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["receivedAt"], "1970-01-01T00:16:40Z");
        assert_eq!(v["report"]["clusterID"], "a");
        assert_eq!(v["report"]["nodes"].as_array().unwrap().len(), 2);

        // Nodes still in the received JSON are printed the same, one at a time.
        let out2 = Shared::default();
        let mut sink2 = StdoutSink::new(Box::new(out2.clone()), 0);
        sink2.insert(&incoming("a", 1000, Some("k"), 2)).unwrap();
        let text2 = String::from_utf8(out2.0.lock().unwrap().clone()).unwrap();
        assert!(
            text2.ends_with('\n') && text2.lines().count() == 1,
            "{text2}"
        );
        let v2: serde_json::Value = serde_json::from_str(text2.trim_end()).unwrap();
        assert_eq!(v2, v);
        let mut none = incoming("z", 1000, None, 0);
        none.report.extensions.clear();
        sink2.insert(&none).unwrap();
        let text2 = String::from_utf8(out2.0.lock().unwrap().clone()).unwrap();
        let v3: serde_json::Value = serde_json::from_str(text2.lines().nth(1).unwrap()).unwrap();
        assert_eq!(v3["report"]["clusterID"], "z");
        assert!(v3["report"].get("nodes").is_none());
    }

    #[test]
    fn batches_drop_duplicates_and_keep_the_limit_in_memory() {
        let out = Shared::default();
        let mut sink = StdoutSink::new(Box::new(out.clone()), 1);
        let a = incoming("a", 1000, Some("k"), 1);
        let again = incoming("a", 1000, Some("k"), 1);
        let a2 = incoming("a", 1001, Some("k2"), 1);
        let b = incoming("b", 1000, None, 1);
        let outcomes: Vec<Outcome> = sink
            .store_batch(&[&a, &again, &a2, &b], 3600, 0)
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            outcomes,
            [
                Outcome::Stored,
                Outcome::Duplicate,
                Outcome::RateLimited(3600),
                Outcome::Stored
            ]
        );
        assert_eq!(
            String::from_utf8(out.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .count(),
            2
        );
    }

    /// Under a flood of fresh reports the table stays within its share of the budget, paid for,
    /// forgetting the oldest keys first; recent duplicates are still caught.
    #[test]
    fn the_duplicate_table_is_bounded_and_paid_for() {
        use crate::collector::guard::budget::{Budget, PAGE};
        let budget = Budget::new(64 * PAGE * DEDUP_SHARE);
        let mut sink = StdoutSink::new(Box::new(std::io::sink()), 0);
        sink.pay_from(&budget);
        let max = 64 * PAGE / ENTRY_BYTES;
        for i in 0..10 * max {
            let r = incoming(&format!("c{i}"), 1000, Some("k"), 0);
            assert_eq!(sink.seen(&r, 3600), Seen::New);
            sink.insert(&r).unwrap();
            assert!(sink.remembered() <= max, "{} keys", sink.remembered());
        }
        assert_eq!(sink.remembered(), max);
        assert_eq!(budget.in_use(), max * ENTRY_BYTES, "paid from the budget");
        let newest = incoming(&format!("c{}", 10 * max - 1), 1000, Some("k"), 0);
        assert_eq!(
            sink.seen(&newest, 3600),
            Seen::Duplicate,
            "recent keys are kept"
        );
        let oldest = incoming("c0", 1000, Some("k"), 0);
        assert_eq!(
            sink.seen(&oldest, 3600),
            Seen::New,
            "the oldest were forgotten"
        );
        // A budget with no room left: the table forgets instead of growing.
        let full = Budget::new(PAGE);
        let mut hog = full.lease();
        assert!(hog.try_grow(PAGE));
        let mut starved = StdoutSink::new(Box::new(std::io::sink()), 0);
        starved.pay_from(&full);
        for i in 0..100 {
            starved
                .insert(&incoming(&format!("s{i}"), 1000, None, 0))
                .unwrap();
            assert!(starved.remembered() <= 1);
        }
    }
}
