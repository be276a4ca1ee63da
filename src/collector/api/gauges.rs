//! The fleet's gauges on the collector's `/metrics` (`spartakus_fleet_...`): the clusters whose
//! latest report came in the last 24 hours, by category, read from the rollups with the
//! collector's read connection. Made when scraped, at most once a minute: a Prometheus that
//! scrapes every 15 s costs the store one small query a minute, and a collector nobody scrapes
//! none. When the store cannot be read the gauges are left out (absent means unknown; a stale
//! value would look like a fleet that stopped changing), and the log says so once.

use crate::collector::fleet::{Count, Dimension, SIZE_BUCKETS, Tally};
use crate::collector::store::{Reader, read};
use crate::log;
use crate::prom::{Kind, Text};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long gauges made once are served again.
pub(crate) const FRESH: Duration = Duration::from_secs(60);

/// Values shown per category; the rest are summed up as `other`.
pub(crate) const TOP: usize = 10;

/// The longest a scrape waits for the store.
const WAIT: Duration = Duration::from_secs(5);

/// The gauges, as last made.
#[derive(Default)]
pub(crate) struct FleetGauges {
    last: Mutex<Option<(Instant, Arc<str>)>>,
    failing: std::sync::atomic::AtomicBool,
}

impl FleetGauges {
    /// The gauges' text, made anew from `reader` when the last is older than [`FRESH`] (and the
    /// reader is not busy: then the last is served). Empty without a store.
    pub(crate) async fn text(&self, reader: Option<&Arc<Mutex<Reader>>>) -> Arc<str> {
        let Some(reader) = reader else {
            return Arc::from("");
        };
        let cached = self.last.lock().ok().and_then(|last| last.clone());
        if let Some((made, text)) = &cached
            && made.elapsed() < FRESH
        {
            return text.clone();
        }
        let reader = reader.clone();
        let made = tokio::task::spawn_blocking(move || {
            let Ok(mut reader) = reader.try_lock() else {
                return Ok(None);
            };
            let fleet = read::last_day(reader.conn(), crate::time::now_secs())?;
            anyhow::Ok(Some(metrics_text(&fleet.tally, &fleet.sizes, TOP)))
        });
        let text: Arc<str> = match tokio::time::timeout(WAIT, made).await {
            Ok(Ok(Ok(Some(text)))) => {
                if self
                    .failing
                    .swap(false, std::sync::atomic::Ordering::Relaxed)
                {
                    log::line("fleet gauges: the store can be read again");
                }
                Arc::from(text)
            }
            // Busy answering another question: the last gauges, however old.
            Ok(Ok(Ok(None))) => return cached.map(|(_, text)| text).unwrap_or_else(|| "".into()),
            failed => {
                let why = match failed {
                    Ok(Ok(Err(e))) => format!("{e:#}"),
                    Ok(Err(e)) => format!("{e}"),
                    _ => format!("no answer in {}s", WAIT.as_secs()),
                };
                if !self
                    .failing
                    .swap(true, std::sync::atomic::Ordering::Relaxed)
                {
                    log::line(&format!(
                        "fleet gauges: reading the store failed, left out of /metrics until it can be read: {why}"
                    ));
                }
                Arc::from("")
            }
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), text.clone()));
        }
        text
    }
}

/// A fleet value as a label value: every character that is not printable ASCII written as
/// `\u{...}`, before the exposition's own escaping.
fn label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    out
}

/// The fleet as Prometheus gauges (`spartakus_fleet_...`): clusters and nodes in all, by
/// category (at most `top` values per dimension, the rest as `other`) and clusters by size.
/// Label sets stay bounded whatever the reports say.
fn metrics_text(tally: &Tally, sizes: &BTreeMap<&str, u64>, top: usize) -> String {
    let mut text = Text::new();
    let name = |n: &str| format!("spartakus_fleet_{n}");
    text.single(
        &name("clusters"),
        Kind::Gauge,
        "Clusters whose latest report came in the last 24 hours.",
        tally.clusters,
    );
    text.single(
        &name("nodes"),
        Kind::Gauge,
        "Nodes of those clusters, by their latest reports (last 24 hours).",
        tally.nodes,
    );
    type Family = (&'static str, &'static str, fn(&Count) -> u64);
    let by: [Family; 2] = [
        (
            "clusters_by_category",
            "Clusters with a value of a category (last 24 hours).",
            |c| c.clusters,
        ),
        (
            "nodes_by_category",
            "Nodes with a value of a category (last 24 hours).",
            |c| c.nodes,
        ),
    ];
    for (n, help, what) in by {
        text.family(&name(n), Kind::Gauge, help);
        for dimension in Dimension::ALL {
            for (value, count) in tally.top(dimension, top) {
                let labels = [("dimension", dimension.name()), ("value", &label(&value))];
                text.sample(&name(n), &labels, what(&count));
            }
        }
    }
    text.family(
        &name("clusters_by_size"),
        Kind::Gauge,
        "Clusters by how many nodes they have (last 24 hours).",
    );
    for (_, bucket) in SIZE_BUCKETS {
        let n = sizes.get(bucket).copied().unwrap_or(0);
        text.sample(&name("clusters_by_size"), &[("nodes", bucket)], n);
    }
    text.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fleet;
    use crate::prom::label_value;

    #[test]
    fn the_fleet_as_gauges() {
        let (_, t) = fleet::categories::tests::three_clusters();
        let sizes = BTreeMap::from([("2-5", 2u64), ("1", 1)]);
        let text = metrics_text(&t, &sizes, 1);
        assert!(text.contains("spartakus_fleet_clusters 3\n"), "{text}");
        assert!(text.contains("spartakus_fleet_nodes 7\n"), "{text}");
        assert!(
            text.contains(
                r#"spartakus_fleet_nodes_by_category{dimension="architecture",value="amd64"} 4"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"spartakus_fleet_nodes_by_category{dimension="architecture",value="other"} 3"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"spartakus_fleet_clusters_by_size{nodes="2-5"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"spartakus_fleet_clusters_by_size{nodes=">1000"} 0"#),
            "{text}"
        );
        assert_eq!(
            label_value(&label("a\"b\\c\u{2028}")),
            r#"a\"b\\c\\u{2028}"#
        );
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<u64>().is_ok(), "{line}");
        }
    }
}
