//! The collector: `spartakus collect` (receive, check, store), `spartakus summary`,
//! `spartakus export`, `spartakus dashboard` and `spartakus backup`.
//!
//! - [`settings`]: the flags of each, resolved.
//! - [`server`]: the HTTP/1.1 server: connections, routing, the access log, graceful shutdown;
//!   [`stall`]: connections whose writes may not wait for ever.
//! - [`ingest`]: the report endpoint, stage by stage (preflight, receive, check, store);
//!   [`forget`]: the deletion request of a cluster.
//! - [`budget`]: the memory budget every received report is paid from.
//! - [`writer`]: the threads that write to the store, a batch of reports per transaction.
//! - [`limit`]: the per-cluster hourly rate limit's algorithm (kept in the store's database);
//!   [`sources`]: new clusters per source, in memory.
//! - [`store`]: SQLite and PostgreSQL (one schema, statements written once), and `stdout`.
//! - [`summary`]: the fleet at a glance, or how it changed, as text, JSON or CSV;
//!   [`export`]: the stored reports as JSON lines or CSV.
//! - [`fleet`]: the categories a report is counted in, and its profile (pure);
//!   [`trends`]: periods and how the fleet changes over them (pure); [`workstats`]: the fleet's
//!   workload statistics (pure).
//! - [`metrics`]: Prometheus counters; [`gauges`]: the fleet's gauges beside them.
//! - [`dashboard`]: the read-only web page over a store.

pub mod budget;
pub mod dashboard;
pub mod export;
pub mod fleet;
pub mod forget;
pub mod gauges;
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
pub mod workstats;
pub mod writer;

use anyhow::{Context, Result};
use settings::{BackupSettings, CollectSettings, Format, SummarySettings, TrendSpec};
use std::sync::Arc;
use std::time::Duration;

