//! The HTTP/1.1 server: routing, the report endpoint's checks in order, limits, and graceful
//! shutdown. Client addresses are dropped at `accept` and never reach a log or the store.

use super::budget::{self, Budget, Lease};
use super::metrics::{Metrics, Reason};
use super::store::{Db, Incoming, Received};
use super::wire::{self, Invalid};
use super::writer::{self, Outcome};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::{Instant, timeout, timeout_at};

/// The report endpoint, as the original collector had it.
pub const REPORT_PATH: &str = "/api/v1";

/// Limits and timeouts, validated from the flags.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time for a request's headers (and for an idle keep-alive connection's next request).
    pub header_timeout: Duration,
    /// Time to receive a report's body; the same again to store it.
    pub request_timeout: Duration,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Report requests handled at once.
    pub max_requests: usize,
    /// Bytes of received reports held at once, by all requests together (see [`budget`]).
    pub memory_budget: usize,
    /// Largest body as sent, and largest decompressed report.
    pub max_body: usize,
}

/// What every request handler shares.
pub struct State {
    pub limits: Limits,
    pub metrics: Metrics,
    pub writer: writer::Handle,
    /// A read-only connection for `/readyz` (SQLite stores only).
    pub reader: Option<Arc<Mutex<Db>>>,
    pub budget: Budget,
    requests: Arc<Semaphore>,
}

impl State {
    pub fn new(limits: Limits, writer: writer::Handle, reader: Option<Db>) -> State {
        State {
            requests: Arc::new(Semaphore::new(limits.max_requests)),
            budget: Budget::new(limits.memory_budget),
            limits,
            metrics: Metrics::default(),
            writer,
            reader: reader.map(|db| Arc::new(Mutex::new(db))),
        }
    }
}

/// Serve until `shutdown` resolves, then stop accepting, let in-flight requests finish (each is
/// bounded by its own timeouts) and return.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let max = state.limits.max_connections;
    let connections = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = connections.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                // The peer address is dropped here: it is never logged nor stored.
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    log(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(stream, state.clone(), stop_rx.clone(), permit));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = max - connections.available_permits();
    if open > 0 {
        log(&format!(
            "shutting down: waiting for {open} open connection(s)"
        ));
    }
    // Every connection ends within its request's timeouts once told to stop.
    let grace = state.limits.request_timeout * 2 + state.limits.header_timeout;
    if timeout(grace, connections.acquire_many(max as u32))
        .await
        .is_err()
    {
        log("shutting down: gave up waiting for connections");
    }
    Ok(())
}

async fn connection(
    stream: TcpStream,
    state: Arc<State>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let header_timeout = state.limits.header_timeout;
    let service = service_fn(move |req| handle(state.clone(), req));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // Errors here are the client's (timeouts, resets, bad requests): nothing to report.
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.as_mut().await;
        }
    }
}

/// A response on its way out, with what the access log line needs.
struct Done {
    response: Response<Full<Bytes>>,
    received: usize,
    cluster: Option<String>,
    /// A report answered 204 without being stored again.
    duplicate: bool,
}

