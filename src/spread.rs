//! Load spreading: thousands of clusters whose CronJobs share one schedule must not all report in
//! the same minute.
//!
//! A scheduled run waits a delay in `[0, spread)` derived from the cluster ID before it reads the
//! cluster, so each cluster reports at its own, stable time of day (one report a day, evenly
//! apart). A Job created by hand (`kubectl create job --from=cronjob/spartakus ...`) reports at
//! once: the CronJob controller names its Jobs `<cronjob>-<minutes since the Unix epoch>`, and
//! only a Job whose name ends in such a timestamp, within a day of now, is delayed. Pure.

use sha2::{Digest, Sha256};
use std::time::Duration;

/// Whether `job_name` is one the CronJob controller made for a scheduled run around `now`.
/// Without a job name (outside Kubernetes, or not passed in) the run counts as scheduled.
pub fn is_scheduled(job_name: Option<&str>, now_unix: u64) -> bool {
    let Some(name) = job_name else {
        return true;
    };
    let Some((_, suffix)) = name.rsplit_once('-') else {
        return false;
    };
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(minutes) = suffix.parse::<u64>() else {
        return false;
    };
    let now_minutes = now_unix / 60;
    now_minutes.abs_diff(minutes) <= 24 * 60
}

/// The delay of this cluster: stable for a cluster ID, evenly spread over `[0, spread)`.
pub fn delay(cluster_id: &str, spread: Duration) -> Duration {
    let millis = spread.as_millis() as u64;
    if millis == 0 {
        return Duration::ZERO;
    }
    let mut hash = Sha256::new();
    hash.update(b"spartakus.spread.v1\0");
    hash.update(cluster_id.as_bytes());
    let digest = hash.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    Duration::from_millis(u64::from_le_bytes(first) % millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_764_201_600; // 2025-11-27T00:00:00Z

    #[test]
    fn scheduled_jobs_are_told_from_manual_ones() {
        let minute = NOW / 60;
        assert!(is_scheduled(Some(&format!("spartakus-{minute}")), NOW));
        assert!(is_scheduled(
            Some(&format!("my-reporter-{}", minute - 3)),
            NOW
        ));
        assert!(is_scheduled(None, NOW));
        for manual in [
            "spartakus-manual",
            "spartakus-manual-1",
            "spartakus",
            "spartakus-",
            "spartakus-29x",
            &format!("spartakus-{}", minute - 3 * 24 * 60),
            "spartakus-99999999999999999999999",
        ] {
            assert!(!is_scheduled(Some(manual), NOW), "{manual}");
        }
    }

    #[test]
    fn delay_is_stable_bounded_and_spread() {
        let spread = Duration::from_secs(3600);
        assert_eq!(delay("a", spread), delay("a", spread));
        assert_eq!(delay("a", Duration::ZERO), Duration::ZERO);
        let mut buckets = [0usize; 6];
        for i in 0..600 {
            let d = delay(&format!("cluster-{i}"), spread);
            assert!(d < spread);
            buckets[(d.as_secs() / 600) as usize] += 1;
        }
        // 600 clusters over six 10-minute buckets: each gets a fair share.
        assert!(
            buckets.iter().all(|&n| (60..=140).contains(&n)),
            "{buckets:?}"
        );
    }
}
