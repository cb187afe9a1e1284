//! Thread-local state and the module-level functions of asyncio:
//! `get_running_loop`, `get_event_loop`, `set_event_loop`, `new_event_loop`,
//! `create_task`, `ensure_future`, `current_task`, `all_tasks`, `run`.

use std::cell::{Cell, RefCell};
use std::future::Future as StdFuture;
use std::panic::Location;
use std::rc::Rc;

use corio_reactor::signal::{Disposition, SIGINT, disposition, is_main_thread};

use crate::event_loop::{EventLoop, LoopInner};
use crate::remote::TaskKey;
use crate::task::{Cancel, RawTask, Task, TaskRef, spawn};
use crate::{LoopError, RunError};

thread_local! {
    /// The loop running on this thread (asyncio's `_running_loop`).
    static RUNNING: RefCell<Option<Rc<LoopInner>>> = const { RefCell::new(None) };
    /// The loop set with `set_event_loop` (the policy's loop).
    static CURRENT_LOOP: RefCell<Option<EventLoop>> = const { RefCell::new(None) };
}

/// Clears the running loop when `run_forever` ends, even by panic.
pub(crate) struct RunningGuard;

impl Drop for RunningGuard {
    fn drop(&mut self) {
        RUNNING.with(|r| r.borrow_mut().take());
    }
}

pub(crate) fn enter_loop(inner: Rc<LoopInner>) -> Result<RunningGuard, LoopError> {
    RUNNING.with(|r| {
        let mut running = r.borrow_mut();
        if running.is_some() {
            return Err(LoopError::AnotherLoopRunning);
        }
        *running = Some(inner);
        Ok(RunningGuard)
    })
}

/// True when some loop runs on this thread: checked before a run makes any
/// task, so a refused run leaves nothing behind.
pub(crate) fn a_loop_runs_here() -> bool {
    RUNNING.try_with(|r| r.borrow().is_some()).unwrap_or(false)
}

/// Wakes a task of the loop running on this thread, known by its index in
/// the waker table (`raw.rs`); false when that loop is not the one running
/// here (the caller then goes through the remote queue).
pub(crate) fn wake_local_index(index: u16, key: TaskKey) -> bool {
    RUNNING
        .try_with(|r| match &*r.borrow() {
            Some(lp) if lp.waker_index == index => {
                lp.wake_task(key);
                true
            }
            _ => false,
        })
        .unwrap_or(false)
}

pub(crate) fn running_inner() -> Result<Rc<LoopInner>, LoopError> {
    RUNNING
        .with(|r| r.borrow().clone())
        .ok_or(LoopError::NoRunningLoop)
}

/// Panics, as asyncio raises in the awaiting task, when `task` (pending,
/// with `header`) is not a task of the loop running here (a task of
/// another loop would never wake this one), or is the running task itself
/// (it would wait for its own end: asyncio's "Task cannot await on
/// itself").
pub(crate) fn check_same_loop(header: &crate::task::Header, task: *const ()) {
    let Ok(lp) = running_inner() else { return };
    if lp.owns_task(header.key, task) {
        if lp.current.get() == Some(header.key) {
            panic!("Task cannot await on itself: {}", header.describe());
        }
        return;
    }
    let current = current_raw().map_or_else(|| "a callback".to_string(), |t| t.header().describe());
    panic!(
        "Task {current} got Future {} attached to a different loop",
        header.describe()
    );
}

/// Refuses to park the current task on a [`Future`](crate::Future) of
/// another loop (asyncio: "… got Future … attached to a different loop"):
/// that loop would wake it from its own ready queue, or never.
pub(crate) fn check_future_loop(owner: &std::rc::Weak<LoopInner>) {
    let foreign = with_running(|lp| !std::ptr::eq(owner.as_ptr(), Rc::as_ptr(lp)));
    if foreign == Some(true) {
        let current =
            current_raw().map_or_else(|| "a callback".to_string(), |t| t.header().describe());
        panic!("Task {current} got Future <Future pending> attached to a different loop");
    }
}

/// The running loop's current task (its step is running), if any.
fn current_raw() -> Option<Rc<dyn RawTask>> {
    with_running(|lp| lp.with_current(Rc::clone)).flatten()
}

/// Calls `f` with the loop running on this thread, if any.
fn with_running<R>(f: impl FnOnce(&Rc<LoopInner>) -> R) -> Option<R> {
    RUNNING
        .try_with(|r| r.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Records that the current task is parked on `target`, so that cancelling
/// the task cancels `target` (asyncio's `_fut_waiter`).
pub(crate) fn park_current_on(target: Rc<dyn Cancel>) {
    // The old target is dropped after the table's borrow ends: its drop
    // may run code that touches the table.
    let old =
        with_running(|lp| lp.with_current(|task| task.header().awaiting.replace(Some(target))));
    drop(old);
}

/// Reports through the running loop's handler, or to stderr without one.
pub(crate) fn report_unhandled(message: String, detail: Option<String>) {
    let lp = RUNNING.try_with(|r| r.borrow().clone()).ok().flatten();
    match lp {
        Some(lp) => lp.report(message, detail),
        None => match detail {
            Some(detail) => eprintln!("{message}\n  {detail}"),
            None => eprintln!("{message}"),
        },
    }
}

/// The loop running on this thread. Python: `asyncio.get_running_loop()`.
///
/// # Errors
/// [`LoopError::NoRunningLoop`] outside a running loop.
pub fn get_running_loop() -> Result<EventLoop, LoopError> {
    running_inner().map(|inner| EventLoop { inner })
}

/// The running loop, else the one set with [`set_event_loop`].
/// Python: `asyncio.get_event_loop()` (3.14 behaviour: no implicit creation).
///
/// # Errors
/// [`LoopError::NoCurrentLoop`] when neither exists.
pub fn get_event_loop() -> Result<EventLoop, LoopError> {
    if let Ok(lp) = get_running_loop() {
        return Ok(lp);
    }
    CURRENT_LOOP.with(|c| c.borrow().clone()).ok_or_else(|| {
        let name = std::thread::current()
            .name()
            .unwrap_or("unnamed")
            .to_string();
        LoopError::NoCurrentLoop(name)
    })
}

/// Sets (or with `None` clears) this thread's current loop.
/// Python: `asyncio.set_event_loop(loop)`.
pub fn set_event_loop(lp: Option<&EventLoop>) {
    CURRENT_LOOP.with(|c| *c.borrow_mut() = lp.cloned());
}

/// A new loop. Python: `asyncio.new_event_loop()`.
///
/// # Errors
/// As [`EventLoop::new`].
pub fn new_event_loop() -> Result<EventLoop, LoopError> {
    EventLoop::new()
}

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

/// Runs `main` on a fresh loop and returns its outcome. Python: `asyncio.run(main())`.
///
/// `main` runs as a task, so [`current_task`] and [`all_tasks`] see it. On
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
    let mut outcome = lp.run_task_until_complete(task);
    if interrupted.get() && outcome.as_ref().err().is_some_and(RunError::is_cancelled) {
        outcome = Err(RunError::Interrupted);
    }
    cancel_all_tasks(&lp);
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
