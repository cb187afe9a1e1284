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
//!
//! A syscall that is known to fail is skipped: after an `EAGAIN`, or a
//! `recv`/`send` that moved less than asked (the kernel's queue is empty,
//! or full), the next poll parks at once until the loop reports the fd
//! ready, as tokio's readiness cache does. An HTTP/2 connection polls its
//! socket after every stream's event, so without this most of its `recv`s
//! were `EAGAIN`s. Readiness reported by a select that ran before the
//! syscall which found the fd drained is stale and ignored (see
//! `Slot::drained_at`). Both are hints only: epoll is level-triggered here,
//! so a wrong guess costs one loop iteration, never a lost wake-up.
//!
//! The callbacks are waking ones (`EventLoop::add_waking_reader`): the
//! loop calls them right after the select that found the fd ready, so the
//! parked task runs in that same iteration rather than the next.

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

struct Slot {
    registered: bool,
    waker: Option<Waker>,
    /// The fd may be ready: try the syscall. False after an `EAGAIN` or a
    /// short read or write (the kernel's queue was emptied or filled), true
    /// again when the loop's callback reports the fd ready. While false,
    /// a poll parks without the syscall it knows would fail (tokio's
    /// readiness cache; here it is only a hint: epoll is level-triggered,
    /// so a wrong "not ready" costs one loop iteration, never a lost
    /// wake-up).
    ready: bool,
    /// The loop's select count (`EventLoop::io_tick`) when `ready`
    /// went false. A readiness event of that same select is stale: the
    /// select ran before the syscall that found the fd drained, so it is
    /// ignored rather than waking the task for a syscall that would fail;
    /// if the fd did become ready since, the next select says so. (With
    /// the callback a waking one, it runs right after its select, before
    /// any step of that iteration, so this cannot happen today; the check
    /// stays for a callback queued behind the steps, as `add_reader`'s
    /// are, which is how it arose.)
    drained_at: u64,
}

