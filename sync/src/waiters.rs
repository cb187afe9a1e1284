//! [`WaitList`]: the one waiter queue every primitive of this crate is
//! built on (asyncio's `collections.deque` of futures, made cancel-safe).
//!
//! # The model
//!
//! A task that cannot proceed (the lock is held, the queue is empty, …)
//! joins the list and gets an id. Whoever makes progress possible *grants*
//! the first waiting entry a payload `P` (`()` for a lock, an item for a
//! queue getter, …) and wakes it. The grant is a hand-off: the lock stays
//! locked for the waiter, the item is the waiter's, and nobody can barge in
//! between the grant and the moment the waiter's task runs.
//!
//! The waiter's future later either
//! - **collects** its grant ([`WaitList::poll`] returns `Ready(p)` and the
//!   entry leaves the list), or
//! - **is dropped** (its task was cancelled, or a `select` lost interest):
//!   [`WaitList::cancel`] removes the entry and returns the grant if there
//!   was one, which the primitive then passes on to the next waiter. This
//!   is asyncio's `except CancelledError: ... self._wake_up_first()`.
//!
//! # Invariants
//! - ids are handed out in increasing order and entries are only appended,
//!   so the list is sorted by id: an entry is found by binary search;
//! - granting always picks the first entry not yet granted, so the granted
//!   entries are exactly the first `granted` ones: the next one to grant is
//!   at index `granted`, found in O(1);
//! - an entry leaves the list only through `poll` (granted) or `cancel`,
//!   both called by the future that owns the id, so an id its future
//!   still holds is always in the list.

use std::collections::VecDeque;
use std::task::{Context, Poll, Waker};

/// The id of an entry, held by the waiting future.
pub(crate) type WaiterId = u64;

/// One waiting task.
struct Entry<P> {
    id: WaiterId,
    /// Woken on grant; `None` before the first poll (a waiter may join the
    /// list before it is polled, as `Condition::wait` does).
    waker: Option<Waker>,
    /// What it was granted; `None` while it waits.
    grant: Option<P>,
}

/// A FIFO queue of waiters with hand-off grants (see the module docs).
pub(crate) struct WaitList<P> {
    /// What a waiter here waits on, for the inspector (`note_wait`).
    what: &'static str,
    entries: VecDeque<Entry<P>>,
    /// How many entries at the front have been granted.
    granted: usize,
    next_id: WaiterId,
}

impl<P> Default for WaitList<P> {
    fn default() -> Self {
        WaitList {
            what: "a corio-sync wait list",
            entries: VecDeque::new(),
            granted: 0,
            next_id: 0,
        }
    }
}

impl<P> WaitList<P> {
    /// An empty list whose waiters wait on `what` (e.g. "Queue.get").
    pub(crate) fn named(what: &'static str) -> Self {
        WaitList {
            what,
            ..WaitList::default()
        }
    }

    /// Tells the wait hook that the running task parks here.
    #[inline]
    fn note(&self) {
        crate::misuse::note_wait(self.what, self as *const Self as usize);
    }

    /// Appends a waiter; `waker` may come later, with the first `poll`.
    pub(crate) fn push(&mut self, waker: Option<Waker>) -> WaiterId {
        if waker.is_some() {
            self.note();
        }
        let id = self.next_id;
        self.next_id += 1;
        self.entries.push_back(Entry {
            id,
            waker,
            grant: None,
        });
        id
    }

    /// How many entries still wait (not granted).
    pub(crate) fn waiting(&self) -> usize {
        self.entries.len() - self.granted
    }

    /// True when some entry still waits.
    pub(crate) fn has_waiting(&self) -> bool {
        self.entries.len() > self.granted
    }

    /// How many entries were granted and have not collected yet: handed a
    /// lock, permit, item or slot, their task not run yet.
    pub(crate) fn granted(&self) -> usize {
        self.granted
    }

    /// True when nobody waits and nothing handed out is still uncollected:
    /// only then may a newcomer take what is free without queueing.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, id: WaiterId) -> Option<usize> {
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    /// Grants `payload` to the first waiting entry and wakes it; gives the
    /// payload back when nobody waits.
    pub(crate) fn grant_first(&mut self, payload: P) -> Result<(), P> {
        let Some(entry) = self.entries.get_mut(self.granted) else {
            return Err(payload);
        };
        entry.grant = Some(payload);
        self.granted += 1;
        if let Some(waker) = entry.waker.take() {
            waker.wake();
        }
        Ok(())
    }

    /// Grants every waiting entry, in order, the payload `make(i)` where `i`
    /// counts from 0; returns how many were granted.
    pub(crate) fn grant_all(&mut self, mut make: impl FnMut(usize) -> P) -> usize {
        let mut count = 0;
        while self.has_waiting() {
            let payload = make(count);
            if self.grant_first(payload).is_err() {
                break;
            }
            count += 1;
        }
        count
    }

