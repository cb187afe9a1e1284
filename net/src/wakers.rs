//! [`WakerList`]: the tasks waiting on a stream writer (`drain`,
//! `wait_closed`), each in the slot its waiting future remembers.
//!
//! A waiting future polled again replaces its own entry instead of adding
//! one; one dropped (its task cancelled, a `timeout` expired) removes its
//! entry; both O(1). Unlike a task's end, what writers wait for happens
//! again and again (each `resume_writing`), so waking everyone starts a
//! new *round*: keys of the old round are stale, a stale key's poll takes
//! a new entry and its drop removes nothing.

use std::task::Waker;

/// A waiter's entry: the round it was made in and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WaitKey {
    round: u64,
    slot: u32,
}

/// Wakers in reusable slots, woken all at once.
#[derive(Default)]
pub(crate) struct WakerList {
    round: u64,
    slots: Vec<Option<Waker>>,
    /// Empty slots, reused before the list grows.
    free: Vec<u32>,
}

impl WakerList {
    /// Records `waker` for the waiter whose key is `key`: replaces its own
    /// entry, or takes a slot and sets `key`.
    pub(crate) fn register(&mut self, key: &mut Option<WaitKey>, waker: &Waker) {
        if let Some(k) = *key
            && k.round == self.round
            && let Some(Some(current)) = self.slots.get_mut(k.slot as usize)
        {
            if !current.will_wake(waker) {
                *current = waker.clone();
            }
            return;
        }
        let entry = Some(waker.clone());
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        *key = Some(WaitKey {
            round: self.round,
            slot,
        });
    }

    /// Removes the waiter's entry, if it is of this round.
    pub(crate) fn remove(&mut self, key: WaitKey) {
        if key.round == self.round
            && let Some(slot) = self.slots.get_mut(key.slot as usize)
            && slot.take().is_some()
        {
            self.free.push(key.slot);
        }
    }

    /// Takes every waker out (to wake them outside the caller's borrow)
    /// and starts a new round.
    pub(crate) fn take_all(&mut self) -> Vec<Waker> {
        self.round += 1;
        self.free.clear();
        std::mem::take(&mut self.slots)
            .into_iter()
            .flatten()
            .collect()
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
    fn entries_are_replaced_removed_and_stale_after_a_round() {
        let mut list = WakerList::default();
        let (mut a, mut b) = (None, None);
        for _ in 0..100 {
            list.register(&mut a, Waker::noop());
        }
        list.register(&mut b, Waker::noop());
        assert_eq!(list.len(), 2);
        list.remove(a.unwrap());
        assert_eq!(list.len(), 1);
        assert_eq!(list.take_all().len(), 1);
        // `b`'s key is stale: its drop removes nothing of the new round.
        let mut c = None;
        list.register(&mut c, Waker::noop());
        list.remove(b.unwrap());
        assert_eq!(list.len(), 1);
        list.register(&mut b, Waker::noop()); // a new entry for `b`
        assert_eq!(list.len(), 2);
    }
}
