//! The command line: usage errors and help, a large cluster, redirects, kubeconfig lists,
//! previews that stop early or do not wait, the first retry's words, token files and a 404.

use super::*;

#[test]
fn usage_errors_exit_2_and_help_documents_exit_codes() {
    let api = ApiServer::with_nodes(1);
    for args in [
        &["report"][..],
        &["report", "--endpoint", "ftp://x"],
        &["report", "--dry-run", "--timeout", "soon"],
        &["report", "--bogus"],
        &["nonsense"],
    ] {
        let run = spartakus(&api, args, &[]);
        assert_exit(&run, 2);
        assert!(!run.stderr.trim().is_empty());
    }
    assert_eq!(api.request_count(), 0);
    let help = spartakus(&api, &["--help"], &[]);
    assert_exit(&help, 0);
    for code in ["0", "2", "3", "4", "5"] {
        assert!(
            help.stdout.contains(&format!("  {code} ")),
            "exit code {code} in --help:\n{}",
            help.stdout
        );
    }
    let help = spartakus(&api, &["report", "--help"], &[]);
    assert_exit(&help, 0);
    for code in ["0", "1", "2", "3", "4", "5"] {
        assert!(
            help.stdout.contains(&format!("  {code} ")),
            "exit code {code} in report --help:\n{}",
            help.stdout
        );
    }
    let env_run = spartakus(
        &api,
        &["report"],
        &[
            ("SPARTAKUS_DRY_RUN", "true"),
            ("SPARTAKUS_CLUSTER_ID", CLUSTER_ID),
        ],
    );
    assert_exit(&env_run, 0);
    assert_eq!(env_run.report().cluster_id, CLUSTER_ID);
}

/// A large cluster through the real binary and code path: every node once, each with its own ID.
/// CI runs 10,000 nodes (a debug build); `SPARTAKUS_SCALE_NODES=65000 cargo test --release
/// --test integration reporter::a_large` runs the size of the largest clusters, which bench/run
/// also covers.
#[test]
fn a_large_cluster_reports_every_node_once() {
    let n: usize = std::env::var("SPARTAKUS_SCALE_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let api = ApiServer::with_nodes(n);
    let collector = Collector::new();
    let run = report_to(&api, &collector, &["--timeout", "10m"]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 1);
    let report = got[0].report();
    assert_eq!(report.nodes.len(), n);
    assert_eq!(distinct_ids(&report), n);
    assert_eq!(api.node_list_requests().len(), n.div_ceil(500));
    // Gzip pays: the repetitive report shrinks several times over.
    assert!(
        got[0].raw.len() * 4 < got[0].body.len(),
        "{} vs {}",
        got[0].raw.len(),
        got[0].body.len()
    );
}

#[test]
fn redirects_keeping_the_method_are_followed_others_are_not() {
    let api = ApiServer::with_nodes(2);
    let collector = Collector::with_script(vec![Reply::status(308).header("Location", "/api/v2")]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 0);
    let got = collector.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].path, "/api/v2");
    assert_eq!(got[0].raw, got[1].raw);
    assert_eq!(
        got[0].header("idempotency-key"),
        got[1].header("idempotency-key")
    );

    // A 301 would turn the POST into a GET elsewhere: not followed, and said so.
    let collector = Collector::with_script(vec![Reply::status(301).header("Location", "/api/v2")]);
    let run = report_to(&api, &collector, &[]);
    assert_exit(&run, 4);
    assert_eq!(collector.request_count(), 1);
    assert!(run.stderr.contains("final URL"), "{}", run.stderr);
}

#[test]
fn a_kubeconfig_list_skips_missing_files_like_kubectl() {
    let api = ApiServer::with_nodes(2);
    let dir = TempDir::new("kclist");
    let kubeconfig = dir.join("config");
    api.write_kubeconfig(&kubeconfig, Some(NS));
    let list = format!("{}:{}", dir.join("missing").display(), kubeconfig.display());
    // KUBECONFIG from `env` replaces the single file `spartakus` points it at.
    let run = dry_run(&api, &[("KUBECONFIG", &list)]);
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 2);
}

/// A preview piped into a reader that stops early (`report --dry-run | head -c 100`) exits 0:
/// the reader had what it wanted.
#[test]
fn a_preview_whose_reader_stops_early_exits_0() {
    use std::io::Read;
    let api = ApiServer::with_nodes(2_000);
    let home = TempDir::new("home");
    let kubeconfig = home.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some(NS));
    let mut child = Command::new(env!("CARGO_BIN_EXE_spartakus"))
        .args(["report", "--dry-run", "--cluster-id", CLUSTER_ID])
        .env_clear()
        .env("HOME", home.path())
        .env("KUBECONFIG", &kubeconfig)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The pipe is closed here, with about a megabyte of report still to come.
    let out = child.wait_with_output().unwrap();
    assert!(first.starts_with(b"{\"version\":\"v1.0.0\""));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("error"));
}

/// `--output -` and `--dry-run --output FILE` each say what to do instead, before anything runs.
#[test]
fn preview_and_output_flags_that_conflict_are_refused() {
    let api = ApiServer::with_nodes(1);
    for (args, needle) in [
        (
            &["report", "--output", "-"][..],
            "--output -: standard output is what --dry-run prints to",
        ),
        (&["report", "--dry-run", "--output", "r.json"], "choose one"),
    ] {
        let run = spartakus(&api, args, &[]);
        assert_exit(&run, 2);
        assert!(run.stderr.contains(needle), "{}", run.stderr);
        assert!(
            run.stderr.contains("(see `spartakus report --help`)"),
            "{}",
            run.stderr
        );
        assert_eq!(
            api.request_count(),
            0,
            "nothing was asked of the API server"
        );
    }
}

