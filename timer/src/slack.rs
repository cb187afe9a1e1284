//! The thread's timer slack: how late the kernel may end a timed wait.
//!
//! Linux lets a normal thread's sleeps (an `epoll_wait` timeout included)
//! end up to its *timer slack* late, 50 µs by default, so that nearby
//! wake-ups can share one interrupt. For an event loop that is 50 µs of
//! lateness on every timer it sleeps for: a 1 ms `sleep` fired a median
//! 89 µs late here with the default slack, about 50 µs with 1 µs of slack
//! (`executor 3 lateness` in `bench/`).

use std::time::Duration;

use crate::sys;

/// Sets the calling thread's timer slack and puts the old value back when
/// dropped: the event loop holds one while it runs.
///
/// No asyncio counterpart (CPython leaves the slack alone); tokio neither.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::TimerSlack;
///
/// let before = TimerSlack::current();
/// {
///     let _slack = TimerSlack::set(Duration::from_micros(1));
///     assert_eq!(TimerSlack::current(), Duration::from_micros(1));
/// }
/// assert_eq!(TimerSlack::current(), before);
/// ```
#[derive(Debug)]
#[must_use = "the old slack comes back when the guard is dropped"]
pub struct TimerSlack {
    previous_ns: u64,
}

impl TimerSlack {
    /// Sets the calling thread's slack to `slack` (at least 1 ns; the
    /// kernel reads 0 as "the default") until the guard is dropped.
    pub fn set(slack: Duration) -> TimerSlack {
        let previous_ns = sys::timer_slack_ns();
        let ns = u64::try_from(slack.as_nanos()).unwrap_or(u64::MAX);
        if ns.max(1) != previous_ns {
            sys::set_timer_slack_ns(ns);
        }
        TimerSlack { previous_ns }
    }

    /// The calling thread's slack now (`PR_GET_TIMERSLACK`).
    pub fn current() -> Duration {
        Duration::from_nanos(sys::timer_slack_ns())
    }
}

impl Drop for TimerSlack {
    fn drop(&mut self) {
        if sys::timer_slack_ns() != self.previous_ns {
            sys::set_timer_slack_ns(self.previous_ns);
        }
    }
}
