//! The collector: `spartakus collect` (receive, check, store) and `spartakus summary`.
//!
//! - [`wire`]: decoding and checking a received report (pure, no I/O).
//! - [`server`]: the HTTP/1.1 server, its routes, limits and graceful shutdown.
//! - [`writer`]: the single thread that writes to the store (dedup, rate limit, commit).
//! - [`budget`]: the memory budget every received report is paid from.
//! - [`limit`]: the per-cluster hourly rate limit.
//! - [`store`]: the schema and plain-SQL queries (SQLite now, PostgreSQL-ready), and `stdout`.
//! - [`summary`]: the fleet at a glance, as text or JSON.
//! - [`metrics`]: Prometheus counters.

pub mod budget;
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
/// /readyz, /version and /metrics. Stops cleanly on SIGTERM or SIGINT. Each flag not given is
/// read from the environment variable named after it, e.g. SPARTAKUS_LISTEN for --listen.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(subcommand, name = "collect")]
pub struct CollectArgs {
    /// address to listen on, IP:PORT; port 0 picks a free port, printed at start (default 0.0.0.0:8080) [env SPARTAKUS_LISTEN]
    #[argh(option)]
    pub listen: Option<String>,
    /// where reports go: a SQLite file path (created if missing), or `stdout` to print each report as one JSON line (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// new reports accepted per cluster ID per hour, then 429; duplicates do not count; 0 for no limit (default 6) [env SPARTAKUS_RATE_LIMIT]
    #[argh(option)]
    pub rate_limit: Option<String>,
    /// a report with the same cluster ID and content as one received this recently is a duplicate, e.g. 1h, 30m; 0 to match Idempotency-Key only (default 1h) [env SPARTAKUS_DEDUP_WINDOW]
    #[argh(option)]
    pub dedup_window: Option<String>,
    /// delete reports received more than this many days ago, checked hourly; 0 keeps them forever (default 400) [env SPARTAKUS_RETENTION_DAYS]
    #[argh(option)]
    pub retention_days: Option<String>,
    /// most open client connections; more wait in the listen backlog (default 512) [env SPARTAKUS_MAX_CONNECTIONS]
    #[argh(option)]
    pub max_connections: Option<String>,
    /// most report requests handled at once; more wait 5s, then get 503 (default 16) [env SPARTAKUS_MAX_REQUESTS]
    #[argh(option)]
    pub max_requests: Option<String>,
    /// memory for received reports, all requests together, e.g. 128Mi; at least 48Mi (the largest report); a request that finds no room within 5s gets 503 (default 96Mi) [env SPARTAKUS_MEMORY_BUDGET]
    #[argh(option)]
    pub memory_budget: Option<String>,
    /// time a client has to send its request headers, also the keep-alive idle limit (default 10s) [env SPARTAKUS_HEADER_TIMEOUT]
    #[argh(option)]
    pub header_timeout: Option<String>,
    /// time a client has to send a report's body, from its headers; also the limit for storing it (default 60s) [env SPARTAKUS_REQUEST_TIMEOUT]
    #[argh(option)]
    pub request_timeout: Option<String>,
}

/// The memory budget unless told otherwise. With the default --max-connections, the collector's
/// peak RSS stays below 192 MiB (see `docs/collector.md` for the measurements).
pub const DEFAULT_MEMORY_BUDGET: &str = "96Mi";

