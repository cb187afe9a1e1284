//! [`Task`]: a coroutine driven by its loop, one `poll` per step.
//!
//! # The task as a state machine
//!
//! ```text
//!            create_task                step: Ready(v) / panic / cancel
//!   (new) ──────────────▶ Pending ─────────────────────────────────▶ Done
//!                          │   ▲
//!            step: Pending │   │ wake (schedules one step)
//!                          ▼   │
//!                        (parked on a waker)
//! ```
//!
//! - `scheduled` is true exactly while a step of the task sits in the ready
//!   queue, so any number of wakes before it runs schedule one step.
//! - Only a step moves the task to Done, and it does so once: it stores the
//!   outcome, removes the task from the loop's table, wakes whoever waits
//!   for it and schedules the done callbacks with `call_soon`.
//! - `cancel()` only asks (`cancel_requested`) and schedules a step; that
//!   step drops the coroutine where it was parked (its destructors are its
//!   `finally`) and ends the task as cancelled. So `cancelled()` turns true
//!   only after the cancelling step, as in asyncio.
//! - `awaiting` is what the coroutine was parked on at the end of the last
//!   step (asyncio's `_fut_waiter`): cancelling the task cancels it too.

use std::any::Any;
use std::cell::Cell;
use std::fmt;
use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use corio_timer::CoarseInstant;

use crate::event_loop::LoopInner;
use crate::raw::{Coroutine, Outcome};
use crate::remote::TaskKey;
use crate::wakers::{WaiterKey, WakerSlab, finish_in_order};
use crate::{TaskError, running};

/// Process-wide counter behind the default names `Task-1`, `Task-2`, …
static TASK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Something a task can be parked on and that its cancellation reaches.
pub(crate) trait Cancel {
    /// Requests cancellation; false if already done.
    fn cancel(&self) -> bool;
}

/// Where a task is in its life (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Pending,
    Done,
}

/// Who waits for a task to finish. Nearly always one awaiter, kept inline;
/// a `Vec` only when several wait (an `await` plus a `wait`, say).
/// Those waiting for a task to finish: none, one (the common case, no
/// allocation; its key is 0), or a slab (see `wakers.rs`).
#[derive(Default)]
enum DoneWakers {
    #[default]
    None,
    /// The registration number, and the waker.
    One(u32, Waker),
    Many(Box<WakerSlab>),
}

/// The untyped part of every task.
pub(crate) struct Header {
    /// The task's slot in its loop's table.
    pub(crate) key: TaskKey,
    /// `N` of the default name `Task-N`.
    number: u64,
    /// A name given with `set_name`. Boxed twice on purpose: 8 bytes in
    /// the header instead of 24, since most tasks never get a name.
    #[allow(clippy::box_collection)]
    name: Cell<Option<Box<String>>>,
    /// True while a step is queued (at most one at a time).
    pub(crate) scheduled: Cell<bool>,
    pub(crate) state: Cell<TaskState>,
    /// `cancel()` was called; the next step drops the coroutine.
    pub(crate) cancel_requested: Cell<bool>,
    /// The task ended by cancellation (asyncio's `cancelled()`).
    cancelled: Cell<bool>,
    /// What the coroutine is parked on (asyncio's `_fut_waiter`).
    pub(crate) awaiting: Cell<Option<Rc<dyn Cancel>>>,
    /// Its loop's index in the waker table: with `key`, all a waker needs
    /// (`raw.rs` packs both into the waker's word; none is stored).
    pub(crate) loop_index: u16,
    /// Where `create_task` was called.
    pub(crate) location: &'static Location<'static>,
    /// When it was created (coarse real time, for the age in `dump_tasks`).
    pub(crate) created: CoarseInstant,
    /// How many steps it has taken.
    pub(crate) steps: Cell<u32>,
    /// Wakers of those waiting for it to finish (an awaiter, `wait`, …).
    done_wakers: Cell<DoneWakers>,
    /// Numbers the done-waker entries and done callbacks in the order they
    /// come, so that the finish keeps that order (asyncio's awaiter
    /// wake-up is itself a done callback).
    registrations: Cell<u32>,
    /// The outcome was looked at, so a failure need not be reported.
    pub(crate) retrieved: Cell<bool>,
}

