//! Parsing and checking a received report: from request body bytes to a [`Report`].
//!
//! Nothing here does I/O. The body is decoded (gzip or identity) as it arrives by a [`Decoder`]
//! into fixed-size chunks ([`Json`]), with a hard limit on the decompressed size and an
//! allowance of chunks the caller pays for from the memory budget ([`super::budget`]); the
//! compressed bytes are never kept. The JSON is then parsed with visitors that enforce every
//! limit *while* parsing (a list longer than its limit stops the parse at the first element
//! too many) and hand each node to a callback instead of collecting them: checking a report
//! ([`check`]) and storing it ([`for_each_node`]) each hold one node at a time, so a report
//! costs its JSON bytes and little more, never a tree of parsed structs.
//!
//! The shape accepted is the original spartakus report (`version`, `timestamp`, `clusterID`,
//! `masterVersion`, `nodes[]`, and the later `cloudProvider` and `extensions[]`). Unknown fields are
//! ignored, `null` is accepted wherever a field is optional (Go encodes nil pointers and slices
//! so), and empty optional strings count as absent.

use crate::report::{Extension, Node, Report, Resource};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use sha2::{Digest, Sha256};
use std::fmt;
use std::io::{Read, Write};

/// Largest accepted request body as sent (compressed or not), and largest decompressed report.
/// The largest clusters (65,000 nodes) send about 34 MB of JSON as this project's reporter
/// writes it (525 bytes a node in BENCHMARKS.md: node info, provider and about seven capacity
/// entries); the limit leaves room for nodes with more capacity entries (GPUs, MIG profiles),
/// and no more.
pub const MAX_BODY_BYTES: usize = 48 * 1024 * 1024;
/// Longest cluster ID, in characters.
pub const MAX_CLUSTER_ID_CHARS: usize = 128;
/// Longest value of any other string field, in characters.
pub const MAX_STRING_CHARS: usize = 256;
/// Most nodes in one report (upstream Kubernetes scales to 5,000; managed offerings to 65,000).
pub const MAX_NODES: usize = 100_000;
/// Most capacity entries of one node.
pub const MAX_CAPACITY: usize = 64;
/// Most extensions in one report.
pub const MAX_EXTENSIONS: usize = 100;

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalid {
    /// The decompressed body is larger than [`MAX_BODY_BYTES`] (HTTP 413).
    TooLarge,
    /// The body says gzip but is not (HTTP 400).
    BadEncoding(String),
    /// Not JSON at all, or truncated (HTTP 400).
    Syntax(String),
    /// JSON, but not a valid report: types, required fields, limits (HTTP 400).
    Schema(String),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::TooLarge => write!(
                f,
                "report larger than {} MiB once decompressed",
                MAX_BODY_BYTES / (1024 * 1024)
            ),
            Invalid::BadEncoding(m) => write!(f, "body is not valid gzip: {m}"),
            Invalid::Syntax(m) => write!(f, "invalid JSON: {m}"),
            Invalid::Schema(m) => write!(f, "invalid report: {m}"),
        }
    }
}

/// A decoded body: the JSON bytes in chunks of [`CHUNK`], and their SHA-256 (the content hash
/// used to drop duplicates).
#[derive(Debug)]
pub struct Json {
    chunks: Vec<Vec<u8>>,
    len: usize,
    pub sha256: [u8; 32],
}

impl Json {
    /// Bytes of JSON.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated to hold it (whole chunks).
    pub fn allocated(&self) -> usize {
        self.chunks.len() * CHUNK
    }

    /// The bytes in one piece (tests).
    pub fn to_vec(&self) -> Vec<u8> {
        self.chunks.concat()
    }

