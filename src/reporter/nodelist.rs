//! Streaming a `NodeList` response without holding it: a small scanner that reads the body as it
//! arrives, in chunks, and hands out the list's `metadata` and, for each element of `items`, only
//! the fields the report is built from.
//!
//! A full Node is 10-15 KB of JSON (mostly `status.images` and `metadata.managedFields`) and a
//! page holds hundreds of them. The scanner walks every byte once (strings are skipped with a
//! vectorized search) and copies out just `metadata.uid`, `spec.providerID`, `status.nodeInfo`
//! and `status.capacity` of each node, which it hands out as a small JSON object of the same
//! shape. Memory stays the same whatever the page size and however large Nodes are, and nothing
//! else of a Node (names, addresses, labels, images) is ever copied. Pure: bytes in, callbacks out.

use anyhow::{Result, bail};
use serde::Deserialize;

/// A single extracted field (or the list's metadata) larger than this is refused.
pub const MAX_ITEM_BYTES: usize = 8 << 20;

/// The list's own metadata.
#[derive(Debug, Default, Clone, Deserialize, PartialEq)]
#[serde(default, rename_all = "camelCase")]
pub struct ListMeta {
    pub resource_version: Option<String>,
    #[serde(rename = "continue")]
    pub continue_token: Option<String>,
    pub remaining_item_count: Option<i64>,
}

/// What the scanner hands out.
pub enum Piece<'a> {
    /// One element of `items`, reduced to `{"metadata":{"uid":..},"spec":{"providerID":..},
    /// "status":{"nodeInfo":..,"capacity":..}}` (fields it lacks are left out).
    Item(&'a [u8]),
    /// The top-level `metadata` object, complete.
    Metadata(&'a [u8]),
}

/// The keys the scanner cares about, at the depths where it cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Other,
    Items,
    Metadata,
    Spec,
    Status,
    Uid,
    ProviderId,
    NodeInfo,
    Capacity,
}