impl Header {
    pub(crate) fn name(&self) -> String {
        let name = self.name.take();
        let out = match &name {
            Some(name) => String::clone(name),
            None => format!("Task-{}", self.number),
        };
        self.name.set(name);
        out
    }

    pub(crate) fn set_name(&self, name: String) {
        self.name.set(Some(Box::new(name)));
    }

    /// The task's waker, made anew (no allocation: see `raw.rs`).
    pub(crate) fn waker(&self) -> Waker {
        crate::raw::task_waker(self.loop_index, self.key)
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == TaskState::Done
    }

    /// Records the waker of the waiter whose key is `key` (set on its first
    /// call): a repeated poll replaces its own entry.
    pub(crate) fn add_done_waker(&self, waker: &Waker, key: &mut Option<WaiterKey>) {
        let wakers = match (self.done_wakers.take(), *key) {
            (DoneWakers::None, _) => {
                *key = Some(0);
                DoneWakers::One(self.next_registration(), waker.clone())
            }
            (DoneWakers::One(seq, first), Some(0)) if first.will_wake(waker) => {
                DoneWakers::One(seq, first)
            }
            (DoneWakers::One(seq, _), Some(0)) => DoneWakers::One(seq, waker.clone()),
            (DoneWakers::One(seq, first), _) => {
                // The first waiter keeps its key 0: its entry is slot 0.
                let mut slab = Box::<WakerSlab>::default();
                slab.register(&mut None, &first, || u64::from(seq));
                slab.register(key, waker, || u64::from(self.next_registration()));
                DoneWakers::Many(slab)
            }
            (DoneWakers::Many(mut slab), _) => {
                slab.register(key, waker, || u64::from(self.next_registration()));
                DoneWakers::Many(slab)
            }
        };
        self.done_wakers.set(wakers);
    }

    /// The next registration number (see `registrations`).
    pub(crate) fn next_registration(&self) -> u32 {
        let seq = self.registrations.get();
        self.registrations.set(seq.wrapping_add(1));
        seq
    }

    /// The waiter with `key` is gone (its future dropped before the task
    /// finished).
    pub(crate) fn remove_done_waker(&self, key: WaiterKey) {
        if self.is_done() {
            return; // the entries were woken and cleared at the finish
        }
        let wakers = match self.done_wakers.take() {
            DoneWakers::One(..) if key == 0 => DoneWakers::None,
            DoneWakers::Many(mut slab) => {
                slab.remove(key);
                DoneWakers::Many(slab)
            }
            other => other,
        };
        self.done_wakers.set(wakers);
    }

    /// How many waiters have an entry (for tests).
    #[cfg(test)]
    pub(crate) fn done_waiters(&self) -> usize {
        let wakers = self.done_wakers.take();
        let count = match &wakers {
            DoneWakers::None => 0,
            DoneWakers::One(..) => 1,
            DoneWakers::Many(slab) => slab.len(),
        };
        self.done_wakers.set(wakers);
        count
    }

    pub(crate) fn describe(&self) -> String {
        format!("<Task '{}' created at {}>", self.name(), self.location)
    }
}

/// What the loop needs of a task, whatever its output type.
pub(crate) trait RawTask: Cancel {
    fn header(&self) -> &Header;
    /// One step: `coro.send(None)`.
    fn step(self: Rc<Self>, lp: &Rc<LoopInner>);
    /// Drops a pending coroutine without finishing the task (loop close),
    /// with its done callbacks and waiters; a panic in a destructor
    /// propagates to the caller.
    fn abandon(&self);
    /// The failure it ended with, if it ended with one (without taking it).
    fn failure(&self) -> Option<TaskError>;
}

/// A callback run (through `call_soon`) when a task is done.
type DoneFn<T> = Box<dyn FnOnce(&Task<T>)>;

/// A done callback and the id `remove_done_callback` knows it by.
type DoneCallback<T> = (u64, DoneFn<T>);

/// A task's done callbacks, in registration order (their ids are the
/// header's registration numbers).
struct Callbacks<T> {
    list: Vec<DoneCallback<T>>,
}

