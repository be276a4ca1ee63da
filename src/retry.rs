//! The run's deadline, backoff, `Retry-After`, and the one retry policy both of the reporter's
//! HTTP clients (the Kubernetes API and the collector) follow:
//!
//! 1. A failure worth another attempt (no connection, a broken response, 408, 429, 5xx) is
//!    retried after the server's `Retry-After` if it sent one, else after [`Backoff::DEFAULT`]
//!    (exponential with jitter, 0.5 s doubling up to 30 s).
//! 2. A `Retry-After` longer than [`MAX_RETRY_AFTER`] is waited as that long.
//! 3. A wait that would pass the run's deadline is not waited: the run stops at once, saying
//!    what failed and that the deadline leaves no time.
//! 4. A run someone is watching ([`Patience::Impatient`]: a preview, or a terminal) does not wait
//!    for what is unlikely to heal within minutes: a connection refused by this machine, or a
//!    name that does not resolve. A scheduled run waits for them like any other failure.
//!
//! Pure but for two readings of the machine, each in one place: [`Patience::for_run`] asks
//! whether standard error is a terminal, and [`random_u64`] takes the jitter's randomness from
//! the OS; the clock is read by [`Deadline`] and passed in everywhere else.

use std::time::{Duration, Instant, SystemTime};

/// The longest `Retry-After` honoured as given (rule 2).
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Whether a run waits out failures that may take long to heal (rule 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Patience {
    /// A scheduled run: every transient failure is retried until the deadline.
    Patient,
    /// A person is watching: a refused loopback connection or an unknown name is final.
    Impatient,
}

impl Patience {
    /// Impatient for a preview, or when standard error is a terminal; patient otherwise (a
    /// CronJob's pod).
    pub(crate) fn for_run(preview: bool) -> Patience {
        use std::io::IsTerminal;
        if preview || std::io::stderr().is_terminal() {
            Patience::Impatient
        } else {
            Patience::Patient
        }
    }

    /// Whether a transport failure, described by `text`, to `host` is final for this run.
    pub(crate) fn gives_up_on(self, host: &str, text: &str) -> bool {
        if self == Patience::Patient {
            return false;
        }
        let lower = text.to_ascii_lowercase();
        let refused = lower.contains("connection refused");
        let unknown_name = lower.contains("failed to lookup address")
            || lower.contains("name or service not known")
            || lower.contains("no such host")
            || lower.contains("dns error")
            || lower.contains("nodename nor servname");
        unknown_name || (refused && is_loopback(host))
    }
}

/// `localhost`, `127.x.y.z` or `::1`.
pub(crate) fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The wait before the next attempt, after `failures` failed ones (rules 1 to 3): `Ok(wait)`, or
/// `Err(wait)` when that wait would pass the deadline, `remaining` from now.
pub(crate) fn next_wait(
    failures: u32,
    retry_after: Option<Duration>,
    remaining: Duration,
    random: u64,
) -> Result<Duration, Duration> {
    let wait = retry_after
        .map(|after| after.min(MAX_RETRY_AFTER))
        .unwrap_or_else(|| Backoff::DEFAULT.delay(failures, random));
    if wait >= remaining {
        Err(wait)
    } else {
        Ok(wait)
    }
}

/// The hard deadline of a run: every wait and every request fits inside it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Instant,
    total: Duration,
}

impl Deadline {
    pub(crate) fn after(total: Duration) -> Self {
        Deadline {
            at: Instant::now() + total,
            total,
        }
    }

    /// Time left, zero once passed.
    pub(crate) fn remaining(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    pub(crate) fn passed(&self) -> bool {
        self.remaining().is_zero()
    }

    /// The whole budget, for messages.
    pub(crate) fn total(&self) -> Duration {
        self.total
    }
}

/// Exponential backoff with full jitter: attempt `n` (0-based) waits a random time up to
/// `min(cap, base * 2^n)`, but at least a tenth of it so retries never hammer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub(crate) const DEFAULT: Backoff = Backoff {
        base: Duration::from_millis(500),
        cap: Duration::from_secs(30),
    };

    /// The wait before retry number `attempt` (0 for the first retry), given a random `u64`.
    pub(crate) fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
            .min(self.cap);
        let ceiling_ms = ceiling.as_millis().max(1) as u64;
        let floor_ms = ceiling_ms / 10;
        Duration::from_millis(floor_ms + random % (ceiling_ms - floor_ms + 1))
    }
}

/// Parses a `Retry-After` header: delay-seconds or an HTTP date, relative to `now`. A date in the
/// past means "now"; garbage means "no advice".
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// A random `u64` from the operating system (for jitter); zero if it is unavailable, which only
/// makes the jitter less random.
pub(crate) fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    match getrandom::fill(&mut bytes) {
        Ok(()) => u64::from_le_bytes(bytes),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            base: Duration::from_secs(1),
            cap: Duration::from_secs(8),
        };
        assert_eq!(b.delay(0, 0), Duration::from_millis(100));
        assert_eq!(b.delay(0, u64::MAX), b.delay(0, u64::MAX % 901));
        assert!(b.delay(0, 999_999) <= Duration::from_secs(1));
        for attempt in 0..40 {
            for r in [0, 1, 12345, u64::MAX] {
                let d = b.delay(attempt, r);
                assert!(d <= Duration::from_secs(8), "{attempt} {r} {d:?}");
                assert!(d >= Duration::from_millis(100));
            }
        }
        assert!(b.delay(5, 0) >= Duration::from_millis(800));
        let distinct: std::collections::BTreeSet<_> =
            (0..50).map(|r| b.delay(3, r * 7919)).collect();
        assert!(distinct.len() > 10);
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }

    #[test]
    fn one_policy() {
        let left = Duration::from_secs(300);
        assert_eq!(
            next_wait(0, Some(Duration::from_secs(7)), left, 0),
            Ok(Duration::from_secs(7))
        );
        assert_eq!(
            next_wait(0, Some(Duration::from_secs(3600)), left, 0),
            Ok(MAX_RETRY_AFTER)
        );
        assert_eq!(
            next_wait(
                0,
                Some(Duration::from_secs(3600)),
                Duration::from_secs(60),
                0
            ),
            Err(MAX_RETRY_AFTER),
            "never waits past the deadline"
        );
        assert_eq!(next_wait(0, None, left, 0), Ok(Duration::from_millis(50)));
        assert!(next_wait(0, None, Duration::from_millis(10), 0).is_err());

        let refused = "tcp connect error: Connection refused (os error 111)";
        let dns = "dns error: failed to lookup address information: Name or service not known";
        assert!(Patience::Impatient.gives_up_on("127.0.0.1", refused));
        assert!(Patience::Impatient.gives_up_on("localhost", refused));
        assert!(Patience::Impatient.gives_up_on("[::1]", refused));
        assert!(
            !Patience::Impatient.gives_up_on("10.0.0.1", refused),
            "may be restarting"
        );
        assert!(Patience::Impatient.gives_up_on("collector.example.org", dns));
        assert!(!Patience::Patient.gives_up_on("127.0.0.1", refused));
        assert!(!Patience::Patient.gives_up_on("c.example.org", dns));
        assert!(!Patience::Impatient.gives_up_on("127.0.0.1", "connection reset by peer"));
    }

    #[test]
    fn deadline_counts_down() {
        let d = Deadline::after(Duration::from_secs(60));
        assert!(!d.passed());
        assert!(d.remaining() <= Duration::from_secs(60));
        assert!(Deadline::after(Duration::ZERO).passed());
    }
}
