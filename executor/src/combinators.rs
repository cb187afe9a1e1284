//! Waiting for many: [`wait`], [`as_completed`], [`shield`], [`TaskGroup`].

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::TaskError;
use crate::task::{OutcomeRef, Task, TaskRef};
use crate::time::{Sleep, sleep};

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
/// Plain futures become tasks with `ensure_future(f).as_ref()` (asyncio's
/// `wait` wraps them the same way).
///
/// `FirstException` here sees panics and cancellations only, since a
/// `TaskRef` cannot look into a task's value; for tasks returning
/// `Result`, [`try_wait`] also ends at the first `Err`.
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
    let mut tasks: Vec<TaskRef> = tasks.into_iter().collect();
    wait_on(&mut tasks, timeout, return_when, |tasks| {
        tasks.iter().any(|t| t.failure().is_some())
    })
    .await;
    tasks.into_iter().partition(TaskRef::done)
}

/// The engine of [`wait`] and [`try_wait`]: waits on `tasks` until
/// `return_when` holds (`failed` says whether some task failed, for
/// `FirstException`) or `timeout` passes; each handle keeps one waiter
/// entry while waiting and gives it up at the end.
async fn wait_on(
    tasks: &mut [TaskRef],
    timeout: Option<Duration>,
    return_when: ReturnWhen,
    failed: impl Fn(&[TaskRef]) -> bool,
) {
    let mut timer = pin!(timeout.map(sleep));
    poll_fn(|cx| {
        let done = tasks.iter().filter(|t| t.done()).count();
        let finished = match return_when {
            ReturnWhen::AllCompleted => done == tasks.len(),
            ReturnWhen::FirstCompleted => done > 0 || tasks.is_empty(),
            ReturnWhen::FirstException => done == tasks.len() || failed(tasks),
        };
        let timed_out = match timer.as_mut().as_pin_mut() {
            Some(timer) => timer.poll(cx).is_ready(),
            None => false,
        };
        if finished || timed_out {
            return Poll::Ready(());
        }
        // Each handle keeps its own entry: polled again, it replaces it.
        for task in tasks.iter_mut().filter(|t| !t.done()) {
            task.wait_done(cx.waker());
        }
        Poll::Pending
    })
    .await;
    for task in tasks.iter_mut() {
        task.stop_waiting();
    }
}

/// [`wait`] for tasks whose output is a `Result`: with
/// [`ReturnWhen::FirstException`] it also ends at the first task that
/// returned `Err` (asyncio's "first exception", since a Python coroutine's
/// failure is its exception), as [`try_gather`](crate::try_gather) and
/// `TaskGroup::try_create_task` count failures. Python: `asyncio.wait(aws,
/// timeout, return_when)`.
///
/// Returns the tasks themselves, split into `(done, pending)`, so their
/// values can be awaited. Nothing is cancelled on a timeout.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{ReturnWhen, create_task, run, sleep, try_wait};
///
/// let (done, pending) = run(async {
///     let failing = create_task(async {
///         sleep(Duration::from_millis(1)).await;
///         Err::<u32, &str>("no")
///     });
///     let slow = create_task(async {
///         sleep(Duration::from_secs(10)).await;
///         Ok(1)
///     });
///     let (done, pending) = try_wait([failing, slow], None, ReturnWhen::FirstException).await;
///     for task in &pending {
///         task.cancel();
///     }
///     (done.len(), pending.len())
/// })?;
/// assert_eq!((done, pending), (1, 1), "ended at the first Err");
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub async fn try_wait<T: 'static, E: 'static>(
    tasks: impl IntoIterator<Item = Task<Result<T, E>>>,
    timeout: Option<Duration>,
    return_when: ReturnWhen,
) -> (Vec<Task<Result<T, E>>>, Vec<Task<Result<T, E>>>) {
    let tasks: Vec<Task<Result<T, E>>> = tasks.into_iter().collect();
    let failed = |task: &Task<Result<T, E>>| {
        let mut failed = false;
        task.inner.peek(&mut |outcome| {
            failed = matches!(outcome, OutcomeRef::Ready(Err(_) | Ok(Err(_))));
        });
        failed
    };
    let mut refs: Vec<TaskRef> = tasks.iter().map(Task::as_ref).collect();
    wait_on(&mut refs, timeout, return_when, |_| {
        tasks.iter().any(failed)
    })
    .await;
    tasks.into_iter().partition(Task::done)
}

