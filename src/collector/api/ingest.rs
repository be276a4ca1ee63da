//! `POST /api/v1`: a report's way in, in four stages, each of which may refuse it with a
//! [`Refusal`]:
//!
//! 1. **preflight**: the headers (media type, encoding, idempotency key, declared length);
//! 2. **receive**: the body, decoded as it arrives into memory paid from the budget as it
//!    arrives (never as declared), at a minimum rate ([`MIN_RATE`]);
//! 3. **check**: a request slot (`--max-requests` bounds the CPU work in progress, not the
//!    uploads), then the report contract ([`crate::contract::check`]), off the async threads;
//! 4. **store**: the writer thread drops duplicates, applies the rate limit and commits.
//!
//! A 2xx is only ever answered once the report is committed.

use super::metrics::Reason;
use super::{Done, State};
use crate::collector::guard::budget::Lease;
use crate::collector::guard::sources::{self, Source};
use crate::collector::http::Peer;
use crate::collector::store::writer::Outcome;
use crate::collector::store::{Incoming, NodeSource};
use crate::contract::limits::idempotency_key;
use crate::contract::{self, Checked, Decoder, Invalid, Json, Node, Stop};
use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, StatusCode};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout, timeout_at};

/// The longest a request waits for a slot, or for room in the memory budget, before it is
/// answered 503.
const WAIT: Duration = Duration::from_secs(5);

/// The slowest a body may arrive: this many bytes (or the rest of a smaller body) in every
/// [`RATE_WINDOW`]. A client that trickles a byte a second holds a connection and a few KiB for
/// seconds, not for the whole request timeout.
pub(crate) const MIN_RATE: usize = 4096;
/// See [`MIN_RATE`].
pub(crate) const RATE_WINDOW: Duration = Duration::from_secs(5);

/// Why a report was not taken, and the answer that says so.
#[derive(Debug)]
pub(crate) struct Refusal {
    /// The `reason` label of `reports_rejected_total`; `None` for the store's own failures,
    /// counted in `store_errors_total` instead.
    reason: Option<Reason>,
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
    /// The body may not have been read: close the connection after answering.
    close: bool,
    /// Says which encodings are understood (with a 415 for the encoding).
    accept_encoding: bool,
}

impl Refusal {
    fn new(reason: Reason, status: StatusCode, message: impl Into<String>) -> Refusal {
        Refusal {
            reason: Some(reason),
            status,
            message: message.into(),
            retry_after: None,
            close: false,
            accept_encoding: false,
        }
    }

    fn retry_after(mut self, secs: u64) -> Refusal {
        self.retry_after = Some(secs);
        self
    }

    fn close(mut self) -> Refusal {
        self.close = true;
        self
    }

    fn overloaded(message: &str) -> Refusal {
        Refusal::new(Reason::Overloaded, StatusCode::SERVICE_UNAVAILABLE, message)
            .retry_after(10)
            .close()
    }

    fn too_large(max: usize) -> Refusal {
        Refusal::new(
            Reason::TooLarge,
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body larger than {} MiB", max >> 20),
        )
        .close()
    }

    /// A body that is not a valid report.
    fn invalid(invalid: Invalid) -> Refusal {
        let (reason, status) = match invalid {
            Invalid::TooLarge => (Reason::TooLarge, StatusCode::PAYLOAD_TOO_LARGE),
            Invalid::BadEncoding(_) => (Reason::BadEncoding, StatusCode::BAD_REQUEST),
            Invalid::Syntax(_) => (Reason::InvalidJson, StatusCode::BAD_REQUEST),
            Invalid::Schema(_) => (Reason::Schema, StatusCode::BAD_REQUEST),
        };
        Refusal::new(reason, status, invalid.to_string())
    }

