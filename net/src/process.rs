//! Subprocesses: asyncio's `create_subprocess_exec` / `_shell` and
//! `Process`.
//!
//! A child's pipes are the loop's ordinary streams: each piped stdio is a
//! real pipe (as asyncio's are: a child may open `/dev/stdout`), one end
//! the child's fd 0, 1 or 2, the other ours, carried by the same
//! transports and stream readers/writers as a socket (a pipe end is a
//! transport [`Endpoint`](crate::transport) that `read`s or `write`s
//! instead of `recv`ing or `send`ing). A child's exit is a readable fd too: a
//! pidfd (Linux ≥ 5.3) watched with `add_reader`; its callback reaps the
//! child (`waitpid`) and wakes whoever waits. No process-wide `SIGCHLD`
//! handler is involved, so nothing races other libraries' children.

use std::cell::{Cell, RefCell};
use std::ffi::{OsStr, OsString};
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use corio_executor::{EventLoop, Task, TaskRef, create_task, get_running_loop};

use crate::streams::{DEFAULT_LIMIT, StreamReader, StreamWriter, child_input, child_output};
use crate::sys;

/// What a child's stdin, stdout or stderr is connected to. Python: the
/// `stdin=` / `stdout=` / `stderr=` arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stdio {
    /// A pipe to this process: `Process::stdin` / `stdout` / `stderr`.
    /// Python: `asyncio.subprocess.PIPE`.
    Pipe,
    /// This process's own. Python: `None` (the default).
    #[default]
    Inherit,
    /// `/dev/null`. Python: `asyncio.subprocess.DEVNULL`.
    Null,
    /// For stderr only: wherever stdout goes. Python:
    /// `asyncio.subprocess.STDOUT`.
    Stdout,
}

/// The options of [`create_subprocess_exec`] and
/// [`create_subprocess_shell`]: Python's keyword arguments.
#[derive(Debug, Clone)]
pub struct ProcessOptions {
    /// The child's stdin (default: inherited).
    pub stdin: Stdio,
    /// The child's stdout (default: inherited).
    pub stdout: Stdio,
    /// The child's stderr (default: inherited; [`Stdio::Stdout`] merges it).
    pub stderr: Stdio,
    /// The buffer limit of the stdout/stderr readers (default 64 KiB).
    pub limit: usize,
    /// The child's working directory (default: ours). Python: `cwd=`.
    pub cwd: Option<PathBuf>,
    /// Variables added to (or replacing in) the child's environment.
    /// Python: `env=`, which replaces the whole environment instead.
    pub env: Vec<(OsString, OsString)>,
    /// Kill the child (SIGKILL) when its [`Process`] is dropped while it
    /// runs (default: false, asyncio's way: the child lives on and is
    /// reaped when it exits). A killed child is reaped by the loop, or at
    /// the latest by its `close()`, so none is left `<defunct>` once
    /// `run()` returns (after Ctrl-C, say). No asyncio counterpart; tokio's
    /// `Command::kill_on_drop`, which reaps in the background instead.
    pub kill_on_drop: bool,
}

impl Default for ProcessOptions {
    fn default() -> Self {
        ProcessOptions {
            stdin: Stdio::Inherit,
            stdout: Stdio::Inherit,
            stderr: Stdio::Inherit,
            limit: DEFAULT_LIMIT,
            cwd: None,
            env: Vec::new(),
            kill_on_drop: false,
        }
    }
}

impl ProcessOptions {
    /// stdin, stdout and stderr all piped: the usual choice for
    /// [`Process::communicate`]. Python: `stdin=PIPE, stdout=PIPE,
    /// stderr=PIPE`.
    pub fn piped() -> Self {
        ProcessOptions {
            stdin: Stdio::Pipe,
            stdout: Stdio::Pipe,
            stderr: Stdio::Pipe,
            ..ProcessOptions::default()
        }
    }

