//! Test-only helpers for what std cannot do: signal handlers, thread
//! signals, fd limits and fd numbers. Every unsafe block says why it holds.
#![allow(dead_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals delivered to `count_signal` so far.
pub static SIGNALS_SEEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS_SEEN.fetch_add(1, Ordering::SeqCst);
}

/// Installs a counting handler for `signal` *without* SA_RESTART, so that a
/// blocked syscall fails with EINTR when the signal arrives.
pub fn install_counting_handler(signal: libc::c_int) {
    // SAFETY: sigaction is plain data; zeroed is a valid "no flags, empty
    // mask" starting point.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = count_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0; // no SA_RESTART
    // SAFETY: `action.sa_mask` is a valid sigset_t owned by us.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialised; the handler only touches an
    // atomic, which is async-signal-safe.
    let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
    assert_eq!(rc, 0, "sigaction: {}", io::Error::last_os_error());
}

/// Sends `signal` to one thread of this process.
pub fn signal_thread(thread: libc::pthread_t, signal: libc::c_int) {
    // SAFETY: `thread` comes from a live JoinHandle (the caller joins after).
    let rc = unsafe { libc::pthread_kill(thread, signal) };
    assert_eq!(rc, 0, "pthread_kill failed: {rc}");
}

/// Raises the soft RLIMIT_NOFILE to at least `want` (up to the hard limit,
/// which root may raise too). Returns the soft limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid out-parameter.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur >= want {
        return lim.rlim_cur;
    }
    let raised = libc::rlimit {
        rlim_cur: want.max(lim.rlim_cur),
        rlim_max: want.max(lim.rlim_max),
    };
    // SAFETY: `raised` is a valid rlimit; failure (no privilege) is checked.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return raised.rlim_cur;
    }
    let soft_to_hard = libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: `soft_to_hard` is a valid rlimit within the hard limit.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &soft_to_hard) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    lim.rlim_max
}

/// A duplicate of `fd` whose number is at least `min` (F_DUPFD_CLOEXEC).
pub fn dup_at_least(fd: &impl AsRawFd, min: RawFd) -> OwnedFd {
    // SAFETY: F_DUPFD_CLOEXEC with an int argument creates a new fd or fails.
    let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) };
    assert!(new >= min, "F_DUPFD: {}", io::Error::last_os_error());
    // SAFETY: `new` was just created by the kernel and is owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(new) }
}

/// How many fds this process has open.
pub fn open_fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Instantiates generic selector tests for one backend: `suite!(name,
/// open_expr, [test_fn, ...])` makes a module `name` with one `#[test]` per
/// function, each called with a fresh selector from `open_expr`.
#[allow(unused_macros)] // not every test binary uses it
macro_rules! suite {
    ($backend:ident, $open:expr, [$($test:ident),* $(,)?]) => {
        mod $backend {
            use super::*;
            $(
                #[test]
                fn $test() {
                    super::$test($open);
                }
            )*
        }
    };
}
