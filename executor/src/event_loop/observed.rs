//! The iteration of `run_once.rs`, counted and traced: the path an
//! iteration takes while metrics, debug mode or the flight recorder are
//! on (`LoopInner::observed`). The phases are the same functions; what
//! this adds is around them, so the ordering cannot differ.
//!
//! Per item run, metrics cost a store of the item's id for the watchdog
//! (`observe/watchdog.rs`, which catches a step over
//! `slow_callback_duration`), a load of its flag and a counter; about one
//! step in [`POLL_SAMPLE_PERIOD`] is timed on the precise clock for the
//! poll-time histogram. Debug mode and the recorder time every item
//! precisely. An iteration whose only work is the ready queue takes the
//! fast path of `run_once.rs` here too.

use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_reactor::Selector;
use corio_timer::CoarseInstant;

use super::inner::{LoopInner, Runnable};
use super::task_header::RawTask;
use crate::observe::POLL_SAMPLE_PERIOD;
use crate::observe::SlowStep;
use crate::observe::trace::{Kind, now_ns};
use crate::observe::watchdog::{IDLE, item_id};
use std::sync::atomic::Ordering::Relaxed;

/// What an item of the ready queue was, for the count and the report.
/// (A step keeps its task: a step that finishes the task takes it out of
/// the table, and its report still names it.)
enum Item {
    Step(Rc<dyn RawTask>),
    /// A task that finished in its slow step (the watchdog knows its
    /// address only).
    Finished,
    Callback,
    Io,
}

impl LoopInner {
    /// Whether the recorder is on.
    #[inline]
    pub(crate) fn tracing(&self) -> bool {
        self.tracing_on.get()
    }

    /// Pushes an event to the recorder, if it is on.
    #[inline]
    pub(crate) fn record(&self, start: u64, dur: u64, kind: Kind) {
        if let Ok(mut trace) = self.trace.try_borrow_mut()
            && let Some(ring) = trace.as_mut()
        {
            ring.push(start, dur, kind);
        }
    }

    /// Recomputes whether iterations take the observed path.
    pub(super) fn update_observed(&self) {
        let timed = self.debug.get() || self.tracing();
        if timed && !self.timed.get() {
            // The last reading is from before timing started: the first
            // timed iteration must not count the gap as its own.
            self.trace_clock.set(now_ns());
        }
        self.timed.set(timed);
        self.observed.set(self.metrics_on.get() || timed);
        self.stats.enabled.set(u64::from(self.metrics_on.get()));
    }

    /// One iteration, counted (and recorded while tracing).
    ///
    /// The recorder reads the clock at the end of what took time: a
    /// `select` that ran, a phase that did something, each item (chained:
    /// an item ends where the next starts). Instants (wakes, spawns, fds
    /// ready…) take the last reading, the start of the item or phase they
    /// happen in (`trace_now`), so an event costs no reading of its own.
    pub(super) fn run_once_observed(self: &Rc<Self>) {
        let tracing = self.tracing();
        let start = self.trace_clock.get();
        let plan = self.plan_timeout();
        let selects_before = self.io_tick.get();
        let (io_events, woken) = self.poll_io(&plan);
        let selected = self.io_tick.get() != selects_before;
        // A select that ran left its end in `trace_clock` (`select_io`).
        let t_remote = if selected {
            self.trace_clock.get()
        } else {
            start
        };
        let remote_count = self.take_remote(woken);
        if io_events == 0 && remote_count == 0 {
            self.jump_virtual_clock(&plan);
        }
        let t_timers = if remote_count > 0 {
            self.trace_read()
        } else {
            t_remote
        };
        let fired = self.collect_due_timers(&plan, io_events);
        let t_run = if fired > 0 {
            self.trace_read()
        } else {
            t_timers
        };
        // Debug mode alone times from a fresh reading (the cached one may
        // be from before the loop last waited).
        let run_from = if tracing { t_run } else { now_ns() };
        let (items, end) = self.run_ready_observed(tracing, run_from);
        self.trace_clock.set(end);
        if !tracing {
            return;
        }
        let span = |a: u64, b: u64| (a, b.saturating_sub(a));
        let (s, d) = span(start, end);
        self.record(s, d, Kind::Iteration);
        if selected {
            let (s, d) = span(start, t_remote);
            let timeout_ns = plan.select_timeout.map_or(u64::MAX, |t| {
                t.as_nanos().min(u128::from(u64::MAX - 1)) as u64
            });
            let fds = io_events as u64;
            self.record(s, d, Kind::Select { timeout_ns, fds });
        }
        if remote_count > 0 {
            let (s, d) = span(t_remote, t_timers);
            let count = remote_count as u64;
            self.record(s, d, Kind::Remote { count });
        }
        if fired > 0 {
            let (s, d) = span(t_timers, t_run);
            let count = fired as u64;
            self.record(s, d, Kind::Timers { count });
        }
        if items > 0 {
            let (s, d) = span(t_run, end);
            let items = items as u64;
            self.record(s, d, Kind::Run { items });
        }
    }