    /// Sets [`kill_on_drop`](Self::kill_on_drop): a `Process` dropped
    /// while its child runs kills it (a fan-out cancelled by a deadline
    /// leaves no child behind). tokio's `Command::kill_on_drop`.
    ///
    /// ```
    /// use corio_net::{ProcessOptions, create_subprocess_exec};
    ///
    /// corio_executor::run(async {
    ///     let options = ProcessOptions::default().kill_on_drop(true);
    ///     let child = create_subprocess_exec("sleep", ["30"], options).await?;
    ///     let pid = child.pid();
    ///     drop(child); // killed now, reaped by the loop
    ///     corio_executor::sleep(std::time::Duration::from_millis(50)).await;
    ///     let state = std::fs::read_to_string(format!("/proc/{pid}/stat"));
    ///     assert!(state.is_err(), "the child is gone");
    ///     std::io::Result::Ok(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kill_on_drop(mut self, kill: bool) -> Self {
        self.kill_on_drop = kill;
        self
    }
}

/// A running (or finished) child process. Mirrors
/// `asyncio.subprocess.Process`.
///
/// Dropping it does not kill the child (asyncio's behaviour): the loop
/// keeps watching the child and reaps it when it exits, and if the loop
/// is gone first, a thread does. With [`ProcessOptions::kill_on_drop`] a
/// dropped `Process` kills its child instead.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    /// The writer to the child's stdin, with [`Stdio::Pipe`]. Python:
    /// `proc.stdin`.
    pub stdin: Option<StreamWriter>,
    /// The reader of the child's stdout, with [`Stdio::Pipe`]. Python:
    /// `proc.stdout`.
    pub stdout: Option<StreamReader>,
    /// The reader of the child's stderr, with [`Stdio::Pipe`]. Python:
    /// `proc.stderr`.
    pub stderr: Option<StreamReader>,
    state: Rc<ChildState>,
    /// [`ProcessOptions::kill_on_drop`].
    kill_on_drop: bool,
}

impl Drop for Process {
    /// With `kill_on_drop`, a child still running is killed; the loop
    /// reaps it as any other, and if the loop closes first, the close
    /// reaps it (see `ChildState`'s drop), so none outlives `run()`.
    fn drop(&mut self) {
        if self.kill_on_drop
            && let Some(child) = self.state.child.borrow_mut().as_mut()
            && !matches!(child.try_wait(), Ok(Some(_)))
        {
            // Err only when it exited meanwhile: nothing left to kill.
            if child.kill().is_ok() {
                self.state.killed.set(true);
            }
        }
    }
}

/// What the pidfd's callback and the `Process` share.
#[derive(Debug)]
struct ChildState {
    child: RefCell<Option<Child>>,
    /// Set once reaped.
    status: Cell<Option<ExitStatus>>,
    /// `kill_on_drop` sent SIGKILL: the child is about to exit.
    killed: Cell<bool>,
    /// Open until the child is reaped.
    pidfd: RefCell<Option<OwnedFd>>,
    waiters: RefCell<Vec<Waker>>,
}

impl ChildState {
    /// The pidfd became readable: the child exited; reap it.
    fn reap(&self, lp: &EventLoop) {
        let reaped = match self.child.borrow_mut().as_mut() {
            Some(child) => child.try_wait(),
            None => return,
        };
        match reaped {
            Ok(Some(status)) => self.finish(lp, status),
            Ok(None) => {} // not yet (a spurious wake-up)
            Err(err) => {
                lp.call_exception_handler(corio_executor::ExceptionContext {
                    message: "Could not reap a child process".to_string(),
                    exception: Some(err.to_string()),
                });
            }
        }
    }

    fn finish(&self, lp: &EventLoop, status: ExitStatus) {
        self.status.set(Some(status));
        self.child.borrow_mut().take();
        if let Some(pidfd) = self.pidfd.borrow_mut().take() {
            lp.remove_reader(pidfd.as_raw_fd());
        }
        for waker in self.waiters.take() {
            waker.wake();
        }
    }
}

