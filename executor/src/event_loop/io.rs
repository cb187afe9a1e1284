//! `add_reader` / `add_writer` on the selector: each registered fd's key
//! carries its reader and writer callbacks (asyncio's `Handle` pair in the
//! key's `data`), and a readiness puts them on the ready queue.
//!
//! A *waking* callback (`add_waking_reader` / `add_waking_writer`) is one
//! that only wakes a task: it is called as soon as the select reports its
//! fd, so the task's step joins this iteration's run, as a timer's wake
//! does, instead of costing an iteration (and a select) of its own.

use std::cell::Cell;
use std::os::fd::RawFd;
use std::rc::Rc;

use corio_reactor::{EVENT_READ, EVENT_WRITE, Events, Selector, SelectorError};

use super::inner::LoopInner;

/// A callback registered with `add_reader` / `add_writer`.
pub(crate) struct IoCallback {
    pub(super) cancelled: Cell<bool>,
    /// Called right after the select (phase 2), not from the ready queue.
    pub(super) waking: bool,
    pub(super) callback: Box<dyn Fn()>,
}

/// The selector's `data` for an fd: its reader and writer, as in asyncio.
#[derive(Clone, Default)]
pub(crate) struct IoHandlers {
    pub(super) reader: Option<Rc<IoCallback>>,
    pub(super) writer: Option<Rc<IoCallback>>,
}

impl LoopInner {
    pub(super) fn add_io(
        &self,
        fd: RawFd,
        interest: Events,
        waking: bool,
        f: Box<dyn Fn()>,
    ) -> Result<(), SelectorError> {
        if self.is_closed() {
            return Err(SelectorError::Closed);
        }
        let new = Rc::new(IoCallback {
            cancelled: Cell::new(false),
            waking,
            callback: f,
        });
        let mut selector = self.selector.borrow_mut();
        let (mut handlers, events) = match selector.get_key(fd) {
            Ok(key) => (key.data.clone(), key.events),
            Err(SelectorError::NotRegistered { .. }) => (IoHandlers::default(), Events::NONE),
            Err(e) => return Err(e),
        };
        let old = if interest == EVENT_READ {
            handlers.reader.replace(new)
        } else {
            handlers.writer.replace(new)
        };
        if let Some(old) = old {
            old.cancelled.set(true);
        }
        if events.is_empty() {
            selector.register(fd, interest, handlers)?;
            self.stats.fds_registered.set(selector.len() as u64);
        } else {
            selector.modify(fd, events | interest, handlers)?;
        }
        Ok(())
    }

    pub(super) fn remove_io(&self, fd: RawFd, interest: Events) -> bool {
        if self.is_closed() {
            return false;
        }
        let mut selector = self.selector.borrow_mut();
        let Ok(key) = selector.get_key(fd) else {
            return false;
        };
        let (mut handlers, events) = (key.data.clone(), key.events);
        let old = if interest == EVENT_READ {
            handlers.reader.take()
        } else {
            handlers.writer.take()
        };
        let Some(old) = old else { return false };
        old.cancelled.set(true);
        let remaining = if interest == EVENT_READ {
            events & EVENT_WRITE
        } else {
            events & EVENT_READ
        };
        // The fd may have been closed already: unregister/modify then fail
        // with EBADF and the key is dropped, which is all we want.
        if remaining.is_empty() {
            selector.unregister(fd).ok();
            self.stats.fds_registered.set(selector.len() as u64);
        } else {
            selector.modify(fd, remaining, handlers).ok();
        }
        true
    }
}
