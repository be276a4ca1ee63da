//! Streaming a list response (a `NodeList`, or a `PartialObjectMetadataList` of pods, services,
//! ...) without holding it: a small scanner that reads the body as it arrives, in chunks, and
//! hands out the list's `metadata` and, for each element of `items`, only the fields it was told
//! to copy ([`ItemField`]).
//!
//! A full Node is 10-15 KB of JSON (mostly `status.images` and `metadata.managedFields`) and a
//! page holds hundreds of them; an object's metadata alone is 1-3 KB (managedFields, labels,
//! annotations). The scanner walks every byte once (strings are skipped with a vectorized
//! search) and copies out just the wanted fields of each item, which it hands out as a small
//! JSON object of the same shape: for a node ([`NODE_FIELDS`]) `metadata.uid`,
//! `spec.providerID`, `status.nodeInfo` and `status.capacity`; for any other object
//! ([`OBJECT_FIELDS`]) `metadata.namespace` and `metadata.creationTimestamp`. Memory stays the
//! same whatever the page size and however large items are, and nothing else of an item (names,
//! addresses, labels, annotations, owners, images) is ever copied. Pure: bytes in, callbacks out.

use anyhow::{Result, bail};
use serde::Deserialize;

/// A field copied out of an item larger than this is refused: a Node's `status.capacity` or
/// `status.nodeInfo` is a few KiB, an object's namespace or creation time a few bytes.
pub(crate) const MAX_ITEM_BYTES: usize = 256 << 10;

/// The list's own `metadata` larger than this is refused: it holds a continue token and a
/// resource version (hundreds of bytes from a real API server).
pub(crate) const MAX_LIST_META_BYTES: usize = 4 << 20;

/// Containers nested deeper than this, anywhere in the body, are refused: a Kubernetes object
/// nests a few levels (a Node about ten), and each open level costs the scanner a frame.
pub(crate) const MAX_DEPTH: usize = 256;

/// Of a key longer than this only the start is kept: no key the scanner looks for is longer.
const MAX_KEY_BYTES: usize = 64;

/// A field copied out of each item: the object it is in (`metadata`, `spec`, `status`), and its
/// key there.
pub(crate) type ItemField = (&'static str, &'static str);

/// What a report needs of a Node.
pub(crate) const NODE_FIELDS: &[ItemField] = &[
    ("metadata", "uid"),
    ("spec", "providerID"),
    ("status", "nodeInfo"),
    ("status", "capacity"),
];

/// What the workload statistics need of any other object: where it is and when it was made.
pub(crate) const OBJECT_FIELDS: &[ItemField] =
    &[("metadata", "namespace"), ("metadata", "creationTimestamp")];

/// The list's own metadata.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ListMeta {
    pub resource_version: Option<String>,
    #[serde(rename = "continue")]
    pub(crate) continue_token: Option<String>,
    pub(crate) remaining_item_count: Option<i64>,
}

/// What the scanner hands out.
pub enum Piece<'a> {
    /// One element of `items`, reduced to its wanted fields: for a node
    /// `{"metadata":{"uid":..},"spec":{"providerID":..},"status":{"nodeInfo":..,"capacity":..}}`
    /// (fields it lacks are left out).
    Item(&'a [u8]),
    /// The top-level `metadata` object, complete.
    Metadata(&'a [u8]),
}

/// The keys the scanner cares about, at the depths where it cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Other,
    Items,
    /// The list's own `metadata`.
    Metadata,
    /// An object of an item holding wanted fields: the index of its first field.
    Section(usize),
    /// A wanted field: its index.
    Field(usize),
}

/// Slot 0 holds the list's metadata; slot `i + 1` the field `i` of the current item.
const LIST_META: usize = 0;

#[derive(Debug, Clone, Copy)]
struct Frame {
    object: bool,
    /// In an object: the next string is a key.
    expect_key: bool,
    /// In an object: the last key read.
    key: Key,
}