    fn reader(&self) -> JsonReader<'_> {
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

/// The decompressed output: chunks allocated only within the allowance, so the memory a body
/// holds is always paid for. A write that needs a chunk beyond it fails with [`NeedMemory`],
/// which leaves the gzip decoder able to resume with the same input once more is allowed.
struct Chunks {
    chunks: Vec<Vec<u8>>,
    len: usize,
    limit: usize,
    allowed: usize,
    too_large: bool,
    needs_memory: bool,
    hasher: Sha256,
}

impl Write for Chunks {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.len + buf.len() > self.limit {
            self.too_large = true;
            return Err(std::io::Error::other("too large"));
        }
        let room = self.chunks.last().map_or(0, |c| c.capacity() - c.len());
        if room == 0 {
            if self.chunks.len() >= self.allowed {
                self.needs_memory = true;
                return Err(std::io::Error::other("needs memory"));
            }
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let Some(chunk) = self.chunks.last_mut() else {
            return Ok(0);
        };
        let n = buf.len().min(chunk.capacity() - chunk.len());
        chunk.extend_from_slice(&buf[..n]);
        self.hasher.update(&buf[..n]);
        self.len += n;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The size of each buffer a report is kept in (the memory budget's unit).
pub use super::budget::CHUNK;

/// Why [`Decoder::write`] stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The next byte needs one more chunk than allowed: allow more, then write the same input.
    NeedMemory,
    Invalid(Invalid),
}

/// Undoes the content encoding as the body arrives. `gzip` is decompressed (several members
/// are fine, as Go's reader accepts), stopping as soon as the output passes `limit`: a gzip
/// bomb costs at most `limit` bytes of work and memory.
pub struct Decoder {
    inner: Inner,
}

enum Inner {
    Plain(Chunks),
    Gzip(Box<flate2::write::MultiGzDecoder<Chunks>>),
}

impl Decoder {
    pub fn new(gzip: bool, limit: usize) -> Decoder {
        let chunks = Chunks {
            chunks: Vec::new(),
            len: 0,
            limit,
            allowed: 0,
            too_large: false,
            needs_memory: false,
            hasher: Sha256::new(),
        };
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

    /// Let the output hold up to `chunks` chunks in all.
    pub fn allow(&mut self, chunks: usize) {
        self.chunks().allowed = chunks;
    }

    /// Chunks allocated so far.
    pub fn allocated_chunks(&mut self) -> usize {
        self.chunks().chunks.len()
    }

    /// Why an I/O error of the gzip decoder or of [`Chunks`] happened.
    fn stop(&mut self, e: std::io::Error) -> Stop {
        let c = self.chunks();
        if std::mem::take(&mut c.needs_memory) {
            Stop::NeedMemory
        } else if c.too_large {
            Stop::Invalid(Invalid::TooLarge)
        } else {
            Stop::Invalid(Invalid::BadEncoding(e.to_string()))
        }
    }

    /// Feed some of `data`; returns how many bytes were taken (at least one).
    pub fn write(&mut self, data: &[u8]) -> Result<usize, Stop> {
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
    pub fn finish(&mut self) -> Result<(), Stop> {
        let done = match &mut self.inner {
            Inner::Plain(_) => Ok(()),
            Inner::Gzip(d) => d.try_finish(),
        };
        done.map_err(|e| self.stop(e))
    }

    /// The decoded JSON, after [`Decoder::finish`] succeeded.
    pub fn into_json(self) -> Json {
        let chunks = match self.inner {
            Inner::Plain(c) => c,
            Inner::Gzip(d) => d.finish().unwrap_or_else(|_| unreachable_chunks()),
        };
        Json {
            sha256: chunks.hasher.finalize().into(),
            chunks: chunks.chunks,
            len: chunks.len,
        }
    }
}

/// `finish` after a successful `try_finish` cannot fail; should it, the report is empty (and
/// so refused as invalid JSON) rather than a panic.
fn unreachable_chunks() -> Chunks {
    Chunks {
        chunks: Vec::new(),
        len: 0,
        limit: 0,
        allowed: 0,
        too_large: false,
        needs_memory: false,
        hasher: Sha256::new(),
    }
}

/// Decode a whole body at once with no memory allowance limit (tests and tools).
pub fn decode(body: &[u8], gzip: bool, limit: usize) -> Result<Json, Invalid> {
    let mut d = Decoder::new(gzip, limit);
    d.allow(usize::MAX);
    let mut rest = body;
    let stop = |s: Stop| match s {
        Stop::Invalid(i) => i,
        Stop::NeedMemory => Invalid::TooLarge,
    };
    while !rest.is_empty() {
        let n = d.write(rest).map_err(stop)?;
        rest = &rest[n..];
    }
    d.finish().map_err(stop)?;
    Ok(d.into_json())
}

/// A checked report without its nodes, and how many nodes it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    /// `nodes` is empty.
    pub report: Report,
    pub nodes: usize,
}

fn classify(e: serde_json::Error) -> Invalid {
    use serde_json::error::Category;
    match e.classify() {
        Category::Data => Invalid::Schema(e.to_string()),
        Category::Syntax | Category::Eof | Category::Io => Invalid::Syntax(e.to_string()),
    }
}

/// The parse behind [`parse`], [`check`] and [`for_each_node`]: every node goes to `on_node`.
fn parse_with<'de, D>(de: D, on_node: &mut dyn FnMut(Node) -> bool) -> Result<Header, D::Error>
where
    D: Deserializer<'de>,
{
    let (report, nodes) = de.deserialize_map(ReportVisitor { on_node })?;
    Ok(Header { report, nodes })
}

fn required(header: Header) -> Result<Header, Invalid> {
    if header.report.version.is_empty() {
        return Err(Invalid::Schema("`version` is empty".into()));
    }
    if header.report.cluster_id.is_empty() {
        return Err(Invalid::Schema("`clusterID` is empty".into()));
    }
    Ok(header)
}

/// Parse and check a report held in one slice, nodes included. Empty optional strings become
/// `None`.
pub fn parse(json: &[u8]) -> Result<Report, Invalid> {
    let mut nodes = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(json);
    let header = parse_with(&mut de, &mut |n| {
        nodes.push(n);
        true
    })
    .and_then(|h| de.end().map(|()| h))
    .map_err(classify)?;
    let mut header = required(header)?;
    header.report.nodes = nodes;
    Ok(header.report)
}

/// Check a report without keeping its nodes: its header and node count.
pub fn check(json: &Json) -> Result<Header, Invalid> {
    let mut de = serde_json::Deserializer::from_reader(json.reader());
    let header = parse_with(&mut de, &mut |_| true)
        .and_then(|h| de.end().map(|()| h))
        .map_err(classify)?;
    required(header)
}

/// Hand each node of a report [`check`] accepted to `f`, in order, one at a time; stops at
/// `f`'s first error and returns it.
pub fn for_each_node<E>(
    json: &Json,
    mut f: impl FnMut(usize, Node) -> Result<(), E>,
    invalid: impl FnOnce(Invalid) -> E,
) -> Result<(), E> {
    let mut failed = None;
    let mut index = 0;
    let mut de = serde_json::Deserializer::from_reader(json.reader());
    let parsed = parse_with(&mut de, &mut |node| match f(index, node) {
        Ok(()) => {
            index += 1;
            true
        }
        Err(e) => {
            failed = Some(e);
            false
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    parsed.map(|_| ()).map_err(|e| invalid(classify(e)))
}

/// Whether an `Idempotency-Key` header value is acceptable: 1 to 256 visible ASCII characters,
/// optionally in double quotes (the structured-field form of the IETF draft), which are removed.
pub fn idempotency_key(raw: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(raw).ok()?.trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    let ok = !text.is_empty()
        && text.len() <= MAX_STRING_CHARS
        && text.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| text.to_string())
}

// ---------------------------------------------------------------------------------------------
// The visitors.
// ---------------------------------------------------------------------------------------------

const REPORT_FIELDS: &[&str] = &[
    "version",
    "timestamp",
    "clusterID",
    "masterVersion",
    "nodes",
    "extensions",
];

/// The report object; each node goes to `on_node` (which returns `false` to stop the parse)
/// and the rest is kept. The value is the report without nodes, and the node count.
struct ReportVisitor<'a> {
    on_node: &'a mut dyn FnMut(Node) -> bool,
}

impl<'de> Visitor<'de> for ReportVisitor<'_> {
    type Value = (Report, usize);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a report object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(Report, usize), A::Error> {
        let mut seen = [false; 6];
        let mut report = Report::default();
        let mut nodes = 0;
        let mut has_version = false;
        let mut has_cluster = false;
        while let Some(field) = map.next_key_seed(FieldName(REPORT_FIELDS))? {
            let Some(index) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            if std::mem::replace(&mut seen[index], true) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `{}`",
                    REPORT_FIELDS[index]
                )));
            }
            match index {
                0 => {
                    report.version = map.next_value_seed(Str::new("version"))?;
                    has_version = true;
                }
                1 => {
                    report.timestamp = map
                        .next_value_seed(OptStr(Str::new("timestamp")))?
                        .unwrap_or_default()
                }
                2 => {
                    report.cluster_id = map.next_value_seed(Str {
                        path: Path::Field("clusterID"),
                        max: MAX_CLUSTER_ID_CHARS,
                    })?;
                    has_cluster = true;
                }
                3 => {
                    report.master_version =
                        map.next_value_seed(OptStr(Str::new("masterVersion")))?
                }
                4 => {
                    nodes = map.next_value_seed(EachNode {
                        on_node: &mut *self.on_node,
                    })?
                }
                _ => {
                    report.extensions = map
                        .next_value_seed(List {
                            what: "extensions",
                            max: MAX_EXTENSIONS,
                            element: |i| PairSeed {
                                what: "extensions",
                                index: i,
                                names: &["name", "value"],
                            },
                        })?
                        .into_iter()
                        .map(|(name, value)| Extension { name, value })
                        .collect()
                }
            }
        }
        if !has_version {
            return Err(de::Error::missing_field("version"));
        }
        if !has_cluster {
            return Err(de::Error::missing_field("clusterID"));
        }
        Ok((report, nodes))
    }
}

