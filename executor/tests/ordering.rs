//! The ordering an iteration keeps when it leaves out its select: with a
//! user fd registered, a loop with work ready selects only once per
//! `select_interval` items (`EventLoop::set_select_interval`), and a
//! waking reader (`add_waking_reader`) queues its task's step in the
//! iteration whose select found the fd. What must not change is asyncio's
//! rule: an iteration runs exactly the callbacks ready when its run phase
//! starts, FIFO, and whatever they schedule waits for the next one.
//!
//! Iterations are told apart by the loop's `iterations` metric, which an
//! iteration bumps as its run phase starts: a callback reads its own
//! iteration's number.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio_executor::{EventLoop, create_task, get_running_loop, yield_now};

/// The iteration running now (the loop's `iterations` metric).
fn iteration(lp: &EventLoop) -> u64 {
    lp.metrics().iterations
}

/// A loop with metrics on and one idle user fd registered, so that the
/// select is not skipped merely for want of fds; the fd's peer is
/// returned to keep it open.
fn loop_with_an_idle_fd() -> (EventLoop, UnixStream, UnixStream) {
    let lp = EventLoop::new().unwrap();
    lp.set_metrics(true);
    let (idle, peer) = UnixStream::pair().unwrap();
    lp.add_reader(idle.as_raw_fd(), || panic!("nothing is ever written"))
        .unwrap();
    (lp, idle, peer)
}

#[test]
fn callbacks_ready_at_the_start_of_an_iteration_run_in_it_fifo_and_theirs_in_the_next() {
    let (lp, idle, _peer) = loop_with_an_idle_fd();
    let log: Rc<RefCell<Vec<(&str, u64)>>> = Rc::default();
    let ticks_before = lp.io_tick();
    for name in ["a", "b", "c"] {
        let (log, me) = (log.clone(), lp.clone());
        lp.call_soon(move || {
            log.borrow_mut().push((name, iteration(&me)));
            if name == "a" {
                // Scheduled by a callback of this iteration: runs in the
                // next, after b and c.
                let (log, me2) = (log.clone(), me.clone());
                me.call_soon(move || {
                    log.borrow_mut().push(("a's", iteration(&me2)));
                    me2.stop();
                });
            }
        });
    }
    lp.run_forever().unwrap();
    let first = log.borrow()[0].1;
    assert_eq!(
        *log.borrow(),
        [("a", first), ("b", first), ("c", first), ("a's", first + 1)]
    );
    // A loop's first iteration selects; the second, with a user fd
    // registered and work ready but well inside the interval, does not.
    assert_eq!(lp.io_tick(), ticks_before + 1);
    lp.remove_reader(idle.as_raw_fd());
}

#[test]
fn a_task_woken_in_an_iteration_runs_in_the_next_with_skipped_selects() {
    let (lp, idle, _peer) = loop_with_an_idle_fd();
    let log: Rc<RefCell<Vec<(String, u64)>>> = Rc::default();
    let l = log.clone();
    lp.run_until_complete(async move {
        let me = get_running_loop().unwrap();
        let done = corio_executor::Future::<()>::new();
        let waiter = {
            let (l, done, me) = (l.clone(), done.clone(), me.clone());
            create_task(async move {
                done.await.unwrap();
                l.borrow_mut().push(("woken".into(), iteration(&me)));
            })
        };
        yield_now().await; // the waiter parks on `done`
        l.borrow_mut().push(("wake".into(), iteration(&me)));
        done.set_result(()).unwrap();
        for i in 0..3 {
            l.borrow_mut().push((format!("main {i}"), iteration(&me)));
            yield_now().await;
        }
        waiter.await.unwrap();
    })
    .unwrap();
    let log = log.borrow();
    let at = |what: &str| log.iter().find(|(w, _)| w == what).unwrap().1;
    assert_eq!(at("woken"), at("wake") + 1, "{log:?}");
    assert_eq!(at("main 0"), at("wake"));
    assert_eq!(at("main 1"), at("wake") + 1);
    lp.remove_reader(idle.as_raw_fd());
}

