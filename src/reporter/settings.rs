//! `spartakus init`'s and `spartakus report`'s settings: their flags, resolved once.

use crate::cli::defaults;
use crate::cli::values::{duration, positive};
use crate::cli::{Env, ForgetArgs, InitArgs, ReportArgs, SendArgs};
use crate::contract::limits::check_cluster_id;
use crate::exit::usage;
use anyhow::Result;
use std::path::PathBuf;
use std::time::Duration;

/// `spartakus init`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InitSettings {
    pub namespace: Option<String>,
    pub configmap: String,
    pub timeout: Duration,
}

impl InitSettings {
    pub(crate) fn resolve(args: InitArgs, env: &Env) -> Result<Self> {
        Ok(InitSettings {
            namespace: env.text("namespace", args.namespace).map(|g| g.value),
            configmap: env.text_or("configmap", args.configmap, defaults::INIT),
            timeout: env.value("timeout", args.timeout, defaults::INIT, positive)?,
        })
    }
}

/// `spartakus report`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ReportSettings {
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
    /// Load spreading (see [`super::spread`]); zero for none.
    pub spread: Duration,
    /// Empty when the pod's Job label is missing (it then reports at once, see spread).
    pub job_name: Option<String>,
    /// The pod this runs in, for the receipt (see [`super::receipt`]).
    pub(crate) pod_name: Option<String>,
    /// Whether the report carries workload statistics (see [`super::workloads`]).
    pub(crate) workload_stats: bool,
}

impl ReportSettings {
    /// Whether the report is sent (not previewed on stdout nor written to a file).
    pub(crate) fn sending(&self) -> bool {
        !self.dry_run && self.output.is_none()
    }

    pub(crate) fn resolve(args: ReportArgs, env: &Env) -> Result<Self> {
        let dry_run = env.switch("dry-run", args.dry_run)?;
        let output = env.text("output", args.output);
        if let Some(out) = &output {
            if out.value == "-" {
                return Err(out.error(
                    "standard output is what --dry-run prints to; use --dry-run, or a file name",
                ));
            }
            if dry_run {
                return Err(usage(
                    "--dry-run prints the report and --output writes it to a file: choose one",
                ));
            }
        }
        let output = output.map(|g| PathBuf::from(g.value));
        let sending = !dry_run && output.is_none();
        let endpoint = env.text("endpoint", args.endpoint);
        match &endpoint {
            Some(e) => {
                validate_endpoint(&e.value).map_err(|problem| e.error(problem))?;
                if sending && is_placeholder(&e.value) {
                    return Err(usage(format!(
                        "the endpoint {} is a placeholder (a reserved example domain): nothing was sent; set SPARTAKUS_ENDPOINT (the spartakus-config ConfigMap) or --endpoint to your collector's URL",
                        super::upload::redact(&e.value)
                    )));
                }
            }
            None if sending => {
                return Err(usage(
                    "no collector endpoint: set --endpoint or SPARTAKUS_ENDPOINT (or preview with --dry-run)",
                ));
            }
            None => {}
        }
        let cluster_id = env.text("cluster-id", args.cluster_id);
        if let Some(id) = &cluster_id {
            check_cluster_id(&id.value).map_err(|e| id.error(e))?;
        }
        let spread = env.value("spread", args.spread, defaults::REPORT, duration)?;
        if spread > Duration::from_secs(24 * 3600) {
            return Err(usage("--spread: at most 24h (reports are daily)"));
        }
        Ok(ReportSettings {
            endpoint: endpoint.map(|g| g.value),
            cluster_id: cluster_id.map(|g| g.value),
            namespace: env.text("namespace", args.namespace).map(|g| g.value),
            configmap: env.text_or("configmap", args.configmap, defaults::REPORT),
            extensions: env
                .text("extensions", args.extensions)
                .map(|g| g.value.into()),
            dry_run,
            output,
            timeout: env.value("timeout", args.timeout, defaults::REPORT, positive)?,
            ca_file: env.text("ca-file", args.ca_file).map(|g| g.value.into()),
            gzip: !env.switch("no-gzip", args.no_gzip)?,
            spread,
            job_name: env
                .raw("job-name", args.job_name)
                .map(|g| g.value.trim().to_string()),
            workload_stats: env.switch("workload-stats", args.workload_stats)?,
            pod_name: env.text("pod-name", args.pod_name).map(|g| g.value),
        })
    }
}

