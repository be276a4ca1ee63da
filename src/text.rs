//! Text made safe for where it goes: one line of a log or a terminal ([`printable`]), a
//! CSV field ([`csv_field`]), a URL's path segment or query value ([`url_part`]). Pure; the one
//! place each of these rules is written.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// What stays as it is in a URL's path segment or query value: RFC 3986's unreserved characters.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded for a URL's path segment or query value (RFC 3986 unreserved
/// characters stay).
pub(crate) fn url_part(text: &str) -> String {
    utf8_percent_encode(text, UNRESERVED).to_string()
}

/// Text from a client (or a report), made safe for one line of a log or a terminal: every
/// character that is not plain printable ASCII is written as `\u{...}` (so no line separator,
/// bidirectional override or escape sequence gets through), a backslash as `\\` and a double
/// quote as `\"` (so a quoted field cannot be closed early); at most
/// `max` characters, then `...`.
pub(crate) fn printable(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars().take(max) {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// Quotes a CSV field (RFC 4180), and defuses a field a spreadsheet would run as a formula.
pub(crate) fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts() {
        assert_eq!(url_part("eyJ2+/="), "eyJ2%2B%2F%3D");
        assert_eq!(url_part("kube-system"), "kube-system");
        assert_eq!(url_part("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
    }

    #[test]
    fn log_text_is_one_safe_line() {
        assert_eq!(printable("/api/v1", 64), "/api/v1");
        assert_eq!(printable("/a\nb\x1b", 64), "/a\\u{a}b\\u{1b}");
        assert_eq!(
            printable("/x\u{2028}GET /y\u{2002}\u{202e}é\\", 64),
            "/x\\u{2028}GET /y\\u{2002}\\u{202e}\\u{e9}\\\\"
        );
        assert_eq!(
            printable(&"x".repeat(70), 64),
            format!("{}...", "x".repeat(64))
        );
    }
}
