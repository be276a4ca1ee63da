//! The servers' log: one line on stderr per event, with the time. Whatever a line quotes from a
//! client or a report goes through [`crate::text::printable`] first.

/// One line on stderr, with the time.
pub(crate) fn line(text: &str) {
    eprintln!("{} {text}", crate::time::rfc3339(crate::time::now_secs()));
}
