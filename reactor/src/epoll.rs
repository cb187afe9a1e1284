//! The epoll(7) backend: [`Epoll`] and [`EpollSelector`].
//!
//! # Facts about the kernel this file relies on
//!
//! - **Level-triggered.** Without `EPOLLET`, `epoll_wait` reports an fd as
//!   long as it is ready, exactly like poll(2); this is Python's model and
//!   corio's. (mio and tokio use edge-triggering, which needs a drain-until-
//!   EAGAIN discipline from every reader; corio does not.)
//! - **The interest list is keyed by (fd number, open file description).**
//!   Closing an fd removes it from every epoll set *only when it was the last
//!   reference to the file description*. After `dup`, `fork` or `SCM_RIGHTS`,
//!   a closed fd number stays in the set and keeps producing events under
//!   its old number, and `EPOLL_CTL_DEL` on that number fails with EBADF
//!   (or ENOENT once the number is reused): the close/dup trap. corio tags
//!   each registration with a generation (the `data` token) and drops events
//!   whose generation is stale, so a reused number is never confused with
//!   the old file; the old file's events still wake `select`, which may then
//!   return early with nothing to report. Always `unregister` before `close`.
//! - **Errors and hang-ups are always reported** (`EPOLLERR`, `EPOLLHUP`),
//!   whatever the interest; they are reported to the caller as ready for
//!   every registered event, so the reader sees EOF and the writer sees the
//!   error.
//! - **Timeouts.** `epoll_wait` takes whole milliseconds, and rounding *down*
//!   makes it return before a timer is due, so the loop spins until it is;
//!   corio rounds up. `epoll_pwait2` (Linux ≥ 5.11) takes a `timespec`, so
//!   timers can be precise below a millisecond; corio uses it when the
//!   kernel has it (probed once, at open) and falls back otherwise.
//! - **EINTR.** A signal handler installed without `SA_RESTART` makes
//!   `epoll_wait` fail with EINTR (epoll_wait is never restarted, even with
//!   `SA_RESTART`); [`BaseSelector`](crate::BaseSelector) retries with the
//!   remaining time.
//! - **Regular files** cannot be added (EPERM): they are always ready.

use std::io;
use std::os::fd::{AsFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::selector::{Backend, BaseSelector};
use crate::{EVENT_READ, EVENT_WRITE, Events, sys};

/// A selector on epoll(7). Python's `selectors.EpollSelector`, and the
/// [`DefaultSelector`](crate::DefaultSelector) on Linux.
pub type EpollSelector<T = ()> = BaseSelector<Epoll, T>;

/// How an epoll backend turns a `Duration` into a kernel timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpollTimeouts {
    /// `epoll_pwait2` with a `timespec`: nanosecond resolution (Linux ≥ 5.11).
    Nanoseconds,
    /// `epoll_wait` with whole milliseconds, rounded up.
    Milliseconds,
}

/// The epoll backend of [`EpollSelector`].
pub struct Epoll {
    /// The epoll instance; closed when the backend is dropped.
    epfd: OwnedFd,
    /// Where `epoll_wait` writes; doubled whenever a wait fills it, so a
    /// busy selector catches up in one call (Python sizes it by the number
    /// of keys on every call instead).
    buf: Vec<libc::epoll_event>,
    /// Which wait syscall to use.
    timeouts: EpollTimeouts,
}

/// The first size of the event buffer.
const INITIAL_EVENTS: usize = 64;

impl Epoll {
    /// Which timeout path this backend uses.
    ///
    /// No Python counterpart (Python always uses `epoll_wait` milliseconds).
    pub fn timeouts(&self) -> EpollTimeouts {
        self.timeouts
    }

    /// Forces a timeout path: `Milliseconds` always works, `Nanoseconds`
    /// only on kernels with `epoll_pwait2`. Meant for measuring the two
    /// paths against each other.
    ///
    /// # Errors
    /// The kernel's error (ENOSYS) when `Nanoseconds` is asked for and the
    /// kernel lacks `epoll_pwait2`.
    ///
    /// No Python counterpart.
    pub fn set_timeouts(&mut self, timeouts: EpollTimeouts) -> io::Result<()> {
        if timeouts == EpollTimeouts::Nanoseconds {
            sys::epoll_pwait2(self.epfd.as_fd(), &mut self.buf, Some(Duration::ZERO))?;
        }
        self.timeouts = timeouts;
        Ok(())
    }
}

