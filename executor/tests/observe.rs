//! Metrics and the flight recorder, on scripted workloads whose counts
//! are known exactly.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::{Arc, Mutex, mpsc};
use std::task::{Poll, Waker};
use std::time::Duration;

use corio_executor::{Clock, EventLoop, create_task, yield_now};

#[test]
fn callbacks_and_timers_are_counted_exactly() {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    let ran = Rc::new(Cell::new(0));
    for _ in 0..7 {
        let r = ran.clone();
        lp.call_soon(move || r.set(r.get() + 1));
    }
    for i in 0..5 {
        let r = ran.clone();
        lp.call_later(Duration::from_millis(10 * (i + 1)), move || {
            r.set(r.get() + 1)
        });
    }
    let stopper = lp.clone();
    lp.call_later(Duration::from_secs(1), move || stopper.stop());
    lp.run_forever().unwrap();
    assert_eq!(ran.get(), 12);
    let m = lp.metrics();
    assert_eq!(m.callbacks_run, 7 + 5 + 1);
    assert_eq!(m.timers_fired, 5 + 1);
    assert_eq!(m.timer_lateness.count(), 6);
    assert_eq!(m.steps_run, 0);
    assert_eq!(m.tasks_spawned, 0);
    assert_eq!(m.io_callbacks_run, 0);
    // The ready queue held 7 callbacks in the first iteration.
    assert_eq!(m.ready_depth.count(), m.iterations);
    assert_eq!(m.ready_depth.bucket(3), 1, "{:?}", m.ready_depth); // 7 in [4, 8)
    assert_eq!(m.fds_registered, 1); // the loop's own eventfd
}

#[test]
fn steps_and_tasks_are_counted_exactly() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                create_task(async {
                    for _ in 0..3 {
                        yield_now().await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    let m = lp.metrics();
    assert_eq!(m.tasks_spawned, 11);
    assert_eq!(m.tasks_finished, 11);
    assert_eq!(m.tasks_live, 0);
    // 4 steps each for the ten (three yields, then the return); the main
    // task's first step parks on the first child, and one more finishes.
    assert_eq!(m.steps_run, 10 * 4 + 2);
    // Items 1, 257, … are timed when they are steps: here the first.
    assert_eq!(m.poll_time.count(), 1);
    assert_eq!(m.slow_steps, 0);
}

#[test]
fn wakes_from_another_thread_are_counted_exactly() {
    const WAKES: usize = 25;
    let lp = EventLoop::new().unwrap();
    let slot: Arc<Mutex<Option<Waker>>> = Arc::default();
    let (parked_tx, parked_rx) = mpsc::channel::<()>();
    let waker_slot = slot.clone();
    let waker_thread = std::thread::spawn(move || {
        for _ in 0..WAKES {
            parked_rx.recv().unwrap();
            let waker = waker_slot.lock().unwrap().take().unwrap();
            waker.wake();
        }
    });
    let handle = lp.handle();
    let caller = std::thread::spawn(move || {
        for _ in 0..3 {
            handle.call_soon_threadsafe(|| {}).unwrap();
        }
    });
    caller.join().unwrap();
    lp.run_until_complete(async move {
        for _ in 0..WAKES {
            let mut parked = false;
            poll_fn(|cx| {
                if parked {
                    return Poll::Ready(());
                }
                parked = true;
                *slot.lock().unwrap() = Some(cx.waker().clone());
                parked_tx.send(()).unwrap();
                Poll::Pending
            })
            .await;
        }
    })
    .unwrap();
    waker_thread.join().unwrap();
    let m = lp.metrics();
    assert_eq!(m.remote_wakes, WAKES as u64);
    assert_eq!(m.remote_calls, 3);
    assert_eq!(m.steps_run, WAKES as u64 + 1);
    assert!(m.selects >= 1);
}

#[test]
fn metrics_switched_off_stay_where_they_are() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {}).unwrap();
    let before = lp.metrics();
    lp.set_metrics(false);
    assert!(!lp.metrics_enabled());
    lp.run_until_complete(async {
        create_task(async {}).await.unwrap();
    })
    .unwrap();
    let after = lp.metrics();
    assert!(!after.enabled);
    assert_eq!(after.steps_run, before.steps_run);
    assert_eq!(after.iterations, before.iterations);
    // Tasks are counted always, so that `tasks_live` stays true.
    assert_eq!(after.tasks_spawned, before.tasks_spawned + 2);
    assert_eq!(after.tasks_live, 0);
}

