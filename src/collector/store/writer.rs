//! The store writers: the only threads that write to the store. Requests hand them a checked
//! report and wait for the outcome. A writer takes the first report waiting, then every other
//! one already waiting (up to [`MAX_BATCH`] reports or [`MAX_BATCH_NODES`] nodes), stores them in
//! one transaction ([`Sink::store_batch`]: duplicates, the rate limit, the rows, each report under
//! a savepoint), commits once, and only then answers each: group commit, so one durable write
//! serves many reports, and a 2xx still means the report is committed.
//!
//! SQLite and `stdout` have one writer; PostgreSQL may have several, each with a connection of
//! its own. [`Health`] remembers whether the store took the last attempt: the transitions are
//! logged once, and `/readyz` reads it.

use super::{Forgot, Incoming, Pruned, Rules, Sink};
use anyhow::{Context, Result, anyhow};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(crate) use super::Outcome;

/// Most reports committed in one transaction.
pub(crate) const MAX_BATCH: usize = 256;
/// Most nodes in one transaction, unless a single report has more (it is a batch of its own).
pub(crate) const MAX_BATCH_NODES: usize = 20_000;

enum Command {
    Ingest(Box<Incoming>, oneshot::Sender<Result<Outcome>>),
    Prune(Option<i64>, oneshot::Sender<Result<Pruned>>),
    Probe(oneshot::Sender<Result<()>>),
    Forget(String, oneshot::Sender<Result<Forgot>>),
    Stop,
}

/// Whether the store took the writers' last attempt to write (or probe), and when one last
/// succeeded.
#[derive(Debug)]
pub(crate) struct Health {
    failing: AtomicBool,
    /// The cause being reported, and when the store last took a write.
    state: Mutex<(Option<String>, Instant)>,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            failing: AtomicBool::new(false),
            state: Mutex::new((None, Instant::now())),
        }
    }
}

impl Health {
    /// The store took a write: logs the recovery if it was failing.
    pub(crate) fn succeeded(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.0.take().is_some() {
            crate::log::line("store: recovered, taking reports again");
        }
        state.1 = Instant::now();
        self.failing.store(false, Relaxed);
    }

    /// The store failed: logs the cause on the transition to failing (not on each failure).
    pub(crate) fn failed(&self, error: &anyhow::Error) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.0.is_none() {
            let cause = format!("{error:#}");
            crate::log::line(&format!(
                "store: failing, reports are answered 503 until it recovers: {cause}"
            ));
            state.0 = Some(cause);
        }
        self.failing.store(true, Relaxed);
    }

    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Relaxed)
    }

    /// Time since the store last took a write (or a probe).
    pub(crate) fn since_success(&self) -> Duration {
        self.state
            .lock()
            .map_or(Duration::MAX, |state| state.1.elapsed())
    }
}

/// A cheap handle for sending work to the writers.
#[derive(Clone)]
pub(crate) struct Handle {
    tx: mpsc::Sender<Command>,
    health: Arc<Health>,
}

impl Handle {
    /// Store a report; resolves once it is committed (or refused).
    pub(crate) async fn ingest(&self, incoming: Incoming) -> Result<Outcome> {
        self.ask(|reply| Command::Ingest(Box::new(incoming), reply))
            .await
    }

    /// Delete reports received before `cutoff` (Unix seconds; `None` keeps them all) and rate
    /// limit entries that are past.
    pub(crate) async fn prune(&self, cutoff: Option<i64>) -> Result<Pruned> {
        self.ask(|reply| Command::Prune(cutoff, reply)).await
    }

    /// Delete everything stored of `cluster`, in a transaction of its own (unless its deletion
    /// requests are over their limit).
    pub(crate) async fn forget(&self, cluster: String) -> Result<Forgot> {
        self.ask(|reply| Command::Forget(cluster, reply)).await
    }

    /// Whether the store takes a write now (a transaction that is rolled back).
    pub(crate) async fn probe(&self) -> Result<()> {
        self.ask(Command::Probe).await
    }

    /// Send a command to a writer and wait for its reply.
    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T>>) -> Command,
    ) -> Result<T> {
        let stopped = || anyhow!("the store writer has stopped");
        let (reply, rx) = oneshot::channel();
        self.tx.send(command(reply)).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Whether the writers are still running.
    pub(crate) fn alive(&self) -> bool {
        !self.tx.is_closed()
    }

    pub(crate) fn health(&self) -> &Health {
        &self.health
    }
}

/// The running writer threads.
pub(crate) struct Writer {
    handle: Handle,
    threads: Vec<JoinHandle<()>>,
}

type Queue = Arc<Mutex<mpsc::Receiver<Command>>>;

