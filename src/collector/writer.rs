//! The writer thread: the only place that writes to the store. Requests hand it a checked
//! report and wait for the outcome; it drops duplicates, applies the per-cluster rate limit and
//! commits, one report at a time, off the async threads.

use super::limit::Limiter;
use super::store::{Incoming, Seen, Sink};
use anyhow::{Context, Result, anyhow};
use std::thread::JoinHandle;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// What became of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Committed.
    Stored,
    /// Already stored; nothing written.
    Duplicate,
    /// The idempotency key was used before for different content.
    KeyConflict,
    /// Over the cluster's hourly allowance: retry after this many seconds.
    RateLimited(u64),
}

enum Command {
    Ingest(Box<Incoming>, oneshot::Sender<Result<Outcome>>),
    Prune(i64, oneshot::Sender<Result<usize>>),
    Stop,
}

/// A cheap handle for sending work to the writer thread.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::Sender<Command>,
}

impl Handle {
    /// Store a report; resolves once it is committed (or refused).
    pub async fn ingest(&self, incoming: Incoming) -> Result<Outcome> {
        self.ask(|reply| Command::Ingest(Box::new(incoming), reply))
            .await
    }

    /// Delete reports received before `cutoff` (Unix seconds).
    pub async fn prune(&self, cutoff: i64) -> Result<usize> {
        self.ask(|reply| Command::Prune(cutoff, reply)).await
    }

    /// Send a command to the thread and wait for its reply.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let stopped = || anyhow!("the store writer has stopped");
        let (reply, rx) = oneshot::channel();
        self.tx.send(command(reply)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Whether the writer thread is still running.
    pub fn alive(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// The running writer thread.
pub struct Writer {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Start the thread. `window_secs` is the content-dedup window (0: keys only).
    pub fn spawn(sink: Sink, limiter: Limiter, window_secs: i64) -> Result<Writer> {
        let (tx, rx) = mpsc::channel(64);
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || run(rx, sink, limiter, window_secs))
            .context("starting the store writer thread")?;
        Ok(Writer {
            handle: Handle { tx },
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Finish what is queued, then stop and wait for the thread.
    pub async fn stop(mut self) {
        let _ = self.handle.tx.send(Command::Stop).await;
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn run(mut rx: mpsc::Receiver<Command>, mut sink: Sink, mut limiter: Limiter, window_secs: i64) {
    let clock = Instant::now();
    while let Some(command) = rx.blocking_recv() {
        match command {
            Command::Ingest(incoming, reply) => {
                let now_ms = clock.elapsed().as_millis() as u64;
                let outcome = ingest(&mut sink, &mut limiter, &incoming, window_secs, now_ms);
                // Free the report (and its memory budget) before the request is answered.
                drop(incoming);
                let _ = reply.send(outcome);
            }
            Command::Prune(cutoff, reply) => {
                let _ = reply.send(sink.prune(cutoff));
            }
            Command::Stop => break,
        }
    }
}

/// Duplicates first (a retry never counts against the limit), then the limit, then the write.
pub fn ingest(
    sink: &mut Sink,
    limiter: &mut Limiter,
    incoming: &Incoming,
    window_secs: i64,
    now_ms: u64,
) -> Result<Outcome> {
    match sink.seen(incoming, window_secs)? {
        Seen::Duplicate => return Ok(Outcome::Duplicate),
        Seen::KeyConflict => return Ok(Outcome::KeyConflict),
        Seen::New => {}
    }
    let cluster = &incoming.report.cluster_id;
    if let Err(wait) = limiter.check(cluster, now_ms) {
        return Ok(Outcome::RateLimited(wait));
    }
    sink.insert(incoming)?;
    limiter.record(cluster, now_ms);
    Ok(Outcome::Stored)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collector::store::sqlite::tests::Scratch;
    use crate::collector::store::tests::incoming;
    use crate::collector::store::{Db, Spec};

    #[test]
    fn duplicates_do_not_use_the_allowance_and_limits_are_per_cluster() {
        let dir = Scratch::new("writer");
        let mut sink = Sink::open(&Spec::Sqlite(dir.join("s.db"))).unwrap();
        let mut limiter = Limiter::new(2);
        let mut go = |i: &Incoming| ingest(&mut sink, &mut limiter, i, 3600, 0).unwrap();
        let first = incoming("a", 100, Some("k1"), 1);
        assert_eq!(go(&first), Outcome::Stored);
        for _ in 0..5 {
            assert_eq!(go(&first), Outcome::Duplicate);
        }
        assert_eq!(go(&incoming("a", 101, Some("k2"), 2)), Outcome::Stored);
        assert_eq!(
            go(&incoming("a", 102, Some("k3"), 3)),
            Outcome::RateLimited(1800)
        );
        assert_eq!(go(&incoming("b", 102, Some("k3"), 3)), Outcome::Stored);
        assert_eq!(go(&incoming("a", 103, Some("k1"), 9)), Outcome::KeyConflict);
        drop(sink);
        let db = Db::open_existing(&dir.join("s.db")).unwrap();
        assert_eq!(db.totals(0, "").unwrap(), (2, 5, 3));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn thread_round_trip_and_stop() {
        let dir = Scratch::new("writer-thread");
        let sink = Sink::open(&Spec::Sqlite(dir.join("s.db"))).unwrap();
        let writer = Writer::spawn(sink, Limiter::new(0), 3600).unwrap();
        let h = writer.handle();
        assert_eq!(
            h.ingest(incoming("a", 10, None, 1)).await.unwrap(),
            Outcome::Stored
        );
        assert_eq!(
            h.ingest(incoming("a", 20, None, 1)).await.unwrap(),
            Outcome::Stored,
            "different timestamp, different content"
        );
        assert_eq!(h.prune(15).await.unwrap(), 1);
        writer.stop().await;
        assert!(!h.alive());
        assert!(h.ingest(incoming("a", 30, None, 1)).await.is_err());
    }
}
