//! The crate's errors: one enum with asyncio's messages, plus [`PutError`]
//! that hands a refused item back.

/// What a primitive of this crate refuses, with asyncio's message.
///
/// Mirrors the exceptions asyncio raises from its synchronization
/// primitives (`RuntimeError`, `ValueError`, `QueueEmpty`, `QueueFull`,
/// `QueueShutDown`, `BrokenBarrierError`); differs in being values, and in
/// cancellation not being one of them (a cancelled wait is a dropped
/// future in Rust).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// `Lock::release` of an unlocked lock. Python: `RuntimeError`.
    #[error("Lock is not acquired.")]
    LockNotAcquired,
    /// `BoundedSemaphore::release` above the initial value.
    /// Python: `ValueError`.
    #[error("BoundedSemaphore released too many times")]
    ReleasedTooManyTimes,
    /// `Condition::notify` without holding its lock. Python: `RuntimeError`.
    #[error("cannot notify on un-acquired lock")]
    NotifyWithoutLock,
    /// `Condition::wait` given the guard of another lock (the guard is
    /// released). asyncio cannot tell; Python's nearest is `RuntimeError`.
    #[error("cannot wait on a condition with the guard of another lock")]
    ForeignGuard,
    /// `get_nowait` on an empty queue. Python: `asyncio.QueueEmpty`.
    #[error("queue is empty")]
    QueueEmpty,
    /// `put_nowait` on a full queue. Python: `asyncio.QueueFull`.
    #[error("queue is full")]
    QueueFull,
    /// A put after `shutdown`, or a get once a shut-down queue is empty.
    /// Python: `asyncio.QueueShutDown` (3.13).
    #[error("queue is shut down")]
    QueueShutDown,
    /// `task_done` called more times than items were put.
    /// Python: `ValueError`.
    #[error("task_done() called too many times")]
    TaskDoneTooManyTimes,
    /// A barrier was aborted or reset while (or before) waiting.
    /// Python: `asyncio.BrokenBarrierError`.
    #[error("barrier is broken")]
    BrokenBarrier,
    /// `Barrier::new(0)`. Python: `ValueError('parties must be > 0')`.
    #[error("parties must be > 0")]
    NoParties,
    /// `Semaphore::release` with the count already at `usize::MAX`.
    /// asyncio has no such limit (Python integers grow); the nearest is
    /// `OverflowError`.
    #[error("Semaphore released too many times: the count is at usize::MAX")]
    SemaphoreOverflow,
}

impl SyncError {
    /// True for [`SyncError::QueueShutDown`].
    ///
    /// Python: `isinstance(e, asyncio.QueueShutDown)`.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, SyncError::QueueShutDown)
    }
}

/// A refused put, with the item given back.
///
/// Mirrors `asyncio.QueueFull` / `QueueShutDown` raised by `put`; differs
/// in returning the item, which Python leaves with the caller anyway.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct PutError<T> {
    /// [`SyncError::QueueFull`] or [`SyncError::QueueShutDown`].
    pub error: SyncError,
    /// The item that was not put.
    pub item: T,
}

/// Shows the error only, so that items need not be `Debug` (as std's
/// `SendError`).
impl<T> std::fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PutError")
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl<T> PutError<T> {
    /// The item that was not put.
    ///
    /// No asyncio counterpart (Python's caller still holds the item).
    pub fn into_inner(self) -> T {
        self.item
    }
}
