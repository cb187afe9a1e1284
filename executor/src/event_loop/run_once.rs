//! asyncio's `_run_once`: one iteration of the loop, in five phases, each
//! a method of [`LoopInner`]:
//!
//! 1. **timeout** (`plan_timeout`): 0 if a callback is ready (or the loop
//!    is stopping), else until the nearest timer, else block;
//! 2. **select** (`poll_io`): wait for I/O; ready fds put their
//!    reader/writer callbacks on the ready queue (a *waking* callback is
//!    called at once, and the step it queues runs in this iteration). A
//!    zero-timeout select is skipped when it could report nothing, and
//!    within the select interval (`skip_select`);
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

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_reactor::{Selector, signal};

use super::handle::callback;
use super::inner::{LoopInner, Runnable, TimerEntry};
use super::io::IoCallback;
use crate::observe::trace::{Kind, now_ns};
use crate::panic_message;
use crate::remote::RemoteItem;

/// What phase 1 of an iteration decided, for the phases after it.
pub(super) struct Plan {
    /// The nearest timer's deadline.
    pub(super) next_timer: Option<Instant>,
    /// The clock as phase 1 read it (only when a timer exists).
    pub(super) now: Option<Instant>,
    /// How long `select` may block (`None`: until an fd is ready).
    pub(super) select_timeout: Option<Duration>,
    /// A virtual clock's next timer, to jump to if nothing else happens.
    pub(super) jump_to: Option<Instant>,
}

impl Plan {
    /// The nearest timer's deadline has come, by phase 1's clock reading.
    #[inline]
    fn timer_due(&self) -> bool {
        matches!((self.next_timer, self.now), (Some(deadline), Some(now)) if deadline <= now)
    }
}

/// Slots the ready queue keeps when it shrinks after a burst.
const READY_KEEP: usize = 1024;

/// Items that may run between two selects while work is ready, unless
/// `CORIO_SELECT_INTERVAL` says otherwise (tokio's `event_interval`).
const DEFAULT_SELECT_INTERVAL: u32 = 61;

/// The select interval new loops start with.
pub(super) fn default_select_interval() -> u32 {
    static INTERVAL: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *INTERVAL.get_or_init(|| {
        std::env::var("CORIO_SELECT_INTERVAL")
            .ok()
            .and_then(|v| v.trim().parse::<u32>().ok())
            .map_or(DEFAULT_SELECT_INTERVAL, |n| n.max(1))
    })
}

impl LoopInner {
    /// One iteration of the loop (see the module docs for the phases).
    pub(crate) fn run_once(self: &Rc<Self>) {
        if self.observed.get() {
            // The same phases, counted (observed.rs): metrics alone inline,
            // debug mode and the recorder out of line.
            if self.timed.get() {
                self.run_once_observed();
            } else {
                self.run_once_counted();
            }
            return;
        }
        if !self.only_ready_work() {
            self.phases_before_run();
        }
        self.run_ready();
    }

    /// Phases 1 to 4, in order (the run phase is the caller's).
    #[inline(always)]
    pub(super) fn phases_before_run(&self) {
        let plan = self.plan_timeout();
        let (io_events, woken) = self.poll_io(&plan);
        let remote_count = self.take_remote(woken);
        if io_events == 0 && remote_count == 0 {
            self.jump_virtual_clock(&plan);
        }
        self.collect_due_timers(&plan, io_events);
    }

    /// The fast path: callbacks are ready and nothing else is due (no
    /// timer, no signal written since the last look, nothing sent from
    /// other threads), and the select would be skipped (`select_may_wait`).
    /// Phases 1–4 would then do nothing: the timeout is 0, the select is
    /// skipped, phase 3 finds nothing, phase 4 has no timer. So the
    /// iteration is its run phase alone, with the same ordering. A few
    /// loads, against the phases' borrows and calls.
    #[inline]
    pub(super) fn only_ready_work(&self) -> bool {
        !self.ready.borrow().is_empty()
            && self.scheduled.borrow().is_empty()
            && self.select_may_wait()
            && !self.remote.has_pending()
            && signal::signals_written() == self.signals_seen.get()
    }

    /// Whether a zero-timeout select may be left out while work is ready:
    /// fewer than `select_interval` items ran since the last select (the
    /// interval rule: a ready fd is then seen at most that many items
    /// late, where asyncio sees it in the next iteration), or no fd is
    /// registered but the loop's own (`only_own_fds`).
    #[inline]
    fn select_may_wait(&self) -> bool {
        self.ran_since_select.get() < self.select_interval.get() || self.only_own_fds()
    }

    /// No fd is registered but the loop's own: a zero-timeout select could
    /// report nothing that phase 3 does not learn otherwise (the eventfd's
    /// news is an atomic flag, the signal pipe's a process-wide count of
    /// written signals).
    #[inline]
    fn only_own_fds(&self) -> bool {
        self.selector.borrow().len() == self.internal_fds.get()
    }

