//! corio-executor: asyncio's event loop, futures and tasks.
//!
//! | asyncio | corio |
//! |---|---|
//! | `asyncio.new_event_loop()`, `loop.run_until_complete`, `run_forever`, `stop`, `close`, `time` | [`EventLoop`] |
//! | `loop.call_soon` / `call_later` / `call_at` → `Handle` / `TimerHandle` | [`EventLoop::call_soon`], [`Handle`], [`TimerHandle`] |
//! | `loop.call_soon_threadsafe` | [`LoopHandle::call_soon_threadsafe`] |
//! | `loop.add_reader` / `add_writer` | [`EventLoop::add_reader`], [`EventLoop::add_writer`] |
//! | `asyncio.Future` | [`Future`] |
//! | `asyncio.Task`, `create_task`, `ensure_future`, `current_task`, `all_tasks` | [`Task`], [`create_task`], [`ensure_future`], [`current_task`], [`all_tasks`] |
//! | `asyncio.run` | [`run`] |
//! | `sleep`, `wait_for`, `timeout` | [`sleep`], [`wait_for`], [`timeout`] |
//! | `wait`, `gather`, `as_completed`, `shield`, `TaskGroup` | [`wait`], [`gather`](fn@gather), [`as_completed`], [`shield`], [`TaskGroup`] |
//!
//! The loop is single-threaded and `!Send`, like asyncio's: tasks may hold
//! `Rc` and `RefCell`. Each iteration is asyncio's `_run_once` (see
//! [`EventLoop`] and the walkthrough `docs/02-event-loop.md`).
//!
//! # Layout
//!
//! The modules form layers, each using only those below it (no cycle):
//!
//! ```text
//!  run                 asyncio.run: the main task, Ctrl-C, the shutdown
//!  gather, combinators gather, wait, as_completed, shield, TaskGroup
//!  time                sleep, timeout, wait_for (timers as futures)
//!  task/               Task, TaskRef, the task cell and its step;
//!                      create_task & co.; EventLoop::run_until_complete
//!  raw                 the task cell's coroutine slot and its waker (the
//!                      one unsafe module, under Miri)
//!  future              asyncio.Future; EventLoop::create_future
//!  event_loop/         EventLoop and its engine: state, run_once (five
//!                      phases) and its observed twin, I/O callbacks,
//!                      close, the task table and the RawTask interface
//!                      every task implements, the thread's running loop,
//!                      signals, handles
//!  observe/            metrics (atomics any thread reads), the recorder's
//!                      ring and export, the watchdog thread: below
//!                      event_loop; and observe::inspect, the inspector
//!                      behind corio-ps, which asks the loops and so sits
//!                      above them (the one way back down: a new loop
//!                      checks CORIO_INSPECT and installs the wait hook)
//!  remote, wakers      the thread-safe queue and waker table; waiter lists
//!  error               one error enum per concern
//! ```
//!
//! The loop runs tasks without knowing any task type: it defines what it
//! needs of one (`event_loop/task_header.rs`: the header and `RawTask`),
//! and `task/` implements it, as tokio's scheduler and task modules meet
//! through a trait. A task's waker (`raw`) reaches its loop the same way
//! down: through the thread's running loop, or the waker table in
//! `remote`.
#![deny(missing_docs)]
// No `unsafe` anywhere but in `raw` (DESIGN rule 6), which is audited,
// every block with its `// SAFETY:`, and tested under Miri in CI.
#![deny(unsafe_code)]

mod combinators;
mod cores;
mod error;
mod event_loop;
mod future;
mod gather;
pub mod generator;
pub mod observe;
#[allow(unsafe_code)]
mod raw;
mod remote;
mod run;
mod task;
mod time;
mod wakers;

pub use combinators::{
    AsCompleted, ReturnWhen, Shield, TaskGroup, as_completed, shield, try_wait, wait,
};
pub use cores::{
    Core, Cores, CoresError, Receiver, SendError, Sender, TrySendError, channel, run_per_core,
};
pub use corio_timer::Clock;
pub use error::{
    InvalidStateError, LoopError, RunError, SignalError, TaskError, TimeoutError, panic_message,
};
pub use event_loop::{
    DEFAULT_SLOW_CALLBACK_DURATION, EventLoop, ExceptionContext, Handle, LoopCapacities, NEVER,
    Shutdown, TimerHandle, WeakLoop, add_signal_handler, get_event_loop, get_running_loop,
    new_event_loop, remove_signal_handler, set_event_loop,
};
pub use future::Future;
pub use gather::{Gather, GatherError, gather, gather_all, gather_tasks, try_gather};
#[doc(hidden)]
pub use gather::{TaskTuple, gather_tuple};
pub use observe::{Histogram, LoopMetrics, SlowStep, process_metrics};
pub use remote::LoopHandle;
pub use run::run;

pub use task::{Task, TaskRef, all_tasks, create_task, current_task, dump_tasks, ensure_future};
pub use time::{Sleep, Timeout, sleep, sleep_until, timeout, timeout_at, wait_for, yield_now};
