//! The collector's Prometheus metrics, rendered in the text exposition format (version 0.0.4).
//! Lock-free counters; every label value comes from a fixed list, so series cannot multiply.

use crate::contract::Clamps;
use crate::contract::limits::Field;
use crate::prom::{Kind, Text};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why a report was refused; each is one value of the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    InvalidJson,
    Schema,
    BadEncoding,
    BadHeader,
    TooLarge,
    UnsupportedMediaType,
    RateLimited,
    Timeout,
    IdempotencyConflict,
    Overloaded,
    /// A source brought more new clusters than `--new-clusters-per-source` allows.
    NewClusters,
}

impl Reason {
    pub(crate) const ALL: [Reason; 11] = [
        Reason::InvalidJson,
        Reason::Schema,
        Reason::BadEncoding,
        Reason::BadHeader,
        Reason::TooLarge,
        Reason::UnsupportedMediaType,
        Reason::RateLimited,
        Reason::Timeout,
        Reason::IdempotencyConflict,
        Reason::Overloaded,
        Reason::NewClusters,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::InvalidJson => "invalid_json",
            Reason::Schema => "schema",
            Reason::BadEncoding => "bad_encoding",
            Reason::BadHeader => "bad_header",
            Reason::TooLarge => "too_large",
            Reason::UnsupportedMediaType => "unsupported_media_type",
            Reason::RateLimited => "rate_limited",
            Reason::Timeout => "timeout",
            Reason::IdempotencyConflict => "idempotency_conflict",
            Reason::Overloaded => "overloaded",
            Reason::NewClusters => "new_clusters",
        }
    }
}

/// What became of a request to forget a cluster (`forget_requests_total{result}`); never which
/// cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Forget {
    /// Nothing of the cluster is stored now (whether or not anything was).
    Done,
    /// Too many requests from the source or for the cluster ID.
    RateLimited,
    /// Not a cluster ID.
    Invalid,
    /// The store failed.
    Failed,
}

impl Forget {
    pub(crate) const ALL: [Forget; 4] = [
        Forget::Done,
        Forget::RateLimited,
        Forget::Invalid,
        Forget::Failed,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Forget::Done => "done",
            Forget::RateLimited => "rate_limited",
            Forget::Invalid => "invalid",
            Forget::Failed => "failed",
        }
    }
}

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Status codes counted by their own label value; anything else is `other`.
const CODES: [u16; 13] = [
    200, 204, 400, 404, 405, 408, 413, 415, 422, 429, 500, 503, 0,
];

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    accepted: AtomicU64,
    duplicates: AtomicU64,
    nodes: AtomicU64,
    rejected: [AtomicU64; Reason::ALL.len()],
    store_errors: AtomicU64,
    responses: [AtomicU64; CODES.len()],
    in_flight: AtomicI64,
    /// Cumulative counts per bucket are computed when rendering; these are per-bucket counts,
    /// with one extra for +Inf.
    latency_buckets: [AtomicU64; BUCKETS.len() + 1],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    pruned: AtomicU64,
    /// Values of stored reports cut to their limits, by [`Field`].
    clamped: [AtomicU64; Field::ALL.len()],
    /// Connections closed because their client stopped reading.
    unread: AtomicU64,
    /// Requests to forget a cluster, by [`Forget`].
    forget: [AtomicU64; Forget::ALL.len()],
}

impl Metrics {
    pub(crate) fn accepted(&self, nodes: usize) {
        self.accepted.fetch_add(1, Relaxed);
        self.nodes.fetch_add(nodes as u64, Relaxed);
    }

    /// The values clamped in a stored report.
    pub(crate) fn clamped(&self, clamps: &Clamps) {
        for (field, n) in clamps.iter() {
            let i = Field::ALL.iter().position(|f| *f == field).unwrap_or(0);
            self.clamped[i].fetch_add(n, Relaxed);
        }
    }

    /// A connection was closed because its client stopped reading the responses.
    pub(crate) fn unread(&self) {
        self.unread.fetch_add(1, Relaxed);
    }

    pub(crate) fn duplicate(&self) {
        self.duplicates.fetch_add(1, Relaxed);
    }

