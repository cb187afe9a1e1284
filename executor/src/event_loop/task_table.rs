//! The loop's task table: a slab of tasks addressed by [`TaskKey`] (slot
//! and generation), which a task's waker carries instead of a pointer.
//!
//! asyncio keeps its tasks in a `WeakSet` (`_all_tasks`); corio keeps them
//! strongly, so a detached task is never collected mid-flight, and a
//! waker names its task by key: a stale key (a waker outliving its task)
//! never reaches the slot's next task.

use std::rc::Rc;

use super::task_header::RawTask;
use crate::remote::TaskKey;

/// The loop's tasks, kept alive until they finish (asyncio's weak set made
/// strong, so a detached task is never collected mid-flight).
///
/// A slot's generation goes up each time its task leaves, so a stale key
/// (a waker outliving its task) never reaches the slot's next task. When
/// the table is mostly empty it gives memory back: trailing empty slots are
/// cut off, and slots made again later start above every generation ever
/// handed out for them (`floor`).
pub(crate) struct TaskTable<T = Rc<dyn RawTask>> {
    /// Slot `i` holds its task, or the generation its next task gets.
    slots: Vec<Slot<T>>,
    /// Empty slots, reused before the table grows.
    free: Vec<u32>,
    /// Tasks in the table.
    live: usize,
    /// The generation of a slot made anew: above every generation a cut
    /// slot ever had.
    floor: u32,
}

/// A slot of the task table: 16 bytes, as its task's `Rc` (a full slot's
/// generation is its task's `header.key.generation`, so the slot need not
/// keep one too).
enum Slot<T> {
    Full(T),
    Free { generation: u32 },
}

impl<T: Keyed> Slot<T> {
    /// The task, if it has `generation`.
    fn task(&self, generation: u32) -> Option<&T> {
        match self {
            Slot::Full(task) if task.key().generation == generation => Some(task),
            _ => None,
        }
    }
}

/// What the table holds: something that knows its own key (a task's
/// header has it), so a slot need not keep its generation twice.
pub(crate) trait Keyed {
    fn key(&self) -> TaskKey;
}

impl Keyed for Rc<dyn RawTask> {
    fn key(&self) -> TaskKey {
        self.header().key
    }
}

impl<T> Default for TaskTable<T> {
    fn default() -> Self {
        TaskTable {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
            floor: 0,
        }
    }
}

/// Below this many slots the table never shrinks (not worth the work).
const TASK_TABLE_MIN_SHRINK: usize = 1024;