/// A task: its header, its coroutine, then its outcome in the same place.
struct TaskCell<F: StdFuture> {
    header: Header,
    /// The coroutine, pinned in place in this cell (no `Box`): polled by
    /// the steps, dropped in place once done; then the outcome, in the
    /// bytes the coroutine had (`raw.rs`).
    future: Coroutine<F>,
    /// Done callbacks; boxed because most tasks never get one (a `Cell`:
    /// taken out, changed and put back, never borrowed across a call).
    callbacks: Cell<Option<Box<Callbacks<F::Output>>>>,
}

/// The typed view of a task, behind [`Task<T>`].
pub(crate) trait TypedTask<T>: RawTask {
    /// The outcome, or `Pending` with the waker recorded under `key`.
    fn poll_join(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<WaiterKey>,
    ) -> Poll<Result<T, TaskError>>;
    fn peek(&self, f: &mut dyn FnMut(&OutcomeRef<'_, T>));
    fn add_callback(&self, f: DoneFn<T>) -> u64;
    fn remove_callback(&self, id: u64) -> usize;
}

/// A borrowed look at an outcome.
pub(crate) enum OutcomeRef<'a, T> {
    Pending,
    Ready(&'a Result<T, TaskError>),
    Taken,
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

impl<F: StdFuture + 'static> TaskCell<F> {
    /// Ends the task: stores the outcome, leaves the loop's table, wakes
    /// waiters, schedules done callbacks.
    fn finish(self: Rc<Self>, lp: &Rc<LoopInner>, outcome: Result<F::Output, TaskError>) {
        let header = &self.header;
        if outcome.as_ref().err().is_some_and(TaskError::is_cancelled) {
            header.cancelled.set(true);
        }
        self.future.set_outcome(outcome);
        header.state.set(TaskState::Done);
        header.awaiting.take();
        lp.forget_task(header.key);
        let wakers = header.done_wakers.take();
        let Some(callbacks) = self.callbacks.take() else {
            // No done callbacks (the common case): no order to keep.
            match wakers {
                DoneWakers::None => {}
                DoneWakers::One(_, waker) => waker.wake(),
                DoneWakers::Many(slab) => slab.wake_all(),
            }
            return;
        };
        // Awaiters and done callbacks in the order they came, as asyncio
        // runs its done callbacks (an awaiter's wake-up is one of them).
        let wakers = match wakers {
            DoneWakers::None => Vec::new(),
            DoneWakers::One(seq, waker) => vec![(u64::from(seq), waker)],
            DoneWakers::Many(slab) => slab.into_ordered(),
        };
        finish_in_order(wakers, callbacks.list, |callback: DoneFn<F::Output>| {
            let task = Task::from_inner(self.clone());
            lp.call_soon_internal(move || callback(&task));
        });
    }

    /// Drops the coroutine, reporting a panic in its destructors.
    fn drop_future(&self, lp: &Rc<LoopInner>) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| self.future.drop_future())) {
            lp.report(
                format!("Exception while dropping {}", self.header.describe()),
                Some(panic_message(&*payload)),
            );
        }
    }
}

impl<F: StdFuture + 'static> Cancel for TaskCell<F> {
    fn cancel(&self) -> bool {
        let header = &self.header;
        if header.is_done() {
            return false;
        }
        header.cancel_requested.set(true);
        // Cancel what it waits on first (asyncio: `_fut_waiter.cancel()`).
        let awaiting = header.awaiting.take();
        if let Some(inner) = awaiting {
            inner.cancel();
        }
        header.waker().wake_by_ref();
        true
    }
}

