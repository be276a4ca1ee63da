//! Sending the report to the collector: one POST, retried with backoff inside the deadline.
//!
//! The body is built once (gzip-compressed, see [`Payload`]) and every attempt sends the same
//! bytes with the same `Idempotency-Key`, so a collector can drop duplicates. A collector that
//! does not understand `Content-Encoding: gzip` (the original Go one answers 400 or 415) gets the
//! same report once more, uncompressed.

use crate::exit::{Class, fail};
use crate::retry::{Deadline, Patience, next_wait, parse_retry_after, random_u64};
use anyhow::{Context, Result};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// No single attempt may take longer than this, so a stuck connection leaves time to retry.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// How many 307/308 redirects are followed.
pub const MAX_REDIRECTS: u32 = 3;

/// The report, compressed once, as it will be sent.
pub struct Payload {
    gzip: Vec<u8>,
    raw_len: u64,
    idempotency_key: String,
}

impl Payload {
    pub fn new(gzip: Vec<u8>, raw_len: u64, idempotency_key: String) -> Self {
        Payload {
            gzip,
            raw_len,
            idempotency_key,
        }
    }

    pub fn gzip_len(&self) -> usize {
        self.gzip.len()
    }

    pub fn raw_len(&self) -> u64 {
        self.raw_len
    }

    pub fn idempotency_key(&self) -> &str {
        &self.idempotency_key
    }

    /// The uncompressed JSON, decompressed as it is read (never held whole).
    pub fn raw_reader(&self) -> impl Read + '_ {
        flate2::read::GzDecoder::new(&self.gzip[..])
    }

    /// Writes the uncompressed JSON.
    pub fn write_raw(&self, out: &mut dyn Write) -> std::io::Result<u64> {
        std::io::copy(&mut self.raw_reader(), out)
    }
}

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    pub endpoint: String,
    pub ca_file: Option<PathBuf>,
    /// Send with `Content-Encoding: gzip` (the default).
    pub gzip: bool,
    /// Whether failures unlikely to heal soon end the run at once (see [`crate::retry`]).
    pub patience: Patience,
}

/// What a successful delivery looked like.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub status: u16,
    pub attempts: u32,
    pub bytes_on_wire: u64,
    pub compressed: bool,
}

/// A configured HTTP client for one target. Made before the cluster is read, so that a bad CA
/// file stops the run at once.
pub struct Uploader {
    agent: ureq::Agent,
    target: Target,
    /// `host:port` of the proxy the upload goes through, if any (for messages).
    via: Option<String>,
}

impl Uploader {
    /// Loads the CA roots and sets up the proxy. Errors are [`Class::Usage`].
    pub fn new(target: Target) -> Result<Uploader> {
        let proxy = proxy_for(&target.endpoint);
        let via = proxy.as_ref().and_then(|p| {
            let uri: ureq::http::Uri = target.endpoint.parse().ok()?;
            (!p.is_no_proxy(&uri)).then(|| format!("{}:{}", p.host(), p.port()))
        });
        let roots = roots(target.ca_file.as_deref())?;
        let tls = ureq::tls::TlsConfig::builder().root_certs(roots).build();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(concat!("spartakus/", env!("CARGO_PKG_VERSION")))
            .proxy(proxy)
            .tls_config(tls)
            .build()
            .new_agent();
        Ok(Uploader { agent, target, via })
    }

    /// Sends the payload. Errors carry their class: [`Class::Rejected`] for a 4xx answer,
    /// [`Class::Unreachable`] when no answer came in time, [`Class::Usage`] for a collector whose
    /// certificate is not trusted or that does not speak TLS (retrying cannot help).
    pub fn send(&self, payload: &Payload, deadline: &Deadline) -> Result<Delivered> {
        let Uploader { agent, target, via } = self;
        send_with(agent, target, via.as_deref(), payload, deadline)
    }
}

