//! Tasks and futures: steps, cancellation, detaching, panics, reports.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio_executor::{
    Clock, EventLoop, ExceptionContext, Future, ReturnWhen, RunError, TaskError, all_tasks,
    create_task, current_task, run, sleep, wait, wait_for, yield_now,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Pushes `name` to the trace when dropped: a coroutine's `finally`.
struct Finally(Rc<RefCell<Vec<String>>>, &'static str);

impl Drop for Finally {
    fn drop(&mut self) {
        self.0.borrow_mut().push(format!("finally {}", self.1));
    }
}

fn reports(lp: &EventLoop) -> Rc<RefCell<Vec<String>>> {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &ExceptionContext| {
        // Slow steps (a loaded machine) are not what these tests count.
        if !ctx.message.starts_with("Executing ") {
            r.borrow_mut().push(ctx.message.clone())
        }
    }));
    reports
}

#[test]
fn cancel_before_the_first_step() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    let out = run(async move {
        let guard = Finally(t.clone(), "never started");
        let t2 = t.clone();
        let task = create_task(async move {
            let _guard = guard;
            t2.borrow_mut().push("started".to_string());
        });
        assert!(task.cancel());
        assert!(
            !task.cancelled(),
            "cancelled() turns true after the cancelling step"
        );
        let outcome = task.clone().await;
        assert!(task.cancelled());
        outcome
    })
    .unwrap();
    assert_eq!(out, Err(TaskError::Cancelled));
    assert_eq!(*trace.borrow(), ["finally never started"]);
}

#[test]
fn cancel_during_a_sleep_drops_the_coroutine_at_its_await() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        let t2 = t.clone();
        let task = create_task(async move {
            let _finally = Finally(t2.clone(), "sleeper");
            t2.borrow_mut().push("sleeping".to_string());
            sleep(Duration::from_secs(3600)).await;
            t2.borrow_mut().push("woke (must not happen)".to_string());
        });
        sleep(ms(5)).await;
        assert!(task.cancel());
        assert_eq!(task.clone().await, Err(TaskError::Cancelled));
        assert!(task.cancelled());
        assert!(!task.cancel(), "cancel after done is false");
    })
    .unwrap();
    assert_eq!(*trace.borrow(), ["sleeping", "finally sleeper"]);
}

#[test]
fn cancel_after_done_returns_false() {
    run(async {
        let task = create_task(async { 5 });
        yield_now().await;
        yield_now().await;
        assert!(task.done());
        assert!(!task.cancel());
        assert!(!task.cancelled());
        assert_eq!(task.result(), Ok(5));
        assert_eq!(task.await, Ok(5));
    })
    .unwrap();
}

#[test]
fn cancelling_a_task_cancels_the_task_it_awaits() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        let t2 = t.clone();
        let child = create_task(async move {
            let _f = Finally(t2, "child");
            sleep(Duration::from_secs(3600)).await;
        });
        let awaited = child.clone();
        let parent = create_task(awaited);
        sleep(ms(2)).await;
        parent.cancel();
        assert_eq!(parent.await, Err(TaskError::Cancelled));
        assert_eq!(child.clone().await, Err(TaskError::Cancelled));
        assert!(child.cancelled());
    })
    .unwrap();
    assert_eq!(*trace.borrow(), ["finally child"]);
}

#[test]
fn cancelling_a_task_cancels_the_future_it_awaits() {
    run(async {
        let fut: Future<u8> = Future::new();
        let awaited = fut.clone();
        let task = create_task(awaited);
        yield_now().await;
        task.cancel();
        assert_eq!(task.await, Err(TaskError::Cancelled));
        assert!(fut.cancelled());
    })
    .unwrap();
}

#[test]
fn a_dropped_task_handle_detaches_and_the_task_still_finishes() {
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    run(async move {
        drop(create_task(async move {
            sleep(ms(5)).await;
            *d.borrow_mut() = true;
        }));
        sleep(ms(20)).await;
    })
    .unwrap();
    assert!(*done.borrow(), "the loop kept the detached task alive");
}

