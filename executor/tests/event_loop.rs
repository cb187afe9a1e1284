//! The event loop: ordering (as traces), run/stop/close rules, threads.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corio_executor::{EventLoop, LoopError, RunError, get_running_loop, run, sleep};

type Trace = Rc<RefCell<Vec<String>>>;

fn trace() -> Trace {
    Rc::new(RefCell::new(Vec::new()))
}

fn log(trace: &Trace, what: &str) -> impl FnOnce() + 'static {
    let (trace, what) = (trace.clone(), what.to_string());
    move || trace.borrow_mut().push(what)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn stop_after(lp: &EventLoop, delay: Duration) {
    let stopper = lp.clone();
    lp.call_later(delay, move || stopper.stop());
}

#[test]
fn call_soon_is_fifo() {
    let lp = EventLoop::new().unwrap();
    let t = trace();
    for i in 0..5 {
        lp.call_soon(log(&t, &i.to_string()));
    }
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["0", "1", "2", "3", "4"]);
}

#[test]
fn call_later_fires_by_deadline_not_insertion() {
    let lp = EventLoop::new().unwrap();
    let t = trace();
    lp.call_later(ms(30), log(&t, "30"));
    lp.call_later(ms(10), log(&t, "10"));
    lp.call_later(ms(20), log(&t, "20"));
    let now = lp.time();
    lp.call_at(now + ms(20), log(&t, "20 again, scheduled later"));
    stop_after(&lp, ms(40));
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["10", "20", "20 again, scheduled later", "30"]);
}

#[test]
fn call_soon_before_run_runs_before_call_later_zero() {
    let lp = EventLoop::new().unwrap();
    let t = trace();
    lp.call_later(Duration::ZERO, log(&t, "later(0)"));
    lp.call_soon(log(&t, "soon"));
    stop_after(&lp, ms(5));
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["soon", "later(0)"]);
}

#[test]
fn callback_scheduled_by_a_callback_runs_next_iteration() {
    let lp = EventLoop::new().unwrap();
    let t = trace();
    let (inner_lp, inner_t) = (lp.clone(), t.clone());
    lp.call_soon(move || {
        inner_t.borrow_mut().push("first".into());
        inner_lp.call_soon(log(&inner_t, "scheduled by first"));
    });
    lp.call_soon(log(&t, "second"));
    // stop() is seen at the end of the iteration: only that iteration runs.
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["first", "second"]);
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["first", "second", "scheduled by first"]);
}

#[test]
fn cancelled_handles_do_not_run() {
    let lp = EventLoop::new().unwrap();
    let t = trace();
    let h = lp.call_soon(log(&t, "cancelled soon"));
    let th = lp.call_later(ms(1), log(&t, "cancelled later"));
    lp.call_soon(log(&t, "kept"));
    h.cancel();
    th.cancel();
    assert!(h.cancelled() && th.cancelled());
    stop_after(&lp, ms(5));
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["kept"]);
}

#[test]
fn run_until_complete_returns_the_value() {
    let lp = EventLoop::new().unwrap();
    let out = lp.run_until_complete(async {
        sleep(ms(1)).await;
        "value"
    });
    assert_eq!(out, Ok("value"));
}

#[test]
fn run_forever_stop_and_run_again() {
    let lp = EventLoop::new().unwrap();
    let count = Rc::new(RefCell::new(0));
    for _ in 0..2 {
        let c = count.clone();
        lp.call_soon(move || *c.borrow_mut() += 1);
        stop_after(&lp, ms(1));
        lp.run_forever().unwrap();
        assert!(!lp.is_running());
    }
    assert_eq!(*count.borrow(), 2);
}

#[test]
fn closed_loop_refuses_to_run() {
    let lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    lp.close().unwrap(); // twice is harmless
    assert!(lp.is_closed());
    assert_eq!(lp.run_forever(), Err(LoopError::Closed));
    assert_eq!(
        lp.run_until_complete(async {}),
        Err(RunError::Loop(LoopError::Closed))
    );
    assert_eq!(LoopError::Closed.to_string(), "Event loop is closed");
}

