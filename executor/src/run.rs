//! `run`: asyncio's `asyncio.run` (its `Runner`): a fresh loop, the main
//! task, Ctrl-C, and the shutdown on the way out (cancel what is left,
//! run the shutdown hooks, close).

use std::cell::Cell;
use std::future::Future as StdFuture;
use std::panic::Location;
use std::rc::Rc;

use corio_reactor::signal::{Disposition, SIGINT, disposition, is_main_thread};

use crate::event_loop::EventLoop;
use crate::event_loop::running::{get_running_loop, set_event_loop};
use crate::task::{TaskRef, spawn};
use crate::{LoopError, RunError};

/// Runs `main` on a fresh loop and returns its outcome. Python: `asyncio.run(main())`.
///
/// `main` runs as a task, so [`current_task`](crate::current_task) and [`all_tasks`](crate::all_tasks) see it. On
/// the way out, whatever its outcome: the tasks still alive are cancelled
/// and run until they finish, the loop's shutdown hooks run, and the loop
/// closes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let value = corio_executor::run(async {
///     corio_executor::sleep(Duration::from_millis(1)).await;
///     "done"
/// })?;
/// assert_eq!(value, "done");
/// # Ok::<(), corio_executor::RunError>(())
/// ```
///
/// # Ctrl-C
///
/// On the main thread, when SIGINT has its default disposition (nobody
/// else handles it), `run` handles it as asyncio 3.11's does: the first
/// Ctrl-C cancels the main task (which cancels whatever it awaits), the
/// shutdown above runs, and `run` returns [`RunError::Interrupted`]; a
/// program then ends as CPython does after a `KeyboardInterrupt`, killed
/// by SIGINT (the facade's `corio::Exit` does it). The handler is removed at the
/// first Ctrl-C, so a second one, during a slow shutdown, ends the
/// process at once.
///
/// # Errors
/// [`RunError::Task`] when `main` panicked or was cancelled;
/// [`RunError::Interrupted`] after Ctrl-C; [`RunError::Loop`] when a loop
/// already runs on this thread ([`LoopError::AnotherLoopRunning`]) or the
/// loop cannot be created.
#[track_caller]
pub fn run<F>(main: F) -> Result<F::Output, RunError>
where
    F: StdFuture + 'static,
{
    if get_running_loop().is_ok() {
        return Err(LoopError::AnotherLoopRunning.into());
    }
    let lp = EventLoop::new()?;
    set_event_loop(Some(&lp));
    let task = spawn(&lp.inner, main, Location::caller());
    let interrupted = Rc::new(Cell::new(false));
    cancel_on_ctrl_c(&lp, task.as_ref(), interrupted.clone());
    let mut outcome = run_to_the_end(&lp, task);
    if interrupted.get() && outcome.as_ref().err().is_some_and(RunError::is_cancelled) {
        outcome = Err(RunError::Interrupted);
    }
    outcome
}

/// `run`'s body once the loop and its main task exist: run the task to
/// its end, then asyncio's shutdown (cancel what is left and let it
/// finish, the shutdown hooks, close). Also each loop of a
/// [`Cores`](crate::Cores) runtime.
pub(crate) fn run_to_the_end<T: 'static>(
    lp: &EventLoop,
    task: crate::Task<T>,
) -> Result<T, RunError> {
    let outcome = lp.run_task_until_complete(task);
    cancel_all_tasks(lp);
    lp.run_shutdown_hooks(crate::Shutdown::Graceful);
    set_event_loop(None);
    lp.close()?;
    outcome
}

/// asyncio's `Runner._on_sigint`: on the main thread, if SIGINT has its
/// default disposition, the first Ctrl-C cancels `main` and gives SIGINT
/// back its default (so a second one ends the process).
fn cancel_on_ctrl_c(lp: &EventLoop, main: TaskRef, interrupted: Rc<Cell<bool>>) {
    if !is_main_thread() {
        return;
    }
    match disposition(SIGINT) {
        Ok(Disposition::Default) => {}
        Ok(Disposition::Ignore) => {
            say_sigint_ignored(lp);
            return;
        }
        _ => return,
    }
    // Weakly: the loop owns this handler.
    let me = lp.downgrade();
    let installed = lp.add_signal_handler(SIGINT, move || {
        if interrupted.replace(true) {
            return;
        }
        if let Some(me) = me.upgrade() {
            me.remove_signal_handler(SIGINT).ok();
        }
        main.cancel();
    });
    if let Err(err) = installed {
        lp.inner
            .report("Could not handle Ctrl-C".to_string(), Some(err.to_string()));
    }
}

/// A process started with SIGINT ignored (`cmd &` in a script) is not
/// stopped by Ctrl-C, and `run` respects that, as asyncio does. In debug
/// mode (`CORIO_DEBUG=1`, or the loop's debug flag) it says so, once per
/// process, since it surprises.
fn say_sigint_ignored(lp: &EventLoop) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let debug = lp.get_debug() || std::env::var_os("CORIO_DEBUG").is_some_and(|v| v == "1");
    if debug && !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "corio: SIGINT is ignored in this process (started in the background?): \
             Ctrl-C will not stop run()"
        );
    }
}

/// asyncio's `_cancel_all_tasks`: cancel what is left and let it finish.
fn cancel_all_tasks(lp: &EventLoop) {
    let tasks = lp.all_tasks();
    if tasks.is_empty() {
        return;
    }
    for task in &tasks {
        task.cancel();
    }
    let waiting = tasks.clone();
    let all_done = lp.run_until_complete(async move {
        crate::combinators::wait(waiting, None, crate::ReturnWhen::AllCompleted).await
    });
    if let Err(err) = all_done {
        lp.inner.report(
            "Error while cancelling leftover tasks".to_string(),
            Some(err.to_string()),
        );
    }
    for task in tasks {
        if let Some(err) = task.failure()
            && !err.is_cancelled()
        {
            lp.inner.report(
                format!("Unhandled exception during run() shutdown: {task:?}"),
                Some(err.to_string()),
            );
        }
    }
}
