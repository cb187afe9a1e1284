//! `add_signal_handler` / `remove_signal_handler`: a signal becomes an
//! ordinary loop callback.
//!
//! The first handler opens the loop's [`SignalPipe`] and watches its read
//! end with `add_reader`. When a signal arrives, the C handler (in
//! corio-reactor) writes its number to the pipe; the next `select` reports
//! the pipe readable, and its reader callback drains the numbers and
//! `call_soon`s each one's handler: asyncio's `_handle_signal`, and as
//! there, the handler never runs in signal context.

use std::collections::HashMap;
use std::rc::{Rc, Weak};

use corio_reactor::signal::{CaughtSignal, NSIG, SIGKILL, SIGSTOP, SignalPipe};

use super::EventLoop;
use super::inner::LoopInner;
use crate::{LoopError, SignalError};

/// A loop's signal handlers and the pipe they come through.
pub(crate) struct Signals {
    pipe: SignalPipe,
    handlers: HashMap<i32, Handler>,
}

struct Handler {
    callback: Rc<dyn Fn()>,
    /// Puts the previous disposition back when dropped.
    caught: CaughtSignal,
}

impl Signals {
    /// Restores every disposition (before the pipe closes: no handler may
    /// be left writing to a closed fd).
    pub(crate) fn restore_all(&mut self) {
        for (_, handler) in self.handlers.drain() {
            handler.caught.restore().ok();
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        self.restore_all();
    }
}

/// Checks `signum` as asyncio's `_check_signal` does.
fn check_signal(signum: i32) -> Result<(), SignalError> {
    if !(1..NSIG).contains(&signum) {
        return Err(SignalError::Invalid(signum));
    }
    if signum == SIGKILL || signum == SIGSTOP {
        return Err(SignalError::Uncatchable(signum));
    }
    Ok(())
}

impl EventLoop {
    /// Calls `callback` on this loop each time signal `signum` arrives.
    /// Python: `loop.add_signal_handler(signum, callback)`.
    ///
    /// The callback runs as an ordinary callback of the loop (scheduled
    /// with `call_soon` when the loop sees the signal), never in signal
    /// context, so it may do anything a callback may. Adding a handler
    /// for a signal that has one replaces the callback. Several arrivals
    /// before the loop looks may run the callback once per arrival, or
    /// fewer times (as with any Unix signal, repeats can merge).
    ///
    /// Differs from asyncio in two ways: any thread's loop may handle
    /// signals (asyncio: the main thread's only), but one loop at a time
    /// per signal, since a signal's disposition is process-wide; and the
    /// callback takes no arguments (capture them).
    ///
    /// # Errors
    /// [`SignalError::Invalid`] for a number that is not a signal;
    /// [`SignalError::Uncatchable`] for `SIGKILL` and `SIGSTOP`;
    /// [`SignalError::InUse`] when another loop handles it;
    /// [`SignalError::Loop`] (`Closed`) on a closed loop;
    /// [`SignalError::Os`] when the pipe cannot be opened.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::cell::Cell;
    /// use std::rc::Rc;
    /// use corio_executor::EventLoop;
    /// use corio_reactor::signal::{raise_signal, SIGUSR1};
    ///
    /// let lp = EventLoop::new()?;
    /// let got = Rc::new(Cell::new(0));
    /// let (g, stopper) = (got.clone(), lp.clone());
    /// lp.add_signal_handler(SIGUSR1, move || {
    ///     g.set(g.get() + 1);
    ///     stopper.stop();
    /// })?;
    /// raise_signal(SIGUSR1)?;
    /// lp.run_forever()?; // the handler runs, then stops the loop
    /// assert_eq!(got.get(), 1);
    /// assert!(lp.remove_signal_handler(SIGUSR1)?);
    /// lp.close()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn add_signal_handler(
        &self,
        signum: i32,
        callback: impl Fn() + 'static,
    ) -> Result<(), SignalError> {
        check_signal(signum)?;
        let inner = &self.inner;
        if inner.is_closed() {
            return Err(LoopError::Closed.into());
        }
        let mut slot = inner.signals.borrow_mut();
        if slot.is_none() {
            let pipe = SignalPipe::new()?;
            let weak = Rc::downgrade(inner);
            self.add_reader(pipe.read_fd(), move || dispatch(&weak))
                .map_err(|e| SignalError::Os(std::io::Error::other(e.to_string())))?;
            inner.internal_fds.set(inner.internal_fds.get() + 1);
            *slot = Some(Signals {
                pipe,
                handlers: HashMap::new(),
            });
        }
        let signals = slot.as_mut().expect("just set");
        let callback: Rc<dyn Fn()> = Rc::new(callback);
        if let Some(handler) = signals.handlers.get_mut(&signum) {
            handler.callback = callback;
            return Ok(());
        }
        let Some(caught) = signals.pipe.catch(signum)? else {
            return Err(SignalError::InUse(signum));
        };
        signals
            .handlers
            .insert(signum, Handler { callback, caught });
        Ok(())
    }

    /// Removes the handler of `signum` and puts back the disposition the
    /// signal had before [`add_signal_handler`](Self::add_signal_handler);
    /// true if there was one. Python: `loop.remove_signal_handler(signum)`
    /// (which instead resets `SIGINT` to Python's `default_int_handler`
    /// and any other signal to `SIG_DFL`).
    ///
    /// # Errors
    /// [`SignalError::Invalid`] / [`SignalError::Uncatchable`] as for
    /// adding; [`SignalError::Os`] if `sigaction` fails.
    pub fn remove_signal_handler(&self, signum: i32) -> Result<bool, SignalError> {
        check_signal(signum)?;
        let removed = self
            .inner
            .signals
            .borrow_mut()
            .as_mut()
            .and_then(|signals| signals.handlers.remove(&signum));
        match removed {
            Some(handler) => {
                handler.caught.restore()?;
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// The pipe's reader callback: each signal number read becomes a
/// `call_soon` of its handler.
fn dispatch(weak: &Weak<LoopInner>) {
    let Some(inner) = weak.upgrade() else { return };
    let mut numbers = Vec::new();
    let drained = match &*inner.signals.borrow() {
        Some(signals) => signals.pipe.drain(&mut numbers),
        None => return,
    };
    if let Err(err) = drained {
        inner.report(
            "Could not read the signal pipe".to_string(),
            Some(err.to_string()),
        );
    }
    for signum in numbers {
        let callback = inner
            .signals
            .borrow()
            .as_ref()
            .and_then(|s| s.handlers.get(&signum))
            .map(|h| h.callback.clone());
        if let Some(callback) = callback {
            inner.call_soon_internal(move || callback());
        }
    }
}

/// [`EventLoop::add_signal_handler`] on the running loop.
///
/// # Errors
/// [`SignalError::Loop`] (`NoRunningLoop`) outside a running loop, as
/// well as those of the method.
pub fn add_signal_handler(signum: i32, callback: impl Fn() + 'static) -> Result<(), SignalError> {
    crate::get_running_loop()?.add_signal_handler(signum, callback)
}

/// [`EventLoop::remove_signal_handler`] on the running loop.
///
/// # Errors
/// [`SignalError::Loop`] (`NoRunningLoop`) outside a running loop, as
/// well as those of the method.
pub fn remove_signal_handler(signum: i32) -> Result<bool, SignalError> {
    crate::get_running_loop()?.remove_signal_handler(signum)
}
