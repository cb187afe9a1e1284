//! [`gather`] and its variants: run children as tasks, collect in order.
//!
//! Every child is wrapped in a task (`ensure_future`), so they run
//! concurrently and keep running when a gather ends early at the first
//! error. The gather itself is a task too: cancelling it, even before it
//! first runs, drops its coroutine, and a guard captured by that coroutine
//! cancels every child.

use std::cell::RefCell;
use std::future::{Future as StdFuture, poll_fn};
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::TaskError;
use crate::event_loop::running;
use crate::event_loop::task_header::Cancel;
use crate::task::{Task, TaskRef, spawn};

/// Cancels the children when dropped, unless disarmed.
struct CancelOnDrop {
    children: Vec<TaskRef>,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            for child in &self.children {
                child.cancel();
            }
        }
    }
}

/// A running gather: await it for the outcome, or cancel it.
/// Python: the `_GatheringFuture` that `asyncio.gather` returns.
#[must_use = "a gather's outcome should be awaited or its children cancelled"]
pub struct Gather<O, E = TaskError> {
    state: RefCell<GatherState<O, E>>,
}

/// A gather made inside a running loop starts at once (asyncio's eager
/// `ensure_future`); one made outside any loop (`run(gather(..))`) keeps
/// its futures and starts them at its first poll, inside the loop.
enum GatherState<O, E> {
    Started {
        task: Task<Result<O, E>>,
        /// What cancelling the gather reaches: its task and every child.
        group: Rc<GatherGroup>,
    },
    Lazy(LazyStart<O, E>),
    /// Cancelled before it started: its futures were dropped unstarted.
    CancelledEarly,
}

/// Starts a lazy gather: its futures as tasks, and the gather task.
type LazyStart<O, E> = Box<dyn FnOnce() -> (Task<Result<O, E>>, Rc<GatherGroup>)>;

struct GatherGroup {
    task: TaskRef,
    children: Vec<TaskRef>,
}

impl Cancel for GatherGroup {
    fn awaited(&self) -> crate::event_loop::task_header::Awaited {
        let numbers = self
            .children
            .iter()
            .map(|t| t.inner.header().number)
            .collect();
        crate::event_loop::task_header::Awaited::Gather(numbers)
    }

    /// Cancels the children directly (so a child that has not started never
    /// starts) and the gather task; false if the gather is done.
    fn cancel(&self) -> bool {
        if self.task.done() {
            return false;
        }
        for child in &self.children {
            child.cancel();
        }
        self.task.cancel()
    }
}

impl<O: 'static, E: 'static> Gather<O, E> {
    /// Starts now inside a running loop, else at the first poll.
    fn new(make: impl FnOnce() -> (Task<Result<O, E>>, Rc<GatherGroup>) + 'static) -> Gather<O, E> {
        let state = if running::running_inner().is_ok() {
            let (task, group) = make();
            GatherState::Started { task, group }
        } else {
            GatherState::Lazy(Box::new(make))
        };
        Gather {
            state: RefCell::new(state),
        }
    }

    /// Starts a lazy gather (inside a running loop).
    fn start_now(&self) {
        let mut state = self.state.borrow_mut();
        if let GatherState::Lazy(_) = *state {
            let GatherState::Lazy(make) =
                std::mem::replace(&mut *state, GatherState::CancelledEarly)
            else {
                unreachable!("matched Lazy above")
            };
            drop(state);
            let (task, group) = make();
            *self.state.borrow_mut() = GatherState::Started { task, group };
        }
    }

    /// Cancels every child not yet done, and the gather; false if the gather
    /// is already done. Python: `gathering_future.cancel()`.
    ///
    /// A gather not started yet (made outside a loop) drops its futures
    /// unstarted.
    pub fn cancel(&self) -> bool {
        let mut state = self.state.borrow_mut();
        match &*state {
            GatherState::Started { group, .. } => {
                let group = group.clone();
                drop(state);
                group.cancel()
            }
            GatherState::Lazy(_) => {
                let unstarted = std::mem::replace(&mut *state, GatherState::CancelledEarly);
                drop(state);
                drop(unstarted); // the futures, never started
                true
            }
            GatherState::CancelledEarly => false,
        }
    }

