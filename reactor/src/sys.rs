//! The syscall layer: every libc call of corio-reactor, and the only place
//! with `unsafe`.
//!
//! Each function is a thin, safe wrapper: it passes Rust-owned buffers with
//! their true lengths, turns `-1` into [`io::Error`] through [`cvt`], and
//! leaves retry policy (EINTR, timeouts) to the caller, which knows the
//! deadline. Borrowed fds are taken as [`BorrowedFd`] when this crate owns
//! them, and as [`RawFd`] when they belong to the caller (a selector watches
//! fds it does not own, exactly like Python's `selectors`).

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::time::Duration;

/// Turns the C convention "-1 and errno" into an `io::Result`.
///
/// The one checked helper every call below goes through, and the other
/// corio crates' syscall layers too (re-exported as `corio_reactor::cvt`).
/// No Python counterpart (CPython checks `-1` in C).
///
/// # Errors
/// `errno` as an [`io::Error`] when `ret` is `-1`.
pub(crate) fn cvt<T: MinusOne>(ret: T) -> io::Result<T> {
    if ret.is_minus_one() {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Integer return types whose `-1` means failure (`int`, `long`, `ssize_t`).
pub(crate) trait MinusOne: Copy {
    /// True for the failure value `-1`.
    fn is_minus_one(self) -> bool;
}

impl MinusOne for libc::c_int {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl MinusOne for libc::c_long {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

impl MinusOne for libc::ssize_t {
    fn is_minus_one(self) -> bool {
        self == -1
    }
}

/// Wraps a fresh fd returned by the kernel, so that it is closed on drop.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall that creates a
    // new descriptor (checked by `cvt` at every call site), so it is open and
    // nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `fcntl(fd, F_GETFD)`: `Ok` when `fd` is an open descriptor, EBADF when not.
///
/// poll(2) and select(2) accept any number at registration time; this lets
/// their backends refuse a closed fd the way epoll_ctl does.
pub(crate) fn check_open(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFD only reads the descriptor flags of `fd`; an fd that is
    // not open yields EBADF, never undefined behaviour.
    cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) }).map(drop)
}

// ---------------------------------------------------------------- epoll ---

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub(crate) fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the flag is a valid constant.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    Ok(owned(fd))
}

/// `epoll_ctl(epfd, op, fd, {events, data.u64 = token})`.
pub(crate) fn epoll_ctl(
    epfd: BorrowedFd<'_>,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut event = libc::epoll_event { events, u64: token };
    // SAFETY: `event` is a valid, initialised epoll_event that outlives the
    // call (the kernel copies it; EPOLL_CTL_DEL ignores it). `epfd` is an
    // open epoll fd for the duration of the borrow.
    cvt(unsafe { libc::epoll_ctl(epfd.as_raw_fd(), op, fd, &mut event) }).map(drop)
}

/// A zeroed event, to fill the wait buffer with.
pub(crate) const EMPTY_EPOLL_EVENT: libc::epoll_event = libc::epoll_event { events: 0, u64: 0 };

/// `epoll_wait(epfd, buf, buf.len(), timeout_ms)`: the number of events
/// written to the front of `buf`. Made as `epoll_pwait` with no signal
/// mask (the same call; plain `epoll_wait` is missing on some
/// architectures), through `syscall(2)` rather than glibc's wrapper, a
/// pthread cancellation point that costs extra bookkeeping in every
/// process with more than one thread (see corio-net's `sys.rs`).
pub(crate) fn epoll_wait(
    epfd: BorrowedFd<'_>,
    buf: &mut [libc::epoll_event],
    timeout_ms: libc::c_int,
) -> io::Result<usize> {
    let max = clamp_len(buf.len());
    // SAFETY: `buf` is a valid, writable slice of at least `max` events; the
    // kernel writes at most `max` of them; a null sigmask leaves the mask
    // alone.
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epfd.as_raw_fd(),
            buf.as_mut_ptr(),
            max,
            timeout_ms,
            ptr::null::<libc::sigset_t>(),
            0usize,
        )
    })?;
    Ok(n as usize)
}

