//! Text made safe for where it goes: one line of a log or a terminal ([`printable`]; what a
//! server said, in a message, [`quoted`]), a value of a report on a page or in a metric label
//! ([`visible`]), HTML or SVG ([`html`]), a CSV field ([`csv_field`]), a URL's path segment or
//! query value ([`url_part`]); text cut to a width ([`cut`]) and a count in words ([`count`]).
//! Pure; the one place each of these rules is written, and one way ([`escaped`]) of writing a
//! character that must not act: `\u{...}`.

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
            _ => out.push_str(&escaped(c)),
        }
    }
    if text.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}

/// Text another program sent (an API server's or a collector's message), made fit for one
/// line of a message, an Event or a terminal: runs of white space become one space; control
/// characters (terminal escapes among them), bidirectional controls and other invisible
/// formatting characters are written as `\u{...}`, so they can neither act nor hide; at most
/// `max` characters, then `...`. Letters of any script stay as they are.
pub(crate) fn quoted(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max + 3));
    // Characters written so far: an escape counts as long as it is written.
    let mut shown = 0;
    let mut space = false;
    for c in text.trim().chars() {
        if c.is_whitespace() && !invisible(c) {
            space = true;
            continue;
        }
        let piece = match (c.is_control() || invisible(c), space) {
            (true, _) => format!("{}{}", if space { " " } else { "" }, escaped(c)),
            (false, true) => format!(" {c}"),
            (false, false) => c.to_string(),
        };
        space = false;
        let len = piece.chars().count();
        if shown + len > max {
            out.push_str("...");
            return out;
        }
        out.push_str(&piece);
        shown += len;
    }
    out
}

/// Text from a report shown as it is, letters of any script included, but unable to act or
/// hide: control characters and the invisible ones of [`quoted`] written as `\u{...}`, and a
/// backslash as `\\`, so that two texts never look alike (`é` and the text `\u{e9}` stay
/// apart). For metric labels and the dashboard.
pub(crate) fn visible(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || invisible(c) => out.push_str(&escaped(c)),
            c => out.push(c),
        }
    }
    out
}

/// `c` written as `\u{...}`, its code point in hex.
fn escaped(c: char) -> String {
    format!("\\u{{{:x}}}", c as u32)
}

/// Characters that change how text around them is shown without showing themselves: the
/// bidirectional controls, zero-width characters and line or paragraph separators.
fn invisible(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}'
        | '\u{feff}' | '\u{fff9}'..='\u{fffb}')
}

/// Text for HTML and SVG: `&`, `<`, `>`, `"` and `'` escaped.
pub(crate) fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
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

/// `text` cut to `max` characters (at least one), the last of them `mark` when it was cut.
pub(crate) fn cut(text: &str, max: usize, mark: char) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept = text.chars().take(max.max(1) - 1);
    kept.chain([mark]).collect()
}

/// `n` and `noun`, plural but for one: `1 cluster`, `0 clusters`, `2 clusters`.
pub(crate) fn count(n: u64, noun: &str) -> String {
    format!("{n} {}", plural(n, noun))
}

/// `noun` as it goes with `n`: `node` for one, `nodes` otherwise.
pub(crate) fn plural(n: u64, noun: &str) -> String {
    match n {
        1 => noun.to_string(),
        _ => format!("{noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_say_one_or_many() {
        assert_eq!(count(1, "period"), "1 period");
        assert_eq!(count(0, "cluster"), "0 clusters");
        assert_eq!(count(7, "day"), "7 days");
    }

    #[test]
    fn url_parts() {
        assert_eq!(url_part("eyJ2+/="), "eyJ2%2B%2F%3D");
        assert_eq!(url_part("kube-system"), "kube-system");
        assert_eq!(url_part("a/b?c#d%e f"), "a%2Fb%3Fc%23d%25e%20f");
    }

    #[test]
    fn quoted_text_is_one_line_that_cannot_act_or_hide() {
        assert_eq!(quoted("  forbidden:\n  nodes  ", 100), "forbidden: nodes");
        assert_eq!(
            quoted("a\x1b[31mred\x07\0b\u{202e}gnp.exe é", 100),
            "a\\u{1b}[31mred\\u{7}\\u{0}b\\u{202e}gnp.exe é"
        );
        assert_eq!(
            quoted(&"x".repeat(300), 200),
            format!("{}...", "x".repeat(200))
        );
        assert_eq!(quoted("ab cd", 3), "ab...");
        assert_eq!(
            quoted(&"\u{7}".repeat(100), 20),
            "\\u{7}\\u{7}\\u{7}\\u{7}..."
        );
        assert_eq!(quoted("x\u{2028}y", 10), "x\\u{2028}y");
    }

    #[test]
    fn visible_text_keeps_letters_and_never_makes_two_texts_alike() {
        assert_eq!(visible("é Ünïcode 東京"), "é Ünïcode 東京");
        assert_eq!(visible("\\u{e9}"), "\\\\u{e9}");
        assert_ne!(visible("é"), visible("\\u{e9}"));
        assert_eq!(visible("gnp\u{202e}.exe\n"), "gnp\\u{202e}.exe\\u{a}");
        assert_eq!(visible("a\u{2068}b"), "a\\u{2068}b");
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
