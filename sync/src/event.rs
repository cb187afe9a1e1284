//! [`Event`]: a flag that tasks wait on.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::waiters::{WaitList, WaiterId};

/// A flag tasks can wait for. Python: `asyncio.Event`.
///
/// `set` wakes every waiter; a waiter woken by `set` returns even if
/// `clear` follows before it runs (it was granted the wake-up, not the
/// flag). Not `Sync`: for one loop's tasks.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use corio_sync::Event;
/// // Any executor: here a tiny one on std alone. With corio: `corio::run`,
/// // and `loop.call_later(delay, move || setter.set())` for the setter.
/// use testkit::exec::{block_on, spawn, yield_now};
///
/// block_on(async {
///     let event = Rc::new(Event::new());
///     let setter = event.clone();
///     spawn(async move {
///         yield_now().await; // later, from another task
///         setter.set();
///     });
///     event.wait().await;
///     assert!(event.is_set());
/// });
/// ```
#[derive(Default)]
pub struct Event {
    state: RefCell<EventState>,
}

struct EventState {
    /// asyncio's `_value`.
    flag: bool,
    /// asyncio's `_waiters`.
    waiters: WaitList<()>,
}

impl Default for EventState {
    fn default() -> Self {
        EventState {
            flag: false,
            waiters: WaitList::named("Event.wait"),
        }
    }
}

impl Event {
    /// A cleared event. Python: `asyncio.Event()`.
    pub fn new() -> Event {
        Event::default()
    }

    /// Sets the flag and wakes every waiter. Python: `event.set()`.
    pub fn set(&self) {
        let mut state = self.state.borrow_mut();
        if !state.flag {
            state.flag = true;
            state.waiters.grant_all(|_| ());
        }
    }

    /// Clears the flag. Python: `event.clear()`.
    pub fn clear(&self) {
        self.state.borrow_mut().flag = false;
    }

    /// Python: `event.is_set()`.
    pub fn is_set(&self) -> bool {
        self.state.borrow().flag
    }

    /// Waits until the flag is set (returns at once if it is).
    /// Python: `await event.wait()`.
    pub fn wait(&self) -> EventWait<'_> {
        EventWait {
            event: self,
            id: None,
            done: false,
        }
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless awaited"]
pub struct EventWait<'a> {
    event: &'a Event,
    id: Option<WaiterId>,
    done: bool,
}

impl Future for EventWait<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(());
        }
        let mut state = this.event.state.borrow_mut();
        let id = match this.id {
            Some(id) => id,
            None if state.flag => {
                this.done = true;
                return Poll::Ready(());
            }
            None => {
                let id = state.waiters.push(None);
                this.id = Some(id);
                id
            }
        };
        let polled = state.waiters.poll(id, cx);
        this.done = polled.is_ready();
        polled
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let (Some(id), false) = (self.id, self.done) {
            // Every waiter is woken by `set`: nothing to pass on.
            self.event.state.borrow_mut().waiters.cancel(id);
        }
    }
}
