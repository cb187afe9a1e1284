//! [`Queue`], [`PriorityQueue`] and [`LifoQueue`]: one machinery
//! ([`BaseQueue`]) over three buffers.
//!
//! # Hand-offs (the notes' `get`/`put` wake-up chain, made cancel-safe)
//!
//! Both directions reserve, and the waiter takes what it was promised when
//! its task runs:
//! - `put` always puts the item in the buffer; if getters wait, it
//!   **reserves one item** for the first of them. The getter takes its item
//!   when it runs, in the buffer's own order: what `get_nowait()` would
//!   return at that moment (so two getters woken by `put(5)`, `put(1)` on a
//!   [`PriorityQueue`] get 1 and then 5, as in asyncio). Getters wait only
//!   while every item in the buffer is reserved.
//! - `get` that frees a slot of a bounded queue **reserves** it for the
//!   first waiting putter; the putter inserts its item when it runs. So
//!   putters wait only while the queue is full, counting reserved slots.
//! - A getter or putter cancelled after its reservation never takes the
//!   item or the slot: the reservation goes to the next waiter, or back to
//!   the queue. Nothing is consumed by a task that no longer wants it.
//!
//! Differs from asyncio on purpose: asyncio only *wakes* the waiter, and a
//! newcomer's `get`/`put`/`get_nowait`/`put_nowait` that runs before the
//! woken waiter takes the item or slot itself, sending the woken one back
//! to the end of the line. corio's newcomer finds the item or slot taken
//! (`QueueEmpty` / `QueueFull`, or it queues): no waiter starves.
//!
//! # Shutdown (Python 3.13)
//!
//! `shutdown(false)`: later puts fail, waiting putters fail, getters drain
//! what is left and then fail. `shutdown(true)` also empties the buffer at
//! once (counting those items as done for `join`), including items
//! reserved for getters that have not run yet, and those getters fail as
//! the waiting ones do. Every failure is [`SyncError::QueueShutDown`].

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::waiters::{WaitList, WaiterId};
use crate::{PutError, SyncError};

