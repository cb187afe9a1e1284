//! [`Future`]: asyncio's result container, awaitable.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::future::Future as StdFuture;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

use crate::event_loop::running;
use crate::event_loop::task_header::Cancel;
use crate::event_loop::{EventLoop, LoopInner};
use crate::wakers::{WaiterKey, WakerSlab, finish_in_order};
use crate::{InvalidStateError, TaskError};

/// A done callback and its id.
/// A done callback.
type DoneFn<T> = Box<dyn FnOnce(&Future<T>)>;

/// A done callback and its id (a registration number, shared with the
/// waiters).
type DoneCallback<T> = (u64, DoneFn<T>);

struct Inner<T> {
    /// `None` while pending.
    outcome: RefCell<Option<Result<T, TaskError>>>,
    /// Wakers of the tasks awaiting it, each in its awaiting handle's slot.
    wakers: RefCell<WakerSlab>,
    callbacks: RefCell<Vec<DoneCallback<T>>>,
    next_callback_id: Cell<u64>,
    /// The loop its callbacks are scheduled on.
    event_loop: Weak<LoopInner>,
    /// Itself, to hand done callbacks a `Future` (and so that a task can
    /// park on it without allocating).
    this: Weak<Inner<T>>,
}

impl<T: 'static> Inner<T> {
    fn complete(&self, outcome: Result<T, TaskError>) -> Result<(), InvalidStateError> {
        {
            let mut slot = self.outcome.borrow_mut();
            if slot.is_some() {
                return Err(InvalidStateError("invalid state"));
            }
            *slot = Some(outcome);
        }
        let wakers = self.wakers.take();
        let callbacks = self.callbacks.take();
        let scheduler = self.event_loop.upgrade().zip(self.this.upgrade());
        match scheduler {
            Some((lp, inner)) if !callbacks.is_empty() => {
                // Awaiters and done callbacks in the order they came, as
                // asyncio runs its done callbacks.
                finish_in_order(wakers.into_ordered(), callbacks, |callback: DoneFn<T>| {
                    let fut = Future::from_inner(inner.clone());
                    lp.call_soon_internal(move || callback(&fut));
                });
            }
            _ => wakers.wake_all(),
        }
        Ok(())
    }
}

impl<T: 'static> Cancel for Inner<T> {
    fn cancel(&self) -> bool {
        self.complete(Err(TaskError::Cancelled)).is_ok()
    }
}

/// A result that will be set later. Python: `asyncio.Future`.
///
/// Someone holds it and calls [`set_result`](Self::set_result) or
/// [`set_exception`](Self::set_exception); tasks `await` it. Clones are
/// handles to the same future (as Python references are), so awaiting gives
/// each awaiter a clone of the result: `T: Clone`.
///
/// Done callbacks are scheduled with `call_soon`, never run inline.
/// Cancelling a task that awaits a `Future` cancels the future, as in asyncio.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{EventLoop, Future};
///
/// let lp = EventLoop::new()?;
/// let fut: Future<&str> = lp.create_future();
/// let setter = fut.clone();
/// lp.call_later(Duration::from_millis(1), move || setter.set_result("hello").unwrap());
/// assert_eq!(lp.run_until_complete(fut.clone())?, Ok("hello"));
/// assert!(fut.done());
/// assert!(fut.set_result("again").is_err(), "InvalidStateError");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Future<T> {
    inner: Rc<Inner<T>>,
    /// This handle's entry among the wakers, while awaiting.
    waiting: Option<WaiterKey>,
}

impl<T> Future<T> {
    fn from_inner(inner: Rc<Inner<T>>) -> Future<T> {
        Future {
            inner,
            waiting: None,
        }
    }
}

impl<T> Drop for Future<T> {
    /// A wait given up leaves no entry behind.
    fn drop(&mut self) {
        if let Some(key) = self.waiting
            && self.inner.outcome.borrow().is_none()
        {
            self.inner.wakers.borrow_mut().remove(key);
        }
    }
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future::from_inner(self.inner.clone())
    }
}

