//! [`channel`]: a bounded queue between loops (or threads). The receiving
//! side is awaited on its loop; the sending side works from any loop or
//! thread. A waiting task is woken through its own waker, which, for a
//! corio task on another thread, is a push onto that loop's thread-safe
//! queue and a write to its eventfd (`LoopHandle`'s path).
//!
//! No asyncio counterpart: asyncio has one loop per process in practice;
//! its nearest is `loop.call_soon_threadsafe(queue.put_nowait, item)`.
//! tokio's `mpsc::channel` is the same shape.

use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Poll, Waker};

/// Why a send failed: the receiver is gone or closed the channel. The
/// item comes back.
#[derive(PartialEq, Eq, thiserror::Error)]
#[error("the channel is closed")]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

/// Why `try_send` did not send; the item comes back.
#[derive(PartialEq, Eq, thiserror::Error)]
pub enum TrySendError<T> {
    /// The channel holds `capacity` items. Python: `asyncio.QueueFull`.
    #[error("the channel is full")]
    Full(T),
    /// The receiver is gone or closed the channel.
    #[error("the channel is closed")]
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

struct State<T> {
    items: VecDeque<T>,
    capacity: usize,
    /// The receiver's waker, while it waits for an item.
    receiver: Option<Waker>,
    /// Senders waiting for room, in arrival order.
    senders: VecDeque<Waker>,
    /// The receiver closed (or dropped) the channel.
    closed: bool,
    /// Live `Sender`s; at 0 the receiver sees the end once it is empty.
    senders_alive: usize,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// For `Sender::blocking_send` from a plain thread.
    room: Condvar,
}

impl<T> Shared<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side: `Send + Sync + Clone`, for any loop or thread.
pub struct Sender<T> {
    shared: Arc<Shared<T>>,
}

/// The receiving side: awaited on one loop at a time.
pub struct Receiver<T> {
    shared: Arc<Shared<T>>,
}

/// A bounded channel of `capacity` items (at least 1). Python: an
/// `asyncio.Queue(maxsize)` that other threads may put into.
///
/// # Examples
///
/// ```
/// use corio_executor::{channel, run};
///
/// let (tx, mut rx) = channel::<u64>(16);
/// let producer = std::thread::spawn(move || {
///     for i in 0..1000 {
///         tx.blocking_send(i).unwrap(); // a plain thread; a loop would await `send`
///     }
/// });
/// let sum = run(async move {
///     let mut sum = 0;
///     while let Some(i) = rx.recv().await {
///         sum += i;
///     }
///     sum
/// })?;
/// producer.join().unwrap();
/// assert_eq!(sum, 499_500);
/// # Ok::<(), corio_executor::RunError>(())
/// ```
///
/// # Panics
/// When `capacity` is 0.
pub fn channel<T: Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(capacity > 0, "a channel's capacity must be positive");
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            items: VecDeque::new(),
            capacity,
            receiver: None,
            senders: VecDeque::new(),
            closed: false,
            senders_alive: 1,
        }),
        room: Condvar::new(),
    });
    (
        Sender {
            shared: shared.clone(),
        },
        Receiver { shared },
    )
}