/// `spartakus send`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SendSettings {
    /// The report file (`/dev/stdin` reads a pipe).
    pub file: PathBuf,
    pub endpoint: String,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl SendSettings {
    pub(crate) fn resolve(args: SendArgs, env: &Env) -> Result<Self> {
        let endpoint = collector_endpoint(env, args.endpoint)?;
        if args.file.trim().is_empty() {
            return Err(usage("no report file given"));
        }
        Ok(SendSettings {
            file: PathBuf::from(args.file),
            endpoint,
            ca_file: env.text("ca-file", args.ca_file).map(|g| g.value.into()),
            timeout: env.value("timeout", args.timeout, defaults::SEND, positive)?,
        })
    }
}

/// The collector endpoint of `send` and `forget`: required, a URL, not a placeholder.
fn collector_endpoint(env: &Env, given: Option<String>) -> Result<String> {
    let Some(endpoint) = env.text("endpoint", given) else {
        return Err(usage(
            "no collector endpoint: set --endpoint or SPARTAKUS_ENDPOINT",
        ));
    };
    validate_endpoint(&endpoint.value).map_err(|problem| endpoint.error(problem))?;
    if is_placeholder(&endpoint.value) {
        return Err(usage(format!(
            "the endpoint {} is a placeholder (a reserved example domain): nothing was sent; set --endpoint or SPARTAKUS_ENDPOINT to your collector's URL",
            super::upload::redact(&endpoint.value)
        )));
    }
    Ok(endpoint.value)
}

/// `spartakus forget`'s settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ForgetSettings {
    /// The collector's report URL (`.../api/v1`).
    pub endpoint: String,
    /// `None`: read it from the ConfigMap.
    pub cluster_id: Option<String>,
    pub namespace: Option<String>,
    pub configmap: String,
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

impl ForgetSettings {
    pub(crate) fn resolve(args: ForgetArgs, env: &Env) -> Result<Self> {
        let endpoint = collector_endpoint(env, args.endpoint)?;
        let cluster_id = env.text("cluster-id", args.cluster_id);
        if let Some(id) = &cluster_id {
            check_cluster_id(&id.value).map_err(|e| id.error(e))?;
        }
        Ok(ForgetSettings {
            endpoint,
            cluster_id: cluster_id.map(|g| g.value),
            namespace: env.text("namespace", args.namespace).map(|g| g.value),
            configmap: env.text_or("configmap", args.configmap, defaults::FORGET),
            ca_file: env.text("ca-file", args.ca_file).map(|g| g.value.into()),
            timeout: env.value("timeout", args.timeout, defaults::FORGET, positive)?,
        })
    }
}