#[test]
#[should_panic(expected = "Event loop is closed")]
fn scheduling_on_a_closed_loop_panics() {
    let lp = EventLoop::new().unwrap();
    lp.close().unwrap();
    lp.call_soon(|| {});
}

#[test]
fn close_while_running_and_nested_run_are_errors() {
    let lp = EventLoop::new().unwrap();
    let inner = lp.clone();
    let errors = lp
        .run_until_complete(async move {
            let close = inner.close();
            let nested = inner.run_until_complete(async {});
            let forever = inner.run_forever();
            (close, nested, forever)
        })
        .unwrap();
    assert_eq!(errors.0, Err(LoopError::CloseWhileRunning));
    assert_eq!(errors.1, Err(RunError::Loop(LoopError::AlreadyRunning)));
    assert_eq!(errors.2, Err(LoopError::AlreadyRunning));
    assert!(!lp.is_closed());
}

#[test]
fn another_loop_on_the_same_thread_is_refused() {
    let outer = EventLoop::new().unwrap();
    let result = outer
        .run_until_complete(async {
            let other = EventLoop::new().unwrap();
            other.run_until_complete(async { 1 })
        })
        .unwrap();
    assert_eq!(result, Err(RunError::Loop(LoopError::AnotherLoopRunning)));
}

#[test]
fn stopped_before_the_future_completed() {
    let lp = EventLoop::new().unwrap();
    stop_after(&lp, ms(1));
    let out = lp.run_until_complete(sleep(Duration::from_secs(60)));
    assert_eq!(out, Err(RunError::Loop(LoopError::StoppedBeforeComplete)));
    assert_eq!(
        LoopError::StoppedBeforeComplete.to_string(),
        "Event loop stopped before Future completed."
    );
}

#[test]
fn get_running_loop_only_inside() {
    assert_eq!(get_running_loop().unwrap_err(), LoopError::NoRunningLoop);
    let inside = run(async { get_running_loop().is_ok() }).unwrap();
    assert!(inside);
}

#[test]
fn call_soon_threadsafe_from_8_threads_runs_each_exactly_once() {
    const THREADS: usize = 8;
    const CALLS: usize = 10_000;
    let lp = EventLoop::new().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let seen = Rc::new(RefCell::new(vec![0u8; THREADS * CALLS]));
    let (tx, rx) = std::sync::mpsc::channel::<usize>();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let (handle, ran, tx) = (lp.handle(), ran.clone(), tx.clone());
            std::thread::spawn(move || {
                for i in 0..CALLS {
                    let (ran, tx) = (ran.clone(), tx.clone());
                    handle
                        .call_soon_threadsafe(move || {
                            ran.fetch_add(1, Ordering::SeqCst);
                            tx.send(t * CALLS + i).unwrap();
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    // Stop once everything has run.
    let (stopper, counter) = (lp.clone(), ran.clone());
    let seen2 = seen.clone();
    fn poll(
        lp: EventLoop,
        counter: Arc<AtomicUsize>,
        rx: std::sync::mpsc::Receiver<usize>,
        seen: Rc<RefCell<Vec<u8>>>,
    ) {
        for id in rx.try_iter() {
            seen.borrow_mut()[id] += 1;
        }
        if counter.load(Ordering::SeqCst) == THREADS * CALLS {
            lp.stop();
        } else {
            let again = lp.clone();
            lp.call_later(Duration::from_millis(1), move || {
                poll(again, counter, rx, seen)
            });
        }
    }
    lp.call_soon(move || poll(stopper, counter, rx, seen2));
    lp.run_forever().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(ran.load(Ordering::SeqCst), THREADS * CALLS);
    let seen = seen.borrow();
    assert!(
        seen.iter().all(|&n| n == 1),
        "each callback ran exactly once"
    );
}

#[test]
fn call_soon_threadsafe_after_close_is_an_error() {
    let lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    lp.close().unwrap();
    assert!(handle.is_closed());
    assert_eq!(handle.call_soon_threadsafe(|| {}), Err(LoopError::Closed));
    assert_eq!(handle.stop(), Err(LoopError::Closed));
}

#[test]
fn a_std_thread_wakes_a_task_after_50ms() {
    let lp = EventLoop::new().unwrap();
    let start = Instant::now();
    let woken = lp
        .run_until_complete(async {
            let mut fired = false;
            std::future::poll_fn(|cx| {
                if fired {
                    return std::task::Poll::Ready(());
                }
                fired = true;
                let waker = cx.waker().clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    waker.wake();
                });
                std::task::Poll::Pending
            })
            .await;
            true
        })
        .unwrap();
    assert!(woken);
    assert!(start.elapsed() >= ms(50));
}

#[test]
fn panicking_callback_reaches_the_handler_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    // Printing a panic's backtrace can take longer than 100 ms.
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    let reports = trace();
    let r = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &corio_executor::ExceptionContext| {
        r.borrow_mut().push(format!(
            "{}: {}",
            ctx.message,
            ctx.exception.clone().unwrap_or_default()
        ));
    }));
    let t = trace();
    lp.call_soon(|| panic!("boom"));
    lp.call_soon(log(&t, "after the panic"));
    stop_after(&lp, ms(1));
    lp.run_forever().unwrap();
    assert_eq!(*t.borrow(), ["after the panic"]);
    assert_eq!(*reports.borrow(), ["Exception in callback: boom"]);
}

