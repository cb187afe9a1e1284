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
//! - *loop index*: the loop's place in [`LOOPS`], a process-wide table of
//!   its thread-safe queue ([`Remote`]), held weakly;
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
//! # The coroutine, pinned in its task cell
//!
//! [`Coroutine`] keeps a task's future inline in the task cell (no `Box`):
//! one allocation per task holds the header, the coroutine and the
//! outcome. Its state machine:
//!
//! ```text
//!  new ──► Live ──poll──► Polling ──returns──► Live
//!            │               (a poll or a drop asked for meanwhile
//!            │                 does nothing: no aliasing, ever)
//!            └──drop_future──► Gone   (dropped in place, never again)
//! ```
//!
//! Invariants: the future is initialized exactly while the state is `Live`
//! or `Polling`; it is only touched through `poll` (state `Polling`, one at
//! a time) and `drop_future` (state `Live`); and it never moves, because a
//! `Coroutine` lives in a task cell that `spawn` builds inside its `Rc`
//! and that corio never moves out of (no `Rc::try_unwrap`, `into_inner` or
//! `get_mut` on a task). `Gone` is set *before* the destructor runs, so a
//! panicking destructor cannot lead to a second drop.

use std::cell::{Cell, UnsafeCell};
use std::future::Future;
use std::marker::PhantomPinned;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::remote::{Remote, RemoteItem, TaskKey};
use crate::runtime;

/// The word needs 64 bits.
const _: () = assert!(usize::BITS == 64, "corio's task waker packs 64 bits");

/// Set in every word, so that no word is zero.
const TAG: u64 = 1 << 63;
/// Bits of the loop index (62..48).
const INDEX_BITS: u32 = 15;
/// Where the slot starts (47..16).
const SLOT_SHIFT: u32 = 16;
/// The generation's bits kept (15..0).
const GENERATION_MASK: u64 = (1 << SLOT_SHIFT) - 1;
/// Where the loop index starts (62..48).
const INDEX_SHIFT: u32 = 48;

/// The loops' thread-safe queues, by index; a dead `Weak` is a free place.
static LOOPS: Mutex<Vec<Weak<Remote>>> = Mutex::new(Vec::new());

/// Gives `remote`'s loop an index for its wakers; `None` when every index
/// is taken by a live loop.
pub(crate) fn register_loop(remote: &Arc<Remote>) -> Option<u16> {
    let mut loops = LOOPS.lock().unwrap_or_else(PoisonError::into_inner);
    let weak = Arc::downgrade(remote);
    if let Some(free) = loops.iter().position(|w| w.strong_count() == 0) {
        loops[free] = weak;
        return u16::try_from(free).ok();
    }
    if loops.len() >= 1 << INDEX_BITS {
        return None;
    }
    loops.push(weak);
    u16::try_from(loops.len() - 1).ok()
}

/// The queue of the loop at `index`, if that loop still exists.
fn loop_at(index: u16) -> Option<Arc<Remote>> {
    let loops = LOOPS.lock().unwrap_or_else(PoisonError::into_inner);
    loops.get(usize::from(index))?.upgrade()
}

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

/// The generation as a packed waker carries it, for comparing with one.
pub(crate) fn packed_generation(generation: u32) -> u32 {
    (u64::from(generation) & GENERATION_MASK) as u32
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
    if runtime::wake_local_index(index, key) {
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
    Gone,
}

/// A task's future, pinned where it lies (see the module docs).
pub(crate) struct Coroutine<F> {
    stage: Cell<Stage>,
    future: UnsafeCell<MaybeUninit<F>>,
    /// The future is polled in place: the cell must not move.
    _pinned: PhantomPinned,
}

impl<F: Future> Coroutine<F> {
    pub(crate) fn new(future: F) -> Coroutine<F> {
        Coroutine {
            stage: Cell::new(Stage::Live),
            future: UnsafeCell::new(MaybeUninit::new(future)),
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
        // SAFETY: the stage was `Live`, so the future is initialized, and it
        // is now `Polling`, so no other `poll` or `drop_future` touches it
        // until this one returns: the `&mut` is unique. It never moves (the
        // cell stays in its `Rc`; module invariants), so pinning it is sound.
        let future = unsafe { Pin::new_unchecked((*self.future.get()).assume_init_mut()) };
        Some(future.poll(cx))
    }

    /// Drops the future where it lies, if it is there and not being
    /// polled; afterwards `poll` finds nothing.
    pub(crate) fn drop_future(&self) {
        if self.stage.get() != Stage::Live {
            return;
        }
        // Gone first: even if the destructor panics, nobody drops it again.
        self.stage.set(Stage::Gone);
        // SAFETY: the stage was `Live`: initialized, and not borrowed (no
        // poll runs). It is dropped in place (pinning allows that) and,
        // being `Gone` now, never read or dropped again.
        unsafe { (*self.future.get()).assume_init_drop() }
    }
}

impl<F> Drop for Coroutine<F> {
    fn drop(&mut self) {
        if self.stage.get() == Stage::Live {
            self.stage.set(Stage::Gone);
            // SAFETY: `Live`: initialized and not borrowed (`&mut self`);
            // dropped in place, once.
            unsafe { self.future.get_mut().assume_init_drop() }
        }
    }
}

/// Sets a polled coroutine's stage back to `Live` when dropped.
struct StageGuard<'a>(&'a Cell<Stage>);

impl Drop for StageGuard<'_> {
    fn drop(&mut self) {
        self.0.set(Stage::Live);
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
            assert_eq!(back.generation, packed_generation(key.generation));
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
    }
}
