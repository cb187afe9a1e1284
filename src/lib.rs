//! corio: Python's asyncio, rebuilt in Rust.
//!
//! A hand-written epoll reactor that registers and unregisters fds exactly
//! like Python's `selectors`, an event loop that steps tasks the way
//! asyncio steps generators, and asyncio's toolbox on top. This facade is
//! the one crate a user depends on: it re-exports the others under
//! asyncio's names, with one [`Error`] type and a [`prelude`].
//!
//! ```
//! use std::time::Duration;
//! use corio::prelude::*;
//!
//! async fn compute(x: i32, y: i32) -> i32 {
//!     sleep(Duration::from_millis(10)).await;
//!     x + y
//! }
//!
//! fn main() -> corio::Result<()> {
//!     let sum = run(async {
//!         let task = create_task(compute(1, 2));
//!         task.await
//!     })??;
//!     assert_eq!(sum, 3);
//!     Ok(())
//! }
//! ```
//!
//! - the event loop, futures and tasks (`corio-executor`), at the top as in
//!   asyncio: [`EventLoop`], [`run`], [`create_task`], [`sleep`],
//!   [`gather`](fn@gather), [`wait`], [`wait_for`], [`timeout`],
//!   [`TaskGroup`], …; generators in [`generator`].
//! - [`selectors`]: the reactor (`corio-reactor`), Python's `selectors`.
//! - [`sync`]: `Lock`, `Event`, `Condition`, `Semaphore`, `Barrier`, the
//!   queues (`corio-sync`), also at the top.
//! - [`offload`]: the thread pool and the loop ↔ thread bridge
//!   (`corio-offload`); [`to_thread`], [`run_in_executor`], [`wrap_future`],
//!   [`run_coroutine_threadsafe`] are at the top, as in asyncio.
//! - [`net`]: sockets, transports and protocols, datagram endpoints,
//!   streams (`corio-net`); the streams' functions are at the top too.
//! - [`subprocess`] and [`signal`]: child processes; signal numbers.
//! - [`Error`] / [`Result`]: every crate's error converts into it.
//! - [`docs`]: the walkthroughs, from the selector to the crawler; every
//!   code block in them is compiled and run as a doctest.
//!
//! # Layout
//!
//! This crate only gathers: `lib.rs` (the re-exports), `exit.rs`
//! ([`main`], [`Exit`]), `error.rs` ([`Error`]), `prelude.rs`, and `docs.rs`
//! (the walkthroughs). The crates it gathers, bottom up: reactor and timer,
//! sync, executor, offload, net, compat (`docs/README.md` draws the stack).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

/// Python's `selectors` module: the reactor everything else stands on.
///
/// A re-export of the `corio-reactor` crate.
pub mod selectors {
    pub use corio_reactor::*;
}

pub mod docs;
mod error;
mod exit;
pub mod prelude;

pub use error::{Error, Result};
pub use exit::{Exit, Flatten, main};

/// Signal numbers and the process-wide plumbing behind
/// `add_signal_handler` (Python's `signal` module, the parts asyncio uses):
/// `corio::signal::SIGINT`, `disposition`, `raise_signal`.
pub mod signal {
    pub use corio_reactor::signal::*;
}

/// The timer queue and clocks behind the loop (`corio-timer`).
pub mod timer {
    pub use corio_timer::*;
}

pub use corio_executor::*;

/// asyncio's synchronization primitives and queues (`corio-sync`):
/// `corio::sync::Lock` is `asyncio.Lock`, and so on.
pub mod sync {
    pub use corio_sync::*;
}

/// Blocking code off the loop (`corio-offload`): Python's
/// `concurrent.futures.ThreadPoolExecutor` and asyncio's `run_in_executor`,
/// `to_thread`, `wrap_future`, `run_coroutine_threadsafe`.
pub mod offload {
    pub use corio_offload::*;
}

/// Sockets on the loop (`corio-net`): `TcpStream`, `TcpListener`,
/// `UdpSocket`, Unix sockets, `getaddrinfo` — asyncio's `sock_*` calls.
pub mod net {
    pub use corio_net::*;
}

/// Child processes (from `corio-net`): Python's `asyncio.subprocess`
/// module. `corio::subprocess::Stdio::Pipe` is `asyncio.subprocess.PIPE`;
/// [`create_subprocess_exec`] and [`create_subprocess_shell`] are also at
/// the top, as in asyncio.
pub mod subprocess {
    pub use corio_net::{
        Process, ProcessOptions, Stdio, create_subprocess_exec, create_subprocess_shell,
    };
}

pub use corio_net::{create_subprocess_exec, create_subprocess_shell};

pub use corio_offload::{
    ConcurrentFuture, OffloadError, ThreadPoolExecutor, WrappedFuture, run_coroutine_threadsafe,
    run_in_executor, to_thread, wrap_future,
};

pub use corio_sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, LockGuard, PriorityQueue,
    PutError, Queue, Semaphore, SemaphoreGuard, SyncError,
};

pub use corio_net::{
    DatagramProtocol, DatagramTransport, Protocol, StreamError, StreamReader, StreamWriter,
    Transport, open_connection, open_unix_connection, start_server, start_unix_server,
};

/// The Rust async ecosystem on corio (`corio-compat`, features
/// `futures-io`, `hyper`, `tls`): `futures-io` traits, hyper's runtime
/// traits and server, rustls. See the walkthrough `docs/11-ecosystem.md`.
#[cfg(any(feature = "futures-io", feature = "hyper", feature = "tls"))]
pub mod compat {
    pub use corio_compat::*;
}
