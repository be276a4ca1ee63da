//! The fleet's analytics, pure: what a report is counted as ([`categories`]: the categories, a
//! report's profile, tallies), how a fleet changes period by period ([`trends`]), and its
//! workload statistics ([`workstats`]). Reports and rollups in, numbers out; no I/O.

pub(crate) mod categories;
pub mod trends;
pub mod workstats;

pub use categories::{Dimension, NOT_REPORTED, accelerator, minor, runtime};

pub(crate) use categories::{Count, Profile, SIZE_BUCKETS, Tally, size_bucket};
