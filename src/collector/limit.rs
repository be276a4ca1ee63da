//! The per-cluster rate limit: at most N new reports per cluster ID per hour.
//!
//! A generic cell rate algorithm (GCRA): each cluster has one number, the time at which its
//! allowance is full again (`tat`). A burst of N is allowed, then one report every hour / N.
//! A cluster whose `tat` has passed is back to a full allowance, so its entry is dropped: memory
//! holds only clusters that reported within the last hour, and at most [`MAX_TRACKED`] of them.

use std::collections::HashMap;

/// Most cluster IDs tracked at once. Past this (after dropping expired entries), reports from
/// clusters not yet tracked are refused for a minute rather than letting memory grow.
pub const MAX_TRACKED: usize = 200_000;

const HOUR_MS: u64 = 3_600_000;

#[derive(Debug)]
pub struct Limiter {
    /// Reports per hour per cluster; 0 turns the limit off.
    per_hour: u32,
    /// Milliseconds of allowance one report uses.
    interval_ms: u64,
    tat: HashMap<String, u64>,
    max_tracked: usize,
}

impl Limiter {
    pub fn new(per_hour: u32) -> Self {
        Limiter {
            per_hour,
            interval_ms: HOUR_MS / u64::from(per_hour.max(1)),
            tat: HashMap::new(),
            max_tracked: MAX_TRACKED,
        }
    }

    #[cfg(test)]
    fn with_max_tracked(mut self, max: usize) -> Self {
        self.max_tracked = max;
        self
    }

    /// Whether `cluster` may store a report at `now_ms` (milliseconds on any monotonic clock).
    /// `Err` carries the seconds to wait (at least 1). Nothing is recorded: call [`record`]
    /// once the report is stored, so refused or failed attempts do not use the allowance.
    ///
    /// [`record`]: Limiter::record
    pub fn check(&mut self, cluster: &str, now_ms: u64) -> Result<(), u64> {
        if self.per_hour == 0 {
            return Ok(());
        }
        let burst_ms = HOUR_MS - self.interval_ms;
        match self.tat.get(cluster) {
            Some(&tat) if tat > now_ms + burst_ms => {
                let wait_ms = tat - burst_ms - now_ms;
                Err(wait_ms.div_ceil(1000).max(1))
            }
            Some(_) => Ok(()),
            None if self.tat.len() >= self.max_tracked => {
                self.tat.retain(|_, tat| *tat > now_ms);
                if self.tat.len() >= self.max_tracked {
                    Err(60)
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    /// Use one report of `cluster`'s allowance.
    pub fn record(&mut self, cluster: &str, now_ms: u64) {
        if self.per_hour == 0 {
            return;
        }
        let interval = self.interval_ms;
        let tat = self.tat.entry(cluster.to_string()).or_insert(now_ms);
        *tat = (*tat).max(now_ms) + interval;
        // Amortized cleanup: when the table doubles past a floor, drop expired entries.
        if self.tat.len() > 1024 && self.tat.len().is_power_of_two() {
            self.tat.retain(|_, tat| *tat > now_ms);
        }
    }

    pub fn tracked(&self) -> usize {
        self.tat.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(l: &mut Limiter, c: &str, now: u64) -> Result<(), u64> {
        l.check(c, now)?;
        l.record(c, now);
        Ok(())
    }

    #[test]
    fn burst_then_one_per_interval_per_cluster() {
        let mut l = Limiter::new(3);
        for _ in 0..3 {
            assert_eq!(take(&mut l, "a", 0), Ok(()));
        }
        // Fourth in the same hour: wait until the first interval (20 min) has passed.
        assert_eq!(take(&mut l, "a", 0), Err(1200));
        assert_eq!(take(&mut l, "a", 600_000), Err(600));
        assert_eq!(
            take(&mut l, "b", 0),
            Ok(()),
            "other clusters are not affected"
        );
        assert_eq!(take(&mut l, "a", 1_200_000), Ok(()));
        assert!(take(&mut l, "a", 1_200_001).is_err());
        // After a quiet hour the full burst is back.
        for _ in 0..3 {
            assert_eq!(take(&mut l, "a", 10 * HOUR_MS), Ok(()));
        }
    }

    #[test]
    fn check_alone_uses_nothing_and_zero_disables() {
        let mut l = Limiter::new(1);
        for _ in 0..10 {
            assert_eq!(l.check("a", 0), Ok(()));
        }
        l.record("a", 0);
        assert_eq!(l.check("a", 1), Err(3600));
        let mut off = Limiter::new(0);
        for _ in 0..1000 {
            assert_eq!(take(&mut off, "a", 0), Ok(()));
        }
        assert_eq!(off.tracked(), 0);
    }

    #[test]
    fn table_is_bounded() {
        let mut l = Limiter::new(1).with_max_tracked(2);
        take(&mut l, "a", 0).unwrap();
        take(&mut l, "b", 0).unwrap();
        assert_eq!(l.check("c", 1000), Err(60), "full of live entries");
        assert_eq!(
            take(&mut l, "c", HOUR_MS + 1),
            Ok(()),
            "expired entries make room"
        );
        assert!(l.tracked() <= 2);
    }
}