/// The epoll interest bits for a set of events.
fn interest(events: Events) -> u32 {
    let mut bits = 0;
    if events.is_readable() {
        bits |= libc::EPOLLIN as u32;
    }
    if events.is_writable() {
        bits |= libc::EPOLLOUT as u32;
    }
    bits
}

/// Kernel readiness as events, by Python's rule: anything but `EPOLLIN`
/// (out, error, hang-up) makes the fd writable, anything but `EPOLLOUT`
/// makes it readable.
fn readiness(bits: u32) -> Events {
    let mut events = Events::NONE;
    if bits & !(libc::EPOLLIN as u32) != 0 {
        events |= EVENT_WRITE;
    }
    if bits & !(libc::EPOLLOUT as u32) != 0 {
        events |= EVENT_READ;
    }
    events
}

impl Backend for Epoll {
    const NAME: &'static str = "EpollSelector";

    fn open() -> io::Result<Epoll> {
        let epfd = sys::epoll_create()?;
        let mut buf = vec![sys::EMPTY_EPOLL_EVENT; INITIAL_EVENTS];
        // Probe once: ENOSYS on old kernels, EPERM under some seccomp
        // filters; any failure means the millisecond path.
        let timeouts = match sys::epoll_pwait2(epfd.as_fd(), &mut buf, Some(Duration::ZERO)) {
            Ok(_) => EpollTimeouts::Nanoseconds,
            Err(_) => EpollTimeouts::Milliseconds,
        };
        Ok(Epoll {
            epfd,
            buf,
            timeouts,
        })
    }

    fn add(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::epoll_ctl(
            self.epfd.as_fd(),
            libc::EPOLL_CTL_ADD,
            fd,
            interest(events),
            token,
        )
    }

    fn modify(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::epoll_ctl(
            self.epfd.as_fd(),
            libc::EPOLL_CTL_MOD,
            fd,
            interest(events),
            token,
        )
    }

    fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        sys::epoll_ctl(self.epfd.as_fd(), libc::EPOLL_CTL_DEL, fd, 0, 0)
    }

    fn wait<F: FnMut(u64, Events)>(
        &mut self,
        timeout: Option<Duration>,
        mut on_event: F,
    ) -> io::Result<usize> {
        let n = match self.timeouts {
            EpollTimeouts::Nanoseconds => {
                sys::epoll_pwait2(self.epfd.as_fd(), &mut self.buf, timeout)?
            }
            EpollTimeouts::Milliseconds => sys::epoll_wait(
                self.epfd.as_fd(),
                &mut self.buf,
                sys::timeout_ms_ceil(timeout),
            )?,
        };
        // `epoll_event` is packed: copy each one out before reading fields.
        for event in self.buf[..n].iter().copied() {
            let (bits, token) = (event.events, event.u64);
            on_event(token, readiness(bits));
        }
        if n == self.buf.len() {
            self.buf.resize(n * 2, sys::EMPTY_EPOLL_EVENT);
        }
        Ok(n)
    }
}

impl std::fmt::Debug for Epoll {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Epoll")
            .field("epfd", &self.epfd)
            .field("timeouts", &self.timeouts)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_python() {
        let (inn, out, err, hup) = (
            libc::EPOLLIN as u32,
            libc::EPOLLOUT as u32,
            libc::EPOLLERR as u32,
            libc::EPOLLHUP as u32,
        );
        assert_eq!(readiness(inn), EVENT_READ);
        assert_eq!(readiness(out), EVENT_WRITE);
        assert_eq!(readiness(inn | out), Events::ALL);
        assert_eq!(readiness(err), Events::ALL);
        assert_eq!(readiness(hup | inn), Events::ALL);
    }
}
