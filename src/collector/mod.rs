//! The collector: `spartakus collect` (receive, check, store) and `spartakus summary`.
//!
//! - [`wire`]: decoding and checking a received report (pure, no I/O).
//! - [`server`]: the HTTP/1.1 server, its routes, limits and graceful shutdown.
//! - [`writer`]: the single thread that writes to the store (dedup, rate limit, commit).
//! - [`limit`]: the per-cluster hourly rate limit.
//! - [`store`]: the schema and plain-SQL queries (SQLite now, PostgreSQL-ready), and `stdout`.
//! - [`summary`]: the fleet at a glance, as text or JSON.
//! - [`metrics`]: Prometheus counters.

pub mod limit;
pub mod metrics;
pub mod server;
pub mod store;
pub mod summary;
pub mod wire;
pub mod writer;

use crate::exit::{Class, fail};
use anyhow::{Context, Result, anyhow};
use argh::FromArgs;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Receive, check and store reports (the collector). Answers POST /api/v1, and GET /healthz,
/// /readyz, /version and /metrics. Stops cleanly on SIGTERM or SIGINT.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "collect")]
pub struct CollectArgs {
    /// address to listen on, IP:PORT; port 0 picks a free port, printed at start (default 0.0.0.0:8080)
    #[argh(option, default = "String::from(\"0.0.0.0:8080\")")]
    pub listen: String,
    /// where reports go: a SQLite file path (created if missing), or `stdout` to print each report as one JSON line (default spartakus.db)
    #[argh(option, default = "String::from(\"spartakus.db\")")]
    pub store: String,
    /// new reports accepted per cluster ID per hour, then 429; duplicates do not count; 0 for no limit (default 6)
    #[argh(option, default = "6")]
    pub rate_limit: u32,
    /// a report with the same cluster ID and content as one received this recently is a duplicate, e.g. 1h, 30m; 0 to match Idempotency-Key only (default 1h)
    #[argh(option, default = "String::from(\"1h\")")]
    pub dedup_window: String,
    /// delete reports received more than this many days ago, checked hourly; 0 keeps them forever (default 400)
    #[argh(option, default = "400")]
    pub retention_days: u32,
    /// most open client connections; more wait in the listen backlog (default 512)
    #[argh(option, default = "512")]
    pub max_connections: usize,
    /// most report requests handled at once, each holding up to ~100 MiB at the size limits; more wait 5s, then get 503 (default 16)
    #[argh(option, default = "16")]
    pub max_requests: usize,
    /// time a client has to send its request headers, also the keep-alive idle limit (default 10s)
    #[argh(option, default = "String::from(\"10s\")")]
    pub header_timeout: String,
    /// time a client has to send a report's body, from its headers; also the limit for storing it (default 60s)
    #[argh(option, default = "String::from(\"60s\")")]
    pub request_timeout: String,
}

/// Print the fleet at a glance from a collector's store: clusters reporting, Kubernetes
/// versions, node OS, architecture, container runtime, cloud provider, node counts.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "summary")]
pub struct SummaryArgs {
    /// the collector's store: a SQLite file path (default spartakus.db)
    #[argh(option, default = "String::from(\"spartakus.db\")")]
    pub store: String,
    /// look at clusters that reported in the last N days (default 30)
    #[argh(option, default = "30")]
    pub days: u32,
    /// only this cluster ID
    #[argh(option)]
    pub cluster: Option<String>,
    /// rows shown per table, the rest summed up; also how many latest reports are listed (default 15)
    #[argh(option, default = "15")]
    pub top: usize,
    /// print JSON (a stable shape for scripts) instead of text tables
    #[argh(switch)]
    pub json: bool,
}

/// The collector's settings, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    pub store: store::Spec,
    pub rate_limit: u32,
    pub dedup_window: Duration,
    pub retention_days: u32,
    pub limits: server::Limits,
}

impl Settings {
    pub fn from_args(args: CollectArgs) -> Result<Settings> {
        let listen: SocketAddr = args.listen.trim().parse().map_err(|_| {
            usage(format!(
                "--listen {}: want IP:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0",
                args.listen
            ))
        })?;
        let duration = |flag: &str, text: &str| {
            parse_duration(text).map_err(|e| usage(format!("--{flag} {text}: {e}")))
        };
        let header_timeout = duration("header-timeout", &args.header_timeout)?;
        let request_timeout = duration("request-timeout", &args.request_timeout)?;
        if header_timeout.is_zero() || request_timeout.is_zero() {
            return Err(usage(
                "--header-timeout and --request-timeout must be above 0",
            ));
        }
        if args.max_connections == 0 || args.max_requests == 0 {
            return Err(usage(
                "--max-connections and --max-requests must be above 0",
            ));
        }
        if args.max_connections > u32::MAX as usize >> 3 {
            return Err(usage("--max-connections is too large"));
        }
        Ok(Settings {
            listen,
            store: store::Spec::parse(&args.store)?,
            rate_limit: args.rate_limit,
            dedup_window: duration("dedup-window", &args.dedup_window)?,
            retention_days: args.retention_days,
            limits: server::Limits {
                header_timeout,
                request_timeout,
                max_connections: args.max_connections,
                max_requests: args.max_requests,
                max_body: wire::MAX_BODY_BYTES,
            },
        })
    }
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Class::Usage, anyhow!("{msg}"))
}

