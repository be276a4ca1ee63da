//! The command line: every subcommand's flags, parsed once, and the one rule by which a flag not
//! given is read from the environment (`--memory-budget` from `SPARTAKUS_MEMORY_BUDGET`). A
//! leaf: it knows no subcommand's logic; `crate::job` turns these flags into settings.

use crate::exit::{Class, fail};
use anyhow::Result;
use argh::FromArgs;
use std::process::ExitCode;

/// spartakus: anonymous, opt-in Kubernetes usage reporting. `spartakus report --dry-run`
/// previews what a cluster would send. Every flag can also be set by an environment variable,
/// SPARTAKUS_ and the flag's name in upper case (--memory-budget is SPARTAKUS_MEMORY_BUDGET);
/// a flag on the command line wins.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    help_triggers("-h", "--help", "help"),
    note = "What a report contains, field by field, is in README.md. `spartakus <command> --help` describes each command and its exit codes.",
    error_code(0, "success"),
    error_code(1, "internal error"),
    error_code(2, "usage or configuration error"),
    error_code(3, "Kubernetes API error"),
    error_code(4, "the collector rejected the report"),
    error_code(5, "the collector was unreachable until the deadline")
)]
pub struct Args {
    /// print the version and exit
    #[argh(switch, short = 'V')]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Init(InitArgs),
    Report(ReportArgs),
    Send(SendArgs),
    Collect(CollectArgs),
    Summary(SummaryArgs),
    Export(ExportArgs),
    Dashboard(DashboardArgs),
    Backup(BackupArgs),
    Forget(ForgetArgs),
}

impl Command {
    /// The subcommand's name, for pointing at its help.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Init(_) => "init",
            Command::Report(_) => "report",
            Command::Send(_) => "send",
            Command::Collect(_) => "collect",
            Command::Summary(_) => "summary",
            Command::Export(_) => "export",
            Command::Dashboard(_) => "dashboard",
            Command::Backup(_) => "backup",
            Command::Forget(_) => "forget",
        }
    }
}

/// Create the cluster-ID ConfigMap once (idempotent) and print the cluster ID. Every flag can
/// also be set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "init",
    help_triggers("-h", "--help", "help"),
    error_code(0, "the cluster ID is printed (created now, or found)"),
    error_code(1, "internal error"),
    error_code(2, "usage error, or the ConfigMap exists without a cluster ID"),
    error_code(
        3,
        "Kubernetes API error (permission, server errors or no answer until the deadline)"
    )
)]
pub struct InitArgs {
    /// namespace of the ConfigMap (default: the pod's namespace, else the kubeconfig's) [env SPARTAKUS_NAMESPACE]
    #[argh(option)]
    pub namespace: Option<String>,
    /// name of the ConfigMap holding `clusterID` (default spartakus) [env SPARTAKUS_CONFIGMAP]
    #[argh(option)]
    pub configmap: Option<String>,
    /// hard deadline for the whole run, e.g. 2m (default 2m) [env SPARTAKUS_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
}