impl Writer {
    /// Start one thread per sink, all taking work from one queue.
    pub(crate) fn spawn(sinks: Vec<Sink>, rules: Rules) -> Result<Writer> {
        let (tx, rx) = mpsc::channel(MAX_BATCH);
        let queue: Queue = Arc::new(Mutex::new(rx));
        let health = Arc::new(Health::default());
        let mut threads = Vec::new();
        for (i, sink) in sinks.into_iter().enumerate() {
            let (queue, health) = (queue.clone(), health.clone());
            let thread = std::thread::Builder::new()
                .name(format!("store-writer-{i}"))
                .spawn(move || run(&queue, sink, &rules, &health))
                .context("starting a store writer thread")?;
            threads.push(thread);
        }
        Ok(Writer {
            handle: Handle { tx, health },
            threads,
        })
    }

    pub(crate) fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Finish what is queued, then stop and wait for the threads.
    pub(crate) async fn stop(self) {
        for _ in &self.threads {
            let _ = self.handle.tx.send(Command::Stop).await;
        }
        for thread in self.threads {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

type Batch = Vec<(Box<Incoming>, oneshot::Sender<Result<Outcome>>)>;

fn run(queue: &Queue, mut sink: Sink, rules: &Rules, health: &Health) {
    loop {
        let (batch, then) = match queue.lock() {
            Ok(mut rx) => next(&mut rx),
            Err(_) => return,
        };
        if !batch.is_empty() {
            store(&mut sink, batch, rules, health);
        }
        match then {
            Then::More => {}
            Then::Stop => return,
            Then::Prune(cutoff, reply) => {
                let pruned = sink.prune(cutoff, crate::time::now_ms());
                note(health, &pruned);
                let _ = reply.send(pruned);
            }
            Then::Probe(reply) => {
                let probed = sink.probe();
                note(health, &probed);
                let _ = reply.send(probed);
            }
            Then::Forget(cluster, reply) => {
                let forgot = sink.forget(&cluster, crate::time::now_ms());
                note(health, &forgot);
                let _ = reply.send(forgot);
            }
        }
    }
}

/// What a writer does after a batch.
enum Then {
    /// Take the next batch.
    More,
    /// The queue is closed, or a stop was asked for.
    Stop,
    Prune(Option<i64>, oneshot::Sender<Result<Pruned>>),
    Probe(oneshot::Sender<Result<()>>),
    Forget(String, oneshot::Sender<Result<Forgot>>),
}

/// The next batch of reports (the first waiting, and all others already waiting, within the
/// bounds), and what to do after it.
fn next(rx: &mut mpsc::Receiver<Command>) -> (Batch, Then) {
    let mut batch = Batch::new();
    let mut nodes = 0;
    let Some(mut command) = rx.blocking_recv() else {
        return (batch, Then::Stop);
    };
    loop {
        let then = match command {
            Command::Ingest(incoming, reply) => {
                nodes += incoming.node_count();
                batch.push((incoming, reply));
                Then::More
            }
            Command::Prune(cutoff, reply) => Then::Prune(cutoff, reply),
            Command::Probe(reply) => Then::Probe(reply),
            Command::Forget(cluster, reply) => Then::Forget(cluster, reply),
            Command::Stop => Then::Stop,
        };
        if !matches!(then, Then::More) || batch.len() >= MAX_BATCH || nodes >= MAX_BATCH_NODES {
            return (batch, then);
        }
        command = match rx.try_recv() {
            Ok(more) => more,
            Err(mpsc::error::TryRecvError::Empty) => return (batch, Then::More),
            Err(mpsc::error::TryRecvError::Disconnected) => return (batch, Then::Stop),
        };
    }
}

/// One transaction for the batch; then each report's memory is freed and its request answered.
fn store(sink: &mut Sink, batch: Batch, rules: &Rules, health: &Health) {
    let (incomings, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    let items: Vec<&Incoming> = incomings.iter().map(Box::as_ref).collect();
    let stored = sink.store_batch(&items, rules, crate::time::now_ms());
    drop(items);
    // Free the reports (and their memory budget) before the requests are answered.
    drop(incomings);
    note(health, &stored);
    match stored {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                if let Err(e) = &outcome {
                    crate::log::line(&format!("storing a report failed: {e:#}"));
                }
                let _ = reply.send(outcome);
            }
        }
        Err(e) => {
            let cause = format!("{e:#}");
            for reply in replies {
                let _ = reply.send(Err(anyhow!("{cause}")));
            }
        }
    }
}

fn note<T>(health: &Health, result: &Result<T>) {
    match result {
        Ok(_) => health.succeeded(),
        Err(e) => health.failed(e),
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod tests;
