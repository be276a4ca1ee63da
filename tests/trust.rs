//! Trust and operability, through the real binary against the stand-ins: the run's receipt as an
//! Event on the CronJob (`trust/receipt.rs`), `spartakus send` for clusters without internet
//! access (`trust/send.rs`), and the certificates kubectl accepts from an API server, with one
//! line for every TLS failure (`trust/tls.rs`).

mod receipt;
mod send;
mod tls;

use crate::support;
use std::path::Path;
use std::process::Command;
use support::apiserver::ApiServer;
use support::run::Run;
use support::util::TempDir;

const NS: &str = "spartakus";
const CLUSTER_ID: &str = "3b8f6a1e-2c4d-4e5f-8a9b-0c1d2e3f4a5b";
const POD: &str = "spartakus-29188997-x7k2p";

/// Runs the binary with `kubeconfig` and nothing from this machine's environment but PATH.
fn run_with(kubeconfig: &str, args: &[&str], env: &[(&str, &str)]) -> Run {
    support::run::with_kubeconfig(kubeconfig, args, env)
}

/// Runs the binary against `api` (its own kubeconfig, namespace `spartakus`); the token must
/// never reach the log.
fn run(api: &ApiServer, args: &[&str], env: &[(&str, &str)]) -> Run {
    support::run::against(api, NS, args, env)
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
