//! tokio's I/O traits (`tokio::io::AsyncRead` / `AsyncBufRead` /
//! `AsyncWrite`) on corio's streams, for crates written against them
//! (tokio-postgres, tokio-tungstenite, tokio-util codecs), with no tokio
//! runtime: the traits are plain poll functions, and corio's reactor is
//! what wakes the task.
//!
//! [`Io`] implements them directly (reads go into tokio's uninitialized
//! buffer, as its own `TcpStream` does); [`StreamPair`] through its
//! `futures-io` impls; [`TokioCompat`] turns any other `futures-io` stream
//! (a [`TlsStream`](crate::TlsStream)) into one.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::ReadBuf;

use crate::io::{Io, PollSocket};
use crate::pair::StreamPair;

impl<S: PollSocket> tokio::io::AsyncRead for Io<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        crate::sys::read_into_readbuf(buf, cx, |cx, unfilled| this.poll_read_uninit(cx, unfilled))
    }
}

impl<S: PollSocket> tokio::io::AsyncWrite for Io<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_bytes(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_vectored_bytes(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered in user space: a write is in the kernel.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // `write_eof`; the fd closes when the Io is dropped.
        Poll::Ready(self.shutdown_write())
    }
}

/// A `futures-io` stream as tokio's `AsyncRead` / `AsyncBufRead` /
/// `AsyncWrite`: what tokio-util's `Compat` does, without tokio-util.
///
/// For a [`TlsStream`](crate::TlsStream) or any other `futures-io` type
/// that is not corio's own ([`Io`] and [`StreamPair`] implement tokio's
/// traits themselves). Python has one stream interface, so no counterpart:
/// this is the glue between Rust's two.
///
/// Reads zero the part of tokio's buffer they are given once (`futures-io`
/// reads want initialized memory); `poll_shutdown` is `poll_close`.
///
/// # Examples
///
/// ```
/// use corio_compat::{Io, TokioCompat};
/// use corio_net::{TcpListener, TcpStream};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let client = TcpStream::connect("127.0.0.1", port).await?;
///     let (server, _) = listener.accept().await?;
///     // Any futures-io stream will do; here a plain corio socket.
///     let mut client = TokioCompat::new(Io::new(client));
///     let mut server = TokioCompat::new(Io::new(server));
///     client.write_all(b"hello").await?;
///     client.shutdown().await?;
///     let mut got = String::new();
///     server.read_to_string(&mut got).await?;
///     assert_eq!(got, "hello");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TokioCompat<T>(T);

impl<T> TokioCompat<T> {
    /// Wraps a `futures-io` stream.
    pub fn new(inner: T) -> TokioCompat<T> {
        TokioCompat(inner)
    }

    /// The stream.
    pub fn get_ref(&self) -> &T {
        &self.0
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.0
    }

    /// The stream back.
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// A `futures-io` read into tokio's `ReadBuf`: its unfilled part is
/// initialized (zeroed once per `ReadBuf`, as tokio tracks what is) and
/// handed to `read`.
fn read_initialized(
    buf: &mut ReadBuf<'_>,
    read: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    let n = ready!(read(buf.initialize_unfilled()))?;
    buf.advance(n);
    Poll::Ready(Ok(()))
}

impl<T: futures_io::AsyncRead + Unpin> tokio::io::AsyncRead for TokioCompat<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = &mut self.get_mut().0;
        read_initialized(buf, |out| Pin::new(inner).poll_read(cx, out))
    }
}

impl<T: futures_io::AsyncBufRead + Unpin> tokio::io::AsyncBufRead for TokioCompat<T> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().0).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.get_mut().0).consume(amt);
    }
}

impl<T: futures_io::AsyncWrite + Unpin> tokio::io::AsyncWrite for TokioCompat<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

impl tokio::io::AsyncRead for StreamPair {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        read_initialized(buf, |out| {
            futures_io::AsyncRead::poll_read(Pin::new(this), cx, out)
        })
    }
}

impl tokio::io::AsyncBufRead for StreamPair {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        futures_io::AsyncBufRead::poll_fill_buf(self, cx)
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        futures_io::AsyncBufRead::consume(self, amt);
    }
}

impl tokio::io::AsyncWrite for StreamPair {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write(self, cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        futures_io::AsyncWrite::poll_write_vectored(self, cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_flush(self, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        futures_io::AsyncWrite::poll_close(self, cx)
    }
}