    /// Reads the clock for the recorder (and keeps it as `trace_now`).
    #[inline]
    fn trace_read(&self) -> u64 {
        let now = now_ns();
        self.trace_clock.set(now);
        now
    }

    /// The recorder's last reading, for an instant event.
    #[inline]
    pub(crate) fn trace_now(&self) -> u64 {
        self.trace_clock.get()
    }

    /// One iteration with metrics on, outside debug mode and the recorder:
    /// counters only, and the watchdog's sequence number per item.
    #[inline(always)]
    pub(super) fn run_once_counted(self: &Rc<Self>) {
        if !self.only_ready_work() {
            self.phases_before_run(); // see `only_ready_work`
        }
        self.run_ready_counted();
    }

    /// Phase 5 with metrics on: counts the items by kind, times one step
    /// in `POLL_SAMPLE_PERIOD` on the precise clock, and publishes each
    /// item for the watchdog (`observe/watchdog.rs`): one store per item
    /// instead of a clock reading. Its reports are taken at the end.
    #[inline(always)]
    pub(super) fn run_ready_counted(self: &Rc<Self>) {
        self.shrink_ready();
        let ntodo = self.ready.borrow().len();
        // One dereference of the `Arc` for the whole phase.
        let stats: &crate::observe::stats::LoopStats = &self.stats;
        stats.iterations.add(1);
        stats.ready_depth.record_count(ntodo as u64);
        let (mut steps, mut callbacks, mut io) = (0u64, 0u64, 0u64);
        let mut seq = self.item_seq.get();
        for _ in 0..ntodo {
            let Some(runnable) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            seq = seq.wrapping_add(1);
            // A task's cell address, or 1 (never a cell's: they are
            // aligned) for a callback, so that no item's id is 0.
            let (address, sampled) = match &runnable {
                Runnable::Step(task) => {
                    steps += 1;
                    (Rc::as_ptr(task).cast::<u8>() as usize, self.sample_due())
                }
                Runnable::Callback(_) => {
                    callbacks += 1;
                    (1, false)
                }
                Runnable::Io(_) => {
                    io += 1;
                    (1, false)
                }
            };
            let id = item_id(address, seq);
            stats.current_item.store(id, Relaxed);
            if sampled {
                self.run_sampled(runnable);
            } else {
                self.run_one(runnable);
            }
            if stats.flagged() {
                self.watchdog_report(id);
            }
        }
        self.item_seq.set(seq);
        stats.current_item.store(IDLE, Relaxed);
        stats.steps_run.add(steps);
        if callbacks != 0 {
            stats.callbacks_run.add(callbacks);
        }
        if io != 0 {
            stats.io_callbacks_run.add(io);
        }
    }

    /// True for about one step in `POLL_SAMPLE_PERIOD`: a countdown
    /// restarted at a pseudo-random length (xorshift) in `[P/2, 3P/2)`, so
    /// that no pattern of steps (two tasks taking turns) hides one task.
    #[inline]
    fn sample_due(&self) -> bool {
        let left = self.sample_left.get();
        if left > 0 {
            self.sample_left.set(left - 1);
            return false;
        }
        let mut x = self.sample_seed.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.sample_seed.set(x);
        let p = POLL_SAMPLE_PERIOD;
        self.sample_left.set(p / 2 + x % p);
        true
    }

    /// A step timed on the precise clock: the poll-time histogram and the
    /// task's own poll time.
    #[cold]
    fn run_sampled(self: &Rc<Self>, runnable: Runnable) {
        let task = match &runnable {
            Runnable::Step(task) => Some((task.header().key, task.header().number)),
            _ => None,
        };
        let started = Instant::now();
        self.run_one(runnable);
        let ns = started.elapsed().as_nanos() as u64;
        self.stats.poll_time.record(ns);
        self.stats.polls_timed.add(1);
        if let Some((key, number)) = task {
            self.note_poll(key, number, ns);
        }
    }

