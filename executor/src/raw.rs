//! The task waker without an allocation: the executor's one audited
//! `unsafe` module (DESIGN rule 6). Its unit tests run under Miri in CI
//! (`cargo +nightly miri test -p corio-executor --lib raw`).
//!
//! # What a waker is here
//!
//! A `std::task::Waker` is a data word and a table of four functions. The
//! safe way to make one (`Waker::from(Arc<impl Wake>)`) costs an `Arc`
//! allocation per task. But all a task's waker must do is name the task
//! and its loop, and that fits in the data word itself:
//!
//! ```text
//!  63     62..48        47..16         15..0
//! [ 1 | loop index | task slot | generation (low 16 bits) ]
//! ```
//!
//! - *loop index*: the loop's place in `remote`'s process-wide table of
//!   the loops' thread-safe queues, held weakly;
//! - *slot* and *generation*: the task's [`TaskKey`] in the loop's table.
//!
//! Cloning and dropping such a waker touch nothing; waking it decodes the
//! word and wakes the task as the `Arc` waker did: directly when the
//! loop runs on this thread, else through the loop's queue and eventfd.
//!
//! # Why a stale word is harmless
//!
//! The word is not a pointer: it is never dereferenced, and carries no
//! provenance (`ptr::without_provenance`). A waker may outlive its task
//! (the slot is reused: the generation differs, nothing happens) or its
//! loop (the index is reused by a later loop: at worst a task of that loop
//! with the same slot and the same low 16 bits of generation is woken once
//! more than needed), or 65,536 reuses of its slot. A spurious wake-up is
//! allowed by the `Future` contract: the task polls, finds nothing to do,
//! and waits again.
//!
//! Every key fits; loops do up to 32,768 alive at once (the index's 15
//! bits), which `EventLoop::new` reports as an error beyond. So a task
//! stores no waker at all: its header keeps the loop index, and each step
//! packs the word anew.
//!
//! # The coroutine and its outcome, in one place
//!
//! [`Coroutine`] keeps a task's future inline in the task cell (no `Box`),
//! and, once the future is gone, the task's outcome *in the same bytes*
//! (tokio's layout): a task cell is as big as its header plus the larger of
//! the future and the outcome, not their sum. Its state machine:
//!
//! ```text
//!  new ──► Live ──poll──► Polling ──returns──► Live
//!            │               (a poll or a drop asked for meanwhile
//!            │                 does nothing: no aliasing, ever)
//!            └──drop_future──► Dropping ──destructor ends──► Gone: outcome Pending
//!                 (the destructor may call in: the      ──set_outcome──► Ready
//!                  outcome reads Pending, no change)    ──take_outcome──► Taken
//! ```
//!
//! Invariants:
//! - the slot holds the future exactly while the stage is `Live` or
//!   `Polling` (and, being dropped in place, `Dropping`), and an outcome
//!   exactly while it is `Gone`;
//! - the future is only touched through `poll` (state `Polling`, one at a
//!   time) and `drop_future` (state `Live`), and it never moves: a
//!   `Coroutine` lives in a task cell that `spawn` builds inside its `Rc`
//!   and that corio never moves out of (no `Rc::try_unwrap`, `into_inner`
//!   or `get_mut` on a task);
//! - the outcome is read through `with_outcome` (any number of readers at
//!   once, counted) and changed through `set_outcome` / `take_outcome`,
//!   which refuse, with a panic as `RefCell` does, while a reader is out;
//!   so a reader's callback (a `Clone` of the value, say) cannot pull the
//!   outcome from under its own reference;
//! - `drop_future` leaves `Live` *before* the destructor runs (for
//!   `Dropping`: the outcome reads as `Pending` and cannot be changed, even
//!   from that destructor), and a guard writes the empty outcome, then sets
//!   `Gone`, even if that destructor panics: the future is never dropped
//!   twice and the slot is never left half-dropped.

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::pin::Pin;
use std::ptr;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::TaskError;
use crate::event_loop::running;
use crate::remote::{RemoteItem, TaskKey, loop_at};

/// The word needs 64 bits.
const _: () = assert!(usize::BITS == 64, "corio's task waker packs 64 bits");

