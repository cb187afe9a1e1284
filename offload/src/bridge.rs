//! The bridge between a loop and threads: [`wrap_future`],
//! [`run_in_executor`], [`to_thread`], [`run_coroutine_threadsafe`] and the
//! loop's default executor.
//!
//! Loop → thread: a job goes on the pool's channel. Thread → loop: the
//! worker completes the [`ConcurrentFuture`] and wakes the awaiting task's
//! `std::task::Waker`; from a foreign thread, corio's waker pushes the
//! task's key on the loop's thread-safe queue and writes the loop's eventfd
//! (`call_soon_threadsafe`'s path), so the loop never blocks on a job.

use std::cell::RefCell;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use corio_executor::{
    EventLoop, LoopError, LoopHandle, Shutdown, Task, create_task, get_event_loop,
};

use crate::{ConcurrentFuture, OffloadError, ThreadPoolExecutor};

/// How long `run()` waits for the default executor's workers, as
/// asyncio.run's `shutdown_default_executor(constants.THREAD_JOIN_TIMEOUT)`.
pub const THREAD_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

/// Tells the awaiters of one `ConcurrentFuture` apart.
static AWAITER_IDS: AtomicU64 = AtomicU64::new(1);

/// A [`ConcurrentFuture`] made awaitable on a corio loop.
///
/// Mirrors the asyncio future that `asyncio.wrap_future`,
/// `loop.run_in_executor` and `asyncio.to_thread` return; resolves to the
/// job's value or its [`OffloadError`]. Differs in how it is cancelled:
/// dropping it (a cancelled task drops what it awaits) cancels the job if it
/// has not started, as cancelling asyncio's wrapper does; a job already
/// running finishes on its thread and its value is dropped there.
///
/// # Examples
///
/// ```
/// use corio_offload::{ThreadPoolExecutor, wrap_future};
///
/// let pool = ThreadPoolExecutor::new(1)?;
/// let job = pool.submit(|| "from a thread")?;
/// let got = corio_executor::run(async move { wrap_future(job).await })?;
/// assert_eq!(got?, "from a thread");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "a WrappedFuture does nothing unless awaited; dropping it cancels a job not yet started"]
pub struct WrappedFuture<R> {
    state: Wrapped<R>,
}

enum Wrapped<R> {
    /// Waiting for the concurrent future, as awaiter `id`.
    Waiting {
        future: ConcurrentFuture<R>,
        id: u64,
    },
    /// Made with no loop to find (`to_thread` before the loop runs): the
    /// job goes to the running loop's default executor at the first poll.
    Deferred(Option<DeferredJob<R>>),
    /// The job could not be submitted; the error is given at the first poll.
    Failed(Option<OffloadError>),
}

type DeferredJob<R> = Box<dyn FnOnce() -> R + Send>;

impl<R> WrappedFuture<R> {
    fn failed(err: OffloadError) -> WrappedFuture<R> {
        WrappedFuture {
            state: Wrapped::Failed(Some(err)),
        }
    }

    /// The concurrent future behind this one (`None` if the submission
    /// failed or waits for the first poll). No asyncio counterpart (asyncio
    /// keeps it private).
    pub fn concurrent(&self) -> Option<&ConcurrentFuture<R>> {
        match &self.state {
            Wrapped::Waiting { future, .. } => Some(future),
            Wrapped::Deferred(_) | Wrapped::Failed(_) => None,
        }
    }
}

impl<R: Send + 'static> StdFuture for WrappedFuture<R> {
    type Output = Result<R, OffloadError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Wrapped::Deferred(job) = &mut this.state {
            let job = job.take();
            this.state = match job.map(|job| default_executor()?.submit(job)) {
                Some(Ok(future)) => Wrapped::Waiting {
                    future,
                    id: AWAITER_IDS.fetch_add(1, Ordering::Relaxed),
                },
                Some(Err(err)) => Wrapped::Failed(Some(err)),
                None => Wrapped::Failed(None),
            };
        }
        match &mut this.state {
            Wrapped::Waiting { future, id } => future.poll_result(*id, cx),
            Wrapped::Failed(err) => Poll::Ready(Err(err.take().unwrap_or(OffloadError::Retrieved))),
            Wrapped::Deferred(_) => unreachable!("submitted above"),
        }
    }
}

