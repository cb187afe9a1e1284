//! The flight recorder: a ring of the loop's last events, and their export
//! as Chrome trace-event JSON (Perfetto, `chrome://tracing`), one track
//! for the loop and one for each task.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::panic::Location;
use std::sync::OnceLock;

/// Events a ring keeps unless told otherwise (about 2.5 MB).
pub const DEFAULT_TRACE_EVENTS: usize = 65_536;

/// The process's time origin (monotonic ns), shared by every loop's trace
/// so that the tracks of several loops line up: set by the first ring.
fn epoch() -> u64 {
    static EPOCH: OnceLock<u64> = OnceLock::new();
    *EPOCH.get_or_init(corio_timer::monotonic_ns)
}

/// A reading of the monotonic clock in ns: what events are stamped with
/// (`corio_timer::monotonic_ns`, a number, so that a span is a
/// subtraction).
#[inline]
pub(crate) fn now_ns() -> u64 {
    corio_timer::monotonic_ns()
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// One `_run_once`, start to end.
    Iteration,
    /// Phase 2: `select` with this timeout (`u64::MAX`: none), reporting
    /// `fds` fds.
    Select { timeout_ns: u64, fds: u64 },
    /// Phase 3: `count` items came from other threads.
    Remote { count: u64 },
    /// Phase 4: `count` timers fired.
    Timers { count: u64 },
    /// Phase 5: `items` callbacks and steps run.
    Run { items: u64 },
    /// A step of task `task` (its number).
    Step { task: u64 },
    /// A `call_soon` or timer callback.
    Callback,
    /// A reader or writer callback.
    Io,
    /// `task` was woken by task `by` (0: by a callback).
    Wake { task: u64, by: u64 },
    /// `task` was woken from another thread.
    RemoteWake { task: u64 },
    /// `fd` was reported ready with these selector events.
    IoReady { fd: u64, events: u64 },
    /// A timer fired this late (ns).
    TimerFired { late_ns: u64 },
    /// The ready queue gave memory back: capacity before and after.
    ReadyGc { from: u64, to: u64 },
    /// Task `task` was created at `location`.
    Spawn {
        task: u64,
        location: &'static Location<'static>,
    },
    /// Task `task` finished.
    Finish { task: u64 },
}

/// One event: when it started, how long it lasted (0: an instant).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) start: u64,
    pub(crate) dur: u64,
    pub(crate) kind: Kind,
}

/// A loop's ring of events.
#[derive(Clone)]
pub(crate) struct TraceRing {
    events: Vec<Event>,
    /// Where the next event goes once the ring is full.
    next: usize,
    capacity: usize,
    /// Events overwritten since the ring was made.
    pub(crate) lost: u64,
    /// Names of tasks that finished with a name of their own.
    names: HashMap<u64, String>,
}