/// A value copied out: the list's metadata, or one of the four fields of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    ListMeta = 0,
    Uid = 1,
    ProviderId = 2,
    NodeInfo = 3,
    Capacity = 4,
}

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
    /// Open containers; `stack[0]` is the root object, `stack[1]` the `items` array, `stack[2]` a
    /// node, `stack[3]` one of its `metadata`/`spec`/`status` objects.
    stack: Vec<Frame>,
    in_string: bool,
    escape: bool,
    reading_key: bool,
    key: Vec<u8>,
    /// After a `:` whose value is wanted: the slot that starts with the next non-blank byte.
    pending: Option<Slot>,
    /// The slot being copied, and the stack depth of the object holding its key.
    capture: Option<(Slot, usize)>,
    slots: [Vec<u8>; 5],
    filled: [bool; 5],
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
    pub fn new() -> Self {
        ListScanner {
            stack: Vec::with_capacity(16),
            in_string: false,
            escape: false,
            reading_key: false,
            key: Vec::with_capacity(16),
            pending: None,
            capture: None,
            slots: Default::default(),
            filled: [false; 5],
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
    fn wanted(&self, key: Key) -> Option<Slot> {
        let in_items = |i: usize| {
            self.stack.get(i).is_some_and(|f| !f.object) && self.stack[0].key == Key::Items
        };
        match (self.stack.len(), key) {
            (1, Key::Metadata) => Some(Slot::ListMeta),
            (4, _) if in_items(1) => match (self.stack[2].key, key) {
                (Key::Metadata, Key::Uid) => Some(Slot::Uid),
                (Key::Spec, Key::ProviderId) => Some(Slot::ProviderId),
                (Key::Status, Key::NodeInfo) => Some(Slot::NodeInfo),
                (Key::Status, Key::Capacity) => Some(Slot::Capacity),
                _ => None,
            },
            _ => None,
        }
    }

    fn classify_key(&self) -> Key {
        match (self.stack.len(), self.key.as_slice()) {
            (1, b"items") => Key::Items,
            (1, b"metadata") | (3, b"metadata") => Key::Metadata,
            (3, b"spec") => Key::Spec,
            (3, b"status") => Key::Status,
            (4, b"uid") => Key::Uid,
            (4, b"providerID") => Key::ProviderId,
            (4, b"nodeInfo") => Key::NodeInfo,
            (4, b"capacity") => Key::Capacity,
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
                self.slots[slot as usize].clear();
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
                        bail!("the node list is not a JSON object");
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
                        None => bail!("the node list is not a JSON object"),
                    }
                }
                _ if self.stack.is_empty() => bail!("the node list is not a JSON object"),
                _ => {}
            }
            i += 1;
        }
        if let Some((slot, _)) = self.capture {
            let buf = &mut self.slots[slot as usize];
            buf.extend_from_slice(&chunk[span_start..]);
            if buf.len() > MAX_ITEM_BYTES {
                bail!("a field of a Node in the list is larger than {MAX_ITEM_BYTES} bytes");
            }
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
                self.key.extend_from_slice(&chunk[i..]);
            }
            return chunk.len();
        };
        let at = i + offset;
        if self.reading_key {
            self.key.extend_from_slice(&chunk[i..at]);
        }
        if chunk[at] == b'\\' {
            self.escape = true;
            if self.reading_key {
                self.key.push(b'\\');
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
            None => bail!("the node list is not a JSON object"),
        }
        Ok(())
    }

    /// A `{` or `[`.
    #[inline]
    fn open(&mut self, byte: u8) -> Result<()> {
        if self.root_closed {
            bail!("unexpected data after the node list");
        }
        if self.stack.is_empty() && byte != b'{' {
            bail!("the node list is not a JSON object");
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
            bail!(
                "the node list is not valid JSON (unbalanced '{}')",
                byte as char
            );
        };
        if frame.object != (byte == b'}') {
            bail!(
                "the node list is not valid JSON (mismatched '{}')",
                byte as char
            );
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
        let buf = &mut self.slots[slot as usize];
        buf.extend_from_slice(&chunk[span_start..at]);
        while buf.last().is_some_and(|b| b.is_ascii_whitespace()) {
            buf.pop();
        }
        if buf.len() > MAX_ITEM_BYTES {
            bail!("a field of a Node in the list is larger than {MAX_ITEM_BYTES} bytes");
        }
        self.filled[slot as usize] = true;
        Ok(())
    }

    fn start_item(&mut self) {
        self.filled = [self.filled[0], false, false, false, false];
    }

    /// A node closed: hand out its reduced JSON.
    fn end_item(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        self.items += 1;
        let item = &mut self.item;
        item.clear();
        item.push(b'{');
        let part = |item: &mut Vec<u8>, name: &[u8], fields: &[(&[u8], &Vec<u8>, bool)]| {
            if !fields.iter().any(|f| f.2) {
                return;
            }
            if item.len() > 1 {
                item.push(b',');
            }
            item.extend_from_slice(name);
            item.push(b'{');
            let mut first = true;
            for (key, value, filled) in fields {
                if *filled {
                    if !first {
                        item.push(b',');
                    }
                    first = false;
                    item.extend_from_slice(key);
                    item.extend_from_slice(value);
                }
            }
            item.push(b'}');
        };
        let [_, uid, provider, info, capacity] = &self.slots;
        let filled = self.filled;
        part(item, b"\"metadata\":", &[(b"\"uid\":", uid, filled[1])]);
        part(
            item,
            b"\"spec\":",
            &[(b"\"providerID\":", provider, filled[2])],
        );
        part(
            item,
            b"\"status\":",
            &[
                (b"\"nodeInfo\":", info, filled[3]),
                (b"\"capacity\":", capacity, filled[4]),
            ],
        );
        item.push(b'}');
        emit(Piece::Item(item))?;
        self.start_item();
        // Give back memory after an unusually large field.
        for slot in &mut self.slots {
            if slot.capacity() > 1 << 20 {
                *slot = Vec::new();
            }
        }
        Ok(())
    }

    /// Whether the whole body was seen.
    pub fn is_complete(&self) -> bool {
        self.root_closed && !self.in_string
    }

    /// Checks that the whole body was seen, and hands out the list's metadata.
    pub fn finish(&mut self, emit: &mut dyn FnMut(Piece<'_>) -> Result<()>) -> Result<()> {
        if !self.is_complete() {
            bail!("the node list ended early (truncated response)");
        }
        if self.filled[Slot::ListMeta as usize] {
            emit(Piece::Metadata(&self.slots[Slot::ListMeta as usize]))?;
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::NodeFacts;

    fn scan_in_chunks(body: &[u8], size: usize) -> Result<(Vec<NodeFacts>, Option<ListMeta>)> {
        let mut scanner = ListScanner::new();
        let mut nodes = Vec::new();
        let mut meta = None;
        let mut emit = |piece: Piece<'_>| -> Result<()> {
            match piece {
                Piece::Item(b) => nodes.push(serde_json::from_slice(b)?),
                Piece::Metadata(b) => meta = Some(serde_json::from_slice(b)?),
            }
            Ok(())
        };
        for chunk in body.chunks(size.max(1)) {
            scanner.feed(chunk, &mut emit)?;
        }
        scanner.finish(&mut emit)?;
        Ok((nodes, meta))
    }

    const LIST: &str = r#" {"kind":"NodeList","apiVersion":"v1",
      "metadata":{"resourceVersion":"42","continue":"eyJ2Ijoi\"x\\y"},
      "items":[
        {"metadata":{"name":"a]}\"{[","uid":"u1","labels":{"items":"[{"}},
         "status":{"images":[{"names":["r/x:1","r/x@sha256:00"]}],"nodeInfo":{"osImage":"Ubuntu \"22\""}}},
        {"metadata":{"uid":"u2"},"spec":{"providerID":"aws:///z/i-1"}},
        {"metadata":{"uid":"u3\u00e9\\"}}
      ],
      "extra":{"items":[{"metadata":{"uid":"not-me"}}]} } "#;

    #[test]
    fn every_chunking_gives_the_same_items_and_metadata() {
        let (whole, meta) = scan_in_chunks(LIST.as_bytes(), LIST.len()).unwrap();
        let uids: Vec<_> = whole
            .iter()
            .map(|n| n.metadata.uid.clone().unwrap())
            .collect();
        assert_eq!(uids, ["u1", "u2", "u3é\\"]);
        assert_eq!(
            whole[0].status.node_info.os_image.as_deref(),
            Some("Ubuntu \"22\"")
        );
        let meta = meta.unwrap();
        assert_eq!(meta.resource_version.as_deref(), Some("42"));
        assert_eq!(meta.continue_token.as_deref(), Some("eyJ2Ijoi\"x\\y"));
        for size in 1..40 {
            let (nodes, m) = scan_in_chunks(LIST.as_bytes(), size).unwrap();
            assert_eq!(nodes, whole, "chunk size {size}");
            assert_eq!(m.as_ref(), Some(&meta), "chunk size {size}");
        }
    }

    #[test]
    fn metadata_after_items_and_empty_lists() {
        let body = br#"{"items":[{"metadata":{"uid":"a"}}],"metadata":{"continue":"t"}}"#;
        let (nodes, meta) = scan_in_chunks(body, 5).unwrap();
        assert_eq!(nodes.len(), 1);
        assert_eq!(meta.unwrap().continue_token.as_deref(), Some("t"));
        for empty in [
            &br#"{"kind":"NodeList","metadata":{},"items":[]}"#[..],
            br#"{"items":null,"metadata":{}}"#,
            br#"{}"#,
        ] {
            let (nodes, _) = scan_in_chunks(empty, 3).unwrap();
            assert!(nodes.is_empty());
        }
    }

    #[test]
    fn truncated_and_malformed_bodies_are_errors() {
        for cut in [1, 10, LIST.len() / 2, LIST.len() - 3] {
            assert!(
                scan_in_chunks(&LIST.as_bytes()[..cut], 7).is_err(),
                "cut at {cut}"
            );
        }
        for bad in [&b"[]"[..], b"\"x\"", b"}", b"{}{}", b"x", b""] {
            assert!(
                scan_in_chunks(bad, 1).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn only_the_four_fields_are_copied_and_only_at_their_place() {
        let body =
            br#"{"items":[{"metadata":{"name":"secret-name","ownerReferences":[{"uid":"WRONG1"}],
            "annotations":{"uid":"WRONG2","metadata":"x"},"uid":"right-uid"},
            "spec":{"providerID":"aws:///z/i-1","taints":[{"key":"providerID"}]},
            "status":{"images":[{"names":["nodeInfo"],"nodeInfo":{"osImage":"WRONG3"}}],
              "capacity":{"cpu":"4","memory":"16Gi"},
              "nodeInfo":{"osImage":"Real OS","machineID":"m"},
              "addresses":[{"type":"InternalIP","address":"10.1.2.3"}]}}]}"#;
        let mut scanner = ListScanner::new();
        let mut items: Vec<String> = Vec::new();
        let mut emit = |p: Piece<'_>| -> Result<()> {
            if let Piece::Item(b) = p {
                items.push(String::from_utf8(b.to_vec()).unwrap());
            }
            Ok(())
        };
        scanner.feed(body, &mut emit).unwrap();
        scanner.finish(&mut emit).unwrap();
        assert_eq!(items.len(), 1);
        let item = &items[0];
        for gone in ["WRONG", "secret-name", "10.1.2.3", "taints", "images"] {
            assert!(!item.contains(gone), "{gone} copied: {item}");
        }
        let facts: NodeFacts = serde_json::from_str(item).unwrap();
        assert_eq!(facts.metadata.uid.as_deref(), Some("right-uid"));
        assert_eq!(facts.spec.provider_id.as_deref(), Some("aws:///z/i-1"));
        assert_eq!(facts.status.node_info.os_image.as_deref(), Some("Real OS"));
        assert_eq!(facts.status.capacity.unwrap()["memory"], "16Gi");
    }

    #[test]
    fn huge_fields_elsewhere_cost_nothing_but_huge_wanted_fields_are_refused() {
        let noise = format!(
            r#"{{"items":[{{"status":{{"images":"{}"}},"metadata":{{"uid":"u"}}}}]}}"#,
            "a".repeat(MAX_ITEM_BYTES + 10)
        );
        let (nodes, _) = scan_in_chunks(noise.as_bytes(), 1 << 16).unwrap();
        assert_eq!(nodes[0].metadata.uid.as_deref(), Some("u"));
        let big = format!(
            r#"{{"items":[{{"status":{{"capacity":{{"x":"{}"}}}}}}]}}"#,
            "a".repeat(MAX_ITEM_BYTES + 10)
        );
        let err = scan_in_chunks(big.as_bytes(), 1 << 16).unwrap_err();
        assert!(err.to_string().contains("larger than"));
    }

    #[test]
    fn null_and_odd_values_are_kept_as_they_are() {
        let body = br#"{"items":[{"metadata":{"uid":null},"spec":{"providerID":"gce://p/z/n" },"status":{"capacity":null}}, {}]}"#;
        let (nodes, _) = scan_in_chunks(body, 3).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[0].metadata.uid, None);
        assert_eq!(nodes[0].spec.provider_id.as_deref(), Some("gce://p/z/n"));
        assert_eq!(nodes[1], NodeFacts::default());
    }
}
