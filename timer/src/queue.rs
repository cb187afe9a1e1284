//! [`TimerQueue`]: a binary heap with lazy cancellation, asyncio's `_scheduled`.
//!
//! # Why a heap and not a wheel
//!
//! A hierarchical wheel (tokio's) makes insert and cancel O(1) but rounds
//! deadlines to its tick (1 ms in tokio) and needs extra work to keep equal
//! deadlines in scheduling order. An event loop with `epoll_pwait2` can wake
//! within microseconds of a deadline, and corio promises that equal deadlines
//! fire in scheduling order; a heap keyed by `(deadline, sequence)` gives both
//! exactly, at O(log n) per insert and pop.
//!
//! Measured (`bench/RESULTS.md`): with 100,000 random deadlines the heap
//! alone costs 140–220 ns per timer to schedule and pop on this noisy
//! machine (250–320 ns before its entries compared as one 128-bit number
//! instead of an `Instant` and a sequence number: see `Entry`), and about
//! 50 ns to schedule and cancel. A 4-ary heap (half the levels, children
//! on adjacent cache lines) was tried and measured no faster than std's
//! binary heap, whose pop sifts to the bottom and back up with fewer
//! comparisons; so the binary heap stays.
//!
//! # Cancellation
//!
//! Cancelling is O(1): the item is taken out of its slot at once and the
//! heap entry becomes a tombstone, skipped when it reaches the top. When
//! tombstones are more than [`MIN_CANCELLED_FRACTION`] of the heap (and the
//! heap has more than [`MIN_HEAP_FOR_COMPACTION`] entries) the heap is
//! rebuilt without them: asyncio's `_MIN_CANCELLED_TIMER_HANDLES_FRACTION`
//! rule, which keeps memory bounded by twice the live timers. asyncio
//! checks it once per `_run_once`; corio checks it in `cancel`, so the
//! heap is already compact when a storm of cancels ends, whether or not
//! the loop iterates. That costs O(1) amortized per cancel: a rebuild of
//! `n` entries follows at least `n / 2` cancels since the last one.
//!
//! And once a burst is over (a million timers fired or cancelled), the
//! heap and the slot array give their memory back: see
//! [`MIN_KEPT_CAPACITY`].
//!
//! # Invariants
//! - every live item sits in exactly one slot, and exactly one heap entry
//!   names that slot with the item's sequence number;
//! - `cancelled` counts the heap entries whose slot no longer holds their
//!   sequence number (tombstones);
//! - sequence numbers are unique and increase, so `(deadline, seq)` orders
//!   equal deadlines by scheduling order and tells a tombstone from the
//!   slot's next occupant.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

/// Compaction happens only when the heap has more than this many entries
/// (tombstones included). asyncio: `_MIN_SCHEDULED_TIMER_HANDLES = 100`.
pub const MIN_HEAP_FOR_COMPACTION: usize = 100;

/// Compaction happens when more than this fraction of the heap's entries
/// are tombstones. asyncio: `_MIN_CANCELLED_TIMER_HANDLES_FRACTION = 0.5`.
pub const MIN_CANCELLED_FRACTION: f64 = 0.5;

/// A queue that held a burst shrinks back once three quarters of its room
/// is unused, down to twice what it holds, but never below this many
/// entries. No asyncio counterpart (a Python list gives memory back on
/// its own).
pub const MIN_KEPT_CAPACITY: usize = 1024;

/// Names one scheduled item, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    slot: u32,
    seq: u64,
}

/// A heap entry: ordered by deadline, then by scheduling order.
///
/// The deadline is kept as nanoseconds on the queue's own scale (see
/// [`TimerQueue::ticks`]) so that an entry compares as one 128-bit number
/// `(ticks, seq)`: with 100,000 random deadlines, schedule + pop cost
/// about 20 % less than with an `Instant` field, whose comparison
/// branches on seconds, then nanoseconds, then the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    ticks: u64,
    seq: u64,
    slot: u32,
}

impl Entry {
    /// The order: deadline, then scheduling order (`seq` is unique, so the
    /// slot never decides).
    fn key(&self) -> u128 {
        u128::from(self.ticks) << 64 | u128::from(self.seq)
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }

    fn lt(&self, other: &Self) -> bool {
        self.key() < other.key()
    }

    fn le(&self, other: &Self) -> bool {
        self.key() <= other.key()
    }
}

/// The middle of the tick scale: `ticks` of the queue's epoch. Deadlines
/// up to 292 years either side of it are exact; beyond, they saturate.
const EPOCH_TICKS: u64 = 1 << 63;

