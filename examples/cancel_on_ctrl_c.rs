//! The notes' Ctrl-C example: three tasks sleep 1, 2 and 3 seconds; press
//! Ctrl-C after about 1.5 s and the two still sleeping are cancelled.
//!
//! ```text
//! cargo run --example cancel_on_ctrl_c                # then Ctrl-C within 3 s
//! cargo run --example cancel_on_ctrl_c -- --slow-exit # shutdown waits for a
//!                                                     # 30 s thread: Ctrl-C twice
//! ```
//!
//! Python, for comparison:
//!
//! ```python
//! async def worker(n):
//!     try:
//!         await asyncio.sleep(n)
//!         print(f"worker {n}: done")
//!     except asyncio.CancelledError:
//!         print(f"worker {n}: cancelled")
//!         raise
//!
//! async def main():
//!     await asyncio.gather(worker(1), worker(2), worker(3))
//!
//! asyncio.run(main())   # Ctrl-C: KeyboardInterrupt; killed by SIGINT
//! ```
//!
//! `run` does what `asyncio.run` does on Ctrl-C: it cancels the main task,
//! whose `gather` cancels the workers; each worker's sleep is dropped at its
//! await point, which runs its guard (the `except CancelledError` above);
//! then `run` returns `Interrupted`, and this program ends as CPython
//! does after a `KeyboardInterrupt`: killed by SIGINT (`Exit::interrupted`),
//! which its parent sees as "killed by signal 2" (Python's return code -2).
//!
//! With `--slow-exit`, a blocking job sleeps 30 s on the default executor,
//! and `run`'s shutdown waits for it, as `asyncio.run` waits for
//! `shutdown_default_executor`. The first Ctrl-C gave SIGINT back its
//! default action, so a second one ends the process at once.

use std::io::Write;
use std::time::Duration;

use corio::{RunError, create_task, gather, run, sleep, to_thread};

/// Prints "cancelled" if dropped before the sleep finished: the Rust shape
/// of `except CancelledError`.
struct OnCancel(u32);

impl Drop for OnCancel {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        say(&format!("worker {}: cancelled", self.0));
    }
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().ok(); // a pipe is block-buffered otherwise
}

/// Worker `n` sleeps `n` units (the notes: seconds).
async fn worker(n: u32, unit: Duration) {
    let guard = OnCancel(n);
    sleep(unit * n).await;
    std::mem::forget(guard);
    say(&format!("worker {n}: done"));
}

/// The three workers, gathered: what `run` cancels on Ctrl-C. With
/// `slow_exit`, a 30-unit blocking job holds up the shutdown.
async fn workers(unit: Duration, slow_exit: bool) -> Result<(), corio::TaskError> {
    if slow_exit {
        create_task(to_thread(move || std::thread::sleep(unit * 30)));
    }
    gather(vec![worker(1, unit), worker(2, unit), worker(3, unit)])
        .await
        .map(drop)
}

/// The tour's version: units of 0.1 s, and the Ctrl-C comes from a
/// thread of this program (SIGINT to the process after 0.15 s), so the
/// real signal path runs: handler, pipe, loop callback, cancellation.
#[allow(dead_code)] // used by the tour only
pub fn demo() -> corio::Result<()> {
    if !corio::signal::is_main_thread() {
        say("(skipped: run() handles Ctrl-C on the main thread only)");
        return Ok(());
    }
    if corio::signal::disposition(corio::signal::SIGINT)? == corio::signal::Disposition::Ignore {
        // Started with SIGINT ignored (a background job of a shell): run()
        // leaves an ignored Ctrl-C alone, as asyncio does.
        say("(skipped: SIGINT is ignored here, and run() respects that)");
        return Ok(());
    }
    let unit = Duration::from_millis(100);
    let ctrl_c = std::thread::spawn(move || {
        std::thread::sleep(unit * 3 / 2);
        corio::signal::raise_signal(corio::signal::SIGINT)
    });
    let outcome = run(workers(unit, false));
    ctrl_c.join().expect("the Ctrl-C thread")?;
    match outcome {
        Err(RunError::Interrupted) => {
            say("interrupted: run() returned Interrupted (the program dies by SIGINT)");
            Ok(())
        }
        other => Err(std::io::Error::other(format!("expected Interrupted, got {other:?}")).into()),
    }
}

#[allow(dead_code)] // the tour includes this file and calls `demo`
fn main() -> corio::Exit {
    let slow_exit = std::env::args().any(|a| a == "--slow-exit");
    say(&format!(
        "pid {}: press Ctrl-C within 3 s",
        std::process::id()
    ));
    match run(workers(Duration::from_secs(1), slow_exit)) {
        Ok(Ok(())) => {
            say("all done");
            corio::Exit::code(0)
        }
        Ok(Err(err)) => {
            eprintln!("a worker failed: {err}");
            corio::Exit::code(1)
        }
        Err(RunError::Interrupted) => {
            say("interrupted");
            corio::Exit::interrupted()
        }
        Err(err) => {
            eprintln!("error: {err}");
            corio::Exit::code(1)
        }
    }
}