/// Runs a 60 ms callback and a quick one with a 20 ms threshold; returns
/// the reports.
fn slow_callback_reports(debug: bool) -> Vec<String> {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(debug);
    lp.set_slow_callback_duration(ms(20));
    let reports = capture_reports(&lp);
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(120)));
    lp.call_soon(|| {});
    lp.stop();
    lp.run_forever().unwrap();
    reports.take()
}

/// The messages the loop's exception handler is given from now on.
fn capture_reports(lp: &EventLoop) -> Rc<RefCell<Vec<String>>> {
    let reports = trace();
    let r = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &corio_executor::ExceptionContext| {
        r.borrow_mut().push(ctx.message.clone())
    }));
    reports
}

#[test]
fn slow_callbacks_are_reported_in_debug_mode() {
    let reports = slow_callback_reports(true);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with("Executing a callback took 0."),
        "{reports:?}"
    );
}

#[test]
fn a_slow_task_step_is_reported_with_where_the_task_was_created() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(true);
    lp.set_slow_callback_duration(ms(20));
    let reports = capture_reports(&lp);
    let line = line!() + 1;
    let task = lp.create_task(async { std::thread::sleep(Duration::from_millis(60)) });
    task.set_name("sleeper");
    lp.run_until_complete(task).unwrap().unwrap();
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let expected = format!("Executing <Task 'sleeper' created at {}:{line}", file!());
    assert!(reports[0].starts_with(&expected), "{reports:?}");
}

#[test]
fn slow_callbacks_are_reported_outside_debug_mode_too_while_metrics_are_on() {
    // asyncio reports them in debug mode only; corio's metrics catch them
    // on the coarse clock.
    let reports = slow_callback_reports(false);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("Executing a callback took 0."));
}

#[test]
fn with_metrics_off_slow_callbacks_are_timed_in_debug_mode_only() {
    let lp = EventLoop::new().unwrap();
    lp.set_metrics(false);
    lp.set_slow_callback_duration(ms(20));
    let reports = capture_reports(&lp);
    lp.call_soon(|| std::thread::sleep(Duration::from_millis(40)));
    lp.stop();
    lp.run_forever().unwrap();
    assert_eq!(*reports.borrow(), Vec::<String>::new());
    assert_eq!(lp.metrics().slow_steps, 0);
}