/// Yields task outcomes in completion order; see [`as_completed`].
pub struct AsCompleted<T> {
    remaining: Vec<Task<T>>,
    timer: Option<Pin<Box<Sleep>>>,
    expired: bool,
}

/// Iterates over `tasks` as they finish. Python: `asyncio.as_completed(aws, timeout)`.
///
/// Takes tasks; plain futures become tasks with one call each,
/// `futures.map(ensure_future)` (asyncio does the same inside): one
/// parameter cannot take both in Rust without nesting the outcomes.
///
/// Call [`AsCompleted::next`] until it returns `None`. With a timeout, once
/// it passes, `next` returns `Some(Err(TaskError::Timeout))` once and then
/// `None`; the tasks still running are not cancelled.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{as_completed, create_task, run, sleep};
///
/// let order = run(async {
///     let tasks = [30u64, 10, 20].map(|ms| create_task(async move {
///         sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut done = as_completed(tasks, None);
///     let mut order = Vec::new();
///     while let Some(outcome) = done.next().await {
///         order.push(outcome.unwrap());
///     }
///     order
/// })?;
/// assert_eq!(order, [10, 20, 30]);
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub fn as_completed<T: 'static>(
    tasks: impl IntoIterator<Item = Task<T>>,
    timeout: Option<Duration>,
) -> AsCompleted<T> {
    AsCompleted {
        remaining: tasks.into_iter().collect(),
        timer: timeout.map(|t| Box::pin(sleep(t))),
        expired: false,
    }
}

impl<T: 'static> AsCompleted<T> {
    /// The next outcome to complete; `None` when all were yielded (or after
    /// the timeout was reported).
    ///
    /// Python: one step of `for f in as_completed(...)`: `await f`.
    pub async fn next(&mut self) -> Option<Result<T, TaskError>> {
        if self.remaining.is_empty() || self.expired {
            return None;
        }
        poll_fn(|cx| {
            for i in 0..self.remaining.len() {
                if let Poll::Ready(outcome) = Pin::new(&mut self.remaining[i]).poll(cx) {
                    self.remaining.swap_remove(i);
                    return Poll::Ready(Some(outcome));
                }
            }
            if let Some(timer) = &mut self.timer
                && timer.as_mut().poll(cx).is_ready()
            {
                self.expired = true;
                return Poll::Ready(Some(Err(TaskError::Timeout)));
            }
            Poll::Pending
        })
        .await
    }

    /// How many tasks have not been yielded yet.
    ///
    /// No asyncio counterpart (the iterator's remaining count).
    pub fn len(&self) -> usize {
        self.remaining.len()
    }

    /// True when every task was yielded.
    ///
    /// No asyncio counterpart.
    pub fn is_empty(&self) -> bool {
        self.remaining.is_empty()
    }
}

/// Protects `future` from the cancellation of whoever awaits it.
/// Python: `asyncio.shield(aw)`.
///
/// `future` runs as its own task. Cancelling the task that awaits the shield
/// does not reach it: it keeps running (the loop keeps it) and its outcome
/// can still be read through [`Shield::task`].
pub struct Shield<T> {
    state: RefCell<ShieldState<T>>,
}

/// Made inside a running loop, the task starts at once; made outside any
/// loop (`run(shield(..))`), the future waits for the shield's first poll.
enum ShieldState<T> {
    Started(Task<T>),
    Lazy(Pin<Box<dyn std::future::Future<Output = T>>>),
    /// Between taking the lazy future and storing its task.
    Starting,
}