impl TraceRing {
    pub(crate) fn new(capacity: usize) -> TraceRing {
        epoch(); // fixed no later than the first event
        TraceRing {
            events: Vec::new(),
            next: 0,
            capacity: capacity.max(16),
            lost: 0,
            names: HashMap::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, start: u64, dur: u64, kind: Kind) {
        let event = Event { start, dur, kind };
        if self.events.len() < self.capacity {
            self.events.push(event);
        } else {
            self.events[self.next] = event;
            self.next = (self.next + 1) % self.capacity;
            self.lost += 1;
        }
    }

    pub(crate) fn name(&mut self, task: u64, name: String) {
        self.names.insert(task, name);
    }

    /// The events, oldest first.
    pub(crate) fn events(&self) -> impl Iterator<Item = &Event> {
        let (newer, older) = self.events.split_at(self.next);
        older.iter().chain(newer)
    }

    /// This ring as trace events of process `pid` (the loop), without the
    /// enclosing object. `names` adds the names of tasks still alive.
    pub(crate) fn write_json(
        &self,
        out: &mut String,
        pid: u64,
        loop_name: &str,
        live_names: &HashMap<u64, String>,
    ) {
        let mut tasks: HashMap<u64, ()> = HashMap::new();
        let sep = |out: &mut String| {
            if !out.is_empty() && !out.ends_with('[') {
                out.push_str(",\n");
            }
        };
        let name_of = |task: u64| -> String {
            live_names
                .get(&task)
                .or_else(|| self.names.get(&task))
                .cloned()
                .unwrap_or_else(|| format!("Task-{task}"))
        };
        sep(out);
        let _ = write!(
            out,
            r#"{{"name":"process_name","ph":"M","pid":{pid},"tid":0,"args":{{"name":{}}}}}"#,
            json_str(loop_name)
        );
        sep(out);
        let _ = write!(
            out,
            r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":0,"args":{{"name":"run_once"}}}}"#
        );
        let origin = epoch();
        for e in self.events() {
            let ts = e.start.saturating_sub(origin) as f64 / 1000.0;
            let dur = e.dur as f64 / 1000.0;
            let (tid, name, ph, args) = match e.kind {
                Kind::Iteration => (0, "iteration".to_string(), 'X', String::new()),
                Kind::Select { timeout_ns, fds } => {
                    let timeout = if timeout_ns == u64::MAX {
                        "null".to_string()
                    } else {
                        format!("{}", timeout_ns as f64 / 1e6)
                    };
                    (
                        0,
                        "select".to_string(),
                        'X',
                        format!(r#""timeout_ms":{timeout},"fds":{fds}"#),
                    )
                }
                Kind::Remote { count } => (0, "remote".into(), 'X', format!(r#""items":{count}"#)),
                Kind::Timers { count } => (0, "timers".into(), 'X', format!(r#""fired":{count}"#)),
                Kind::Run { items } => (0, "run".into(), 'X', format!(r#""items":{items}"#)),
                Kind::Step { task } => {
                    tasks.insert(task, ());
                    // On the loop's track, named after the task, and on
                    // the task's own.
                    sep(out);
                    let _ = write!(
                        out,
                        r#"{{"name":{},"cat":"step","ph":"X","pid":{pid},"tid":0,"ts":{ts:.3},"dur":{dur:.3},"args":{{"task":{task}}}}}"#,
                        json_str(&name_of(task))
                    );
                    (task, "step".into(), 'X', String::new())
                }
                Kind::Callback => (0, "callback".into(), 'X', String::new()),
                Kind::Io => (0, "io callback".into(), 'X', String::new()),
                Kind::Wake { task, by } => {
                    tasks.insert(task, ());
                    let by = if by == 0 {
                        r#""a callback""#.to_string()
                    } else {
                        json_str(&name_of(by))
                    };
                    (task, "wake".into(), 'i', format!(r#""by":{by}"#))
                }
                Kind::RemoteWake { task } => {
                    tasks.insert(task, ());
                    (task, "wake".into(), 'i', r#""by":"another thread""#.into())
                }
                Kind::IoReady { fd, events } => (
                    0,
                    format!("fd {fd} ready"),
                    'i',
                    format!(r#""fd":{fd},"events":{events}"#),
                ),
                Kind::TimerFired { late_ns } => (
                    0,
                    "timer".into(),
                    'i',
                    format!(r#""late_us":{:.3}"#, late_ns as f64 / 1000.0),
                ),
                Kind::ReadyGc { from, to } => (
                    0,
                    "ready queue shrunk".into(),
                    'i',
                    format!(r#""from":{from},"to":{to}"#),
                ),
                Kind::Spawn { task, location } => {
                    tasks.insert(task, ());
                    (
                        task,
                        "spawn".into(),
                        'i',
                        format!(r#""at":{}"#, json_str(&location.to_string())),
                    )
                }
                Kind::Finish { task } => {
                    tasks.insert(task, ());
                    (task, "finish".into(), 'i', String::new())
                }
            };
            sep(out);
            let _ = write!(
                out,
                r#"{{"name":{},"ph":"{ph}","pid":{pid},"tid":{tid},"ts":{ts:.3}"#,
                json_str(&name)
            );
            if ph == 'X' {
                let _ = write!(out, r#","dur":{dur:.3}"#);
            } else {
                out.push_str(r#","s":"t""#);
            }
            let _ = write!(out, r#","args":{{{args}}}}}"#);
        }
        let mut numbers: Vec<u64> = tasks.into_keys().collect();
        numbers.sort_unstable();
        for task in numbers {
            sep(out);
            let _ = write!(
                out,
                r#"{{"name":"thread_name","ph":"M","pid":{pid},"tid":{task},"args":{{"name":{}}}}}"#,
                json_str(&name_of(task))
            );
        }
    }
}

/// A loop's recorder, copied out of the loop with what its export needs.
pub(crate) struct TraceCopy {
    pub(crate) ring: TraceRing,
    pub(crate) loop_id: u64,
    pub(crate) title: String,
    pub(crate) live_names: HashMap<u64, String>,
}

impl TraceCopy {
    /// The trace events (without the enclosing object).
    pub(crate) fn write_json(&self, out: &mut String) {
        self.ring
            .write_json(out, self.loop_id, &self.title, &self.live_names);
    }
}

/// `s` as a JSON string literal.
pub(crate) fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Wraps trace events (as `write_json` writes them) in the JSON object the
/// viewers open.
pub(crate) fn document(events: &str) -> String {
    format!("{{\"displayTimeUnit\":\"ns\",\"traceEvents\":[{events}\n]}}\n")
}

/// How the environment asks for the recorder: `CORIO_TRACE` set to
/// anything but `0` or an empty string records from each loop's creation
/// (`CORIO_TRACE_EVENTS` sizes the ring); a value other than `1` is also a
/// file each loop writes its trace to when it closes, with `{pid}` and
/// `{loop}` replaced by the process and loop ids.
pub(crate) struct TraceEnv {
    pub(crate) on: bool,
    pub(crate) events: usize,
    pub(crate) path: Option<String>,
}

pub(crate) fn env() -> &'static TraceEnv {
    static ENV: OnceLock<TraceEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let value = std::env::var("CORIO_TRACE").unwrap_or_default();
        let on = !value.is_empty() && value != "0";
        let events = std::env::var("CORIO_TRACE_EVENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_TRACE_EVENTS);
        let path = (on && value != "1").then_some(value);
        TraceEnv { on, events, path }
    })
}

/// A ring for a new loop, if the environment asks for one.
pub(crate) fn from_env() -> Option<TraceRing> {
    let env = env();
    env.on.then(|| TraceRing::new(env.events))
}
