//! Many cores: a runtime of N loops, one per thread (DESIGN rule 10).
//!
//! ```text
//!          Cores::run(main)  (the calling thread: Ctrl-C, results)
//!        ┌──────────────┬──────────────┬──────────────┐
//!   loop-0 thread   loop-1 thread   …            loop-N-1 thread
//!   EventLoop       EventLoop                    EventLoop
//!   main(Core 0)    main(Core 1)                 main(Core N-1)
//!     │ listener      │ listener                   │ listener   (one SO_REUSEPORT
//!     ▼ on :8000      ▼ on :8000                   ▼ on :8000    socket each)
//!   channel(): Sender (any loop/thread) ──▶ Receiver (one loop)
//! ```
//!
//! Each loop is an ordinary [`EventLoop`]: everything one loop offers
//! works unchanged on each, and nothing is shared between them unless the
//! program shares it (a [`channel`], an `Arc`). No work stealing: a task
//! stays on the loop that made it, so it may hold `Rc` and `RefCell`.
//! asyncio has no counterpart (one loop per process, in practice); the
//! model is glommio's, monoio's and Seastar's (thread per core).

mod channel;

pub use channel::{Receiver, SendError, Sender, TrySendError, channel};

use std::cell::RefCell;
use std::future::Future as StdFuture;
use std::io;
use std::panic::Location;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};

use corio_reactor::signal::{Disposition, SIGINT, SIGTERM, disposition};

use crate::event_loop::running::set_event_loop;
use crate::{EventLoop, LoopHandle, RunError, TaskRef};

/// What one loop of a [`Cores`] runtime knows of it: its number, how many
/// loops there are, and whether the runtime is shutting down.
#[derive(Clone)]
pub struct Core {
    index: usize,
    count: usize,
    shutdown: Arc<ShutdownFlag>,
}

/// Set once when the runtime shuts down; the loops' waiters woken.
#[derive(Default)]
struct ShutdownFlag {
    set: AtomicBool,
    waiters: Mutex<Vec<Waker>>,
}

impl ShutdownFlag {
    fn set(&self) -> bool {
        if self.set.swap(true, Ordering::AcqRel) {
            return false;
        }
        let waiters =
            std::mem::take(&mut *self.waiters.lock().unwrap_or_else(PoisonError::into_inner));
        for waiter in waiters {
            waiter.wake();
        }
        true
    }
}

impl Core {
    /// This loop's number, from 0. (Its thread is named after it.)
    pub fn index(&self) -> usize {
        self.index
    }

    /// How many loops the runtime has.
    pub fn count(&self) -> usize {
        self.count
    }

    /// True once the runtime shuts down (Ctrl-C, SIGTERM, a loop failed).
    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.set.load(Ordering::Acquire)
    }

    /// Asks every loop to shut down gracefully: each one's
    /// [`shutdown_requested`](Self::shutdown_requested) completes, and its
    /// main decides what to finish (no main is cancelled, unlike Ctrl-C).
    /// For a program that knows when it is done, from any of its loops.
    pub fn request_shutdown(&self) {
        self.shutdown.set();
    }

    /// Waits until the runtime shuts down: for a loop that has work to
    /// finish before its main is cancelled, or that waits for nothing
    /// else. No asyncio counterpart (asyncio has one loop).
    pub async fn shutdown_requested(&self) {
        std::future::poll_fn(|cx| {
            if self.is_shutting_down() {
                return Poll::Ready(());
            }
            let mut waiters = self
                .shutdown
                .waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if self.is_shutting_down() {
                return Poll::Ready(());
            }
            if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                waiters.push(cx.waker().clone());
            }
            Poll::Pending
        })
        .await;
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("index", &self.index)
            .field("count", &self.count)
            .finish()
    }
}

/// How a [`Cores`] runtime ended without every loop's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoresError {
    /// Loop `core`'s main failed (panicked, or was cancelled by itself);
    /// the other loops were stopped. The first failure is reported.
    #[error("loop {core} failed: {error}")]
    Failed {
        /// The loop's number.
        core: usize,
        /// Its failure.
        error: RunError,
    },
    /// Ctrl-C or SIGTERM stopped every loop. Python: `KeyboardInterrupt`.
    #[error("interrupted (SIGINT/SIGTERM): every loop was stopped")]
    Interrupted,
    /// A loop's thread or its event loop could not be made.
    #[error("cannot start loop {core}: {error}")]
    Start {
        /// The loop's number.
        core: usize,
        /// Why.
        error: io::Error,
    },
}