/// Wraps `future` in a task that the awaiter's cancellation does not reach.
/// See [`Shield`]. Made outside a running loop, the task starts at the
/// shield's first poll.
#[track_caller]
/// Python: `asyncio.shield(aw)`.
pub fn shield<F>(future: F) -> Shield<F::Output>
where
    F: std::future::Future + 'static,
{
    let state = if crate::get_running_loop().is_ok() {
        ShieldState::Started(crate::create_task(future))
    } else {
        ShieldState::Lazy(Box::pin(future))
    };
    Shield {
        state: RefCell::new(state),
    }
}

impl<T: 'static> Shield<T> {
    /// Starts a lazy shield's task (inside a running loop).
    fn start_now(&self) {
        let mut state = self.state.borrow_mut();
        if let ShieldState::Lazy(_) = *state {
            let ShieldState::Lazy(future) = std::mem::replace(&mut *state, ShieldState::Starting)
            else {
                unreachable!("matched Lazy above")
            };
            drop(state);
            let task = crate::create_task(future);
            *self.state.borrow_mut() = ShieldState::Started(task);
        }
    }

    /// The shielded task.
    ///
    /// No asyncio counterpart: Python keeps its own reference to the inner task.
    ///
    /// # Panics
    /// For a shield made outside a loop, while no loop runs (its task does
    /// not exist before it starts).
    pub fn task(&self) -> Task<T> {
        if crate::get_running_loop().is_ok() {
            self.start_now();
        }
        match &*self.state.borrow() {
            ShieldState::Started(task) => task.clone(),
            _ => panic!("this shield has not started: no running event loop"),
        }
    }
}

impl<T: 'static> std::future::Future for Shield<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        // Poll the join directly, without parking the awaiter on the task:
        // that is what keeps the awaiter's cancellation away from it.
        self.start_now();
        match &mut *self.state.borrow_mut() {
            ShieldState::Started(task) => task.poll_join(cx),
            _ => unreachable!("started above"),
        }
    }
}

/// Structured concurrency: tasks that end together. Python: `asyncio.TaskGroup`.
///
/// Tasks created with [`create_task`](Self::create_task) run at once;
/// [`join`](Self::join) (Python's `async with` exit) waits for all of them.
/// The first failure (a panic, a cancellation not made by the group, or an
/// `Err` from a [`try_create_task`](Self::try_create_task) task) cancels the
/// others; `join` then returns every failure collected (Python's
/// `ExceptionGroup`). Dropping the group or its `join` cancels what is left.
///
/// One difference from asyncio: a failing child does **not** cancel the
/// code that owns the group. asyncio cancels the parent task, so the code
/// between `create_task` and the end of `async with` gets a
/// `CancelledError` at its next `await`; in Rust, cancelling a task drops
/// its coroutine, the group with it, and the failure would be lost. Here
/// that code runs on until it reaches `join`, which then reports every
/// failure. To stop early, await the group's work rather than other
/// things (`as_completed` over the tasks, leaving at the first fatal
/// error; `docs/10-porting-from-asyncio.md` shows the scraper pattern).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{TaskGroup, run, sleep};
///
/// let outcome = run(async {
///     let group = TaskGroup::new();
///     let slow = group.create_task(sleep(Duration::from_secs(3600)));
///     group.try_create_task(async { Err::<(), _>(std::io::Error::other("boom")) });
///     let errors = group.join().await.unwrap_err();
///     (errors.len(), slow.cancelled())
/// })?;
/// assert_eq!(outcome, (1, true));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
pub struct TaskGroup {
    state: Rc<GroupState>,
}

#[derive(Default)]
struct GroupState {
    tasks: RefCell<Vec<TaskRef>>,
    errors: RefCell<Vec<TaskError>>,
    /// Set once the group started cancelling, so its own cancellations are
    /// not counted as failures.
    aborting: Cell<bool>,
    /// Set when `join` returned: the group supervises nothing any more.
    finished: Cell<bool>,
}

impl GroupState {
    fn fail(&self, error: TaskError) {
        if error.is_cancelled() && self.aborting.get() {
            return;
        }
        self.errors.borrow_mut().push(error);
        self.abort();
    }

    fn abort(&self) {
        if !self.aborting.replace(true) {
            for task in self.tasks.borrow().iter() {
                task.cancel();
            }
        }
    }
}

