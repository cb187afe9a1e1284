//! The loop side: run_in_executor, to_thread, wrap_future,
//! run_coroutine_threadsafe and the default executor, on real loops and
//! real threads.

mod support;

use std::cell::RefCell;
use std::future::Future as _;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use corio_executor::{
    EventLoop, LoopError, create_task, gather, get_running_loop, run, sleep, wait_for,
};
use corio_offload::{
    OffloadError, ThreadPoolExecutor, default_executor, run_coroutine_threadsafe, run_in_executor,
    set_default_executor, to_thread, wrap_future,
};
use support::{eventually, occupy, threads_named};

#[test]
fn the_notes_twenty_jobs_from_the_loop_on_a_pool_of_three() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let results = run({
        let (pool, now, most) = (pool.clone(), now.clone(), most.clone());
        async move {
            let jobs = (0..20).map(|i| {
                let (now, most) = (now.clone(), most.clone());
                run_in_executor(Some(&pool), move || {
                    most.fetch_max(now.fetch_add(1, Ordering::SeqCst) + 1, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(100));
                    now.fetch_sub(1, Ordering::SeqCst);
                    i
                })
            });
            gather(jobs).await
        }
    })
    .unwrap()
    .unwrap();
    let took = started.elapsed();
    let values: Vec<u32> = results.into_iter().map(Result::unwrap).collect();
    assert_eq!(values, (0..20).collect::<Vec<_>>());
    assert_eq!(most.load(Ordering::SeqCst), 3, "never more than 3 at once");
    assert!(
        took >= Duration::from_millis(690),
        "7 rounds of 100 ms: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "{took:?}");
    pool.shutdown(true, false);
}

#[test]
fn a_timer_keeps_firing_while_jobs_run() {
    let ticks = run(async {
        let ticks = Rc::new(RefCell::new(0u32));
        let t = ticks.clone();
        let ticker = create_task(async move {
            loop {
                sleep(Duration::from_millis(5)).await;
                *t.borrow_mut() += 1;
            }
        });
        let slept = to_thread(|| thread::sleep(Duration::from_millis(300))).await;
        assert_eq!(slept, Ok(()));
        ticker.cancel();
        *ticks.borrow()
    })
    .unwrap();
    // 300 ms / 5 ms = 60 at best; a blocked loop would see 0 or 1.
    assert!(ticks >= 10, "the loop was blocked: {ticks} ticks");
}

#[test]
fn a_hundred_thousand_tiny_jobs_through_the_loop_each_complete_once() {
    const N: usize = 100_000;
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    let r = runs.clone();
    let values = run(async move {
        let jobs = (0..N).map(|i| {
            let r = r.clone();
            run_in_executor(None, move || {
                r[i].fetch_add(1, Ordering::Relaxed);
                i
            })
        });
        gather(jobs).await
    })
    .unwrap()
    .unwrap();
    assert_eq!(values.len(), N);
    for (i, v) in values.into_iter().enumerate() {
        assert_eq!(v, Ok(i));
    }
    assert!(runs.iter().all(|n| n.load(Ordering::Relaxed) == 1));
}

#[test]
fn a_panicking_job_is_an_error_on_the_loop() {
    let out = run(async { to_thread(|| -> u8 { panic!("job exploded") }).await }).unwrap();
    assert_eq!(out, Err(OffloadError::Panicked("job exploded".into())));
}

/// Counts drops of a job's result, to prove it is dropped exactly once.
struct Tracked(Arc<AtomicUsize>);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn dropping_the_awaiting_future_while_the_job_runs_drops_its_result_safely() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let out = run({
        let (pool, drops) = (pool.clone(), drops.clone());
        async move {
            let job = run_in_executor(Some(&pool), move || {
                started_tx.send(()).unwrap();
                release_rx.recv().unwrap();
                Tracked(drops)
            });
            // The task gives up waiting: the wrapper is dropped mid-job.
            let timed_out = wait_for(job, Some(Duration::from_millis(20))).await;
            timed_out.map(drop).unwrap_err().is_timeout()
        }
    })
    .unwrap();
    assert!(out);
    started.recv().unwrap();
    assert_eq!(drops.load(Ordering::SeqCst), 0, "the job is still running");
    release.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the result was dropped once, on its thread"
    );
    // Nothing else holds the counter: no leaked future state.
    assert_eq!(Arc::strong_count(&drops), 1);
}