impl<T: Keyed> TaskTable<T> {
    /// Reserves an empty slot; its key is final, so the task's waker can be
    /// built before the task is put in with [`fill`](Self::fill).
    pub(crate) fn vacant(&mut self) -> TaskKey {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::Free {
                    generation: self.floor,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let Slot::Free { generation } = self.slots[slot as usize] else {
            unreachable!("a free slot holds no task");
        };
        TaskKey { slot, generation }
    }

    /// Puts the task whose header has `key` (from [`vacant`](Self::vacant))
    /// in its slot.
    pub(crate) fn fill(&mut self, key: TaskKey, task: T) {
        debug_assert!(task.key() == key);
        self.slots[key.slot as usize] = Slot::Full(task);
        self.live += 1;
    }

    pub(crate) fn get(&self, key: TaskKey) -> Option<&T> {
        self.slots.get(key.slot as usize)?.task(key.generation)
    }

    /// The task in the slot a waker names, whatever its generation: the
    /// caller compares the generation (`TaskKey::waker_generation`, the
    /// bits a packed waker keeps, `raw.rs`) in the header it reads anyway,
    /// one virtual call for both (`LoopInner::wake_task`). A match with an
    /// older generation is a spurious wake-up at worst.
    #[inline]
    pub(crate) fn occupant(&self, key: TaskKey) -> Option<&T> {
        match self.slots.get(key.slot as usize) {
            Some(Slot::Full(task)) => Some(task),
            _ => None,
        }
    }

    /// True when no task is in the table.
    pub(crate) fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Slots held, live or free (for the memory tests).
    pub(crate) fn capacity(&self) -> usize {
        self.slots.capacity()
    }

    /// The tasks in the table, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.slots.iter().filter_map(|slot| match slot {
            Slot::Full(task) => Some(task),
            Slot::Free { .. } => None,
        })
    }

    /// Empties the table (loop close), returning the tasks still in it.
    pub(crate) fn take_all(&mut self) -> Vec<T> {
        let tasks = std::mem::take(&mut self.slots)
            .into_iter()
            .filter_map(|slot| match slot {
                Slot::Full(task) => Some(task),
                Slot::Free { .. } => None,
            })
            .collect();
        self.free.clear();
        self.slots.clear();
        self.live = 0;
        tasks
    }

    pub(crate) fn remove(&mut self, key: TaskKey) -> Option<T> {
        let entry = self.slots.get_mut(key.slot as usize)?;
        entry.task(key.generation)?;
        let free = Slot::Free {
            generation: key.generation.wrapping_add(1),
        };
        let Slot::Full(task) = std::mem::replace(entry, free) else {
            unreachable!("checked full above");
        };
        self.free.push(key.slot);
        self.live -= 1;
        if self.live * 4 < self.slots.len()
            && self.slots.len() >= TASK_TABLE_MIN_SHRINK
            && matches!(self.slots.last(), Some(Slot::Free { .. }))
        {
            self.shrink();
        }
        Some(task)
    }

    /// Cuts off the trailing empty slots and gives their memory back.
    fn shrink(&mut self) {
        while let Some(&Slot::Free { generation }) = self.slots.last() {
            self.floor = self.floor.max(generation);
            self.slots.pop();
        }
        let len = self.slots.len() as u32;
        self.free.retain(|&slot| slot < len);
        self.slots.shrink_to(self.slots.len() * 2);
        self.free.shrink_to(self.free.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table entry that is only its key.
    #[derive(Debug, PartialEq)]
    struct Entry(TaskKey);

    impl Keyed for Entry {
        fn key(&self) -> TaskKey {
            self.0
        }
    }

    fn add(table: &mut TaskTable<Entry>) -> TaskKey {
        let key = table.vacant();
        table.fill(key, Entry(key));
        key
    }

    #[test]
    fn a_key_finds_its_entry_until_it_leaves() {
        let mut table = TaskTable::default();
        let (a, b) = (add(&mut table), add(&mut table));
        assert_ne!(a.slot, b.slot);
        assert_eq!(table.get(a), Some(&Entry(a)));
        assert_eq!(table.remove(a), Some(Entry(a)));
        assert_eq!(table.get(a), None, "gone");
        assert_eq!(table.remove(a), None, "removed once");
        assert_eq!(table.get(b), Some(&Entry(b)));
        assert!(!table.is_empty());
    }

    #[test]
    fn a_reused_slot_gets_a_new_generation_and_stale_keys_miss() {
        let mut table = TaskTable::default();
        let old = add(&mut table);
        table.remove(old);
        let new = add(&mut table);
        assert_eq!(new.slot, old.slot, "the free slot is reused");
        assert_eq!(new.generation, old.generation + 1);
        assert_eq!(
            table.get(old),
            None,
            "a stale key never reaches the new task"
        );
        // A waker's look-up finds the slot's task; the generation tells
        // the stale key from the live one.
        let found = table.occupant(old).map(|e| e.key().waker_generation());
        assert_ne!(found, Some(old.waker_generation()));
        assert_eq!(found, Some(new.waker_generation()));
        assert_eq!(table.occupant(new), Some(&Entry(new)));
    }

    #[test]
    fn a_mostly_empty_table_shrinks_and_cut_slots_never_repeat_a_generation() {
        let mut table = TaskTable::default();
        let keys: Vec<_> = (0..4096).map(|_| add(&mut table)).collect();
        let grown = table.capacity();
        for key in &keys[8..] {
            table.remove(*key);
        }
        assert!(
            table.capacity() < grown / 4,
            "{} of {grown}",
            table.capacity()
        );
        for key in &keys[..8] {
            assert_eq!(table.get(*key), Some(&Entry(*key)), "live tasks stay");
        }
        // Slots made again start above every generation they had.
        let again: Vec<_> = (0..4088).map(|_| add(&mut table)).collect();
        for key in &again {
            if let Some(old) = keys.iter().find(|k| k.slot == key.slot) {
                assert!(key.generation > old.generation || keys[..8].contains(old));
            }
        }
        for key in &keys[8..] {
            assert_eq!(table.get(*key), None, "no stale key reaches a new task");
        }
    }

    #[test]
    fn take_all_empties_the_table_in_slot_order() {
        let mut table = TaskTable::default();
        let keys: Vec<_> = (0..5).map(|_| add(&mut table)).collect();
        table.remove(keys[1]);
        let taken = table.take_all();
        assert_eq!(taken, [keys[0], keys[2], keys[3], keys[4]].map(Entry));
        assert!(table.is_empty());
        assert_eq!(table.iter().count(), 0);
        let key = add(&mut table);
        assert_eq!(table.get(key), Some(&Entry(key)), "usable after");
    }
}
