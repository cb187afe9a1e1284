//! The inspector: what `corio-ps PID` talks to. Off unless a program
//! turns it on ([`enable`], or `CORIO_INSPECT=1` in its environment);
//! then one thread of the process listens on a Unix socket and answers
//! `ps`, `tree`, `metrics` and `trace SECONDS`.
//!
//! # The socket and who may use it
//!
//! The socket is `$XDG_RUNTIME_DIR/corio/PID.sock`, or
//! `/tmp/corio-UID/PID.sock` without that variable, in a directory made
//! with mode 0700 and refused if another user owns it or it is open to
//! others; the socket itself is 0600. Only the process's own user (and
//! root) can connect: what it answers names tasks, files and addresses,
//! and `trace` switches the recorder on, which costs the process time, so
//! it is not for everyone on the machine.
//!
//! # Asking never stops the loop
//!
//! The inspector thread reads each loop's counters (atomics) directly and
//! asks the loop for its tasks with a callback through the loop's
//! thread-safe queue, as `call_soon_threadsafe` does; the loop answers in
//! its next iteration, after the current run phase, in time that grows
//! with its number of tasks (for `trace`, with its ring's size), and
//! nothing in the loop waits on the inspector. A loop that does not
//! answer within half a second (a step that blocks its thread, or a loop
//! that is not running) is shown with its counters and, with metrics on
//! (outside debug mode and the recorder), whether a step or a callback
//! runs and since when: the inspector never needs the loop to be idle,
//! and never polls a task.
//!
//! At most eight clients are served at once (more are closed unanswered),
//! each with 5 s to send its request and take its answer.
//!
//! # What a task awaits
//!
//! asyncio's `ps` reads the await chain from coroutine frames. A Rust
//! future's state is opaque, so corio shows what it knows: the task,
//! gather or future a task is parked on (asyncio's `_fut_waiter`), and the
//! last wait the task's own step noted: corio-sync's primitives note
//! theirs (`Lock.acquire @0x…`, `Queue.get @0x…`), as do `sleep` and any
//! code that calls [`note_wait`].

use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::time::Duration;

use super::LoopMetrics;
use super::stats::{LoopStats, all_loops};
use crate::remote::RemoteItem;

/// True once the inspector runs: wait notes are kept only then.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// How long the inspector waits for a loop's answer.
const ANSWER_TIMEOUT: Duration = Duration::from_millis(500);

/// One task as the inspector shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSnapshot {
    /// `N` of `Task-N` (the task's id).
    pub id: u64,
    /// Its name.
    pub name: String,
    /// "scheduled" (a step is queued), "cancelling", "waiting" (or
    /// "running", for a snapshot taken inside a step).
    pub state: &'static str,
    /// The task it awaits (its id), if it is parked on a task.
    pub awaits_task: Option<u64>,
    /// The tasks of a `gather` it is parked on.
    pub awaits_gather: Vec<u64>,
    /// What it waits on, in words: "Task-3", "gather(Task-4, Task-5)",
    /// "a Future", "Lock.acquire @0x…", "sleep"; empty if unknown.
    pub awaits: String,
    /// Time since it was created.
    pub age: Duration,
    /// Steps taken.
    pub polls: u32,
    /// Time spent in its steps: exact when every step was timed (debug
    /// mode, the recorder), else estimated from the steps that were (one
    /// in `POLL_SAMPLE_PERIOD` of the loop's); `None` when none was.
    pub poll_time: Option<Duration>,
    /// `poll_time` is an estimate.
    pub poll_time_estimated: bool,
    /// Where it was created.
    pub created_at: String,
}

/// A loop as the inspector shows it.
#[derive(Debug, Clone)]
pub struct LoopSnapshot {
    /// Its figures.
    pub metrics: LoopMetrics,
    /// Its tasks, or why they are missing.
    pub tasks: Result<Vec<TaskSnapshot>, String>,
}