/// The `nodes` list (or `null`): each node to `on_node`, at most [`MAX_NODES`]; the count.
struct EachNode<'a> {
    on_node: &'a mut dyn FnMut(Node) -> bool,
}

impl<'de> DeserializeSeed<'de> for EachNode<'_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EachNode<'_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list or null for `nodes`")
    }
    fn visit_none<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_unit<E: de::Error>(self) -> Result<usize, E> {
        Ok(0)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<usize, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        loop {
            if count == MAX_NODES {
                // One more element (anything but the end) is one too many.
                return match seq.next_element::<IgnoredAny>()? {
                    None => Ok(count),
                    Some(_) => Err(de::Error::custom(format_args!(
                        "more than {MAX_NODES} entries in `nodes`"
                    ))),
                };
            }
            match seq.next_element_seed(NodeSeed(count))? {
                Some(node) => {
                    if !(self.on_node)(node) {
                        return Err(de::Error::custom("stopped"));
                    }
                    count += 1;
                }
                None => return Ok(count),
            }
        }
    }
}

/// Where a string sits in the report, for error messages (built only when there is an error).
#[derive(Clone, Copy)]
enum Path {
    Field(&'static str),
    Node(usize, &'static str),
    Entry(&'static str, usize, Option<usize>, &'static str),
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Path::Field(name) => write!(f, "{name}"),
            Path::Node(i, name) => write!(f, "nodes[{i}].{name}"),
            Path::Entry(list, i, None, name) => write!(f, "{list}[{i}].{name}"),
            Path::Entry(list, i, Some(j), name) => write!(f, "nodes[{i}].{list}[{j}].{name}"),
        }
    }
}