impl<F: StdFuture + 'static> RawTask for TaskCell<F> {
    fn header(&self) -> &Header {
        &self.header
    }

    fn step(self: Rc<Self>, lp: &Rc<LoopInner>) {
        let header = &self.header;
        header.scheduled.set(false);
        if self.future.is_gone() {
            return; // already done: a stale step
        }
        if header.cancel_requested.get() {
            self.drop_future(lp);
            self.finish(lp, Err(TaskError::Cancelled));
            return;
        }
        header.steps.set(header.steps.get().saturating_add(1));
        header.awaiting.take();

        let previous = lp.current.replace(Some(header.key));
        let waker = header.waker();
        let mut cx = Context::from_waker(&waker);
        let polled = catch_unwind(AssertUnwindSafe(|| self.future.poll(&mut cx)));
        lp.current.set(previous);

        match polled {
            // A step inside its own step: refused by the coroutine, which
            // is being polled already (cannot happen: one step at a time).
            Ok(None) => {}
            Ok(Some(Poll::Pending)) => {
                // Cancelled from inside its own step: take the cancelling
                // step next.
                if header.cancel_requested.get() {
                    waker.wake_by_ref();
                }
            }
            Ok(Some(Poll::Ready(value))) => {
                self.drop_future(lp);
                self.finish(lp, Ok(value));
            }
            Err(payload) => {
                let message = panic_message(&*payload);
                self.drop_future(lp);
                self.finish(lp, Err(TaskError::Panicked(message)));
            }
        }
    }

    fn abandon(&self) {
        // What the task holds besides its coroutine goes too: a done
        // callback that holds the task itself (the background-task set
        // idiom: `tasks.remove(task)`) would keep the cell alive through
        // itself. Dropped after the coroutine, and even if its destructor
        // panics (they are locals of this frame).
        let _callbacks = self.callbacks.take();
        let _wakers = self.header.done_wakers.take();
        let _awaiting = self.header.awaiting.take();
        self.future.drop_future();
    }

    fn failure(&self) -> Option<TaskError> {
        self.future.with_outcome(|outcome| match outcome {
            Outcome::Ready(Err(e)) => Some(e.clone()),
            _ => None,
        })
    }
}

impl<F: StdFuture + 'static> TypedTask<F::Output> for TaskCell<F> {
    fn poll_join(
        &self,
        cx: &mut Context<'_>,
        key: &mut Option<WaiterKey>,
    ) -> Poll<Result<F::Output, TaskError>> {
        if !self.header.is_done() {
            self.header.add_done_waker(cx.waker(), key);
            return Poll::Pending;
        }
        self.header.retrieved.set(true);
        match self.future.take_outcome() {
            Outcome::Ready(result) => Poll::Ready(result),
            Outcome::Taken => Poll::Ready(Err(TaskError::InvalidState(
                "Result was already taken by another await",
            ))),
            Outcome::Pending => Poll::Ready(Err(TaskError::InvalidState("Result is not set."))),
        }
    }

    fn peek(&self, f: &mut dyn FnMut(&OutcomeRef<'_, F::Output>)) {
        self.future.with_outcome(|outcome| match outcome {
            Outcome::Pending => f(&OutcomeRef::Pending),
            Outcome::Ready(r) => f(&OutcomeRef::Ready(r)),
            Outcome::Taken => f(&OutcomeRef::Taken),
        });
    }

    fn add_callback(&self, f: DoneFn<F::Output>) -> u64 {
        let mut callbacks = self
            .callbacks
            .take()
            .unwrap_or_else(|| Box::new(Callbacks { list: Vec::new() }));
        // The id is the registration number: callbacks and awaiters share
        // one order.
        let id = u64::from(self.header.next_registration());
        callbacks.list.push((id, f));
        self.callbacks.set(Some(callbacks));
        id
    }

    fn remove_callback(&self, id: u64) -> usize {
        let Some(mut callbacks) = self.callbacks.take() else {
            return 0;
        };
        let before = callbacks.list.len();
        // The removed callback is dropped after the list is back.
        let (kept, removed): (Vec<_>, Vec<_>) =
            callbacks.list.drain(..).partition(|(i, _)| *i != id);
        callbacks.list = kept;
        let count = before - callbacks.list.len();
        self.callbacks.set(Some(callbacks));
        drop(removed);
        count
    }
}

impl<F: StdFuture> Drop for TaskCell<F> {
    /// asyncio's `Task.__del__`: a failure nobody looked at is reported.
    fn drop(&mut self) {
        if self.header.retrieved.get() {
            return;
        }
        let failure = self.future.with_outcome(|outcome| match outcome {
            Outcome::Ready(Err(err)) if !err.is_cancelled() => Some(err.to_string()),
            _ => None,
        });
        if let Some(failure) = failure {
            running::report_unhandled(
                format!(
                    "Task exception was never retrieved: {}",
                    self.header.describe()
                ),
                Some(failure),
            );
        }
    }
}

