//! What reads a store for people and tools, never writing to it: the fleet at a glance or how it
//! changed ([`summary`]), the stored reports for another tool ([`export`]), the web page
//! ([`dashboard`]), and a consistent copy of a SQLite store ([`backup`]).

pub(crate) mod backup;
pub mod dashboard;
pub mod export;
pub mod summary;
