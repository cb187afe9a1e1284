//! [`ConcurrentFuture`]: `concurrent.futures.Future`, a result slot that
//! threads block on and event loops await.
//!
//! # The state machine
//!
//! ```text
//!            set_running()              complete(outcome)
//!   PENDING ───────────────▶ RUNNING ─────────────────────▶ FINISHED ──result()──▶ RETRIEVED
//!      │  └──────────────── complete(outcome) ───────────────▲   (an Ok value moved out)
//!      │ cancel()
//!      ▼
//!  CANCELLED
//! ```
//!
//! - Only the thread that runs the job moves PENDING → RUNNING (a worker,
//!   through `set_running`) and RUNNING → FINISHED. `run_coroutine_threadsafe`
//!   moves PENDING → FINISHED directly, as Python's chaining does: its future
//!   stays PENDING (and cancellable) while the coroutine runs.
//! - Any thread may `cancel()`; it succeeds only in PENDING (or CANCELLED).
//!   A job whose future is cancelled is never run.
//! - FINISHED, CANCELLED and RETRIEVED are final ("done"). Entering one wakes
//!   the blocked threads and the awaiting tasks, then runs the done callbacks
//!   in the thread that made the change, outside the lock.
//! - The outcome of an error is kept (every `result()` sees it); an `Ok`
//!   value moves out to the first `result()`, as a corio [`Task`]'s does.
//!
//! [`Task`]: corio_executor::Task

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_executor::panic_message;

use crate::OffloadError;

/// A done callback, called with the future once it is done.
type DoneCallback<R> = Box<dyn FnOnce(&ConcurrentFuture<R>) + Send>;

/// The result of a job running on another thread.
///
/// Mirrors `concurrent.futures.Future`: [`result`](Self::result) blocks
/// until the job is done, [`result_timeout`](Self::result_timeout) waits a
/// bounded time, [`cancel`](Self::cancel) succeeds only before the job
/// starts, [`add_done_callback`](Self::add_done_callback) runs code on
/// completion. Differs in that an `Ok` value is moved out by the first
/// `result()` (Rust values are not shared objects); later calls get
/// [`OffloadError::Retrieved`]. Cloning gives another handle to the same
/// future; it is `Send + Sync` when `R: Send`.
///
/// To await it from a corio task, use [`wrap_future`](crate::wrap_future).
///
/// # Examples
///
/// ```
/// use corio_offload::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::new(2)?;
/// let future = pool.submit(|| 6 * 7)?;
/// assert_eq!(future.result()?, 42);
/// assert!(future.done());
/// # Ok::<(), corio_offload::OffloadError>(())
/// ```
pub struct ConcurrentFuture<R> {
    shared: Arc<Shared<R>>,
}

/// What every handle of one future points at.
struct Shared<R> {
    state: Mutex<State<R>>,
    /// Signalled when the future becomes done, if a thread is blocked.
    done: Condvar,
}

struct State<R> {
    phase: Phase<R>,
    /// The tasks awaiting the future through `wrap_future`.
    awaiting: Awaiting,
    /// Python: `_done_callbacks`.
    callbacks: Vec<DoneCallback<R>>,
    /// Threads blocked in `result()`: the condvar is signalled only if any.
    blocked: u32,
}

/// The states of the module docs.
enum Phase<R> {
    Pending,
    Running,
    Cancelled,
    Finished(Result<R, OffloadError>),
    Retrieved,
}

/// The wakers of awaiting tasks, each under the id of its `WrappedFuture`.
/// One awaiter is the common case and needs no allocation.
enum Awaiting {
    None,
    One(u64, Waker),
    Many(Vec<(u64, Waker)>),
}

impl Awaiting {
    /// Stores `waker` for awaiter `id`, replacing its older one.
    fn set(&mut self, id: u64, waker: &Waker) {
        match self {
            Awaiting::None => *self = Awaiting::One(id, waker.clone()),
            Awaiting::One(old, w) if *old == id => w.clone_from(waker),
            Awaiting::One(..) => {
                let Awaiting::One(old, w) = std::mem::replace(self, Awaiting::None) else {
                    unreachable!("matched One above")
                };
                *self = Awaiting::Many(vec![(old, w), (id, waker.clone())]);
            }
            Awaiting::Many(list) => match list.iter_mut().find(|(i, _)| *i == id) {
                Some((_, w)) => w.clone_from(waker),
                None => list.push((id, waker.clone())),
            },
        }
    }

    /// Forgets awaiter `id` (it was dropped).
    fn remove(&mut self, id: u64) {
        match self {
            Awaiting::One(old, _) if *old == id => *self = Awaiting::None,
            Awaiting::Many(list) => list.retain(|(i, _)| *i != id),
            _ => {}
        }
    }

    fn wake_all(self) {
        match self {
            Awaiting::None => {}
            Awaiting::One(_, waker) => waker.wake(),
            Awaiting::Many(list) => list.into_iter().for_each(|(_, waker)| waker.wake()),
        }
    }
}

impl<R> Phase<R> {
    fn is_done(&self) -> bool {
        matches!(
            self,
            Phase::Cancelled | Phase::Finished(_) | Phase::Retrieved
        )
    }

    fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Running => "running",
            Phase::Cancelled => "cancelled",
            Phase::Finished(Ok(_)) => "finished",
            Phase::Finished(Err(_)) => "failed",
            Phase::Retrieved => "retrieved",
        }
    }

    /// The outcome for `result()`: moves an `Ok` value out, clones an error.
    /// Call only when done.
    /// The outcome, cloned: the value stays for the next reader.
    fn peek(&self) -> Result<R, OffloadError>
    where
        R: Clone,
    {
        match self {
            Phase::Finished(outcome) => outcome.clone(),
            Phase::Cancelled => Err(OffloadError::Cancelled),
            Phase::Retrieved => Err(OffloadError::Retrieved),
            Phase::Pending | Phase::Running => {
                unreachable!("peek() is called only on a done future")
            }
        }
    }

    fn take(&mut self) -> Result<R, OffloadError> {
        match std::mem::replace(self, Phase::Retrieved) {
            Phase::Finished(Ok(value)) => Ok(value),
            Phase::Finished(Err(err)) => {
                *self = Phase::Finished(Err(err.clone()));
                Err(err)
            }
            Phase::Cancelled => {
                *self = Phase::Cancelled;
                Err(OffloadError::Cancelled)
            }
            Phase::Retrieved => Err(OffloadError::Retrieved),
            Phase::Pending | Phase::Running => {
                unreachable!("take() is called only on a done future")
            }
        }
    }
}

impl<R> Clone for ConcurrentFuture<R> {
    fn clone(&self) -> Self {
        ConcurrentFuture {
            shared: self.shared.clone(),
        }
    }
}

