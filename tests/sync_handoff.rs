//! Hand-off accounting: a lock, permit, item or slot handed to a waiter
//! that has not run yet. One regression test per hole the differential
//! tester and CPython's traces found (each failed before its fix).

#[path = "sync/support.rs"]
mod support;

use std::cell::RefCell;
use std::rc::Rc;

use corio_executor::{ExceptionContext, create_task, get_running_loop, timeout, yield_now};
use corio_sync::{
    BoundedSemaphore, Condition, LifoQueue, Lock, PriorityQueue, Queue, Semaphore, SyncError,
};
use support::{ms, run_virtual, trace};

/// Collects what the running loop's exception handler is given.
fn capture_exceptions() -> Rc<RefCell<Vec<String>>> {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sink = seen.clone();
    get_running_loop()
        .unwrap()
        .set_exception_handler(Some(move |ctx: &ExceptionContext| {
            if ctx.message.starts_with("Executing ") {
                return; // a slow step on a loaded machine, not a misuse
            }
            let text = format!(
                "{}: {}",
                ctx.message,
                ctx.exception.as_deref().unwrap_or("")
            );
            sink.borrow_mut().push(text);
        }));
    seen
}

// ------------------------------------------------------------------ Lock ---

#[test]
fn lock_second_release_after_a_hand_off_is_an_error() {
    run_virtual(async {
        let lock = Rc::new(Lock::new());
        lock.acquire().await.forget(); // the main task holds it
        let waiter = {
            let lock = lock.clone();
            create_task(async move {
                let guard = lock.acquire().await;
                drop(guard);
            })
        };
        yield_now().await; // the waiter is queued
        lock.release().unwrap(); // handed to the waiter, which has not run
        assert_eq!(lock.release(), Err(SyncError::LockNotAcquired));
        waiter.await.unwrap();
        // One permit, whatever was tried: exactly one holder at a time.
        let first = lock.try_acquire().expect("free after the waiter left");
        assert!(lock.try_acquire().is_none(), "two holders");
        drop(first);
        assert!(!lock.locked());
    });
}

#[test]
fn lock_guard_dropped_after_an_explicit_release_is_reported_not_doubled() {
    run_virtual(async {
        let seen = capture_exceptions();
        let lock = Lock::new();
        let guard = lock.acquire().await;
        lock.release().unwrap(); // the ownerless release of a guarded lock
        let other = lock.try_acquire().expect("free again");
        drop(guard); // would free `other`'s lock
        assert!(lock.locked(), "the holder of `other` lost the lock");
        assert!(lock.try_acquire().is_none());
        drop(other);
        assert!(!lock.locked());
        assert_eq!(seen.borrow().len(), 1, "{:?}", seen.borrow());
        assert!(
            seen.borrow()[0].contains("Lock is not acquired."),
            "{:?}",
            seen.borrow()
        );
    });
}

// ----------------------------------------------------- BoundedSemaphore ---

#[test]
fn bounded_semaphore_guard_drop_past_the_bound_is_refused_and_reported() {
    run_virtual(async {
        let seen = capture_exceptions();
        let sem = BoundedSemaphore::new(1);
        let guard = sem.acquire().await;
        sem.release().unwrap();
        drop(guard);
        assert_eq!(sem.value(), 1, "went past its bound");
        assert_eq!(seen.borrow().len(), 1);
        assert!(
            seen.borrow()[0].contains("BoundedSemaphore released too many times"),
            "{:?}",
            seen.borrow()
        );
    });
}

#[test]
fn bounded_semaphore_every_release_path_checks_the_bound() {
    run_virtual(async {
        let seen = capture_exceptions();
        let sem = Rc::new(BoundedSemaphore::new(1));
        // forget + release, twice.
        sem.acquire().await.forget();
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Err(SyncError::ReleasedTooManyTimes));
        // A permit handed to a waiter that has not run counts as taken.
        sem.acquire().await.forget();
        let waiter = {
            let sem = sem.clone();
            create_task(async move { sem.acquire().await.forget() })
        };
        yield_now().await;
        assert_eq!(sem.release(), Ok(())); // handed to the waiter
        assert_eq!(sem.release(), Err(SyncError::ReleasedTooManyTimes));
        waiter.await.unwrap();
        assert_eq!(sem.value(), 0);
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.value(), 1);
        assert!(seen.borrow().is_empty(), "{:?}", seen.borrow());
    });
}

// ------------------------------------------------------------ Semaphore ---

/// CPython 3.11 and 3.13 give 1, 2, 3, 4: a waiter handed a permit that
/// has not run yet still counts as waiting, so c2's second acquire queues
/// behind c3.
#[test]
fn semaphore_newcomer_queues_behind_waiters_handed_a_permit() {
    let order = run_virtual(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = trace();
        let spawn = |name: &'static str, again: bool| {
            let (sem, order) = (sem.clone(), order.clone());
            create_task(async move {
                sem.acquire().await.forget();
                order.borrow_mut().push(name);
                if again {
                    sem.release().unwrap();
                    sem.acquire().await.forget();
                    order.borrow_mut().push("c2 again");
                }
            })
        };
        let c2 = spawn("c2", true);
        let c3 = spawn("c3", false);
        yield_now().await; // both wait
        sem.release().unwrap();
        sem.release().unwrap(); // one permit each, neither has run
        c2.await.unwrap();
        c3.await.unwrap();
        order.take()
    });
    assert_eq!(order, ["c2", "c3", "c2 again"]);
}

