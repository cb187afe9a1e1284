//! `add_signal_handler` / `remove_signal_handler` with real signals sent to
//! this process. Dispositions are process-wide and the tests run in
//! parallel, so each test uses its own signal number (real-time signals,
//! whose default action would end the process: a test raises one only
//! while it is handled).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corio_executor::{
    EventLoop, LoopError, SignalError, add_signal_handler, get_running_loop, remove_signal_handler,
    run, sleep,
};
use corio_reactor::signal::{Disposition, SIGKILL, SIGSTOP, disposition, raise_signal};

/// A real-time signal number of this test's own (`SIGRTMIN` is 34 or 35
/// under glibc, whose threads use the first one or two).
fn rt(n: i32) -> i32 {
    40 + n
}

#[test]
fn a_signal_runs_its_handler_as_a_loop_callback() {
    let sig = rt(0);
    let lp = EventLoop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, stopper) = (seen.clone(), lp.clone());
    lp.add_signal_handler(sig, move || {
        // An ordinary callback: on the loop's thread, with the loop running.
        s.borrow_mut().push(get_running_loop().is_ok());
        stopper.stop();
    })
    .unwrap();
    assert_eq!(disposition(sig).unwrap(), Disposition::Corio);
    raise_signal(sig).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(*seen.borrow(), [true]);

    // A second delivery runs it again.
    raise_signal(sig).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(seen.borrow().len(), 2);
    lp.close().unwrap();
}

#[test]
fn adding_again_replaces_the_callback_and_removing_restores_the_disposition() {
    let sig = rt(1);
    let before = disposition(sig).unwrap();
    assert_eq!(before, Disposition::Default);
    let lp = EventLoop::new().unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (s, stopper) = (seen.clone(), lp.clone());
    lp.add_signal_handler(sig, move || s.borrow_mut().push("first"))
        .unwrap();
    let s = seen.clone();
    lp.add_signal_handler(sig, move || {
        s.borrow_mut().push("second");
        stopper.stop();
    })
    .unwrap();
    raise_signal(sig).unwrap();
    lp.run_forever().unwrap();
    assert_eq!(*seen.borrow(), ["second"]);

    assert!(lp.remove_signal_handler(sig).unwrap());
    assert_eq!(disposition(sig).unwrap(), before);
    assert!(
        !lp.remove_signal_handler(sig).unwrap(),
        "nothing left to remove"
    );
    lp.close().unwrap();
}

#[test]
fn bad_signal_numbers_are_typed_errors() {
    let lp = EventLoop::new().unwrap();
    for bad in [0, -1, 65, 1000] {
        assert!(
            matches!(lp.add_signal_handler(bad, || {}), Err(SignalError::Invalid(n)) if n == bad),
            "{bad}"
        );
        assert!(matches!(
            lp.remove_signal_handler(bad),
            Err(SignalError::Invalid(_))
        ));
    }
    for uncatchable in [SIGKILL, SIGSTOP] {
        let err = lp.add_signal_handler(uncatchable, || {}).unwrap_err();
        assert!(matches!(err, SignalError::Uncatchable(n) if n == uncatchable));
        assert_eq!(
            err.to_string(),
            format!("sig {uncatchable} cannot be caught")
        );
    }
    lp.close().unwrap();
    let err = lp.add_signal_handler(rt(2), || {}).unwrap_err();
    assert!(matches!(err, SignalError::Loop(LoopError::Closed)), "{err}");
    assert_eq!(disposition(rt(2)).unwrap(), Disposition::Default);
}

#[test]
fn the_free_functions_need_a_running_loop() {
    let err = add_signal_handler(rt(3), || {}).unwrap_err();
    assert!(
        matches!(err, SignalError::Loop(LoopError::NoRunningLoop)),
        "{err}"
    );
    let err = remove_signal_handler(rt(3)).unwrap_err();
    assert!(
        matches!(err, SignalError::Loop(LoopError::NoRunningLoop)),
        "{err}"
    );
    // Inside one, they use it.
    let got = run(async {
        let seen = Rc::new(RefCell::new(0));
        let s = seen.clone();
        add_signal_handler(rt(3), move || *s.borrow_mut() += 1).unwrap();
        raise_signal(rt(3)).unwrap();
        while *seen.borrow() == 0 {
            sleep(Duration::from_millis(1)).await;
        }
        assert!(remove_signal_handler(rt(3)).unwrap());
        seen.take()
    })
    .unwrap();
    assert_eq!(got, 1);
    assert_eq!(disposition(rt(3)).unwrap(), Disposition::Default);
}

