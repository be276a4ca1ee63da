//! What the API server's answers mean: a `Status` error body, the one classification of
//! statuses (429 and 5xx are retried, the rest final), and the errors a call ends with, always
//! of [`Class::Kubernetes`] and saying which call (`list nodes: ...`). Pure.

use crate::exit::{Class, fail};
use crate::retry::{Deadline, parse_retry_after};
use anyhow::Result;
use http::StatusCode;
use serde::Deserialize;
use std::fmt;
use std::time::{Duration, SystemTime};

/// What an API call was doing, for messages: `list nodes`, `get configmaps "x" in namespace "y"`.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub verb: &'static str,
    pub resource: String,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verb, self.resource)
    }
}

/// The parts of a Kubernetes `Status` error body worth showing.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct Status {
    pub message: String,
    pub reason: String,
}

/// A failed attempt worth retrying, with the server's `Retry-After`, if any. Failures that
/// retrying cannot help are plain errors.
pub(super) struct Retry {
    pub(super) error: anyhow::Error,
    pub(super) after: Option<Duration>,
}

impl Retry {
    pub(super) fn new(error: anyhow::Error) -> Retry {
        Retry { error, after: None }
    }
}

/// One attempt's outcome: `Err` is worth another attempt; an outer error is final.
pub(super) type Attempt<T> = std::result::Result<T, Retry>;

pub(super) fn api_error(op: &Op, error: anyhow::Error) -> anyhow::Error {
    fail(Class::Kubernetes, anyhow::anyhow!("{op}: {error:#}"))
}

pub(super) fn deadline_error(op: &Op, deadline: &Deadline) -> anyhow::Error {
    deadline_passed(op, deadline)
}

/// The run's deadline passed while `what` waited for the Kubernetes API ([`Class::Kubernetes`]:
/// exit code 5 is kept for the collector).
pub(super) fn deadline_passed(what: impl fmt::Display, deadline: &Deadline) -> anyhow::Error {
    fail(
        Class::Kubernetes,
        anyhow::anyhow!(
            "{what}: the run's deadline of {:?} passed while waiting for the Kubernetes API",
            deadline.total()
        ),
    )
}

pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

/// The most characters of an API server's own message a message quotes.
pub(super) const MAX_QUOTED: usize = 200;

/// Classifies an answer that is not a success: 429 and 5xx are transient; anything else is
/// final. `message` and `reason` are the `Status` body's.
pub(super) fn classify_status(
    op: &Op,
    status: StatusCode,
    message: &str,
    reason: &str,
    retry_after: Option<Duration>,
) -> Result<Retry> {
    let canonical = status.canonical_reason().unwrap_or(reason);
    let detail = if status == StatusCode::UNAUTHORIZED {
        "the API server refused the credentials (expired or wrong token or certificate)"
    } else if message.eq_ignore_ascii_case(canonical) || message.eq_ignore_ascii_case(reason) {
        ""
    } else {
        message
    };
    let summary = if detail.is_empty() {
        format!("{canonical} ({})", status.as_u16())
    } else {
        format!(
            "{canonical} ({}): {}",
            status.as_u16(),
            crate::text::quoted(detail, MAX_QUOTED)
        )
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Ok(Retry {
            error: anyhow::anyhow!("{summary}"),
            after: retry_after,
        });
    }
    Err(api_error(op, anyhow::anyhow!("{summary}")))
}

pub(super) fn retry_after_of(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, SystemTime::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        let op = Op {
            verb: "list",
            resource: "nodes".into(),
        };
        let message = "nodes is forbidden: User \"x\" cannot list resource \"nodes\"";
        let Err(err) = classify_status(&op, StatusCode::FORBIDDEN, message, "Forbidden", None)
        else {
            panic!("403 must not be retried");
        };
        assert_eq!(crate::exit::class_of(&err), Class::Kubernetes);
        let text = format!("{err:#}");
        assert!(
            text.starts_with("list nodes: Forbidden (403): nodes is forbidden"),
            "{text}"
        );
        for code in [429u16, 500, 502, 503, 504] {
            let status = StatusCode::from_u16(code).unwrap();
            assert!(matches!(
                classify_status(&op, status, "", "", Some(Duration::from_secs(3))),
                Ok(Retry { after: Some(_), .. })
            ));
        }
        let Err(err) = classify_status(
            &op,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Unauthorized",
            None,
        ) else {
            panic!("401 must not be retried");
        };
        let text = format!("{err:#}");
        assert_eq!(text.matches("Unauthorized").count(), 1, "{text}");
        assert!(text.contains("credentials"), "{text}");
        for code in [400u16, 404, 422] {
            let status = StatusCode::from_u16(code).unwrap();
            let Err(err) = classify_status(&op, status, "<html>oops</html>", "", None) else {
                panic!("{code} must not be retried");
            };
            assert!(format!("{err:#}").contains("<html>oops</html>"));
        }
    }
}
