//! Flags, their environment variables, and validation into typed settings.

use crate::exit::{Class, fail};
use crate::retry::parse_duration;
use anyhow::Result;
use argh::FromArgs;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// spartakus: anonymous, opt-in Kubernetes usage reporting.
#[derive(FromArgs, Debug, PartialEq)]
#[argh(
    note = "Report: what is sent is documented in README.md; preview it with `spartakus report --dry-run`.",
    error_code(0, "success (report sent, or dry run)"),
    error_code(1, "internal error"),
    error_code(
        2,
        "usage or configuration error (flags, extensions, missing cluster ID)"
    ),
    error_code(
        3,
        "Kubernetes API error (permission, not found, server errors or no answer until the deadline)"
    ),
    error_code(4, "the collector rejected the report (4xx); not retried"),
    error_code(5, "the collector was unreachable until the deadline")
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
#[argh(
    subcommand,
    name = "init",
    error_code(0, "the cluster ID is printed (created now, or found)"),
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
    /// name of the ConfigMap holding `clusterID` (default: spartakus) [env SPARTAKUS_CONFIGMAP]
    #[argh(option)]
    pub configmap: Option<String>,
    /// hard deadline for the whole run, e.g. 2m (default 2m) [env SPARTAKUS_INIT_TIMEOUT]
    #[argh(option)]
    pub timeout: Option<String>,
}

/// `spartakus init`'s settings, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct InitSettings {
    pub namespace: Option<String>,
    pub configmap: String,
    pub timeout: Duration,
}

impl InitSettings {
    /// Flags win; each one not given is read from its variable through `env`.
    pub fn resolve(args: InitArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let text = |flag: Option<String>, var: &str| flag_or_env(flag, var, env);
        let timeout = match text(args.timeout, "SPARTAKUS_INIT_TIMEOUT") {
            None => DEFAULT_INIT_TIMEOUT,
            Some(t) => match parse_duration(&t) {
                Ok(d) if !d.is_zero() => d,
                Ok(_) => return Err(usage("--timeout: must be more than zero")),
                Err(e) => return Err(usage(format!("--timeout: {e}"))),
            },
        };
        Ok(InitSettings {
            namespace: text(args.namespace, "SPARTAKUS_NAMESPACE"),
            configmap: text(args.configmap, "SPARTAKUS_CONFIGMAP")
                .unwrap_or_else(|| DEFAULT_CONFIGMAP.to_string()),
            timeout,
        })
    }
}

/// Build the anonymous report of this cluster and send it to the collector.
#[derive(FromArgs, Debug, PartialEq, Default)]
#[argh(
    subcommand,
    name = "report",
    note = "Sends a cluster ID, the Kubernetes version, and per node its OS, kernel, architecture, runtime and kubelet versions, cloud provider and capacity; never names, addresses, labels or images. Preview with --dry-run.",
    error_code(0, "report sent (any 2xx), or dry run / output written"),
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
}

/// How long a report run may take unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long `init` may take unless told otherwise.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(120);
/// The ConfigMap holding the cluster ID unless told otherwise.
pub const DEFAULT_CONFIGMAP: &str = "spartakus";

/// `spartakus report`'s settings, validated once.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSettings {
    /// Where to send; `None` only when the report is not sent (dry run or output file).
    pub endpoint: Option<String>,
    pub cluster_id: Option<String>,
    pub namespace: Option<String>,
    pub configmap: String,
    pub extensions: Option<PathBuf>,
    pub dry_run: bool,
    pub output: Option<PathBuf>,
    pub timeout: Duration,
    pub ca_file: Option<PathBuf>,
    pub gzip: bool,
    /// Load spreading (see [`crate::spread`]); zero for none.
    pub spread: Duration,
    pub job_name: Option<String>,
}

impl ReportSettings {
    /// Whether the report is sent (not previewed on stdout nor written to a file).
    pub fn sending(&self) -> bool {
        !self.dry_run && self.output.is_none()
    }

