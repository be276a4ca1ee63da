//! Load spreading: thousands of clusters whose CronJobs share one schedule must not all report in
//! the same minute.
//!
//! A scheduled run reports at its scheduled time plus a delay in `[0, spread)` derived from the
//! cluster ID, so each cluster reports at its own, stable time of day (one report a day, evenly
//! apart). The wait counts from the scheduled time, not from the pod's start, so a pod that was
//! late or retried does not wait the whole delay again. A Job created by hand
//! (`kubectl create job --from=cronjob/spartakus ...`) reports at once: the CronJob controller
//! names its Jobs `<cronjob>-<minutes since the Unix epoch>`, and only a Job whose name ends in
//! such a timestamp, within a day of now, waits. Pure.

use sha2::{Digest, Sha256};
use std::time::Duration;

/// When a run may start, as a wait from `now_unix`: `None` when it is not a scheduled run (a
/// Job made by hand, or an empty job name, as in a pod whose Job label is missing), so it
/// reports at once. With a scheduled Job's name the wait ends `delay` after the scheduled minute;
/// without any job name (outside Kubernetes) it ends `delay` after now.
pub fn wait(job_name: Option<&str>, now_unix: u64, delay: Duration) -> Option<Duration> {
    let Some(name) = job_name else {
        return Some(delay);
    };
    let scheduled_minute = scheduled_minute(name, now_unix)?;
    let start = Duration::from_secs(scheduled_minute * 60) + delay;
    Some(start.saturating_sub(Duration::from_secs(now_unix)))
}

/// The scheduled minute in the name of a Job the CronJob controller made around `now_unix`.
fn scheduled_minute(name: &str, now_unix: u64) -> Option<u64> {
    let (_, suffix) = name.rsplit_once('-')?;
    if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let minutes = suffix.parse::<u64>().ok()?;
    (minutes.abs_diff(now_unix / 60) <= 24 * 60).then_some(minutes)
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
        let d = Duration::from_secs(600);
        // Scheduled this minute: the whole delay.
        assert_eq!(wait(Some(&format!("spartakus-{minute}")), NOW, d), Some(d));
        // Scheduled 3 minutes ago (a late or retried pod): what is left of it.
        assert_eq!(
            wait(Some(&format!("my-reporter-{}", minute - 3)), NOW, d),
            Some(Duration::from_secs(420))
        );
        // Scheduled an hour ago: no wait left.
        assert_eq!(
            wait(Some(&format!("spartakus-{}", minute - 60)), NOW, d),
            Some(Duration::ZERO)
        );
        // Outside Kubernetes: from now.
        assert_eq!(wait(None, NOW, d), Some(d));
        for manual in [
            "",
            "spartakus-manual",
            "spartakus-manual-1",
            "spartakus",
            "spartakus-",
            "spartakus-29x",
            &format!("spartakus-{}", minute - 3 * 24 * 60),
            "spartakus-99999999999999999999999",
        ] {
            assert_eq!(wait(Some(manual), NOW, d), None, "{manual:?}");
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
