//! Paged lists as kube-apiserver serves them from etcd: `limit` and `continue`, one snapshot
//! (resourceVersion) per list, `remainingItemCount`, and continue tokens that expire (410 Gone
//! after a compaction, with a token to go on inconsistently). Bodies are written chunk by chunk
//! as the client reads, so a page of any size is never held whole.

use super::State;
use super::status::{self, Reply};
use crate::support::http::Body;
use crate::support::util::{base64_decode, base64url_encode, query_param};
use hyper::body::Bytes;
use serde_json::{Value, json};

const EXPIRED: &str = "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

/// What a continue token carries: the list's snapshot (-1: the latest, after an expiry), which
/// list and where the next page starts, and the page number.
struct Continue {
    rv: i64,
    list: String,
    offset: usize,
    page: usize,
}

fn encode(c: &Continue) -> String {
    let raw = json!({
        "v": "meta.k8s.io/v1",
        "rv": c.rv,
        "start": format!("{}/{}\u{0}", c.list, c.offset),
        "page": c.page,
    });
    base64url_encode(raw.to_string().as_bytes())
}

fn decode(token: &str) -> Result<Continue, String> {
    let raw = base64_decode(token).ok_or("illegal base64 data at input byte 0")?;
    let value: Value = serde_json::from_slice(&raw).map_err(|e| e.to_string())?;
    if value["v"] != "meta.k8s.io/v1" {
        return Err(format!(
            "server does not recognize this encoded version {}",
            value["v"]
        ));
    }
    let start = value["start"].as_str().unwrap_or("").trim_end_matches('\0');
    let (list, offset) = start.rsplit_once('/').ok_or("no start key")?;
    Ok(Continue {
        rv: value["rv"].as_i64().ok_or("no resource version")?,
        list: list.to_string(),
        offset: offset.parse().map_err(|_| "bad start key")?,
        page: value["page"].as_u64().unwrap_or(0) as usize,
    })
}

/// The part of a list one request returns.
pub struct Page {
    pub start: usize,
    pub end: usize,
    /// The list's `metadata`: resourceVersion, and continue with remainingItemCount when more
    /// follows.
    pub metadata: Value,
}

/// The page of list `list` (a request kind: `nodes`, `pods`...) of `total` items that `query`
/// asks for, or the error a real server gives.
pub fn page(state: &mut State, list: &str, query: &str, total: usize) -> Result<Page, Reply> {
    let limit = query_param(query, "limit")
        .and_then(|l| l.parse::<i64>().ok())
        .filter(|l| *l > 0)
        .map(|l| l as usize);
    let token = query_param(query, "continue").filter(|c| !c.is_empty());
    let (rv, offset, page) = match token {
        None => (state.rv, 0, 0),
        Some(token) => {
            let bad = |why: &str| status::bad_request(&format!("continue key is not valid: {why}"));
            let c = decode(&token).map_err(|e| bad(&e))?;
            if c.list != list {
                return Err(bad("it was issued for another list"));
            }
            expire(state, list, &c)?;
            let rv = if c.rv < 0 { state.rv } else { c.rv as u64 };
            (rv, c.offset, c.page)
        }
    };
    let start = offset.min(total);
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if end < total {
        let next = Continue {
            rv: rv as i64,
            list: list.to_string(),
            offset: end,
            page: page + 1,
        };
        metadata["continue"] = json!(encode(&next));
        metadata["remainingItemCount"] = json!(total - end);
    }
    Ok(Page {
        start,
        end,
        metadata,
    })
}

/// 410 Gone when the token's snapshot was compacted away, or when the configured expiry of this
/// page fires (which compacts: every older token of every list expires with it).
fn expire(state: &mut State, list: &str, c: &Continue) -> Result<(), Reply> {
    let now = state.config.expire_continue.get(list) == Some(&c.page);
    if now {
        state.config.expire_continue.remove(list);
        state.rv += 1;
        state.compacted = state.rv;
    }
    if !now && (c.rv < 0 || c.rv as u64 >= state.compacted) {
        return Ok(());
    }
    let inconsistent = Continue {
        rv: -1,
        list: list.to_string(),
        offset: c.offset,
        page: c.page,
    };
    let metadata = json!({"continue": encode(&inconsistent)});
    Err(status::status_with(410, "Expired", EXPIRED, None, metadata))
}

/// A list body: `head` (up to and including `"items":[`), then items `start..end` written by
/// `write` `per_chunk` at a time as the client reads, then `]}`.
pub fn body<F>(head: String, start: usize, end: usize, per_chunk: usize, write: F) -> Body
where
    F: FnMut(&mut Vec<u8>, usize) + Send + 'static,
{
    Body::Chunks(Box::new(Chunks {
        head: Some(head),
        next: start,
        end,
        per_chunk,
        write,
        done: false,
    }))
}

struct Chunks<F> {
    head: Option<String>,
    next: usize,
    end: usize,
    per_chunk: usize,
    write: F,
    done: bool,
}

impl<F: FnMut(&mut Vec<u8>, usize)> Iterator for Chunks<F> {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        let mut out = Vec::with_capacity(256 * 1024);
        let first = self
            .head
            .take()
            .inspect(|head| out.extend_from_slice(head.as_bytes()));
        let stop = self.end.min(self.next + self.per_chunk);
        while self.next < stop {
            if !(first.is_some() && out.ends_with(b"[")) {
                out.push(b',');
            }
            (self.write)(&mut out, self.next);
            self.next += 1;
        }
        if self.next >= self.end {
            out.extend_from_slice(b"]}");
            self.done = true;
        }
        Some(Bytes::from(out))
    }
}
