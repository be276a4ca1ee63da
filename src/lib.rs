//! spartakus: an anonymous, opt-in Kubernetes usage reporter, and its collector.
//!
//! The library holds everything; `src/main.rs` parses the command line once ([`cli`]), resolves
//! it into a job's settings once and runs it ([`job`]), and maps the error to an exit code
//! ([`exit`]). Every command's entry point is a `run(settings)` of its own module.
//!
//! - [`contract`]: the report, shared by both programs: its types, every limit, the clamp rules,
//!   the anonymizing transform, the streaming writer and reader, the JSON Schema. Pure.
//! - [`reporter`]: `init`, `report`, `send` and `forget`. The Kubernetes API is called only from
//!   `reporter::cluster` (and the lists it pages through), the collector only from
//!   `reporter::upload`.
//! - [`collector`]: `collect`, and the views of a store (`summary`, `export`, `dashboard`,
//!   `backup`), a folder per concern: `http` (the server), `api` (routes and handlers), `guard`
//!   (budget and limits), `store` (SQLite, PostgreSQL, the writer threads), `fleet` (pure
//!   analytics), `views`, `settings`.
//! - Leaves every part may use, importing nothing of them: `retry` (deadlines, backoff and the
//!   one retry policy of the reporter's two HTTP clients), `runtime` (the async runtime and stop
//!   signals), `log` (the servers' log line), `text` (log-safe text, CSV fields, URL parts),
//!   `prom` (the Prometheus text format), `tls` (the certificate verifier shared by the API
//!   server's and PostgreSQL's connections), [`time`] (the clock and its formats), [`cli`] (flags,
//!   their defaults and the one environment-variable rule), [`exit`] (error classes).

// What the binary, the tests and the examples use is `pub`; the rest is `pub(crate)`, and this
// lint keeps it so.
#![warn(unreachable_pub)]

pub mod cli;
pub mod collector;
pub mod contract;
pub mod exit;
pub mod job;
pub(crate) mod log;
pub(crate) mod prom;
pub mod reporter;
pub(crate) mod retry;
pub(crate) mod runtime;
pub(crate) mod text;
pub mod time;
pub(crate) mod tls;
