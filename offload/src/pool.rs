//! [`ThreadPoolExecutor`]: `concurrent.futures.ThreadPoolExecutor`.
//!
//! Jobs travel on one unbounded crossbeam channel; every worker receives
//! from it. Workers start lazily: a `submit` starts one only if no worker is
//! idle and fewer than `max_workers` exist (Python's `_adjust_thread_count`,
//! with its idle semaphore as an atomic counter). A worker runs jobs until
//! the channel is disconnected and empty, which happens when the pool shuts
//! down (or its last handle is dropped): the sender is dropped, so workers
//! finish what is queued and exit, and no "exit" message is needed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use corio_executor::panic_message;
use crossbeam_channel::{Receiver, Sender};

use crate::{ConcurrentFuture, OffloadError};

/// Python's default `max_workers`: `min(32, os.cpu_count() + 4)`, which
/// keeps at least 5 workers for I/O-bound jobs and caps big machines.
///
/// # Examples
///
/// ```
/// let n = corio_offload::default_max_workers();
/// assert!((5..=32).contains(&n));
/// ```
pub fn default_max_workers() -> usize {
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    (cpus + 4).min(32)
}

/// Numbers the pools for their default thread-name prefix, as Python's
/// `ThreadPoolExecutor._counter` does.
static POOL_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A job in the queue: run it, or cancel it (`shutdown(cancel_futures)`).
trait Job: Send {
    /// Runs the job (unless cancelled), counts the worker as idle, then
    /// completes the future. Idle first, so that a submitter woken by the
    /// completion finds this worker idle and starts no other: three
    /// back-to-back `submit(..).result()` use one worker, as in CPython.
    /// (Python's `_worker` releases its idle semaphore after the work item;
    /// its GIL hides the window that order leaves open here.)
    fn run(self: Box<Self>, idle: &AtomicUsize);
    fn cancel(self: Box<Self>);
}

/// Python's `_WorkItem`: the function and the future it completes.
struct WorkItem<F, R> {
    future: ConcurrentFuture<R>,
    func: F,
}

impl<F, R> Job for WorkItem<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    fn run(self: Box<Self>, idle: &AtomicUsize) {
        let WorkItem { future, func } = *self;
        if !future.set_running() {
            idle.fetch_add(1, Ordering::AcqRel);
            return; // cancelled while queued: the function is dropped unrun
        }
        let outcome = catch_unwind(AssertUnwindSafe(func))
            .map_err(|payload| OffloadError::Panicked(panic_message(&*payload)));
        idle.fetch_add(1, Ordering::AcqRel);
        future.complete(outcome);
    }

    fn cancel(self: Box<Self>) {
        self.future.cancel();
    }
}

/// A pool of worker threads running blocking jobs.
///
/// Mirrors `concurrent.futures.ThreadPoolExecutor`: [`submit`](Self::submit)
/// returns a [`ConcurrentFuture`], [`map`](Self::map) runs a function over
/// items, [`shutdown`](Self::shutdown) takes `wait` and `cancel_futures`.
/// Workers start lazily up to `max_workers`, are reused, and are named
/// `PREFIX_N` (default prefix `ThreadPoolExecutor-K`). A panic in a job
/// becomes [`OffloadError::Panicked`] and the worker lives on.
///
/// Differs from Python: handles are `Clone` (they share one pool), and
/// dropping the last handle is `shutdown(wait=false)` (queued jobs still
/// run, nothing blocks); Python's `with` block is `shutdown(true, false)`.
///
/// # Examples
///
/// ```
/// use corio_offload::ThreadPoolExecutor;
///
/// let pool = ThreadPoolExecutor::builder().max_workers(3).thread_name_prefix("crunch").build()?;
/// let name = pool.submit(|| std::thread::current().name().map(String::from))?;
/// assert_eq!(name.result()?.as_deref(), Some("crunch_0"));
/// let squares: Vec<u64> = pool.map(|x: u64| x * x, 1..=4)?.collect::<Result<_, _>>()?;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// pool.shutdown(true, false);
/// assert!(pool.submit(|| ()).unwrap_err().to_string().contains("after shutdown"));
/// # Ok::<(), corio_offload::OffloadError>(())
/// ```
#[derive(Clone)]
pub struct ThreadPoolExecutor {
    pool: Arc<Pool>,
}

