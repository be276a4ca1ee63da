//! From request body bytes to a report's JSON, as the body arrives: the content encoding is
//! undone (gzip or identity) into fixed-size chunks, within an allowance of chunks the caller
//! pays for (the collector's memory budget), with a hard limit on the decompressed size. The
//! compressed bytes are never kept. As the JSON is written it is also scanned for strings longer
//! than [`MAX_TOKEN_BYTES`], so a parser never buffers one.

use super::limits::{self, MAX_TOKEN_BYTES};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The decompressed body is larger than [`limits::MAX_BODY_BYTES`] (HTTP 413).
    TooLarge,
    /// The body says gzip but is not (HTTP 400).
    BadEncoding(String),
    /// Not JSON at all, or truncated (HTTP 400).
    Syntax(String),
    /// JSON, but not a valid report: types, required values, limits (HTTP 400).
    Schema(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::TooLarge => write!(
                f,
                "report larger than {} MiB once decompressed",
                limits::MAX_BODY_BYTES >> 20
            ),
            Invalid::BadEncoding(m) => write!(f, "body is not valid gzip: {m}"),
            Invalid::Syntax(m) => write!(f, "invalid JSON: {m}"),
            Invalid::Schema(m) => write!(f, "invalid report: {m}"),
        }
    }
}

/// The largest buffer a report is kept in. The first buffers are smaller ([`chunk_size`]), so a
/// body that has sent little holds little.
pub(crate) const CHUNK: usize = 256 * 1024;

/// The size of the `n`th buffer (from 0) of a report: 4 KiB, doubling up to [`CHUNK`].
pub(crate) fn chunk_size(n: usize) -> usize {
    (4096usize << n.min(6)).min(CHUNK)
}

/// A decoded body: the JSON bytes in chunks of [`CHUNK`], and their SHA-256 (the content hash
/// the collector drops duplicates by).
#[derive(Debug)]
pub(crate) struct Json {
    chunks: Vec<Vec<u8>>,
    len: usize,
    pub sha256: [u8; 32],
}

impl Json {
    /// Bytes of JSON.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(test)]
    /// Bytes allocated to hold it (whole chunks).
    pub(crate) fn allocated(&self) -> usize {
        self.chunks.iter().map(Vec::capacity).sum()
    }

    #[cfg(test)]
    /// The bytes in one piece (tests and tools).
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    /// The bytes, read in order without copying them into one piece.
    pub(crate) fn reader(&self) -> impl Read + '_ {
        JsonReader {
            chunks: &self.chunks,
            at: 0,
            pos: 0,
        }
    }
}

struct JsonReader<'a> {
    chunks: &'a [Vec<u8>],
    at: usize,
    pos: usize,
}

impl Read for JsonReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while let Some(chunk) = self.chunks.get(self.at) {
            if self.pos < chunk.len() {
                let n = buf.len().min(chunk.len() - self.pos);
                buf[..n].copy_from_slice(&chunk[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            self.at += 1;
            self.pos = 0;
        }
        Ok(0)
    }
}

/// Tracks JSON strings across writes: where one starts and how long it has grown.
#[derive(Debug, Default)]
struct Strings {
    inside: bool,
    escape: bool,
    length: usize,
}

impl Strings {
    /// Scans `bytes`; `false` once a string is longer than [`MAX_TOKEN_BYTES`].
    fn scan(&mut self, bytes: &[u8]) -> bool {
        let mut i = 0;
        while i < bytes.len() {
            if !self.inside {
                match memchr::memchr(b'"', &bytes[i..]) {
                    None => return true,
                    Some(at) => {
                        i += at + 1;
                        self.inside = true;
                        self.length = 0;
                    }
                }
                continue;
            }
            if self.escape {
                self.escape = false;
                self.length += 1;
                i += 1;
                continue;
            }
            match memchr::memchr2(b'"', b'\\', &bytes[i..]) {
                None => {
                    self.length += bytes.len() - i;
                    i = bytes.len();
                }
                Some(at) => {
                    self.length += at;
                    if bytes[i + at] == b'\\' {
                        self.escape = true;
                        self.length += 1;
                    } else {
                        self.inside = false;
                    }
                    i += at + 1;
                }
            }
            if self.length > MAX_TOKEN_BYTES {
                return false;
            }
        }
        true
    }
}

/// Why a write of decoded output failed (recorded, then turned into a [`Stop`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    TooLarge,
    LongString,
    NeedMemory,
}

