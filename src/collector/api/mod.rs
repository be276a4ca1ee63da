//! The collector's HTTP API, served by [`crate::collector::http`]: the state every request
//! handler shares ([`State`]), the routes, the access log, readiness and `/metrics`. The report
//! endpoint itself is [`ingest`], deletion requests [`forget`], the counters [`metrics`] and the
//! fleet's gauges [`gauges`]. Handlers answer with a [`Done`]; none of them knows the server.

mod done;
pub(crate) mod forget;
pub(crate) mod gauges;
pub(crate) mod ingest;
pub(crate) mod metrics;
pub(crate) mod state;

pub(crate) use done::Done;
pub(crate) use state::{Limits, State};

use crate::collector::http::{self, Answer};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, timeout};

/// The report endpoint, as the original collector had it.
pub(crate) const REPORT_PATH: &str = "/api/v1";

/// Paths asked often by machines (probes, scrapes): logged only when they fail, unless
/// `--log-probes`.
const PROBES: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

impl http::App for State {
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
    let path = crate::text::printable(forget::shown_path(req.uri().path()), 64);
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
        REPORT_PATH if req.method() == Method::POST => ingest::post_report(state, req, start).await,
        REPORT_PATH => Done::error(StatusCode::METHOD_NOT_ALLOWED, "use POST")
            .header(header::ALLOW, HeaderValue::from_static("POST")),
        path if path.starts_with(forget::PREFIX) => {
            if req.method() == Method::DELETE {
                forget::delete(state, &req, start).await
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
    let p = metrics::PREFIX;
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
