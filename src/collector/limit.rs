//! The per-cluster rate limit: at most N new reports per cluster ID per hour.
//!
//! A generic cell rate algorithm ([`Gcra`]): each cluster has one number, the time at which its
//! allowance is full again (`tat`). A burst of N is allowed, then one report every hour / N.
//! A cluster whose `tat` has passed is back to a full allowance, so its entry can be dropped.
//!
//! The databases keep each cluster's `tat` in a table, on the wall clock, so that every collector
//! on one store shares it (see `store::write`). [`Limiter`] keeps them in memory for the `stdout`
//! store: only clusters that reported within the last hour, and at most [`MAX_TRACKED`] of them.

use std::collections::HashMap;

/// Most cluster IDs tracked at once. Past this (after dropping expired entries), reports from
/// clusters not yet tracked are refused for a minute rather than letting memory grow.
pub const MAX_TRACKED: usize = 200_000;

const HOUR_MS: u64 = 3_600_000;

/// The algorithm alone, with no memory of its own: the caller keeps each cluster's `tat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Milliseconds of allowance one report uses.
    interval_ms: u64,
}

impl Gcra {
    /// The limit of `per_hour` reports per cluster; `None` for 0 (no limit).
    pub fn new(per_hour: u32) -> Option<Gcra> {
        (per_hour > 0).then(|| Gcra {
            interval_ms: HOUR_MS / u64::from(per_hour),
        })
    }

    /// Whether a cluster whose `tat` is this (`None`: not known, a full allowance) may store a
    /// report at `now_ms`: `Ok` with its `tat` once it has, or `Err` with the seconds to wait
    /// (at least 1).
    pub fn allow(&self, tat: Option<u64>, now_ms: u64) -> Result<u64, u64> {
        let burst_ms = HOUR_MS - self.interval_ms;
        match tat {
            Some(tat) if tat > now_ms + burst_ms => {
                let wait_ms = tat - burst_ms - now_ms;
                Err(wait_ms.div_ceil(1000).max(1))
            }
            tat => Ok(tat.unwrap_or(now_ms).max(now_ms) + self.interval_ms),
        }
    }
}

#[derive(Debug)]
pub struct Limiter {
    /// `None`: no limit.
    gcra: Option<Gcra>,
    tat: HashMap<String, u64>,
    max_tracked: usize,
}

impl Limiter {
    pub fn new(per_hour: u32) -> Self {
        Limiter {
            gcra: Gcra::new(per_hour),
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
        let Some(gcra) = self.gcra else {
            return Ok(());
        };
        match self.tat.get(cluster) {
            Some(&tat) => gcra.allow(Some(tat), now_ms).map(|_| ()),
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
        let Some(gcra) = self.gcra else {
            return;
        };
        let tat = self.tat.entry(cluster.to_string()).or_insert(now_ms);
        *tat = (*tat).max(now_ms) + gcra.interval_ms;
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
    fn gcra_alone_burst_then_interval() {
        assert_eq!(Gcra::new(0), None);
        let g = Gcra::new(2).unwrap();
        let half = HOUR_MS / 2;
        assert_eq!(g.allow(None, 1000), Ok(1000 + half));
        assert_eq!(g.allow(Some(1000 + half), 1000), Ok(1000 + 2 * half));
        assert_eq!(g.allow(Some(1000 + 2 * half), 1000), Err(1800));
        assert_eq!(g.allow(Some(1000 + 2 * half), 1000 + half - 1), Err(1));
        assert_eq!(
            g.allow(Some(1000 + 2 * half), 1000 + half),
            Ok(1000 + 3 * half)
        );
        assert_eq!(
            g.allow(Some(5), 10 * HOUR_MS),
            Ok(10 * HOUR_MS + half),
            "a past tat is full"
        );
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