    fn answer(self, state: &State) -> Done {
        if let Some(reason) = self.reason {
            state.metrics.rejected(reason);
        }
        let mut done = Done::error(self.status, &self.message);
        if let Some(secs) = self.retry_after {
            done = done.header(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.accept_encoding {
            let understood = HeaderValue::from_static("gzip, identity");
            done = done.header(header::ACCEPT_ENCODING, understood);
        }
        if self.close { done.close() } else { done }
    }
}

/// What the headers said.
struct Preflight {
    gzip: bool,
    key: Option<String>,
    length: Option<u64>,
    /// Where the report comes from (in memory only: never logged nor stored).
    source: Option<Source>,
}

/// The answer to a report request.
pub(crate) async fn post_report(state: &Arc<State>, req: Request<Body>, start: Instant) -> Done {
    let mut received = 0;
    let mut cluster = None;
    let outcome = stages(state, req, start, &mut received, &mut cluster).await;
    let mut done = match outcome {
        Ok(done) => done,
        Err(refusal) => refusal.answer(state),
    };
    done.received = received;
    done.cluster = cluster;
    done
}

async fn stages(
    state: &Arc<State>,
    req: Request<Body>,
    start: Instant,
    received: &mut usize,
    cluster: &mut Option<String>,
) -> Result<Done, Refusal> {
    let mut pre = preflight(state, req.headers())?;
    pre.source = req
        .extensions()
        .get::<Peer>()
        .map(|peer| source_of(state, peer.0, req.headers()));
    let deadline = start + state.limits.request_timeout;
    let mut lease = state.budget.lease();
    let json = receive(state, req.into_body(), &pre, deadline, &mut lease).await?;
    *received = json.len();
    let _slot = timeout(WAIT, state.requests.clone().acquire_owned())
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| Refusal::overloaded("too many reports in progress, retry later"))?;
    let (json, checked) = check(json, &mut lease, deadline).await?;
    *cluster = Some(checked.report.cluster_id.clone());
    admit(state, pre.source, &checked.report.cluster_id).await?;
    store(state, json, checked, pre.key, lease).await
}

/// The source a request comes from: its peer, or the client a trusted proxy names.
pub(super) fn source_of(state: &State, peer: std::net::IpAddr, headers: &HeaderMap) -> Source {
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    Source::of(sources::client(
        peer,
        &forwarded,
        &state.limits.trusted_proxies,
    ))
}

/// Stage 3b: a source may bring only so many new clusters an hour. Every report uses its
/// source's allowance; once it is used up, only clusters the store already knows get through
/// (a real cluster's ID is a secret random UUID; made-up ones are new).
async fn admit(state: &State, source: Option<Source>, cluster: &str) -> Result<(), Refusal> {
    let Some(source) = source else {
        return Ok(());
    };
    let Err(wait) = state.sources.take(source, state.clock_ms()) else {
        return Ok(());
    };
    if known(state, cluster).await {
        return Ok(());
    }
    Err(Refusal::new(
        Reason::NewClusters,
        StatusCode::TOO_MANY_REQUESTS,
        "too many new clusters from this address, retry later",
    )
    .retry_after(wait))
}

/// Whether the store holds a report of `cluster`. A store that cannot say lets the report
/// through (the store stage answers for it).
async fn known(state: &State, cluster: &str) -> bool {
    let Some(reader) = state.known.clone() else {
        return false;
    };
    let cluster = cluster.to_string();
    let asked = tokio::task::spawn_blocking(move || {
        let mut reader = reader.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        reader.with(|db| crate::collector::store::read::has_cluster(db, &cluster))
    });
    match timeout(Duration::from_secs(5), asked).await {
        Ok(Ok(Ok(found))) => found,
        _ => true,
    }
}

/// Stage 1: the headers.
fn preflight(state: &State, headers: &HeaderMap) -> Result<Preflight, Refusal> {
    if !headers.get(header::CONTENT_TYPE).is_some_and(is_json) {
        return Err(Refusal::new(
            Reason::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
        .close());
    }
    let Some(gzip) = gzip_encoding(headers) else {
        let mut refusal = Refusal::new(
            Reason::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding must be gzip or identity",
        )
        .close();
        refusal.accept_encoding = true;
        return Err(refusal);
    };
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(idempotency_key(v.as_bytes()).ok_or_else(|| {
            Refusal::new(
                Reason::BadHeader,
                StatusCode::BAD_REQUEST,
                "Idempotency-Key must be 1 to 256 visible ASCII characters",
            )
            .close()
        })?),
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > state.limits.max_body as u64) {
        return Err(Refusal::too_large(state.limits.max_body));
    }
    Ok(Preflight {
        gzip,
        key,
        length,
        source: None,
    })
}

/// Stage 2: receive and decode the body as it arrives, refusing it as soon as it passes the size
/// limit, the deadline or the minimum rate. Every chunk of the decoded JSON is paid for from the
/// memory budget before it is allocated (4 KiB first, doubling to 256 KiB), waiting up to
/// [`WAIT`] for room: what a client declares reserves nothing.
async fn receive(
    state: &State,
    mut body: Body,
    pre: &Preflight,
    deadline: Instant,
    lease: &mut Lease,
) -> Result<Json, Refusal> {
    let mut decoder = Decoder::new(pre.gzip, state.limits.max_body);
    let mut pace = Pace::new(pre.length);
    loop {
        let frame = match timeout_at(deadline.min(pace.window_end), body.frame()).await {
            Err(_) if Instant::now() >= deadline => {
                return Err(Refusal::new(
                    Reason::Timeout,
                    StatusCode::REQUEST_TIMEOUT,
                    "the request body was not received in time",
                )
                .close());
            }
            Err(_) => {
                pace.window_ended()?;
                continue;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return Err(Refusal::new(
                    Reason::InvalidJson,
                    StatusCode::BAD_REQUEST,
                    format!("reading the body failed: {e}"),
                )
                .close());
            }
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pace.arrived(data.len());
        let mut rest = &data[..];
        while !rest.is_empty() {
            match decoder.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(stop) => {
                    more(state, pre.gzip, stop, &mut decoder, lease, deadline).await?;
                    pace.restart(); // time spent waiting for memory is not the client's
                }
            }
        }
    }
    while let Err(stop) = decoder.finish() {
        more(state, pre.gzip, stop, &mut decoder, lease, deadline).await?;
    }
    Ok(decoder.into_json())
}

/// The minimum rate of a body ([`MIN_RATE`] per [`RATE_WINDOW`]).
struct Pace {
    window_end: Instant,
    in_window: usize,
    /// Bytes still to come, when the body declared its length.
    remaining: Option<u64>,
}

impl Pace {
    fn new(length: Option<u64>) -> Pace {
        Pace {
            window_end: Instant::now() + RATE_WINDOW,
            in_window: 0,
            remaining: length,
        }
    }

