//! Reading the collector's answer, and showing endpoints in messages. Pure.

use std::io::Read;

/// Where a 307/308 `Location` leads from `current`: an absolute http(s) URL or an absolute path
/// on the same server. `None` for anything else, and for a step down from HTTPS to HTTP.
pub(super) fn follow(current: &str, location: &str) -> Option<String> {
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
pub(super) fn refused_encoding(status: u16, detail: &str) -> bool {
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
pub(crate) fn redact(endpoint: &str) -> String {
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

/// The host of an endpoint URL, for deciding what is worth retrying.
pub(super) fn host_of(endpoint: &str) -> String {
    endpoint
        .parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_string))
        .unwrap_or_default()
}

/// For a 404 or 405 from an endpoint whose path is not the collector's report path: a hint.
pub(super) fn path_hint(status: u16, endpoint: &str) -> String {
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

pub(super) fn describe(status: u16, detail: &str) -> String {
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
pub(super) fn body_snippet(reader: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = reader.take(200).read_to_end(&mut buf);
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
