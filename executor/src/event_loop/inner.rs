//! The engine behind [`EventLoop`](super::EventLoop): `LoopInner`, its
//! queues and tables, and `_run_once`.
//!
//! One iteration ([`LoopInner::run_once`]) is asyncio's `_run_once` in five
//! phases, each a method:
//!
//! 1. **timeout** (`plan_timeout`): 0 if a callback is ready (or the loop
//!    is stopping), else until the nearest timer, else block;
//! 2. **select** (`poll_io`): wait for I/O; ready fds put their
//!    reader/writer callbacks on the ready queue. Skipped when it could
//!    report nothing (`select_would_report_nothing`);
//! 3. **remote** (`take_remote`): callbacks and wakes sent from other
//!    threads join the queue. corio's own phase: asyncio's self-pipe is
//!    one more fd whose callback runs in phase 5; here the queue is read
//!    at once, so a remote callback runs in this iteration. A virtual
//!    clock jumps to its next timer here when nothing came
//!    (`jump_virtual_clock`);
//! 4. **timers** (`collect_due_timers`): callbacks whose deadline has come
//!    join the queue;
//! 5. **run** (`run_ready`): run exactly the callbacks that were ready at
//!    this point; whatever they schedule waits for the next iteration.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use corio_reactor::{
    DefaultSelector, EVENT_READ, EVENT_WRITE, Events, Selector, SelectorError, signal,
};
use corio_timer::{Clock, TimerId, TimerQueue};

use super::Shutdown;
use super::handle::{Callback, Handle, TimerHandle, callback};
use super::task_table::TaskTable;
use crate::LoopError;
use crate::remote::{Remote, RemoteItem, TaskKey};
use crate::task::{RawTask, TaskRef, panic_message};

/// Source of unique loop ids (to tell loops apart in thread-local state).
static LOOP_IDS: AtomicU64 = AtomicU64::new(1);

/// Something the ready queue runs.
pub(crate) enum Runnable {
    /// A `call_soon` / timer callback.
    Callback(Rc<dyn Callback>),
    /// A reader or writer callback of an fd (runs every time it is ready).
    Io(Rc<IoCallback>),
    /// One step of a task.
    Step(Rc<dyn RawTask>),
}

/// What the timer queue holds.
pub(crate) enum TimerEntry {
    /// A `call_later` / `call_at` callback.
    Callback(Rc<dyn Callback>),
    /// A sleeping task's waker.
    Wake(Waker),
}

/// What phase 1 of an iteration decided, for the phases after it.
struct Plan {
    /// The nearest timer's deadline.
    next_timer: Option<Instant>,
    /// The clock as phase 1 read it (only when a timer exists).
    now: Option<Instant>,
    /// How long `select` may block (`None`: until an fd is ready).
    select_timeout: Option<Duration>,
    /// A virtual clock's next timer, to jump to if nothing else happens.
    jump_to: Option<Instant>,
}

/// What `run_one` ran, for a slow-callback report.
enum Ran {
    Step(Rc<dyn RawTask>),
    Callback,
    Io,
}

impl Ran {
    fn describe(&self) -> String {
        match self {
            Ran::Step(task) => task.header().describe(),
            Ran::Callback => "a callback".to_string(),
            Ran::Io => "an I/O callback".to_string(),
        }
    }
}

/// A callback registered with `add_reader` / `add_writer`.
pub(crate) struct IoCallback {
    cancelled: Cell<bool>,
    callback: Box<dyn Fn()>,
}

/// The selector's `data` for an fd: its reader and writer, as in asyncio.
#[derive(Clone, Default)]
pub(crate) struct IoHandlers {
    reader: Option<Rc<IoCallback>>,
    writer: Option<Rc<IoCallback>>,
}

/// Slots the ready queue keeps when it shrinks after a burst.
const READY_KEEP: usize = 1024;

