//! The integration tests' support code, all of it: the stand-ins (which the stand-in API server
//! example and the benchmark share: `apiserver`, `http`, `nodes`, `objects`, `tls`, `util`), and
//! the helpers that start and speak to the real binary, PostgreSQL and a browser.
//!
//! - [`apiserver::ApiServer`]: a Kubernetes API server over HTTPS on 127.0.0.1 (fresh CA, bearer
//!   token) answering as kube-apiserver does: `/version`, discovery, paged node lists generated
//!   on the fly from [`nodes`] (65,000 nodes are fine), paged lists of namespaces, pods and
//!   workloads from [`objects`] (10,000 namespaces and 300,000 pods are fine), whole or
//!   metadata-only, ConfigMaps, Events, the spartakus CronJob and its Jobs, `Status` errors,
//!   permissions and injectable faults. Real `kubectl` works against it.
//!   [`apiserver::ApiServer::write_kubeconfig`] writes a kubeconfig for it.
//! - [`browser::Browser`]: a headless Chromium driven through chromedriver, for the dashboard;
//!   [`firefox::Firefox`] a headless Firefox driven through WebDriver BiDi, both [`browser::Page`]s.
//! - [`collect`]: the real `spartakus collect` (and any server of the binary) started on
//!   127.0.0.1, spoken to over raw HTTP/1.1, and `spartakus summary` reading what it stored.
//! - [`collector::Collector`]: a stand-in report collector (HTTP, or HTTPS with `tls`) that
//!   records every request, gunzips bodies, answers from a script, and can behave like the
//!   original collector.
//! - [`need`]: what a test needs from outside Rust (kubectl, git, sqlite3, PostgreSQL, a browser,
//!   root), asked for in one place: missing, the test fails under CI and says `SKIPPED` elsewhere.
//! - [`nodes`]: realistic Nodes of eight provider shapes with planted identifying strings.
//! - [`objects`]: namespaces, pods, services and workloads spread unevenly over the namespaces,
//!   with planted identifying strings.
//! - [`pg_server`]: a real PostgreSQL 15 server, one per test run, a database per test.
//! - [`prometheus`]: a real Prometheus server scraping a collector, asked what it kept.
//! - [`run`]: the binary run as a user runs it, with a kubeconfig and nothing else.
//! - [`schema`]: a small checker of the JSON Schema keywords `docs/report.schema.json` uses.
//! - [`util`]: base64, query strings, times, UUIDs, hashing, gzip and [`util::TempDir`], one
//!   copy for the tests and the stand-ins.
//!
//! Standalone: `cargo run --release --example stand_in_apiserver -- --nodes 65000 --kubeconfig
//! /tmp/x/kubeconfig` prints `ready <url> <kubeconfig>`, serves until stdin closes (or SIGTERM),
//! then prints request counts.

use std::time::{Duration, Instant};

pub mod apiserver;
pub mod browser;
pub mod collect;
pub mod collector;
pub mod firefox;
pub mod http;
pub mod need;
pub mod nodes;
pub mod objects;
pub mod pg_server;
pub mod prometheus;
pub mod run;
pub mod schema;
pub mod tls;
pub mod util;

/// How long a test waits for what takes moments on an idle machine (a server to start, a log
/// line, a process to exit) before it calls it a hang. Only a guard against waiting forever,
/// never a verdict on speed: a busy machine may take many times longer than an idle one.
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// Polls `done` until it is true; panics, naming `what`, once [`HANG_GUARD`] has passed.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < HANG_GUARD,
            "hang guard: still waiting after {HANG_GUARD:?} for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