/// The directory of the inspectors' sockets (see the module docs).
pub fn socket_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("corio"));
    }
    let uid = std::fs::metadata("/proc/self")?.uid();
    Ok(PathBuf::from(format!("/tmp/corio-{uid}")))
}

/// The socket of process `pid`'s inspector, as this process would name
/// its own: under this process's `XDG_RUNTIME_DIR`, else
/// `/tmp/corio-UID` of this process's user.
pub fn socket_path(pid: u32) -> io::Result<PathBuf> {
    Ok(socket_dir()?.join(format!("{pid}.sock")))
}

/// Where process `pid`'s inspector socket may be, first the likeliest:
/// [`socket_path`], then the places of the process's own user (from
/// `/proc/PID/status`): `/run/user/UID/corio` (a service's
/// `XDG_RUNTIME_DIR`) and `/tmp/corio-UID`. What `corio-ps` tries, so
/// that root, or a shell without `XDG_RUNTIME_DIR`, finds a service's.
pub fn socket_candidates(pid: u32) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = socket_path(pid).into_iter().collect();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|uid| uid.parse::<u32>().ok());
    if let Some(uid) = uid {
        for dir in [
            format!("/run/user/{uid}/corio"),
            format!("/tmp/corio-{uid}"),
        ] {
            let path = PathBuf::from(dir).join(format!("{pid}.sock"));
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    paths
}

/// Makes (or checks) the socket directory: ours, 0700.
fn private_dir() -> io::Result<PathBuf> {
    let dir = socket_dir()?;
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let meta = std::fs::symlink_metadata(&dir)?;
    let me = std::fs::metadata("/proc/self")?.uid();
    if !meta.is_dir() || meta.uid() != me || meta.mode() & 0o077 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user (mode {:o}, owner {})",
                dir.display(),
                meta.mode() & 0o777,
                meta.uid()
            ),
        ));
    }
    Ok(dir)
}

/// The running inspector's socket path.
static SOCKET: OnceLock<Mutex<Option<PathBuf>>> = OnceLock::new();

/// Starts the inspector (once per process; later calls return the same
/// path): a thread named `corio-inspect` listening on the socket of
/// [`socket_path`]. Sockets of processes that no longer exist are removed
/// from the directory on the way.
///
/// No asyncio counterpart: `python -m asyncio ps PID` (3.14) attaches
/// with the debugger interface instead, which needs privileges.
///
/// # Errors
/// The directory cannot be made or is not private, or the socket cannot
/// be bound.
pub fn enable() -> io::Result<PathBuf> {
    let slot = SOCKET.get_or_init(|| Mutex::new(None));
    let mut socket = slot
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(path) = socket.as_ref() {
        return Ok(path.clone());
    }
    let dir = private_dir()?;
    remove_stale_sockets(&dir);
    let path = dir.join(format!("{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    std::thread::Builder::new()
        .name("corio-inspect".into())
        .spawn(move || serve(listener))?;
    ENABLED.store(true, Ordering::Release);
    *socket = Some(path.clone());
    Ok(path)
}

/// Whether the inspector runs in this process.
pub fn is_enabled() -> bool {
    ENABLED.load(Ordering::Acquire)
}

/// Starts the inspector if the environment asks (`CORIO_INSPECT=1`); a
/// failure is written to standard error once.
pub(crate) fn enable_from_env() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        if std::env::var("CORIO_INSPECT").is_ok_and(|v| v == "1")
            && let Err(err) = enable()
        {
            eprintln!("corio: CORIO_INSPECT=1, but the inspector could not start: {err}");
        }
    });
}