#[test]
fn a_panicking_task_ends_with_panicked_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    let reports = reports(&lp);
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    let out = lp
        .run_until_complete(async {
            let bad = create_task(async { panic!("task boom") });
            let good = create_task(async { 1 });
            (bad.await, good.await)
        })
        .unwrap();
    assert_eq!(out.0, Err(TaskError::Panicked("task boom".into())));
    assert_eq!(out.1, Ok(1));
    assert!(reports.borrow().is_empty(), "retrieved: nothing to report");
}

#[test]
fn an_unretrieved_failure_is_reported() {
    let lp = EventLoop::new().unwrap();
    let reports = reports(&lp);
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    lp.run_until_complete(async {
        let named = create_task(async { panic!("nobody looks") });
        named.set_name("forgotten");
        drop(named);
        sleep(ms(2)).await;
    })
    .unwrap();
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("Task exception was never retrieved: <Task 'forgotten'"));
}

#[test]
fn a_pending_task_destroyed_at_close_is_reported() {
    let lp = EventLoop::new().unwrap();
    let reports = reports(&lp);
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    let task = lp.create_task(async move {
        let _f = Finally(t, "pending at close");
        sleep(Duration::from_secs(3600)).await;
    });
    task.set_name("stuck");
    lp.stop();
    lp.run_forever().unwrap();
    lp.close().unwrap();
    assert_eq!(*trace.borrow(), ["finally pending at close"]);
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].starts_with("Task was destroyed but it is pending! <Task 'stuck'"));
}

#[test]
fn run_cancels_leftover_tasks_and_runs_shutdown_hooks() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    let out = run(async move {
        let t2 = t.clone();
        drop(create_task(async move {
            let _f = Finally(t2, "leftover");
            sleep(Duration::from_secs(3600)).await;
        }));
        let t3 = t.clone();
        corio_executor::get_running_loop()
            .unwrap()
            .add_shutdown_hook(move |kind| t3.borrow_mut().push(format!("hook {kind:?}")));
        yield_now().await;
        "main done"
    });
    assert_eq!(out, Ok("main done"));
    assert_eq!(*trace.borrow(), ["finally leftover", "hook Graceful"]);
}

#[test]
fn run_reports_a_panicking_main() {
    let out = run(async {
        if true {
            panic!("main boom");
        }
    });
    assert_eq!(
        out,
        Err(RunError::Task(TaskError::Panicked("main boom".into())))
    );
}

#[test]
fn names_current_task_and_all_tasks() {
    run(async {
        let me = current_task().expect("main runs as a task");
        assert!(me.get_name().starts_with("Task-"));
        let a = create_task(sleep(ms(1)));
        let b = create_task(sleep(ms(1)));
        let na: u64 = a.get_name()["Task-".len()..].parse().unwrap();
        let nb: u64 = b.get_name()["Task-".len()..].parse().unwrap();
        assert!(nb > na);
        b.set_name("renamed");
        assert_eq!(b.get_name(), "renamed");
        let names: Vec<String> = all_tasks().iter().map(|t| t.get_name()).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&me.get_name()) && names.contains(&"renamed".to_string()));
        let _ = (a.await, b.await);
        assert_eq!(all_tasks().len(), 1);
    })
    .unwrap();
}

#[test]
fn done_callbacks_are_scheduled_not_inline_and_removable() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        let task = create_task(async { 7 });
        let t1 = t.clone();
        task.add_done_callback(move |task| {
            t1.borrow_mut().push(format!("cb1 {:?}", task.result()))
        });
        let t2 = t.clone();
        let id = task.add_done_callback(move |_| t2.borrow_mut().push("cb2".to_string()));
        assert_eq!(task.remove_done_callback(id), 1);
        assert_eq!(task.remove_done_callback(id), 0);
        let value = task.clone().await;
        t.borrow_mut().push(format!("awaited {value:?}"));
        yield_now().await;
    })
    .unwrap();
    // cb1 was registered before the await: it runs first (asyncio's order,
    // where the awaiter's wake-up is itself a done callback).
    assert_eq!(*trace.borrow(), ["cb1 Ok(7)", "awaited Ok(7)"]);
}

