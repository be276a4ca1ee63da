//! spartakus: an anonymous, opt-in Kubernetes usage reporter.
//!
//! The library holds everything; `src/main.rs` only parses flags, calls [`cli::run`] and maps the
//! error to an exit code.
//!
//! - [`report`]: the report's wire format and the pure, I/O-free builder that anonymizes nodes.
//! - [`extensions`]: operator-chosen extensions (reading files, validating keys).
//! - [`cluster`]: every call to the Kubernetes API (client, version, ConfigMap, paged node list).
//! - [`upload`]: sending the report to the collector with retries.
//! - [`collector`]: `spartakus collect` and `spartakus summary`.
//! - [`exit`]: error classes and the exit codes they map to.

pub mod cli;
pub mod cluster;
pub mod collector;
pub mod exit;
pub mod extensions;
pub mod nodelist;
pub mod proxy;
pub mod report;
pub mod reporter;
pub mod retry;
pub mod spread;
pub mod upload;
