//! The dashboard's server: a read-only connection to a store, the page made from its rollups
//! (cached for a short while), and the routes `/`, `/style.css`, `/healthz` and `/favicon.ico`.
//! Every answer carries a strict Content-Security-Policy; the page holds no cluster ID.
//!
//! The page is made once at a time: requests that find it stale wait for the one making it, and
//! are answered with what it made. The readers connect again by themselves when the database
//! comes back (PostgreSQL), and the page is made anew then.

use super::page::{self, View};
use crate::collector::fleet::trends::{Every, Trend};
use crate::collector::http::{self, Answer, App, Shutdown};
use crate::collector::settings::DashboardSettings;
use crate::collector::store::{Reader, read};
use anyhow::{Context, Result};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming as Body};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a page made once is served again before it is made anew.
pub(crate) const FRESH: Duration = Duration::from_secs(30);

/// The dashboard as a server [`App`]. Two read connections: the history and the fleet now are
/// read at once, one on each (the page takes the longer of the two, not their sum).
pub(crate) struct Dashboard {
    history: Arc<Mutex<Reader>>,
    now: Arc<Mutex<Reader>>,
    options: DashboardSettings,
    /// The page as last made: held while it is made, so that one request makes it.
    cache: tokio::sync::Mutex<Option<(Instant, Bytes)>>,
    /// Pages made (for a test to count).
    #[cfg(test)]
    made: std::sync::atomic::AtomicU64,
}