#[test]
fn future_api_follows_asyncio() {
    let lp = EventLoop::new().unwrap();
    let fut: Future<i32> = lp.create_future();
    assert!(!fut.done());
    assert_eq!(
        fut.result(),
        Err(TaskError::InvalidState("Result is not set."))
    );
    assert!(fut.exception().is_err());
    fut.set_result(3).unwrap();
    assert_eq!(fut.set_result(4).unwrap_err().to_string(), "invalid state");
    assert!(!fut.cancel());
    assert_eq!(fut.result(), Ok(3));
    assert_eq!(fut.exception(), Ok(None));

    let failed: Future<i32> = lp.create_future();
    failed.set_exception(std::io::Error::other("bad")).unwrap();
    assert_eq!(failed.result().unwrap_err().to_string(), "bad");

    let cancelled: Future<i32> = lp.create_future();
    assert!(cancelled.cancel());
    assert!(cancelled.cancelled());
    assert_eq!(
        lp.run_until_complete(cancelled.clone()).unwrap(),
        Err(TaskError::Cancelled)
    );

    // Done callbacks run through call_soon.
    let seen = Rc::new(RefCell::new(Vec::new()));
    let later: Future<&str> = lp.create_future();
    let s = seen.clone();
    later.add_done_callback(move |f| s.borrow_mut().push(f.result().unwrap()));
    let s2 = seen.clone();
    let id = later.add_done_callback(move |_| s2.borrow_mut().push("removed"));
    assert_eq!(later.remove_done_callback(id), 1);
    later.set_result("done").unwrap();
    assert!(seen.borrow().is_empty(), "not inline");
    lp.run_until_complete(yield_now()).unwrap();
    assert_eq!(*seen.borrow(), ["done"]);
}

