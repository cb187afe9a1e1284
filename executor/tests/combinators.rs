//! gather, try_gather, gather!, as_completed, shield, TaskGroup, and the
//! asyncio notes' gather example.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corio_executor::{
    Clock, EventLoop, GatherError, TaskError, TaskGroup, as_completed, create_task, gather,
    gather_all, run, shield, sleep, try_gather, yield_now,
};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn virtual_loop() -> EventLoop {
    EventLoop::with_clock(Clock::virtual_clock()).unwrap()
}

type Trace = Rc<RefCell<Vec<String>>>;

/// The notes' `do_some_work(x)`: prints, sleeps x seconds, returns a string.
async fn do_some_work(trace: Trace, x: u64) -> String {
    trace.borrow_mut().push(format!("Waiting {x}"));
    sleep(secs(x)).await;
    format!("Done after {x}s")
}

#[test]
fn notes_gather_groups_and_group2_cancel() {
    let trace: Trace = Rc::new(RefCell::new(Vec::new()));
    let lp = virtual_loop();
    let t = trace.clone();
    let out = lp
        .run_until_complete(async move {
            let group1 = gather([1, 1].map(|x| do_some_work(t.clone(), x)));
            let group2 = gather([3, 3].map(|x| do_some_work(t.clone(), x)));
            let group3 = gather([2].map(|x| do_some_work(t.clone(), x)));
            yield_now().await; // let the children start
            yield_now().await;
            assert!(group2.cancel());
            let outcomes = gather_all([
                Box::pin(group1) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
                Box::pin(group2),
                Box::pin(group3),
            ])
            .await;
            outcomes.unwrap()
        })
        .unwrap();
    assert_eq!(
        out[0],
        Ok(Ok(vec![
            "Done after 1s".to_string(),
            "Done after 1s".to_string()
        ]))
    );
    assert_eq!(
        out[1],
        Ok(Err(TaskError::Cancelled)),
        "group2 was cancelled"
    );
    assert_eq!(out[2], Ok(Ok(vec!["Done after 2s".to_string()])));
    assert_eq!(
        trace.borrow().len(),
        5,
        "every child started: {:?}",
        trace.borrow()
    );
}

#[test]
fn gather_cancelled_before_it_first_runs_cancels_its_children() {
    let lp = virtual_loop();
    let out = lp
        .run_until_complete(async {
            let started = Rc::new(RefCell::new(0));
            let children = [1, 2].map(|x| {
                let started = started.clone();
                async move {
                    *started.borrow_mut() += 1;
                    sleep(secs(x)).await;
                    x
                }
            });
            let group = gather(children);
            assert!(group.cancel()); // before anything ran
            let outcome = group.await;
            yield_now().await;
            (outcome, *started.borrow())
        })
        .unwrap();
    assert_eq!(out.0, Err(TaskError::Cancelled));
    assert_eq!(out.1, 0, "children were cancelled before their first step");
}

#[test]
fn gather_ends_at_the_first_error_and_the_others_keep_running() {
    let lp = virtual_loop();
    lp.set_slow_callback_duration(secs(3600));
    let finished = Rc::new(RefCell::new(false));
    let f = finished.clone();
    let out = lp
        .run_until_complete(async move {
            let slow = async move {
                sleep(secs(10)).await;
                *f.borrow_mut() = true;
                1
            };
            let failing = async {
                sleep(secs(1)).await;
                panic!("child failed")
            };
            let outcome = gather([
                Box::pin(slow) as std::pin::Pin<Box<dyn std::future::Future<Output = i32>>>,
                Box::pin(failing),
            ])
            .await;
            sleep(secs(20)).await; // the slow child still finishes
            outcome
        })
        .unwrap();
    assert_eq!(out, Err(TaskError::Panicked("child failed".into())));
    assert!(*finished.borrow(), "the other child kept running");
}

#[test]
fn cancelling_a_task_awaiting_a_gather_cancels_the_children() {
    let lp = virtual_loop();
    let cancelled = lp
        .run_until_complete(async {
            let group = gather([sleep(secs(50)), sleep(secs(60))]);
            let children_done = group.as_ref();
            let waiter = create_task(group);
            sleep(secs(1)).await;
            waiter.cancel();
            let outcome = waiter.await;
            (outcome.unwrap_err(), children_done.cancelled())
        })
        .unwrap();
    assert_eq!(cancelled, (TaskError::Cancelled, true));
}

#[test]
fn try_gather_stops_at_the_first_err() {
    let lp = virtual_loop();
    let out = lp
        .run_until_complete(async {
            let children = [(1, Ok(1)), (2, Err("two failed")), (3, Ok(3))].map(
                |(delay, result): (u64, Result<i32, &str>)| async move {
                    sleep(secs(delay)).await;
                    result
                },
            );
            try_gather(children).await
        })
        .unwrap();
    assert_eq!(out, Err(GatherError::Failed("two failed")));
    let ok = lp
        .run_until_complete(async {
            try_gather([1, 2].map(|n| async move { Ok::<_, ()>(n) })).await
        })
        .unwrap();
    assert_eq!(ok, Ok(vec![1, 2]));
}