/// The pool behind every handle. Dropping it drops the sender: workers
/// drain the queue and exit on their own.
struct Pool {
    /// Python: `_shutdown_lock` and what it guards.
    control: Mutex<Control>,
    /// A receiver of the job channel, kept to cancel queued jobs on
    /// `shutdown(cancel_futures=true)` and to hand to new workers.
    jobs: Receiver<Box<dyn Job>>,
    /// What the workers share.
    workers: Arc<WorkerShared>,
    /// Python: `_max_workers`.
    max_workers: usize,
    /// Python: `_thread_name_prefix`.
    prefix: String,
}

struct Control {
    /// `None` once shut down (Python: `_shutdown`).
    sender: Option<Sender<Box<dyn Job>>>,
    /// The workers started so far (Python: `_threads`); emptied by a
    /// waiting shutdown, which joins them.
    threads: Vec<JoinHandle<()>>,
    /// How many workers were ever started: the `N` of the next name.
    started: usize,
}

/// What the workers and the pool share (never the sender, or the channel
/// would never disconnect).
struct WorkerShared {
    /// Python: `_idle_semaphore`: released by a worker after each job,
    /// taken by a `submit` that then need not start a worker.
    idle: AtomicUsize,
    /// How many workers have exited; with `exited_cv`, lets a shutdown wait
    /// for them with a deadline.
    exited: Mutex<usize>,
    exited_cv: Condvar,
}

/// Builds a [`ThreadPoolExecutor`] with Python's keyword arguments.
///
/// Mirrors `ThreadPoolExecutor(max_workers=None, thread_name_prefix='')`.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    max_workers: Option<usize>,
    prefix: Option<String>,
}

impl Builder {
    /// The most workers the pool will start. Python: `max_workers`;
    /// default [`default_max_workers`].
    pub fn max_workers(mut self, max_workers: usize) -> Builder {
        self.max_workers = Some(max_workers);
        self
    }

