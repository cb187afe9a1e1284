//! [`Condition`]: a lock plus a queue of tasks waiting to be notified.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::waiters::{WaitList, WaiterId};
use crate::{Lock, LockGuard, SyncError};

/// Tasks waiting for a notification, under a lock. Python: `asyncio.Condition`.
///
/// [`wait`](Self::wait) takes the lock's guard, releases the lock while
/// waiting and gives the guard back re-acquired, so waiting without the
/// lock cannot compile. Notifications go out in FIFO order.
///
/// # Cancellation (the Rust behaviour, exactly)
///
/// Rust has no async drop, so a `wait` whose task is cancelled cannot
/// re-acquire the lock before it unwinds, as asyncio's `finally` does:
/// - cancelled while waiting for a notification: the guard was already
///   given up, so the lock is **released** (not held) when the task's
///   destructors run;
/// - notified and then cancelled before it ran: the notification is passed
///   to the next waiter (Python 3.13's behaviour), and the lock stays
///   released;
/// - cancelled while re-acquiring the lock (notified, and the lock is still
///   held by someone else): the lock acquisition is abandoned as with
///   [`Lock::acquire`] (handed on if it had been granted), so again the lock
///   is not held, and the notification it had received is passed to the
///   next waiter (Python 3.13 notifies one more waiter in this case too).
///
/// In every case the lock is *not* held by the cancelled task afterwards.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_sync::Condition;
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`,
/// // `corio::create_task` and `corio::yield_now`.
/// use testkit::exec::{block_on, spawn, yield_now};
///
/// let got = block_on(async {
///     let cond = Rc::new(Condition::new());
///     let waiter = {
///         let cond = cond.clone();
///         spawn(async move {
///             let guard = cond.acquire().await;
///             let _guard = cond.wait(guard).await.unwrap();
///             "notified"
///         })
///     };
///     yield_now().await; // the waiter is now waiting
///     let _guard = cond.acquire().await;
///     cond.notify(1).unwrap();
///     drop(_guard);
///     waiter.await
/// });
/// assert_eq!(got, "notified");
/// ```
pub struct Condition {
    lock: Rc<Lock>,
    /// asyncio's `_waiters`.
    waiters: RefCell<WaitList<()>>,
}

impl Default for Condition {
    fn default() -> Self {
        Condition::new()
    }
}

impl Condition {
    /// A condition with its own lock. Python: `asyncio.Condition()`.
    pub fn new() -> Condition {
        Condition::with_lock(Rc::new(Lock::new()))
    }

    /// A condition on a shared lock. Python: `asyncio.Condition(lock)`.
    pub fn with_lock(lock: Rc<Lock>) -> Condition {
        Condition {
            lock,
            waiters: RefCell::new(WaitList::named("Condition.wait")),
        }
    }

    /// The underlying lock.
    ///
    /// Python: `cond._lock` (asyncio delegates `acquire`/`release`/`locked`).
    pub fn lock(&self) -> &Rc<Lock> {
        &self.lock
    }

    /// Acquires the underlying lock. Python: `await cond.acquire()` /
    /// `async with cond`.
    pub async fn acquire(&self) -> LockGuard<'_> {
        self.lock.acquire().await
    }

    /// Python: `cond.locked()`.
    pub fn locked(&self) -> bool {
        self.lock.locked()
    }

    /// Releases the lock, waits for a notification, re-acquires the lock and
    /// returns its guard. Python: `await cond.wait()`.
    ///
    /// # Errors
    /// [`SyncError::ForeignGuard`] when `guard` holds another lock (that
    /// guard is dropped, releasing its lock).
    pub async fn wait<'a>(&'a self, guard: LockGuard<'a>) -> Result<LockGuard<'a>, SyncError> {
        if !self.lock.owns(&guard) {
            return Err(SyncError::ForeignGuard);
        }
        // Join the queue before letting go of the lock, so that a notify by
        // the next owner reaches us.
        let notified = Notified {
            condition: self,
            id: self.waiters.borrow_mut().push(None),
            done: false,
        };
        drop(guard);
        notified.await;
        // Notified: if we are dropped before we hold the lock again, the
        // notification we consumed goes to the next waiter.
        let pass_on = PassOn { condition: self };
        let guard = self.lock.acquire().await;
        std::mem::forget(pass_on);
        Ok(guard)
    }

    /// Waits until `predicate` is true, checking it with the lock held.
    /// Python: `await cond.wait_for(predicate)`.
    ///
    /// # Errors
    /// As [`wait`](Self::wait).
    pub async fn wait_for<'a>(
        &'a self,
        mut guard: LockGuard<'a>,
        mut predicate: impl FnMut() -> bool,
    ) -> Result<LockGuard<'a>, SyncError> {
        while !predicate() {
            guard = self.wait(guard).await?;
        }
        Ok(guard)
    }

    /// Wakes up to `n` waiters, first come first served; returns how many.
    /// Python: `cond.notify(n)`.
    ///
    /// # Errors
    /// [`SyncError::NotifyWithoutLock`] when the lock is not held.
    pub fn notify(&self, n: usize) -> Result<usize, SyncError> {
        if !self.lock.locked() {
            return Err(SyncError::NotifyWithoutLock);
        }
        let mut waiters = self.waiters.borrow_mut();
        let mut woken = 0;
        while woken < n && waiters.grant_first(()).is_ok() {
            woken += 1;
        }
        Ok(woken)
    }

    /// Wakes every waiter. Python: `cond.notify_all()`.
    ///
    /// # Errors
    /// [`SyncError::NotifyWithoutLock`] when the lock is not held.
    pub fn notify_all(&self) -> Result<usize, SyncError> {
        self.notify(usize::MAX)
    }
}

/// Armed between a notification and the lock's re-acquisition: dropped
/// there (the waiting task was cancelled), it notifies the next waiter.
struct PassOn<'a> {
    condition: &'a Condition,
}

impl Drop for PassOn<'_> {
    fn drop(&mut self) {
        // Nobody waiting: the notification is spent, as in asyncio.
        let _spent = self.condition.waiters.borrow_mut().grant_first(());
    }
}

/// Waiting for a notification (the middle part of `wait`).
struct Notified<'a> {
    condition: &'a Condition,
    id: WaiterId,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let id = self.id;
        let polled = self.condition.waiters.borrow_mut().poll(id, cx);
        self.done = polled.is_ready();
        polled
    }
}

impl Drop for Notified<'_> {
    /// A notification received but never acted on goes to the next waiter.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut waiters = self.condition.waiters.borrow_mut();
        if waiters.cancel(self.id).is_some() {
            // Nobody else waiting: the notification is spent, as in asyncio.
            let _spent = waiters.grant_first(());
        }
    }
}