fn send_with(
    agent: &ureq::Agent,
    target: &Target,
    via: Option<&str>,
    payload: &Payload,
    deadline: &Deadline,
) -> Result<Delivered> {
    let through = via.map_or(String::new(), |p| format!(" through the proxy {p}"));
    let mut endpoint = target.endpoint.clone();
    let mut shown = redact(&endpoint);
    let mut redirects = 0;
    let mut compressed = target.gzip;
    let mut attempts = 0u32;
    let mut failures = 0u32;
    loop {
        attempts += 1;
        let budget = deadline.remaining().min(ATTEMPT_TIMEOUT);
        if budget.is_zero() {
            return Err(deadline_passed(deadline, attempts - 1, "no time left"));
        }
        let bytes_on_wire = if compressed {
            payload.gzip.len() as u64
        } else {
            payload.raw_len
        };
        eprintln!(
            "spartakus: sending report to {} (attempt {attempts}, {bytes_on_wire} bytes{})",
            shown,
            if compressed { ", gzip" } else { "" }
        );
        let request = agent
            .post(&endpoint)
            .config()
            .timeout_global(Some(budget))
            .build()
            .header("Content-Type", "application/json")
            .header("Idempotency-Key", payload.idempotency_key.as_str())
            .header("Content-Length", bytes_on_wire.to_string());
        let result = if compressed {
            request
                .header("Content-Encoding", "gzip")
                .send(&payload.gzip[..])
        } else {
            let mut reader = payload.raw_reader();
            request.send(ureq::SendBody::from_reader(&mut reader))
        };
        let (error, retry_after) = match result {
            Ok(mut response) => {
                let status = response.status().as_u16();
                if (200..300).contains(&status) {
                    return Ok(Delivered {
                        status,
                        attempts,
                        bytes_on_wire,
                        compressed,
                    });
                }
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now()));
                let location = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                let detail = body_snippet(response.body_mut().as_reader());
                let summary = describe(status, &detail);
                if compressed && refused_encoding(status, &detail) {
                    eprintln!(
                        "spartakus: the collector refused the compressed report ({summary}); sending it uncompressed"
                    );
                    compressed = false;
                    continue;
                }
                if status == 408 || status == 429 || (500..600).contains(&status) {
                    (
                        anyhow::anyhow!("the collector answered {summary}"),
                        retry_after,
                    )
                } else if matches!(status, 307 | 308) && redirects < MAX_REDIRECTS {
                    // Only these two keep the method and the body; follow them, never to
                    // plain HTTP from HTTPS.
                    match location.as_deref().and_then(|l| follow(&endpoint, l)) {
                        Some(next) => {
                            redirects += 1;
                            eprintln!(
                                "spartakus: the collector at {shown} answered {status}: following it to {}",
                                redact(&next)
                            );
                            endpoint = next;
                            shown = redact(&endpoint);
                            continue;
                        }
                        None => {
                            return Err(fail(
                                Class::Rejected,
                                anyhow::anyhow!(
                                    "the collector at {shown} answered {summary} with no usable Location (a downgrade to plain HTTP is not followed); set the endpoint to the final URL"
                                ),
                            ));
                        }
                    }
                } else if (300..400).contains(&status) {
                    return Err(fail(
                        Class::Rejected,
                        anyhow::anyhow!(
                            "the collector at {} answered {summary} (redirect to {}); set the endpoint to the final URL",
                            shown,
                            location.as_deref().map_or("nowhere".to_string(), redact)
                        ),
                    ));
                } else {
                    return Err(fail(
                        Class::Rejected,
                        anyhow::anyhow!(
                            "the collector at {} rejected the report: {summary}; not retrying{}",
                            shown,
                            path_hint(status, &endpoint)
                        ),
                    ));
                }
            }
            Err(error) => {
                let text = error.to_string();
                match error {
                    ureq::Error::BadUri(_) | ureq::Error::InvalidProxyUrl => {
                        return Err(fail(
                            Class::Usage,
                            anyhow::anyhow!("sending to {shown}: {text}"),
                        ));
                    }
                    _ if is_certificate_problem(&text) => {
                        return Err(fail(
                            Class::Usage,
                            anyhow::anyhow!(
                                "TLS verification of the collector at {shown} failed: {text}; add its CA with --ca-file"
                            ),
                        ));
                    }
                    _ if text.contains("InvalidContentType")
                        || text.contains("corrupt message") =>
                    {
                        return Err(fail(
                            Class::Usage,
                            anyhow::anyhow!(
                                "the collector at {shown}{through} does not speak TLS ({text}): use http:// or the collector's HTTPS port"
                            ),
                        ));
                    }
                    _ if via.is_none()
                        && target.patience.gives_up_on(&host_of(&endpoint), &text) =>
                    {
                        return Err(fail(
                            Class::Unreachable,
                            anyhow::anyhow!(
                                "cannot reach the collector at {shown}: {text}; not retrying (is the endpoint's host and port right?)"
                            ),
                        ));
                    }
                    _ => (
                        anyhow::anyhow!("cannot reach the collector at {shown}{through}: {text}"),
                        None,
                    ),
                }
            }
        };
        let wait = match next_wait(failures, retry_after, deadline.remaining(), random_u64()) {
            Ok(wait) => wait,
            Err(wait) => {
                return Err(deadline_passed(
                    deadline,
                    attempts,
                    &format!(
                        "{error:#}; the next try (in {:.0}s) would pass it",
                        wait.as_secs_f64().ceil()
                    ),
                ));
            }
        };
        if failures == 0 {
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
        failures += 1;
        std::thread::sleep(wait);
    }
}

