//! [`EventLoop`]: asyncio's `BaseEventLoop`, with `_run_once` at its heart.
//!
//! This file is the public API; `inner.rs` is the engine (`LoopInner` and
//! `_run_once`, whose five phases are documented there).

mod close;
mod handle;
mod inner;
mod io;
mod observed;
mod run_once;
pub(crate) mod running;
mod shown;
mod signals;
pub(crate) mod task_header;
mod task_table;

pub use running::{get_event_loop, get_running_loop, new_event_loop, set_event_loop};
pub use signals::{add_signal_handler, remove_signal_handler};

use std::fmt;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_reactor::{EVENT_READ, EVENT_WRITE, SelectorError};
use corio_timer::Clock;

pub use inner::ExceptionContext;
use inner::ExceptionHandler;
pub(crate) use inner::LoopInner;

use crate::LoopError;
use crate::remote::LoopHandle;
pub use handle::{Handle, TimerHandle};

/// The thread's timer slack while the loop runs (see [`EventLoop::set_timer_slack`]).
const DEFAULT_TIMER_SLACK: Duration = Duration::from_micros(1);

/// asyncio's default `slow_callback_duration`.
pub const DEFAULT_SLOW_CALLBACK_DURATION: Duration = Duration::from_millis(100);

/// The longest delay a timer is given: a century. Longer ones (up to
/// `Duration::MAX`, asyncio's `math.inf` habit) saturate to it, which is
/// "never" for any program, instead of overflowing the clock.
pub const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// `now + delay`, saturated at [`NEVER`]. (A monotonic `Instant` holds
/// centuries past boot; were it ever to hold less, the latest instant it
/// can reach a month ahead stands in.)
pub(crate) fn deadline_after(now: Instant, delay: Duration) -> Instant {
    const MONTH: Duration = Duration::from_secs(30 * 24 * 60 * 60);
    now.checked_add(delay.min(NEVER))
        .or_else(|| now.checked_add(MONTH))
        .unwrap_or(now)
}

/// Why a loop's shutdown hooks run (see [`EventLoop::add_shutdown_hook`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    /// [`run`](crate::run) is ending and every task has finished: a hook
    /// may wait for its work (asyncio.run's `shutdown_default_executor()`).
    Graceful,
    /// [`EventLoop::close`] on a loop that `run` did not shut down: a hook
    /// must not block (`loop.close()`'s `executor.shutdown(wait=False)`).
    Close,
}

/// A handle to a loop that does not keep it alive: what corio's own
/// objects (transports, servers) hold, so that no loop is kept alive by
/// what it owns. [`upgrade`](Self::upgrade) gives `None` once the loop is
/// gone.
///
/// No asyncio counterpart (`weakref.ref(loop)` is the nearest).
///
/// # Examples
///
/// ```
/// use corio_executor::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let weak = lp.downgrade();
/// assert!(weak.upgrade().is_some());
/// drop(lp); // the last handle: the loop is closed and gone
/// assert!(weak.upgrade().is_none());
/// # Ok::<(), corio_executor::LoopError>(())
/// ```
#[derive(Clone, Default)]
pub struct WeakLoop {
    inner: std::rc::Weak<LoopInner>,
}

impl WeakLoop {
    /// The loop, if it still exists (it may be closed).
    pub fn upgrade(&self) -> Option<EventLoop> {
        self.inner.upgrade().map(|inner| EventLoop { inner })
    }
}

impl fmt::Debug for WeakLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WeakLoop")
    }
}

/// Entries a loop's structures have room for ([`EventLoop::capacities`]).
///
/// No asyncio counterpart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoopCapacities {
    /// The ready queue (asyncio's `_ready`).
    pub ready: usize,
    /// The task table (asyncio's set of tasks).
    pub tasks: usize,
    /// The timer heap and its slots (asyncio's `_scheduled`).
    pub timers: usize,
}

