//! [`TaskCell`]: one task in one allocation (header, coroutine, then its
//! outcome in the coroutine's bytes), its step and its finish.

use std::cell::Cell;
use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use corio_timer::CoarseInstant;

use super::handle::Task;
use crate::TaskError;
use crate::event_loop::LoopInner;
use crate::event_loop::running;
use crate::event_loop::task_header::{Cancel, DoneWakers, Header, RawTask, TaskState};
use crate::panic_message;
use crate::raw::{Coroutine, Outcome};
use crate::wakers::{WaiterKey, finish_in_order};

/// The task's waker, made anew from its loop index and key (no
/// allocation: see `raw.rs`).
fn waker_of(header: &Header) -> std::task::Waker {
    crate::raw::task_waker(header.loop_index, header.key)
}

/// Process-wide counter behind the default names `Task-1`, `Task-2`, …
static TASK_COUNTER: AtomicU64 = AtomicU64::new(0);

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
    fn awaited(&self) -> crate::event_loop::task_header::Awaited {
        crate::event_loop::task_header::Awaited::Task(self.header.number)
    }

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
        waker_of(header).wake_by_ref();
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
        let waker = waker_of(header);
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
