//! Sending the report to the collector: one POST, retried with backoff inside the deadline.
//! (`spartakus forget` sends its DELETE the same way, see [`Uploader::delete`].)
//!
//! The body is built once (gzip-compressed, see [`Payload`]) and every attempt sends the same
//! bytes with the same `Idempotency-Key`, so a collector can drop duplicates. A collector that
//! does not understand `Content-Encoding: gzip` (the original Go one answers 400 or 415) gets the
//! same report once more, uncompressed.

mod answer;
mod client;

use super::tls::{Peer, explain};
use crate::exit::{Class, fail, usage};
use crate::retry::{Deadline, Patience, next_wait, parse_retry_after, random_u64};
pub(crate) use answer::redact;
use answer::refused_encoding;
use answer::{body_snippet, describe, follow, host_of, path_hint};
use anyhow::Result;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// No single attempt may take longer than this, so a stuck connection leaves time to retry.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How many 307/308 redirects are followed.
pub(crate) const MAX_REDIRECTS: u32 = 3;

/// The report, compressed once, as it will be sent.
pub(crate) struct Payload {
    gzip: Vec<u8>,
    raw_len: u64,
    idempotency_key: String,
}

impl Payload {
    pub(crate) fn new(gzip: Vec<u8>, raw_len: u64, idempotency_key: String) -> Self {
        Payload {
            gzip,
            raw_len,
            idempotency_key,
        }
    }

    pub(crate) fn gzip_len(&self) -> usize {
        self.gzip.len()
    }

    pub(crate) fn raw_len(&self) -> u64 {
        self.raw_len
    }

    /// The uncompressed JSON, decompressed as it is read (never held whole).
    pub(crate) fn raw_reader(&self) -> impl Read + '_ {
        flate2::read::GzDecoder::new(&self.gzip[..])
    }

    /// Writes the uncompressed JSON.
    pub(crate) fn write_raw(&self, out: &mut dyn Write) -> std::io::Result<u64> {
        std::io::copy(&mut self.raw_reader(), out)
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub endpoint: String,
    pub ca_file: Option<PathBuf>,
    /// Send with `Content-Encoding: gzip` (the default).
    pub gzip: bool,
    /// Whether failures unlikely to heal soon end the run at once (see [`crate::retry`]).
    pub(crate) patience: Patience,
}

/// What a successful delivery looked like.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Delivered {
    pub status: u16,
    pub(crate) attempts: u32,
    pub(crate) bytes_on_wire: u64,
    pub compressed: bool,
}

/// A configured HTTP client for one target. Made before the cluster is read, so that a bad CA
/// file stops the run at once.
pub(crate) struct Uploader {
    agent: ureq::Agent,
    target: Target,
    /// `host:port` of the proxy the upload goes through, if any (for messages).
    via: Option<String>,
}

