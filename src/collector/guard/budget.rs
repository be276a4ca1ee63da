//! The memory budget: every byte of received report the collector holds (the decompressed JSON,
//! from the first body byte until the store has it) is paid for from one fixed budget, in pages
//! of [`PAGE`] bytes, as it arrives (never as a client declares it). A request that cannot get
//! more within a short wait is answered 503 with `Retry-After`, so peak memory stays bounded
//! however many clients send at once.
//!
//! Nothing else a request holds grows with the report: the body is decompressed as it arrives
//! into chunks this budget pays for (the compressed bytes are never kept), and the report is
//! checked and stored by parsing those chunks node by node (see [`crate::contract::read`]).

use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout_at};

/// The unit of the budget.
pub(crate) const PAGE: usize = 4096;

/// The shared budget.
#[derive(Debug, Clone)]
pub(crate) struct Budget {
    chunks: Arc<Semaphore>,
    total: usize,
}

impl Budget {
    /// A budget of `bytes`, rounded down to whole pages.
    pub(crate) fn new(bytes: usize) -> Budget {
        let total = (bytes / PAGE).min(Semaphore::MAX_PERMITS);
        Budget {
            chunks: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// The budget in bytes.
    pub(crate) fn bytes(&self) -> usize {
        self.total * PAGE
    }

    /// Bytes currently held by requests.
    pub(crate) fn in_use(&self) -> usize {
        (self.total - self.chunks.available_permits()) * PAGE
    }

    /// An empty lease, grown with [`Lease::grow`].
    pub(crate) fn lease(&self) -> Lease {
        Lease {
            budget: self.clone(),
            chunks: 0,
        }
    }
}

/// The budget was not available in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exhausted;

/// Pages held by one request; given back when dropped.
#[derive(Debug)]
pub(crate) struct Lease {
    budget: Budget,
    chunks: usize,
}

impl Lease {
    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.chunks * PAGE
    }

    /// Hold at least `bytes`, waiting until `until` for the rest. All or nothing: on failure the
    /// lease keeps what it had (the caller usually drops it, freeing the budget).
    pub(crate) async fn grow(&mut self, bytes: usize, until: Instant) -> Result<(), Exhausted> {
        let chunks = pages(bytes);
        let more = chunks.saturating_sub(self.chunks);
        if more == 0 {
            return Ok(());
        }
        if more > self.budget.total {
            return Err(Exhausted);
        }
        let more_u32 = u32::try_from(more).map_err(|_| Exhausted)?;
        match timeout_at(until, self.budget.chunks.acquire_many(more_u32)).await {
            Ok(Ok(permit)) => {
                permit.forget();
                self.chunks += more;
                Ok(())
            }
            _ => Err(Exhausted),
        }
    }

    /// Hold at least `bytes` if the budget has room now, without waiting: whether it did.
    pub(crate) fn try_grow(&mut self, bytes: usize) -> bool {
        let more = pages(bytes).saturating_sub(self.chunks);
        if more == 0 {
            return true;
        }
        let Ok(more_u32) = u32::try_from(more) else {
            return false;
        };
        match self.budget.chunks.try_acquire_many(more_u32) {
            Ok(permit) => {
                permit.forget();
                self.chunks += more;
                true
            }
            Err(_) => false,
        }
    }

    /// Give back all but `keep` bytes (rounded up to whole pages).
    pub(crate) fn shrink(&mut self, keep: usize) {
        let keep = pages(keep);
        if keep < self.chunks {
            self.budget.chunks.add_permits(self.chunks - keep);
            self.chunks = keep;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.shrink(0);
    }
}

/// Pages needed to hold `bytes`.
fn pages(bytes: usize) -> usize {
    bytes.div_ceil(PAGE)
}

/// `64Mi`, `1Gi`, `512Ki`, `128MiB`, or plain bytes.
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: usize = number
        .parse()
        .map_err(|_| "want a size: bytes, or a number with Ki, Mi or Gi, e.g. 128Mi".to_string())?;
    let scale: usize = match unit.trim() {
        "" | "B" => 1,
        "Ki" | "KiB" => 1 << 10,
        "Mi" | "MiB" => 1 << 20,
        "Gi" | "GiB" => 1 << 30,
        other => return Err(format!("unknown unit `{other}` (want Ki, Mi or Gi)")),
    };
    n.checked_mul(scale)
        .filter(|b| *b <= 1 << 40)
        .ok_or_else(|| "larger than 1 TiB".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(flavor = "current_thread")]
    async fn leases_take_whole_pages_wait_and_give_back() {
        let budget = Budget::new(4 * PAGE + 100);
        assert_eq!(budget.bytes(), 4 * PAGE);
        let soon = || Instant::now() + Duration::from_millis(50);
        let mut a = budget.lease();
        a.grow(3 * PAGE - 10, soon()).await.unwrap();
        assert_eq!(budget.in_use(), 3 * PAGE, "whole pages");
        let mut b = budget.lease();
        assert_eq!(
            b.grow(2 * PAGE, soon()).await,
            Err(Exhausted),
            "all or nothing"
        );
        assert_eq!(b.bytes(), 0);
        assert_eq!(budget.in_use(), 3 * PAGE);
        b.grow(1, soon()).await.unwrap();
        assert_eq!(budget.in_use(), budget.bytes());
        assert_eq!(
            budget.lease().grow(5 * PAGE, soon()).await,
            Err(Exhausted),
            "more than the whole budget never waits"
        );

        // A waiter gets its pages as soon as another lease gives them back.
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut c = budget.lease();
                c.grow(2 * PAGE, Instant::now() + Duration::from_secs(5))
                    .await
                    .map(|()| c.bytes())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        a.shrink(PAGE);
        assert_eq!(waiter.await.unwrap(), Ok(2 * PAGE));
        drop(a);
        drop(b);
        assert_eq!(
            budget.in_use(),
            0,
            "dropped leases and the waiter's give back"
        );
    }

    #[test]
    fn trying_to_grow_never_waits() {
        let budget = Budget::new(2 * PAGE);
        let mut a = budget.lease();
        assert!(a.try_grow(PAGE));
        assert!(a.try_grow(PAGE), "already held");
        let mut b = budget.lease();
        assert!(b.try_grow(PAGE));
        assert!(!b.try_grow(2 * PAGE), "no room");
        assert_eq!(b.bytes(), PAGE, "nothing taken on failure");
        drop(a);
        assert!(b.try_grow(2 * PAGE));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("128Mi"), Ok(128 << 20));
        assert_eq!(parse_size("128MiB"), Ok(128 << 20));
        assert_eq!(parse_size("1Gi"), Ok(1 << 30));
        assert_eq!(parse_size("512Ki"), Ok(512 << 10));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("12M").is_err());
        assert!(parse_size("Mi").is_err());
        assert!(parse_size("-1Mi").is_err());
        assert!(parse_size("99999999Gi").is_err());
        assert_eq!(pages(0), 0);
        assert_eq!(pages(1), 1);
        assert_eq!(pages(PAGE + 1), 2);
    }
}