/// An asyncio event loop. Python: `asyncio.new_event_loop()`.
///
/// One loop per thread, `!Send`: its tasks may hold `Rc` and `RefCell`.
/// Other threads reach it through a [`LoopHandle`]. Cloning an `EventLoop`
/// gives another handle to the same loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// let log = |s: &'static str| { let o = order.clone(); move || o.borrow_mut().push(s) };
/// lp.call_later(Duration::from_millis(2), log("later"));
/// lp.call_soon(log("soon"));
/// let stopper = lp.clone();
/// lp.call_later(Duration::from_millis(5), move || stopper.stop());
/// lp.run_forever()?;
/// assert_eq!(*order.borrow(), ["soon", "later"]);
/// lp.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// An `EventLoop` is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<corio_executor::EventLoop>();
/// ```
#[derive(Clone)]
pub struct EventLoop {
    pub(crate) inner: Rc<LoopInner>,
}

impl EventLoop {
    /// A new loop on the real clock. Python: `asyncio.new_event_loop()`.
    ///
    /// # Errors
    /// [`LoopError::Selector`] when the epoll fd or the eventfd cannot be had.
    pub fn new() -> Result<EventLoop, LoopError> {
        EventLoop::with_clock(Clock::Real)
    }

    /// A new loop on `clock`; with [`Clock::virtual_clock`] time jumps to the
    /// next timer whenever nothing else is ready, so long sleeps take no real
    /// time. No asyncio counterpart (trio's autojump clock).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_clock(clock: Clock) -> Result<EventLoop, LoopError> {
        Ok(EventLoop {
            inner: Rc::new(LoopInner::new(clock)?),
        })
    }

    /// Runs iterations until [`stop`](Self::stop). Python: `loop.run_forever()`.
    ///
    /// A `stop()` issued before this call makes it run one iteration and
    /// return, as in asyncio.
    ///
    /// # Errors
    /// [`LoopError::Closed`], [`LoopError::AlreadyRunning`] (a nested run),
    /// [`LoopError::AnotherLoopRunning`].
    pub fn run_forever(&self) -> Result<(), LoopError> {
        let inner = &self.inner;
        if inner.is_closed() {
            return Err(LoopError::Closed);
        }
        if inner.is_running() {
            return Err(LoopError::AlreadyRunning);
        }
        let _running = running::enter_loop(inner.clone())?;
        let _slack = inner.timer_slack.get().map(corio_timer::TimerSlack::set);
        inner.run_forever()
    }

    /// Stops the loop after the current iteration. Python: `loop.stop()`.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// True while `run_forever` / `run_until_complete` runs. Python: `loop.is_running()`.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// True once closed. Python: `loop.is_closed()`.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// How much memory the loop's own structures hold, in entries: the
    /// ready queue, the task table, the timer heap. After a burst (a
    /// million timers cancelled, a million callbacks run) each gives its
    /// memory back once mostly empty. No asyncio counterpart; for tests
    /// and benchmarks.
    pub fn capacities(&self) -> LoopCapacities {
        let inner = &self.inner;
        LoopCapacities {
            ready: inner.ready.borrow().capacity(),
            tasks: inner.tasks.borrow().capacity(),
            timers: inner.scheduled.borrow().capacity(),
        }
    }

    /// How many ready items (callbacks and task steps) may run between two
    /// selects while work is ready; at least 1. The default is 61, or
    /// `CORIO_SELECT_INTERVAL` from the environment.
    ///
    /// asyncio selects in every iteration, with a zero timeout when work is
    /// ready, so I/O is seen one iteration after it happens. corio skips
    /// that zero-timeout select until `items` have run since the last one
    /// (tokio's `event_interval`, same default): a busy loop selects once
    /// per 61 items instead of once per iteration, and the tasks woken by
    /// one select run as a batch. An iteration whose ready queue is empty
    /// always selects (it blocks there), and so does one after a signal
    /// arrived; timers and other threads' callbacks are checked in every
    /// iteration as before. What does not change: an iteration runs
    /// exactly the callbacks ready when its run phase starts, FIFO, and a
    /// task woken during it runs in the next (`executor/tests/ordering.rs`).
    /// `set_select_interval(1)` restores asyncio's select in every
    /// iteration.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{EventLoop, yield_now};
    /// use std::os::fd::AsRawFd;
    ///
    /// let lp = EventLoop::new()?;
    /// let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    /// lp.add_reader(a.as_raw_fd(), || {})?; // a user fd: selects count
    /// let spin = || async {
    ///     for _ in 0..600 {
    ///         yield_now().await;
    ///     }
    /// };
    /// lp.set_select_interval(1); // asyncio: a select per iteration
    /// let before = lp.io_tick();
    /// lp.run_until_complete(spin())?;
    /// assert!(lp.io_tick() - before >= 600);
    /// lp.set_select_interval(61); // the default: one per 61 items
    /// let before = lp.io_tick();
    /// lp.run_until_complete(spin())?;
    /// assert!(lp.io_tick() - before <= 12, "{}", lp.io_tick() - before);
    /// lp.remove_reader(a.as_raw_fd());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_select_interval(&self, items: u32) {
        self.inner.select_interval.set(items.max(1));
    }

    /// The interval [`set_select_interval`](Self::set_select_interval)
    /// set. No asyncio counterpart.
    pub fn select_interval(&self) -> u32 {
        self.inner.select_interval.get()
    }

    /// The loop's I/O tick: how many times it has polled its selector
    /// (phase 2 of an iteration, a `select` syscall; an iteration with work
    /// ready skips it when only the loop's own fds are registered, or
    /// within the [select interval](Self::set_select_interval)). Every
    /// readiness the loop reports belongs to the tick of the poll that
    /// found it, so code that caches readiness can tell a report from
    /// before its own last syscall (same tick: stale) from a newer one.
    /// corio-net's poll-level I/O relies on exactly that. No asyncio
    /// counterpart (asyncio selects every iteration and caches nothing).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{EventLoop, yield_now};
    ///
    /// let lp = EventLoop::new()?;
    /// lp.run_until_complete(async {
    ///     for _ in 0..1000 {
    ///         yield_now().await; // always something ready: no select
    ///     }
    /// })?;
    /// assert!(lp.io_tick() < 10, "{}", lp.io_tick());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn io_tick(&self) -> u64 {
        self.inner.io_tick.get()
    }

    /// Closes the loop and releases everything it owns. Closing twice is
    /// harmless; dropping the last `EventLoop` of a loop that was not
    /// closed closes it too. Python: `loop.close()`.
    ///
    /// In order: the shutdown hooks run (if `run()` did not run them),
    /// signal dispositions go back, the tasks still pending are reported
    /// ("Task was destroyed but it is pending!") and dropped, the close
    /// hooks of the crates built on the loop run (corio-net closes the
    /// transports, servers and endpoints still open, dropping their
    /// protocols without calling them), and the selector's callbacks are
    /// dropped. Whatever these drops schedule (a `StreamWriter` dropped by
    /// a task schedules its transport's close) is accepted and then
    /// *discarded*, never run, until nothing is left; then the eventfd and
    /// the selector are closed. No callback, task step or protocol method
    /// runs during or after `close()`: only destructors.
    ///
    /// A destructor that panics (a task's coroutine dropped here, a
    /// callback's captured value) does not stop `close`: the panic is
    /// caught and reported through the exception handler ("Exception while
    /// dropping …"), and the rest is dropped and released as usual, so the
    /// loop still ends closed with no fd left open. asyncio's `close` has
    /// no destructors to run; its `call_exception_handler` is where a
    /// failure found on the way out goes, as here.
    ///
    /// # Errors
    /// [`LoopError::CloseWhileRunning`].
    pub fn close(&self) -> Result<(), LoopError> {
        if self.inner.is_running() {
            return Err(LoopError::CloseWhileRunning);
        }
        self.inner.close_now();
        Ok(())
    }

    pub(crate) fn run_shutdown_hooks(&self, kind: Shutdown) {
        self.inner.run_shutdown_hooks(kind);
    }

    /// Registers `hook` to run when the loop closes, after its pending
    /// tasks were dropped and before its selector is closed (see
    /// [`close`](Self::close)): where a crate built on the loop releases
    /// what it keeps for the loop. corio-net closes the sockets of the
    /// transports and servers still open there. A hook registered on a
    /// closed loop is dropped without running.
    ///
    /// No asyncio counterpart (asyncio leaves such objects to the garbage
    /// collector, and warns about unclosed transports).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let closed = std::rc::Rc::new(std::cell::Cell::new(false));
    /// let c = closed.clone();
    /// lp.add_close_hook(move || c.set(true));
    /// drop(lp); // closing on drop runs it too
    /// assert!(closed.get());
    /// # Ok::<(), corio_executor::LoopError>(())
    /// ```
    pub fn add_close_hook(&self, hook: impl FnOnce() + 'static) {
        if !self.inner.is_closed() {
            self.inner.close_hooks.borrow_mut().push(Box::new(hook));
        }
    }

    /// A handle that does not keep the loop alive; see [`WeakLoop`].
    ///
    /// No asyncio counterpart (Python's objects point at their loop and
    /// leave cycles to the garbage collector).
    pub fn downgrade(&self) -> WeakLoop {
        WeakLoop {
            inner: Rc::downgrade(&self.inner),
        }
    }

    /// Registers `hook` to run once when the loop shuts down: in `run()`
    /// after the tasks are finished ([`Shutdown::Graceful`]), or in
    /// `close()` if `run()` did not run it ([`Shutdown::Close`]). Hooks run
    /// in registration order; a panicking hook is reported and the others
    /// still run.
    ///
    /// No direct asyncio counterpart: asyncio hard-codes its two cases,
    /// `asyncio.run` awaiting `loop.shutdown_default_executor()` and
    /// `loop.close()` calling `executor.shutdown(wait=False)`. corio's
    /// offload crate registers exactly those through this hook.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_executor::{EventLoop, Shutdown};
    ///
    /// let lp = EventLoop::new()?;
    /// let seen = std::rc::Rc::new(std::cell::Cell::new(None));
    /// let s = seen.clone();
    /// lp.add_shutdown_hook(move |kind| s.set(Some(kind)));
    /// lp.close()?;
    /// assert_eq!(seen.get(), Some(Shutdown::Close));
    /// # Ok::<(), corio_executor::LoopError>(())
    /// ```
    pub fn add_shutdown_hook(&self, hook: impl FnOnce(Shutdown) + 'static) {
        self.inner.shutdown_hooks.borrow_mut().push(Box::new(hook));
    }

    /// The loop's value of type `T`, made by `init` on first use.
    ///
    /// Loop-local storage for the crates built on the executor (the offload
    /// crate keeps the default executor here, as asyncio keeps
    /// `loop._default_executor`). One value per type; the value lives as
    /// long as the loop. No asyncio counterpart (asyncio sets private
    /// attributes on the loop object).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use corio_executor::EventLoop;
    ///
    /// struct Counter(Cell<u32>);
    /// let lp = EventLoop::new()?;
    /// lp.extension(|| Counter(Cell::new(0))).0.set(7);
    /// assert_eq!(lp.extension(|| Counter(Cell::new(0))).0.get(), 7);
    /// # Ok::<(), corio_executor::LoopError>(())
    /// ```
    pub fn extension<T: 'static>(&self, init: impl FnOnce() -> T) -> Rc<T> {
        let found = self
            .inner
            .extensions
            .borrow()
            .iter()
            .find_map(|ext| ext.clone().downcast::<T>().ok());
        if let Some(ext) = found {
            return ext;
        }
        // `init` runs with no borrow held: it may use the loop.
        let ext = Rc::new(init());
        self.inner.extensions.borrow_mut().push(ext.clone());
        ext
    }

    /// The loop's current time. Python: `loop.time()`; differs in being an
    /// `Instant` (and virtual with [`with_clock`](Self::with_clock)).
    pub fn time(&self) -> Instant {
        self.inner.time()
    }

    /// Schedules `callback` for the next iteration, after those already
    /// scheduled (FIFO). Python: `loop.call_soon(callback)`.
    ///
    /// # Panics
    /// "Event loop is closed" on a closed loop.
    pub fn call_soon(&self, callback: impl FnOnce() + 'static) -> Handle {
        self.inner.call_soon_internal(callback)
    }

    /// Schedules `callback` after `delay`. Python: `loop.call_later(delay, callback)`.
    ///
    /// A delay past a century (`Duration::MAX`, say) saturates to one
    /// ([`NEVER`](crate::NEVER)): the callback never runs, and nothing
    /// overflows.
    ///
    /// # Panics
    /// "Event loop is closed" on a closed loop.
    pub fn call_later(&self, delay: Duration, callback: impl FnOnce() + 'static) -> TimerHandle {
        let when = deadline_after(self.time(), delay);
        self.inner.call_at_internal(when, callback)
    }

    /// Schedules `callback` at `when` (loop time). Python: `loop.call_at(when, callback)`.
    ///
    /// # Panics
    /// "Event loop is closed" on a closed loop.
    pub fn call_at(&self, when: Instant, callback: impl FnOnce() + 'static) -> TimerHandle {
        self.inner.call_at_internal(when, callback)
    }

    /// Calls `callback` whenever `fd` is readable, until `remove_reader`.
    /// Replaces a reader already set for `fd`. Python: `loop.add_reader(fd, callback)`.
    ///
    /// # Errors
    /// The selector's errors (a closed fd: EBADF; [`SelectorError::Closed`]
    /// on a closed loop).
    pub fn add_reader(
        &self,
        fd: RawFd,
        callback: impl Fn() + 'static,
    ) -> Result<(), SelectorError> {
        self.inner.add_io(fd, EVENT_READ, false, Box::new(callback))
    }

    /// [`add_reader`](Self::add_reader) for a callback that only notes the
    /// readiness and wakes a task: the loop calls it as soon as `select`
    /// reports the fd, in phase 2 of the iteration, instead of queueing it
    /// behind the callbacks already ready. The task it wakes then runs in
    /// this same iteration, as one woken by a timer does, where after
    /// `add_reader` it would run in the next.
    ///
    /// asyncio has no such call: there, `sock_recv`'s reader callback runs
    /// from the ready queue and the task it wakes one iteration later, so a
    /// task waiting for a socket costs two iterations (and two selects)
    /// per readiness. Ordering within an iteration is unchanged: the
    /// callbacks ready before the select run first, FIFO; the woken steps
    /// follow in the order the select reported their fds; a wake during the
    /// run phase still runs in the next iteration. corio-net's socket
    /// waits and poll-level I/O use it; a callback that runs user code (a
    /// protocol's `data_received`) should use `add_reader`.
    ///
    /// The callback must be quick and must not block: it runs while the
    /// iteration's other ready work waits. A panic in it is reported as
    /// one in an I/O callback.
    ///
    /// # Errors
    /// As [`add_reader`](Self::add_reader).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::os::fd::AsRawFd;
    /// use std::os::unix::net::UnixStream;
    /// use std::rc::Rc;
    /// use corio_executor::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// let (a, mut b) = UnixStream::pair()?;
    /// std::io::Write::write_all(&mut b, b"x")?;
    /// let seen = Rc::new(Cell::new(0));
    /// let (counted, stopper) = (seen.clone(), lp.clone());
    /// lp.add_waking_reader(a.as_raw_fd(), move || {
    ///     counted.set(counted.get() + 1);
    ///     stopper.stop();
    /// })?;
    /// lp.run_forever()?; // one iteration: its select reports `a`
    /// assert_eq!(seen.get(), 1);
    /// assert_eq!(lp.metrics().iterations, 1);
    /// lp.remove_reader(a.as_raw_fd());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_waking_reader(
        &self,
        fd: RawFd,
        callback: impl Fn() + 'static,
    ) -> Result<(), SelectorError> {
        self.inner.add_io(fd, EVENT_READ, true, Box::new(callback))
    }

    /// Stops watching `fd` for reading; true if a reader was removed.
    /// Python: `loop.remove_reader(fd)`.
    pub fn remove_reader(&self, fd: RawFd) -> bool {
        self.inner.remove_io(fd, EVENT_READ)
    }

    /// Calls `callback` whenever `fd` is writable, until `remove_writer`.
    /// Python: `loop.add_writer(fd, callback)`.
    ///
    /// # Errors
    /// As [`add_reader`](Self::add_reader).
    pub fn add_writer(
        &self,
        fd: RawFd,
        callback: impl Fn() + 'static,
    ) -> Result<(), SelectorError> {
        self.inner
            .add_io(fd, EVENT_WRITE, false, Box::new(callback))
    }

    /// [`add_writer`](Self::add_writer) for a callback that only wakes a
    /// task; see [`add_waking_reader`](Self::add_waking_reader). No asyncio
    /// counterpart.
    ///
    /// # Errors
    /// As [`add_reader`](Self::add_reader).
    pub fn add_waking_writer(
        &self,
        fd: RawFd,
        callback: impl Fn() + 'static,
    ) -> Result<(), SelectorError> {
        self.inner.add_io(fd, EVENT_WRITE, true, Box::new(callback))
    }

    /// Stops watching `fd` for writing; true if a writer was removed.
    /// Python: `loop.remove_writer(fd)`.
    pub fn remove_writer(&self, fd: RawFd) -> bool {
        self.inner.remove_io(fd, EVENT_WRITE)
    }

    /// A `Send + Sync` handle for other threads (`call_soon_threadsafe`, `stop`).
    ///
    /// No asyncio counterpart: asyncio's loop is itself shared with threads, corio's is `!Send`.
    pub fn handle(&self) -> LoopHandle {
        LoopHandle {
            remote: self.inner.remote.clone(),
        }
    }

    /// Replaces the exception handler; `None` restores the default (stderr).
    /// Python: `loop.set_exception_handler(handler)`.
    pub fn set_exception_handler(&self, handler: Option<impl Fn(&ExceptionContext) + 'static>) {
        *self.inner.exception_handler.borrow_mut() =
            handler.map(|h| Rc::new(h) as ExceptionHandler);
    }

    /// Calls the exception handler. Python: `loop.call_exception_handler(context)`.
    pub fn call_exception_handler(&self, context: ExceptionContext) {
        self.inner.report(context.message, context.exception);
    }

    /// Debug mode: each callback and task step is timed, and those slower
    /// than [`slow_callback_duration`](Self::slow_callback_duration) are
    /// reported, every one, a task's naming where it was created. Off by
    /// default. Python: `loop.set_debug(enabled)`; as there, the timing
    /// costs two clock readings per item. Outside debug mode, while metrics
    /// are on (the default), corio's watchdog reports slow steps too, once
    /// per task ([`set_metrics`](Self::set_metrics)); asyncio reports none.
    pub fn set_debug(&self, enabled: bool) {
        self.inner.debug.set(enabled);
        self.inner.update_observed();
    }

    /// Python: `loop.get_debug()`.
    pub fn get_debug(&self) -> bool {
        self.inner.debug.get()
    }

    /// Callbacks and task steps slower than this are reported (default
    /// 100 ms): every one in debug mode (see [`set_debug`](Self::set_debug)),
    /// each task's first outside it while metrics are on.
    /// Python: `loop.slow_callback_duration`, with the same meaning.
    pub fn set_slow_callback_duration(&self, duration: Duration) {
        self.inner.slow_callback_duration.set(duration);
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        self.inner.stats.slow_limit_ns.set(ns);
    }

    /// Python: `loop.slow_callback_duration`.
    pub fn slow_callback_duration(&self) -> Duration {
        self.inner.slow_callback_duration.get()
    }

    /// The timer slack the loop gives its thread while it runs: Linux may
    /// end a timed wait (the `select` that sleeps until the next timer) up
    /// to the thread's slack late, 50 µs for a normal thread. The loop
    /// lowers it to 1 µs by default while `run_forever` runs and puts the
    /// thread's own value back when it returns; `None` leaves the thread's
    /// slack alone (more wake-ups batched by the kernel, timers that much
    /// later). Takes effect at the next `run_forever` / `run_until_complete`.
    ///
    /// No asyncio counterpart: CPython leaves the slack at 50 µs, so its
    /// timers fire that much later; see `corio_timer::TimerSlack`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio_executor::EventLoop;
    ///
    /// let lp = EventLoop::new()?;
    /// assert_eq!(lp.timer_slack(), Some(Duration::from_micros(1)));
    /// lp.set_timer_slack(None);
    /// assert_eq!(lp.timer_slack(), None);
    /// # Ok::<(), corio_executor::LoopError>(())
    /// ```
    pub fn set_timer_slack(&self, slack: Option<Duration>) {
        self.inner.timer_slack.set(slack);
    }

    /// The slack [`set_timer_slack`](Self::set_timer_slack) set.
    pub fn timer_slack(&self) -> Option<Duration> {
        self.inner.timer_slack.get()
    }
}

impl fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventLoop")
            .field("running", &self.is_running())
            .field("closed", &self.is_closed())
            .finish()
    }
}
