//! Flags, their environment variables, and validation into typed settings.

use crate::exit::{Class, fail};
use anyhow::Result;
use argh::FromArgs;
use std::process::ExitCode;

/// spartakus: anonymous, opt-in Kubernetes usage reporting.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    note = "Report: what is sent is documented in README.md; preview it with `spartakus report --dry-run`.",
    error_code(0, "success (report sent, or dry run)"),
    error_code(2, "usage or configuration error (flags, extensions, missing cluster ID)"),
    error_code(3, "Kubernetes API error (permission, not found, server error)"),
    error_code(4, "the collector rejected the report (4xx); not retried"),
    error_code(5, "the collector was unreachable, or the deadline passed"),
    error_code(1, "internal error")
)]
pub struct Args {
    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, Debug, PartialEq)]
#[argh(subcommand)]
pub enum Command {
    Init(InitArgs),
    Report(ReportArgs),
    Collect(crate::collector::CollectArgs),
    Summary(crate::collector::SummaryArgs),
}

/// Create the cluster-ID ConfigMap once (idempotent) and print the cluster ID.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(subcommand, name = "init")]
pub struct InitArgs {
    /// namespace of the ConfigMap (default: the pod's namespace, else the kubeconfig's)
    #[argh(option)]
    pub namespace: Option<String>,
    /// name of the ConfigMap holding `clusterID` (default: spartakus)
    #[argh(option)]
    pub configmap: Option<String>,
}

/// Build the anonymous report of this cluster and send it to the collector.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(subcommand, name = "report")]
pub struct ReportArgs {
    /// URL the report is POSTed to [env SPARTAKUS_ENDPOINT]
    #[argh(option)]
    pub endpoint: Option<String>,
    /// cluster ID to report; skips the ConfigMap [env SPARTAKUS_CLUSTER_ID]
    #[argh(option)]
    pub cluster_id: Option<String>,
    /// namespace of the cluster-ID ConfigMap [env SPARTAKUS_NAMESPACE]
    #[argh(option)]
    pub namespace: Option<String>,
    /// name of the cluster-ID ConfigMap, default spartakus [env SPARTAKUS_CONFIGMAP]
    #[argh(option)]
    pub configmap: Option<String>,
    /// JSON file or directory of JSON files with extensions [env SPARTAKUS_EXTENSIONS]
    #[argh(option)]
    pub extensions: Option<String>,
    /// print the exact JSON that would be sent, send nothing [env SPARTAKUS_DRY_RUN]
    #[argh(switch)]
    pub dry_run: bool,
    /// hard deadline for the whole run, e.g. 5m, 90s, default 5m [env SPARTAKUS_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
    /// extra CA certificates (PEM) trusted for the collector, added to the system roots [env SPARTAKUS_CA_FILE]
    #[argh(option)]
    pub ca_file: Option<String>,
}

/// Parse the command line. On `--help` or a parse error the message is printed here and the
/// exit code returned (0 for help, 2 for usage errors).
pub fn parse(argv: &[String]) -> std::result::Result<Args, ExitCode> {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (cmd, rest) = strs.split_first().map_or(("spartakus", &[][..]), |(c, r)| (*c, r));
    let cmd = std::path::Path::new(cmd)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("spartakus");
    match Args::from_args(&[cmd], rest) {
        Ok(args) => Ok(args),
        Err(early) => {
            if early.status.is_ok() {
                print!("{}", early.output);
                Err(ExitCode::SUCCESS)
            } else {
                eprint!("{}", early.output);
                Err(ExitCode::from(Class::Usage.code()))
            }
        }
    }
}

/// Run the chosen subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Init(a) => crate::reporter::init(a),
        Command::Report(a) => crate::reporter::report(a),
        Command::Collect(a) => crate::collector::run_collect(a),
        Command::Summary(a) => crate::collector::run_summary(a),
    }
}

/// A usage error.
pub fn usage(msg: impl std::fmt::Display) -> anyhow::Error {
    fail(Class::Usage, anyhow::anyhow!("{msg}"))
}
