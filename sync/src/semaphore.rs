//! [`Semaphore`] and [`BoundedSemaphore`], on the shared `Permits` core
//! that [`Lock`](crate::Lock) uses too.
//!
//! # Permits: the hand-off accounting
//!
//! Every permit is, at any moment, in exactly one of three places:
//! - **free**: counted by `value` (asyncio's `_value`);
//! - **handed**: granted to a waiter whose task has not run yet (the
//!   granted prefix of the wait list);
//! - **held**: owned by a running task (a guard, or kept with `forget`).
//!
//! The rules, each asyncio's (3.11.1+ and 3.13) unless said otherwise:
//! - `release` hands the permit straight to the first waiter that has
//!   nothing yet (`value` does not move), else makes it free;
//! - `acquire` takes a free permit at once only when the wait list is
//!   *empty*: a waiter handed a permit but not run yet still counts as
//!   waiting, so a newcomer queues behind it (no barging, FIFO);
//! - a waiter that collects its permit and finds another one free hands
//!   it to the next waiter (asyncio's `if self._value > 0:
//!   self._wake_up_next()` after the wait); this is how a newcomer that
//!   queued behind handed waiters gets a permit released meanwhile. Each
//!   collection hands on one permit, so several free permits travel down
//!   the line one loop iteration apart, as asyncio's chain of wake-ups;
//! - a handed waiter cancelled before it runs releases its permit again,
//!   to the next waiter (asyncio's `_wake_up_next` on `CancelledError`);
//! - with a bound (a [`BoundedSemaphore`] or a [`Lock`](crate::Lock)), a
//!   release that would make *free + handed* exceed the bound is refused:
//!   it would create a permit nobody gave back. asyncio checks only the
//!   free count, so a second release racing a hand-off slips through
//!   there; corio counts the handed permit too.
//!
//! So `free + handed + held` is constant (the initial value, plus the
//! releases of an unbounded semaphore beyond its acquires), and for a
//! bounded one never exceeds the bound.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::SyncError;
use crate::misuse::report_misuse;
use crate::waiters::{WaitList, WaiterId};

/// Free permits and the tasks waiting for one.
pub(crate) struct Permits {
    state: RefCell<PermitState>,
}

struct PermitState {
    /// Free permits. asyncio's `_value`.
    value: usize,
    /// Free + handed never exceeds it (`None`: unbounded). asyncio's
    /// `BoundedSemaphore._bound_value`.
    bound: Option<usize>,
    /// Waiting and handed tasks. asyncio's `_waiters`.
    waiters: WaitList<()>,
}

/// Why a release was refused (nothing changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Free + handed permits are already at the bound (module docs).
    OverBound,
    /// The count is at `usize::MAX`: one more would wrap it to 0 and lock
    /// the semaphore for good.
    Overflow,
}

impl Refused {
    /// The error a caller sees; `over_bound` is the bounded kind's own.
    fn error(self, over_bound: SyncError) -> SyncError {
        match self {
            Refused::OverBound => over_bound,
            Refused::Overflow => SyncError::SemaphoreOverflow,
        }
    }
}

impl PermitState {
    /// Hands one free permit, if any, to the first waiter that has none.
    /// asyncio's `_wake_up_next`. Whoever receives it hands on the next
    /// when it collects, so while permits are free and tasks wait, some
    /// handed waiter is always on its way to pass one on.
    #[inline]
    fn hand_out_one(&mut self) {
        if self.value > 0 && self.waiters.has_waiting() {
            self.value -= 1;
            let granted = self.waiters.grant_first(());
            debug_assert!(granted.is_ok(), "has_waiting said someone waits");
        }
    }

    /// A permit comes back: to the first waiter, else to `value`.
    #[inline]
    fn give_back(&mut self) {
        self.value += 1;
        self.hand_out_one();
    }
}

impl Permits {
    pub(crate) fn new(value: usize) -> Permits {
        Permits::with_bound(value, None)
    }

    pub(crate) fn with_bound(value: usize, bound: Option<usize>) -> Permits {
        Permits::named(value, bound, "Semaphore.acquire")
    }

    /// Permits whose waiters wait on `what` (a lock's say "Lock.acquire").
    pub(crate) fn named(value: usize, bound: Option<usize>, what: &'static str) -> Permits {
        Permits {
            state: RefCell::new(PermitState {
                value,
                bound,
                waiters: WaitList::named(what),
            }),
        }
    }

    /// Free permits.
    pub(crate) fn value(&self) -> usize {
        self.state.borrow().value
    }

    /// True when an `acquire` would wait: no free permit, or tasks queued
    /// (waiting or handed a permit they have not collected).
    pub(crate) fn would_wait(&self) -> bool {
        let state = self.state.borrow();
        state.value == 0 || !state.waiters.is_empty()
    }