/// What the future and its reader callback share: fired yet? whom to wake?
type Slot = Rc<RefCell<(bool, Option<Waker>)>>;

/// Ready once `fd` is readable; registers its callback with
/// `add_waking_reader` or `add_reader`.
struct Readable {
    fd: RawFd,
    waking: bool,
    slot: Option<Slot>,
}

impl Future for Readable {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let lp = get_running_loop().unwrap();
        if let Some(slot) = &self.slot {
            if slot.borrow().0 {
                lp.remove_reader(self.fd);
                return Poll::Ready(());
            }
            slot.borrow_mut().1 = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let slot: Slot = Rc::new(RefCell::new((false, Some(cx.waker().clone()))));
        let shared = slot.clone();
        let callback = move || {
            let waker = {
                let mut s = shared.borrow_mut();
                s.0 = true;
                s.1.take()
            };
            if let Some(waker) = waker {
                waker.wake();
            }
        };
        if self.waking {
            lp.add_waking_reader(self.fd, callback).unwrap();
        } else {
            lp.add_reader(self.fd, callback).unwrap();
        }
        self.slot = Some(slot);
        Poll::Pending
    }
}

/// The iterations from a task's first poll of a readable fd to its
/// resumption, and the selects the loop made meanwhile.
fn iterations_to_resume(waking: bool) -> (u64, u64) {
    let lp = EventLoop::new().unwrap();
    lp.set_metrics(true);
    let (reader, mut writer) = UnixStream::pair().unwrap();
    writer.write_all(b"x").unwrap();
    let fd = reader.as_raw_fd();
    let out = Rc::new(Cell::new((0, 0)));
    let o = out.clone();
    lp.run_until_complete(async move {
        let me = get_running_loop().unwrap();
        let (first, selects) = (iteration(&me), me.metrics().selects);
        Readable {
            fd,
            waking,
            slot: None,
        }
        .await;
        o.set((iteration(&me) - first, me.metrics().selects - selects));
    })
    .unwrap();
    drop((reader, writer));
    out.get()
}

#[test]
fn a_waking_reader_runs_its_task_in_the_iteration_of_the_select_that_found_the_fd() {
    // Parked in iteration k; iteration k+1 has nothing ready, so it
    // selects (blocking); the select reports the fd and the waking
    // callback queues the step at once: the task resumes in k+1.
    assert_eq!(iterations_to_resume(true), (1, 1));
    // asyncio's way, with add_reader: the callback runs in k+1's run phase
    // and the task in k+2. asyncio selects again (zero timeout) in k+2;
    // corio skips that select, one item having run since the last.
    assert_eq!(iterations_to_resume(false), (2, 1));
}

/// How many steps a spinning task made before the reader of a readable fd
/// ran, with `interval` as the select interval.
fn spins_before_the_reader_runs(interval: u32) -> u32 {
    let lp = EventLoop::new().unwrap();
    lp.set_select_interval(interval);
    assert_eq!(lp.select_interval(), interval.max(1));
    let (reader, writer) = UnixStream::pair().unwrap();
    let spins = Rc::new(Cell::new(0u32));
    let seen_at = Rc::new(Cell::new(None));
    let (s, at, me) = (spins.clone(), seen_at.clone(), lp.clone());
    let fd = reader.as_raw_fd();
    lp.add_reader(fd, move || {
        at.set(Some(s.get()));
        me.remove_reader(fd);
    })
    .unwrap();
    let (s, at) = (spins.clone(), seen_at.clone());
    let writer = lp
        .run_until_complete(async move {
            let mut writer = writer;
            while at.get().is_none() {
                s.set(s.get() + 1);
                if s.get() == 1 {
                    // After the loop's first select: the next sees it.
                    writer.write_all(b"x").unwrap();
                }
                yield_now().await;
            }
            writer
        })
        .unwrap();
    drop((reader, writer));
    seen_at.get().unwrap()
}