/// Print the fleet at a glance from a collector's store: clusters reporting, Kubernetes
/// versions, node OS, architecture, container runtime, cloud provider, node counts.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand, name = "summary")]
pub struct SummaryArgs {
    /// the collector's store: a SQLite file path (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
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
    /// Validates the flags, filling each one not given from its `SPARTAKUS_*` variable (read
    /// through `env`, so tests need not touch the process environment), then the default.
    pub fn resolve(args: CollectArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings> {
        // (flag as shown in errors, value)
        let value = |flag: Option<String>, name: &str, default: &str| -> (String, String) {
            let var = format!("SPARTAKUS_{}", name.to_ascii_uppercase().replace('-', "_"));
            match flag {
                Some(v) => (format!("--{name}"), v),
                None => match env(&var).filter(|v| !v.trim().is_empty()) {
                    Some(v) => (var, v),
                    None => (format!("--{name}"), default.to_string()),
                },
            }
        };
        let number = |flag: Option<String>, name: &str, default: &str| -> Result<usize> {
            let (shown, text) = value(flag, name, default);
            text.trim()
                .parse::<usize>()
                .map_err(|_| usage(format!("{shown} {text}: want a whole number")))
        };
        let duration = |flag: Option<String>, name: &str, default: &str| {
            let (shown, text) = value(flag, name, default);
            parse_duration(&text).map_err(|e| usage(format!("{shown} {text}: {e}")))
        };

        let (shown, listen_text) = value(args.listen, "listen", "0.0.0.0:8080");
        let listen: SocketAddr = listen_text.trim().parse().map_err(|_| {
            usage(format!(
                "{shown} {listen_text}: want IP:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0"
            ))
        })?;
        let (_, store) = value(args.store, "store", "spartakus.db");
        let header_timeout = duration(args.header_timeout, "header-timeout", "10s")?;
        let request_timeout = duration(args.request_timeout, "request-timeout", "60s")?;
        if header_timeout.is_zero() || request_timeout.is_zero() {
            return Err(usage(
                "--header-timeout and --request-timeout must be above 0",
            ));
        }
        let max_connections = number(args.max_connections, "max-connections", "512")?;
        let max_requests = number(args.max_requests, "max-requests", "16")?;
        if max_connections == 0 || max_requests == 0 {
            return Err(usage(
                "--max-connections and --max-requests must be above 0",
            ));
        }
        if max_connections > u32::MAX as usize >> 3 {
            return Err(usage("--max-connections is too large"));
        }
        let rate_limit = number(args.rate_limit, "rate-limit", "6")?;
        let retention_days = number(args.retention_days, "retention-days", "400")?;
        let (Ok(rate_limit), Ok(retention_days)) =
            (u32::try_from(rate_limit), u32::try_from(retention_days))
        else {
            return Err(usage("--rate-limit or --retention-days is too large"));
        };
        let (shown, budget_text) =
            value(args.memory_budget, "memory-budget", DEFAULT_MEMORY_BUDGET);
        let memory_budget = budget::parse_size(&budget_text)
            .map_err(|e| usage(format!("{shown} {budget_text}: {e}")))?;
        let max_body = wire::MAX_BODY_BYTES;
        if memory_budget < max_body {
            return Err(usage(format!(
                "{shown} {budget_text}: must be at least {}Mi, the largest report",
                max_body >> 20
            )));
        }
        Ok(Settings {
            listen,
            store: store::Spec::parse(&store)?,
            rate_limit,
            dedup_window: duration(args.dedup_window, "dedup-window", "1h")?,
            retention_days,
            limits: server::Limits {
                header_timeout,
                request_timeout,
                max_connections,
                max_requests,
                memory_budget,
                max_body,
            },
        })
    }
}

/// The process environment, for [`Settings::resolve`].
fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Class::Usage, anyhow!("{msg}"))
}

