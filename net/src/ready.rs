//! Waiting for readiness: the future an operation parks on when its
//! syscall would block.
//!
//! This is asyncio's `sock_recv` / `sock_sendall` pattern: try the syscall;
//! on `EAGAIN`, `add_reader` (or `add_writer`) with a callback that wakes
//! the task, and `remove_reader` once woken or dropped. Each wait costs an
//! `epoll_ctl` to start and one to stop, which is right for the low-level
//! socket calls; transports keep their registration instead. The callback
//! is a waking one (`add_waking_reader`): the task runs in the iteration
//! whose select found the fd ready, not one later as in asyncio.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio_executor::{EventLoop, get_running_loop};

/// Which readiness to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Interest {
    Read,
    Write,
}

/// Waits until `fd` is readable or writable, once.
pub(crate) fn ready(fd: RawFd, interest: Interest) -> Ready {
    Ready {
        fd,
        interest,
        registered: None,
    }
}

/// The future of [`ready`].
pub(crate) struct Ready {
    fd: RawFd,
    interest: Interest,
    /// The loop and the shared slot, once the callback is registered.
    registered: Option<(EventLoop, Rc<RefCell<Slot>>)>,
}

/// Shared by the future and the loop's callback.
#[derive(Default)]
struct Slot {
    fired: bool,
    waker: Option<Waker>,
}

impl Ready {
    fn unregister(&mut self) {
        if let Some((lp, _)) = self.registered.take() {
            match self.interest {
                Interest::Read => lp.remove_reader(self.fd),
                Interest::Write => lp.remove_writer(self.fd),
            };
        }
    }
}

impl Future for Ready {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some((_, slot)) = &this.registered {
            let mut slot = slot.borrow_mut();
            if !slot.fired {
                slot.waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            drop(slot);
            this.unregister();
            return Poll::Ready(Ok(()));
        }
        let lp = get_running_loop().map_err(io::Error::other)?;
        let slot = Rc::new(RefCell::new(Slot {
            fired: false,
            waker: Some(cx.waker().clone()),
        }));
        let shared = slot.clone();
        let callback = move || {
            let mut slot = shared.borrow_mut();
            slot.fired = true;
            if let Some(waker) = slot.waker.take() {
                drop(slot);
                waker.wake();
            }
        };
        let added = match this.interest {
            Interest::Read => lp.add_waking_reader(this.fd, callback),
            Interest::Write => lp.add_waking_writer(this.fd, callback),
        };
        added.map_err(|e| io::Error::other(e.to_string()))?;
        this.registered = Some((lp, slot));
        Poll::Pending
    }
}

impl Drop for Ready {
    fn drop(&mut self) {
        self.unregister();
    }
}

/// True for the errors that mean "not now, try again": `EAGAIN` and
/// `EINTR`. Callbacks that run on readiness simply return on these.
pub(crate) fn try_again(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Runs `op` until it does not fail with `WouldBlock`, waiting for
/// `interest` between tries; `EINTR` is retried at once.
pub(crate) async fn retry<T>(
    fd: RawFd,
    interest: Interest,
    mut op: impl FnMut() -> io::Result<T>,
) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready(fd, interest).await?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}
