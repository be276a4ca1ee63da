//! The HTTP/1.1 server: connections, routing, the access log, and graceful shutdown. The report
//! endpoint itself is [`super::ingest`]. A client's address goes with its requests ([`Peer`]),
//! in memory only, for the per-source limit ([`super::sources`]); it never reaches a log, a
//! metric or the store.

use super::budget::Budget;
use super::metrics::Metrics;
use super::writer;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderValue};
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
use tokio::time::{Instant, timeout};

/// The report endpoint, as the original collector had it.
pub const REPORT_PATH: &str = "/api/v1";

/// Paths asked often by machines (probes, scrapes): logged only when they fail, unless
/// `--log-probes`.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

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
    /// Log successful probes and scrapes (`/healthz`, `/readyz`, `/metrics`) too.
    pub log_probes: bool,
    /// New cluster IDs one source may bring per hour (0: no limit).
    pub new_clusters_per_source: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<super::sources::Cidr>,
}

/// What every request handler shares.
pub struct State {
    pub limits: Limits,
    pub metrics: Metrics,
    pub writer: writer::Handle,
    pub budget: Budget,
    /// Report requests handled at once (`--max-requests`).
    pub requests: Arc<Semaphore>,
    /// New clusters per source, in memory only.
    pub sources: Mutex<super::sources::Sources>,
    /// A read connection to the store, to tell a known cluster from a new one (none for
    /// `stdout`, where every cluster is new).
    pub known: Option<Arc<Mutex<super::store::Reader>>>,
    /// The clock of the in-memory limits.
    pub started: Instant,
    /// Requests to forget a cluster, per source.
    pub forgets: super::forget::Sources,
    /// The fleet's gauges on /metrics, made from `known`'s connection.
    pub fleet: super::gauges::FleetGauges,
}

impl State {
    /// `budget` is the one made of `limits.memory_budget` (the stdout store pays from it too);
    /// `known` a read connection to the store, if it keeps reports.
    pub fn new(
        limits: Limits,
        writer: writer::Handle,
        budget: Budget,
        known: Option<super::store::Reader>,
    ) -> State {
        State {
            requests: Arc::new(Semaphore::new(limits.max_requests)),
            sources: Mutex::new(super::sources::Sources::new(limits.new_clusters_per_source)),
            known: known.map(|r| Arc::new(Mutex::new(r))),
            started: Instant::now(),
            budget,
            limits,
            metrics: Metrics::default(),
            writer,
            forgets: super::forget::Sources::default(),
            fleet: super::gauges::FleetGauges::default(),
        }
    }
}

/// When to stop.
pub struct Shutdown<A, B> {
    /// Stop accepting and let the requests in flight finish.
    pub drain: A,
    /// Stop at once, even while draining (a second signal).
    pub now: B,
    /// The longest a drain may take.
    pub grace: Duration,
}

/// An answer on its way out.
pub type Answer = std::pin::Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// What a server serves: the collector ([`State`]), or the dashboard.
pub trait App: Send + Sync + 'static {
    /// Open connections at most, and the header timeout (also the idle and unread limit).
    fn connections(&self) -> (usize, Duration);
    /// The answer to one request (its [`Peer`] attached).
    fn answer(self: Arc<Self>, req: Request<Body>) -> Answer;
    /// A connection was closed because its client did not read the responses.
    fn unread(&self) {}
}

impl App for State {
    fn connections(&self) -> (usize, Duration) {
        (self.limits.max_connections, self.limits.header_timeout)
    }

