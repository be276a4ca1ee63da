//! The fleet's gauges on the collector's `/metrics` (`spartakus_fleet_...`): the clusters whose
//! latest report came in the last 24 hours, by category, read from the rollups with the
//! collector's read connection. Made when scraped, at most once a minute: a Prometheus that
//! scrapes every 15 s costs the store one small query a minute, and a collector nobody scrapes
//! none. When the store cannot be read the gauges are left out (absent means unknown; a stale
//! value would look like a fleet that stopped changing), and the log says so once.

use super::fleet;
use super::server::log;
use super::store::{Reader, read};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long gauges made once are served again.
pub const FRESH: Duration = Duration::from_secs(60);

/// Values shown per category; the rest are summed up as `other`.
pub const TOP: usize = 10;

/// The longest a scrape waits for the store.
const WAIT: Duration = Duration::from_secs(5);

/// The gauges, as last made.
#[derive(Default)]
pub struct FleetGauges {
    last: Mutex<Option<(Instant, Arc<str>)>>,
    failing: std::sync::atomic::AtomicBool,
}

impl FleetGauges {
    /// The gauges' text, made anew from `reader` when the last is older than [`FRESH`] (and the
    /// reader is not busy: then the last is served). Empty without a store.
    pub async fn text(&self, reader: Option<&Arc<Mutex<Reader>>>) -> Arc<str> {
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
            anyhow::Ok(Some(fleet::metrics_text(&fleet.tally, &fleet.sizes, TOP)))
        });
        let text: Arc<str> = match tokio::time::timeout(WAIT, made).await {
            Ok(Ok(Ok(Some(text)))) => {
                if self
                    .failing
                    .swap(false, std::sync::atomic::Ordering::Relaxed)
                {
                    log("fleet gauges: the store can be read again");
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
                    log(&format!(
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