/// Run the collector until SIGTERM or SIGINT.
pub fn run_collect(args: CollectArgs) -> Result<()> {
    let settings = Settings::resolve(args, &process_env)?;
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
        "listening on {addr}, store {shown}, rate limit {}/h per cluster, dedup window {}s, retention {} days, memory budget {} MiB",
        s.rate_limit,
        window,
        s.retention_days,
        state.budget.bytes() >> 20
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
    let store = args
        .store
        .or_else(|| process_env("SPARTAKUS_STORE").filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "spartakus.db".to_string());
    let path = match store::Spec::parse(&store)? {
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

/// A duration flag of the collector: `250ms`, `90s`, `5m`, `1h`, `2d` (or combined, `1h30m`), at
/// most a year.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::retry::parse_duration(text)?;
    if d > Duration::from_secs(366 * 86_400) {
        return Err("longer than a year".to_string());
    }
    Ok(d)
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

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(extra: &[&str]) -> Result<Settings> {
        Settings::resolve(collect_args(extra).unwrap(), &no_env)
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.store, store::Spec::Sqlite("spartakus.db".into()));
        assert_eq!(s.rate_limit, 6);
        assert_eq!(s.dedup_window, Duration::from_secs(3600));
        assert_eq!(s.retention_days, 400);
        assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(s.limits.request_timeout, Duration::from_secs(60));
        assert_eq!(s.limits.max_body, 48 << 20);
        assert_eq!(s.limits.memory_budget, 96 << 20);
        assert_eq!((s.limits.max_connections, s.limits.max_requests), (512, 16));
        let summary = SummaryArgs::from_args(&["summary"], &[]).unwrap();
        assert_eq!((summary.days, summary.top, summary.json), (30, 15, false));
        assert_eq!(summary.store, None);
    }

    #[test]
    fn environment_fills_missing_flags_and_flags_win() {
        let env = |name: &str| -> Option<String> {
            Some(
                match name {
                    "SPARTAKUS_LISTEN" => "127.0.0.1:9090",
                    "SPARTAKUS_STORE" => "/data/env.db",
                    "SPARTAKUS_RATE_LIMIT" => "2",
                    "SPARTAKUS_DEDUP_WINDOW" => "30m",
                    "SPARTAKUS_RETENTION_DAYS" => "90",
                    "SPARTAKUS_MAX_CONNECTIONS" => "64",
                    "SPARTAKUS_MAX_REQUESTS" => "4",
                    "SPARTAKUS_MEMORY_BUDGET" => "64Mi",
                    "SPARTAKUS_HEADER_TIMEOUT" => "5s",
                    "SPARTAKUS_REQUEST_TIMEOUT" => "",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let s = Settings::resolve(collect_args(&[]).unwrap(), &env).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(s.store, store::Spec::Sqlite("/data/env.db".into()));
        assert_eq!(s.rate_limit, 2);
        assert_eq!(s.dedup_window, Duration::from_secs(1800));
        assert_eq!(s.retention_days, 90);
        assert_eq!(s.limits.max_connections, 64);
        assert_eq!(s.limits.max_requests, 4);
        assert_eq!(s.limits.memory_budget, 64 << 20);
        assert_eq!(s.limits.header_timeout, Duration::from_secs(5));
        assert_eq!(
            s.limits.request_timeout,
            Duration::from_secs(60),
            "an empty variable is unset"
        );

        let s = Settings::resolve(
            collect_args(&[
                "--listen",
                "127.0.0.1:0",
                "--store",
                "stdout",
                "--memory-budget",
                "1Gi",
                "--rate-limit",
                "0",
            ])
            .unwrap(),
            &env,
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0, "the flag wins");
        assert_eq!(s.store, store::Spec::Stdout);
        assert_eq!(s.limits.memory_budget, 1 << 30);
        assert_eq!(s.rate_limit, 0);
        assert_eq!(
            s.retention_days, 90,
            "the others still come from the environment"
        );

        // A bad variable is a usage error that names the variable.
        let bad =
            |name: &str| Some("nope".to_string()).filter(|_| name == "SPARTAKUS_MAX_REQUESTS");
        let e = Settings::resolve(collect_args(&[]).unwrap(), &bad).unwrap_err();
        assert_eq!(crate::exit::class_of(&e), Class::Usage);
        assert!(
            format!("{e:#}").contains("SPARTAKUS_MAX_REQUESTS nope"),
            "{e:#}"
        );

        // Every flag's help names its variable.
        let help = match CollectArgs::from_args(&["collect"], &["--help"]) {
            Err(early) => early
                .output
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            Ok(_) => panic!("--help parsed"),
        };
        for var in [
            "SPARTAKUS_LISTEN",
            "SPARTAKUS_STORE",
            "SPARTAKUS_RATE_LIMIT",
            "SPARTAKUS_DEDUP_WINDOW",
            "SPARTAKUS_RETENTION_DAYS",
            "SPARTAKUS_MAX_CONNECTIONS",
            "SPARTAKUS_MAX_REQUESTS",
            "SPARTAKUS_MEMORY_BUDGET",
            "SPARTAKUS_HEADER_TIMEOUT",
            "SPARTAKUS_REQUEST_TIMEOUT",
        ] {
            assert!(help.contains(&format!("[env {var}]")), "{var}: {help}");
        }
    }

    #[test]
    fn flags_are_checked_as_usage_errors() {
        let s = settings(&[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "stdout",
            "--dedup-window",
            "0",
            "--header-timeout",
            "500ms",
        ])
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
            &["--rate-limit", "-1"],
            &["--memory-budget", "47Mi"],
            &["--memory-budget", "lots"],
        ] {
            let e = settings(bad).unwrap_err();
            assert_eq!(crate::exit::class_of(&e), Class::Usage, "{bad:?}: {e:#}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("90").is_err(), "a unit is required");
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5h").is_err());
        assert!(parse_duration("99999999999999999d").is_err());
        assert!(parse_duration("367d").is_err());
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
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
