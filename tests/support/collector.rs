//! A stand-in report collector: HTTP/1.1 (or HTTPS with a test CA) on 127.0.0.1 that records
//! every request and answers from a script.
//!
//! With [`CollectorConfig::reject_gzip`] it behaves like the original Go collector, which knows
//! nothing of `Content-Encoding`: 415 unless the media type is exactly `application/json`, and
//! 400 `Error: failed to decode record: ...` unless the raw body is a JSON object.

use super::http::{Body, CloseConnection, Server, read_body};
use super::tls::TestCa;
use super::util::gunzip;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

/// How to fill in a `Retry-After` header when answering.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RetryAfter {
    Seconds(u64),
    /// An HTTP date this far in the future, computed when the answer is sent.
    DateIn(Duration),
}

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        retry_after: Option<RetryAfter>,
    },
    /// Read the request, then never answer (until the collector is dropped).
    Hang,
    /// Read the request, then close the connection without answering.
    Close,
}

impl Reply {
    /// A response with this status, no headers and no body.
    pub fn status(status: u16) -> Reply {
        Reply::Respond {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            retry_after: None,
        }
    }

    /// 204 No Content, what the original collector answers on success.
    pub fn no_content() -> Reply {
        Reply::status(204)
    }

    pub fn hang() -> Reply {
        Reply::Hang
    }

    pub fn close() -> Reply {
        Reply::Close
    }

    /// Adds a header (no effect on `Hang`/`Close`).
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        if let Reply::Respond { headers, .. } = &mut self {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Sets the body (no effect on `Hang`/`Close`).
    pub fn body(mut self, text: impl Into<Vec<u8>>) -> Reply {
        if let Reply::Respond { body, .. } = &mut self {
            *body = text.into();
        }
        self
    }

    /// `Retry-After: <seconds>`.
    pub fn retry_after_secs(self, seconds: u64) -> Reply {
        self.retry_after(RetryAfter::Seconds(seconds))
    }

    /// `Retry-After: <HTTP date>`, `after` from the moment of answering.
    pub fn retry_after_date_in(self, after: Duration) -> Reply {
        self.retry_after(RetryAfter::DateIn(after))
    }

    pub fn retry_after(mut self, value: RetryAfter) -> Reply {
        if let Reply::Respond { retry_after, .. } = &mut self {
            *retry_after = Some(value);
        }
        self
    }
}

/// How the collector behaves.
#[derive(Clone, Debug)]
pub struct CollectorConfig {
    /// Answers for the first requests, in order.
    pub script: Vec<Reply>,
    /// The answer once the script has run out.
    pub default: Reply,
    /// Behave like the original Go collector (see the module documentation). Requests it
    /// rejects do not use up a scripted answer.
    pub reject_gzip: bool,
    /// Serve HTTPS with a certificate from a fresh test CA (see [`Collector::ca_pem`]).
    pub tls: bool,
}

impl Default for CollectorConfig {
    fn default() -> CollectorConfig {
        CollectorConfig {
            script: Vec::new(),
            default: Reply::no_content(),
            reject_gzip: false,
            tls: false,
        }
    }
}

/// One request as the collector received it.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    /// Path with the query string.
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body bytes as they arrived.
    pub raw: Vec<u8>,
    /// The body after `Content-Encoding: gzip` was undone (the raw bytes otherwise, or when
    /// decoding failed).
    pub body: Vec<u8>,
    /// Why gunzipping failed, if it did.
    pub decode_error: Option<String>,
    /// The status answered; 0 for `Hang` and `Close`.
    pub status: u16,
    /// When the request had been read.
    pub at: Instant,
}

impl Received {
    /// The first header of this name (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body was sent gzip-compressed.
    pub fn is_gzip(&self) -> bool {
        self.header("content-encoding")
            .is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"))
    }

    /// The decoded body as UTF-8 text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The decoded body as JSON. Panics if it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    /// The decoded body as a report. Panics if it is not one.
    pub fn report(&self) -> spartakus::contract::Report {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not a report ({e}): {}", self.text()))
    }
}

struct State {
    script: VecDeque<Reply>,
    default: Reply,
    reject_gzip: bool,
    received: Vec<Received>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The running collector. Stops (and drops hung connections) when dropped.
pub struct Collector {
    state: Arc<Mutex<State>>,
    ca: Option<TestCa>,
    server: Server,
}

impl Collector {
    pub fn start(config: CollectorConfig) -> Collector {
        let ca = config.tls.then(|| TestCa::new("stand-in collector"));
        Collector::start_with_tls(config, ca)
    }

    /// A collector serving HTTPS with `ca`'s server certificate (plain HTTP if `None`).
    pub fn start_with_tls(config: CollectorConfig, ca: Option<TestCa>) -> Collector {
        let state = Arc::new(Mutex::new(State {
            script: config.script.into(),
            default: config.default,
            reject_gzip: config.reject_gzip,
            received: Vec::new(),
        }));
        let tls = ca.as_ref().map(TestCa::server_config);
        let for_handler = state.clone();
        let server = Server::start("stand-in-collector", tls, move |req| {
            handle(for_handler.clone(), req)
        });
        Collector { state, ca, server }
    }

