//! Lock, Semaphore, BoundedSemaphore, Event, Condition, Barrier.

#[path = "sync/support.rs"]
mod support;

use std::cell::Cell;
use std::rc::Rc;

use corio_executor::{create_task, get_running_loop, run, sleep, yield_now};
use corio_sync::{Barrier, BoundedSemaphore, Condition, Event, Lock, Semaphore, SyncError};
use support::{ms, run_virtual, trace};

// ------------------------------------------------------------------ Lock ---

#[test]
fn lock_waiters_get_it_in_fifo_order() {
    let order = run_virtual(async {
        let lock = Rc::new(Lock::new());
        let order = trace();
        let guard = lock.acquire().await;
        let tasks: Vec<_> = (0..5)
            .map(|i| {
                let (lock, order) = (lock.clone(), order.clone());
                create_task(async move {
                    let _g = lock.acquire().await;
                    order.borrow_mut().push(i);
                    sleep(ms(1)).await;
                })
            })
            .collect();
        yield_now().await; // all five are queued
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert!(!lock.locked());
        order.take()
    });
    assert_eq!(order, [0, 1, 2, 3, 4]);
}

#[test]
fn lock_release_of_an_unlocked_lock_is_an_error_with_asyncio_message() {
    let lock = Lock::new();
    let err = lock.release().unwrap_err();
    assert_eq!(err, SyncError::LockNotAcquired);
    assert_eq!(err.to_string(), "Lock is not acquired.");
}

#[test]
fn lock_try_acquire_and_the_explicit_pair() {
    let lock = Lock::new();
    // A failed try_acquire must not release the holder's lock.
    let guard = lock.try_acquire().expect("free");
    assert!(lock.locked());
    assert!(lock.try_acquire().is_none());
    guard.forget();
    assert!(lock.locked(), "forget keeps it locked");
    lock.release().unwrap();
    assert!(!lock.locked());
}

#[test]
fn lock_released_by_call_later_wakes_the_waiter() {
    run_virtual(async {
        let lock = Rc::new(Lock::new());
        lock.acquire().await.forget();
        let unlock = lock.clone();
        get_running_loop()
            .unwrap()
            .call_later(ms(500), move || unlock.release().unwrap());
        let lp = get_running_loop().unwrap();
        let start = lp.time();
        let _g = lock.acquire().await;
        assert_eq!(lp.time() - start, ms(500));
    });
}

#[test]
fn lock_handed_to_a_cancelled_waiter_goes_to_the_next() {
    let order = run_virtual(async {
        let lock = Rc::new(Lock::new());
        let order = trace();
        let guard = lock.acquire().await;
        let spawn = |name: &'static str| {
            let (lock, order) = (lock.clone(), order.clone());
            create_task(async move {
                let _g = lock.acquire().await;
                order.borrow_mut().push(name);
            })
        };
        let a = spawn("a");
        let b = spawn("b");
        yield_now().await;
        // Release hands the lock to `a`; `a` is cancelled before it runs.
        drop(guard);
        assert!(lock.locked(), "handed over, not free");
        a.cancel();
        b.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
        order.take()
    });
    assert_eq!(order, ["b"]);
}

#[test]
fn lock_guard_dropped_by_a_cancelled_task_releases_the_lock() {
    run_virtual(async {
        let lock = Rc::new(Lock::new());
        let holder = {
            let lock = lock.clone();
            create_task(async move {
                let _g = lock.acquire().await;
                sleep(ms(3_600_000)).await; // cancelled here, guard held
            })
        };
        yield_now().await;
        assert!(lock.locked());
        holder.cancel();
        assert!(holder.await.unwrap_err().is_cancelled());
        assert!(!lock.locked());
        assert!(lock.try_acquire().is_some());
    });
}

#[test]
fn lock_thousand_waiters_every_other_cancelled_rest_in_fifo_order() {
    let order = run_virtual(async {
        let lock = Rc::new(Lock::new());
        let order = trace();
        let guard = lock.acquire().await;
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (lock, order) = (lock.clone(), order.clone());
                create_task(async move {
                    let _g = lock.acquire().await;
                    order.borrow_mut().push(i);
                    yield_now().await;
                })
            })
            .collect();
        yield_now().await;
        for t in tasks.iter().step_by(2) {
            t.cancel();
        }
        drop(guard);
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.is_ok(), i % 2 == 1, "task {i}");
        }
        order.take()
    });
    assert_eq!(order, (1..1000).step_by(2).collect::<Vec<_>>());
}