/// Set in every word, so that no word is zero.
const TAG: u64 = 1 << 63;
/// Bits of the loop index (62..48).
const INDEX_BITS: u32 = crate::remote::LOOP_INDEX_BITS;
/// Where the slot starts (47..16).
const SLOT_SHIFT: u32 = TaskKey::WAKER_GENERATION_BITS;
/// The generation's bits kept (15..0).
const GENERATION_MASK: u64 = (1 << SLOT_SHIFT) - 1;
/// Where the loop index starts (62..48).
const INDEX_SHIFT: u32 = 48;

/// The word for the task `key` of the loop at `index` (an index
/// `register_loop` gave: below 2^15).
fn pack(index: u16, key: TaskKey) -> u64 {
    let index = u64::from(index) & ((1 << INDEX_BITS) - 1);
    let generation = u64::from(key.generation) & GENERATION_MASK;
    TAG | index << INDEX_SHIFT | u64::from(key.slot) << SLOT_SHIFT | generation
}

/// The loop index and the key (generation: its low 16 bits) of a word.
fn unpack(word: u64) -> (u16, TaskKey) {
    let index = ((word & !TAG) >> INDEX_SHIFT) as u16;
    let key = TaskKey {
        slot: (word >> SLOT_SHIFT) as u32,
        generation: (word & GENERATION_MASK) as u32,
    };
    (index, key)
}

/// The waker of the task `key` of the loop at `index`, made anew from the
/// two (no allocation; see the module docs).
pub(crate) fn task_waker(index: u16, key: TaskKey) -> Waker {
    let word = pack(index, key);
    let data = ptr::without_provenance::<()>(word as usize);
    // SAFETY: the vtable's functions uphold `RawWaker`'s contract for this
    // data: `clone` returns a waker of the same word and table, `wake` and
    // `wake_by_ref` only decode the word (never dereference it), `drop`
    // does nothing; all four are thread-safe (the word is plain data, and
    // waking goes through `wake_local` on this thread or the loop's
    // `Mutex`-guarded queue elsewhere).
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_raw, wake_raw, wake_raw, drop_raw);

fn clone_raw(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

/// `wake` and `wake_by_ref`: nothing to release, so both are this.
fn wake_raw(data: *const ()) {
    let (index, key) = unpack(data.addr() as u64);
    if running::wake_local_index(index, key) {
        return;
    }
    if let Some(remote) = loop_at(index) {
        // Err only when the loop is closed: nothing left to wake.
        remote.push(RemoteItem::Wake(key)).ok();
    }
}

fn drop_raw(_: *const ()) {}

/// Where a [`Coroutine`] is in its life (see the module docs).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    Live,
    Polling,
    /// The future's destructor is running (user code, which may look at
    /// this task): the slot still holds the future, so the outcome reads
    /// as `Pending` and cannot be changed.
    Dropping,
    Gone,
}

/// A task's outcome, kept where its future was.
pub(crate) enum Outcome<T> {
    /// Not set (yet): the task is running, or was abandoned at loop close.
    Pending,
    Ready(Result<T, TaskError>),
    /// Moved out by an `await`.
    Taken,
}

/// The bytes a [`Coroutine`] shares between its future and its outcome.
enum Slot<F: Future> {
    Future(F),
    Outcome(Outcome<F::Output>),
}

/// A task's future, pinned where it lies, then its outcome in the same
/// place (see the module docs).
pub(crate) struct Coroutine<F: Future> {
    stage: Cell<Stage>,
    /// Readers of the outcome now (`with_outcome`, possibly nested).
    readers: Cell<u16>,
    slot: UnsafeCell<Slot<F>>,
    /// The future is polled in place: the cell must not move.
    _pinned: PhantomPinned,
}

impl<F: Future> Coroutine<F> {
    pub(crate) fn new(future: F) -> Coroutine<F> {
        Coroutine {
            stage: Cell::new(Stage::Live),
            readers: Cell::new(0),
            slot: UnsafeCell::new(Slot::Future(future)),
            _pinned: PhantomPinned,
        }
    }

