//! The fleet's analytics, pure: what a report is counted as ([`categories`]: the categories and
//! their labels; [`profile`]: a report's profile, as the rollups keep it), the fleet's numbers
//! as the store hands them over ([`tally`]), how a fleet changes period by period ([`trends`]),
//! and its workload statistics ([`workstats`]). Reports and rollups in, numbers out; no I/O.

pub(crate) mod categories;
pub(crate) mod profile;
pub(crate) mod tally;
pub mod trends;
pub mod workstats;

pub use categories::{Dimension, Label, NOT_REPORTED, SKEWS, accelerator, minor, runtime};
pub use profile::{MAX_VALUES, Profile};
pub use tally::{Entry, Tally};

pub(crate) use categories::{CLUSTER_SKEW, SIZE_BUCKETS};
