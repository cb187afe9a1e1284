//! The op-script interpreter on corio: runs a script on a virtual-clock
//! loop and returns its trace, where the comparison with asyncio must stop
//! (a documented difference was reached), and the invariants it broke.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use corio_executor::{Clock, EventLoop, TaskRef, create_task, get_running_loop, sleep, yield_now};
use corio_sync::queue::{BaseQueue, Buffer};
use corio_sync::{
    Barrier, BoundedSemaphore, Condition, Event, LifoQueue, Lock, LockGuard, PriorityQueue, Queue,
    Semaphore, SyncError,
};

use super::script::{Op, Prim, Script};

/// Virtual milliseconds after which `main` reports the stuck tasks.
pub const HORIZON_MS: u64 = 1000;

/// What one run of a script produced.
pub struct Outcome {
    pub trace: Vec<String>,
    /// Compare only `trace[..line]`: at that point `rule`, a documented
    /// difference, makes what follows differ by design.
    pub cut: Option<Cut>,
    /// Broken invariants, each a sentence.
    pub violations: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    pub line: usize,
    pub rule: &'static str,
}

/// The script's primitives, one of each.
struct Prims {
    l: Lock,
    s: Semaphore,
    b: BoundedSemaphore,
    c: Condition,
    e: Event,
    q: Queue<i64>,
    p: PriorityQueue<i64>,
    f: LifoQueue<i64>,
    r: Barrier,
}

/// What the interpreter knows of one task.
#[derive(Default)]
struct TaskState {
    /// The op it is executing.
    current: Cell<Option<Op>>,
    /// The line its current op waits in (it returned `Pending`).
    blocked_on: Cell<Option<Line>>,
    /// Its current op's waker was woken and the task has not run since:
    /// something was handed to it.
    woken: Arc<AtomicBool>,
    /// `cancel` was called and the task has not unwound yet.
    cancel_pending: Cell<bool>,
    /// It printed `done` or `cancelled in`.
    finished: Cell<bool>,
}

/// Bookkeeping for the invariants.
#[derive(Default)]
struct Model {
    /// Completed acquires minus successful releases, for L, S, B.
    held: [i64; 3],
    /// Per line of waiters: the tasks waiting, in the order they began to.
    waiting: Vec<(Line, VecDeque<usize>)>,
    /// Per queue (Q, P, F): counts of each value put, got, and how many
    /// items an immediate shutdown dropped.
    put: [[i64; 10]; 3],
    got: [[i64; 10]; 3],
    dropped: [i64; 3],
}

struct Shared {
    prims: Prims,
    bound: usize,
    semaphore: usize,
    start: Instant,
    trace: RefCell<Vec<String>>,
    recording: Cell<bool>,
    cut: Cell<Option<Cut>>,
    violations: RefCell<Vec<String>>,
    tasks: RefCell<Vec<TaskRef>>,
    states: Vec<TaskState>,
    model: RefCell<Model>,
}

/// Runs `script` on a fresh loop with a virtual clock.
pub fn run(script: &Script) -> Outcome {
    let lp = EventLoop::with_clock(Clock::virtual_clock()).expect("a loop");
    let params = script.params;
    let shared = Rc::new(Shared {
        prims: Prims {
            l: Lock::new(),
            s: Semaphore::new(params.semaphore),
            b: BoundedSemaphore::new(params.bounded),
            c: Condition::new(),
            e: Event::new(),
            q: Queue::new(params.queue),
            p: PriorityQueue::new(params.priority),
            f: LifoQueue::new(params.lifo),
            r: Barrier::new(params.parties).expect("parties > 0"),
        },
        bound: params.bounded,
        semaphore: params.semaphore,
        start: lp.time(),
        trace: RefCell::new(Vec::new()),
        recording: Cell::new(true),
        cut: Cell::new(None),
        violations: RefCell::new(Vec::new()),
        tasks: RefCell::new(Vec::new()),
        states: script.tasks.iter().map(|_| TaskState::default()).collect(),
        model: RefCell::new(Model::default()),
    });
    let main = {
        let shared = shared.clone();
        let tasks = script.tasks.clone();
        async move {
            for (i, ops) in tasks.into_iter().enumerate() {
                let task = create_task(run_task(shared.clone(), i, ops));
                shared.tasks.borrow_mut().push(task.as_ref());
            }
            sleep(Duration::from_millis(HORIZON_MS)).await;
            shared.finish();
        }
    };
    lp.run_until_complete(main).expect("the script's main task");
    // The stuck tasks unwind, recording nothing more (as asyncio's run
    // cancels what is left).
    for task in shared.tasks.borrow().iter() {
        task.cancel();
    }
    lp.run_until_complete(yield_now())
        .expect("the stuck tasks unwind");
    lp.close().expect("close");
    let outcome = Outcome {
        trace: shared.trace.take(),
        cut: shared.cut.get(),
        violations: shared.violations.take(),
    };
    shared.tasks.borrow_mut().clear();
    outcome
}