#[test]
fn gather_macro_mixes_types_and_fails_on_the_first_error() {
    let lp = virtual_loop();
    lp.set_slow_callback_duration(secs(3600));
    let ok = lp
        .run_until_complete(async {
            corio_executor::gather!(async { 1u8 }, async { "two" }, async { 3.0f64 }).await
        })
        .unwrap();
    assert_eq!(ok, Ok((1, "two", 3.0)));
    let failed = lp
        .run_until_complete(async {
            corio_executor::gather!(sleep(secs(100)), async { panic!("macro child") }).await
        })
        .unwrap();
    assert_eq!(failed, Err(TaskError::Panicked("macro child".into())));
}

#[test]
fn as_completed_yields_in_completion_order_and_times_out() {
    let lp = virtual_loop();
    let (order, timed) = lp
        .run_until_complete(async {
            let make = |s: u64| {
                create_task(async move {
                    sleep(secs(s)).await;
                    s
                })
            };
            let mut it = as_completed([3, 1, 2].map(make), None);
            let mut order = Vec::new();
            while let Some(outcome) = it.next().await {
                order.push(outcome.unwrap());
            }
            let mut limited = as_completed([1, 50].map(make), Some(secs(10)));
            let mut timed = Vec::new();
            while let Some(outcome) = limited.next().await {
                timed.push(outcome);
            }
            (order, timed)
        })
        .unwrap();
    assert_eq!(order, [1, 2, 3]);
    assert_eq!(timed, [Ok(1), Err(TaskError::Timeout)]);
}

#[test]
fn shield_keeps_the_inner_task_alive() {
    let lp = virtual_loop();
    let (outer, inner) = lp
        .run_until_complete(async {
            let shielded = shield(async {
                sleep(secs(5)).await;
                "inner finished"
            });
            let inner = shielded.task();
            let outer = create_task(shielded);
            sleep(secs(1)).await;
            outer.cancel();
            (outer.await, inner.await)
        })
        .unwrap();
    assert_eq!(outer, Err(TaskError::Cancelled));
    assert_eq!(inner, Ok("inner finished"));
}

#[test]
fn task_group_failure_cancels_siblings_and_collects_errors() {
    let lp = virtual_loop();
    lp.set_slow_callback_duration(secs(3600));
    let (errors, sibling_cancelled) = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let sibling = group.create_task(sleep(secs(3600)));
            group.create_task(async {
                sleep(secs(1)).await;
                panic!("first failure")
            });
            let errors = group.join().await.unwrap_err();
            (errors, sibling.cancelled())
        })
        .unwrap();
    assert_eq!(errors, [TaskError::Panicked("first failure".into())]);
    assert!(sibling_cancelled);

    let all_ok = lp
        .run_until_complete(async {
            let group = TaskGroup::new();
            let a = group.create_task(async { 1 });
            let b = group.create_task(async {
                sleep(secs(2)).await;
                2
            });
            group.join().await.map(|()| (a.result(), b.result()))
        })
        .unwrap();
    assert_eq!(all_ok, Ok((Ok(1), Ok(2))));
}

#[test]
fn dump_lists_live_tasks() {
    let dump = run(async {
        let t = create_task(sleep(secs(60)));
        t.set_name("stuck-one");
        yield_now().await;
        let dump = corio_executor::dump_tasks();
        t.cancel();
        dump
    })
    .unwrap();
    let line = dump
        .lines()
        .find(|l| l.starts_with("stuck-one"))
        .expect(&dump);
    assert!(
        line.contains("waiting") && line.contains("steps=1") && line.contains("combinators.rs"),
        "{line}"
    );
}

#[test]
fn try_gather_reports_a_panicking_child_as_a_task_error() {
    let lp = virtual_loop();
    lp.set_slow_callback_duration(secs(3600));
    let out = lp
        .run_until_complete(async {
            let children = [0u64, 1].map(|n| async move {
                sleep(secs(n)).await;
                if n == 1 {
                    panic!("child {n}");
                }
                Ok::<u64, String>(n)
            });
            try_gather(children).await
        })
        .unwrap();
    assert_eq!(
        out,
        Err(GatherError::Task(TaskError::Panicked("child 1".into())))
    );
    assert_eq!(
        GatherError::<String>::Failed("x".into()).to_string(),
        "a child failed: x"
    );
}

