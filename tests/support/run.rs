//! The binary run as a user runs it: a kubeconfig of the test's own in a fresh HOME, and nothing
//! else from this machine's environment but PATH (no proxies, no SPARTAKUS_* variables, no
//! ~/.kube).

use super::apiserver::ApiServer;
use super::util::TempDir;
use std::process::Command;
use std::time::{Duration, Instant};

/// What a run gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

impl Run {
    /// Its exit code is `code` (else the run's output is shown).
    pub fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The line `main` ends a failed run with.
    pub fn error_line(&self) -> &str {
        let line = self.stderr.lines().last().unwrap_or("");
        assert!(line.starts_with("spartakus: error: "), "{}", self.stderr);
        line
    }

    /// Its stdout, as a report.
    pub fn report(&self) -> spartakus::contract::Report {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not a report ({e}): {}", self.stdout))
    }
}

/// Runs the binary with `kubeconfig` (its text), `args` and `env`.
pub fn with_kubeconfig(kubeconfig: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    // Only integration tests know the binary (the stand-in example shares this module).
    let Some(bin) = option_env!("CARGO_BIN_EXE_spartakus") else {
        panic!("support::run is for integration tests, which know the binary");
    };
    let home = TempDir::new("home");
    let path = home.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let start = Instant::now();
    let out = Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("KUBECONFIG", &path)
        .envs(env.iter().copied())
        .output()
        .expect("running spartakus");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: start.elapsed(),
    }
}

/// Runs the binary against `api` (its kubeconfig, namespace `namespace`); the bearer token must
/// never reach the log.
pub fn against(api: &ApiServer, namespace: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let run = with_kubeconfig(&api.kubeconfig(Some(namespace)), args, env);
    assert!(
        !run.stderr.contains(api.token()),
        "the bearer token leaked into the log:\n{}",
        run.stderr
    );
    run
}
