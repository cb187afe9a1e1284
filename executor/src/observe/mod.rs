//! Seeing inside a running loop: its metrics ([`LoopMetrics`], always on,
//! switched off with [`EventLoop::set_metrics`](crate::EventLoop::set_metrics)),
//! its flight recorder (a ring of events exported as a Chrome trace,
//! [`EventLoop::set_trace`](crate::EventLoop::set_trace)) and the
//! inspector that `corio-ps` talks to ([`inspect`]).
//!
//! asyncio has `loop.slow_callback_duration` in debug mode and, since
//! 3.14, `python -m asyncio ps PID`; tokio has its metrics and console
//! behind `--cfg tokio_unstable`. corio keeps all of it in stable builds,
//! switched at run time.
//!
//! # What metrics cost
//!
//! A loop with metrics on counts in each iteration (a few stores) and
//! publishes each item's id (one store) for the watchdog, a thread that
//! catches a step over `slow_callback_duration` without a clock reading
//! per item (see `watchdog.rs`). The precise clock, 20–50 ns a reading, is
//! too dear to read around every step: a step about once per
//! [`POLL_SAMPLE_PERIOD`] items (past a gap of pseudo-random length) is timed with it for
//! the poll-time histogram and the tasks' poll time (every step in debug
//! mode or while tracing). With metrics off, an iteration costs one more
//! branch than it did before metrics existed. Figures: `bench/RESULTS.md`
//! (issue 32).

pub mod inspect;
pub(crate) mod stats;
pub(crate) mod trace;
pub(crate) mod watchdog;

use std::fmt;
use std::time::Duration;

use stats::BUCKETS;

/// While metrics are on, a step is timed with the precise clock about
/// once per this many items run (the first step past a gap of
/// pseudo-random length around it; every step in debug mode and while
/// tracing). In a loop that runs only steps, one step in this many.
pub const POLL_SAMPLE_PERIOD: u32 = 256;

/// A log2 histogram: [`bucket`](Self::bucket) `0` counts zeros, bucket
/// `i` the values in `[2^(i-1), 2^i)`. Times are in nanoseconds.
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    counts: [u64; BUCKETS],
    sum: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: [0; BUCKETS],
            sum: 0,
        }
    }
}

impl Histogram {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The sum of the values recorded.
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The mean value (0 when empty).
    pub fn mean(&self) -> f64 {
        match self.count() {
            0 => 0.0,
            n => self.sum as f64 / n as f64,
        }
    }

    /// The count of bucket `i` (see the type's docs); 0 past the last.
    pub fn bucket(&self, i: usize) -> u64 {
        self.counts.get(i).copied().unwrap_or(0)
    }

    /// The values bucket `i` holds, `[low, high)`.
    pub fn bucket_range(i: usize) -> (u64, u64) {
        match i {
            0 => (0, 1),
            i if i >= BUCKETS - 1 => (1 << (BUCKETS - 2), u64::MAX),
            i => (1 << (i - 1), 1 << i),
        }
    }

    /// An upper bound of the `q` quantile (`q` in 0..=1): the top of the
    /// bucket it falls in (0 when empty).
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Self::bucket_range(i).1;
            }
        }
        u64::MAX
    }

    /// The non-empty buckets, as `(low, high, count)`.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| **c > 0)
            .map(|(i, c)| {
                let (low, high) = Self::bucket_range(i);
                (low, high, *c)
            })
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("sum", &self.sum)
            .field(
                "buckets",
                &self
                    .buckets()
                    .map(|(l, h, c)| (l..h, c))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The slowest step a loop has seen (over its slow-callback duration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlowStep {
    /// What ran: `<Task 'name' created at file:line>`, or "a callback".
    pub what: String,
    /// How long it ran.
    pub took: Duration,
}

/// A loop's figures, from [`EventLoop::metrics`](crate::EventLoop::metrics)
/// or, for every loop of the process, [`process_metrics`]. Counts start
/// at the loop's creation. Tasks spawned and finished are counted always;
/// the rest while metrics, debug mode or the recorder are on.
///
/// No asyncio counterpart; tokio's `RuntimeMetrics`, which needs
/// `--cfg tokio_unstable` for most of these.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct LoopMetrics {
    /// The loop's id (unique in the process).
    pub loop_id: u64,
    /// The name of the thread that created the loop.
    pub thread: Option<String>,
    /// Whether the loop keeps metrics now.
    pub enabled: bool,
    /// Iterations of `_run_once`.
    pub iterations: u64,
    /// `select` calls made (an iteration skips it when it could report
    /// nothing: see `EventLoop::io_tick`).
    pub selects: u64,
    /// Time spent in `select` calls that could block (a zero-timeout
    /// select is not timed), read on the coarse clock: each wait to the
    /// kernel tick (1–4 ms), so the sum over many waits is the figure.
    pub select_blocked: Duration,
    /// The ready queue's length at the start of each iteration's run
    /// phase (iterations with metrics on); its sum is the items run.
    pub ready_depth: Histogram,
    /// `call_soon` / timer callbacks run.
    pub callbacks_run: u64,
    /// Reader and writer callbacks run.
    pub io_callbacks_run: u64,
    /// Task steps run.
    pub steps_run: u64,
    /// Tasks created.
    pub tasks_spawned: u64,
    /// Tasks finished (returned, failed or cancelled).
    pub tasks_finished: u64,
    /// Tasks not finished yet (nor dropped by `close`).
    pub tasks_live: u64,
    /// Step times in ns: a step about once per [`POLL_SAMPLE_PERIOD`]
    /// items (every step in debug mode or while tracing).
    pub poll_time: Histogram,
    /// Callbacks and steps that ran at least the slow-callback duration.
    pub slow_steps: u64,
    /// The slowest of them.
    pub slowest: Option<SlowStep>,
    /// Timers that fired (callbacks and sleeps).
    pub timers_fired: u64,
    /// How late each fired timer was collected, in ns.
    pub timer_lateness: Histogram,
    /// fds registered with the selector, the loop's own included.
    pub fds_registered: u64,
    /// Task wakes that came from other threads.
    pub remote_wakes: u64,
    /// `call_soon_threadsafe` callbacks that came from other threads.
    pub remote_calls: u64,
}

/// The metrics of every loop alive in the process, on any thread, read
/// without asking the loops (their counters are atomics).
///
/// No asyncio counterpart.
///
/// ```
/// let lp = corio_executor::EventLoop::new()?;
/// lp.run_until_complete(async {})?;
/// let all = corio_executor::process_metrics();
/// assert!(all.iter().any(|m| m.loop_id == lp.metrics().loop_id));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub fn process_metrics() -> Vec<LoopMetrics> {
    stats::all_loops().iter().map(|s| s.snapshot()).collect()
}

/// Whether new loops keep metrics: yes, unless `CORIO_METRICS=0`.
pub(crate) fn metrics_default() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var("CORIO_METRICS").map_or(true, |v| v != "0"))
}

pub use trace::DEFAULT_TRACE_EVENTS;