/// Run the collector until SIGTERM or SIGINT.
pub fn run_collect(args: CollectArgs) -> Result<()> {
    let settings = Settings::from_args(args)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(collect(settings))
}

async fn collect(s: Settings) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};

    let sink = store::Sink::open(&s.store)?;
    let (reader, shown) = match &s.store {
        store::Spec::Sqlite(path) => (
            Some(store::Db::open_existing(path)?),
            path.display().to_string(),
        ),
        store::Spec::Stdout => (None, "stdout".to_string()),
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
        let handle = writer.handle();
        let state = state.clone();
        let keep = i64::from(s.retention_days) * 86_400;
        tokio::spawn(async move {
            let mut hourly = tokio::time::interval(Duration::from_secs(3600));
            loop {
                hourly.tick().await;
                match handle.prune(now_secs() - keep).await {
                    Ok(0) => {}
                    Ok(n) => {
                        state.metrics.pruned(n);
                        server::log(&format!("retention: deleted {n} report(s)"));
                    }
                    Err(e) => server::log(&format!("retention: {e:#}")),
                }
            }
        });
    }

    server::log(&format!(
        "listening on {addr}, store {shown}, rate limit {}/h per cluster, dedup window {}s, retention {} days",
        s.rate_limit, window, s.retention_days
    ));
    let shutdown = async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        server::log(&format!(
            "{name}: no longer accepting; finishing requests in flight"
        ));
    };
    server::serve(listener, state.clone(), shutdown).await?;
    writer.stop().await;
    server::log(&format!(
        "stopped; {} report(s) stored since start",
        state.metrics.accepted_total()
    ));
    Ok(())
}

/// Print the summary.
pub fn run_summary(args: SummaryArgs) -> Result<()> {
    let path = match store::Spec::parse(&args.store)? {
        store::Spec::Sqlite(path) => path,
        store::Spec::Stdout => {
            return Err(usage(
                "--store stdout keeps nothing to summarize; give the collector's SQLite file",
            ));
        }
    };
    if args.days == 0 || args.days > 36_500 {
        return Err(usage("--days must be between 1 and 36500"));
    }
    if args.top == 0 {
        return Err(usage("--top must be above 0"));
    }
    let db = store::Db::open_existing(&path)?;
    let summary = summary::build(
        &db,
        now_secs(),
        args.days,
        args.cluster.as_deref(),
        args.top,
    )
    .with_context(|| format!("querying store {}", path.display()))?;
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&summary)?;
        json.push('\n');
        json
    } else {
        summary::render(&summary, args.top)
    };
    std::io::stdout()
        .lock()
        .write_all(text.as_bytes())
        .context("writing to stdout")?;
    Ok(())
}

/// `90s`, `5m`, `1h`, `2d`, `250ms`, or plain seconds.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "want a number with a unit: 250ms, 90s, 5m, 1h or 2d".to_string())?;
    let ms = match unit {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("unknown unit `{unit}` (want ms, s, m, h or d)")),
    };
    n.checked_mul(ms)
        .filter(|ms| *ms <= 366 * 86_400_000)
        .map(Duration::from_millis)
        .ok_or_else(|| "longer than a year".to_string())
}

/// Unix seconds now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
pub(crate) fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-11-01T09:30:00Z`.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rest = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), in 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect_args(extra: &[&str]) -> std::result::Result<CollectArgs, argh::EarlyExit> {
        CollectArgs::from_args(&["collect"], extra)
    }

    #[test]
    fn defaults() {
        let s = Settings::from_args(collect_args(&[]).unwrap()).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.store, store::Spec::Sqlite("spartakus.db".into()));
        assert_eq!(s.rate_limit, 6);
        assert_eq!(s.dedup_window, Duration::from_secs(3600));
        assert_eq!(s.retention_days, 400);
        assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(s.limits.request_timeout, Duration::from_secs(60));
        assert_eq!(s.limits.max_body, 32 << 20);
        let summary = SummaryArgs::from_args(&["summary"], &[]).unwrap();
        assert_eq!((summary.days, summary.top, summary.json), (30, 15, false));
        assert_eq!(summary.store, "spartakus.db");
    }

    #[test]
    fn flags_are_checked_as_usage_errors() {
        let s = Settings::from_args(
            collect_args(&[
                "--listen",
                "127.0.0.1:0",
                "--store",
                "stdout",
                "--dedup-window",
                "0",
                "--header-timeout",
                "500ms",
            ])
            .unwrap(),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0);
        assert_eq!(s.store, store::Spec::Stdout);
        assert!(s.dedup_window.is_zero());
        assert_eq!(s.limits.header_timeout, Duration::from_millis(500));
        for bad in [
            &["--listen", "localhost"][..],
            &["--listen", "1.2.3.4"],
            &["--store", "postgres://db/x"],
            &["--dedup-window", "1w"],
            &["--header-timeout", "0"],
            &["--max-requests", "0"],
        ] {
            let e = Settings::from_args(collect_args(bad).unwrap()).unwrap_err();
            assert_eq!(crate::exit::class_of(&e), Class::Usage, "{bad:?}: {e:#}");
        }
        assert!(collect_args(&["--rate-limit", "-1"]).is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }
}