#[test]
fn ten_tasks_sleeping_100ms_take_about_100ms() {
    let start = Instant::now();
    run(async {
        let tasks: Vec<_> = (0..10).map(|_| create_task(sleep(ms(100)))).collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    let took = start.elapsed();
    assert!(took >= ms(100));
    assert!(took < ms(900), "they slept together, not in turn: {took:?}");
}

#[test]
fn virtual_clock_makes_an_hour_instant() {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    let start = Instant::now();
    let t0 = lp.time();
    lp.run_until_complete(async {
        let tasks: Vec<_> = (1..=10)
            .map(|i| create_task(sleep(Duration::from_secs(360 * i))))
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    assert!(lp.time() - t0 >= Duration::from_secs(3600));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "no real hour passed"
    );
}

#[test]
fn a_hundred_thousand_tasks_spawned_and_joined() {
    let total = run(async {
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| create_task(async move { i }))
            .collect();
        let mut sum = 0;
        for t in tasks {
            sum += t.await.unwrap();
        }
        sum
    })
    .unwrap();
    assert_eq!(total, (0..100_000u64).sum());
}

#[test]
fn wait_first_completed_and_with_timeout() {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    lp.run_until_complete(async {
        let tasks: Vec<_> = [30, 10, 20]
            .map(|s| create_task(sleep(Duration::from_secs(s))))
            .into();
        let refs = || tasks.iter().map(|t| t.as_ref()).collect::<Vec<_>>();
        let (done, pending) = wait(refs(), None, ReturnWhen::FirstCompleted).await;
        assert_eq!((done.len(), pending.len()), (1, 2));
        assert!(done[0].same(&tasks[1].as_ref()));
        let (done, pending) = wait(
            refs(),
            Some(Duration::from_secs(5)),
            ReturnWhen::AllCompleted,
        )
        .await;
        assert_eq!(
            (done.len(), pending.len()),
            (1, 2),
            "timeout: still pending, not cancelled"
        );
        assert!(pending.iter().all(|t| !t.cancelled()));
        let (done, pending) = wait(refs(), None, ReturnWhen::AllCompleted).await;
        assert_eq!((done.len(), pending.len()), (3, 0));
    })
    .unwrap();
}

#[test]
fn wait_first_exception_stops_at_a_failure() {
    let lp = EventLoop::new().unwrap();
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    lp.run_until_complete(async {
        let slow = create_task(sleep(Duration::from_secs(3600)));
        let bad = create_task(async {
            sleep(ms(2)).await;
            panic!("failure")
        });
        let (done, pending) = wait(
            [slow.as_ref(), bad.as_ref()],
            None,
            ReturnWhen::FirstException,
        )
        .await;
        assert_eq!((done.len(), pending.len()), (1, 1));
        assert!(done[0].failure().unwrap().is_panic());
        slow.cancel();
        let _ = bad.await;
    })
    .unwrap();
}

#[test]
fn wait_for_timeout_cancels_the_inner_future_before_returning() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    let out = lp
        .run_until_complete(async move {
            let t2 = t.clone();
            let out = wait_for(
                async move {
                    let _f = Finally(t2, "inner");
                    sleep(Duration::from_secs(3600)).await;
                    1
                },
                Some(Duration::from_secs(1)),
            )
            .await;
            t.borrow_mut().push("wait_for returned".into());
            out
        })
        .unwrap();
    assert_eq!(out, Err(TaskError::Timeout));
    assert_eq!(*trace.borrow(), ["finally inner", "wait_for returned"]);
    let ok = lp
        .run_until_complete(wait_for(async { 2 }, Some(ms(10))))
        .unwrap();
    assert_eq!(ok, Ok(2));
}

#[test]
fn timeout_drops_the_inner_future() {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    let out = lp.run_until_complete(corio_executor::timeout(
        ms(5),
        sleep(Duration::from_secs(60)),
    ));
    assert_eq!(out, Ok(Err(corio_executor::TimeoutError)));
    let fast = lp.run_until_complete(corio_executor::timeout(ms(5), async { 9 }));
    assert_eq!(fast, Ok(Ok(9)));
}

#[test]
fn sleep_zero_yields_exactly_one_iteration() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        let lp = corio_executor::get_running_loop().unwrap();
        let (t1, t2) = (t.clone(), t.clone());
        lp.call_soon(move || t1.borrow_mut().push("callback"));
        sleep(Duration::ZERO).await;
        t.borrow_mut().push("after sleep(0)");
        lp.call_soon(move || t2.borrow_mut().push("callback 2"));
        yield_now().await;
        t.borrow_mut().push("after yield");
    })
    .unwrap();
    assert_eq!(
        *trace.borrow(),
        ["callback", "after sleep(0)", "callback 2", "after yield"]
    );
}

#[test]
fn exception_reports_the_failure_only_once_done() {
    let lp = EventLoop::new().unwrap();
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    lp.run_until_complete(async {
        let ok = create_task(async { 1 });
        let bad = create_task(async { panic!("exception()") });
        assert_eq!(
            ok.exception(),
            Err(TaskError::InvalidState("Exception is not set."))
        );
        yield_now().await;
        yield_now().await;
        assert_eq!(ok.exception(), Ok(None));
        assert_eq!(
            bad.exception(),
            Ok(Some(TaskError::Panicked("exception()".into())))
        );
    })
    .unwrap();
}

#[test]
fn a_done_callback_on_a_done_task_runs_on_the_running_loop() {
    let lp = EventLoop::new().unwrap();
    let task = lp.create_task(async { 3 });
    lp.run_until_complete(yield_now()).unwrap();
    assert!(task.done());
    let seen = Rc::new(RefCell::new(None));
    let s = seen.clone();
    lp.run_until_complete(async move {
        task.add_done_callback(move |t| *s.borrow_mut() = Some(t.result()));
        yield_now().await;
    })
    .unwrap();
    assert_eq!(*seen.borrow(), Some(Ok(3)));
}

#[test]
#[should_panic(expected = "no running event loop")]
fn a_done_callback_on_a_done_task_outside_a_loop_panics() {
    let lp = EventLoop::new().unwrap();
    let task = lp.create_task(async { 3 });
    lp.run_until_complete(yield_now()).unwrap();
    task.add_done_callback(|_| {});
}