/// The decoded output: chunks allocated only within the allowance (in bytes), so the memory a
/// body holds is always paid for. A write that needs a chunk beyond it fails with
/// [`Fault::NeedMemory`], which leaves the gzip decoder able to resume with the same input once
/// more is allowed.
struct Chunks {
    chunks: Vec<Vec<u8>>,
    len: usize,
    limit: usize,
    /// Bytes of chunks that may be allocated.
    allowed: usize,
    /// Bytes of chunks allocated.
    allocated: usize,
    fault: Option<Fault>,
    strings: Strings,
    hasher: Sha256,
}

impl Chunks {
    fn new(limit: usize) -> Chunks {
        Chunks {
            chunks: Vec::new(),
            len: 0,
            limit,
            allowed: 0,
            allocated: 0,
            fault: None,
            strings: Strings::default(),
            hasher: Sha256::new(),
        }
    }

    fn refuse(&mut self, fault: Fault) -> std::io::Error {
        self.fault = Some(fault);
        std::io::Error::other("stopped")
    }
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.len + buf.len() > self.limit {
            return Err(self.refuse(Fault::TooLarge));
        }
        let room = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
        if room == 0 {
            let size = chunk_size(self.chunks.len());
            if self.allocated + size > self.allowed {
                return Err(self.refuse(Fault::NeedMemory));
            }
            self.chunks.push(Vec::with_capacity(size));
            self.allocated += size;
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(chunk.capacity() - chunk.len());
        let taken = &buf[..n];
        chunk.extend_from_slice(taken);
        self.hasher.update(taken);
        self.len += n;
        if !self.strings.scan(taken) {
            return Err(self.refuse(Fault::LongString));
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Why [`Decoder::write`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The next byte needs one more chunk than allowed: allow [`Decoder::needed`], then write the
    /// same input.
    NeedMemory,
    Invalid(Invalid),
}

/// Undoes the content encoding as the body arrives. `gzip` is decompressed (several members
/// are fine, as Go's reader accepts), stopping as soon as the output passes `limit`: a gzip
/// bomb costs at most `limit` bytes of work and memory.
pub(crate) struct Decoder {
    inner: Inner,
}

enum Inner {
    Plain(Chunks),
    Gzip(Box<flate2::write::MultiGzDecoder<Chunks>>),
}

impl Decoder {
    pub(crate) fn new(gzip: bool, limit: usize) -> Decoder {
        let chunks = Chunks::new(limit);
        Decoder {
            inner: if gzip {
                Inner::Gzip(Box::new(flate2::write::MultiGzDecoder::new(chunks)))
            } else {
                Inner::Plain(chunks)
            },
        }
    }

    fn chunks(&mut self) -> &mut Chunks {
        match &mut self.inner {
            Inner::Plain(c) => c,
            Inner::Gzip(d) => d.get_mut(),
        }
    }

    /// Let the output hold up to `bytes` in all.
    pub(crate) fn allow(&mut self, bytes: usize) {
        self.chunks().allowed = bytes;
    }

    #[cfg(test)]
    /// Bytes allocated so far.
    pub(crate) fn allocated(&mut self) -> usize {
        self.chunks().allocated
    }

    /// Bytes allocated once the next chunk is: what to allow after [`Stop::NeedMemory`].
    pub(crate) fn needed(&mut self) -> usize {
        let c = self.chunks();
        c.allocated + chunk_size(c.chunks.len())
    }

    /// Why an I/O error of the gzip decoder or of [`Chunks`] happened.
    fn stop(&mut self, e: std::io::Error) -> Stop {
        match self.chunks().fault.take() {
            Some(Fault::NeedMemory) => Stop::NeedMemory,
            Some(Fault::TooLarge) => Stop::Invalid(Invalid::TooLarge),
            Some(Fault::LongString) => Stop::Invalid(Invalid::Schema(format!(
                "a string is longer than {MAX_TOKEN_BYTES} bytes"
            ))),
            None => Stop::Invalid(Invalid::BadEncoding(e.to_string())),
        }
    }

    /// Feed some of `data`; returns how many bytes were taken (at least one).
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<usize, Stop> {
        let written = match &mut self.inner {
            Inner::Plain(c) => c.write(data),
            Inner::Gzip(d) => d.write(data),
        };
        match written {
            Ok(0) if !data.is_empty() => Err(Stop::Invalid(Invalid::BadEncoding(
                "the decoder took no input".into(),
            ))),
            Ok(n) => Ok(n),
            Err(e) => Err(self.stop(e)),
        }
    }

    /// The end of the body: check the gzip trailer, flush what is left.
    pub(crate) fn finish(&mut self) -> Result<(), Stop> {
        let done = match &mut self.inner {
            Inner::Plain(_) => Ok(()),
            Inner::Gzip(d) => d.try_finish(),
        };
        done.map_err(|e| self.stop(e))
    }

    /// The decoded JSON, after [`Decoder::finish`] succeeded.
    pub(crate) fn into_json(self) -> Json {
        let chunks = match self.inner {
            Inner::Plain(c) => c,
            // `finish` after a successful `try_finish` cannot fail; should it, the report is
            // empty (and so refused as invalid JSON) rather than a panic.
            Inner::Gzip(d) => d.finish().unwrap_or_else(|_| Chunks::new(0)),
        };
        Json {
            sha256: chunks.hasher.finalize().into(),
            chunks: chunks.chunks,
            len: chunks.len,
        }
    }
}

/// Decode a whole body at once, without a memory allowance (tools, `spartakus send`, tests).
pub(crate) fn decode(body: &[u8], gzip: bool, limit: usize) -> Result<Json, Invalid> {
    let mut d = Decoder::new(gzip, limit);
    d.allow(usize::MAX);
    let stop = |s: Stop| match s {
        Stop::Invalid(i) => i,
        Stop::NeedMemory => Invalid::TooLarge,
    };
    let mut rest = body;
    while !rest.is_empty() {
        let n = d.write(rest).map_err(stop)?;
        rest = &rest[n..];
    }
    d.finish().map_err(stop)?;
    Ok(d.into_json())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::testing::{gzip, report_json};

    const ORIGINAL: &[u8] = include_bytes!("../../tests/fixtures/original-volunteer.json");

    #[test]
    fn identity_gzip_multimember_and_limits() {
        let d = decode(ORIGINAL, false, 1 << 20).unwrap();
        assert_eq!(d.to_vec(), ORIGINAL);
        let z = decode(&gzip(ORIGINAL), true, 1 << 20).unwrap();
        assert_eq!(z.to_vec(), d.to_vec());
        assert_eq!(z.sha256, d.sha256, "hash is of the decompressed content");
        assert_eq!(d.sha256, <[u8; 32]>::from(Sha256::digest(ORIGINAL)));

        let mut two = gzip(b"{\"version\":\"v1\",");
        two.extend(gzip(b"\"clusterID\":\"x\"}"));
        assert_eq!(
            decode(&two, true, 1 << 20).unwrap().to_vec(),
            b"{\"version\":\"v1\",\"clusterID\":\"x\"}"
        );

        assert_eq!(
            decode(&[b' '; 11], false, 10).unwrap_err(),
            Invalid::TooLarge
        );
        let bomb = gzip(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(decode(&bomb, true, 1 << 20).unwrap_err(), Invalid::TooLarge);
        for bad in [&b"not gzip at all"[..], &[]] {
            assert!(matches!(
                decode(bad, true, 1 << 20),
                Err(Invalid::BadEncoding(_))
            ));
        }
        let mut truncated = gzip(ORIGINAL);
        truncated.truncate(truncated.len() - 6);
        assert!(matches!(
            decode(&truncated, true, 1 << 20),
            Err(Invalid::BadEncoding(_))
        ));
    }

    /// A string is refused once it passes the limit, wherever it is and however it is split or
    /// escaped, before the whole of it is held.
    #[test]
    fn long_strings_are_refused_as_they_arrive() {
        let long = |body: &str| {
            let json = format!(r#"{{"version":"v1","clusterID":"x","junk":"{body}"}}"#);
            decode(json.as_bytes(), false, 1 << 20)
        };
        assert!(long(&"a".repeat(MAX_TOKEN_BYTES)).is_ok());
        assert!(long(&"\\\"".repeat(MAX_TOKEN_BYTES / 2)).is_ok());
        for refused in [
            long(&"a".repeat(MAX_TOKEN_BYTES + 1)),
            long(&"\\\\".repeat(MAX_TOKEN_BYTES / 2 + 1)),
        ] {
            assert!(matches!(refused, Err(Invalid::Schema(m)) if m.contains("string is longer")));
        }
        // Split across writes, as network frames are; a long key is a long string too.
        let body = format!(r#"{{"{}":1}}"#, "k".repeat(MAX_TOKEN_BYTES + 5));
        let mut d = Decoder::new(false, 1 << 20);
        d.allow(usize::MAX);
        let stopped = body.as_bytes().chunks(1000).find_map(|mut piece| {
            while !piece.is_empty() {
                match d.write(piece) {
                    Ok(n) => piece = &piece[n..],
                    Err(stop) => return Some(stop),
                }
            }
            None
        });
        assert!(matches!(stopped, Some(Stop::Invalid(Invalid::Schema(_)))));
        // Many short strings are fine.
        assert!(decode(&gzip(&report_json("many", 5_000)), true, 32 << 20).is_ok());
    }

    /// The decoder never allocates a chunk it was not allowed, however much the input inflates,
    /// and resumes where it stopped once allowed more.
    #[test]
    fn decoding_stays_within_the_allowance_and_resumes() {
        let json = report_json("allowance", 5_000);
        assert!(json.len() > 3 * CHUNK, "{}", json.len());
        for (gz, body) in [(false, json.clone()), (true, gzip(&json))] {
            let mut d = Decoder::new(gz, 32 << 20);
            let mut rest = &body[..];
            let mut stops = 0;
            let grant = |d: &mut Decoder, stops: &mut usize| {
                *stops += 1;
                let have = d.allocated();
                let sizes: usize = (0..*stops - 1).map(chunk_size).sum();
                assert_eq!(have, sizes, "gzip={gz}: allocated past the allowance");
                let needed = d.needed();
                d.allow(needed);
            };
            while !rest.is_empty() {
                let piece = &rest[..rest.len().min(16 * 1024)];
                match d.write(piece) {
                    Ok(n) => rest = &rest[n..],
                    Err(Stop::NeedMemory) => grant(&mut d, &mut stops),
                    Err(other) => panic!("{other:?}"),
                }
            }
            loop {
                match d.finish() {
                    Ok(()) => break,
                    Err(Stop::NeedMemory) => grant(&mut d, &mut stops),
                    Err(other) => panic!("{other:?}"),
                }
            }
            let out = d.into_json();
            assert_eq!(out.len(), json.len());
            assert!(out.allocated() >= json.len());
            assert!(
                out.allocated() < json.len() + CHUNK,
                "at most one chunk partly used"
            );
            assert_eq!(out.allocated(), (0..stops).map(chunk_size).sum::<usize>());
            assert_eq!(out.to_vec(), json);
        }
        // A bomb fed without allowance stops at the first chunk and never inflates.
        let bomb = gzip(&vec![0u8; 8 << 20]);
        let mut d = Decoder::new(true, 32 << 20);
        let mut rest = &bomb[..];
        let stop = loop {
            match d.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(stop) => break stop,
            }
        };
        assert_eq!(stop, Stop::NeedMemory);
        assert_eq!(d.allocated(), 0);
        assert_eq!(d.needed(), 4096, "a body that sent little holds little");
        assert_eq!(chunk_size(0), 4096);
        assert_eq!(chunk_size(6), CHUNK);
        assert_eq!(chunk_size(60), CHUNK);
    }
}