#[test]
fn a_timeout_rescheduled_later_lets_the_code_finish_and_timeout_at_fires() {
    use corio_executor::{Clock, EventLoop, Timeout, get_running_loop, sleep, timeout_at};
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    lp.run_until_complete(async {
        let ms = std::time::Duration::from_millis;
        let cm = Timeout::after(ms(5));
        let inner = cm.clone();
        let out = cm
            .wrap(async move {
                let later = get_running_loop().unwrap().time() + ms(100);
                inner.reschedule(Some(later));
                sleep(ms(50)).await;
                "finished"
            })
            .await;
        assert_eq!(out, Ok("finished"));
        assert!(!cm.expired());
        // Removing the deadline lets anything finish; a past one fires.
        cm.reschedule(None);
        assert_eq!(cm.wrap(sleep(ms(500))).await, Ok(()));
        let start = get_running_loop().unwrap().time();
        assert!(timeout_at(start + ms(7), sleep(ms(500))).await.is_err());
        assert_eq!(get_running_loop().unwrap().time() - start, ms(7));
    })
    .unwrap();
    lp.close().unwrap();
}

/// `run(gather(..))`: a gather made outside any loop starts at its first
/// poll, inside the loop `run` made; cancelled before, it never starts.
#[test]
fn a_gather_made_outside_a_loop_starts_when_first_polled() {
    use corio_executor::{TaskError, gather, run};
    let started = std::rc::Rc::new(std::cell::Cell::new(0));
    let s = started.clone();
    let children = (1..=3).map(move |n| {
        let s = s.clone();
        async move {
            s.set(s.get() + 1);
            n * 10
        }
    });
    let pending = gather(children);
    assert!(!pending.done());
    assert_eq!(run(pending).unwrap(), Ok(vec![10, 20, 30]));
    assert_eq!(started.get(), 3);

    let never = gather([async { unreachable!("never started") }]);
    assert!(never.cancel());
    assert!(never.done() && never.cancelled());
    assert_eq!(run(never).unwrap(), Err::<Vec<()>, _>(TaskError::Cancelled));
}

/// `gather_tasks` waits for existing tasks directly: cancelling it cancels
/// them, and the first failure ends it.
#[test]
fn gather_tasks_cancels_its_tasks_and_ends_at_the_first_failure() {
    use corio_executor::{TaskError, create_task, gather_tasks, run, sleep, yield_now};
    let ms = std::time::Duration::from_millis;
    run(async move {
        let (a, b) = (
            create_task(sleep(ms(10_000))),
            create_task(sleep(ms(10_000))),
        );
        let (a2, b2) = (a.clone(), b.clone());
        let gathering = create_task(gather_tasks([a, b]));
        yield_now().await;
        gathering.cancel();
        assert_eq!(gathering.await.unwrap_err(), TaskError::Cancelled);
        yield_now().await;
        assert!(
            a2.cancelled() && b2.cancelled(),
            "the gathered tasks were cancelled"
        );

        let failing = create_task(async { panic!("boom") });
        let slow = create_task(sleep(ms(10_000)));
        let slow2 = slow.clone();
        let out = gather_tasks([failing, slow]).await;
        assert!(
            matches!(out, Err(TaskError::Panicked(ref m)) if m == "boom"),
            "{out:?}"
        );
        slow2.cancel();
    })
    .unwrap();
}

/// `run(shield(..))`: a shield made outside any loop starts its task at
/// its first poll.
#[test]
fn a_shield_made_outside_a_loop_starts_when_first_polled() {
    let shielded = corio_executor::shield(async { 5 });
    assert_eq!(corio_executor::run(shielded).unwrap(), Ok(5));
}

/// asyncio: "TaskGroup … is finished". Once `join` returned, the group
/// supervises nothing: a new task is refused, never silently unwatched.
/// While `join` waits, tasks may still be added (and are waited for).
#[test]
fn task_group_refuses_a_task_after_join_returned() {
    let lp = virtual_loop();
    let (late_joined, refused) = lp
        .run_until_complete(async {
            let group = Rc::new(TaskGroup::new());
            let adder = group.clone();
            let late = Rc::new(std::cell::Cell::new(false));
            let flag = late.clone();
            group.create_task(async move {
                sleep(secs(1)).await;
                // Added while join waits: join waits for it too.
                adder.create_task(async move {
                    sleep(secs(1)).await;
                    flag.set(true);
                });
            });
            group.join().await.unwrap();
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                group.create_task(async {});
            }));
            let message = refused.map_err(|p| corio_executor::panic_message(&*p));
            let try_refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                group.try_create_task(async { Ok::<(), String>(()) });
            }));
            assert!(try_refused.is_err(), "try_create_task after join");
            (late.get(), message)
        })
        .unwrap();
    assert!(late_joined, "a task added during join was not waited for");
    match refused {
        Err(message) => assert!(message.contains("TaskGroup is finished"), "{message}"),
        Ok(()) => panic!("create_task after join was accepted"),
    }
    assert!(lp.all_tasks().is_empty(), "a refused task was started");
    lp.close().unwrap();
}
