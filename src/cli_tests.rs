//! Tests of the command line: flags parse into their subcommand, the one environment rule,
//! errors that point at the right help.

use super::*;

fn args(line: &[&str]) -> std::result::Result<Args, argh::EarlyExit> {
    Args::from_args(&["spartakus"], line)
}

#[test]
fn flags_parse_into_their_subcommand() {
    let Ok(Args {
        command: Some(Command::Report(r)),
        ..
    }) = args(&[
        "report",
        "--endpoint",
        "https://c.example/api/v1",
        "--dry-run",
    ])
    else {
        panic!("report");
    };
    assert_eq!(r.endpoint.as_deref(), Some("https://c.example/api/v1"));
    assert!(r.dry_run);
    assert!(args(&["report", "--bogus"]).is_err());
    let Ok(Args {
        command: Some(Command::Send(send)),
        ..
    }) = args(&["send", "report.json", "--timeout", "2m"])
    else {
        panic!("send");
    };
    assert_eq!(send.file, "report.json");
    assert_eq!(send.timeout.as_deref(), Some("2m"));
    assert!(args(&["send"]).is_err(), "the file is required");
    assert!(args(&["-V"]).unwrap().version);
    assert!(args(&["--version"]).unwrap().version);
    for help in [
        &["-h"][..],
        &["--help"],
        &["report", "-h"],
        &["summary", "--help"],
    ] {
        let early = args(help).unwrap_err();
        assert!(early.status.is_ok(), "{help:?}");
        assert!(early.output.contains("Usage:"), "{help:?}");
    }
}

#[test]
fn one_environment_rule() {
    assert_eq!(env_var("memory-budget"), "SPARTAKUS_MEMORY_BUDGET");
    let vars = |name: &str| match name {
        "SPARTAKUS_TIMEOUT" => Some(" 2m ".to_string()),
        "SPARTAKUS_DRY_RUN" => Some("yes".to_string()),
        "SPARTAKUS_NO_GZIP" => Some("maybe".to_string()),
        "SPARTAKUS_JOB_NAME" => Some(String::new()),
        _ => None,
    };
    let env = Env(&vars);
    let given = env.text("timeout", None).unwrap();
    assert_eq!(
        (given.source.as_str(), given.value.as_str()),
        ("SPARTAKUS_TIMEOUT", "2m")
    );
    assert_eq!(
        env.text("timeout", Some("9s".into())).unwrap().value,
        "9s",
        "flag wins"
    );
    assert!(env.text("job-name", None).is_none());
    assert_eq!(
        env.raw("job-name", None).unwrap().value,
        "",
        "kept when it means something"
    );
    assert!(env.switch("dry-run", false).unwrap());
    let e = env.switch("no-gzip", false).unwrap_err();
    assert_eq!(
        format!("{e:#}"),
        "SPARTAKUS_NO_GZIP=maybe: expected true or false"
    );
    assert_eq!(crate::exit::class_of(&e), Class::Usage);
    let n = env.parsed("top", Some("x".into()), 1, |t| {
        t.parse::<i32>().map_err(|e| e.to_string())
    });
    assert_eq!(
        format!("{:#}", n.unwrap_err()),
        "--top x: invalid digit found in string"
    );
    assert_eq!(
        env.parsed("top", None, 15, |_| Err("unused".into()))
            .unwrap(),
        15
    );
}

#[test]
fn errors_point_at_the_subcommands_help() {
    assert_eq!(
        help_command("spartakus", &["report", "--bogus"]),
        "spartakus report --help"
    );
    assert_eq!(help_command("spartakus", &["--bogus"]), "spartakus --help");
    assert_eq!(
        help_command("spartakus", &["send", "--bogus"]),
        "spartakus send --help"
    );
}

/// Each option of `command`'s help, with its description on one line.
fn options_of(command: &str) -> Vec<(String, String)> {
    let Err(early) = args(&[command, "--help"]) else {
        panic!("{command} --help parsed");
    };
    let mut options: Vec<(String, String)> = Vec::new();
    for line in early.output.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if indent == 2 && trimmed.starts_with("--") {
            let (flag, text) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
            options.push((
                flag.trim_start_matches("--").to_string(),
                text.trim().to_string(),
            ));
        } else if indent > 2
            && let Some((_, text)) = options.last_mut()
        {
            text.push(' ');
            text.push_str(trimmed);
        }
    }
    options
}

/// The defaults a description states as values: `(default 10s)`, `(default 15; ...`, `(default
/// week with --since)`, `(default 0: none)`; not `(default: ...)`, a description, nor
/// `table (default)`.
fn stated_defaults(text: &str) -> Vec<String> {
    text.match_indices("(default ")
        .map(|(at, _)| &text[at + "(default ".len()..])
        .map(|rest| {
            let end = [")", ";", ": ", " with"]
                .iter()
                .filter_map(|stop| rest.find(stop))
                .min()
                .unwrap_or(rest.len());
            rest[..end].to_string()
        })
        .collect()
}

#[test]
fn every_default_the_help_states_is_the_one_the_settings_use() {
    for (command, table) in [
        ("init", defaults::INIT),
        ("report", defaults::REPORT),
        ("send", defaults::SEND),
        ("forget", defaults::FORGET),
        ("collect", defaults::COLLECT),
        ("summary", defaults::SUMMARY),
        ("export", defaults::EXPORT),
        ("dashboard", defaults::DASHBOARD),
        ("backup", defaults::BACKUP),
    ] {
        let options = options_of(command);
        assert!(!options.is_empty(), "{command}");
        for (flag, text) in &options {
            let mut stated = stated_defaults(text);
            let mut used: Vec<String> = table
                .iter()
                .filter(|(key, _)| key.split(' ').next() == Some(flag.as_str()))
                .map(|(_, value)| value.to_string())
                .collect();
            stated.sort();
            used.sort();
            assert_eq!(stated, used, "{command} --{flag}: {text}");
            assert!(
                text.ends_with(&format!("[env {}]", env_var(flag))) || flag == "help",
                "{command} --{flag}: {text}"
            );
        }
        for (key, _) in table {
            let flag = key.split(' ').next().unwrap();
            assert!(
                options.iter().any(|(f, _)| f == flag),
                "{command}: a default for --{flag}, which it does not have"
            );
        }
    }
}

#[test]
fn defaults_parse_as_the_flags_do() {
    assert_eq!(stated_defaults("x (default 10s) [env A]"), ["10s"]);
    assert_eq!(
        stated_defaults("(default 15); of a trend (default 5) [env B]"),
        ["15", "5"]
    );
    assert!(stated_defaults("(default: the pod's) [env C]").is_empty());
    assert_eq!(stated_defaults("(default 0: none)"), ["0"]);
    assert_eq!(
        stated_defaults("(default 0.0.0.0:8080) [env D]"),
        ["0.0.0.0:8080"]
    );
    assert!(stated_defaults("table (default), json").is_empty());
}

/// `export --help` names the CSV's columns in the order `export` writes them.
#[test]
fn the_export_help_names_the_csv_columns() {
    let Err(early) = args(&["export", "--help"]) else {
        panic!("export --help parsed");
    };
    let help = early
        .output
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let columns = crate::collector::views::export::CSV_HEADER
        .trim_end()
        .replace(',', ", ");
    assert!(
        help.contains(&format!("CSV columns: {columns} (name=value;...).")),
        "{help}"
    );
}