/// Runs a task whose three steps each sleep 120 ms, with `debug` as given;
/// returns the reports and the loop's slow-step count.
fn slow_steps_of_one_task(debug: bool) -> (Vec<String>, u64) {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(debug);
    lp.set_slow_callback_duration(ms(20));
    let reports = capture_reports(&lp);
    let task = lp.create_task(async {
        for _ in 0..3 {
            // Well over the limit: the watchdog's look must fall inside
            // the step, also on a loaded machine.
            std::thread::sleep(Duration::from_millis(120));
            corio_executor::yield_now().await;
        }
    });
    task.set_name("hog");
    lp.run_until_complete(task).unwrap().unwrap();
    let slow = lp.metrics().slow_steps;
    (reports.take(), slow)
}

#[test]
fn outside_debug_mode_a_slow_task_is_reported_once_and_counted_each_time() {
    let (reports, slow) = slow_steps_of_one_task(false);
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(reports[0].starts_with("Executing <Task 'hog' created at"));
    assert_eq!(slow, 3);
}

#[test]
fn in_debug_mode_every_slow_step_is_reported_as_asyncio_does() {
    let (reports, slow) = slow_steps_of_one_task(true);
    assert_eq!(reports.len(), 3, "{reports:?}");
    assert_eq!(slow, 3);
}

