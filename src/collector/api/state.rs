//! What every request handler of the collector shares: the limits, the counters, the writer's
//! handle, the memory budget, the per-source tables and the store's read connection.

use super::gauges::FleetGauges;
use super::metrics::Metrics;
use crate::collector::guard::budget::Budget;
use crate::collector::guard::sources::{self, Shared};
use crate::collector::store::{Reader, writer};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Limits and timeouts, validated from the flags.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    /// Time for a request's headers (and for an idle keep-alive connection's next request).
    pub(crate) header_timeout: Duration,
    /// Time to receive a report's body; the same again to store it.
    pub(crate) request_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Report requests handled at once.
    pub(crate) max_requests: usize,
    /// Bytes of received reports held at once, by all requests together (see [`budget`]).
    pub(crate) memory_budget: usize,
    /// Largest body as sent, and largest decompressed report.
    pub(crate) max_body: usize,
    /// Log successful probes and scrapes (`/healthz`, `/readyz`, `/metrics`) too.
    pub(crate) log_probes: bool,
    /// New cluster IDs one source may bring per hour (0: no limit).
    pub(crate) new_clusters_per_source: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub(crate) trusted_proxies: Vec<sources::Cidr>,
}

/// What every request handler shares.
pub(crate) struct State {
    pub limits: Limits,
    pub metrics: Metrics,
    pub writer: writer::Handle,
    pub budget: Budget,
    /// Report requests handled at once (`--max-requests`).
    pub requests: Arc<Semaphore>,
    /// New clusters per source, in memory only.
    pub sources: Shared,
    /// A read connection to the store, to tell a known cluster from a new one (none for
    /// `stdout`, where every cluster is new).
    pub known: Option<Arc<Mutex<Reader>>>,
    /// The clock of the in-memory limits (see [`State::clock_ms`]).
    started: Instant,
    /// Requests to forget a cluster, per source.
    pub(crate) forgets: Shared,
    /// The fleet's gauges on /metrics, made from `known`'s connection.
    pub fleet: FleetGauges,
}

impl State {
    /// Milliseconds since the collector started: the clock of the limits kept in memory
    /// (new clusters and deletion requests per source). Monotonic, unlike the wall clock the
    /// store's limits share with other collectors ([`crate::time::now_ms`]).
    pub(crate) fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// `budget` is the one made of `limits.memory_budget` (the stdout store pays from it too);
    /// `known` a read connection to the store, if it keeps reports.
    pub(crate) fn new(
        limits: Limits,
        writer: writer::Handle,
        budget: Budget,
        known: Option<Reader>,
    ) -> State {
        State {
            requests: Arc::new(Semaphore::new(limits.max_requests)),
            sources: Shared::new(limits.new_clusters_per_source),
            known: known.map(|r| Arc::new(Mutex::new(r))),
            started: Instant::now(),
            budget,
            limits,
            metrics: Metrics::default(),
            writer,
            forgets: Shared::new(sources::DELETIONS_PER_SOURCE_PER_HOUR),
            fleet: FleetGauges::default(),
        }
    }
}
