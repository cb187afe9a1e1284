//! Poll-level I/O on connected stream sockets, for adapters that implement
//! other crates' traits (`futures-io`'s `AsyncRead`, hyper's `rt::Read`):
//! those are called with a `Context` and must return `Poll`, not a future.
//!
//! It is the pattern of [`Socket::recv`](crate::socket::Socket): try the
//! syscall; on `EAGAIN` park on the loop's readiness callback
//! (`add_reader` / `add_writer`). Unlike the one-shot `sock_recv` wait,
//! the callback stays registered between waits (a request/response
//! connection would otherwise pay an `epoll_ctl` add and delete per
//! request, as a transport does not): it is removed when it fires with no
//! task waiting (so a level-triggered fd nobody reads cannot spin the
//! loop), and when the [`PollState`] is dropped.

use std::cell::RefCell;
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio_executor::{EventLoop, get_running_loop};

use crate::ready::Interest;
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
    read: Option<Watch>,
    write: Option<Watch>,
}

/// A kept readiness registration for one direction of one fd.
struct Watch {
    lp: EventLoop,
    fd: RawFd,
    interest: Interest,
    slot: Rc<RefCell<Slot>>,
}

#[derive(Default)]
struct Slot {
    registered: bool,
    waker: Option<Waker>,
}

impl Watch {
    fn remove(lp: &EventLoop, fd: RawFd, interest: Interest) {
        match interest {
            Interest::Read => lp.remove_reader(fd),
            Interest::Write => lp.remove_writer(fd),
        };
    }

    /// Parks the task until the fd is ready, registering the callback if
    /// it is not registered.
    fn park(&self, cx: &mut Context<'_>) -> io::Result<()> {
        let mut slot = self.slot.borrow_mut();
        slot.waker = Some(cx.waker().clone());
        if slot.registered {
            return Ok(());
        }
        let shared = self.slot.clone();
        // The callback names the loop through `get_running_loop` (it runs
        // on it), not a clone: the loop holding its own handle would be a
        // cycle.
        let (fd, interest) = (self.fd, self.interest);
        let callback = move || {
            let mut slot = shared.borrow_mut();
            if let Some(waker) = slot.waker.take() {
                drop(slot);
                waker.wake();
                return;
            }
            // Ready with no one waiting: stop watching (soon, not from
            // inside this very callback), unless a task parks meanwhile.
            drop(slot);
            let Ok(lp) = get_running_loop() else { return };
            let shared = shared.clone();
            lp.clone().call_soon(move || {
                let mut slot = shared.borrow_mut();
                if slot.registered && slot.waker.is_none() {
                    slot.registered = false;
                    drop(slot);
                    Watch::remove(&lp, fd, interest);
                }
            });
        };
        match self.interest {
            Interest::Read => self.lp.add_reader(self.fd, callback),
            Interest::Write => self.lp.add_writer(self.fd, callback),
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        slot.registered = true;
        Ok(())
    }

    /// The operation went through: a later wake-up is nobody's.
    fn done(&self) {
        self.slot.borrow_mut().waker = None;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut slot = self.slot.borrow_mut();
        slot.waker = None;
        if std::mem::take(&mut slot.registered) {
            drop(slot);
            Watch::remove(&self.lp, self.fd, self.interest);
        }
    }
}

impl std::fmt::Debug for PollState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollState")
            .field("watching_read", &self.read.is_some())
            .field("watching_write", &self.write.is_some())
            .finish()
    }
}

/// Tries `op`; on `EAGAIN` parks on readiness in `slot` and tries again once
/// the loop reports the fd ready.
fn poll_op<T>(
    socket: &Socket,
    cx: &mut Context<'_>,
    watch: &mut Option<Watch>,
    interest: Interest,
    mut op: impl FnMut() -> io::Result<T>,
) -> Poll<io::Result<T>> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if watch.is_none() {
                    let lp = get_running_loop().map_err(io::Error::other)?;
                    *watch = Some(Watch {
                        lp,
                        fd: socket.raw(),
                        interest,
                        slot: Rc::default(),
                    });
                }
                if let Some(watch) = watch {
                    watch.park(cx)?;
                }
                // Level-triggered: readiness that came before the callback
                // was registered is reported on the next select.
                return Poll::Pending;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => {
                if let Some(watch) = watch {
                    watch.done();
                }
                return Poll::Ready(other);
            }
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

            /// [`poll_send`](Self::poll_send) of several buffers in one
            /// `sendmsg` (a `writev`): Python's `socket.sendmsg(buffers)`.
            ///
            /// # Errors
            /// As `poll_send`.
            pub fn poll_send_vectored(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                poll_op(&self.socket, cx, &mut state.write, Interest::Write, || {
                    sys::send_vectored(self.socket.fd(), bufs)
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