impl Default for TaskGroup {
    fn default() -> Self {
        TaskGroup::new()
    }
}

impl TaskGroup {
    /// An empty group. Python: `asyncio.TaskGroup()`.
    pub fn new() -> TaskGroup {
        TaskGroup {
            state: Rc::new(GroupState::default()),
        }
    }

    /// Starts `future` as a task of the group; its panic or cancellation
    /// fails the group. Python: `tg.create_task(coro)`.
    ///
    /// # Panics
    /// Outside a running loop; once [`join`](Self::join) has returned
    /// ("TaskGroup is finished", asyncio's `RuntimeError`): the group no
    /// longer supervises anything, so the task would run unwatched. Tasks
    /// may still be added while `join` waits, as in asyncio.
    #[track_caller]
    pub fn create_task<F>(&self, future: F) -> Task<F::Output>
    where
        F: std::future::Future + 'static,
    {
        self.check_open();
        let task = crate::create_task(future);
        self.track(&task, |_| None);
        task
    }

    /// Like [`create_task`](Self::create_task) for a future returning
    /// `Result`: an `Err` fails the group too. Python: `tg.create_task(coro)`
    /// whose coroutine raises; `Err` plays the exception.
    ///
    /// # Panics
    /// As [`create_task`](Self::create_task): outside a running loop, or
    /// once `join` has returned.
    #[track_caller]
    pub fn try_create_task<F, T, E>(&self, future: F) -> Task<Result<T, E>>
    where
        F: std::future::Future<Output = Result<T, E>> + 'static,
        T: 'static,
        E: std::fmt::Display + 'static,
    {
        self.check_open();
        let task = crate::create_task(future);
        self.track(&task, |outcome: &Result<T, E>| {
            outcome
                .as_ref()
                .err()
                .map(|e| TaskError::exception(OutputError(e.to_string())))
        });
        task
    }

    /// Refuses a task once `join` has returned (asyncio: "TaskGroup … is
    /// finished"): nobody would wait for it or see its failure.
    #[track_caller]
    fn check_open(&self) {
        assert!(
            !self.state.finished.get(),
            "TaskGroup is finished: join() has returned, so a new task would be unsupervised"
        );
    }

    fn track<T: 'static>(
        &self,
        task: &Task<T>,
        output_failure: impl Fn(&T) -> Option<TaskError> + 'static,
    ) {
        self.state.tasks.borrow_mut().push(task.as_ref());
        if self.state.aborting.get() {
            task.cancel();
        }
        let state = self.state.clone();
        task.add_done_callback(move |task| {
            let failure = task.inner.failure().or_else(|| {
                let mut found = None;
                task.inner.peek(&mut |outcome| {
                    if let crate::task::OutcomeRef::Ready(Ok(value)) = outcome {
                        found = output_failure(value);
                    }
                });
                found
            });
            if let Some(error) = failure {
                state.fail(error);
            }
        });
    }

    /// Waits until every task is done. Python: leaving `async with tg:`.
    ///
    /// # Errors
    /// Every failure collected, in the order they happened.
    pub async fn join(&self) -> Result<(), Vec<TaskError>> {
        let mut guard = AbortOnDrop(Some(self.state.clone()));
        // Tasks may be added while we wait: wait until a round adds none.
        loop {
            let tasks: Vec<TaskRef> = self.state.tasks.borrow().clone();
            wait(tasks.iter().cloned(), None, ReturnWhen::AllCompleted).await;
            // Done callbacks (which record failures) run one iteration later.
            crate::yield_now().await;
            if self.state.tasks.borrow().len() == tasks.len() {
                break;
            }
        }
        guard.0 = None;
        self.state.finished.set(true);
        let errors = self.state.errors.take();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// The `Err` output of a group task, as the group records it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct OutputError(String);

/// Cancels a group's tasks when `join` is dropped before it finished.
struct AbortOnDrop(Option<Rc<GroupState>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(state) = &self.0 {
            state.abort();
        }
    }
}

impl Drop for TaskGroup {
    fn drop(&mut self) {
        self.state.abort();
    }
}