/// Incremental scanner over one list response body.
#[derive(Debug)]
pub struct ListScanner {
    fields: &'static [ItemField],
    /// Open containers; `stack[0]` is the root object, `stack[1]` the `items` array, `stack[2]` an
    /// item, `stack[3]` one of its objects (`metadata`, `spec`, `status`).
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    reading_key: bool,
    key: Vec<u8>,
    /// After a `:` whose value is wanted: the slot that starts with the next non-blank byte.
    pending: Option<usize>,
    /// The slot being copied, and the stack depth of the object holding its key.
    capture: Option<(usize, usize)>,
    slots: Vec<Vec<u8>>,
    filled: Vec<bool>,
    item: Vec<u8>,
    root_closed: bool,
    items: usize,
}

impl Default for ListScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl ListScanner {
    /// A scanner of a `NodeList` ([`NODE_FIELDS`]).
    pub fn new() -> Self {
        Self::with_fields(NODE_FIELDS)
    }

    /// A scanner copying `fields` out of each item.
    pub(crate) fn with_fields(fields: &'static [ItemField]) -> Self {
        ListScanner {
            fields,
            stack: Vec::with_capacity(16),
            in_string: false,
            escape: false,
            reading_key: false,
            key: Vec::with_capacity(32),
            pending: None,
            capture: None,
            slots: vec![Vec::new(); fields.len() + 1],
            filled: vec![false; fields.len() + 1],
            item: Vec::new(),
            root_closed: false,
            items: 0,
        }
    }

    /// Items seen so far.
    pub fn items(&self) -> usize {
        self.items
    }

    /// Which slot, if any, the value of `key` fills at the current position.
    fn wanted(&self, key: Key) -> Option<usize> {
        let in_items =
            self.stack.get(1).is_some_and(|f| !f.object) && self.stack[0].key == Key::Items;
        match (self.stack.len(), key) {
            (1, Key::Metadata) => Some(LIST_META),
            (4, Key::Field(i)) if in_items => Some(i + 1),
            _ => None,
        }
    }

    fn classify_key(&self) -> Key {
        let key = self.key.as_slice();
        let fields = self.fields;
        match self.stack.len() {
            1 => match key {
                b"items" => Key::Items,
                b"metadata" => Key::Metadata,
                _ => Key::Other,
            },
            3 => fields
                .iter()
                .position(|(section, _)| section.as_bytes() == key)
                .map_or(Key::Other, Key::Section),
            4 => match self.stack[2].key {
                Key::Section(first) => fields
                    .iter()
                    .position(|(section, name)| {
                        *section == fields[first].0 && name.as_bytes() == key
                    })
                    .map_or(Key::Other, Key::Field),
                _ => Key::Other,
            },
            _ => Key::Other,
        }
    }

    /// Feeds the next chunk of the body; `emit` is called for every complete piece.
    pub fn feed(
        &mut self,
        chunk: &[u8],
        emit: &mut dyn FnMut(Piece<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut i = 0;
        // Where, in this chunk, the captured value's bytes began (0 if it began earlier).
        let mut span_start = 0;
        while i < chunk.len() {
            if self.in_string {
                i = self.string(chunk, i);
                continue;
            }
            let byte = chunk[i];
            if matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                i += 1;
                continue;
            }
            if let Some(slot) = self.pending.take() {
                self.capture = Some((slot, self.stack.len()));
                self.slots[slot].clear();
                span_start = i;
            }
            match byte {
                b'"' => self.quote()?,
                b'{' | b'[' => self.open(byte)?,
                b'}' | b']' => {
                    self.end_capture_at(chunk, span_start, i)?;
                    self.close(byte, emit)?;
                }
                b':' => {
                    let Some(top) = self.stack.last_mut() else {
                        bail!("the list is not a JSON object");
                    };
                    top.expect_key = false;
                    let key = top.key;
                    self.pending = self.wanted(key);
                }
                b',' => {
                    self.end_capture_at(chunk, span_start, i)?;
                    match self.stack.last_mut() {
                        Some(top) if top.object => top.expect_key = true,
                        Some(_) => {}
                        None => bail!("the list is not a JSON object"),
                    }
                }
                _ if self.stack.is_empty() => bail!("the list is not a JSON object"),
                _ => {}
            }
            i += 1;
        }
        if let Some((slot, _)) = self.capture {
            self.slots[slot].extend_from_slice(&chunk[span_start..]);
            check_size(slot, &self.slots[slot])?;
        }
        Ok(())
    }