    /// The watchdog flagged the item that just ended (or, if the flag
    /// came a moment late, the one before it) as slow: count and report it.
    #[cold]
    fn watchdog_report(&self, id: u64) {
        let flagged = self.stats.take_flag();
        if flagged != id {
            // The flag of an item that had already ended when the watchdog
            // set it: its time and its task are no longer known. Dropped
            // rather than told of the wrong item.
            return;
        }
        let now = now_ns();
        let took = Duration::from_nanos(now.saturating_sub(self.stats.slow_since_ns.get()));
        let address = crate::observe::watchdog::item_address(flagged);
        let task = (address > 1)
            .then(|| {
                let tasks = self.tasks.borrow();
                let found = tasks
                    .iter()
                    .find(|t| Rc::as_ptr(t).cast::<u8>() as usize == address);
                found.cloned()
            })
            .flatten();
        let item = match task {
            Some(task) => Item::Step(task),
            None if address > 1 => Item::Finished,
            None => Item::Callback,
        };
        self.slow_item(&item, took, false);
    }

    /// Starts the watchdog's watch of this loop (at `run_forever`, with
    /// metrics on), once.
    pub(super) fn watch(&self) {
        self.stats
            .slow_limit_ns
            .set(u64::try_from(self.slow_callback_duration.get().as_nanos()).unwrap_or(u64::MAX));
        if self.metrics_on.get() && !self.watched.replace(true) {
            crate::observe::watchdog::watch(&self.stats);
        }
    }

    /// Ends the watch (at close).
    pub(super) fn unwatch(&self) {
        if self.watched.replace(false) {
            crate::observe::watchdog::unwatch(&self.stats);
        }
    }

    /// Phase 5 in debug mode or while recording: every item timed on the
    /// precise clock (one reading per item, chained), counted, recorded;
    /// returns how many ran.
    fn run_ready_observed(self: &Rc<Self>, tracing: bool, from: u64) -> (usize, u64) {
        self.shrink_ready();
        let ntodo = self.ready.borrow().len();
        let stats = &self.stats;
        stats.ready_depth.record_count(ntodo as u64);
        stats.iterations.add(1);
        let debug = self.debug.get();
        let slow = self.slow_callback_duration.get();
        let mut started = from;
        let mut ran = 0;
        for _ in 0..ntodo {
            let Some(runnable) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            ran += 1;
            let item = match &runnable {
                Runnable::Step(task) => Item::Step(task.clone()),
                Runnable::Callback(_) => Item::Callback,
                Runnable::Io(_) => Item::Io,
            };
            self.run_one(runnable);
            let end = now_ns();
            self.trace_clock.set(end);
            let ns = end.saturating_sub(started);
            let took = Duration::from_nanos(ns);
            let kind = match &item {
                Item::Step(task) => {
                    stats.steps_run.add(1);
                    stats.poll_time.record(ns);
                    stats.polls_timed.add(1);
                    let header = task.header();
                    self.note_poll(header.key, header.number, ns);
                    Kind::Step {
                        task: header.number,
                    }
                }
                Item::Callback => {
                    stats.callbacks_run.add(1);
                    Kind::Callback
                }
                Item::Io | Item::Finished => {
                    stats.io_callbacks_run.add(1);
                    Kind::Io
                }
            };
            if tracing {
                self.record(started, ns, kind);
            }
            if took >= slow {
                self.slow_item(&item, took, debug);
            }
            started = end;
        }
        (ran, started)
    }

    /// Adds a timed step of `ns` to the task's note.
    fn note_poll(&self, key: crate::remote::TaskKey, number: u64, ns: u64) {
        self.with_note(key, number, |note| {
            note.poll_ns = note.poll_ns.saturating_add(ns);
            note.timed_steps += 1;
        });
    }

