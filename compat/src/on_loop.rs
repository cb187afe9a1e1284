//! [`OnLoop`]: a `!Send` value (a corio future, an `Rc`) handed to a
//! framework that asks for `Send` (axum's handlers and state), kept on
//! the loop's thread and checked there.
//!
//! axum is written for work-stealing runtimes, so its handlers' futures
//! and its state must be `Send` (+ `Sync`). corio never moves them: the
//! server's connections are tasks of one loop, on one thread. `OnLoop`
//! records the thread it was made on and lets its value be used there
//! only; touching it elsewhere panics (as `RefCell` does on a misuse)
//! instead of racing. The two `unsafe impl`s that declare it
//! `Send`/`Sync` are in `sys.rs`, with that argument.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::thread::{self, ThreadId};

/// A value that stays on the thread (the loop) it was made on, declared
/// `Send + Sync` so that axum accepts it: wrap a handler's corio work in
/// [`on_loop`], and `Rc` state in `OnLoop::new`.
///
/// No asyncio counterpart: Python has no `Send`. The nearest thing is
/// asyncio's rule that a loop's objects are used from its thread only,
/// which `OnLoop` checks at run time.
///
/// # Panics
/// Reading, polling, cloning or dropping it on another thread than the
/// one that made it (corio's server never does); a drop there while the
/// thread is already panicking aborts the process, as a double panic does.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_compat::OnLoop;
///
/// fn wants_send<T: Send + Sync>(_: &T) {}
/// let state = OnLoop::new(Rc::new(41));
/// wants_send(&state);
/// assert_eq!(**state + 1, 42);
/// ```
pub struct OnLoop<T> {
    /// The thread allowed to touch `value`.
    pub(crate) owner: ThreadId,
    pub(crate) value: T,
}

impl<T> OnLoop<T> {
    /// Wraps `value`, owned by the calling thread.
    pub fn new(value: T) -> OnLoop<T> {
        OnLoop {
            owner: thread::current().id(),
            value,
        }
    }

    fn check(&self) {
        assert!(
            thread::current().id() == self.owner,
            "OnLoop value used outside the thread (the event loop) it belongs to"
        );
    }
}

/// Wraps a `!Send` future (one that awaits corio's timers, locks, queues
/// or sockets) so that an axum handler's `Send` future can await it:
/// `async move { on_loop(async move { ... }).await }`.
///
/// No asyncio counterpart (see [`OnLoop`]).
///
/// # Panics
/// Polled or dropped on another thread than the caller's.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_compat::on_loop;
///
/// fn wants_send<T: Send>(_: &T) {}
/// corio_executor::run(async {
///     let nap = on_loop(corio_executor::sleep(Duration::from_millis(1)));
///     wants_send(&nap);
///     nap.await;
/// })
/// .unwrap();
/// ```
pub fn on_loop<F: Future>(future: F) -> OnLoop<F> {
    OnLoop::new(future)
}

impl<T> std::ops::Deref for OnLoop<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.check();
        &self.value
    }
}

impl<T> std::ops::DerefMut for OnLoop<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.check();
        &mut self.value
    }
}

impl<T: Clone> Clone for OnLoop<T> {
    fn clone(&self) -> Self {
        self.check();
        OnLoop {
            owner: self.owner,
            value: self.value.clone(),
        }
    }
}

impl<T> std::fmt::Debug for OnLoop<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnLoop")
            .field("owner", &self.owner)
            .finish()
    }
}

impl<F: Future> Future for OnLoop<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.check();
        crate::sys::pin_on_loop(self).poll(cx)
    }
}

impl<T> Drop for OnLoop<T> {
    fn drop(&mut self) {
        // A value with no drop glue may end anywhere; any other must not
        // run its destructor on a foreign thread (a panic there while
        // already panicking aborts, which is still sound).
        if std::mem::needs_drop::<T>() {
            self.check();
        }
    }
}
