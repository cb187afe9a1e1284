//! [`main`] and [`Exit`]: a program's `main` that ends as a Python script
//! run with `asyncio.run` does, and [`Flatten`], the one call that turns a
//! task's nested results into one `corio::Result`.

use std::process::{ExitCode, Termination};

use crate::Error;

/// How a program ends: what [`main`] returns, for `fn main() -> Exit`.
///
/// Mirrors how CPython ends a script whose `asyncio.run(main())` returned
/// or raised: 0 on success; on Ctrl-C, exit status 130 (128 + SIGINT, what
/// a shell expects of a program interrupted by a signal) and no
/// "Error: …" line; on any other error, its message on stderr and 1.
/// Differs from `fn main() -> corio::Result<()>`, which prints "Error:
/// Interrupted" and exits 1 on Ctrl-C.
#[derive(Debug)]
#[must_use = "return it from main"]
pub struct Exit(Result<(), Error>);

impl Termination for Exit {
    fn report(self) -> ExitCode {
        match self.0 {
            Ok(()) => ExitCode::SUCCESS,
            Err(Error::Interrupted) => ExitCode::from(130),
            Err(error) => {
                eprintln!("Error: {error}");
                ExitCode::FAILURE
            }
        }
    }
}

impl<E: Into<Error>> From<Result<(), E>> for Exit {
    fn from(result: Result<(), E>) -> Exit {
        Exit(result.map_err(Into::into))
    }
}

/// Runs `main` with [`run`](crate::run) and says how the program ends:
/// the idiom for a binary's `main`. Python: `asyncio.run(main())` at the
/// bottom of a script, where Ctrl-C exits with 130 and no traceback noise.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use corio::prelude::*;
///
/// fn main() -> corio::Exit {
///     corio::main(async {
///         sleep(Duration::from_secs(60)).await; // Ctrl-C: exit status 130
///         println!("slept");
///         Ok(())
///     })
/// }
/// ```
pub fn main<F>(main: F) -> Exit
where
    F: std::future::Future<Output = crate::Result<()>> + 'static,
{
    Exit(match crate::run(main) {
        Ok(outcome) => outcome,
        Err(run_error) => Err(run_error.into()),
    })
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