impl<R> Unpin for WrappedFuture<R> {}

impl<R> Drop for WrappedFuture<R> {
    fn drop(&mut self) {
        if let Wrapped::Waiting { future, id } = &self.state {
            future.forget_awaiter(*id);
            future.cancel();
        }
    }
}

/// Makes a [`ConcurrentFuture`] awaitable on the running loop.
///
/// Mirrors `asyncio.wrap_future(future)`; differs in that the result is
/// handed to the task by waking its waker from the completing thread (no
/// callback is scheduled on the loop), and in that dropping the wrapper
/// cancels a job that has not started.
///
/// # Examples
///
/// See [`WrappedFuture`].
pub fn wrap_future<R>(future: ConcurrentFuture<R>) -> WrappedFuture<R> {
    WrappedFuture {
        state: Wrapped::Waiting {
            future,
            id: AWAITER_IDS.fetch_add(1, Ordering::Relaxed),
        },
    }
}

/// Runs the blocking `func` on `executor` (or on the loop's default
/// executor for `None`) and returns an awaitable of its value.
///
/// Mirrors `loop.run_in_executor(executor, func)`, submitting at once as
/// asyncio does. Differs in being a free function: with `None` it uses the
/// loop of [`get_event_loop`] (and if there is none yet, the running loop
/// when the result is first awaited, so `lp.run_until_complete(to_thread(f))`
/// works as in Python); errors (a closed loop, a pool shut down) are given
/// when the result is awaited, so one `?` handles everything.
///
/// # Examples
///
/// ```
/// use corio_offload::run_in_executor;
///
/// let sum = corio_executor::run(async {
///     run_in_executor(None, || (1..=100u32).sum::<u32>()).await
/// })?;
/// assert_eq!(sum?, 5050);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The awaitable resolves to [`OffloadError::Shutdown`] if the executor was
/// shut down, [`OffloadError::Loop`] if there is no usable loop for `None`,
/// or the job's own error ([`OffloadError::Panicked`],
/// [`OffloadError::Cancelled`]).
pub fn run_in_executor<F, R>(executor: Option<&ThreadPoolExecutor>, func: F) -> WrappedFuture<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let submitted = match executor {
        Some(executor) => executor.submit(func),
        None => match default_executor() {
            Ok(executor) => executor.submit(func),
            // No loop yet: use the running one when first awaited.
            Err(OffloadError::Loop(LoopError::NoCurrentLoop(_))) => {
                return WrappedFuture {
                    state: Wrapped::Deferred(Some(Box::new(func))),
                };
            }
            Err(err) => Err(err),
        },
    };
    match submitted {
        Ok(future) => wrap_future(future),
        Err(err) => WrappedFuture::failed(err),
    }
}

/// Runs the blocking `func` on the loop's default executor.
///
/// Mirrors `asyncio.to_thread(func)`: `run_in_executor(None, func)`.
/// Differs in submitting at once when a loop is running or set (Python's
/// coroutine waits to be awaited; made with no loop around, corio's waits
/// too), and in not copying context variables (corio has none).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_offload::to_thread;
///
/// let slept = corio_executor::run(async {
///     to_thread(|| { std::thread::sleep(Duration::from_millis(10)); "slept" }).await
/// })?;
/// assert_eq!(slept?, "slept");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`run_in_executor`].
pub fn to_thread<F, R>(func: F) -> WrappedFuture<R>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    run_in_executor(None, func)
}

/// The default executor's place in a loop (an [`EventLoop::extension`]).
struct DefaultExecutor {
    slot: Rc<RefCell<Slot>>,
}