    /// Workers are named `PREFIX_0`, `PREFIX_1`, … Python:
    /// `thread_name_prefix`; default `ThreadPoolExecutor-K`, K counting
    /// the pools of the process.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Builder {
        self.prefix = Some(prefix.into());
        self
    }

    /// Makes the pool; no thread starts until the first `submit`.
    ///
    /// # Errors
    /// [`OffloadError::InvalidMaxWorkers`] for `max_workers(0)`.
    pub fn build(self) -> Result<ThreadPoolExecutor, OffloadError> {
        let max_workers = self.max_workers.unwrap_or_else(default_max_workers);
        if max_workers == 0 {
            return Err(OffloadError::InvalidMaxWorkers);
        }
        let prefix = self.prefix.unwrap_or_else(|| {
            format!(
                "ThreadPoolExecutor-{}",
                POOL_COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
        let (sender, jobs) = crossbeam_channel::unbounded();
        Ok(ThreadPoolExecutor {
            pool: Arc::new(Pool {
                control: Mutex::new(Control {
                    sender: Some(sender),
                    threads: Vec::new(),
                    started: 0,
                }),
                jobs,
                workers: Arc::new(WorkerShared {
                    idle: AtomicUsize::new(0),
                    exited: Mutex::new(0),
                    exited_cv: Condvar::new(),
                }),
                max_workers,
                prefix,
            }),
        })
    }
}

impl ThreadPoolExecutor {
    /// A pool of at most `max_workers` threads, with the default prefix.
    /// Python: `ThreadPoolExecutor(max_workers)`.
    ///
    /// # Errors
    /// [`OffloadError::InvalidMaxWorkers`] for 0.
    pub fn new(max_workers: usize) -> Result<ThreadPoolExecutor, OffloadError> {
        Builder::default().max_workers(max_workers).build()
    }

    /// A [`Builder`] for the prefix and the worker count.
    /// Python: the constructor's keyword arguments.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The most workers this pool starts. Python: `_max_workers`.
    pub fn max_workers(&self) -> usize {
        self.pool.max_workers
    }

    /// Schedules `func` on a worker and returns its future.
    /// Python: `submit(fn)`.
    ///
    /// # Errors
    /// [`OffloadError::Shutdown`] after [`shutdown`](Self::shutdown);
    /// [`OffloadError::Spawn`] when no worker runs and none can be started
    /// (when some run, the job waits for them instead).
    pub fn submit<F, R>(&self, func: F) -> Result<ConcurrentFuture<R>, OffloadError>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let future = ConcurrentFuture::pending();
        let job = Box::new(WorkItem {
            future: future.clone(),
            func,
        });
        let mut control = self.pool.lock();
        let Some(sender) = control.sender.clone() else {
            return Err(OffloadError::Shutdown);
        };
        self.pool.adjust_thread_count(&mut control)?;
        // Cannot fail: the pool itself holds a receiver.
        sender.send(job).map_err(|_| OffloadError::Shutdown)?;
        Ok(future)
    }

    /// Runs `func` on every item, concurrently, and yields the results in
    /// the items' order. Python: `map(fn, *iterables)`.
    ///
    /// Every item is submitted before this returns. Each result is awaited
    /// when the iterator reaches it; dropping the iterator cancels the jobs
    /// that have not started (as Python does when its iterator is closed).
    ///
    /// # Errors
    /// As [`submit`](Self::submit); jobs already submitted are cancelled.
    pub fn map<T, R, F, I>(&self, func: F, items: I) -> Result<MapResults<R>, OffloadError>
    where
        I: IntoIterator<Item = T>,
        T: Send + 'static,
        R: Send + 'static,
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        let func = Arc::new(func);
        let mut futures = std::collections::VecDeque::new();
        for item in items {
            let func = func.clone();
            match self.submit(move || func(item)) {
                Ok(future) => futures.push_back(future),
                Err(err) => {
                    futures.iter().for_each(|f: &ConcurrentFuture<R>| {
                        f.cancel();
                    });
                    return Err(err);
                }
            }
        }
        Ok(MapResults { futures })
    }

    /// Stops taking jobs. Python: `shutdown(wait=True, cancel_futures=False)`.
    ///
    /// Queued jobs still run unless `cancel_futures`, which cancels every
    /// job not yet started. With `wait`, blocks until every worker has
    /// exited (the queue is done); otherwise the workers finish in the
    /// background. Calling it again is harmless; a later `wait` still joins.
    /// Called from one of the pool's own workers, `wait` joins the others.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_offload::ThreadPoolExecutor;
    ///
    /// let pool = ThreadPoolExecutor::new(1)?;
    /// let (started_tx, started) = std::sync::mpsc::channel();
    /// let slow = pool.submit(move || {
    ///     started_tx.send(()).unwrap();
    ///     std::thread::sleep(std::time::Duration::from_millis(20));
    ///     "finished"
    /// })?;
    /// let queued = pool.submit(|| "never runs")?;
    /// started.recv().unwrap();
    /// pool.shutdown(true, true); // waits for `slow`, cancels `queued`
    /// assert_eq!(slow.result()?, "finished");
    /// assert!(queued.cancelled());
    /// # Ok::<(), corio_offload::OffloadError>(())
    /// ```
    pub fn shutdown(&self, wait: bool, cancel_futures: bool) {
        if wait {
            self.shutdown_timeout(cancel_futures, None);
        } else {
            self.pool.close(cancel_futures);
        }
    }

    /// As `shutdown(wait=true, cancel_futures)`, waiting at most `timeout`
    /// (`None`: no limit); returns true if every worker exited in time. The
    /// workers left running keep going, detached.
    ///
    /// No Python counterpart on the executor: asyncio's
    /// `loop.shutdown_default_executor(timeout)` is built on it.
    pub fn shutdown_timeout(&self, cancel_futures: bool, timeout: Option<Duration>) -> bool {
        let started = self.pool.close(cancel_futures);
        let all_exited = self.pool.workers.wait_exited(started, timeout);
        let threads = std::mem::take(&mut self.pool.lock().threads);
        let me = thread::current().id();
        for handle in threads {
            if handle.thread().id() != me && (all_exited || handle.is_finished()) {
                // A worker catches every panic of its jobs; an error here
                // would be a bug of the worker loop itself.
                if handle.join().is_err() {
                    eprintln!("corio-offload: a worker thread panicked");
                }
            }
        }
        all_exited
    }
}

