//! hyper's `rt::Timer` on corio's timer queue (`loop.call_at`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_executor::{TimerHandle, get_running_loop};
use hyper::rt::{Sleep, Timer};

/// hyper's `rt::Timer` on the running loop: each sleep is a
/// `loop.call_at(deadline, wake)` (asyncio's `TimerHandle`), cancelled
/// when the sleep is dropped or reset. Used by [`serve`](crate::serve) for
/// hyper's header-read timeout (a client that never finishes its headers is
/// dropped after 30 s) and HTTP/2 keep-alive.
///
/// hyper wants its `Sleep` to be `Send + Sync`; corio's timer handles are
/// `!Send`, so the sleep keeps only a number, and the handle stays in a
/// table of the loop's thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct CorioTimer;

thread_local! {
    /// The armed timers of this thread's sleeps, by sleep id.
    static ARMED: RefCell<HashMap<u64, TimerHandle>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

#[derive(Default)]
struct State {
    fired: bool,
    waker: Option<Waker>,
}

/// The sleep of [`CorioTimer`]: `asyncio.sleep` that hyper can move.
#[derive(Debug)]
pub struct CorioSleep {
    id: u64,
    deadline: Instant,
    armed_for: Option<Instant>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("fired", &self.fired).finish()
    }
}

impl CorioSleep {
    fn new(deadline: Instant) -> CorioSleep {
        CorioSleep {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            deadline,
            armed_for: None,
            state: Arc::default(),
        }
    }

    fn disarm(&mut self) {
        if self.armed_for.take().is_some() {
            let id = self.id;
            let _ = ARMED.try_with(|armed| {
                if let Some(handle) = armed.borrow_mut().remove(&id) {
                    handle.cancel();
                }
            });
        }
    }

    fn reset(&mut self, deadline: Instant) {
        self.disarm();
        self.deadline = deadline;
        self.lock().fired = false;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Future for CorioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        {
            let mut state = this.lock();
            if state.fired || Instant::now() >= this.deadline {
                drop(state);
                this.disarm();
                return Poll::Ready(());
            }
            state.waker = Some(cx.waker().clone());
        }
        if this.armed_for != Some(this.deadline) {
            this.disarm();
            let lp = get_running_loop().expect("hyper's timer used outside a running corio loop");
            let (id, shared) = (this.id, this.state.clone());
            let handle = lp.call_at(this.deadline, move || {
                let _ = ARMED.try_with(|armed| armed.borrow_mut().remove(&id));
                let waker = {
                    let mut state = shared.lock().unwrap_or_else(|e| e.into_inner());
                    state.fired = true;
                    state.waker.take()
                };
                if let Some(waker) = waker {
                    waker.wake();
                }
            });
            ARMED.with(|armed| armed.borrow_mut().insert(id, handle));
            this.armed_for = Some(this.deadline);
        }
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
        let deadline = Instant::now()
            .checked_add(duration)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(86400 * 365 * 30));
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
