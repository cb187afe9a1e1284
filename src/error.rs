//! [`Error`]: the one error type of the facade, which every crate's error
//! converts into, so that `?` works across them in one function.

use std::io;

use corio_executor::{
    GatherError, InvalidStateError, LoopError, RunError, SignalError, TaskError, TimeoutError,
};
use corio_net::StreamError;
use corio_offload::OffloadError;
use corio_reactor::SelectorError;
use corio_sync::{PutError, SyncError};

/// Any corio error. Python has one exception hierarchy; here each crate
/// has its own typed errors, and this enum gathers them, each variant the
/// crate's error unchanged (match on it to handle one case).
///
/// Every crate error converts into it with `?`:
///
/// ```
/// use std::time::Duration;
/// use corio::sync::Queue;
///
/// fn main() -> corio::Result<()> {
///     corio::run(async {
///         let queue = Queue::new(1);
///         queue.put_nowait("first")?; // SyncError (through PutError)
///         let got = corio::timeout(Duration::from_secs(1), queue.get()).await??; // TimeoutError, SyncError
///         let upper = corio::to_thread(move || got.to_uppercase()).await?; // OffloadError
///         assert_eq!(upper, "FIRST");
///         let err = corio::timeout(Duration::from_millis(1), queue.get()).await.unwrap_err();
///         assert!(corio::Error::from(err).is_timeout());
///         Ok::<(), corio::Error>(())
///     })? // RunError
/// }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A selector misuse or failure (`corio::selectors`).
    #[error(transparent)]
    Selector(#[from] SelectorError),
    /// An event loop misuse: closed, already running, none running.
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// A task or future ended without a value: cancelled, panicked, timed
    /// out, or an exception set on a future.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Ctrl-C ended [`run`](crate::run). Python: `KeyboardInterrupt`.
    #[error("interrupted (SIGINT)")]
    Interrupted,
    /// The program asks to end with this status: returned out of
    /// [`main`](crate::main), it exits with it and prints nothing, as
    /// [`Exit::code`](crate::Exit::code) does. Python: `sys.exit(n)`
    /// (`SystemExit` raised out of `asyncio.run`).
    #[error("exit status {0}")]
    SystemExit(u8),
    /// A deadline passed ([`timeout`](crate::timeout)).
    #[error(transparent)]
    Timeout(#[from] TimeoutError),
    /// A result set twice or read too early.
    #[error(transparent)]
    InvalidState(#[from] InvalidStateError),
    /// A signal handler that cannot be added.
    #[error(transparent)]
    Signal(#[from] SignalError),
    /// A lock, semaphore or queue misuse (`QueueFull`, `QueueEmpty`, ...).
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A thread-pool job that failed, was cancelled or timed out.
    #[error(transparent)]
    Offload(#[from] OffloadError),
    /// A stream read that could not be satisfied (`IncompleteRead`,
    /// `LimitOverrun`, ...).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// An OS error: sockets, pipes, processes.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// `Result` with corio's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// True when a task was cancelled. Python: `isinstance(e, CancelledError)`.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, Error::Task(e) if e.is_cancelled())
            || matches!(self, Error::Offload(OffloadError::Cancelled))
    }

    /// True for a deadline that passed, whichever layer reported it.
    /// Python: `isinstance(e, TimeoutError)`.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Timeout(_) | Error::Offload(OffloadError::Timeout)
        ) || matches!(self, Error::Task(e) if e.is_timeout())
            || matches!(self, Error::Io(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// True when Ctrl-C ended `run`. Python: `KeyboardInterrupt`.
    pub fn is_interrupted(&self) -> bool {
        matches!(self, Error::Interrupted)
    }
}

impl From<RunError> for Error {
    fn from(err: RunError) -> Error {
        match err {
            RunError::Loop(e) => Error::Loop(e),
            RunError::Task(e) => Error::Task(e),
            RunError::Interrupted => Error::Interrupted,
            // RunError is non-exhaustive: keep the message of a new kind.
            other => Error::Io(io::Error::other(other.to_string())),
        }
    }
}

/// A queue's `put` that failed: the error, without the item.
impl<T> From<PutError<T>> for Error {
    fn from(err: PutError<T>) -> Error {
        Error::Sync(err.error)
    }
}

/// A `try_gather` child's own error, or the gather's task error.
impl<E: Into<Error>> From<GatherError<E>> for Error {
    fn from(err: GatherError<E>) -> Error {
        match err {
            GatherError::Failed(e) => e.into(),
            GatherError::Task(e) => Error::Task(e),
        }
    }
}

/// For code that speaks `io::Result`: an OS error as it was, anything else
/// as `io::Error::other` with its message (kinds kept where one fits).
impl From<Error> for io::Error {
    fn from(err: Error) -> io::Error {
        match err {
            Error::Io(e) => e,
            Error::Stream(e) => e.into(),
            e if e.is_timeout() => io::Error::new(io::ErrorKind::TimedOut, e.to_string()),
            e => io::Error::other(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_errors_keep_their_kind() {
        assert!(Error::from(RunError::Interrupted).is_interrupted());
        assert!(Error::from(RunError::Task(TaskError::Cancelled)).is_cancelled());
        assert!(matches!(
            Error::from(RunError::Loop(LoopError::Closed)),
            Error::Loop(LoopError::Closed)
        ));
    }

    #[test]
    fn put_and_gather_errors_unwrap_to_their_cause() {
        let put = PutError {
            error: SyncError::QueueFull,
            item: 7,
        };
        assert!(matches!(
            Error::from(put),
            Error::Sync(SyncError::QueueFull)
        ));
        let failed: GatherError<io::Error> =
            GatherError::Failed(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(
            matches!(Error::from(failed), Error::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused)
        );
        let task: GatherError<io::Error> = GatherError::Task(TaskError::Timeout);
        assert!(Error::from(task).is_timeout());
    }

    #[test]
    fn back_into_io_errors() {
        let os = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(
            io::Error::from(Error::Io(os)).kind(),
            io::ErrorKind::BrokenPipe
        );
        let late = io::Error::from(Error::from(TimeoutError));
        assert_eq!(late.kind(), io::ErrorKind::TimedOut);
        let offload = io::Error::from(Error::from(OffloadError::Timeout));
        assert_eq!(offload.kind(), io::ErrorKind::TimedOut);
        let other = io::Error::from(Error::from(SyncError::QueueEmpty));
        assert_eq!(other.kind(), io::ErrorKind::Other);
        assert_eq!(other.to_string(), "queue is empty");
    }
}