impl Drop for ChildState {
    /// The `Process` is gone and so is the loop's watcher (the loop
    /// closed before the child exited): a thread waits for the child so it
    /// does not stay a zombie (asyncio's `ThreadedChildWatcher` does the
    /// same for every child).
    ///
    /// A child killed by `kill_on_drop` is reaped here, on the spot: it
    /// exits within moments of SIGKILL, and reaping it before `close()`
    /// (and so `run()`) returns means no `<defunct>` entry outlives the
    /// program's exit path. Only one still there after [`KILLED_GRACE`]
    /// (stuck in the kernel) goes to a thread.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.get_mut().take()
            && !matches!(child.try_wait(), Ok(Some(_)))
            && !(self.killed.get() && reaped_within(&mut child, KILLED_GRACE))
        {
            let reaper = std::thread::Builder::new().name("corio-reaper".into());
            if reaper.spawn(move || child.wait()).is_err() {
                // No thread to be had: the child stays a zombie until
                // this process exits, as a dropped `std::process::Child`.
            }
        }
    }
}

/// How long a loop's close waits for a killed child to exit.
const KILLED_GRACE: Duration = Duration::from_secs(2);

/// Polls `child` until it exits (reaping it) or `grace` passes.
fn reaped_within(child: &mut Child, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    let mut pause = Duration::from_micros(50);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return true,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
            _ => return false,
        }
    }
}

/// Cancels the tasks of a `communicate` call that was itself cancelled
/// (dropped before it finished), so none of them reads on unobserved.
struct CancelOnDrop(Vec<TaskRef>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.cancel();
        }
    }
}

/// Starts `program` with `args`. Python:
/// `await asyncio.create_subprocess_exec(program, *args, stdin=..., ...)`.
///
/// # Examples
///
/// ```
/// use corio_net::{ProcessOptions, Stdio, create_subprocess_exec};
///
/// let (out, status) = corio_executor::run(async {
///     let options = ProcessOptions { stdout: Stdio::Pipe, ..ProcessOptions::default() };
///     let mut child = create_subprocess_exec("echo", ["hello"], options).await?;
///     let out = child.stdout.take().unwrap().read(-1).await?;
///     let status = child.wait().await?;
///     std::io::Result::Ok((out, status))
/// })??;
/// assert_eq!(out, b"hello\n");
/// assert!(status.success());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `NotFound` (naming the program) when it does not exist; the spawn's
/// other errors; `Unsupported` on kernels without pidfds (before 5.3);
/// `InvalidInput` for [`Stdio::Stdout`] anywhere but stderr.
pub async fn create_subprocess_exec<I, S>(
    program: impl AsRef<OsStr>,
    args: I,
    options: ProcessOptions,
) -> io::Result<Process>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut command = Command::new(program.as_ref());
    command.args(args);
    spawn(command, program.as_ref(), options)
}

/// Runs `cmd` through `/bin/sh -c`. Python:
/// `await asyncio.create_subprocess_shell(cmd, ...)`.
///
/// # Errors
/// As for [`create_subprocess_exec`] (a command that does not exist is
/// the shell's business: it exits with status 127).
pub async fn create_subprocess_shell(cmd: &str, options: ProcessOptions) -> io::Result<Process> {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(cmd);
    spawn(command, OsStr::new("/bin/sh"), options)
}

fn spawn(mut command: Command, program: &OsStr, options: ProcessOptions) -> io::Result<Process> {
    let lp = get_running_loop().map_err(io::Error::other)?;
    if options.stdin == Stdio::Stdout || options.stdout == Stdio::Stdout {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "Stdio::Stdout is only for stderr",
        ));
    }
    if let Some(cwd) = &options.cwd {
        command.current_dir(cwd);
    }
    command.envs(options.env.iter().map(|(k, v)| (k, v)));
    // Our ends of the pipes; the child's ends go into `command` and are
    // closed here once it has them (when `command` is dropped).
    let merged = options.stderr == Stdio::Stdout;
    let stdin = child_stdio(&mut command, options.stdin, Fd::Stdin)?;
    let stdout = child_stdio(&mut command, options.stdout, Fd::Stdout { merged })?;
    let stderr = if merged {
        None
    } else {
        child_stdio(&mut command, options.stderr, Fd::Stderr)?
    };
    let child = command.spawn().map_err(|err| {
        io::Error::new(
            err.kind(),
            format!("cannot run {}: {err}", program.to_string_lossy()),
        )
    })?;
    drop(command); // closes the child's ends of the pipes in this process
    let pid = child.id();
    let pidfd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(err) => {
            let mut child = child;
            child.kill().ok();
            child.wait().ok();
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("cannot watch child {pid}: pidfd_open failed ({err}); Linux ≥ 5.3 needed"),
            ));
        }
    };
    let state = Rc::new(ChildState {
        child: RefCell::new(Some(child)),
        status: Cell::new(None),
        killed: Cell::new(false),
        pidfd: RefCell::new(None),
        waiters: RefCell::new(Vec::new()),
    });
    let watcher = state.clone();
    // Weakly: the loop owns this callback, which must not keep it alive.
    let watch_loop = lp.downgrade();
    lp.add_reader(pidfd.as_raw_fd(), move || {
        if let Some(lp) = watch_loop.upgrade() {
            watcher.reap(&lp);
        }
    })
    .map_err(io::Error::other)?;
    *state.pidfd.borrow_mut() = Some(pidfd);
    Ok(Process {
        pid,
        kill_on_drop: options.kill_on_drop,
        stdin: stdin.map(|ours| child_input(&lp, ours)).transpose()?,
        stdout: stdout
            .map(|ours| child_output(&lp, ours, options.limit))
            .transpose()?,
        stderr: stderr
            .map(|ours| child_output(&lp, ours, options.limit))
            .transpose()?,
        state,
    })
}