    fn arrived(&mut self, bytes: usize) {
        self.in_window += bytes;
        self.remaining = self.remaining.map(|r| r.saturating_sub(bytes as u64));
    }

    fn restart(&mut self) {
        self.window_end = Instant::now() + RATE_WINDOW;
        self.in_window = 0;
    }

    /// A window passed: enough arrived in it, or the body is refused.
    fn window_ended(&mut self) -> Result<(), Refusal> {
        let owed = self
            .remaining
            .map_or(MIN_RATE, |r| (r as usize).min(MIN_RATE))
            .max(1);
        if self.in_window < owed {
            return Err(Refusal::new(
                Reason::Timeout,
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body arrived too slowly (less than {MIN_RATE} bytes in {}s)",
                    RATE_WINDOW.as_secs()
                ),
            )
            .close());
        }
        self.restart();
        Ok(())
    }
}

/// Handle a stop of the decoder: room for one more chunk, or the refusal.
async fn more(
    state: &State,
    gzip: bool,
    stop: Stop,
    decoder: &mut Decoder,
    lease: &mut Lease,
    deadline: Instant,
) -> Result<(), Refusal> {
    match stop {
        Stop::NeedMemory => {
            grow(lease, decoder.needed(), deadline).await?;
            decoder.allow(lease.bytes());
            Ok(())
        }
        // As sent: "body larger than"; once decompressed, the decoder's own message.
        Stop::Invalid(Invalid::TooLarge) if !gzip => Err(Refusal::too_large(state.limits.max_body)),
        Stop::Invalid(invalid) => Err(Refusal::invalid(invalid).close()),
    }
}

async fn grow(lease: &mut Lease, bytes: usize, deadline: Instant) -> Result<(), Refusal> {
    let until = deadline.min(Instant::now() + WAIT);
    lease
        .grow(bytes, until)
        .await
        .map_err(|_| Refusal::overloaded("too many large reports in progress, retry later"))
}

/// Stage 3: the contract's check, off the async threads (up to 48 MiB of JSON is CPU work). The
/// node IDs it collects to find duplicates (16 bytes a node, at most 1.6 MB) are paid for first.
async fn check(
    json: Json,
    lease: &mut Lease,
    deadline: Instant,
) -> Result<(Json, Checked), Refusal> {
    let ids = (json.len() / 2).min(contract::limits::MAX_NODES * 16);
    let keep = lease.bytes();
    grow(lease, keep + ids, deadline).await?;
    let checked = tokio::task::spawn_blocking(move || {
        let checked = contract::check(&json);
        (json, checked)
    })
    .await;
    lease.shrink(keep);
    match checked {
        Ok((json, Ok(checked))) => Ok((json, checked)),
        Ok((_, Err(invalid))) => Err(Refusal::invalid(invalid)),
        Err(e) => Err(internal(&format!("checking a report failed: {e}"))),
    }
}

