//! Small helpers without a crate of their own here: base64, percent-decoding, RFC 3339 times,
//! UUIDs, deterministic hashing for the generators, gzip, and a scratch directory. The one copy
//! of each for the tests and the stand-ins.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn encode(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding (what kubeconfig's `*-data` fields hold).
pub fn base64_encode(bytes: &[u8]) -> String {
    encode(bytes, STD, true)
}

/// URL-safe base64 without padding (what the API server's continue tokens are made of).
pub fn base64url_encode(bytes: &[u8]) -> String {
    encode(bytes, URL, false)
}

/// Decodes either alphabet, with or without padding. `None` on any other character.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let mut acc = 0u32;
    let mut bits = 0u32;
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Decodes `%XX` escapes and `+` (as a space) of a query string component.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
            {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` as a query string component: all but unreserved ASCII written as `%XX`.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The value of `key` in a query string (`a=1&b=2`), percent-decoded.
pub fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == key).then(|| percent_decode(v))
    })
}

/// `YYYY-MM-DDTHH:MM:SSZ` for seconds since the Unix epoch.
pub fn rfc3339(unix_seconds: u64) -> String {
    timestamp(unix_seconds)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// The instant `unix_seconds` after the epoch (the type of `metadata.creationTimestamp`).
pub fn timestamp(unix_seconds: u64) -> k8s_openapi::jiff::Timestamp {
    let seconds = i64::try_from(unix_seconds).unwrap_or(i64::MAX);
    k8s_openapi::jiff::Timestamp::from_second(seconds).unwrap_or(k8s_openapi::jiff::Timestamp::MAX)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The current time as RFC 3339.
pub fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

/// A random version-4 UUID, lowercase.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).expect("OS randomness");
    uuid_from_bytes(b)
}

/// Formats 16 bytes as a version-4 UUID (setting the version and variant bits), as `init` does.
pub fn uuid_from_bytes(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A version-4 UUID made of two hashes (deterministic).
pub fn uuid_from(high: u64, low: u64) -> String {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&high.to_be_bytes());
    bytes[8..].copy_from_slice(&low.to_be_bytes());
    uuid_from_bytes(bytes)
}

// ---------------------------------------------------------------------------------------------
// Deterministic pseudo-randomness for the generators: the same input gives the same output on
// every run and machine.
// ---------------------------------------------------------------------------------------------

/// SplitMix64's finalizer: a well-mixed 64-bit hash of `x`.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of `text`.
pub fn fnv(text: &str) -> u64 {
    let mut x: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        x = (x ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    x
}

/// The item `hash` picks out of `items`.
pub fn pick<T>(items: &[T], hash: u64) -> &T {
    &items[(hash % items.len() as u64) as usize]
}

/// `n` in base 36 (`0-9a-z`), zero-padded to `width`.
pub fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    while n > 0 || out.len() < width {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

// ---------------------------------------------------------------------------------------------
// Kubernetes objects.
// ---------------------------------------------------------------------------------------------

/// Appends `object` as an item of its typed list: without `kind` and `apiVersion`, as a real API
/// server writes list items (k8s-openapi always writes those two first).
pub fn write_list_item<T>(out: &mut Vec<u8>, object: &T)
where
    T: k8s_openapi::Resource + serde::Serialize,
{
    let start = out.len();
    serde_json::to_writer(&mut *out, object).expect("a Kubernetes object serializes");
    let type_meta = format!(
        "{{\"apiVersion\":\"{}\",\"kind\":\"{}\",",
        T::API_VERSION,
        T::KIND
    );
    assert!(
        out[start..].starts_with(type_meta.as_bytes()),
        "{} serializes apiVersion and kind first",
        T::KIND
    );
    out.drain(start + 1..start + type_meta.len());
}

// ---------------------------------------------------------------------------------------------
// gzip.
// ---------------------------------------------------------------------------------------------

/// `data` gzip-compressed, one member, fast (the tests compress tens of megabytes).
pub fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_at(data, flate2::Compression::fast())
}

/// `data` gzip-compressed, one member, at `level`.
pub fn gzip_at(data: &[u8], level: flate2::Compression) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

/// Undoes gzip (the first member); the error text on a corrupt stream.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// A fresh directory under the system temp dir, removed (with its contents) when dropped, so
/// that a failing test leaves nothing behind either.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `spartakus-test-{name}-{pid}-{uuid}`, created empty.
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "spartakus-test-{name}-{}-{}",
            std::process::id(),
            random_uuid()
        ));
        std::fs::create_dir_all(&dir).expect("creating a scratch directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// `path().join(name)`.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