/// `epoll_pwait2(epfd, buf, buf.len(), timeout, NULL)` (Linux ≥ 5.11), with
/// a nanosecond timeout; `None` blocks. Called through `syscall(2)` because
/// older C libraries lack the wrapper.
pub(crate) fn epoll_pwait2(
    epfd: BorrowedFd<'_>,
    buf: &mut [libc::epoll_event],
    timeout: Option<Duration>,
) -> io::Result<usize> {
    let max = clamp_len(buf.len());
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `buf` is valid for `max` writable events; `ts_ptr` is null or
    // points at a timespec living until the call returns; a null sigmask with
    // size 0 means "do not change the mask".
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait2,
            epfd.as_raw_fd(),
            buf.as_mut_ptr(),
            max,
            ts_ptr,
            ptr::null::<libc::sigset_t>(),
            0usize,
        )
    })?;
    Ok(n as usize)
}

// ----------------------------------------------------------------- poll ---

/// `ppoll(fds, fds.len(), timeout, NULL)`: nanosecond timeout, `None` blocks.
pub(crate) fn ppoll(fds: &mut [libc::pollfd], timeout: Option<Duration>) -> io::Result<usize> {
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: `fds` is a valid, writable slice whose true length is passed;
    // `ts_ptr` is null or points at a live timespec; a null sigmask leaves the
    // signal mask alone.
    let n = cvt(unsafe {
        libc::ppoll(
            fds.as_mut_ptr(),
            fds.len() as libc::nfds_t,
            ts_ptr,
            ptr::null(),
        )
    })?;
    Ok(n as usize)
}

// --------------------------------------------------------------- select ---

/// The first fd that select(2) cannot watch.
pub(crate) const FD_SETSIZE: RawFd = libc::FD_SETSIZE as RawFd;

/// A `fd_set` that refuses out-of-range fds instead of corrupting memory.
#[derive(Clone, Copy)]
pub(crate) struct FdSet(libc::fd_set);

impl FdSet {
    pub(crate) fn new() -> FdSet {
        let mut set = MaybeUninit::<libc::fd_set>::uninit();
        // SAFETY: FD_ZERO initialises every bit of the set it is given.
        unsafe { libc::FD_ZERO(set.as_mut_ptr()) };
        // SAFETY: FD_ZERO above initialised the whole value.
        FdSet(unsafe { set.assume_init() })
    }

    fn check(fd: RawFd) {
        // An out-of-range fd would write past the end of the set. The
        // selector refuses such fds with `FdTooLarge` before they get here,
        // so this is an internal invariant, not user-reachable.
        assert!((0..FD_SETSIZE).contains(&fd), "fd {fd} outside fd_set");
    }

    pub(crate) fn insert(&mut self, fd: RawFd) {
        Self::check(fd);
        // SAFETY: 0 <= fd < FD_SETSIZE (checked above), so the bit is inside
        // the set.
        unsafe { libc::FD_SET(fd, &mut self.0) };
    }

    pub(crate) fn remove(&mut self, fd: RawFd) {
        Self::check(fd);
        // SAFETY: 0 <= fd < FD_SETSIZE (checked above).
        unsafe { libc::FD_CLR(fd, &mut self.0) };
    }

    pub(crate) fn contains(&self, fd: RawFd) -> bool {
        Self::check(fd);
        // SAFETY: 0 <= fd < FD_SETSIZE (checked above); FD_ISSET only reads.
        unsafe { libc::FD_ISSET(fd, &self.0) }
    }
}

/// `pselect(nfds, read, write, NULL, timeout, NULL)`: nanosecond timeout,
/// `None` blocks. The sets are overwritten with the ready fds.
pub(crate) fn pselect(
    nfds: RawFd,
    read: &mut FdSet,
    write: &mut FdSet,
    timeout: Option<Duration>,
) -> io::Result<usize> {
    debug_assert!(nfds <= FD_SETSIZE);
    let ts = timeout.map(timespec);
    let ts_ptr = ts
        .as_ref()
        .map_or(ptr::null(), |ts| ts as *const libc::timespec);
    // SAFETY: both sets are valid fd_sets of FD_SETSIZE bits and nfds never
    // exceeds FD_SETSIZE; the except set and sigmask are null (allowed);
    // `ts_ptr` is null or points at a live timespec.
    let n = cvt(unsafe {
        libc::pselect(
            nfds,
            &mut read.0,
            &mut write.0,
            ptr::null_mut(),
            ts_ptr,
            ptr::null(),
        )
    })?;
    Ok(n as usize)
}

// -------------------------------------------------------------- eventfd ---

/// `eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)`.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the flags are valid constants.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    Ok(owned(fd))
}

