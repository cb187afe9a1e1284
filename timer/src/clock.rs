//! [`Clock`]: where the event loop reads the time.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// The event loop's clock: real, or virtual for tests.
///
/// Mirrors what asyncio's `loop.time()` reads (`time.monotonic()`); the
/// virtual clock has no asyncio counterpart (trio's `MockClock(autojump)`,
/// tokio's `time::pause`).
///
/// A virtual clock starts at the real `Instant` of its creation and only
/// moves when [`advance_to`](Self::advance_to) or [`advance`](Self::advance)
/// is called; the loop calls it to jump to the next timer whenever it has
/// nothing ready and no I/O, so a test of a one-hour timeout runs instantly.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::Clock;
///
/// let clock = Clock::virtual_clock();
/// let start = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert_eq!(clock.now() - start, Duration::from_secs(3600));
/// assert!(clock.is_virtual());
/// ```
#[derive(Debug)]
pub enum Clock {
    /// `Instant::now()`.
    Real,
    /// Time that moves only when told to.
    Virtual {
        /// The instant the virtual clock started at.
        start: Instant,
        /// How far it has moved since.
        elapsed: Cell<Duration>,
    },
}

impl Clock {
    /// A virtual clock, starting now.
    ///
    /// No asyncio counterpart (trio's `MockClock(autojump_threshold=0)`).
    pub fn virtual_clock() -> Clock {
        Clock::Virtual {
            start: Instant::now(),
            elapsed: Cell::new(Duration::ZERO),
        }
    }

    /// The current time. Python: `loop.time()`; differs in being an `Instant`.
    pub fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Virtual { start, elapsed } => *start + elapsed.get(),
        }
    }

    /// True for a virtual clock.
    ///
    /// No asyncio counterpart.
    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }

    /// Moves a virtual clock forward by `by`; a real clock ignores it.
    ///
    /// No asyncio counterpart (trio's `MockClock.jump`).
    pub fn advance(&self, by: Duration) {
        if let Clock::Virtual { elapsed, .. } = self {
            elapsed.set(elapsed.get() + by);
        }
    }

    /// Moves a virtual clock forward to `when` (never backward); a real clock
    /// ignores it.
    ///
    /// No asyncio counterpart.
    pub fn advance_to(&self, when: Instant) {
        if let Clock::Virtual { start, elapsed } = self {
            let target = when.saturating_duration_since(*start);
            if target > elapsed.get() {
                elapsed.set(target);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_never_goes_back() {
        let clock = Clock::virtual_clock();
        let t0 = clock.now();
        clock.advance_to(t0 + Duration::from_secs(5));
        clock.advance_to(t0 + Duration::from_secs(1));
        assert_eq!(clock.now(), t0 + Duration::from_secs(5));
    }

    #[test]
    fn real_clock_ignores_advance() {
        let clock = Clock::Real;
        let before = clock.now();
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now() - before < Duration::from_secs(60));
    }
}
