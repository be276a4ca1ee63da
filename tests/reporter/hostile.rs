//! A broken or hostile API server, and a chatty collector: whatever they send, the reporter ends
//! at the bound it reached (exit 3 for the API server's faults), with one short line that shows
//! nothing raw. How much memory each case takes is measured by `bench/bounds`, not here.

use super::*;
use support::apiserver::Hostile;

/// A deadline no case may need: reaching it instead of the bound would say so in the error.
const DEADLINE: &str = "30m";

/// `report --dry-run` against a stand-in that misbehaves as the case `name` of `bench/bounds`
/// (the stand-in example's `--hostile`) says.
fn against_case(name: &str) -> Run {
    against(Hostile::named(name).unwrap_or_else(|| panic!("no case {name}")))
}

/// `report --dry-run` against a stand-in that misbehaves as `hostile` says.
fn against(hostile: Hostile) -> Run {
    let api = ApiServer::start(Config::default().with_hostile(hostile));
    let args = [
        "report",
        "--dry-run",
        "--cluster-id",
        CLUSTER_ID,
        "--timeout",
        DEADLINE,
    ];
    spartakus(&api, &args, &[])
}

/// The run ended with exit 3 and one line that names `bound`, under 400 characters, with no
/// control or bidi character in any line of its log.
fn ended_at_its_bound(run: &Run, bound: &str) {
    run.expect(3);
    let line = run.error_line();
    assert!(line.contains(bound), "{line}");
    assert!(!line.contains("deadline"), "{line}");
    assert!(
        line.chars().count() < 400,
        "{} characters: {line}",
        line.len()
    );
    shows_nothing_raw(&run.stderr);
}

fn shows_nothing_raw(log: &str) {
    for c in log.chars() {
        let raw = (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c);
        assert!(!raw, "{:?} in the log:\n{log}", c);
    }
}

#[test]
fn an_endless_version_is_refused_at_its_bound() {
    let run = against_case("endless-version");
    ended_at_its_bound(&run, "get /version: the answer is larger than 64 KiB");
}

#[test]
fn endless_nesting_in_a_skipped_field_is_refused_at_its_bound() {
    for case in ["endless-brackets", "endless-objects"] {
        let run = against_case(case);
        ended_at_its_bound(&run, "list nodes: the list nests more than 256 levels deep");
    }
}

#[test]
fn a_list_of_empty_pages_that_never_ends_stops_at_the_page_bound() {
    let run = against_case("endless-empty-pages");
    ended_at_its_bound(
        &run,
        "list nodes: the API server sent 416 pages without ending the list",
    );
}

#[test]
#[ignore = "scale: run by CI, and by cargo test -- --include-ignored"]
fn a_list_that_never_ends_stops_at_the_contracts_node_limit() {
    let run = against_case("endless-pages");
    let limit = limits::MAX_NODES;
    ended_at_its_bound(
        &run,
        &format!("list nodes: the API server listed more than {limit} nodes"),
    );
}

#[test]
fn a_continue_token_too_long_to_send_back_is_the_api_servers_fault() {
    let run = against_case("long-continue");
    ended_at_its_bound(&run, "the API server's continue token is 200 KiB long");
}

#[test]
fn large_list_metadata_is_read_and_too_large_metadata_refused() {
    let run = against_case("large-list-metadata");
    run.expect(0);
    assert_eq!(run.report().nodes.len(), 5);
    let run = against(Hostile::LargeListMetadata(5 << 20));
    ended_at_its_bound(&run, "list nodes: the list's metadata is larger than 4 MiB");
}

#[test]
fn a_noisy_forbidden_is_quoted_short_and_harmless() {
    let run = against_case("noisy-forbidden");
    ended_at_its_bound(&run, "list nodes: Forbidden (403): \\u{1b}[2J");
    assert!(run.stderr.len() < 4096, "{} bytes of log", run.stderr.len());
    // The workload statistics leave each forbidden kind out, with the same short quote.
    let api = ApiServer::start(Config::default().with_hostile(Hostile::NoisyForbidden(60 << 10)));
    let args = [
        "report",
        "--dry-run",
        "--cluster-id",
        CLUSTER_ID,
        "--workload-stats",
    ];
    let run = spartakus(&api, &args, &[]);
    run.expect(3);
    shows_nothing_raw(&run.stderr);
    assert!(run.stderr.len() < 4096, "{}", run.stderr);
}

