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
use std::mem::ManuallyDrop;
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
/// one that made it (corio's server never does). A value dropped there
/// is leaked, never destroyed on the wrong thread (and the drop panics,
/// unless the thread is already panicking or the value has nothing to
/// destroy).
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
    /// Dropped by hand, on the owner's thread only (see `Drop`).
    pub(crate) value: ManuallyDrop<T>,
}

impl<T> OnLoop<T> {
    /// Wraps `value`, owned by the calling thread.
    pub fn new(value: T) -> OnLoop<T> {
        OnLoop {
            owner: thread::current().id(),
            value: ManuallyDrop::new(value),
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
            value: ManuallyDrop::new(T::clone(&self.value)),
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
        if thread::current().id() == self.owner {
            crate::sys::drop_on_loop(&mut self.value);
        } else if std::mem::needs_drop::<T>() && !thread::panicking() {
            // Leaked: destroying it here could race with the owner's
            // thread (an `Rc`'s count).
            panic!(
                "OnLoop value dropped outside the thread (the event loop) it belongs to; leaked"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::{OnLoop, on_loop};

    #[test]
    fn it_is_usable_on_its_own_thread() {
        let state = OnLoop::new(Rc::new(Cell::new(1)));
        let copy = state.clone();
        copy.set(2);
        assert_eq!(state.get(), 2);
        let answer = corio_executor::run(on_loop(async { 42 })).unwrap();
        assert_eq!(answer, 42);
    }

    #[test]
    fn touching_it_from_another_thread_panics() {
        let state = OnLoop::new(Rc::new(Cell::new(1)));
        let elsewhere = std::thread::spawn(move || {
            let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.get()));
            // Back to the owner to be dropped, so the Rc is never
            // touched here.
            (read.is_err(), state)
        });
        let (panicked, state) = elsewhere.join().unwrap();
        assert!(panicked, "a read from another thread must panic");
        assert_eq!(state.get(), 1);
    }

    #[test]
    fn dropping_it_on_another_thread_leaks_and_panics_unless_it_has_no_drop_glue() {
        let plain = OnLoop::new(7u32);
        std::thread::spawn(move || drop(plain)).join().unwrap();
        let shared = Rc::new(());
        let rc = OnLoop::new(shared.clone());
        let dropped = std::thread::spawn(move || drop(rc)).join();
        assert!(
            dropped.is_err(),
            "an Rc dropped on another thread must panic"
        );
        // Leaked, not destroyed there: the count was never touched.
        assert_eq!(Rc::strong_count(&shared), 2);
    }
}
