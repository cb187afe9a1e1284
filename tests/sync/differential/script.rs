//! The op-script language: what a script is, its text form (what the
//! Python interpreter reads), the seeded generator, and the shrinker's
//! candidate edits.

use std::fmt;

/// One of the script's primitives (there is one of each).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prim {
    /// `Lock()`
    L,
    /// `Semaphore(S)`
    S,
    /// `BoundedSemaphore(B)`
    B,
    /// `Condition()`
    C,
    /// `Event()`
    E,
    /// `Queue(Q)`
    Q,
    /// `PriorityQueue(P)`
    P,
    /// `LifoQueue(F)`
    F,
    /// `Barrier(R)`
    R,
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One step of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Acquire(Prim),
    Release(Prim),
    WaitCond,
    Notify(usize),
    NotifyAll,
    Set,
    Clear,
    WaitEvent,
    IsSet,
    Put(Prim, i64),
    PutNowait(Prim, i64),
    Get(Prim),
    GetNowait(Prim),
    TaskDone(Prim),
    Join(Prim),
    /// Python 3.13's `Queue.shutdown(immediate)`: corio-only scripts.
    Shutdown(Prim, bool),
    BarrierWait,
    Abort,
    Sleep(u64),
    Cancel(usize),
}

impl Op {
    /// The primitive the op works on, if any.
    pub fn prim(&self) -> Option<Prim> {
        match *self {
            Op::Acquire(p) | Op::Release(p) => Some(p),
            Op::WaitCond | Op::Notify(_) | Op::NotifyAll => Some(Prim::C),
            Op::Set | Op::Clear | Op::WaitEvent | Op::IsSet => Some(Prim::E),
            Op::Put(p, _) | Op::PutNowait(p, _) | Op::Get(p) | Op::GetNowait(p) => Some(p),
            Op::TaskDone(p) | Op::Join(p) | Op::Shutdown(p, _) => Some(p),
            Op::BarrierWait | Op::Abort => Some(Prim::R),
            Op::Sleep(_) | Op::Cancel(_) => None,
        }
    }

    /// Only corio has it (CPython 3.11 has no `Queue.shutdown`).
    pub fn corio_only(&self) -> bool {
        matches!(self, Op::Shutdown(..))
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::Acquire(p) => write!(f, "acquire {p}"),
            Op::Release(p) => write!(f, "release {p}"),
            Op::WaitCond => write!(f, "wait C"),
            Op::Notify(n) => write!(f, "notify C {n}"),
            Op::NotifyAll => write!(f, "notify_all C"),
            Op::Set => write!(f, "set E"),
            Op::Clear => write!(f, "clear E"),
            Op::WaitEvent => write!(f, "wait E"),
            Op::IsSet => write!(f, "is_set E"),
            Op::Put(p, v) => write!(f, "put {p} {v}"),
            Op::PutNowait(p, v) => write!(f, "put_nowait {p} {v}"),
            Op::Get(p) => write!(f, "get {p}"),
            Op::GetNowait(p) => write!(f, "get_nowait {p}"),
            Op::TaskDone(p) => write!(f, "task_done {p}"),
            Op::Join(p) => write!(f, "join {p}"),
            Op::Shutdown(p, immediate) => write!(f, "shutdown {p} {immediate}"),
            Op::BarrierWait => write!(f, "bwait R"),
            Op::Abort => write!(f, "abort R"),
            Op::Sleep(ms) => write!(f, "sleep {ms}"),
            Op::Cancel(j) => write!(f, "cancel T{j}"),
        }
    }
}

/// The primitives' parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub semaphore: usize,
    pub bounded: usize,
    pub queue: usize,
    pub priority: usize,
    pub lifo: usize,
    pub parties: usize,
}

/// N tasks, each a list of ops, over one set of primitives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub seed: u64,
    pub params: Params,
    pub tasks: Vec<Vec<Op>>,
}

impl Script {
    /// Uses an op CPython 3.11 does not have: run on corio only.
    pub fn corio_only(&self) -> bool {
        self.tasks.iter().flatten().any(Op::corio_only)
    }

    /// Every task uses the condition as a guarded block: `acquire C`, then
    /// only `wait C`, `notify C n`, `notify_all C` or ops on other
    /// primitives, then `release C`; never `acquire C` inside its block and
    /// never a condition op outside one (the Python side's
    /// `Condition.wait` would release a lock another task holds).
    pub fn is_valid(&self) -> bool {
        let n = self.tasks.len();
        self.tasks.iter().all(|ops| {
            let mut holds = false;
            ops.iter().all(|op| match op {
                Op::Acquire(Prim::C) => !std::mem::replace(&mut holds, true),
                Op::Release(Prim::C) => std::mem::replace(&mut holds, false),
                Op::WaitCond | Op::Notify(_) | Op::NotifyAll => holds,
                Op::Cancel(j) => *j < n,
                _ => true,
            })
        })
    }