/// Where a queue keeps its items: the order `get` takes them in.
///
/// Python: the `_init`/`_put`/`_get` hooks a subclass of `asyncio.Queue`
/// overrides.
pub trait Buffer<T> {
    /// Adds an item. Python: `Queue._put(item)`.
    fn push(&mut self, item: T);
    /// Takes the next item. Python: `Queue._get()`.
    fn pop(&mut self) -> Option<T>;
    /// How many items it holds. Python: `Queue.qsize()`.
    fn len(&self) -> usize;
    /// True when it holds nothing. Python: `Queue.empty()`.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// First in, first out. Python: `asyncio.Queue`'s deque.
pub struct Fifo<T>(VecDeque<T>);

/// Last in, first out. Python: `asyncio.LifoQueue`'s list.
pub struct Lifo<T>(Vec<T>);

/// Smallest first. Python: `asyncio.PriorityQueue`'s heap.
pub struct Priority<T>(BinaryHeap<Reverse<T>>);

impl<T> Buffer<T> for Fifo<T> {
    fn push(&mut self, item: T) {
        self.0.push_back(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop_front()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T> Buffer<T> for Lifo<T> {
    fn push(&mut self, item: T) {
        self.0.push(item);
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

impl<T: Ord> Buffer<T> for Priority<T> {
    fn push(&mut self, item: T) {
        self.0.push(Reverse(item));
    }
    fn pop(&mut self) -> Option<T> {
        self.0.pop().map(|Reverse(item)| item)
    }
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// A FIFO queue for the tasks of one loop. Python: `asyncio.Queue`.
///
/// # Examples
///
/// ```
/// use corio_sync::{Queue, SyncError};
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`.
/// use testkit::exec::block_on;
///
/// block_on(async {
///     let queue = Queue::new(2);
///     queue.put(1).await.unwrap();
///     queue.put_nowait(2).unwrap();
///     assert_eq!(queue.put_nowait(3).unwrap_err().error, SyncError::QueueFull);
///     assert_eq!(queue.get().await, Ok(1));
///     assert_eq!(queue.get_nowait(), Ok(2));
///     assert_eq!(queue.get_nowait(), Err(SyncError::QueueEmpty));
/// });
/// ```
pub type Queue<T> = BaseQueue<T, Fifo<T>>;

/// A queue that gives the smallest item first. Python: `asyncio.PriorityQueue`.
///
/// # Examples
///
/// ```
/// use corio_sync::PriorityQueue;
///
/// let queue = PriorityQueue::new(0);
/// for priority in [3, 1, 2] {
///     queue.put_nowait((priority, "job")).unwrap();
/// }
/// assert_eq!(queue.get_nowait().unwrap().0, 1);
/// ```
pub type PriorityQueue<T> = BaseQueue<T, Priority<T>>;

/// A queue that gives the newest item first. Python: `asyncio.LifoQueue`.
///
/// # Examples
///
/// ```
/// use corio_sync::LifoQueue;
///
/// let queue = LifoQueue::new(0);
/// queue.put_nowait("old").unwrap();
/// queue.put_nowait("new").unwrap();
/// assert_eq!(queue.get_nowait(), Ok("new"));
/// ```
pub type LifoQueue<T> = BaseQueue<T, Lifo<T>>;

impl<T> BaseQueue<T, Fifo<T>> {
    /// A queue holding at most `maxsize` items (0: unbounded).
    /// Python: `asyncio.Queue(maxsize)`.
    pub fn new(maxsize: usize) -> Self {
        BaseQueue::with_buffer(Fifo(VecDeque::new()), maxsize)
    }
}

impl<T> BaseQueue<T, Lifo<T>> {
    /// Python: `asyncio.LifoQueue(maxsize)`.
    pub fn new(maxsize: usize) -> Self {
        BaseQueue::with_buffer(Lifo(Vec::new()), maxsize)
    }
}

impl<T: Ord> BaseQueue<T, Priority<T>> {
    /// Python: `asyncio.PriorityQueue(maxsize)`.
    pub fn new(maxsize: usize) -> Self {
        BaseQueue::with_buffer(Priority(BinaryHeap::new()), maxsize)
    }
}

/// The machinery behind [`Queue`], [`PriorityQueue`] and [`LifoQueue`].
///
/// Not `Sync`: for one loop's tasks. See the module docs for how items and
/// slots are handed over.
pub struct BaseQueue<T, B> {
    state: RefCell<QueueState<T, B>>,
}

struct QueueState<T, B> {
    /// Every item put and not yet taken, reserved ones included.
    /// asyncio's `_queue`.
    buffer: B,
    /// 0: unbounded. asyncio's `_maxsize`.
    maxsize: usize,
    /// Granted `true` with an item reserved in the buffer, `false` when the
    /// queue shut down. asyncio's `_getters`.
    getters: WaitList<bool>,
    /// Items of `buffer` reserved for getters that have not run yet.
    reserved_items: usize,
    /// Granted `true` with a reserved slot, `false` when the queue shut
    /// down. asyncio's `_putters`.
    putters: WaitList<bool>,
    /// Slots granted to putters that have not run yet.
    reserved_slots: usize,
    /// asyncio's `_unfinished_tasks`.
    unfinished: usize,
    /// Tasks in `join`. asyncio's `_finished` event.
    joiners: WaitList<()>,
    /// asyncio's `_is_shutdown`.
    shut_down: bool,
    /// The buffer holds the `T`s; this says so to the type system.
    items: PhantomData<T>,
}

impl<T, B: Buffer<T>> QueueState<T, B> {
    fn full(&self) -> bool {
        self.maxsize > 0 && self.buffer.len() + self.reserved_slots >= self.maxsize
    }

    /// Items a newcomer may take: those not reserved for a getter.
    fn available(&self) -> usize {
        self.buffer.len() - self.reserved_items
    }

    /// Puts an accepted item in the buffer, reserved for the first waiting
    /// getter if there is one.
    fn deliver(&mut self, item: T) {
        self.unfinished += 1;
        self.buffer.push(item);
        self.items_arrived();
    }

    /// Items came free (put, or a reservation given up): reserve them for
    /// the waiting getters, first come first served.
    fn items_arrived(&mut self) {
        while self.available() > 0 && self.getters.grant_first(true).is_ok() {
            self.reserved_items += 1;
        }
    }

    /// Slots came free (an item left, or a reservation was used or given
    /// up): reserve them for the waiting putters, first come first served.
    fn slot_freed(&mut self) {
        while !self.shut_down && !self.full() && self.putters.grant_first(true).is_ok() {
            self.reserved_slots += 1;
        }
    }

    /// Takes the next item in the buffer's order; frees its slot.
    fn take(&mut self) -> Option<T> {
        let item = self.buffer.pop()?;
        self.slot_freed();
        Some(item)
    }

    fn get_nowait(&mut self) -> Result<T, SyncError> {
        if self.available() > 0
            && let Some(item) = self.take()
        {
            return Ok(item);
        }
        // Shut down, nothing will be put any more: what is left is
        // reserved for getters that were first, so this one would wait
        // forever.
        if self.shut_down {
            Err(SyncError::QueueShutDown)
        } else {
            Err(SyncError::QueueEmpty)
        }
    }
}

impl<T, B: Buffer<T>> BaseQueue<T, B> {
    /// A queue over `buffer` holding at most `maxsize` items (0: unbounded).
    ///
    /// Python: subclassing `asyncio.Queue` and overriding `_init`.
    pub fn with_buffer(buffer: B, maxsize: usize) -> Self {
        BaseQueue {
            state: RefCell::new(QueueState {
                buffer,
                maxsize,
                getters: WaitList::named("Queue.get"),
                reserved_items: 0,
                putters: WaitList::named("Queue.put"),
                reserved_slots: 0,
                unfinished: 0,
                joiners: WaitList::named("Queue.join"),
                shut_down: false,
                items: PhantomData,
            }),
        }
    }

    /// Puts an item, waiting for a free slot. Python: `await queue.put(item)`.
    ///
    /// Cancel-safe: dropping the future before it completes never inserts
    /// the item (a slot reserved for it passes to the next putter).
    ///
    /// # Errors
    /// [`SyncError::QueueShutDown`] (with the item back) when the queue is
    /// or gets shut down.
    pub fn put(&self, item: T) -> Put<'_, T, B> {
        Put {
            queue: self,
            item: Some(item),
            id: None,
        }
    }

    /// Puts an item without waiting. Python: `queue.put_nowait(item)`.
    ///
    /// A slot reserved for a waiting putter is not free (see
    /// [`full`](Self::full)).
    ///
    /// # Errors
    /// [`SyncError::QueueFull`] or [`SyncError::QueueShutDown`], with the
    /// item back.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        let mut state = self.state.borrow_mut();
        if state.shut_down {
            return Err(PutError {
                error: SyncError::QueueShutDown,
                item,
            });
        }
        if state.full() {
            return Err(PutError {
                error: SyncError::QueueFull,
                item,
            });
        }
        state.deliver(item);
        Ok(())
    }

    /// Takes an item, waiting for one. Python: `await queue.get()`.
    ///
    /// Cancel-safe: dropping the future before it completes never consumes
    /// an item (one reserved for it goes to the next getter, or back to
    /// the queue).
    ///
    /// # Errors
    /// [`SyncError::QueueShutDown`] once the queue is shut down and nothing
    /// is left for this getter (what remains is reserved for getters that
    /// came first).
    pub fn get(&self) -> Get<'_, T, B> {
        Get {
            queue: self,
            id: None,
            done: false,
        }
    }

    /// Takes an item without waiting. Python: `queue.get_nowait()`.
    ///
    /// # Errors
    /// [`SyncError::QueueEmpty`] when no item is free (the queue is empty,
    /// or its items are reserved for waiting getters that have not run
    /// yet); [`SyncError::QueueShutDown`] instead once the queue is shut
    /// down.
    pub fn get_nowait(&self) -> Result<T, SyncError> {
        self.state.borrow_mut().get_nowait()
    }

    /// Marks one item taken with `get` as processed. Python: `queue.task_done()`.
    ///
    /// # Errors
    /// [`SyncError::TaskDoneTooManyTimes`] when every item put is already done.
    pub fn task_done(&self) -> Result<(), SyncError> {
        let mut state = self.state.borrow_mut();
        if state.unfinished == 0 {
            return Err(SyncError::TaskDoneTooManyTimes);
        }
        state.unfinished -= 1;
        if state.unfinished == 0 {
            state.joiners.grant_all(|_| ());
        }
        Ok(())
    }

    /// Waits until every item put has been marked done. Python: `await queue.join()`.
    pub fn join(&self) -> Join<'_, T, B> {
        Join {
            queue: self,
            id: None,
            done: false,
        }
    }

    /// Shuts the queue down (Python 3.13's `queue.shutdown(immediate)`).
    ///
    /// Later puts fail and waiting putters wake with
    /// [`SyncError::QueueShutDown`]. With `immediate`, the items left are
    /// dropped (and count as done for [`join`](Self::join)), items reserved
    /// for getters that have not run yet included, and those getters fail
    /// like the waiting ones; without it, getters drain what is left first.
    pub fn shutdown(&self, immediate: bool) {
        let mut dropped = Vec::new();
        {
            let mut state = self.state.borrow_mut();
            state.shut_down = true;
            if immediate {
                state.getters.regrant(|reserved| *reserved = false);
                state.reserved_items = 0;
                while let Some(item) = state.buffer.pop() {
                    dropped.push(item);
                    state.unfinished = state.unfinished.saturating_sub(1);
                }
                if state.unfinished == 0 {
                    state.joiners.grant_all(|_| ());
                }
            }
            // Getters wait only while nothing is available: they fail now.
            state.getters.grant_all(|_| false);
            state.putters.grant_all(|_| false);
        }
        // Dropped outside the borrow: an item's destructor may use the queue.
        drop(dropped);
    }

    /// Items in the queue, those reserved for getters that have not run yet
    /// included (asyncio counts them too: they stay in its deque until the
    /// woken getter takes one). Python: `queue.qsize()`.
    pub fn qsize(&self) -> usize {
        self.state.borrow().buffer.len()
    }

    /// Python: `queue.empty()`.
    pub fn empty(&self) -> bool {
        self.state.borrow().buffer.is_empty()
    }

    /// True when a put would wait. Python: `queue.full()`.
    ///
    /// Differs from asyncio right after a `get` freed a slot of a full
    /// queue with putters waiting: the slot is reserved for the first of
    /// them, so `full()` stays true and a newcomer's `put_nowait` fails with
    /// `QueueFull`; asyncio says `False` and lets the newcomer take the
    /// slot, sending the woken putter to the back of the line.
    pub fn full(&self) -> bool {
        self.state.borrow().full()
    }

    /// Python: `queue.maxsize`.
    pub fn maxsize(&self) -> usize {
        self.state.borrow().maxsize
    }

    /// True once `shutdown` was called.
    ///
    /// Python: `queue._is_shutdown`.
    pub fn is_shut_down(&self) -> bool {
        self.state.borrow().shut_down
    }
}

impl<T, B: Buffer<T>> fmt::Debug for BaseQueue<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("Queue")
            .field("maxsize", &state.maxsize)
            .field("qsize", &state.buffer.len())
            .field("getters", &state.getters.waiting())
            .field("putters", &state.putters.waiting())
            .field("unfinished", &state.unfinished)
            .field("shut_down", &state.shut_down)
            .finish()
    }
}

/// The future of [`BaseQueue::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T, B: Buffer<T>> {
    queue: &'a BaseQueue<T, B>,
    /// Ours until it is delivered (`None` after).
    item: Option<T>,
    id: Option<WaiterId>,
}

