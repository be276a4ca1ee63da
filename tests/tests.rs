//! The integration tests: one binary (`cargo test --test integration`), a module per area, and
//! their support code in one place, [`support`]. `Cargo.toml` turns cargo's binary per file off
//! (`autotests = false`), so a new area is a file here and a `mod` line below.
//!
//! A test's name starts with its area: `cargo test --test integration reporter::` runs the
//! reporter's, `cargo test --test integration golden` the golden report's.

mod support;

mod collector;
mod collector_store;
mod dashboard;
mod docs;
mod end_to_end;
mod fleet_metrics;
mod forget;
mod golden;
mod history;
mod manifests;
mod privacy;
mod readers;
mod reporter;
mod schema;
mod standins;
mod store;
mod store_files;
mod trust;