/// What the exception handler is told. Python: the `context` dict.
#[derive(Debug, Clone)]
pub struct ExceptionContext {
    /// Python: `context['message']`.
    pub message: String,
    /// The panic message or error text, if any. Python: `context['exception']`.
    pub exception: Option<String>,
}

pub(super) type ExceptionHandler = Rc<dyn Fn(&ExceptionContext)>;
pub(super) type ShutdownHook = Box<dyn FnOnce(Shutdown)>;

/// The state behind an [`EventLoop`]; tasks, handles and wakers point here.
pub(crate) struct LoopInner {
    /// asyncio's `_ready`.
    pub(super) ready: RefCell<VecDeque<Runnable>>,
    /// asyncio's `_scheduled`.
    pub(super) scheduled: RefCell<TimerQueue<TimerEntry>>,
    /// asyncio's `_selector`; each key's data holds the fd's reader/writer.
    pub(super) selector: RefCell<DefaultSelector<IoHandlers>>,
    /// The thread-safe queue, and the eventfd that wakes `select`.
    pub(crate) remote: Arc<Remote>,
    /// Where `time()` comes from.
    pub(super) clock: Clock,
    /// Idle, running (and stopping), closing or closed.
    state: Cell<LoopState>,
    pub(super) tasks: RefCell<TaskTable>,
    pub(super) exception_handler: RefCell<Option<ExceptionHandler>>,
    pub(super) debug: Cell<bool>,
    pub(super) slow_callback_duration: Cell<Duration>,
    /// The thread's timer slack while running (`None`: left alone).
    pub(super) timer_slack: Cell<Option<Duration>>,
    /// Run once by `run()` and `close()` (the offload crate registers the
    /// default executor's shutdown here).
    pub(super) shutdown_hooks: RefCell<Vec<ShutdownHook>>,
    /// Run by `close`, after the pending tasks are dropped
    /// (`EventLoop::add_close_hook`).
    pub(super) close_hooks: RefCell<Vec<Box<dyn FnOnce()>>>,
    /// Loop-local values of the crates above (see `EventLoop::extension`);
    /// asyncio's private loop attributes such as `_default_executor`.
    pub(super) extensions: RefCell<Vec<Rc<dyn Any>>>,
    /// The key of the task whose step is running (asyncio's
    /// `_current_tasks[loop]`); a key, not an `Rc`, so that a step costs
    /// no reference count (the task is in the table while it steps).
    pub(crate) current: Cell<Option<TaskKey>>,
    /// Scratch buffers reused by every iteration.
    pub(super) due: RefCell<Vec<TimerEntry>>,
    pub(super) remote_items: RefCell<Vec<RemoteItem>>,
    /// Signal handlers and their pipe, once one is added.
    pub(super) signals: RefCell<Option<super::signals::Signals>>,
    /// How many registered fds are the loop's own: its waker, and its
    /// signal pipe once it has one. Only these registered: a zero-timeout
    /// select can be skipped (phase 2).
    pub(super) internal_fds: Cell<usize>,
    /// The loop's index in the waker table (`raw.rs`): its tasks' wakers
    /// carry it.
    pub(crate) waker_index: u16,
    /// How many selects ran (`EventLoop::select_calls`).
    pub(super) select_calls: Cell<u64>,
    /// `signal::signals_written()` as read before the last select: a
    /// different count means a signal pipe may be readable.
    pub(super) signals_seen: Cell<u64>,
}

/// Where a loop is in its life: asyncio's `is_running()`, `_stopping`
/// and `_closed` in one value, so that no combination of them can be
/// wrong (running and closed at once, say).
///
/// ```text
///         run_forever            stop / a due stop
///   Idle ──────────────▶ Running ─────────────────▶ Running { stopping }
///    ▲ │                    │ (the iteration ends)        │
///    │ │ close              ▼                             │
///    │ ▼                  Idle ◀──────────────────────────┘
///   Closing ──▶ Closed      (restored by a guard, also when a run unwinds)
/// ```
///
/// `stop()` on an idle loop is remembered (`Idle { stop_requested }`):
/// the next `run_forever` runs one iteration and returns, as asyncio's
/// `_stopping` does. `Closing` is `close()` at work: scheduling is still
/// accepted (and discarded), so that destructors may call back in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoopState {
    Idle { stop_requested: bool },
    Running { stopping: bool },
    Closing,
    Closed,
}

