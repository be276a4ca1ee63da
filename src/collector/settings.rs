//! `spartakus collect`'s, `summary`'s, `export`'s and `backup`'s settings: their flags, resolved
//! once.

use super::budget::parse_size;
use super::server::Limits;
use super::store::Spec;
use super::trends::Every;
use crate::cli::{BackupArgs, CollectArgs, Env, ExportArgs, SummaryArgs, usage};
use crate::contract::limits::MAX_BODY_BYTES;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The memory budget unless told otherwise. With the default --max-connections, the collector's
/// peak RSS stays below 192 MiB (README, "Limits").
pub const DEFAULT_MEMORY_BUDGET: &str = "96Mi";
/// The store unless told otherwise.
pub const DEFAULT_STORE: &str = "spartakus.db";

/// The collector's settings.
#[derive(Debug, Clone)]
pub struct CollectSettings {
    pub listen: SocketAddr,
    pub store: Spec,
    /// Reports per cluster per hour; 0 for no limit.
    pub rate_limit: u32,
    pub dedup_window: Duration,
    /// 0 keeps reports forever.
    pub retention_days: u32,
    pub limits: Limits,
    /// How long the requests in flight get to finish after SIGTERM.
    pub shutdown_grace: Duration,
}

impl CollectSettings {
    pub fn resolve(args: CollectArgs, env: &Env) -> Result<CollectSettings> {
        let listen = env.parsed(
            "listen",
            args.listen,
            SocketAddr::from(([0, 0, 0, 0], 8080)),
            |t| {
                t.parse()
                    .map_err(|_| "want IP:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0".to_string())
            },
        )?;
        let store = env
            .text("store", args.store)
            .map_or_else(|| DEFAULT_STORE.to_string(), |g| g.value);
        let header_timeout =
            env.parsed("header-timeout", args.header_timeout, secs(10), positive)?;
        let request_timeout =
            env.parsed("request-timeout", args.request_timeout, secs(60), positive)?;
        let max_connections =
            env.parsed("max-connections", args.max_connections, 512, count(1 << 20))?;
        let max_requests = env.parsed("max-requests", args.max_requests, 16, count(1 << 16))?;
        let rate_limit = env.parsed("rate-limit", args.rate_limit, 6, whole)?;
        let retention_days = env.parsed("retention-days", args.retention_days, 400, whole)?;
        let default_budget = parse_size(DEFAULT_MEMORY_BUDGET).unwrap_or(96 << 20);
        let memory_budget = env.parsed(
            "memory-budget",
            args.memory_budget,
            default_budget,
            |t| match parse_size(t)? {
                b if b < MAX_BODY_BYTES => Err(format!(
                    "must be at least {}Mi, the largest report",
                    MAX_BODY_BYTES >> 20
                )),
                b => Ok(b),
            },
        )?;
        Ok(CollectSettings {
            listen,
            store: Spec::parse(&store)?,
            rate_limit,
            dedup_window: env.parsed("dedup-window", args.dedup_window, secs(3600), duration)?,
            retention_days,
            limits: Limits {
                header_timeout,
                request_timeout,
                max_connections,
                max_requests,
                memory_budget,
                max_body: MAX_BODY_BYTES,
                log_probes: env.switch("log-probes", args.log_probes)?,
                new_clusters_per_source: env.parsed(
                    "new-clusters-per-source",
                    args.new_clusters_per_source,
                    600,
                    whole,
                )?,
                trusted_proxies: env.parsed(
                    "trusted-proxy",
                    args.trusted_proxy,
                    Vec::new(),
                    |t| {
                        t.split(',')
                            .filter(|c| !c.trim().is_empty())
                            .map(super::sources::Cidr::parse)
                            .collect()
                    },
                )?,
            },
            shutdown_grace: env.parsed(
                "shutdown-grace",
                args.shutdown_grace,
                secs(25),
                duration,
            )?,
        })
    }

    /// The settings as the start-up line tells them.
    pub fn describe(&self, listening: SocketAddr, budget_bytes: usize) -> String {
        let rate = match self.rate_limit {
            0 => "no rate limit".to_string(),
            n => format!("rate limit {n}/h per cluster"),
        };
        let retention = match self.retention_days {
            0 => "reports kept forever".to_string(),
            n => format!("retention {n} days"),
        };
        format!(
            "listening on {listening}, store {}, {rate}, dedup window {}s, {retention}, memory budget {} MiB",
            self.store,
            self.dedup_window.as_secs(),
            budget_bytes >> 20
        )
    }
}

/// How `summary` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// Long and tidy: `period_start,dimension,value,clusters,nodes`.
    Csv,
}

/// A trend's periods and how far back it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrendSpec {
    pub since: Duration,
    pub every: Every,
}