/// An endpoint is an absolute `http` or `https` URL with a host.
pub(crate) fn validate_endpoint(endpoint: &str) -> std::result::Result<(), String> {
    if !endpoint.contains("://") {
        return Err("must be a URL starting with https:// (or http://), e.g. https://collector.example.com/api/v1".into());
    }
    let uri: http::Uri = endpoint.parse().map_err(|e| format!("is not a URL: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err("must start with https:// (or http://)".into());
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host".into());
    }
    Ok(())
}

/// Whether the endpoint's host is a reserved example or invalid name (RFC 2606, RFC 6761), such
/// as the install's placeholder `collector.spartakus.example`: sending there would fail every day
/// (or, for `example.com`, reach a stranger), so it is refused at once as a configuration error.
pub(crate) fn is_placeholder(endpoint: &str) -> bool {
    let Some(host) = endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_ascii_lowercase))
    else {
        return false;
    };
    let host = host.trim_end_matches('.');
    let under = |domain: &str| host == domain || host.ends_with(&format!(".{domain}"));
    [
        "example",
        "invalid",
        "example.com",
        "example.net",
        "example.org",
    ]
    .iter()
    .any(|d| under(d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{Class, class_of};

    fn report(line: &[&str], vars: &dyn Fn(&str) -> Option<String>) -> Result<ReportSettings> {
        let args = ReportArgs::from_args_for_test(line);
        ReportSettings::resolve(args, &Env(vars))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    impl ReportArgs {
        fn from_args_for_test(line: &[&str]) -> ReportArgs {
            argh::FromArgs::from_args(&["report"], line).expect("parses")
        }
    }

    #[test]
    fn flags_and_defaults() {
        let s = report(
            &[
                "--endpoint",
                "https://c.example.net/api/v1",
                "--dry-run",
                "--timeout",
                "90s",
                "--cluster-id",
                "abc",
            ],
            &no_env,
        )
        .unwrap();
        assert_eq!(s.timeout, Duration::from_secs(90));
        assert_eq!(s.cluster_id.as_deref(), Some("abc"));
        assert_eq!(s.configmap, "spartakus");
        assert!(s.gzip && s.dry_run && !s.sending());
        assert!(!s.workload_stats, "off unless asked for");
        let on = report(&["--dry-run", "--workload-stats"], &no_env).unwrap();
        assert!(on.workload_stats);
        let init = InitSettings::resolve(
            argh::FromArgs::from_args(&["init"], &["--namespace", "ns"]).unwrap(),
            &Env(&|n| match n {
                "SPARTAKUS_NAMESPACE" => Some("from-env".into()),
                "SPARTAKUS_CONFIGMAP" => Some("cid".into()),
                "SPARTAKUS_TIMEOUT" => Some("30s".into()),
                _ => None,
            }),
        )
        .unwrap();
        assert_eq!(init.namespace.as_deref(), Some("ns"), "the flag wins");
        assert_eq!(init.configmap, "cid");
        assert_eq!(init.timeout, Duration::from_secs(30));
    }

    #[test]
    fn environment_fills_missing_flags() {
        let env = |name: &str| -> Option<String> {
            match name {
                "SPARTAKUS_ENDPOINT" => Some("https://env.example/api/v1".into()),
                "SPARTAKUS_TIMEOUT" => Some("2m".into()),
                "SPARTAKUS_DRY_RUN" => Some("true".into()),
                "SPARTAKUS_CONFIGMAP" => Some("other".into()),
                "SPARTAKUS_NO_GZIP" => Some("1".into()),
                "SPARTAKUS_JOB_NAME" => Some(" ".into()),
                "SPARTAKUS_WORKLOAD_STATS" => Some("true".into()),
                _ => None,
            }
        };
        let s = report(&["--timeout", "10s"], &env).unwrap();
        assert!(s.workload_stats);
        assert_eq!(s.endpoint.as_deref(), Some("https://env.example/api/v1"));
        assert_eq!(s.timeout, Duration::from_secs(10));
        assert!(s.dry_run && !s.gzip);
        assert_eq!(s.configmap, "other");
        assert_eq!(
            s.job_name.as_deref(),
            Some(""),
            "a missing Job label is kept as empty"
        );
    }

    #[test]
    fn bad_settings_are_usage_errors_that_say_what() {
        for (line, needle) in [
            (&[][..], "no collector endpoint"),
            (&["--endpoint", "ftp://x/y"], "must start with https://"),
            (
                &["--endpoint", "collector.example.com/api/v1"],
                "must be a URL starting with https://",
            ),
            (
                &["--endpoint", "https://x/api", "--timeout", "5"],
                "--timeout 5: ",
            ),
            (
                &["--endpoint", "https://x/api", "--timeout", "0s"],
                "must be more than zero",
            ),
            (
                &["--dry-run", "--cluster-id", "has space"],
                "--cluster-id has space: must be printable",
            ),
            (
                &["--output", "-"],
                "--output -: standard output is what --dry-run prints to",
            ),
            (&["--dry-run", "--output", "r.json"], "choose one"),
            (&["--dry-run", "--spread", "25h"], "at most 24h"),
        ] {
            let err = report(line, &no_env).unwrap_err();
            assert_eq!(class_of(&err), Class::Usage, "{line:?}");
            assert!(format!("{err:#}").contains(needle), "{line:?}: {err:#}");
        }
        let env = |name: &str| (name == "SPARTAKUS_DRY_RUN").then(|| "maybe".to_string());
        assert!(report(&[], &env).is_err());
    }

    #[test]
    fn send_settings() {
        let send = |line: &[&str], vars: &dyn Fn(&str) -> Option<String>| {
            let args: SendArgs = argh::FromArgs::from_args(&["send"], line).expect("parses");
            SendSettings::resolve(args, &Env(vars))
        };
        let env = |name: &str| match name {
            "SPARTAKUS_ENDPOINT" => Some("https://c.example-corp.com/api/v1".to_string()),
            "SPARTAKUS_TIMEOUT" => Some("90s".to_string()),
            _ => None,
        };
        let s = send(&["r.json"], &env).unwrap();
        assert_eq!(s.file, PathBuf::from("r.json"));
        assert_eq!(s.endpoint, "https://c.example-corp.com/api/v1");
        assert_eq!(s.timeout, Duration::from_secs(90));
        for (line, needle) in [
            (&["r.json"][..], "no collector endpoint"),
            (
                &[
                    "r.json",
                    "--endpoint",
                    "https://collector.spartakus.example/api/v1",
                ],
                "is a placeholder",
            ),
            (
                &["r.json", "--endpoint", "c.example-corp.com"],
                "must be a URL",
            ),
            (
                &[" ", "--endpoint", "https://c.example-corp.com/api/v1"],
                "no report file",
            ),
        ] {
            let err = send(line, &no_env).unwrap_err();
            assert_eq!(class_of(&err), Class::Usage, "{line:?}");
            assert!(format!("{err:#}").contains(needle), "{line:?}: {err:#}");
        }
    }

    #[test]
    fn forget_settings() {
        let forget = |line: &[&str], vars: &dyn Fn(&str) -> Option<String>| {
            let args: ForgetArgs = argh::FromArgs::from_args(&["forget"], line).expect("parses");
            ForgetSettings::resolve(args, &Env(vars))
        };
        let env = |name: &str| match name {
            "SPARTAKUS_ENDPOINT" => Some("https://c.example-corp.com/api/v1".to_string()),
            "SPARTAKUS_NAMESPACE" => Some("spartakus".to_string()),
            // The CronJob's other settings are not forget's, and change nothing.
            "SPARTAKUS_SPREAD" => Some("2h".to_string()),
            _ => None,
        };
        let s = forget(&[], &env).unwrap();
        assert_eq!(s.endpoint, "https://c.example-corp.com/api/v1");
        assert_eq!(
            (s.cluster_id, s.namespace.as_deref()),
            (None, Some("spartakus"))
        );
        assert_eq!(
            (s.configmap.as_str(), s.timeout),
            ("spartakus", Duration::from_secs(300))
        );
        let s = forget(&["--cluster-id", "abc", "--timeout", "30s"], &env).unwrap();
        assert_eq!(
            (s.cluster_id.as_deref(), s.timeout),
            (Some("abc"), Duration::from_secs(30))
        );
        for (line, needle) in [
            (&[][..], "no collector endpoint"),
            (
                &["--endpoint", "https://collector.spartakus.example/api/v1"],
                "is a placeholder",
            ),
            (
                &[
                    "--endpoint",
                    "https://c.example-corp.com/api/v1",
                    "--cluster-id",
                    "a b",
                ],
                "--cluster-id",
            ),
        ] {
            let err = forget(line, &no_env).unwrap_err();
            assert_eq!(class_of(&err), Class::Usage, "{line:?}");
            assert!(format!("{err:#}").contains(needle), "{line:?}: {err:#}");
        }
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
            let err = report(&["--endpoint", placeholder], &no_env).unwrap_err();
            assert!(format!("{err:#}").contains("placeholder"), "{err:#}");
            // A preview with the installed configuration still works.
            assert!(report(&["--endpoint", placeholder, "--dry-run"], &no_env).is_ok());
        }
        for real in [
            "https://collector.example-corp.com/api",
            "http://127.0.0.1:8080/api/v1",
            "https://myexample.com/x",
        ] {
            assert!(!is_placeholder(real), "{real}");
        }
    }
}