/// The notes' cache: two tasks want the same URL; with the lock only one
/// fetch happens.
#[test]
fn notes_cache_with_a_lock_fetches_once() {
    use std::cell::RefCell;
    use std::collections::HashMap;
    let fetches = run_virtual(async {
        let lock = Rc::new(Lock::new());
        let cache: Rc<RefCell<HashMap<&str, String>>> = Rc::default();
        let fetches = Rc::new(Cell::new(0));
        let get = |url: &'static str| {
            let (lock, cache, fetches) = (lock.clone(), cache.clone(), fetches.clone());
            create_task(async move {
                let _g = lock.acquire().await;
                if let Some(page) = cache.borrow().get(url) {
                    return page.clone();
                }
                fetches.set(fetches.get() + 1);
                sleep(ms(100)).await; // the fetch
                let page = format!("<html>{url}</html>");
                cache.borrow_mut().insert(url, page.clone());
                page
            })
        };
        let (a, b) = (get("python.org"), get("python.org"));
        assert_eq!(a.await.unwrap(), b.await.unwrap());
        fetches.get()
    });
    assert_eq!(fetches, 1);
}

// ------------------------------------------------------------- Semaphore ---

/// The notes' `Semaphore(3)`: of 20 tasks, never more than 3 inside.
#[test]
fn notes_semaphore_of_three_lets_three_in_at_most() {
    let (peak, done) = run_virtual(async {
        let sem = Rc::new(Semaphore::new(3));
        let (inside, peak, done) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
        );
        let tasks: Vec<_> = (0..20u64)
            .map(|i| {
                let (sem, inside, peak, done) =
                    (sem.clone(), inside.clone(), peak.clone(), done.clone());
                create_task(async move {
                    let _permit = sem.acquire().await;
                    inside.set(inside.get() + 1);
                    peak.set(peak.get().max(inside.get()));
                    sleep(ms(10 + i % 4)).await;
                    inside.set(inside.get() - 1);
                    done.set(done.get() + 1);
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(sem.value(), 3);
        (peak.get(), done.get())
    });
    assert_eq!((peak, done), (3, 20));
}

#[test]
fn semaphore_permit_handed_to_a_cancelled_waiter_is_passed_on() {
    run_virtual(async {
        let sem = Rc::new(Semaphore::new(1));
        let permit = sem.acquire().await;
        let waiter = |sem: Rc<Semaphore>| create_task(async move { drop(sem.acquire().await) });
        let (a, b) = (waiter(sem.clone()), waiter(sem.clone()));
        yield_now().await;
        assert!(sem.locked());
        drop(permit); // to `a`
        assert_eq!(sem.value(), 0, "handed over, not returned");
        a.cancel();
        b.await.unwrap();
        assert!(a.await.is_err());
        assert_eq!(sem.value(), 1);
    });
}

#[test]
fn semaphore_thousand_waiters_every_other_cancelled_rest_in_fifo_order() {
    let order = run_virtual(async {
        let sem = Rc::new(Semaphore::new(2));
        let order = trace();
        let (p1, p2) = (sem.acquire().await, sem.acquire().await);
        let tasks: Vec<_> = (0..1000)
            .map(|i| {
                let (sem, order) = (sem.clone(), order.clone());
                create_task(async move {
                    let _p = sem.acquire().await;
                    order.borrow_mut().push(i);
                    yield_now().await;
                })
            })
            .collect();
        yield_now().await;
        for t in tasks.iter().step_by(2) {
            t.cancel();
        }
        drop((p1, p2));
        for t in tasks {
            let _ = t.await;
        }
        assert_eq!(sem.value(), 2);
        order.take()
    });
    assert_eq!(order, (1..1000).step_by(2).collect::<Vec<_>>());
}

#[test]
fn bounded_semaphore_refuses_a_release_above_its_initial_value() {
    let sem = BoundedSemaphore::new(2);
    assert_eq!(sem.release(), Err(SyncError::ReleasedTooManyTimes));
    assert_eq!(
        SyncError::ReleasedTooManyTimes.to_string(),
        "BoundedSemaphore released too many times"
    );
    sem.try_acquire().unwrap().forget();
    assert_eq!(sem.value(), 1);
    assert_eq!(sem.release(), Ok(()));
    assert_eq!(sem.value(), 2);
    // A plain Semaphore lets its count grow, as asyncio's does.
    let plain = Semaphore::new(0);
    plain.release().unwrap();
    assert_eq!(plain.value(), 1);
}

// ----------------------------------------------------------------- Event ---

/// The notes' event set after 0.1 s by `call_later`: both waiters wake.
#[test]
fn notes_event_set_by_call_later_wakes_both_waiters() {
    let woke = run_virtual(async {
        let event = Rc::new(Event::new());
        let woke = trace();
        let waiter = |name: &'static str| {
            let (event, woke) = (event.clone(), woke.clone());
            create_task(async move {
                event.wait().await;
                woke.borrow_mut().push(name);
            })
        };
        let (a, b) = (waiter("waiter 1"), waiter("waiter 2"));
        let setter = event.clone();
        let lp = get_running_loop().unwrap();
        let start = lp.time();
        lp.call_later(ms(100), move || setter.set());
        a.await.unwrap();
        b.await.unwrap();
        assert_eq!(lp.time() - start, ms(100));
        woke.take()
    });
    assert_eq!(woke, ["waiter 1", "waiter 2"]);
}

#[test]
fn event_waiter_woken_by_set_returns_even_if_cleared_before_it_runs() {
    run_virtual(async {
        let event = Rc::new(Event::new());
        let waiter = {
            let event = event.clone();
            create_task(async move { event.wait().await })
        };
        yield_now().await;
        event.set();
        event.clear();
        assert!(!event.is_set());
        waiter.await.unwrap();
        // A new wait on the cleared event does wait.
        let pending = {
            let event = event.clone();
            create_task(async move { event.wait().await })
        };
        sleep(ms(10)).await;
        assert!(!pending.done());
        pending.cancel();
    });
}

/// The notes' traffic light: a bounded number of red/green cycles, cars
/// pass only on green.
#[test]
fn notes_traffic_light_runs_a_bounded_number_of_cycles() {
    let log = run_virtual(async {
        let green = Rc::new(Event::new());
        let log = trace();
        let light = {
            let (green, log) = (green.clone(), log.clone());
            create_task(async move {
                for _ in 0..3 {
                    log.borrow_mut().push("green".to_string());
                    green.set();
                    sleep(ms(100)).await;
                    log.borrow_mut().push("red".to_string());
                    green.clear();
                    sleep(ms(100)).await;
                }
            })
        };
        let cars: Vec<_> = (0..4u64)
            .map(|i| {
                let (green, log) = (green.clone(), log.clone());
                create_task(async move {
                    sleep(ms(70 * i + 30)).await;
                    green.wait().await;
                    log.borrow_mut().push(format!("car {i} passes"));
                })
            })
            .collect();
        light.await.unwrap();
        for c in cars {
            c.await.unwrap();
        }
        log.take()
    });
    assert_eq!(
        log,
        [
            // car 1 arrives at 100 ms, just as the light turns red (the
            // light's timer was scheduled first); car 3 at 240 ms, on green
            "green",
            "car 0 passes",
            "red",
            "green",
            "car 1 passes",
            "car 2 passes",
            "car 3 passes",
            "red",
            "green",
            "red"
        ]
    );
}

// ------------------------------------------------------------- Condition ---

/// The notes' producer: consumers wait on a condition, the producer
/// notifies n = 1, then 2, then all; they wake in FIFO order.
#[test]
fn notes_condition_notify_n_then_notify_all_wakes_in_order() {
    let log = run_virtual(async {
        let cond = Rc::new(Condition::new());
        let log = trace();
        let consumers: Vec<_> = (1..=6)
            .map(|i| {
                let (cond, log) = (cond.clone(), log.clone());
                create_task(async move {
                    let guard = cond.acquire().await;
                    log.borrow_mut().push(format!("consumer {i} waits"));
                    let _guard = cond.wait(guard).await.unwrap();
                    log.borrow_mut().push(format!("consumer {i} woke"));
                })
            })
            .collect();
        sleep(ms(100)).await;
        for n in 1..=2 {
            let _guard = cond.acquire().await;
            log.borrow_mut().push(format!("notify {n}"));
            assert_eq!(cond.notify(n).unwrap(), n);
            drop(_guard);
            sleep(ms(100)).await;
        }
        {
            let _guard = cond.acquire().await;
            log.borrow_mut().push("notify all".to_string());
            assert_eq!(cond.notify_all().unwrap(), 3);
        }
        for c in consumers {
            c.await.unwrap();
        }
        log.take()
    });
    let expected: Vec<String> = (1..=6)
        .map(|i| format!("consumer {i} waits"))
        .chain(["notify 1".into(), "consumer 1 woke".into()])
        .chain([
            "notify 2".into(),
            "consumer 2 woke".into(),
            "consumer 3 woke".into(),
        ])
        .chain(["notify all".into()])
        .chain((4..=6).map(|i| format!("consumer {i} woke")))
        .collect();
    assert_eq!(log, expected);
}

#[test]
fn condition_notify_without_the_lock_is_an_error() {
    let cond = Condition::new();
    assert_eq!(cond.notify(1), Err(SyncError::NotifyWithoutLock));
    assert_eq!(cond.notify_all(), Err(SyncError::NotifyWithoutLock));
    assert_eq!(
        SyncError::NotifyWithoutLock.to_string(),
        "cannot notify on un-acquired lock"
    );
}

#[test]
fn condition_wait_with_another_locks_guard_is_an_error() {
    run(async {
        let cond = Condition::new();
        let other = Lock::new();
        let guard = other.acquire().await;
        assert_eq!(cond.wait(guard).await.unwrap_err(), SyncError::ForeignGuard);
        assert!(!other.locked(), "the foreign guard was released");
    })
    .unwrap();
}

#[test]
fn condition_on_a_shared_lock() {
    run_virtual(async {
        let lock = Rc::new(Lock::new());
        let cond = Rc::new(Condition::with_lock(lock.clone()));
        let waiter = {
            let (cond, lock) = (cond.clone(), lock.clone());
            create_task(async move {
                let guard = lock.acquire().await;
                let guard = cond.wait(guard).await.unwrap();
                assert!(lock.locked());
                drop(guard);
            })
        };
        yield_now().await;
        assert!(!lock.locked(), "released while waiting");
        let guard = lock.acquire().await;
        cond.notify(1).unwrap();
        drop(guard);
        waiter.await.unwrap();
        assert!(!cond.locked());
    });
}

#[test]
fn condition_wait_cancelled_while_waiting_leaves_the_lock_released() {
    run_virtual(async {
        let cond = Rc::new(Condition::new());
        let waiter = {
            let cond = cond.clone();
            create_task(async move {
                let guard = cond.acquire().await;
                let _guard = cond.wait(guard).await;
            })
        };
        yield_now().await;
        waiter.cancel();
        assert!(waiter.await.unwrap_err().is_cancelled());
        assert!(!cond.locked());
        let _guard = cond.acquire().await;
        assert_eq!(cond.notify(1), Ok(0), "the cancelled waiter left the queue");
    });
}

#[test]
fn condition_notified_waiter_cancelled_before_it_runs_passes_the_notification_on() {
    let woke = run_virtual(async {
        let cond = Rc::new(Condition::new());
        let woke = trace();
        let waiter = |name: &'static str| {
            let (cond, woke) = (cond.clone(), woke.clone());
            create_task(async move {
                let guard = cond.acquire().await;
                let _guard = cond.wait(guard).await.unwrap();
                woke.borrow_mut().push(name);
            })
        };
        let (a, b) = (waiter("a"), waiter("b"));
        sleep(ms(1)).await;
        let guard = cond.acquire().await;
        assert_eq!(cond.notify(1), Ok(1)); // to `a`
        a.cancel(); // before `a` runs
        drop(guard);
        b.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(!cond.locked());
        woke.take()
    });
    assert_eq!(woke, ["b"]);
}

#[test]
fn condition_wait_for_a_predicate() {
    run_virtual(async {
        let cond = Rc::new(Condition::new());
        let value = Rc::new(Cell::new(0));
        let waiter = {
            let (cond, value) = (cond.clone(), value.clone());
            create_task(async move {
                let guard = cond.acquire().await;
                let _guard = cond.wait_for(guard, || value.get() >= 3).await.unwrap();
                value.get()
            })
        };
        for _ in 0..5 {
            sleep(ms(10)).await;
            let _guard = cond.acquire().await;
            value.set(value.get() + 1);
            cond.notify_all().unwrap();
        }
        assert_eq!(waiter.await.unwrap(), 3);
    });
}

// --------------------------------------------------------------- Barrier ---

#[test]
fn barrier_releases_when_all_arrive_and_starts_the_next_cycle() {
    run_virtual(async {
        let barrier = Rc::new(Barrier::new(3).unwrap());
        for _cycle in 0..2 {
            let tasks: Vec<_> = (0..3u64)
                .map(|i| {
                    let barrier = barrier.clone();
                    create_task(async move {
                        sleep(ms(10 * i)).await;
                        barrier.wait().await.unwrap()
                    })
                })
                .collect();
            let mut indices = Vec::new();
            for t in tasks {
                indices.push(t.await.unwrap());
            }
            assert_eq!(indices, [0, 1, 2], "arrival order");
            assert_eq!(barrier.n_waiting(), 0);
        }
        assert_eq!(barrier.parties(), 3);
    });
}

#[test]
fn barrier_abort_breaks_waiters_and_later_waits_until_reset() {
    run_virtual(async {
        let barrier = Rc::new(Barrier::new(3).unwrap());
        let waiter = {
            let barrier = barrier.clone();
            create_task(async move { barrier.wait().await })
        };
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        barrier.abort();
        assert_eq!(waiter.await.unwrap(), Err(SyncError::BrokenBarrier));
        assert!(barrier.broken());
        assert_eq!(barrier.wait().await, Err(SyncError::BrokenBarrier));
        barrier.reset();
        assert!(!barrier.broken());
        let waiter = {
            let barrier = barrier.clone();
            create_task(async move { barrier.wait().await })
        };
        yield_now().await;
        barrier.reset(); // fails the current waiter, stays usable
        assert_eq!(waiter.await.unwrap(), Err(SyncError::BrokenBarrier));
        assert!(!barrier.broken());
        assert_eq!(Barrier::new(0).err(), Some(SyncError::NoParties));
    });
}

#[test]
fn barrier_wait_cancelled_withdraws_its_arrival() {
    run_virtual(async {
        let barrier = Rc::new(Barrier::new(2).unwrap());
        let quitter = {
            let barrier = barrier.clone();
            create_task(async move { barrier.wait().await })
        };
        yield_now().await;
        assert_eq!(barrier.n_waiting(), 1);
        quitter.cancel();
        let _ = quitter.await;
        assert_eq!(barrier.n_waiting(), 0);
        // Two fresh arrivals are needed again.
        let first = {
            let barrier = barrier.clone();
            create_task(async move { barrier.wait().await })
        };
        yield_now().await;
        assert!(!first.done());
        assert_eq!(barrier.wait().await, Ok(1));
        assert_eq!(first.await.unwrap(), Ok(0));
    });
}

#[test]
fn event_waiter_cancelled_while_waiting_leaves_the_others_intact() {
    run_virtual(async {
        let event = Rc::new(Event::new());
        let waiter = |event: Rc<Event>| create_task(async move { event.wait().await });
        let (a, b) = (waiter(event.clone()), waiter(event.clone()));
        yield_now().await;
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        event.set();
        b.await.unwrap();
    });
}

/// A `Semaphore` count at `usize::MAX` refuses one more release with a
/// typed error and stays as it was: no debug panic, no wrap to 0 (which
/// would lock the semaphore for good). A guard dropped at the top leaves
/// the count alone too (a drop cannot return the error).
#[test]
fn a_semaphore_at_usize_max_refuses_another_release() {
    let sem = Semaphore::new(usize::MAX);
    assert_eq!(sem.release(), Err(SyncError::SemaphoreOverflow));
    assert_eq!(sem.value(), usize::MAX);
    assert!(!sem.locked());

    let guard = sem.try_acquire().expect("a permit is free");
    assert_eq!(sem.value(), usize::MAX - 1);
    sem.release().unwrap(); // back at the top while the guard is out
    drop(guard); // refused: stays at usize::MAX
    assert_eq!(sem.value(), usize::MAX);
    assert!(sem.try_acquire().is_some(), "the semaphore still works");

    let bounded = BoundedSemaphore::new(usize::MAX);
    assert_eq!(bounded.release(), Err(SyncError::ReleasedTooManyTimes));
    assert_eq!(bounded.value(), usize::MAX);
}