    /// Python: `gathering_future.done()`.
    pub fn done(&self) -> bool {
        match &*self.state.borrow() {
            GatherState::Started { task, .. } => task.done(),
            GatherState::Lazy(_) => false,
            GatherState::CancelledEarly => true,
        }
    }

    /// Python: `gathering_future.cancelled()`.
    pub fn cancelled(&self) -> bool {
        match &*self.state.borrow() {
            GatherState::Started { task, .. } => task.cancelled(),
            GatherState::Lazy(_) => false,
            GatherState::CancelledEarly => true,
        }
    }

    /// The gather's own task, for [`wait`](crate::wait) and friends.
    ///
    /// No asyncio counterpart (Python passes the future itself).
    ///
    /// # Panics
    /// For a gather made outside a loop, when no loop runs yet (it has no
    /// task until it starts), or after it was cancelled before starting.
    pub fn as_ref(&self) -> TaskRef {
        if running::running_inner().is_ok() {
            self.start_now();
        }
        match &*self.state.borrow() {
            GatherState::Started { task, .. } => task.as_ref(),
            _ => panic!("this gather has no task: it has not started (no running loop)"),
        }
    }
}

impl<O: 'static, E: From<TaskError> + 'static> StdFuture for Gather<O, E> {
    type Output = Result<O, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.start_now();
        let mut state = self.state.borrow_mut();
        let GatherState::Started { task, group } = &mut *state else {
            return Poll::Ready(Err(E::from(TaskError::Cancelled)));
        };
        let polled = Pin::new(task).poll(cx);
        if polled.is_pending() {
            // Park the awaiter on the whole group, not just the gather task.
            running::park_current_on(group.clone());
        }
        polled.map(|outcome| outcome.unwrap_or_else(|e| Err(E::from(e))))
    }
}

/// Spawns `children` and a gather task running `collect` over them, on
/// the running loop.
fn start<T, O, E, C>(
    children: Vec<Task<T>>,
    collect: C,
    location: &'static Location<'static>,
) -> (Task<Result<O, E>>, Rc<GatherGroup>)
where
    T: 'static,
    O: 'static,
    E: 'static,
    C: AsyncFnOnce(&mut [Task<T>]) -> Result<O, E> + 'static,
{
    let lp = match running::running_inner() {
        Ok(lp) => lp,
        Err(e) => panic!("{e}"),
    };
    let refs: Vec<TaskRef> = children.iter().map(Task::as_ref).collect();
    let guard = CancelOnDrop {
        children: refs.clone(),
        armed: true,
    };
    let mut children = children;
    let task = spawn(
        &lp,
        async move {
            // Rebinding moves the whole guard into the coroutine (a field
            // assignment alone would capture only the field), so dropping
            // the coroutine unstarted still cancels the children.
            let mut guard = guard;
            let outcome = collect(&mut children).await;
            guard.armed = false;
            outcome
        },
        location,
    );
    let group = Rc::new(GatherGroup {
        task: task.as_ref(),
        children: refs,
    });
    (task, group)
}

/// Wraps each future in a task of the running loop (asyncio's
/// `ensure_future`); a `Task` is a future too, wrapped like any other.
fn spawn_all<F>(futures: Vec<F>, location: &'static Location<'static>) -> Vec<Task<F::Output>>
where
    F: StdFuture + 'static,
{
    let lp = match running::running_inner() {
        Ok(lp) => lp,
        Err(e) => panic!("{e}"),
    };
    futures
        .into_iter()
        .map(|f| spawn(&lp, f, location))
        .collect()
}

/// Polls every child until all are done and returns their outcomes in input
/// order; if `stop` holds for an outcome, returns at once with that outcome
/// alone (the other children keep running).
async fn collect_outcomes<T: 'static>(
    children: &mut [Task<T>],
    stop: impl Fn(&Result<T, TaskError>) -> bool,
) -> Vec<Result<T, TaskError>> {
    let mut outcomes: Vec<Option<Result<T, TaskError>>> = children.iter().map(|_| None).collect();
    poll_fn(|cx| {
        let mut pending = false;
        for (child, slot) in children.iter_mut().zip(outcomes.iter_mut()) {
            if slot.is_some() {
                continue;
            }
            match Pin::new(child).poll(cx) {
                Poll::Ready(outcome) if stop(&outcome) => return Poll::Ready(vec![outcome]),
                Poll::Ready(outcome) => *slot = Some(outcome),
                Poll::Pending => pending = true,
            }
        }
        if pending {
            return Poll::Pending;
        }
        Poll::Ready(outcomes.iter_mut().filter_map(Option::take).collect())
    })
    .await
}