#[test]
fn a_job_whose_awaiting_future_is_dropped_before_it_starts_never_runs() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let (release, busy) = occupy(&pool);
    let cancelled = run({
        let (pool, ran) = (pool.clone(), ran.clone());
        async move {
            let job = run_in_executor(Some(&pool), move || ran.fetch_add(1, Ordering::SeqCst));
            let concurrent = job.concurrent().unwrap().clone();
            let task = create_task(job);
            sleep(Duration::from_millis(5)).await;
            task.cancel();
            let outcome = task.await;
            (outcome.unwrap_err().is_cancelled(), concurrent.cancelled())
        }
    })
    .unwrap();
    assert_eq!(cancelled, (true, true));
    release.send(()).unwrap();
    busy.result().unwrap();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn wrap_future_awaits_a_future_submitted_elsewhere_and_two_awaiters_both_wake() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let (release, release_rx) = mpsc::channel::<()>();
    let job = pool
        .submit(move || {
            release_rx.recv().unwrap();
            7
        })
        .unwrap();
    let copy = job.clone();
    let (first, second) = run(async move {
        let a = create_task(wrap_future(job));
        let b = create_task(wrap_future(copy));
        sleep(Duration::from_millis(5)).await;
        release.send(()).unwrap();
        (a.await.unwrap(), b.await.unwrap())
    })
    .unwrap();
    // The value moves to one awaiter; the other is told it was taken.
    let mut outcomes = [first, second];
    outcomes.sort_by_key(Result::is_err);
    assert_eq!(outcomes, [Ok(7), Err(OffloadError::Retrieved)]);
}

#[test]
fn submit_failures_come_out_of_the_await() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    pool.shutdown(true, false);
    let out = run(async move { run_in_executor(Some(&pool), || 1).await }).unwrap();
    assert_eq!(out, Err(OffloadError::Shutdown));

    // No loop yet: the job waits for the loop that first awaits it.
    let later = thread::spawn(|| {
        let job = to_thread(|| thread::current().name().map(String::from));
        assert!(job.concurrent().is_none(), "not submitted yet");
        let lp = EventLoop::new().unwrap();
        let name = lp.run_until_complete(job).unwrap();
        lp.close().unwrap();
        name
    });
    let name = later.join().unwrap().unwrap().unwrap();
    assert_eq!(
        name, "asyncio_0",
        "asyncio names its default executor's threads so"
    );

    // Polled with no loop anywhere: the error comes out of the poll.
    let lonely = thread::spawn(|| {
        let mut job = std::pin::pin!(to_thread(|| 1));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        job.as_mut().poll(&mut cx)
    });
    match lonely.join().unwrap() {
        std::task::Poll::Ready(Err(OffloadError::Loop(LoopError::NoCurrentLoop(_)))) => {}
        other => panic!("expected NoCurrentLoop, got {other:?}"),
    }
}

#[test]
fn the_default_executor_is_made_once_per_loop_and_shut_down_by_close() {
    let lp = EventLoop::new().unwrap();
    corio_executor::set_event_loop(Some(&lp));
    let a = default_executor().unwrap();
    let b = default_executor().unwrap();
    assert!(
        format!("{a:?}") == format!("{b:?}"),
        "one executor: {a:?} {b:?}"
    );
    let name = lp
        .run_until_complete(to_thread(|| thread::current().name().map(String::from)))
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        name, "asyncio_0",
        "asyncio names its default executor's threads so"
    );
    lp.close().unwrap();
    // close() shuts it down without waiting: later jobs are refused.
    assert_eq!(a.submit(|| ()).unwrap_err(), OffloadError::Shutdown);
    // The closed loop is still the thread's loop: its default executor is
    // refused with the loop's error.
    let mut late = std::pin::pin!(to_thread(|| ()));
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert_eq!(
        late.as_mut().poll(&mut cx),
        std::task::Poll::Ready(Err(OffloadError::Loop(LoopError::Closed)))
    );
    assert_eq!(
        default_executor().unwrap_err().to_string(),
        "Event loop is closed"
    );
    corio_executor::set_event_loop(None);
    let closed = lp.run_until_complete(async { 1 });
    assert!(closed.is_err());
}

#[test]
fn set_default_executor_replaces_and_shuts_down_the_old_one() {
    let lp = EventLoop::new().unwrap();
    corio_executor::set_event_loop(Some(&lp));
    let old = default_executor().unwrap();
    let mine = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("mine")
        .build()
        .unwrap();
    set_default_executor(&lp, mine.clone()).unwrap();
    assert_eq!(old.submit(|| ()).unwrap_err(), OffloadError::Shutdown);
    let name = lp
        .run_until_complete(to_thread(|| thread::current().name().map(String::from)))
        .unwrap();
    assert_eq!(name.unwrap().as_deref(), Some("mine_0"));
    corio_executor::set_event_loop(None);
    lp.close().unwrap();
    assert_eq!(mine.submit(|| ()).unwrap_err(), OffloadError::Shutdown);
    assert_eq!(
        set_default_executor(&lp, ThreadPoolExecutor::new(1).unwrap()),
        Err(OffloadError::Loop(LoopError::Closed))
    );
}

#[test]
fn run_shuts_the_default_executor_down_and_waits_for_its_workers() {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (started.clone(), finished.clone());
    run(async move {
        let lp = get_running_loop().unwrap();
        let mine = ThreadPoolExecutor::builder()
            .max_workers(2)
            .thread_name_prefix("runwait")
            .build()
            .unwrap();
        set_default_executor(&lp, mine).unwrap();
        let job = to_thread(move || {
            s.store(1, Ordering::SeqCst);
            thread::sleep(Duration::from_millis(50));
            f.fetch_add(1, Ordering::SeqCst);
        });
        while started.load(Ordering::SeqCst) == 0 {
            sleep(Duration::from_millis(1)).await;
        }
        drop(job); // running: dropping the wrapper does not stop it
    })
    .unwrap();
    assert_eq!(
        finished.load(Ordering::SeqCst),
        1,
        "run() waited for the job"
    );
    assert_eq!(threads_named("runwait_"), 0, "and joined the workers");
}