/// A runtime of N event loops, one per thread. No asyncio counterpart;
/// the thread-per-core model (DESIGN rule 10). See [`Cores::run`].
#[derive(Debug, Clone)]
pub struct Cores {
    count: usize,
    thread_name: String,
    pin: bool,
}

impl Default for Cores {
    fn default() -> Self {
        Cores::new()
    }
}

/// What a loop's thread sends back when its main is done.
type Outcome<T> = (usize, Result<T, SentError>);

/// A loop's failure in a form that crosses threads (a `TaskError` may
/// hold an `Rc`); made a `RunError` again on the calling thread.
#[derive(Debug)]
enum SentError {
    Loop(crate::LoopError),
    Cancelled,
    Panicked(String),
    Other(String),
}

impl SentError {
    fn of(error: RunError) -> SentError {
        match error {
            RunError::Loop(e) => SentError::Loop(e),
            RunError::Task(crate::TaskError::Cancelled) => SentError::Cancelled,
            RunError::Task(crate::TaskError::Panicked(m)) => SentError::Panicked(m),
            other => SentError::Other(other.to_string()),
        }
    }

    fn into_run_error(self) -> RunError {
        match self {
            SentError::Loop(e) => RunError::Loop(e),
            SentError::Cancelled => RunError::Task(crate::TaskError::Cancelled),
            SentError::Panicked(m) => RunError::Task(crate::TaskError::Panicked(m)),
            SentError::Other(m) => RunError::Task(crate::TaskError::exception(io::Error::other(m))),
        }
    }

    fn is_cancelled(&self) -> bool {
        matches!(self, SentError::Cancelled)
    }
}

thread_local! {
    /// The main task of this thread's loop, for a shutdown to cancel.
    static MAIN_TASK: RefCell<Option<TaskRef>> = const { RefCell::new(None) };
}

impl Cores {
    /// As many loops as the machine has cores
    /// (`std::thread::available_parallelism`), threads named `corio-N`.
    pub fn new() -> Cores {
        Cores {
            count: std::thread::available_parallelism().map_or(1, |n| n.get()),
            thread_name: "corio".to_string(),
            pin: false,
        }
    }

    /// Runs `count` loops (at least 1).
    #[must_use]
    pub fn count(mut self, count: usize) -> Cores {
        self.count = count.max(1);
        self
    }

    /// Pins loop N's thread to CPU N (modulo the CPUs there are), so each
    /// loop keeps its core's caches (off by default: the kernel moves
    /// threads as it sees fit). A pin the kernel refuses is reported
    /// through that loop's exception handler, and the loop runs unpinned.
    #[must_use]
    pub fn pin(mut self, pin: bool) -> Cores {
        self.pin = pin;
        self
    }

    /// Names the loops' threads `PREFIX-N` (default `corio-N`), as
    /// Python's `ThreadPoolExecutor(thread_name_prefix=...)` does.
    #[must_use]
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Cores {
        self.thread_name = prefix.into();
        self
    }