fn remove_stale_sockets(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_suffix(".sock")) else {
            continue;
        };
        if pid.parse::<u32>().is_ok() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Records that the running task parks on `what` (at `object`, an
/// address that tells two primitives apart, or 0), for the inspector.
/// Costs one atomic load when the inspector is off. corio-sync's
/// primitives and `sleep` call it; so may any code with its own waits.
///
/// No asyncio counterpart (asyncio's `ps` reads coroutine frames).
pub fn note_wait(what: &'static str, object: usize) {
    if !is_enabled() {
        return;
    }
    if let Ok(lp) = crate::event_loop::running::running_inner() {
        lp.note_wait(what, object);
    }
}

/// The running loop's tasks as the inspector sees them (empty outside a
/// loop): what `corio-ps` prints, for a program that wants it itself.
pub fn running_loop_tasks() -> Vec<TaskSnapshot> {
    crate::event_loop::running::running_inner()
        .map_or_else(|_| Vec::new(), |lp| lp.snapshot_tasks())
}

/// Every loop of the process, asked as `corio-ps` asks (see the module
/// docs): may wait up to half a second for a loop that does not answer.
/// Call it from a thread that is not running a loop.
pub fn snapshot_all() -> Vec<LoopSnapshot> {
    let loops = all_loops();
    let (tx, rx) = mpsc::channel();
    let mut asked = Vec::new();
    for stats in &loops {
        let sent = stats
            .remote
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .map(|remote| {
                let tx = tx.clone();
                let id = stats.loop_id;
                let ask = move || {
                    let _ = tx.send((id, running_loop_tasks()));
                };
                remote.push(RemoteItem::Call(Box::new(ask))).is_ok()
            })
            .unwrap_or(false);
        asked.push(sent);
    }
    drop(tx);
    let mut answers: Vec<(u64, Vec<TaskSnapshot>)> = Vec::new();
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while answers.len() < asked.iter().filter(|a| **a).count() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(answer) => answers.push(answer),
            Err(_) => break,
        }
    }
    loops
        .iter()
        .map(|stats| {
            let tasks = answers
                .iter()
                .position(|(id, _)| *id == stats.loop_id)
                .map(|i| answers.swap_remove(i).1)
                .ok_or_else(|| unanswered(stats));
            LoopSnapshot {
                metrics: stats.snapshot(),
                tasks,
            }
        })
        .collect()
}

/// Why a loop did not answer, from its counters.
fn unanswered(stats: &Arc<LoopStats>) -> String {
    let item = stats
        .current_item
        .load(std::sync::atomic::Ordering::Relaxed);
    if item == super::watchdog::IDLE {
        return "no answer in 500 ms: the loop is not running (or runs with metrics off)"
            .to_string();
    }
    let now = super::trace::now_ns();
    let busy = Duration::from_nanos(now.saturating_sub(stats.item_seen_ns.get()));
    let what = match super::watchdog::item_address(item) {
        0 | 1 => "a callback".to_string(),
        task => format!("a step of the task at {task:#x}"),
    };
    format!(
        "no answer in 500 ms: {what} has been running for at least {:.3} s",
        busy.as_secs_f64()
    )
}

/// Formats a duration the way `ps` would: µs, ms or s.
fn short(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0}µs")
    } else if us < 1e6 {
        format!("{:.1}ms", us / 1000.0)
    } else {
        format!("{:.1}s", us / 1e6)
    }
}

fn loop_title(m: &LoopMetrics) -> String {
    format!(
        "loop {} (thread {}): {} tasks live, {} iterations, {} steps, {} slow",
        m.loop_id,
        m.thread.as_deref().unwrap_or("unnamed"),
        m.tasks_live,
        m.iterations,
        m.steps_run,
        m.slow_steps
    )
}

/// `corio-ps PID`: every task of every loop, one per line (asyncio 3.14's
/// `python -m asyncio ps`).
pub fn render_ps(loops: &[LoopSnapshot]) -> String {
    let mut out = String::new();
    for lp in loops {
        let _ = writeln!(out, "{}", loop_title(&lp.metrics));
        match &lp.tasks {
            Err(why) => {
                let _ = writeln!(out, "  {why}");
            }
            Ok(tasks) => {
                let _ = writeln!(
                    out,
                    "  {:>6}  {:<20} {:<10} {:>8} {:>6} {:>9}  {:<32} created at",
                    "id", "name", "state", "age", "polls", "poll time", "awaits"
                );
                for t in tasks {
                    let _ = writeln!(
                        out,
                        "  {:>6}  {:<20} {:<10} {:>8} {:>6} {:>9}  {:<32} {}",
                        t.id,
                        t.name,
                        t.state,
                        short(t.age),
                        t.polls,
                        match (t.poll_time, t.poll_time_estimated) {
                            (None, _) => "-".to_string(),
                            (Some(d), false) => short(d),
                            (Some(d), true) => format!("~{}", short(d)),
                        },
                        if t.awaits.is_empty() { "-" } else { &t.awaits },
                        t.created_at
                    );
                }
            }
        }
    }
    out
}