    /// Takes a permit if one is free and nobody is queued.
    #[inline]
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.borrow_mut();
        if state.value > 0 && state.waiters.is_empty() {
            state.value -= 1;
            true
        } else {
            false
        }
    }

    /// Gives a permit back: to the first waiter, else to `value`.
    ///
    /// # Errors
    /// [`Refused`] (and nothing changes) when free + handed permits are
    /// already at the bound, or the count is at `usize::MAX`.
    #[inline]
    pub(crate) fn release(&self) -> Result<(), Refused> {
        let mut state = self.state.borrow_mut();
        if let Some(bound) = state.bound
            && state.value + state.waiters.granted() >= bound
        {
            return Err(Refused::OverBound);
        }
        if state.value == usize::MAX {
            return Err(Refused::Overflow);
        }
        state.give_back();
        Ok(())
    }

    /// A guard's release: a drop cannot return an error, so a refused one
    /// (the permit was already given back through an explicit `release`)
    /// changes nothing and is reported as `error`.
    #[inline]
    pub(crate) fn release_from_drop(&self, over_bound: SyncError) {
        if let Err(refused) = self.release() {
            report_misuse(refused.error(over_bound));
        }
    }

    pub(crate) fn acquire(&self) -> AcquirePermit<'_> {
        AcquirePermit {
            permits: self,
            id: None,
            done: false,
        }
    }
}

/// The future of one permit acquisition.
pub(crate) struct AcquirePermit<'a> {
    permits: &'a Permits,
    /// Our place in the wait list, once we joined it.
    id: Option<WaiterId>,
    /// The permit is ours (and the caller got it).
    done: bool,
}

impl Future for AcquirePermit<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let mut state = this.permits.state.borrow_mut();
        let Some(id) = this.id else {
            if state.value > 0 && state.waiters.is_empty() {
                state.value -= 1;
                this.done = true;
                return Poll::Ready(());
            }
            // Join the line with our waker: nothing to look up yet.
            this.id = Some(state.waiters.push(Some(cx.waker().clone())));
            return Poll::Pending;
        };
        let polled = state.waiters.poll(id, cx);
        if polled.is_ready() {
            this.done = true;
            // A permit freed while we were queued behind handed waiters
            // goes on to the next in line.
            state.hand_out_one();
        }
        polled
    }
}

impl Drop for AcquirePermit<'_> {
    /// Cancelled: leave the queue; a permit granted but never used is
    /// passed on.
    fn drop(&mut self) {
        if let (Some(id), false) = (self.id, self.done) {
            let mut state = self.permits.state.borrow_mut();
            if state.waiters.cancel(id).is_some() {
                state.give_back();
            }
        }
    }
}

/// A counter of permits for the tasks of one loop. Python: `asyncio.Semaphore`.
///
/// `acquire().await` waits for a permit and returns a guard that gives it
/// back on drop (`async with sem`). Waiters are served strictly first come,
/// first served, and a permit handed to a waiter that is cancelled before
/// it runs goes to the next one.
///
/// Differs from asyncio in that the value is a `usize`, so a negative
/// initial value cannot be written. As in asyncio (3.11.1+), a free permit
/// is not taken by a newcomer while tasks are queued, including tasks
/// handed a permit that have not run yet (see the [module docs](self)).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use corio_sync::Semaphore;
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`,
/// // `corio::create_task` and `corio::sleep`.
/// use testkit::exec::{block_on, spawn, yield_now};
///
/// let peak = block_on(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let (inside, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..6)
///         .map(|_| {
///             let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
///             spawn(async move {
///                 let _permit = sem.acquire().await;
///                 inside.set(inside.get() + 1);
///                 peak.set(peak.get().max(inside.get()));
///                 yield_now().await; // others run meanwhile
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await;
///     }
///     peak.get()
/// });
/// assert_eq!(peak, 2);
/// ```
pub struct Semaphore {
    permits: Permits,
}