/// Creates a task of `lp` and schedules its first step.
pub(crate) fn spawn<F: StdFuture + 'static>(
    lp: &Rc<LoopInner>,
    future: F,
    location: &'static Location<'static>,
) -> Task<F::Output> {
    let cell = lp.insert_task(|key, loop_index| {
        Rc::new(TaskCell {
            header: Header {
                key,
                number: TASK_COUNTER.fetch_add(1, Ordering::Relaxed) + 1,
                name: Cell::new(None),
                scheduled: Cell::new(false),
                state: Cell::new(TaskState::Pending),
                cancel_requested: Cell::new(false),
                cancelled: Cell::new(false),
                awaiting: Cell::new(None),
                loop_index,
                location,
                created: CoarseInstant::now(),
                steps: Cell::new(0),
                done_wakers: Cell::new(DoneWakers::None),
                registrations: Cell::new(0),
                retrieved: Cell::new(false),
            },
            future: Coroutine::new(future),
            callbacks: Cell::new(None),
        })
    });
    Task::from_inner(cell)
}

/// A coroutine scheduled on a loop. Python: `asyncio.Task`.
///
/// Created by [`create_task`](crate::create_task) or
/// [`EventLoop::create_task`](crate::EventLoop::create_task); the first step
/// runs on a later loop iteration. Awaiting the task gives its outcome:
/// `Ok(value)`, or `Err` with [`TaskError::Cancelled`] or
/// [`TaskError::Panicked`].
///
/// Differs from asyncio in three ways, all forced by Rust:
/// - cancellation drops the coroutine at its await point (its destructors
///   are its `finally`); it cannot catch the cancellation and go on;
/// - awaiting *moves* the value out, so a second await of a clone gets
///   `TaskError::InvalidState`; [`result`](Self::result) clones it instead;
/// - dropping every `Task` handle does not cancel or lose the task: the
///   loop keeps it and runs it to the end (it is *detached*).
///
/// # Examples
///
/// ```
/// use corio_executor::{create_task, run, sleep};
/// use std::time::Duration;
///
/// let out = run(async {
///     let task = create_task(async {
///         sleep(Duration::from_millis(1)).await;
///         6 * 7
///     });
///     task.set_name("answer");
///     assert_eq!(task.get_name(), "answer");
///     task.await
/// })?;
/// assert_eq!(out, Ok(42));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub struct Task<T> {
    pub(crate) inner: Rc<dyn TypedTask<T>>,
    /// This handle's entry among the task's done-wakers, while awaiting.
    waiting: Option<WaiterKey>,
}

impl<T> Task<T> {
    pub(crate) fn from_inner(inner: Rc<dyn TypedTask<T>>) -> Task<T> {
        Task {
            inner,
            waiting: None,
        }
    }

