//! asyncio's module-level task functions: `create_task`, `ensure_future`,
//! `current_task`, `all_tasks`, and corio's `dump_tasks`.

use std::future::Future as StdFuture;
use std::panic::Location;
use std::rc::Rc;
use std::task::Waker;

use super::cell::spawn;
use super::handle::{Task, TaskRef};
use crate::event_loop::EventLoop;
use crate::event_loop::running::{self, current_raw, running_inner};
use crate::event_loop::task_header::RawTask;
use crate::{LoopError, RunError};

/// Schedules `future` as a task of the running loop. Python: `asyncio.create_task(coro)`.
///
/// # Panics
/// "no running event loop" outside a running loop, as asyncio raises
/// `RuntimeError` (use [`EventLoop::create_task`] to schedule on a loop
/// that is not running yet).
#[track_caller]
pub fn create_task<F>(future: F) -> Task<F::Output>
where
    F: StdFuture + 'static,
{
    match running_inner() {
        Ok(lp) => spawn(&lp, future, Location::caller()),
        Err(e) => panic!("{e}"),
    }
}

/// Same as [`create_task`]: every future is wrapped in a task.
/// Python: `asyncio.ensure_future(coro)`.
///
/// # Panics
/// As [`create_task`].
#[track_caller]
pub fn ensure_future<F>(future: F) -> Task<F::Output>
where
    F: StdFuture + 'static,
{
    create_task(future)
}

/// The task whose step is running, if any. Python: `asyncio.current_task()`.
pub fn current_task() -> Option<TaskRef> {
    current_raw().map(TaskRef::from_raw)
}

/// The running loop's tasks that are not done (empty outside a loop).
/// Python: `asyncio.all_tasks()`.
pub fn all_tasks() -> Vec<TaskRef> {
    running_inner().map_or_else(|_| Vec::new(), |lp| to_refs(lp.all_tasks()))
}

/// A readable dump of the running loop's live tasks: name, state, age,
/// steps taken, and where each was created. No asyncio counterpart (it is
/// what `asyncio.all_tasks()` plus `Task.print_stack()` are used for when a
/// program is stuck).
///
/// ```
/// use corio_executor::{create_task, dump_tasks, run, sleep};
/// use std::time::Duration;
///
/// let dump = run(async {
///     let t = create_task(sleep(Duration::from_secs(60)));
///     t.set_name("sleeper");
///     corio_executor::yield_now().await;
///     let dump = dump_tasks();
///     t.cancel();
///     dump
/// })?;
/// assert!(dump.contains("sleeper") && dump.contains("steps=1"), "{dump}");
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub fn dump_tasks() -> String {
    let Ok(lp) = running_inner() else {
        return "no running event loop\n".to_string();
    };
    let now = corio_timer::CoarseInstant::now();
    let current = current_task();
    let mut out = String::new();
    for task in to_refs(lp.all_tasks()) {
        let header = task.inner.header();
        let state = header.state_word(current.as_ref().is_some_and(|c| c.same(&task)));
        out.push_str(&format!(
            "{:<20} {:<10} age={:.3}s steps={} created at {}\n",
            header.name(),
            state,
            now.duration_since(header.created).as_secs_f64(),
            header.steps.get(),
            header.location,
        ));
    }
    out
}

/// The loop's own methods that make or await tasks. They live here, with
/// the task types, so that `event_loop` knows no task type: the loop runs
/// anything that implements its `RawTask`.
impl EventLoop {
    /// Runs `future` as a task until it is done and returns its outcome.
    /// Python: `loop.run_until_complete(future)`.
    ///
    /// # Errors
    /// The loop errors of [`run_forever`](Self::run_forever);
    /// [`LoopError::StoppedBeforeComplete`] when `stop()` ended the run
    /// first (the task stays scheduled); [`RunError::Task`] when the task
    /// panicked or was cancelled.
    #[track_caller]
    pub fn run_until_complete<F>(&self, future: F) -> Result<F::Output, RunError>
    where
        F: std::future::Future + 'static,
    {
        if self.inner.is_closed() {
            return Err(LoopError::Closed.into());
        }
        if self.inner.is_running() {
            return Err(LoopError::AlreadyRunning.into());
        }
        if running::a_loop_runs_here() {
            return Err(LoopError::AnotherLoopRunning.into());
        }
        let task = spawn(&self.inner, future, Location::caller());
        self.run_task_until_complete(task)
    }

    /// The body of [`run_until_complete`](Self::run_until_complete), for a
    /// task that exists already (`run()` needs its handle first, for
    /// Ctrl-C).
    pub(crate) fn run_task_until_complete<T: 'static>(&self, task: Task<T>) -> Result<T, RunError> {
        // The callback holds the loop weakly (the loop owns the task), and
        // is removed on every way out, as asyncio's `finally` does: a stale
        // one would stop a later, unrelated run.
        let stopper = Rc::downgrade(&self.inner);
        let id = task.add_done_callback(move |_| {
            if let Some(lp) = stopper.upgrade() {
                lp.stop();
            }
        });
        let ran = self.run_forever();
        task.remove_done_callback(id);
        ran?;
        if !task.done() {
            return Err(LoopError::StoppedBeforeComplete.into());
        }
        let mut task = task;
        let waker = Waker::noop();
        match std::pin::Pin::new(&mut task).poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(result) => result.map_err(RunError::Task),
            std::task::Poll::Pending => Err(LoopError::StoppedBeforeComplete.into()),
        }
    }

    /// Wraps `future` in a task scheduled on this loop. Python: `loop.create_task(coro)`.
    ///
    /// # Panics
    /// "Event loop is closed" on a closed loop.
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: std::future::Future + 'static,
    {
        spawn(&self.inner, future, Location::caller())
    }

    /// The tasks of this loop that are not done. Python: `asyncio.all_tasks(loop)`.
    pub fn all_tasks(&self) -> Vec<TaskRef> {
        to_refs(self.inner.all_tasks())
    }
}

/// The loop's tasks as the handles users hold.
fn to_refs(tasks: Vec<Rc<dyn RawTask>>) -> Vec<TaskRef> {
    tasks.into_iter().map(TaskRef::from_raw).collect()
}