    /// Scripts one edit smaller, for shrinking: each task emptied, each
    /// condition block removed whole, each other op removed. Only valid
    /// ones are returned.
    pub fn smaller(&self) -> Vec<Script> {
        let mut out = Vec::new();
        let mut edit = |f: &dyn Fn(&mut Script)| {
            let mut s = self.clone();
            f(&mut s);
            if s != *self && s.is_valid() {
                out.push(s);
            }
        };
        for i in 0..self.tasks.len() {
            edit(&|s| s.tasks[i].clear());
        }
        for (i, ops) in self.tasks.iter().enumerate() {
            for (k, op) in ops.iter().enumerate() {
                if *op == Op::Acquire(Prim::C) {
                    let end = ops[k..]
                        .iter()
                        .position(|op| *op == Op::Release(Prim::C))
                        .map_or(ops.len(), |at| k + at + 1);
                    edit(&|s| {
                        s.tasks[i].drain(k..end);
                    });
                }
                edit(&|s| {
                    s.tasks[i].remove(k);
                });
            }
        }
        out
    }

    /// How many ops in all.
    pub fn size(&self) -> usize {
        self.tasks.iter().map(Vec::len).sum()
    }
}

impl Script {
    /// The text form the Python interpreter reads (see `asyncio_interp.py`),
    /// under the id `id`.
    pub fn text(&self, id: u64) -> String {
        let mut out = String::new();
        self.write(&mut out, id).expect("writing to a String");
        out
    }

    fn write(&self, f: &mut impl fmt::Write, id: u64) -> fmt::Result {
        let p = &self.params;
        writeln!(f, "script {id}")?;
        writeln!(
            f,
            "prims S={} B={} Q={} P={} F={} R={}",
            p.semaphore, p.bounded, p.queue, p.priority, p.lifo, p.parties
        )?;
        for (i, ops) in self.tasks.iter().enumerate() {
            let ops: Vec<String> = ops.iter().map(Op::to_string).collect();
            writeln!(f, "task {i}: {}", ops.join("; "))?;
        }
        writeln!(f, "end")
    }
}

/// The text form, under the script's seed.
impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, self.seed)
    }
}

/// splitmix64: small, seedable, good enough to spread scripts.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A random script for `seed`. With `shutdowns`, queue shutdowns may occur
/// (the script is then corio-only).
///
/// Each script focuses on one to three primitives, so that its tasks
/// contend: most ops go to those, and a few are sleeps and cancellations.
pub fn generate(seed: u64, shutdowns: bool) -> Script {
    const ALL: [Prim; 9] = [
        Prim::L,
        Prim::S,
        Prim::B,
        Prim::C,
        Prim::E,
        Prim::Q,
        Prim::P,
        Prim::F,
        Prim::R,
    ];
    let mut rng = Rng::new(seed);
    let params = Params {
        semaphore: rng.below(3),
        bounded: 1 + rng.below(2),
        queue: rng.below(3),
        priority: rng.below(3),
        lifo: rng.below(3),
        parties: 1 + rng.below(3),
    };
    let focus: Vec<Prim> = (0..1 + rng.below(3)).map(|_| rng.pick(&ALL)).collect();
    let n = 2 + rng.below(4);
    let tasks = (0..n)
        .map(|me| {
            let mut ops = Vec::new();
            let len = 1 + rng.below(8);
            while ops.len() < len {
                match rng.below(10) {
                    0 => ops.push(Op::Sleep(rng.below(4) as u64)),
                    1 if rng.one_in(2) => {
                        ops.push(Op::Cancel((me + 1 + rng.below(n - 1)) % n));
                    }
                    _ => match rng.pick(&focus) {
                        Prim::C => condition_block(&mut rng, &mut ops),
                        prim => ops.push(random_op(&mut rng, prim, shutdowns)),
                    },
                }
            }
            ops
        })
        .collect();
    Script {
        seed,
        params,
        tasks,
    }
}

/// `acquire C`, a few waits/notifies/sleeps, `release C`.
fn condition_block(rng: &mut Rng, ops: &mut Vec<Op>) {
    ops.push(Op::Acquire(Prim::C));
    for _ in 0..1 + rng.below(3) {
        ops.push(match rng.below(4) {
            0 | 1 => Op::WaitCond,
            2 => Op::Notify(1 + rng.below(2)),
            _ => Op::NotifyAll,
        });
    }
    if rng.one_in(3) {
        ops.push(Op::Sleep(rng.below(3) as u64));
    }
    ops.push(Op::Release(Prim::C));
}

/// An op on `prim` (not C: see `condition_block`).
fn random_op(rng: &mut Rng, prim: Prim, shutdowns: bool) -> Op {
    let value = rng.below(10) as i64;
    match prim {
        Prim::L | Prim::S | Prim::B => match rng.below(5) {
            0 | 1 => Op::Acquire(prim),
            2 | 3 => Op::Release(prim),
            _ => Op::Sleep(rng.below(2) as u64),
        },
        Prim::E => rng.pick(&[Op::Set, Op::Clear, Op::WaitEvent, Op::WaitEvent, Op::IsSet]),
        Prim::R => {
            if rng.one_in(5) {
                Op::Abort
            } else {
                Op::BarrierWait
            }
        }
        _ => match rng.below(12) {
            0..=2 => Op::Put(prim, value),
            3 => Op::PutNowait(prim, value),
            4..=6 => Op::Get(prim),
            7 => Op::GetNowait(prim),
            8 => Op::TaskDone(prim),
            9 => Op::Join(prim),
            10 if shutdowns => Op::Shutdown(prim, rng.one_in(2)),
            _ => Op::Sleep(rng.below(2) as u64),
        },
    }
}