    /// Polls for the outcome without parking the caller on the task.
    pub(crate) fn poll_join(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, TaskError>> {
        self.inner.poll_join(cx, &mut self.waiting)
    }
}

impl<T> Clone for Task<T> {
    /// Another handle; it waits with an entry of its own.
    fn clone(&self) -> Self {
        Task::from_inner(self.inner.clone())
    }
}

impl<T> Drop for Task<T> {
    /// A wait given up leaves no entry behind.
    fn drop(&mut self) {
        if let Some(key) = self.waiting {
            self.inner.header().remove_done_waker(key);
        }
    }
}

impl<T: 'static> Task<T> {
    /// Asks the task to stop: its next step drops the coroutine. Returns
    /// false if the task is already done. Cancels what the task awaits (a
    /// task, a gather, a future) too. Python: `Task.cancel()`.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// True once the task has ended by cancellation. Python: `Task.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.inner.header().cancelled.get()
    }

    /// True once the task has ended. Python: `Task.done()`.
    pub fn done(&self) -> bool {
        self.inner.header().is_done()
    }

    /// The task's outcome, cloned. Python: `Task.result()`.
    ///
    /// # Errors
    /// The task's own failure; [`TaskError::InvalidState`] when it is not
    /// done yet or its value was moved out by an `await`.
    pub fn result(&self) -> Result<T, TaskError>
    where
        T: Clone,
    {
        self.inner.header().retrieved.set(true);
        let mut out = Err(TaskError::InvalidState("Result is not set."));
        self.inner.peek(&mut |outcome| {
            out = match outcome {
                OutcomeRef::Pending => Err(TaskError::InvalidState("Result is not set.")),
                OutcomeRef::Ready(r) => (*r).clone(),
                OutcomeRef::Taken => Err(TaskError::InvalidState(
                    "Result was already taken by an await",
                )),
            }
        });
        out
    }

    /// The failure the task ended with: `Ok(None)` for success.
    /// Python: `Task.exception()`.
    ///
    /// # Errors
    /// [`TaskError::InvalidState`] when the task is not done.
    pub fn exception(&self) -> Result<Option<TaskError>, TaskError> {
        if !self.done() {
            return Err(TaskError::InvalidState("Exception is not set."));
        }
        self.inner.header().retrieved.set(true);
        Ok(self.inner.failure())
    }

    /// The task's name, `Task-N` unless set. Python: `Task.get_name()`.
    pub fn get_name(&self) -> String {
        self.inner.header().name()
    }

    /// Renames the task. Python: `Task.set_name(name)`.
    pub fn set_name(&self, name: impl Into<String>) {
        self.inner.header().set_name(name.into());
    }

    /// Calls `callback(&task)` once the task is done, through `call_soon`
    /// (never inline); a callback added after the end is scheduled at once.
    /// Returns an id for [`remove_done_callback`](Self::remove_done_callback).
    /// Python: `Task.add_done_callback(fn)`; differs in returning an id,
    /// since closures have no identity to compare (for a task already done
    /// the id matches nothing: the callback is scheduled at once).
    ///
    /// # Panics
    /// "no running event loop" when the task is already done and no loop
    /// runs to schedule the callback on, as [`create_task`](crate::create_task)
    /// does: a task keeps no reference to its loop.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Task<T>) + 'static) -> u64 {
        if self.done() {
            let task = self.clone();
            match running::running_inner() {
                Ok(lp) => lp.call_soon_internal(move || callback(&task)),
                Err(e) => panic!("{e}"),
            };
            return u64::MAX;
        }
        self.inner.add_callback(Box::new(callback))
    }

    /// Removes a done callback that has not been scheduled yet; returns how
    /// many were removed (0 or 1). Python: `Task.remove_done_callback(fn)`.
    pub fn remove_done_callback(&self, id: u64) -> usize {
        self.inner.remove_callback(id)
    }

    /// An untyped handle to the same task, for [`wait`](crate::wait) and
    /// friends.
    ///
    /// No asyncio counterpart (Python passes the task itself).
    pub fn as_ref(&self) -> TaskRef {
        TaskRef::from_raw(self.inner.clone())
    }
}

impl<T: 'static> StdFuture for Task<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = self.poll_join(cx);
        if polled.is_pending() {
            running::check_same_loop(self.inner.header(), Rc::as_ptr(&self.inner).cast());
            // The awaiting task is now parked on this one: cancelling it
            // cancels this one too.
            running::park_current_on(self.inner.clone());
        }
        polled
    }
}

impl<T: 'static> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let header = self.inner.header();
        f.debug_struct("Task")
            .field("name", &header.name())
            .field("done", &header.is_done())
            .field("cancelled", &header.cancelled.get())
            .finish()
    }
}

/// An untyped handle to a task: what [`all_tasks`](crate::all_tasks),
/// [`current_task`](crate::current_task) and [`wait`](crate::wait) deal in.
#[derive(Clone)]
pub struct TaskRef {
    pub(crate) inner: Rc<dyn RawTask>,
    /// This handle's entry among the task's done-wakers, while awaiting.
    waiting: Option<WaiterKey>,
}

impl TaskRef {
    pub(crate) fn from_raw(inner: Rc<dyn RawTask>) -> TaskRef {
        TaskRef {
            inner,
            waiting: None,
        }
    }
}

impl Drop for TaskRef {
    /// A wait given up leaves no entry behind.
    fn drop(&mut self) {
        if let Some(key) = self.waiting {
            self.inner.header().remove_done_waker(key);
        }
    }
}

impl TaskRef {
    /// Python: `Task.cancel()`.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Python: `Task.done()`.
    pub fn done(&self) -> bool {
        self.inner.header().is_done()
    }