/// Puts a running loop back to `Idle` however `run_forever` ends, a panic
/// included: asyncio's `finally` in `run_forever`.
pub(super) struct RunningGuard<'a>(&'a LoopInner);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.state.set(LoopState::Idle {
            stop_requested: false,
        });
    }
}

/// A loop nobody closed is closed when its last `EventLoop` goes: nothing
/// of corio's holds a loop strongly from inside it (tasks, timers, wakers,
/// transports hold it weakly), so this runs once the user's handles are
/// gone.
impl Drop for LoopInner {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl LoopInner {
    /// A loop's state on `clock`: its selector with the eventfd registered,
    /// its slot in the waker table, empty queues. asyncio's
    /// `BaseSelectorEventLoop.__init__`.
    ///
    /// # Errors
    /// [`LoopError::Selector`] when the epoll fd or the eventfd cannot be
    /// had, or the waker table is full.
    pub(super) fn new(clock: Clock) -> Result<LoopInner, LoopError> {
        let fail = |e: &dyn fmt::Display| LoopError::Selector(e.to_string());
        let id = LOOP_IDS.fetch_add(1, Ordering::Relaxed);
        let remote = Arc::new(Remote::new(id).map_err(|e| fail(&e))?);
        let mut selector = DefaultSelector::new().map_err(|e| fail(&e))?;
        selector
            .register(remote.waker.as_raw_fd(), EVENT_READ, IoHandlers::default())
            .map_err(|e| fail(&e))?;
        let waker_index = crate::raw::register_loop(&remote).ok_or_else(|| {
            LoopError::Selector("more than 32,768 event loops alive at once".into())
        })?;
        Ok(LoopInner {
            ready: RefCell::new(VecDeque::new()),
            scheduled: RefCell::new(TimerQueue::new()),
            selector: RefCell::new(selector),
            remote,
            clock,
            state: Cell::new(LoopState::Idle {
                stop_requested: false,
            }),
            tasks: RefCell::new(TaskTable::default()),
            exception_handler: RefCell::new(None),
            debug: Cell::new(false),
            slow_callback_duration: Cell::new(super::DEFAULT_SLOW_CALLBACK_DURATION),
            timer_slack: Cell::new(Some(super::DEFAULT_TIMER_SLACK)),
            shutdown_hooks: RefCell::new(Vec::new()),
            close_hooks: RefCell::new(Vec::new()),
            extensions: RefCell::new(Vec::new()),
            current: Cell::new(None),
            due: RefCell::new(Vec::new()),
            remote_items: RefCell::new(Vec::new()),
            signals: RefCell::new(None),
            internal_fds: Cell::new(1),
            select_calls: Cell::new(0),
            waker_index,
            signals_seen: Cell::new(corio_reactor::signal::signals_written()),
        })
    }

