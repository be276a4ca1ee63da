//! What every command runs on: one current-thread tokio runtime, and, for the servers, the
//! signals that stop them (the first SIGTERM or SIGINT drains, a second stops at once).

use anyhow::{Context, Result};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

/// A current-thread runtime with I/O and timers.
pub(crate) fn current_thread() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// The stop signals of a server, as they come: the first (`SIGTERM` or `SIGINT`, by name),
/// then a second of either kind.
pub(crate) struct Signals {
    pub first: oneshot::Receiver<&'static str>,
    pub second: oneshot::Receiver<()>,
}

/// Installs the handlers; call it on the runtime, before serving (a signal that comes before
/// would end the process the default way).
pub(crate) fn stop_signals() -> Result<Signals> {
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let (first_tx, first) = oneshot::channel();
    let (second_tx, second) = oneshot::channel();
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        let _ = first_tx.send(name);
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        let _ = second_tx.send(());
    });
    Ok(Signals { first, second })
}
