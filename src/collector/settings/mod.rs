//! Every collector command's settings: its flags (and their variables), resolved once and
//! validated. `collect`'s are here, those of the commands that read a store in [`views`]; the
//! parsers they share are here too.

mod views;
pub(crate) use views::{
    BackupSettings, DashboardSettings, ExportFormat, ExportSettings, Format, SummarySettings,
    TrendSpec,
};

use crate::cli::values::{self, count, whole};
use crate::cli::{CollectArgs, Env, defaults};
use crate::collector::api::Limits;
use crate::collector::guard::budget::parse_size;
use crate::collector::store::Spec;
use crate::contract::limits::MAX_BODY_BYTES;
use crate::exit::usage;
use anyhow::Result;
use std::net::SocketAddr;
use std::time::Duration;

/// The collector's settings.
#[derive(Debug, Clone)]
pub(crate) struct CollectSettings {
    pub listen: SocketAddr,
    pub store: Spec,
    /// Reports per cluster per hour; 0 for no limit.
    pub(crate) rate_limit: u32,
    pub(crate) dedup_window: Duration,
    /// 0 keeps reports forever.
    pub(crate) retention_days: u32,
    pub limits: Limits,
    /// How long the requests in flight get to finish after SIGTERM.
    pub(crate) shutdown_grace: Duration,
}

impl CollectSettings {
    pub(crate) fn resolve(args: CollectArgs, env: &Env) -> Result<CollectSettings> {
        let d = defaults::COLLECT;
        let listen = env.value("listen", args.listen, d, |t| {
            t.parse()
                .map_err(|_| "want IP:PORT, e.g. 0.0.0.0:8080 or 127.0.0.1:0".to_string())
        })?;
        let store = Spec::parse(&env.text_or("store", args.store, d))?;
        let memory_budget = env.value(
            "memory-budget",
            args.memory_budget,
            d,
            |t| match parse_size(t)? {
                b if b < MAX_BODY_BYTES => Err(format!(
                    "must be at least {}Mi, the largest report",
                    MAX_BODY_BYTES >> 20
                )),
                b => Ok(b),
            },
        )?;
        let limits = Limits {
            header_timeout: env.value("header-timeout", args.header_timeout, d, positive)?,
            request_timeout: env.value("request-timeout", args.request_timeout, d, positive)?,
            max_connections: env.value(
                "max-connections",
                args.max_connections,
                d,
                count(1 << 20),
            )?,
            max_requests: env.value("max-requests", args.max_requests, d, count(1 << 16))?,
            memory_budget,
            max_body: MAX_BODY_BYTES,
            log_probes: env.switch("log-probes", args.log_probes)?,
            new_clusters_per_source: env.value(
                "new-clusters-per-source",
                args.new_clusters_per_source,
                d,
                whole,
            )?,
            trusted_proxies: env.parsed("trusted-proxy", args.trusted_proxy, Vec::new(), |t| {
                t.split(',')
                    .filter(|c| !c.trim().is_empty())
                    .map(crate::collector::guard::sources::Cidr::parse)
                    .collect()
            })?,
        };
        Ok(CollectSettings {
            listen,
            store,
            rate_limit: env.value("rate-limit", args.rate_limit, d, whole)?,
            dedup_window: env.value("dedup-window", args.dedup_window, d, duration)?,
            retention_days: env.value("retention-days", args.retention_days, d, whole)?,
            limits,
            shutdown_grace: env.value("shutdown-grace", args.shutdown_grace, d, duration)?,
        })
    }

    /// The settings as the start-up line tells them.
    pub(crate) fn describe(&self, listening: SocketAddr, budget_bytes: usize) -> String {
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

/// `--store` of a command that reads it (`what`s it): stdout keeps nothing.
pub(crate) fn read_store(
    env: &Env,
    given: Option<String>,
    table: defaults::Defaults,
    what: &str,
) -> Result<Spec> {
    let store = Spec::parse(&env.text_or("store", given, table))?;
    if store == Spec::Stdout {
        return Err(usage(format!(
            "--store stdout keeps nothing to {what}; give the collector's store"
        )));
    }
    Ok(store)
}

/// How far back to look: a duration above zero, at most a hundred years.
pub(crate) fn history(text: &str) -> std::result::Result<Duration, String> {
    values::at_most(text, Duration::from_secs(36_500 * 86_400), "at most 36500d")
        .and_then(values::above_zero)
}

/// A duration flag of the collector: `250ms`, `90s`, `5m`, `1h`, `2d` (or combined, `1h30m`), at
/// most a year.
pub(crate) fn duration(text: &str) -> std::result::Result<Duration, String> {
    values::at_most(
        text,
        Duration::from_secs(366 * 86_400),
        "longer than a year",
    )
}

/// A [`duration`] above zero.
fn positive(text: &str) -> std::result::Result<Duration, String> {
    duration(text).and_then(values::above_zero)
}

#[cfg(test)]
mod tests;