/// Build the anonymous report of this cluster and send it to the collector. Every flag can
/// also be set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "report",
    help_triggers("-h", "--help", "help"),
    note = "Sends a cluster ID, the Kubernetes version, and per node its OS, kernel, architecture, runtime and kubelet versions, cloud provider and capacity; never names, addresses, labels or images. Preview with --dry-run.",
    error_code(
        0,
        "report sent (any 2xx), or previewed (--dry-run) or written (--output)"
    ),
    error_code(1, "internal error"),
    error_code(
        2,
        "usage or configuration error (flags, extensions, missing cluster ID, CA file, untrusted collector certificate)"
    ),
    error_code(
        3,
        "Kubernetes API error (permission, not found, server errors or no answer until the deadline)"
    ),
    error_code(4, "the collector rejected the report (4xx); not retried"),
    error_code(5, "the collector was unreachable until the deadline")
)]
pub struct ReportArgs {
    /// URL the report is POSTed to, ending in /api/v1 [env SPARTAKUS_ENDPOINT]
    #[argh(option)]
    pub endpoint: Option<String>,
    /// cluster ID to report; skips the ConfigMap [env SPARTAKUS_CLUSTER_ID]
    #[argh(option)]
    pub cluster_id: Option<String>,
    /// namespace of the cluster-ID ConfigMap (default: the pod's, else the kubeconfig's) [env SPARTAKUS_NAMESPACE]
    #[argh(option)]
    pub namespace: Option<String>,
    /// name of the cluster-ID ConfigMap (default spartakus) [env SPARTAKUS_CONFIGMAP]
    #[argh(option)]
    pub configmap: Option<String>,
    /// JSON file or directory of JSON files with extensions [env SPARTAKUS_EXTENSIONS]
    #[argh(option)]
    pub extensions: Option<String>,
    /// print the exact JSON that would be sent on stdout, send nothing [env SPARTAKUS_DRY_RUN]
    #[argh(switch)]
    pub dry_run: bool,
    /// hard deadline for the whole run, e.g. 5m, 90s (default 5m) [env SPARTAKUS_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
    /// extra CA certificates (PEM) trusted for the collector, added to the system roots [env SPARTAKUS_CA_FILE]
    #[argh(option)]
    pub ca_file: Option<String>,
    /// write the report's JSON to this file instead of sending it [env SPARTAKUS_OUTPUT]
    #[argh(option)]
    pub output: Option<String>,
    /// send the report uncompressed (default: gzip, with a fallback for collectors that refuse it) [env SPARTAKUS_NO_GZIP]
    #[argh(switch)]
    pub no_gzip: bool,
    /// before a scheduled report, wait a delay derived from the cluster ID, up to this long, e.g. 1h (default 0: none) [env SPARTAKUS_SPREAD]
    #[argh(option)]
    pub spread: Option<String>,
    /// the Job this pod runs for; a manually created Job is never delayed by --spread [env SPARTAKUS_JOB_NAME]
    #[argh(option)]
    pub job_name: Option<String>,
    /// this pod's name (the CronJob sets it): the run's outcome is then recorded as an Event on the CronJob spartakus [env SPARTAKUS_POD_NAME]
    #[argh(option)]
    pub pod_name: Option<String>,
    /// also send workload statistics: how many namespaces, pods, services, deployments, statefulsets, daemonsets, jobs and cronjobs, how they spread over namespaces, how old namespaces, pods and services are (counts and days only, never names); needs the RBAC of kustomize/components/workload-stats [env SPARTAKUS_WORKLOAD_STATS]
    #[argh(switch)]
    pub workload_stats: bool,
}

/// Send a report file made by `spartakus report --output` (for clusters without internet
/// access: export it there, review it, carry it out, send it from here). The file is checked
/// against the report contract first, and sent as it is, with gzip, retries and an
/// Idempotency-Key derived from its content (the same file sent twice is one report). Every flag
/// can also be set by its variable, SPARTAKUS_ and the flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "send",
    help_triggers("-h", "--help", "help"),
    error_code(0, "report sent (any 2xx)"),
    error_code(1, "internal error"),
    error_code(
        2,
        "usage or configuration error (flags, a file a collector would refuse, CA file, untrusted collector certificate)"
    ),
    error_code(4, "the collector rejected the report (4xx); not retried"),
    error_code(5, "the collector was unreachable until the deadline")
)]
pub struct SendArgs {
    /// the report's JSON file (/dev/stdin reads a pipe)
    #[argh(positional)]
    pub file: String,
    /// URL the report is POSTed to, ending in /api/v1 [env SPARTAKUS_ENDPOINT]
    #[argh(option)]
    pub endpoint: Option<String>,
    /// extra CA certificates (PEM) trusted for the collector, added to the system roots [env SPARTAKUS_CA_FILE]
    #[argh(option)]
    pub ca_file: Option<String>,
    /// hard deadline for sending, e.g. 5m, 90s (default 5m) [env SPARTAKUS_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
}

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
        "usage or configuration error, or a store that cannot take a report (not a spartakus store, damaged, read-only, a newer schema, refused credentials)"
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
    /// after SIGTERM or SIGINT, how long requests in flight get to finish; keep it below the pod's terminationGracePeriodSeconds; a second signal stops at once (default 25s) [env SPARTAKUS_SHUTDOWN_GRACE]
    #[argh(option)]
    pub shutdown_grace: Option<String>,
    /// new cluster IDs one client address (an IPv4 address, an IPv6 /64) may bring per hour, then 429; clusters already stored never count; 0 for no limit (default 600) [env SPARTAKUS_NEW_CLUSTERS_PER_SOURCE]
    #[argh(option)]
    pub new_clusters_per_source: Option<String>,
    /// reverse proxies (IP or CIDR, comma-separated) whose X-Forwarded-For names the client; without it the header is ignored (default none) [env SPARTAKUS_TRUSTED_PROXY]
    #[argh(option)]
    pub trusted_proxy: Option<String>,
    /// log every request to /healthz, /readyz and /metrics, not only those that fail [env SPARTAKUS_LOG_PROBES]
    #[argh(switch)]
    pub log_probes: bool,
}

