//! [`WakerSlab`]: the wakers of those waiting for something to finish (a
//! task, a `Future`), each in the slot its waiting future remembers.
//!
//! A waiting future polled again replaces its own entry instead of adding
//! one, and a waiting future dropped (its task cancelled, a `select` lost
//! interest) removes its entry: both O(1), so a thing awaited by 100,000
//! tasks costs 100,000 entries, not a quadratic scan, and abandoned waits
//! leave nothing behind. What is waited for finishes once and for all, so
//! the slots are only read by `wake_all`, after which no key is used again
//! (a waiter seeing "done" neither registers nor removes).

use std::task::Waker;

/// Where a waiter's entry is (kept by the waiting future).
pub(crate) type WaiterKey = u32;

/// Wakers in reusable slots, each with its registration number (done
/// callbacks are numbered from the same count, so that the finish can wake
/// and call them in registration order, as asyncio's done callbacks run).
#[derive(Default)]
pub(crate) struct WakerSlab {
    slots: Vec<Option<(u64, Waker)>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<WaiterKey>,
}

impl WakerSlab {
    /// Records `waker` for the waiter whose key is `key`: replaces its own
    /// entry (if the waker changed), or takes a slot, numbered `seq()`, and
    /// sets `key`.
    pub(crate) fn register(
        &mut self,
        key: &mut Option<WaiterKey>,
        waker: &Waker,
        seq: impl FnOnce() -> u64,
    ) {
        if let Some(slot) = key.and_then(|k| self.slots.get_mut(k as usize))
            && let Some((_, current)) = slot
        {
            if !current.will_wake(waker) {
                *current = waker.clone();
            }
            return;
        }
        let entry = Some((seq(), waker.clone()));
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index as usize] = entry;
                index
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as WaiterKey
            }
        };
        *key = Some(index);
    }

    /// Removes the waiter's entry (its future is dropped).
    pub(crate) fn remove(&mut self, key: WaiterKey) {
        if let Some(slot) = self.slots.get_mut(key as usize)
            && slot.take().is_some()
        {
            self.free.push(key);
        }
    }

    /// Wakes every waiter, in the order of their slots.
    pub(crate) fn wake_all(self) {
        self.slots.into_iter().flatten().for_each(|(_, w)| w.wake());
    }

    /// The wakers with their registration numbers, in registration order.
    pub(crate) fn into_ordered(self) -> Vec<(u64, Waker)> {
        let mut entries: Vec<_> = self.slots.into_iter().flatten().collect();
        entries.sort_unstable_by_key(|(seq, _)| *seq);
        entries
    }

    /// How many waiters have an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// Wakes `wakers` and runs `schedule` on `callbacks`, all in registration
/// order (both lists numbered from one count; `callbacks` in order).
pub(crate) fn finish_in_order<C>(
    wakers: Vec<(u64, Waker)>,
    callbacks: Vec<(u64, C)>,
    mut schedule: impl FnMut(C),
) {
    let mut callbacks = callbacks.into_iter().peekable();
    for (seq, waker) in wakers {
        while let Some((_, callback)) = callbacks.next_if(|(c, _)| *c < seq) {
            schedule(callback);
        }
        waker.wake();
    }
    callbacks.for_each(|(_, callback)| schedule(callback));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_poll_replaces_and_a_removed_slot_is_reused() {
        let mut slab = WakerSlab::default();
        let (mut a, mut b) = (None, None);
        for _ in 0..1000 {
            slab.register(&mut a, Waker::noop(), || 0);
        }
        assert_eq!(slab.len(), 1);
        slab.register(&mut b, Waker::noop(), || 1);
        assert_eq!((a, b, slab.len()), (Some(0), Some(1), 2));
        slab.remove(0);
        slab.remove(0); // twice is harmless
        let mut c = None;
        slab.register(&mut c, Waker::noop(), || 2);
        assert_eq!((c, slab.len(), slab.slots.len()), (Some(0), 2, 2));
    }

    #[test]
    fn many_waiters_added_and_dropped_leave_nothing() {
        let mut slab = WakerSlab::default();
        let mut keys: Vec<Option<WaiterKey>> = vec![None; 100_000];
        for key in &mut keys {
            slab.register(key, Waker::noop(), || 0);
        }
        assert_eq!(slab.len(), 100_000);
        for key in &keys {
            slab.remove(key.unwrap());
        }
        assert_eq!(slab.len(), 0);
    }
}
