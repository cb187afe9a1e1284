//! [`Semaphore`] and [`BoundedSemaphore`], on the shared [`Permits`] core
//! that [`Lock`](crate::Lock) uses too.
//!
//! # Permits
//!
//! `value` counts free permits. `acquire` takes one at once when one is
//! free *and nobody waits* (no barging past the queue); otherwise the task
//! joins the wait list. `release` hands the permit straight to the first
//! waiter when there is one (`value` does not move), else increments
//! `value`. So:
//! - waiters exist only while `value == 0`;
//! - a granted waiter owns its permit from the moment of the grant: if it
//!   is cancelled before it runs, dropping its future releases the permit
//!   again, which grants the next waiter (asyncio's `_wake_up_next` on
//!   `CancelledError`). Nothing is lost and the order stays FIFO.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::SyncError;
use crate::waiters::{WaitList, WaiterId};

/// Free permits and the tasks waiting for one.
pub(crate) struct Permits {
    state: RefCell<PermitState>,
}

struct PermitState {
    /// asyncio's `_value`.
    value: usize,
    /// asyncio's `_waiters`.
    waiters: WaitList<()>,
}

impl Permits {
    pub(crate) fn new(value: usize) -> Permits {
        Permits {
            state: RefCell::new(PermitState {
                value,
                waiters: WaitList::default(),
            }),
        }
    }

    pub(crate) fn value(&self) -> usize {
        self.state.borrow().value
    }

    /// Takes a permit if one is free and nobody waits.
    pub(crate) fn try_acquire(&self) -> bool {
        let mut state = self.state.borrow_mut();
        if state.value > 0 && !state.waiters.has_waiting() {
            state.value -= 1;
            true
        } else {
            false
        }
    }

    /// Gives a permit back: to the first waiter, else to `value`.
    pub(crate) fn release(&self) {
        let mut state = self.state.borrow_mut();
        if state.waiters.grant_first(()).is_err() {
            state.value += 1;
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
        let id = match this.id {
            Some(id) => id,
            None if this.permits.try_acquire() => {
                this.done = true;
                return Poll::Ready(());
            }
            None => *this
                .id
                .insert(this.permits.state.borrow_mut().waiters.push(None)),
        };
        let polled = this.permits.state.borrow_mut().waiters.poll(id, cx);
        this.done = polled.is_ready();
        polled
    }
}

impl Drop for AcquirePermit<'_> {
    /// Cancelled: leave the queue; a permit granted but never used is
    /// passed on.
    fn drop(&mut self) {
        if let (Some(id), false) = (self.id, self.done) {
            let granted = self.permits.state.borrow_mut().waiters.cancel(id);
            if granted.is_some() {
                self.permits.release();
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
/// Differs from asyncio in two ways: the value is a `usize`, so a negative
/// initial value cannot be written; and a free permit is not taken by a
/// newcomer while tasks wait (asyncio checks the same since 3.11.1).
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use corio_executor::{create_task, run, sleep};
/// use corio_sync::Semaphore;
///
/// let peak = run(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let (inside, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
///     let tasks: Vec<_> = (0..6)
///         .map(|_| {
///             let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
///             create_task(async move {
///                 let _permit = sem.acquire().await;
///                 inside.set(inside.get() + 1);
///                 peak.set(peak.get().max(inside.get()));
///                 sleep(Duration::from_millis(1)).await;
///                 inside.set(inside.get() - 1);
///             })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     peak.get()
/// })?;
/// assert_eq!(peak, 2);
/// # Ok::<(), corio_executor::RunError>(())
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
    pub fn release(&self) {
        self.permits.release();
    }

    /// True when no permit is free. Python: `sem.locked()`.
    pub fn locked(&self) -> bool {
        self.permits.value() == 0
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
    fn drop(&mut self) {
        self.semaphore.permits.release();
    }
}

/// A semaphore that refuses to be released above its initial value.
/// Python: `asyncio.BoundedSemaphore`.
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
    semaphore: Semaphore,
    bound: usize,
}

impl BoundedSemaphore {
    /// Python: `asyncio.BoundedSemaphore(value)`.
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            semaphore: Semaphore::new(value),
            bound: value,
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
    /// [`SyncError::ReleasedTooManyTimes`] when every permit is already free.
    pub fn release(&self) -> Result<(), SyncError> {
        if self.semaphore.value() >= self.bound {
            return Err(SyncError::ReleasedTooManyTimes);
        }
        self.semaphore.release();
        Ok(())
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
