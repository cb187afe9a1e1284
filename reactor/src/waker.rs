//! [`Waker`]: an eventfd that wakes a blocked `select` from any thread.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::sys;

/// Wakes a thread blocked in [`select`](crate::Selector::select), from any
/// thread.
///
/// Mirrors the self-pipe of asyncio's `_write_to_self` (the socketpair behind
/// `call_soon_threadsafe`); differs in using one eventfd, whose 64-bit
/// counter coalesces any number of wakes into a single readable event and is
/// emptied by one `read`.
///
/// Register [`as_raw_fd`](AsRawFd::as_raw_fd) for [`EVENT_READ`](crate::EVENT_READ)
/// and call [`drain`](Self::drain) when it is reported. `Waker` is
/// `Send + Sync`; share it with an `Arc`.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use corio_reactor::{DefaultSelector, Selector, Waker, EVENT_READ};
///
/// let waker = Arc::new(Waker::new()?);
/// let mut sel = DefaultSelector::new()?;
/// sel.register(waker.as_raw_fd(), EVENT_READ, ())?;
///
/// let remote = Arc::clone(&waker);
/// let thread = std::thread::spawn(move || remote.wake());
/// let ready = sel.select(None)?; // blocks until the other thread wakes us
/// assert_eq!(ready.len(), 1);
/// assert!(waker.drain()? >= 1);
/// thread.join().unwrap()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Waker {
    /// The eventfd (non-blocking, close-on-exec).
    fd: OwnedFd,
}

impl Waker {
    /// Creates the eventfd.
    ///
    /// # Errors
    /// The OS error when no fd can be had (EMFILE, ENFILE).
    ///
    /// Python: asyncio's `_make_self_pipe()`.
    pub fn new() -> io::Result<Waker> {
        Ok(Waker {
            fd: sys::eventfd()?,
        })
    }

    /// Makes the waker readable, waking a `select` that watches it.
    ///
    /// Never blocks. Many wakes before a `drain` make one event. The counter
    /// cannot overflow: at its maximum a write fails with EAGAIN, which means
    /// the fd is already readable, so the wake is already delivered and the
    /// call succeeds.
    ///
    /// # Errors
    /// Only an unexpected OS error (none is known for a valid eventfd).
    ///
    /// Python: asyncio's `_write_to_self()`.
    pub fn wake(&self) -> io::Result<()> {
        match sys::eventfd_write(self.fd.as_fd(), 1) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(()),
            other => other,
        }
    }

    /// Empties the counter; returns how many wakes it held (0 if none).
    ///
    /// After `drain`, the fd is not readable until the next `wake`.
    ///
    /// # Errors
    /// Only an unexpected OS error.
    ///
    /// Python: asyncio's `_read_from_self()`.
    pub fn drain(&self) -> io::Result<u64> {
        match sys::eventfd_read(self.fd.as_fd()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// The fd to register with a selector (same as [`AsRawFd::as_raw_fd`],
    /// without importing the trait).
    ///
    /// Python: `self._ssock.fileno()`.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsRawFd for Waker {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Waker {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drain_counts_and_resets() {
        let waker = Waker::new().unwrap();
        assert_eq!(waker.drain().unwrap(), 0);
        waker.wake().unwrap();
        waker.wake().unwrap();
        waker.wake().unwrap();
        assert_eq!(waker.drain().unwrap(), 3);
        assert_eq!(waker.drain().unwrap(), 0);
    }

    #[test]
    fn wake_at_a_saturated_counter_succeeds() {
        let waker = Waker::new().unwrap();
        // The largest value an eventfd counter can hold.
        sys::eventfd_write(waker.fd.as_fd(), u64::MAX - 1).unwrap();
        waker.wake().unwrap();
        waker.wake().unwrap();
        assert_eq!(waker.drain().unwrap(), u64::MAX - 1);
    }
}