#[test]
fn readers_and_writers_fire_and_can_be_removed() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    let lp = EventLoop::new().unwrap();
    let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let b = Rc::new(RefCell::new(b));
    let got = trace();
    let (g, reader_b, stopper) = (got.clone(), b.clone(), lp.clone());
    let fd = b.borrow().as_raw_fd();
    lp.add_reader(fd, move || {
        let mut buf = [0; 16];
        let n = reader_b.borrow_mut().read(&mut buf).unwrap();
        g.borrow_mut()
            .push(String::from_utf8_lossy(&buf[..n]).into_owned());
        stopper.stop();
    })
    .unwrap();
    a.write_all(b"readable").unwrap();
    lp.run_forever().unwrap();
    assert_eq!(*got.borrow(), ["readable"]);
    assert!(lp.remove_reader(fd));
    assert!(!lp.remove_reader(fd), "nothing left to remove");
    assert!(!lp.remove_writer(fd));

    let writes = Rc::new(RefCell::new(0));
    let (w, stopper) = (writes.clone(), lp.clone());
    lp.add_writer(fd, move || {
        *w.borrow_mut() += 1;
        stopper.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    assert_eq!(*writes.borrow(), 1);
    assert!(lp.remove_writer(fd));
    // A closed fd is the selector's EBADF.
    let err = lp.add_reader(-5, || {}).unwrap_err();
    assert!(err.to_string().contains("Invalid file descriptor"), "{err}");
}

#[test]
fn a_timer_is_on_time_after_a_pause_between_runs() {
    let lp = EventLoop::new().unwrap();
    lp.stop();
    lp.run_forever().unwrap();
    std::thread::sleep(ms(300)); // the loop is idle; time passes
    let fired = Rc::new(RefCell::new(None));
    let (f, clock) = (fired.clone(), lp.clone());
    let due = lp.time() + ms(20);
    lp.call_at(due, move || *f.borrow_mut() = Some(clock.time()));
    stop_after(&lp, ms(700));
    lp.run_forever().unwrap();
    let at = fired.borrow().expect("fired");
    assert!(at >= due);
    let late = at - due;
    assert!(
        late < ms(150),
        "fired {late:?} late: a stale clock reading adds the 300 ms pause"
    );
}

#[test]
fn get_event_loop_without_any_loop_is_an_error() {
    corio_executor::set_event_loop(None);
    let err = corio_executor::get_event_loop().unwrap_err();
    assert!(matches!(err, LoopError::NoCurrentLoop(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("There is no current event loop in thread")
    );
    let lp = EventLoop::new().unwrap();
    corio_executor::set_event_loop(Some(&lp));
    assert!(corio_executor::get_event_loop().is_ok());
    corio_executor::set_event_loop(None);
}

#[test]
fn run_inside_a_running_loop_is_refused() {
    let inner = run(async { run(async { 1 }) }).unwrap();
    assert_eq!(inner, Err(RunError::Loop(LoopError::AnotherLoopRunning)));
}

#[test]
fn readers_on_a_closed_loop_are_refused() {
    let lp = EventLoop::new().unwrap();
    let (_a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&b);
    lp.close().unwrap();
    let err = lp.add_reader(fd, || {}).unwrap_err();
    assert_eq!(err.to_string(), "Selector is closed");
    assert!(lp.add_writer(fd, || {}).is_err());
    assert!(!lp.remove_reader(fd));
    assert!(!lp.remove_writer(fd));
}

/// Memory comes back: after a storm of a million cancelled timers, of
/// tasks and of callbacks, the loop's structures hold less than a tenth of
/// their peak.
#[test]
fn the_loops_structures_shrink_after_a_storm() {
    use std::time::Duration;
    let lp = EventLoop::new().unwrap();
    let handles: Vec<_> = (0..1_000_000u64)
        .map(|i| lp.call_later(Duration::from_secs(60 + i % 1000), || {}))
        .collect();
    let peak = lp.capacities().timers;
    for handle in &handles {
        handle.cancel();
    }
    drop(handles);
    let timers = lp.capacities().timers;
    assert!(timers * 10 < peak, "timers: {timers} of {peak} kept");

    let (peak_tasks, peak_ready) = lp
        .run_until_complete(async {
            let tasks: Vec<_> = (0..200_000)
                .map(|_| corio_executor::create_task(async {}))
                .collect();
            let lp = corio_executor::get_running_loop().unwrap();
            for _ in 0..200_000 {
                lp.call_soon(|| {});
            }
            let peak = lp.capacities();
            for task in tasks {
                task.await.unwrap();
            }
            corio_executor::yield_now().await;
            (peak.tasks, peak.ready)
        })
        .unwrap();
    let now = lp.capacities();
    assert!(
        now.tasks * 10 < peak_tasks,
        "tasks: {} of {peak_tasks} kept",
        now.tasks
    );
    assert!(
        now.ready * 10 < peak_ready,
        "ready: {} of {peak_ready} kept",
        now.ready
    );
    lp.close().unwrap();
}

/// The thread's timer slack as the kernel reports it (`PR_GET_TIMERSLACK`;
/// `/proc` shows only the main thread's).
fn thread_slack_ns() -> u128 {
    corio_timer::TimerSlack::current().as_nanos()
}

#[test]
fn the_loop_lowers_the_threads_timer_slack_while_it_runs_and_restores_it() {
    std::thread::spawn(|| {
        // A known value to come back to (a normal thread has 50 µs, but a
        // runner may have changed what threads inherit).
        let _known = corio_timer::TimerSlack::set(Duration::from_micros(37));
        let before = thread_slack_ns();
        assert_eq!(before, 37_000);
        let lp = EventLoop::new().unwrap();
        let inside = lp.run_until_complete(async { thread_slack_ns() }).unwrap();
        assert_eq!(inside, 1_000, "1 µs while the loop runs");
        assert_eq!(thread_slack_ns(), before, "the thread's own value is back");

        lp.set_timer_slack(Some(Duration::from_micros(20)));
        let inside = lp.run_until_complete(async { thread_slack_ns() }).unwrap();
        assert_eq!(inside, 20_000);

        lp.set_timer_slack(None);
        let inside = lp.run_until_complete(async { thread_slack_ns() }).unwrap();
        assert_eq!(inside, before, "None leaves the thread's slack alone");
        assert_eq!(thread_slack_ns(), before);
    })
    .join()
    .unwrap();
}

/// Sets its flag when dropped: shows that what held it was freed.
struct DropFlag(Rc<std::cell::Cell<bool>>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

/// asyncio's background-tasks idiom: a done callback that holds its own
/// task (to remove it from a set). A task dropped pending at close must
/// take its callbacks with it, or the task and the callback keep each
/// other alive forever.
#[test]
fn a_pending_task_whose_done_callback_holds_it_is_freed_at_close() {
    let freed = Rc::new(std::cell::Cell::new(false));
    let lp = EventLoop::new().unwrap();
    lp.set_exception_handler(Some(|_: &corio_executor::ExceptionContext| {}));
    let task = lp.create_task(std::future::pending::<()>());
    let flag = DropFlag(freed.clone());
    let background = Rc::new(RefCell::new(vec![task.clone()]));
    let set = background.clone();
    let me = task.clone();
    task.add_done_callback(move |_| {
        let _flag = &flag;
        set.borrow_mut().retain(|t| !t.as_ref().same(&me.as_ref()));
    });
    background.borrow_mut().clear();
    drop(task);
    lp.run_until_complete(corio_executor::yield_now()).unwrap();
    lp.close().unwrap();
    assert!(freed.get(), "the task cell and its callback leaked");
}

/// A coroutine whose destructor panics when `close` drops it: `close`
/// still finishes (closed, every other task dropped) and the panic is
/// reported through the exception handler, not propagated.
#[test]
fn a_panicking_destructor_during_close_is_reported_and_close_finishes() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            panic!("destructor failed");
        }
    }
    let reports = trace();
    let lp = EventLoop::new().unwrap();
    let seen = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &corio_executor::ExceptionContext| {
        seen.borrow_mut()
            .push(format!("{} / {:?}", ctx.message, ctx.exception));
    }));
    let freed = Rc::new(std::cell::Cell::new(false));
    let flag = DropFlag(freed.clone());
    lp.create_task(async move {
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    lp.create_task(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    let bomb = PanicOnDrop;
    lp.call_later(ms(3_600_000), move || drop(bomb));
    lp.run_until_complete(corio_executor::yield_now()).unwrap();
    let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lp.close()));
    assert!(matches!(closed, Ok(Ok(()))), "close did not finish");
    assert!(lp.is_closed());
    assert!(
        freed.get(),
        "the task after the panicking one was not dropped"
    );
    let reports = reports.borrow();
    let dropping: Vec<_> = reports
        .iter()
        .filter(|r| r.contains("Exception while dropping") && r.contains("destructor failed"))
        .collect();
    assert_eq!(dropping.len(), 2, "{reports:?}");
}

