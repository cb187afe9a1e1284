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

use std::cell::RefCell;
use std::rc::Rc;

use corio_executor::EventLoop;

/// The protocol of one transport (stream or datagram), until it is lost.
pub(crate) struct Callee<P: ?Sized> {
    lp: EventLoop,
    slot: Rc<RefCell<Option<Rc<RefCell<P>>>>>,
}

impl<P: ?Sized> Clone for Callee<P> {
    fn clone(&self) -> Self {
        Callee {
            lp: self.lp.clone(),
            slot: self.slot.clone(),
        }
    }
}

impl<P: ?Sized + 'static> Callee<P> {
    pub(crate) fn new(lp: &EventLoop, protocol: Rc<RefCell<P>>) -> Callee<P> {
        Callee {
            lp: lp.clone(),
            slot: Rc::new(RefCell::new(Some(protocol))),
        }
    }

    /// Calls the protocol now if it is free; `None` if it is busy or gone.
    /// The hot path: the caller can lend it borrowed data.
    pub(crate) fn now<R>(&self, f: impl FnOnce(&mut P) -> R) -> Option<R> {
        let slot = self.slot.borrow();
        let mut protocol = slot.as_ref()?.try_borrow_mut().ok()?;
        Some(f(&mut protocol))
    }

    /// Calls the protocol now, or soon if it is busy; never if it is gone.
    pub(crate) fn tell(&self, f: impl FnOnce(&mut P) + 'static) {
        let slot = self.slot.borrow();
        let Some(protocol) = &*slot else { return };
        match protocol.try_borrow_mut() {
            Ok(mut protocol) => f(&mut protocol),
            Err(_) => {
                let me = self.clone();
                self.lp.call_soon(move || me.tell(f));
            }
        }
    }

    /// Lets go of the protocol; later calls go nowhere.
    pub(crate) fn take(&self) -> Option<Rc<RefCell<P>>> {
        self.slot.borrow_mut().take()
    }
}