impl Done {
    fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Done {
        let mut response = Response::new(Full::new(body.into()));
        *response.status_mut() = status;
        if status != StatusCode::NO_CONTENT {
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        Done {
            response,
            received: 0,
            cluster: None,
            duplicate: false,
        }
    }

    fn text(status: StatusCode, body: impl Into<Bytes>) -> Done {
        Done::new(status, "text/plain; charset=utf-8", body)
    }

    /// `{"error": "..."}`.
    fn error(status: StatusCode, message: &str) -> Done {
        let body = serde_json::json!({ "error": message }).to_string();
        Done::new(status, "application/json", body)
    }

    fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Done {
        self.response.headers_mut().insert(name, value);
        self
    }

    /// Close the connection after this response (the body may not have been read).
    fn close(self) -> Done {
        self.header(header::CONNECTION, HeaderValue::from_static("close"))
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let start = Instant::now();
    let _in_flight = state.metrics.start();
    let method = req.method().clone();
    let path = printable(req.uri().path(), 64);
    let done = route(&state, req, start).await;
    let status = done.response.status();
    let elapsed = start.elapsed();
    state.metrics.finished(status.as_u16(), elapsed);
    let cluster = done
        .cluster
        .as_deref()
        .map(|c| format!(" cluster={c:?}"))
        .unwrap_or_default();
    log(&format!(
        "{} {} {} in={}B {}ms{}{}",
        printable(method.as_str(), 16),
        path,
        status.as_u16(),
        done.received,
        elapsed.as_millis(),
        cluster,
        if done.duplicate { " duplicate" } else { "" }
    ));
    Ok(done.response)
}

async fn route(state: &Arc<State>, req: Request<Body>, start: Instant) -> Done {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match req.uri().path() {
        REPORT_PATH if req.method() == Method::POST => post_report(state, req, start).await,
        REPORT_PATH => Done::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
            .header(header::ALLOW, HeaderValue::from_static("POST")),
        "/healthz" if read => Done::text(StatusCode::OK, "ok\n"),
        "/readyz" if read => {
            if ready(state).await {
                Done::text(StatusCode::OK, "ok\n")
            } else {
                Done::text(StatusCode::SERVICE_UNAVAILABLE, "store not answering\n")
            }
        }
        "/version" if read => {
            Done::text(StatusCode::OK, format!("{}\n", env!("CARGO_PKG_VERSION")))
        }
        "/metrics" if read => Done::new(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics_text(state),
        ),
        "/healthz" | "/readyz" | "/version" | "/metrics" => {
            Done::error(StatusCode::METHOD_NOT_ALLOWED, "use GET")
                .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
        }
        _ => Done::error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The counters, and the memory budget's gauges.
fn metrics_text(state: &State) -> String {
    let mut text = state.metrics.render();
    let p = super::metrics::PREFIX;
    for (name, help, value) in [
        (
            "memory_budget_bytes",
            "Bytes of received reports the collector may hold at once (--memory-budget).",
            state.budget.bytes(),
        ),
        (
            "memory_in_use_bytes",
            "Bytes of the memory budget held by reports being received, checked or stored.",
            state.budget.in_use(),
        ),
    ] {
        text.push_str(&format!(
            "# HELP {p}_{name} {help}\n# TYPE {p}_{name} gauge\n{p}_{name} {value}\n"
        ));
    }
    text
}

/// The store answers a query, and the writer thread runs.
async fn ready(state: &State) -> bool {
    if !state.writer.alive() {
        return false;
    }
    let Some(reader) = state.reader.clone() else {
        return true;
    };
    let ping = tokio::task::spawn_blocking(move || match reader.lock() {
        Ok(db) => db.ping().is_ok(),
        Err(_) => false,
    });
    matches!(timeout(Duration::from_secs(2), ping).await, Ok(Ok(true)))
}

fn reject(state: &State, reason: Reason, status: StatusCode, message: &str) -> Done {
    state.metrics.rejected(reason);
    Done::error(status, message)
}

async fn post_report(state: &Arc<State>, req: Request<Body>, start: Instant) -> Done {
    let limits = &state.limits;
    let headers = req.headers();
    if !headers.get(header::CONTENT_TYPE).is_some_and(is_json) {
        return reject(
            state,
            Reason::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/json",
        )
        .close();
    }
    let Some(gzip) = gzip_encoding(headers) else {
        return reject(
            state,
            Reason::UnsupportedMediaType,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Encoding must be gzip or identity",
        )
        .header(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, identity"),
        )
        .close();
    };
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => match wire::idempotency_key(v.as_bytes()) {
            Some(k) => Some(k),
            None => {
                return reject(
                    state,
                    Reason::BadHeader,
                    StatusCode::BAD_REQUEST,
                    "Idempotency-Key must be 1 to 256 visible ASCII characters",
                )
                .close();
            }
        },
    };
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|n| n > limits.max_body as u64) {
        return too_large(state, limits.max_body).close();
    }

    // Bound the work in progress (decoders, parses): wait a little for a slot, else ask to retry.
    // Memory is bounded by the budget, below.
    let _slot = match timeout(
        Duration::from_secs(5),
        state.requests.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(slot)) => slot,
        _ => {
            return reject(
                state,
                Reason::Overloaded,
                StatusCode::SERVICE_UNAVAILABLE,
                "too many reports in progress, retry later",
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("10"))
            .close();
        }
    };

    let deadline = start + limits.request_timeout;
    let mut lease = state.budget.lease();
    let json = match receive(state, req.into_body(), gzip, length, deadline, &mut lease).await {
        Ok(json) => json,
        Err(BodyError::TooLarge) => return too_large(state, limits.max_body).close(),
        Err(BodyError::Timeout) => {
            return reject(
                state,
                Reason::Timeout,
                StatusCode::REQUEST_TIMEOUT,
                "the request body was not received in time",
            )
            .close();
        }
        Err(BodyError::Broken(e)) => {
            return reject(
                state,
                Reason::InvalidJson,
                StatusCode::BAD_REQUEST,
                &format!("reading the body failed: {e}"),
            )
            .close();
        }
        Err(BodyError::Invalid(invalid)) => return refuse(state, invalid).close(),
        Err(BodyError::NoMemory) => {
            return reject(
                state,
                Reason::Overloaded,
                StatusCode::SERVICE_UNAVAILABLE,
                "too many large reports in progress, retry later",
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("10"))
            .close();
        }
    };
    let received = json.len();
    // Checking up to 48 MiB of JSON is CPU work: keep it off the async thread. The check keeps
    // no node; they are read again from the JSON, one at a time, while being stored.
    let checked = tokio::task::spawn_blocking(move || {
        let header = wire::check(&json);
        (json, header)
    })
    .await;
    let (json, header) = match checked {
        Ok((json, Ok(header))) => (json, header),
        Ok((_, Err(invalid))) => {
            let mut done = refuse(state, invalid);
            done.received = received;
            return done;
        }
        Err(e) => {
            log(&format!("checking a report failed: {e}"));
            state.metrics.store_error();
            return Done::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let report = header.report;
    let sha256 = json.sha256;
    let body = Received {
        json,
        nodes: header.nodes,
        lease: Some(lease),
    };

    let cluster = report.cluster_id.clone();
    let nodes = body.nodes;
    let incoming = Incoming {
        report,
        body: Some(body),
        received_at: super::now_secs(),
        idempotency_key: key,
        sha256,
    };
    let outcome = timeout(limits.request_timeout, state.writer.ingest(incoming)).await;
    let mut done = match outcome {
        Ok(Ok(Outcome::Stored)) => {
            state.metrics.accepted(nodes);
            Done::new(StatusCode::NO_CONTENT, "", Bytes::new())
        }
        Ok(Ok(Outcome::Duplicate)) => {
            state.metrics.duplicate();
            let mut done = Done::new(StatusCode::NO_CONTENT, "", Bytes::new());
            done.duplicate = true;
            done
        }
        Ok(Ok(Outcome::KeyConflict)) => reject(
            state,
            Reason::IdempotencyConflict,
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was already used for a different report",
        ),
        Ok(Ok(Outcome::RateLimited(wait))) => reject(
            state,
            Reason::RateLimited,
            StatusCode::TOO_MANY_REQUESTS,
            "too many reports from this cluster, retry later",
        )
        .header(header::RETRY_AFTER, HeaderValue::from(wait)),
        Ok(Err(e)) => {
            log(&format!("storing a report failed: {e:#}"));
            state.metrics.store_error();
            Done::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the report could not be stored, retry later",
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("60"))
        }
        Err(_) => {
            log("storing a report timed out");
            state.metrics.store_error();
            Done::error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is slow, retry later",
            )
            .header(header::RETRY_AFTER, HeaderValue::from_static("60"))
        }
    };
    done.received = received;
    done.cluster = Some(cluster);
    done
}

fn too_large(state: &State, max: usize) -> Done {
    reject(
        state,
        Reason::TooLarge,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("body larger than {} MiB", max / (1024 * 1024)),
    )
}

enum BodyError {
    TooLarge,
    Timeout,
    Broken(String),
    Invalid(Invalid),
    /// The memory budget had no room in time.
    NoMemory,
}

/// The longest a request waits for room in the memory budget before it is answered 503.
const BUDGET_WAIT: Duration = Duration::from_secs(5);

/// Receive and decode the body as it arrives, refusing it as soon as it passes the size limit
/// or the deadline. Every chunk of the decoded JSON is paid for from the memory budget first:
/// a body with a Content-Length reserves what it will need up front (a gzip body ten times its
/// length), then grows chunk by chunk, waiting up to [`BUDGET_WAIT`] for room.
async fn receive(
    state: &State,
    mut body: Body,
    gzip: bool,
    length: Option<u64>,
    deadline: Instant,
    lease: &mut Lease,
) -> Result<wire::Json, BodyError> {
    let max = state.limits.max_body;
    let mut decoder = wire::Decoder::new(gzip, max);
    let expected = length.map_or(0, |n| {
        let n = usize::try_from(n).unwrap_or(max);
        if gzip { n.saturating_mul(10) } else { n }.min(max)
    });
    grow(lease, budget::chunks_for(expected), deadline).await?;
    decoder.allow(lease.chunks());
    loop {
        let frame = match timeout_at(deadline, body.frame()).await {
            Err(_) => return Err(BodyError::Timeout),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(BodyError::Broken(e.to_string())),
            Ok(Some(Ok(frame))) => frame,
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let mut rest = &data[..];
        while !rest.is_empty() {
            match decoder.write(rest) {
                Ok(n) => rest = &rest[n..],
                Err(stop) => more(gzip, stop, &mut decoder, lease, deadline).await?,
            }
        }
    }
    loop {
        match decoder.finish() {
            Ok(()) => break,
            Err(stop) => more(gzip, stop, &mut decoder, lease, deadline).await?,
        }
    }
    let json = decoder.into_json();
    // Give back what a generous estimate reserved and the JSON does not use.
    lease.shrink(budget::chunks_for(json.allocated()));
    Ok(json)
}

/// Handle a stop of the decoder: one more chunk of budget, or the refusal.
async fn more(
    gzip: bool,
    stop: wire::Stop,
    decoder: &mut wire::Decoder,
    lease: &mut Lease,
    deadline: Instant,
) -> Result<(), BodyError> {
    match stop {
        wire::Stop::NeedMemory => {
            grow(lease, decoder.allocated_chunks() + 1, deadline).await?;
            decoder.allow(lease.chunks());
            Ok(())
        }
        // As sent: "body larger than"; once decompressed, the decoder's own message.
        wire::Stop::Invalid(Invalid::TooLarge) if !gzip => Err(BodyError::TooLarge),
        wire::Stop::Invalid(invalid) => Err(BodyError::Invalid(invalid)),
    }
}

async fn grow(lease: &mut Lease, chunks: usize, deadline: Instant) -> Result<(), BodyError> {
    let until = deadline.min(Instant::now() + BUDGET_WAIT);
    lease
        .grow(chunks, until)
        .await
        .map_err(|_| BodyError::NoMemory)
}

/// The answer to a body that is not a valid report.
fn refuse(state: &State, invalid: Invalid) -> Done {
    let (reason, status) = match invalid {
        Invalid::TooLarge => (Reason::TooLarge, StatusCode::PAYLOAD_TOO_LARGE),
        Invalid::BadEncoding(_) => (Reason::BadEncoding, StatusCode::BAD_REQUEST),
        Invalid::Syntax(_) => (Reason::InvalidJson, StatusCode::BAD_REQUEST),
        Invalid::Schema(_) => (Reason::Schema, StatusCode::BAD_REQUEST),
    };
    reject(state, reason, status, &invalid.to_string())
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

/// Text from the client, made safe for one log line.
fn printable(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push_str("...");
    }
    out
}

/// One line on stderr, with the time.
pub fn log(line: &str) {
    eprintln!("{} {line}", super::rfc3339(super::now_secs()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_encodings() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            " application/json ;charset=UTF-8",
        ] {
            assert!(is_json(&HeaderValue::from_static(ok)), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
            "",
        ] {
            assert!(!is_json(&HeaderValue::from_static(bad)), "{bad}");
        }
        let enc = |values: &[&'static str]| {
            let mut h = HeaderMap::new();
            for v in values {
                h.append(header::CONTENT_ENCODING, HeaderValue::from_static(v));
            }
            gzip_encoding(&h)
        };
        assert_eq!(enc(&[]), Some(false));
        assert_eq!(enc(&["identity"]), Some(false));
        assert_eq!(enc(&["gzip"]), Some(true));
        assert_eq!(enc(&["GZip"]), Some(true));
        assert_eq!(enc(&["x-gzip"]), Some(true));
        assert_eq!(enc(&["identity, gzip"]), Some(true));
        assert_eq!(enc(&["br"]), None);
        assert_eq!(enc(&["deflate"]), None);
        assert_eq!(enc(&["gzip", "gzip"]), None, "twice compressed");
    }

    #[test]
    fn log_text_is_one_safe_line() {
        assert_eq!(printable("/api/v1", 64), "/api/v1");
        assert_eq!(printable("/a\nb\x1b", 64), "/a?b?");
        assert_eq!(
            printable(&"x".repeat(70), 64),
            format!("{}...", "x".repeat(64))
        );
    }
}
