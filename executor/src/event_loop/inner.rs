//! The engine behind [`EventLoop`](super::EventLoop): `LoopInner`, its
//! state, its queues and tables, and the calls that schedule on them.
//!
//! The rest of the engine is beside it: `run_once.rs` (asyncio's
//! `_run_once`, in five phases), `observed.rs` (the same iteration,
//! counted and recorded), `shown.rs` (metrics, traces and the inspector's
//! questions, to the outside), `io.rs` (`add_reader`/`add_writer` on the
//! selector), `close.rs` (how a loop's life ends), `task_table.rs` and
//! `task_header.rs` (the tasks it runs), `running.rs` (the thread's
//! running loop).

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Waker;
use std::time::{Duration, Instant};

use corio_reactor::{DefaultSelector, EVENT_READ, Selector};
use corio_timer::{Clock, TimerId, TimerQueue};

use super::Shutdown;
use super::handle::{Callback, Handle, TimerHandle, callback};
use super::io::{IoCallback, IoHandlers};
use super::task_header::RawTask;
use super::task_table::TaskTable;
use crate::LoopError;
use crate::observe::stats::LoopStats;
use crate::observe::trace::{Kind, TraceRing};
use crate::remote::{Remote, RemoteItem, TaskKey};

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
    pub(super) state: Cell<LoopState>,
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
    /// Waking I/O callbacks a select reported, run right after it.
    pub(super) io_wakes: RefCell<Vec<Rc<IoCallback>>>,
    /// Signal handlers and their pipe, once one is added.
    pub(super) signals: RefCell<Option<super::signals::Signals>>,
    /// How many registered fds are the loop's own: its waker, and its
    /// signal pipe once it has one. Only these registered: a zero-timeout
    /// select can be skipped (phase 2).
    pub(super) internal_fds: Cell<usize>,
    /// The loop's index in the waker table (`raw.rs`): its tasks' wakers
    /// carry it.
    pub(crate) waker_index: u16,
    /// How many selects ran (`EventLoop::io_tick`).
    pub(super) io_tick: Cell<u64>,
    /// Items run since the last select (phase 2's interval rule); the
    /// first iteration of each run selects.
    pub(super) ran_since_select: Cell<u32>,
    /// Items that may run between two selects while work is ready
    /// (`EventLoop::set_select_interval`; 1 is asyncio's every iteration).
    pub(super) select_interval: Cell<u32>,
    /// `signal::signals_written()` as read before the last select: a
    /// different count means a signal pipe may be readable.
    pub(super) signals_seen: Cell<u64>,
    /// Its metrics, readable from any thread (`observe/stats.rs`).
    pub(crate) stats: Arc<LoopStats>,
    /// True when an iteration takes the observed path (`observed.rs`):
    /// metrics on, debug mode or the recorder on. The one branch that
    /// switching them all off leaves.
    pub(super) observed: Cell<bool>,
    /// Debug mode or the recorder: every item timed (`run_ready_observed`).
    pub(super) timed: Cell<bool>,
    /// The recorder is on (`trace` holds a ring).
    pub(super) tracing_on: Cell<bool>,
    pub(super) metrics_on: Cell<bool>,
    /// The flight recorder, while it records (`set_trace`).
    pub(crate) trace: RefCell<Option<TraceRing>>,
    /// What the inspector shows of each task beyond its header, by slot.
    /// Sparse (only tasks with a timed step or a wait note have one), by
    /// task number; pruned of finished tasks as it grows (`with_note`).
    pub(crate) task_notes: RefCell<std::collections::HashMap<u64, (TaskKey, TaskNote)>>,
    /// Items run with metrics on (their ids for the watchdog).
    pub(super) item_seq: Cell<u64>,
    /// The notes' size after their last pruning.
    pub(super) note_floor: Cell<usize>,
    /// Inspector trace sessions recording now, and whether the first one
    /// switched the recorder on (`inspector_trace_begin`).
    pub(super) inspector_traces: Cell<u32>,
    pub(super) inspector_switched: Cell<bool>,
    /// The item (`item_seq`) at or past which the next step is timed on
    /// the precise clock, and the xorshift state that draws the gaps
    /// (`sample_gap`).
    pub(super) next_sample: Cell<u64>,
    pub(super) sample_seed: Cell<u32>,
    /// The recorder's (and debug mode's) last clock reading.
    pub(super) trace_clock: Cell<u64>,
    /// The watchdog watches this loop (`observe/watchdog.rs`).
    pub(super) watched: Cell<bool>,
}