    /// Counts and reports an item that ran `took`: always in debug mode
    /// (asyncio's report); outside it, once per task.
    fn slow_item(&self, item: &Item, took: Duration, debug: bool) {
        let stats = &self.stats;
        stats.slow_steps.add(1);
        let what = match item {
            Item::Step(task) => task.header().describe(),
            Item::Finished => "a task's last step".to_string(),
            Item::Callback => "a callback".to_string(),
            Item::Io => "an I/O callback".to_string(),
        };
        {
            let mut slowest = stats
                .slowest
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if slowest.as_ref().is_none_or(|s| s.took < took) {
                *slowest = Some(SlowStep {
                    what: what.clone(),
                    took,
                });
            }
        }
        let report = match item {
            Item::Step(task) if !debug => {
                let h = task.header();
                self.with_note(h.key, h.number, |note| {
                    !std::mem::replace(&mut note.slow_reported, true)
                })
                .unwrap_or(true)
            }
            _ => true,
        };
        if report {
            self.report(
                format!("Executing {what} took {:.3} seconds", took.as_secs_f64()),
                None,
            );
        }
    }
}

impl LoopInner {
    /// The live tasks' names by number, for a trace's track names.
    pub(crate) fn live_task_names(&self) -> std::collections::HashMap<u64, String> {
        let tasks = self.tasks.borrow();
        tasks
            .iter()
            .map(|t| (t.header().number, t.header().name()))
            .collect()
    }

    /// The recorder's events as trace events (without the enclosing
    /// object), or nothing when it is off.
    pub(crate) fn trace_events(&self, out: &mut String) {
        if let Some(copy) = self.trace_copy() {
            copy.write_json(out);
        }
    }

    /// What the recorder holds, copied (a memcpy of the ring and the
    /// names) so that it can be formatted elsewhere: the inspector formats
    /// on its own thread, not the loop's.
    pub(crate) fn trace_copy(&self) -> Option<crate::observe::trace::TraceCopy> {
        let trace = self.trace.try_borrow().ok()?;
        let ring = trace.as_ref()?.clone();
        let thread = self
            .stats
            .thread
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .unwrap_or_else(|| "unnamed".to_string());
        let id = self.stats.loop_id;
        Some(crate::observe::trace::TraceCopy {
            ring,
            loop_id: id,
            title: format!("loop {id} (thread {thread})"),
            live_names: self.live_task_names(),
        })
    }

    /// At close: the trace goes to the file `CORIO_TRACE` names, if any.
    pub(super) fn dump_trace_at_close(&self) {
        let Some(path) = &crate::observe::trace::env().path else {
            return;
        };
        if !self.tracing() {
            return;
        }
        let path = path
            .replace("{pid}", &std::process::id().to_string())
            .replace("{loop}", &self.stats.loop_id.to_string());
        let mut events = String::new();
        self.trace_events(&mut events);
        let json = crate::observe::trace::document(&events);
        if let Err(err) = std::fs::write(&path, json) {
            self.report(
                format!("Could not write the loop's trace to {path}"),
                Some(err.to_string()),
            );
        }
    }
}

/// Metrics and the flight recorder (`observe`).
impl super::EventLoop {
    /// The loop's figures now (see [`LoopMetrics`](crate::LoopMetrics)).
    ///
    /// No asyncio counterpart; tokio's `Handle::metrics()`, without
    /// `tokio_unstable`.
    ///
    /// ```
    /// use corio_executor::{EventLoop, create_task};
    ///
    /// let lp = EventLoop::new()?;
    /// lp.run_until_complete(async {
    ///     for _ in 0..3 {
    ///         create_task(async {}).await.unwrap();
    ///     }
    /// })?;
    /// let m = lp.metrics();
    /// assert_eq!(m.tasks_spawned, 4); // the main task and three more
    /// assert_eq!(m.tasks_finished, 4);
    /// assert_eq!(m.tasks_live, 0);
    /// # Ok::<(), corio_executor::RunError>(())
    /// ```
    pub fn metrics(&self) -> crate::LoopMetrics {
        let inner = &self.inner;
        inner
            .stats
            .fds_registered
            .set(inner.selector.borrow().len() as u64);
        inner.stats.snapshot()
    }

    /// Switches the loop's metrics on (the default, unless the environment
    /// has `CORIO_METRICS=0`) or off. Off, an iteration costs one branch
    /// more than a loop without metrics, and the counts stay where they
    /// are. Slow steps are then reported in debug mode only, as asyncio
    /// does.
    ///
    /// No asyncio counterpart.
    pub fn set_metrics(&self, enabled: bool) {
        self.inner.metrics_on.set(enabled);
        self.inner.update_observed();
        if enabled && self.inner.is_running() {
            self.inner.watch();
        }
    }

