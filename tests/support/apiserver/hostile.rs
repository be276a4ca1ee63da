//! Answers no real API server gives: a broken or hostile one, for the reporter's bounds. Each
//! is chosen by [`super::Config::hostile`] and written as the client reads, so the stand-in holds
//! none of it (an endless body costs it nothing).

use super::State;
use super::router::{Action, Target};
use super::status::Reply;
use crate::support::http::Body;
use crate::support::nodes;
use hyper::body::Bytes;

/// A way of misbehaving.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Hostile {
    /// `/version` answers a body that never ends (a `gitVersion` string without an end).
    EndlessVersion,
    /// The first node of the list carries, in a field the reporter skips (`status.images`),
    /// this opening repeated without end: `[`, or `{"a":`.
    EndlessNesting(&'static str),
    /// The node list never ends: every page is full and has a continue token.
    EndlessPages,
    /// The node list never ends, and its pages are empty: each has only a continue token.
    EndlessEmptyPages,
    /// The first page of the node list has a continue token this many bytes long.
    LongContinue(usize),
    /// The node list's metadata, before the items, has a field of this many bytes.
    LargeListMetadata(usize),
    /// Every list answers 403, its `Status.message` made of terminal escapes, bell, NUL and
    /// bidi controls and this many bytes in all.
    NoisyForbidden(usize),
}

impl Hostile {
    /// The names of the stand-in example's `--hostile`.
    pub const NAMES: [&'static str; 8] = [
        "endless-version",
        "endless-brackets",
        "endless-objects",
        "endless-pages",
        "endless-empty-pages",
        "long-continue",
        "large-list-metadata",
        "noisy-forbidden",
    ];

    /// The case named `name` (one of [`Hostile::NAMES`]).
    pub fn named(name: &str) -> Option<Hostile> {
        Some(match name {
            "endless-version" => Hostile::EndlessVersion,
            "endless-brackets" => Hostile::EndlessNesting("["),
            "endless-objects" => Hostile::EndlessNesting("{\"a\":"),
            "endless-pages" => Hostile::EndlessPages,
            "endless-empty-pages" => Hostile::EndlessEmptyPages,
            "long-continue" => Hostile::LongContinue(200 << 10),
            "large-list-metadata" => Hostile::LargeListMetadata(3 << 20),
            "noisy-forbidden" => Hostile::NoisyForbidden(60 << 10),
            _ => return None,
        })
    }
}

/// The hostile answer to `t`, if the configured case concerns it.
pub fn reply(state: &mut State, t: &Target, query: &str) -> Option<Reply> {
    let hostile = state.config.hostile.clone()?;
    let first_page = !query.contains("continue=");
    match (hostile, t.action) {
        (Hostile::EndlessVersion, Action::Version) => Some(endless(
            "{\"major\":\"1\",\"minor\":\"33\",\"gitVersion\":\"v1.33.2",
            b"x",
        )),
        (Hostile::EndlessNesting(open), Action::ListNodes) => {
            let head = format!(
                "{{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{{\"resourceVersion\":\"1\"}},\"items\":[{{\"metadata\":{{\"uid\":\"{}\"}},\"status\":{{\"images\":",
                nodes::node(0).metadata.uid.unwrap_or_default()
            );
            Some(endless(&head, open.as_bytes()))
        }
        (Hostile::LongContinue(bytes), Action::ListNodes) if first_page => {
            let metadata = format!(
                "{{\"resourceVersion\":\"1\",\"continue\":\"{}\"}}",
                "A".repeat(bytes)
            );
            Some(node_page(&metadata, 0..1))
        }
        (Hostile::LargeListMetadata(bytes), Action::ListNodes) => {
            let metadata = format!(
                "{{\"selfLink\":\"{}\",\"resourceVersion\":\"1\"}}",
                "s".repeat(bytes)
            );
            Some(node_page(&metadata, 0..state.config.nodes))
        }
        (hostile @ (Hostile::EndlessPages | Hostile::EndlessEmptyPages), Action::ListNodes) => {
            // A token that only this case reads: the page's number.
            let page: usize = query
                .split('&')
                .find_map(|p| p.strip_prefix("continue=p"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let metadata = format!(
                "{{\"resourceVersion\":\"1\",\"continue\":\"p{}\"}}",
                page + 1
            );
            let per_page = if hostile == Hostile::EndlessPages {
                500
            } else {
                0
            };
            Some(node_page(&metadata, page * per_page..(page + 1) * per_page))
        }
        (Hostile::NoisyForbidden(bytes), Action::ListNodes | Action::List(_)) => {
            let noise = "\u{1b}[2J\u{1b}[31mnodes is forbidden\u{7}\u{0}\u{202e}gnp.exe ";
            let message: String = noise.chars().cycle().take(bytes).collect();
            Some(super::status::status(403, "Forbidden", &message, None))
        }
        _ => None,
    }
}

/// `head`, then `unit` repeated for ever, 64 KiB at a time.
fn endless(head: &str, unit: &[u8]) -> Reply {
    let chunk = Bytes::from(unit.repeat((64 << 10) / unit.len()));
    let body = std::iter::once(Bytes::from(head.to_string())).chain(std::iter::repeat(chunk));
    Reply {
        status: 200,
        content_type: "application/json",
        headers: Vec::new(),
        body: Body::Chunks(Box::new(body)),
    }
}

/// A node list page of the generated nodes `range`, with `metadata` as it is.
fn node_page(metadata: &str, range: std::ops::Range<usize>) -> Reply {
    let head = format!(
        "{{\"kind\":\"NodeList\",\"apiVersion\":\"v1\",\"metadata\":{metadata},\"items\":["
    );
    Reply {
        status: 200,
        content_type: "application/json",
        headers: Vec::new(),
        body: super::paging::body(head, range.start, range.end, 16, nodes::write_item),
    }
}
