//! The select(2) backend: [`Select`] and [`SelectSelector`].
//!
//! # Facts about the kernel this file relies on
//!
//! - An `fd_set` is a fixed bitmap of `FD_SETSIZE` (1024) bits; `FD_SET` on a
//!   larger fd writes past its end. corio refuses such fds at `register`
//!   with [`SelectorError::FdTooLarge`](crate::SelectorError::FdTooLarge)
//!   (Python raises `ValueError` only at `select`), and the set wrapper
//!   checks the bound again before every bit operation.
//! - select(2) overwrites the sets it is given, so each wait copies the
//!   interest sets kept here (Python keeps `_readers`/`_writers` and rebuilds).
//! - A registered fd that was closed behind the selector's back makes the
//!   whole call fail with EBADF; Python lets that `OSError` through and so
//!   does corio.
//! - Errors show up as "readable" or "writable", so they reach the caller
//!   through the registered events without special handling.
//! - `pselect` takes a `timespec`: nanosecond timeouts.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::selector::{Backend, BaseSelector};
use crate::sys::{self, FD_SETSIZE, FdSet};
use crate::{EVENT_READ, EVENT_WRITE, Events};

/// A selector on select(2). Python's `selectors.SelectSelector`.
pub type SelectSelector<T = ()> = BaseSelector<Select, T>;

/// The select backend of [`SelectSelector`].
pub struct Select {
    /// fds with read interest (Python's `_readers`).
    readers: FdSet,
    /// fds with write interest (Python's `_writers`).
    writers: FdSet,
    /// `tokens[fd]` is the token of a registered `fd`.
    tokens: Vec<u64>,
    /// One more than the highest registered fd: select's `nfds`.
    nfds: RawFd,
}

impl Select {
    fn set_interest(&mut self, fd: RawFd, events: Events) {
        if events.is_readable() {
            self.readers.insert(fd);
        } else {
            self.readers.remove(fd);
        }
        if events.is_writable() {
            self.writers.insert(fd);
        } else {
            self.writers.remove(fd);
        }
    }
}

impl Backend for Select {
    const NAME: &'static str = "SelectSelector";

    fn open() -> io::Result<Select> {
        Ok(Select {
            readers: FdSet::new(),
            writers: FdSet::new(),
            tokens: vec![0; FD_SETSIZE as usize],
            nfds: 0,
        })
    }

    fn fd_limit(&self) -> Option<RawFd> {
        Some(FD_SETSIZE)
    }

    fn add(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::check_open(fd)?;
        self.set_interest(fd, events);
        self.tokens[fd as usize] = token;
        self.nfds = self.nfds.max(fd + 1);
        Ok(())
    }

    fn modify(&mut self, fd: RawFd, events: Events, token: u64) -> io::Result<()> {
        sys::check_open(fd)?;
        self.set_interest(fd, events);
        self.tokens[fd as usize] = token;
        Ok(())
    }

    fn delete(&mut self, fd: RawFd) -> io::Result<()> {
        self.readers.remove(fd);
        self.writers.remove(fd);
        while self.nfds > 0
            && !self.readers.contains(self.nfds - 1)
            && !self.writers.contains(self.nfds - 1)
        {
            self.nfds -= 1;
        }
        Ok(())
    }

    fn wait<F: FnMut(u64, Events)>(
        &mut self,
        timeout: Option<Duration>,
        mut on_event: F,
    ) -> io::Result<usize> {
        let (mut readable, mut writable) = (self.readers, self.writers);
        let n = sys::pselect(self.nfds, &mut readable, &mut writable, timeout)?;
        let mut left = n;
        for fd in 0..self.nfds {
            if left == 0 {
                break;
            }
            let mut events = Events::NONE;
            if readable.contains(fd) {
                events |= EVENT_READ;
                left -= 1;
            }
            if writable.contains(fd) {
                events |= EVENT_WRITE;
                left = left.saturating_sub(1);
            }
            if !events.is_empty() {
                on_event(self.tokens[fd as usize], events);
            }
        }
        Ok(n)
    }
}