    /// Whether the loop keeps metrics.
    pub fn metrics_enabled(&self) -> bool {
        self.inner.metrics_on.get()
    }

    /// Switches the flight recorder on or off: a ring of the loop's last
    /// [`DEFAULT_TRACE_EVENTS`](crate::observe::DEFAULT_TRACE_EVENTS)
    /// events (iterations and their phases, steps, callbacks, wakes, fds
    /// reported ready, timers fired), exported by
    /// [`trace_json`](Self::trace_json). Switching it on starts an empty
    /// ring; off drops it. The environment can switch it on for a program
    /// you did not write: `CORIO_TRACE=1` (or a file name, written when
    /// each loop closes; `{pid}` and `{loop}` in it are replaced).
    ///
    /// No asyncio counterpart; what AWS's dial9 recorder adds to tokio.
    ///
    /// ```
    /// use corio_executor::{EventLoop, create_task, yield_now};
    ///
    /// let lp = EventLoop::new()?;
    /// lp.set_trace(true);
    /// lp.run_until_complete(async {
    ///     create_task(async { yield_now().await }).await.unwrap();
    /// })?;
    /// let json = lp.trace_json();
    /// assert!(json.starts_with("{\"displayTimeUnit\""));
    /// assert!(json.contains("\"name\":\"step\""));
    /// # Ok::<(), corio_executor::RunError>(())
    /// ```
    pub fn set_trace(&self, enabled: bool) {
        self.set_trace_capacity(enabled.then_some(crate::observe::DEFAULT_TRACE_EVENTS));
    }

    /// [`set_trace`](Self::set_trace) with a ring of `events` events
    /// (`None`: off).
    pub fn set_trace_capacity(&self, events: Option<usize>) {
        match events {
            Some(events) => self.inner.start_trace(events),
            None => self.inner.stop_trace(),
        }
    }

    /// Writes the recorder's trace (as [`trace_json`](Self::trace_json)
    /// gives it) to `path` each time the process gets signal `signum`:
    /// the dump "on a signal" for a program you can signal but not stop
    /// (`kill -USR2 PID`). The recorder must be on for it to hold events.
    /// Undo it with [`remove_signal_handler`](Self::remove_signal_handler).
    ///
    /// No asyncio counterpart.
    ///
    /// # Errors
    /// Those of [`add_signal_handler`](Self::add_signal_handler).
    pub fn dump_trace_on_signal(
        &self,
        signum: i32,
        path: impl Into<std::path::PathBuf>,
    ) -> Result<(), crate::SignalError> {
        let path = path.into();
        let me = self.downgrade();
        self.add_signal_handler(signum, move || {
            let Some(lp) = me.upgrade() else { return };
            if let Err(err) = std::fs::write(&path, lp.trace_json()) {
                lp.inner.report(
                    format!("Could not write the loop's trace to {}", path.display()),
                    Some(err.to_string()),
                );
            }
        })
    }

    /// Whether the flight recorder is on.
    pub fn trace_enabled(&self) -> bool {
        self.inner.tracing()
    }

    /// The recorded events as Chrome trace-event JSON (open it in
    /// Perfetto or `chrome://tracing`): the loop is a process, its
    /// iterations and phases one track, each task a track of its own.
    /// Empty (no events) when the recorder is off.
    pub fn trace_json(&self) -> String {
        let mut events = String::new();
        self.inner.trace_events(&mut events);
        crate::observe::trace::document(&events)
    }
}

/// The inspector's side of the loop (`observe::inspect`).
impl LoopInner {
    /// The running task parks on `what` at `object` (see `note_wait`).
    pub(crate) fn note_wait(&self, what: &'static str, object: usize) {
        let Some(key) = self.current.get() else {
            return;
        };
        let (steps, number) = match self.tasks.try_borrow() {
            Ok(tasks) => match tasks.get(key) {
                Some(task) => (task.header().steps.get(), task.header().number),
                None => return,
            },
            Err(_) => return,
        };
        self.with_note(key, number, |note| {
            note.wait = Some((what, object));
            note.at_step = steps;
        });
    }