#[test]
fn semaphore_permit_freed_while_handed_waiters_run_reaches_the_newcomer() {
    // The newcomer above must not wait forever: once the handed waiters
    // collected their permits, a free one goes to it.
    run_virtual(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.acquire().await;
        let waiter = {
            let sem = sem.clone();
            create_task(async move { sem.acquire().await.forget() })
        };
        yield_now().await;
        drop(held); // handed to `waiter`
        sem.release().unwrap(); // a second, free permit
        assert!(sem.try_acquire().is_none(), "barged past a handed waiter");
        let newcomer = {
            let sem = sem.clone();
            create_task(async move { sem.acquire().await.forget() })
        };
        waiter.await.unwrap();
        newcomer.await.unwrap();
        assert_eq!(sem.value(), 0);
    });
}

/// Found by the differential tester (seed 1592610933): a waiter that
/// collects its permit and finds more free hands on *one*, and that one
/// the next, one loop iteration apart, as asyncio's `_wake_up_next`
/// chain does; corio handed them all out at once.
#[test]
fn semaphore_free_permits_go_down_the_line_one_per_collection() {
    let order = run_virtual(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = trace();
        let acquirer = |name: &'static str| {
            let (sem, order) = (sem.clone(), order.clone());
            create_task(async move {
                sem.acquire().await.forget();
                order.borrow_mut().push(name);
            })
        };
        let a = acquirer("a");
        yield_now().await; // `a` waits
        let (b, c) = (acquirer("b"), acquirer("c")); // they queue behind `a`
        sem.release().unwrap(); // handed to `a`
        sem.release().unwrap();
        sem.release().unwrap(); // two free
        let observer = {
            let order = order.clone();
            create_task(async move {
                order.borrow_mut().push("x");
                yield_now().await;
                order.borrow_mut().push("x2");
            })
        };
        for task in [a, b, c, observer] {
            task.await.unwrap();
        }
        order.take()
    });
    assert_eq!(order, ["a", "x", "b", "x2", "c"]);
}

// --------------------------------------------------------------- Queues ---

#[test]
fn priority_queue_woken_getters_take_the_smallest_item_when_they_run() {
    let got = run_virtual(async {
        let queue = Rc::new(PriorityQueue::new(0));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                create_task(async move { queue.get().await.unwrap() })
            })
            .collect();
        yield_now().await;
        queue.put_nowait(5).unwrap();
        queue.put_nowait(1).unwrap();
        let mut got = Vec::new();
        for g in getters {
            got.push(g.await.unwrap());
        }
        got
    });
    assert_eq!(got, [1, 5]);
}

#[test]
fn lifo_queue_woken_getters_take_the_newest_item_when_they_run() {
    let got = run_virtual(async {
        let queue = Rc::new(LifoQueue::new(0));
        let getters: Vec<_> = (0..2)
            .map(|_| {
                let queue = queue.clone();
                create_task(async move { queue.get().await.unwrap() })
            })
            .collect();
        yield_now().await;
        queue.put(1).await.unwrap();
        queue.put(2).await.unwrap();
        let mut got = Vec::new();
        for g in getters {
            got.push(g.await.unwrap());
        }
        got
    });
    assert_eq!(got, [2, 1]);
}

#[test]
fn queue_immediate_shutdown_retracts_an_item_handed_to_a_getter() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        let getter = {
            let queue = queue.clone();
            create_task(async move { queue.get().await })
        };
        yield_now().await;
        queue.put_nowait("item").unwrap(); // handed to the getter
        queue.shutdown(true);
        assert_eq!(getter.await.unwrap(), Err(SyncError::QueueShutDown));
        // The retracted item counts as done: join does not wait for it.
        let joined = timeout(ms(10), queue.join()).await;
        assert!(joined.is_ok(), "join waits for an item nobody got");
    });
}

/// Found by the differential tester (seed 1592592119): after a shutdown,
/// a getter that finds every remaining item reserved for earlier getters
/// fails at once instead of waiting for puts that can no longer come.
#[test]
fn queue_getter_after_shutdown_with_only_reserved_items_fails_at_once() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        let first = {
            let queue = queue.clone();
            create_task(async move { queue.get().await })
        };
        yield_now().await;
        queue.put_nowait(5).unwrap(); // reserved for `first`
        queue.shutdown(false);
        assert_eq!(queue.get_nowait(), Err(SyncError::QueueShutDown));
        let late = timeout(ms(10), queue.get()).await;
        assert_eq!(late, Ok(Err(SyncError::QueueShutDown)), "waited forever");
        assert_eq!(first.await.unwrap(), Ok(5));
    });
}

// ------------------------------------------------------------ Condition ---

/// CPython 3.13: a waiter cancelled after its notification, while it waits
/// to re-acquire the lock, notifies the next waiter instead.
#[test]
fn condition_waiter_cancelled_while_reacquiring_passes_the_notification_on() {
    let order = run_virtual(async {
        let cond = Rc::new(Condition::new());
        let order = trace();
        let spawn = |name: &'static str| {
            let (cond, order) = (cond.clone(), order.clone());
            create_task(async move {
                let guard = cond.acquire().await;
                let _guard = cond.wait(guard).await.unwrap();
                order.borrow_mut().push(name);
            })
        };
        let w1 = spawn("w1");
        let w2 = spawn("w2");
        yield_now().await; // both wait
        let guard = cond.acquire().await;
        cond.notify(1).unwrap();
        yield_now().await; // w1 runs: notified, now waits for the lock we hold
        w1.cancel();
        yield_now().await; // w1 unwinds
        drop(guard);
        timeout(ms(10), w2)
            .await
            .expect("w2 was never woken: the notification was lost")
            .unwrap();
        assert!(w1.await.unwrap_err().is_cancelled());
        order.take()
    });
    assert_eq!(order, ["w2"]);
}