    /// Plain HTTP, answering 204 to everything.
    pub fn new() -> Collector {
        Collector::start(CollectorConfig::default())
    }

    /// Plain HTTP, answering from `script`, then 204.
    pub fn with_script(script: Vec<Reply>) -> Collector {
        Collector::start(CollectorConfig {
            script,
            ..CollectorConfig::default()
        })
    }

    /// `http://127.0.0.1:PORT` (or `https://`).
    pub fn base_url(&self) -> String {
        let scheme = if self.ca.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.server.port())
    }

    /// The endpoint reports are posted to: the original collector's path, `/api/v1`.
    pub fn url(&self) -> String {
        format!("{}/api/v1", self.base_url())
    }

    pub fn port(&self) -> u16 {
        self.server.port()
    }

    /// The CA certificate of an HTTPS collector, PEM.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca.as_ref().map(TestCa::ca_pem)
    }

    /// Writes the CA certificate of an HTTPS collector (for `--ca-file`). Panics if plain HTTP.
    pub fn write_ca(&self, path: &Path) {
        self.ca
            .as_ref()
            .expect("an HTTPS collector (CollectorConfig::tls)")
            .write_ca_pem(path);
    }

    /// Appends answers to the script.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        lock(&self.state).script.extend(replies);
    }

    /// Changes the answer given once the script has run out.
    pub fn set_default(&self, reply: Reply) {
        lock(&self.state).default = reply;
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    pub fn request_count(&self) -> usize {
        lock(&self.state).received.len()
    }
}

impl Default for Collector {
    fn default() -> Collector {
        Collector::new()
    }
}

/// A URL on 127.0.0.1 where nothing listens, for "connection refused".
pub fn refused_url() -> String {
    format!("http://127.0.0.1:{}/api/v1", super::http::refused_port())
}

/// A port on 127.0.0.1 where nothing listens, for "connection refused".
pub fn refused_port() -> u16 {
    super::http::refused_port()
}

/// The original collector's checks: `Some(answer)` when it would reject the request.
fn original_collector_rejects(
    method: &str,
    content_type: Option<&str>,
    raw: &[u8],
) -> Option<Reply> {
    if !matches!(method, "POST" | "PUT" | "PATCH") {
        return None;
    }
    let content_type = content_type.unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("");
    if media_type != "application/json" {
        return Some(
            Reply::status(415)
                .header("content-type", "text/plain; charset=utf-8")
                .header("x-content-type-options", "nosniff")
                .body(format!(
                    "Unsupported content type {content_type:?}; expected one of [\"application/json\"]\n"
                )),
        );
    }
    let error = match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(value) if value.is_object() => return None,
        Ok(_) => {
            "json: cannot unmarshal non-object into Go value of type report.Record".to_string()
        }
        Err(_)
            if raw
                .first()
                .is_some_and(|b| !b.is_ascii_graphic() && !b.is_ascii_whitespace()) =>
        {
            format!(
                "invalid character '\\x{:02x}' looking for beginning of value",
                raw[0]
            )
        }
        Err(e) => e.to_string(),
    };
    Some(
        Reply::status(400)
            .header("content-type", "text/plain; charset=utf-8")
            .body(format!("Error: failed to decode record: {error}")),
    )
}

/// The request, recorded: its body read whole, and gunzipped when it says it is gzip.
async fn receive(req: Request<Incoming>) -> Received {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let raw = read_body(req.into_body()).await;
    let mut received = Received {
        method,
        path,
        headers,
        body: Vec::new(),
        raw,
        decode_error: None,
        status: 0,
        at: Instant::now(),
    };
    if received.is_gzip() {
        match gunzip(&received.raw) {
            Ok(body) => received.body = body,
            Err(e) => {
                received.body = received.raw.clone();
                received.decode_error = Some(e);
            }
        }
    } else {
        received.body = received.raw.clone();
    }
    received
}

async fn handle(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Body>, CloseConnection> {
    let mut received = receive(req).await;
    let reply = {
        let mut state = lock(&state);
        let rejected = if state.reject_gzip {
            original_collector_rejects(
                &received.method,
                received.header("content-type"),
                &received.raw,
            )
        } else {
            None
        };
        let reply = match rejected {
            Some(reply) => reply,
            None => {
                let default = state.default.clone();
                state.script.pop_front().unwrap_or(default)
            }
        };
        if let Reply::Respond { status, .. } = &reply {
            received.status = *status;
        }
        state.received.push(received);
        reply
    };

    match reply {
        Reply::Hang => std::future::pending().await,
        Reply::Close => Err(CloseConnection),
        Reply::Respond {
            status,
            headers,
            body,
            retry_after,
        } => {
            let mut response = Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
            for (name, value) in headers {
                response = response.header(name, value);
            }
            if let Some(retry_after) = retry_after {
                let value = match retry_after {
                    RetryAfter::Seconds(s) => s.to_string(),
                    RetryAfter::DateIn(after) => httpdate::fmt_http_date(SystemTime::now() + after),
                };
                response = response.header("retry-after", value);
            }
            Ok(response.body(Body::bytes(body)).expect("response"))
        }
    }
}