/// `corio-ps --tree PID`: each loop's tasks as a tree of who awaits whom
/// (asyncio 3.14's `python -m asyncio pstree`); a task awaited by none is
/// a root.
pub fn render_tree(loops: &[LoopSnapshot]) -> String {
    let mut out = String::new();
    for lp in loops {
        let _ = writeln!(out, "{}", loop_title(&lp.metrics));
        let tasks = match &lp.tasks {
            Err(why) => {
                let _ = writeln!(out, "  {why}");
                continue;
            }
            Ok(tasks) => tasks,
        };
        let children = |t: &TaskSnapshot| -> Vec<u64> {
            let mut ids: Vec<u64> = t.awaits_task.into_iter().collect();
            ids.extend(&t.awaits_gather);
            ids
        };
        let awaited: std::collections::HashSet<u64> = tasks.iter().flat_map(children).collect();
        let by_id: std::collections::HashMap<u64, &TaskSnapshot> =
            tasks.iter().map(|t| (t.id, t)).collect();
        let mut roots: Vec<&TaskSnapshot> =
            tasks.iter().filter(|t| !awaited.contains(&t.id)).collect();
        if roots.is_empty() {
            roots = tasks.iter().collect(); // a cycle: show every task
        }
        let mut seen = std::collections::HashSet::new();
        for (i, root) in roots.iter().enumerate() {
            let last = i + 1 == roots.len();
            tree_line(&mut out, root, "  ", last, &by_id, &children, &mut seen);
        }
    }
    out
}

fn tree_line(
    out: &mut String,
    task: &TaskSnapshot,
    prefix: &str,
    last: bool,
    by_id: &std::collections::HashMap<u64, &TaskSnapshot>,
    children: &dyn Fn(&TaskSnapshot) -> Vec<u64>,
    seen: &mut std::collections::HashSet<u64>,
) {
    let branch = if last { "└── " } else { "├── " };
    let awaits = if task.awaits.is_empty() {
        String::new()
    } else {
        format!(" awaits {}", task.awaits)
    };
    let _ = writeln!(
        out,
        "{prefix}{branch}Task-{} '{}' [{}]{awaits}",
        task.id, task.name, task.state
    );
    if !seen.insert(task.id) {
        return; // already shown above: a cycle
    }
    let next = format!("{prefix}{}", if last { "    " } else { "│   " });
    let kids: Vec<&TaskSnapshot> = children(task)
        .iter()
        .filter_map(|id| by_id.get(id).copied())
        .collect();
    for (i, kid) in kids.iter().enumerate() {
        tree_line(out, kid, &next, i + 1 == kids.len(), by_id, children, seen);
    }
}

/// `corio-ps --metrics PID`: each loop's figures.
pub fn render_metrics(loops: &[LoopSnapshot]) -> String {
    let mut out = String::new();
    for lp in loops {
        let _ = writeln!(out, "{:#?}", lp.metrics);
    }
    out
}