/// One task: its ops in order, a trace line after each.
async fn run_task(sh: Rc<Shared>, me: usize, ops: Vec<Op>) {
    let _note = CancelNote { sh: &sh, me };
    // The condition's lock, held as a guard between `acquire C` and
    // `release C` (dropped, so released, if the task is cancelled).
    let mut cond_guard: Option<LockGuard<'_>> = None;
    for op in &ops {
        sh.check_rules(me, op);
        sh.states[me].current.set(Some(*op));
        let out = sh.exec(me, op, &mut cond_guard).await;
        sh.record(format!("{} T{me} {op} -> {out}", sh.now_ms()));
    }
    sh.states[me].current.set(None);
    sh.states[me].finished.set(true);
    sh.record(format!("{} T{me} done", sh.now_ms()));
}

/// Records `cancelled in OP` when the task is dropped mid-op: corio's
/// cancellation is that drop.
struct CancelNote<'a> {
    sh: &'a Shared,
    me: usize,
}

impl Drop for CancelNote<'_> {
    fn drop(&mut self) {
        let state = &self.sh.states[self.me];
        state.cancel_pending.set(false);
        if state.finished.replace(true) {
            return;
        }
        if let Some(op) = state.current.take() {
            self.sh.record(format!(
                "{} T{} cancelled in {op}",
                self.sh.now_ms(),
                self.me
            ));
        }
    }
}

impl Shared {
    fn now_ms(&self) -> u128 {
        let now = get_running_loop().map(|lp| lp.time()).unwrap_or(self.start);
        (now - self.start).as_millis()
    }

    fn record(&self, line: String) {
        if self.recording.get() {
            self.trace.borrow_mut().push(line);
        }
    }

    fn violation(&self, what: String) {
        let at = self.trace.borrow().len();
        self.violations
            .borrow_mut()
            .push(format!("after trace line {at}: {what}"));
    }

    fn cut(&self, rule: &'static str) {
        if self.cut.get().is_none() {
            let line = self.trace.borrow().len();
            self.cut.set(Some(Cut { line, rule }));
        }
    }

    /// The documented differences (see the rules in `differential.rs`):
    /// from the moment one applies, the traces may part by design.
    fn check_rules(&self, me: usize, op: &Op) {
        let others = |pred: &dyn Fn(&TaskState) -> bool| {
            self.states
                .iter()
                .enumerate()
                .any(|(j, state)| j != me && pred(state))
        };
        let woken_in = |line: Line| {
            others(&|s| s.blocked_on.get() == Some(line) && s.woken.load(Ordering::SeqCst))
        };
        let main_line = |prim| Line(prim, Side::Main);
        if let Some(prim) = op.prim()
            && others(&|s| {
                s.blocked_on.get().is_some_and(|l| l.0 == prim) && s.cancel_pending.get()
            })
        {
            self.cut("handed-to-cancelled");
        }
        let barging = match *op {
            Op::Get(prim) | Op::GetNowait(prim) => woken_in(main_line(prim)),
            Op::Put(prim, _) | Op::PutNowait(prim, _) => woken_in(Line(prim, Side::Put)),
            _ => false,
        };
        if barging {
            self.cut("queue-reservation");
        }
        if *op == Op::Release(Prim::B) && woken_in(main_line(Prim::B)) {
            self.cut("bounded-handed-permit");
        }
        if matches!(op, Op::BarrierWait | Op::Abort) && woken_in(main_line(Prim::R)) {
            self.cut("barrier-draining");
        }
        let r = &self.prims.r;
        let releases_cycle = *op == Op::BarrierWait && r.n_waiting() + 1 == r.parties();
        if (releases_cycle || *op == Op::Abort) && r.n_waiting() >= 2 {
            self.cut("barrier-staggered");
        }
        if let Op::Cancel(j) = *op
            && self.states[j].current.get() == Some(Op::WaitCond)
        {
            self.cut("cancel-condition-wait");
        }
    }