/// asyncio runs an awaiter's wake-up as one more done callback: whoever
/// registered first goes first, awaiter or callback, for tasks and futures.
#[test]
fn done_callbacks_and_awaiters_run_in_registration_order() {
    let trace = Rc::new(RefCell::new(Vec::new()));
    let t = trace.clone();
    run(async move {
        let task = create_task(sleep(ms(1)));
        let awaiter = {
            let (task, t) = (task.clone(), t.clone());
            create_task(async move {
                let _ = task.await;
                t.borrow_mut().push("task awaiter");
            })
        };
        yield_now().await; // the awaiter registered first
        let t1 = t.clone();
        task.add_done_callback(move |_| t1.borrow_mut().push("task callback"));
        awaiter.await.unwrap();

        let fut = corio_executor::get_running_loop()
            .unwrap()
            .create_future::<u8>();
        let t2 = t.clone();
        fut.add_done_callback(move |_| t2.borrow_mut().push("future callback"));
        let awaiter = {
            let (fut, t) = (fut.clone(), t.clone());
            create_task(async move {
                let _ = fut.await;
                t.borrow_mut().push("future awaiter");
            })
        };
        yield_now().await;
        fut.set_result(1).unwrap();
        awaiter.await.unwrap();
        yield_now().await;
    })
    .unwrap();
    assert_eq!(
        *trace.borrow(),
        [
            "task awaiter",
            "task callback",
            "future callback",
            "future awaiter"
        ]
    );
}

/// A sleep polled by one task and then handed to another wakes the second
/// one: its timer is re-armed with the new task's waker (the timer queue
/// keeps the waker; the sleep asks it whether the task changed).
#[test]
fn a_sleep_moved_to_another_task_wakes_that_task() {
    let out = run(async {
        let parked: Rc<RefCell<Option<std::pin::Pin<Box<corio_executor::Sleep>>>>> = Rc::default();
        let put = parked.clone();
        // Task A polls the sleep once (its timer now holds A's waker), then
        // hands it over and ends.
        create_task(async move {
            let mut sleep = Box::pin(sleep(Duration::from_millis(20)));
            let first = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(sleep.as_mut().poll(cx).is_pending())
            })
            .await;
            assert!(first, "20 ms have not passed yet");
            *put.borrow_mut() = Some(sleep);
        })
        .await
        .unwrap();
        // Task B awaits it: without the re-arm, only the finished A would
        // be woken and B would wait forever (here: until the 2 s guard).
        let sleep = parked.borrow_mut().take().expect("handed over");
        let started = Instant::now();
        let waited = wait_for(create_task(sleep), Some(Duration::from_secs(2))).await;
        (waited.is_ok(), started.elapsed())
    })
    .unwrap();
    assert!(out.0, "the moved sleep woke its new task");
    assert!(out.1 < Duration::from_secs(1), "{:?}", out.1);
}

