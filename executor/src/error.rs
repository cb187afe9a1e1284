//! The executor's errors: [`LoopError`], [`TaskError`], [`RunError`],
//! [`InvalidStateError`], [`TimeoutError`], [`SignalError`].

use std::any::Any;
use std::fmt;
use std::rc::Rc;

/// A misuse of the event loop. Python raises `RuntimeError` with these
/// messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoopError {
    /// The loop was closed. Python: `RuntimeError('Event loop is closed')`.
    #[error("Event loop is closed")]
    Closed,
    /// `run_*` on a loop that is already running (a nested run).
    #[error("This event loop is already running")]
    AlreadyRunning,
    /// `run_*` while another loop runs on this thread.
    #[error("Cannot run the event loop while another loop is running")]
    AnotherLoopRunning,
    /// `stop()` ended `run_until_complete` before its future was done.
    #[error("Event loop stopped before Future completed.")]
    StoppedBeforeComplete,
    /// `close()` on a running loop.
    #[error("Cannot close a running event loop")]
    CloseWhileRunning,
    /// `get_running_loop()` outside a running loop.
    #[error("no running event loop")]
    NoRunningLoop,
    /// `get_event_loop()` with no running loop and none set.
    #[error("There is no current event loop in thread {0:?}.")]
    NoCurrentLoop(String),
    /// The selector failed (an OS error while waiting for I/O).
    #[error("selector failed: {0}")]
    Selector(String),
}

/// Why a task (or a [`Future`](crate::Future)) ended without a value.
///
/// Python raises `CancelledError`, or the coroutine's exception; corio has
/// no exceptions, so a panic becomes [`Panicked`](Self::Panicked) and an
/// error set with `set_exception` becomes [`Exception`](Self::Exception).
#[derive(Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TaskError {
    /// The task was cancelled. Python: `asyncio.CancelledError`.
    #[error("task was cancelled")]
    Cancelled,
    /// The coroutine panicked; the panic message.
    #[error("task panicked: {0}")]
    Panicked(String),
    /// An error set with [`Future::set_exception`](crate::Future::set_exception).
    #[error("{0}")]
    Exception(Rc<dyn std::error::Error>),
    /// A [`wait_for`](crate::wait_for) or [`timeout`](crate::timeout) expired.
    #[error("timed out")]
    Timeout,
    /// The outcome was asked for in the wrong state (not done yet, or
    /// already moved out). Python: `asyncio.InvalidStateError`.
    #[error("{0}")]
    InvalidState(&'static str),
}

impl TaskError {
    /// True for [`TaskError::Cancelled`]. Python: `isinstance(e, CancelledError)`.
    ///
    /// Python: `isinstance(e, CancelledError)` on what `asyncio.run` raised.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }

    /// True for [`TaskError::Panicked`].
    ///
    /// No asyncio counterpart (Python has exceptions, not panics).
    pub fn is_panic(&self) -> bool {
        matches!(self, TaskError::Panicked(_))
    }

    /// True for [`TaskError::Timeout`]. Python: `isinstance(e, TimeoutError)`.
    pub fn is_timeout(&self) -> bool {
        matches!(self, TaskError::Timeout)
    }

    /// Wraps any error as [`TaskError::Exception`].
    ///
    /// Python: the exception object given to `set_exception`.
    pub fn exception(err: impl std::error::Error + 'static) -> TaskError {
        TaskError::Exception(Rc::new(err))
    }
}

impl fmt::Debug for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Cancelled => f.write_str("Cancelled"),
            TaskError::Panicked(msg) => f.debug_tuple("Panicked").field(msg).finish(),
            TaskError::Exception(e) => f.debug_tuple("Exception").field(&e.to_string()).finish(),
            TaskError::Timeout => f.write_str("Timeout"),
            TaskError::InvalidState(m) => f.debug_tuple("InvalidState").field(m).finish(),
        }
    }
}

impl PartialEq for TaskError {
    /// Exceptions compare by identity (the same `Rc`), the rest by value.
    fn eq(&self, other: &TaskError) -> bool {
        match (self, other) {
            (TaskError::Cancelled, TaskError::Cancelled) => true,
            (TaskError::Timeout, TaskError::Timeout) => true,
            (TaskError::Panicked(a), TaskError::Panicked(b)) => a == b,
            (TaskError::Exception(a), TaskError::Exception(b)) => Rc::ptr_eq(a, b),
            (TaskError::InvalidState(a), TaskError::InvalidState(b)) => a == b,
            _ => false,
        }
    }
}