impl Dashboard {
    pub(crate) fn new(history: Reader, now: Reader, options: DashboardSettings) -> Dashboard {
        Dashboard {
            history: Arc::new(Mutex::new(history)),
            now: Arc::new(Mutex::new(now)),
            options,
            cache: tokio::sync::Mutex::new(None),
            #[cfg(test)]
            made: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The page, from the cache while it is fresh; else made by this request, while the others
    /// wait for it.
    async fn page(&self) -> Result<Bytes> {
        let mut cache = self.cache.lock().await;
        if let Some((made, page)) = cache.as_ref()
            && made.elapsed() < FRESH
        {
            return Ok(page.clone());
        }
        let now = crate::time::now_secs();
        let (every, since, days) = (
            self.options.every,
            self.options.since,
            self.options.now_days,
        );
        let (trend, current) = tokio::try_join!(
            blocking(&self.history, move |r| history(r, every, since, now)),
            blocking(&self.now, move |r| r.with(|db| read::current(
                db,
                now,
                days,
                page::TOP
            ))),
        )?;
        let page = Bytes::from(page::page(&View {
            generated_at: now,
            trend,
            current,
            current_days: days,
        }));
        *cache = Some((Instant::now(), page.clone()));
        #[cfg(test)]
        self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(page)
    }
}

/// `f` on `reader`, on a thread where blocking is allowed.
async fn blocking<T: Send + 'static>(
    reader: &Arc<Mutex<Reader>>,
    f: impl FnOnce(&mut Reader) -> Result<T> + Send + 'static,
) -> Result<T> {
    let reader = reader.clone();
    tokio::task::spawn_blocking(move || {
        let mut reader = reader
            .lock()
            .map_err(|_| anyhow::anyhow!("store reader poisoned"))?;
        f(&mut reader)
    })
    .await
    .context("reading the store")?
}

/// The page's history: from `since` ago to `now` by `every`, from the store's rollups, without
/// the periods before the store's first report (they are not a fleet of none).
pub(crate) fn history(
    reader: &mut Reader,
    every: Every,
    since: Duration,
    now: i64,
) -> Result<Trend> {
    let since = crate::time::ago(now, since);
    let scope = read::Scope::Clusters;
    let mut trend =
        reader.with(|db| read::trend(db, every, (since, now), None, scope, page::TOP))?;
    let first = trend
        .periods
        .iter()
        .position(|p| p.tally.clusters > 0)
        .unwrap_or(trend.periods.len().saturating_sub(1));
    trend.periods.drain(..first);
    Ok(trend)
}

fn respond(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(page::CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl App for Dashboard {
    fn connections(&self) -> (usize, Duration) {
        (self.options.max_connections, Duration::from_secs(10))
    }

    fn answer(self: Arc<Self>, req: Request<Body>) -> Answer {
        Box::pin(async move {
            let start = Instant::now();
            let path = crate::text::printable(req.uri().path(), 64);
            let method = crate::text::printable(req.method().as_str(), 16);
            let readable = matches!(*req.method(), Method::GET | Method::HEAD);
            let text = "text/plain; charset=utf-8";
            let response = match req.uri().path() {
                _ if !readable => {
                    let mut r = respond(StatusCode::METHOD_NOT_ALLOWED, text, "use GET\n".into());
                    r.headers_mut()
                        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                    r
                }
                "/" => match self.page().await {
                    Ok(page) => respond(StatusCode::OK, "text/html; charset=utf-8", page),
                    Err(e) => {
                        crate::log::line(&format!("dashboard: {e:#}"));
                        let body = "the store could not be read; see the log\n";
                        respond(StatusCode::SERVICE_UNAVAILABLE, text, body.into())
                    }
                },
                "/style.css" => respond(
                    StatusCode::OK,
                    "text/css; charset=utf-8",
                    page::STYLE.into(),
                ),
                "/healthz" => respond(StatusCode::OK, text, "ok\n".into()),
                "/favicon.ico" => respond(StatusCode::NO_CONTENT, text, Bytes::new()),
                _ => respond(StatusCode::NOT_FOUND, text, "not found\n".into()),
            };
            if !response.status().is_success() || path == "/" {
                crate::log::line(&format!(
                    "{method} {path} {} {}ms",
                    response.status().as_u16(),
                    start.elapsed().as_millis()
                ));
            }
            response
        })
    }
}

/// `spartakus dashboard`: serve the page until SIGTERM or SIGINT.
pub(crate) fn run(options: DashboardSettings) -> Result<()> {
    let history = Reader::open(&options.store)?;
    let now = Reader::open(&options.store)?;
    let runtime = crate::runtime::current_thread()?;
    runtime.block_on(async move {
        let signals = crate::runtime::stop_signals()?;
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .with_context(|| format!("listening on {}", options.listen))?;
        let addr = listener.local_addr().context("listening")?;
        crate::log::line(&format!(
            "dashboard listening on {addr}, store {}: the last {} by {}, now = the last {}",
            options.store,
            crate::text::count(options.since.as_secs() / 86_400, "day"),
            options.every.name(),
            crate::text::count(u64::from(options.now_days), "day")
        ));
        let app = Arc::new(Dashboard::new(history, now, options));
        let shutdown = Shutdown {
            drain: async move {
                let _ = signals.first.await;
            },
            now: async move {
                let _ = signals.second.await;
            },
            grace: Duration::from_secs(5),
        };
        http::serve(listener, app, shutdown).await
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::sqlite::tests::{Scratch, insert};
    use crate::collector::store::tests::incoming;
    use crate::collector::store::{Db, Spec};

    /// Five requests for a stale page at once: one makes it, the others wait and share it.
    #[test]
    fn the_page_is_made_once_for_requests_at_the_same_moment() {
        let dir = Scratch::new("dashboard-once");
        let path = dir.join("s.db");
        let mut db = Db::open(&path).unwrap();
        insert(&mut db, &incoming("a", crate::time::now_secs(), None, 3));
        drop(db);
        let spec = Spec::Sqlite(path);
        let options = DashboardSettings {
            store: spec.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            since: Duration::from_secs(30 * 86_400),
            every: Every::Week,
            now_days: 7,
            max_connections: 8,
        };
        let reader = || Reader::open(&spec).unwrap();
        let dashboard = Dashboard::new(reader(), reader(), options);
        let runtime = crate::runtime::current_thread().unwrap();
        let pages = runtime.block_on(futures_util::future::join_all(
            (0..5).map(|_| dashboard.page()),
        ));
        let pages: Vec<Bytes> = pages.into_iter().map(Result::unwrap).collect();
        assert!(pages.iter().all(|p| *p == pages[0]));
        assert!(String::from_utf8_lossy(&pages[0]).contains("1 cluster and 3 nodes"));
        assert_eq!(dashboard.made.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