/// Records every loop's trace for `seconds` and returns it as one Chrome
/// trace document. A loop that was recording already keeps recording; one
/// the inspector switched on is switched off after, once no other
/// inspector session still records it; a loop that takes the request to
/// start only after the answer time has passed does not start at all.
fn record_all(seconds: f64) -> String {
    let loops = all_loops();
    let call = |stats: &Arc<LoopStats>, f: Box<dyn FnOnce() + Send>| {
        stats
            .remote
            .as_ref()
            .and_then(std::sync::Weak::upgrade)
            .is_some_and(|remote| remote.push(RemoteItem::Call(f)).is_ok())
    };
    // The loops that started, as they start; closed (None) once the wait
    // for them ends, so that a late start is refused.
    let started: Arc<Mutex<Option<Vec<u64>>>> = Arc::new(Mutex::new(Some(Vec::new())));
    for stats in &loops {
        let (started, id) = (started.clone(), stats.loop_id);
        call(
            stats,
            Box::new(move || {
                let mut started = started
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let (Some(list), Ok(lp)) = (
                    started.as_mut(),
                    crate::event_loop::running::running_inner(),
                ) {
                    lp.inspector_trace_begin();
                    list.push(id);
                }
            }),
        );
    }
    let deadline = std::time::Instant::now() + ANSWER_TIMEOUT;
    while std::time::Instant::now() < deadline {
        let count = started
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .map_or(0, Vec::len);
        if count == loops.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let recording = started
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
        .unwrap_or_default();
    std::thread::sleep(Duration::from_secs_f64(seconds.clamp(0.0, 600.0)));
    // The loop only copies its ring; the JSON is made here.
    let (tx, rx) = mpsc::channel::<Option<super::trace::TraceCopy>>();
    for stats in loops.iter().filter(|s| recording.contains(&s.loop_id)) {
        let tx = tx.clone();
        call(
            stats,
            Box::new(move || {
                if let Ok(lp) = crate::event_loop::running::running_inner() {
                    let copy = lp.trace_copy();
                    lp.inspector_trace_end();
                    let _ = tx.send(copy);
                }
            }),
        );
    }
    drop(tx);
    let mut all = String::new();
    while let Ok(copy) = rx.recv_timeout(ANSWER_TIMEOUT) {
        let mut events = String::new();
        if let Some(copy) = copy {
            copy.write_json(&mut events);
        }
        if events.is_empty() {
            continue;
        }
        if !all.is_empty() {
            all.push_str(",\n");
        }
        all.push_str(&events);
    }
    super::trace::document(&all)
}

/// Answers one request (a line: `ps`, `tree`, `metrics`, `trace SECONDS`).
pub fn answer(request: &str) -> String {
    let mut words = request.split_whitespace();
    match (words.next(), words.next()) {
        (Some("ps"), None) => render_ps(&snapshot_all()),
        (Some("tree"), None) => render_tree(&snapshot_all()),
        (Some("metrics"), None) => render_metrics(&snapshot_all()),
        (Some("trace"), Some(seconds)) => match seconds.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => record_all(s),
            _ => format!("error: bad number of seconds {seconds:?}\n"),
        },
        _ => format!(
            "error: unknown request {:?}; try ps, tree, metrics or trace SECONDS\n",
            request.trim()
        ),
    }
}

/// Clients served at once; more are refused (closed unanswered).
const MAX_CLIENTS: usize = 8;

fn serve(listener: UnixListener) {
    let clients = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        if clients.fetch_add(1, Ordering::AcqRel) >= MAX_CLIENTS {
            clients.fetch_sub(1, Ordering::AcqRel);
            continue; // dropped: too many at once
        }
        // Each client on its own thread, so that a slow one cannot hold
        // the others up; reads and writes time out after 5 s.
        let clients = clients.clone();
        let spawned = std::thread::Builder::new()
            .name("corio-inspect".into())
            .spawn({
                let clients = clients.clone();
                move || {
                    let _ = handle(conn);
                    clients.fetch_sub(1, Ordering::AcqRel);
                }
            });
        if spawned.is_err() {
            clients.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

fn handle(conn: UnixStream) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut line = String::new();
    BufReader::new(conn.try_clone()?)
        .take(256)
        .read_line(&mut line)?;
    let reply = answer(&line);
    (&conn).write_all(reply.as_bytes())
}
