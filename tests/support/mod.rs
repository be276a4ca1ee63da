//! Stand-ins shared by the integration tests, the stand-in API server example and the benchmark.
//!
//! - [`apiserver::ApiServer`]: a Kubernetes API server over HTTPS on 127.0.0.1 (fresh CA, bearer
//!   token) answering as kube-apiserver does: `/version`, discovery, paged node lists generated
//!   on the fly from [`nodes`] (65,000 nodes are fine), paged lists of namespaces, pods and
//!   workloads from [`objects`] (10,000 namespaces and 300,000 pods are fine), whole or
//!   metadata-only, ConfigMaps, Events, the spartakus CronJob and its Jobs, `Status` errors,
//!   permissions and injectable faults. Real `kubectl` works against it.
//!   [`apiserver::ApiServer::write_kubeconfig`] writes a kubeconfig for it.
//! - [`collector::Collector`]: a report collector (HTTP, or HTTPS with `tls`) that records every
//!   request, gunzips bodies, answers from a script, and can behave like the original collector.
//! - [`nodes`]: realistic Nodes of eight provider shapes with planted identifying strings.
//! - [`objects`]: namespaces, pods, services and workloads spread unevenly over the namespaces,
//!   with planted identifying strings.
//! - [`run`]: the binary run as a user runs it, with a kubeconfig and nothing else.
//! - [`schema`]: a small checker of the JSON Schema keywords `docs/report.schema.json` uses.
//! - [`util`]: base64, query strings, times, UUIDs, hashing, gzip and [`util::TempDir`], one
//!   copy for every test crate.
//!
//! Standalone: `cargo run --release --example stand_in_apiserver -- --nodes 65000 --kubeconfig
//! /tmp/x/kubeconfig` prints `ready <url> <kubeconfig>`, serves until stdin closes (or SIGTERM),
//! then prints request counts.
//!
//! Each test crate uses part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod apiserver;
pub mod browser;
pub mod collect;
pub mod collector;
pub mod http;
pub mod nodes;
pub mod objects;
pub mod pg_server;
pub mod run;
pub mod schema;
pub mod tls;
pub mod util;