/// `spartakus summary`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SummarySettings {
    pub store: Spec,
    pub days: u32,
    pub cluster: Option<String>,
    pub top: usize,
    pub format: Format,
    /// A trend (`--since`, `--every`) instead of the fleet now.
    pub trend: Option<TrendSpec>,
}

impl SummarySettings {
    pub fn resolve(args: SummaryArgs, env: &Env) -> Result<SummarySettings> {
        let store = read_store(env, args.store, "summarize")?;
        let since = env.parsed("since", args.since, None, |t| history(t).map(Some))?;
        let every = env.parsed("every", args.every, None, |t| Every::parse(t).map(Some))?;
        let trend = (since.is_some() || every.is_some()).then(|| TrendSpec {
            since: since.unwrap_or(Duration::from_secs(180 * 86_400)),
            every: every.unwrap_or(Every::Week),
        });
        let days = env.text("days", args.days);
        if trend.is_some()
            && let Some(days) = &days
        {
            return Err(days
                .error("is the window of the fleet now; a trend's is --since: give one of them"));
        }
        let days = match days {
            None => 30,
            Some(g) => match whole(&g.value) {
                Ok(d @ 1..=36_500) => d,
                _ => return Err(g.error("must be between 1 and 36500")),
            },
        };
        let json = env.switch("json", args.json)?;
        let format = env.parsed("format", args.format, None, |t| match t {
            "table" => Ok(Some(Format::Table)),
            "json" => Ok(Some(Format::Json)),
            "csv" => Ok(Some(Format::Csv)),
            _ => Err("want table, json or csv".into()),
        })?;
        let format = match (format, json) {
            (Some(f), true) if f != Format::Json => {
                return Err(usage("--json is --format json: give one of them"));
            }
            (_, true) => Format::Json,
            (f, false) => f.unwrap_or(Format::Table),
        };
        let top = if trend.is_some() { 5 } else { 15 };
        Ok(SummarySettings {
            store,
            days,
            cluster: env.text("cluster", args.cluster).map(|g| g.value),
            top: env.parsed("top", args.top, top, count(100_000))?,
            format,
            trend,
        })
    }
}

/// How `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// A line per report: `{"receivedAt": ..., "report": {...}}`.
    Jsonl,
    /// A row per node.
    Csv,
}

/// `spartakus export`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSettings {
    pub store: Spec,
    /// Only reports received this recently; `None`: all.
    pub since: Option<Duration>,
    pub format: ExportFormat,
}

impl ExportSettings {
    pub fn resolve(args: ExportArgs, env: &Env) -> Result<ExportSettings> {
        Ok(ExportSettings {
            store: read_store(env, args.store, "export")?,
            since: env.parsed("since", args.since, None, |t| history(t).map(Some))?,
            format: env.parsed("format", args.format, ExportFormat::Jsonl, |t| match t {
                "jsonl" => Ok(ExportFormat::Jsonl),
                "csv" => Ok(ExportFormat::Csv),
                _ => Err("want jsonl or csv".into()),
            })?,
        })
    }
}

/// `--store` of a command that reads it (`what`s it): stdout keeps nothing.
pub(crate) fn read_store(env: &Env, given: Option<String>, what: &str) -> Result<Spec> {
    let store = env
        .text("store", given)
        .map_or_else(|| DEFAULT_STORE.to_string(), |g| g.value);
    let store = Spec::parse(&store)?;
    if store == Spec::Stdout {
        return Err(usage(format!(
            "--store stdout keeps nothing to {what}; give the collector's store"
        )));
    }
    Ok(store)
}

/// How far back to look: a duration above zero, at most a hundred years.
pub(crate) fn history(text: &str) -> std::result::Result<Duration, String> {
    match crate::retry::parse_duration(text)? {
        d if d.is_zero() => Err("must be above 0".into()),
        d if d > Duration::from_secs(36_500 * 86_400) => Err("at most 36500d".into()),
        d => Ok(d),
    }
}

/// `spartakus backup`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BackupSettings {
    pub store: Spec,
    pub to: PathBuf,
    pub force: bool,
}

