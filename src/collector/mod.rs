//! The collector: `spartakus collect` (receive, check, store) and `spartakus summary`.
//!
//! - [`settings`]: the flags of both, resolved.
//! - [`server`]: the HTTP/1.1 server: connections, routing, the access log, graceful shutdown;
//!   [`stall`]: connections whose writes may not wait for ever.
//! - [`ingest`]: the report endpoint, stage by stage (preflight, receive, check, store).
//! - [`budget`]: the memory budget every received report is paid from.
//! - [`writer`]: the single thread that writes to the store (dedup, rate limit, commit).
//! - [`limit`]: the per-cluster hourly rate limit; [`sources`]: new clusters per source.
//! - [`store`]: the SQLite store and its plain-SQL queries, and `stdout`.
//! - [`summary`]: the fleet at a glance, as text or JSON.
//! - [`fleet`]: the categories a report is counted in, and its profile (pure);
//!   [`trends`]: periods and how the fleet changes over them (pure).
//! - [`metrics`]: Prometheus counters.

pub mod budget;
pub mod dashboard;
pub mod fleet;
pub mod ingest;
pub mod limit;
pub mod metrics;
pub mod server;
pub mod settings;
pub mod sources;
pub mod stall;
pub mod store;
pub mod summary;
pub mod trends;
pub mod writer;

use anyhow::{Context, Result};
use settings::{CollectSettings, SummarySettings};
use std::sync::Arc;
use std::time::Duration;

/// `spartakus collect`: run the collector until SIGTERM or SIGINT.
pub fn collect(settings: CollectSettings) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(s: CollectSettings) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let sink = store::Sink::open(&s.store)?;
    let reader = match &s.store {
        store::Spec::Sqlite(path) => Some(store::Db::open_existing(path)?),
        store::Spec::Stdout => None,
    };
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let listener = tokio::net::TcpListener::bind(s.listen)
        .await
        .with_context(|| format!("listening on {}", s.listen))?;
    let addr = listener
        .local_addr()
        .with_context(|| format!("listening on {}", s.listen))?;

    let window = s.dedup_window.as_secs() as i64;
    let writer = writer::Writer::spawn(sink, limit::Limiter::new(s.rate_limit), window)?;
    let state = Arc::new(server::State::new(
        s.limits.clone(),
        writer.handle(),
        reader,
    ));
    if s.retention_days > 0 {
        tokio::spawn(retention(state.clone(), writer.handle(), s.retention_days));
    }
    server::log(&s.describe(addr, state.budget.bytes()));

    // The first signal drains; a second one (of either kind) stops at once.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = s.shutdown_grace;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        server::log(&format!(
            "{name}: no longer accepting; finishing requests in flight (up to {}s; a second signal stops at once)",
            grace.as_secs()
        ));
        let _ = first_tx.send(());
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        let _ = second_tx.send(());
    });
    let shutdown = server::Shutdown {
        drain: async move {
            let _ = first_rx.await;
        },
        now: async move {
            let _ = second_rx.await;
        },
        grace,
    };
    server::serve(listener, state.clone(), shutdown).await?;
    writer.stop().await;
    server::log(&format!(
        "stopped; {} report(s) stored since start",
        state.metrics.accepted_total()
    ));
    Ok(())
}

/// Deletes reports older than `days`, hourly.
async fn retention(state: Arc<server::State>, writer: writer::Handle, days: u32) {
    let keep = i64::from(days) * 86_400;
    let mut hourly = tokio::time::interval(Duration::from_secs(3600));
    loop {
        hourly.tick().await;
        match writer.prune(crate::time::now_secs() - keep).await {
            Ok(0) => {}
            Ok(n) => {
                state.metrics.pruned(n);
                server::log(&format!("retention: deleted {n} report(s)"));
            }
            Err(e) => server::log(&format!("retention: {e:#}")),
        }
    }
}

/// `spartakus summary`: print the fleet at a glance.
pub fn summary(s: &SummarySettings) -> Result<()> {
    let store::Spec::Sqlite(path) = &s.store else {
        return Err(crate::cli::usage("--store: give the collector's store"));
    };
    let db = store::Db::open_existing(path)?;
    let summary = summary::build(
        &db,
        crate::time::now_secs(),
        s.days,
        s.cluster.as_deref(),
        s.top,
    )
    .with_context(|| format!("querying store {}", path.display()))?;
    let text = if s.json {
        let mut json = serde_json::to_string_pretty(&summary)?;
        json.push('\n');
        json
    } else {
        summary::render(&summary, s.top)
    };
    crate::exit::print(text.as_bytes())
}
