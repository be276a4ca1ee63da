//! `spartakus send FILE`: the second half of reporting from a cluster without internet access.
//! `spartakus report --output FILE` writes the report in the cluster; a person reviews it, carries
//! it out, and sends it from any machine with this.
//!
//! The file is checked with the collector's own verdict ([`crate::contract::parse`]) before
//! anything is sent, so a file a collector would refuse is refused here, saying why. It is sent
//! exactly as it is (what was reviewed is what goes), through the same [`Uploader`] as `report`
//! (gzip with the fallback to uncompressed, the one retry policy, redirects, proxies,
//! `--ca-file`), with an `Idempotency-Key` derived from the file's bytes: the same file sent twice
//! is stored once.

use super::settings::SendSettings;
use super::upload::{self, Payload, Target, Uploader};
use super::{PREVIEW_CLUSTER_ID, uuid_v4};
use crate::contract::limits::MAX_BODY_BYTES;
use crate::exit::usage;
use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};

/// Sends the report file of `settings`.
pub(crate) fn run(settings: &SendSettings) -> Result<()> {
    let deadline = Deadline::after(settings.timeout);
    let (bytes, name) = read(settings)?;
    let (report, clamps) = crate::contract::parse(&bytes).map_err(|invalid| {
        usage(format!(
            "{name} is not a report a collector accepts ({invalid}); nothing was sent"
        ))
    })?;
    if report.cluster_id == PREVIEW_CLUSTER_ID {
        return Err(usage(format!(
            "{name} holds the placeholder cluster ID {PREVIEW_CLUSTER_ID} of a preview made before `spartakus init` ran; nothing was sent: make the file with `spartakus report --output` once init has created the cluster ID"
        )));
    }
    if !clamps.is_empty() {
        eprintln!(
            "spartakus: note: {} value(s) of {name} are over the report's limits ({clamps}); a collector keeps them cut to the limits",
            clamps.total()
        );
    }
    let uploader = Uploader::new(Target {
        endpoint: settings.endpoint.clone(),
        ca_file: settings.ca_file.clone(),
        gzip: true,
        patience: Patience::for_run(false),
    })?;
    eprintln!(
        "spartakus: sending {name} to {}: the report of cluster {}, {} nodes, {} bytes, as it is in the file",
        upload::redact(&settings.endpoint),
        report.cluster_id,
        report.nodes.len(),
        bytes.len()
    );
    let payload = Payload::new(gzip(&bytes)?, bytes.len() as u64, content_key(&bytes));
    let delivered = uploader.send(&payload, &deadline)?;
    eprintln!(
        "spartakus: report delivered: {} after {} attempt(s), {} bytes sent",
        delivered.status, delivered.attempts, delivered.bytes_on_wire
    );
    Ok(())
}

/// The file's bytes (at most one more than a collector takes, so a larger file is refused
/// without reading it all), and its name for messages.
fn read(settings: &SendSettings) -> Result<(Vec<u8>, String)> {
    let name = settings.file.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(&settings.file)
        .and_then(|f| f.take(MAX_BODY_BYTES as u64 + 1).read_to_end(&mut bytes))
        .with_context(|| format!("reading {name}"))
        .map_err(|e| fail(Class::Usage, e))?;
    Ok((bytes, name))
}

/// The `Idempotency-Key` of a file: a UUID made of its SHA-256, so the same bytes always get the
/// same key (and a collector stores them once), and different bytes a different one.
pub(crate) fn content_key(bytes: &[u8]) -> String {
    let digest = Sha256::new()
        .chain_update(b"spartakus send\0")
        .chain_update(bytes)
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    uuid_v4(first)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).context("compressing the report")?;
    encoder.finish().context("compressing the report")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_contents() {
        let a = content_key(b"{\"version\":\"v1.0.0\"}");
        assert_eq!(a, content_key(b"{\"version\":\"v1.0.0\"}"));
        assert_ne!(a, content_key(b"{\"version\":\"v1.0.0\"} "));
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4", "shaped as the reporter's own keys");
        assert!(crate::contract::limits::idempotency_key(a.as_bytes()).is_some());
    }

    #[test]
    fn files_are_read_whole_up_to_one_byte_over_the_limit() {
        let dir = std::env::temp_dir().join(format!("spartakus-send-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("report.json");
        std::fs::write(&path, b"{}").unwrap();
        let settings = SendSettings {
            file: path.clone(),
            endpoint: "https://c.example-corp.com/api/v1".into(),
            ca_file: None,
            timeout: std::time::Duration::from_secs(1),
        };
        let (bytes, name) = read(&settings).unwrap();
        assert_eq!(
            (bytes.as_slice(), name.as_str()),
            (&b"{}"[..], path.to_str().unwrap())
        );
        let missing = SendSettings {
            file: dir.join("missing.json"),
            ..settings
        };
        let err = read(&missing).unwrap_err();
        assert_eq!(crate::exit::class_of(&err), Class::Usage);
        assert!(format!("{err:#}").contains("missing.json"), "{err:#}");
        std::fs::remove_dir_all(&dir).unwrap();
        let packed = gzip(b"abc").unwrap();
        let payload = Payload::new(packed, 3, "k".into());
        let mut raw = Vec::new();
        payload.write_raw(&mut raw).unwrap();
        assert_eq!(raw, b"abc");
    }
}