#[test]
fn one_loop_at_a_time_per_signal_and_closing_gives_it_back() {
    let sig = rt(4);
    let first = EventLoop::new().unwrap();
    first.add_signal_handler(sig, || {}).unwrap();
    // Another loop, here on another thread, is refused while the first has it.
    let refused = std::thread::spawn(move || {
        let second = EventLoop::new().unwrap();
        let err = second.add_signal_handler(sig, || {}).unwrap_err();
        let refused = matches!(err, SignalError::InUse(n) if n == sig);
        second.close().unwrap();
        refused
    })
    .join()
    .unwrap();
    assert!(refused);
    // Closing the first loop restores the disposition and frees the signal.
    first.close().unwrap();
    assert_eq!(disposition(sig).unwrap(), Disposition::Default);
    let second = EventLoop::new().unwrap();
    second.add_signal_handler(sig, || {}).unwrap();
    second.close().unwrap();
    assert_eq!(disposition(sig).unwrap(), Disposition::Default);
}

#[test]
fn queued_real_time_signals_each_run_the_handler() {
    let sig = rt(5);
    let lp = EventLoop::new().unwrap();
    let count = Rc::new(RefCell::new(0));
    let c = count.clone();
    lp.add_signal_handler(sig, move || *c.borrow_mut() += 1)
        .unwrap();
    for _ in 0..3 {
        raise_signal(sig).unwrap();
    }
    // Real-time signals queue (standard ones would merge): all three
    // arrive, three bytes go down the pipe, and the loop runs the handler
    // for each.
    let stopper = lp.clone();
    lp.call_later(Duration::from_millis(50), move || stopper.stop());
    lp.run_forever().unwrap();
    assert_eq!(*count.borrow(), 3);
    lp.close().unwrap();
}

/// Issue 19's regression: a loop whose only fds are its own (waker and
/// signal pipe) skips the zero-timeout select while tasks hand work to
/// each other, and still sees a signal that arrives while it never blocks.
#[test]
fn a_signal_pipe_costs_no_select_per_iteration_and_loses_no_signal() {
    const ROUNDS: u32 = 10_000;
    let sig = rt(6);
    let lp = EventLoop::new().unwrap();
    let seen = Rc::new(std::cell::Cell::new(false));
    let s = seen.clone();
    lp.add_signal_handler(sig, move || s.set(true)).unwrap();
    let before = lp.io_tick();
    lp.run_until_complete(async move {
        // Two tasks taking turns: each round wakes the other, never blocks.
        let other = corio_executor::create_task(async move {
            for _ in 0..ROUNDS {
                corio_executor::yield_now().await;
            }
        });
        for _ in 0..ROUNDS {
            corio_executor::yield_now().await;
        }
        other.await.unwrap();
    })
    .unwrap();
    let selects = lp.io_tick() - before;
    assert!(selects < 100, "{selects} selects for {ROUNDS} rounds");
    // Still never blocking: only the count of written signals can tell the
    // loop to look at its pipe. (The signal goes to the process, so another
    // thread may take it: allow it time.)
    raise_signal(sig).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let s = seen.clone();
    lp.run_until_complete(async move {
        while !s.get() && std::time::Instant::now() < deadline {
            corio_executor::yield_now().await;
        }
    })
    .unwrap();
    assert!(seen.get(), "the signal was lost");
    assert!(lp.remove_signal_handler(sig).unwrap());
    lp.close().unwrap();
}

#[test]
fn a_signal_dumps_the_recorders_trace() {
    let sig = rt(9);
    let dir = std::env::temp_dir().join(format!("corio-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("trace.json");
    let lp = EventLoop::new().unwrap();
    lp.set_trace(true);
    lp.dump_trace_on_signal(sig, &path).unwrap();
    lp.run_until_complete(async move {
        let t = corio_executor::create_task(async { corio_executor::yield_now().await });
        t.set_name("traced");
        t.await.unwrap();
        raise_signal(sig).unwrap();
        // The handler runs as a callback of a later iteration.
        corio_executor::sleep(std::time::Duration::from_millis(20)).await;
    })
    .unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(json.starts_with("{\"displayTimeUnit\""), "{json}");
    assert!(json.contains(r#""args":{"name":"traced"}"#), "{json}");
    assert!(lp.remove_signal_handler(sig).unwrap());
    lp.close().unwrap();
}
