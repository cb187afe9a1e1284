//! What corio-net keeps open for a loop, released when the loop closes.
//!
//! A transport and its protocol usually point at each other, a cycle that
//! only `connection_lost` breaks. A loop closed with connections still open
//! never calls it, so each transport, server and datagram endpoint is
//! registered here (weakly) and released by the loop's close hook: its fd
//! closed, its protocol dropped without being called. No asyncio
//! counterpart: asyncio leaves them to the garbage collector and warns
//! about unclosed transports.

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use corio_executor::EventLoop;

/// Something that holds an fd for a loop.
pub(crate) trait Release {
    /// Closes the fd and drops the protocol, calling nobody: the loop is
    /// closing. Harmless when already released or lost.
    fn release(&self);
}

/// The registry of one loop.
#[derive(Default)]
pub(crate) struct Live {
    items: RefCell<Vec<Weak<dyn Release>>>,
    /// How many entries survived the last pruning: the list is pruned of
    /// dead entries when it has doubled since, so it stays O(live).
    kept: Cell<usize>,
    /// The close hook is registered.
    hooked: Cell<bool>,
}

/// Registers `item` with its loop, to be released when the loop closes.
pub(crate) fn register<T: Release + 'static>(lp: &EventLoop, item: &Rc<T>) {
    let live = lp.extension(Live::default);
    if !live.hooked.replace(true) {
        let hook = live.clone();
        lp.add_close_hook(move || hook.release_all());
    }
    let weak: Weak<dyn Release> = Rc::downgrade(item) as Weak<dyn Release>;
    let mut items = live.items.borrow_mut();
    if items.len() >= 2 * live.kept.get() + 64 {
        items.retain(|w| w.strong_count() > 0);
        live.kept.set(items.len());
    }
    items.push(weak);
}

impl Live {
    fn release_all(&self) {
        let items = self.items.take();
        for item in items.iter().filter_map(Weak::upgrade) {
            item.release();
        }
    }
}
