//! A tiny executor on std alone: [`block_on`] runs a future and the tasks
//! it [`spawn`]s on this thread, one ready queue, std's `Wake` for wakers.
//! No timers, no I/O: what is left to do when nothing is ready is to wait
//! for a wake from another thread, or, if none can come, to report a
//! deadlock.
//!
//! It exists to show that code written for any executor (corio-sync's
//! primitives, which stand on std's `Waker` alone) runs on one that is not
//! corio's, and it is the shape chapter 03 of the walkthroughs builds by
//! hand.
//!
//! ```
//! use testkit::exec::{block_on, spawn, yield_now};
//!
//! let sum = block_on(async {
//!     let a = spawn(async { yield_now().await; 1 });
//!     let b = spawn(async { 2 });
//!     a.await + b.await
//! });
//! assert_eq!(sum, 3);
//! ```

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

/// The id of the future `block_on` was given (spawned tasks count from 1).
const MAIN: usize = 0;

/// Ids of the tasks woken, from any thread.
#[derive(Default)]
struct Woken {
    ids: Mutex<VecDeque<usize>>,
    more: Condvar,
}

/// A task's waker: its id and the queue it goes to.
struct TaskWaker {
    id: usize,
    woken: Arc<Woken>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut ids = self
            .woken
            .ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        ids.push_back(self.id);
        self.woken.more.notify_one();
    }
}

type Spawned = Pin<Box<dyn Future<Output = ()>>>;

/// The running executor's state, for `spawn`.
struct Executor {
    woken: Arc<Woken>,
    tasks: RefCell<Vec<Option<Spawned>>>,
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Executor>>> = const { RefCell::new(None) };
}

/// Runs `main` to its end, with every task it spawns, on this thread.
///
/// # Panics
/// When nested in another `block_on`, and on a deadlock: nothing is ready
/// and no wake came from another thread for 10 s.
pub fn block_on<F: Future>(main: F) -> F::Output {
    let executor = Rc::new(Executor {
        woken: Arc::default(),
        tasks: RefCell::new(vec![None]), // slot 0 stands for `main`
    });
    CURRENT.with(|c| {
        let mut current = c.borrow_mut();
        assert!(current.is_none(), "block_on inside block_on");
        *current = Some(executor.clone());
    });
    let _leave = Leave;
    let mut main = std::pin::pin!(main);
    let main_waker = waker(MAIN, &executor.woken);
    let mut main_ready = true;
    loop {
        if main_ready
            && let Poll::Ready(out) = main.as_mut().poll(&mut Context::from_waker(&main_waker))
        {
            return out;
        }
        main_ready = false;
        let id = next_woken(&executor.woken);
        if id == MAIN {
            main_ready = true;
            continue;
        }
        let task = executor
            .tasks
            .borrow_mut()
            .get_mut(id)
            .and_then(Option::take);
        if let Some(mut task) = task {
            let task_waker = waker(id, &executor.woken);
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&task_waker))
                .is_pending()
            {
                executor.tasks.borrow_mut()[id] = Some(task);
            }
        }
    }
}

/// Clears the thread's executor when `block_on` ends, also by panic.
struct Leave;

impl Drop for Leave {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

fn waker(id: usize, woken: &Arc<Woken>) -> Waker {
    Waker::from(Arc::new(TaskWaker {
        id,
        woken: woken.clone(),
    }))
}

/// The next task woken, waiting for one if need be.
fn next_woken(woken: &Woken) -> usize {
    let mut ids = woken.ids.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        if let Some(id) = ids.pop_front() {
            return id;
        }
        let (next, waited) = woken
            .more
            .wait_timeout(ids, Duration::from_secs(10))
            .unwrap_or_else(PoisonError::into_inner);
        assert!(!waited.timed_out(), "deadlock: no task is ready");
        ids = next;
    }
}

/// Starts `future` as a task of the running [`block_on`]; awaiting the
/// returned [`Join`] gives its output.
///
/// # Panics
/// Outside `block_on`.
pub fn spawn<T: 'static>(future: impl Future<Output = T> + 'static) -> Join<T> {
    let executor = CURRENT
        .with(|c| c.borrow().clone())
        .expect("spawn outside block_on");
    let shared = Rc::new(JoinState {
        output: RefCell::new(None),
        waiter: RefCell::new(None),
    });
    let done = shared.clone();
    let task: Spawned = Box::pin(async move {
        let out = future.await;
        *done.output.borrow_mut() = Some(out);
        if let Some(waiter) = done.waiter.borrow_mut().take() {
            waiter.wake();
        }
    });
    let id = {
        let mut tasks = executor.tasks.borrow_mut();
        tasks.push(Some(task));
        tasks.len() - 1
    };
    waker(id, &executor.woken).wake();
    Join { shared }
}

struct JoinState<T> {
    output: RefCell<Option<T>>,
    waiter: RefCell<Option<Waker>>,
}

/// A spawned task's output, once it is done.
pub struct Join<T> {
    shared: Rc<JoinState<T>>,
}

impl<T> Future for Join<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.shared.output.borrow_mut().take() {
            Some(out) => Poll::Ready(out),
            None => {
                *self.shared.waiter.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Lets the other ready tasks run once.
pub async fn yield_now() {
    let yielded = Cell::new(false);
    std::future::poll_fn(|cx| {
        if yielded.replace(true) {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await;
}
