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
pub fn run_virtual<F: std::future::Future + 'static>(main: F) -> F::Output
where
    F::Output: 'static,
{
    let lp = EventLoop::with_clock(Clock::virtual_clock()).expect("loop");
    let out = lp.run_until_complete(main).expect("run");
    lp.close().expect("close");
    out
}
