//! Error classes and the process exit codes they map to.
//!
//! Library code returns `anyhow::Error`; where the class matters it wraps the cause in a
//! [`Failure`] so that `main` can pick the exit code by downcasting, once, at the top.

use std::fmt;

/// Why a run failed, as far as the operator needs to know to act on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Bad flags, a bad extensions file, a missing cluster ID: fix the configuration.
    Usage,
    /// The Kubernetes API refused or failed (RBAC, not found, unreachable, server errors, or no
    /// answer before the deadline).
    Kubernetes,
    /// The collector answered with a 4xx: the report was rejected and will not be retried.
    Rejected,
    /// The collector could not be reached before the run's deadline.
    Unreachable,
    /// The collector kept answering 429 (rate limited) until the run's deadline: it is reached,
    /// and it refuses this cluster's reports for now. The exit code is [`Class::Unreachable`]'s.
    Throttled,
    /// The collector's store or listener failed (collector side only).
    Internal,
}

impl Class {
    /// A short name for the class, for the run's receipt (a Kubernetes Event).
    pub fn label(self) -> &'static str {
        match self {
            Class::Usage => "configuration",
            Class::Kubernetes => "kubernetes-api",
            Class::Rejected => "rejected-by-collector",
            Class::Unreachable => "collector-unreachable",
            Class::Throttled => "rate-limited-by-collector",
            Class::Internal => "internal",
        }
    }

    /// The process exit code for this class (documented in `--help` and the README).
    pub fn code(self) -> u8 {
        match self {
            Class::Usage => 2,
            Class::Kubernetes => 3,
            Class::Rejected => 4,
            Class::Unreachable | Class::Throttled => 5,
            Class::Internal => 1,
        }
    }
}

/// An error tagged with its [`Class`]. The message is the cause's; the class only picks the code.
#[derive(Debug)]
pub struct Failure {
    pub class: Class,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always the whole inner chain: anyhow prints each link of an outer chain plainly.
        write!(f, "{:#}", self.error)
    }
}

impl std::error::Error for Failure {}

/// Tag an error with a class.
pub fn fail(class: Class, error: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        class,
        error: error.into(),
    })
}

/// A usage error (exit code 2): a flag, a file or a setting the operator must fix.
pub fn usage(message: impl fmt::Display) -> anyhow::Error {
    fail(Class::Usage, anyhow::anyhow!("{message}"))
}

/// The class of an error chain: the outermost [`Failure`] found, else [`Class::Internal`].
pub fn class_of(error: &anyhow::Error) -> Class {
    error
        .chain()
        .find_map(|e| e.downcast_ref::<Failure>())
        .map(|f| f.class)
        .unwrap_or(Class::Internal)
}

/// Writes `bytes` to standard output. A reader that went away (`spartakus report --dry-run |
/// head -c 100`) is not a failure: it had what it wanted.
pub(crate) fn print(bytes: &[u8]) -> anyhow::Result<()> {
    print_with(|out| out.write_all(bytes))
}

/// What `write` writes, on standard output as it is written; a reader that stops reading
/// (`| head`) ends it without an error, as [`print`].
pub(crate) fn print_with(
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
    match write(&mut out).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        done => done.map_err(|e| anyhow::anyhow!("writing to stdout: {e}")),
    }
}

/// Whether an error is standard output's reader having gone away (see [`print`]).
pub(crate) fn is_closed_pipe(error: &std::io::Error) -> bool {
    error.kind() == std::io::ErrorKind::BrokenPipe
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn class_survives_added_context() {
        let e = fail(Class::Rejected, anyhow::anyhow!("400 Bad Request"));
        let e = Err::<(), _>(e).context("sending report").unwrap_err();
        assert_eq!(class_of(&e), Class::Rejected);
        assert_eq!(format!("{e:#}"), "sending report: 400 Bad Request");
    }

    #[test]
    fn untagged_errors_are_internal_and_codes_are_distinct() {
        assert_eq!(class_of(&anyhow::anyhow!("x")), Class::Internal);
        const ALL: [Class; 5] = [
            Class::Usage,
            Class::Kubernetes,
            Class::Rejected,
            Class::Unreachable,
            Class::Internal,
        ];
        let mut codes: Vec<u8> = ALL.iter().map(|c| c.code()).collect();
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), 5);
        let labels: std::collections::BTreeSet<&str> = ALL.iter().map(|c| c.label()).collect();
        assert_eq!(labels.len(), 5);
        assert!(!codes.contains(&0));
        // A rate-limited report is named for what it is, and exits as an undelivered one does.
        assert_eq!(Class::Throttled.code(), Class::Unreachable.code());
        assert!(!labels.contains(Class::Throttled.label()));
    }
}
