//! [`Task`]: a coroutine driven by its loop, one `poll` per step.
//!
//! # The task as a state machine
//!
//! ```text
//!            create_task                step: Ready(v) / panic / cancel
//!   (new) ──────────────▶ Pending ─────────────────────────────────▶ Done
//!                          │   ▲
//!            step: Pending │   │ wake (schedules one step)
//!                          ▼   │
//!                        (parked on a waker)
//! ```
//!
//! - `scheduled` is true exactly while a step of the task sits in the ready
//!   queue, so any number of wakes before it runs schedule one step.
//! - Only a step moves the task to Done, and it does so once: it stores the
//!   outcome, removes the task from the loop's table, wakes whoever waits
//!   for it and schedules the done callbacks with `call_soon`.
//! - `cancel()` only asks (`cancel_requested`) and schedules a step; that
//!   step drops the coroutine where it was parked (its destructors are its
//!   `finally`) and ends the task as cancelled. So `cancelled()` turns true
//!   only after the cancelling step, as in asyncio.
//! - `awaiting` is what the coroutine was parked on at the end of the last
//!   step (asyncio's `_fut_waiter`): cancelling the task cancels it too.
//!
//! The parts, in the order a reader meets them:
//! - (in `event_loop/task_header.rs`) what the loop knows of every task,
//!   whatever its output type (its key, flags, name, done-waiters), and
//!   the `RawTask` trait the loop steps it through;
//! - `cell`: the task itself, `TaskCell`: header, coroutine and outcome in
//!   one allocation, its step and its finish;
//! - `handle`: the handles users hold, [`Task<T>`] and [`TaskRef`];
//! - `functions`: asyncio's module-level task functions (`create_task`,
//!   `current_task`, `all_tasks`, …).

mod cell;
mod functions;
mod handle;

pub(crate) use cell::{OutcomeRef, spawn};
pub use functions::{all_tasks, create_task, current_task, dump_tasks, ensure_future};
pub use handle::{Task, TaskRef};
