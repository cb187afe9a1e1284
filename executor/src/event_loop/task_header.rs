//! What the loop knows of a task, whatever its output type: [`Header`]
//! and the [`RawTask`] trait it steps the task through. The loop defines
//! the interface of what it runs; `task/` implements it (the task cell)
//! and builds the user's handles on it, so the loop depends on no task
//! type.
//!
//! # The task's state, as a spec
//!
//! A task is `Pending` until its one finishing step, then `Done` for good.
//! **`state` is the one source of truth for "finished"**: `done()` reads
//! it, a `Done` task is no longer in its loop's table (so no waker can
//! queue it again), and a `Done` task's coroutine slot (`raw.rs`) holds
//! its outcome (`Ready`, or `Taken` once an `await` moved it out).
//!
//! | field | set | cleared | while |
//! |---|---|---|---|
//! | `state` | `Pending` at spawn; `Done` by `finish`, once, only inside the task's own step | never | — |
//! | `scheduled` | by a wake of a task still in the table (`LoopInner::wake_task`), and at spawn | at the start of each step | a step of it is in the ready queue |
//! | `cancel_requested` | by `cancel()` on a `Pending` task | never | the next step drops the coroutine and finishes as cancelled |
//! | `cancelled` | by `finish`, when the outcome is `Err(Cancelled)` | never | — |
//! | `awaiting` | at the end of a step that parked on a task, gather or future | at each step's start, at `finish`, at loop close | the task is parked on it (asyncio's `_fut_waiter`) |
//! | `done_wakers` | by each waiter's poll of a `Pending` task | taken by `finish` (woken) or loop close (dropped) | — |
//! | `retrieved` | by `result()`, `exception()`, an `await` of the outcome | never | a failure need not be reported at drop |
//!
//! Combinations that cannot happen, and why:
//! - `cancelled` without `Done`: only `finish` sets it;
//! - `Done` with `awaiting` or `done_wakers` left: `finish` empties both;
//! - `Done` and a step that runs the coroutine: a step first checks that
//!   the coroutine is there (`Coroutine::is_gone`), and after `finish` it
//!   is not. `Done` with `scheduled` *can* happen: a coroutine that woke
//!   itself and then returned `Ready` leaves one queued step behind, which
//!   runs, finds the coroutine gone, and does nothing (a stale step);
//! - two queued steps: `scheduled` guards every push to the ready queue.
//!
//! `cancelled` is kept although the outcome says the same, because the
//! outcome can be moved out (`Taken`) while `cancelled()` must still
//! answer. A task dropped pending at loop close stays `Pending` (asyncio's
//! `done()` is false for a destroyed pending task) with its coroutine
//! gone: nothing steps it again, since the loop is closed.
//!
//! The cell never moves once spawned: it is built inside its `Rc`, and no
//! code takes it out (no `Rc::try_unwrap`, `get_mut` or `into_inner` on a
//! task). `Pin<Rc<…>>` would make that a type; it was considered and left
//! for now, since every task method and the table would carry the `Pin`
//! for a rule one module (`raw.rs`, under Miri) already states and keeps.

use std::cell::Cell;
use std::panic::Location;
use std::rc::Rc;
use std::task::Waker;

use corio_timer::CoarseInstant;

use super::LoopInner;
use crate::TaskError;
use crate::remote::TaskKey;
use crate::wakers::{WaiterKey, WakerSlab};

/// Something a task can be parked on and that its cancellation reaches.
pub(crate) trait Cancel {
    /// Requests cancellation; false if already done.
    fn cancel(&self) -> bool;

    /// What it is, for the inspector.
    fn awaited(&self) -> Awaited {
        Awaited::Future
    }
}

/// What a task is parked on, as the inspector names it.
pub(crate) enum Awaited {
    /// Another task (its number).
    Task(u64),
    /// A gather of these tasks.
    Gather(Vec<u64>),
    /// An `asyncio.Future`.
    Future,
}

/// Where a task is in its life: the one source of truth for "finished"
/// (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskState {
    Pending,
    Done,
}

/// Those waiting for a task to finish: none, one (the common case, kept
/// inline with no allocation; its key is 0), or a slab when several wait
/// (an `await` plus a `wait`, say; see `wakers.rs`).
#[derive(Default)]
pub(crate) enum DoneWakers {
    #[default]
    None,
    /// The registration number, and the waker.
    One(u32, Waker),
    Many(Box<WakerSlab>),
}

