//! corio-timer: the timer queue and the clocks of corio's event loop.
//!
//! - [`TimerQueue`]: asyncio's `_scheduled` heap. Schedule an item at a
//!   deadline, cancel it by id, pop what is due at `now`, peek the next
//!   deadline. It never reads a clock: `now` is an argument, so it is tested
//!   without sleeping.
//! - [`Clock`]: the real monotonic clock, or a [`Clock::virtual_clock`] that
//!   the loop moves straight to the next deadline when it has nothing else
//!   to do (trio's autojump clock, tokio's paused time).
#![deny(missing_docs)]

mod clock;
mod queue;

pub use clock::Clock;
pub use queue::{TimerId, TimerQueue};