    /// Phase 1: how long `select` may block. 0 if a callback is ready or
    /// the loop is stopping, else until the nearest timer, else forever.
    /// The precise clock is read only when a timer exists: without one, no
    /// decision here depends on the time.
    #[inline(always)]
    pub(super) fn plan_timeout(&self) -> Plan {
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

    /// Phase 2: `select`, unless it is skipped (`skip_select`); returns
    /// how many fds were reported, and whether the loop's own eventfd was
    /// one of them.
    #[inline(always)]
    pub(super) fn poll_io(&self, plan: &Plan) -> (usize, bool) {
        let signals_written = signal::signals_written();
        if self.skip_select(plan, signals_written) {
            return (0, false);
        }
        self.signals_seen.set(signals_written);
        self.select_io(plan.select_timeout)
    }

    /// The select skip: a zero-timeout `select` is left out when it could
    /// report nothing (`only_own_fds`), or while work is ready within the
    /// select interval (`select_may_wait`) and no timer is due; never when
    /// a signal was written since the last select. A select that may block
    /// always runs. (With a timer due the select runs so that I/O which
    /// came before the deadline is seen in the same iteration as the timer,
    /// as in asyncio: a `wait_for` on a read must not expire while its
    /// data sits unread.)
    #[inline]
    fn skip_select(&self, plan: &Plan, signals: u64) -> bool {
        plan.select_timeout == Some(Duration::ZERO)
            && signals == self.signals_seen.get()
            && (self.only_own_fds()
                || (self.ran_since_select.get() < self.select_interval.get()
                    && !self.ready.borrow().is_empty()
                    && !plan.timer_due()))
    }

    /// Phase 3: callbacks and wakes sent from other threads join the ready
    /// queue; how many came. A readable eventfd is always emptied, even if
    /// the queue turns out empty, or level-triggered `select` would report
    /// it again at once.
    #[inline(always)]
    pub(super) fn take_remote(&self, woken: bool) -> usize {
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
    pub(super) fn jump_virtual_clock(&self, plan: &Plan) {
        if let Some(deadline) = plan.jump_to {
            self.clock.advance_to(deadline);
        }
    }

    /// Phase 4: timers whose deadline has come join the ready queue. The
    /// clock is read again only if time may have passed since phase 1;
    /// nothing is done when no timer is due.
    #[inline(always)]
    pub(super) fn collect_due_timers(&self, plan: &Plan, io_events: usize) -> usize {
        let (Some(deadline), Some(mut now)) = (plan.next_timer, plan.now) else {
            return 0;
        };
        if plan.select_timeout != Some(Duration::ZERO) || plan.jump_to.is_some() || io_events > 0 {
            now = self.clock.now();
        }
        if deadline <= now {
            self.move_due_timers(now)
        } else {
            0
        }
    }

    /// Phase 5: runs exactly the callbacks ready now; whatever they
    /// schedule waits for the next iteration. An item costs a queue pop
    /// and a call (the observed path, `observed.rs`, also counts and
    /// times them).
    #[inline]
    fn run_ready(self: &Rc<Self>) {
        self.shrink_ready();
        let ntodo = self.ready.borrow().len();
        self.note_ran(ntodo);
        for _ in 0..ntodo {
            let Some(runnable) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.run_one(runnable);
        }
    }

    /// Counts the items an iteration runs, for phase 2's interval rule.
    #[inline]
    pub(super) fn note_ran(&self, items: usize) {
        let ran = self.ran_since_select.get();
        self.ran_since_select.set(ran.saturating_add(items as u32));
    }

    /// A ready queue that held a burst gives the memory back once it is
    /// mostly empty (it keeps `READY_KEEP` slots, and twice what it holds).
    /// The test is inlined in every iteration; the shrink is out of line.
    #[inline(always)]
    pub(super) fn shrink_ready(&self) {
        let ready = self.ready.borrow();
        if ready.capacity() > READY_KEEP && ready.len() * 4 < ready.capacity() {
            drop(ready);
            self.shrink_ready_now();
        }
    }

    #[cold]
    #[inline(never)]
    fn shrink_ready_now(&self) {
        let mut ready = self.ready.borrow_mut();
        let capacity = ready.capacity();
        let keep = (ready.len() * 2).max(READY_KEEP);
        ready.shrink_to(keep);
        let after = ready.capacity();
        drop(ready);
        if self.observed.get() {
            let now = self.trace_now();
            let (from, to) = (capacity as u64, after as u64);
            self.record(now, 0, Kind::ReadyGc { from, to });
        }
    }

    /// Phase 4: moves what is due at `now` to the ready queue, in deadline
    /// order: a callback joins the queue, a waker queues its task's step
    /// (the same thing, one allocation less).
    fn move_due_timers(&self, now: Instant) -> usize {
        let mut due = self.due.borrow_mut();
        let fired = if self.observed.get() {
            let stats = &self.stats;
            let tracing = self.tracing();
            let at = self.trace_now();
            self.scheduled
                .borrow_mut()
                .pop_due_with(now, &mut due, |late| {
                    let late_ns = late.as_nanos() as u64;
                    stats.timer_lateness.record(late_ns);
                    if tracing {
                        self.record(at, 0, Kind::TimerFired { late_ns });
                    }
                })
        } else {
            self.scheduled.borrow_mut().pop_due(now, &mut due)
        };
        if self.observed.get() {
            self.stats.timers_fired.add(fired as u64);
        }
        for entry in due.drain(..) {
            match entry {
                TimerEntry::Callback(cb) if !cb.cancelled() => {
                    self.ready.borrow_mut().push_back(Runnable::Callback(cb));
                }
                TimerEntry::Callback(_) => {}
                TimerEntry::Wake(waker) => waker.wake(),
            }
        }
        fired
    }

    /// Phase 2: returns how many fds were reported, and whether the loop's
    /// own eventfd was one of them.
    fn select_io(&self, timeout: Option<Duration>) -> (usize, bool) {
        self.io_tick.set(self.io_tick.get() + 1);
        self.ran_since_select.set(0);
        let observed = self.observed.get();
        let tracing = observed && self.tracing();
        // Only a select that may block is timed (a zero-timeout one is a
        // syscall's worth), on the coarse clock: 4 ns a reading where the
        // precise one costs 25, and the sum over many selects is what the
        // metric reports (each wait to the kernel tick, the total unbiased).
        let coarse = || corio_timer::CoarseInstant::now().as_nanos();
        let timed = (observed && timeout != Some(Duration::ZERO)).then(coarse);
        let waker_fd = self.remote.waker.as_raw_fd();
        let mut woken = false;
        let mut selector = self.selector.borrow_mut();
        let mut ready = self.ready.borrow_mut();
        let mut wakes = self.io_wakes.borrow_mut();
        let mut reported: Vec<(u64, u64)> = Vec::new();
        let result = selector.select_with(timeout, |key, events| {
            if tracing {
                reported.push((key.fd as u64, u64::from(events.bits())));
            }
            if key.fd == waker_fd {
                woken = true; // the remote queue is drained in phase 3
                return;
            }
            let mut queue = |io: &Rc<IoCallback>| {
                if io.waking {
                    wakes.push(io.clone());
                } else {
                    ready.push_back(Runnable::Io(io.clone()));
                }
            };
            if events.is_readable()
                && let Some(reader) = &key.data.reader
            {
                queue(reader);
            }
            if events.is_writable()
                && let Some(writer) = &key.data.writer
            {
                queue(writer);
            }
        });
        drop((selector, ready));
        if observed {
            self.stats.selects.add(1);
            if let Some(at) = timed {
                self.stats
                    .select_blocked_ns
                    .add(coarse().saturating_sub(at));
            }
            let end = tracing.then(now_ns);
            if let Some(end) = end {
                self.trace_clock.set(end); // the select's end, for what follows
            }
            let now = self.trace_now();
            for (fd, events) in reported {
                self.record(now, 0, Kind::IoReady { fd, events });
            }
        }
        // After the select's own accounting: their time is not the select's.
        if !wakes.is_empty() {
            if observed {
                self.run_waking_observed(&mut wakes);
            } else {
                self.run_waking(&mut wakes);
            }
        }
        drop(wakes);
        match result {
            Ok(count) => (count, woken),
            Err(err) => {
                self.report("Selector failed".to_string(), Some(err.to_string()));
                (0, false)
            }
        }
    }

    /// Runs the waking I/O callbacks a select reported (`add_waking_reader`),
    /// in the order it reported them: each wakes a task, whose step joins
    /// the ready queue behind what is already there.
    /// (The observed path, counted and timed like phase 5's items, is
    /// `run_waking_observed`.)
    fn run_waking(&self, wakes: &mut Vec<Rc<IoCallback>>) {
        for io in wakes.drain(..) {
            self.run_waking_one(&io);
        }
    }

    /// One waking callback, unless it was removed meanwhile (by an earlier
    /// one of the same select, say); a panic is reported.
    pub(super) fn run_waking_one(&self, io: &IoCallback) {
        if !io.cancelled.get()
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| (io.callback)()))
        {
            self.report(
                "Exception in I/O callback".to_string(),
                Some(panic_message(&*payload)),
            );
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
        let observed = self.observed.get();
        for item in items.drain(..) {
            match item {
                RemoteItem::Call(f) if observed => {
                    self.stats.remote_calls.add(1);
                    self.ready
                        .borrow_mut()
                        .push_back(Runnable::Callback(callback(f)));
                }
                RemoteItem::Wake(key) if observed => {
                    self.stats.remote_wakes.add(1);
                    if self.tracing()
                        && let Some(number) = self.task_number(key)
                    {
                        let now = self.trace_now();
                        self.record(now, 0, Kind::RemoteWake { task: number });
                    }
                    self.wake_task(key);
                }
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

    /// Runs one ready item, catching panics. Inlined: it is the body of
    /// every run phase's loop, and a call's prologue cost more than it.
    #[inline(always)]
    pub(super) fn run_one(self: &Rc<Self>, runnable: Runnable) {
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
}