/// Adds `value` to an eventfd counter (one 8-byte `write`).
pub(crate) fn eventfd_write(fd: BorrowedFd<'_>, value: u64) -> io::Result<()> {
    let bytes = value.to_ne_bytes();
    // SAFETY: `bytes` is 8 readable bytes, the exact size eventfd expects.
    cvt(unsafe { libc::write(fd.as_raw_fd(), bytes.as_ptr().cast(), bytes.len()) }).map(drop)
}

/// Reads and resets an eventfd counter (one 8-byte `read`).
pub(crate) fn eventfd_read(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut bytes = [0u8; 8];
    // SAFETY: `bytes` is 8 writable bytes, the exact size eventfd writes.
    cvt(unsafe { libc::read(fd.as_raw_fd(), bytes.as_mut_ptr().cast(), bytes.len()) })?;
    Ok(u64::from_ne_bytes(bytes))
}

// -------------------------------------------------------------- signals ---

/// One past the highest signal number on Linux (`SIGRTMAX` is 64).
pub(crate) const NSIG: usize = 65;

/// For each signal number, the write end of the pipe its C handler writes
/// the number to, or -1. Read by [`on_signal`] in signal context, so an
/// atomic: the only kind of shared state a signal handler may touch.
pub(crate) static SIGNAL_FDS: [AtomicI32; NSIG] = [const { AtomicI32::new(-1) }; NSIG];

/// How many signals [`on_signal`] has written to a pipe, process-wide.
/// Bumped after the write, so a reader that sees the new count finds the
/// byte in the pipe. A lock-free atomic add is async-signal-safe.
pub(crate) static SIGNALS_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// The C handler installed for every caught signal: writes the signal's
/// number, one byte, to its pipe (Python's `set_wakeup_fd`). Only `write`
/// happens here, which is async-signal-safe; `errno` is put back, since the
/// interrupted code may be about to read it.
extern "C" fn on_signal(signum: libc::c_int) {
    let Some(slot) = usize::try_from(signum).ok().and_then(|i| SIGNAL_FDS.get(i)) else {
        return;
    };
    let fd = slot.load(Ordering::Acquire);
    if fd < 0 {
        return;
    }
    let byte = signum as u8;
    // SAFETY: `__errno_location` returns this thread's errno, valid for the
    // thread's life; `byte` is one readable byte. A full pipe (EAGAIN) loses
    // only a repeat: the pipe is already readable.
    unsafe {
        let errno = libc::__errno_location();
        let saved = *errno;
        libc::write(fd, (&byte as *const u8).cast(), 1);
        *errno = saved;
    }
    SIGNALS_WRITTEN.fetch_add(1, Ordering::Release);
}

/// A signal's disposition as `sigaction` keeps it, saved to be put back.
#[derive(Clone, Copy)]
pub(crate) struct SavedAction(libc::sigaction);

/// `sigaction(signum, {on_signal, SA_RESTART}, &old)`: installs
/// [`on_signal`]; returns the previous action.
pub(crate) fn catch_signal(signum: libc::c_int) -> io::Result<SavedAction> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    let mut new = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: `new` is a zeroed sigaction (a valid empty one) whose handler,
    // flags and mask are set before use; `old` is written by the kernel
    // when the call succeeds, and read only then.
    unsafe {
        let action = new.as_mut_ptr();
        (*action).sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        (*action).sa_flags = libc::SA_RESTART;
        libc::sigemptyset(&mut (*action).sa_mask);
        cvt(libc::sigaction(signum, action, old.as_mut_ptr()))?;
        Ok(SavedAction(old.assume_init()))
    }
}

/// `sigaction(signum, saved, NULL)`: puts a saved action back.
pub(crate) fn restore_signal(signum: libc::c_int, saved: &SavedAction) -> io::Result<()> {
    // SAFETY: `saved.0` is an action the kernel returned earlier.
    cvt(unsafe { libc::sigaction(signum, &saved.0, ptr::null_mut()) }).map(drop)
}

/// `signal(signum, SIG_DFL)`: gives the signal its default action back.
pub(crate) fn default_signal(signum: libc::c_int) -> io::Result<()> {
    let mut action = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a zeroed sigaction is a valid empty one; its handler is set
    // to SIG_DFL and its mask emptied before the call reads it.
    unsafe {
        let action = action.as_mut_ptr();
        (*action).sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut (*action).sa_mask);
        cvt(libc::sigaction(signum, action, ptr::null_mut())).map(drop)
    }
}

