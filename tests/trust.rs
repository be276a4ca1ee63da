//! Trust and operability, through the real binary against the stand-ins: the run's receipt as an
//! Event on the CronJob (`trust/receipt.rs`), `spartakus send` for clusters without internet
//! access (`trust/send.rs`), and the certificates kubectl accepts from an API server, with one
//! line for every TLS failure (`trust/tls.rs`).

#[path = "trust/receipt.rs"]
mod receipt;
#[path = "trust/send.rs"]
mod send;
mod support;
#[path = "trust/tls.rs"]
mod tls;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use support::apiserver::ApiServer;
use support::util::TempDir;

const NS: &str = "spartakus";
const CLUSTER_ID: &str = "3b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
const POD: &str = "spartakus-29188997-x7k2p";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    took: Duration,
}

impl Run {
    fn expect(&self, code: i32) -> &Run {
        assert_eq!(
            self.code, code,
            "expected exit {code}\nstdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// The line `main` ends a failed run with.
    fn error_line(&self) -> &str {
        let line = self.stderr.lines().last().unwrap_or("");
        assert!(line.starts_with("spartakus: error: "), "{}", self.stderr);
        line
    }
}

/// Runs the binary with `kubeconfig` and nothing from this machine's environment but PATH.
fn run_with(kubeconfig: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    let home = TempDir::new("trust-home");
    let path = home.join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_spartakus"))
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

/// Runs the binary against `api` (its own kubeconfig, namespace `spartakus`); the token must
/// never reach the log.
fn run(api: &ApiServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    let run = run_with(&api.kubeconfig(Some(NS)), args, env);
    assert!(
        !run.stderr.contains(api.token()),
        "the token leaked: {}",
        run.stderr
    );
    run
}

/// `spartakus report` as the CronJob's pod runs it: with its pod's name.
fn in_pod(api: &ApiServer, args: &[&str]) -> Run {
    let mut all = vec!["report", "--cluster-id", CLUSTER_ID];
    all.extend_from_slice(args);
    run(api, &all, &[("SPARTAKUS_POD_NAME", POD)])
}

/// Runs kubectl against `api`; its standard output. kubectl is needed by the manifest tests too.
fn kubectl(api: &ApiServer, args: &[&str]) -> String {
    let dir = TempDir::new("trust-kubectl");
    let kubeconfig = dir.join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, Some(NS));
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env_remove("HTTPS_PROXY")
        .env_remove("https_proxy")
        .output()
        .unwrap_or_else(|e| panic!("running kubectl (it must be on PATH): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}
