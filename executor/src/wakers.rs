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

/// Wakers in reusable slots.
#[derive(Default)]
pub(crate) struct WakerSlab {
    slots: Vec<Option<Waker>>,
    /// Empty slots, reused before the slab grows.
    free: Vec<WaiterKey>,
}

impl WakerSlab {
    /// Records `waker` for the waiter whose key is `key`: replaces its own
    /// entry (if the waker changed), or takes a slot and sets `key`.
    pub(crate) fn register(&mut self, key: &mut Option<WaiterKey>, waker: &Waker) {
        if let Some(slot) = key.and_then(|k| self.slots.get_mut(k as usize))
            && let Some(current) = slot
        {
            if !current.will_wake(waker) {
                *current = waker.clone();
            }
            return;
        }
        let entry = Some(waker.clone());
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
        self.slots.into_iter().flatten().for_each(Waker::wake);
    }

    /// How many waiters have an entry.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_poll_replaces_and_a_removed_slot_is_reused() {
        let mut slab = WakerSlab::default();
        let (mut a, mut b) = (None, None);
        for _ in 0..1000 {
            slab.register(&mut a, Waker::noop());
        }
        assert_eq!(slab.len(), 1);
        slab.register(&mut b, Waker::noop());
        assert_eq!((a, b, slab.len()), (Some(0), Some(1), 2));
        slab.remove(0);
        slab.remove(0); // twice is harmless
        let mut c = None;
        slab.register(&mut c, Waker::noop());
        assert_eq!((c, slab.len(), slab.slots.len()), (Some(0), 2, 2));
    }

    #[test]
    fn many_waiters_added_and_dropped_leave_nothing() {
        let mut slab = WakerSlab::default();
        let mut keys: Vec<Option<WaiterKey>> = vec![None; 100_000];
        for key in &mut keys {
            slab.register(key, Waker::noop());
        }
        assert_eq!(slab.len(), 100_000);
        for key in &keys {
            slab.remove(key.unwrap());
        }
        assert_eq!(slab.len(), 0);
    }
}
