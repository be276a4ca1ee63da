//! The clock, read in one place, and the one date format the programs print.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now.
pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix milliseconds now: the clock of the rate limits kept in the store, which every collector
/// on it shares.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix seconds `since` before `now` (Unix seconds): the start of a window that ends now.
pub(crate) fn ago(now: i64, since: std::time::Duration) -> i64 {
    now - i64::try_from(since.as_secs()).unwrap_or(i64::MAX / 2)
}

/// Unix seconds as RFC 3339 UTC, e.g. `2026-11-01T09:30:00Z`.
pub fn rfc3339(secs: i64) -> String {
    let (year, month, day) = civil(secs.div_euclid(86_400));
    let rest = secs.rem_euclid(86_400);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Unix seconds as an RFC 3339 date, e.g. `2026-11-01`.
pub fn rfc3339_date(secs: i64) -> String {
    let (year, month, day) = civil(secs.div_euclid(86_400));
    format!("{year:04}-{month:02}-{day:02}")
}

/// An RFC 3339 date and time (`2024-03-01T12:00:00Z`, as Kubernetes writes
/// `metadata.creationTimestamp`; fractions of a second and offsets allowed) as Unix seconds, or
/// `None` if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |at: usize, len: usize| -> Option<i64> {
        let digits = text.get(at..at + len)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    let shaped = bytes.len() >= 20
        && separators.iter().all(|(at, sep)| bytes[*at] == *sep)
        && matches!(bytes[10], b'T' | b't');
    if !shaped {
        return None;
    }
    let (year, month, day) = (number(0, 4)?, number(5, 2)?, number(8, 2)?);
    let (hour, minute, second) = (number(11, 2)?, number(14, 2)?, number(17, 2)?);
    let days = days_from_civil(year, month, day);
    if civil(days) != (year, month, day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (h, m) = (number(text.len() - 5, 2)?, number(text.len() - 2, 2)?);
            let offset = h * 3600 + m * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };
    // A leap second (:60) counts as the last second of its minute.
    Some(days * 86_400 + hour * 3600 + minute * 60 + second.min(59) - offset)
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian), in 400-year eras.
pub(crate) fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A civil date to days since 1970-01-01 (the inverse of [`civil`]).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_764_201_600), "2025-11-27T00:00:00Z");
        assert_eq!(rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_date(1_764_201_600 + 86_399), "2025-11-27");
        for days in [-800_000, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn rfc3339_as_kubernetes_writes_it() {
        for secs in [0, 1_764_201_600, 951_782_400 + 3661, 1_688_169_600 + 86_399] {
            assert_eq!(parse_rfc3339(&rfc3339(secs)), Some(secs));
        }
        let at = 1_764_201_600 + 12 * 3600;
        for text in [
            "2025-11-27T12:00:00Z",
            "2025-11-27t12:00:00z",
            "2025-11-27T12:00:00.123456Z",
            "2025-11-27T14:00:00+02:00",
            "2025-11-27T09:30:00.5-02:30",
        ] {
            assert_eq!(parse_rfc3339(text), Some(at), "{text}");
        }
        assert_eq!(
            parse_rfc3339("2016-12-31T23:59:60Z"),
            parse_rfc3339("2016-12-31T23:59:59Z")
        );
        for bad in [
            "",
            "2025-11-27",
            "2025-11-27 12:00:00Z",
            "2025-11-27T12:00:00",
            "2025-11-27T12:00:00.Z",
            "2025-11-27T12:00:00+0200",
            "2025-02-30T12:00:00Z",
            "2025-13-01T12:00:00Z",
            "2025-11-27T24:00:00Z",
            "2025-11-27T12:60:00Z",
            "+025-11-27T12:00:00Z",
            "2025-11-27T12:00:00Zjunk",
            "２025-11-27T12:00:00Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad:?}");
        }
    }
}
