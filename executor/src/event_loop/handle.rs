//! [`Handle`] and [`TimerHandle`]: scheduled callbacks that can be cancelled.

use std::cell::Cell;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::Instant;

use corio_timer::TimerId;

use super::LoopInner;

/// A callback in a ready queue or timer heap.
pub(crate) trait Callback {
    /// Runs the callback unless cancelled; a second call does nothing.
    fn run(&self);
    fn cancel(&self);
    fn cancelled(&self) -> bool;
}

/// One allocation per scheduled callback: the flag and the closure.
struct CallbackCell<F> {
    cancelled: Cell<bool>,
    callback: Cell<Option<F>>,
}

impl<F: FnOnce()> Callback for CallbackCell<F> {
    fn run(&self) {
        if !self.cancelled.get()
            && let Some(callback) = self.callback.take()
        {
            callback();
        }
    }

    fn cancel(&self) {
        self.cancelled.set(true);
        // Drop the closure now, releasing what it captured, as asyncio
        // drops `_callback` and `_args` on cancel.
        drop(self.callback.take());
    }

    fn cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

pub(crate) fn callback(f: impl FnOnce() + 'static) -> Rc<dyn Callback> {
    Rc::new(CallbackCell {
        cancelled: Cell::new(false),
        callback: Cell::new(Some(f)),
    })
}

/// A callback scheduled with [`call_soon`](crate::EventLoop::call_soon).
///
/// Mirrors `asyncio.Handle`: `cancel()` keeps it from running, `cancelled()`
/// tells. Cloning gives another handle to the same callback.
#[derive(Clone)]
pub struct Handle {
    pub(crate) inner: Rc<dyn Callback>,
}

impl Handle {
    /// Keeps the callback from running, if it has not run yet.
    /// Python: `Handle.cancel()`.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// True once [`cancel`](Self::cancel) was called. Python: `Handle.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }
}

impl fmt::Debug for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handle")
            .field("cancelled", &self.cancelled())
            .finish()
    }
}

/// A callback scheduled with [`call_later`](crate::EventLoop::call_later) or
/// [`call_at`](crate::EventLoop::call_at).
///
/// Mirrors `asyncio.TimerHandle`; `cancel()` also removes it from the loop's
/// timer queue (lazily, O(1)).
#[derive(Clone)]
pub struct TimerHandle {
    pub(crate) handle: Handle,
    pub(crate) id: TimerId,
    pub(crate) when: Instant,
    pub(crate) event_loop: Weak<LoopInner>,
}

impl TimerHandle {
    /// Keeps the callback from running. Python: `TimerHandle.cancel()`.
    pub fn cancel(&self) {
        self.handle.cancel();
        if let Some(lp) = self.event_loop.upgrade() {
            lp.cancel_timer(self.id);
        }
    }

    /// True once cancelled. Python: `TimerHandle.cancelled()`.
    pub fn cancelled(&self) -> bool {
        self.handle.cancelled()
    }

    /// When the callback is due. Python: `TimerHandle.when()`; differs in
    /// being an `Instant` rather than float seconds.
    pub fn when(&self) -> Instant {
        self.when
    }
}

impl fmt::Debug for TimerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerHandle")
            .field("when", &self.when)
            .field("cancelled", &self.cancelled())
            .finish()
    }
}
