//! corio-sync: asyncio's synchronization primitives and queues, for the
//! tasks of one loop.
//!
//! | asyncio | corio |
//! |---|---|
//! | `asyncio.Lock` | [`Lock`] (`acquire().await` → [`LockGuard`]) |
//! | `asyncio.Event` | [`Event`] |
//! | `asyncio.Condition` | [`Condition`] (`wait(guard)` gives the guard back) |
//! | `asyncio.Semaphore`, `BoundedSemaphore` | [`Semaphore`], [`BoundedSemaphore`] |
//! | `asyncio.Barrier` | [`Barrier`] |
//! | `asyncio.Queue`, `PriorityQueue`, `LifoQueue` | [`Queue`], [`PriorityQueue`], [`LifoQueue`] |
//! | `QueueEmpty`, `QueueFull`, `QueueShutDown`, `BrokenBarrierError` | [`SyncError`] variants |
//!
//! # One loop, no threads
//!
//! Like asyncio's, these primitives serve the tasks of *one* event loop:
//! they use `RefCell`, no atomics, and are not `Sync`: a primitive cannot
//! be shared between threads (and an `Rc` of one cannot even be sent). To
//! hand work to a loop from another thread, use corio-executor's
//! `LoopHandle::call_soon_threadsafe` (and corio-offload for running
//! blocking work on threads).
//!
//! # Any executor
//!
//! Nothing here depends on corio's loop: a waiter parks on std's `Waker`,
//! so the primitives work under any executor (this crate depends on no
//! corio crate; its own tests run on a tiny executor written on std
//! alone). The one thing a loop adds is where a misuse found in a drop is
//! reported: see [`set_misuse_hook`].
//!
//! # Layout
//!
//! `waiters.rs` (the one waiter queue every primitive stands on),
//! `semaphore.rs` (the permits core, [`Semaphore`], [`BoundedSemaphore`]),
//! `lock.rs`, `event.rs`, `condition.rs`, `barrier.rs`, `queue.rs` (the
//! three queues over one base), `error.rs`, `misuse.rs`. No `unsafe`.
//!
//! ```compile_fail
//! fn needs_sync<T: Sync>(_: T) {}
//! needs_sync(corio_sync::Lock::new());
//! ```
//!
//! # Hand-off, not wake-and-retry
//!
//! Every primitive sits on one waiter queue (`waiters.rs`) whose rule is:
//! whoever makes progress possible *grants* it to the first waiter — the
//! lock, a permit, an item, a free slot — and a grant that its waiter never
//! collects (the waiting future was dropped: its task was cancelled) is
//! passed to the next waiter. So waiters are served strictly in arrival
//! order, nothing is lost to cancellation, and nobody deadlocks on a
//! wake-up that went to a task that no longer wants it. `docs/05-sync.md`
//! walks through the chains step by step.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod barrier;
mod condition;
mod error;
mod event;
mod lock;
mod misuse;
pub mod queue;
pub mod semaphore;
mod waiters;

pub use barrier::{Barrier, BarrierWait};
pub use condition::Condition;
pub use error::{PutError, SyncError};
pub use event::{Event, EventWait};
pub use lock::{Lock, LockGuard};
pub use misuse::{MISUSE_MESSAGE, MisuseHook, WaitHook, set_misuse_hook, set_wait_hook};
pub use queue::{LifoQueue, PriorityQueue, Queue};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard};