impl<T> Sender<T> {
    /// Sends `item`, waiting while the channel is full (backpressure).
    /// Python: `await queue.put(item)`.
    ///
    /// Cancel-safe: dropped before it sends, the item is dropped with it
    /// and nothing is lost from the channel.
    ///
    /// # Errors
    /// [`SendError`] with the item when the receiver is gone or closed.
    pub async fn send(&self, item: T) -> Result<(), SendError<T>> {
        let mut item = Some(item);
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if state.closed {
                return Poll::Ready(Err(SendError(item.take().expect("sent once"))));
            }
            if state.items.len() < state.capacity {
                state.items.push_back(item.take().expect("sent once"));
                let receiver = state.receiver.take();
                drop(state);
                if let Some(receiver) = receiver {
                    receiver.wake();
                }
                return Poll::Ready(Ok(()));
            }
            if !state.senders.iter().any(|w| w.will_wake(cx.waker())) {
                state.senders.push_back(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// Sends `item` if there is room now. Python: `queue.put_nowait(item)`.
    ///
    /// # Errors
    /// [`TrySendError::Full`] or [`TrySendError::Closed`], with the item.
    pub fn try_send(&self, item: T) -> Result<(), TrySendError<T>> {
        let mut state = self.shared.lock();
        if state.closed {
            return Err(TrySendError::Closed(item));
        }
        if state.items.len() >= state.capacity {
            return Err(TrySendError::Full(item));
        }
        state.items.push_back(item);
        let receiver = state.receiver.take();
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
        Ok(())
    }

    /// Sends `item` from a thread that runs no loop, blocking while the
    /// channel is full. Python: `asyncio.run_coroutine_threadsafe(
    /// queue.put(item), loop).result()`.
    ///
    /// # Errors
    /// [`SendError`] with the item when the receiver is gone or closed.
    pub fn blocking_send(&self, item: T) -> Result<(), SendError<T>> {
        let mut state = self.shared.lock();
        loop {
            if state.closed {
                return Err(SendError(item));
            }
            if state.items.len() < state.capacity {
                state.items.push_back(item);
                let receiver = state.receiver.take();
                drop(state);
                if let Some(receiver) = receiver {
                    receiver.wake();
                }
                return Ok(());
            }
            state = self
                .shared
                .room
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// True once the receiver is gone or closed the channel.
    pub fn is_closed(&self) -> bool {
        self.shared.lock().closed
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.shared.lock().senders_alive += 1;
        Sender {
            shared: self.shared.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    /// The last sender gone: the receiver sees the end once it is empty.
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders_alive -= 1;
        let receiver = (state.senders_alive == 0)
            .then(|| state.receiver.take())
            .flatten();
        drop(state);
        if let Some(receiver) = receiver {
            receiver.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// The next item, waiting for one; `None` once every sender is gone
    /// (or the channel was closed) and it is empty. Python: `await
    /// queue.get()`.
    ///
    /// Cancel-safe: dropped while waiting, it takes nothing.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut state = self.shared.lock();
            if let Some(item) = state.items.pop_front() {
                let senders = std::mem::take(&mut state.senders);
                drop(state);
                wake_for_room(&self.shared, senders);
                return Poll::Ready(Some(item));
            }
            if state.senders_alive == 0 || state.closed {
                return Poll::Ready(None);
            }
            if !state
                .receiver
                .as_ref()
                .is_some_and(|w| w.will_wake(cx.waker()))
            {
                state.receiver = Some(cx.waker().clone());
            }
            Poll::Pending
        })
        .await
    }

    /// The next item if one is there. Python: `queue.get_nowait()`.
    pub fn try_recv(&mut self) -> Option<T> {
        let mut state = self.shared.lock();
        let item = state.items.pop_front()?;
        let senders = std::mem::take(&mut state.senders);
        drop(state);
        wake_for_room(&self.shared, senders);
        Some(item)
    }

    /// Refuses further sends (the items already in stay readable); every
    /// waiting sender gets its item back. Python: `queue.shutdown()`
    /// (3.13).
    pub fn close(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        let senders = std::mem::take(&mut state.senders);
        drop(state);
        self.shared.room.notify_all();
        for sender in senders {
            sender.wake();
        }
    }

    /// Items waiting in the channel.
    pub fn len(&self) -> usize {
        self.shared.lock().items.len()
    }

    /// True when no item waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    /// The receiver gone: the channel is closed and its items dropped.
    fn drop(&mut self) {
        self.close();
        let items = std::mem::take(&mut self.shared.lock().items);
        drop(items);
    }
}

/// Room came: every waiting sender tries again (one whose `send` was
/// dropped meanwhile left a waker that wakes nobody useful, so waking
/// only the first could lose the wake-up the others wait for).
fn wake_for_room<T>(shared: &Shared<T>, senders: VecDeque<Waker>) {
    shared.room.notify_all();
    for sender in senders {
        sender.wake();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}
