//! The names most programs need, for `use corio::prelude::*;`: running
//! the loop, tasks and their combinators, the sync primitives, the thread
//! offload, streams and subprocesses.
//!
//! Left out on purpose: `corio::Future` (asyncio's `Future`), which would
//! shadow the standard `Future` trait, and `corio::Result`, which would
//! shadow the standard `Result`; name them with their path.

pub use corio_executor::{
    EventLoop, Task, TaskError, TaskGroup, as_completed, create_task, gather, get_running_loop,
    run, shield, sleep, timeout, wait, wait_for,
};
pub use corio_net::{
    ProcessOptions, Stdio, StreamReader, StreamWriter, create_subprocess_exec,
    create_subprocess_shell, open_connection, start_server,
};
pub use corio_offload::{run_in_executor, to_thread};
pub use corio_sync::{Condition, Event, Lock, Queue, Semaphore};

pub use corio_executor::RunError;

pub use crate::{Error, Flatten};
