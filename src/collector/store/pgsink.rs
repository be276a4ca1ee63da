//! [`PgSink`]: a PostgreSQL connection that reconnects by itself when the database is gone,
//! failing at once in the meantime (so requests are answered 503 quickly): a store writer's
//! ([`PgSink::new`]), or a reader's ([`PgSink::reader`]: the dashboard's, the fleet gauges').

use super::pgurl::{PgUrl, redact};
use super::postgres::Pg;
use anyhow::{Result, anyhow};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// A connection, and when to try again without one.
pub struct PgSink {
    url: PgUrl,
    /// How a connection is made: [`Pg::open`] (migrated, and checked to take a write) for a
    /// writer, [`Pg::open_existing`] for a reader.
    open: fn(&PgUrl) -> Result<Pg>,
    pg: Option<Pg>,
    next_try: Instant,
    backoff: Duration,
    last_error: String,
    /// Counts the reconnections of all writers of this collector: when another writer got
    /// through, the database is back, and this one tries at once instead of waiting its backoff.
    reconnected: Arc<AtomicU64>,
    seen: u64,
}

impl PgSink {
    pub(crate) fn new(pg: Pg) -> PgSink {
        PgSink {
            open: Pg::open,
            url: pg.url().clone(),
            pg: Some(pg),
            next_try: Instant::now(),
            backoff: FIRST_BACKOFF,
            last_error: String::new(),
            reconnected: Arc::new(AtomicU64::new(0)),
            seen: 0,
        }
    }

    /// A reader's connection, which reconnects as a writer's does.
    pub(crate) fn reader(pg: Pg) -> PgSink {
        PgSink {
            open: Pg::open_existing,
            ..PgSink::new(pg)
        }
    }

    /// Another connection to the same database, for another writer thread, opened (and
    /// reopened) as this one is.
    pub(crate) fn sibling(&self) -> Result<PgSink> {
        let mut sink = PgSink {
            open: self.open,
            ..PgSink::new((self.open)(&self.url)?)
        };
        sink.reconnected = self.reconnected.clone();
        sink.seen = self.reconnected.load(Relaxed);
        Ok(sink)
    }

    /// Run `f` on the connection, connecting first if there is none (and it is time to try).
    /// When the connection broke under `f`, `f` runs once more on a new one: nothing it did was
    /// committed, or if its commit went through, what it stored is found again as duplicates.
    pub(crate) fn with<T>(&mut self, mut f: impl FnMut(&mut Pg) -> Result<T>) -> Result<T> {
        let mut done = self.connected().and_then(&mut f);
        if done.is_err() && self.pg.as_ref().is_some_and(Pg::is_closed) {
            self.pg = None;
            self.next_try = Instant::now();
            done = self.connected().and_then(&mut f);
        }
        done.map_err(|e| {
            let text = format!("store {}: {}", self.url, redact(&format!("{e:#}")));
            if self.pg.as_ref().is_some_and(Pg::is_closed) {
                self.pg = None;
                self.last_error = text.clone();
            }
            anyhow!("{text}")
        })
    }

    /// The connection, connecting first if there is none (and it is time to try).
    pub(crate) fn connected(&mut self) -> Result<&mut Pg> {
        if self.pg.is_none() {
            let others_got_through = self.reconnected.load(Relaxed) != self.seen;
            if Instant::now() < self.next_try && !others_got_through {
                return Err(anyhow!("{} (reconnecting)", self.last_error));
            }
            match (self.open)(&self.url) {
                Ok(pg) => {
                    self.pg = Some(pg);
                    self.backoff = FIRST_BACKOFF;
                    self.seen = self.reconnected.fetch_add(1, Relaxed) + 1;
                }
                Err(e) => {
                    self.last_error = format!("{e:#}");
                    self.next_try = Instant::now() + self.backoff;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    self.seen = self.reconnected.load(Relaxed);
                    return Err(e);
                }
            }
        }
        self.pg.as_mut().ok_or_else(|| anyhow!("no connection"))
    }
}
