//! corio-offload: blocking code off the loop, on a pool of threads.
//!
//! A coroutine must never block: a blocking call stops the whole loop, every
//! task with it. asyncio's answer is to hand the call to a thread and await
//! the result; this crate is that answer.
//!
//! | Python | corio |
//! |---|---|
//! | `concurrent.futures.ThreadPoolExecutor` (`submit`, `map`, `shutdown`) | [`ThreadPoolExecutor`], [`Builder`] |
//! | `concurrent.futures.Future` | [`ConcurrentFuture`] |
//! | `loop.run_in_executor(executor, func)` | [`run_in_executor`] |
//! | `asyncio.to_thread(func)` | [`to_thread`] |
//! | `asyncio.wrap_future(future)` | [`wrap_future`] → [`WrappedFuture`] |
//! | `asyncio.run_coroutine_threadsafe(coro, loop)` | [`run_coroutine_threadsafe`] |
//! | `loop.set_default_executor(executor)` | [`set_default_executor`] |
//!
//! The worker queue is a crossbeam channel; a finished job wakes its
//! awaiting task through the loop's thread-safe queue and eventfd. A panic in
//! a job becomes [`OffloadError::Panicked`]. The loop's default executor is
//! made on first use and shut down by [`corio_executor::run`] (waiting for
//! its workers) or by [`EventLoop::close`](corio_executor::EventLoop::close)
//! (not waiting). The walkthrough `docs/07-offload.md` follows one job there
//! and back.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use corio_offload::to_thread;
//!
//! let read = corio_executor::run(async {
//!     // A blocking call, run on a worker while the loop stays free.
//!     to_thread(|| std::fs::read_to_string("/proc/self/stat").map(|s| s.len())).await
//! })?;
//! assert!(read??.gt(&0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//!
//! `pool.rs` (the workers and their queue), `future.rs`
//! ([`ConcurrentFuture`], `concurrent.futures.Future`), `bridge.rs` (the
//! loop's side: `run_in_executor`, `to_thread`, `wrap_future`,
//! `run_coroutine_threadsafe`, the default executor), `error.rs`. No
//! `unsafe`.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod bridge;
mod error;
mod future;
mod pool;

pub use bridge::{
    THREAD_JOIN_TIMEOUT, WrappedFuture, default_executor, run_coroutine_threadsafe,
    run_in_executor, set_default_executor, to_thread, wrap_future,
};
pub use error::OffloadError;
pub use future::ConcurrentFuture;
pub use pool::{Builder, MapResults, ThreadPoolExecutor, default_max_workers};
