//! [`SelectorError`]: every way a selector call can fail.

use std::io;
use std::os::fd::RawFd;

use crate::Events;

/// The error of every selector call.
///
/// Mirrors the exceptions of Python's `selectors`: `KeyError` becomes
/// [`AlreadyRegistered`](Self::AlreadyRegistered) /
/// [`NotRegistered`](Self::NotRegistered), `ValueError` becomes
/// [`InvalidEvents`](Self::InvalidEvents) / [`InvalidFd`](Self::InvalidFd) /
/// [`FdTooLarge`](Self::FdTooLarge), `RuntimeError('Selector is closed')`
/// becomes [`Closed`](Self::Closed), and `OSError` becomes
/// [`Os`](Self::Os).
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    /// The fd already has a key. Python: `KeyError('... is already registered')`.
    #[error("{fd} (FD {fd}) is already registered")]
    AlreadyRegistered {
        /// The fd that was registered twice.
        fd: RawFd,
    },
    /// The fd has no key. Python: `KeyError('... is not registered')`.
    #[error("{fd} is not registered")]
    NotRegistered {
        /// The fd that was looked up.
        fd: RawFd,
    },
    /// Empty events, or bits other than `EVENT_READ | EVENT_WRITE`.
    /// Python: `ValueError('Invalid events: ...')`.
    #[error("Invalid events: {0:?}")]
    InvalidEvents(Events),
    /// A negative file descriptor. Python: `ValueError('Invalid file descriptor: -1')`.
    #[error("Invalid file descriptor: {fd}")]
    InvalidFd {
        /// The negative fd.
        fd: RawFd,
    },
    /// The fd does not fit the backend (select(2) only handles fds below
    /// `FD_SETSIZE`). Python: `ValueError('filedescriptor out of range in select()')`.
    #[error("filedescriptor {fd} out of range in select() (limit {limit})")]
    FdTooLarge {
        /// The fd that was refused.
        fd: RawFd,
        /// The first fd the backend cannot watch.
        limit: RawFd,
    },
    /// The selector was closed. Python: `RuntimeError('Selector is closed')`.
    #[error("Selector is closed")]
    Closed,
    /// The kernel refused: EBADF for an fd that is not open, EPERM for a
    /// regular file under epoll, ENOMEM, … Python: `OSError`.
    #[error(transparent)]
    Os(#[from] io::Error),
}

impl SelectorError {
    /// The OS error number, when the kernel refused the call.
    ///
    /// ```
    /// use corio_reactor::{DefaultSelector, Selector, EVENT_READ};
    ///
    /// let mut sel = DefaultSelector::<()>::new().unwrap();
    /// // fd 999 is not open in this process.
    /// let err = sel.register(999, EVENT_READ, ()).unwrap_err();
    /// assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    /// ```
    ///
    /// Python: `OSError.errno`.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            SelectorError::Os(e) => e.raw_os_error(),
            _ => None,
        }
    }
}

impl From<SelectorError> for io::Error {
    /// Lets `?` carry a selector error out of a function returning
    /// `io::Result`; an OS error keeps its errno.
    fn from(err: SelectorError) -> io::Error {
        match err {
            SelectorError::Os(e) => e,
            SelectorError::NotRegistered { .. } => io::Error::new(io::ErrorKind::NotFound, err),
            SelectorError::AlreadyRegistered { .. } => {
                io::Error::new(io::ErrorKind::AlreadyExists, err)
            }
            other => io::Error::new(io::ErrorKind::InvalidInput, other),
        }
    }
}