/// The untyped part of every task.
pub(crate) struct Header {
    /// The task's slot in its loop's table.
    pub(crate) key: TaskKey,
    /// `N` of the default name `Task-N`.
    pub(crate) number: u64,
    /// A name given with `set_name`. Boxed twice on purpose: 8 bytes in
    /// the header instead of 24, since most tasks never get a name.
    #[allow(clippy::box_collection)]
    pub(crate) name: Cell<Option<Box<String>>>,
    /// True while a step is queued (at most one at a time).
    pub(crate) scheduled: Cell<bool>,
    pub(crate) state: Cell<TaskState>,
    /// `cancel()` was called; the next step drops the coroutine.
    pub(crate) cancel_requested: Cell<bool>,
    /// The task ended by cancellation (asyncio's `cancelled()`).
    pub(crate) cancelled: Cell<bool>,
    /// What the coroutine is parked on (asyncio's `_fut_waiter`).
    pub(crate) awaiting: Cell<Option<Rc<dyn Cancel>>>,
    /// Its loop's index in the waker table: with `key`, all a waker needs
    /// (`raw.rs` packs both into the waker's word; none is stored).
    pub(crate) loop_index: u16,
    /// Where `create_task` was called.
    pub(crate) location: &'static Location<'static>,
    /// When it was created (coarse real time, for the age in `dump_tasks`).
    pub(crate) created: CoarseInstant,
    /// How many steps it has taken.
    pub(crate) steps: Cell<u32>,
    /// Wakers of those waiting for it to finish (an awaiter, `wait`, …).
    pub(crate) done_wakers: Cell<DoneWakers>,
    /// Numbers the done-waker entries and done callbacks in the order they
    /// come, so that the finish keeps that order (asyncio's awaiter
    /// wake-up is itself a done callback).
    pub(crate) registrations: Cell<u32>,
    /// The outcome was looked at, so a failure need not be reported.
    pub(crate) retrieved: Cell<bool>,
}

impl Header {
    pub(crate) fn name(&self) -> String {
        let name = self.name.take();
        let out = match &name {
            Some(name) => String::clone(name),
            None => format!("Task-{}", self.number),
        };
        self.name.set(name);
        out
    }

    pub(crate) fn set_name(&self, name: String) {
        self.name.set(Some(Box::new(name)));
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.get() == TaskState::Done
    }

    /// Records the waker of the waiter whose key is `key` (set on its first
    /// call): a repeated poll replaces its own entry.
    pub(crate) fn add_done_waker(&self, waker: &Waker, key: &mut Option<WaiterKey>) {
        let wakers = match (self.done_wakers.take(), *key) {
            (DoneWakers::None, _) => {
                *key = Some(0);
                DoneWakers::One(self.next_registration(), waker.clone())
            }
            (DoneWakers::One(seq, first), Some(0)) if first.will_wake(waker) => {
                DoneWakers::One(seq, first)
            }
            (DoneWakers::One(seq, _), Some(0)) => DoneWakers::One(seq, waker.clone()),
            (DoneWakers::One(seq, first), _) => {
                // The first waiter keeps its key 0: its entry is slot 0.
                let mut slab = Box::<WakerSlab>::default();
                slab.register(&mut None, &first, || u64::from(seq));
                slab.register(key, waker, || u64::from(self.next_registration()));
                DoneWakers::Many(slab)
            }
            (DoneWakers::Many(mut slab), _) => {
                slab.register(key, waker, || u64::from(self.next_registration()));
                DoneWakers::Many(slab)
            }
        };
        self.done_wakers.set(wakers);
    }

    /// The next registration number (see `registrations`).
    pub(crate) fn next_registration(&self) -> u32 {
        let seq = self.registrations.get();
        self.registrations.set(seq.wrapping_add(1));
        seq
    }

    /// The waiter with `key` is gone (its future dropped before the task
    /// finished).
    pub(crate) fn remove_done_waker(&self, key: WaiterKey) {
        if self.is_done() {
            return; // the entries were woken and cleared at the finish
        }
        let wakers = match self.done_wakers.take() {
            DoneWakers::One(..) if key == 0 => DoneWakers::None,
            DoneWakers::Many(mut slab) => {
                slab.remove(key);
                DoneWakers::Many(slab)
            }
            other => other,
        };
        self.done_wakers.set(wakers);
    }

    /// How many waiters have an entry (for tests).
    #[cfg(test)]
    pub(crate) fn done_waiters(&self) -> usize {
        let wakers = self.done_wakers.take();
        let count = match &wakers {
            DoneWakers::None => 0,
            DoneWakers::One(..) => 1,
            DoneWakers::Many(slab) => slab.len(),
        };
        self.done_wakers.set(wakers);
        count
    }

    /// What `dump_tasks` and the inspector say of a pending task:
    /// "running" (its step runs now), "cancelling", "scheduled" (a step
    /// is queued) or "waiting".
    pub(crate) fn state_word(&self, running: bool) -> &'static str {
        if running {
            "running"
        } else if self.cancel_requested.get() {
            "cancelling"
        } else if self.scheduled.get() {
            "scheduled"
        } else {
            "waiting"
        }
    }

    pub(crate) fn describe(&self) -> String {
        format!("<Task '{}' created at {}>", self.name(), self.location)
    }
}

/// What the loop needs of a task, whatever its output type.
pub(crate) trait RawTask: Cancel {
    fn header(&self) -> &Header;
    /// One step: `coro.send(None)`.
    fn step(self: Rc<Self>, lp: &Rc<LoopInner>);
    /// Drops a pending coroutine without finishing the task (loop close),
    /// with its done callbacks and waiters; a panic in a destructor
    /// propagates to the caller.
    fn abandon(&self);
    /// The failure it ended with, if it ended with one (without taking it).
    fn failure(&self) -> Option<TaskError>;
}
