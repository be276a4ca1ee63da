//! The `stdout` store: each accepted report printed as one JSON line, nothing kept. Duplicates
//! and the rate limit are remembered in this process's memory only.

use super::{Incoming, Outcome, Seen};
use crate::collector::limit::Limiter;
use crate::contract::ReportWriter;
use anyhow::{Context, Result};
use std::collections::{HashMap, VecDeque};
use std::io::Write;

/// Prints each accepted report as one JSON line: `{"receivedAt": "...", "report": {...}}`.
/// Duplicates are remembered in memory for the dedup window only.
pub struct StdoutSink {
    out: Box<dyn Write + Send>,
    /// Lookup keys (`k` + cluster + key, or `h` + cluster + hash) with the time they were seen.
    recent: HashMap<String, (i64, [u8; 32])>,
    order: VecDeque<(i64, String)>,
    limiter: Limiter,
}

impl StdoutSink {
    /// Print to `out`; at most `rate_limit` reports per cluster per hour (0: no limit).
    pub fn new(out: Box<dyn Write + Send>, rate_limit: u32) -> Self {
        StdoutSink {
            out,
            recent: HashMap::new(),
            order: VecDeque::new(),
            limiter: Limiter::new(rate_limit),
        }
    }

    /// Each report in turn: duplicates, then the limit, then the line.
    pub fn store_batch(
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

    fn keys(incoming: &Incoming) -> (Option<String>, String) {
        let cluster = &incoming.report.cluster_id;
        let by_key = incoming
            .idempotency_key
            .as_ref()
            .map(|k| format!("k{cluster}\0{k}"));
        (
            by_key,
            format!("h{cluster}\0{}", hex::encode(incoming.sha256)),
        )
    }

    pub fn seen(&mut self, incoming: &Incoming, window_secs: i64) -> Seen {
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

    pub fn insert(&mut self, incoming: &Incoming) -> Result<()> {
        Self::write_line(&mut self.out, incoming).context("writing the report to stdout")?;
        let (by_key, by_hash) = Self::keys(incoming);
        for key in by_key.into_iter().chain([by_hash]) {
            self.recent
                .insert(key.clone(), (incoming.received_at, incoming.sha256));
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
}
