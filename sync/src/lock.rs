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

use std::fmt;

use crate::SyncError;
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
/// use std::time::Duration;
/// use corio_executor::{create_task, get_running_loop, run, sleep};
/// use corio_sync::{Lock, SyncError};
///
/// run(async {
///     let lock = Rc::new(Lock::new());
///     lock.acquire().await.forget(); // held, without a guard
///     let unlock = lock.clone();
///     get_running_loop()?.call_later(Duration::from_millis(5), move || {
///         unlock.release().expect("it is held");
///     });
///     let guard = lock.acquire().await; // waits for the release above
///     assert!(lock.locked());
///     drop(guard);
///     assert_eq!(lock.release(), Err(SyncError::LockNotAcquired));
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Lock {
    permits: Permits,
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
            permits: Permits::new(1),
        }
    }

    /// Waits until the lock is ours; the guard releases it on drop.
    /// Python: `await lock.acquire()` / `async with lock`.
    ///
    /// Cancel-safe: dropping the future while it waits leaves the queue; if
    /// the lock had just been handed to it, the lock goes to the next waiter.
    pub async fn acquire(&self) -> LockGuard<'_> {
        self.permits.acquire().await;
        LockGuard { lock: self }
    }

    /// Takes the lock if it is free and nobody waits for it.
    ///
    /// No asyncio counterpart (`if not lock.locked(): await lock.acquire()`).
    pub fn try_acquire(&self) -> Option<LockGuard<'_>> {
        self.permits.try_acquire().then(|| LockGuard { lock: self })
    }

    /// True while some task owns the lock (or it was just handed to a
    /// waiter that has not run yet). Python: `lock.locked()`.
    pub fn locked(&self) -> bool {
        self.permits.value() == 0
    }

    /// Releases a lock held without a guard (see [`LockGuard::forget`]):
    /// the first waiter becomes the owner, or the lock is free.
    /// Python: `lock.release()`.
    ///
    /// # Errors
    /// [`SyncError::LockNotAcquired`] ("Lock is not acquired.") when the
    /// lock is not locked.
    pub fn release(&self) -> Result<(), SyncError> {
        if !self.locked() {
            return Err(SyncError::LockNotAcquired);
        }
        self.permits.release();
        Ok(())
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
    fn drop(&mut self) {
        self.lock.permits.release();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}
