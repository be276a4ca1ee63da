//! Every flag's default, said once, as the text a user would give: the settings parse it as
//! they parse the flag's value ([`super::Env::value`]), and a test holds each flag's help to it
//! (`(default 10s)`). A key may name a case after the flag (`top trend`: `--top` of a trend).

/// A command's defaults: (flag, or flag and case; the default as text).
pub(crate) type Defaults = &'static [(&'static str, &'static str)];

pub(crate) const INIT: Defaults = &[("configmap", "spartakus"), ("timeout", "2m")];

pub(crate) const REPORT: Defaults = &[
    ("configmap", "spartakus"),
    ("timeout", "5m"),
    ("spread", "0"),
];

pub(crate) const SEND: Defaults = &[("timeout", "5m")];

pub(crate) const FORGET: Defaults = &[("configmap", "spartakus"), ("timeout", "5m")];

pub(crate) const COLLECT: Defaults = &[
    ("listen", "0.0.0.0:8080"),
    ("store", "spartakus.db"),
    ("rate-limit", "6"),
    ("dedup-window", "1h"),
    ("retention-days", "400"),
    ("max-connections", "512"),
    ("max-requests", "16"),
    // With the default --max-connections, the collector's peak RSS stays below 192 MiB (README,
    // "Limits").
    ("memory-budget", "96Mi"),
    ("header-timeout", "10s"),
    ("request-timeout", "60s"),
    ("shutdown-grace", "25s"),
    ("new-clusters-per-source", "600"),
];

pub(crate) const SUMMARY: Defaults = &[
    ("store", "spartakus.db"),
    ("days", "30"),
    ("since", "180d"),
    ("every", "week"),
    ("top", "15"),
    ("top trend", "5"),
];

pub(crate) const EXPORT: Defaults = &[("store", "spartakus.db")];

pub(crate) const DASHBOARD: Defaults = &[
    ("store", "spartakus.db"),
    ("listen", "127.0.0.1:8081"),
    ("since", "180d"),
    ("every", "week"),
    ("now-days", "7"),
    ("max-connections", "64"),
];

pub(crate) const BACKUP: Defaults = &[("store", "spartakus.db")];

/// The default of `key` in `table`; empty if it has none (a test checks that every key asked
/// for is there, and an empty text fails to parse with a message that says so).
pub(crate) fn of(table: Defaults, key: &str) -> &'static str {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, text)| *text)
}
