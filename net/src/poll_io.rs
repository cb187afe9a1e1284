//! Poll-level I/O on connected stream sockets, for adapters that implement
//! other crates' traits (`futures-io`'s `AsyncRead`, hyper's `rt::Read`):
//! those are called with a `Context` and must return `Poll`, not a future.
//!
//! It is the same pattern as [`Socket::recv`](crate::socket::Socket): try
//! the syscall; on `EAGAIN` park on the loop's readiness callback
//! (`add_reader` / `add_writer`). The wait lives in a [`PollState`] the
//! caller keeps between polls, one per direction.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::ready::{Interest, Ready, ready};
use crate::socket::Socket;
use crate::sys;
use crate::tcp::TcpStream;
use crate::unix::UnixStream;

/// The readiness waits of a poll-level reader and writer of one socket.
///
/// Keep one per socket and pass it to every `poll_*` call: dropping it
/// removes the loop's reader/writer callbacks (asyncio's `remove_reader`).
#[derive(Default)]
pub struct PollState {
    read: Option<Ready>,
    write: Option<Ready>,
}

impl std::fmt::Debug for PollState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollState")
            .field("waiting_to_read", &self.read.is_some())
            .field("waiting_to_write", &self.write.is_some())
            .finish()
    }
}

/// Tries `op`; on `EAGAIN` parks on readiness in `slot` and tries again once
/// the loop reports the fd ready.
fn poll_op<T>(
    socket: &Socket,
    cx: &mut Context<'_>,
    slot: &mut Option<Ready>,
    interest: Interest,
    mut op: impl FnMut() -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        if let Some(wait) = slot.as_mut() {
            match Pin::new(wait).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(result) => {
                    *slot = None;
                    result?;
                }
            }
        }
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *slot = Some(ready(socket.raw(), interest));
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return Poll::Ready(other),
        }
    }
}

macro_rules! poll_methods {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// Reads at most `buf.len()` bytes, or registers the task to be
            /// woken when the socket is readable. Python: `loop.sock_recv`,
            /// at the level of `add_reader`: no future is made per call.
            ///
            /// # Errors
            /// The OS error of `recv`; a loop error outside a running loop.
            pub fn poll_recv(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                poll_op(&self.socket, cx, &mut state.read, Interest::Read, || {
                    sys::recv(self.socket.fd(), buf, 0)
                })
            }

            /// [`poll_recv`](Self::poll_recv) into memory not yet
            /// initialized: on `Ready(Ok(n))` the first `n` bytes are.
            ///
            /// # Errors
            /// As `poll_recv`.
            pub fn poll_recv_uninit(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &mut [MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                poll_op(&self.socket, cx, &mut state.read, Interest::Read, || {
                    sys::recv_uninit(self.socket.fd(), buf)
                })
            }

            /// Sends some of `buf` (how much), or registers the task to be
            /// woken when the socket is writable: the kernel's send buffer is
            /// the backpressure. Python: `sock.send` on `add_writer`.
            ///
            /// # Errors
            /// The OS error (`BrokenPipe` / `ConnectionReset`, never SIGPIPE).
            pub fn poll_send(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                poll_op(&self.socket, cx, &mut state.write, Interest::Write, || {
                    sys::send(self.socket.fd(), buf)
                })
            }

            /// Half-closes the writing side: the peer reads EOF.
            /// Python: `transport.write_eof()` (`sock.shutdown(SHUT_WR)`).
            ///
            /// # Errors
            /// `NotConnected` when the connection is already gone.
            pub fn write_eof(&self) -> io::Result<()> {
                self.socket.shutdown(Shutdown::Write)
            }
        }
    )*};
}

poll_methods!(TcpStream, UnixStream);