    /// Runs `main(core)` as the main task of each loop, each loop on a
    /// thread of its own, and returns the loops' values in core order once
    /// every main has returned. Each loop is shut down as
    /// [`run`](crate::run) shuts its loop down (what is left is cancelled
    /// and finishes, then the loop closes); no loop thread outlives this
    /// call.
    ///
    /// When SIGINT and SIGTERM have their default disposition (nobody else
    /// handles them), Ctrl-C or SIGTERM stops every loop:
    /// each main task is cancelled, as `run` does on Ctrl-C, and a second
    /// Ctrl-C ends the process at once. A main that panics (or fails)
    /// stops the others the same way, and is reported.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{Cores, sleep};
    /// use std::time::Duration;
    ///
    /// let values = Cores::new().count(3).run(|core| async move {
    ///     sleep(Duration::from_millis(1)).await;
    ///     let me = std::thread::current().name().map(str::to_owned);
    ///     (core.index(), me)
    /// })?;
    /// assert_eq!(values[2], (2, Some("corio-2".to_string())));
    /// # Ok::<(), corio_executor::CoresError>(())
    /// ```
    ///
    /// # Errors
    /// [`CoresError::Failed`] naming the first loop whose main failed;
    /// [`CoresError::Interrupted`] after Ctrl-C or SIGTERM;
    /// [`CoresError::Start`] when a thread or a loop cannot be made.
    #[track_caller]
    pub fn run<F, Fut>(self, main: F) -> Result<Vec<Fut::Output>, CoresError>
    where
        F: Fn(Core) -> Fut + Send + Sync + 'static,
        Fut: StdFuture + 'static,
        Fut::Output: Send + 'static,
    {
        let location = Location::caller();
        let main = Arc::new(main);
        let shutdown = Arc::new(ShutdownFlag::default());
        let coordinator = EventLoop::new().map_err(|e| CoresError::Start {
            core: 0,
            error: io::Error::other(e.to_string()),
        })?;
        // The stop signals are taken before any loop starts: a Ctrl-C while
        // the loops start stops them instead of killing the process (the
        // handles are filled in as they come).
        let interrupted = Rc::new(std::cell::Cell::new(false));
        let known: Rc<std::cell::RefCell<Vec<LoopHandle>>> = Rc::default();
        stop_on_signals(&coordinator, &shutdown, &known, &interrupted);
        let (done_tx, mut done_rx) = channel::<Outcome<Fut::Output>>(self.count);
        let (handle_tx, handle_rx) = std::sync::mpsc::channel::<LoopHandle>();
        let mut threads = Vec::with_capacity(self.count);
        for index in 0..self.count {
            let core = Core {
                index,
                count: self.count,
                shutdown: shutdown.clone(),
            };
            let (main, done, handles) = (main.clone(), done_tx.clone(), handle_tx.clone());
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            let pin = self.pin.then_some(index % cpus);
            let spawned = std::thread::Builder::new()
                .name(format!("{}-{index}", self.thread_name))
                .spawn(move || run_one_loop(core, &*main, location, &handles, &done, pin));
            match spawned {
                Ok(thread) => threads.push(thread),
                Err(error) => {
                    stop_all(&shutdown, &handle_rx.try_iter().collect::<Vec<_>>());
                    join_all(threads);
                    return Err(CoresError::Start { core: index, error });
                }
            }
        }
        drop((done_tx, handle_tx));
        // Every loop sends its handle first (or fails before it can).
        let handles: Vec<LoopHandle> = handle_rx.iter().take(self.count).collect();
        known.borrow_mut().clone_from(&handles);
        let collected = coordinator.run_until_complete({
            let (shutdown, handles) = (shutdown.clone(), handles.clone());
            async move {
                let mut outcomes = Vec::new();
                while let Some((core, outcome)) = done_rx.recv().await {
                    if outcome.is_err() {
                        stop_all(&shutdown, &handles);
                    }
                    outcomes.push((core, outcome));
                }
                outcomes
            }
        });
        coordinator.close().ok();
        join_all(threads);
        let mut outcomes = collected.map_err(|error| CoresError::Failed { core: 0, error })?;
        outcomes.sort_by_key(|(core, _)| *core);
        if interrupted.get() {
            return Err(CoresError::Interrupted);
        }
        // The first failure not caused by the shutdown it started.
        let failed = outcomes
            .iter()
            .position(|(_, o)| o.as_ref().is_err_and(|e| !e.is_cancelled()))
            .or_else(|| outcomes.iter().position(|(_, o)| o.is_err()));
        if let Some(at) = failed {
            let (core, outcome) = outcomes.swap_remove(at);
            let error = outcome.err().expect("a failure").into_run_error();
            return Err(CoresError::Failed { core, error });
        }
        if outcomes.len() < self.count {
            let core = (0..self.count)
                .find(|c| !outcomes.iter().any(|(done, _)| done == c))
                .unwrap_or(0);
            return Err(CoresError::Start {
                core,
                error: io::Error::other("the loop's thread ended without a result"),
            });
        }
        Ok(outcomes
            .into_iter()
            .map(|(_, outcome)| outcome.expect("checked above"))
            .collect())
    }
}

