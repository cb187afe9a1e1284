//! The thread-safe way into a loop: [`LoopHandle`], the queue behind it,
//! and the process-wide table where a task's waker finds its loop's queue.
//!
//! Everything else in the executor is single-threaded (`Rc`, `RefCell`).
//! Other threads reach a loop only through [`Remote`]: a mutex-guarded queue
//! plus the reactor's eventfd [`Waker`](corio_reactor::Waker), which
//! interrupts a blocked `select`. The loop drains the queue once per
//! iteration (asyncio's `_write_to_self` + `_process_self_data`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use corio_reactor::Waker as SelectorWaker;

use crate::LoopError;

/// A task's address in its loop's task table: slot and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskKey {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl TaskKey {
    /// The generation bits a task's waker word carries (`raw.rs`).
    pub(crate) const WAKER_GENERATION_BITS: u32 = 16;

    /// The generation as a waker carries it, for comparing with one: a
    /// stale waker whose low bits match wakes the task once more than
    /// needed, which the `Future` contract allows.
    pub(crate) fn waker_generation(self) -> u32 {
        self.generation & ((1 << Self::WAKER_GENERATION_BITS) - 1)
    }
}

/// Bits of a loop's index in its tasks' waker words: at most 2^15 loops
/// alive at once.
pub(crate) const LOOP_INDEX_BITS: u32 = 15;

/// The loops' thread-safe queues, by index; a dead `Weak` is a free place.
static LOOPS: Mutex<Vec<Weak<Remote>>> = Mutex::new(Vec::new());

/// Gives `remote`'s loop an index for its wakers; `None` when every index
/// is taken by a live loop.
pub(crate) fn register_loop(remote: &Arc<Remote>) -> Option<u16> {
    let mut loops = LOOPS.lock().unwrap_or_else(PoisonError::into_inner);
    let weak = Arc::downgrade(remote);
    if let Some(free) = loops.iter().position(|w| w.strong_count() == 0) {
        loops[free] = weak;
        return u16::try_from(free).ok();
    }
    if loops.len() >= 1 << LOOP_INDEX_BITS {
        return None;
    }
    loops.push(weak);
    u16::try_from(loops.len() - 1).ok()
}

/// The queue of the loop at `index`, if that loop still exists.
pub(crate) fn loop_at(index: u16) -> Option<Arc<Remote>> {
    let loops = LOOPS.lock().unwrap_or_else(PoisonError::into_inner);
    loops.get(usize::from(index))?.upgrade()
}

/// Work sent to a loop from outside its thread (or from outside `run`).
pub(crate) enum RemoteItem {
    /// `call_soon_threadsafe`.
    Call(Box<dyn FnOnce() + Send>),
    /// A task's waker was woken.
    Wake(TaskKey),
    /// `LoopHandle::stop`.
    Stop,
}

/// The queue other threads push to.
pub(crate) struct Remote {
    /// Unique id of the loop, to recognise it in thread-local state.
    pub(crate) loop_id: u64,
    queue: Mutex<Vec<RemoteItem>>,
    /// Set with every push, cleared by `drain`: lets the loop skip the lock
    /// when nothing came in.
    pending: AtomicBool,
    /// Set when the loop closes; later pushes are refused.
    closed: AtomicBool,
    /// Registered on the loop's selector.
    pub(crate) waker: SelectorWaker,
}

impl Remote {
    pub(crate) fn new(loop_id: u64) -> std::io::Result<Remote> {
        Ok(Remote {
            loop_id,
            queue: Mutex::new(Vec::new()),
            pending: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker: SelectorWaker::new()?,
        })
    }

    /// Queues `item` and wakes the selector. Fails when the loop is closed.
    ///
    /// Only the push that turns `pending` from false to true writes the
    /// eventfd; the pushes after it ride on that wake until the loop drains.
    /// This is sound because the loop reads the eventfd *before* it clears
    /// `pending` (see [`drain`](Self::drain)): whoever sets `pending` again
    /// writes after that read, so a set `pending` always has an unread wake
    /// behind it (or one about to be written).
    pub(crate) fn push(&self, item: RemoteItem) -> Result<(), LoopError> {
        {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            // Checked under the lock, so that `close` (which sets `closed`
            // under the same lock) never misses an item.
            if self.closed.load(Ordering::Acquire) {
                return Err(LoopError::Closed);
            }
            queue.push(item);
        }
        if self.pending.swap(true, Ordering::AcqRel) {
            return Ok(()); // the wake is already on its way
        }
        // An eventfd write cannot fail for a valid fd except by saturation,
        // which `wake` already treats as success.
        self.waker
            .wake()
            .map_err(|e| LoopError::Selector(e.to_string()))
    }