/// Runs `futures` concurrently, each as a task, and returns their values in
/// input order. Python: `asyncio.gather(*aws)`.
///
/// The first child to fail (panic or cancellation) ends the gather with its
/// error; the other children keep running. Cancelling the gather cancels
/// every child, even before the gather first runs.
///
/// Made outside a running loop (`run(gather(..))`), it keeps its futures
/// and starts them at its first poll, inside the loop.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use corio_executor::{gather, run, sleep};
///
/// let values = run(async {
///     gather([3u64, 1, 2].map(|n| async move {
///         sleep(Duration::from_millis(n)).await;
///         n * 10
///     }))
///     .await
/// })?;
/// assert_eq!(values, Ok(vec![30, 10, 20]), "input order, not completion order");
/// # Ok::<(), corio_executor::RunError>(())
/// ```
#[track_caller]
pub fn gather<F>(futures: impl IntoIterator<Item = F>) -> Gather<Vec<F::Output>>
where
    F: StdFuture + 'static,
{
    let location = Location::caller();
    let futures: Vec<F> = futures.into_iter().collect();
    Gather::new(move || start(spawn_all(futures, location), values_in_order, location))
}

/// Every child's value in input order, or the first failure (the other
/// children keep running).
async fn values_in_order<T: 'static>(children: &mut [Task<T>]) -> Result<Vec<T>, TaskError> {
    // Stopped at the first error, the outcomes collect into that error;
    // otherwise into every value, in order.
    collect_outcomes(children, Result::is_err)
        .await
        .into_iter()
        .collect()
}

/// [`gather`] for tasks that exist already: waits for them directly (no
/// wrapper task that would take their values), returns their values in
/// input order, ends at the first failure, and cancels them all if the
/// gather is cancelled. Python: `asyncio.gather(*tasks)`, whose
/// `ensure_future` leaves a task as it is.
///
/// Differs from asyncio in being its own function: `gather` cannot tell a
/// `Task` from another future in one signature (a `Task<T>` passed to
/// `gather` is wrapped, and the gather yields its `Result<T, TaskError>`).
///
/// # Examples
///
/// ```
/// use corio_executor::{create_task, gather_tasks, run};
///
/// let values = run(async {
///     let a = create_task(async { 1 });
///     let b = create_task(async { 2 });
///     let cancel_me = a.clone();
///     let values = gather_tasks([a, b]).await;
///     assert!(cancel_me.done());
///     values
/// })?;
/// assert_eq!(values, Ok(vec![1, 2]));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
#[track_caller]
pub fn gather_tasks<T: 'static>(tasks: impl IntoIterator<Item = Task<T>>) -> Gather<Vec<T>> {
    let location = Location::caller();
    let tasks: Vec<Task<T>> = tasks.into_iter().collect();
    Gather::new(move || start(tasks, values_in_order, location))
}

/// Like [`gather`] but never ends early: every child's outcome, in input
/// order. Python: `asyncio.gather(*aws, return_exceptions=True)`.
///
/// Made outside a running loop, it starts at its first poll.
#[track_caller]
pub fn gather_all<F>(
    futures: impl IntoIterator<Item = F>,
) -> Gather<Vec<Result<F::Output, TaskError>>>
where
    F: StdFuture + 'static,
{
    let location = Location::caller();
    let futures: Vec<F> = futures.into_iter().collect();
    Gather::new(move || {
        start(
            spawn_all(futures, location),
            async |children: &mut [Task<F::Output>]| Ok(collect_outcomes(children, |_| false).await),
            location,
        )
    })
}

/// Why a [`try_gather`] ended early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatherError<E> {
    /// A child returned `Err`.
    #[error("a child failed: {0}")]
    Failed(E),
    /// A child (or the gather) panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] TaskError),
}

