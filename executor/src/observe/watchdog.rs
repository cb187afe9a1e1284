//! The watchdog: how a loop with metrics on learns that an item (a step or
//! a callback) ran longer than its slow-callback duration, without reading
//! a clock around every item (a reading costs 4–25 ns; a step of a
//! ping-pong costs 45).
//!
//! Each loop publishes, per item, one store: the item's id (its task's
//! address and a sequence number), and `IDLE` when its run phase ends.
//! One thread of the process, `corio-watchdog`, looks at every watched
//! loop each `tick` and remembers since when it has seen the same item
//! running. An item seen for at least the loop's limit is slow: the
//! watchdog flags it (its id, and since when it saw it), and the loop,
//! which looks at the flag after each item (one load), counts and reports
//! it through its exception handler as the item ends, as debug mode would.
//!
//! The measure is the watchdog's: an item is caught once it has run for
//! its limit plus up to one tick, and its time is known to a tick (the
//! tick is an eighth of the smallest limit, at least 1 ms and at most
//! 25 ms). Debug mode still times every item on the precise clock.
//!
//! When every loop has been idle (between run phases) for 16 looks in a
//! row, the watchdog looks once per smallest limit instead, so idle loops
//! cost a few wake-ups a second; an item that starts meanwhile is caught
//! within about twice its limit.
//!
//! The thread runs only while some loop that ran with metrics on is open:
//! the first such loop starts it, and the close of the last one stops it
//! and waits for it, so no thread outlives the loops.

use std::collections::HashMap;
use std::sync::atomic::Ordering::{Relaxed, Release};
use std::sync::{Arc, Condvar, Mutex, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::stats::LoopStats;

/// What a loop publishes between run phases.
pub(crate) const IDLE: u64 = u64::MAX;

/// Bits of an item id that hold the task's address (x86-64 and AArch64
/// user space addresses fit in 48).
const ADDRESS_BITS: u32 = 48;

/// The id a loop publishes for its `seq`-th item: the task cell's address
/// (0 for a callback; no virtual call to read its number), with the low
/// bits of `seq` above it so that two steps of one task in a row differ.
#[inline]
pub(crate) fn item_id(task_address: usize, seq: u64) -> u64 {
    (seq << ADDRESS_BITS) | (task_address as u64 & ((1 << ADDRESS_BITS) - 1))
}

/// The task address in an item id (0: a callback).
pub(crate) fn item_address(id: u64) -> usize {
    (id & ((1 << ADDRESS_BITS) - 1)) as usize
}

struct Watched {
    stats: Weak<LoopStats>,
}

#[derive(Default)]
struct Shared {
    loops: Vec<Watched>,
    stop: bool,
}

struct Watchdog {
    shared: Mutex<Shared>,
    wake: Condvar,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn watchdog() -> &'static Watchdog {
    static WATCHDOG: std::sync::OnceLock<Watchdog> = std::sync::OnceLock::new();
    WATCHDOG.get_or_init(|| Watchdog {
        shared: Mutex::new(Shared::default()),
        wake: Condvar::new(),
        thread: Mutex::new(None),
    })
}

/// The watchdog's period for a limit of `limit_ns`.
pub(crate) fn tick(limit_ns: u64) -> Duration {
    Duration::from_nanos((limit_ns / 8).clamp(1_000_000, 25_000_000))
}

/// Starts watching `stats`' loop (starting the thread if needed). A loop
/// is watched once; `unwatch` ends it.
pub(crate) fn watch(stats: &Arc<LoopStats>) {
    let dog = watchdog();
    let mut thread = dog.thread.lock().unwrap_or_else(PoisonError::into_inner);
    {
        let mut shared = dog.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.loops.push(Watched {
            stats: Arc::downgrade(stats),
        });
        shared.stop = false;
    }
    dog.wake.notify_all();
    if thread.is_none() {
        *thread = std::thread::Builder::new()
            .name("corio-watchdog".into())
            .spawn(run)
            .ok();
    }
}

/// Stops watching `stats`' loop; the last one stops the thread and waits
/// for it.
pub(crate) fn unwatch(stats: &LoopStats) {
    let dog = watchdog();
    let mut thread = dog.thread.lock().unwrap_or_else(PoisonError::into_inner);
    let last = {
        let mut shared = dog.shared.lock().unwrap_or_else(PoisonError::into_inner);
        shared.loops.retain(|w| {
            w.stats
                .upgrade()
                .is_some_and(|s| s.loop_id != stats.loop_id)
        });
        shared.stop = shared.loops.is_empty();
        shared.stop
    };
    if last {
        dog.wake.notify_all();
        if let Some(handle) = thread.take() {
            let _ = handle.join();
        }
    }
}

/// What the watchdog remembers of a loop.
struct Seen {
    item: u64,
    since: Instant,
    slow: bool,
}

fn run() {
    let dog = watchdog();
    let mut seen: HashMap<u64, Seen> = HashMap::new();
    // Looks in a row that found every loop idle: past `IDLE_LOOKS`, the
    // watchdog looks once per smallest limit instead of eight times, so
    // that idle loops cost a few wake-ups a second (an item that starts
    // meanwhile is caught within twice its limit).
    let mut idle_looks = 0u32;
    let mut shared = dog.shared.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if shared.stop {
            return;
        }
        let loops: Vec<Arc<LoopStats>> = shared
            .loops
            .iter()
            .filter_map(|w| w.stats.upgrade())
            .collect();
        let smallest = loops
            .iter()
            .map(|s| s.slow_limit_ns.get())
            .min()
            .unwrap_or(200_000_000);
        drop(shared);
        let now = Instant::now();
        seen.retain(|id, _| loops.iter().any(|s| s.loop_id == *id));
        let mut all_idle = true;
        for stats in &loops {
            all_idle &= look(stats, &mut seen, now);
        }
        idle_looks = if all_idle {
            idle_looks.saturating_add(1)
        } else {
            0
        };
        let period = if idle_looks > IDLE_LOOKS {
            Duration::from_nanos(smallest.clamp(1_000_000, 1_000_000_000))
        } else {
            tick(smallest)
        };
        drop(loops);
        shared = dog.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.stop {
            return;
        }
        shared = dog
            .wake
            .wait_timeout(shared, period)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// `at` on the monotonic clock in ns (the loops' scale: `monotonic_ns`).
fn ns(at: Instant) -> u64 {
    let now = corio_timer::monotonic_ns();
    now.saturating_sub(Instant::now().saturating_duration_since(at).as_nanos() as u64)
}

/// Looks in a row with every loop idle before the watchdog slows down.
const IDLE_LOOKS: u32 = 16;

/// One look at a loop; true when it is idle (between run phases).
fn look(stats: &LoopStats, seen: &mut HashMap<u64, Seen>, now: Instant) -> bool {
    let item = stats.current_item.load(Relaxed);
    let limit = Duration::from_nanos(stats.slow_limit_ns.get());
    let entry = seen.entry(stats.loop_id).or_insert_with(|| {
        stats.item_seen_ns.set(ns(now));
        Seen {
            item,
            since: now,
            slow: false,
        }
    });
    if entry.item != item {
        *entry = Seen {
            item,
            since: now,
            slow: false,
        };
        stats.item_seen_ns.set(ns(now));
        return item == IDLE;
    }
    if item != IDLE && !entry.slow && now.duration_since(entry.since) >= limit {
        // Slow: the loop reports it as the item ends.
        entry.slow = true;
        stats.slow_since_ns.set(ns(entry.since));
        // Release: the loop that sees the flag sees `slow_since_ns` too.
        stats.slow_flag.store(item, Release);
    }
    item == IDLE
}