impl Uploader {
    /// Loads the CA roots and sets up the proxy. Errors are [`Class::Usage`].
    pub(crate) fn new(target: Target) -> Result<Uploader> {
        let proxy = client::proxy_for(&target.endpoint);
        let via = proxy.as_ref().and_then(|p| {
            let uri: ureq::http::Uri = target.endpoint.parse().ok()?;
            (!p.is_no_proxy(&uri)).then(|| format!("{}:{}", p.host(), p.port()))
        });
        let roots = client::roots(target.ca_file.as_deref())?;
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(crate::reporter::cluster::USER_AGENT)
            .proxy(proxy)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Uploader { agent, target, via })
    }

    /// Sends the payload. Errors carry their class: [`Class::Rejected`] for a 4xx answer,
    /// [`Class::Unreachable`] when no answer came in time, [`Class::Usage`] for a collector whose
    /// certificate is not trusted or that does not speak TLS (retrying cannot help).
    pub(crate) fn send(&self, payload: &Payload, deadline: &Deadline) -> Result<Delivered> {
        self.deliver(Some(payload), self.target.endpoint.clone(), deadline)
    }

    /// Asks the collector to forget a cluster: a `DELETE` of `url` (the endpoint's
    /// `/clusters/{id}`), with the retries, deadline and error classes of [`Uploader::send`].
    pub(crate) fn delete(&self, url: &str, deadline: &Deadline) -> Result<Delivered> {
        self.deliver(None, url.to_string(), deadline)
    }

    /// Sends the payload to `endpoint`, or without one, the `DELETE`.
    fn deliver(
        &self,
        payload: Option<&Payload>,
        endpoint: String,
        deadline: &Deadline,
    ) -> Result<Delivered> {
        let mut at = Sending {
            endpoint,
            compressed: self.target.gzip && payload.is_some(),
            forget: payload.is_none(),
            attempts: 0,
            failures: 0,
            redirects: 0,
            throttled: false,
        };
        loop {
            at.attempts += 1;
            let budget = deadline.remaining().min(ATTEMPT_TIMEOUT);
            if budget.is_zero() {
                let attempts = at.attempts - 1;
                return Err(deadline_passed(&at, deadline, attempts, "no time left"));
            }
            let bytes_on_wire = match payload {
                None => 0,
                Some(p) if at.compressed => p.gzip.len() as u64,
                Some(p) => p.raw_len,
            };
            if at.forget {
                eprintln!(
                    "spartakus: asking the collector to forget the cluster: DELETE {} (attempt {})",
                    at.shown(),
                    at.attempts
                );
            } else {
                eprintln!(
                    "spartakus: sending report to {} (attempt {}, {bytes_on_wire} bytes{})",
                    redact(&at.endpoint),
                    at.attempts,
                    if at.compressed { ", gzip" } else { "" }
                );
            }
            match self.attempt(&at, payload, bytes_on_wire, budget)? {
                Next::Delivered(status) => {
                    return Ok(Delivered {
                        status,
                        attempts: at.attempts,
                        bytes_on_wire,
                        compressed: at.compressed,
                    });
                }
                Next::Uncompressed => at.compressed = false,
                Next::Redirect(next) => {
                    at.redirects += 1;
                    at.endpoint = next;
                }
                Next::Retry(error, after) => {
                    at.throttled = false;
                    wait(&mut at, error, after, deadline)?;
                }
                Next::Throttled(error, after) => {
                    at.throttled = true;
                    wait(&mut at, error, after, deadline)?;
                }
            }
        }
    }

    /// One POST (or DELETE) and what its outcome means.
    fn attempt(
        &self,
        at: &Sending,
        payload: Option<&Payload>,
        bytes_on_wire: u64,
        budget: Duration,
    ) -> Result<Next> {
        let Some(payload) = payload else {
            let deleted = self
                .agent
                .delete(&at.endpoint)
                .config()
                .timeout_global(Some(budget))
                .build()
                .call();
            return match deleted {
                Ok(response) => self.answer(at, response),
                Err(error) => self.no_answer(at, error),
            };
        };
        let request = self
            .agent
            .post(&at.endpoint)
            .config()
            .timeout_global(Some(budget))
            .build()
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", payload.idempotency_key.as_str())
            .header("Content-Length", bytes_on_wire.to_string());
        let result = if at.compressed {
            request
                .header("Content-Encoding", "gzip")
                .send(&payload.gzip[..])
        } else {
            let mut reader = payload.raw_reader();
            request.send(ureq::SendBody::from_reader(&mut reader))
        };
        match result {
            Ok(response) => self.answer(at, response),
            Err(error) => self.no_answer(at, error),
        }
    }

    /// What the collector's answer means.
    fn answer(&self, at: &Sending, mut response: ureq::http::Response<ureq::Body>) -> Result<Next> {
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(Next::Delivered(status));
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let retry_after =
            header("retry-after").and_then(|v| parse_retry_after(&v, SystemTime::now()));
        let location = header("location");
        let detail = body_snippet(response.body_mut().as_reader());
        let summary = describe(status, &detail);
        let shown = at.shown();
        if at.compressed && refused_encoding(status, &detail) {
            eprintln!(
                "spartakus: the collector refused the compressed report ({summary}); sending it uncompressed"
            );
            return Ok(Next::Uncompressed);
        }
        if status == 429 {
            let error = anyhow::anyhow!("the collector answered {summary} (rate limited)");
            return Ok(Next::Throttled(error, retry_after));
        }
        if status == 408 || (500..600).contains(&status) {
            let error = anyhow::anyhow!("the collector answered {summary}");
            return Ok(Next::Retry(error, retry_after));
        }
        if (300..400).contains(&status) {
            return redirect(at, status, &summary, location.as_deref());
        }
        if at.forget && matches!(status, 404 | 405) {
            return Err(rejected(format!(
                "the collector at {shown} does not take deletion requests ({summary}): is it a spartakus collector of this version or later?"
            )));
        }
        Err(rejected(format!(
            "the collector at {shown} rejected the {}: {summary}; not retrying{}",
            at.what(),
            path_hint(status, &at.endpoint)
        )))
    }

    /// No answer: worth another attempt, unless waiting cannot help.
    fn no_answer(&self, at: &Sending, error: ureq::Error) -> Result<Next> {
        let text = error.to_string();
        let shown = at.shown();
        let through = self
            .via
            .as_ref()
            .map_or(String::new(), |p| format!(" through the proxy {p}"));
        if matches!(error, ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl) {
            return Err(usage(format!("sending to {shown}: {text}")));
        }
        // A certificate not trusted, or a server that does not speak TLS: waiting cannot help.
        if let Some(message) = explain(Peer::Collector, &format!("{shown}{through}"), &text) {
            return Err(usage(message));
        }
        if self.via.is_none()
            && self
                .target
                .patience
                .gives_up_on(&host_of(&at.endpoint), &text)
        {
            return Err(fail(
                Class::Unreachable,
                anyhow::anyhow!(
                    "cannot reach the collector at {shown}: {text}; not retrying (is the endpoint's host and port right?)"
                ),
            ));
        }
        let error = anyhow::anyhow!("cannot reach the collector at {shown}{through}: {text}");
        Ok(Next::Retry(error, None))
    }
}

