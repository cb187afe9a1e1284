//! hyper 1.x's runtime traits on corio: its I/O (`rt::Read`/`rt::Write`
//! for [`Io`] and any `futures-io` stream) and its executor. The server
//! helper built on them is in `server.rs`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_executor::create_task;
use hyper::rt::{Executor, Read, ReadBufCursor, Write};

use crate::io::{Io, PollSocket};

impl<S: PollSocket> Read for Io<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        crate::sys::read_into_cursor(&mut buf, cx, |cx, unfilled| {
            this.poll_read_uninit(cx, unfilled)
        })
    }
}

impl<S: PollSocket> Write for Io<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_bytes(cx, buf)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored_bytes(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

/// Any `futures-io` stream (e.g. a [`TlsStream`](crate::TlsStream)) as
/// hyper's `rt::Read` / `rt::Write`.
///
/// Reads go through `futures_io::AsyncRead`, which wants initialized
/// memory, so the cursor's unfilled part is zeroed once per read (no unsafe);
/// plain sockets use [`Io`]'s direct path instead.
#[derive(Debug)]
pub struct FuturesIo<T>(pub T);

impl<T: futures_io::AsyncRead + Unpin> Read for FuturesIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let mut chunk = [0u8; 16 * 1024];
        let want = buf.remaining().min(chunk.len());
        match Pin::new(&mut self.get_mut().0).poll_read(cx, &mut chunk[..want]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&chunk[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: futures_io::AsyncWrite + Unpin> Write for FuturesIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

/// hyper's `rt::Executor` on the running loop: `execute` is
/// `asyncio.create_task`, for `!Send` futures too (what hyper's HTTP/2
/// connection spawns per stream). The task is not awaited: it runs to its
/// end on the loop (a panic in it is reported like any task's).
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalExec;

impl<F> Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        drop(create_task(async move {
            fut.await;
        }));
    }
}