/// Matches an object key against a fixed list of field names; `None` for unknown keys.
struct FieldName(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Option<usize>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Option<usize>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|name| *name == v))
    }
}

/// A string with a length limit (in characters) and no control characters.
#[derive(Clone, Copy)]
struct Str {
    path: Path,
    max: usize,
}

impl Str {
    fn new(field: &'static str) -> Self {
        Str {
            path: Path::Field(field),
            max: MAX_STRING_CHARS,
        }
    }

    fn check<E: de::Error>(&self, v: &str) -> Result<(), E> {
        // Byte length bounds character count from above: only count when it could matter.
        if v.len() > self.max && v.chars().count() > self.max {
            return Err(E::custom(format_args!(
                "`{}` is longer than {} characters",
                self.path, self.max
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(E::custom(format_args!(
                "`{}` contains control characters",
                self.path
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Str {
    type Value = String;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Str {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a string for `{}`", self.path)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v)?;
        Ok(v.to_string())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.check(&v)?;
        Ok(v)
    }
}

/// An optional string: `null`, absent and `""` are all `None`.
struct OptStr(Str);

impl<'de> DeserializeSeed<'de> for OptStr {
    type Value = Option<String>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a string or null for `{}`", self.0.path)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let s = self.0.deserialize(d)?;
        Ok((!s.is_empty()).then_some(s))
    }
}

/// A list (or `null`) of at most `max` elements; the parse stops at the first one too many.
struct List<F> {
    what: &'static str,
    max: usize,
    element: F,
}

impl<'de, F, S> DeserializeSeed<'de> for List<F>
where
    F: Fn(usize) -> S,
    S: DeserializeSeed<'de>,
{
    type Value = Vec<S::Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, F, S> Visitor<'de> for List<F>
where
    F: Fn(usize) -> S,
    S: DeserializeSeed<'de>,
{
    type Value = Vec<S::Value>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a list or null for `{}`", self.what)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        loop {
            let index = out.len();
            if index == self.max {
                // One more element (anything but the end) is one too many.
                return match seq.next_element::<IgnoredAny>()? {
                    None => Ok(out),
                    Some(_) => Err(de::Error::custom(format_args!(
                        "more than {} entries in `{}`",
                        self.max, self.what
                    ))),
                };
            }
            match seq.next_element_seed((self.element)(index))? {
                Some(value) => out.push(value),
                None => return Ok(out),
            }
        }
    }
}

const NODE_FIELDS: &[&str] = &[
    "id",
    "operatingSystem",
    "osImage",
    "kernelVersion",
    "architecture",
    "containerRuntimeVersion",
    "kubeletVersion",
    "cloudProvider",
    "capacity",
];

/// One node; the index is for error messages.
struct NodeSeed(usize);

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed {
    type Value = Node;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object for `nodes[{}]`", self.0)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let i = self.0;
        let mut seen = [false; 9];
        let mut node = Node::default();
        let opt = |name| {
            OptStr(Str {
                path: Path::Node(i, name),
                max: MAX_STRING_CHARS,
            })
        };
        while let Some(field) = map.next_key_seed(FieldName(NODE_FIELDS))? {
            let Some(index) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let name = NODE_FIELDS[index];
            if std::mem::replace(&mut seen[index], true) {
                return Err(de::Error::custom(format_args!(
                    "duplicate field `nodes[{i}].{name}`"
                )));
            }
            match index {
                0 => {
                    node.id = map.next_value_seed(Str {
                        path: Path::Node(i, name),
                        max: MAX_STRING_CHARS,
                    })?
                }
                1 => node.operating_system = map.next_value_seed(opt(name))?,
                2 => node.os_image = map.next_value_seed(opt(name))?,
                3 => node.kernel_version = map.next_value_seed(opt(name))?,
                4 => node.architecture = map.next_value_seed(opt(name))?,
                5 => node.container_runtime_version = map.next_value_seed(opt(name))?,
                6 => node.kubelet_version = map.next_value_seed(opt(name))?,
                7 => node.cloud_provider = map.next_value_seed(opt(name))?,
                _ => {
                    node.capacity = map
                        .next_value_seed(List {
                            what: "capacity",
                            max: MAX_CAPACITY,
                            element: |j| {
                                PairSeed {
                                    what: "capacity",
                                    index: i,
                                    names: &["resource", "value"],
                                }
                                .in_node(j)
                            },
                        })?
                        .into_iter()
                        .map(|(resource, value)| Resource { resource, value })
                        .collect()
                }
            }
        }
        if !seen[0] {
            return Err(de::Error::custom(format_args!(
                "missing field `nodes[{i}].id`"
            )));
        }
        Ok(node)
    }
}

/// A `{name, value}` or `{resource, value}` object: two required strings.
struct PairSeed {
    what: &'static str,
    index: usize,
    names: &'static [&'static str; 2],
}

impl PairSeed {
    /// The same pair inside node `self.index`, at position `j` of its list.
    fn in_node(self, j: usize) -> NodePairSeed {
        NodePairSeed { pair: self, j }
    }

    fn path(&self, node_entry: Option<usize>, field: usize) -> Path {
        match node_entry {
            None => Path::Entry(self.what, self.index, None, self.names[field]),
            Some(j) => Path::Entry(self.what, self.index, Some(j), self.names[field]),
        }
    }

    fn visit<'de, A: MapAccess<'de>>(
        &self,
        node_entry: Option<usize>,
        mut map: A,
    ) -> Result<(String, String), A::Error> {
        let mut values: [Option<String>; 2] = [None, None];
        while let Some(field) = map.next_key_seed(FieldName(self.names))? {
            let Some(k) = field else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let path = self.path(node_entry, k);
            if values[k].is_some() {
                return Err(de::Error::custom(format_args!("duplicate field `{path}`")));
            }
            values[k] = Some(map.next_value_seed(Str {
                path,
                max: MAX_STRING_CHARS,
            })?);
        }
        let [a, b] = values;
        match (a, b) {
            (Some(a), Some(b)) => Ok((a, b)),
            (None, _) => Err(de::Error::custom(format_args!(
                "missing field `{}`",
                self.path(node_entry, 0)
            ))),
            (_, None) => Err(de::Error::custom(format_args!(
                "missing field `{}`",
                self.path(node_entry, 1)
            ))),
        }
    }
}

impl<'de> DeserializeSeed<'de> for PairSeed {
    type Value = (String, String);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PairSeed {
    type Value = (String, String);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object for `{}[{}]`", self.what, self.index)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.visit(None, map)
    }
}

struct NodePairSeed {
    pair: PairSeed,
    j: usize,
}

impl<'de> DeserializeSeed<'de> for NodePairSeed {
    type Value = (String, String);
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for NodePairSeed {
    type Value = (String, String);
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(
            f,
            "an object for `nodes[{}].{}[{}]`",
            self.pair.index, self.pair.what, self.j
        )
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.pair.visit(Some(self.j), map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The largest clusters' report, written the way this project's reporter writes it, from
    /// nodes with long but real values and eight capacity entries, fits the limits.
    #[test]
    fn the_largest_clusters_report_fits() {
        use crate::report::{FactsNodeInfo, Header as ReportHeader, NodeFacts, ReportWriter};
        let mut facts = NodeFacts::default();
        facts.spec.provider_id = Some("aws:///us-east-1a/i-0123456789abcdef0".into());
        facts.status.node_info = FactsNodeInfo {
            operating_system: Some("linux".into()),
            os_image: Some("Red Hat Enterprise Linux CoreOS 418.94.202410090804-0 (Plow)".into()),
            kernel_version: Some("5.14.0-427.40.1.el9_4.x86_64".into()),
            architecture: Some("amd64".into()),
            container_runtime_version: Some("cri-o://1.31.1-4.rhaos4.18.gitb8e3b7b.el9".into()),
            kubelet_version: Some("v1.31.1+5f8a2b4".into()),
        };
        facts.status.capacity = Some(
            [
                ("cpu", "192"),
                ("ephemeral-storage", "3748905984Ki"),
                ("hugepages-1Gi", "0"),
                ("hugepages-2Mi", "0"),
                ("memory", "2113459512Ki"),
                ("nvidia.com/gpu", "8"),
                ("pods", "250"),
                ("widgets.example-corp.com/fpga", "2"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        );
        let header = ReportHeader {
            timestamp: "1764201600".into(),
            cluster_id: "0f8e3a2c-5b6d-4e7f-8a9b-1c2d3e4f5a6b".into(),
            master_version: Some("v1.31.1+5f8a2b4".into()),
            extensions: vec![],
        };
        let mut w = ReportWriter::start(Vec::new(), header).unwrap();
        for i in 0..65_000u32 {
            let id = crate::report::node_id("c", &i.to_string()).unwrap();
            w.node(&crate::report::build_node(&facts, id)).unwrap();
        }
        let body = w.finish().unwrap();
        assert!(
            body.len() > 30 << 20,
            "a realistic worst case: {} bytes",
            body.len()
        );
        let json = decode(&body, false, MAX_BODY_BYTES).expect("within the size limit");
        let header = check(&json).expect("within every other limit");
        assert_eq!(header.nodes, 65_000);
    }

    /// The example report of the original spartakus README, as its volunteer sent it (shared
    /// with the integration tests).
    pub(crate) const ORIGINAL: &str = include_str!("../../tests/fixtures/original-volunteer.json");

    fn err(json: &str) -> Invalid {
        parse(json.as_bytes()).unwrap_err()
    }

    fn schema_message(json: &str) -> String {
        match err(json) {
            Invalid::Schema(m) => m,
            other => panic!("expected a schema error for {json}, got {other:?}"),
        }
    }

    #[test]
    fn original_volunteer_report_is_accepted() {
        let r = parse(ORIGINAL.as_bytes()).unwrap();
        assert_eq!(r.version, "v1.0.0");
        assert_eq!(r.timestamp, "867530909031976");
        assert_eq!(r.master_version.as_deref(), Some("v1.3.5"));
        assert_eq!(r.nodes.len(), 2);
        let n = &r.nodes[0];
        assert_eq!(
            n.container_runtime_version.as_deref(),
            Some("docker://1.11.2")
        );
        assert_eq!(n.capacity.len(), 4);
        assert_eq!(n.capacity[2].resource, "memory");
        assert_eq!(n.capacity[2].value, "15437428Ki");
    }

    #[test]
    fn same_result_as_the_wire_type_for_a_report_of_ours() {
        let ours = crate::report::Report {
            version: "v1.0.0".into(),
            timestamp: "1700000000".into(),
            cluster_id: "c".into(),
            master_version: Some("v1.33.1".into()),
            nodes: vec![Node {
                id: "a".repeat(32),
                cloud_provider: Some("kind".into()),
                capacity: vec![Resource {
                    resource: "cpu".into(),
                    value: "2".into(),
                }],
                ..Node::default()
            }],
            extensions: vec![Extension {
                name: "example.com/tier".into(),
                value: "gold".into(),
            }],
        };
        let bytes = serde_json::to_vec(&ours).unwrap();
        assert_eq!(parse(&bytes).unwrap(), ours);
    }

    #[test]
    fn minimal_nulls_empties_and_unknown_fields() {
        let r = parse(br#"{"version":"v1","clusterID":"x"}"#).unwrap();
        assert_eq!(r.timestamp, "");
        assert!(r.nodes.is_empty() && r.extensions.is_empty());
        let r = parse(
            br#"{"version":"v1","clusterID":"x","timestamp":null,"masterVersion":"",
                "nodes":[{"id":"n","osImage":null,"capacity":null,"future":{"a":[1,2]}}],
                "extensions":null,"later":[{"deep":true}]}"#,
        )
        .unwrap();
        assert_eq!(r.master_version, None);
        assert_eq!(r.nodes[0].os_image, None);
        assert!(r.nodes[0].capacity.is_empty());
    }

    #[test]
    fn required_fields_and_types() {
        for (json, needle) in [
            (r#"{"clusterID":"x"}"#, "missing field `version`"),
            (r#"{"version":"v1"}"#, "missing field `clusterID`"),
            (r#"{"version":"","clusterID":"x"}"#, "`version` is empty"),
            (r#"{"version":"v1","clusterID":""}"#, "`clusterID` is empty"),
            (r#"{"version":1,"clusterID":"x"}"#, "version"),
            (r#"{"version":"v1","clusterID":null}"#, "clusterID"),
            (
                r#"{"version":"v1","clusterID":"x","timestamp":1700000000}"#,
                "timestamp",
            ),
            (r#"{"version":"v1","clusterID":"x","nodes":{}}"#, "nodes"),
            (
                r#"{"version":"v1","clusterID":"x","nodes":[1]}"#,
                "nodes[0]",
            ),
            (
                r#"{"version":"v1","clusterID":"x","nodes":[{}]}"#,
                "nodes[0].id",
            ),
            (
                r#"{"version":"v1","clusterID":"x","nodes":[{"id":"a"},{"id":"b","osImage":7}]}"#,
                "nodes[1].osImage",
            ),
            (
                r#"{"version":"v1","clusterID":"x","nodes":[{"id":"a","capacity":[{"resource":"cpu"}]}]}"#,
                "nodes[0].capacity[0].value",
            ),
            (
                r#"{"version":"v1","clusterID":"x","extensions":[{"name":"a","value":1}]}"#,
                "extensions",
            ),
            (
                r#"{"version":"v1","clusterID":"x","extensions":[{"value":"1"}]}"#,
                "extensions[0].name",
            ),
            (
                r#"{"version":"v1","version":"v2","clusterID":"x"}"#,
                "duplicate field `version`",
            ),
            (r#"[]"#, "report object"),
            (r#""text""#, "report object"),
        ] {
            let m = schema_message(json);
            assert!(m.contains(needle), "{json}: {m}");
        }
    }

    #[test]
    fn syntax_errors_are_not_schema_errors() {
        for json in [
            "",
            "{",
            "{\"version\":",
            "nul",
            "{\"version\":\"v1\",\"clusterID\":\"x\"}x",
            "\u{feff}{}",
        ] {
            assert!(matches!(err(json), Invalid::Syntax(_)), "{json:?}");
        }
    }

    #[test]
    fn lengths_are_limited_in_characters() {
        let id = "é".repeat(MAX_CLUSTER_ID_CHARS);
        let ok = format!(r#"{{"version":"v1","clusterID":"{id}"}}"#);
        assert!(parse(ok.as_bytes()).is_ok(), "128 two-byte characters fit");
        let long = format!(r#"{{"version":"v1","clusterID":"{id}x"}}"#);
        assert!(schema_message(&long).contains("longer than 128"));

        let s = "a".repeat(MAX_STRING_CHARS + 1);
        let json =
            format!(r#"{{"version":"v1","clusterID":"x","nodes":[{{"id":"n","osImage":"{s}"}}]}}"#);
        assert!(schema_message(&json).contains("nodes[0].osImage"));
        let json = format!(
            r#"{{"version":"v1","clusterID":"x","nodes":[{{"id":"n","capacity":[{{"resource":"cpu","value":"{s}"}}]}}]}}"#
        );
        assert!(schema_message(&json).contains("nodes[0].capacity[0].value"));
        let json = r#"{"version":"v1","clusterID":"x\u001b[31m"}"#;
        assert!(schema_message(json).contains("control characters"));
    }

    #[test]
    fn counts_are_limited_and_the_parse_stops_early() {
        let node = r#"{"id":"n"}"#;
        let nodes = vec![node; MAX_NODES].join(",");
        let ok = format!(r#"{{"version":"v1","clusterID":"x","nodes":[{nodes}]}}"#);
        assert_eq!(parse(ok.as_bytes()).unwrap().nodes.len(), MAX_NODES);
        let over = format!(r#"{{"version":"v1","clusterID":"x","nodes":[{nodes},{node}]}}"#);
        assert!(schema_message(&over).contains("more than 100000 entries in `nodes`"));

        let cap = vec![r#"{"resource":"r","value":"1"}"#; MAX_CAPACITY + 1].join(",");
        let json = format!(
            r#"{{"version":"v1","clusterID":"x","nodes":[{{"id":"n","capacity":[{cap}]}}]}}"#
        );
        assert!(schema_message(&json).contains("more than 64 entries in `capacity`"));

        let ext = vec![r#"{"name":"a","value":"b"}"#; MAX_EXTENSIONS + 1].join(",");
        let json = format!(r#"{{"version":"v1","clusterID":"x","extensions":[{ext}]}}"#);
        assert!(schema_message(&json).contains("more than 100 entries in `extensions`"));
    }

    #[test]
    fn deep_nesting_never_overflows_the_stack() {
        let (open, close) = ("[".repeat(100_000), "]".repeat(100_000));
        // Skipped without recursion when unknown...
        let unknown = format!(r#"{{"version":"v1","clusterID":"x","junk":{open}{close}}}"#);
        assert!(parse(unknown.as_bytes()).is_ok());
        // ...and a type error at the first level where it is known.
        let known = format!(r#"{{"version":"v1","clusterID":"x","nodes":{open}{close}}}"#);
        assert!(schema_message(&known).contains("nodes[0]"));
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn decode_identity_gzip_multimember_and_limits() {
        let d = decode(ORIGINAL.as_bytes(), false, 1 << 20).unwrap();
        assert_eq!(d.to_vec(), ORIGINAL.as_bytes());
        let z = decode(&gzip(ORIGINAL.as_bytes()), true, 1 << 20).unwrap();
        assert_eq!(z.to_vec(), d.to_vec());
        assert_eq!(z.sha256, d.sha256, "hash is of the decompressed content");
        assert_eq!(
            d.sha256,
            <[u8; 32]>::from(Sha256::digest(ORIGINAL.as_bytes()))
        );

        let mut two = gzip(b"{\"version\":\"v1\",");
        two.extend(gzip(b"\"clusterID\":\"x\"}"));
        let d = decode(&two, true, 1 << 20).unwrap();
        assert!(parse(&d.to_vec()).is_ok());
        assert_eq!(check(&d).unwrap().report.cluster_id, "x");

        assert_eq!(
            decode(&[b' '; 11], false, 10).unwrap_err(),
            Invalid::TooLarge
        );
        let bomb = gzip(&vec![0u8; 4 << 20]);
        assert!(bomb.len() < 64 * 1024);
        assert_eq!(decode(&bomb, true, 1 << 20).unwrap_err(), Invalid::TooLarge);
        assert!(matches!(
            decode(b"not gzip at all", true, 1 << 20),
            Err(Invalid::BadEncoding(_))
        ));
        let mut truncated = gzip(ORIGINAL.as_bytes());
        truncated.truncate(truncated.len() - 6);
        assert!(matches!(
            decode(&truncated, true, 1 << 20),
            Err(Invalid::BadEncoding(_))
        ));
        assert!(matches!(
            decode(&[], true, 1 << 20),
            Err(Invalid::BadEncoding(_))
        ));
    }

    /// The decoder never allocates a chunk it was not allowed, however much the input inflates,
    /// and resumes where it stopped once allowed more.
    #[test]
    fn decoding_stays_within_the_allowance_and_resumes() {
        let json = crate::collector::store::tests::report_json("allowance", 5_000);
        assert!(json.len() > 3 * CHUNK, "{}", json.len());
        for (gz, body) in [(false, json.clone()), (true, gzip(&json))] {
            let mut d = Decoder::new(gz, 32 << 20);
            let mut rest = &body[..];
            let mut stops = 0;
            let mut fed = 0;
            while !rest.is_empty() {
                // Feed in pieces like network frames.
                let piece = &rest[..rest.len().min(16 * 1024)];
                match d.write(piece) {
                    Ok(n) => {
                        rest = &rest[n..];
                        fed += n;
                    }
                    Err(Stop::NeedMemory) => {
                        stops += 1;
                        let have = d.allocated_chunks();
                        assert_eq!(have, stops - 1, "gzip={gz}: allocated past the allowance");
                        d.allow(have + 1);
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
            loop {
                match d.finish() {
                    Ok(()) => break,
                    Err(Stop::NeedMemory) => {
                        stops += 1;
                        let have = d.allocated_chunks();
                        d.allow(have + 1);
                    }
                    Err(other) => panic!("{other:?}"),
                }
            }
            assert_eq!(fed, body.len());
            let out = d.into_json();
            assert_eq!(out.len(), json.len());
            assert_eq!(out.allocated(), json.len().div_ceil(CHUNK) * CHUNK);
            assert_eq!(stops, json.len().div_ceil(CHUNK), "gzip={gz}");
            assert_eq!(out.to_vec(), json);
            let header = check(&out).unwrap();
            assert_eq!(header.nodes, 5_000);
            assert!(header.report.nodes.is_empty());
            let mut ids = Vec::new();
            for_each_node(
                &out,
                |i, n| {
                    ids.push((i, n.id));
                    Ok::<(), Invalid>(())
                },
                |e| e,
            )
            .unwrap();
            assert_eq!(ids.len(), 5_000);
            assert_eq!(ids[4_999], (4_999, format!("{:032x}", 4_999)));
            // The callback's error stops the walk and comes back as it was.
            let mut seen = 0;
            let stopped = for_each_node(
                &out,
                |_, _| {
                    seen += 1;
                    if seen == 10 { Err("full") } else { Ok(()) }
                },
                |_| "invalid",
            );
            assert_eq!((stopped, seen), (Err("full"), 10));
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
        assert_eq!(d.allocated_chunks(), 0);
    }

    #[test]
    fn idempotency_keys() {
        assert_eq!(idempotency_key(b"abc-123").as_deref(), Some("abc-123"));
        assert_eq!(idempotency_key(b"\"abc\"").as_deref(), Some("abc"));
        assert_eq!(idempotency_key(b" abc ").as_deref(), Some("abc"));
        assert_eq!(idempotency_key(b""), None);
        assert_eq!(idempotency_key(b"\"\""), None);
        assert_eq!(idempotency_key(b"a b"), None);
        assert_eq!(idempotency_key(&[0xff, 0x41]), None);
        assert_eq!(idempotency_key("k".repeat(257).as_bytes()), None);
    }

    /// A small seeded PRNG (xorshift64*), so the property test is repeatable without a crate.
    pub(crate) struct Rng(pub u64);

    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    #[test]
    fn property_arbitrary_and_mutated_bytes_never_panic() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        let seeds: Vec<Vec<u8>> = vec![
            ORIGINAL.as_bytes().to_vec(),
            br#"{"version":"v1.0.0","clusterID":"c","extensions":[{"name":"a/b","value":"c"}]}"#
                .to_vec(),
        ];
        let tokens: &[&[u8]] = &[
            b"{",
            b"}",
            b"[",
            b"]",
            b"\"",
            b",",
            b":",
            b"null",
            b"1e999",
            b"-0",
            b"\\u0000",
            b"\\ud800",
            b"\xff",
            b"\"nodes\":",
            b"\"capacity\":[",
            b"true",
        ];
        let mut accepted = 0;
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 5 == 0 {
                (0..rng.below(200)).map(|_| rng.next() as u8).collect()
            } else {
                let mut b = seeds[rng.below(seeds.len())].clone();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(b.len() + 1);
                    match rng.below(4) {
                        0 if at < b.len() => b[at] ^= 1 << rng.below(8),
                        1 => {
                            let t = tokens[rng.below(tokens.len())];
                            b.splice(at..at, t.iter().copied());
                        }
                        2 => b.truncate(at),
                        _ if at < b.len() => {
                            b.remove(at);
                        }
                        _ => {}
                    }
                }
                b
            };
            let gz = rng.below(8) == 0;
            let body = if gz { gzip(&input) } else { input.clone() };
            match decode(&body, gz, 1 << 20).and_then(|d| {
                let header = check(&d);
                let whole = parse(&d.to_vec());
                // Same verdict (error positions may differ by a column between the readers).
                assert_eq!(
                    header
                        .as_ref()
                        .map(|h| h.nodes)
                        .map_err(std::mem::discriminant),
                    whole
                        .as_ref()
                        .map(|r| r.nodes.len())
                        .map_err(std::mem::discriminant),
                    "check and parse agree"
                );
                whole
            }) {
                Ok(r) => {
                    accepted += 1;
                    assert!(!r.version.is_empty() && !r.cluster_id.is_empty());
                    assert!(r.cluster_id.chars().count() <= MAX_CLUSTER_ID_CHARS);
                }
                Err(Invalid::TooLarge) => panic!("small input reported as too large"),
                Err(_) => {}
            }
        }
        assert!(
            accepted > 100,
            "mutations should keep some reports valid: {accepted}"
        );
    }
}