/// What the inspector knows of a task beyond its header: its poll time
/// (the timed steps' sum, scaled by the sampling period), and the last
/// wait it noted (see `observe::inspect::note_wait`), valid while the
/// task's step count is still `at_step`.
#[derive(Default, Clone, Copy)]
pub(crate) struct TaskNote {
    pub(crate) poll_ns: u64,
    pub(crate) wait: Option<(&'static str, usize)>,
    pub(crate) at_step: u32,
    /// Steps of it timed on the precise clock (all of them in debug mode
    /// or while tracing; about one per `POLL_SAMPLE_PERIOD` items
    /// otherwise).
    pub(crate) timed_steps: u32,
    /// A slow step of it was reported (once per task outside debug mode).
    pub(crate) slow_reported: bool,
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
        // A sync primitive's misuse found in a drop goes to the running
        // loop's exception handler (installed once per process).
        corio_sync::set_misuse_hook(report_sync_misuse);
        // What a task parks on, for the inspector (kept only while it runs).
        corio_sync::set_wait_hook(crate::observe::inspect::note_wait);
        crate::observe::inspect::enable_from_env();
        let waker_index = crate::remote::register_loop(&remote).ok_or_else(|| {
            LoopError::Selector("more than 32,768 event loops alive at once".into())
        })?;
        let stats = LoopStats::new(id, &remote);
        let metrics_on = crate::observe::metrics_default();
        stats.enabled.set(u64::from(metrics_on));
        stats.fds_registered.set(1);
        let trace = crate::observe::trace::from_env();
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
            io_wakes: RefCell::new(Vec::new()),
            signals: RefCell::new(None),
            internal_fds: Cell::new(1),
            io_tick: Cell::new(0),
            ran_since_select: Cell::new(u32::MAX),
            select_interval: Cell::new(super::run_once::default_select_interval()),
            waker_index,
            signals_seen: Cell::new(corio_reactor::signal::signals_written()),
            stats,
            observed: Cell::new(metrics_on || trace.is_some()),
            timed: Cell::new(trace.is_some()),
            tracing_on: Cell::new(trace.is_some()),
            metrics_on: Cell::new(metrics_on),
            trace: RefCell::new(trace),
            task_notes: RefCell::new(std::collections::HashMap::new()),
            item_seq: Cell::new(0),
            note_floor: Cell::new(32),
            inspector_traces: Cell::new(0),
            inspector_switched: Cell::new(false),
            next_sample: Cell::new(0),
            sample_seed: Cell::new(0x9E37_79B9 ^ (id as u32)),
            trace_clock: Cell::new(corio_timer::monotonic_ns()),
            watched: Cell::new(false),
        })
    }

    /// Calls `f` with the inspector's note of task `number` (at `key`),
    /// made if it has none. The notes are pruned of finished tasks each
    /// time they double past the live tasks, so they stay within a few
    /// times the tasks that got one.
    pub(crate) fn with_note<R>(
        &self,
        key: TaskKey,
        number: u64,
        f: impl FnOnce(&mut TaskNote) -> R,
    ) -> Option<R> {
        let mut notes = self.task_notes.try_borrow_mut().ok()?;
        if notes.len() >= 2 * self.note_floor.get() && !notes.contains_key(&number) {
            // Each note is checked against its slot: O(notes), amortized
            // over the notes made since the last pruning.
            if let Ok(tasks) = self.tasks.try_borrow() {
                notes.retain(|n, (k, _)| tasks.get(*k).is_some_and(|t| t.header().number == *n));
            }
            self.note_floor.set(notes.len().max(32));
        }
        let (_, note) = notes
            .entry(number)
            .or_insert_with(|| (key, TaskNote::default()));
        Some(f(note))
    }

    /// True when the pending task at `key` is `task` (compared by address).
    pub(crate) fn owns_task(&self, key: TaskKey, task: *const ()) -> bool {
        let tasks = self.tasks.borrow();
        tasks
            .get(key)
            .is_some_and(|t| std::ptr::addr_eq(Rc::as_ptr(t), task))
    }

    pub(crate) fn time(&self) -> Instant {
        self.clock.now()
    }

    pub(super) fn check_open(&self) {
        assert!(!self.is_closed(), "Event loop is closed");
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.get() == LoopState::Closed
    }

    pub(crate) fn is_running(&self) -> bool {
        matches!(self.state.get(), LoopState::Running { .. })
    }

    /// The current iteration is the last one (asyncio's `_stopping`).
    pub(super) fn is_stopping(&self) -> bool {
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
        self.watch();
        self.trace_clock.set(corio_timer::monotonic_ns());
        // Each run's first iteration selects, so the test idiom "run one
        // iteration" (`call_soon(stop); run_forever()`) polls I/O, as in
        // asyncio, however much the loop ran before.
        self.ran_since_select.set(u32::MAX);
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
        self.note_sleep();
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
        let same = match scheduled.get(id)? {
            TimerEntry::Wake(held) => held.will_wake(waker),
            TimerEntry::Callback(_) => false,
        };
        if same {
            self.note_sleep(); // it goes on waiting
        }
        Some(same)
    }

    /// Tells the inspector that the running task sleeps (a sleep arms or
    /// checks its timer only when it is about to wait).
    #[inline]
    fn note_sleep(&self) {
        if crate::observe::inspect::is_enabled() {
            self.note_wait("sleep", 0);
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
        // Always counted (a store, against the task's allocation), so that
        // `tasks_live` stays true when metrics are switched.
        self.stats.tasks_spawned.add(1);
        if self.tracing() {
            self.observe_spawn(task.header());
        }
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
        if let Some(task) = &task {
            self.stats.tasks_finished.add(1);
            if self.tracing() {
                self.observe_finish(task.header());
            }
        }
        drop(task);
    }

    /// A task was made: recorded.
    fn observe_spawn(&self, header: &super::task_header::Header) {
        {
            let now = self.trace_now();
            let (task, location) = (header.number, header.location);
            self.record(now, 0, Kind::Spawn { task, location });
        }
    }

    /// A task finished: recorded with its name.
    fn observe_finish(&self, header: &super::task_header::Header) {
        {
            let now = self.trace_now();
            self.record(
                now,
                0,
                Kind::Finish {
                    task: header.number,
                },
            );
            if let Ok(mut trace) = self.trace.try_borrow_mut()
                && let Some(ring) = trace.as_mut()
            {
                ring.name(header.number, header.name());
            }
        }
    }

    /// The number (`N` of `Task-N`) of the live task at `key`.
    pub(crate) fn task_number(&self, key: TaskKey) -> Option<u64> {
        self.tasks.borrow().get(key).map(|t| t.header().number)
    }

    /// Calls `f` with the task whose step is running, if any.
    pub(crate) fn with_current<R>(&self, f: impl FnOnce(&Rc<dyn RawTask>) -> R) -> Option<R> {
        let key = self.current.get()?;
        let tasks = self.tasks.borrow();
        tasks.get(key).map(f)
    }

    /// Schedules one step of the task `key` names, unless one is already
    /// queued or the task is gone (finished: a stale waker).
    pub(crate) fn wake_task(&self, key: TaskKey) {
        let tasks = self.tasks.borrow();
        let Some(task) = tasks.occupant(key) else {
            return;
        };
        let header = task.header();
        if header.key.waker_generation() == key.waker_generation()
            && !header.scheduled.replace(true)
        {
            self.ready
                .borrow_mut()
                .push_back(Runnable::Step(task.clone()));
            if self.tracing() {
                self.record_wake(&tasks, header.number);
            }
        }
    }

    /// The recorder's wake event: which task woke, and by whom.
    #[cold]
    fn record_wake(&self, tasks: &TaskTable, task: u64) {
        let by = self.current.get().and_then(|k| tasks.get(k));
        let by = by.map_or(0, |t| t.header().number);
        let now = self.trace_now();
        self.record(now, 0, Kind::Wake { task, by });
    }

    pub(crate) fn all_tasks(&self) -> Vec<Rc<dyn RawTask>> {
        let tasks = self.tasks.borrow();
        tasks.iter().cloned().collect()
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
}

/// corio-sync's misuse hook: to the running loop's exception handler, or
/// to stderr outside a loop.
fn report_sync_misuse(message: &str, error: &corio_sync::SyncError) {
    super::running::report_unhandled(message.to_string(), Some(error.to_string()));
}

fn default_exception_handler(context: &ExceptionContext) {
    match &context.exception {
        Some(exception) => eprintln!("{}\n  {exception}", context.message),
        None => eprintln!("{}", context.message),
    }
}
