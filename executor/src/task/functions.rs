//! asyncio's module-level task functions: `create_task`, `ensure_future`,
//! `current_task`, `all_tasks`, and corio's `dump_tasks`.

use std::future::Future as StdFuture;
use std::panic::Location;

use super::cell::spawn;
use super::handle::{Task, TaskRef};
use crate::event_loop::running::{current_raw, running_inner};

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
    running_inner().map(|lp| lp.all_tasks()).unwrap_or_default()
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
    for task in lp.all_tasks() {
        let header = task.inner.header();
        let state = if current.as_ref().is_some_and(|c| c.same(&task)) {
            "running"
        } else if header.cancel_requested.get() {
            "cancelling"
        } else if header.scheduled.get() {
            "scheduled"
        } else {
            "waiting"
        };
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
