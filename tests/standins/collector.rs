//! The stand-in collector: gzip bodies decoded, its script, hanging and closing, the original's
//! refusal of gzip, HTTPS and refused connections; and the small encodings of `support::util`.

use super::*;

const REPORT: &str = r#"{"version":"v1.0.0","timestamp":"1700000000","clusterID":"c0ffee00-0000-4000-8000-000000000000","masterVersion":"v1.33.2"}"#;

fn post(
    agent: &ureq::Agent,
    url: &str,
    content_type: &str,
    gzipped: bool,
    body: &[u8],
) -> Result<(u16, String, Option<String>), ureq::Error> {
    let mut req = agent
        .post(url)
        .header("Content-Type", content_type)
        .header("Idempotency-Key", "k-1");
    if gzipped {
        req = req.header("Content-Encoding", "gzip");
    }
    let mut resp = req.send(body)?;
    let retry_after = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    Ok((
        resp.status().as_u16(),
        resp.body_mut().read_to_string()?,
        retry_after,
    ))
}

/// An uncompressed `application/json` POST.
fn post_json(
    agent: &ureq::Agent,
    url: &str,
    body: &[u8],
) -> Result<(u16, String, Option<String>), ureq::Error> {
    post(agent, url, "application/json", false, body)
}

#[test]
fn collector_records_gzip_bodies_decoded() {
    let collector = Collector::new();
    let agent = agent(None);
    let compressed = gzip(REPORT.as_bytes());
    let (status, _, _) = post(
        &agent,
        &collector.url(),
        "application/json",
        true,
        &compressed,
    )
    .unwrap();
    assert_eq!(status, 204);
    let got = &collector.requests()[0];
    assert_eq!(got.method, "POST");
    assert_eq!(got.path, "/api/v1");
    assert!(got.is_gzip());
    assert_eq!(got.raw, compressed);
    assert_eq!(got.body, REPORT.as_bytes());
    assert_eq!(got.header("Idempotency-Key"), Some("k-1"));
    assert!(
        got.headers
            .iter()
            .all(|(n, _)| *n == n.to_ascii_lowercase())
    );
    assert_eq!(
        got.report().cluster_id,
        "c0ffee00-0000-4000-8000-000000000000"
    );
    assert_eq!(got.decode_error, None);
}

#[test]
fn collector_follows_its_script_then_answers_204() {
    let collector = Collector::with_script(vec![
        Reply::status(503).retry_after_secs(1),
        Reply::status(429).retry_after_date_in(Duration::from_secs(30)),
        Reply::status(400).body("bad report"),
    ]);
    let agent = agent(None);
    let url = collector.url();
    let (status, _, retry) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    let (status, _, retry) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!(status, 429);
    let date = httpdate::parse_http_date(&retry.unwrap()).unwrap();
    assert!(date > std::time::SystemTime::now() + Duration::from_secs(25));
    let (status, text, _) = post_json(&agent, &url, REPORT.as_bytes()).unwrap();
    assert_eq!((status, text.as_str()), (400, "bad report"));
    for _ in 0..2 {
        assert_eq!(post_json(&agent, &url, REPORT.as_bytes()).unwrap().0, 204);
    }
    let statuses: Vec<u16> = collector.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 429, 400, 204, 204]);
}

#[test]
fn collector_can_hang_and_close() {
    let collector = Collector::with_script(vec![Reply::hang(), Reply::close()]);
    let quick = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_millis(500)))
        .build()
        .new_agent();
    let started = Instant::now();
    let hung = post_json(&quick, &collector.url(), REPORT.as_bytes());
    assert!(hung.is_err(), "a hung collector gives no answer");
    assert!(started.elapsed() >= Duration::from_millis(450));
    let closed = post_json(&agent(None), &collector.url(), REPORT.as_bytes());
    assert!(closed.is_err(), "closed without an answer: {closed:?}");
    assert_eq!(collector.request_count(), 2);
    assert!(collector.requests().iter().all(|r| r.status == 0));
    // Dropping a collector with a hung request does not block.
    let started = Instant::now();
    drop(collector);
    assert!(started.elapsed() < crate::support::HANG_GUARD);
}

#[test]
fn collector_can_reject_gzip_like_the_original() {
    let collector = Collector::start(CollectorConfig {
        reject_gzip: true,
        ..CollectorConfig::default()
    });
    let agent = agent(None);
    let url = collector.url();
    let (status, text, _) = post(
        &agent,
        &url,
        "application/json",
        true,
        &gzip(REPORT.as_bytes()),
    )
    .unwrap();
    assert_eq!(status, 400);
    assert!(
        text.starts_with("Error: failed to decode record: "),
        "{text}"
    );
    let (status, text, _) = post(&agent, &url, "text/plain", false, REPORT.as_bytes()).unwrap();
    assert_eq!(status, 415, "{text}");
    let (status, _, _) = post(
        &agent,
        &url,
        "application/json; charset=utf-8",
        false,
        REPORT.as_bytes(),
    )
    .unwrap();
    assert_eq!(status, 204);
    let (status, _, _) = post_json(&agent, &url, b"[1,2]").unwrap();
    assert_eq!(status, 400);
    let statuses: Vec<u16> = collector.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [400, 415, 204, 400]);
    // The gzip body was still recorded decoded.
    assert_eq!(collector.requests()[0].body, REPORT.as_bytes());
}

#[test]
fn collector_over_https_and_refused_connections() {
    let collector = Collector::start(CollectorConfig {
        tls: true,
        ..CollectorConfig::default()
    });
    assert!(collector.url().starts_with("https://127.0.0.1:"));
    let agent = agent(collector.ca_pem());
    let (status, _, _) = post_json(&agent, &collector.url(), REPORT.as_bytes()).unwrap();
    assert_eq!(status, 204);
    assert_eq!(collector.requests()[0].body, REPORT.as_bytes());
    // Without the test CA the certificate is not trusted.
    let untrusted = ureq::Agent::config_builder()
        .proxy(None)
        .build()
        .new_agent();
    assert!(post_json(&untrusted, &collector.url(), b"{}").is_err());

    let refused = post_json(&agent, &refused_url(), b"{}");
    assert!(
        matches!(refused, Err(ureq::Error::Io(ref e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{refused:?}"
    );
}

#[test]
fn util_encodings() {
    for len in 0..40 {
        let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        assert_eq!(
            util::base64_decode(&util::base64_encode(&data)).unwrap(),
            data
        );
        assert_eq!(
            util::base64_decode(&util::base64url_encode(&data)).unwrap(),
            data
        );
    }
    assert_eq!(util::base64_encode(b"foobar"), "Zm9vYmFy");
    assert_eq!(util::base64_encode(b"fo"), "Zm8=");
    assert_eq!(util::rfc3339(0), "1970-01-01T00:00:00Z");
    assert_eq!(util::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    assert_eq!(util::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    assert_eq!(util::percent_decode("a%2Fb%3D%3D+c%"), "a/b== c%");
    assert_eq!(
        util::query_param("limit=7&continue=x%3D", "continue").as_deref(),
        Some("x=")
    );
}
