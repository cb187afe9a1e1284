//! [`WakerList`]: the tasks waiting on something of the net layer (a
//! stream writer's `drain` and `wait_closed`, a server's `wait_closed`),
//! each in the slot its waiting future's [`WaitEntry`] remembers.
//!
//! A waiting future polled again replaces its own entry instead of adding
//! one; one dropped (its task cancelled, a `timeout` expired) removes its
//! entry; both O(1). Unlike a task's end, what writers wait for happens
//! again and again (each `resume_writing`), so waking everyone starts a
//! new *round*: keys of the old round are stale, a stale key's poll takes
//! a new entry and its drop removes nothing.
//!
//! # Invariants
//! - a slot holds a waker exactly when it is not in `free`;
//! - while its [`WaitEntry`] lives, a key of the current round names an
//!   occupied slot, and no other key names that slot;
//! - keys of older rounds name nothing: `take_all` emptied their slots.

use std::cell::RefCell;
use std::task::Waker;

/// A waiter's entry: the round it was made in and its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WaitKey {
    round: u64,
    slot: u32,
}

/// Wakers in reusable slots, woken all at once.
#[derive(Default)]
pub(crate) struct WakerList {
    /// How many times `take_all` ran: tells a live key from a stale one.
    round: u64,
    /// One waker per waiter of this round, `None` where one gave up.
    slots: Vec<Option<Waker>>,
    /// Empty slots, reused before the list grows.
    free: Vec<u32>,
}

impl WakerList {
    /// Records `waker` for the waiter whose key is `key`: replaces its own
    /// entry, or takes a slot and sets `key`.
    fn register(&mut self, key: &mut Option<WaitKey>, waker: &Waker) {
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
    fn remove(&mut self, key: WaitKey) {
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

    /// How many waiters have an entry (for tests of the entries' count).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// One waiting future's entry in a [`WakerList`]: registering again
/// replaces the entry, dropping the future removes it.
pub(crate) struct WaitEntry<'a> {
    /// The list the entry lives in.
    list: &'a RefCell<WakerList>,
    /// The entry's key, once registered.
    key: Option<WaitKey>,
}

impl<'a> WaitEntry<'a> {
    /// No entry yet: the first [`register`](Self::register) makes one.
    pub(crate) fn new(list: &'a RefCell<WakerList>) -> Self {
        WaitEntry { list, key: None }
    }

    /// Records `waker` as this waiter's: replaces its entry, or makes one
    /// (the first time, and after a round woke it).
    pub(crate) fn register(&mut self, waker: &Waker) {
        self.list.borrow_mut().register(&mut self.key, waker);
    }
}

impl Drop for WaitEntry<'_> {
    /// A wait given up leaves no entry behind.
    fn drop(&mut self) {
        // The list is borrowed only inside its own methods; were this drop
        // to run in one (a replaced waker's drop ending a task), the entry
        // stays until the next round rather than a panic in a drop.
        if let Some(key) = self.key
            && let Ok(mut list) = self.list.try_borrow_mut()
        {
            list.remove(key);
        }
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

    #[test]
    fn an_entry_is_replaced_by_its_polls_and_removed_by_its_drop() {
        let list = RefCell::new(WakerList::default());
        let mut kept = WaitEntry::new(&list);
        for _ in 0..1000 {
            let mut given_up = WaitEntry::new(&list);
            given_up.register(Waker::noop());
            kept.register(Waker::noop());
        }
        assert_eq!(list.borrow().len(), 1);
        drop(kept);
        assert_eq!(list.borrow().len(), 0);
        // `kept`'s slot, and one that every given-up wait reused.
        assert_eq!(list.borrow().slots.len(), 2);
    }
}