#[test]
fn run_coroutine_threadsafe_from_four_threads_into_one_loop() {
    const PER_THREAD: u64 = 200;
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let finished = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..4u64)
        .map(|t| {
            let (handle, finished) = (handle.clone(), finished.clone());
            thread::spawn(move || {
                let futures: Vec<_> = (0..PER_THREAD)
                    .map(|i| {
                        run_coroutine_threadsafe(&handle, move || async move {
                            // !Send state inside the coroutine is fine.
                            let local = Rc::new(t * 1000 + i);
                            sleep(Duration::from_millis(i % 3)).await;
                            *local
                        })
                        .unwrap()
                    })
                    .collect();
                let values: Vec<u64> = futures.iter().map(|f| f.result().unwrap()).collect();
                if finished.fetch_add(1, Ordering::SeqCst) == 3 {
                    handle.stop().unwrap();
                }
                values
            })
        })
        .collect();
    lp.run_forever().unwrap();
    for (t, caller) in callers.into_iter().enumerate() {
        let expected: Vec<u64> = (0..PER_THREAD).map(|i| t as u64 * 1000 + i).collect();
        assert_eq!(caller.join().unwrap(), expected);
    }
    lp.close().unwrap();
}

#[test]
fn cancelling_a_threadsafe_future_cancels_the_task_on_the_loop() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let (entered_tx, entered) = mpsc::channel();
    let (dropped_tx, dropped) = mpsc::channel();
    struct Finally(mpsc::Sender<&'static str>);
    impl Drop for Finally {
        fn drop(&mut self) {
            self.0.send("coroutine dropped").unwrap();
        }
    }
    let caller = thread::spawn(move || {
        let future = run_coroutine_threadsafe(&handle, move || async move {
            let _finally = Finally(dropped_tx);
            entered_tx.send(()).unwrap();
            sleep(Duration::from_secs(3600)).await;
            "never"
        })
        .unwrap();
        entered.recv().unwrap();
        assert!(
            !future.running(),
            "pending while the coroutine runs, as in Python"
        );
        assert!(future.cancel(), "cancellable while the coroutine runs");
        let outcome = future.result();
        let why = dropped.recv_timeout(Duration::from_secs(10)).unwrap();
        handle.stop().unwrap();
        (outcome, why)
    });
    lp.run_forever().unwrap();
    let (outcome, why) = caller.join().unwrap();
    assert_eq!(outcome, Err(OffloadError::Cancelled));
    assert_eq!(why, "coroutine dropped");
    lp.close().unwrap();
}

#[test]
fn a_threadsafe_coroutine_that_panics_is_an_error_for_the_caller() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let caller = thread::spawn(move || {
        let future = run_coroutine_threadsafe(&handle, || async {
            if true {
                panic!("coroutine exploded");
            }
            1u8
        })
        .unwrap();
        let outcome = future.result();
        handle.stop().unwrap();
        outcome
    });
    lp.set_exception_handler(Some(|_: &corio_executor::ExceptionContext| {}));
    lp.run_forever().unwrap();
    assert_eq!(
        caller.join().unwrap(),
        Err(OffloadError::Panicked("coroutine exploded".into()))
    );
    lp.close().unwrap();
}

#[test]
fn a_loop_closed_before_the_coroutine_starts_cancels_the_future() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let built = Arc::new(AtomicUsize::new(0));
    let b = built.clone();
    let future = run_coroutine_threadsafe(&handle, move || {
        b.fetch_add(1, Ordering::SeqCst);
        async { 1 }
    })
    .unwrap();
    lp.close().unwrap(); // never ran: the callback is dropped unrun
    assert_eq!(
        future.result_timeout(Duration::from_secs(10)),
        Err(OffloadError::Cancelled)
    );
    assert_eq!(built.load(Ordering::SeqCst), 0);
    let err = run_coroutine_threadsafe(&handle, || async { 2 }).unwrap_err();
    assert_eq!(err, OffloadError::Loop(LoopError::Closed));
}

#[test]
fn a_loop_closed_while_the_coroutine_waits_cancels_the_future() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let future = run_coroutine_threadsafe(&handle, || async {
        sleep(Duration::from_secs(3600)).await;
        1
    })
    .unwrap();
    // Run long enough for the coroutine to start and park.
    lp.run_until_complete(sleep(Duration::from_millis(10)))
        .unwrap();
    assert!(!future.done());
    lp.set_exception_handler(Some(|_: &corio_executor::ExceptionContext| {}));
    lp.close().unwrap();
    assert!(eventually(|| future.done()));
    assert_eq!(future.result(), Err(OffloadError::Cancelled));
}
