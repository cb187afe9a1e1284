//! [`Generator`]: Python's generators (`yield`, `send`), built on async blocks.
//!
//! Before asyncio had `async`/`await`, coroutines *were* generators: a
//! function that stops at `yield`, hands a value out, and is resumed with
//! `send(value)`, which becomes the value of the `yield` expression. corio's
//! tasks are the same machine: a step polls the coroutine once, as
//! `Task.__step` calls `coro.send(None)`. This module makes the generator
//! itself visible, so the notes' producer/consumer can be written as is.
//!
//! The body is an async block that receives a [`Co`]; `co.yield_(y).await`
//! is Python's `r = yield y`. [`Generator::resume`] polls the block once
//! with a no-op waker, exactly one "send".

use std::cell::RefCell;
use std::future::{Future as StdFuture, poll_fn};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::InvalidStateError;

/// What one [`Generator::resume`] produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneratorState<Y, T> {
    /// The body stopped at `yield_` with this value. Python: the value of
    /// `gen.send(r)`.
    Yielded(Y),
    /// The body returned. Python: `StopIteration(value)`.
    Complete(T),
}

/// The mailbox between a generator and its body.
struct Slots<Y, R> {
    yielded: Option<Y>,
    resumed: Option<R>,
}

/// The body's side of a generator: how it yields. Python: the `yield`
/// expression.
pub struct Co<Y, R> {
    slots: Rc<RefCell<Slots<Y, R>>>,
}

impl<Y, R> Co<Y, R> {
    /// Hands `value` out and waits to be resumed; returns what `resume` was
    /// given. Python: `r = yield value`.
    pub async fn yield_(&self, value: Y) -> R {
        self.slots.borrow_mut().yielded = Some(value);
        poll_fn(|_| match self.slots.borrow_mut().resumed.take() {
            Some(r) => Poll::Ready(r),
            None => Poll::Pending,
        })
        .await
    }
}

/// A Python-style generator: yields `Y`, is resumed with `R`, returns `T`.
///
/// Mirrors a Python generator object: the first [`resume`](Self::resume)
/// starts the body (Python requires `send(None)` first; the value given to
/// the first `resume` is dropped, since no `yield` is waiting for it), each
/// later one delivers its value to the `yield_` the body stopped at.
///
/// The body must only await [`Co::yield_`]: anything else (a `sleep`, a
/// task) has no loop to wake it here, and `resume` reports it as an error.
///
/// # Examples
///
/// The notes' consumer, driven by a producer with `send`:
///
/// ```
/// use corio_executor::generator::{Generator, GeneratorState};
///
/// let mut log = Vec::new();
/// let mut consumer = Generator::new(|co| async move {
///     let mut r = String::new();
///     loop {
///         let n: Option<u32> = co.yield_(r.clone()).await;
///         let Some(n) = n else { return };
///         println!("[CONSUMER] Consuming {n}...");
///         r = "200 OK".to_string();
///     }
/// });
/// consumer.resume(None).unwrap(); // c.send(None)
/// for n in 1..=2 {
///     log.push(format!("[PRODUCER] Producing {n}..."));
///     let GeneratorState::Yielded(r) = consumer.resume(Some(n)).unwrap() else { panic!() };
///     log.push(format!("[PRODUCER] Consumer return: {r}"));
/// }
/// assert_eq!(consumer.resume(None).unwrap(), GeneratorState::Complete(()));
/// assert_eq!(log[1], "[PRODUCER] Consumer return: 200 OK");
/// ```
pub struct Generator<Y, R, T> {
    slots: Rc<RefCell<Slots<Y, R>>>,
    body: Option<Pin<Box<dyn StdFuture<Output = T>>>>,
    started: bool,
}

impl<Y: 'static, R: 'static, T: 'static> Generator<Y, R, T> {
    /// Creates a generator; the body does not run until the first `resume`.
    /// Python: calling a generator function.
    pub fn new<F, Fut>(body: F) -> Self
    where
        F: FnOnce(Co<Y, R>) -> Fut,
        Fut: StdFuture<Output = T> + 'static,
    {
        let slots = Rc::new(RefCell::new(Slots {
            yielded: None,
            resumed: None,
        }));
        let co = Co {
            slots: slots.clone(),
        };
        Generator {
            slots,
            body: Some(Box::pin(body(co))),
            started: false,
        }
    }

    /// Runs the body until its next `yield_` or its end. Python: `gen.send(value)`.
    ///
    /// # Errors
    /// [`InvalidStateError`] when the generator already completed (Python:
    /// `StopIteration` again), or when the body waited on something other
    /// than `yield_`.
    pub fn resume(&mut self, value: R) -> Result<GeneratorState<Y, T>, InvalidStateError> {
        let Some(body) = self.body.as_mut() else {
            return Err(InvalidStateError("generator already completed"));
        };
        if self.started {
            self.slots.borrow_mut().resumed = Some(value);
        }
        self.started = true;
        let mut cx = Context::from_waker(Waker::noop());
        match body.as_mut().poll(&mut cx) {
            Poll::Ready(out) => {
                self.body = None;
                Ok(GeneratorState::Complete(out))
            }
            Poll::Pending => match self.slots.borrow_mut().yielded.take() {
                Some(y) => Ok(GeneratorState::Yielded(y)),
                None => Err(InvalidStateError(
                    "generator body awaited something other than yield_",
                )),
            },
        }
    }

    /// True once the body returned.
    ///
    /// Python: `inspect.getgeneratorstate(gen) == GEN_CLOSED`.
    pub fn is_complete(&self) -> bool {
        self.body.is_none()
    }

    /// Drops the body at its current `yield_` (its destructors run).
    /// Python: `gen.close()`.
    pub fn close(&mut self) {
        self.body = None;
    }
}
