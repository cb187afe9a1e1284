//! corio: Python's asyncio, rebuilt in Rust.
//!
//! A hand-written epoll reactor that registers and unregisters fds exactly
//! like Python's `selectors`, and (as the crates land) an event loop that
//! steps tasks the way asyncio steps generators, with asyncio's toolbox on
//! top. This facade re-exports the crates under asyncio's names.
//!
//! - the event loop, futures and tasks (`corio-executor`), re-exported at
//!   the top: [`EventLoop`], [`run`], [`create_task`], [`sleep`], [`gather`](fn@gather),
//!   [`wait`], [`TaskGroup`], …
//! - [`selectors`]: the reactor (`corio-reactor`), Python's `selectors`.
//! - [`sync`]: `Lock`, `Event`, `Condition`, `Semaphore`, `Barrier`, the
//!   queues (`corio-sync`), also re-exported at the top.
//! - [`offload`]: the thread pool and the loop ↔ thread bridge
//!   (`corio-offload`); [`to_thread`], [`run_in_executor`], [`wrap_future`],
//!   [`run_coroutine_threadsafe`] are at the top, as in asyncio.
//! - [`docs`]: the walkthroughs, from the selector up; every code block in
//!   them is compiled and run as a doctest.
#![deny(missing_docs)]

/// Python's `selectors` module: the reactor everything else stands on.
///
/// A re-export of the `corio-reactor` crate.
pub mod selectors {
    pub use corio_reactor::*;
}

pub mod docs;

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
