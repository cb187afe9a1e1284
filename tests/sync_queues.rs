//! Queue, PriorityQueue, LifoQueue: hand-offs, cancellation, shutdown, join.

#[path = "sync/support.rs"]
mod support;

use std::cell::Cell;
use std::rc::Rc;

use corio_executor::{create_task, get_running_loop, sleep, yield_now};
use corio_sync::{LifoQueue, PriorityQueue, Queue, SyncError};
use support::{ms, run_virtual, trace};

/// The notes' `Queue(maxsize=3)` producer/consumer: the producer is
/// throttled by the consumer (it is never more than 3 items ahead).
#[test]
fn notes_bounded_queue_throttles_the_producer() {
    let (log, max_ahead) = run_virtual(async {
        let queue = Rc::new(Queue::new(3));
        let log = trace();
        let (produced, consumed, max_ahead) = (
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
            Rc::new(Cell::new(0)),
        );
        let producer = {
            let (queue, log, produced) = (queue.clone(), log.clone(), produced.clone());
            create_task(async move {
                for i in 0..10 {
                    queue.put(i).await.unwrap();
                    produced.set(produced.get() + 1);
                    log.borrow_mut().push(format!("put {i}"));
                }
            })
        };
        let consumer = {
            let (queue, log) = (queue.clone(), log.clone());
            let (produced, consumed, max_ahead) =
                (produced.clone(), consumed.clone(), max_ahead.clone());
            create_task(async move {
                for _ in 0..10 {
                    let item = queue.get().await.unwrap();
                    consumed.set(consumed.get() + 1);
                    max_ahead.set(max_ahead.get().max(produced.get() - consumed.get()));
                    log.borrow_mut().push(format!("got {item}"));
                    queue.task_done().unwrap();
                    sleep(ms(100)).await; // a slow consumer
                }
            })
        };
        queue.join().await;
        producer.await.unwrap();
        consumer.await.unwrap();
        (log.take(), max_ahead.get())
    });
    assert!(max_ahead <= 3, "producer ran {max_ahead} ahead");
    // Three puts fill the queue; from then on the producer puts one item
    // per item the consumer takes.
    let mut expected: Vec<String> = (0..3).map(|i| format!("put {i}")).collect();
    for i in 0..10 {
        expected.push(format!("got {i}"));
        if i + 3 < 10 {
            expected.push(format!("put {}", i + 3));
        }
    }
    assert_eq!(log, expected);
}

#[test]
fn nowait_errors_and_sizes() {
    let queue = Queue::new(1);
    assert_eq!(queue.maxsize(), 1);
    assert!(queue.empty() && !queue.full());
    assert_eq!(queue.get_nowait(), Err(SyncError::QueueEmpty));
    queue.put_nowait("a").unwrap();
    assert!(queue.full());
    assert_eq!(queue.qsize(), 1);
    let refused = queue.put_nowait("b").unwrap_err();
    assert_eq!(refused.error, SyncError::QueueFull);
    assert_eq!(refused.into_inner(), "b");
    assert_eq!(queue.get_nowait(), Ok("a"));
    assert_eq!(queue.task_done(), Ok(()));
    assert_eq!(queue.task_done(), Err(SyncError::TaskDoneTooManyTimes));
    assert_eq!(
        SyncError::TaskDoneTooManyTimes.to_string(),
        "task_done() called too many times"
    );
    // 0 is unbounded.
    let unbounded = Queue::new(0);
    for i in 0..10_000 {
        unbounded.put_nowait(i).unwrap();
    }
    assert!(!unbounded.full());
}

#[test]
fn priority_and_lifo_orders() {
    let pq = PriorityQueue::new(0);
    for item in [5, 1, 4, 2, 3] {
        pq.put_nowait(item).unwrap();
    }
    let out: Vec<_> = std::iter::from_fn(|| pq.get_nowait().ok()).collect();
    assert_eq!(out, [1, 2, 3, 4, 5]);
    let lifo = LifoQueue::new(0);
    for item in 1..=3 {
        lifo.put_nowait(item).unwrap();
    }
    let out: Vec<_> = std::iter::from_fn(|| lifo.get_nowait().ok()).collect();
    assert_eq!(out, [3, 2, 1]);
}

#[test]
fn a_getter_handed_an_item_and_cancelled_gives_it_to_the_next_getter() {
    let got = run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        let getter = |queue: Rc<Queue<&'static str>>| create_task(async move { queue.get().await });
        let (a, b) = (getter(queue.clone()), getter(queue.clone()));
        yield_now().await;
        queue.put_nowait("item").unwrap(); // reserved for `a`
        // Still in the queue (asyncio counts it too), but not for a newcomer.
        assert_eq!(queue.qsize(), 1);
        assert_eq!(queue.get_nowait(), Err(SyncError::QueueEmpty));
        a.cancel(); // before `a` runs
        let got = b.await.unwrap();
        assert!(a.await.unwrap_err().is_cancelled());
        assert!(queue.empty());
        got
    });
    assert_eq!(got, Ok("item"));
}

#[test]
fn a_cancelled_getter_with_nobody_behind_leaves_the_item_first_in_line() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        let a = {
            let queue = queue.clone();
            create_task(async move { queue.get().await })
        };
        yield_now().await;
        queue.put_nowait(1).unwrap(); // reserved for `a`
        queue.put_nowait(2).unwrap(); // free for anyone
        a.cancel();
        let _ = a.await;
        assert_eq!(queue.get_nowait(), Ok(1), "the handed item comes out first");
        assert_eq!(queue.get_nowait(), Ok(2));
    });
}

