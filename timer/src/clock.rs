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
    #[inline]
    pub fn now(&self) -> Instant {
        match self {
            Clock::Real => Instant::now(),
            Clock::Virtual { start, elapsed } => *start + elapsed.get(),
        }
    }

    /// True for a virtual clock.
    ///
    /// No asyncio counterpart.
    #[inline]
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

/// A reading of the kernel's coarse monotonic clock
/// (`CLOCK_MONOTONIC_COARSE`): cheap to take, one timer tick (1–4 ms) coarse.
///
/// The event loop times every callback and task step with it, to report
/// those slower than `slow_callback_duration` (100 ms by default): a
/// precise `Instant::now()` costs about 22 ns on this project's machine, a
/// coarse reading about 2 ns (`bench/RESULTS.md`), and a report about a
/// 100 ms step does not need nanoseconds. It always reads real time, also
/// under a virtual [`Clock`]: a slow step is slow in real time.
///
/// No asyncio counterpart (asyncio times callbacks with `loop.time()`, and
/// only in debug mode).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_timer::CoarseInstant;
///
/// let start = CoarseInstant::now();
/// std::thread::sleep(Duration::from_millis(30));
/// let elapsed = CoarseInstant::now().duration_since(start);
/// // Within one tick of the truth.
/// assert!(elapsed + CoarseInstant::resolution() >= Duration::from_millis(30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CoarseInstant {
    nanos: u64,
}

impl CoarseInstant {
    /// The current coarse reading.
    pub fn now() -> CoarseInstant {
        CoarseInstant {
            nanos: crate::sys::coarse_monotonic_ns(),
        }
    }

    /// Time from `earlier` to `self`; zero if `earlier` is later.
    pub fn duration_since(self, earlier: CoarseInstant) -> Duration {
        Duration::from_nanos(self.nanos.saturating_sub(earlier.nanos))
    }

    /// True when at least `limit` separates `earlier` from `self`: the
    /// comparison the loop makes after every step, in integer nanoseconds.
    pub fn at_least(self, earlier: CoarseInstant, limit_nanos: u64) -> bool {
        self.nanos.saturating_sub(earlier.nanos) >= limit_nanos
    }

    /// Nanoseconds since an unspecified start (the boot, on Linux): to
    /// store a reading in an atomic.
    pub fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The clock's resolution: one kernel tick.
    pub fn resolution() -> Duration {
        Duration::from_nanos(crate::sys::coarse_resolution_ns())
    }
}

/// The monotonic clock (`CLOCK_MONOTONIC`, what `Instant` reads) as
/// nanoseconds since an unspecified start: a reading that is a plain
/// number, for code that subtracts many of them (the flight recorder),
/// where `Instant`'s arithmetic costs more than the reading.
///
/// No asyncio counterpart (`time.monotonic_ns()` is the nearest).
///
/// ```
/// let a = corio_timer::monotonic_ns();
/// let b = corio_timer::monotonic_ns();
/// assert!(b >= a);
/// ```
#[inline]
pub fn monotonic_ns() -> u64 {
    crate::sys::monotonic_ns()
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

    #[test]
    fn coarse_clock_tracks_the_real_one_within_a_tick() {
        let tick = CoarseInstant::resolution();
        assert!(tick > Duration::ZERO && tick <= Duration::from_millis(10));
        let (coarse, real) = (CoarseInstant::now(), Instant::now());
        std::thread::sleep(Duration::from_millis(50));
        let coarse = CoarseInstant::now().duration_since(coarse);
        let real = real.elapsed();
        assert!(coarse + tick >= Duration::from_millis(50), "{coarse:?}");
        assert!(coarse <= real + tick, "{coarse:?} vs {real:?}");
    }

    #[test]
    fn coarse_differences_saturate_and_compare_in_nanoseconds() {
        let earlier = CoarseInstant::now();
        std::thread::sleep(CoarseInstant::resolution() * 3);
        let later = CoarseInstant::now();
        assert!(later > earlier);
        assert_eq!(earlier.duration_since(later), Duration::ZERO);
        assert!(later.at_least(earlier, 1));
        assert!(!earlier.at_least(later, 1));
        assert!(later.at_least(later, 0));
    }
}