/// Print the fleet at a glance from a collector's store: clusters reporting, Kubernetes and
/// kubelet versions, OS images, architectures, container runtimes, cloud providers,
/// accelerators, node counts and workload statistics, each cluster by its latest report. With
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
    /// table (default), json, or csv (long and tidy: period_start,dimension,value,clusters,nodes) [env SPARTAKUS_FORMAT]
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
/// adoption of Kubernetes versions, the fleet's current shares and cluster sizes, as SVG charts
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
    pub now_days: Option<String>,
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

/// Ask the collector to forget this cluster: to delete every report of it that it stored, and
/// its share of the fleet's history. The cluster ID is read as `report` reads it (the ConfigMap
/// `spartakus init` made, or --cluster-id). The collector answers the same whether or not it
/// had anything of the cluster. Every flag can also be set by its variable, SPARTAKUS_ and the
/// flag's name in upper case.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "forget",
    help_triggers("-h", "--help", "help"),
    note = "A cluster that keeps reporting is stored again from its next report: stop reporting first (README, \"Stop reporting\").",
    error_code(
        0,
        "the collector keeps nothing of the cluster now (whether or not it had anything)"
    ),
    error_code(1, "internal error"),
    error_code(
        2,
        "usage or configuration error (flags, missing cluster ID, placeholder endpoint, CA file, untrusted collector certificate)"
    ),
    error_code(
        3,
        "Kubernetes API error reading the cluster ID (permission, server errors or no answer until the deadline)"
    ),
    error_code(
        4,
        "the collector refused the request (4xx, such as a collector that does not take deletion requests); not retried"
    ),
    error_code(5, "the collector was unreachable until the deadline")
)]
pub struct ForgetArgs {
    /// the collector's report URL, ending in /api/v1; the request goes to its /clusters/ID [env SPARTAKUS_ENDPOINT]
    #[argh(option)]
    pub endpoint: Option<String>,
    /// the cluster ID to forget; skips the ConfigMap [env SPARTAKUS_CLUSTER_ID]
    #[argh(option)]
    pub cluster_id: Option<String>,
    /// namespace of the cluster-ID ConfigMap (default: the pod's, else the kubeconfig's) [env SPARTAKUS_NAMESPACE]
    #[argh(option)]
    pub namespace: Option<String>,
    /// name of the cluster-ID ConfigMap (default spartakus) [env SPARTAKUS_CONFIGMAP]
    #[argh(option)]
    pub configmap: Option<String>,
    /// extra CA certificates (PEM) trusted for the collector, added to the system roots [env SPARTAKUS_CA_FILE]
    #[argh(option)]
    pub ca_file: Option<String>,
    /// hard deadline for the whole run, e.g. 5m, 90s (default 5m) [env SPARTAKUS_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
}

/// A value given for a flag, and where it came from (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    /// `--timeout`, or `SPARTAKUS_TIMEOUT`.
    pub source: String,
    pub value: String,
}

impl Given {
    /// A usage error about this value: `--timeout 5: missing unit`.
    pub fn error(&self, problem: impl std::fmt::Display) -> anyhow::Error {
        let sep = if self.source.starts_with("--") {
            " "
        } else {
            "="
        };
        usage(format!("{}{sep}{}: {problem}", self.source, self.value))
    }
}

/// The variable a flag falls back to: `--memory-budget` is `SPARTAKUS_MEMORY_BUDGET`.
pub fn env_var(flag: &str) -> String {
    format!("SPARTAKUS_{}", flag.to_ascii_uppercase().replace('-', "_"))
}

