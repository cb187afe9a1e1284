//! [`Lock`]: a permit count of one, with asyncio's error for a stray
//! `release`.
//!
//! The notes' `Lock.acquire` parks a future in a deque and `release` wakes
//! the first one, which then takes the lock when it runs. corio hands the
//! lock over instead: `release` with waiters leaves the lock *locked* and
//! makes the first waiter its owner (see [`semaphore`](crate::semaphore)'s
//! module docs for the shared `Permits` core). Nobody can take the lock
//! between the hand-over and the moment the new owner runs, and if the new
//! owner is cancelled before that, dropping its `acquire` future releases
//! the lock again, to the next waiter: the notes'
//! `except CancelledError: if not self._locked: self._wake_up_first()`.
//!
//! The lock is a bounded permit count of one, so the bound rule of the
//! [`semaphore`](crate::semaphore) module keeps mutual exclusion whatever
//! sequence of calls is made: a `release` while the lock is free *or
//! handed to a waiter that has not run yet* is [`SyncError::LockNotAcquired`],
//! and a guard dropped after its lock was released explicitly changes
//! nothing (it reports the error to the loop's exception handler).

use std::cell::Cell;
use std::fmt;

use crate::SyncError;
use crate::misuse::report_misuse;
use crate::semaphore::Permits;

/// A mutual-exclusion lock for the tasks of one loop. Python: `asyncio.Lock`.
///
/// Two ways to hold it, as the DESIGN decides:
/// - `lock.acquire().await` returns a [`LockGuard`] that releases on drop
///   (`async with lock:`), also when the task holding it is cancelled;
/// - `lock.acquire().await.forget()` keeps the lock without a guard, and
///   [`release`](Self::release) gives it back later, from anywhere on the
///   loop (the notes' `loop.call_later(0.5, unlock)`).
///
/// Waiters get the lock strictly in arrival order. Not `Sync`: for one
/// loop's tasks (see the crate docs for cross-thread work).
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_sync::{Lock, SyncError};
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`,
/// // and the notes' `loop.call_later(0.5, unlock)` for the release.
/// use testkit::exec::{block_on, spawn, yield_now};
///
/// block_on(async {
///     let lock = Rc::new(Lock::new());
///     lock.acquire().await.forget(); // held, without a guard
///     let unlock = lock.clone();
///     spawn(async move {
///         yield_now().await;
///         unlock.release().expect("it is held");
///     });
///     let guard = lock.acquire().await; // waits for the release above
///     assert!(lock.locked());
///     drop(guard);
///     assert_eq!(lock.release(), Err(SyncError::LockNotAcquired));
/// });
/// ```
pub struct Lock {
    permits: Permits,
    /// Counts the times the lock was taken. A guard remembers the count of
    /// its own taking, so a guard that outlived its ownership (the lock was
    /// released explicitly and maybe taken again) cannot release the lock
    /// of the next owner.
    taken: Cell<u64>,
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock. Python: `asyncio.Lock()`.
    pub fn new() -> Lock {
        Lock {
            permits: Permits::named(1, Some(1), "Lock.acquire"),
            taken: Cell::new(0),
        }
    }

    /// Waits until the lock is ours; the guard releases it on drop.
    /// Python: `await lock.acquire()` / `async with lock`.
    ///
    /// Cancel-safe: dropping the future while it waits leaves the queue; if
    /// the lock had just been handed to it, the lock goes to the next waiter.
    pub async fn acquire(&self) -> LockGuard<'_> {
        self.permits.acquire().await;
        self.guard()
    }

    /// Records a new owner and makes its guard.
    fn guard(&self) -> LockGuard<'_> {
        self.taken.set(self.taken.get() + 1);
        LockGuard {
            lock: self,
            taking: self.taken.get(),
        }
    }

    /// Takes the lock if it is free and nobody waits for it.
    ///
    /// No asyncio counterpart (`if not lock.locked(): await lock.acquire()`).
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.permits.try_acquire().then(|| self.guard())
    }

    /// True while some task owns the lock, or it was handed to a waiter
    /// that has not run yet. Python: `lock.locked()`.
    ///
    /// Differs from asyncio right after a `release()` with tasks waiting:
    /// asyncio says `False` until the woken waiter runs and takes the lock
    /// (and lets nobody else take it meanwhile either), corio says `True`:
    /// the lock already belongs to that waiter.
    pub fn locked(&self) -> bool {
        self.permits.value() == 0
    }

    /// Releases a lock held without a guard (see [`LockGuard::forget`]):
    /// the first waiter becomes the owner, or the lock is free.
    /// Python: `lock.release()`.
    ///
    /// # Errors
    /// [`SyncError::LockNotAcquired`] ("Lock is not acquired.") when no
    /// running task holds the lock: it is free, or it was already handed to
    /// a waiter by an earlier `release` (asyncio raises the same there: its
    /// lock is unlocked until the waiter runs).
    pub fn release(&self) -> Result<(), SyncError> {
        self.permits
            .release()
            .map_err(|_| SyncError::LockNotAcquired)
    }

    /// True when `guard` holds this lock.
    pub(crate) fn owns(&self, guard: &LockGuard<'_>) -> bool {
        std::ptr::eq(self, guard.lock)
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("locked", &self.locked())
            .finish()
    }
}

/// Ownership of a [`Lock`]; dropping it releases the lock.
///
/// Python: the body of `async with lock:`.
#[must_use = "dropping the guard releases the lock at once"]
pub struct LockGuard<'a> {
    pub(crate) lock: &'a Lock,
    /// The lock's `taken` count when this guard's owner took it.
    taking: u64,
}

impl<'a> LockGuard<'a> {
    /// Keeps the lock locked without a guard; [`Lock::release`] gives it
    /// back. Python: `await lock.acquire()` without `async with`.
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// The lock this guard holds.
    ///
    /// No asyncio counterpart.
    pub fn lock(&self) -> &'a Lock {
        self.lock
    }
}

impl Drop for LockGuard<'_> {
    /// Releases the lock. If it was already released through
    /// [`Lock::release`] (and perhaps taken by another task since), the
    /// drop changes nothing and reports
    /// [`SyncError::LockNotAcquired`] to the running loop's exception
    /// handler (a drop cannot return an error).
    #[inline]
    fn drop(&mut self) {
        if self.lock.taken.get() == self.taking {
            self.lock
                .permits
                .release_from_drop(SyncError::LockNotAcquired);
        } else {
            // Released explicitly and taken again since: not ours to free.
            report_misuse(SyncError::LockNotAcquired);
        }
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
