//! [`main`] and [`Exit`]: a program's `main` that ends as a Python script
//! run with `asyncio.run` does, and [`Flatten`], the one call that turns a
//! task's nested results into one `corio::Result`.

use std::io::Write;
use std::process::{ExitCode, Termination};

use crate::Error;

/// How a program ends: what [`main`] returns, for `fn main() -> Exit`.
///
/// Mirrors how CPython ends a script whose `asyncio.run(main())` returned
/// or raised:
/// - success: status 0;
/// - Ctrl-C ([`Error::Interrupted`], Python's `KeyboardInterrupt`): no
///   "Error: …" line; after the cleanup `run` already did, the process
///   gives SIGINT its default action back and kills itself with it, as
///   CPython 3.8+ does, so the parent's `waitpid` sees "killed by signal
///   2" (Python's `subprocess` return code -2) and a shell loop around the
///   program stops. Should the signal not end it (blocked in this thread),
///   it exits with 130 (128 + SIGINT), CPython's fallback too;
/// - any other error: its message on stderr, status 1;
/// - [`Exit::code`], or [`Error::SystemExit`] out of `main`'s future:
///   that status, silently (Python's `sys.exit(n)`).
///
/// Differs from `fn main() -> corio::Result<()>`, which prints "Error:
/// Interrupted" and exits 1 on Ctrl-C.
#[derive(Debug)]
#[must_use = "return it from main"]
pub struct Exit(Ending);

#[derive(Debug)]
enum Ending {
    Outcome(Result<(), Error>),
    Code(u8),
}

impl Exit {
    /// Ends the program with status `code` and prints nothing. Python:
    /// `sys.exit(code)` (and `SystemExit` raised out of `asyncio.run`).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::process::{ExitCode, Termination};
    ///
    /// // A `fn main() -> corio::Exit`, named otherwise to be called here.
    /// fn grep_main() -> corio::Exit {
    ///     let found = corio::run(async { 0_usize }).unwrap_or(0);
    ///     // grep's convention: 1 when nothing matched, no message.
    ///     if found == 0 { corio::Exit::code(1) } else { corio::Exit::code(0) }
    /// }
    /// assert_eq!(grep_main().report(), ExitCode::from(1));
    /// // The same from inside the program's future: `sys.exit(3)`.
    /// let exit = corio::main(async { Err(corio::Error::SystemExit(3)) });
    /// assert_eq!(exit.report(), ExitCode::from(3));
    /// ```
    pub fn code(code: u8) -> Exit {
        Exit(Ending::Code(code))
    }

    /// Ends the program as Ctrl-C does: killed by SIGINT (see [`Exit`]).
    /// Python: `KeyboardInterrupt` reaching the top of a script. For a
    /// `main` that handled [`RunError::Interrupted`](crate::RunError) itself.
    pub fn interrupted() -> Exit {
        Exit(Ending::Outcome(Err(Error::Interrupted)))
    }
}

impl Termination for Exit {
    fn report(self) -> ExitCode {
        match self.0 {
            Ending::Code(code) | Ending::Outcome(Err(Error::SystemExit(code))) => {
                ExitCode::from(code)
            }
            Ending::Outcome(Ok(())) => ExitCode::SUCCESS,
            Ending::Outcome(Err(Error::Interrupted)) => {
                // What the process printed must not be lost with it.
                let _ = std::io::stdout().flush();
                let _ = std::io::stderr().flush();
                let _ = corio_reactor::signal::exit_by_signal(corio_reactor::signal::SIGINT);
                ExitCode::from(130)
            }
            Ending::Outcome(Err(error)) => {
                eprintln!("Error: {error}");
                ExitCode::FAILURE
            }
        }
    }
}

impl<E: Into<Error>> From<Result<(), E>> for Exit {
    fn from(result: Result<(), E>) -> Exit {
        Exit(Ending::Outcome(result.map_err(Into::into)))
    }
}

/// Runs `main` with [`run`](crate::run) and says how the program ends:
/// the idiom for a binary's `main`. Python: `asyncio.run(main())` at the
/// bottom of a script: Ctrl-C ends the process by SIGINT with no
/// traceback noise (see [`Exit`]).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use corio::prelude::*;
///
/// fn main() -> corio::Exit {
///     corio::main(async {
///         sleep(Duration::from_secs(60)).await; // Ctrl-C: killed by SIGINT
///         println!("slept");
///         Ok(())
///     })
/// }
/// ```
pub fn main<F>(main: F) -> Exit
where
    F: std::future::Future<Output = crate::Result<()>> + 'static,
{
    Exit(Ending::Outcome(match crate::run(main) {
        Ok(outcome) => outcome,
        Err(run_error) => Err(run_error.into()),
    }))
}

/// Flattens nested results into one [`corio::Result`](crate::Result):
/// what `wait_for`, `gather` and awaited tasks give for a future that
/// itself returns a `Result` (`Result<Result<T, E>, TaskError>`), or `run`
/// for one (`Result<Result<T, E>, RunError>`). No asyncio counterpart: a
/// Python exception is one thing wherever it is raised.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio::prelude::*;
///
/// async fn fetch() -> corio::Result<u32> {
///     sleep(Duration::from_millis(1)).await;
///     Ok(7)
/// }
///
/// let value: corio::Result<u32> = run(async {
///     wait_for(fetch(), Some(Duration::from_secs(1))).await.flatten_result()
/// })
/// .flatten_result();
/// assert_eq!(value?, 7);
/// # Ok::<(), corio::Error>(())
/// ```
pub trait Flatten<T> {
    /// The inner result's value, or whichever error came first (outer,
    /// then inner), as a [`corio::Error`](crate::Error).
    ///
    /// # Errors
    /// The outer error (the task's: cancelled, timed out, panicked; the
    /// loop's) or the inner one (the future's own).
    fn flatten_result(self) -> crate::Result<T>;
}

impl<T, E, O> Flatten<T> for Result<Result<T, E>, O>
where
    E: Into<Error>,
    O: Into<Error>,
{
    fn flatten_result(self) -> crate::Result<T> {
        self.map_err(Into::into)?.map_err(Into::into)
    }
}
