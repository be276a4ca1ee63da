//! Every collector command's flags, resolved: defaults, variables, refusals.

use super::*;
use crate::cli::{DashboardArgs, ExportArgs, SummaryArgs};
use crate::collector::fleet::trends::Every;
use crate::collector::store::Spec;
use crate::exit::{Class, class_of};
use argh::FromArgs;

fn no_env(_: &str) -> Option<String> {
    None
}

fn settings(extra: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Result<CollectSettings> {
    CollectSettings::resolve(
        CollectArgs::from_args(&["collect"], extra).unwrap(),
        &Env(env),
    )
}

#[test]
fn defaults() {
    let s = settings(&[], &no_env).unwrap();
    assert_eq!(s.listen, "0.0.0.0:8080".parse().unwrap());
    assert_eq!(s.store, Spec::Sqlite("spartakus.db".into()));
    assert_eq!(s.rate_limit, 6);
    assert_eq!(s.dedup_window, Duration::from_secs(3600));
    assert_eq!(s.retention_days, 400);
    assert_eq!(s.shutdown_grace, Duration::from_secs(25));
    assert_eq!(s.limits.header_timeout, Duration::from_secs(10));
    assert_eq!(s.limits.request_timeout, Duration::from_secs(60));
    assert_eq!(s.limits.max_body, 48 << 20);
    assert_eq!(s.limits.memory_budget, 96 << 20);
    assert_eq!((s.limits.max_connections, s.limits.max_requests), (512, 16));
    let summary = SummarySettings::resolve(
        SummaryArgs::from_args(&["summary"], &[]).unwrap(),
        &Env(&no_env),
    )
    .unwrap();
    assert_eq!(
        (summary.days, summary.top, summary.format, summary.trend),
        (30, 15, Format::Table, None)
    );
    assert_eq!(summary.store, Spec::Sqlite("spartakus.db".into()));
    let line = s.describe("127.0.0.1:1".parse().unwrap(), 96 << 20);
    assert!(
        line.contains("rate limit 6/h per cluster") && line.contains("retention 400 days"),
        "{line}"
    );
    let off = settings(&["--rate-limit", "0", "--retention-days", "0"], &no_env).unwrap();
    let line = off.describe("127.0.0.1:1".parse().unwrap(), 96 << 20);
    assert!(
        line.contains("no rate limit") && line.contains("kept forever"),
        "{line}"
    );
}

#[test]
fn environment_fills_missing_flags_and_flags_win() {
    let env = |name: &str| -> Option<String> {
        Some(
            match name {
                "SPARTAKUS_LISTEN" => "127.0.0.1:9090",
                "SPARTAKUS_STORE" => "/data/env.db",
                "SPARTAKUS_RATE_LIMIT" => "2",
                "SPARTAKUS_DEDUP_WINDOW" => "30m",
                "SPARTAKUS_RETENTION_DAYS" => "90",
                "SPARTAKUS_MAX_CONNECTIONS" => "64",
                "SPARTAKUS_MAX_REQUESTS" => "4",
                "SPARTAKUS_MEMORY_BUDGET" => "64Mi",
                "SPARTAKUS_HEADER_TIMEOUT" => "5s",
                "SPARTAKUS_REQUEST_TIMEOUT" => "",
                "SPARTAKUS_SHUTDOWN_GRACE" => "10s",
                _ => return None,
            }
            .to_string(),
        )
    };
    let s = settings(&[], &env).unwrap();
    assert_eq!(s.listen, "127.0.0.1:9090".parse().unwrap());
    assert_eq!(s.store, Spec::Sqlite("/data/env.db".into()));
    assert_eq!(s.rate_limit, 2);
    assert_eq!(s.dedup_window, Duration::from_secs(1800));
    assert_eq!(s.retention_days, 90);
    assert_eq!(s.limits.max_connections, 64);
    assert_eq!(s.limits.max_requests, 4);
    assert_eq!(s.limits.memory_budget, 64 << 20);
    assert_eq!(s.limits.header_timeout, Duration::from_secs(5));
    assert_eq!(s.shutdown_grace, Duration::from_secs(10));
    assert_eq!(
        s.limits.request_timeout,
        Duration::from_secs(60),
        "an empty variable is unset"
    );

    let s = settings(
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "stdout",
            "--memory-budget",
            "1Gi",
            "--rate-limit",
            "0",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(s.listen.port(), 0, "the flag wins");
    assert_eq!(s.store, Spec::Stdout);
    assert_eq!(s.limits.memory_budget, 1 << 30);
    assert_eq!(s.rate_limit, 0);
    assert_eq!(
        s.retention_days, 90,
        "the others still come from the environment"
    );

    // A bad variable is a usage error that names the variable.
    let bad = |name: &str| Some("nope".to_string()).filter(|_| name == "SPARTAKUS_MAX_REQUESTS");
    let e = settings(&[], &bad).unwrap_err();
    assert_eq!(class_of(&e), Class::Usage);
    assert!(
        format!("{e:#}").contains("SPARTAKUS_MAX_REQUESTS=nope"),
        "{e:#}"
    );
}

#[test]
fn every_flag_of_every_subcommand_names_its_variable() {
    for (command, line) in [
        ("collect", &["collect", "--help"][..]),
        ("summary", &["summary", "--help"]),
        ("backup", &["backup", "--help"]),
        ("export", &["export", "--help"]),
        ("dashboard", &["dashboard", "--help"]),
        ("forget", &["forget", "--help"]),
        ("report", &["report", "--help"]),
        ("init", &["init", "--help"]),
    ] {
        let Err(early) = crate::cli::Args::from_args(&["spartakus"], line) else {
            panic!("--help parsed");
        };
        let help = early
            .output
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let flags: Vec<&str> = help
            .split_whitespace()
            .map(|w| w.trim_end_matches([',', '.', ')']))
            .filter(|w| w.starts_with("--") && *w != "--help")
            .collect();
        assert!(!flags.is_empty(), "{command}");
        for flag in flags {
            let var = crate::cli::env_var(flag.trim_start_matches("--"));
            assert!(
                help.contains(&format!("[env {var}]")),
                "{command} {flag}: {help}"
            );
        }
    }
}

#[test]
fn summary_trends_formats_and_export() {
    let summary = |line: &[&str], env: &dyn Fn(&str) -> Option<String>| {
        SummarySettings::resolve(
            SummaryArgs::from_args(&["summary"], line).unwrap(),
            &Env(env),
        )
    };
    let s = summary(&["--since", "90d"], &no_env).unwrap();
    let week = TrendSpec {
        since: Duration::from_secs(90 * 86_400),
        every: Every::Week,
    };
    assert_eq!((s.trend, s.top, s.format), (Some(week), 5, Format::Table));
    let s = summary(&["--every", "month", "--format", "csv"], &no_env).unwrap();
    assert_eq!(s.trend.unwrap().since, Duration::from_secs(180 * 86_400));
    assert_eq!(
        (s.trend.unwrap().every, s.format),
        (Every::Month, Format::Csv)
    );
    let env = |name: &str| match name {
        "SPARTAKUS_JSON" => Some("true".to_string()),
        "SPARTAKUS_EVERY" => Some("day".to_string()),
        _ => None,
    };
    let s = summary(&[], &env).unwrap();
    assert_eq!(
        (s.format, s.trend.unwrap().every),
        (Format::Json, Every::Day)
    );
    assert_eq!(
        summary(&["--json", "--format", "json"], &no_env)
            .unwrap()
            .format,
        Format::Json
    );
    for bad in [
        &["--json", "--format", "csv"][..],
        &["--days", "7", "--since", "30d"],
        &["--every", "year"],
        &["--since", "0"],
        &["--since", "36501d"],
        &["--format", "xml"],
        &["--store", "stdout"],
    ] {
        let e = summary(bad, &no_env).unwrap_err();
        assert_eq!(class_of(&e), Class::Usage, "{bad:?}: {e:#}");
    }
    let export = |line: &[&str]| {
        ExportSettings::resolve(
            ExportArgs::from_args(&["export"], line).unwrap(),
            &Env(&no_env),
        )
    };
    let e = export(&[]).unwrap();
    assert_eq!((e.since, e.format), (None, ExportFormat::Jsonl));
    assert_eq!(e.store, Spec::Sqlite("spartakus.db".into()));
    let e = export(&["--since", "30d", "--format", "csv"]).unwrap();
    assert_eq!(e.since, Some(Duration::from_secs(30 * 86_400)));
    assert_eq!(e.format, ExportFormat::Csv);
    for bad in [
        &["--format", "parquet"][..],
        &["--store", "stdout"],
        &["--since", "soon"],
    ] {
        assert_eq!(class_of(&export(bad).unwrap_err()), Class::Usage, "{bad:?}");
    }
}

#[test]
fn flags_are_checked_as_usage_errors() {
    let s = settings(
        &[
            "--listen",
            "127.0.0.1:0",
            "--store",
            "stdout",
            "--dedup-window",
            "0",
            "--header-timeout",
            "500ms",
        ],
        &no_env,
    )
    .unwrap();
    assert_eq!(s.listen.port(), 0);
    assert!(s.dedup_window.is_zero());
    assert_eq!(s.limits.header_timeout, Duration::from_millis(500));
    for bad in [
        &["--listen", "localhost"][..],
        &["--listen", "1.2.3.4"],
        &["--store", "mysql://db/x"],
        &["--store", "postgres://u:pw@db/x?sslmode=maybe"],
        &["--dedup-window", "1w"],
        &["--dedup-window", "367d"],
        &["--header-timeout", "0"],
        &["--max-requests", "0"],
        &["--rate-limit", "-1"],
        &["--memory-budget", "47Mi"],
        &["--memory-budget", "lots"],
    ] {
        let e = settings(bad, &no_env).unwrap_err();
        assert_eq!(class_of(&e), Class::Usage, "{bad:?}: {e:#}");
    }
    assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
    assert!(duration("90").is_err(), "a unit is required");
}

fn options(line: &[&str], env: &dyn Fn(&str) -> Option<String>) -> Result<DashboardSettings> {
    DashboardSettings::resolve(
        DashboardArgs::from_args(&["dashboard"], line).unwrap(),
        &Env(env),
    )
}

#[test]
fn defaults_flags_variables_and_refusals() {
    let o = options(&[], &|_| None).unwrap();
    assert_eq!(o.store, Spec::Sqlite("spartakus.db".into()));
    assert_eq!(
        o.listen,
        "127.0.0.1:8081".parse().unwrap(),
        "loopback unless told"
    );
    assert_eq!(o.since, Duration::from_secs(180 * 86_400));
    assert_eq!(
        (o.every, o.now_days, o.max_connections),
        (Every::Week, 7, 64)
    );

    let env = |name: &str| match name {
        "SPARTAKUS_EVERY" => Some("month".to_string()),
        "SPARTAKUS_LISTEN" => Some("0.0.0.0:9000".to_string()),
        _ => None,
    };
    let o = options(
        &["--every", "day", "--since", "30d", "--now-days", "1"],
        &env,
    )
    .unwrap();
    assert_eq!((o.every, o.now_days), (Every::Day, 1), "the flag wins");
    assert_eq!(o.since, Duration::from_secs(30 * 86_400));
    assert_eq!(o.listen.port(), 9000);

    for bad in [
        &["--store", "stdout"][..],
        &["--every", "year"],
        &["--now-days", "0"],
        &["--since", "0s"],
        &["--listen", "localhost"],
    ] {
        let e = options(bad, &|_| None).unwrap_err();
        assert_eq!(class_of(&e), Class::Usage, "{bad:?}: {e:#}");
    }
}
