//! Time: [`sleep`], [`sleep_until`], [`yield_now`], [`wait_for`], [`timeout`].

use std::future::{Future as StdFuture, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use std::cell::Cell;
use std::rc::{Rc, Weak};

use corio_timer::TimerId;

use crate::event_loop::{LoopInner, deadline_after};

use crate::event_loop::running;
use crate::{TaskError, TimeoutError, create_task};

/// A future that completes at a deadline; see [`sleep`].
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    /// `None` for `sleep(ZERO)`: yield once.
    deadline: Option<Instant>,
    /// The timer that wakes us and the loop whose queue it is in (the
    /// waker it holds stays there: the queue is asked whether the future
    /// moved to another task). Polled on another loop, the sleep cancels
    /// it and arms again there.
    timer: Option<(TimerId, Weak<LoopInner>)>,
    yielded: bool,
}

/// Suspends the current task for `delay`. Python: `asyncio.sleep(delay)`.
///
/// `sleep(Duration::ZERO)` yields exactly one loop iteration, as
/// `asyncio.sleep(0)` does. Dropping the future cancels its timer.
///
/// # Panics
/// When polled outside a running loop.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corio_executor::{run, sleep};
///
/// let start = Instant::now();
/// run(sleep(Duration::from_millis(20)))?;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub fn sleep(delay: Duration) -> Sleep {
    if delay.is_zero() {
        return Sleep {
            deadline: None,
            timer: None,
            yielded: false,
        };
    }
    let now = running::get_running_loop()
        .map(|lp| lp.time())
        .unwrap_or_else(|_| Instant::now());
    Sleep {
        deadline: Some(deadline_after(now, delay)),
        timer: None,
        yielded: false,
    }
}

/// Suspends the current task until `deadline` (loop time). No direct asyncio
/// counterpart (`asyncio.sleep(when - loop.time())`).
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        deadline: Some(deadline),
        timer: None,
        yielded: false,
    }
}

/// Gives the other ready callbacks one iteration. Python: `await asyncio.sleep(0)`.
pub fn yield_now() -> Sleep {
    sleep(Duration::ZERO)
}

impl StdFuture for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.deadline else {
            if self.yielded {
                return Poll::Ready(());
            }
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        let lp = match running::running_inner() {
            Ok(lp) => lp,
            Err(e) => panic!("sleep polled outside a running loop: {e}"),
        };
        // A timer armed on another loop (the sleep outlived it, on this
        // thread) is not this loop's: its id may name a timer of this one.
        // Cancel it there and arm again here.
        if let Some((id, owner)) = self
            .timer
            .take_if(|(_, owner)| !std::ptr::eq(owner.as_ptr(), Rc::as_ptr(&lp)))
            && let Some(owner) = owner.upgrade()
        {
            owner.cancel_timer(id);
        }
        // Once scheduled, the timer itself says when the deadline has come:
        // the loop popped it (phase 4). No clock read per poll.
        if let Some((id, _)) = &self.timer {
            match lp.timer_wakes(*id, cx.waker()) {
                None => {
                    self.timer = None;
                    self.deadline = None;
                    self.yielded = true;
                    return Poll::Ready(());
                }
                Some(true) => return Poll::Pending,
                // Moved to another task: re-arm with the new waker.
                Some(false) => lp.cancel_timer(*id),
            }
        } else if lp.time() >= deadline {
            // First poll, deadline already past (the future was created
            // earlier): done without touching the timer queue.
            self.deadline = None;
            self.yielded = true;
            return Poll::Ready(());
        }
        let id = lp.wake_at(deadline, cx.waker().clone());
        self.timer = Some((id, Rc::downgrade(&lp)));
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((id, lp)) = self.timer.take()
            && let Some(lp) = lp.upgrade()
        {
            lp.cancel_timer(id);
        }
    }
}

