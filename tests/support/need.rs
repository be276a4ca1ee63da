//! What a test needs from outside Rust, asked for in one place: a program (kubectl, git, the
//! sqlite3 shell, Chromium and chromedriver), PostgreSQL 15 (through [`super::pg_server`]), root,
//! or the stand-in example's build. A test asks first thing, `if !need::kubectl() { return; }`.
//! When what it needs is there, the test runs. When it is missing:
//!
//! - under CI ([`ci`]: `CI` set to anything but empty, `0` or `false`; `.ci/run` sets
//!   `CI=true`), the test fails, saying how to install it, so a green CI run ran every test;
//! - elsewhere it prints one line, `SKIPPED <test>: <what> not found: <how to get it>`, and the
//!   test returns early: a developer without a browser still gets a useful run, and sees what
//!   it left out.
//!
//! `SPARTAKUS_SKIP_POSTGRES=1` and `SPARTAKUS_SKIP_BROWSER=1` skip the PostgreSQL and browser
//! tests even where those are installed, said the same way ([`opted_out`]); under CI they fail.
//!
//! The line is written to the process's standard error itself, past the test harness's
//! capture, which would show a passing test's output only with `--nocapture`.

use std::io::Write;
use std::path::Path;

/// Whether this is a CI run, where every test must run.
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The running test's name, as the harness names its thread (`manifests::rbac::...`).
fn test_name() -> String {
    match std::thread::current().name() {
        Some(name) if name != "main" => name.to_string(),
        _ => "a test".to_string(),
    }
}

/// `what` is missing: under CI the test fails here, saying `hint`; elsewhere one `SKIPPED` line
/// says so. Always `false` (the test cannot run), for `present || missing(...)`.
pub fn missing(what: &str, hint: &str) -> bool {
    let test = test_name();
    assert!(
        !ci(),
        "{test}: {what} not found: {hint} (CI is set, and in CI every test must run)"
    );
    skipped(&format!("SKIPPED {test}: {what} not found: {hint}"));
    false
}

/// Whether the developer set `variable` (to anything but empty, `0` or `false`) to skip `what`;
/// said like a missing tool. Under CI such a variable fails the test.
pub fn opted_out(variable: &str, what: &str) -> bool {
    let set = std::env::var(variable).is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"));
    if set {
        let test = test_name();
        assert!(!ci(), "{test}: {variable} is set, but CI runs {what}");
        skipped(&format!(
            "SKIPPED {test}: {variable} is set (it skips {what})"
        ));
    }
    set
}

fn skipped(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// `program` (a name looked up on PATH, or a path) is there; else [`missing`] with `hint`.
pub fn tool(program: &str, hint: &str) -> bool {
    let found = if program.contains('/') {
        Path::new(program).is_file()
    } else {
        std::env::var_os("PATH").is_some_and(|paths| {
            std::env::split_paths(&paths).any(|dir| dir.join(program).is_file())
        })
    };
    found || missing(program, hint)
}

/// kubectl v1.27 or later (with its built-in kustomize), for the manifests and to read what
/// the stand-in API server holds.
pub fn kubectl() -> bool {
    tool(
        "kubectl",
        "install kubectl v1.27 or later (https://kubernetes.io/docs/tasks/tools/); Debian's \
         kubernetes-client is too old",
    )
}

/// git, to ask which overlays the project ships.
pub fn git() -> bool {
    tool("git", "apt-get install git")
}

/// The `sqlite3` shell, to read a store as an operator would.
pub fn sqlite3() -> bool {
    tool("sqlite3", "apt-get install sqlite3")
}

/// The Prometheus server, to scrape a collector as an operator's would.
pub fn prometheus() -> bool {
    tool("prometheus", "apt-get install prometheus")
}

/// faketime, to run the binary at a fixed time (README's examples).
pub fn faketime() -> bool {
    tool("faketime", "apt-get install faketime")
}

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Root, for `why`; else [`missing`].
pub fn root(why: &str) -> bool {
    is_root()
        || missing(
            &format!("root (to {why})"),
            "run the tests as root, e.g. in a container",
        )
}