/// Flags not given, looked up in the environment (a function, so tests need not touch the
/// process environment).
pub struct Env<'a>(pub &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The process environment.
    pub fn process() -> Env<'static> {
        Env(&|name| std::env::var(name).ok())
    }

    /// An option's value: the flag's, else its variable's; trimmed, `None` when empty.
    pub fn text(&self, flag: &str, value: Option<String>) -> Option<Given> {
        self.raw(flag, value)
            .map(|g| Given {
                value: g.value.trim().to_string(),
                ..g
            })
            .filter(|g| !g.value.is_empty())
    }

    /// As [`Env::text`], but an empty value is kept (it can mean something).
    pub fn raw(&self, flag: &str, value: Option<String>) -> Option<Given> {
        match value {
            Some(value) => Some(Given {
                source: format!("--{flag}"),
                value,
            }),
            None => {
                let var = env_var(flag);
                (self.0)(&var).map(|value| Given { source: var, value })
            }
        }
    }

    /// A switch: given on the command line, or its variable is `true`, `1` or `yes`.
    pub fn switch(&self, flag: &str, given: bool) -> Result<bool> {
        if given {
            return Ok(true);
        }
        let Some(g) = self.text(flag, None) else {
            return Ok(false);
        };
        match g.value.to_ascii_lowercase().as_str() {
            "false" | "0" | "no" => Ok(false),
            "true" | "1" | "yes" => Ok(true),
            _ => Err(g.error("expected true or false")),
        }
    }

    /// An option parsed by `parse`, or `default` when not given.
    pub fn parsed<T>(
        &self,
        flag: &str,
        value: Option<String>,
        default: T,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        match self.text(flag, value) {
            None => Ok(default),
            Some(g) => parse(&g.value).map_err(|e| g.error(e)),
        }
    }
}

/// A usage error.
pub fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Class::Usage, anyhow::anyhow!("{msg}"))
}

/// What `parse` decided.
pub enum Parsed {
    /// Run this.
    Run(Box<Command>),
    /// Help or version was printed, or the command line was refused: exit with this.
    Exit(ExitCode),
}

/// Parse the command line. Help and version are printed here; a parse error is printed as one
/// line pointing at the help of the subcommand concerned.
pub fn parse(argv: &[String]) -> Parsed {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (cmd, rest) = strs
        .split_first()
        .map_or(("spartakus", &[][..]), |(c, r)| (*c, r));
    let cmd = std::path::Path::new(cmd)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("spartakus");
    match Args::from_args(&[cmd], rest) {
        Ok(Args { version: true, .. }) => {
            println!("spartakus {}", env!("CARGO_PKG_VERSION"));
            Parsed::Exit(ExitCode::SUCCESS)
        }
        Ok(Args {
            command: Some(command),
            ..
        }) => Parsed::Run(Box::new(command)),
        Ok(Args { command: None, .. }) => {
            eprintln!(
                "spartakus: error: no command given; one of init, report, send, forget, collect, summary, export, dashboard, backup (see `{cmd} --help`)"
            );
            Parsed::Exit(ExitCode::from(Class::Usage.code()))
        }
        Err(early) if early.status.is_ok() => {
            print!("{}", early.output);
            Parsed::Exit(ExitCode::SUCCESS)
        }
        Err(early) => {
            let message: Vec<&str> = early.output.split_whitespace().collect();
            eprintln!(
                "spartakus: error: {} (see `{}`)",
                message.join(" "),
                help_command(cmd, rest)
            );
            Parsed::Exit(ExitCode::from(Class::Usage.code()))
        }
    }
}

/// `spartakus report --help` when the arguments name a subcommand, else `spartakus --help`.
pub fn help_command(cmd: &str, args: &[&str]) -> String {
    const COMMANDS: [&str; 9] = [
        "init",
        "report",
        "send",
        "forget",
        "collect",
        "summary",
        "export",
        "dashboard",
        "backup",
    ];
    match args.iter().find(|a| COMMANDS.contains(a)) {
        Some(sub) => format!("{cmd} {sub} --help"),
        None => format!("{cmd} --help"),
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