#[test]
fn a_ready_fd_is_seen_within_the_select_interval_however_busy_the_loop() {
    // The task writes in its first step, in the loop's first iteration
    // (which selected: a loop starts with a select).
    // asyncio's rule, interval 1: every iteration selects, so the second
    // finds the fd and its reader runs behind the task's second step.
    assert_eq!(spins_before_the_reader_runs(1), 2);
    // Interval 10: ten items (one step per iteration) run after the first
    // select; the 11th iteration selects, its reader runs behind step 11.
    assert_eq!(spins_before_the_reader_runs(10), 11);
    assert_eq!(spins_before_the_reader_runs(61), 62);
    // 0 means 1.
    assert_eq!(spins_before_the_reader_runs(0), 2);
}

#[test]
fn a_stopping_loop_with_nothing_ready_still_selects_once() {
    // asyncio's `run_forever` after `stop()`: the last iteration polls I/O
    // with a zero timeout, so a ready fd's reader runs before the loop
    // returns.
    let lp = EventLoop::new().unwrap();
    let (reader, mut writer) = UnixStream::pair().unwrap();
    writer.write_all(b"x").unwrap();
    let ran = Rc::new(Cell::new(false));
    let (r, fd, me) = (ran.clone(), reader.as_raw_fd(), lp.clone());
    lp.add_reader(fd, move || {
        r.set(true);
        me.remove_reader(fd);
    })
    .unwrap();
    lp.stop();
    lp.run_forever().unwrap();
    assert!(ran.get());
}

#[test]
fn a_waking_reader_removed_by_another_of_the_same_select_does_not_run() {
    // Both fds are readable, so one select reports both; whichever waking
    // callback runs first removes the other's reader, which then must not
    // run (asyncio's cancelled handle).
    let lp = EventLoop::new().unwrap();
    let (a, mut a_peer) = UnixStream::pair().unwrap();
    let (b, mut b_peer) = UnixStream::pair().unwrap();
    a_peer.write_all(b"x").unwrap();
    b_peer.write_all(b"x").unwrap();
    let ran = Rc::new(RefCell::new(Vec::new()));
    for (mine, other) in [
        (a.as_raw_fd(), b.as_raw_fd()),
        (b.as_raw_fd(), a.as_raw_fd()),
    ] {
        let (ran, me) = (ran.clone(), lp.clone());
        lp.add_waking_reader(mine, move || {
            ran.borrow_mut().push(mine);
            me.remove_reader(mine);
            me.remove_reader(other);
            me.stop();
        })
        .unwrap();
    }
    lp.run_forever().unwrap();
    assert_eq!(ran.borrow().len(), 1, "{:?}", ran.borrow());
    assert_eq!(lp.metrics().fds_registered, 1); // the loop's own eventfd
}

#[test]
fn a_panicking_waking_reader_is_reported_and_the_loop_goes_on() {
    let lp = EventLoop::new().unwrap();
    let reports: Rc<RefCell<Vec<String>>> = Rc::default();
    let r = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &corio_executor::ExceptionContext| {
        if !ctx.message.starts_with("Executing ") {
            let exception = ctx.exception.clone().unwrap_or_default();
            r.borrow_mut().push(format!("{}: {exception}", ctx.message));
        }
    }));
    let (a, mut peer) = UnixStream::pair().unwrap();
    peer.write_all(b"x").unwrap();
    let (fd, me) = (a.as_raw_fd(), lp.clone());
    lp.add_waking_reader(fd, move || {
        me.remove_reader(fd);
        panic!("boom");
    })
    .unwrap();
    let after = Rc::new(Cell::new(false));
    let (done, me) = (after.clone(), lp.clone());
    lp.call_later(std::time::Duration::from_millis(1), move || {
        done.set(true);
        me.stop();
    });
    lp.run_forever().unwrap();
    assert!(after.get());
    assert_eq!(*reports.borrow(), ["Exception in I/O callback: boom"]);
}

