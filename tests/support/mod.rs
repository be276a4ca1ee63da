//! Stand-ins shared by the integration tests, the stand-in API server example and the benchmark:
//! a Kubernetes API server over HTTPS serving generated nodes, and a scriptable report collector.
//! Each test crate uses part of this, hence the `dead_code` allowance.
#![allow(dead_code)]

pub mod apiserver;
pub mod collector;
pub mod http;
pub mod nodes;
pub mod tls;
pub mod util;
