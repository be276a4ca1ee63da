//! The fleet's gauges on the collector's `/metrics` (`spartakus_fleet_...`): the clusters whose
//! latest report came in the last 24 hours, by category, read from the rollups with the
//! collector's read connection (the store adds them up, [`read::last_day`]). Made when scraped,
//! at most once a minute: a Prometheus that scrapes every 15 s costs the store one query a
//! minute, and a collector nobody scrapes none. When the store cannot be read the gauges are
//! left out (absent means unknown; a stale value would look like a fleet that stopped
//! changing), the log says so once, and the next scrape asks again (the PostgreSQL reader
//! connects again by itself once the database is back).
//!
//! A value is its `value` label, as reported (any script), with control and invisible
//! characters and backslashes escaped ([`crate::text::visible`]); the buckets have a `bucket`
//! label instead (`other`, `not_reported`), so no reported value can pass for one.

use crate::collector::fleet::trends::Period;
use crate::collector::fleet::{Dimension, Entry, SIZE_BUCKETS};
use crate::collector::store::{Reader, read};
use crate::log;
use crate::prom::{Kind, Text};
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
    /// reader is not busy: then the last is served). Empty without a store, or while it cannot
    /// be read.
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
            let now = crate::time::now_secs();
            let fleet = reader.with(|db| read::last_day(db, now, TOP))?;
            anyhow::Ok(Some(metrics_text(&fleet)))
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
                // Not kept: the next scrape asks again.
                if let Ok(mut last) = self.last.lock() {
                    *last = None;
                }
                return Arc::from("");
            }
        };
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), text.clone()));
        }
        text
    }
}

/// The labels of a gauge of `dimension`'s entry `e`: its value, or its bucket.
fn labels<'a>(dimension: Dimension, e: &'a Entry, value: &'a str) -> [(&'static str, &'a str); 2] {
    match e.label.bucket() {
        Some(bucket) => [("dimension", dimension.name()), ("bucket", bucket)],
        None => [("dimension", dimension.name()), ("value", value)],
    }
}

/// The fleet as Prometheus gauges (`spartakus_fleet_...`): clusters and nodes in all, by
/// category (the top values of each dimension and `other`; for the version skew, clusters by
/// their worst node and nodes by their own) and clusters by size. Label sets stay bounded
/// whatever the reports say.
fn metrics_text(fleet: &Period) -> String {
    let tally = &fleet.tally;
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
    type Family = (&'static str, &'static str, fn(&Entry) -> u64);
    let by: [Family; 2] = [
        (
            "clusters_by_category",
            "Clusters with a value of a category (last 24 hours).",
            |e| e.clusters,
        ),
        (
            "nodes_by_category",
            "Nodes with a value of a category (last 24 hours).",
            |e| e.nodes,
        ),
    ];
    for (n, help, what) in by {
        text.family(&name(n), Kind::Gauge, help);
        for dimension in Dimension::ALL {
            for e in tally.entries(dimension) {
                let value = crate::text::visible(e.label.value());
                text.sample(&name(n), &labels(dimension, e, &value), what(e));
            }
        }
    }
    text.family(
        &name("clusters_by_size"),
        Kind::Gauge,
        "Clusters by how many nodes they have (last 24 hours).",
    );
    for (_, bucket) in SIZE_BUCKETS {
        let n = fleet.sizes.get(bucket).copied().unwrap_or(0);
        text.sample(&name("clusters_by_size"), &[("nodes", bucket)], n);
    }
    text.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::fleet::{Label, Tally};
    use std::collections::BTreeMap;

    #[test]
    fn the_fleet_as_gauges_with_values_and_buckets_apart() {
        let v = |s: &str| Label::Value(s.into());
        let mut tally = Tally {
            clusters: 3,
            nodes: 7,
            by: BTreeMap::new(),
        };
        let a = Dimension::Architecture;
        tally.add(a, Entry::new(v("amd64"), 2, 4));
        tally.add(a, Entry::new(v("other"), 1, 1));
        tally.add(a, Entry::new(Label::Other, 1, 2));
        let o = Dimension::OsImage;
        tally.add(o, Entry::new(v("é"), 1, 1));
        tally.add(o, Entry::new(v("\\u{e9}"), 1, 1));
        tally.add(o, Entry::new(v("gnp\u{202e}.exe\"\n"), 1, 1));
        tally.add(o, Entry::new(Label::NotReported, 1, 4));
        let fleet = Period {
            start: 0,
            tally,
            sizes: BTreeMap::from([("2-5", 2u64), ("1", 1)]),
        };
        let text = metrics_text(&fleet);
        for line in [
            "spartakus_fleet_clusters 3\n",
            "spartakus_fleet_nodes 7\n",
            r#"spartakus_fleet_nodes_by_category{dimension="architecture",value="amd64"} 4"#,
            r#"spartakus_fleet_nodes_by_category{dimension="architecture",value="other"} 1"#,
            r#"spartakus_fleet_nodes_by_category{dimension="architecture",bucket="other"} 2"#,
            r#"spartakus_fleet_clusters_by_category{dimension="os_image",value="é"} 1"#,
            r#"spartakus_fleet_clusters_by_category{dimension="os_image",value="\\\\u{e9}"} 1"#,
            r#"spartakus_fleet_clusters_by_category{dimension="os_image",value="gnp\\u{202e}.exe\"\\u{a}"} 1"#,
            r#"spartakus_fleet_nodes_by_category{dimension="os_image",bucket="not_reported"} 4"#,
            r#"spartakus_fleet_clusters_by_size{nodes="2-5"} 2"#,
            r#"spartakus_fleet_clusters_by_size{nodes=">1000"} 0"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        let series: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0)
            .collect();
        let distinct: std::collections::BTreeSet<&str> = series.iter().copied().collect();
        assert_eq!(distinct.len(), series.len(), "a series twice:\n{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<u64>().is_ok(), "{line}");
        }
    }
}
