//! The settings of the commands that read a store: `summary`, `export`, `dashboard` and
//! `backup`.

use super::{history, read_store};
use crate::cli::values::{count, whole};
use crate::cli::{BackupArgs, DashboardArgs, Env, ExportArgs, SummaryArgs, defaults};
use crate::collector::fleet::trends::Every;
use crate::collector::store::Spec;
use crate::exit::usage;
use anyhow::Result;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// How `summary` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    /// Long and tidy: `period_start,dimension,value,clusters,nodes,bucket,finished`.
    Csv,
}

/// A trend's periods and how far back it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrendSpec {
    pub since: Duration,
    pub every: Every,
}

/// `spartakus summary`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SummarySettings {
    pub store: Spec,
    pub days: u32,
    pub cluster: Option<String>,
    pub top: usize,
    pub format: Format,
    /// A trend (`--since`, `--every`) instead of the fleet now.
    pub trend: Option<TrendSpec>,
}

impl SummarySettings {
    pub(crate) fn resolve(args: SummaryArgs, env: &Env) -> Result<SummarySettings> {
        let d = defaults::SUMMARY;
        let store = read_store(env, args.store, d, "summarize")?;
        let asked = |flag: &str, given: &Option<String>| env.text(flag, given.clone()).is_some();
        let trend = match asked("since", &args.since) || asked("every", &args.every) {
            false => None,
            true => Some(TrendSpec {
                since: env.value("since", args.since, d, history)?,
                every: env.value("every", args.every, d, Every::parse)?,
            }),
        };
        let days = env.text("days", args.days.clone());
        if trend.is_some()
            && let Some(days) = &days
        {
            return Err(days
                .error("is the window of the fleet now; a trend's is --since: give one of them"));
        }
        let days = env.value("days", args.days, d, |t| match whole(t) {
            Ok(d @ 1..=36_500) => Ok(d),
            _ => Err("must be between 1 and 36500".to_string()),
        })?;
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
        let top = if trend.is_some() { "top trend" } else { "top" };
        Ok(SummarySettings {
            store,
            days,
            cluster: env.text("cluster", args.cluster).map(|g| g.value),
            top: env.value(top, args.top, d, count(100_000))?,
            format,
            trend,
        })
    }
}

/// How `export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportFormat {
    /// A line per report: `{"receivedAt": ..., "report": {...}}`.
    Jsonl,
    /// A row per node.
    Csv,
}

/// `spartakus export`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ExportSettings {
    pub store: Spec,
    /// Only reports received this recently; `None`: all.
    pub since: Option<Duration>,
    pub format: ExportFormat,
}

impl ExportSettings {
    pub(crate) fn resolve(args: ExportArgs, env: &Env) -> Result<ExportSettings> {
        Ok(ExportSettings {
            store: read_store(env, args.store, defaults::EXPORT, "export")?,
            since: env.parsed("since", args.since, None, |t| history(t).map(Some))?,
            format: env.parsed("format", args.format, ExportFormat::Jsonl, |t| match t {
                "jsonl" => Ok(ExportFormat::Jsonl),
                "csv" => Ok(ExportFormat::Csv),
                _ => Err("want jsonl or csv".into()),
            })?,
        })
    }
}

/// `spartakus dashboard`'s settings: the store, what the page shows, and where it is served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DashboardSettings {
    pub store: Spec,
    pub listen: SocketAddr,
    /// How far back the charts over time go.
    pub since: Duration,
    pub every: Every,
    /// "Now": each cluster by its latest report in this many days.
    pub(crate) now_days: u32,
    pub max_connections: usize,
}

impl DashboardSettings {
    pub(crate) fn resolve(args: DashboardArgs, env: &Env) -> Result<DashboardSettings> {
        let d = defaults::DASHBOARD;
        Ok(DashboardSettings {
            store: read_store(env, args.store, d, "show")?,
            listen: env.value("listen", args.listen, d, |t| {
                t.parse()
                    .map_err(|_| "want IP:PORT, e.g. 0.0.0.0:8081 or 127.0.0.1:0".to_string())
            })?,
            since: env.value("since", args.since, d, history)?,
            every: env.value("every", args.every, d, Every::parse)?,
            now_days: env.value("now-days", args.now_days, d, |t| match whole(t) {
                Ok(d @ 1..=366) => Ok(d),
                _ => Err("want a whole number from 1 to 366".to_string()),
            })?,
            max_connections: env.value(
                "max-connections",
                args.max_connections,
                d,
                count(1 << 16),
            )?,
        })
    }
}

/// `spartakus backup`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BackupSettings {
    pub store: Spec,
    pub to: PathBuf,
    pub force: bool,
}

impl BackupSettings {
    pub(crate) fn resolve(args: BackupArgs, env: &Env) -> Result<BackupSettings> {
        let store = env.text_or("store", args.store, defaults::BACKUP);
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