    fn answer(self: Arc<Self>, req: Request<Body>) -> Answer {
        Box::pin(async move {
            match handle(self, req).await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    }

    fn unread(&self) {
        self.metrics.unread();
    }
}

/// Serve until `shutdown.drain` resolves, then stop accepting and give the requests in flight
/// up to `shutdown.grace` to finish (less if `shutdown.now` resolves), and return.
pub async fn serve<S, A, B>(
    listener: TcpListener,
    state: Arc<S>,
    shutdown: Shutdown<A, B>,
) -> anyhow::Result<()>
where
    S: App,
    A: Future<Output = ()>,
    B: Future<Output = ()>,
{
    let Shutdown { drain, now, grace } = shutdown;
    let shutdown = drain;
    let max = state.connections().0;
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
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                // The peer address stays in memory with its requests: never logged nor stored.
                Ok((stream, peer)) => (stream, peer.ip()),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    crate::log::line(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        tokio::spawn(connection(
            stream,
            peer,
            state.clone(),
            stop_rx.clone(),
            permit,
        ));
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let open = max - connections.available_permits();
    if open > 0 {
        crate::log::line(&format!(
            "shutting down: waiting for {open} open connection(s)"
        ));
    }
    let all_closed = timeout(grace, connections.acquire_many(max as u32));
    tokio::select! {
        closed = all_closed => if closed.is_err() {
            let open = max - connections.available_permits();
            crate::log::line(&format!("shutting down: {open} connection(s) still open after the {}s grace period; closing them", grace.as_secs()));
        },
        () = now => crate::log::line("second signal: stopping at once"),
    }
    Ok(())
}

/// The address a connection comes from, attached to each of its requests.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub std::net::IpAddr);

async fn connection<S: App>(
    stream: TcpStream,
    peer: std::net::IpAddr,
    state: Arc<S>,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let header_timeout = state.connections().1;
    let app = state.clone();
    let service = service_fn(move |mut req: Request<Body>| {
        req.extensions_mut().insert(Peer(peer));
        let answer = app.clone().answer(req);
        async move { Ok::<_, Infallible>(answer.await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    // A response waits at most the header timeout for the client to read it.
    let stream = super::stall::WriteLimit::new(stream, header_timeout);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => ended,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.as_mut().await
        }
    };
    // Errors here are the client's (timeouts, resets, bad requests): not logged, but a client
    // that stopped reading is counted.
    if let Err(e) = ended
        && super::stall::is_unread(&e)
    {
        state.unread();
    }
}

/// A response on its way out, with what the access log line needs.
pub struct Done {
    pub response: Response<Full<Bytes>>,
    /// Bytes of report received (decompressed).
    pub received: usize,
    pub cluster: Option<String>,
    /// A report answered 204 without being stored again.
    pub duplicate: bool,
    /// What was cut to the report's limits, for the log (`nodes.osImage:1`).
    pub clamped: Option<String>,
}

impl Done {
    pub fn new(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Done {
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
            clamped: None,
        }
    }

    fn text(status: StatusCode, body: impl Into<Bytes>) -> Done {
        Done::new(status, "text/plain; charset=utf-8", body)
    }

    /// `{"error": "..."}`.
    pub fn error(status: StatusCode, message: &str) -> Done {
        let body = serde_json::json!({ "error": message }).to_string();
        Done::new(status, "application/json", body)
    }

    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Done {
        self.response.headers_mut().insert(name, value);
        self
    }

    /// Close the connection after this response (the body may not have been read).
    pub fn close(self) -> Done {
        self.header(header::CONNECTION, HeaderValue::from_static("close"))
    }
}

/// One request, in a task of its own: a client that hangs up does not cancel it, so whatever
/// it did (a report stored) is always logged and counted.
async fn handle(
    state: Arc<State>,
    req: Request<Body>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    match tokio::spawn(answer(state, req)).await {
        Ok(response) => Ok(response),
        Err(e) => {
            crate::log::line(&format!("a request handler failed: {e}"));
            Ok(Done::error(StatusCode::INTERNAL_SERVER_ERROR, "internal error").response)
        }
    }
}

async fn answer(state: Arc<State>, req: Request<Body>) -> Response<Full<Bytes>> {
    let start = Instant::now();
    let _in_flight = state.metrics.start();
    let method = req.method().clone();
    let probe = PROBES.contains(&req.uri().path());
    // Never the cluster ID of a deletion request.
    let path = crate::text::printable(super::forget::shown_path(req.uri().path()), 64);
    let done = route(&state, req, start).await;
    let status = done.response.status();
    let elapsed = start.elapsed();
    state.metrics.finished(status.as_u16(), elapsed);
    if probe && status.is_success() && !state.limits.log_probes {
        return done.response;
    }
    let cluster = done
        .cluster
        .as_deref()
        .map(|c| format!(" cluster=\"{}\"", crate::text::printable(c, 128)))
        .unwrap_or_default();
    let clamped = done
        .clamped
        .as_deref()
        .map(|c| format!(" clamped={c}"))
        .unwrap_or_default();
    crate::log::line(&format!(
        "{} {} {} in={}B {}ms{}{}{}",
        crate::text::printable(method.as_str(), 16),
        path,
        status.as_u16(),
        done.received,
        elapsed.as_millis(),
        cluster,
        if done.duplicate { " duplicate" } else { "" },
        clamped
    ));
    done.response
}

async fn route(state: &Arc<State>, req: Request<Body>, start: Instant) -> Done {
    let read = matches!(*req.method(), Method::GET | Method::HEAD);
    match req.uri().path() {
        REPORT_PATH if req.method() == Method::POST => {
            super::ingest::post_report(state, req, start).await
        }
        REPORT_PATH => Done::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
            .header(header::ALLOW, HeaderValue::from_static("POST")),
        path if path.starts_with(super::forget::PREFIX) => {
            if req.method() == Method::DELETE {
                super::forget::delete(state, &req).await
            } else {
                Done::error(StatusCode::METHOD_NOT_ALLOWED, "use DELETE")
                    .header(header::ALLOW, HeaderValue::from_static("DELETE"))
            }
        }
        "/healthz" if read => Done::text(StatusCode::OK, "ok\n"),
        "/readyz" if read => {
            if ready(state).await {
                Done::text(StatusCode::OK, "ok\n")
            } else {
                Done::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the store cannot take reports\n",
                )
            }
        }
        "/version" if read => {
            Done::text(StatusCode::OK, format!("{}\n", env!("CARGO_PKG_VERSION")))
        }
        "/metrics" if read => Done::new(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics_text(state).await,
        ),
        "/healthz" | "/readyz" | "/version" | "/metrics" => {
            Done::error(StatusCode::METHOD_NOT_ALLOWED, "use GET")
                .header(header::ALLOW, HeaderValue::from_static("GET, HEAD"))
        }
        _ => Done::error(StatusCode::NOT_FOUND, "not found"),
    }
}

/// The counters, the memory budget's gauges and the fleet's.
async fn metrics_text(state: &State) -> String {
    use crate::prom::{Kind, Text};
    let mut text = Text::new();
    state.metrics.write(&mut text);
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
        text.single(&format!("{p}_{name}"), Kind::Gauge, help, value);
    }
    text.push(&state.fleet.text(state.known.as_ref()).await);
    text.finish()
}

/// Ready: the store can take a report now. The writers know whether their last attempt went
/// through; while it did not (or when nothing was written for a while), a write probe that is
/// rolled back tells, so a store that comes back is noticed without traffic.
async fn ready(state: &State) -> bool {
    if !state.writer.alive() {
        return false;
    }
    let health = state.writer.health();
    if !health.failing() && health.since_success() < FRESH {
        return true;
    }
    matches!(
        timeout(Duration::from_secs(2), state.writer.probe()).await,
        Ok(Ok(()))
    )
}

/// How long a successful write vouches for the store.
const FRESH: Duration = Duration::from_secs(10);
