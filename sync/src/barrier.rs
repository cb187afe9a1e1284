//! [`Barrier`]: wait until `parties` tasks have arrived (Python 3.11).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::SyncError;
use crate::waiters::{WaitList, WaiterId};

/// A meeting point for a fixed number of tasks. Python: `asyncio.Barrier`.
///
/// Each `wait()` returns the task's arrival index (0 to `parties - 1`); the
/// last arrival releases everyone and the barrier starts the next cycle at
/// once. `abort` breaks it (every wait fails until `reset`); `reset` fails
/// the current waiters and empties it.
///
/// Differs from asyncio in that the next cycle's arrivals do not wait for
/// the released tasks to leave first: each released task already owns its
/// index, so there is nothing to drain, and an `abort` or `reset` before a
/// released task runs breaks only the new cycle (asyncio's draining tasks
/// would see the barrier broken). All released tasks leave in the next
/// loop iteration; asyncio's leave one iteration after another, as each
/// re-acquires the barrier's internal condition lock.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_sync::Barrier;
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`
/// // and `corio::create_task`.
/// use testkit::exec::{block_on, spawn};
///
/// let mut indices = block_on(async {
///     let barrier = Rc::new(Barrier::new(3).unwrap());
///     let tasks: Vec<_> = (0..3)
///         .map(|_| {
///             let barrier = barrier.clone();
///             spawn(async move { barrier.wait().await.unwrap() })
///         })
///         .collect();
///     let mut out = Vec::new();
///     for t in tasks {
///         out.push(t.await);
///     }
///     out
/// });
/// indices.sort();
/// assert_eq!(indices, [0, 1, 2]);
/// ```
pub struct Barrier {
    parties: usize,
    state: RefCell<BarrierState>,
}

struct BarrierState {
    /// Tasks that arrived in this cycle and still wait (asyncio's `_count`).
    count: usize,
    /// `abort()` was called and `reset()` not yet.
    broken: bool,
    /// Granted `true` when released, `false` when broken.
    waiters: WaitList<bool>,
}

impl Barrier {
    /// A barrier for `parties` tasks. Python: `asyncio.Barrier(parties)`.
    ///
    /// # Errors
    /// [`SyncError::NoParties`] for 0.
    pub fn new(parties: usize) -> Result<Barrier, SyncError> {
        if parties == 0 {
            return Err(SyncError::NoParties);
        }
        Ok(Barrier {
            parties,
            state: RefCell::new(BarrierState {
                count: 0,
                broken: false,
                waiters: WaitList::named("Barrier.wait"),
            }),
        })
    }

    /// Arrives and waits for the others; returns the arrival index.
    /// Python: `await barrier.wait()`.
    ///
    /// Dropping the future while it waits withdraws the arrival.
    ///
    /// # Errors
    /// [`SyncError::BrokenBarrier`] when the barrier is broken, or is
    /// aborted or reset while waiting.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait {
            barrier: self,
            arrival: None,
            done: false,
        }
    }

    /// Breaks the barrier: current and later waits fail until `reset`.
    /// Python: `await barrier.abort()` (not async here: it never waits).
    pub fn abort(&self) {
        let mut state = self.state.borrow_mut();
        state.broken = true;
        state.count = 0;
        state.waiters.grant_all(|_| false);
    }

    /// Fails the current waiters and returns to the empty, unbroken state.
    /// Python: `await barrier.reset()` (not async here).
    pub fn reset(&self) {
        let mut state = self.state.borrow_mut();
        state.waiters.grant_all(|_| false);
        state.count = 0;
        state.broken = false;
    }

    /// Python: `barrier.parties`.
    pub fn parties(&self) -> usize {
        self.parties
    }

    /// How many tasks wait in the current cycle. Python: `barrier.n_waiting`.
    pub fn n_waiting(&self) -> usize {
        self.state.borrow().count
    }

    /// Python: `barrier.broken`.
    pub fn broken(&self) -> bool {
        self.state.borrow().broken
    }
}

/// The future of [`Barrier::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct BarrierWait<'a> {
    barrier: &'a Barrier,
    /// Our arrival index and our place in the wait list.
    arrival: Option<(usize, WaiterId)>,
    done: bool,
}

impl Future for BarrierWait<'_> {
    type Output = Result<usize, SyncError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let mut state = this.barrier.state.borrow_mut();
        let (index, id) = match this.arrival {
            Some(arrival) => arrival,
            None => {
                if state.broken {
                    this.done = true;
                    return Poll::Ready(Err(SyncError::BrokenBarrier));
                }
                let index = state.count;
                if index + 1 == this.barrier.parties {
                    // The last arrival releases the cycle.
                    state.waiters.grant_all(|_| true);
                    state.count = 0;
                    this.done = true;
                    return Poll::Ready(Ok(index));
                }
                state.count += 1;
                let id = state.waiters.push(None);
                this.arrival = Some((index, id));
                (index, id)
            }
        };
        let polled = state.waiters.poll(id, cx);
        this.done = polled.is_ready();
        polled.map(|released| released.then_some(index).ok_or(SyncError::BrokenBarrier))
    }
}

impl Drop for BarrierWait<'_> {
    fn drop(&mut self) {
        if let (Some((_, id)), false) = (self.arrival, self.done) {
            let mut state = self.barrier.state.borrow_mut();
            // Still waiting: the arrival is withdrawn. Already released or
            // broken: the cycle has moved on without it.
            if state.waiters.cancel(id).is_none() {
                state.count -= 1;
            }
        }
    }
}