    async fn exec<'p>(&'p self, me: usize, op: &Op, cond: &mut Option<LockGuard<'p>>) -> String {
        let p = &self.prims;
        match *op {
            Op::Acquire(Prim::C) => {
                *cond = Some(self.watch(me, Prim::C, p.c.acquire()).await);
                "ok".into()
            }
            Op::Acquire(prim) => {
                match prim {
                    Prim::L => self.watch(me, prim, p.l.acquire()).await.forget(),
                    Prim::S => self.watch(me, prim, p.s.acquire()).await.forget(),
                    _ => self.watch(me, prim, p.b.acquire()).await.forget(),
                }
                self.acquired(prim);
                "ok".into()
            }
            Op::Release(Prim::C) => {
                drop(cond.take());
                "ok".into()
            }
            Op::Release(prim) => {
                let released = match prim {
                    Prim::L => p.l.release(),
                    Prim::S => p.s.release(),
                    _ => p.b.release(),
                };
                if released.is_ok() {
                    self.released(prim);
                }
                outcome(released, |()| "ok".into())
            }
            Op::WaitCond => {
                let guard = cond.take().expect("a valid script waits inside its block");
                let waited = self.watch(me, Prim::C, p.c.wait(guard)).await;
                outcome(waited, |guard| {
                    *cond = Some(guard);
                    "ok".into()
                })
            }
            Op::Notify(n) => outcome(p.c.notify(n), |_| "ok".into()),
            Op::NotifyAll => outcome(p.c.notify_all(), |_| "ok".into()),
            Op::Set => {
                p.e.set();
                "ok".into()
            }
            Op::Clear => {
                p.e.clear();
                "ok".into()
            }
            Op::WaitEvent => {
                self.watch(me, Prim::E, p.e.wait()).await;
                "ok".into()
            }
            Op::IsSet => p.e.is_set().to_string(),
            Op::BarrierWait => match self.watch(me, Prim::R, p.r.wait()).await {
                Ok(index) => index.to_string(),
                Err(_) => "broken".into(),
            },
            Op::Abort => {
                p.r.abort();
                "ok".into()
            }
            Op::Sleep(0) => {
                yield_now().await;
                "ok".into()
            }
            Op::Sleep(ms) => {
                sleep(Duration::from_millis(ms)).await;
                "ok".into()
            }
            Op::Cancel(j) => {
                let task = self.tasks.borrow()[j].clone();
                if !task.done() {
                    task.cancel();
                    self.states[j].cancel_pending.set(true);
                }
                "ok".into()
            }
            Op::Put(prim, _)
            | Op::PutNowait(prim, _)
            | Op::Get(prim)
            | Op::GetNowait(prim)
            | Op::TaskDone(prim)
            | Op::Join(prim)
            | Op::Shutdown(prim, _) => match prim {
                Prim::Q => self.queue_op(me, prim, &p.q, op).await,
                Prim::P => self.queue_op(me, prim, &p.p, op).await,
                _ => self.queue_op(me, prim, &p.f, op).await,
            },
        }
    }

    async fn queue_op<B: Buffer<i64>>(
        &self,
        me: usize,
        prim: Prim,
        queue: &BaseQueue<i64, B>,
        op: &Op,
    ) -> String {
        let slot = queue_index(prim);
        match *op {
            Op::Put(_, value) => match self
                .watch_side(me, Line(prim, Side::Put), queue.put(value))
                .await
            {
                Ok(()) => self.model.borrow_mut().put[slot][value as usize] += 1,
                Err(e) => return format!("{}", e.error),
            },
            Op::PutNowait(_, value) => match queue.put_nowait(value) {
                Ok(()) => self.model.borrow_mut().put[slot][value as usize] += 1,
                Err(e) if e.error == SyncError::QueueFull => return "full".into(),
                Err(e) => return format!("{}", e.error),
            },
            Op::Get(_) | Op::GetNowait(_) => {
                let got = if matches!(op, Op::Get(_)) {
                    self.watch(me, prim, queue.get()).await
                } else {
                    queue.get_nowait()
                };
                return match got {
                    Ok(value) => {
                        self.model.borrow_mut().got[slot][value as usize] += 1;
                        value.to_string()
                    }
                    Err(SyncError::QueueEmpty) => "empty".into(),
                    Err(e) => e.to_string(),
                };
            }
            Op::TaskDone(_) => return outcome(queue.task_done(), |()| "ok".into()),
            Op::Join(_) => {
                self.watch_side(me, Line(prim, Side::Join), queue.join())
                    .await
            }
            Op::Shutdown(_, immediate) => {
                if immediate {
                    self.model.borrow_mut().dropped[slot] += queue.qsize() as i64;
                }
                queue.shutdown(immediate);
            }
            _ => unreachable!("not a queue op: {op}"),
        }
        "ok".into()
    }

    /// Awaits `fut`, an op on `prim`, recording whether it waited and
    /// whether something woke it (see `Watch`).
    fn watch<'a, F: Future>(&'a self, me: usize, prim: Prim, fut: F) -> Watch<'a, F> {
        self.watch_side(me, Line(prim, Side::Main), fut)
    }

    fn watch_side<'a, F: Future>(&'a self, me: usize, key: Line, fut: F) -> Watch<'a, F> {
        Watch {
            sh: self,
            me,
            key,
            fut: Box::pin(fut),
            waited: false,
            done: false,
        }
    }

    fn acquired(&self, prim: Prim) {
        let i = counter_index(prim);
        let held = {
            let mut model = self.model.borrow_mut();
            model.held[i] += 1;
            model.held[i]
        };
        let limit = match prim {
            Prim::L => Some(1),
            Prim::B => Some(self.bound as i64),
            _ => None,
        };
        if let Some(limit) = limit
            && held > limit
        {
            self.violation(format!("{held} holders of {prim} (at most {limit})"));
        }
    }

    fn released(&self, prim: Prim) {
        let i = counter_index(prim);
        let mut model = self.model.borrow_mut();
        model.held[i] -= 1;
        if model.held[i] < 0 && prim != Prim::S {
            drop(model);
            self.violation(format!("{prim} released more times than acquired"));
        }
        if prim == Prim::B && self.prims.b.value() > self.bound {
            self.violation(format!("B at {} above its bound", self.prims.b.value()));
        }
    }

    /// Called by `main` at the horizon: the stuck lines, the end, and the
    /// invariants that need the whole run.
    fn finish(&self) {
        let now = self.now_ms();
        for (i, task) in self.tasks.borrow().iter().enumerate() {
            if task.done() {
                continue;
            }
            let op = self.states[i].current.get();
            let op = op.map_or_else(|| "?".to_string(), |op| op.to_string());
            self.record(format!("{now} main: T{i} stuck in {op}"));
            self.check_stuck(i);
        }
        self.record(format!("{now} end"));
        self.recording.set(false);
        self.check_totals();
    }

    /// A task left waiting although what it waits for is there: a lost
    /// wake-up.
    fn check_stuck(&self, i: usize) {
        let p = &self.prims;
        let Some(op) = self.states[i].current.get() else {
            return;
        };
        let lost = match op {
            Op::Acquire(Prim::L) => !p.l.locked(),
            Op::Acquire(Prim::C) => !p.c.locked(),
            Op::Acquire(Prim::S) => p.s.value() > 0,
            Op::Acquire(Prim::B) => p.b.value() > 0,
            Op::WaitEvent => p.e.is_set(),
            Op::Get(prim) => match prim {
                Prim::Q => !p.q.empty() || p.q.is_shut_down(),
                Prim::P => !p.p.empty() || p.p.is_shut_down(),
                _ => !p.f.empty() || p.f.is_shut_down(),
            },
            Op::Put(prim, _) => match prim {
                Prim::Q => !p.q.full() || p.q.is_shut_down(),
                Prim::P => !p.p.full() || p.p.is_shut_down(),
                _ => !p.f.full() || p.f.is_shut_down(),
            },
            _ => false,
        };
        if lost {
            self.violation(format!("T{i} stuck in {op} although it could go on"));
        }
    }

    /// Nothing created or lost: permits add up, every item put was got or
    /// is still queued.
    fn check_totals(&self) {
        let p = &self.prims;
        let model = self.model.borrow();
        let lock_free = i64::from(!p.l.locked());
        if lock_free + model.held[0] != 1 {
            self.violation(format!("L: free {lock_free} + held {} != 1", model.held[0]));
        }
        let s_total = p.s.value() as i64 + model.held[1];
        if s_total != self.semaphore as i64 {
            self.violation(format!("S: free + held = {s_total} != {}", self.semaphore));
        }
        let b_total = p.b.value() as i64 + model.held[2];
        if b_total != self.bound as i64 {
            self.violation(format!("B: free + held = {b_total} != {}", self.bound));
        }
        let mut left = [[0i64; 10]; 3];
        while let Ok(v) = p.q.get_nowait() {
            left[0][v as usize] += 1;
        }
        while let Ok(v) = p.p.get_nowait() {
            left[1][v as usize] += 1;
        }
        while let Ok(v) = p.f.get_nowait() {
            left[2][v as usize] += 1;
        }
        for (slot, name) in ["Q", "P", "F"].iter().enumerate() {
            let put: i64 = model.put[slot].iter().sum();
            let got: i64 = model.got[slot].iter().sum();
            let kept: i64 = left[slot].iter().sum();
            let balanced = if model.dropped[slot] > 0 {
                put == got + kept + model.dropped[slot]
            } else {
                (0..10).all(|v| model.put[slot][v] == model.got[slot][v] + left[slot][v])
            };
            if !balanced {
                self.violation(format!(
                    "{name}: {put} put, {got} got, {kept} left, {} dropped",
                    model.dropped[slot]
                ));
            }
        }
    }
}

