//! Waiting for many: [`wait`], and (below) gather, as_completed, shield,
//! TaskGroup.

use std::future::poll_fn;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use crate::task::TaskRef;
use crate::time::sleep;

/// When [`wait`] returns. Python: `asyncio.FIRST_COMPLETED` etc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnWhen {
    /// As soon as one task is done.
    FirstCompleted,
    /// As soon as one task fails (panic, cancellation), or all are done.
    FirstException,
    /// When all are done.
    AllCompleted,
}

/// Waits for `tasks` until `return_when` holds or `timeout` passes, and
/// splits them into `(done, pending)`. Python: `asyncio.wait(aws, timeout, return_when)`.
///
/// Nothing is cancelled on a timeout: the pending tasks keep running.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{ReturnWhen, create_task, run, sleep, wait};
///
/// let (done, pending) = run(async {
///     let fast = create_task(sleep(Duration::from_millis(1)));
///     let slow = create_task(sleep(Duration::from_secs(5)));
///     let (done, pending) = wait([fast.as_ref(), slow.as_ref()], None, ReturnWhen::FirstCompleted).await;
///     for task in &pending {
///         task.cancel();
///     }
///     (done.len(), pending.len())
/// })?;
/// assert_eq!((done, pending), (1, 1));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub async fn wait(
    tasks: impl IntoIterator<Item = TaskRef>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> (Vec<TaskRef>, Vec<TaskRef>) {
    let tasks: Vec<TaskRef> = tasks.into_iter().collect();
    let mut timer = pin!(timeout.map(sleep));
    poll_fn(|cx| {
        let done = tasks.iter().filter(|t| t.done()).count();
        let finished = match return_when {
            ReturnWhen::AllCompleted => done == tasks.len(),
            ReturnWhen::FirstCompleted => done > 0 || tasks.is_empty(),
            ReturnWhen::FirstException => {
                done == tasks.len() || tasks.iter().any(|t| t.failure().is_some())
            }
        };
        let timed_out = match timer.as_mut().as_pin_mut() {
            Some(timer) => timer.poll(cx).is_ready(),
            None => false,
        };
        if finished || timed_out {
            return Poll::Ready(());
        }
        for task in tasks.iter().filter(|t| !t.done()) {
            task.add_done_waker(cx.waker());
        }
        Poll::Pending
    })
    .await;
    tasks.into_iter().partition(TaskRef::done)
}