/// The host of an endpoint URL, for deciding what is worth retrying.
fn host_of(endpoint: &str) -> String {
    endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_default()
}

/// For a 404 or 405 from an endpoint whose path is not the collector's report path: a hint.
pub fn path_hint(status: u16, endpoint: &str) -> String {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return String::new();
    };
    if !matches!(status, 404 | 405) || uri.path() == "/api/v1" {
        return String::new();
    }
    format!(
        " (a spartakus collector takes reports at the path /api/v1: try {}://{}/api/v1)",
        uri.scheme_str().unwrap_or("https"),
        uri.authority()
            .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or(""))
    )
}

/// Where a 307/308 `Location` leads from `current`: an absolute http(s) URL or an absolute path
/// on the same server. `None` for anything else, and for a step down from HTTPS to HTTP.
pub fn follow(current: &str, location: &str) -> Option<String> {
    let base: http::Uri = current.parse().ok()?;
    let next = if location.starts_with('/') && !location.starts_with("//") {
        format!("{}://{}{location}", base.scheme_str()?, base.authority()?)
    } else {
        location.to_string()
    };
    let uri: http::Uri = next.parse().ok()?;
    match (base.scheme_str(), uri.scheme_str()) {
        (Some("https"), Some("https")) | (Some("http"), Some("http" | "https")) => {}
        _ => return None,
    }
    uri.host()?;
    Some(next)
}

/// Whether an answer to a compressed upload says the collector could not read gzip: a 415, or a
/// 400 whose message is about decoding (the original collector parsed the gzip bytes as JSON and
/// answered `400 Error: failed to decode record: invalid character '\x1f' ...`). A 400 about the
/// report's content is final like any other 4xx.
pub fn refused_encoding(status: u16, detail: &str) -> bool {
    if status == 415 {
        return true;
    }
    let detail = detail.to_ascii_lowercase();
    status == 400
        && [
            "decode",
            "invalid character",
            "\\x1f",
            "encoding",
            "gzip",
            "utf-8",
            "utf8",
        ]
        .iter()
        .any(|hint| detail.contains(hint))
}

/// The endpoint as it may be shown in logs and messages: without a user name, password or query
/// (they may hold credentials).
pub fn redact(endpoint: &str) -> String {
    let Ok(uri) = endpoint.parse::<http::Uri>() else {
        return "(the configured endpoint)".to_string();
    };
    let host = uri.host().unwrap_or("");
    let port = uri.port().map(|p| format!(":{p}")).unwrap_or_default();
    let scheme = uri.scheme_str().unwrap_or("https");
    let redacted =
        uri.authority().is_some_and(|a| a.as_str().contains('@')) || uri.query().is_some();
    format!(
        "{scheme}://{host}{port}{}{}",
        uri.path(),
        if redacted {
            " (credentials or query hidden)"
        } else {
            ""
        }
    )
}

fn deadline_passed(deadline: &Deadline, attempts: u32, last: &str) -> anyhow::Error {
    fail(
        Class::Unreachable,
        anyhow::anyhow!(
            "report not delivered within the {:?} deadline after {attempts} attempt(s): {last}",
            deadline.total()
        ),
    )
}

fn is_certificate_problem(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("certificate") || lower.contains("unknownissuer")
}

fn describe(status: u16, detail: &str) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    match (reason.is_empty(), detail.is_empty()) {
        (true, true) => format!("{status}"),
        (true, false) => format!("{status}: {detail}"),
        (false, true) => format!("{status} {reason}"),
        (false, false) => format!("{status} {reason}: {detail}"),
    }
}

/// The first 200 characters of a response body, on one line.
fn body_snippet(reader: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = reader.take(200).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The proxy for the endpoint's scheme, as curl chooses it: `HTTPS_PROXY` for https, `HTTP_PROXY`
/// for http, `ALL_PROXY` otherwise; `NO_PROXY` is honoured.
fn proxy_for(endpoint: &str) -> Option<ureq::Proxy> {
    let https = endpoint
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    let names: &[&str] = if https {
        &["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
    } else {
        &["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"]
    };
    let url = names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.trim().is_empty()))?;
    let no_proxy = super::proxy::no_proxy_from_env();
    let proxy = ureq::Proxy::new(url.trim()).ok()?;
    let mut builder = ureq::Proxy::builder(proxy.protocol())
        .host(proxy.host())
        .port(proxy.port());
    if let Some(user) = proxy.username() {
        builder = builder.username(user);
    }
    if let Some(password) = proxy.password() {
        builder = builder.password(password);
    }
    for entry in no_proxy.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        builder = builder.no_proxy(entry);
    }
    builder.build().ok()
}