    /// Validates the flags, filling each one not given from its `SPARTAKUS_*` variable (read
    /// through `env`, so tests need not touch the process environment).
    pub fn resolve(args: ReportArgs, env: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let text = |flag: Option<String>, var: &str| flag_or_env(flag, var, env);
        let switch = |flag: bool, var: &str| -> Result<bool> {
            if flag {
                return Ok(true);
            }
            match env(var).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
                None | Some("") | Some("false") | Some("0") | Some("no") => Ok(false),
                Some("true") | Some("1") | Some("yes") => Ok(true),
                Some(other) => Err(usage(format!("{var}={other:?}: expected true or false"))),
            }
        };
        let mut dry_run = switch(args.dry_run, "SPARTAKUS_DRY_RUN")?;
        let mut output = text(args.output, "SPARTAKUS_OUTPUT").map(PathBuf::from);
        // `--output -` is standard output, which is what a dry run prints to.
        if output.as_deref() == Some(std::path::Path::new("-")) {
            output = None;
            dry_run = true;
        }
        let endpoint = text(args.endpoint, "SPARTAKUS_ENDPOINT");
        let sending = !dry_run && output.is_none();
        if let Some(endpoint) = &endpoint {
            validate_endpoint(endpoint)?;
            if sending && is_placeholder(endpoint) {
                return Err(usage(format!(
                    "the endpoint {} is a placeholder (a reserved example domain): nothing was sent; set SPARTAKUS_ENDPOINT (the spartakus-config ConfigMap) or --endpoint to your collector's URL",
                    crate::upload::redact(endpoint)
                )));
            }
        } else if sending {
            return Err(usage(
                "no collector endpoint: set --endpoint or SPARTAKUS_ENDPOINT (or preview with --dry-run)",
            ));
        }
        let cluster_id = text(args.cluster_id, "SPARTAKUS_CLUSTER_ID");
        if let Some(id) = &cluster_id {
            validate_cluster_id(id).map_err(|e| usage(format!("--cluster-id: {e}")))?;
        }
        let timeout = match text(args.timeout, "SPARTAKUS_TIMEOUT") {
            None => DEFAULT_TIMEOUT,
            Some(t) => {
                let d = parse_duration(&t).map_err(|e| usage(format!("--timeout: {e}")))?;
                if d.is_zero() {
                    return Err(usage("--timeout: must be more than zero"));
                }
                d
            }
        };
        let spread = match text(args.spread, "SPARTAKUS_SPREAD") {
            None => Duration::ZERO,
            Some(t) => parse_duration(&t).map_err(|e| usage(format!("--spread: {e}")))?,
        };
        if spread > Duration::from_secs(24 * 3600) {
            return Err(usage("--spread: at most 24h (reports are daily)"));
        }
        Ok(ReportSettings {
            spread,
            // Empty is kept: a pod whose Job label is missing reports at once (see spread).
            job_name: args
                .job_name
                .or_else(|| env("SPARTAKUS_JOB_NAME"))
                .map(|v| v.trim().to_string()),
            endpoint,
            cluster_id,
            namespace: text(args.namespace, "SPARTAKUS_NAMESPACE"),
            configmap: text(args.configmap, "SPARTAKUS_CONFIGMAP")
                .unwrap_or_else(|| DEFAULT_CONFIGMAP.to_string()),
            extensions: text(args.extensions, "SPARTAKUS_EXTENSIONS").map(PathBuf::from),
            dry_run,
            output,
            timeout,
            ca_file: text(args.ca_file, "SPARTAKUS_CA_FILE").map(PathBuf::from),
            gzip: !switch(args.no_gzip, "SPARTAKUS_NO_GZIP")?,
        })
    }
}

/// A flag's value, else its environment variable's (read through `env`); trimmed, and `None`
/// when empty.
pub fn flag_or_env(
    flag: Option<String>,
    var: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    flag.or_else(|| env(var))
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// An endpoint is an absolute `http` or `https` URL with a host.
pub fn validate_endpoint(endpoint: &str) -> Result<()> {
    let uri: http::Uri = endpoint
        .parse()
        .map_err(|e| usage(format!("--endpoint is not a URL: {e}")))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(usage(format!(
                "--endpoint {} must start with https:// (or http://)",
                crate::upload::redact(endpoint)
            )));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(usage(format!(
            "--endpoint {} has no host",
            crate::upload::redact(endpoint)
        )));
    }
    Ok(())
}