/// The cases `bench/bounds` measures are the stand-in's, and each is tested here: a case
/// added to one of the three is added to the others.
#[test]
fn every_case_of_the_benchmark_is_one_of_these() {
    for name in Hostile::NAMES {
        assert!(Hostile::named(name).is_some(), "{name}");
    }
    assert_eq!(Hostile::named("polite"), None);
    let bench = include_str!("../../bench/bounds");
    let cases = bench
        .split("CASES = [")
        .nth(1)
        .expect("bench/bounds' CASES");
    let cases = cases.split("\n]").next().unwrap();
    let benched: Vec<&str> = cases
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\"")?.split('"').next())
        .collect();
    assert_eq!(benched, Hostile::NAMES, "bench/bounds' cases");
    let here = include_str!("hostile.rs");
    for name in Hostile::NAMES {
        assert!(
            here.contains(&format!("\"{name}\"")),
            "no test here runs the case {name}"
        );
    }
}

#[test]
fn every_request_says_who_sent_it() {
    let api = ApiServer::start(Config::default());
    let args = ["report", "--dry-run", "--workload-stats"];
    spartakus(&api, &args, &[]).expect(0);
    let agent = format!("spartakus/{}", env!("CARGO_PKG_VERSION"));
    let requests = api.requests();
    let kinds: BTreeSet<&str> = requests.iter().map(|r| r.kind).collect();
    for kind in ["version", "configmaps", "nodes", "pods"] {
        assert!(kinds.contains(kind), "no {kind} request: {kinds:?}");
    }
    for r in &requests {
        assert_eq!(r.user_agent.as_deref(), Some(agent.as_str()), "{}", r.path);
    }
}

/// What a collector may say, in the messages of a report it refuses.
const NOISE: &str = "bad\u{1b}[2J\u{1b}[31m report\u{7}\u{0} \u{202e}gnp.exe";

#[test]
fn a_collectors_noisy_answer_is_quoted_short_and_harmless() {
    let api = ApiServer::with_nodes(2);
    let noisy = NOISE.repeat(500);
    let collector = Collector::with_script(vec![Reply::status(400).body(noisy.clone())]);
    let run = report_url(&api, &collector.url(), &[], &[]);
    run.expect(4);
    let line = run.error_line();
    assert!(line.contains("400 Bad Request: bad\\u{1b}[2J"), "{line}");
    assert!(line.chars().count() < 400, "{line}");
    shows_nothing_raw(&run.stderr);

    // forget says what the collector said the same way.
    let collector = Collector::with_script(vec![Reply::status(400).body(noisy)]);
    let endpoint = collector.url();
    let args = [
        "forget",
        "--endpoint",
        &endpoint,
        "--cluster-id",
        CLUSTER_ID,
    ];
    let run = spartakus(&api, &args, &[]);
    run.expect(4);
    shows_nothing_raw(&run.stderr);
    assert!(run.error_line().chars().count() < 400);
    assert_eq!(run.stderr.matches(CLUSTER_ID).count(), 1, "{}", run.stderr);
}

#[test]
fn redirects_say_where_they_led_and_why_they_were_not_followed() {
    let api = ApiServer::with_nodes(2);
    let redirect = |location: &str| Reply::status(308).header("Location", location);
    // A loop on a plain-HTTP endpoint: the target is the endpoint's own URL, not https:///...
    let collector = Collector::with_script(vec![redirect("/api/v1"); 12]);
    let run = report_url(&api, &collector.url(), &[], &[]);
    run.expect(4);
    let target = collector.url();
    assert!(
        run.error_line()
            .contains(&format!("a redirect to {target} after 3 redirects already")),
        "{}",
        run.stderr
    );
    // Not a downgrade: another scheme.
    let collector = Collector::with_script(vec![redirect("ftp://files.example/api/v1")]);
    let run = report_url(&api, &collector.url(), &[], &[]);
    run.expect(4);
    let line = run.error_line();
    assert!(
        line.contains(
            "a redirect to a ftp URL (ftp://files.example/api/v1), which is not followed"
        ),
        "{line}"
    );
    assert!(!line.contains("downgrade"), "{line}");
}
