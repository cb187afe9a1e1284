//! The loop running on this thread (asyncio's `_running_loop`, set by
//! `run_forever`), asyncio's functions that read it (`get_running_loop`,
//! `get_event_loop`, `set_event_loop`, `new_event_loop`), and what tasks
//! and wakers ask of it: the current task, the same-loop checks a task
//! makes before it parks, a wake on this thread, a report.

use std::cell::RefCell;
use std::rc::Rc;

use super::task_header::{Cancel, Header, RawTask};
use super::{EventLoop, LoopInner};
use crate::LoopError;
use crate::remote::TaskKey;

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
pub(crate) fn check_same_loop(header: &Header, task: *const ()) {
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
pub(crate) fn current_raw() -> Option<Rc<dyn RawTask>> {
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