    /// True once the future was dropped.
    pub(crate) fn is_gone(&self) -> bool {
        self.stage.get() == Stage::Gone
    }

    /// Polls the future in place; `None` if it is gone, or being polled
    /// already (a re-entrant poll is refused, never aliased).
    #[inline]
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Option<Poll<F::Output>> {
        if self.stage.get() != Stage::Live {
            return None;
        }
        self.stage.set(Stage::Polling);
        // Back to `Live` however the poll ends, a panic included.
        let _live_again = StageGuard(&self.stage);
        // SAFETY: the stage was `Live`, so the slot holds the future, and it
        // is now `Polling`, so no other `poll`, `drop_future` or outcome
        // access touches the slot until this one returns: the `&mut` is
        // unique. The future never moves (the cell stays in its `Rc`;
        // module invariants), so pinning it is sound.
        let slot = unsafe { &mut *self.slot.get() };
        let Slot::Future(future) = slot else {
            unreachable!("a live coroutine holds its future");
        };
        // SAFETY: as above: pinned in place for the rest of its life.
        let future = unsafe { Pin::new_unchecked(future) };
        Some(future.poll(cx))
    }

    /// Drops the future where it lies, if it is there and not being
    /// polled; afterwards `poll` finds nothing and the outcome is
    /// `Pending` until `set_outcome`.
    pub(crate) fn drop_future(&self) {
        if self.stage.get() != Stage::Live {
            return;
        }
        // Not `Live` first: even if the destructor panics, nobody drops it
        // again; not `Gone` until the slot holds an outcome.
        self.stage.set(Stage::Dropping);
        let slot = self.slot.get();
        // Whatever the destructor does, the slot ends holding an outcome,
        // and only then is the coroutine `Gone`.
        let _emptied = EmptyOutcome(slot, &self.stage);
        // SAFETY: the stage was `Live`: the slot holds the future, and no
        // poll or outcome access runs (they check the stage, `Dropping`
        // now, even from the destructor). The future
        // is dropped in place (pinning allows that); `EmptyOutcome` then
        // overwrites the slot without dropping it again.
        unsafe {
            if let Slot::Future(future) = &mut *slot {
                ptr::drop_in_place(future);
            }
        }
    }

    /// Stores the outcome (the future must be gone: `drop_future` first).
    ///
    /// # Panics
    /// If the future is still there, or a reader has the outcome.
    pub(crate) fn set_outcome(&self, outcome: Result<F::Output, TaskError>) {
        // The old outcome is dropped after the borrow: its destructor is
        // user code, which may look at this task again.
        let old = self.change_outcome(|slot| std::mem::replace(slot, Outcome::Ready(outcome)));
        drop(old);
    }

    /// Moves the outcome out, leaving `Taken`; `Pending` (and the slot left
    /// as it is) while the future is still there.
    ///
    /// # Panics
    /// If a reader has the outcome.
    pub(crate) fn take_outcome(&self) -> Outcome<F::Output> {
        if self.stage.get() != Stage::Gone {
            return Outcome::Pending;
        }
        self.change_outcome(|slot| std::mem::replace(slot, Outcome::Taken))
    }

    /// Calls `f` with the outcome (`Pending` while the future is there).
    /// Readers may nest; changing the outcome meanwhile panics.
    pub(crate) fn with_outcome<R>(&self, f: impl FnOnce(&Outcome<F::Output>) -> R) -> R {
        if self.stage.get() != Stage::Gone {
            return f(&Outcome::Pending);
        }
        let readers = self.readers.get();
        self.readers.set(
            readers
                .checked_add(1)
                .expect("too many nested reads of a task's outcome"),
        );
        let _done = ReaderGuard(&self.readers);
        // SAFETY: `Gone`: the slot holds an outcome and no future code
        // runs on it. While the count is above zero, `set_outcome` and
        // `take_outcome` refuse to run, so this shared reference is the
        // only kind that exists until the guard lowers the count.
        let slot = unsafe { &*self.slot.get() };
        let Slot::Outcome(outcome) = slot else {
            unreachable!("a gone coroutine holds an outcome");
        };
        f(outcome)
    }