/// A panic that escapes an iteration (here a foreign waker that panics
/// when a timer wakes it) unwinds out of `run_until_complete`, and the
/// loop is left idle, not "running" forever: asyncio's `finally` in
/// `run_forever`. It runs again afterwards.
#[test]
fn a_panic_out_of_an_iteration_leaves_the_loop_idle_and_usable() {
    struct PanicWake;
    impl std::task::Wake for PanicWake {
        fn wake(self: Arc<Self>) {
            panic!("a waker that panics");
        }
    }
    let lp = EventLoop::new().unwrap();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        lp.run_until_complete(async {
            let mut nap = Box::pin(sleep(ms(1)));
            let waker = std::task::Waker::from(Arc::new(PanicWake));
            let mut cx = std::task::Context::from_waker(&waker);
            assert!(nap.as_mut().poll(&mut cx).is_pending());
            std::future::pending::<()>().await;
        })
    }));
    assert!(unwound.is_err(), "the waker's panic unwound out of the run");
    assert!(!lp.is_running());
    assert!(get_running_loop().is_err(), "no loop is left running here");
    lp.stop(); // remembered: the next run takes one iteration
    lp.run_forever().unwrap();
    assert_eq!(lp.run_until_complete(async { 7 }).unwrap(), 7);
    lp.close().unwrap();
}