/// `sigaction(signum, NULL, &old)`: the current handler (`SIG_DFL`,
/// `SIG_IGN` or a function's address).
pub(crate) fn signal_handler(signum: libc::c_int) -> io::Result<libc::sighandler_t> {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only queries; `old` is written on success.
    unsafe {
        cvt(libc::sigaction(signum, ptr::null(), old.as_mut_ptr()))?;
        Ok(old.assume_init().sa_sigaction)
    }
}

/// True when `handler` (from [`signal_handler`]) is corio's own.
pub(crate) fn is_corio_handler(handler: libc::sighandler_t) -> bool {
    handler == on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t
}

/// `pipe2(O_CLOEXEC | O_NONBLOCK)`: (read end, write end).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is two writable ints, as pipe2 expects.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `read(fd, buf)`: how many bytes came (0 at EOF).
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` writable bytes.
    let n = cvt(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })?;
    Ok(n as usize)
}

/// `raise(signum)`: sends a signal to the calling thread; when the thread
/// does not block it, it is delivered before the call returns.
pub(crate) fn raise_in_thread(signum: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointers; an invalid number fails with EINVAL.
    if unsafe { libc::raise(signum) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `kill(getpid(), signum)`: sends a signal to this process.
pub(crate) fn raise_in_process(signum: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointers; an invalid number is EINVAL.
    cvt(unsafe { libc::kill(libc::getpid(), signum) }).map(drop)
}

/// `sched_setaffinity(0, {cpu})`: the calling thread runs on `cpu` only.
pub(crate) fn pin_thread(cpu: usize) -> io::Result<()> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpu >= max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cpu {cpu} is past the {max} a cpu_set_t holds"),
        ));
    }
    let mut set = MaybeUninit::<libc::cpu_set_t>::zeroed();
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET writes one bit
    // of it, `cpu` being below its size (checked above); the kernel reads
    // `size_of::<cpu_set_t>()` bytes of it.
    unsafe {
        let set = set.as_mut_ptr();
        libc::CPU_SET(cpu, &mut *set);
        cvt(libc::sched_setaffinity(
            0,
            std::mem::size_of::<libc::cpu_set_t>(),
            set,
        ))
        .map(drop)
    }
}

/// True on the process's main thread (its thread id is the process id).
pub(crate) fn is_main_thread() -> bool {
    // SAFETY: neither call takes arguments or can fail.
    unsafe { libc::gettid() == libc::getpid() }
}

// -------------------------------------------------------------- helpers ---

/// A duration as a timespec, saturating at the largest representable time.
fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// A buffer length as the `int` maxevents the kernel takes.
fn clamp_len(len: usize) -> libc::c_int {
    libc::c_int::try_from(len).unwrap_or(libc::c_int::MAX)
}

/// A timeout in whole milliseconds for epoll_wait, rounded *up* so that the
/// wait never ends before the deadline; `None` is -1 (block).
pub(crate) fn timeout_ms_ceil(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(d) => {
            let ms = d.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millisecond_timeouts_round_up() {
        assert_eq!(timeout_ms_ceil(None), -1);
        assert_eq!(timeout_ms_ceil(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms_ceil(Some(Duration::from_nanos(1))), 1);
        assert_eq!(timeout_ms_ceil(Some(Duration::from_micros(1500))), 2);
        assert_eq!(timeout_ms_ceil(Some(Duration::from_millis(15))), 15);
        assert_eq!(
            timeout_ms_ceil(Some(Duration::from_secs(u64::MAX))),
            libc::c_int::MAX
        );
    }

    #[test]
    fn fd_set_round_trips() {
        let mut set = FdSet::new();
        assert!(!set.contains(5));
        set.insert(5);
        set.insert(FD_SETSIZE - 1);
        assert!(set.contains(5) && set.contains(FD_SETSIZE - 1));
        set.remove(5);
        assert!(!set.contains(5));
    }

    #[test]
    #[should_panic(expected = "outside fd_set")]
    fn fd_set_refuses_out_of_range() {
        FdSet::new().insert(FD_SETSIZE);
    }

    #[test]
    fn check_open_reports_ebadf() {
        let err = check_open(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        let fd = eventfd().unwrap();
        check_open(fd.as_raw_fd()).unwrap();
    }
}