    /// Calls `f` to change the outcome: `Gone` and no reader out. `f` only
    /// moves values in and out (the callers above): no user code runs
    /// while it holds the `&mut`.
    fn change_outcome<R>(&self, f: impl FnOnce(&mut Outcome<F::Output>) -> R) -> R {
        assert!(
            self.stage.get() == Stage::Gone,
            "a task's outcome is set only once its coroutine is gone"
        );
        assert!(
            self.readers.get() == 0,
            "a task's outcome changed while it was being read"
        );
        // SAFETY: `Gone` with no reader: the slot holds an outcome and no
        // other reference to it exists (readers are counted, the future is
        // gone), and `f` (private to this module's callers, which only move
        // values) cannot reach the coroutine again while it runs.
        let slot = unsafe { &mut *self.slot.get() };
        let Slot::Outcome(outcome) = slot else {
            unreachable!("a gone coroutine holds an outcome");
        };
        f(outcome)
    }
}

/// Sets a polled coroutine's stage back to `Live` when dropped.
struct StageGuard<'a>(&'a Cell<Stage>);

impl Drop for StageGuard<'_> {
    fn drop(&mut self) {
        self.0.set(Stage::Live);
    }
}

/// Writes `Outcome::Pending` over a slot whose future was just dropped in
/// place (also when its destructor panicked), then marks the coroutine
/// `Gone`.
struct EmptyOutcome<'a, F: Future>(*mut Slot<F>, &'a Cell<Stage>);

impl<F: Future> Drop for EmptyOutcome<'_, F> {
    fn drop(&mut self) {
        // SAFETY: the pointer is the coroutine's own slot, alive for this
        // guard's whole life; the future in it was dropped in place, so it
        // is overwritten without being dropped (`ptr::write`), and nothing
        // else references the slot meanwhile (the stage is `Dropping`, no
        // reader can exist before the outcome does).
        unsafe { ptr::write(self.0, Slot::Outcome(Outcome::Pending)) }
        self.1.set(Stage::Gone);
    }
}

/// Lowers the reader count of an outcome when a read ends.
struct ReaderGuard<'a>(&'a Cell<u16>);