/// A slot holds an item and the sequence number of its heap entry.
struct Slot<T> {
    seq: u64,
    item: Option<T>,
}

/// Items scheduled at deadlines, popped in deadline order.
///
/// Mirrors asyncio's `loop._scheduled` heap of `TimerHandle`s with its lazy
/// deletion; differs in firing equal deadlines in scheduling order (asyncio's
/// heap does not promise it) and in taking `now` as an argument.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use corio_timer::TimerQueue;
///
/// let t0 = Instant::now();
/// let ms = Duration::from_millis;
/// let mut q = TimerQueue::new();
/// q.schedule(t0 + ms(20), "second");
/// let id = q.schedule(t0 + ms(10), "cancelled");
/// q.schedule(t0 + ms(10), "first");
/// assert_eq!(q.cancel(id), Some("cancelled"));
///
/// assert_eq!(q.next_deadline(), Some(t0 + ms(10)));
/// let mut due = Vec::new();
/// q.pop_due(t0 + ms(15), &mut due);
/// assert_eq!(due, ["first"]);
/// q.pop_due(t0 + ms(20), &mut due);
/// assert_eq!(due, ["first", "second"]);
/// assert!(q.is_empty());
/// ```
pub struct TimerQueue<T> {
    /// Min-heap of entries, tombstones included.
    heap: BinaryHeap<Reverse<Entry>>,
    /// Item storage, indexed by `Entry::slot`.
    slots: Vec<Slot<T>>,
    /// Slots free for reuse.
    free: Vec<u32>,
    /// Next sequence number.
    next_seq: u64,
    /// Tombstones in `heap`.
    cancelled: usize,
    /// Look for the end of the occupied slots (an O(slots) scan) only once
    /// the live count is down to this: halved since the last look, so the
    /// scans of a storm add up to O(storm).
    next_slot_scan: usize,
    /// The instant at `EPOCH_TICKS` on the entries' scale.
    epoch: Instant,
}

