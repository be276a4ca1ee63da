//! `DELETE /api/v1/clusters/{id}`: a cluster asks to be forgotten. The cluster ID is the only key
//! a reporting cluster holds; with it, everything stored of the cluster is deleted
//! ([`crate::collector::store::forget`]). The answer is the same whether or not anything was stored, 204,
//! and nothing says which: not the answer, not the log (which shows the path as
//! `/api/v1/clusters/...`), not the metrics (`forget_requests_total{result}`), and not the time
//! it takes: an answer from the store is given no sooner than [`FLOOR`] after the request came,
//! longer than deleting a cluster's usual history takes (measured in BENCHMARKS.md).
//!
//! Requests are limited per source in memory ([`DELETIONS_PER_SOURCE_PER_HOUR`](crate::collector::guard::sources::DELETIONS_PER_SOURCE_PER_HOUR), an IPv4 address or an
//! IPv6 /64, kept no longer than its allowance) and per cluster ID in the store.

use super::metrics::Forget;
use super::{Done, State};
use crate::collector::store::Forgot;
use crate::contract::limits::check_cluster_id;
use crate::log;
use hyper::body::Incoming as Body;
use hyper::header::{self, HeaderValue};
use hyper::{Request, StatusCode};

/// The soonest a deletion request the store answered is answered, after it came: so that a
/// cluster with reports (more rows to delete) and an unknown one take the same time.
pub(crate) const FLOOR: std::time::Duration = std::time::Duration::from_secs(1);

/// Where deletion requests go: this, then the percent-encoded cluster ID.
pub(crate) const PREFIX: &str = "/api/v1/clusters/";

/// What the access log shows of a request's path: a deletion request's without its ID.
pub(crate) fn shown_path(path: &str) -> &str {
    if path.starts_with(PREFIX) {
        "/api/v1/clusters/..."
    } else {
        path
    }
}

/// The cluster ID a deletion request's path names, percent-decoded and checked as a report's
/// cluster ID is; `None` if it names none.
pub(crate) fn cluster_of(path: &str) -> Option<String> {
    let encoded = path.strip_prefix(PREFIX)?;
    if encoded.contains('/') {
        return None;
    }
    let id = percent_encoding::percent_decode_str(encoded)
        .decode_utf8()
        .ok()?
        .into_owned();
    check_cluster_id(&id).ok()?;
    Some(id)
}

/// Answers a deletion request that came at `start`.
pub(crate) async fn delete(
    state: &State,
    req: &Request<Body>,
    start: tokio::time::Instant,
) -> Done {
    let Some(cluster) = cluster_of(req.uri().path()) else {
        state.metrics.forget(Forget::Invalid);
        return Done::error(
            StatusCode::BAD_REQUEST,
            "not a cluster ID: 1 to 128 printable ASCII characters without spaces, percent-encoded in the path",
        );
    };
    let now = state.clock_ms();
    let source = req
        .extensions()
        .get::<crate::collector::http::Peer>()
        .map(|peer| super::ingest::source_of(state, peer.0, req.headers()));
    if let Some(source) = source
        && let Err(wait) = state.forgets.take(source, now)
    {
        return rate_limited(state, wait, "too many deletion requests from here");
    }
    let limit = state.limits.request_timeout;
    let forgot = tokio::time::timeout(limit, state.writer.forget(cluster.clone())).await;
    tokio::time::sleep_until(start + FLOOR).await;
    match forgot {
        Ok(Ok(Forgot::Done)) => {
            state.metrics.forget(Forget::Done);
            Done::new(StatusCode::NO_CONTENT, "", "")
        }
        Ok(Ok(Forgot::RateLimited(wait))) => rate_limited(
            state,
            wait,
            "too many deletion requests for this cluster ID",
        ),
        Ok(Err(e)) => {
            let cause = format!("{e:#}").replace(&cluster, "...");
            log::line(&format!("forgetting a cluster failed: {cause}"));
            failed(state)
        }
        Err(_) => failed(state),
    }
}

fn rate_limited(state: &State, wait: u64, message: &str) -> Done {
    state.metrics.forget(Forget::RateLimited);
    Done::error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!("{message}; retry in {wait} s"),
    )
    .header(header::RETRY_AFTER, HeaderValue::from(wait))
}

fn failed(state: &State) -> Done {
    state.metrics.forget(Forget::Failed);
    Done::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the store cannot take the request now; retry later",
    )
    .header(header::RETRY_AFTER, HeaderValue::from_static("10"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_a_cluster_and_the_log_never_shows_it() {
        let id = "3f2b1c4d-0000-4000-8000-0123456789ab";
        let path = format!("{PREFIX}{id}");
        assert_eq!(cluster_of(&path).as_deref(), Some(id));
        assert_eq!(shown_path(&path), "/api/v1/clusters/...");
        assert_eq!(shown_path("/api/v1"), "/api/v1");
        assert_eq!(
            cluster_of("/api/v1/clusters/a%2Fb%3Fc").as_deref(),
            Some("a/b?c")
        );
        for bad in [
            "/api/v1/clusters/",
            "/api/v1/clusters/a/b",
            "/api/v1/clusters/a%20b",
            "/api/v1/clusters/%ff",
            "/api/v1/cluster/a",
        ] {
            assert_eq!(cluster_of(bad), None, "{bad}");
        }
        assert_eq!(cluster_of(&format!("{PREFIX}{}", "x".repeat(129))), None);
    }
}