/// Waits for `future` at most `timeout`; on expiry cancels it, waits for
/// the cancellation to finish, and fails with [`TaskError::Timeout`].
/// Python: `asyncio.wait_for(aw, timeout)`.
///
/// `future` runs as its own task (asyncio's `ensure_future`), so when
/// `wait_for` returns on a timeout the inner coroutine has already been
/// dropped (its destructors ran). `None` waits without limit.
///
/// # Errors
/// [`TaskError::Timeout`]; the inner task's own failure.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{run, sleep, wait_for};
///
/// let out = run(async {
///     wait_for(sleep(Duration::from_secs(10)), Some(Duration::from_millis(5))).await
/// })?;
/// assert!(out.unwrap_err().is_timeout());
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub async fn wait_for<F>(future: F, timeout: Option<Duration>) -> Result<F::Output, TaskError>
where
    F: StdFuture + 'static,
{
    let mut task = create_task(future);
    let Some(timeout) = timeout else {
        return (&mut task).await;
    };
    let mut timer = pin!(sleep(timeout));
    let expired = poll_fn(|cx| {
        if let Poll::Ready(outcome) = Pin::new(&mut task).poll(cx) {
            return Poll::Ready(Some(outcome));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await;
    if let Some(outcome) = expired {
        return outcome;
    }
    task.cancel();
    // Let the cancelling step run, so the inner future is dropped before we
    // report the timeout (asyncio waits for the cancellation too).
    match task.await {
        Ok(value) => Ok(value), // finished in the same iteration: keep it
        Err(TaskError::Cancelled) => Err(TaskError::Timeout),
        Err(other) => Err(other),
    }
}

/// Runs `future` inline with a deadline; on expiry drops it and fails with
/// [`TimeoutError`]. Python: `async with asyncio.timeout(delay): ...`;
/// differs in taking the guarded code as a future, and in creating no task.
///
/// # Errors
/// [`TimeoutError`] when `delay` passes first.
pub async fn timeout<F: StdFuture>(delay: Duration, future: F) -> Result<F::Output, TimeoutError> {
    let mut future = pin!(future);
    let mut timer = pin!(sleep(delay));
    poll_fn(|cx| {
        if let Poll::Ready(value) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(value));
        }
        timer.as_mut().poll(cx).map(|()| Err(TimeoutError))
    })
    .await
}

/// Runs `future` inline until the loop time `deadline`; on expiry drops it
/// and fails with [`TimeoutError`]. Python: `async with
/// asyncio.timeout_at(when): ...` (3.11); as [`timeout`], with a deadline.
///
/// # Errors
/// [`TimeoutError`] when `deadline` passes first.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{get_running_loop, run, sleep, timeout_at};
///
/// run(async {
///     let deadline = get_running_loop().unwrap().time() + Duration::from_millis(5);
///     assert!(timeout_at(deadline, sleep(Duration::from_secs(10))).await.is_err());
///     assert_eq!(timeout_at(deadline, async { 1 }).await, Ok(1));
/// })?;
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub async fn timeout_at<F: StdFuture>(
    deadline: Instant,
    future: F,
) -> Result<F::Output, TimeoutError> {
    Timeout::at(Some(deadline)).wrap(future).await
}

/// A deadline that can move while the guarded code runs: asyncio's
/// `Timeout` object (`async with asyncio.timeout(None) as cm:
/// cm.reschedule(when)`).
///
/// Make one ([`after`](Self::after), [`at`](Self::at)), give a clone to
/// the guarded code if it should move the deadline, and run the code with
/// [`wrap`](Self::wrap). Differs from asyncio in taking the guarded code as
/// a future (Rust has no `async with`), and in creating no task.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{Timeout, get_running_loop, run, sleep};
///
/// run(async {
///     let cm = Timeout::at(None); // no deadline yet
///     let inner = cm.clone();
///     let out = cm
///         .wrap(async move {
///             let now = get_running_loop().unwrap().time();
///             inner.reschedule(Some(now + Duration::from_millis(5)));
///             sleep(Duration::from_secs(10)).await;
///         })
///         .await;
///     assert!(out.is_err() && cm.expired());
/// })?;
/// # Ok::<(), corio_executor::RunError>(())
/// ```
#[derive(Clone)]
pub struct Timeout {
    state: Rc<TimeoutState>,
}

struct TimeoutState {
    /// asyncio's `_when`.
    when: Cell<Option<Instant>>,
    /// The deadline passed while guarding (asyncio's `expired()`).
    expired: Cell<bool>,
}

impl Timeout {
    /// A deadline `delay` from now (loop time). Python:
    /// `asyncio.timeout(delay)`.
    ///
    /// # Panics
    /// Outside a running loop (there is no "now" to count from).
    pub fn after(delay: Duration) -> Timeout {
        let now = match running::get_running_loop() {
            Ok(lp) => lp.time(),
            Err(e) => panic!("{e}"),
        };
        Timeout::at(Some(deadline_after(now, delay)))
    }

    /// A deadline at `when` (loop time), or none. Python:
    /// `asyncio.timeout_at(when)`.
    pub fn at(when: Option<Instant>) -> Timeout {
        Timeout {
            state: Rc::new(TimeoutState {
                when: Cell::new(when),
                expired: Cell::new(false),
            }),
        }
    }

    /// The deadline, if any. Python: `cm.when()`.
    pub fn when(&self) -> Option<Instant> {
        self.state.when.get()
    }

    /// Moves the deadline (or removes it with `None`); takes effect at the
    /// guarded future's next poll. Python: `cm.reschedule(when)`.
    pub fn reschedule(&self, when: Option<Instant>) {
        self.state.when.set(when);
    }

    /// True once the deadline passed while guarding. Python: `cm.expired()`.
    pub fn expired(&self) -> bool {
        self.state.expired.get()
    }

    /// Runs `future` until it finishes or the deadline passes (then drops
    /// it). Python: the body of `async with cm:`.
    ///
    /// # Errors
    /// [`TimeoutError`] when the deadline passes first.
    pub async fn wrap<F: StdFuture>(&self, future: F) -> Result<F::Output, TimeoutError> {
        let mut future = pin!(future);
        // The sleep of the deadline it was made for, remade when it moves.
        let mut timer: Option<(Instant, Pin<Box<Sleep>>)> = None;
        poll_fn(|cx| {
            if let Poll::Ready(value) = future.as_mut().poll(cx) {
                return Poll::Ready(Ok(value));
            }
            let Some(when) = self.state.when.get() else {
                timer = None;
                return Poll::Pending;
            };
            if timer.as_ref().is_none_or(|(at, _)| *at != when) {
                timer = Some((when, Box::pin(sleep_until(when))));
            }
            let (_, sleeping) = timer.as_mut().expect("set above");
            if sleeping.as_mut().poll(cx).is_ready() {
                self.state.expired.set(true);
                return Poll::Ready(Err(TimeoutError));
            }
            Poll::Pending
        })
        .await
    }
}

impl std::fmt::Debug for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timeout")
            .field("when", &self.when())
            .field("expired", &self.expired())
            .finish()
    }
}
