//! The flags of the collector's side: `collect`, `summary`, `export`, `dashboard` and `backup`
//! (the reporter's and the command line's rule are in [`super`]).

use argh::FromArgs;

/// Receive, check and store reports (the collector). Answers POST /api/v1, and GET /healthz,
/// /readyz, /version and /metrics. Stops cleanly on SIGTERM or SIGINT. Every flag can also be
/// set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "collect",
    help_triggers("-h", "--help", "help"),
    error_code(
        0,
        "stopped by SIGTERM or SIGINT after finishing the requests in flight"
    ),
    error_code(
        1,
        "internal error (the listener failed, or the database could not be reached)"
    ),
    error_code(
        2,
        "usage or configuration error, or a store that cannot take a report (not a spartakus store, damaged, read-only, a newer schema, refused credentials or a privilege the role lacks)"
    )
)]
pub struct CollectArgs {
    /// address to listen on, IP:PORT; port 0 picks a free port, printed at start (default 0.0.0.0:8080) [env SPARTAKUS_LISTEN]
    #[argh(option)]
    pub listen: Option<String>,
    /// where reports go: a SQLite file path (created if missing), postgres://USER[:PASSWORD]@HOST[:PORT]/DB?sslmode=... (shared by several collectors), or `stdout` to print each report as one JSON line (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// new reports accepted per cluster ID per hour, then 429; duplicates do not count; 0 for no limit (default 6) [env SPARTAKUS_RATE_LIMIT]
    #[argh(option)]
    pub(crate) rate_limit: Option<String>,
    /// a report with the same cluster ID and content as one received this recently is a duplicate, e.g. 1h, 30m; 0 to match Idempotency-Key only (default 1h) [env SPARTAKUS_DEDUP_WINDOW]
    #[argh(option)]
    pub(crate) dedup_window: Option<String>,
    /// delete reports received more than this many days ago, checked hourly; 0 keeps them forever (default 400) [env SPARTAKUS_RETENTION_DAYS]
    #[argh(option)]
    pub(crate) retention_days: Option<String>,
    /// most open client connections; more wait in the listen backlog (default 512) [env SPARTAKUS_MAX_CONNECTIONS]
    #[argh(option)]
    pub max_connections: Option<String>,
    /// most report requests handled at once; more wait 5s, then get 503 (default 16) [env SPARTAKUS_MAX_REQUESTS]
    #[argh(option)]
    pub(crate) max_requests: Option<String>,
    /// memory for received reports, all requests together, e.g. 128Mi; at least 48Mi (the largest report); a request that finds no room within 5s gets 503 (default 96Mi) [env SPARTAKUS_MEMORY_BUDGET]
    #[argh(option)]
    pub(crate) memory_budget: Option<String>,
    /// time a client has to send its request headers, also the keep-alive idle limit (default 10s) [env SPARTAKUS_HEADER_TIMEOUT]
    #[argh(option)]
    pub(crate) header_timeout: Option<String>,
    /// time a client has to send a report's body, from its headers; also the limit for storing it (default 60s) [env SPARTAKUS_REQUEST_TIMEOUT]
    #[argh(option)]
    pub(crate) request_timeout: Option<String>,
    /// after SIGTERM or SIGINT, how long requests in flight get to finish; keep it below the pod's terminationGracePeriodSeconds; a second signal stops at once (default 25s) [env SPARTAKUS_SHUTDOWN_GRACE]
    #[argh(option)]
    pub(crate) shutdown_grace: Option<String>,
    /// new cluster IDs one client address (an IPv4 address, an IPv6 /64) may bring per hour, then 429; clusters already stored never count; 0 for no limit (default 600) [env SPARTAKUS_NEW_CLUSTERS_PER_SOURCE]
    #[argh(option)]
    pub(crate) new_clusters_per_source: Option<String>,
    /// reverse proxies (IP or CIDR, comma-separated) whose X-Forwarded-For names the client; without it the header is ignored (default: none) [env SPARTAKUS_TRUSTED_PROXY]
    #[argh(option)]
    pub(crate) trusted_proxy: Option<String>,
    /// log every request to /healthz, /readyz and /metrics, not only those that fail [env SPARTAKUS_LOG_PROBES]
    #[argh(switch)]
    pub(crate) log_probes: bool,
}

