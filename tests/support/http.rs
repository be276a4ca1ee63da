//! The HTTP/1.1 server both stand-ins run: on 127.0.0.1, on its own thread with its own
//! single-threaded tokio runtime (so plain `#[test]` functions can run the real binary against
//! it), optionally behind TLS, stopped when its handle is dropped.

use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

/// A response body: all at once, or produced chunk by chunk as the client reads (so a large
/// response is never held whole).
pub enum Body {
    Full(Option<Bytes>),
    Chunks(Box<dyn Iterator<Item = Bytes> + Send>),
}

impl Body {
    pub fn bytes(data: impl Into<Bytes>) -> Body {
        let data = data.into();
        if data.is_empty() {
            Body::Full(None)
        } else {
            Body::Full(Some(data))
        }
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Body::Full(data) => data.take(),
            Body::Chunks(chunks) => chunks.next(),
        };
        Poll::Ready(next.map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Full(Some(data)) => SizeHint::with_exact(data.len() as u64),
            Body::Chunks(_) => SizeHint::default(),
        }
    }
}

/// Returned by a handler to close the connection without answering.
#[derive(Debug)]
pub struct CloseConnection;

impl std::fmt::Display for CloseConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection closed without an answer, as scripted")
    }
}

impl std::error::Error for CloseConnection {}

/// A running server. Dropping it stops the server and ends every open connection.
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on an ephemeral port and serves `handler` on a new thread.
    pub fn start<F, Fut>(name: &str, tls: Option<Arc<ServerConfig>>, handler: F) -> Server
    where
        F: Fn(Request<Incoming>) -> Fut + Send + Sync + Clone + 'static,
        Fut: Future<Output = Result<Response<Body>, CloseConnection>> + Send + 'static,
    {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let (shutdown, mut stop) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("tokio runtime");
                runtime.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    let acceptor = tls.map(TlsAcceptor::from);
                    loop {
                        let accepted = tokio::select! {
                            _ = &mut stop => break,
                            accepted = listener.accept() => accepted,
                        };
                        let Ok((tcp, _)) = accepted else { continue };
                        let _ = tcp.set_nodelay(true);
                        let handler = handler.clone();
                        let acceptor = acceptor.clone();
                        tokio::spawn(async move {
                            let service = service_fn(handler);
                            let http = hyper::server::conn::http1::Builder::new();
                            match acceptor {
                                Some(acceptor) => {
                                    if let Ok(stream) = acceptor.accept(tcp).await {
                                        let _ = http
                                            .serve_connection(TokioIo::new(stream), service)
                                            .await;
                                    }
                                }
                                None => {
                                    let _ = http.serve_connection(TokioIo::new(tcp), service).await;
                                }
                            }
                        });
                    }
                });
                // Dropping the runtime here cancels every connection still open.
                drop(runtime);
            })
            .expect("server thread");
        Server {
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A port on 127.0.0.1 where nothing listens (bound, then released): for "connection refused",
/// or for a server started next on it (chromedriver, PostgreSQL, Prometheus).
pub fn refused_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

/// Reads a whole request body.
pub async fn read_body(body: Incoming) -> Vec<u8> {
    use http_body_util::BodyExt;
    match body.collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    }
}
