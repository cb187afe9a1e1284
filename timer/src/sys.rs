//! The timer crate's one syscall: the coarse monotonic clock.

/// `clock_gettime(CLOCK_MONOTONIC_COARSE)` in nanoseconds.
///
/// The coarse clock is the kernel's last timer-tick reading, served from the
/// vDSO without reading the TSC: about 2 ns here against about 22 ns for
/// `CLOCK_MONOTONIC` (what `Instant::now` reads), at a resolution of one
/// tick (1–4 ms).
pub(crate) fn coarse_monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call, and
    // CLOCK_MONOTONIC_COARSE is a clock id every Linux since 2.6.32 knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC_COARSE) failed");
    nanos(ts)
}

/// `CLOCK_MONOTONIC` (the clock `Instant` reads) in nanoseconds.
#[inline]
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `coarse_monotonic_ns`; CLOCK_MONOTONIC always exists.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC) failed");
    nanos(ts)
}

/// The coarse clock's resolution in nanoseconds (`clock_getres`).
pub(crate) fn coarse_resolution_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above; `clock_getres` only writes the timespec.
    let rc = unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    debug_assert_eq!(rc, 0, "clock_getres(CLOCK_MONOTONIC_COARSE) failed");
    nanos(ts)
}

/// A monotonic clock's timespec in nanoseconds (never negative; wraps only
/// after 584 years of uptime).
fn nanos(ts: libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The calling thread's timer slack in nanoseconds (`PR_GET_TIMERSLACK`):
/// how much later than asked the kernel may end this thread's timed waits,
/// to batch wake-ups (50 µs by default for a normal thread).
pub(crate) fn timer_slack_ns() -> u64 {
    // SAFETY: PR_GET_TIMERSLACK takes no pointer argument; it only returns
    // the calling thread's value.
    let rc = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
    u64::try_from(rc).unwrap_or(0)
}

/// Sets the calling thread's timer slack (`PR_SET_TIMERSLACK`). Zero means
/// "the thread's default" to the kernel, so the smallest slack is 1 ns.
pub(crate) fn set_timer_slack_ns(ns: u64) {
    let ns = libc::c_ulong::try_from(ns.max(1)).unwrap_or(libc::c_ulong::MAX);
    // SAFETY: PR_SET_TIMERSLACK takes the slack by value; it only changes
    // the calling thread's own attribute and cannot fail for a value > 0.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns, 0, 0, 0) };
    debug_assert_eq!(rc, 0, "prctl(PR_SET_TIMERSLACK) failed");
}