#[test]
fn a_sleep_armed_on_a_closed_loop_waits_its_deadline_on_the_next() {
    // A sleep is `!Send` but can outlive its loop on the same thread (as
    // corio-compat's CorioTimer keeps sleeps per thread, not per loop).
    // Its timer id belongs to the first loop: asked of the second, it
    // named no timer (the sleep fired at once) or another task's (whose
    // timer it then cancelled).
    let mut long = Box::pin(sleep(Duration::from_secs(10)));
    let long = run(async move {
        std::future::poll_fn(|cx| {
            assert!(long.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        [long] // in an array: a bare future returned from `async` is a lint
    })
    .unwrap();
    let [mut long] = long;
    let started = Instant::now();
    let trace = run(async move {
        let other = create_task(async { sleep(ms(30)).await });
        yield_now().await; // `other` is armed first, with the id `long` had
        let mut trace = Vec::new();
        std::future::poll_fn(|cx| {
            if long.as_mut().poll(cx).is_ready() {
                trace.push("long fired");
            }
            std::task::Poll::Ready(())
        })
        .await;
        wait_for(other, Some(ms(2000))).await.unwrap().unwrap();
        trace.push("other done");
        trace
    })
    .unwrap();
    assert_eq!(trace, ["other done"]);
    assert!(started.elapsed() < ms(1500));
}

/// asyncio: "Task cannot await on itself". A task that awaits its own
/// handle would wait for its own end forever; it fails at once instead.
#[test]
fn a_task_awaiting_itself_fails_at_once() {
    let lp = corio_executor::EventLoop::new().unwrap();
    let slot: Rc<RefCell<Option<corio_executor::Task<()>>>> = Rc::new(RefCell::new(None));
    let me = slot.clone();
    let task = lp.create_task(async move {
        corio_executor::yield_now().await;
        let own = me.borrow_mut().take().expect("the handle");
        let _ = own.await;
    });
    *slot.borrow_mut() = Some(task.clone());
    let outcome = lp.run_until_complete(task);
    lp.close().unwrap();
    match outcome {
        Ok(Err(corio_executor::TaskError::Panicked(message))) => {
            assert!(message.contains("Task cannot await on itself"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// The same through its untyped handle (`TaskRef`, what `wait` takes).
#[test]
fn a_task_awaiting_its_own_task_ref_fails_at_once() {
    let outcome = corio_executor::run(async {
        let me = corio_executor::current_task().expect("in a task");
        me.await;
    });
    match outcome {
        Err(corio_executor::RunError::Task(corio_executor::TaskError::Panicked(message))) => {
            assert!(message.contains("Task cannot await on itself"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// asyncio: "… got Future … attached to a different loop". A future of
/// another loop would never wake this one; awaiting it fails at once.
#[test]
fn awaiting_a_future_of_another_loop_fails_at_once() {
    let other = corio_executor::EventLoop::new().unwrap();
    let foreign: corio_executor::Future<u32> = other.create_future();
    let lp = corio_executor::EventLoop::new().unwrap();
    let outcome = lp.run_until_complete(async move { foreign.await.map(|v| v + 1) });
    match outcome {
        Err(corio_executor::RunError::Task(corio_executor::TaskError::Panicked(message))) => {
            assert!(
                message.contains("attached to a different loop"),
                "{message}"
            );
        }
        other => panic!("{other:?}"),
    }
    // A done future of another loop gives its result: nothing to wait for.
    let done: corio_executor::Future<u32> = other.create_future();
    done.set_result(7).unwrap();
    assert_eq!(lp.run_until_complete(done).unwrap(), Ok(7));
    lp.close().unwrap();
    other.close().unwrap();
}

/// `?` in `io::Result` code: a deadline is `TimedOut` (Python's
/// `TimeoutError` is an `OSError`), an `io::Error` set as a future's
/// exception keeps its kind, a cancellation is `Other` (never
/// `Interrupted`, which `std::io` retries).
#[test]
fn timeouts_and_task_errors_convert_to_io_errors() {
    use std::io;
    let timed_out: io::Error = corio_executor::TimeoutError.into();
    assert_eq!(timed_out.kind(), io::ErrorKind::TimedOut);
    assert_eq!(
        io::Error::from(TaskError::Timeout).kind(),
        io::ErrorKind::TimedOut
    );
    let refused = TaskError::exception(io::Error::from(io::ErrorKind::ConnectionRefused));
    assert_eq!(
        io::Error::from(refused).kind(),
        io::ErrorKind::ConnectionRefused
    );
    let cancelled = io::Error::from(TaskError::Cancelled);
    assert_eq!(cancelled.kind(), io::ErrorKind::Other);
    assert!(cancelled.to_string().contains("cancelled"), "{cancelled}");
    let panicked = io::Error::from(TaskError::Panicked("boom".into()));
    assert!(panicked.to_string().contains("boom"), "{panicked}");

    async fn fetch() -> io::Result<u32> {
        wait_for(sleep(ms(50)), Some(ms(1))).await?;
        Ok(1)
    }
    let err = run(fetch()).unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::TimedOut);
}