#[derive(Clone, Copy)]
enum Fd {
    Stdin,
    /// `merged`: stderr goes to the same place ([`Stdio::Stdout`]).
    Stdout {
        merged: bool,
    },
    Stderr,
}

/// Connects one of the child's fds as `how` says; for a pipe, returns our
/// end (non-blocking). The child's end goes into `command` and is closed
/// in this process when `command` is dropped.
fn child_stdio(command: &mut Command, how: Stdio, which: Fd) -> io::Result<Option<OwnedFd>> {
    let (child_end, ours) = match how {
        Stdio::Inherit => (ChildEnd::Inherit, None),
        Stdio::Null => (ChildEnd::Null, None),
        Stdio::Pipe | Stdio::Stdout => {
            let (read_end, write_end) = sys::pipe()?;
            let (ours, theirs) = match which {
                Fd::Stdin => (write_end, read_end),
                Fd::Stdout { .. } | Fd::Stderr => (read_end, write_end),
            };
            sys::set_nonblocking(ours.as_fd())?;
            (ChildEnd::Fd(theirs), Some(ours))
        }
    };
    match which {
        Fd::Stdin => command.stdin(child_end.into_stdio()),
        Fd::Stdout { merged } => {
            if merged {
                command.stderr(child_end.stdio()?);
            }
            command.stdout(child_end.into_stdio())
        }
        Fd::Stderr => command.stderr(child_end.into_stdio()),
    };
    Ok(ours)
}

/// Where one of the child's fds goes, before it becomes a std `Stdio`
/// (which cannot be cloned, and stdout's may have to serve stderr too).
enum ChildEnd {
    Inherit,
    Null,
    Fd(OwnedFd),
}

impl ChildEnd {
    /// A `Stdio` for it that leaves it usable (an fd is duplicated).
    fn stdio(&self) -> io::Result<std::process::Stdio> {
        Ok(match self {
            ChildEnd::Inherit => std::process::Stdio::inherit(),
            ChildEnd::Null => std::process::Stdio::null(),
            ChildEnd::Fd(fd) => std::process::Stdio::from(fd.try_clone()?),
        })
    }

    fn into_stdio(self) -> std::process::Stdio {
        match self {
            ChildEnd::Inherit => std::process::Stdio::inherit(),
            ChildEnd::Null => std::process::Stdio::null(),
            ChildEnd::Fd(fd) => std::process::Stdio::from(fd),
        }
    }
}

impl Process {
    /// The child's process id. Python: `proc.pid`.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status once the child has been reaped, as asyncio's
    /// `returncode`: the exit code, or `-N` for a child that signal `N`
    /// ended; `None` while it runs. Python: `proc.returncode`.
    pub fn returncode(&self) -> Option<i32> {
        self.state.status.get().map(returncode)
    }

