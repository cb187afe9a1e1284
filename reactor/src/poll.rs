//! The poll(2) backend: [`Poll`] and [`PollSelector`].
//!
//! # Facts about the kernel this file relies on
//!
//! - poll(2) is stateless: the whole interest list is passed on every call
//!   and scanned by the kernel, so a wait costs O(registered fds), where
//!   epoll costs O(ready fds). The list lives here, in a `Vec<pollfd>` that
//!   is edited in place (O(1) add and delete, by swap-remove).
//! - Level-triggered, like epoll without `EPOLLET`.
//! - `POLLERR`, `POLLHUP` and `POLLNVAL` (an fd closed while registered) are
//!   reported whatever the interest; they count as ready for every
//!   registered event, as in Python. An fd closed without `unregister`
//!   therefore stays ready (`POLLNVAL`) on every wait: unregister first.
//! - `ppoll` takes a `timespec`: nanosecond timeouts, no rounding.
//! - poll(2) accepts any fd number at registration; this backend checks that
//!   the fd is open (`fcntl(F_GETFD)`) so that a bad fd fails with EBADF at
//!   `register`, as it does under epoll.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::selector::{Backend, BaseSelector};
use crate::{EVENT_READ, EVENT_WRITE, Events, sys};

/// A selector on poll(2). Python's `selectors.PollSelector`.
pub type PollSelector<T = ()> = BaseSelector<Poll, T>;

/// The poll backend of [`PollSelector`].
#[derive(Default)]
pub struct Poll {
    /// The interest list handed to the kernel on every wait.
    fds: Vec<libc::pollfd>,
    /// `tokens[i]` is the token of `fds[i]`.
    tokens: Vec<u64>,
    /// Where each fd sits in `fds`.
    index: HashMap<RawFd, usize>,
}

/// The poll interest bits for a set of events.
fn interest(events: Events) -> libc::c_short {
    let mut bits = 0;
    if events.is_readable() {
        bits |= libc::POLLIN;
    }
    if events.is_writable() {
        bits |= libc::POLLOUT;
    }
    bits
}

/// Kernel readiness as events, by Python's rule (see `epoll::readiness`).
fn readiness(bits: libc::c_short) -> Events {
    let mut events = Events::NONE;
    if bits & !libc::POLLIN != 0 {
        events |= EVENT_WRITE;
    }
    if bits & !libc::POLLOUT != 0 {
        events |= EVENT_READ;
    }
    events
}

impl Backend for Poll {
    const NAME: &'static str = "PollSelector";

    fn open() -> io::Result<Poll> {
        Ok(Poll::default())
    }

    fn add(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::check_open(fd)?;
        self.index.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events: interest(events),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::check_open(fd)?;
        let i = *self
            .index
            .get(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds[i].events = interest(events);
        self.tokens[i] = token;
        Ok(())
    }

    fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self
            .index
            .remove(&fd)
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))?;
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
        Ok(())
    }

    fn wait<F: FnMut(u64, Events)>(
        &mut self,
        timeout: Option<Duration>,
        mut on_event: F,
    ) -> io::Result<usize> {
        let n = sys::ppoll(&mut self.fds, timeout)?;
        let mut left = n;
        for (pollfd, &token) in self.fds.iter().zip(&self.tokens) {
            if left == 0 {
                break;
            }
            if pollfd.revents != 0 {
                on_event(token, readiness(pollfd.revents));
                left -= 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_python() {
        assert_eq!(readiness(libc::POLLIN), EVENT_READ);
        assert_eq!(readiness(libc::POLLOUT), EVENT_WRITE);
        assert_eq!(readiness(libc::POLLNVAL), Events::ALL);
        assert_eq!(readiness(libc::POLLHUP | libc::POLLIN), Events::ALL);
    }
}