impl Semaphore {
    /// A semaphore with `value` free permits. Python: `asyncio.Semaphore(value)`.
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            permits: Permits::new(value),
        }
    }

    /// Waits for a permit; the guard releases it on drop.
    /// Python: `await sem.acquire()` / `async with sem`.
    ///
    /// Cancel-safe: dropping the future before it completes takes no
    /// permit, and passes on one that was handed to it meanwhile.
    pub async fn acquire(&self) -> SemaphoreGuard<'_> {
        self.permits.acquire().await;
        SemaphoreGuard { semaphore: self }
    }

    /// Takes a permit if one is free and nobody waits.
    ///
    /// No asyncio counterpart (`if not sem.locked(): await sem.acquire()`).
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.permits
            .try_acquire()
            .then(|| SemaphoreGuard { semaphore: self })
    }

    /// Gives a permit back: to the first waiter, else to the count.
    /// Python: `sem.release()`.
    ///
    /// For a permit kept with [`SemaphoreGuard::forget`]; as in asyncio,
    /// releasing more than was acquired raises the count.
    ///
    /// Differs from asyncio, whose count is a Python integer with no top:
    /// the count is a `usize`, and a release at `usize::MAX` is refused.
    ///
    /// # Errors
    /// [`SyncError::SemaphoreOverflow`] (and the count stays as it was)
    /// when the count is already `usize::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_sync::{Semaphore, SyncError};
    ///
    /// let sem = Semaphore::new(usize::MAX - 1);
    /// assert_eq!(sem.release(), Ok(()));
    /// assert_eq!(sem.release(), Err(SyncError::SemaphoreOverflow));
    /// assert_eq!(sem.value(), usize::MAX);
    /// ```
    pub fn release(&self) -> Result<(), SyncError> {
        self.permits
            .release()
            .map_err(|refused| refused.error(SyncError::SemaphoreOverflow))
    }

    /// True when an `acquire` would wait: no permit is free, or tasks are
    /// queued for one. Python: `sem.locked()` (same rule since 3.11.1).
    pub fn locked(&self) -> bool {
        self.permits.would_wait()
    }

    /// How many permits are free.
    ///
    /// Python: `sem._value` (private in asyncio).
    pub fn value(&self) -> usize {
        self.permits.value()
    }
}

/// A held permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it
/// releases the permit (also when the holding task is being cancelled).
///
/// Python: the body of `async with sem:`.
#[must_use = "dropping the guard releases the permit at once"]
pub struct SemaphoreGuard<'a> {
    semaphore: &'a Semaphore,
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit without a guard, to be given back later with
    /// `release()`. Python: `await sem.acquire()` without `async with`.
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    /// Gives the permit back. For a [`BoundedSemaphore`] whose permit was
    /// already given back by an explicit `release()`, the drop changes
    /// nothing and reports [`SyncError::ReleasedTooManyTimes`] to the
    /// running loop's exception handler (a drop cannot return an error);
    /// so does a drop that would take the count past `usize::MAX`
    /// ([`SyncError::SemaphoreOverflow`]).
    fn drop(&mut self) {
        self.semaphore
            .permits
            .release_from_drop(SyncError::ReleasedTooManyTimes);
    }
}

/// A semaphore that refuses to be released above its initial value.
/// Python: `asyncio.BoundedSemaphore`.
///
/// Every release path checks the bound: [`release`](Self::release)
/// returns [`SyncError::ReleasedTooManyTimes`], and a guard dropped after
/// its permit was already given back leaves the count alone and reports
/// the same error to the running loop's exception handler (asyncio raises
/// `ValueError` from `__aexit__`; a Rust drop cannot fail).
///
/// Differs from asyncio in one case: a permit handed to a waiter that has
/// not run yet counts as taken, so `acquire; release(); release()` with a
/// waiter queued fails at the second release (asyncio lets it through and
/// the semaphore ends one permit above its bound).
///
/// # Examples
///
/// ```
/// use corio_sync::{BoundedSemaphore, SyncError};
///
/// let sem = BoundedSemaphore::new(1);
/// let permit = sem.try_acquire().expect("a permit is free");
/// permit.forget();
/// assert_eq!(sem.release(), Ok(()));
/// assert_eq!(sem.release(), Err(SyncError::ReleasedTooManyTimes));
/// ```
pub struct BoundedSemaphore {
    /// Its permits carry the bound.
    semaphore: Semaphore,
}

impl BoundedSemaphore {
    /// Python: `asyncio.BoundedSemaphore(value)`.
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore {
                permits: Permits::with_bound(value, Some(value)),
            },
        }
    }

    /// Python: `await sem.acquire()` / `async with sem`; as
    /// [`Semaphore::acquire`].
    pub async fn acquire(&self) -> SemaphoreGuard<'_> {
        self.semaphore.acquire().await
    }

    /// Python: none; as [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.semaphore.try_acquire()
    }

    /// Gives a permit back. Python: `sem.release()`.
    ///
    /// # Errors
    /// [`SyncError::ReleasedTooManyTimes`] when every permit is already
    /// free or handed to a waiter.
    pub fn release(&self) -> Result<(), SyncError> {
        self.semaphore
            .permits
            .release()
            .map_err(|refused| refused.error(SyncError::ReleasedTooManyTimes))
    }

    /// Python: `sem.locked()`.
    pub fn locked(&self) -> bool {
        self.semaphore.locked()
    }

    /// Free permits. Python: `sem._value`.
    pub fn value(&self) -> usize {
        self.semaphore.value()
    }
}
