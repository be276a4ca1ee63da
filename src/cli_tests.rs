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