    /// Inside a string from `chunk[i]`: skips to its end (or the chunk's), keeping a key's bytes.
    /// Returns where to go on.
    #[inline]
    fn string(&mut self, chunk: &[u8], i: usize) -> usize {
        if self.escape {
            self.escape = false;
            return i + 1;
        }
        let Some(offset) = find_quote_or_backslash(&chunk[i..]) else {
            if self.reading_key {
                self.keep_key(&chunk[i..]);
            }
            return chunk.len();
        };
        let at = i + offset;
        if self.reading_key {
            self.keep_key(&chunk[i..at]);
        }
        if chunk[at] == b'\\' {
            self.escape = true;
            if self.reading_key {
                self.keep_key(b"\\");
            }
        } else {
            self.in_string = false;
            if self.reading_key {
                self.reading_key = false;
                let key = self.classify_key();
                if let Some(top) = self.stack.last_mut() {
                    top.key = key;
                }
            }
        }
        at + 1
    }

    /// Keeps the start of a key being read (at most [`MAX_KEY_BYTES`] and one more, so that a
    /// long key never equals a wanted one).
    #[inline]
    fn keep_key(&mut self, bytes: &[u8]) {
        let room = (MAX_KEY_BYTES + 1).saturating_sub(self.key.len());
        self.key.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// A `"` outside a string: a key or a value starts.
    #[inline]
    fn quote(&mut self) -> Result<()> {
        self.in_string = true;
        match self.stack.last() {
            Some(top) if top.object && top.expect_key => {
                self.reading_key = true;
                self.key.clear();
            }
            Some(_) => {}
            None => bail!("the list is not a JSON object"),
        }
        Ok(())
    }

    /// A `{` or `[`.
    #[inline]
    fn open(&mut self, byte: u8) -> Result<()> {
        if self.root_closed {
            bail!("unexpected data after the list");
        }
        if self.stack.is_empty() && byte != b'{' {
            bail!("the list is not a JSON object");
        }
        if self.stack.len() >= MAX_DEPTH {
            bail!(
                "the list nests more than {MAX_DEPTH} levels deep, which no Kubernetes object does"
            );
        }
        if self.stack.len() == 2 && self.stack[0].key == Key::Items {
            self.start_item();
        }
        self.stack.push(Frame {
            object: byte == b'{',
            expect_key: byte == b'{',
            key: Key::Other,
        });
        Ok(())
    }

    /// A `}` or `]`: a container ends, perhaps an item.
    #[inline]
    fn close(&mut self, byte: u8, emit: &mut dyn FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        let Some(frame) = self.stack.pop() else {
            bail!("the list is not valid JSON (unbalanced '{}')", byte as char);
        };
        if frame.object != (byte == b'}') {
            bail!("the list is not valid JSON (mismatched '{}')", byte as char);
        }
        if self.stack.len() == 2 && self.stack[0].key == Key::Items && frame.object {
            self.end_item(emit)?;
        }
        if self.stack.is_empty() {
            self.root_closed = true;
        }
        Ok(())
    }

    /// At a `,`, `}` or `]` at position `at`: if it ends the value being captured (it is at the
    /// depth of the object holding the value's key), the value is complete.
    #[inline]
    fn end_capture_at(&mut self, chunk: &[u8], span_start: usize, at: usize) -> Result<()> {
        let Some((slot, depth)) = self.capture else {
            return Ok(());
        };
        if self.stack.len() != depth {
            return Ok(());
        }
        self.capture = None;
        let buf = &mut self.slots[slot];
        buf.extend_from_slice(&chunk[span_start..at]);
        while buf.last().is_some_and(|b| b.is_ascii_whitespace()) {
            buf.pop();
        }
        check_size(slot, buf)?;
        self.filled[slot] = true;
        Ok(())
    }

    fn start_item(&mut self) {
        self.filled[LIST_META + 1..].fill(false);
    }

    /// An item closed: hand out its reduced JSON, the wanted fields grouped by the object they
    /// were in, in the order of [`ItemField`]s.
    fn end_item(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        self.items += 1;
        let item = &mut self.item;
        item.clear();
        item.push(b'{');
        for (first, (section, _)) in self.fields.iter().enumerate() {
            if self.fields[..first].iter().any(|(s, _)| s == section) {
                continue;
            }
            let mut opened = false;
            for (i, (s, name)) in self.fields.iter().enumerate().skip(first) {
                if s != section || !self.filled[i + 1] {
                    continue;
                }
                if !opened {
                    if item.len() > 1 {
                        item.push(b',');
                    }
                    quoted(item, section);
                    item.extend_from_slice(b":{");
                    opened = true;
                } else {
                    item.push(b',');
                }
                quoted(item, name);
                item.push(b':');
                item.extend_from_slice(&self.slots[i + 1]);
            }
            if opened {
                item.push(b'}');
            }
        }
        item.push(b'}');
        emit(Piece::Item(item))?;
        self.start_item();
        // Give back memory after an unusually large field (never the list's metadata, which is
        // read once the list ends).
        for slot in &mut self.slots[LIST_META + 1..] {
            if slot.capacity() > 1 << 20 {
                *slot = Vec::new();
            }
        }
        Ok(())
    }

    /// Whether the whole body was seen.
    pub(crate) fn is_complete(&self) -> bool {
        self.root_closed && !self.in_string
    }

    /// Checks that the whole body was seen, and hands out the list's metadata.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        if !self.is_complete() {
            bail!("the list ended early (truncated response)");
        }
        if self.filled[LIST_META] {
            emit(Piece::Metadata(&self.slots[LIST_META]))?;
        }
        Ok(())
    }
}

