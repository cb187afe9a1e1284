//! Signals as readable fds: how a Unix signal reaches a selector.
//!
//! A signal interrupts whatever the process is doing, on any thread, and
//! almost nothing is safe to do inside its handler: no allocation, no lock,
//! no `RefCell`. So the handler does one thing, as CPython's does for
//! `signal.set_wakeup_fd`: it writes the signal's number, one byte, to a
//! non-blocking pipe. The pipe's read end is an ordinary fd; a selector
//! watches it, and the event loop turns each byte into a callback that
//! runs like any other, far from signal context.
//!
//! ```text
//! kill -USR1 ──▶ on_signal(10) ──write 1 byte──▶ pipe ──EVENT_READ──▶ select()
//!                (signal context)                       (loop: drain, call_soon)
//! ```
//!
//! The routing table (signal number → pipe) is process-wide, as signal
//! dispositions are: a signal is caught for one [`SignalPipe`] at a time.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::Ordering;

use crate::sys;

/// One past the highest signal number (Linux: `SIGRTMAX` is 64). Python:
/// `signal.NSIG`.
pub const NSIG: i32 = sys::NSIG as i32;

/// Interrupt from the keyboard (Ctrl-C). Python: `signal.SIGINT`.
pub const SIGINT: i32 = libc::SIGINT;
/// Termination request. Python: `signal.SIGTERM`.
pub const SIGTERM: i32 = libc::SIGTERM;
/// Hang-up. Python: `signal.SIGHUP`.
pub const SIGHUP: i32 = libc::SIGHUP;
/// Quit from the keyboard (Ctrl-\\). Python: `signal.SIGQUIT`.
pub const SIGQUIT: i32 = libc::SIGQUIT;
/// User-defined signal 1. Python: `signal.SIGUSR1`.
pub const SIGUSR1: i32 = libc::SIGUSR1;
/// User-defined signal 2. Python: `signal.SIGUSR2`.
pub const SIGUSR2: i32 = libc::SIGUSR2;
/// A child stopped or exited. Python: `signal.SIGCHLD`.
pub const SIGCHLD: i32 = libc::SIGCHLD;
/// Kill; cannot be caught. Python: `signal.SIGKILL`.
pub const SIGKILL: i32 = libc::SIGKILL;
/// Stop; cannot be caught. Python: `signal.SIGSTOP`.
pub const SIGSTOP: i32 = libc::SIGSTOP;

/// What a signal does when it arrives. Python: what `signal.getsignal`
/// returns (`SIG_DFL`, `SIG_IGN`, a handler).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// The kernel's default action (`SIG_DFL`): for most, end the process.
    Default,
    /// Ignored (`SIG_IGN`).
    Ignore,
    /// Caught by corio: written to a [`SignalPipe`].
    Corio,
    /// Caught by some other handler.
    Other,
}

/// The current disposition of `signum`. Python: `signal.getsignal(signum)`.
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
///
/// # Examples
///
/// ```
/// use corio_reactor::signal::{disposition, Disposition};
/// assert_eq!(disposition(libc::SIGKILL)?, Disposition::Default);
/// assert!(disposition(0).is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn disposition(signum: i32) -> io::Result<Disposition> {
    let handler = sys::signal_handler(signum)?;
    Ok(match handler {
        libc::SIG_DFL => Disposition::Default,
        libc::SIG_IGN => Disposition::Ignore,
        h if sys::is_corio_handler(h) => Disposition::Corio,
        _ => Disposition::Other,
    })
}

/// Sends `signum` to this process. Python: `os.kill(os.getpid(), signum)`
/// (not `signal.raise_signal`, which targets the calling thread only).
///
/// # Errors
/// `EINVAL` for a number that is not a signal.
pub fn raise_signal(signum: i32) -> io::Result<()> {
    sys::raise_in_process(signum)
}

/// Ends this process the way `signum` ends it by default: gives the
/// signal back its default action (`SIG_DFL`) and sends it to the
/// process. What CPython does after an unhandled `KeyboardInterrupt`
/// (since 3.8): `signal(SIGINT, SIG_DFL)`, then `kill(getpid(), SIGINT)`,
/// so that the parent's `waitpid` sees "killed by signal 2" (Python's
/// `subprocess` return code -2) and a shell loop around the program stops.
///
/// Returns only if the process is still alive afterwards: the signal is
/// blocked in every thread, its default action is not to end the process
/// (`SIGCHLD`, say), or a call failed. The caller then exits by itself,
/// as CPython does with status 128 + signum.
///
/// # Errors
/// `EINVAL` for a number that is not a signal (or cannot be reset:
/// `SIGKILL`, `SIGSTOP` already have their default action, and are sent).
pub fn exit_by_signal(signum: i32) -> io::Result<()> {
    if signum != libc::SIGKILL && signum != libc::SIGSTOP {
        sys::default_signal(signum)?;
    }
    // To this thread first: unless it blocks the signal, the process ends
    // inside the call, before anything else can exit it with a status.
    sys::raise_in_thread(signum)?;
    sys::raise_in_process(signum)
}

/// Pins the calling thread to CPU `cpu` (`sched_setaffinity`): what a
/// loop-per-core runtime does so each loop keeps its core's caches. No
/// asyncio counterpart (Python: `os.sched_setaffinity(0, {cpu})`, which
/// pins the whole process).
///
/// # Errors
/// `InvalidInput` for a CPU number past what the kernel's set holds;
/// `EINVAL` for a CPU this process may not use.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    sys::pin_thread(cpu)
}

