//! `spartakus collect`: the collector's start, its run and its stop, wiring the HTTP server
//! ([`super::http`]), the API ([`super::api`]), the guards ([`super::guard`]) and the store
//! ([`super::store`]) together, and the hourly upkeep of the store.

use super::api::State;
use super::guard::{budget, limit};
use super::http;
use super::settings::CollectSettings;
use super::store::{self, writer};
use anyhow::{Context, Result};
use std::sync::Arc;
use std::time::Duration;

/// `spartakus collect`: run the collector until SIGTERM or SIGINT.
///
/// In this order, so that a collector that cannot run leaves nothing behind: the port is bound
/// (a port in use creates no store file), the store's lock is taken (a second collector on the
/// same SQLite file is refused before it touches it), then the store is opened, created and
/// migrated as needed.
pub(crate) fn run(settings: CollectSettings) -> Result<()> {
    let runtime = crate::runtime::current_thread()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(settings.listen))
        .with_context(|| format!("listening on {}", settings.listen))?;
    let _lock = match &settings.store {
        store::Spec::Sqlite(path) => Some(store::lock::take(path)?),
        _ => None,
    };
    // Opened outside the runtime: the PostgreSQL client runs a runtime of its own.
    let sinks = open_sinks(&settings.store, settings.rate_limit)?;
    // A read connection, to tell known clusters from new ones (per-source limits).
    let known = match &settings.store {
        store::Spec::Stdout => None,
        spec => Some(store::Reader::open(spec)?),
    };
    runtime.block_on(serve(settings, listener, sinks, known))
}

async fn serve(
    s: CollectSettings,
    listener: tokio::net::TcpListener,
    mut sinks: Vec<store::Sink>,
    known: Option<store::Reader>,
) -> Result<()> {
    let signals = crate::runtime::stop_signals()?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("listening on {}", s.listen))?;

    let rules = store::Rules {
        window_secs: s.dedup_window.as_secs() as i64,
        rate: limit::Gcra::new(s.rate_limit),
    };
    let budget = budget::Budget::new(s.limits.memory_budget);
    for sink in &mut sinks {
        sink.pay_from(&budget);
    }
    let writer = writer::Writer::spawn(sinks, rules)?;
    let state = Arc::new(State::new(s.limits.clone(), writer.handle(), budget, known));
    tokio::spawn(maintenance(state.clone(), s.retention_days));
    crate::log::line(&s.describe(addr, state.budget.bytes()));

    // The first signal drains; a second one (of either kind) stops at once.
    let grace = s.shutdown_grace;
    let shutdown = http::Shutdown {
        drain: async move {
            if let Ok(name) = signals.first.await {
                crate::log::line(&format!(
                    "{name}: no longer accepting; finishing requests in flight (up to {}s; a second signal stops at once)",
                    grace.as_secs()
                ));
            }
        },
        now: async move {
            let _ = signals.second.await;
        },
        grace,
    };
    http::serve(listener, state.clone(), shutdown).await?;
    writer.stop().await;
    crate::log::line(&format!(
        "stopped; {} report(s) stored since start",
        state.metrics.accepted_total()
    ));
    Ok(())
}

/// Writer threads for the store: PostgreSQL gets [`PG_WRITERS`], each on a connection of its
/// own (the first opened here, so that a store that cannot be used stops the start).
fn open_sinks(spec: &store::Spec, rate_limit: u32) -> Result<Vec<store::Sink>> {
    let first = store::Sink::open(spec, rate_limit)?;
    let mut sinks = Vec::new();
    if let store::Spec::Postgres(_) = spec {
        for _ in 1..PG_WRITERS {
            sinks.extend(first.another()?);
        }
    }
    sinks.insert(0, first);
    Ok(sinks)
}

/// Writer threads (and connections) for a PostgreSQL store. Measured at concurrency 32
/// (bench/collector): 1 writer 1,700 reports/s, 2 2,450, 4 2,640; each waits for the network
/// most of the time, so several keep the server busy.
pub(crate) const PG_WRITERS: usize = 4;

/// Hourly: delete reports older than `days` (0: none) and rate limit entries that are past.
/// Every two seconds while the store is failing: a write probe, so that the collector notices
/// (and says) by itself when the store is back.
async fn maintenance(state: Arc<State>, days: u32) {
    let writer = state.writer.clone();
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    let mut check = tokio::time::interval(Duration::from_secs(2));
    loop {
        tokio::select! {
            _ = hourly.tick() => {
                let cutoff = (days > 0).then(|| crate::time::now_secs() - i64::from(days) * 86_400);
                match writer.prune(cutoff).await {
                    Ok(pruned) if pruned.reports > 0 => {
                        state.metrics.pruned(pruned.reports);
                        crate::log::line(&format!("retention: deleted {} report(s)", pruned.reports));
                    }
                    Ok(_) => {}
                    Err(e) => crate::log::line(&format!("retention: {e:#}")),
                }
            }
            _ = check.tick() => {
                if writer.health().failing() {
                    let _ = writer.probe().await;
                }
            }
        }
    }
}