/// [`Cores`] with `count` loops: `run_per_core(n, main)` is
/// `Cores::new().count(n).run(main)`. No asyncio counterpart.
///
/// # Errors
/// As [`Cores::run`].
#[track_caller]
pub fn run_per_core<F, Fut>(count: usize, main: F) -> Result<Vec<Fut::Output>, CoresError>
where
    F: Fn(Core) -> Fut + Send + Sync + 'static,
    Fut: StdFuture + 'static,
    Fut::Output: Send + 'static,
{
    Cores::new().count(count).run(main)
}

/// One loop's thread: its loop, its main task, `run`'s shutdown; the
/// outcome goes back through `done`.
fn run_one_loop<F, Fut>(
    core: Core,
    main: &F,
    location: &'static Location<'static>,
    handles: &std::sync::mpsc::Sender<LoopHandle>,
    done: &Sender<Outcome<Fut::Output>>,
    pin: Option<usize>,
) where
    F: Fn(Core) -> Fut,
    Fut: StdFuture + 'static,
    Fut::Output: Send + 'static,
{
    let index = core.index;
    let outcome = match EventLoop::new() {
        Err(e) => Err(SentError::Loop(e)),
        Ok(lp) => {
            if let Some(cpu) = pin
                && let Err(e) = corio_reactor::signal::pin_current_thread(cpu)
            {
                lp.call_exception_handler(crate::ExceptionContext {
                    message: format!("Could not pin loop {index} to CPU {cpu}"),
                    exception: Some(e.to_string()),
                });
            }
            set_event_loop(Some(&lp));
            let task = crate::task::spawn(&lp.inner, main(core), location);
            MAIN_TASK.with(|m| *m.borrow_mut() = Some(task.as_ref()));
            // After the main task exists: a shutdown from now on reaches it.
            handles.send(lp.handle()).ok();
            let outcome = crate::run::run_to_the_end(&lp, task);
            MAIN_TASK.with(|m| m.borrow_mut().take());
            outcome.map_err(SentError::of)
        }
    };
    done.blocking_send((index, outcome)).ok();
}

/// Stops every loop: the flag, then each loop's main task cancelled on its
/// own thread.
fn stop_all(shutdown: &ShutdownFlag, handles: &[LoopHandle]) {
    if !shutdown.set() {
        return;
    }
    for handle in handles {
        // Err: that loop is done already.
        let _ = handle.call_soon_threadsafe(|| {
            MAIN_TASK.with(|m| {
                if let Some(task) = &*m.borrow() {
                    task.cancel();
                }
            });
        });
    }
}

fn join_all(threads: Vec<std::thread::JoinHandle<()>>) {
    for thread in threads {
        // A loop thread that panicked outside its main (caught inside).
        let _ = thread.join();
    }
}

/// SIGINT and SIGTERM, where nobody else handles them (their default
/// disposition): the first stops every loop (and gives the signals their
/// default action back, so a second ends the process at once, as `run`
/// does). Unlike `run`, not only on the main thread: the thread that
/// calls `Cores::run` is the program's coordinator wherever it runs.
fn stop_on_signals(
    lp: &EventLoop,
    shutdown: &Arc<ShutdownFlag>,
    handles: &Rc<std::cell::RefCell<Vec<LoopHandle>>>,
    interrupted: &Rc<std::cell::Cell<bool>>,
) {
    for signum in [SIGINT, SIGTERM] {
        if disposition(signum).ok() != Some(Disposition::Default) {
            continue;
        }
        let (shutdown, handles, interrupted) =
            (shutdown.clone(), handles.clone(), interrupted.clone());
        let me = lp.downgrade();
        let added = lp.add_signal_handler(signum, move || {
            interrupted.set(true);
            if let Some(me) = me.upgrade() {
                me.remove_signal_handler(SIGINT).ok();
                me.remove_signal_handler(SIGTERM).ok();
            }
            stop_all(&shutdown, &handles.borrow());
        });
        if let Err(e) = added {
            lp.call_exception_handler(crate::ExceptionContext {
                message: "Could not handle a stop signal for the loops".to_string(),
                exception: Some(e.to_string()),
            });
        }
    }
}
