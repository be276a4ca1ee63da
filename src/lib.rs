//! spartakus: an anonymous, opt-in Kubernetes usage reporter, and its collector.
//!
//! The library holds everything; `src/main.rs` parses the command line once ([`cli`]), resolves
//! it into settings once and runs the chosen job ([`job`]), and maps the error to an exit code
//! ([`exit`]).
//!
//! - [`contract`]: the report, shared by both programs: its types, every limit, the clamp rules,
//!   the anonymizing transform, the streaming writer and reader. Pure.
//! - [`reporter`]: `spartakus init` and `spartakus report`. The Kubernetes API is called only from
//!   `reporter::cluster`, the collector only from `reporter::upload`.
//! - [`collector`]: `spartakus collect` and `spartakus summary`. The network only in
//!   `collector::server` and `collector::ingest`, the store only in `collector::store`.
//! - [`retry`]: deadlines, backoff and the one retry policy both HTTP clients follow. Pure.
//! - [`cli`]: flags and the one environment-variable rule (a leaf: it knows no subcommand's
//!   logic); [`exit`]: error classes and exit codes; [`time`]: clock formatting.

pub mod cli;
pub mod collector;
pub mod contract;
pub mod exit;
pub mod job;
pub mod log;
pub mod prom;
pub mod reporter;
pub mod retry;
pub mod runtime;
pub mod text;
pub mod time;
pub mod tls;
