//! The handles users hold: [`Task<T>`] (asyncio's `Task`, typed) and
//! [`TaskRef`] (any task, for `wait` and friends).

use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use super::cell::{OutcomeRef, TypedTask};
use crate::TaskError;
use crate::event_loop::running;
use crate::event_loop::task_header::RawTask;
use crate::wakers::WaiterKey;

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

    /// The task's id: `N` of its default name `Task-N`, unique in the
    /// process; what `corio-ps` and traces show. Python 3.14's `ps` shows
    /// `id(task)` instead.
    pub fn id(&self) -> u64 {
        self.inner.header().number
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

    /// The task's id (see [`Task::id`]).
    pub fn id(&self) -> u64 {
        self.inner.header().number
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