impl<R> ConcurrentFuture<R> {
    /// A new PENDING future (what `submit` and `run_coroutine_threadsafe`
    /// hand out).
    pub(crate) fn pending() -> ConcurrentFuture<R> {
        ConcurrentFuture {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    phase: Phase::Pending,
                    awaiting: Awaiting::None,
                    callbacks: Vec::new(),
                    blocked: 0,
                }),
                done: Condvar::new(),
            }),
        }
    }

    /// The lock, even if a callback panicked while another thread held it:
    /// the state is changed only by code here, which does not panic midway.
    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// True once the future is finished or cancelled. Python: `done()`.
    pub fn done(&self) -> bool {
        self.lock().phase.is_done()
    }

    /// True while a worker runs the job. Python: `running()`.
    pub fn running(&self) -> bool {
        matches!(self.lock().phase, Phase::Running)
    }

    /// True if the future was cancelled. Python: `cancelled()`.
    pub fn cancelled(&self) -> bool {
        matches!(self.lock().phase, Phase::Cancelled)
    }

    /// Cancels the job if it has not started; returns whether the future is
    /// now cancelled. Python: `cancel()`, the same rules: false while the
    /// job runs or once it finished, true if it already was cancelled.
    ///
    /// A cancelled job never runs. Blocked threads, awaiting tasks and the
    /// done callbacks are told at once.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use corio_offload::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let (started_tx, started) = mpsc::channel();
    /// let (release, release_rx) = mpsc::channel::<()>();
    /// let busy = pool.submit(move || { started_tx.send(()).unwrap(); release_rx.recv().unwrap() })?;
    /// let queued = pool.submit(|| "never runs")?;
    /// started.recv().unwrap();
    /// assert!(!busy.cancel(), "a running job cannot be cancelled");
    /// assert!(queued.cancel());
    /// release.send(()).unwrap();
    /// assert!(busy.result().is_ok());
    /// assert!(queued.result().unwrap_err().is_cancelled());
    /// # Ok::<(), corio_offload::OffloadError>(())
    /// ```
    pub fn cancel(&self) -> bool {
        let mut state = self.lock();
        match state.phase {
            Phase::Cancelled => return true,
            Phase::Pending => {}
            _ => return false,
        }
        state.phase = Phase::Cancelled;
        self.notify(state);
        true
    }

    /// Blocks until the future is done, then moves the job's value out,
    /// or says why there is none. No asyncio counterpart: Python's
    /// `result()` can always be read again; this is the way for values
    /// that cannot be cloned (see [`result`](Self::result)).
    ///
    /// Never call it on an event loop's thread: it would block the loop.
    ///
    /// # Errors
    /// As [`result`](Self::result); [`OffloadError::Retrieved`] once the
    /// value was taken.
    pub fn take_result(&self) -> Result<R, OffloadError> {
        self.wait_done(None)?.phase.take()
    }

    /// Blocks until done; returns the error the future ended with, or
    /// `None` if it has (or had) a value. Python: `exception()`.
    pub fn exception(&self) -> Option<OffloadError> {
        // Without a timeout, `wait_done` cannot fail.
        let state = self.wait_done(None).ok()?;
        match &state.phase {
            Phase::Cancelled => Some(OffloadError::Cancelled),
            Phase::Finished(Err(err)) => Some(err.clone()),
            _ => None,
        }
    }

    /// Blocks until the future is done, at most `timeout` if given; returns
    /// the locked state.
    fn wait_done(
        &self,
        timeout: Option<Duration>,
    ) -> Result<MutexGuard<'_, State<R>>, OffloadError> {
        // A deadline past the end of time is no deadline.
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut state = self.lock();
        state.blocked += 1;
        while !state.phase.is_done() {
            state = match (timeout, deadline) {
                (None, _) | (Some(_), None) => self
                    .shared
                    .done
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner),
                (Some(_), Some(deadline)) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        state.blocked -= 1;
                        return Err(OffloadError::Timeout);
                    }
                    self.shared
                        .done
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        state.blocked -= 1;
        Ok(state)
    }

    /// Calls `callback` with the future once it is done: at once, in this
    /// thread, if it already is; otherwise in the thread that finishes or
    /// cancels it. Python: `add_done_callback(fn)`, the same rules; a
    /// panicking callback is reported on stderr and the others still run
    /// (Python logs the exception).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use corio_offload::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let future = pool.submit(|| "value")?;
    /// let (tx, rx) = mpsc::channel();
    /// future.add_done_callback(move |f| tx.send(f.done()).unwrap());
    /// assert!(rx.recv().unwrap());
    /// # Ok::<(), corio_offload::OffloadError>(())
    /// ```
    pub fn add_done_callback(&self, callback: impl FnOnce(&ConcurrentFuture<R>) + Send + 'static) {
        let mut state = self.lock();
        if state.phase.is_done() {
            drop(state);
            self.run_callback(Box::new(callback));
        } else {
            state.callbacks.push(Box::new(callback));
        }
    }

    /// PENDING → RUNNING; false (and the job must not run) if cancelled.
    /// Python: `set_running_or_notify_cancel()`.
    pub(crate) fn set_running(&self) -> bool {
        let mut state = self.lock();
        match state.phase {
            Phase::Pending => {
                state.phase = Phase::Running;
                true
            }
            _ => false,
        }
    }

    /// Makes the future FINISHED with `outcome` and tells everyone; does
    /// nothing (dropping `outcome`) if it is already done, which happens
    /// only when it was cancelled. Python: `set_result` / `set_exception`.
    pub(crate) fn complete(&self, outcome: Result<R, OffloadError>) {
        let mut state = self.lock();
        if state.phase.is_done() {
            return;
        }
        state.phase = Phase::Finished(outcome);
        self.notify(state);
    }

    /// Tells blocked threads, awaiting tasks and callbacks that the future
    /// is done; wakes and callbacks run after the lock is released.
    fn notify(&self, mut state: MutexGuard<'_, State<R>>) {
        if state.blocked > 0 {
            self.shared.done.notify_all();
        }
        let awaiting = std::mem::replace(&mut state.awaiting, Awaiting::None);
        let callbacks = std::mem::take(&mut state.callbacks);
        drop(state);
        awaiting.wake_all();
        for callback in callbacks {
            self.run_callback(callback);
        }
    }

    fn run_callback(&self, callback: DoneCallback<R>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| callback(self))) {
            eprintln!(
                "corio-offload: exception calling callback for {self:?}: {}",
                panic_message(&*payload)
            );
        }
    }

    /// For an awaiting task: the outcome if done, else remember the waker
    /// of awaiter `id`.
    pub(crate) fn poll_result(
        &self,
        id: u64,
        cx: &mut Context<'_>,
    ) -> Poll<Result<R, OffloadError>> {
        let mut state = self.lock();
        if state.phase.is_done() {
            return Poll::Ready(state.phase.take());
        }
        state.awaiting.set(id, cx.waker());
        Poll::Pending
    }

    /// An awaiter went away: forget its waker.
    pub(crate) fn forget_awaiter(&self, id: u64) {
        self.lock().awaiting.remove(id);
    }
}

impl<R: Clone> ConcurrentFuture<R> {
    /// Blocks until the future is done, then returns a clone of the job's
    /// value, or why there is none. Python: `result()`, and like Python's
    /// it can be called any number of times (by every clone of the
    /// future); [`take_result`](Self::take_result) moves the value out
    /// instead, for values that cannot or need not be cloned.
    ///
    /// Never call it on an event loop's thread: it would block the loop.
    /// Await [`wrap_future`](crate::wrap_future) there instead.
    ///
    /// # Errors
    /// [`OffloadError::Cancelled`], [`OffloadError::Panicked`] (the job
    /// panicked), [`OffloadError::Failed`], [`OffloadError::Retrieved`] (the
    /// value was moved out by `take_result`).
    pub fn result(&self) -> Result<R, OffloadError> {
        self.wait_done(None)?.phase.peek()
    }

    /// As [`result`](Self::result), waiting at most `timeout`.
    /// Python: `result(timeout)`.
    ///
    /// # Errors
    /// [`OffloadError::Timeout`] if the future is not done in time (the job
    /// goes on; ask again later), or an error of `result()`.
    pub fn result_timeout(&self, timeout: Duration) -> Result<R, OffloadError> {
        self.wait_done(Some(timeout))?.phase.peek()
    }
}

impl<R> fmt::Debug for ConcurrentFuture<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<ConcurrentFuture state={}>", self.lock().phase.name())
    }
}