    /// Every live task as the inspector shows it. Reads headers only:
    /// no task is polled.
    pub(crate) fn snapshot_tasks(&self) -> Vec<crate::observe::inspect::TaskSnapshot> {
        use super::task_header::Awaited;
        let now = CoarseInstant::now();
        let tasks = self.all_tasks();
        let notes = self.task_notes.borrow();
        let current = self.current.get();
        tasks
            .iter()
            .map(|task| {
                let h = task.header();
                let note = notes
                    .get(&h.number)
                    .map(|(_, note)| *note)
                    .unwrap_or_default();
                let parked = h.awaiting.take();
                let awaited = parked.as_ref().map(|a| a.awaited());
                h.awaiting.set(parked);
                let (awaits_task, awaits_gather, mut awaits) = match awaited {
                    Some(Awaited::Task(n)) => (Some(n), Vec::new(), format!("Task-{n}")),
                    Some(Awaited::Gather(ns)) => {
                        let list: Vec<String> = ns.iter().map(|n| format!("Task-{n}")).collect();
                        let words = format!("gather({})", list.join(", "));
                        (None, ns, words)
                    }
                    Some(Awaited::Future) => (None, Vec::new(), "a Future".to_string()),
                    None => (None, Vec::new(), String::new()),
                };
                if let Some((what, object)) = note.wait
                    && note.at_step == h.steps.get()
                    && awaits.is_empty()
                {
                    awaits = if object == 0 {
                        what.to_string()
                    } else {
                        format!("{what} @{object:#x}")
                    };
                }
                let state = h.state_word(current == Some(h.key));
                crate::observe::inspect::TaskSnapshot {
                    id: h.number,
                    name: h.name(),
                    state,
                    awaits_task,
                    awaits_gather,
                    awaits,
                    age: now.duration_since(h.created),
                    polls: h.steps.get(),
                    poll_time: match note.timed_steps {
                        0 => None,
                        timed => {
                            let mean = note.poll_ns / u64::from(timed);
                            Some(Duration::from_nanos(
                                mean * u64::from(h.steps.get().max(timed)),
                            ))
                        }
                    },
                    poll_time_estimated: note.timed_steps < h.steps.get(),
                    created_at: h.location.to_string(),
                }
            })
            .collect()
    }

    /// An inspector session starts recording (`corio-ps --trace`): the
    /// recorder is switched on unless it is on already.
    pub(crate) fn inspector_trace_begin(&self) {
        let sessions = self.inspector_traces.get();
        if sessions == 0 {
            self.inspector_switched.set(!self.tracing());
            if !self.tracing() {
                self.start_trace(crate::observe::DEFAULT_TRACE_EVENTS);
            }
        }
        self.inspector_traces.set(sessions + 1);
    }

    /// An inspector session ends: the last one switches the recorder off
    /// if the first one switched it on.
    pub(crate) fn inspector_trace_end(&self) {
        let sessions = self.inspector_traces.get().saturating_sub(1);
        self.inspector_traces.set(sessions);
        if sessions == 0 && self.inspector_switched.replace(false) {
            self.stop_trace();
        }
    }

    /// Starts a fresh recorder ring of `events` events.
    pub(crate) fn start_trace(&self, events: usize) {
        *self.trace.borrow_mut() = Some(crate::observe::trace::TraceRing::new(events));
        self.tracing_on.set(true);
        self.update_observed();
    }

    /// Stops the recorder, dropping its ring.
    pub(crate) fn stop_trace(&self) {
        *self.trace.borrow_mut() = None;
        self.tracing_on.set(false);
        self.update_observed();
    }
}

#[cfg(test)]
mod tests {
    use crate::{EventLoop, create_task, yield_now};

    /// The inspector's notes are kept for the tasks that got one (a timed
    /// step, a wait), not for every slot of the task table: a dense table
    /// cost 74 bytes per pending task (the executor bench's figure went
    /// from 228 to 302 bytes).
    #[test]
    fn notes_stay_sparse_and_are_pruned() {
        let lp = EventLoop::new().unwrap();
        lp.run_until_complete(async {
            let tasks: Vec<_> = (0..50_000)
                .map(|_| create_task(async { yield_now().await }))
                .collect();
            yield_now().await;
            for task in tasks {
                task.await.unwrap();
            }
        })
        .unwrap();
        // Two steps each, one in 256 timed: about 400 notes at most (a
        // dense table would hold 50,000).
        let notes = lp.inner.task_notes.borrow().len();
        assert!(
            notes <= 2 * 50_000 / 256 + 64,
            "{notes} notes for 50,000 tasks"
        );
        drop(lp);
    }
}