impl std::fmt::Debug for ThreadPoolExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let control = self.pool.lock();
        f.debug_struct("ThreadPoolExecutor")
            .field("prefix", &self.pool.prefix)
            .field("max_workers", &self.pool.max_workers)
            .field("started", &control.started)
            .field("shut_down", &control.sender.is_none())
            .finish()
    }
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Python's `_adjust_thread_count`: start a worker unless one is idle
    /// or the pool is full.
    fn adjust_thread_count(&self, control: &mut Control) -> Result<(), OffloadError> {
        let idle = &self.workers.idle;
        if idle
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
        {
            return Ok(());
        }
        if control.started >= self.max_workers {
            return Ok(());
        }
        let name = format!("{}_{}", self.prefix, control.started);
        let jobs = self.jobs.clone();
        let shared = self.workers.clone();
        match thread::Builder::new()
            .name(name)
            .spawn(move || worker(&jobs, &shared))
        {
            Ok(handle) => {
                control.started += 1;
                control.threads.push(handle);
                Ok(())
            }
            // Others will run the job; only a pool without any is stuck.
            Err(_) if control.started > 0 => Ok(()),
            Err(err) => Err(OffloadError::Spawn(err.to_string())),
        }
    }

    /// Drops the sender (workers exit once the queue is empty), cancels
    /// the queued jobs if asked; returns how many workers were started.
    fn close(&self, cancel_futures: bool) -> usize {
        let mut control = self.lock();
        control.sender = None;
        if cancel_futures {
            while let Ok(job) = self.jobs.try_recv() {
                job.cancel();
            }
        }
        control.started
    }
}

/// A worker's life: run jobs until the channel is disconnected and empty.
/// Python: `_worker`.
fn worker(jobs: &Receiver<Box<dyn Job>>, shared: &WorkerShared) {
    WORKER_OF.set(shared.id());
    let _exit = ExitGuard(shared);
    while let Some(job) = next_job(jobs) {
        // `run` catches the job's panic; this catches a panicking waker or
        // callback, so the worker survives those too.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job.run(&shared.idle))) {
            eprintln!(
                "corio-offload: a job's completion panicked: {}",
                panic_message(&*payload)
            );
        }
    }
}

/// How long an idle worker keeps looking for the next job before it
/// sleeps: about one loop round trip, so that a loop submitting job after
/// job (`submit(..).result()`, `await to_thread(..)` in a loop) finds it
/// awake, as the second worker the old idle-count race started used to
/// be, without keeping a second thread.
const IDLE_SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The next job: looked for without sleeping for [`IDLE_SPIN`], then
/// waited for; `None` once the pool is shut down and the queue empty.
fn next_job(jobs: &Receiver<Box<dyn Job>>) -> Option<Box<dyn Job>> {
    let start = std::time::Instant::now();
    loop {
        match jobs.try_recv() {
            Ok(job) => return Some(job),
            Err(crossbeam_channel::TryRecvError::Disconnected) => return None,
            Err(crossbeam_channel::TryRecvError::Empty) if start.elapsed() < IDLE_SPIN => {
                std::hint::spin_loop();
            }
            Err(crossbeam_channel::TryRecvError::Empty) => return jobs.recv().ok(),
        }
    }
}

/// Counts a worker as exited however it ends.
struct ExitGuard<'a>(&'a WorkerShared);

impl Drop for ExitGuard<'_> {
    fn drop(&mut self) {
        let mut exited = self.0.exited.lock().unwrap_or_else(PoisonError::into_inner);
        *exited += 1;
        self.0.exited_cv.notify_all();
    }
}

thread_local! {
    /// On a worker thread, the id of its pool's [`WorkerShared`]; 0 elsewhere.
    static WORKER_OF: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl WorkerShared {
    /// Tells pools apart: the address of this (pinned in an `Arc`) value.
    fn id(&self) -> usize {
        std::ptr::from_ref(self) as usize
    }

    /// Waits until `started` workers have exited, at most `timeout`.
    fn wait_exited(&self, started: usize, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut exited = self.exited.lock().unwrap_or_else(PoisonError::into_inner);
        // A worker that calls shutdown on its own pool will not exit while
        // it waits here: do not count it.
        let me_is_worker = usize::from(WORKER_OF.get() == self.id());
        while *exited + me_is_worker < started {
            exited = match deadline {
                None => self
                    .exited_cv
                    .wait(exited)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return false;
                    }
                    self.exited_cv
                        .wait_timeout(exited, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        true
    }
}

/// The results of [`ThreadPoolExecutor::map`], in the items' order.
///
/// Each `next()` blocks until that item's job is done. Dropping the
/// iterator cancels the jobs that have not started.
pub struct MapResults<R> {
    futures: std::collections::VecDeque<ConcurrentFuture<R>>,
}

impl<R> Iterator for MapResults<R> {
    type Item = Result<R, OffloadError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.futures.pop_front().map(|future| future.take_result())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.futures.len(), Some(self.futures.len()))
    }
}

impl<R> ExactSizeIterator for MapResults<R> {}

impl<R> Drop for MapResults<R> {
    fn drop(&mut self) {
        for future in &self.futures {
            future.cancel();
        }
    }
}
