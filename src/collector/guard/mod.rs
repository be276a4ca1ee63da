//! What admission to the collector is paid from and limited by: the memory budget every received
//! report is paid from ([`budget`]), the per-cluster rate limit's algorithm, kept in the store
//! ([`limit`]), and new clusters per source, in memory ([`sources`]).

pub(crate) mod budget;
pub mod limit;
pub(crate) mod sources;