impl<T> Default for TimerQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> TimerQueue<T> {
    /// An empty queue.
    ///
    /// Python: `loop._scheduled = []`.
    pub fn new() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
            cancelled: 0,
            next_slot_scan: usize::MAX,
            epoch: Instant::now(),
        }
    }

    /// `t` on the entries' scale: nanoseconds, with the queue's creation at
    /// `EPOCH_TICKS`, so that deadlines before it keep their order too.
    fn ticks(&self, t: Instant) -> u64 {
        let nanos = |d: std::time::Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        match t.checked_duration_since(self.epoch) {
            Some(after) => EPOCH_TICKS.saturating_add(nanos(after)),
            None => EPOCH_TICKS.saturating_sub(nanos(self.epoch - t)),
        }
    }

    /// The instant of `ticks` (exact for every deadline scheduled; see
    /// `EPOCH_TICKS`).
    fn instant(&self, ticks: u64) -> Instant {
        if ticks >= EPOCH_TICKS {
            self.epoch + Duration::from_nanos(ticks - EPOCH_TICKS)
        } else {
            self.epoch - Duration::from_nanos(EPOCH_TICKS - ticks)
        }
    }

    /// Schedules `item` at `deadline`. Python: `heapq.heappush(self._scheduled, timer)`.
    pub fn schedule(&mut self, deadline: Instant, item: T) -> TimerId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Slot {
                    seq,
                    item: Some(item),
                };
                slot
            }
            None => {
                self.slots.push(Slot {
                    seq,
                    item: Some(item),
                });
                self.next_slot_scan = usize::MAX;
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Reverse(Entry {
            ticks: self.ticks(deadline),
            seq,
            slot,
        }));
        TimerId { slot, seq }
    }

    /// Cancels a scheduled item and returns it; `None` if it already fired or
    /// was cancelled. Python: `TimerHandle.cancel()` (lazy deletion).
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let slot = self.slots.get_mut(id.slot as usize)?;
        if slot.seq != id.seq {
            return None;
        }
        let item = slot.item.take()?;
        self.free.push(id.slot);
        self.cancelled += 1;
        self.maybe_compact();
        self.maybe_shrink();
        Some(item)
    }

    /// Moves every item due at `now` (deadline ≤ `now`) to `out`, in deadline
    /// order, equal deadlines in scheduling order. Returns how many.
    ///
    /// Python: the `heappop` loop of `_run_once` with `end_time = self.time()`.
    pub fn pop_due(&mut self, now: Instant, out: &mut Vec<T>) -> usize {
        self.pop_due_with(now, out, |_| {})
    }

    /// [`pop_due`](Self::pop_due), telling `late` how late each item moved
    /// is (`now` minus its deadline, to the queue's tick): what an event
    /// loop's timer-lateness metric records.
    #[inline]
    pub fn pop_due_with(
        &mut self,
        now: Instant,
        out: &mut Vec<T>,
        mut late: impl FnMut(Duration),
    ) -> usize {
        let mut count = 0;
        let now = self.ticks(now);
        while let Some(Reverse(top)) = self.heap.peek().copied() {
            if top.ticks > now {
                break;
            }
            self.heap.pop();
            if let Some(item) = self.take_live(top) {
                out.push(item);
                count += 1;
                late(Duration::from_nanos(now - top.ticks));
            }
        }
        self.maybe_shrink();
        count
    }

    /// The deadline of the first live item, dropping tombstones on the way.
    ///
    /// Python: `self._scheduled[0]._when` after skipping cancelled handles.
    #[inline]
    pub fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse(top)) = self.heap.peek().copied() {
            if self.is_live(top) {
                return Some(self.instant(top.ticks));
            }
            self.heap.pop();
            self.cancelled -= 1;
        }
        None
    }

    /// True while `id` is scheduled: neither popped as due nor cancelled.
    ///
    /// Python: `not handle.cancelled()` and still in `loop._scheduled`.
    pub fn is_scheduled(&self, id: TimerId) -> bool {
        self.slots
            .get(id.slot as usize)
            .is_some_and(|slot| slot.seq == id.seq && slot.item.is_some())
    }

    /// The item `id` names while it is scheduled.
    ///
    /// Python: the `TimerHandle` itself, while not cancelled and still in
    /// `loop._scheduled`.
    pub fn get(&self, id: TimerId) -> Option<&T> {
        let slot = self.slots.get(id.slot as usize)?;
        if slot.seq != id.seq {
            return None;
        }
        slot.item.as_ref()
    }

    /// How many live items are scheduled.
    ///
    /// Python: `len(loop._scheduled) - loop._timer_cancelled_count`.
    pub fn len(&self) -> usize {
        self.heap.len() - self.cancelled
    }

    /// True when nothing live is scheduled.
    ///
    /// Python: `not loop._scheduled` (cancelled ones aside).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Room the queue holds, in entries: the largest of the capacities of
    /// the heap, the slot array and the free-slot list (for tests and
    /// benchmarks of memory).
    ///
    /// No asyncio counterpart.
    pub fn capacity(&self) -> usize {
        self.heap
            .capacity()
            .max(self.slots.capacity())
            .max(self.free.capacity())
    }

    /// Heap entries including tombstones (for tests of compaction).
    ///
    /// Python: `len(loop._scheduled)`.
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    /// Removes and returns every live item, in no particular order.
    ///
    /// Python: `loop._scheduled.clear()` in `close()`.
    pub fn drain(&mut self) -> Vec<T> {
        self.heap.clear();
        self.free.clear();
        self.cancelled = 0;
        self.slots.drain(..).filter_map(|slot| slot.item).collect()
    }

    /// True when the entry's slot still holds its item. A tombstone may
    /// name a slot cut off by `maybe_shrink`: not live either.
    fn is_live(&self, entry: Entry) -> bool {
        self.slots
            .get(entry.slot as usize)
            .is_some_and(|slot| slot.seq == entry.seq && slot.item.is_some())
    }

    /// Takes the item of a popped entry, or counts a tombstone gone.
    fn take_live(&mut self, entry: Entry) -> Option<T> {
        if !self.is_live(entry) {
            self.cancelled -= 1;
            return None;
        }
        self.free.push(entry.slot);
        self.slots[entry.slot as usize].item.take()
    }

    /// Rebuilds the heap without its tombstones once they are too many:
    /// the `_MIN_CANCELLED_TIMER_HANDLES_FRACTION` branch of asyncio's
    /// `_run_once` (`heapify` of the live handles).
    fn maybe_compact(&mut self) {
        let n = self.heap.len();
        if n > MIN_HEAP_FOR_COMPACTION && self.cancelled as f64 > n as f64 * MIN_CANCELLED_FRACTION
        {
            let entries = std::mem::take(&mut self.heap).into_vec();
            let live: Vec<_> = entries
                .into_iter()
                .filter(|Reverse(e)| self.is_live(*e))
                .collect();
            self.heap = BinaryHeap::from(live);
            self.cancelled = 0;
        }
    }

    /// Gives back the room of a burst: the heap's, and the slot array's
    /// trailing free slots (an id naming a slot cut off finds nothing, and
    /// a slot made anew gets a new sequence number, so stale ids stay
    /// stale).
    fn maybe_shrink(&mut self) {
        if self.capacity() <= MIN_KEPT_CAPACITY {
            return;
        }
        let len = self.heap.len();
        if len * 4 < self.heap.capacity() {
            self.heap.shrink_to((len * 2).max(MIN_KEPT_CAPACITY));
        }
        // Few live items is necessary for few occupied slots: only then
        // look for where the occupied ones end (and not again until their
        // number halved).
        if self.len() * 4 >= self.slots.capacity() || self.len() > self.next_slot_scan {
            return;
        }
        self.next_slot_scan = self.len() / 2;
        let end = self
            .slots
            .iter()
            .rposition(|slot| slot.item.is_some())
            .map_or(0, |last| last + 1);
        if end * 4 < self.slots.capacity() {
            self.slots.truncate(end);
            self.free.retain(|&slot| (slot as usize) < end);
            let keep = (end * 2).max(MIN_KEPT_CAPACITY);
            self.slots.shrink_to(keep);
            self.free.shrink_to(keep);
        }
    }
}