impl BackupSettings {
    pub fn resolve(args: BackupArgs, env: &Env) -> Result<BackupSettings> {
        let store = env
            .text("store", args.store)
            .map_or_else(|| DEFAULT_STORE.to_string(), |g| g.value);
        let to = env
            .text("to", args.to)
            .ok_or_else(|| usage("--to: give the file to write the copy to"))?;
        Ok(BackupSettings {
            store: Spec::parse(&store)?,
            to: PathBuf::from(to.value),
            force: env.switch("force", args.force)?,
        })
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A duration flag of the collector: `250ms`, `90s`, `5m`, `1h`, `2d` (or combined, `1h30m`), at
/// most a year.
pub fn duration(text: &str) -> std::result::Result<Duration, String> {
    let d = crate::retry::parse_duration(text)?;
    if d > Duration::from_secs(366 * 86_400) {
        return Err("longer than a year".to_string());
    }
    Ok(d)
}

fn positive(text: &str) -> std::result::Result<Duration, String> {
    match duration(text)? {
        d if d.is_zero() => Err("must be above 0".into()),
        d => Ok(d),
    }
}

pub(crate) fn whole(text: &str) -> std::result::Result<u32, String> {
    text.parse::<u32>()
        .map_err(|_| "want a whole number".to_string())
}

/// A count from 1 to `max`.
pub(crate) fn count(max: usize) -> impl Fn(&str) -> std::result::Result<usize, String> {
    move |text| match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("want a whole number from 1 to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Class, class_of};
    use argh::FromArgs;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn settings(extra: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Result<CollectSettings> {
        CollectSettings::resolve(
            CollectArgs::from_args(&["collect"], extra).unwrap(),
            &Env(env),
        )
    }

    #[test]
    fn defaults() {
        let s = settings(&[], &no_env).unwrap();
        assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.store, Spec::Sqlite("spartakus.db".into()));
        assert_eq!(s.rate_limit, 6);
        assert_eq!(s.dedup_window, Duration::from_secs(3600));
        assert_eq!(s.retention_days, 400);
        assert_eq!(s.shutdown_grace, Duration::from_secs(25));
        assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
        assert_eq!(s.limits.request_timeout, Duration::from_secs(60));
        assert_eq!(s.limits.max_body, 48 << 20);
        assert_eq!(s.limits.memory_budget, 96 << 20);
        assert_eq!((s.limits.max_connections, s.limits.max_requests), (512, 16));
        let summary = SummarySettings::resolve(
            SummaryArgs::from_args(&["summary"], &[]).unwrap(),
            &Env(&no_env),
        )
        .unwrap();
        assert_eq!(
            (summary.days, summary.top, summary.format, summary.trend),
            (30, 15, Format::Table, None)
        );
        assert_eq!(summary.store, Spec::Sqlite("spartakus.db".into()));
        let line = s.describe("127.0.0.1:1".parse().unwrap(), 96 << 20);
        assert!(
            line.contains("rate limit 6/h per cluster") && line.contains("retention 400 days"),
            "{line}"
        );
        let off = settings(&["--rate-limit", "0", "--retention-days", "0"], &no_env).unwrap();
        let line = off.describe("127.0.0.1:1".parse().unwrap(), 96 << 20);
        assert!(
            line.contains("no rate limit") && line.contains("kept forever"),
            "{line}"
        );
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
                    "SPARTAKUS_SHUTDOWN_GRACE" => "10s",
                    _ => return None,
                }
                .to_string(),
            )
        };
        let s = settings(&[], &env).unwrap();
        assert_eq!(s.listen, "127.0.0.1:9090".parse().unwrap());
        assert_eq!(s.store, Spec::Sqlite("/data/env.db".into()));
        assert_eq!(s.rate_limit, 2);
        assert_eq!(s.dedup_window, Duration::from_secs(1800));
        assert_eq!(s.retention_days, 90);
        assert_eq!(s.limits.max_connections, 64);
        assert_eq!(s.limits.max_requests, 4);
        assert_eq!(s.limits.memory_budget, 64 << 20);
        assert_eq!(s.limits.header_timeout, Duration::from_secs(5));
        assert_eq!(s.shutdown_grace, Duration::from_secs(10));
        assert_eq!(
            s.limits.request_timeout,
            Duration::from_secs(60),
            "an empty variable is unset"
        );

        let s = settings(
            &[
                "--listen",
                "127.0.0.1:0",
                "--store",
                "stdout",
                "--memory-budget",
                "1Gi",
                "--rate-limit",
                "0",
            ],
            &env,
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0, "the flag wins");
        assert_eq!(s.store, Spec::Stdout);
        assert_eq!(s.limits.memory_budget, 1 << 30);
        assert_eq!(s.rate_limit, 0);
        assert_eq!(
            s.retention_days, 90,
            "the others still come from the environment"
        );

        // A bad variable is a usage error that names the variable.
        let bad =
            |name: &str| Some("nope".to_string()).filter(|_| name == "SPARTAKUS_MAX_REQUESTS");
        let e = settings(&[], &bad).unwrap_err();
        assert_eq!(class_of(&e), Class::Usage);
        assert!(
            format!("{e:#}").contains("SPARTAKUS_MAX_REQUESTS=nope"),
            "{e:#}"
        );
    }

