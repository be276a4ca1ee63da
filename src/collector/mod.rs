//! The collector: `spartakus collect` (receive, check, store) and the views of what it stored,
//! `spartakus summary`, `export`, `dashboard` and `backup`. One folder per concern:
//!
//! - [`settings`]: every command's flags, resolved once into its settings.
//! - [`collect`]: the `collect` command, wiring the rest together.
//! - [`http`]: the HTTP/1.1 server: connections, timeouts, the drain on shutdown. It knows no
//!   report.
//! - [`api`]: the collector's routes and the state they share: the report endpoint stage by
//!   stage, deletion requests, the metrics and the fleet's gauges.
//! - [`guard`]: what admission is paid from and limited by: the memory budget, the rate limit's
//!   algorithm, new clusters per source.
//! - [`store`]: SQLite and PostgreSQL (one schema, statements written once), `stdout`, and the
//!   writer threads that batch reports into transactions.
//! - [`fleet`]: the fleet's analytics, pure: the categories a report is counted in, periods and
//!   trends, workload statistics.
//! - [`views`]: what reads the store for people and tools: the summary, the export, the
//!   dashboard, the backup.

pub(crate) mod api;
pub(crate) mod collect;
pub mod fleet;
pub mod guard;
pub(crate) mod http;
pub(crate) mod settings;
pub mod store;
pub mod views;