impl<T> std::fmt::Debug for TimerQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimerQueue")
            .field("live", &self.len())
            .field("tombstones", &self.cancelled)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_cancel_storm_gives_its_memory_back_and_ids_stay_right() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let keep = q.schedule(at(t0, 5), "kept");
        let ids: Vec<_> = (0..1_000_000u64)
            .map(|i| q.schedule(at(t0, i % 1000), "x"))
            .collect();
        let peak = q.capacity();
        for &id in &ids {
            q.cancel(id);
        }
        assert!(q.capacity() * 10 < peak, "{} of {peak} kept", q.capacity());
        assert_eq!(q.cancel(ids[0]), None, "a cut-off id finds nothing");
        // Equal deadlines still fire in scheduling order after compaction.
        q.schedule(at(t0, 5), "after");
        let mut due = Vec::new();
        q.pop_due(at(t0, 10), &mut due);
        assert_eq!(due, ["kept", "after"]);
        assert!(!q.is_scheduled(keep));
        // A burst that fires (no cancel) shrinks too.
        for i in 0..100_000u64 {
            q.schedule(at(t0, i % 7), "fired");
        }
        let peak = q.capacity();
        q.pop_due(at(t0, 10), &mut due);
        assert!(q.capacity() * 10 < peak, "{} of {peak} kept", q.capacity());
    }

    /// asyncio's rule exactly: compaction needs more than
    /// `_MIN_SCHEDULED_TIMER_HANDLES` entries and more than
    /// `_MIN_CANCELLED_TIMER_HANDLES_FRACTION` of them cancelled.
    #[test]
    fn compaction_follows_asyncios_thresholds() {
        let t0 = Instant::now();
        let storm = |scheduled: u64, cancelled: usize| {
            let mut q = TimerQueue::new();
            let ids: Vec<_> = (0..scheduled).map(|i| q.schedule(at(t0, i), i)).collect();
            for &id in &ids[..cancelled] {
                q.cancel(id);
            }
            q.heap_len()
        };
        let n = MIN_HEAP_FOR_COMPACTION;
        assert_eq!(storm(n as u64, n / 2 + 1), n, "not more than 100 entries");
        assert_eq!(storm(n as u64 + 1, n / 2), n + 1, "not more than half");
        assert_eq!(storm(n as u64 + 1, n / 2 + 1), n / 2, "both: compacted");
    }

    /// After compactions, equal deadlines still fire in scheduling order,
    /// every id still names its own item, and cancelling an id whose
    /// tombstone was compacted away (its slot reused or not) changes
    /// nothing.
    #[test]
    fn compaction_keeps_order_and_ids() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let ids: Vec<_> = (0..3000u64)
            .map(|i| (i, q.schedule(at(t0, i % 10), i)))
            .collect();
        let (gone, kept): (Vec<_>, Vec<_>) = ids.iter().partition(|(i, _)| i % 3 != 0);
        for &(i, id) in &gone {
            assert_eq!(q.cancel(id), Some(i));
        }
        assert!(
            q.heap_len() < 2 * q.len() + 1,
            "compacted: {}",
            q.heap_len()
        );
        // New items take the cancelled ones' slots.
        let late: Vec<_> = (3000..3500u64)
            .map(|i| (i, q.schedule(at(t0, i % 10), i)))
            .collect();
        for &(_, id) in &gone {
            assert_eq!(q.cancel(id), None, "a compacted id finds nothing");
        }
        assert_eq!(q.len(), kept.len() + late.len());
        for &(_, id) in kept.iter().chain(&late) {
            assert!(q.is_scheduled(id));
        }
        let mut expected: Vec<_> = kept.iter().chain(&late).map(|&(i, _)| i).collect();
        expected.sort_by_key(|&i| (i % 10, i)); // by deadline, then scheduling
        let mut out = Vec::new();
        q.pop_due(at(t0, 10), &mut out);
        assert_eq!(out, expected);
        assert!(q.is_empty());
        assert_eq!(q.heap_len(), 0, "no tombstone left behind");
    }

    fn at(t0: Instant, ms: u64) -> Instant {
        t0 + Duration::from_millis(ms)
    }

    #[test]
    fn equal_deadlines_fire_in_scheduling_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for i in 0..100 {
            q.schedule(at(t0, 5), i);
        }
        let mut out = Vec::new();
        q.pop_due(at(t0, 5), &mut out);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn deadline_order_not_insertion_order() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        for (i, ms) in [30, 10, 20, 10, 0].into_iter().enumerate() {
            q.schedule(at(t0, ms), i);
        }
        let mut out = Vec::new();
        assert_eq!(q.pop_due(at(t0, 9), &mut out), 1);
        q.pop_due(at(t0, 100), &mut out);
        assert_eq!(out, [4, 1, 3, 2, 0]);
    }

    #[test]
    fn nothing_due_before_its_deadline() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        q.schedule(at(t0, 10), ());
        let mut out = Vec::new();
        assert_eq!(q.pop_due(at(t0, 9), &mut out), 0);
        assert_eq!(q.next_deadline(), Some(at(t0, 10)));
    }

    #[test]
    fn cancel_is_once_and_never_hits_a_reused_slot() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.schedule(at(t0, 1), "a");
        assert_eq!(q.cancel(a), Some("a"));
        assert_eq!(q.cancel(a), None);
        let b = q.schedule(at(t0, 2), "b"); // reuses a's slot
        assert_eq!(q.cancel(a), None, "a's id must not cancel b");
        let mut out = Vec::new();
        q.pop_due(at(t0, 5), &mut out);
        assert_eq!(out, ["b"]);
        assert_eq!(q.cancel(b), None, "already fired");
        assert_eq!(q.next_deadline(), None);
    }

    #[test]
    fn compaction_bounds_tombstones() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let ids: Vec<_> = (0..1000).map(|i| q.schedule(at(t0, i), i)).collect();
        for id in &ids[..900] {
            q.cancel(*id);
        }
        assert_eq!(q.len(), 100);
        assert!(q.heap_len() <= 2 * q.len() + 1, "heap {}", q.heap_len());
        let mut out = Vec::new();
        q.pop_due(at(t0, 10_000), &mut out);
        assert_eq!(out, (900..1000).collect::<Vec<_>>());
        assert!(q.is_empty());
    }

    /// Deadlines before the queue was made (a `call_at` in the past) keep
    /// their order, and every deadline comes back exactly, nanoseconds
    /// included.
    #[test]
    fn past_and_far_deadlines_keep_their_order_and_come_back_exactly() {
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_millis(2));
        let mut q = TimerQueue::new();
        let early = t0 + Duration::from_nanos(1_234_567); // before the queue
        let earlier = t0 + Duration::from_nanos(7);
        let later = t0 + Duration::from_secs(86_400 * 365 * 100) + Duration::from_nanos(3);
        q.schedule(later, "later");
        q.schedule(early, "early");
        q.schedule(earlier, "earlier");
        assert_eq!(q.next_deadline(), Some(earlier));
        let mut due = Vec::new();
        q.pop_due(early, &mut due);
        assert_eq!(due, ["earlier", "early"]);
        assert_eq!(q.next_deadline(), Some(later));
        q.pop_due(later, &mut due);
        assert_eq!(due, ["earlier", "early", "later"]);
    }

    #[test]
    fn next_deadline_skips_cancelled() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let first = q.schedule(at(t0, 1), 1);
        q.schedule(at(t0, 2), 2);
        q.cancel(first);
        assert_eq!(q.next_deadline(), Some(at(t0, 2)));
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn drain_returns_live_items() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let a = q.schedule(at(t0, 1), 1);
        q.schedule(at(t0, 2), 2);
        q.cancel(a);
        assert_eq!(q.drain(), vec![2]);
        assert!(q.is_empty());
    }
}