    #[test]
    fn every_flag_of_every_subcommand_names_its_variable() {
        for (command, line) in [
            ("collect", &["collect", "--help"][..]),
            ("summary", &["summary", "--help"]),
            ("backup", &["backup", "--help"]),
            ("export", &["export", "--help"]),
            ("dashboard", &["dashboard", "--help"]),
            ("forget", &["forget", "--help"]),
            ("report", &["report", "--help"]),
            ("init", &["init", "--help"]),
        ] {
            let Err(early) = crate::cli::Args::from_args(&["spartakus"], line) else {
                panic!("--help parsed");
            };
            let help = early
                .output
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let flags: Vec<&str> = help
                .split_whitespace()
                .map(|w| w.trim_end_matches([',', '.', ')']))
                .filter(|w| w.starts_with("--") && *w != "--help")
                .collect();
            assert!(!flags.is_empty(), "{command}");
            for flag in flags {
                let var = crate::cli::env_var(flag.trim_start_matches("--"));
                assert!(
                    help.contains(&format!("[env {var}]")),
                    "{command} {flag}: {help}"
                );
            }
        }
    }

    #[test]
    fn summary_trends_formats_and_export() {
        let summary = |line: &[&str], env: &dyn Fn(&str) -> Option<String>| {
            SummarySettings::resolve(
                SummaryArgs::from_args(&["summary"], line).unwrap(),
                &Env(env),
            )
        };
        let s = summary(&["--since", "90d"], &no_env).unwrap();
        let week = TrendSpec {
            since: Duration::from_secs(90 * 86_400),
            every: Every::Week,
        };
        assert_eq!((s.trend, s.top, s.format), (Some(week), 5, Format::Table));
        let s = summary(&["--every", "month", "--format", "csv"], &no_env).unwrap();
        assert_eq!(s.trend.unwrap().since, Duration::from_secs(180 * 86_400));
        assert_eq!(
            (s.trend.unwrap().every, s.format),
            (Every::Month, Format::Csv)
        );
        let env = |name: &str| match name {
            "SPARTAKUS_JSON" => Some("true".to_string()),
            "SPARTAKUS_EVERY" => Some("day".to_string()),
            _ => None,
        };
        let s = summary(&[], &env).unwrap();
        assert_eq!(
            (s.format, s.trend.unwrap().every),
            (Format::Json, Every::Day)
        );
        assert_eq!(
            summary(&["--json", "--format", "json"], &no_env)
                .unwrap()
                .format,
            Format::Json
        );
        for bad in [
            &["--json", "--format", "csv"][..],
            &["--days", "7", "--since", "30d"],
            &["--every", "year"],
            &["--since", "0"],
            &["--since", "36501d"],
            &["--format", "xml"],
            &["--store", "stdout"],
        ] {
            let e = summary(bad, &no_env).unwrap_err();
            assert_eq!(class_of(&e), Class::Usage, "{bad:?}: {e:#}");
        }
        let export = |line: &[&str]| {
            ExportSettings::resolve(
                ExportArgs::from_args(&["export"], line).unwrap(),
                &Env(&no_env),
            )
        };
        let e = export(&[]).unwrap();
        assert_eq!((e.since, e.format), (None, ExportFormat::Jsonl));
        assert_eq!(e.store, Spec::Sqlite("spartakus.db".into()));
        let e = export(&["--since", "30d", "--format", "csv"]).unwrap();
        assert_eq!(e.since, Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(e.format, ExportFormat::Csv);
        for bad in [
            &["--format", "parquet"][..],
            &["--store", "stdout"],
            &["--since", "soon"],
        ] {
            assert_eq!(class_of(&export(bad).unwrap_err()), Class::Usage, "{bad:?}");
        }
    }

    #[test]
    fn flags_are_checked_as_usage_errors() {
        let s = settings(
            &[
                "--listen",
                "127.0.0.1:0",
                "--store",
                "stdout",
                "--dedup-window",
                "0",
                "--header-timeout",
                "500ms",
            ],
            &no_env,
        )
        .unwrap();
        assert_eq!(s.listen.port(), 0);
        assert!(s.dedup_window.is_zero());
        assert_eq!(s.limits.header_timeout, Duration::from_millis(500));
        for bad in [
            &["--listen", "localhost"][..],
            &["--listen", "1.2.3.4"],
            &["--store", "mysql://db/x"],
            &["--store", "postgres://u:pw@db/x?sslmode=maybe"],
            &["--dedup-window", "1w"],
            &["--dedup-window", "367d"],
            &["--header-timeout", "0"],
            &["--max-requests", "0"],
            &["--rate-limit", "-1"],
            &["--memory-budget", "47Mi"],
            &["--memory-budget", "lots"],
        ] {
            let e = settings(bad, &no_env).unwrap_err();
            assert_eq!(class_of(&e), Class::Usage, "{bad:?}: {e:#}");
        }
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(duration("90").is_err(), "a unit is required");
    }
}
