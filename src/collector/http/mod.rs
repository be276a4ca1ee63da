//! The HTTP/1.1 server of the collector and the dashboard: accepting within a bound of open
//! connections, header, idle and write timeouts ([`stall`]), and a graceful drain on shutdown.
//! It knows no report and no page: what it serves is an [`App`]. A client's address goes with
//! its requests ([`Peer`]), in memory only; it never reaches a log, a metric or the store.

pub(crate) mod stall;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming as Body};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::time::timeout;

/// When to stop.
pub(crate) struct Shutdown<A, B> {
    /// Stop accepting and let the requests in flight finish.
    pub drain: A,
    /// Stop at once, even while draining (a second signal).
    pub now: B,
    /// The longest a drain may take.
    pub grace: Duration,
}

/// An answer on its way out.
pub(crate) type Answer = std::pin::Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>;

/// What a server serves: the collector ([`State`]), or the dashboard.
pub(crate) trait App: Send + Sync + 'static {
    /// Open connections at most, and the header timeout (also the idle and unread limit).
    fn connections(&self) -> (usize, Duration);
    /// The answer to one request (its [`Peer`] attached).
    fn answer(self: Arc<Self>, req: Request<Body>) -> Answer;
    /// A connection was closed because its client did not read the responses.
    fn unread(&self) {}
}

/// Serve until `shutdown.drain` resolves, then stop accepting and give the requests in flight
/// up to `shutdown.grace` to finish (less if `shutdown.now` resolves), and return.
pub(crate) async fn serve<S, A, B>(
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
pub(crate) struct Peer(pub std::net::IpAddr);

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
    let stream = stall::WriteLimit::new(stream, header_timeout);
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
        && stall::is_unread(&e)
    {
        state.unread();
    }
}
