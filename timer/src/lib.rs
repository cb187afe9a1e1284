//! corio-timer: the timer queue and the clocks of corio's event loop.
//!
//! - [`TimerQueue`]: asyncio's `_scheduled` heap. Schedule an item at a
//!   deadline, cancel it by id, pop what is due at `now`, peek the next
//!   deadline. It never reads a clock: `now` is an argument, so it is tested
//!   without sleeping.
//! - [`Clock`]: the real monotonic clock, or a [`Clock::virtual_clock`] that
//!   the loop moves straight to the next deadline when it has nothing else
//!   to do (trio's autojump clock, tokio's paused time).
//! - [`CoarseInstant`]: the kernel's tick clock, ten times cheaper to read
//!   than `Instant::now()` and a tick (1–4 ms) coarse: what the loop times
//!   each step with, to report slow callbacks without paying for precision
//!   it does not need.
//! - [`TimerSlack`]: the thread's timer slack, lowered while a loop runs
//!   so that a timed `select` does not end 50 µs late.
//!
//! # Layout
//!
//! `queue.rs` ([`TimerQueue`]), `clock.rs` ([`Clock`], [`CoarseInstant`]),
//! `slack.rs` ([`TimerSlack`]), and `sys.rs`: the one `unsafe` block per
//! syscall.
#![deny(missing_docs)]
// No `unsafe` outside the syscall layer (`sys`), where every block has
// its `// SAFETY:` comment (DESIGN rule 6).
#![deny(unsafe_code)]

mod clock;
mod queue;
mod slack;
#[allow(unsafe_code)]
mod sys;

pub use clock::{Clock, CoarseInstant, monotonic_ns};
pub use queue::{TimerId, TimerQueue};
pub use slack::TimerSlack;