/// What `run` and `run_until_complete` can end with besides a value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The loop refused to run, or stopped early.
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// The main future ended without a value.
    #[error(transparent)]
    Task(#[from] TaskError),
    /// Ctrl-C (SIGINT) cancelled the main task; the other tasks were
    /// cancelled and the loop closed. Python: `KeyboardInterrupt` out of
    /// `asyncio.run`; a program then ends killed by SIGINT, as CPython does
    /// (the facade's `corio::Exit`), which a shell reports as status 130.
    #[error("interrupted (SIGINT)")]
    Interrupted,
}

impl RunError {
    /// True when the main future was cancelled.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, RunError::Task(e) if e.is_cancelled())
    }
}

/// A call made in the wrong state: a result set twice, read too early.
/// Python: `asyncio.InvalidStateError`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidStateError(pub &'static str);

/// A deadline passed. Python: `TimeoutError` (`asyncio.TimeoutError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct TimeoutError;

impl From<TimeoutError> for TaskError {
    fn from(_: TimeoutError) -> TaskError {
        TaskError::Timeout
    }
}

/// A deadline in `io::Result` code: kind `TimedOut`, so `?` works after
/// [`timeout`](crate::timeout). Python: `TimeoutError` is an `OSError`
/// (errno `ETIMEDOUT`), caught by `except OSError`.
///
/// # Examples
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use corio_executor::{run, timeout, wait_for};
///
/// async fn answer() -> io::Result<u32> {
///     // The outer `?`: TimeoutError; with `wait_for`, TaskError.
///     timeout(Duration::from_millis(1), std::future::pending::<()>()).await?;
///     Ok(wait_for(async { 42 }, None).await?)
/// }
///
/// let err = run(answer()).unwrap().unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
/// ```
impl From<TimeoutError> for std::io::Error {
    fn from(err: TimeoutError) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, err)
    }
}

/// A task's failure in `io::Result` code (after `wait_for`, or awaiting a
/// task): [`TaskError::Timeout`] is `TimedOut`; an error set with
/// `set_exception` that is an `io::Error` keeps its kind; the rest are
/// `Other` with the task error's message. Cancellation is deliberately not
/// `Interrupted`: `std::io` retries that kind (`read_exact`, `write_all`),
/// and a cancelled task must not be retried. Python: `TimeoutError` is an
/// `OSError`; `CancelledError` is not, so it surfaces as a plain error.
impl From<TaskError> for std::io::Error {
    fn from(err: TaskError) -> std::io::Error {
        let kind = match &err {
            TaskError::Timeout => std::io::ErrorKind::TimedOut,
            TaskError::Exception(e) => e
                .downcast_ref::<std::io::Error>()
                .map_or(std::io::ErrorKind::Other, std::io::Error::kind),
            _ => std::io::ErrorKind::Other,
        };
        std::io::Error::new(kind, err.to_string())
    }
}

/// A signal handler that cannot be added. Python raises `ValueError`,
/// `RuntimeError` or `OSError` for these.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// Not a signal number. Python: `ValueError('invalid signal number')`.
    #[error("invalid signal number {0}")]
    Invalid(i32),
    /// `SIGKILL` and `SIGSTOP` cannot be caught. Python:
    /// `RuntimeError('sig 9 cannot be caught')`.
    #[error("sig {0} cannot be caught")]
    Uncatchable(i32),
    /// Another event loop of this process handles the signal (a signal has
    /// one disposition per process, so one loop at a time catches it).
    #[error("signal {0} is already handled by another event loop")]
    InUse(i32),
    /// The loop is closed, or (for the free functions) none is running.
    #[error(transparent)]
    Loop(#[from] LoopError),
    /// The pipe or `sigaction` failed.
    #[error("cannot handle signal: {0}")]
    Os(#[from] std::io::Error),
}

/// The message of a caught panic's payload (`&str` or `String`), as
/// [`TaskError::Panicked`] carries it; `"Box<dyn Any>"` for other payloads.
///
/// No asyncio counterpart (Python has exceptions, not panics). Public so
/// that the crates above report panics of their own threads the same way.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("job {} failed", 7)).unwrap_err();
/// assert_eq!(corio_executor::panic_message(&*payload), "job 7 failed");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any>".to_string()
    }
}
