//! Streaming a `NodeList` response without holding it: a small scanner that cuts the body, as it
//! arrives in chunks, into its `metadata` object and one `items[]` element at a time.
//!
//! A full Node is 10-15 KB of JSON (mostly `status.images`) and a page holds hundreds of them, so
//! decoding pages whole would make memory grow with page size and Node size. The scanner keeps
//! only the element being read; the caller decodes each element into the few fields it needs.
//! Pure: bytes in, callbacks out.

use anyhow::{Result, bail};
use serde::Deserialize;

/// A single Node larger than this is refused (etcd itself stores at most 1.5 MiB per object).
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
    /// One element of `items`, complete.
    Item(&'a [u8]),
    /// The top-level `metadata` object, complete.
    Metadata(&'a [u8]),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Capture {
    None,
    Item,
    Metadata,
}

/// Incremental scanner over one list response body.
#[derive(Debug)]
pub struct ListScanner {
    depth: usize,
    in_string: bool,
    escape: bool,
    /// At depth 1: the next string is a key.
    expect_key: bool,
    reading_key: bool,
    key: Vec<u8>,
    /// Inside the top-level `items` array.
    in_items: bool,
    capture: Capture,
    /// Depth at which the captured value closes.
    capture_depth: usize,
    buf: Vec<u8>,
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
            depth: 0,
            in_string: false,
            escape: false,
            expect_key: false,
            reading_key: false,
            key: Vec::with_capacity(16),
            in_items: false,
            capture: Capture::None,
            capture_depth: 0,
            buf: Vec::new(),
            root_closed: false,
            items: 0,
        }
    }

    /// Items seen so far.
    pub fn items(&self) -> usize {
        self.items
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
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &chunk[i..]) {
                    None => {
                        if self.reading_key {
                            self.key.extend_from_slice(&chunk[i..]);
                        }
                        i = chunk.len();
                    }
                    Some(offset) => {
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
                            self.reading_key = false;
                        }
                        i = at + 1;
                    }
                }
                continue;
            }
            let byte = chunk[i];
            match byte {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 && self.expect_key {
                        self.reading_key = true;
                        self.key.clear();
                    } else if self.depth == 0 {
                        bail!("the node list is not a JSON object");
                    }
                }
                b'{' | b'[' => {
                    if self.root_closed {
                        bail!("unexpected data after the node list");
                    }
                    if self.depth == 0 && byte != b'{' {
                        bail!("the node list is not a JSON object");
                    }
                    if self.depth == 1 && !self.expect_key {
                        if self.key == b"items" && byte == b'[' {
                            self.in_items = true;
                        } else if self.key == b"metadata" && byte == b'{' {
                            self.start_capture(Capture::Metadata);
                            span_start = i;
                        }
                    } else if self.depth == 2 && self.in_items && self.capture == Capture::None {
                        self.start_capture(Capture::Item);
                        span_start = i;
                    }
                    self.depth += 1;
                    if self.depth == 1 {
                        self.expect_key = true;
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        bail!(
                            "the node list is not valid JSON (unbalanced '{}')",
                            byte as char
                        );
                    }
                    self.depth -= 1;
                    if self.capture != Capture::None && self.depth == self.capture_depth {
                        self.end_capture(&chunk[span_start..=i], emit)?;
                    }
                    if self.depth == 1 && self.in_items {
                        self.in_items = false;
                    }
                    if self.depth == 0 {
                        self.root_closed = true;
                    }
                }
                b':' if self.depth == 1 => self.expect_key = false,
                b',' if self.depth == 1 => self.expect_key = true,
                b' ' | b'\n' | b'\r' | b'\t' => {}
                _ if self.depth == 0 => bail!("the node list is not a JSON object"),
                _ => {}
            }
            i += 1;
        }
        if self.capture != Capture::None {
            self.buf.extend_from_slice(&chunk[span_start..]);
            if self.buf.len() > MAX_ITEM_BYTES {
                bail!("a Node object in the list is larger than {MAX_ITEM_BYTES} bytes");
            }
        }
        Ok(())
    }

    fn start_capture(&mut self, what: Capture) {
        self.capture = what;
        self.capture_depth = self.depth;
        self.buf.clear();
    }

    fn end_capture(
        &mut self,
        tail: &[u8],
        emit: &mut dyn FnMut(Piece<'_>) -> Result<()>,
    ) -> Result<()> {
        let what = self.capture;
        self.capture = Capture::None;
        let bytes: &[u8] = if self.buf.is_empty() {
            tail
        } else {
            self.buf.extend_from_slice(tail);
            &self.buf
        };
        if bytes.len() > MAX_ITEM_BYTES {
            bail!("a Node object in the list is larger than {MAX_ITEM_BYTES} bytes");
        }
        match what {
            Capture::Item => {
                self.items += 1;
                emit(Piece::Item(bytes))?;
            }
            Capture::Metadata => emit(Piece::Metadata(bytes))?,
            Capture::None => {}
        }
        self.buf.clear();
        // Give back memory after an unusually large element.
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// Checks that the whole body was seen.
    pub fn finish(&self) -> Result<()> {
        if !self.root_closed || self.in_string {
            bail!("the node list ended early (truncated response)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::NodeFacts;

    fn scan_in_chunks(body: &[u8], size: usize) -> Result<(Vec<NodeFacts>, Option<ListMeta>)> {
        let mut scanner = ListScanner::new();
        let mut nodes = Vec::new();
        let mut meta = None;
        for chunk in body.chunks(size.max(1)) {
            scanner.feed(chunk, &mut |piece| {
                match piece {
                    Piece::Item(b) => nodes.push(serde_json::from_slice(b)?),
                    Piece::Metadata(b) => meta = Some(serde_json::from_slice(b)?),
                }
                Ok(())
            })?;
        }
        scanner.finish()?;
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
    fn oversized_items_are_refused() {
        let big = format!(
            r#"{{"items":[{{"x":"{}"}}]}}"#,
            "a".repeat(MAX_ITEM_BYTES + 10)
        );
        let err = scan_in_chunks(big.as_bytes(), 1 << 16).unwrap_err();
        assert!(err.to_string().contains("larger than"));
    }
}