impl Default for Slot {
    fn default() -> Slot {
        Slot {
            registered: false,
            waker: None,
            ready: true,
            drained_at: 0,
        }
    }
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
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            slot.waker = Some(cx.waker().clone());
        }
        if slot.registered {
            return Ok(());
        }
        let shared = self.slot.clone();
        // The callback names the loop through `get_running_loop` (it runs
        // on it), not a clone: the loop holding its own handle would be a
        // cycle.
        let (fd, interest) = (self.fd, self.interest);
        let callback = move || {
            let Ok(lp) = get_running_loop() else { return };
            let mut slot = shared.borrow_mut();
            if !slot.ready && slot.drained_at == lp.io_tick() {
                return; // stale: see `Slot::drained_at`
            }
            slot.ready = true;
            if let Some(waker) = slot.waker.take() {
                drop(slot);
                waker.wake();
                return;
            }
            // Ready with no one waiting: stop watching (soon, not from
            // inside this very callback), unless a task parks meanwhile.
            drop(slot);
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
            Interest::Read => self.lp.add_waking_reader(self.fd, callback),
            Interest::Write => self.lp.add_waking_writer(self.fd, callback),
        }
        .map_err(|e| io::Error::other(e.to_string()))?;
        slot.registered = true;
        Ok(())
    }

    /// The operation went through: a later wake-up is nobody's. `drained`:
    /// it moved less than asked, so the kernel's queue is empty (or, for a
    /// send, full) and the next try would fail with `EAGAIN`.
    fn done(&self, drained: bool) {
        let mut slot = self.slot.borrow_mut();
        slot.waker = None;
        if drained {
            slot.ready = false;
            slot.drained_at = self.lp.io_tick();
        }
    }

    /// Whether the last operation or the loop says the fd may be ready.
    fn may_be_ready(&self) -> bool {
        self.slot.borrow().ready
    }

    /// The operation would block: wait for the loop's callback.
    fn not_ready(&self) {
        let mut slot = self.slot.borrow_mut();
        slot.ready = false;
        slot.drained_at = self.lp.io_tick();
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

/// Tries `op`, which moves at most `len` bytes; on `EAGAIN` parks on
/// readiness in `watch` and tries again once the loop reports the fd ready.
/// After an `EAGAIN` or a short transfer, the next poll parks at once,
/// without the syscall, until the loop reports the fd ready.
fn poll_op(
    socket: &Socket,
    cx: &mut Context<'_>,
    watch: &mut Option<Watch>,
    interest: Interest,
    len: usize,
    mut op: impl FnMut() -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    if let Some(w) = watch
        && !w.may_be_ready()
    {
        w.park(cx)?;
        return Poll::Pending;
    }
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
                    watch.not_ready();
                    watch.park(cx)?;
                }
                // Level-triggered: readiness that came before the callback
                // was registered is reported on the next select.
                return Poll::Pending;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => {
                if let Some(watch) = watch {
                    // 0 is EOF (or an empty buffer): it stays ready.
                    let short = matches!(other, Ok(n) if n > 0 && n < len);
                    watch.done(short);
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
            /// at the level of `add_reader`: no future is made per call;
            /// differs in skipping the `recv` after an `EAGAIN` or a short
            /// read until the loop reports the socket readable (see the
            /// module docs).
            ///
            /// # Errors
            /// The OS error of `recv`; a loop error outside a running loop.
            pub fn poll_recv(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                let len = buf.len();
                poll_op(&self.socket, cx, &mut state.read, Interest::Read, len, || {
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
                let len = buf.len();
                poll_op(&self.socket, cx, &mut state.read, Interest::Read, len, || {
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
                let len = buf.len();
                poll_op(&self.socket, cx, &mut state.write, Interest::Write, len, || {
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
                let len = bufs.iter().map(|b| b.len()).sum();
                poll_op(&self.socket, cx, &mut state.write, Interest::Write, len, || {
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

/// A connected stream socket driven at the poll level: corio's
/// [`TcpStream`] and [`UnixStream`], whose inherent `poll_*` methods these
/// are. What adapters to other crates' I/O traits (corio-compat's `Io`,
/// TLS) are written against, so they need not name each socket type. No
/// asyncio counterpart (`sock_recv` and `sock_sendall` are coroutines).
pub trait PollSocket {
    /// `TcpStream::poll_recv`.
    ///
    /// # Errors
    /// The OS error of `recv`.
    fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        state: &mut PollState,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>>;
    /// `TcpStream::poll_recv_uninit`.
    ///
    /// # Errors
    /// The OS error of `recv`.
    fn poll_recv_uninit(
        &self,
        cx: &mut Context<'_>,
        state: &mut PollState,
        buf: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>>;
    /// `TcpStream::poll_send`.
    ///
    /// # Errors
    /// The OS error of `send`.
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        state: &mut PollState,
        buf: &[u8],
    ) -> Poll<io::Result<usize>>;
    /// `TcpStream::poll_send_vectored`.
    ///
    /// # Errors
    /// The OS error of `sendmsg`.
    fn poll_send_vectored(
        &self,
        cx: &mut Context<'_>,
        state: &mut PollState,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// `TcpStream::write_eof`.
    ///
    /// # Errors
    /// The OS error of `shutdown`.
    fn write_eof(&self) -> io::Result<()>;
}

macro_rules! poll_socket {
    ($($ty:ty),*) => {$(
        impl PollSocket for $ty {
            fn poll_recv(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                <$ty>::poll_recv(self, cx, state, buf)
            }
            fn poll_recv_uninit(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &mut [MaybeUninit<u8>],
            ) -> Poll<io::Result<usize>> {
                <$ty>::poll_recv_uninit(self, cx, state, buf)
            }
            fn poll_send(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                <$ty>::poll_send(self, cx, state, buf)
            }
            fn poll_send_vectored(
                &self,
                cx: &mut Context<'_>,
                state: &mut PollState,
                bufs: &[io::IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                <$ty>::poll_send_vectored(self, cx, state, bufs)
            }
            fn write_eof(&self) -> io::Result<()> {
                <$ty>::write_eof(self)
            }
        }
    )*};
}

poll_socket!(TcpStream, UnixStream);
