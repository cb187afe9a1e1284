//! [`Callee`]: how a transport calls its protocol.
//!
//! asyncio never calls a protocol from inside another of its callbacks, and
//! a Rust protocol behind a `RefCell` could not take it anyway. A call that
//! finds the protocol busy (a `write` inside `data_received` crossing the
//! high-water mark wants `pause_writing`) is rescheduled with `call_soon`,
//! so it lands right after the busy callback returns, in order.
//!
//! The transport lets go of the protocol once the connection is lost: a
//! protocol usually keeps its transport, and that cycle must not outlive
//! the connection.

use std::cell::{Cell, RefCell};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use corio_executor::{EventLoop, WeakLoop, panic_message};

/// What a transport does when its protocol panics (the end of asyncio's
/// `_fatal_error`): close at once with this error.
pub(crate) type OnPanic = Rc<dyn Fn(io::Error)>;

/// The protocol of one transport (stream or datagram), until it is lost.
pub(crate) struct Callee<P: ?Sized> {
    /// Held weakly: a transport must not keep its loop alive.
    lp: WeakLoop,
    /// One allocation for what every clone shares: a call reads the
    /// failure flag and the protocol through one pointer.
    shared: Rc<Shared<P>>,
}

/// The part of a [`Callee`] its clones share.
struct Shared<P: ?Sized> {
    /// Set once a callback panicked: no further call goes through (the
    /// transport closes; only its `connection_lost` still reaches the
    /// protocol, through `take`).
    failed: Cell<bool>,
    on_panic: RefCell<Option<OnPanic>>,
    slot: RefCell<Option<Rc<RefCell<P>>>>,
}

impl<P: ?Sized> Clone for Callee<P> {
    fn clone(&self) -> Self {
        Callee {
            lp: self.lp.clone(),
            shared: self.shared.clone(),
        }
    }
}

impl<P: ?Sized + 'static> Callee<P> {
    pub(crate) fn new(lp: &EventLoop, protocol: Rc<RefCell<P>>) -> Callee<P> {
        Callee {
            lp: lp.downgrade(),
            shared: Rc::new(Shared {
                failed: Cell::new(false),
                on_panic: RefCell::new(None),
                slot: RefCell::new(Some(protocol)),
            }),
        }
    }

    /// What to do when a protocol callback panics (the transport closes
    /// with the panic as its error).
    pub(crate) fn set_on_panic(&self, on_panic: OnPanic) {
        *self.shared.on_panic.borrow_mut() = Some(on_panic);
    }

    /// Calls the protocol now if it is free; `None` if it is busy, gone or
    /// failed. The hot path: the caller can lend it borrowed data.
    #[inline]
    pub(crate) fn now<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        if self.shared.failed.get() {
            return None;
        }
        let called = {
            let slot = self.shared.slot.borrow();
            let mut protocol = slot.as_ref()?.try_borrow_mut().ok()?;
            catch_unwind(AssertUnwindSafe(|| f(&mut protocol)))
        };
        match called {
            Ok(value) => Some(value),
            Err(payload) => {
                self.panicked(panic_message(&*payload));
                None
            }
        }
    }

    /// Calls the protocol now, or soon if it is busy; never if it is gone
    /// or failed.
    pub(crate) fn tell(&self, f: impl FnOnce(&mut P) + 'static) {
        if self.shared.failed.get() {
            return;
        }
        let busy = {
            let slot = self.shared.slot.borrow();
            let Some(protocol) = &*slot else { return };
            protocol.try_borrow_mut().is_err()
        };
        if !busy {
            self.now(f);
            return;
        }
        let me = self.clone();
        if let Some(lp) = self.lp.upgrade().filter(|lp| !lp.is_closed()) {
            lp.call_soon(move || me.tell(f));
        }
    }

    /// A callback panicked (asyncio's `_fatal_error`): no more calls, the
    /// panic goes to the loop's exception handler, and the transport
    /// closes with it as the error `connection_lost` receives.
    fn panicked(&self, message: String) {
        self.shared.failed.set(true);
        if let Some(lp) = self.lp.upgrade().filter(|lp| !lp.is_closed()) {
            lp.call_exception_handler(corio_executor::ExceptionContext {
                message: "Fatal error: protocol callback failed".to_string(),
                exception: Some(message.clone()),
            });
        }
        let on_panic = self.shared.on_panic.borrow().clone();
        if let Some(on_panic) = on_panic {
            on_panic(io::Error::other(format!("protocol panicked: {message}")));
        }
    }

    /// Lets go of the protocol; later calls go nowhere.
    pub(crate) fn take(&self) -> Option<Rc<RefCell<P>>> {
        self.shared.slot.borrow_mut().take()
    }
}
