//! hyper's `rt::Timer` on corio's timer queue (`asyncio.sleep`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use corio_executor::{Sleep as LoopSleep, sleep_until};
use hyper::rt::{Sleep, Timer};

/// hyper's `rt::Timer` on the running loop: each sleep is corio's
/// [`sleep_until`] (asyncio's `sleep`: one entry in the loop's timer queue
/// holding the task's waker), cancelled when the sleep is dropped or
/// reset. Used by [`serve`](crate::serve) for hyper's header-read timeout
/// (a client that never finishes its headers is dropped after 30 s) and
/// HTTP/2 keep-alive.
///
/// hyper wants its `Sleep` to be `Send + Sync`, and corio's sleeps are
/// `!Send` (they name their loop), so a [`CorioSleep`] holds only its
/// deadline and the key of the corio sleep, which lives in a table of the
/// loop's thread. The sleep is put in the timer queue on its first poll
/// only: HTTP/1.1 makes one per request and drops most before that.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioTimer;

/// The corio sleeps of this thread's [`CorioSleep`]s, in reusable slots.
struct Table {
    /// Tells this thread's table from another's (a key is only good here).
    id: u64,
    /// `(generation, sleep)`: the generation goes up each time the slot is
    /// emptied, so a stale key finds nothing.
    slots: Vec<(u32, Option<LoopSleep>)>,
    /// Empty slots.
    free: Vec<u32>,
}

static NEXT_TABLE: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static TABLE: RefCell<Table> = RefCell::new(Table {
        id: NEXT_TABLE.fetch_add(1, Ordering::Relaxed),
        slots: Vec::new(),
        free: Vec::new(),
    });
}

/// Where a [`CorioSleep`]'s corio sleep is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Key {
    table: u64,
    slot: u32,
    generation: u32,
}

impl Table {
    fn insert(&mut self, sleep: LoopSleep) -> Key {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push((0, None));
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.1 = Some(sleep);
        Key {
            table: self.id,
            slot,
            generation: entry.0,
        }
    }

    fn get(&mut self, key: Key) -> Option<&mut LoopSleep> {
        if key.table != self.id {
            return None;
        }
        match self.slots.get_mut(key.slot as usize) {
            Some((generation, sleep)) if *generation == key.generation => sleep.as_mut(),
            _ => None,
        }
    }

    /// Empties the key's slot; the sleep is returned so that the caller
    /// drops it (cancelling its timer) outside the table's borrow.
    fn remove(&mut self, key: Key) -> Option<LoopSleep> {
        self.get(key)?;
        let entry = &mut self.slots[key.slot as usize];
        entry.0 = entry.0.wrapping_add(1);
        self.free.push(key.slot);
        entry.1.take()
    }
}

/// The sleep of [`CorioTimer`]: `asyncio.sleep` that hyper can move.
#[derive(Debug)]
pub struct CorioSleep {
    deadline: Instant,
    /// The corio sleep in this thread's table, once polled.
    armed: Option<Key>,
    /// The deadline came (a poll after that is ready at once).
    fired: bool,
}

impl CorioSleep {
    fn new(deadline: Instant) -> CorioSleep {
        CorioSleep {
            deadline,
            armed: None,
            fired: false,
        }
    }

    /// Takes the corio sleep out of the table and drops it, which cancels
    /// its timer (`TimerHandle.cancel()`). From another thread, or once
    /// the thread's table is gone, there is nothing to cancel here.
    fn disarm(&mut self) {
        if let Some(key) = self.armed.take() {
            let sleep = TABLE
                .try_with(|table| table.try_borrow_mut().ok()?.remove(key))
                .ok()
                .flatten();
            drop(sleep);
        }
    }

    fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
        self.fired = false;
    }
}

impl Future for CorioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.fired {
            return Poll::Ready(());
        }
        if let Some(key) = this.armed {
            let polled = TABLE.with(|table| {
                let mut table = table.borrow_mut();
                let sleep = table.get(key)?;
                Some(match Pin::new(sleep).poll(cx) {
                    Poll::Pending => None,
                    Poll::Ready(()) => Some(table.remove(key)),
                })
            });
            match polled {
                Some(None) => return Poll::Pending,
                Some(Some(finished)) => {
                    drop(finished); // outside the table's borrow
                    this.armed = None;
                    this.fired = true;
                    return Poll::Ready(());
                }
                // Armed on another thread's loop (hyper moved the sleep):
                // arm it again on this one.
                None => this.armed = None,
            }
        }
        let mut sleep = sleep_until(this.deadline);
        if Pin::new(&mut sleep).poll(cx).is_ready() {
            this.fired = true;
            return Poll::Ready(());
        }
        // `Sleep` is `Unpin`: its timer entry holds the waker, not the
        // sleep's address, so it can move into the table.
        this.armed = Some(TABLE.with(|table| table.borrow_mut().insert(sleep)));
        Poll::Pending
    }
}

impl Drop for CorioSleep {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl Sleep for CorioSleep {}

impl Timer for CorioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        let now = Instant::now();
        let deadline = now
            .checked_add(duration.min(corio_executor::NEVER))
            .unwrap_or(now);
        Box::pin(CorioSleep::new(deadline))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(CorioSleep::new(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn Sleep>>, new_deadline: Instant) {
        if let Some(sleep) = sleep.as_mut().downcast_mut_pin::<CorioSleep>() {
            sleep.get_mut().reset(new_deadline);
        } else {
            *sleep = self.sleep_until(new_deadline);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;

    use super::*;

    /// The table is per thread, so a sleep armed on one loop finds its
    /// corio sleep again when polled on the thread's next loop: it must
    /// wait its deadline there, and leave that loop's timers alone.
    #[test]
    fn a_sleep_polled_on_the_threads_next_loop_waits_its_deadline() {
        let sleep = CorioTimer.sleep(Duration::from_secs(10));
        let [mut sleep] = corio_executor::run(async move {
            let mut sleep = sleep;
            poll_fn(|cx| {
                assert!(sleep.as_mut().poll(cx).is_pending());
                Poll::Ready(())
            })
            .await;
            [sleep]
        })
        .unwrap();
        let fired = corio_executor::run(async move {
            let other =
                corio_executor::create_task(corio_executor::sleep(Duration::from_millis(30)));
            corio_executor::yield_now().await;
            let fired = poll_fn(|cx| Poll::Ready(sleep.as_mut().poll(cx).is_ready())).await;
            let timeout = Some(Duration::from_secs(2));
            corio_executor::wait_for(other, timeout)
                .await
                .unwrap()
                .unwrap();
            fired
        })
        .unwrap();
        assert!(!fired);
    }
}