/// A checked report's JSON, from which the store reads the nodes one at a time, and the memory
/// budget it is paid from (given back when this is dropped, once the report is stored).
#[derive(Debug)]
pub(crate) struct Received {
    pub json: Json,
    pub nodes: usize,
    /// Held, not read: dropping it gives the memory back.
    pub(crate) _lease: Option<Lease>,
}

impl NodeSource for Received {
    fn count(&self) -> usize {
        self.nodes
    }

    fn for_each(&self, f: &mut dyn FnMut(usize, Node) -> anyhow::Result<()>) -> anyhow::Result<()> {
        contract::for_each_node(&self.json, f, |e| {
            anyhow::anyhow!("the report changed after it was checked: {e}")
        })
    }
}

/// Stage 4: the writer thread stores it (or finds it a duplicate, or over the rate limit).
async fn store(
    state: &State,
    json: Json,
    checked: Checked,
    key: Option<String>,
    lease: Lease,
) -> Result<Done, Refusal> {
    let Checked {
        report,
        nodes,
        clamps,
    } = checked;
    let incoming = Incoming {
        report,
        received_at: crate::time::now_secs(),
        idempotency_key: key,
        sha256: json.sha256,
        nodes: Box::new(Received {
            json,
            nodes,
            _lease: Some(lease),
        }),
    };
    let stored = timeout(state.limits.request_timeout, state.writer.ingest(incoming)).await;
    let no_content = || Done::new(StatusCode::NO_CONTENT, "", Bytes::new());
    match stored {
        Ok(Ok(Outcome::Stored)) => {
            state.metrics.accepted(nodes);
            state.metrics.clamped(&clamps);
            let mut done = no_content();
            done.clamped = (!clamps.is_empty()).then(|| clamps.to_string());
            Ok(done)
        }
        Ok(Ok(Outcome::Duplicate)) => {
            state.metrics.duplicate();
            let mut done = no_content();
            done.duplicate = true;
            Ok(done)
        }
        Ok(Ok(Outcome::KeyConflict)) => Err(Refusal::new(
            Reason::IdempotencyConflict,
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was already used for a different report",
        )),
        Ok(Ok(Outcome::RateLimited(wait))) => Err(Refusal::new(
            Reason::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            "too many reports from this cluster, retry later",
        )
        .retry_after(wait)),
        // The writers log why (once when the store starts failing, once when it recovers).
        Ok(Err(_)) => Err(store_failed(state, None)),
        Err(_) => Err(store_failed(state, Some("storing a report timed out"))),
    }
}

/// The store could not take the report: 503, and the client retries later.
fn store_failed(state: &State, log: Option<&str>) -> Refusal {
    if let Some(log) = log {
        crate::log::line(log);
    }
    state.metrics.store_error();
    Refusal {
        reason: None,
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the report could not be stored, retry later".into(),
        retry_after: Some(60),
        close: false,
        accept_encoding: false,
    }
}

/// A failure of the collector itself: 500.
fn internal(log: &str) -> Refusal {
    crate::log::line(log);
    Refusal {
        reason: None,
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: "internal error".into(),
        retry_after: None,
        close: false,
        accept_encoding: false,
    }
}

/// `application/json`, any case, parameters allowed.
fn is_json(value: &HeaderValue) -> bool {
    value.to_str().is_ok_and(|v| {
        v.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

/// `Some(true)` for gzip, `Some(false)` for none or identity, `None` for anything else.
fn gzip_encoding(headers: &HeaderMap) -> Option<bool> {
    let mut gzip = false;
    for value in headers.get_all(header::CONTENT_ENCODING) {
        for coding in value.to_str().ok()?.split(',') {
            let coding = coding.trim();
            if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
                continue;
            }
            if (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && !gzip
            {
                gzip = true;
            } else {
                return None;
            }
        }
    }
    Some(gzip)
}

#[cfg(test)]
#[path = "ingest_tests.rs"]
mod tests;
