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

    /// Phase 5 with metrics on: counts the items by kind, times a step
    /// about once per `POLL_SAMPLE_PERIOD` items on the precise clock
    /// (`sample_gap`), and publishes each
    /// item for the watchdog (`observe/watchdog.rs`): one store per item
    /// instead of a clock reading. Its reports are taken at the end.
    #[inline(always)]
    pub(super) fn run_ready_counted(self: &Rc<Self>) {
        self.shrink_ready();
        let ntodo = self.ready.borrow().len();
        self.note_ran(ntodo);
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
                    (
                        Rc::as_ptr(task).cast::<u8>() as usize,
                        seq >= self.next_sample.get(),
                    )
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
                self.next_sample.set(seq + self.sample_gap());
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

    /// The waking I/O callbacks of a select (`run_once.rs`), observed as
    /// phase 5's items are: counted, each under the watchdog's eye, and
    /// in debug mode or while recording timed, reported when slow and
    /// recorded as I/O callbacks.
    pub(super) fn run_waking_observed(&self, wakes: &mut Vec<Rc<super::io::IoCallback>>) {
        let stats: &crate::observe::stats::LoopStats = &self.stats;
        stats.io_callbacks_run.add(wakes.len() as u64);
        let timed = self.timed.get();
        let (tracing, debug) = (self.tracing(), self.debug.get());
        let slow = self.slow_callback_duration.get();
        let mut seq = self.item_seq.get();
        for io in wakes.drain(..) {
            seq = seq.wrapping_add(1);
            let id = item_id(1, seq);
            stats.current_item.store(id, Relaxed);
            let started = if timed { now_ns() } else { 0 };
            self.run_waking_one(&io);
            stats.current_item.store(IDLE, Relaxed);
            if timed {
                let end = now_ns();
                self.trace_clock.set(end);
                let ns = end.saturating_sub(started);
                if tracing {
                    self.record(started, ns, Kind::Io);
                }
                let took = Duration::from_nanos(ns);
                if took >= slow {
                    self.slow_item(&Item::Io, took, debug);
                }
            } else if stats.flagged() {
                self.watchdog_report(id);
            }
        }
        self.item_seq.set(seq);
    }

    /// How many items until the next timed step: a pseudo-random length
    /// (xorshift) in `[P/2, 3P/2)` for `POLL_SAMPLE_PERIOD` P, so that no
    /// pattern of steps (two tasks taking turns) hides one task. The step
    /// timed is the first at or past that item (`next_sample`): per item,
    /// one comparison with the sequence number already in a register,
    /// where a countdown cost a load and a store (8 instructions a step
    /// in the ping-pong).
    #[cold]
    fn sample_gap(&self) -> u64 {
        let mut x = self.sample_seed.get();
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.sample_seed.set(x);
        let p = POLL_SAMPLE_PERIOD;
        u64::from(p / 2 + x % p)
    }

    /// A step timed on the precise clock: the poll-time histogram and the
    /// task's own poll time. Never inlined: the run phase's loop keeps one
    /// copy of `run_one`.
    #[cold]
    #[inline(never)]
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
        self.note_ran(ntodo);
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
