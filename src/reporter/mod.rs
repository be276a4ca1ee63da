//! The reporter: `spartakus init`, `spartakus report`, `spartakus send` and `spartakus forget`,
//! wiring its modules together.
//!
//! Each command is the `run(settings)` of its module: [`report`], [`init`] (the cluster-ID
//! ConfigMap, which `report` and `forget` read through [`init::lookup`]), [`send`] and
//! [`forget`]; [`settings`]: the flags of each, resolved. This module keeps what they share.
//!
//! - [`cluster`]: every call to the Kubernetes API (I/O), with [`kubeconfig`] finding the cluster
//!   and its credentials as kubectl does, and [`listing`] the paged, streamed lists;
//!   [`nodelist`]: the streaming scanner
//!   that reads only the needed fields of each Node (pure).
//! - [`transport`]: the API server's HTTP stack, with [`tls`] accepting its certificate as
//!   kubectl does and saying what to change when TLS fails, and [`x509`] the DER it reads (pure).
//! - [`upload`]: sending the report to the collector (I/O); [`proxy`]: `NO_PROXY` (pure);
//!   [`send`] sends a report file through the same upload, and [`forget`] the request to
//!   delete the cluster's reports, the same way.
//! - [`extensions`]: operator-chosen extensions (parsing is pure; `load` reads the files).
//! - [`receipt`]: the run's outcome as an Event on the CronJob (built pure, written through
//!   [`cluster`]).
//! - [`spread`]: load spreading (pure); [`workloads`]: the workload statistics, counted (pure);
//!   [`status`]: what the API server's answers mean (pure).

pub(crate) mod cluster;
pub(crate) mod extensions;
pub(crate) mod forget;
pub(crate) mod init;
pub(crate) mod kubeconfig;
pub mod listing;
pub mod nodelist;
pub(crate) mod proxy;
pub mod receipt;
pub(crate) mod report;
pub(crate) mod send;
pub(crate) mod settings;
pub mod spread;
pub(crate) mod status;
pub(crate) mod tls;
pub(crate) mod transport;
pub(crate) mod upload;
pub(crate) mod workloads;
pub(crate) mod x509;

use crate::retry::Deadline;
use anyhow::Result;

/// The key of the cluster ID in the ConfigMap.
pub(crate) const CLUSTER_ID_KEY: &str = "clusterID";
/// The cluster ID of a preview (dry run) made before `spartakus init` ran; never sent.
pub(crate) const PREVIEW_CLUSTER_ID: &str = "00000000-0000-0000-0000-000000000000";

/// A random UUID (version 4, lowercase) from 16 random bytes.
pub(crate) fn uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn random_bytes() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(bytes)
}

/// Runs `future` (Kubernetes API work) within the deadline, turning a timeout into a
/// `Class::Kubernetes` error: exit code 5 is kept for the collector.
fn within<T>(
    runtime: &tokio::runtime::Runtime,
    deadline: &Deadline,
    what: &str,
    future: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    runtime.block_on(async {
        match tokio::time::timeout(deadline.remaining(), future).await {
            Ok(result) => result,
            Err(_) => Err(status::deadline_passed(what, deadline)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_v4_shape() {
        let id = uuid_v4([0xff; 16]);
        assert_eq!(id, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        let id = uuid_v4([0; 16]);
        assert_eq!(id, "00000000-0000-4000-8000-000000000000");
        let a = uuid_v4(random_bytes().unwrap());
        let b = uuid_v4(random_bytes().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
    }
}