#[test]
fn a_cancelled_putter_never_inserts_and_passes_its_slot_on() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(1));
        queue.put_nowait("first").unwrap();
        let putter = |queue: Rc<Queue<&'static str>>, item| {
            create_task(async move { queue.put(item).await.map_err(|e| e.error) })
        };
        let (a, b) = (putter(queue.clone(), "a"), putter(queue.clone(), "b"));
        yield_now().await;
        // A waiting putter cancelled: nothing inserted.
        let c = putter(queue.clone(), "c");
        yield_now().await;
        c.cancel();
        let _ = c.await;
        // Free a slot: reserved for `a`; `a` is cancelled before it runs.
        assert_eq!(queue.get_nowait(), Ok("first"));
        assert!(queue.full(), "the slot is reserved");
        assert_eq!(
            queue.put_nowait("barger").unwrap_err().error,
            SyncError::QueueFull
        );
        a.cancel();
        assert!(a.await.unwrap_err().is_cancelled());
        assert_eq!(b.await.unwrap(), Ok(()));
        assert_eq!(queue.get_nowait(), Ok("b"));
        assert!(queue.empty());
    });
}

#[test]
fn thousand_getters_every_other_cancelled_rest_in_fifo_order() {
    let got = run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        let got = trace();
        let getters: Vec<_> = (0..1000)
            .map(|i| {
                let (queue, got) = (queue.clone(), got.clone());
                create_task(async move {
                    let item = queue.get().await.unwrap();
                    got.borrow_mut().push((i, item));
                })
            })
            .collect();
        yield_now().await;
        for t in getters.iter().step_by(2) {
            t.cancel();
        }
        for item in 0..500 {
            queue.put_nowait(item).unwrap();
        }
        for t in getters {
            let _ = t.await;
        }
        assert!(queue.empty(), "no item lost or stuck");
        got.take()
    });
    let expected: Vec<_> = (1..1000).step_by(2).zip(0..500).collect();
    assert_eq!(got, expected);
}

#[test]
fn thousand_putters_every_other_cancelled_rest_in_fifo_order() {
    let got = run_virtual(async {
        let queue = Rc::new(Queue::new(1));
        queue.put_nowait(-1).unwrap();
        let putters: Vec<_> = (0..1000)
            .map(|i| {
                let queue = queue.clone();
                create_task(async move { queue.put(i).await.map_err(|e| e.error) })
            })
            .collect();
        yield_now().await;
        for t in putters.iter().step_by(2) {
            t.cancel();
        }
        let mut got = Vec::new();
        for _ in 0..501 {
            got.push(queue.get().await.unwrap());
        }
        for t in putters {
            let _ = t.await;
        }
        assert!(queue.empty());
        got
    });
    let expected: Vec<_> = std::iter::once(-1).chain((1..1000).step_by(2)).collect();
    assert_eq!(got, expected);
}

#[test]
fn join_waits_for_every_task_done() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(0));
        queue.join().await; // nothing unfinished: at once
        for i in 0..3 {
            queue.put_nowait(i).unwrap();
        }
        let worker = {
            let queue = queue.clone();
            create_task(async move {
                while let Ok(_item) = queue.get_nowait() {
                    sleep(ms(10)).await;
                    queue.task_done().unwrap();
                }
            })
        };
        let lp = get_running_loop().unwrap();
        let start = lp.time();
        queue.join().await;
        assert_eq!(lp.time() - start, ms(30));
        worker.await.unwrap();
    });
}

#[test]
fn shutdown_fails_putters_and_lets_getters_drain_first() {
    run_virtual(async {
        let queue = Rc::new(Queue::new(1));
        queue.put_nowait(1).unwrap();
        let putter = {
            let queue = queue.clone();
            create_task(async move { queue.put(2).await })
        };
        yield_now().await;
        queue.shutdown(false);
        let refused = putter.await.unwrap().unwrap_err();
        assert_eq!((refused.error, refused.item), (SyncError::QueueShutDown, 2));
        assert_eq!(
            queue.put_nowait(3).unwrap_err().error,
            SyncError::QueueShutDown
        );
        assert_eq!(queue.get().await, Ok(1), "getters drain first");
        assert_eq!(queue.get().await, Err(SyncError::QueueShutDown));
        assert_eq!(queue.get_nowait(), Err(SyncError::QueueShutDown));
        assert!(queue.is_shut_down());
    });
}

#[test]
fn shutdown_wakes_waiting_getters_and_immediate_drops_items_for_join() {
    run_virtual(async {
        let queue: Rc<Queue<i32>> = Rc::new(Queue::new(0));
        let getter = {
            let queue = queue.clone();
            create_task(async move { queue.get().await })
        };
        yield_now().await;
        queue.shutdown(false);
        assert_eq!(getter.await.unwrap(), Err(SyncError::QueueShutDown));

        let queue: Rc<Queue<i32>> = Rc::new(Queue::new(0));
        queue.put_nowait(1).unwrap();
        queue.put_nowait(2).unwrap();
        let joiner = {
            let queue = queue.clone();
            create_task(async move { queue.join().await })
        };
        yield_now().await;
        assert!(!joiner.done());
        queue.shutdown(true);
        assert!(queue.empty(), "immediate drops the items");
        joiner.await.unwrap();
        assert_eq!(queue.get().await, Err(SyncError::QueueShutDown));
    });
}

#[test]
fn items_dropped_by_shutdown_may_touch_the_queue_in_their_destructor() {
    struct Touch(Rc<Queue<Touch>>);
    impl Drop for Touch {
        fn drop(&mut self) {
            let _ = self.0.qsize();
        }
    }
    let queue = Rc::new(Queue::new(0));
    queue.put_nowait(Touch(queue.clone())).unwrap();
    queue.shutdown(true);
    assert!(queue.empty());
}