impl<T, B: Buffer<T>> Unpin for Put<'_, T, B> {}

impl<T, B: Buffer<T>> Future for Put<'_, T, B> {
    type Output = Result<(), PutError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(item) = this.item.take() else {
            return Poll::Ready(Ok(())); // polled after completion
        };
        let mut state = this.queue.state.borrow_mut();
        let id = match this.id {
            Some(id) => id,
            None => {
                if state.shut_down {
                    return Poll::Ready(Err(PutError {
                        error: SyncError::QueueShutDown,
                        item,
                    }));
                }
                if !state.full() {
                    state.deliver(item);
                    return Poll::Ready(Ok(()));
                }
                // Join the line with our waker: nothing to look up yet.
                this.id = Some(state.putters.push(Some(cx.waker().clone())));
                this.item = Some(item);
                return Poll::Pending;
            }
        };
        match state.putters.poll(id, cx) {
            Poll::Pending => {
                this.item = Some(item);
                Poll::Pending
            }
            Poll::Ready(true) => {
                this.id = None;
                state.reserved_slots -= 1;
                if state.shut_down {
                    return Poll::Ready(Err(PutError {
                        error: SyncError::QueueShutDown,
                        item,
                    }));
                }
                state.deliver(item);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(false) => {
                this.id = None;
                Poll::Ready(Err(PutError {
                    error: SyncError::QueueShutDown,
                    item,
                }))
            }
        }
    }
}

