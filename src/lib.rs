//! spartakus: an anonymous, opt-in Kubernetes usage reporter.
//!
//! The library holds everything; `src/main.rs` only parses flags, calls [`cli::run`] and maps the
//! error to an exit code.
//!
//! Pure, without I/O:
//! - [`report`]: the report's wire format and the builder that anonymizes nodes.
//! - [`nodelist`]: the streaming scanner that reads only the needed fields of each Node.
//! - [`extensions`]: validating operator-chosen extensions (and [`extensions::load`] reads them).
//! - [`retry`], [`spread`], [`proxy`]: backoff and deadlines, load spreading, `NO_PROXY`.
//! - [`cli`]: flags and environment variables, validated into settings; [`exit`]: exit codes.
//!
//! I/O, in few places:
//! - [`cluster`]: every call to the Kubernetes API (client, version, ConfigMap, paged node list).
//! - [`upload`]: sending the report to the collector with retries.
//! - [`reporter`]: `init` and `report`, wiring the above together.
//! - [`collector`]: `spartakus collect` and `spartakus summary`.

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
