//! The fleet's analytics, pure: what a report is counted as ([`categories`]: the categories, a
//! report's profile, tallies), how a fleet changes period by period ([`trends`]), and its
//! workload statistics ([`workstats`]). Reports and rollups in, numbers out; no I/O.

pub mod categories;
pub mod trends;
pub mod workstats;

pub use categories::{
    Count, Dimension, NOT_REPORTED, Profile, SIZE_BUCKETS, Tally, accelerator, minor, node_value,
    os_family, runtime, size_bucket,
};