/// Whether the endpoint's host is a reserved example or invalid name (RFC 2606, RFC 6761), such
/// as the install's placeholder `collector.spartakus.example`: sending there would fail every day
/// (or, for `example.com`, reach a stranger), so it is refused at once as a configuration error.
pub fn is_placeholder(endpoint: &str) -> bool {
    let Some(host) = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    let host = host.trim_end_matches('.');
    ["example", "invalid"]
        .iter()
        .any(|tld| host == *tld || host.ends_with(&format!(".{tld}")))
        || ["example.com", "example.net", "example.org"]
            .iter()
            .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// A cluster ID is 1 to 128 printable ASCII characters without spaces.
pub fn validate_cluster_id(id: &str) -> std::result::Result<(), String> {
    if id.is_empty() || id.len() > 128 {
        return Err(format!(
            "must be 1 to 128 characters long (has {})",
            id.len()
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("must be printable ASCII without spaces".into());
    }
    Ok(())
}

/// Parse the command line. On `--help` or a parse error the message is printed here and the
/// exit code returned (0 for help, 2 for usage errors).
pub fn parse(argv: &[String]) -> std::result::Result<Args, ExitCode> {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let (cmd, rest) = strs
        .split_first()
        .map_or(("spartakus", &[][..]), |(c, r)| (*c, r));
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
                let message: Vec<&str> = early.output.split_whitespace().collect();
                eprintln!(
                    "spartakus: error: {} (see `{cmd} --help`)",
                    message.join(" ")
                );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(args: &[&str]) -> Args {
        let argv: Vec<String> = std::iter::once("spartakus")
            .chain(args.iter().copied())
            .map(String::from)
            .collect();
        parse(&argv).expect("parses")
    }

    fn report_args(args: &[&str]) -> ReportArgs {
        match parse_ok(args).command {
            Command::Report(r) => r,
            other => panic!("not a report: {other:?}"),
        }
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn flags_parse() {
        let r = report_args(&[
            "report",
            "--endpoint",
            "https://c.example/api/v1",
            "--dry-run",
            "--timeout",
            "90s",
            "--cluster-id",
            "abc",
        ]);
        assert_eq!(r.endpoint.as_deref(), Some("https://c.example/api/v1"));
        assert!(r.dry_run);
        let s = ReportSettings::resolve(r, &no_env).unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
        let s =
            ReportSettings::resolve(report_args(&["report", "--output", "-"]), &no_env).unwrap();
        assert!(s.dry_run && s.output.is_none(), "--output - is stdout");
        assert_eq!(s.configmap, "spartakus");
        assert!(s.gzip);
        match parse_ok(&["init", "--namespace", "ns"]).command {
            Command::Init(i) => {
                let env = |n: &str| match n {
                    "SPARTAKUS_NAMESPACE" => Some("from-env".to_string()),
                    "SPARTAKUS_CONFIGMAP" => Some("cid".to_string()),
                    _ => None,
                };
                let s = InitSettings::resolve(i, &env).unwrap();
                assert_eq!(s.namespace.as_deref(), Some("ns"), "the flag wins");
                assert_eq!(s.configmap, "cid");
                assert_eq!(s.timeout, DEFAULT_INIT_TIMEOUT);
            }
            other => panic!("{other:?}"),
        }
        for bad in ["0s", "soon"] {
            let Command::Init(i) = parse_ok(&["init", "--timeout", bad]).command else {
                panic!("init");
            };
            assert!(InitSettings::resolve(i, &no_env).is_err(), "{bad}");
        }
    }

    #[test]
    fn environment_fills_missing_flags_and_flags_win() {
        let env = |name: &str| -> Option<String> {
            match name {
                "SPARTAKUS_ENDPOINT" => Some("https://env.example/api/v1".into()),
                "SPARTAKUS_TIMEOUT" => Some("2m".into()),
                "SPARTAKUS_DRY_RUN" => Some("true".into()),
                "SPARTAKUS_CONFIGMAP" => Some("other".into()),
                "SPARTAKUS_NO_GZIP" => Some("1".into()),
                _ => None,
            }
        };
        let s =
            ReportSettings::resolve(report_args(&["report", "--timeout", "10s"]), &env).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("https://env.example/api/v1"));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert!(s.dry_run);
        assert!(!s.gzip);
        assert_eq!(s.configmap, "other");
    }

    #[test]
    fn bad_settings_are_usage_errors() {
        for args in [
            &["report"][..],
            &["report", "--endpoint", "ftp://x/y"],
            &["report", "--endpoint", "not a url"],
            &["report", "--endpoint", "https://x/api", "--timeout", "5"],
            &["report", "--endpoint", "https://x/api", "--timeout", "0s"],
            &["report", "--dry-run", "--cluster-id", "has space"],
        ] {
            let err = ReportSettings::resolve(report_args(args), &no_env).unwrap_err();
            assert_eq!(
                crate::exit::class_of(&err),
                Class::Usage,
                "{args:?}: {err:#}"
            );
        }
        let env = |name: &str| (name == "SPARTAKUS_DRY_RUN").then(|| "maybe".to_string());
        assert!(ReportSettings::resolve(report_args(&["report"]), &env).is_err());
    }

    #[test]
    fn placeholder_endpoints_are_refused_when_sending_only() {
        for placeholder in [
            "https://collector.spartakus.example/api/v1",
            "https://example.com/api",
            "https://c.example.org./api",
            "http://x.invalid/api",
        ] {
            assert!(is_placeholder(placeholder), "{placeholder}");
            let err = ReportSettings::resolve(
                report_args(&["report", "--endpoint", placeholder]),
                &no_env,
            )
            .unwrap_err();
            assert!(format!("{err:#}").contains("placeholder"), "{err:#}");
            // A preview with the installed configuration still works.
            let args = report_args(&["report", "--endpoint", placeholder, "--dry-run"]);
            assert!(ReportSettings::resolve(args, &no_env).is_ok());
        }
        for real in [
            "https://collector.example-corp.com/api",
            "http://127.0.0.1:8080/api/v1",
            "https://myexample.com/x",
        ] {
            assert!(!is_placeholder(real), "{real}");
        }
    }

    #[test]
    fn help_and_unknown_flags_exit_codes() {
        let argv = |a: &[&str]| -> Vec<String> { a.iter().map(|s| s.to_string()).collect() };
        assert_eq!(
            parse(&argv(&["spartakus", "--help"])).unwrap_err(),
            ExitCode::SUCCESS
        );
        assert_eq!(
            parse(&argv(&["spartakus", "report", "--bogus"])).unwrap_err(),
            ExitCode::from(Class::Usage.code())
        );
    }
}
