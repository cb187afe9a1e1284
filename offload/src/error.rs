//! [`OffloadError`]: why an offloaded job has no value.

use corio_executor::{LoopError, TaskError};

/// Why a job (or a coroutine run with
/// [`run_coroutine_threadsafe`](crate::run_coroutine_threadsafe)) gave no
/// value, or why it could not be submitted.
///
/// Mirrors the exceptions of `concurrent.futures` (`CancelledError`,
/// `TimeoutError`, `RuntimeError('cannot schedule new futures after
/// shutdown')`, `ValueError('max_workers must be greater than 0')`); differs
/// in carrying a job's panic as [`Panicked`](Self::Panicked), since Rust has
/// no exceptions. `Send + Sync + Clone`, so it crosses threads with the
/// result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// The future was cancelled before its job started (or, for
    /// `run_coroutine_threadsafe`, its task was cancelled).
    /// Python: `concurrent.futures.CancelledError`.
    #[error("the job was cancelled")]
    Cancelled,
    /// The job panicked; the panic message. The worker thread survives.
    #[error("the job panicked: {0}")]
    Panicked(String),
    /// A coroutine run by `run_coroutine_threadsafe` ended with a task error
    /// other than a panic or a cancellation; its text. A task ends only in
    /// those two today; this catches variants `TaskError` (non-exhaustive)
    /// may gain.
    #[error("the coroutine failed: {0}")]
    Failed(String),
    /// `result_timeout` expired before the future was done.
    /// Python: `concurrent.futures.TimeoutError`.
    #[error("timed out waiting for the result")]
    Timeout,
    /// `submit` after `shutdown`. Python: `RuntimeError('cannot schedule
    /// new futures after shutdown')`.
    #[error("cannot schedule new futures after shutdown")]
    Shutdown,
    /// `max_workers` of 0. Python: `ValueError('max_workers must be greater
    /// than 0')`.
    #[error("max_workers must be greater than 0")]
    InvalidMaxWorkers,
    /// No worker thread could be started and none is running; the OS error.
    /// Python: `RuntimeError("can't start new thread")`.
    #[error("can't start a worker thread: {0}")]
    Spawn(String),
    /// The value was already moved out by an earlier `result()`.
    /// Python has no such case (its results are shared objects).
    #[error("the result was already retrieved")]
    Retrieved,
    /// The event loop could not be used: closed, or none is set.
    /// Python: the loop's `RuntimeError`.
    #[error(transparent)]
    Loop(#[from] LoopError),
}

impl OffloadError {
    /// True for [`OffloadError::Cancelled`]. Python:
    /// `isinstance(e, concurrent.futures.CancelledError)`.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, OffloadError::Cancelled)
    }

    /// True for [`OffloadError::Panicked`]. No Python counterpart.
    pub fn is_panic(&self) -> bool {
        matches!(self, OffloadError::Panicked(_))
    }

    /// True for [`OffloadError::Timeout`]. Python:
    /// `isinstance(e, concurrent.futures.TimeoutError)`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, OffloadError::Timeout)
    }

    /// The `OffloadError` for a task that ended without a value: what
    /// `run_coroutine_threadsafe` hands to the other thread, since a
    /// [`TaskError`] may hold `!Send` data.
    pub(crate) fn from_task(err: &TaskError) -> OffloadError {
        match err {
            TaskError::Cancelled => OffloadError::Cancelled,
            TaskError::Panicked(message) => OffloadError::Panicked(message.clone()),
            other => OffloadError::Failed(other.to_string()),
        }
    }
}