    /// True when something may have been pushed since the last `drain`: a
    /// plain load, so the common case (nothing came) costs no locked
    /// instruction.
    #[inline]
    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire)
    }

    /// Empties the eventfd, then takes everything queued so far (no lock
    /// when nothing was pushed). The order matters: see [`push`](Self::push).
    ///
    /// # Errors
    /// Reading the eventfd failed (no such error is known for a valid
    /// eventfd); the queue is still taken.
    pub(crate) fn drain(&self, into: &mut Vec<RemoteItem>) -> std::io::Result<()> {
        let read = self.waker.drain().map(drop);
        if self.pending.swap(false, Ordering::AcqRel) {
            let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
            into.append(&mut queue);
        }
        read
    }

    /// Refuses further pushes and returns what was queued.
    pub(crate) fn close(&self) -> Vec<RemoteItem> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        self.closed.store(true, Ordering::Release);
        std::mem::take(&mut *queue)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// A `Send + Sync + Clone` handle to a loop, for other threads.
///
/// Mirrors the thread-safe corner of asyncio's loop API
/// (`loop.call_soon_threadsafe`, `loop.stop` via `call_soon_threadsafe`);
/// differs in being a separate type, since [`EventLoop`](crate::EventLoop)
/// itself is `!Send`.
///
/// # Examples
///
/// ```
/// use corio_executor::EventLoop;
///
/// let lp = EventLoop::new()?;
/// let handle = lp.handle();
/// let (tx, rx) = std::sync::mpsc::channel();
/// std::thread::spawn(move || {
///     handle.call_soon_threadsafe(move || tx.send("ran on the loop").unwrap()).unwrap();
///     handle.stop().unwrap();
/// });
/// lp.run_forever()?;
/// assert_eq!(rx.recv()?, "ran on the loop");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LoopHandle {
    pub(crate) remote: Arc<Remote>,
}

impl LoopHandle {
    /// Schedules `callback` on the loop's thread, from any thread, and wakes
    /// the loop. Python: `loop.call_soon_threadsafe(callback)`.
    ///
    /// # Errors
    /// [`LoopError::Closed`] once the loop is closed (the callback is dropped).
    pub fn call_soon_threadsafe(
        &self,
        callback: impl FnOnce() + Send + 'static,
    ) -> Result<(), LoopError> {
        self.remote.push(RemoteItem::Call(Box::new(callback)))
    }

    /// Asks the loop to stop after its current iteration, from any thread.
    /// Python: `loop.call_soon_threadsafe(loop.stop)`.
    ///
    /// # Errors
    /// [`LoopError::Closed`] once the loop is closed.
    pub fn stop(&self) -> Result<(), LoopError> {
        self.remote.push(RemoteItem::Stop)
    }

    /// True once the loop is closed.
    ///
    /// Python: `loop.is_closed()`, callable from any thread.
    pub fn is_closed(&self) -> bool {
        self.remote.is_closed()
    }
}

impl std::fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoopHandle")
            .field("loop_id", &self.remote.loop_id)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_push_that_sets_pending_writes_the_eventfd() {
        let remote = Remote::new(1).unwrap();
        remote.push(RemoteItem::Stop).unwrap();
        remote.push(RemoteItem::Stop).unwrap();
        remote.push(RemoteItem::Stop).unwrap();
        // One write for three pushes: the counter holds 1.
        assert_eq!(remote.waker.drain().unwrap(), 1);
        // `pending` is still set, so the queue is taken.
        let mut items = Vec::new();
        remote.drain(&mut items).unwrap();
        assert_eq!(items.len(), 3);
        assert!(!remote.has_pending());
        // After a drain, the next push writes again.
        remote.push(RemoteItem::Stop).unwrap();
        assert_eq!(remote.waker.drain().unwrap(), 1);
    }

    #[test]
    fn drain_empties_the_eventfd_before_taking_the_queue() {
        let remote = Remote::new(1).unwrap();
        remote.push(RemoteItem::Stop).unwrap();
        let mut items = Vec::new();
        remote.drain(&mut items).unwrap();
        assert_eq!(items.len(), 1);
        // Nothing left behind: neither a wake nor a flag.
        assert_eq!(remote.waker.drain().unwrap(), 0);
        assert!(!remote.has_pending());
        // A stale wake (written, nothing queued) is emptied by a drain too.
        remote.waker.wake().unwrap();
        remote.drain(&mut items).unwrap();
        assert_eq!(remote.waker.drain().unwrap(), 0);
    }

    #[test]
    fn a_stale_wake_does_not_keep_the_loop_busy() {
        let lp = crate::EventLoop::new().unwrap();
        // A wake with nothing queued, as a push that loses the race with a
        // drain leaves it.
        lp.inner.remote.waker.wake().unwrap();
        lp.inner.run_once();
        // The iteration emptied the eventfd: select would block again.
        assert_eq!(lp.inner.remote.waker.drain().unwrap(), 0);
    }
}
