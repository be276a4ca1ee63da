//! A connection whose writes may not stall: a client that stops reading (and lets responses pile
//! up) is disconnected once a write has waited longer than the limit, instead of holding a
//! connection slot for ever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Sleep, sleep};

const UNREAD: &str = "the client did not read its responses";

/// Whether a connection ended because its client stopped reading.
pub(crate) fn is_unread(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if e.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::TimedOut && io.to_string() == UNREAD)
        {
            return true;
        }
        cause = e.source();
    }
    false
}

/// `io` whose writes fail with `TimedOut` after waiting `limit` for the peer to read.
pub(crate) struct WriteLimit<T> {
    io: T,
    limit: Duration,
    /// Armed while a write waits.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteLimit<T> {
    pub(crate) fn new(io: T, limit: Duration) -> WriteLimit<T> {
        WriteLimit {
            io,
            limit,
            timer: None,
        }
    }

    /// After a write returned `Pending`: arm the timer, or fail if it has run out.
    fn waiting(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let limit = self.limit;
        let timer = self.timer.get_or_insert_with(|| Box::pin(sleep(limit)));
        ready!(timer.as_mut().poll(cx));
        Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, UNREAD))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteLimit<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> WriteLimit<T> {
    /// The outcome of one write-side call: progress disarms the timer, waiting arms it.
    fn track<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Pending => self.waiting(cx).map(Err),
            done => {
                self.timer = None;
                done
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteLimit<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        self.track(cx, polled)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.track(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_flush(cx);
        self.track(cx, polled)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_shutdown(cx);
        self.track(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;
    use tokio::time::Instant;

    /// A peer that never reads: the writer fails once the buffers are full and the limit passed;
    /// a peer that reads lets everything through.
    #[tokio::test(flavor = "current_thread")]
    async fn a_write_fails_once_it_waited_too_long() {
        let (ours, theirs) = tokio::io::duplex(1024);
        let mut w = WriteLimit::new(ours, Duration::from_millis(50));
        let started = Instant::now();
        let err = loop {
            if let Err(e) = w.write_all(&[7; 512]).await {
                break e;
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(is_unread(&err));
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(theirs);

        let (ours, mut theirs) = tokio::io::duplex(1024);
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut theirs, &mut all)
                .await
                .map(|_| all.len())
        });
        let mut w = WriteLimit::new(ours, Duration::from_millis(50));
        w.write_all(&[1; 100_000]).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap().unwrap(), 100_000);
    }
}