enum Slot {
    /// Not used yet: made on first use.
    Unused,
    Active(ThreadPoolExecutor),
    /// The loop shut it down (Python: `_executor_shutdown_called`).
    ShutDown,
}

impl DefaultExecutor {
    /// Registers the shutdown hook as it is made: `run()` waits for the
    /// workers (up to [`THREAD_JOIN_TIMEOUT`]), `close()` does not.
    fn install(lp: &EventLoop) -> DefaultExecutor {
        let slot = Rc::new(RefCell::new(Slot::Unused));
        let hooked = slot.clone();
        lp.add_shutdown_hook(move |kind| {
            let Slot::Active(executor) = hooked.replace(Slot::ShutDown) else {
                return;
            };
            match kind {
                Shutdown::Graceful => {
                    if !executor.shutdown_timeout(false, Some(THREAD_JOIN_TIMEOUT)) {
                        eprintln!(
                            "corio-offload: the default executor did not finish joining its \
                             threads within {} seconds",
                            THREAD_JOIN_TIMEOUT.as_secs()
                        );
                    }
                }
                Shutdown::Close => executor.shutdown(false, false),
            }
        });
        DefaultExecutor { slot }
    }
}

/// The default executor of the loop [`get_event_loop`] finds, made on
/// first use with Python's defaults: its threads are named `asyncio_N`, as
/// asyncio names them.
///
/// Mirrors the `None` case inside `loop.run_in_executor`; no public asyncio
/// counterpart (`loop._default_executor`).
///
/// # Errors
/// [`OffloadError::Loop`] without a usable loop (none set, or closed);
/// [`OffloadError::Shutdown`] once the loop shut its default executor down.
pub fn default_executor() -> Result<ThreadPoolExecutor, OffloadError> {
    let lp = get_event_loop()?;
    if lp.is_closed() {
        return Err(LoopError::Closed.into());
    }
    let ext = lp.extension(|| DefaultExecutor::install(&lp));
    let mut slot = ext.slot.borrow_mut();
    match &*slot {
        Slot::Active(executor) => Ok(executor.clone()),
        Slot::ShutDown => Err(OffloadError::Shutdown),
        Slot::Unused => {
            // asyncio: `ThreadPoolExecutor(thread_name_prefix='asyncio')`.
            let executor = ThreadPoolExecutor::builder()
                .thread_name_prefix("asyncio")
                .build()?;
            *slot = Slot::Active(executor.clone());
            Ok(executor)
        }
    }
}

/// Makes `executor` the default executor of `lp`; the one it replaces is
/// shut down without waiting. Mirrors `loop.set_default_executor(executor)`.
///
/// # Examples
///
/// ```
/// use corio_offload::{ThreadPoolExecutor, set_default_executor, to_thread};
///
/// let lp = corio_executor::EventLoop::new()?;
/// let pool = ThreadPoolExecutor::builder().thread_name_prefix("mine").build()?;
/// set_default_executor(&lp, pool)?;
/// let name = lp.run_until_complete(async {
///     to_thread(|| std::thread::current().name().map(String::from)).await
/// })?;
/// assert_eq!(name?.as_deref(), Some("mine_0"));
/// lp.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`OffloadError::Loop`] if the loop is closed.
pub fn set_default_executor(
    lp: &EventLoop,
    executor: ThreadPoolExecutor,
) -> Result<(), OffloadError> {
    if lp.is_closed() {
        return Err(LoopError::Closed.into());
    }
    let ext = lp.extension(|| DefaultExecutor::install(lp));
    let old = ext.slot.replace(Slot::Active(executor));
    if let Slot::Active(old) = old {
        old.shutdown(false, false);
    }
    Ok(())
}