/// The system's CA roots plus those in `ca_file`. Without a CA file and without system roots,
/// the Mozilla roots built into the binary.
fn roots(ca_file: Option<&Path>) -> Result<ureq::tls::RootCerts> {
    let mut certs: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .into_iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let Some(path) = ca_file else {
        if certs.is_empty() {
            return Ok(ureq::tls::RootCerts::WebPki);
        }
        return Ok(ureq::tls::RootCerts::new_with_certs(&certs));
    };
    let pem = std::fs::read(path)
        .with_context(|| format!("reading the CA file {}", path.display()))
        .map_err(|e| fail(Class::Usage, e))?;
    let mut added = 0;
    for item in ureq::tls::parse_pem(&pem) {
        let item = item
            .with_context(|| format!("parsing the CA file {}", path.display()))
            .map_err(|e| fail(Class::Usage, e))?;
        if let ureq::tls::PemItem::Certificate(cert) = item {
            certs.push(cert);
            added += 1;
        }
    }
    if added == 0 {
        return Err(fail(
            Class::Usage,
            anyhow::anyhow!("the CA file {} holds no PEM certificate", path.display()),
        ));
    }
    Ok(ureq::tls::RootCerts::new_with_certs(&certs))
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

    #[test]
    fn gzip_refusals_are_told_from_content_errors() {
        assert!(refused_encoding(415, ""));
        assert!(refused_encoding(
            400,
            "Error: failed to decode record: invalid character '\\x1f' looking for beginning of value"
        ));
        assert!(refused_encoding(400, "unsupported Content-Encoding"));
        assert!(!refused_encoding(
            400,
            r#"{"error":"clusterID is required"}"#
        ));
        assert!(!refused_encoding(400, ""));
        assert!(!refused_encoding(422, "failed to decode"));
    }

    #[test]
    fn endpoints_are_shown_without_credentials() {
        assert_eq!(
            redact("https://c.example/api/v1"),
            "https://c.example/api/v1"
        );
        assert_eq!(
            redact("http://10.0.0.1:8080/api/v1"),
            "http://10.0.0.1:8080/api/v1"
        );
        let shown = redact("https://user:s3cret@c.example/api/v1?token=abc");
        assert!(!shown.contains("s3cret") && !shown.contains("user") && !shown.contains("abc"));
        assert!(shown.starts_with("https://c.example/api/v1"), "{shown}");
    }

    #[test]
    fn redirects() {
        let here = "https://c.example/api/v1";
        assert_eq!(
            follow(here, "/v2/reports").as_deref(),
            Some("https://c.example/v2/reports")
        );
        assert_eq!(
            follow(here, "https://d.example/api/v1").as_deref(),
            Some("https://d.example/api/v1")
        );
        assert_eq!(
            follow(here, "http://c.example/api/v1"),
            None,
            "no downgrade"
        );
        assert_eq!(follow(here, "//evil.example/x"), None);
        assert_eq!(follow(here, "ftp://c.example/x"), None);
        assert_eq!(
            follow("http://10.0.0.1/api/v1", "https://c.example/api/v1").as_deref(),
            Some("https://c.example/api/v1")
        );
    }

    #[test]
    fn a_wrong_path_gets_a_hint() {
        for endpoint in [
            "https://c.example.org",
            "https://c.example.org/",
            "https://c.example.org/api/v1/",
        ] {
            let hint = path_hint(404, endpoint);
            assert!(
                hint.contains("try https://c.example.org/api/v1"),
                "{endpoint}: {hint}"
            );
        }
        assert_eq!(path_hint(404, "https://c.example.org/api/v1"), "");
        assert_eq!(path_hint(400, "https://c.example.org/"), "");
        assert!(!path_hint(404, "https://u:secret@c.example.org/").contains("secret"));
    }

    #[test]
    fn messages() {
        assert_eq!(describe(400, "bad json"), "400 Bad Request: bad json");
        assert_eq!(describe(599, ""), "599");
        assert_eq!(
            body_snippet(&b"Error:\n  failed\tto decode"[..]),
            "Error: failed to decode"
        );
        assert!(is_certificate_problem(
            "invalid peer certificate: UnknownIssuer"
        ));
        assert!(!is_certificate_problem("Connection refused"));
    }

    #[test]
    fn ca_file_problems_are_usage_errors() {
        let dir = std::env::temp_dir().join(format!("spartakus-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        for path in [empty, dir.join("missing.pem")] {
            let Err(err) = roots(Some(&path)) else {
                panic!("{} must be refused", path.display());
            };
            assert_eq!(crate::exit::class_of(&err), Class::Usage);
            assert!(format!("{err:#}").contains(&path.display().to_string()));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