    /// Python: `Task.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.inner.header().cancelled.get()
    }

    /// Python: `Task.get_name()`.
    pub fn get_name(&self) -> String {
        self.inner.header().name()
    }

    /// Python: `Task.set_name(name)`.
    pub fn set_name(&self, name: impl Into<String>) {
        self.inner.header().set_name(name.into());
    }

    /// The failure it ended with, if done and failed (cancellation counts).
    ///
    /// Python: `task.exception()` on a done task (cancellation included).
    pub fn failure(&self) -> Option<TaskError> {
        self.inner.failure()
    }

    /// True when both handles name the same task.
    ///
    /// Python: `task_a is task_b`.
    pub fn same(&self, other: &TaskRef) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.inner), Rc::as_ptr(&other.inner))
    }

    /// Records `waker` to be woken when the task is done, in this handle's
    /// own entry (a repeated call replaces it).
    pub(crate) fn wait_done(&mut self, waker: &Waker) {
        self.inner.header().add_done_waker(waker, &mut self.waiting);
    }

    /// Gives up this handle's entry, if it has one.
    pub(crate) fn stop_waiting(&mut self) {
        if let Some(key) = self.waiting.take() {
            self.inner.header().remove_done_waker(key);
        }
    }
}

impl fmt::Debug for TaskRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.header().describe())
    }
}

/// Awaiting a `TaskRef` waits until the task is done and leaves its outcome
/// in the task, to read with [`Task::result`] (awaiting the [`Task`] itself
/// moves the outcome out). Python: `await asyncio.wait([task])`, or
/// `loop.run_until_complete(task)` followed by `task.result()`.
///
/// # Examples
///
/// ```
/// use corio_executor::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let task = lp.create_task(async { "bobby".to_string() });
/// lp.run_until_complete(task.as_ref())?;
/// assert_eq!(task.result()?, "bobby");
/// assert_eq!(task.result()?, "bobby", "still there");
/// lp.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl StdFuture for TaskRef {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done() {
            return Poll::Ready(());
        }
        running::check_same_loop(self.inner.header(), Rc::as_ptr(&self.inner).cast());
        self.wait_done(cx.waker());
        Poll::Pending
    }
}

#[cfg(test)]
mod size {
    /// Memory per pending task is a published figure (bench/RESULTS.md);
    /// this guard fails if the task cell grows past what was measured.
    #[test]
    fn task_cell_stays_within_176_bytes() {
        let cell = std::mem::size_of::<super::TaskCell<std::future::Pending<()>>>();
        assert!(cell <= 176, "TaskCell grew to {cell} bytes");
        assert!(std::mem::size_of::<super::Header>() <= 112);
    }
}

#[cfg(test)]
mod waiters {
    use std::future::poll_fn;
    use std::pin::Pin;
    use std::task::Poll;

    use crate::{EventLoop, create_task, yield_now};

    /// Many waiters added and given up, and one waiter polled again and
    /// again: the task's done-wakers hold one entry per live waiter.
    #[test]
    fn done_wakers_hold_one_entry_per_live_waiter() {
        let lp = EventLoop::new().unwrap();
        lp.run_until_complete(async {
            let target = create_task(std::future::pending::<()>());
            let header = || target.inner.header();
            // Through `TaskRef`s: cancelling a task awaiting a `Task` would
            // cancel the target too (cancellation follows awaits).
            let waiters: Vec<_> = (0..10_000).map(|_| create_task(target.as_ref())).collect();
            yield_now().await; // each has polled the target once
            assert_eq!(header().done_waiters(), 10_000);
            for waiter in &waiters {
                waiter.cancel();
            }
            yield_now().await; // each has dropped its wait
            assert_eq!(header().done_waiters(), 0);

            // One handle polled 1,000 times keeps one entry.
            let mut again = target.clone();
            let mut polls = 0;
            poll_fn(|cx| {
                assert!(Pin::new(&mut again).poll(cx).is_pending());
                polls += 1;
                if polls == 1000 {
                    return Poll::Ready(());
                }
                cx.waker().wake_by_ref();
                Poll::Pending
            })
            .await;
            assert_eq!(header().done_waiters(), 1);
            drop(again);
            assert_eq!(header().done_waiters(), 0);
            target.cancel();
        })
        .unwrap();
        lp.close().unwrap();
    }
}