impl Drop for ReaderGuard<'_> {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_for_every_slot() {
        for (index, slot) in [(7, 0x00AB_CDEF), (0x7FFF, u32::MAX), (0, 0)] {
            let key = TaskKey {
                slot,
                generation: 0x1234_5678,
            };
            let (back_index, back) = unpack(pack(index, key));
            assert_eq!(back_index, index);
            assert_eq!(back.slot, key.slot);
            assert_eq!(back.generation, key.waker_generation());
        }
        let zero = TaskKey {
            slot: 0,
            generation: 0,
        };
        assert_ne!(pack(0, zero), 0);
    }

    #[test]
    fn a_waker_clones_compares_wakes_and_drops_without_a_loop() {
        let key = TaskKey {
            slot: 3,
            generation: 9,
        };
        // An index no loop holds: waking finds nothing and does nothing.
        let waker = task_waker(u16::MAX >> 1, key);
        let copy = waker.clone();
        assert!(copy.will_wake(&waker));
        copy.wake_by_ref();
        copy.wake();
        let other = task_waker(
            u16::MAX >> 1,
            TaskKey {
                slot: 4,
                generation: 9,
            },
        );
        assert!(!other.will_wake(&waker));
        drop(waker);
        // From another thread, as a `Send` waker may be used.
        std::thread::spawn(move || other.wake()).join().unwrap();
    }

    /// The coroutine polled in place to the end, dropped exactly once (also
    /// when never polled, and when its destructor panics), re-entrance
    /// refused.
    #[test]
    fn a_coroutine_polls_in_place_and_drops_once() {
        use std::rc::Rc;

        struct Counted(Rc<Cell<u32>>, bool);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.set(self.0.get() + 1);
                if self.1 {
                    panic!("destructor panics");
                }
            }
        }

        let drops = Rc::new(Cell::new(0));
        let mut cx = Context::from_waker(Waker::noop());
        let held = Counted(drops.clone(), false);
        let mut polls = 0;
        let coroutine = Coroutine::new(std::future::poll_fn(move |_| {
            let _keep = &held;
            polls += 1;
            if polls < 3 {
                Poll::Pending
            } else {
                Poll::Ready(polls)
            }
        }));
        assert_eq!(coroutine.poll(&mut cx), Some(Poll::Pending));
        assert_eq!(coroutine.poll(&mut cx), Some(Poll::Pending));
        assert_eq!(coroutine.poll(&mut cx), Some(Poll::Ready(3)));
        coroutine.drop_future();
        assert_eq!(drops.get(), 1);
        assert!(coroutine.is_gone() && coroutine.poll(&mut cx).is_none());
        coroutine.drop_future();
        drop(coroutine);
        assert_eq!(drops.get(), 1, "dropped once");

        let never_polled = Coroutine::new(std::future::ready(Counted(drops.clone(), false)));
        drop(never_polled);
        assert_eq!(drops.get(), 2);

        let panicking = Coroutine::new(std::future::ready(Counted(drops.clone(), true)));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            panicking.drop_future();
        }));
        assert!(unwound.is_err());
        assert!(panicking.is_gone());
        drop(panicking); // no second drop
        assert_eq!(drops.get(), 3);
        // The slot holds an (empty) outcome after the panicking drop.
        assert!(panicking_outcome_is_pending());
    }

    fn panicking_outcome_is_pending() -> bool {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("destructor panics");
            }
        }
        let coroutine = Coroutine::new(std::future::ready(Bomb));
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            coroutine.drop_future();
        }));
        unwound.is_err() && coroutine.with_outcome(|o| matches!(o, Outcome::Pending))
    }

    /// A value with a heap part and a drop count, to see it moved, read
    /// and dropped exactly once by Miri's eyes.
    struct Value(Box<u64>, std::rc::Rc<Cell<u32>>);
    impl Drop for Value {
        fn drop(&mut self) {
            self.1.set(self.1.get() + 1);
        }
    }

    /// The outcome lives where the future was: `Pending` while the future
    /// is there, set once it is gone, read by nested readers, taken once,
    /// dropped with the coroutine when nobody took it.
    #[test]
    fn the_outcome_takes_the_futures_place() {
        use std::rc::Rc;

        let drops = Rc::new(Cell::new(0));
        let mut cx = Context::from_waker(Waker::noop());
        let d = drops.clone();
        let coroutine = Coroutine::new(async move { Value(Box::new(7), d) });
        assert!(coroutine.with_outcome(|o| matches!(o, Outcome::Pending)));
        assert!(matches!(coroutine.take_outcome(), Outcome::Pending));
        let Some(Poll::Ready(value)) = coroutine.poll(&mut cx) else {
            panic!("an async block without awaits is ready at once");
        };
        coroutine.drop_future();
        coroutine.set_outcome(Ok(value));
        let seen = coroutine.with_outcome(|outer| {
            // A reader inside a reader (a `Clone` of the value might read
            // the task again).
            let inner = coroutine.with_outcome(|o| match o {
                Outcome::Ready(Ok(v)) => *v.0,
                _ => 0,
            });
            match outer {
                Outcome::Ready(Ok(v)) => *v.0 + inner,
                _ => 0,
            }
        });
        assert_eq!(seen, 14);
        let Outcome::Ready(Ok(taken)) = coroutine.take_outcome() else {
            panic!("the value is there");
        };
        assert!(matches!(coroutine.take_outcome(), Outcome::Taken));
        assert_eq!(*taken.0, 7);
        drop(taken);
        drop(coroutine);
        assert_eq!(drops.get(), 1, "taken, dropped once");

        // Set and never taken: the coroutine's drop drops it.
        let d = drops.clone();
        let coroutine = Coroutine::new(async move { Value(Box::new(8), d) });
        let Some(Poll::Ready(value)) = coroutine.poll(&mut cx) else {
            panic!("ready at once");
        };
        coroutine.drop_future();
        coroutine.set_outcome(Ok(value));
        drop(coroutine);
        assert_eq!(drops.get(), 2);

        // An error outcome, replaced by another: the first is dropped.
        let coroutine: Coroutine<std::future::Pending<Value>> =
            Coroutine::new(std::future::pending());
        coroutine.drop_future();
        coroutine.set_outcome(Err(TaskError::Panicked("first".into())));
        coroutine.set_outcome(Err(TaskError::Cancelled));
        assert!(coroutine.with_outcome(|o| matches!(o, Outcome::Ready(Err(TaskError::Cancelled)))));
    }

    /// Changing the outcome while a reader holds it is refused (a panic,
    /// as `RefCell` gives), never aliased; so is setting it while the
    /// future is still there.
    #[test]
    fn the_outcome_is_never_changed_under_a_reader() {
        let coroutine: Coroutine<std::future::Ready<u32>> = Coroutine::new(std::future::ready(1));
        let early = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            coroutine.set_outcome(Ok(5));
        }));
        assert!(early.is_err(), "set while the future is there");
        coroutine.drop_future();
        coroutine.set_outcome(Ok(5));
        let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            coroutine.with_outcome(|_| {
                coroutine.take_outcome();
            })
        }));
        assert!(refused.is_err());
        // The reader's count came back down with the panic: usable again.
        assert!(matches!(coroutine.take_outcome(), Outcome::Ready(Ok(5))));
    }

    /// A coroutine and its outcome share their bytes: the cell is as big
    /// as the larger of the two, not their sum.
    #[test]
    fn a_coroutine_is_as_big_as_the_larger_of_future_and_outcome() {
        use std::mem::size_of;
        let outcome = size_of::<Outcome<()>>();
        assert!(size_of::<Coroutine<std::future::Pending<()>>>() <= outcome + 8);
        let future = size_of::<[u64; 16]>();
        let big = async {
            let held = [0u64; 16];
            std::future::pending::<()>().await;
            held.len()
        };
        assert!(size_of_val(&big) >= future);
        let cell = size_of::<Coroutine<std::pin::Pin<Box<dyn Future<Output = ()>>>>>();
        assert!(cell <= outcome + 8, "{cell}");
        fn size_of_coroutine<F: Future>(_: &F) -> usize {
            size_of::<Coroutine<F>>()
        }
        assert!(size_of_coroutine(&big) <= size_of_val(&big) + 16);
    }

    /// A future's destructor is user code: it may look at its own task
    /// (through a handle, `task.exception()` say). While it runs, the slot
    /// still holds the half-dropped future, so the outcome must read as
    /// `Pending` and a change must be refused, not reach the slot.
    #[test]
    fn a_destructor_that_reads_its_own_outcome_sees_pending() {
        use std::cell::RefCell;
        use std::rc::Rc;

        type Probe = Rc<RefCell<Option<Box<dyn Fn() -> bool>>>>;
        struct OnDrop(Probe, Rc<Cell<Option<bool>>>);
        impl Drop for OnDrop {
            fn drop(&mut self) {
                let probe = self.0.borrow_mut().take().unwrap();
                self.1.set(Some(probe()));
            }
        }

        let probe: Probe = Rc::new(RefCell::new(None));
        let seen = Rc::new(Cell::new(None));
        let on_drop = OnDrop(probe.clone(), seen.clone());
        let coroutine = Rc::new(Coroutine::new(async move {
            let _keep = &on_drop;
            std::future::pending::<u8>().await
        }));
        let weak = Rc::downgrade(&coroutine);
        *probe.borrow_mut() = Some(Box::new(move || {
            let coroutine = weak.upgrade().unwrap();
            let pending = coroutine.with_outcome(|o| matches!(o, Outcome::Pending));
            let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                coroutine.set_outcome(Ok(1));
            }))
            .is_err();
            pending
                && refused
                && coroutine
                    .poll(&mut Context::from_waker(Waker::noop()))
                    .is_none()
        }));
        coroutine.drop_future();
        assert_eq!(seen.get(), Some(true));
        assert!(coroutine.is_gone());
        coroutine.set_outcome(Ok(7));
        assert!(matches!(coroutine.take_outcome(), Outcome::Ready(Ok(7))));
    }
}