#[test]
fn every_loop_of_the_process_is_visible_from_another_thread() {
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async { yield_now().await }).unwrap();
    let id = lp.metrics().loop_id;
    let seen = std::thread::spawn(move || {
        corio_executor::process_metrics()
            .into_iter()
            .find(|m| m.loop_id == id)
            .map(|m| m.steps_run)
    })
    .join()
    .unwrap();
    assert_eq!(seen, Some(2));
    drop(lp);
    let gone = corio_executor::process_metrics()
        .iter()
        .any(|m| m.loop_id == id);
    assert!(!gone, "a dropped loop leaves the process's list");
}

/// `(tid, name)` of each event of the trace on a task's track, in order.
fn task_events(json: &str) -> Vec<(u64, String)> {
    json.lines()
        .filter(|l| l.contains("\"ph\":\"X\"") || l.contains("\"ph\":\"i\""))
        .filter_map(|l| {
            let name = field(l, "\"name\":\"")?;
            let tid: u64 = field(l, "\"tid\":")?.parse().ok()?;
            (tid != 0).then_some((tid, name))
        })
        .collect()
}

fn field(line: &str, key: &str) -> Option<String> {
    let start = line.find(key)? + key.len();
    let rest = &line[start..];
    let end = rest.find(['"', ',', '}'])?;
    Some(rest[..end].to_string())
}

