//! Flag values, as every command reads them: durations (`90s`, `1h30m`), whole numbers and
//! counts. Each parser says what is wrong in words, for [`super::Given::error`] to prefix with
//! the flag. Pure.

use std::time::Duration;

/// Parses a duration such as `5m`, `90s`, `1h30m`, `500ms`, `2m30s` or `2d`; a unit is required
/// (but for a plain `0`).
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.contains('.') || text.contains(',') {
        return Err(format!(
            "{text:?}: fractions are not supported; use a smaller unit (90s, not 1.5m)"
        ));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "{text:?} is not a duration (examples: 90s, 5m, 1h30m)"
            ));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| format!("{text:?}: number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            "" => return Err(format!("{text:?}: missing unit (ms, s, m, h or d)")),
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (ms, s, m, h or d)"
                ));
            }
        };
        total = unit
            .checked_mul(u32::try_from(number).map_err(|_| format!("{text:?}: too large"))?)
            .and_then(|d| total.checked_add(d))
            .ok_or_else(|| format!("{text:?}: too large"))?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A duration above zero.
pub(crate) fn positive(text: &str) -> Result<Duration, String> {
    duration(text).and_then(above_zero)
}

/// `d`, unless it is zero.
pub(crate) fn above_zero(d: Duration) -> Result<Duration, String> {
    match d {
        d if d.is_zero() => Err("must be more than zero".into()),
        d => Ok(d),
    }
}

/// A duration of at most `limit`, said as `what` when longer (`longer than a year`).
pub(crate) fn at_most(text: &str, limit: Duration, what: &str) -> Result<Duration, String> {
    match duration(text)? {
        d if d > limit => Err(what.to_string()),
        d => Ok(d),
    }
}

/// A whole number (`u32`).
pub(crate) fn whole(text: &str) -> Result<u32, String> {
    text.parse::<u32>()
        .map_err(|_| "want a whole number".to_string())
}

/// A count from 1 to `max`.
pub(crate) fn count(max: usize) -> impl Fn(&str) -> Result<usize, String> {
    move |text| match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!("want a whole number from 1 to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("2d"), Ok(Duration::from_secs(172_800)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
        assert!(duration("1.5m").unwrap_err().contains("fractions"));
        for bad in ["", "5", "m", "5x", "1.5m", "-1s", "99999999999999999999s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
