//! Reading the collector's answer, and showing endpoints in messages. Pure.

use std::io::Read;

/// Where a 3xx `Location` leads from `current`: an absolute http(s) URL or an absolute path on
/// the same server. Anything else, and a step down from HTTPS to HTTP, is refused with why.
pub(super) fn follow(current: &str, location: &str) -> Result<String, String> {
    let shown = crate::text::quoted(location, 100);
    let base: http::Uri = current
        .parse()
        .map_err(|_| format!("from an endpoint that is not a URL, to {shown}"))?;
    let next = match (
        location.starts_with('/') && !location.starts_with("//"),
        base.scheme_str(),
        base.authority(),
    ) {
        (true, Some(scheme), Some(authority)) => format!("{scheme}://{authority}{location}"),
        _ => location.to_string(),
    };
    let uri: http::Uri = next
        .parse()
        .map_err(|_| format!("to {shown}, which is not a URL"))?;
    match (base.scheme_str(), uri.scheme_str()) {
        (Some("https"), Some("https")) | (Some("http"), Some("http" | "https")) => {}
        (Some("https"), Some("http")) => {
            return Err(format!(
                "to {}, a downgrade from HTTPS to plain HTTP, which is not followed",
                redact(&next)
            ));
        }
        (_, Some(scheme)) => {
            return Err(format!(
                "to a {} URL ({shown}), which is not followed (only http and https)",
                crate::text::quoted(scheme, 20)
            ));
        }
        (_, None) => return Err(format!("to {shown}, which is not an absolute URL or path")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("to {shown}, which names no host"));
    }
    Ok(next)
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

/// The start of a response body, as a message may quote it: one line, its control and
/// bidirectional characters escaped ([`crate::text::quoted`]), at most 200 characters.
pub(super) fn body_snippet(reader: impl Read) -> String {
    let mut buf = Vec::new();
    let _ = reader.take(1024).read_to_end(&mut buf);
    crate::text::quoted(&String::from_utf8_lossy(&buf), 200)
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
    fn redirects_lead_where_they_say_or_say_why_not() {
        let here = "https://c.example/api/v1";
        assert_eq!(
            follow(here, "/v2/reports").as_deref(),
            Ok("https://c.example/v2/reports")
        );
        assert_eq!(
            follow(here, "https://d.example/api/v1").as_deref(),
            Ok("https://d.example/api/v1")
        );
        assert_eq!(
            follow("http://10.0.0.1/api/v1", "/api/v1").as_deref(),
            Ok("http://10.0.0.1/api/v1"),
            "a path keeps the endpoint's scheme"
        );
        assert_eq!(
            follow("http://10.0.0.1/api/v1", "https://c.example/api/v1").as_deref(),
            Ok("https://c.example/api/v1")
        );
        let why = |location: &str| follow(here, location).unwrap_err();
        assert_eq!(
            why("http://c.example/api/v1"),
            "to http://c.example/api/v1, a downgrade from HTTPS to plain HTTP, which is not followed"
        );
        assert_eq!(
            why("ftp://c.example/x"),
            "to a ftp URL (ftp://c.example/x), which is not followed (only http and https)"
        );
        assert!(why("//evil.example/x").contains("not an absolute URL or path"));
        assert!(
            why("\x1b[31m\u{202e}").contains("\\u{1b}"),
            "{}",
            why("\x1b[31m")
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