    /// `EventLoop::close`, and close on drop (see its docs for the order).
    pub(super) fn close_now(&self) {
        if matches!(self.state.get(), LoopState::Closing | LoopState::Closed) {
            return;
        }
        self.state.set(LoopState::Closing);
        self.run_shutdown_hooks(Shutdown::Close);
        // Signals first: their dispositions go back before the pipe closes.
        if let Some(mut signals) = self.signals.take() {
            signals.restore_all();
        }
        self.drop_pending_tasks();
        for hook in self.close_hooks.take() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) {
                self.report(
                    "Exception in close hook".to_string(),
                    Some(panic_message(&*payload)),
                );
            }
        }
        // Taken out before they drop: a callback's drop may call back into
        // the loop (a transport removing its reader), which must find the
        // selector free.
        let keys = self.selector.borrow_mut().close_and_take_keys();
        self.drop_reporting_panics("I/O callbacks", keys);
        // Discard what those drops scheduled, until nothing is left.
        loop {
            let ready: Vec<_> = self.ready.borrow_mut().drain(..).collect();
            let timers = self.scheduled.borrow_mut().drain();
            if ready.is_empty() && timers.is_empty() && !self.has_tasks() {
                break;
            }
            self.drop_reporting_panics("callbacks", (ready, timers));
            self.drop_pending_tasks();
        }
        self.state.set(LoopState::Closed);
        // What other threads sent meanwhile is dropped too.
        drop(self.remote.close());
    }

    /// Drops what `close` discards. Its destructors are user code: a panic
    /// in one is reported and `close` goes on, so that the loop still ends
    /// closed with every fd released (what `Drop` cannot promise once a
    /// panic escapes it).
    fn drop_reporting_panics<T>(&self, what: &str, discarded: T) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(discarded))) {
            self.report(
                format!("Exception while dropping the loop's {what}"),
                Some(panic_message(&*payload)),
            );
        }
    }

    /// Reports and drops every task still pending (loop close); a panic in
    /// a coroutine's destructor is reported, and the next task is dropped.
    fn drop_pending_tasks(&self) {
        let pending = self.tasks.borrow_mut().take_all();
        for task in pending {
            self.report(
                format!(
                    "Task was destroyed but it is pending! {}",
                    task.header().describe()
                ),
                None,
            );
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task.abandon())) {
                self.report(
                    format!("Exception while dropping {}", task.header().describe()),
                    Some(panic_message(&*payload)),
                );
            }
        }
    }

    /// True when the pending task at `key` is `task` (compared by address).
    pub(crate) fn owns_task(&self, key: TaskKey, task: *const ()) -> bool {
        let tasks = self.tasks.borrow();
        tasks
            .get(key)
            .is_some_and(|t| std::ptr::addr_eq(Rc::as_ptr(t), task))
    }

    fn has_tasks(&self) -> bool {
        !self.tasks.borrow().is_empty()
    }

    pub(super) fn run_shutdown_hooks(&self, kind: Shutdown) {
        let hooks = self.shutdown_hooks.take();
        for hook in hooks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| hook(kind))) {
                self.report(
                    "Exception in shutdown hook".to_string(),
                    Some(panic_message(&*payload)),
                );
            }
        }
    }

    pub(crate) fn time(&self) -> Instant {
        self.clock.now()
    }

    fn check_open(&self) {
        assert!(!self.is_closed(), "Event loop is closed");
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.get() == LoopState::Closed
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state.get(), LoopState::Running { .. })
    }

    /// The current iteration is the last one (asyncio's `_stopping`).
    fn is_stopping(&self) -> bool {
        self.state.get() == LoopState::Running { stopping: true }
    }

    /// asyncio's `stop()`: the running loop stops after this iteration; an
    /// idle one runs one iteration when it next runs.
    pub(crate) fn stop(&self) {
        match self.state.get() {
            LoopState::Running { .. } => self.state.set(LoopState::Running { stopping: true }),
            LoopState::Idle { .. } => self.state.set(LoopState::Idle {
                stop_requested: true,
            }),
            LoopState::Closing | LoopState::Closed => {}
        }
    }

    /// asyncio's `run_forever`: iterations until a stop.
    ///
    /// # Errors
    /// [`LoopError::Closed`], [`LoopError::AlreadyRunning`].
    pub(super) fn run_forever(self: &Rc<Self>) -> Result<(), LoopError> {
        let stopping = match self.state.get() {
            LoopState::Idle { stop_requested } => stop_requested,
            LoopState::Running { .. } => return Err(LoopError::AlreadyRunning),
            LoopState::Closing | LoopState::Closed => return Err(LoopError::Closed),
        };
        self.state.set(LoopState::Running { stopping });
        let _idle_after = RunningGuard(self);
        loop {
            self.run_once();
            if self.is_stopping() {
                return Ok(());
            }
        }
    }

    pub(crate) fn call_soon_internal(&self, f: impl FnOnce() + 'static) -> Handle {
        self.check_open();
        let inner = callback(f);
        self.ready
            .borrow_mut()
            .push_back(Runnable::Callback(inner.clone()));
        Handle { inner }
    }

    pub(crate) fn call_at_internal(
        self: &Rc<Self>,
        when: Instant,
        f: impl FnOnce() + 'static,
    ) -> TimerHandle {
        self.check_open();
        let inner = callback(f);
        let id = self
            .scheduled
            .borrow_mut()
            .schedule(when, TimerEntry::Callback(inner.clone()));
        TimerHandle {
            handle: Handle { inner },
            id,
            when,
            event_loop: Rc::downgrade(self),
        }
    }

    /// Wakes `waker` at `when`: what `sleep` uses, with no callback to
    /// allocate. Cancel it with [`cancel_timer`](Self::cancel_timer).
    pub(crate) fn wake_at(&self, when: Instant, waker: Waker) -> TimerId {
        self.check_open();
        self.scheduled
            .borrow_mut()
            .schedule(when, TimerEntry::Wake(waker))
    }

    /// For a sleep's timer `id`: `None` once it fired or was cancelled,
    /// else whether the waker it holds wakes the same task as `waker` (a
    /// sleep moved to another task must re-arm).
    pub(crate) fn timer_wakes(&self, id: TimerId, waker: &Waker) -> Option<bool> {
        // Borrowed elsewhere only while the queue is being changed, never
        // during a step; "still scheduled, same waker" is then the safe
        // answer (the sleep stays as it is).
        let Ok(scheduled) = self.scheduled.try_borrow() else {
            return Some(true);
        };
        match scheduled.get(id)? {
            TimerEntry::Wake(held) => Some(held.will_wake(waker)),
            TimerEntry::Callback(_) => Some(false),
        }
    }

    pub(crate) fn cancel_timer(&self, id: TimerId) {
        if let Ok(mut scheduled) = self.scheduled.try_borrow_mut() {
            scheduled.cancel(id);
        }
    }

    /// Reserves a task slot, builds the task with its key and the loop's
    /// waker index, and schedules its first step.
    pub(crate) fn insert_task<R: RawTask + 'static>(
        self: &Rc<Self>,
        build: impl FnOnce(TaskKey, u16) -> Rc<R>,
    ) -> Rc<R> {
        self.check_open();
        let key = self.tasks.borrow_mut().vacant();
        let task = build(key, self.waker_index);
        self.tasks.borrow_mut().fill(key, task.clone());
        task.header().scheduled.set(true);
        self.ready
            .borrow_mut()
            .push_back(Runnable::Step(task.clone()));
        task
    }

    pub(crate) fn forget_task(&self, key: TaskKey) {
        // Dropped outside the borrow: a task's drop may report through the loop.
        let task = self.tasks.borrow_mut().remove(key);
        drop(task);
    }

    /// Schedules one step of the task, unless one is already queued.
    /// Calls `f` with the task whose step is running, if any.
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&Rc<dyn RawTask>) -> R) -> Option<R> {
        let key = self.current.get()?;
        let tasks = self.tasks.borrow();
        tasks.get(key).map(f)
    }

    pub(crate) fn wake_task(&self, key: TaskKey) {
        let tasks = self.tasks.borrow();
        if let Some(task) = tasks.get_for_wake(key)
            && !task.header().scheduled.replace(true)
        {
            self.ready
                .borrow_mut()
                .push_back(Runnable::Step(task.clone()));
        }
    }

    pub(crate) fn all_tasks(&self) -> Vec<TaskRef> {
        let tasks = self.tasks.borrow();
        tasks.iter().cloned().map(TaskRef::from_raw).collect()
    }

    /// Calls the exception handler (or the default one, stderr).
    pub(crate) fn report(&self, message: String, exception: Option<String>) {
        let context = ExceptionContext { message, exception };
        let handler = self.exception_handler.borrow().clone();
        match handler {
            Some(handler) => {
                if catch_unwind(AssertUnwindSafe(|| handler(&context))).is_err() {
                    eprintln!("Unhandled error in exception handler; context: {context:?}");
                }
            }
            None => default_exception_handler(&context),
        }
    }

    // ------------------------------------------------------- _run_once ---

    /// One iteration of the loop (see the module docs for the phases).
    pub(crate) fn run_once(self: &Rc<Self>) {
        let plan = self.plan_timeout();
        let (io_events, woken) = self.poll_io(&plan);
        let remote_count = self.take_remote(woken);
        if io_events == 0 && remote_count == 0 {
            self.jump_virtual_clock(&plan);
        }
        self.collect_due_timers(&plan, io_events);
        self.run_ready();
    }

    /// Phase 1: how long `select` may block. 0 if a callback is ready or
    /// the loop is stopping, else until the nearest timer, else forever.
    /// The precise clock is read only when a timer exists: without one, no
    /// decision here depends on the time.
    #[inline]
    fn plan_timeout(&self) -> Plan {
        let next_timer = self.scheduled.borrow_mut().next_deadline();
        let now = next_timer.map(|_| self.clock.now());
        let timeout = if !self.ready.borrow().is_empty() || self.is_stopping() {
            Some(Duration::ZERO)
        } else {
            next_timer
                .zip(now)
                .map(|(deadline, now)| deadline.saturating_duration_since(now))
        };
        // A virtual clock never sleeps for a timer: poll I/O, then jump.
        let jump_to =
            next_timer.filter(|_| self.clock.is_virtual() && timeout != Some(Duration::ZERO));
        Plan {
            next_timer,
            now,
            select_timeout: if jump_to.is_some() {
                Some(Duration::ZERO)
            } else {
                timeout
            },
            jump_to,
        }
    }

    /// Phase 2: `select`, unless it is known to report nothing; returns
    /// how many fds were reported, and whether the loop's own eventfd was
    /// one of them.
    #[inline]
    fn poll_io(&self, plan: &Plan) -> (usize, bool) {
        let signals_written = signal::signals_written();
        if self.select_would_report_nothing(plan.select_timeout, signals_written) {
            return (0, false);
        }
        self.signals_seen.set(signals_written);
        self.select_io(plan.select_timeout)
    }

    /// The select skip: a zero-timeout `select` while no fd is registered
    /// but the loop's own can report nothing phase 3 does not learn
    /// otherwise (the eventfd's news is an atomic flag, the signal pipe's a
    /// process-wide count of written signals), so the syscall is saved.
    /// asyncio always selects; the ordering is the same either way.
    #[inline]
    fn select_would_report_nothing(&self, timeout: Option<Duration>, signals: u64) -> bool {
        timeout == Some(Duration::ZERO)
            && self.selector.borrow().len() == self.internal_fds.get()
            && signals == self.signals_seen.get()
    }

    /// Phase 3: callbacks and wakes sent from other threads join the ready
    /// queue; how many came. A readable eventfd is always emptied, even if
    /// the queue turns out empty, or level-triggered `select` would report
    /// it again at once.
    #[inline]
    fn take_remote(&self, woken: bool) -> usize {
        if woken || self.remote.has_pending() {
            self.drain_remote()
        } else {
            0
        }
    }

    /// The virtual clock's jump: when an iteration found no I/O and no
    /// remote work, time moves to the next timer instead of being waited
    /// for (trio's autojump clock). A real clock never jumps.
    #[inline]
    fn jump_virtual_clock(&self, plan: &Plan) {
        if let Some(deadline) = plan.jump_to {
            self.clock.advance_to(deadline);
        }
    }

    /// Phase 4: timers whose deadline has come join the ready queue. The
    /// clock is read again only if time may have passed since phase 1;
    /// nothing is done when no timer is due.
    #[inline]
    fn collect_due_timers(&self, plan: &Plan, io_events: usize) {
        let (Some(deadline), Some(mut now)) = (plan.next_timer, plan.now) else {
            return;
        };
        if plan.select_timeout != Some(Duration::ZERO) || plan.jump_to.is_some() || io_events > 0 {
            now = self.clock.now();
        }
        if deadline <= now {
            self.move_due_timers(now);
        }
    }

    /// Phase 5: runs exactly the callbacks ready now; whatever they
    /// schedule waits for the next iteration. Only debug mode times each
    /// item for the slow-callback report, as asyncio does: outside it, an
    /// item costs a queue pop and a call.
    #[inline]
    fn run_ready(self: &Rc<Self>) {
        self.shrink_ready();
        let ntodo = self.ready.borrow().len();
        if self.debug.get() {
            self.run_ready_timed(ntodo);
            return;
        }
        for _ in 0..ntodo {
            let Some(runnable) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.run_one(runnable);
        }
    }

    /// A ready queue that held a burst gives the memory back once it is
    /// mostly empty (it keeps `READY_KEEP` slots, and twice what it holds).
    fn shrink_ready(&self) {
        let mut ready = self.ready.borrow_mut();
        let capacity = ready.capacity();
        if capacity > READY_KEEP && ready.len() * 4 < capacity {
            let keep = (ready.len() * 2).max(READY_KEEP);
            ready.shrink_to(keep);
        }
    }

    /// Phase 5 in debug mode: reports each item slower than
    /// `slow_callback_duration`, timed on the monotonic clock (not the
    /// loop's, which may be virtual).
    fn run_ready_timed(self: &Rc<Self>, ntodo: usize) {
        let mut started = Instant::now();
        for _ in 0..ntodo {
            let Some(runnable) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            let ran = match &runnable {
                Runnable::Step(task) => Ran::Step(task.clone()),
                Runnable::Callback(_) => Ran::Callback,
                Runnable::Io(_) => Ran::Io,
            };
            self.run_one(runnable);
            let finished = Instant::now();
            let took = finished.duration_since(started);
            if took >= self.slow_callback_duration.get() {
                self.report(
                    format!(
                        "Executing {} took {:.3} seconds",
                        ran.describe(),
                        took.as_secs_f64()
                    ),
                    None,
                );
            }
            started = finished;
        }
    }

    /// Phase 4: moves what is due at `now` to the ready queue, in deadline
    /// order: a callback joins the queue, a waker queues its task's step
    /// (the same thing, one allocation less).
    fn move_due_timers(&self, now: Instant) {
        let mut due = self.due.borrow_mut();
        self.scheduled.borrow_mut().pop_due(now, &mut due);
        for entry in due.drain(..) {
            match entry {
                TimerEntry::Callback(cb) if !cb.cancelled() => {
                    self.ready.borrow_mut().push_back(Runnable::Callback(cb));
                }
                TimerEntry::Callback(_) => {}
                TimerEntry::Wake(waker) => waker.wake(),
            }
        }
    }

    /// Phase 2: returns how many fds were reported, and whether the loop's
    /// own eventfd was one of them.
    fn select_io(&self, timeout: Option<Duration>) -> (usize, bool) {
        self.select_calls.set(self.select_calls.get() + 1);
        let waker_fd = self.remote.waker.as_raw_fd();
        let mut woken = false;
        let mut selector = self.selector.borrow_mut();
        let mut ready = self.ready.borrow_mut();
        let result = selector.select_with(timeout, |key, events| {
            if key.fd == waker_fd {
                woken = true; // the remote queue is drained in phase 3
                return;
            }
            if events.is_readable()
                && let Some(reader) = &key.data.reader
            {
                ready.push_back(Runnable::Io(reader.clone()));
            }
            if events.is_writable()
                && let Some(writer) = &key.data.writer
            {
                ready.push_back(Runnable::Io(writer.clone()));
            }
        });
        drop((selector, ready));
        match result {
            Ok(count) => (count, woken),
            Err(err) => {
                self.report("Selector failed".to_string(), Some(err.to_string()));
                (0, false)
            }
        }
    }

    fn drain_remote(&self) -> usize {
        let mut items = self.remote_items.borrow_mut();
        if let Err(err) = self.remote.drain(&mut items) {
            self.report(
                "Could not drain the loop's waker".to_string(),
                Some(err.to_string()),
            );
        }
        let count = items.len();
        for item in items.drain(..) {
            match item {
                RemoteItem::Call(f) => {
                    self.ready
                        .borrow_mut()
                        .push_back(Runnable::Callback(callback(f)));
                }
                RemoteItem::Wake(key) => self.wake_task(key),
                RemoteItem::Stop => self.stop(),
            }
        }
        count
    }

    /// Runs one ready item, catching panics.
    fn run_one(self: &Rc<Self>, runnable: Runnable) {
        match runnable {
            // A panic inside the coroutine is caught by the step itself.
            Runnable::Step(task) => task.step(self),
            Runnable::Callback(cb) => {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(|| cb.run())) {
                    self.report(
                        "Exception in callback".to_string(),
                        Some(panic_message(&*payload)),
                    );
                }
            }
            Runnable::Io(io) => {
                if !io.cancelled.get()
                    && let Err(payload) = catch_unwind(AssertUnwindSafe(|| (io.callback)()))
                {
                    self.report(
                        "Exception in I/O callback".to_string(),
                        Some(panic_message(&*payload)),
                    );
                }
            }
        }
    }

    // --------------------------------------------------- readers/writers ---

    pub(super) fn add_io(
        &self,
        fd: RawFd,
        interest: Events,
        f: Box<dyn Fn()>,
    ) -> Result<(), SelectorError> {
        if self.is_closed() {
            return Err(SelectorError::Closed);
        }
        let new = Rc::new(IoCallback {
            cancelled: Cell::new(false),
            callback: f,
        });
        let mut selector = self.selector.borrow_mut();
        let (mut handlers, events) = match selector.get_key(fd) {
            Ok(key) => (key.data.clone(), key.events),
            Err(SelectorError::NotRegistered { .. }) => (IoHandlers::default(), Events::NONE),
            Err(e) => return Err(e),
        };
        let old = if interest == EVENT_READ {
            handlers.reader.replace(new)
        } else {
            handlers.writer.replace(new)
        };
        if let Some(old) = old {
            old.cancelled.set(true);
        }
        if events.is_empty() {
            selector.register(fd, interest, handlers)?;
        } else {
            selector.modify(fd, events | interest, handlers)?;
        }
        Ok(())
    }

    pub(super) fn remove_io(&self, fd: RawFd, interest: Events) -> bool {
        if self.is_closed() {
            return false;
        }
        let mut selector = self.selector.borrow_mut();
        let Ok(key) = selector.get_key(fd) else {
            return false;
        };
        let (mut handlers, events) = (key.data.clone(), key.events);
        let old = if interest == EVENT_READ {
            handlers.reader.take()
        } else {
            handlers.writer.take()
        };
        let Some(old) = old else { return false };
        old.cancelled.set(true);
        let remaining = if interest == EVENT_READ {
            events & EVENT_WRITE
        } else {
            events & EVENT_READ
        };
        // The fd may have been closed already: unregister/modify then fail
        // with EBADF and the key is dropped, which is all we want.
        if remaining.is_empty() {
            selector.unregister(fd).ok();
        } else {
            selector.modify(fd, remaining, handlers).ok();
        }
        true
    }
}

fn default_exception_handler(context: &ExceptionContext) {
    match &context.exception {
        Some(exception) => eprintln!("{}\n  {exception}", context.message),
        None => eprintln!("{}", context.message),
    }
}