/// A copied value (the list's metadata in slot [`LIST_META`], else a field of an item) within
/// its limit.
fn check_size(slot: usize, value: &[u8]) -> Result<()> {
    match slot {
        LIST_META if value.len() > MAX_LIST_META_BYTES => bail!(
            "the list's metadata is larger than {} MiB, which no API server sends",
            MAX_LIST_META_BYTES >> 20
        ),
        LIST_META => Ok(()),
        _ if value.len() > MAX_ITEM_BYTES => bail!(
            "a field of an item in the list is larger than {} KiB, which no Kubernetes object has",
            MAX_ITEM_BYTES >> 10
        ),
        _ => Ok(()),
    }
}

/// Appends `"key"` (the field names are plain ASCII identifiers, so nothing needs escaping).
fn quoted(out: &mut Vec<u8>, key: &str) {
    out.push(b'"');
    out.extend_from_slice(key.as_bytes());
    out.push(b'"');
}

/// The first `"` or `\\`. Most JSON strings are short (keys, quantities), so the first bytes are
/// looked at one by one before handing the rest to the vectorized search.
#[inline]
fn find_quote_or_backslash(bytes: &[u8]) -> Option<usize> {
    let head = bytes.len().min(16);
    if let Some(at) = bytes[..head].iter().position(|&b| b == b'"' || b == b'\\') {
        return Some(at);
    }
    memchr::memchr2(b'"', b'\\', &bytes[head..]).map(|at| at + head)
}

/// Where the items of a list go, as the scanner hands them out.
pub(crate) trait ListSink {
    /// Forget every item received so far: the listing starts over.
    fn restart(&mut self) -> Result<()>;
    /// Whether items of an unfinished page were received (a retry must then start over).
    fn partial(&self) -> bool {
        true
    }
    /// One item, reduced to the list's fields (see [`Piece::Item`]).
    fn item(&mut self, bytes: &[u8]) -> Result<()>;
}

/// Counts from a listing.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ListStats {
    pub pages: usize,
    pub restarts: usize,
}

#[cfg(test)]
#[path = "nodelist_tests.rs"]
mod tests;