    pub(crate) fn rejected(&self, reason: Reason) {
        let i = Reason::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.rejected[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn store_error(&self) {
        self.store_errors.fetch_add(1, Relaxed);
    }

    /// A request to forget a cluster was answered.
    pub(crate) fn forget(&self, result: Forget) {
        let i = Forget::ALL.iter().position(|r| *r == result).unwrap_or(0);
        self.forget[i].fetch_add(1, Relaxed);
    }

    pub(crate) fn pruned(&self, n: usize) {
        self.pruned.fetch_add(n as u64, Relaxed);
    }

    /// A request started; the returned guard counts it in flight until dropped.
    pub(crate) fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        InFlight(self)
    }

    /// A response was sent.
    pub(crate) fn finished(&self, status: u16, elapsed: Duration) {
        let i = CODES
            .iter()
            .position(|c| *c == status)
            .unwrap_or(CODES.len() - 1);
        self.responses[i].fetch_add(1, Relaxed);
        let secs = elapsed.as_secs_f64();
        let b = BUCKETS
            .iter()
            .position(|le| secs <= *le)
            .unwrap_or(BUCKETS.len());
        self.latency_buckets[b].fetch_add(1, Relaxed);
        self.latency_count.fetch_add(1, Relaxed);
        self.latency_sum_micros
            .fetch_add(elapsed.as_micros() as u64, Relaxed);
    }

    pub(crate) fn accepted_total(&self) -> u64 {
        self.accepted.load(Relaxed)
    }

    /// The exposition text.
    #[cfg(test)]
    fn render(&self) -> String {
        let mut text = Text::new();
        self.write(&mut text);
        text.finish()
    }

    /// The counters, written to `text`.
    pub(crate) fn write(&self, text: &mut Text) {
        let name = |n: &str| format!("{PREFIX}_{n}");
        let version = env!("CARGO_PKG_VERSION");
        text.family(&name("build_info"), Kind::Gauge, "The running version.")
            .sample(&name("build_info"), &[("version", version)], 1);
        for (n, help, value) in [
            (
                "reports_accepted_total",
                "Reports stored (answered 204, duplicates not included).",
                &self.accepted,
            ),
            (
                "reports_duplicate_total",
                "Reports already stored (same idempotency key, or same content within the window), answered 204.",
                &self.duplicates,
            ),
            (
                "nodes_accepted_total",
                "Nodes in stored reports.",
                &self.nodes,
            ),
        ] {
            text.single(&name(n), Kind::Counter, help, value.load(Relaxed));
        }
        labeled_counter(
            text,
            "reports_rejected_total",
            "Report requests refused, by reason.",
            "reason",
            Reason::ALL.iter().map(|r| r.label()).zip(&self.rejected),
        );
        labeled_counter(
            text,
            "values_clamped_total",
            "Optional values of stored reports cut to the report's limits (over-long text, control characters, capacity entries folded into `other`, extensions dropped, workload counts, buckets and ages over theirs), by field.",
            "field",
            Field::ALL.iter().map(|f| f.label()).zip(&self.clamped),
        );
        for (n, help, value) in [
            (
                "store_errors_total",
                "Reports that could not be stored (answered 500 or 503).",
                &self.store_errors,
            ),
            (
                "connections_unread_total",
                "Connections closed because the client did not read a response within --header-timeout.",
                &self.unread,
            ),
            (
                "reports_pruned_total",
                "Reports deleted by retention.",
                &self.pruned,
            ),
        ] {
            text.single(&name(n), Kind::Counter, help, value.load(Relaxed));
        }
        self.render_responses(text);
        self.render_latency(text);
    }

    /// Responses by status code, and deletion requests by result.
    fn render_responses(&self, text: &mut Text) {
        labeled_counter(
            text,
            "http_responses_total",
            "HTTP responses, by status code.",
            "code",
            CODES
                .iter()
                .map(|&code| match code {
                    0 => "other".to_string(),
                    _ => code.to_string(),
                })
                .zip(&self.responses),
        );
        labeled_counter(
            text,
            "forget_requests_total",
            "Requests to forget a cluster (DELETE /api/v1/clusters/...), by result.",
            "result",
            Forget::ALL.iter().map(|r| r.label()).zip(&self.forget),
        );
    }

    /// The gauge of requests in flight and the latency histogram.
    fn render_latency(&self, text: &mut Text) {
        text.single(
            &format!("{PREFIX}_requests_in_flight"),
            Kind::Gauge,
            "Requests being handled.",
            self.in_flight.load(Relaxed),
        );
        let name = format!("{PREFIX}_request_duration_seconds");
        text.family(
            &name,
            Kind::Histogram,
            "Time from request head to response, all endpoints.",
        );
        let bucket = format!("{name}_bucket");
        let mut cumulative = 0;
        for (i, n) in self.latency_buckets.iter().enumerate() {
            cumulative += n.load(Relaxed);
            let le = BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            text.sample(&bucket, &[("le", &le)], cumulative);
        }
        let sum = self.latency_sum_micros.load(Relaxed) as f64 / 1e6;
        text.sample(&format!("{name}_sum"), &[], sum).sample(
            &format!("{name}_count"),
            &[],
            self.latency_count.load(Relaxed),
        );
    }
}

/// The prefix of every metric name.
pub(crate) const PREFIX: &str = "spartakus_collector";

/// One counter family with a single label: a series per (label value, count).
fn labeled_counter<'a, V: AsRef<str>>(
    text: &mut Text,
    name: &str,
    help: &str,
    label: &str,
    series: impl Iterator<Item = (V, &'a AtomicU64)>,
) {
    let name = format!("{PREFIX}_{name}");
    text.family(&name, Kind::Counter, help);
    for (value, n) in series {
        text.sample(&name, &[(label, value.as_ref())], n.load(Relaxed));
    }
}

/// Counts one request in flight while alive.
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, series: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    }

    #[test]
    fn renders_counters_labels_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.accepted(5);
        let mut clamps = Clamps::default();
        clamps.add(Field::OsImage, 2);
        m.clamped(&clamps);
        m.duplicate();
        m.rejected(Reason::TooLarge);
        m.rejected(Reason::TooLarge);
        m.rejected(Reason::RateLimited);
        let guard = m.start();
        m.finished(204, Duration::from_millis(3));
        m.finished(413, Duration::from_millis(300));
        m.finished(418, Duration::from_secs(100));
        let text = m.render();
        assert_eq!(
            value(&text, "spartakus_collector_reports_accepted_total"),
            1.0
        );
        assert_eq!(
            value(&text, "spartakus_collector_nodes_accepted_total"),
            5.0
        );
        assert_eq!(
            value(&text, "spartakus_collector_reports_duplicate_total"),
            1.0
        );
        assert_eq!(
            value(
                &text,
                "spartakus_collector_reports_rejected_total{reason=\"too_large\"}"
            ),
            2.0
        );
        assert_eq!(
            value(
                &text,
                "spartakus_collector_reports_rejected_total{reason=\"schema\"}"
            ),
            0.0
        );
        assert_eq!(
            value(
                &text,
                "spartakus_collector_http_responses_total{code=\"other\"}"
            ),
            1.0
        );
        assert_eq!(value(&text, "spartakus_collector_requests_in_flight"), 1.0);
        let clamped = "spartakus_collector_values_clamped_total";
        assert_eq!(
            value(&text, &format!("{clamped}{{field=\"nodes.osImage\"}}")),
            2.0
        );
        assert_eq!(
            value(&text, &format!("{clamped}{{field=\"extensions.value\"}}")),
            0.0
        );
        drop(guard);
        let text = m.render();
        assert_eq!(value(&text, "spartakus_collector_requests_in_flight"), 0.0);
        let h = "spartakus_collector_request_duration_seconds";
        assert_eq!(value(&text, &format!("{h}_bucket{{le=\"0.005\"}}")), 1.0);
        assert_eq!(value(&text, &format!("{h}_bucket{{le=\"0.5\"}}")), 2.0);
        assert_eq!(value(&text, &format!("{h}_bucket{{le=\"30\"}}")), 2.0);
        assert_eq!(value(&text, &format!("{h}_bucket{{le=\"+Inf\"}}")), 3.0);
        assert_eq!(value(&text, &format!("{h}_count")), 3.0);
        // Every line is a comment or `name{labels} number`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = line.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{line}");
        }
    }
}