#[test]
fn one_iteration_polls_io_even_on_a_loop_that_ran_before() {
    // asyncio's test idiom for "run one iteration", `call_soon(stop);
    // run_forever()`, must see a ready fd however many items the loop ran
    // in an earlier run (each run's first iteration selects).
    let (lp, idle, _peer) = loop_with_an_idle_fd(); // so that selects happen
    lp.run_until_complete(async {
        for _ in 0..5 {
            yield_now().await;
        }
    })
    .unwrap();
    let (reader, mut writer) = UnixStream::pair().unwrap();
    let seen = Rc::new(Cell::new(0));
    let (s, fd, me) = (seen.clone(), reader.as_raw_fd(), lp.clone());
    lp.add_reader(fd, move || {
        s.set(s.get() + 1);
        me.remove_reader(fd);
    })
    .unwrap();
    writer.write_all(b"x").unwrap();
    let stopper = lp.clone();
    lp.call_soon(move || stopper.stop());
    lp.run_forever().unwrap();
    assert_eq!(seen.get(), 1);
    lp.remove_reader(idle.as_raw_fd());
}

/// Busy-waits `ms` milliseconds: a step that takes time.
fn spin_for(ms: u64) {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < until {}
}

#[test]
fn a_due_timer_does_not_overtake_io_that_came_before_it() {
    // Data arrives at once; a timer is due 10 ms later; a busy task takes
    // 2 ms a step, so 61 items take far longer than 10 ms. The iteration
    // in which the timer is due selects, so the reader runs in it, ahead
    // of the timer's callback (asyncio would have seen the fd earlier
    // still, in the iteration after the write).
    let lp = EventLoop::new().unwrap();
    let (reader, writer) = UnixStream::pair().unwrap();
    let order = Rc::new(RefCell::new(Vec::new()));
    let (o, fd, me) = (order.clone(), reader.as_raw_fd(), lp.clone());
    lp.add_reader(fd, move || {
        o.borrow_mut().push("io");
        me.remove_reader(fd);
    })
    .unwrap();
    let o = order.clone();
    let writer = lp
        .run_until_complete(async move {
            let mut writer = writer;
            writer.write_all(b"x").unwrap(); // after the run's first select
            let o2 = o.clone();
            get_running_loop().unwrap().call_later(
                std::time::Duration::from_millis(10),
                move || {
                    o2.borrow_mut().push("timer");
                },
            );
            while o.borrow().len() < 2 {
                spin_for(2);
                yield_now().await;
            }
            writer
        })
        .unwrap();
    drop((reader, writer));
    assert_eq!(*order.borrow(), ["io", "timer"]);
}

#[test]
fn a_slow_waking_callback_is_reported_in_debug_mode_and_not_counted_as_idle() {
    let lp = EventLoop::new().unwrap();
    lp.set_debug(true);
    lp.set_metrics(true);
    lp.set_slow_callback_duration(std::time::Duration::from_millis(20));
    let reports: Rc<RefCell<Vec<String>>> = Rc::default();
    let r = reports.clone();
    lp.set_exception_handler(Some(move |ctx: &corio_executor::ExceptionContext| {
        r.borrow_mut().push(ctx.message.clone());
    }));
    let (a, mut peer) = UnixStream::pair().unwrap();
    peer.write_all(b"x").unwrap();
    let (fd, me) = (a.as_raw_fd(), lp.clone());
    lp.add_waking_reader(fd, move || {
        me.remove_reader(fd);
        spin_for(150);
        me.stop();
    })
    .unwrap();
    lp.run_forever().unwrap();
    let reports = reports.borrow();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].starts_with("Executing an I/O callback took"),
        "{reports:?}"
    );
    // The select found the fd ready at once: the 150 ms are the
    // callback's, not time the loop spent idle in select.
    let blocked = lp.metrics().select_blocked;
    assert!(
        blocked < std::time::Duration::from_millis(100),
        "{blocked:?}"
    );
}