/// Runs the binary with `kubeconfig` (text) and nothing else from this machine's environment.
fn with_kubeconfig(kubeconfig: &str, args: &[&str]) -> Run {
    support::run::with_kubeconfig(kubeconfig, args, &[])
}

/// A preview against a stale context (nothing listens on the kubeconfig's loopback port) or an
/// API server name that does not resolve ends at once with the reason, instead of retrying
/// until the five-minute deadline.
#[test]
fn a_preview_does_not_wait_for_a_refused_loopback_or_an_unknown_name() {
    let api = ApiServer::with_nodes(1);
    let good = api.kubeconfig(Some(NS));
    let refused = good.replace(
        &api.url(),
        &format!("https://127.0.0.1:{}", support::collector::refused_port()),
    );
    let run = with_kubeconfig(
        &refused,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 3);
    assert!(
        run.stderr.contains("cannot reach the API server 127.0.0.1"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Connection refused"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("is the kubeconfig's context the cluster you mean?"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("retrying"),
        "not retried:\n{}",
        run.stderr
    );

    let unknown = good.replace(&api.url(), "https://no-such-api-server.invalid:6443");
    let run = with_kubeconfig(
        &unknown,
        &[
            "report",
            "--dry-run",
            "--cluster-id",
            CLUSTER_ID,
            "--timeout",
            "30m",
        ],
    );
    assert_exit(&run, 3);
    assert!(
        run.stderr
            .contains("cannot reach the API server no-such-api-server.invalid"),
        "{}",
        run.stderr
    );
    // Half an hour's deadline, far past the hang guard: a slow resolver is no verdict.
    assert!(
        run.took < support::HANG_GUARD,
        "gave up before the deadline: {:?}",
        run.took
    );
}

/// A scheduled run (no terminal, sending) retries a refused connection, and its first retry
/// says until when and how to change it.
#[test]
fn the_first_retry_says_it_retries_until_the_deadline() {
    let api = ApiServer::with_nodes(2);
    let run = report_url(&api, &refused_url(), &["--timeout", "3s"], &[]);
    assert_exit(&run, 5);
    let first = run
        .stderr
        .lines()
        .find(|l| l.contains("retrying"))
        .unwrap_or_default();
    assert!(
        first.contains(
            "retrying until the run's deadline (3s in all, --timeout or SPARTAKUS_TIMEOUT)"
        ),
        "{}",
        run.stderr
    );
}

/// A kubeconfig `tokenFile` written with `echo "$TOKEN" > file` works, as it does for kubectl.
#[test]
fn a_token_file_ending_in_a_newline_works() {
    let api = ApiServer::with_nodes(3);
    let home = TempDir::new("token");
    let token_file = home.path().join("token");
    std::fs::write(&token_file, format!("{}\n", api.token())).unwrap();
    let kubeconfig = api.kubeconfig(Some(NS)).replace(
        &format!("token: {}", api.token()),
        &format!("tokenFile: {}", token_file.display()),
    );
    assert!(kubeconfig.contains("tokenFile:"));
    let run = with_kubeconfig(
        &kubeconfig,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 0);
    assert_eq!(run.report().nodes.len(), 3);
    // A token that cannot be sent at all fails at once, as a configuration error, not as an
    // unreachable API server retried until the deadline.
    std::fs::write(&token_file, "two\nlines\n").unwrap();
    let before = api.request_count();
    let run = with_kubeconfig(
        &kubeconfig,
        &["report", "--dry-run", "--cluster-id", CLUSTER_ID],
    );
    assert_exit(&run, 2);
    assert!(
        run.stderr
            .contains("credentials of the kubeconfig cannot be used (nothing was sent"),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains("retrying"), "{}", run.stderr);
    assert_eq!(api.request_count(), before, "nothing was sent");
}

/// An endpoint without the collector's path gets a 404 that says which path to use.
#[test]
fn a_404_from_an_endpoint_without_the_report_path_says_which_path() {
    let api = ApiServer::with_nodes(1);
    let collector =
        Collector::with_script(vec![Reply::status(404).body(r#"{"error":"not found"}"#)]);
    for endpoint in [collector.base_url(), format!("{}/", collector.base_url())] {
        collector.push_replies([Reply::status(404).body(r#"{"error":"not found"}"#)]);
        let run = report_url(&api, &endpoint, &[], &[]);
        assert_exit(&run, 4);
        let want = format!("try {}/api/v1", collector.base_url());
        assert!(run.stderr.contains(&want), "{endpoint}: {}", run.stderr);
    }
}

/// `--version` and `-h` work as they do for other tools.
#[test]
fn version_and_short_help() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_spartakus"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("spartakus {}", env!("CARGO_PKG_VERSION"))
    );
    for args in [&["-h"][..], &["report", "-h"], &["collect", "--help"]] {
        let out = run(args);
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: spartakus"),
            "{args:?}"
        );
    }
    let out = run(&["summary", "--bogus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("(see `spartakus summary --help`)"));
}