/// A 3xx: only 307 and 308 keep the method and the body, and are followed, at most
/// [`MAX_REDIRECTS`] times and never to plain HTTP; anything else says where it led and why it
/// was not followed.
fn redirect(at: &Sending, status: u16, summary: &str, location: Option<&str>) -> Result<Next> {
    let shown = at.shown();
    let target = match location {
        None => Err("without a Location".to_string()),
        Some(location) => follow(&at.endpoint, location),
    };
    let why = match target {
        Ok(next) if matches!(status, 307 | 308) && at.redirects < MAX_REDIRECTS => {
            eprintln!(
                "spartakus: the collector at {shown} answered {status}: following it to {}",
                redact(&next)
            );
            return Ok(Next::Redirect(next));
        }
        Ok(next) if matches!(status, 307 | 308) => format!(
            "to {} after {MAX_REDIRECTS} redirects already (a loop?)",
            redact(&next)
        ),
        Ok(next) => format!(
            "to {}, which would not carry the {} (only 307 and 308 are followed)",
            redact(&next),
            at.what()
        ),
        Err(why) => why,
    };
    Err(rejected(format!(
        "the collector at {shown} answered {summary}, a redirect {why}; set the endpoint to the final URL"
    )))
}

/// A deletion request's URL without the cluster ID (it is said once, before the request).
fn without_id(url: &str) -> String {
    match url.split_once("/clusters/") {
        Some((base, rest)) => {
            let query = rest
                .split_once('?')
                .map_or(String::new(), |(_, q)| format!("?{q}"));
            format!("{base}/clusters/...{query}")
        }
        None => url.to_string(),
    }
}

/// Where a delivery stands.
struct Sending {
    endpoint: String,
    compressed: bool,
    /// A deletion request, not a report.
    forget: bool,
    attempts: u32,
    failures: u32,
    redirects: u32,
    /// The last attempt was answered 429: a deadline that passes ends as
    /// [`Class::Throttled`], not as an unreachable collector.
    throttled: bool,
}

impl Sending {
    /// Where it is sent, as messages show it: no credentials, and of a deletion request, not the
    /// cluster ID (said once, before the request).
    fn shown(&self) -> String {
        match self.forget {
            true => redact(&without_id(&self.endpoint)),
            false => redact(&self.endpoint),
        }
    }

    fn what(&self) -> &'static str {
        if self.forget {
            "deletion request"
        } else {
            "report"
        }
    }
}

/// What one attempt came to.
enum Next {
    Delivered(u16),
    /// Worth another attempt, after the collector's `Retry-After` if it gave one.
    Retry(anyhow::Error, Option<Duration>),
    /// A 429: the same, and the collector is reachable but rate limits this cluster.
    Throttled(anyhow::Error, Option<Duration>),
    /// The same report again, to another URL (a 307 or 308).
    Redirect(String),
    /// The same report again, uncompressed (the collector cannot read gzip).
    Uncompressed,
}

/// Waits before the next attempt, by the one retry policy, or gives up.
fn wait(
    at: &mut Sending,
    error: anyhow::Error,
    retry_after: Option<Duration>,
    deadline: &Deadline,
) -> Result<()> {
    let wait = match next_wait(at.failures, retry_after, deadline.remaining(), random_u64()) {
        Ok(wait) => wait,
        Err(wait) => {
            return Err(deadline_passed(
                at,
                deadline,
                at.attempts,
                &format!(
                    "{error:#}; the next try (in {:.0}s) would pass it",
                    wait.as_secs_f64().ceil()
                ),
            ));
        }
    };
    if at.failures == 0 {
        eprintln!(
            "spartakus: {error:#}; retrying until the run's deadline ({:?} in all, --timeout or SPARTAKUS_TIMEOUT), next in {:.1}s",
            deadline.total(),
            wait.as_secs_f64()
        );
    } else {
        eprintln!(
            "spartakus: {error:#}; retrying in {:.1}s",
            wait.as_secs_f64()
        );
    }
    at.failures += 1;
    std::thread::sleep(wait);
    Ok(())
}

fn rejected(message: String) -> anyhow::Error {
    fail(Class::Rejected, anyhow::anyhow!("{message}"))
}

fn deadline_passed(at: &Sending, deadline: &Deadline, attempts: u32, last: &str) -> anyhow::Error {
    fail(
        if at.throttled {
            Class::Throttled
        } else {
            Class::Unreachable
        },
        anyhow::anyhow!(
            "{} not delivered within the {:?} deadline after {attempts} attempt(s): {last}",
            at.what(),
            deadline.total()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips() {
        let raw = br#"{"version":"v1.0.0"}"#;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(raw).unwrap();
        let p = Payload::new(enc.finish().unwrap(), raw.len() as u64, "k".into());
        let mut out = Vec::new();
        assert_eq!(p.write_raw(&mut out).unwrap(), raw.len() as u64);
        assert_eq!(out, raw);
    }
}