#[test]
fn the_trace_of_a_known_script_has_exactly_its_events_in_order() {
    let lp = EventLoop::new().unwrap();
    lp.set_trace(true);
    let main = lp.create_task(async {
        let child = create_task(async { yield_now().await });
        child.set_name("child");
        child.await.unwrap();
    });
    main.set_name("main");
    let m = main.id();
    lp.run_until_complete(main).unwrap().unwrap();
    let json = lp.trace_json();
    // `run_until_complete` awaits `main` from a task of its own, `w`.
    let (w, c) = (m + 1, m + 2);
    let got = task_events(&json);
    // A step is recorded when it ends, after what happened inside it.
    let want: Vec<(u64, String)> = [
        (m, "spawn"),
        (w, "spawn"),
        (c, "spawn"), // inside main's first step
        (m, "step"),  // parked on the child
        (w, "step"),  // parked on main
        (c, "wake"),  // yield_now: the child wakes itself
        (c, "step"),
        (c, "finish"),
        (m, "wake"), // by the child's finish
        (c, "step"),
        (m, "finish"),
        (w, "wake"),
        (m, "step"),
        (w, "finish"),
        (w, "step"),
    ]
    .iter()
    .map(|(t, n)| (*t, n.to_string()))
    .collect();
    assert_eq!(got, want, "{json}");
    // The tracks are named after the tasks, and the loop's track holds the
    // iterations and their phases.
    assert!(json.contains(r#""args":{"name":"child"}"#));
    assert!(json.contains(r#""args":{"name":"main"}"#));
    assert!(json.contains(r#""name":"iteration""#));
    assert!(json.contains(r#""name":"run""#));
    assert!(json.contains(r#""by":"child""#), "the child woke main");
}

#[test]
fn a_trace_parses_as_json() {
    let lp = EventLoop::new().unwrap();
    lp.set_trace(true);
    lp.run_until_complete(async {
        let t = create_task(async { corio_executor::sleep(Duration::from_millis(2)).await });
        t.set_name("quote \" and \\ back");
        t.await.unwrap();
    })
    .unwrap();
    let json = lp.trace_json();
    let dir = std::env::temp_dir().join(format!("corio-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("t.json");
    std::fs::write(&path, &json).unwrap();
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            "import json,sys; d=json.load(open(sys.argv[1])); assert d['traceEvents']",
        ])
        .arg(&path)
        .status();
    std::fs::remove_dir_all(&dir).ok();
    match status {
        Ok(status) => assert!(status.success(), "python3 could not parse:\n{json}"),
        Err(e) => panic!("python3 is needed to check the JSON: {e}"),
    }
    assert!(json.contains(r#""name":"timer""#));
    assert!(json.contains(r#""name":"select""#));
}

#[test]
fn a_full_ring_keeps_the_newest_events() {
    let lp = EventLoop::new().unwrap();
    lp.set_trace_capacity(Some(64));
    lp.run_until_complete(async {
        for _ in 0..200 {
            yield_now().await;
        }
    })
    .unwrap();
    let json = lp.trace_json();
    let events = json.matches("\"ph\":\"X\"").count() + json.matches("\"ph\":\"i\"").count();
    // 64 ring events, each step also drawn on the loop's track.
    assert!(events <= 64 * 2, "{events}");
    assert!(json.contains("\"name\":\"finish\""), "the newest are kept");
    lp.set_trace(false);
    assert!(!lp.trace_enabled());
    assert_eq!(
        lp.trace_json(),
        "{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n]}\n"
    );
}

/// How many of this process's threads are named `name`.
fn threads_named(name: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == name)
        .count()
}

#[test]
fn the_watchdog_runs_while_a_loop_is_open_and_no_longer() {
    // Alone in its process (see `child_of_watchdog_test`): other tests'
    // loops would keep the watchdog up.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_of_watchdog_test",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CORIO_WATCHDOG_CHILD", "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("watchdog checked"), "{text}");
}

#[test]
fn child_of_watchdog_test() {
    if std::env::var_os("CORIO_WATCHDOG_CHILD").is_none() {
        return;
    }
    assert_eq!(threads_named("corio-watchdog"), 0);
    let lp = EventLoop::new().unwrap();
    assert_eq!(threads_named("corio-watchdog"), 0, "not before a loop runs");
    lp.run_until_complete(async {}).unwrap();
    // The thread names itself once it runs.
    assert!(testkit::eventually(|| threads_named("corio-watchdog") == 1));
    let second = EventLoop::new().unwrap();
    second.run_until_complete(async {}).unwrap();
    assert_eq!(threads_named("corio-watchdog"), 1, "one for the process");
    drop(second);
    assert_eq!(threads_named("corio-watchdog"), 1, "a loop is still open");
    drop(lp);
    assert_eq!(
        threads_named("corio-watchdog"),
        0,
        "gone with the last loop"
    );
    let off = EventLoop::new().unwrap();
    off.set_metrics(false);
    off.run_until_complete(async {}).unwrap();
    assert_eq!(
        threads_named("corio-watchdog"),
        0,
        "not for a loop without metrics"
    );
    println!("watchdog checked");
}

// ------------------------------------------- found by a review, each a test ---

#[test]
fn switching_the_recorder_on_mid_run_does_not_count_the_time_before() {
    let lp = EventLoop::new().unwrap();
    let reports = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let r = reports.clone();
    lp.set_exception_handler(Some(move |c: &corio_executor::ExceptionContext| {
        r.borrow_mut().push(c.message.clone())
    }));
    // A limit well above what a loaded machine's preemption can add.
    lp.set_slow_callback_duration(Duration::from_millis(450));
    let handle = lp.clone();
    lp.run_until_complete(async move {
        corio_executor::sleep(Duration::from_millis(600)).await;
        handle.set_trace(true);
        for _ in 0..3 {
            yield_now().await;
        }
    })
    .unwrap();
    assert_eq!(*reports.borrow(), Vec::<String>::new(), "no slow step");
    let json = lp.trace_json();
    let longest = json
        .lines()
        .filter(|l| l.contains(r#""name":"iteration""#))
        .filter_map(|l| field(l, "\"dur\":"))
        .filter_map(|d| d.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(
        longest < 400_000.0,
        "an iteration of {longest} µs in\n{json}"
    );
}

#[test]
fn debug_mode_counts_its_iterations_too() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(true);
    lp.run_until_complete(async {
        for _ in 0..5 {
            yield_now().await;
        }
    })
    .unwrap();
    let m = lp.metrics();
    assert!(m.iterations >= 6, "{m:?}");
    assert_eq!(m.ready_depth.count(), m.iterations);
}

#[test]
fn tasks_live_stays_true_when_metrics_are_switched() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.clone();
    lp.run_until_complete(async move {
        let tasks: Vec<_> = (0..3).map(|_| create_task(yield_now())).collect();
        handle.set_metrics(false);
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    let m = lp.metrics();
    assert_eq!((m.tasks_spawned, m.tasks_finished, m.tasks_live), (4, 4, 0));
}

#[test]
fn metrics_off_counts_no_timers() {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).unwrap();
    lp.set_metrics(false);
    lp.run_until_complete(async {
        for _ in 0..3 {
            corio_executor::sleep(Duration::from_millis(5)).await;
        }
    })
    .unwrap();
    assert_eq!(lp.metrics().timers_fired, 0);
}

#[test]
fn fds_registered_is_current_for_other_threads() {
    let lp = EventLoop::new().unwrap();
    let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
    use std::os::fd::AsRawFd;
    lp.add_reader(a.as_raw_fd(), || {}).unwrap();
    let id = lp.metrics().loop_id;
    let seen = || {
        corio_executor::process_metrics()
            .into_iter()
            .find(|m| m.loop_id == id)
            .map(|m| m.fds_registered)
    };
    assert_eq!(seen(), Some(2));
    assert!(lp.remove_reader(a.as_raw_fd()));
    assert_eq!(seen(), Some(1));
}

#[test]
fn two_tasks_taking_turns_both_get_timed_steps() {
    use corio_executor::observe::inspect::running_loop_tasks;
    let lp = EventLoop::new().unwrap();
    let tasks = lp
        .run_until_complete(async {
            let turn = std::rc::Rc::new(Cell::new(0u32));
            let player = |me: u32, turn: std::rc::Rc<Cell<u32>>| async move {
                while turn.get() < 20_000 {
                    if turn.get() % 2 == me {
                        turn.set(turn.get() + 1);
                    }
                    yield_now().await;
                }
            };
            let a = create_task(player(0, turn.clone()));
            let b = create_task(player(1, turn.clone()));
            while turn.get() < 19_000 {
                yield_now().await;
            }
            let snapshot = running_loop_tasks();
            a.await.unwrap();
            b.await.unwrap();
            snapshot
        })
        .unwrap();
    let timed = tasks.iter().filter(|t| t.poll_time.is_some()).count();
    assert_eq!(timed, 3, "{tasks:?}");
}

#[test]
fn an_inspector_trace_leaves_a_late_loop_as_it_was() {
    // A loop busy in one step past the inspector's answer time takes the
    // "start recording" request late: it must not start then.
    let lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let asker = std::thread::spawn(|| corio_executor::observe::inspect::answer("trace 0.1"));
        std::thread::sleep(Duration::from_millis(900)); // blocks the loop
        yield_now().await; // the late request runs here
        asker.join().unwrap()
    })
    .unwrap();
    lp.run_until_complete(yield_now()).unwrap();
    assert!(!lp.trace_enabled(), "the recorder was left on");
}