impl<T: 'static> Future<T> {
    /// A pending future of the running loop (or the current one).
    /// Python: `asyncio.Future()`.
    ///
    /// # Panics
    /// When there is neither a running nor a current loop.
    pub fn new() -> Future<T> {
        match running::get_event_loop() {
            Ok(lp) => Future::with_loop(&lp),
            Err(e) => panic!("{e}"),
        }
    }

    pub(crate) fn with_loop(lp: &EventLoop) -> Future<T> {
        Future::from_inner(Rc::new_cyclic(|this| Inner {
            outcome: RefCell::new(None),
            wakers: RefCell::new(WakerSlab::default()),
            callbacks: RefCell::new(Vec::new()),
            next_callback_id: Cell::new(0),
            event_loop: Rc::downgrade(&lp.inner),
            this: this.clone(),
        }))
    }

    /// Marks the future done with `value`. Python: `Future.set_result(value)`.
    ///
    /// # Errors
    /// [`InvalidStateError`] when already done (or cancelled).
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.inner.complete(Ok(value))
    }

    /// Marks the future done with an error. Python: `Future.set_exception(exc)`.
    ///
    /// # Errors
    /// [`InvalidStateError`] when already done.
    pub fn set_exception(
        &self,
        error: impl std::error::Error + 'static,
    ) -> Result<(), InvalidStateError> {
        self.inner.complete(Err(TaskError::exception(error)))
    }

    /// Cancels the future; false if already done. Python: `Future.cancel()`.
    pub fn cancel(&self) -> bool {
        self.inner.cancel()
    }

    /// Python: `Future.cancelled()`.
    pub fn cancelled(&self) -> bool {
        matches!(
            &*self.inner.outcome.borrow(),
            Some(Err(TaskError::Cancelled))
        )
    }

    /// Python: `Future.done()`.
    pub fn done(&self) -> bool {
        self.inner.outcome.borrow().is_some()
    }

    /// The result, cloned. Python: `Future.result()`.
    ///
    /// # Errors
    /// The error it was completed with; [`TaskError::InvalidState`] while pending.
    pub fn result(&self) -> Result<T, TaskError>
    where
        T: Clone,
    {
        match &*self.inner.outcome.borrow() {
            Some(outcome) => outcome.clone(),
            None => Err(TaskError::InvalidState("Result is not set.")),
        }
    }

    /// The error it was completed with, `None` for a result.
    /// Python: `Future.exception()`.
    ///
    /// # Errors
    /// [`InvalidStateError`] while pending.
    pub fn exception(&self) -> Result<Option<TaskError>, InvalidStateError> {
        match &*self.inner.outcome.borrow() {
            Some(Ok(_)) => Ok(None),
            Some(Err(e)) => Ok(Some(e.clone())),
            None => Err(InvalidStateError("Exception is not set.")),
        }
    }

    /// Schedules `callback(&future)` with `call_soon` once done (at once if
    /// done already). Returns an id for [`remove_done_callback`](Self::remove_done_callback).
    /// Python: `Future.add_done_callback(fn)`.
    pub fn add_done_callback(&self, callback: impl FnOnce(&Future<T>) + 'static) -> u64 {
        let id = self.inner.next_callback_id.get();
        self.inner.next_callback_id.set(id + 1);
        if self.done() {
            if let Some(lp) = self.inner.event_loop.upgrade() {
                let fut = self.clone();
                lp.call_soon_internal(move || callback(&fut));
            }
        } else {
            self.inner
                .callbacks
                .borrow_mut()
                .push((id, Box::new(callback)));
        }
        id
    }

    /// Removes a callback not yet scheduled; returns how many were removed.
    /// Python: `Future.remove_done_callback(fn)`.
    pub fn remove_done_callback(&self, id: u64) -> usize {
        let mut callbacks = self.inner.callbacks.borrow_mut();
        let before = callbacks.len();
        callbacks.retain(|(i, _)| *i != id);
        before - callbacks.len()
    }
}

/// Futures are made here, not in `event_loop`: the loop knows nothing of
/// them (a future holds its loop weakly, to schedule its callbacks).
impl EventLoop {
    /// A new pending [`Future`] of this loop. Python: `loop.create_future()`.
    pub fn create_future<T: 'static>(&self) -> Future<T> {
        Future::with_loop(self)
    }
}

impl<T: 'static> Default for Future<T> {
    fn default() -> Self {
        Future::new()
    }
}

impl<T: Clone + 'static> StdFuture for Future<T> {
    type Output = Result<T, TaskError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(outcome) = &*self.inner.outcome.borrow() {
            return Poll::Ready(outcome.clone());
        }
        running::check_future_loop(&self.inner.event_loop);
        let this = &mut *self;
        this.inner
            .wakers
            .borrow_mut()
            .register(&mut this.waiting, cx.waker(), || {
                let seq = this.inner.next_callback_id.get();
                this.inner.next_callback_id.set(seq + 1);
                seq
            });
        running::park_current_on(this.inner.clone());
        Poll::Pending
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.inner.outcome.borrow() {
            None => "pending",
            Some(Ok(_)) => "finished",
            Some(Err(TaskError::Cancelled)) => "cancelled",
            Some(Err(_)) => "failed",
        };
        f.debug_struct("Future").field("state", &state).finish()
    }
}

#[cfg(test)]
mod waiters {
    use std::time::Duration;

    use crate::{EventLoop, create_task, timeout, yield_now};

    /// Waits given up (a `timeout` dropping the awaiting handle) leave no
    /// waker behind.
    #[test]
    fn abandoned_waits_leave_no_entry() {
        let lp = EventLoop::new().unwrap();
        let fut = lp.create_future::<()>();
        lp.run_until_complete({
            let fut = fut.clone();
            async move {
                let waiters: Vec<_> = (0..1000)
                    .map(|_| {
                        let fut = fut.clone();
                        create_task(async move {
                            let _ = timeout(Duration::from_millis(1), fut).await;
                        })
                    })
                    .collect();
                yield_now().await;
                assert_eq!(fut.inner.wakers.borrow().len(), 1000);
                for waiter in waiters {
                    waiter.await.unwrap();
                }
            }
        })
        .unwrap();
        assert!(!fut.done(), "the future itself stays pending");
        assert_eq!(fut.inner.wakers.borrow().len(), 0);
        lp.close().unwrap();
    }
}