/// [`gather`] for children returning `Result`: the first `Err` (or panic, or
/// cancellation) ends it. Python: `asyncio.gather` whose first exception
/// propagates.
///
/// Made outside a running loop, it starts at its first poll.
#[track_caller]
pub fn try_gather<F, T, E>(futures: impl IntoIterator<Item = F>) -> Gather<Vec<T>, GatherError<E>>
where
    F: StdFuture<Output = Result<T, E>> + 'static,
    T: 'static,
    E: 'static,
{
    let location = Location::caller();
    let futures: Vec<F> = futures.into_iter().collect();
    Gather::new(move || {
        start(
            spawn_all(futures, location),
            async |children: &mut [Task<Result<T, E>>]| {
                let fails =
                    |outcome: &Result<Result<T, E>, TaskError>| !matches!(outcome, Ok(Ok(_)));
                let mut values = Vec::with_capacity(children.len());
                for outcome in collect_outcomes(children, fails).await {
                    match outcome {
                        Ok(Ok(v)) => values.push(v),
                        Ok(Err(e)) => return Err(GatherError::Failed(e)),
                        Err(e) => return Err(GatherError::Task(e)),
                    }
                }
                Ok(values)
            },
            location,
        )
    })
}

/// A tuple of tasks that `gather!` can wait for and unpack.
#[doc(hidden)]
pub trait TaskTuple {
    type Output;
    fn refs(&self) -> Vec<TaskRef>;
    fn outputs(self) -> Result<Self::Output, TaskError>;
}

macro_rules! task_tuple {
    ($($t:ident $v:ident),+) => {
        impl<$($t: 'static),+> TaskTuple for ($(Task<$t>,)+) {
            type Output = ($($t,)+);
            fn refs(&self) -> Vec<TaskRef> {
                let ($($v,)+) = self;
                vec![$($v.as_ref()),+]
            }
            fn outputs(self) -> Result<Self::Output, TaskError> {
                let ($(mut $v,)+) = self;
                let waker = std::task::Waker::noop();
                let mut cx = Context::from_waker(waker);
                Ok(($(
                    match Pin::new(&mut $v).poll(&mut cx) {
                        Poll::Ready(outcome) => outcome?,
                        Poll::Pending => return Err(TaskError::InvalidState("gather! child not done")),
                    },
                )+))
            }
        }
    };
}

task_tuple!(A a);
task_tuple!(A a, B b);
task_tuple!(A a, B b, C c);
task_tuple!(A a, B b, C c, D d);
task_tuple!(A a, B b, C c, D d, E e);
task_tuple!(A a, B b, C c, D d, E e, F f);
task_tuple!(A a, B b, C c, D d, E e, F f, G g);
task_tuple!(A a, B b, C c, D d, E e, F f, G g, H h);

/// Waits for a tuple of tasks as `gather!` does.
#[doc(hidden)]
/// Python: `asyncio.gather(a, b, c)`; the engine of `gather!`.
pub async fn gather_tuple<Tu: TaskTuple>(tasks: Tu) -> Result<Tu::Output, TaskError> {
    let refs = tasks.refs();
    let mut guard = CancelOnDrop {
        children: refs.clone(),
        armed: true,
    };
    let (done, _) = crate::wait(refs, None, crate::ReturnWhen::FirstException).await;
    guard.armed = false;
    if let Some(err) = done.iter().find_map(TaskRef::failure) {
        return Err(err);
    }
    tasks.outputs()
}

/// Gathers futures of different types (up to 8) into a tuple.
/// Python: `asyncio.gather(a, b, c)` with mixed results.
///
/// Each future runs as its own task; the first failure ends the gather
/// (the others keep running); dropping the gather future cancels them.
///
/// ```
/// use corio_executor::{gather, run};
///
/// let (n, s) = run(async { gather!(async { 1 }, async { "two" }).await })?.unwrap();
/// assert_eq!((n, s), (1, "two"));
/// # Ok::<(), corio_executor::RunError>(())
/// ```
#[macro_export]
macro_rules! gather {
    ($($future:expr),+ $(,)?) => {
        $crate::gather_tuple(($($crate::create_task($future),)+))
    };
}