/// Runs a coroutine on the loop behind `handle`, from any thread, and
/// returns a [`ConcurrentFuture`] of its output.
///
/// Mirrors `asyncio.run_coroutine_threadsafe(coro, loop)`. Differs in
/// taking `make`, a `Send` closure that builds the coroutine on the loop's
/// thread, because corio's coroutines are `!Send`. As in asyncio, the
/// returned future stays pending while the coroutine runs, and cancelling
/// it cancels the task (asyncio's `Task.cancel`, delivered on the loop's
/// thread). If the loop closes first, the future is cancelled.
///
/// # Examples
///
/// ```
/// use corio_executor::EventLoop;
/// use corio_offload::run_coroutine_threadsafe;
///
/// let lp = EventLoop::new()?;
/// let handle = lp.handle();
/// let caller = std::thread::spawn(move || {
///     let answer = run_coroutine_threadsafe(&handle, || async { 40 + 2 })?.result();
///     handle.stop()?;
///     answer
/// });
/// lp.run_forever()?;
/// assert_eq!(caller.join().unwrap()?, 42);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`OffloadError::Loop`] if the loop is closed. The future's own errors:
/// [`OffloadError::Cancelled`], [`OffloadError::Panicked`].
pub fn run_coroutine_threadsafe<M, C, R>(
    handle: &LoopHandle,
    make: M,
) -> Result<ConcurrentFuture<R>, OffloadError>
where
    M: FnOnce() -> C + Send + 'static,
    C: StdFuture<Output = R> + 'static,
    R: Send + 'static,
{
    let future = ConcurrentFuture::pending();
    let launch = Launch {
        make: Some(make),
        future: future.clone(),
    };
    handle.call_soon_threadsafe(move || launch.start())?;
    Ok(future)
}

/// The callback `run_coroutine_threadsafe` sends to the loop. If it is
/// dropped unrun (the loop closed first), the future is cancelled, so no
/// thread waits forever.
struct Launch<M, R> {
    make: Option<M>,
    future: ConcurrentFuture<R>,
}

impl<M, C, R> Launch<M, R>
where
    M: FnOnce() -> C,
    C: StdFuture<Output = R> + 'static,
    R: Send + 'static,
{
    /// On the loop's thread: build the coroutine and run it as a task,
    /// chained to the future (asyncio's `ensure_future` + `_chain_future`).
    fn start(mut self) {
        let Some(make) = self.make.take() else {
            return;
        };
        if self.future.cancelled() {
            return; // cancelled before it reached the loop: never built
        }
        let task = create_task(make());
        drop(create_task(Chain {
            task,
            future: self.future.clone(),
            listening: false,
            cancelling: false,
        }));
    }
}

impl<M, R> Drop for Launch<M, R> {
    fn drop(&mut self) {
        if self.make.is_some() {
            self.future.cancel();
        }
    }
}

/// Copies the task's outcome to the future, and the future's cancellation
/// to the task. Dropped unfinished (the loop closed, or `run()` cancelled
/// it), it cancels the future.
struct Chain<R: 'static> {
    task: Task<R>,
    future: ConcurrentFuture<R>,
    /// A done callback that wakes this chain is registered on the future.
    listening: bool,
    /// The task was told to cancel.
    cancelling: bool,
}

impl<R: Send + 'static> StdFuture for Chain<R> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if !this.listening {
            this.listening = true;
            let waker = cx.waker().clone();
            this.future.add_done_callback(move |_| waker.wake());
        }
        if !this.cancelling && this.future.cancelled() {
            this.cancelling = true;
            this.task.cancel();
        }
        match Pin::new(&mut this.task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(value)) => {
                this.future.complete(Ok(value));
                Poll::Ready(())
            }
            Poll::Ready(Err(err)) if err.is_cancelled() => {
                this.future.cancel();
                Poll::Ready(())
            }
            Poll::Ready(Err(err)) => {
                this.future.complete(Err(OffloadError::from_task(&err)));
                Poll::Ready(())
            }
        }
    }
}

impl<R: 'static> Drop for Chain<R> {
    fn drop(&mut self) {
        self.future.cancel();
    }
}