/// Print the fleet at a glance from a collector's store: clusters reporting, Kubernetes and
/// kubelet versions, OS images, architectures, container runtimes, cloud providers,
/// accelerators, the version skew between kubelets and API server, node counts and workload
/// statistics, each cluster by its latest report. With
/// --since or --every, how the fleet changed, period by period. Every flag can also be set by
/// its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "summary",
    help_triggers("-h", "--help", "help"),
    error_code(0, "printed"),
    error_code(1, "internal error (the store could not be read)"),
    error_code(
        2,
        "usage error, or the store does not exist or is not a spartakus store"
    )
)]
pub struct SummaryArgs {
    /// the collector's store: a SQLite file path, or postgres://... (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// look at clusters that reported in the last N days: today (UTC) and the N-1 before (default 30) [env SPARTAKUS_DAYS]
    #[argh(option)]
    pub days: Option<String>,
    /// a trend instead: each period from this long ago to now, e.g. 180d (default 180d with --every) [env SPARTAKUS_SINCE]
    #[argh(option)]
    pub since: Option<String>,
    /// the trend's periods: day, week (ISO, from Monday) or month (default week with --since) [env SPARTAKUS_EVERY]
    #[argh(option)]
    pub every: Option<String>,
    /// table (default), json, or csv (long and tidy: period_start,dimension,value,clusters,nodes,bucket,finished) [env SPARTAKUS_FORMAT]
    #[argh(option)]
    pub format: Option<String>,
    /// only this cluster ID [env SPARTAKUS_CLUSTER]
    #[argh(option)]
    pub cluster: Option<String>,
    /// rows shown per table, the rest summed up, and how many latest reports are listed (default 15); of a trend, the values shown per category (default 5) [env SPARTAKUS_TOP]
    #[argh(option)]
    pub top: Option<String>,
    /// print JSON (a stable shape for scripts), as --format json [env SPARTAKUS_JSON]
    #[argh(switch)]
    pub json: bool,
}

/// Write the stored reports to stdout, oldest first, for BigQuery, ClickHouse, DuckDB or a
/// spreadsheet: JSON lines (each report as received, with the time it was received) or CSV (a
/// row per node). Reads a page of reports at a time: memory stays small however many there are.
/// Every flag can also be set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "export",
    help_triggers("-h", "--help", "help"),
    note = "CSV columns: received_at, cluster_id, kubernetes_version, node_id, operating_system, os_image, kernel_version, architecture, container_runtime_version, kubelet_version, cloud_provider, cpu, memory, pods, ephemeral_storage, other_capacity (name=value;...).",
    error_code(0, "written (or the reader stopped reading, as `| head` does)"),
    error_code(1, "internal error (the store could not be read, stdout failed)"),
    error_code(
        2,
        "usage error, or the store does not exist or is not a spartakus store"
    )
)]
pub struct ExportArgs {
    /// the collector's store: a SQLite file path, or postgres://... (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// only reports received in this last while, e.g. 30d, 12h (default: every stored report) [env SPARTAKUS_SINCE]
    #[argh(option)]
    pub since: Option<String>,
    /// jsonl (default): a line per report, {"receivedAt": ..., "report": {...}}; or csv: a row per node [env SPARTAKUS_FORMAT]
    #[argh(option)]
    pub format: Option<String>,
}

/// Serve a read-only web page over a collector's store: clusters and nodes over time, the
/// adoption of Kubernetes versions and the version skew over time, the fleet's current shares
/// and cluster sizes, as SVG charts
/// drawn on the server, each with its table. No script, nothing from elsewhere; never a cluster
/// ID. Needs only read access to the store. Stops on SIGTERM or SIGINT. Every flag can also be
/// set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "dashboard",
    help_triggers("-h", "--help", "help"),
    note = "Routes: / (the page), /style.css, /healthz. The page is made anew at most every 30 seconds.",
    error_code(0, "stopped by SIGTERM or SIGINT"),
    error_code(1, "internal error (the listener failed)"),
    error_code(
        2,
        "usage error, or the store does not exist or is not a spartakus store"
    )
)]
pub struct DashboardArgs {
    /// the collector's store: a SQLite file path, or postgres://... (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// address to serve the page on, IP:PORT (default 127.0.0.1:8081; 0.0.0.0:8081 to be reached from elsewhere) [env SPARTAKUS_LISTEN]
    #[argh(option)]
    pub listen: Option<String>,
    /// how far back the charts over time go, e.g. 180d (default 180d) [env SPARTAKUS_SINCE]
    #[argh(option)]
    pub since: Option<String>,
    /// the periods of the charts over time: day, week (ISO, from Monday) or month (default week) [env SPARTAKUS_EVERY]
    #[argh(option)]
    pub every: Option<String>,
    /// the fleet now: each cluster by its latest report in the last N days (default 7) [env SPARTAKUS_NOW_DAYS]
    #[argh(option)]
    pub(crate) now_days: Option<String>,
    /// open connections at most (default 64) [env SPARTAKUS_MAX_CONNECTIONS]
    #[argh(option)]
    pub max_connections: Option<String>,
}

/// Copy a collector's SQLite store to a new file, consistently, while collectors keep writing to
/// it (SQLite's online backup). For a PostgreSQL store, use pg_dump. Every flag can also be set
/// by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "backup",
    help_triggers("-h", "--help", "help"),
    note = "Restore by stopping the collector and putting the copy in the store's place (README, \"Backup and restore\").",
    error_code(0, "the copy is written and opens as a spartakus store"),
    error_code(1, "internal error (the copy could not be written)"),
    error_code(
        2,
        "usage error: the target exists (see --force), or the store does not exist, is not a spartakus store or is a PostgreSQL store"
    )
)]
pub struct BackupArgs {
    /// the collector's store: a SQLite file path (default spartakus.db) [env SPARTAKUS_STORE]
    #[argh(option)]
    pub store: Option<String>,
    /// the file to write the copy to (it must not exist unless --force), or - for stdout [env SPARTAKUS_TO]
    #[argh(option)]
    pub to: Option<String>,
    /// replace the file given by --to if it exists [env SPARTAKUS_FORCE]
    #[argh(switch)]
    pub force: bool,
}