impl<T, B: Buffer<T>> Drop for Put<'_, T, B> {
    /// Cancelled: the item is dropped with the future, never inserted; a
    /// slot reserved for it goes to the next putter.
    fn drop(&mut self) {
        let Some(id) = self.id else { return };
        let mut state = self.queue.state.borrow_mut();
        if state.putters.cancel(id) == Some(true) {
            state.reserved_slots -= 1;
            state.slot_freed();
        }
    }
}

/// The future of [`BaseQueue::get`].
#[must_use = "futures do nothing unless awaited"]
pub struct Get<'a, T, B: Buffer<T>> {
    queue: &'a BaseQueue<T, B>,
    id: Option<WaiterId>,
    done: bool,
}

impl<T, B: Buffer<T>> Future for Get<'_, T, B> {
    type Output = Result<T, SyncError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(Err(SyncError::QueueEmpty)); // polled after completion
        }
        let mut state = this.queue.state.borrow_mut();
        let id = match this.id {
            Some(id) => id,
            None => match state.get_nowait() {
                Err(SyncError::QueueEmpty) => {
                    this.id = Some(state.getters.push(Some(cx.waker().clone())));
                    return Poll::Pending;
                }
                outcome => {
                    this.done = true;
                    return Poll::Ready(outcome);
                }
            },
        };
        // Granted an item reservation, or `false`: the queue shut down.
        let Poll::Ready(reserved) = state.getters.poll(id, cx) else {
            return Poll::Pending;
        };
        this.done = true;
        if !reserved {
            return Poll::Ready(Err(SyncError::QueueShutDown));
        }
        state.reserved_items -= 1;
        // A reserved item is in the buffer: only `shutdown(true)` empties
        // it under a reservation, and it retracts the reservations first.
        Poll::Ready(state.take().ok_or(SyncError::QueueShutDown))
    }
}

