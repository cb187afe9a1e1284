//! The loop's counters, kept where any thread can read them: each is an
//! atomic written only by its loop's thread (a load and a store, no
//! read-modify-write: on x86 the same instructions as a plain `Cell`), so
//! the inspector and [`process_metrics`](super::process_metrics) read a
//! loop's figures without asking the loop.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use super::watchdog::IDLE;
use super::{Histogram, LoopMetrics, SlowStep};
use crate::remote::Remote;

/// A counter with one writer, its loop's thread.
#[derive(Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Buckets of a histogram: bucket 0 counts zeros, bucket `i` the values
/// in `[2^(i-1), 2^i)`, the last everything above.
pub(crate) const BUCKETS: usize = 48;

/// A log2 histogram with one writer.
pub(crate) struct Hist {
    buckets: [Counter; BUCKETS],
    sum: Counter,
}

impl Default for Hist {
    fn default() -> Self {
        Hist {
            buckets: std::array::from_fn(|_| Counter::default()),
            sum: Counter::default(),
        }
    }
}

impl Hist {
    /// Records `value` in its bucket only (the sum left alone): for
    /// counts whose sum another counter already gives.
    #[inline]
    pub(crate) fn record_count(&self, value: u64) {
        let bucket = (u64::BITS - value.leading_zeros()) as usize;
        self.buckets[bucket.min(BUCKETS - 1)].add(1);
    }

    #[inline]
    pub(crate) fn record(&self, value: u64) {
        let bucket = (u64::BITS - value.leading_zeros()) as usize;
        self.buckets[bucket.min(BUCKETS - 1)].add(1);
        self.sum.add(value);
    }

    pub(crate) fn snapshot(&self) -> Histogram {
        Histogram {
            counts: std::array::from_fn(|i| self.buckets[i].get()),
            sum: self.sum.get(),
        }
    }
}

/// One loop's figures (see [`LoopMetrics`] for what each means).
#[derive(Default)]
pub(crate) struct LoopStats {
    pub(crate) loop_id: u64,
    pub(crate) thread: Mutex<Option<String>>,
    /// 1 while the loop keeps its metrics (a copy of the loop's switch,
    /// for readers on other threads).
    pub(crate) enabled: Counter,
    pub(crate) iterations: Counter,
    pub(crate) selects: Counter,
    pub(crate) select_blocked_ns: Counter,
    pub(crate) ready_depth: Hist,
    pub(crate) callbacks_run: Counter,
    pub(crate) io_callbacks_run: Counter,
    pub(crate) steps_run: Counter,
    pub(crate) tasks_spawned: Counter,
    pub(crate) tasks_finished: Counter,
    pub(crate) tasks_dropped: Counter,
    pub(crate) poll_time: Hist,
    pub(crate) polls_timed: Counter,
    pub(crate) slow_steps: Counter,
    pub(crate) slowest: Mutex<Option<SlowStep>>,
    pub(crate) timers_fired: Counter,
    pub(crate) timer_lateness: Hist,
    pub(crate) fds_registered: Counter,
    pub(crate) remote_wakes: Counter,
    pub(crate) remote_calls: Counter,
    /// Since when the watchdog has seen `current_item` (monotonic ns):
    /// what the inspector tells of a loop too busy to answer.
    pub(crate) item_seen_ns: Counter,
    /// The loop's way in from other threads (for the inspector).
    pub(crate) remote: Option<Weak<Remote>>,
    /// The item running now (`watchdog::item_id`), or `watchdog::IDLE`:
    /// what the watchdog looks at.
    pub(crate) current_item: AtomicU64,
    /// Set by the watchdog to the id of a running item it judged slow
    /// (0: none); cleared by the loop as it reports it.
    pub(crate) slow_flag: AtomicU64,
    /// Since when the watchdog saw the flagged item (monotonic ns).
    pub(crate) slow_since_ns: Counter,
    /// The loop's slow-callback duration, for the watchdog.
    pub(crate) slow_limit_ns: Counter,
}

impl LoopStats {
    /// True when the watchdog flagged an item (one load, no fence).
    #[inline]
    pub(crate) fn flagged(&self) -> bool {
        self.slow_flag.load(Relaxed) != 0
    }

    /// Takes the watchdog's flag: the id of the slow item, 0 if none.
    pub(crate) fn take_flag(&self) -> u64 {
        // Acquire: with the watchdog's Release, `slow_since_ns` is current.
        self.slow_flag.swap(0, std::sync::atomic::Ordering::AcqRel)
    }
}

impl LoopStats {
    pub(crate) fn new(loop_id: u64, remote: &Arc<Remote>) -> Arc<LoopStats> {
        let stats = Arc::new(LoopStats {
            loop_id,
            thread: Mutex::new(std::thread::current().name().map(str::to_string)),
            remote: Some(Arc::downgrade(remote)),
            current_item: AtomicU64::new(IDLE),
            ..LoopStats::default()
        });
        let mut all = ALL.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|weak| weak.strong_count() > 0);
        all.push(Arc::downgrade(&stats));
        stats
    }

    pub(crate) fn snapshot(&self) -> LoopMetrics {
        let spawned = self.tasks_spawned.get();
        let ended = self.tasks_finished.get() + self.tasks_dropped.get();
        LoopMetrics {
            loop_id: self.loop_id,
            thread: self
                .thread
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            enabled: self.enabled.get() != 0,
            iterations: self.iterations.get(),
            selects: self.selects.get(),
            select_blocked: Duration::from_nanos(self.select_blocked_ns.get()),
            // Its sum is the items run (recorded apart, per kind).
            ready_depth: Histogram {
                sum: self.callbacks_run.get() + self.io_callbacks_run.get() + self.steps_run.get(),
                ..self.ready_depth.snapshot()
            },
            callbacks_run: self.callbacks_run.get(),
            io_callbacks_run: self.io_callbacks_run.get(),
            steps_run: self.steps_run.get(),
            tasks_spawned: spawned,
            tasks_finished: self.tasks_finished.get(),
            tasks_live: spawned.saturating_sub(ended),
            poll_time: self.poll_time.snapshot(),
            slow_steps: self.slow_steps.get(),
            slowest: self
                .slowest
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            timers_fired: self.timers_fired.get(),
            timer_lateness: self.timer_lateness.snapshot(),
            fds_registered: self.fds_registered.get(),
            remote_wakes: self.remote_wakes.get(),
            remote_calls: self.remote_calls.get(),
        }
    }
}

/// Every loop of the process (weak: a dropped loop leaves it).
static ALL: Mutex<Vec<Weak<LoopStats>>> = Mutex::new(Vec::new());

/// The stats of every loop still alive, in creation order.
pub(crate) fn all_loops() -> Vec<Arc<LoopStats>> {
    let all = ALL.lock().unwrap_or_else(PoisonError::into_inner);
    all.iter().filter_map(Weak::upgrade).collect()
}
