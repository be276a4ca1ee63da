//! The command line: every subcommand's flags, parsed once, and the one rule by which a flag not
//! given is read from the environment (`--memory-budget` from `SPARTAKUS_MEMORY_BUDGET`). A
//! leaf: it knows no subcommand's logic; `crate::job` turns these flags into settings.

use crate::exit::{Class, usage};
use anyhow::Result;
use argh::FromArgs;
use std::process::ExitCode;

mod collector;
pub(crate) mod defaults;
pub(crate) mod values;
pub use collector::{BackupArgs, CollectArgs, DashboardArgs, ExportArgs, SummaryArgs};

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
    error_code(
        5,
        "the collector was unreachable, or kept answering 429 (rate limited), until the deadline"
    )
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
    error_code(
        5,
        "the collector was unreachable, or kept answering 429 (rate limited), until the deadline"
    )
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
    pub(crate) no_gzip: bool,
    /// before a scheduled report, wait a delay derived from the cluster ID, up to this long, e.g. 1h (default 0: none) [env SPARTAKUS_SPREAD]
    #[argh(option)]
    pub spread: Option<String>,
    /// the Job this pod runs for; a manually created Job is never delayed by --spread [env SPARTAKUS_JOB_NAME]
    #[argh(option)]
    pub job_name: Option<String>,
    /// this pod's name (the CronJob sets it): the run's outcome is then recorded as an Event on the CronJob spartakus [env SPARTAKUS_POD_NAME]
    #[argh(option)]
    pub(crate) pod_name: Option<String>,
    /// also send workload statistics: how many namespaces, pods, services, deployments, statefulsets, daemonsets, jobs and cronjobs, how they spread over namespaces, how old namespaces, pods and services are (counts and days only, never names); needs the RBAC of kustomize/components/workload-stats [env SPARTAKUS_WORKLOAD_STATS]
    #[argh(switch)]
    pub(crate) workload_stats: bool,
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
    error_code(
        5,
        "the collector was unreachable, or kept answering 429 (rate limited), until the deadline"
    )
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
    error_code(
        5,
        "the collector was unreachable, or kept answering 429 (rate limited), until the deadline"
    )
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
    pub(crate) fn error(&self, problem: impl std::fmt::Display) -> anyhow::Error {
        let sep = if self.source.starts_with("--") {
            " "
        } else {
            "="
        };
        usage(format!("{}{sep}{}: {problem}", self.source, self.value))
    }
}

/// The variable a flag falls back to: `--memory-budget` is `SPARTAKUS_MEMORY_BUDGET`.
pub(crate) fn env_var(flag: &str) -> String {
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

    /// An option's text; when not given, its default in `table`.
    pub(crate) fn text_or(
        &self,
        flag: &str,
        given: Option<String>,
        table: defaults::Defaults,
    ) -> String {
        self.text(flag, given)
            .map_or_else(|| defaults::of(table, flag).to_string(), |g| g.value)
    }

    /// An option parsed by `parse`; when not given, its default in `table`, parsed the same way.
    pub fn value<T>(
        &self,
        key: &str,
        given: Option<String>,
        table: defaults::Defaults,
        parse: impl Fn(&str) -> std::result::Result<T, String>,
    ) -> Result<T> {
        let flag = key.split(' ').next().unwrap_or(key);
        match self.text(flag, given) {
            Some(g) => parse(&g.value).map_err(|e| g.error(e)),
            None => {
                let text = defaults::of(table, key);
                parse(text).map_err(|e| {
                    anyhow::anyhow!("the default of --{flag}, {text:?}, does not parse: {e}")
                })
            }
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
pub(crate) fn help_command(cmd: &str, args: &[&str]) -> String {
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