impl<T, B: Buffer<T>> Drop for Get<'_, T, B> {
    /// Cancelled: an item reserved for us goes to the next waiting getter,
    /// or back to the queue (it never left the buffer).
    fn drop(&mut self) {
        let (Some(id), false) = (self.id, self.done) else {
            return;
        };
        let mut state = self.queue.state.borrow_mut();
        if state.getters.cancel(id) == Some(true) {
            state.reserved_items -= 1;
            state.items_arrived();
        }
    }
}

/// The future of [`BaseQueue::join`].
#[must_use = "futures do nothing unless awaited"]
pub struct Join<'a, T, B: Buffer<T>> {
    queue: &'a BaseQueue<T, B>,
    id: Option<WaiterId>,
    done: bool,
}

impl<T, B: Buffer<T>> Future for Join<'_, T, B> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let mut state = this.queue.state.borrow_mut();
        let id = match this.id {
            Some(id) => id,
            None if state.unfinished == 0 => {
                this.done = true;
                return Poll::Ready(());
            }
            None => {
                let id = state.joiners.push(None);
                this.id = Some(id);
                id
            }
        };
        let polled = state.joiners.poll(id, cx);
        this.done = polled.is_ready();
        polled
    }
}

impl<T, B: Buffer<T>> Drop for Join<'_, T, B> {
    fn drop(&mut self) {
        if let (Some(id), false) = (self.id, self.done) {
            self.queue.state.borrow_mut().joiners.cancel(id);
        }
    }
}