/// `spartakus collect`: run the collector until SIGTERM or SIGINT.
///
/// In this order, so that a collector that cannot run leaves nothing behind: the port is bound
/// (a port in use creates no store file), the store's lock is taken (a second collector on the
/// same SQLite file is refused before it touches it), then the store is opened, created and
/// migrated as needed.
pub fn collect(settings: CollectSettings) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
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
    use tokio::signal::unix::{SignalKind, signal};

    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
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
    let state = Arc::new(server::State::new(
        s.limits.clone(),
        writer.handle(),
        budget,
        known,
    ));
    tokio::spawn(maintenance(state.clone(), s.retention_days));
    crate::log::line(&s.describe(addr, state.budget.bytes()));

    // The first signal drains; a second one (of either kind) stops at once.
    let (first_tx, first_rx) = tokio::sync::oneshot::channel::<()>();
    let (second_tx, second_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = s.shutdown_grace;
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        crate::log::line(&format!(
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
pub const PG_WRITERS: usize = 4;

/// Hourly: delete reports older than `days` (0: none) and rate limit entries that are past.
/// Every two seconds while the store is failing: a write probe, so that the collector notices
/// (and says) by itself when the store is back.
async fn maintenance(state: Arc<server::State>, days: u32) {
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

/// `spartakus summary`: print the fleet at a glance, or how it changed.
pub fn summary(s: &SummarySettings) -> Result<()> {
    let mut reader = store::Reader::open(&s.store)?;
    let now = crate::time::now_secs();
    let text = match s.trend {
        None => snapshot(reader.conn(), s, now),
        Some(trend) => self::trend(reader.conn(), s, trend, now),
    }
    .with_context(|| format!("querying store {}", s.store))?;
    crate::exit::print(text.as_bytes())
}

/// The fleet now, as `s.format` says.
fn snapshot(db: &mut dyn store::sql::Conn, s: &SummarySettings, now: i64) -> Result<String> {
    let cluster = s.cluster.as_deref();
    Ok(match s.format {
        Format::Table => summary::render(&summary::build(db, now, s.days, cluster, s.top)?, s.top),
        Format::Json => {
            let summary = summary::build(db, now, s.days, cluster, s.top)?;
            let mut json = serde_json::to_string_pretty(&summary)?;
            json.push('\n');
            json
        }
        // One period: the window, from its first day.
        Format::Csv => {
            let since = store::read::window_start(now, s.days);
            let period = store::read::current_of(db, since, cluster)?;
            trends::csv(&trends::Trend {
                every: trends::Every::Day,
                periods: vec![period],
            })
        }
    })
}

/// How the fleet changed, period by period, as `s.format` says.
fn trend(
    db: &mut dyn store::sql::Conn,
    s: &SummarySettings,
    spec: TrendSpec,
    now: i64,
) -> Result<String> {
    let since = now - i64::try_from(spec.since.as_secs()).unwrap_or(i64::MAX / 2);
    let trend = store::read::trend(db, spec.every, since, now, s.cluster.as_deref())?;
    Ok(match s.format {
        Format::Table => format!(
            "{}\n{}",
            trends::title(&trend, s.cluster.as_deref()),
            trends::table(&trend, s.top)
        ),
        Format::Json => trends::json(&trend),
        Format::Csv => trends::csv(&trend),
    })
}

/// `spartakus backup`: a consistent copy of a SQLite store, safe while collectors write to it.
pub fn backup(s: &BackupSettings) -> Result<()> {
    let refuse = |m: String| crate::exit::fail(crate::exit::Class::Usage, anyhow::anyhow!("{m}"));
    let path = match &s.store {
        store::Spec::Sqlite(path) => path,
        store::Spec::Postgres(url) => {
            return Err(refuse(format!(
                "{url} is a PostgreSQL store: back it up with pg_dump, e.g. \
                 `pg_dump --format=custom --file=spartakus.dump` with the same connection settings"
            )));
        }
        store::Spec::Stdout => {
            return Err(refuse("--store stdout keeps nothing to back up".into()));
        }
    };
    if let Some(file) = store::sqlite::part_of(path, &s.to) {
        return Err(refuse(format!(
            "--to {} is {} of the store itself; write the copy to another file",
            s.to.display(),
            file
        )));
    }
    let db = store::Db::open_existing(path)?;
    if s.to.as_os_str() == "-" {
        return backup_to_stdout(&db, path);
    }
    if s.to.exists() {
        if !s.force {
            return Err(refuse(format!(
                "{} exists; give --force to replace it",
                s.to.display()
            )));
        }
        if store::lock::in_use(&s.to) {
            return Err(refuse(format!(
                "{} is the store of a running collector; stop it first, or choose another file",
                s.to.display()
            )));
        }
        remove_store_files(&s.to)?;
    }
    let reports = db.backup(&s.to)?;
    let line = format!(
        "backed up store {} to {}: {reports} report(s), schema version {}\n",
        path.display(),
        s.to.display(),
        store::schema::version()
    );
    crate::exit::print(line.as_bytes())
}

/// `--to -`: the copy is made beside the store, written to stdout, and removed (the image has no
/// shell or `tar`, so this is how `kubectl exec` gets a copy out of the pod).
fn backup_to_stdout(db: &store::Db, path: &std::path::Path) -> Result<()> {
    use std::io::Write;
    let copy = store::sqlite::with_suffix(path, &format!(".backup-{}", std::process::id()));
    let streamed = (|| {
        let reports = db.backup(&copy)?;
        let mut file =
            std::fs::File::open(&copy).with_context(|| format!("reading {}", copy.display()))?;
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        std::io::copy(&mut file, &mut out)
            .and_then(|_| out.flush())
            .context("writing the copy to stdout")?;
        Ok::<_, anyhow::Error>(reports)
    })();
    let _ = remove_store_files(&copy);
    let reports = streamed?;
    eprintln!(
        "backed up store {} to stdout: {reports} report(s), schema version {}",
        path.display(),
        store::schema::version()
    );
    Ok(())
}

/// A SQLite file and its journal files, if there.
fn remove_store_files(file: &std::path::Path) -> Result<()> {
    let journals = store::sqlite::PARTS
        .iter()
        .filter(|(suffix, _)| *suffix != ".lock");
    for (suffix, _) in journals {
        let file = store::sqlite::with_suffix(file, suffix);
        match std::fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(anyhow::Error::from(e).context(format!("replacing {}", file.display())));
            }
            _ => {}
        }
    }
    Ok(())
}
