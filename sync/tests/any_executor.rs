//! corio-sync on an executor that is not corio's: `testkit::exec`, a tiny
//! one written on std alone (one ready queue, std's `Wake`). The
//! primitives need nothing of a loop but std's `Waker`; these tests show
//! it, with no corio crate in this crate's dependencies at all.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use corio_sync::{
    Barrier, BoundedSemaphore, Condition, Event, Lock, Queue, Semaphore, SyncError, set_misuse_hook,
};
use testkit::exec::{block_on, spawn, yield_now};

#[test]
fn a_lock_serves_its_waiters_in_arrival_order() {
    let order = block_on(async {
        let lock = Rc::new(Lock::new());
        let order = Rc::new(RefCell::new(Vec::new()));
        let held = lock.acquire().await;
        let waiters: Vec<_> = (0..5)
            .map(|i| {
                let (lock, order) = (lock.clone(), order.clone());
                spawn(async move {
                    let _guard = lock.acquire().await;
                    order.borrow_mut().push(i);
                    yield_now().await; // holds it across a switch
                })
            })
            .collect();
        yield_now().await; // every waiter is queued
        drop(held);
        for waiter in waiters {
            waiter.await;
        }
        assert!(!lock.locked());
        order.take()
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn a_cancelled_acquire_passes_the_lock_on() {
    block_on(async {
        let lock = Rc::new(Lock::new());
        let held = lock.acquire().await;
        // A wait given up: polled once (queued), then dropped.
        {
            let mut given_up = pin!(lock.acquire());
            let mut cx = Context::from_waker(Waker::noop());
            assert!(given_up.as_mut().poll(&mut cx).is_pending());
        }
        let next = {
            let lock = lock.clone();
            spawn(async move {
                let _guard = lock.acquire().await;
                "got it"
            })
        };
        yield_now().await;
        drop(held);
        assert_eq!(
            next.await,
            "got it",
            "the dropped wait did not keep the lock"
        );
    });
}

#[test]
fn a_semaphore_bounds_its_holders() {
    let peak = block_on(async {
        let sem = Rc::new(Semaphore::new(3));
        let (inside, peak) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let (sem, inside, peak) = (sem.clone(), inside.clone(), peak.clone());
                spawn(async move {
                    let _permit = sem.acquire().await;
                    inside.set(inside.get() + 1);
                    peak.set(peak.get().max(inside.get()));
                    yield_now().await;
                    inside.set(inside.get() - 1);
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        assert_eq!(sem.value(), 3);
        peak.get()
    });
    assert_eq!(peak, 3);
}

#[test]
fn a_bounded_queue_carries_every_item_once_in_order() {
    let got = block_on(async {
        let queue = Rc::new(Queue::new(4));
        let producer = {
            let queue = queue.clone();
            spawn(async move {
                for i in 0..1000 {
                    queue.put(i).await.unwrap(); // parks while full
                }
                queue.shutdown(false);
            })
        };
        let mut got = Vec::new();
        loop {
            match queue.get().await {
                Ok(item) => got.push(item),
                Err(SyncError::QueueShutDown) => break,
                Err(other) => panic!("{other}"),
            }
        }
        producer.await;
        got
    });
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}

#[test]
fn event_condition_and_barrier_wake_their_waiters() {
    block_on(async {
        let event = Rc::new(Event::new());
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let event = event.clone();
                spawn(async move { event.wait().await })
            })
            .collect();
        yield_now().await;
        event.set();
        for waiter in waiters {
            waiter.await;
        }

        let cond = Rc::new(Condition::new());
        let ready = Rc::new(Cell::new(false));
        let waiter = {
            let (cond, ready) = (cond.clone(), ready.clone());
            spawn(async move {
                let guard = cond.acquire().await;
                let _guard = cond.wait_for(guard, || ready.get()).await.unwrap();
                "woke with the predicate true"
            })
        };
        yield_now().await;
        let guard = cond.acquire().await;
        ready.set(true);
        cond.notify_all().unwrap();
        drop(guard);
        assert_eq!(waiter.await, "woke with the predicate true");

        let barrier = Rc::new(Barrier::new(4).unwrap());
        let parties: Vec<_> = (0..4)
            .map(|_| {
                let barrier = barrier.clone();
                spawn(async move { barrier.wait().await.unwrap() })
            })
            .collect();
        let mut indices = Vec::new();
        for party in parties {
            indices.push(party.await);
        }
        indices.sort();
        assert_eq!(indices, [0, 1, 2, 3]);
    });
}

static REPORTED: AtomicUsize = AtomicUsize::new(0);

fn count_reports(message: &str, error: &SyncError) {
    assert_eq!(message, corio_sync::MISUSE_MESSAGE);
    assert_eq!(*error, SyncError::ReleasedTooManyTimes);
    REPORTED.fetch_add(1, Ordering::SeqCst);
}

/// Without corio's loop, a misuse found in a drop goes to the hook the
/// program installed (corio's loop installs its own).
#[test]
fn a_misuse_in_a_drop_goes_to_the_installed_hook() {
    set_misuse_hook(count_reports);
    assert!(!set_misuse_hook(count_reports), "the first hook stays");
    let sem = BoundedSemaphore::new(1);
    let guard = sem.try_acquire().unwrap();
    sem.release().unwrap();
    drop(guard);
    assert_eq!(REPORTED.load(Ordering::SeqCst), 1);
    assert_eq!(sem.value(), 1, "the refused release changed nothing");
}

/// `block_on` itself: a task woken from another thread is run.
#[test]
fn a_wake_from_another_thread_reaches_the_task() {
    let out = block_on(async {
        let mut started = false;
        std::future::poll_fn(|cx| {
            if started {
                return Poll::Ready(7);
            }
            started = true;
            let waker = cx.waker().clone();
            std::thread::spawn(move || waker.wake());
            Poll::Pending
        })
        .await
    });
    assert_eq!(out, 7);
}