fn counter_index(prim: Prim) -> usize {
    match prim {
        Prim::L => 0,
        Prim::S => 1,
        _ => 2,
    }
}

fn queue_index(prim: Prim) -> usize {
    match prim {
        Prim::Q => 0,
        Prim::P => 1,
        _ => 2,
    }
}

fn outcome<T>(result: Result<T, SyncError>, ok: impl FnOnce(T) -> String) -> String {
    match result {
        Ok(value) => ok(value),
        Err(e) => format!("error {e}"),
    }
}

/// An op's future, watched: the first `Pending` puts the task in line for
/// its primitive (FIFO is checked when it completes), and its waker sets
/// the task's `woken` flag, so the rules can tell a task that was handed
/// something and has not run yet.
struct Watch<'a, F: Future> {
    sh: &'a Shared,
    me: usize,
    key: Line,
    fut: Pin<Box<F>>,
    waited: bool,
    done: bool,
}

/// Sets a flag, then wakes the task.
struct FlagWaker {
    flag: Arc<AtomicBool>,
    task: Waker,
}

impl Wake for FlagWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.flag.store(true, Ordering::SeqCst);
        self.task.wake_by_ref();
    }
}

/// A line of waiters: a primitive and which of its waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Line(Prim, Side);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// acquire, get, and the waits of C, E, R.
    Main,
    /// A queue's putters.
    Put,
    /// A queue's joiners.
    Join,
}