    /// Waits for the child to exit; its status. Python: `await
    /// proc.wait()`, which returns the `returncode` (here:
    /// `status.code()`, or `status.signal()` for a signal).
    ///
    /// Like asyncio's, it can deadlock when the child fills a pipe nobody
    /// reads: read the pipes first, or use
    /// [`communicate`](Self::communicate).
    ///
    /// # Errors
    /// None today; `io::Result` for what a future kernel interface may add.
    pub async fn wait(&self) -> io::Result<ExitStatus> {
        let state = &self.state;
        poll_fn(|cx| match state.status.get() {
            Some(status) => Poll::Ready(Ok(status)),
            None => {
                let mut waiters = state.waiters.borrow_mut();
                if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
                    waiters.push(cx.waker().clone());
                }
                Poll::Pending
            }
        })
        .await
    }

    /// Sends `input` to stdin (then closes it), reads stdout and stderr to
    /// EOF, all at once, and waits for the child to exit. Python:
    /// `await proc.communicate(input)`.
    ///
    /// Returns what stdout and stderr gave (empty for one not piped). A
    /// child that exits without reading its input is not an error (a
    /// broken pipe is ignored, as asyncio ignores it).
    ///
    /// Cancelling the call (dropping it, e.g. through `wait_for`) cancels
    /// its reading and writing and closes the pipes it took, as asyncio's
    /// does; the child itself runs on and can still be waited for.
    ///
    /// # Errors
    /// `InvalidInput` for input without a piped stdin; a read error.
    pub async fn communicate(&mut self, input: Option<&[u8]>) -> io::Result<(Vec<u8>, Vec<u8>)> {
        if input.is_some() && self.stdin.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "communicate with input needs stdin=Stdio::Pipe",
            ));
        }
        let feed = self.stdin.take().map(|writer| {
            let input = input.map(<[u8]>::to_vec);
            create_task(async move {
                if let Some(input) = input {
                    // A child that stops reading ends the feed, not the call.
                    if writer.write(&input).is_ok() {
                        writer.drain().await.ok();
                    }
                }
                writer.close();
            })
        });
        let read_all = |reader: Option<StreamReader>| {
            reader.map(|r| create_task(async move { r.read(-1).await }))
        };
        let out = read_all(self.stdout.take());
        let err = read_all(self.stderr.take());
        let mut guard = CancelOnDrop(feed.iter().map(Task::as_ref).collect());
        guard
            .0
            .extend([&out, &err].into_iter().flatten().map(Task::as_ref));
        // The tasks only end in a panic or cancellation if this call is
        // cancelled or a reader panicked; either way, say so as an error.
        let failed = |e: corio_executor::TaskError| io::Error::other(e.to_string());
        let mut got = (Vec::new(), Vec::new());
        if let Some(out) = out {
            got.0 = out.await.map_err(failed)??;
        }
        if let Some(err) = err {
            got.1 = err.await.map_err(failed)??;
        }
        if let Some(feed) = feed {
            feed.await.map_err(failed)?;
        }
        self.wait().await?;
        guard.0.clear(); // all done: nothing to cancel
        Ok(got)
    }

    /// Sends signal `signum` to the child. Python: `proc.send_signal(sig)`.
    /// Through the pidfd, so never to another process that reused the pid.
    ///
    /// # Errors
    /// `NotFound` ("process has exited", asyncio's `ProcessLookupError`)
    /// once the child has been reaped; `InvalidInput` for a bad number.
    pub fn send_signal(&self, signum: i32) -> io::Result<()> {
        match &*self.state.pidfd.borrow() {
            Some(pidfd) => sys::pidfd_send_signal(pidfd.as_fd(), signum),
            None => Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("process {} has exited", self.pid),
            )),
        }
    }

    /// `send_signal(SIGTERM)`. Python: `proc.terminate()`.
    ///
    /// # Errors
    /// As for [`send_signal`](Self::send_signal).
    pub fn terminate(&self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// `send_signal(SIGKILL)`. Python: `proc.kill()`.
    ///
    /// # Errors
    /// As for [`send_signal`](Self::send_signal).
    pub fn kill(&self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }
}

/// asyncio's `returncode` of a status: the code, or minus the signal.
fn returncode(status: ExitStatus) -> i32 {
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        (None, Some(signal)) => -signal,
        (None, None) => -1,
    }
}