/// True on the process's main thread, where asyncio lets `run()` install
/// its Ctrl-C handler. Python: `threading.current_thread() is
/// threading.main_thread()`.
pub fn is_main_thread() -> bool {
    sys::is_main_thread()
}

/// How many caught signals corio's handler has written to their pipes so
/// far, in this process. A loop whose only registered fds are its own
/// (its waker, its signal pipe) compares this count with the one it saw at
/// its last `select` to know, without a syscall, whether the pipe may have
/// news. No asyncio counterpart (asyncio always calls `select`).
#[inline]
pub fn signals_written() -> u64 {
    sys::SIGNALS_WRITTEN.load(Ordering::Acquire)
}

/// The pipe that caught signals are written to.
///
/// Python: the socket pair asyncio passes to `signal.set_wakeup_fd`. Watch
/// [`read_fd`](Self::read_fd) for `EVENT_READ`, and [`drain`](Self::drain)
/// it when reported.
///
/// # Examples
///
/// ```
/// use corio_reactor::signal::{SignalPipe, raise_signal};
/// use corio_reactor::{DefaultSelector, Selector, EVENT_READ};
///
/// let pipe = SignalPipe::new()?;
/// let caught = pipe.catch(libc::SIGUSR2)?.expect("nobody else catches SIGUSR2");
/// let mut sel = DefaultSelector::new()?;
/// sel.register(pipe.read_fd(), EVENT_READ, ())?;
///
/// raise_signal(libc::SIGUSR2)?;
/// assert_eq!(sel.select(None)?.len(), 1); // the signal made the pipe readable
/// let mut got = Vec::new();
/// pipe.drain(&mut got)?;
/// assert_eq!(got, [libc::SIGUSR2]);
///
/// caught.restore()?; // SIGUSR2 is back to what it was
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SignalPipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl SignalPipe {
    /// Opens the pipe (both ends non-blocking, close-on-exec). Python:
    /// asyncio's `_make_self_pipe()` before `signal.set_wakeup_fd`.
    ///
    /// # Errors
    /// EMFILE / ENFILE.
    pub fn new() -> io::Result<SignalPipe> {
        let (read, write) = sys::pipe()?;
        Ok(SignalPipe { read, write })
    }

    /// The end to watch. Python: `self._ssock.fileno()`.
    pub fn read_fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// Routes `signum` to this pipe and installs the handler that writes
    /// it. Returns `None` when another pipe catches `signum` already (one
    /// owner per signal, process-wide). The [`CaughtSignal`] puts the
    /// previous disposition back when restored or dropped; restore every
    /// caught signal before dropping the pipe.
    ///
    /// # Errors
    /// `EINVAL` from `sigaction`: not a signal, or `SIGKILL` / `SIGSTOP`.
    pub fn catch(&self, signum: i32) -> io::Result<Option<CaughtSignal>> {
        let slot = usize::try_from(signum)
            .ok()
            .and_then(|i| sys::SIGNAL_FDS.get(i))
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
        let fd = self.write.as_raw_fd();
        match slot.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {}
            Err(current) if current == fd => {}
            Err(_) => return Ok(None),
        }
        match sys::catch_signal(signum) {
            Ok(previous) => Ok(Some(CaughtSignal {
                signum,
                previous: Some(previous),
            })),
            Err(e) => {
                slot.store(-1, Ordering::Release);
                Err(e)
            }
        }
    }

    /// Reads every signal number written so far into `out` (Python:
    /// asyncio's `_read_from_self` / `_process_self_data`), in arrival
    /// order (repeats included; a signal that arrives while the pipe is full
    /// is one more of a kind already there).
    ///
    /// # Errors
    /// An unexpected OS error (never `WouldBlock`: that ends the drain).
    pub fn drain(&self, out: &mut Vec<i32>) -> io::Result<()> {
        let mut buf = [0u8; 64];
        loop {
            match sys::read(self.read.as_fd(), &mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => out.extend(buf[..n].iter().map(|&b| i32::from(b))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A signal routed to a [`SignalPipe`], and the disposition it had before
/// (Python keeps neither: `remove_signal_handler` resets to the default).
#[derive(Debug)]
pub struct CaughtSignal {
    signum: i32,
    previous: Option<sys::SavedAction>,
}

impl std::fmt::Debug for sys::SavedAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SavedAction")
    }
}

impl CaughtSignal {
    /// The signal's number (Python: the `sig` given to
    /// `add_signal_handler`).
    pub fn signum(&self) -> i32 {
        self.signum
    }

    /// Puts the previous disposition back, then stops routing the signal.
    /// Python: `signal.signal(signum, previous)`.
    ///
    /// # Errors
    /// An unexpected `sigaction` failure.
    pub fn restore(mut self) -> io::Result<()> {
        self.restore_now()
    }

    fn restore_now(&mut self) -> io::Result<()> {
        let Some(previous) = self.previous.take() else {
            return Ok(());
        };
        // Disposition first: once it is back, no new write can start.
        let result = sys::restore_signal(self.signum, &previous);
        sys::SIGNAL_FDS[self.signum as usize].store(-1, Ordering::Release);
        result
    }
}

impl Drop for CaughtSignal {
    fn drop(&mut self) {
        self.restore_now().ok();
    }
}
