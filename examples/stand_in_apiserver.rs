//! The tests' stand-in Kubernetes API server, on its own, for manual trials and the benchmark.
//!
//! ```text
//! cargo run --release --example stand_in_apiserver -- --nodes 65000 --kubeconfig /tmp/x/kubeconfig
//! cargo run --release --example stand_in_apiserver -- --namespaces 10000 --pods 300000 --kubeconfig /tmp/x/kubeconfig
//! cargo run --release --example stand_in_apiserver -- --objects services=30000,jobs=8000 --forbidden daemonsets --kubeconfig /tmp/x/kubeconfig
//! ```
//!
//! Prints `ready <url> <kubeconfig>` once serving, serves until standard input closes (unless
//! `--ignore-stdin`), SIGTERM or SIGINT, then prints `requests total=N nodes=N version=N ...`.

/// The stand-in's part of the tests' support code (`tests/support/`), which it shares with the
/// tests; the rest (the collector's, PostgreSQL's, the browser's) it does not need.
#[path = "../tests/support"]
#[allow(dead_code)] // helpers of these modules that only the tests call
mod support {
    pub mod apiserver;
    pub mod http;
    pub mod nodes;
    pub mod objects;
    pub mod tls;
    pub mod util;
}

use argh::FromArgs;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;
use support::apiserver::{ApiServer, Config, Hostile};
use support::objects::Resource;

/// Stand-in Kubernetes API server serving generated nodes over HTTPS on 127.0.0.1.
#[derive(FromArgs)]
struct Args {
    /// number of nodes (default 5)
    #[argh(option, default = "5")]
    nodes: usize,
    /// number of namespaces (default 24; at least the 5 system ones)
    #[argh(option)]
    namespaces: Option<usize>,
    /// number of pods across the cluster (default 240)
    #[argh(option)]
    pods: Option<usize>,
    /// numbers of other objects across the cluster, e.g. services=30000,deployments=25000 (any of services, deployments, statefulsets, daemonsets, jobs, cronjobs)
    #[argh(option)]
    objects: Option<String>,
    /// a resource the caller may not list (403), e.g. daemonsets; repeat for more
    #[argh(option)]
    forbidden: Vec<String>,
    /// where to write the kubeconfig (required)
    #[argh(option)]
    kubeconfig: PathBuf,
    /// namespace of the kubeconfig context (default spartakus)
    #[argh(option, default = "String::from(\"spartakus\")")]
    namespace: String,
    /// gitVersion reported by /version (default v1.33.2)
    #[argh(option, default = "String::from(\"v1.33.2\")")]
    git_version: String,
    /// bearer token to require (default: a fixed test token)
    #[argh(option)]
    token: Option<String>,
    /// store ConfigMap <namespace>/spartakus with this clusterID
    #[argh(option)]
    cluster_id: Option<String>,
    /// delay every response by this many milliseconds
    #[argh(option)]
    delay_ms: Option<u64>,
    /// the first K node list requests fail with --nodes-fault-status
    #[argh(option, default = "0")]
    nodes_fault_times: usize,
    /// status of the injected node list failures (default 503)
    #[argh(option, default = "503")]
    nodes_fault_status: u16,
    /// the continue token of this page (counting the first page as 0) expires once
    #[argh(option)]
    expire_page: Option<usize>,
    /// misbehave as no real API server does: endless-version, endless-brackets, endless-objects, endless-pages, long-continue, large-list-metadata or noisy-forbidden
    #[argh(option)]
    hostile: Option<String>,
    /// keep serving when standard input closes (stop with SIGTERM or SIGINT)
    #[argh(switch)]
    ignore_stdin: bool,
}

/// `requests total=N nodes=N ...`: the kinds the benchmark reads, always, then any other kind
/// that was asked for.
fn counts_line(server: &ApiServer) -> String {
    let counts = server.request_counts();
    let mut line = format!("requests total={}", server.request_count());
    let usual = [
        "nodes",
        "node",
        "version",
        "configmaps",
        "discovery",
        "openapi",
        "health",
        "other",
    ];
    for kind in usual {
        line.push_str(&format!(
            " {kind}={}",
            counts.get(kind).copied().unwrap_or(0)
        ));
    }
    for (kind, count) in counts.iter().filter(|(k, _)| !usual.contains(k)) {
        line.push_str(&format!(" {kind}={count}"));
    }
    line
}

/// `services=30000,jobs=8000` as resources and counts.
fn parse_objects(text: &str) -> Result<Vec<(Resource, usize)>, String> {
    let pair = |item: &str| -> Result<(Resource, usize), String> {
        let (name, count) = item
            .split_once('=')
            .ok_or(format!("{item}: want NAME=COUNT"))?;
        let resource =
            Resource::from_plural(name.trim()).ok_or(format!("{name}: no such resource"))?;
        let count = count.trim().parse().map_err(|e| format!("{item}: {e}"))?;
        Ok((resource, count))
    };
    text.split(',')
        .filter(|i| !i.trim().is_empty())
        .map(pair)
        .collect()
}

/// The stand-in's configuration from the flags.
fn config(args: &Args) -> Config {
    let mut config = Config::default()
        .with_nodes(args.nodes)
        .with_git_version(&args.git_version);
    if let Some(count) = args.namespaces {
        config = config.with_namespaces(count);
    }
    if let Some(count) = args.pods {
        config = config.with_objects(Resource::Pods, count);
    }
    let objects = parse_objects(args.objects.as_deref().unwrap_or(""));
    for (resource, count) in objects.unwrap_or_else(|e| {
        eprintln!("stand_in_apiserver: --objects {e}");
        std::process::exit(2)
    }) {
        config = config.with_objects(resource, count);
    }
    for resource in &args.forbidden {
        config = config.with_forbidden(resource, "list");
    }
    if let Some(token) = &args.token {
        config = config.with_token(token);
    }
    if let Some(ms) = args.delay_ms {
        config = config.with_delay(Duration::from_millis(ms));
    }
    if args.nodes_fault_times > 0 {
        config = config.with_nodes_fault(args.nodes_fault_status, args.nodes_fault_times);
    }
    if let Some(page) = args.expire_page {
        config = config.with_expired_continue_at_page(page);
    }
    if let Some(name) = &args.hostile {
        let hostile = Hostile::named(name).unwrap_or_else(|| {
            eprintln!(
                "stand_in_apiserver: --hostile {name}: one of {}",
                Hostile::NAMES.join(", ")
            );
            std::process::exit(2)
        });
        config = config.with_hostile(hostile);
    }
    config
}

fn main() {
    let args: Args = argh::from_env();
    let server = ApiServer::start(config(&args));
    if let Some(id) = &args.cluster_id {
        server.insert_configmap(&args.namespace, "spartakus", [("clusterID", id.as_str())]);
    }
    server.write_kubeconfig(&args.kubeconfig, Some(&args.namespace));

    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "ready {} {}", server.url(), args.kubeconfig.display());
        let _ = out.flush();
    }

    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<&'static str>();
    if !args.ignore_stdin {
        let tx = stop_tx.clone();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                if line.is_err() {
                    break;
                }
            }
            let _ = tx.send("stdin closed");
        });
    }
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let why = runtime.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
            let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        });
        let _ = stop_tx.send(why);
    });
    let why = stop_rx.recv().unwrap_or("no signal source left");

    let line = counts_line(&server);
    println!("{line}");
    eprintln!("stand-in API server stopping: {why}");
    drop(server);
}
