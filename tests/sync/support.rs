//! Helpers shared by the sync tests.
#![allow(dead_code)]

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corio_executor::{Clock, EventLoop};

/// A trace of events, compared whole.
pub type Trace<T = String> = Rc<RefCell<Vec<T>>>;

pub fn trace<T>() -> Trace<T> {
    Rc::new(RefCell::new(Vec::new()))
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `main` on a loop with a virtual clock: sleeps take no real time.
///
/// A deadlock (every task waiting, no timer left) would block the loop
/// forever; a watchdog thread stops the loop after 60 s of real time, so
/// the test fails instead of hanging the suite.
pub fn run_virtual<F: std::future::Future + 'static>(main: F) -> F::Output
where
    F::Output: 'static,
{
    let lp = EventLoop::with_clock(Clock::virtual_clock()).expect("loop");
    let handle = lp.handle();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(60));
        // Err only when the loop is closed already: the test is over.
        let _stopped = handle.stop();
    });
    let out = lp
        .run_until_complete(main)
        .expect("deadlock: the loop was stopped by the watchdog");
    lp.close().expect("close");
    out
}
