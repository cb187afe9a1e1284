//! [`Io`]: a connected corio socket with the poll-level reads and writes
//! other crates' I/O traits are made of.

use std::io;
use std::mem::MaybeUninit;
#[cfg(feature = "futures-io")]
use std::pin::Pin;
#[cfg(feature = "futures-io")]
use std::task::ready;
use std::task::{Context, Poll};

pub use corio_net::PollSocket;
use corio_net::PollState;

#[cfg(feature = "futures-io")]
use crate::read_buffer::ReadBuffer;

/// A corio socket as a poll-level byte stream: `futures_io::AsyncRead` /
/// `AsyncWrite` (feature `futures-io`) and `hyper::rt::Read` / `Write`
/// (feature `hyper`).
///
/// Mirrors a socket asyncio drives with `add_reader` / `add_writer`: each
/// read or write tries the syscall and, when it would block, parks the task
/// on the loop's readiness callback. Writes go straight to the kernel, so
/// the kernel's send buffer is the backpressure (a write parks while it is
/// full); nothing is buffered here, so dropping a read future loses no
/// bytes.
#[derive(Debug)]
pub struct Io<S> {
    stream: S,
    state: PollState,
}

impl<S: PollSocket> Io<S> {
    /// Wraps a connected socket.
    ///
    /// ```
    /// use corio_compat::Io;
    /// use corio_net::{TcpListener, TcpStream};
    /// corio_executor::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    ///     let port = listener.local_addr().unwrap().port();
    ///     let stream = TcpStream::connect("127.0.0.1", port).await.unwrap();
    ///     let io = Io::new(stream);
    ///     assert!(io.get_ref().peer_addr().is_ok());
    /// }).unwrap();
    /// ```
    pub fn new(stream: S) -> Io<S> {
        Io {
            stream,
            state: PollState::default(),
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The socket back (its pending readiness waits are dropped).
    pub fn into_inner(self) -> S {
        self.stream
    }

    /// Reads into `buf`; see [`TcpStream::poll_recv`](corio_net::TcpStream::poll_recv).
    ///
    /// # Errors
    /// The OS error of `recv`.
    pub fn poll_read_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_recv(cx, &mut self.state, buf)
    }

    /// Reads into uninitialized memory; see [`TcpStream::poll_recv_uninit`](corio_net::TcpStream::poll_recv_uninit).
    ///
    /// # Errors
    /// The OS error of `recv`.
    pub fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_recv_uninit(cx, &mut self.state, buf)
    }

    /// Writes some of `buf`; see [`TcpStream::poll_send`](corio_net::TcpStream::poll_send).
    ///
    /// # Errors
    /// The OS error of `send`.
    pub fn poll_write_bytes(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_send(cx, &mut self.state, buf)
    }

    /// Writes from several buffers in one `sendmsg`; see
    /// [`TcpStream::poll_send_vectored`](corio_net::TcpStream::poll_send_vectored).
    ///
    /// # Errors
    /// The OS error of `sendmsg`.
    pub fn poll_write_vectored_bytes(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_send_vectored(cx, &mut self.state, bufs)
    }

    /// Closes the write half (`write_eof`), as both `poll_close`
    /// (futures-io) and `poll_shutdown` (hyper) do; a socket the peer has
    /// already left counts as shut. Python: `transport.write_eof()`.
    ///
    /// # Errors
    /// The OS error of `shutdown(SHUT_WR)`, other than `NotConnected`.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self.stream.write_eof() {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl<S> Unpin for Io<S> {}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> futures_io::AsyncRead for Io<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_read_bytes(cx, buf)
    }
}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> futures_io::AsyncWrite for Io<S> {
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

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered in user space: a write is in the kernel.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // `write_eof`; the fd closes when the Io is dropped.
        Poll::Ready(self.shutdown_write())
    }
}

/// [`Io`] with a read buffer: `futures_io::AsyncBufRead` (`poll_fill_buf`
/// / `consume`, what `read_line`-style helpers are built on), plus
/// `AsyncRead` (from the buffer first) and `AsyncWrite` (straight through).
///
/// Mirrors asyncio's `StreamReader` buffer at the poll level: bytes read
/// from the socket stay in the buffer until consumed, so a dropped read
/// future loses none.
#[cfg(feature = "futures-io")]
#[derive(Debug)]
pub struct BufIo<S> {
    io: Io<S>,
    buf: ReadBuffer,
}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> BufIo<S> {
    /// Wraps a connected socket with a 64 KiB read buffer (corio's
    /// `DEFAULT_LIMIT`, asyncio's stream `limit`).
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use std::pin::Pin;
    /// use corio_compat::BufIo;
    /// use corio_compat::futures_io::AsyncBufRead;
    /// use corio_net::{TcpListener, TcpStream};
    /// corio_executor::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    ///     let port = listener.local_addr().unwrap().port();
    ///     let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
    ///     let (server, _) = listener.accept().await.unwrap();
    ///     client.send_all(b"line one\nline two\n").await.unwrap();
    ///     let mut reader = BufIo::new(server);
    ///     let first = poll_fn(|cx| {
    ///         let mut r = Pin::new(&mut reader);
    ///         let buf = std::task::ready!(r.as_mut().poll_fill_buf(cx))?;
    ///         let end = buf.iter().position(|&b| b == b'\n').map_or(buf.len(), |i| i + 1);
    ///         let line = buf[..end].to_vec();
    ///         r.consume(end);
    ///         std::task::Poll::Ready(Ok::<_, std::io::Error>(line))
    ///     })
    ///     .await
    ///     .unwrap();
    ///     assert_eq!(first, b"line one\n");
    /// })
    /// .unwrap();
    /// ```
    pub fn new(stream: S) -> BufIo<S> {
        BufIo {
            io: Io::new(stream),
            buf: ReadBuffer::default(),
        }
    }

    /// The socket.
    pub fn get_ref(&self) -> &S {
        self.io.get_ref()
    }

    /// Bytes read from the socket and not consumed yet.
    pub fn buffer(&self) -> &[u8] {
        self.buf.unread()
    }
}

#[cfg(feature = "futures-io")]
impl<S> Unpin for BufIo<S> {}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> futures_io::AsyncBufRead for BufIo<S> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let io = &mut this.io;
        this.buf
            .poll_fill(corio_net::DEFAULT_LIMIT, |buf| io.poll_read_bytes(cx, buf))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().buf.consume(amt);
    }
}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> futures_io::AsyncRead for BufIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.buf.unread().is_empty() && out.len() >= corio_net::DEFAULT_LIMIT {
            // A big read bypasses the buffer (as std's BufReader does).
            return this.io.poll_read_bytes(cx, out);
        }
        let io = &mut this.io;
        ready!(
            this.buf
                .poll_fill(corio_net::DEFAULT_LIMIT, |buf| io.poll_read_bytes(cx, buf))
        )?;
        Poll::Ready(Ok(this.buf.take_into(out)))
    }
}

#[cfg(feature = "futures-io")]
impl<S: PollSocket> futures_io::AsyncWrite for BufIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_close(cx)
    }
}
