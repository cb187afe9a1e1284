//! What the loop shows of itself: the public side of metrics and the
//! flight recorder on [`EventLoop`](super::EventLoop), the recorder's
//! export, and what the inspector (`observe::inspect`) asks of the loop:
//! wait notes, task snapshots, trace sessions. The counting itself is in
//! `observed.rs`.

use std::time::Duration;

use corio_reactor::Selector;
use corio_timer::CoarseInstant;

use super::inner::LoopInner;

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