impl Line {
    /// Waiters served one at a time in arrival order: checked for FIFO.
    fn fifo(self) -> bool {
        let Line(prim, side) = self;
        side != Side::Join
            && matches!(
                prim,
                Prim::L | Prim::S | Prim::B | Prim::Q | Prim::P | Prim::F
            )
    }
}

impl<F: Future> Future for Watch<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let state = &this.sh.states[this.me];
        state.woken.store(false, Ordering::SeqCst);
        let waker = Waker::from(Arc::new(FlagWaker {
            flag: state.woken.clone(),
            task: cx.waker().clone(),
        }));
        let polled = this.fut.as_mut().poll(&mut Context::from_waker(&waker));
        match polled {
            Poll::Pending if !this.waited => {
                this.waited = true;
                state.blocked_on.set(Some(this.key));
                line_for(&mut this.sh.model.borrow_mut(), this.key).push_back(this.me);
            }
            Poll::Pending => {}
            Poll::Ready(_) => {
                this.done = true;
                state.blocked_on.set(None);
                if this.waited {
                    let first = {
                        let mut model = this.sh.model.borrow_mut();
                        let line = line_for(&mut model, this.key);
                        let first = line.front().copied();
                        line.retain(|&t| t != this.me);
                        first
                    };
                    if this.key.fifo() && first != Some(this.me) {
                        this.sh.violation(format!(
                            "T{} served on {:?} before T{first:?}, which waited longer",
                            this.me, this.key
                        ));
                    }
                }
            }
        }
        polled
    }
}

impl<F: Future> Drop for Watch<'_, F> {
    /// Dropped before completion: the task was cancelled; it leaves the
    /// line.
    fn drop(&mut self) {
        if self.waited && !self.done {
            self.sh.states[self.me].blocked_on.set(None);
            line_for(&mut self.sh.model.borrow_mut(), self.key).retain(|&t| t != self.me);
        }
    }
}

fn line_for(model: &mut Model, key: Line) -> &mut VecDeque<usize> {
    let at = match model.waiting.iter().position(|(k, _)| *k == key) {
        Some(at) => at,
        None => {
            model.waiting.push((key, VecDeque::new()));
            model.waiting.len() - 1
        }
    };
    &mut model.waiting[at].1
}