    /// The waiter's side: `Ready(grant)` once granted (the entry leaves the
    /// list), else `Pending` with `cx`'s waker recorded.
    ///
    /// # Panics
    /// For an id that is not in the list: only its own future removes an
    /// entry (third invariant), so this is a bug in this crate, reported
    /// here, in one place, rather than as a task that waits forever.
    pub(crate) fn poll(&mut self, id: WaiterId, cx: &mut Context<'_>) -> Poll<P> {
        let Some(index) = self.position(id) else {
            panic!("corio-sync: waiter {id} lost its place in a wait list");
        };
        if self.entries[index].grant.is_some()
            && let Some(grant) = self.remove(index)
        {
            return Poll::Ready(grant);
        }
        let entry = &mut self.entries[index];
        match &entry.waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => entry.waker = Some(cx.waker().clone()),
        }
        self.note();
        Poll::Pending
    }

    /// The waiter gives up (its future is dropped): removes the entry and
    /// returns its grant, if it had one, for the caller to pass on.
    pub(crate) fn cancel(&mut self, id: WaiterId) -> Option<P> {
        let index = self.position(id)?;
        self.remove(index)
    }

    /// Takes back every grant its waiter has not collected yet: `retract`
    /// sees each in list order and may replace it (a queue shut down at
    /// once turns the item reservations of getters that have not run into
    /// failures). No entry is woken again: each already was.
    pub(crate) fn regrant(&mut self, mut retract: impl FnMut(&mut P)) {
        for entry in self.entries.range_mut(..self.granted) {
            if let Some(grant) = entry.grant.as_mut() {
                retract(grant);
            }
        }
    }

    fn remove(&mut self, index: usize) -> Option<P> {
        let entry = self.entries.remove(index)?;
        if entry.grant.is_some() {
            self.granted -= 1;
        }
        entry.grant
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Counter(AtomicUsize);
    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counter>, Waker) {
        let counter = Arc::new(Counter(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    #[test]
    fn grants_go_first_come_first_served_and_wake_once() {
        let (count, waker) = counting_waker();
        let mut list = WaitList::default();
        let a = list.push(Some(waker.clone()));
        let b = list.push(Some(waker.clone()));
        assert_eq!(list.waiting(), 2);
        list.grant_first("first").unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(list.waiting(), 1);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(list.poll(b, &mut cx), Poll::Pending);
        assert_eq!(list.poll(a, &mut cx), Poll::Ready("first"));
        list.grant_first("second").unwrap();
        assert_eq!(list.poll(b, &mut cx), Poll::Ready("second"));
        assert_eq!(list.grant_first("nobody"), Err("nobody"));
    }

    #[test]
    fn a_cancelled_grant_is_returned_for_passing_on() {
        let mut list = WaitList::default();
        let a = list.push(None);
        let b = list.push(None);
        let c = list.push(None);
        list.grant_first(1).unwrap();
        // `b` gives up while waiting: nothing to pass on.
        assert_eq!(list.cancel(b), None);
        // `a` gives up after its grant: the grant comes back.
        assert_eq!(list.cancel(a), Some(1));
        list.grant_first(1).unwrap();
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(list.poll(c, &mut cx), Poll::Ready(1));
        assert_eq!(list.waiting(), 0);
    }

    #[test]
    fn regrant_replaces_only_uncollected_grants() {
        let mut list = WaitList::default();
        let ids: Vec<_> = (0..3).map(|_| list.push(None)).collect();
        list.grant_first(true).unwrap();
        list.grant_first(true).unwrap();
        assert_eq!(list.granted(), 2);
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(list.poll(ids[0], &mut cx), Poll::Ready(true));
        list.regrant(|grant| *grant = false);
        assert_eq!(list.poll(ids[1], &mut cx), Poll::Ready(false));
        // The third was never granted: regrant left it waiting.
        assert_eq!(list.poll(ids[2], &mut cx), Poll::Pending);
        assert!(!list.is_empty());
        assert_eq!(list.cancel(ids[2]), None);
        assert!(list.is_empty());
    }

    #[test]
    #[should_panic(expected = "lost its place in a wait list")]
    fn grant_all_counts_and_an_unknown_id_is_reported() {
        let mut list = WaitList::default();
        let ids: Vec<_> = (0..5).map(|_| list.push(None)).collect();
        assert_eq!(list.grant_all(|i| i * 10), 5);
        let (_, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let got: Vec<_> = ids.iter().rev().map(|&id| list.poll(id, &mut cx)).collect();
        assert_eq!(got, [40, 30, 20, 10, 0].map(Poll::Ready).to_vec());
        // Collected already: polling it again is the invariant broken.
        let _ = list.poll(ids[0], &mut cx);
    }
}
