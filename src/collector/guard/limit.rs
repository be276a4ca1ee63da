//! The per-cluster rate limit: at most N new reports per cluster ID per hour.
//!
//! A generic cell rate algorithm ([`Gcra`]): each cluster has one number, the time at which its
//! allowance is full again (`tat`). A burst of N is allowed, then one report every hour / N.
//! A cluster whose `tat` has passed is back to a full allowance, so its entry can be dropped.
//!
//! The databases keep each cluster's `tat` in a table, on the wall clock, so that every collector
//! on one store shares it (see `store::write`). [`Limiter`] keeps them in memory for the `stdout`
//! store: only clusters that reported within the last hour, and at most [`MAX_TRACKED`] of them,
//! each by a 128-bit digest of its ID (a fixed 32 bytes an entry, whatever the IDs). A full table
//! never refuses a cluster: it forgets the clusters closest to a full allowance again, so a flood
//! of made-up cluster IDs can at worst free their allowances early, never lock out real ones.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::hash::Hash;

/// Most cluster IDs tracked at once (about 6 MiB).
pub(crate) const MAX_TRACKED: usize = 200_000;

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

/// A cluster ID's 128-bit digest, the key of in-memory tables.
pub fn digest(cluster: &str) -> u128 {
    let hash = Sha256::digest(cluster.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(bytes)
}

/// Allowances kept in memory, one GCRA time per key (a cluster's digest, a source), at most
/// `max` of them: a full table forgets (see [`forget_soonest`]), never refuses.
#[derive(Debug)]
pub(crate) struct Allowances<K> {
    /// `None`: no limit.
    gcra: Option<Gcra>,
    tat: HashMap<K, u64>,
    max: usize,
}

impl<K: Hash + Eq + Copy> Allowances<K> {
    /// `per_hour` for each key (0: no limit), at most `max` keys tracked.
    pub(crate) fn with(per_hour: u32, max: usize) -> Self {
        Allowances {
            gcra: Gcra::new(per_hour),
            tat: HashMap::new(),
            max,
        }
    }

    #[cfg(test)]
    pub(crate) fn with_max(mut self, max: usize) -> Self {
        self.max = max;
        self
    }

    /// Whether `key` may use its allowance at `now_ms` (milliseconds on any monotonic clock).
    /// `Err` carries the seconds to wait (at least 1). Nothing is used: call
    /// [`Allowances::record`] once the thing allowed is done, so refused or failed attempts do
    /// not use the allowance.
    pub(crate) fn check(&self, key: K, now_ms: u64) -> Result<(), u64> {
        let Some(gcra) = self.gcra else {
            return Ok(());
        };
        gcra.allow(self.tat.get(&key).copied(), now_ms).map(|_| ())
    }

    /// Use one of `key`'s allowance.
    pub(crate) fn record(&mut self, key: K, now_ms: u64) {
        let Some(gcra) = self.gcra else {
            return;
        };
        if !self.tat.contains_key(&key) && self.tat.len() >= self.max {
            forget_soonest(&mut self.tat, now_ms, self.max);
        }
        let tat = self.tat.entry(key).or_insert(now_ms);
        *tat = (*tat).max(now_ms) + gcra.interval_ms;
    }

    /// [`Allowances::check`], and if allowed [`Allowances::record`], at once.
    pub(crate) fn take(&mut self, key: K, now_ms: u64) -> Result<(), u64> {
        self.check(key, now_ms)?;
        self.record(key, now_ms);
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.tat.len()
    }
}

/// The per-cluster allowances of the `stdout` store, each cluster by its [`digest`].
#[derive(Debug)]
pub(crate) struct Limiter(Allowances<u128>);

impl Limiter {
    pub(crate) fn new(per_hour: u32) -> Self {
        Limiter(Allowances::with(per_hour, MAX_TRACKED))
    }

    #[cfg(test)]
    fn with_max_tracked(self, max: usize) -> Self {
        Limiter(self.0.with_max(max))
    }

    /// [`Allowances::check`] for `cluster`.
    pub(crate) fn check(&mut self, cluster: &str, now_ms: u64) -> Result<(), u64> {
        self.0.check(digest(cluster), now_ms)
    }

    /// [`Allowances::record`] for `cluster`.
    pub(crate) fn record(&mut self, cluster: &str, now_ms: u64) {
        self.0.record(digest(cluster), now_ms);
    }

    #[cfg(test)]
    pub(crate) fn tracked(&self) -> usize {
        self.0.tracked()
    }
}

/// Makes room in a full table of GCRA times: drops the entries past `now_ms`, then, if it still
/// holds `max`, the eighth that would be full again soonest (forgetting, never refusing).
fn forget_soonest<K>(tat: &mut HashMap<K, u64>, now_ms: u64, max: usize) {
    tat.retain(|_, t| *t > now_ms);
    if tat.len() < max {
        return;
    }
    let mut tats: Vec<u64> = tat.values().copied().collect();
    let cut = (tats.len() / 8).max(1);
    let (_, nth, _) = tats.select_nth_unstable(cut - 1);
    let nth = *nth;
    tat.retain(|_, t| *t > nth);
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

    /// A table full of live entries (a flood of made-up cluster IDs) never refuses a cluster it
    /// does not track: it forgets the entries closest to a full allowance instead.
    #[test]
    fn a_full_table_forgets_rather_than_refuses() {
        let mut l = Limiter::new(1).with_max_tracked(16);
        for i in 0..16 {
            take(&mut l, &format!("fake-{i}"), i).unwrap();
        }
        assert_eq!(l.tracked(), 16);
        assert_eq!(
            take(&mut l, "real", 100),
            Ok(()),
            "a real cluster is not locked out"
        );
        assert!(l.tracked() <= 16);
        assert!(
            l.check("real", 101).is_err(),
            "and it is tracked from now on"
        );
        assert_eq!(
            l.check("fake-0", 101),
            Ok(()),
            "the oldest entry was forgotten"
        );
        assert_eq!(
            take(&mut l, "later", HOUR_MS + 1000),
            Ok(()),
            "expired entries make room"
        );
        assert_ne!(digest("a"), digest("b"));
    }
}
