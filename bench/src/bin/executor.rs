//! corio's executor vs tokio's current-thread runtime, in one process run.
//!
//! Run: `cargo run --release -p corio-bench --bin executor [ROUNDS]`
//!
//! Each workload runs ROUNDS times per runtime, interleaved (corio, tokio,
//! corio, …); the table reports the median time of each and the ratio
//! corio/tokio (below 1.0: corio is faster). Memory per pending task is
//! counted by a counting global allocator (live bytes after spawning,
//! divided by the number of tasks).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

/// Counts live heap bytes, to measure memory per pending task.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator unchanged; only counts sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System.alloc` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

/// The spawning steps of these workloads are long by design: do not
/// report them as slow callbacks.
fn quiet() {
    let lp = corio::get_running_loop().expect("inside run");
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    observe_mode(&lp);
}

/// What the corio side runs with: metrics on (every loop's default), off,
/// or the flight recorder on too (`executor ROUNDS observe`).
static MODE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(MODE_METRICS);
const MODE_METRICS: u8 = 0;
const MODE_OFF: u8 = 1;
const MODE_TRACE: u8 = 2;

fn observe_mode(lp: &corio::EventLoop) {
    match MODE.load(std::sync::atomic::Ordering::Relaxed) {
        MODE_OFF => lp.set_metrics(false),
        MODE_TRACE => lp.set_trace(true),
        _ => {}
    }
}

/// Runs `f` with the corio loops in `mode`.
fn in_mode(mode: u8, f: fn() -> Duration) -> Duration {
    MODE.store(mode, std::sync::atomic::Ordering::Relaxed);
    let took = f();
    MODE.store(MODE_METRICS, std::sync::atomic::Ordering::Relaxed);
    took
}

/// `executor ROUNDS observe`: each corio workload with metrics off, on, and
/// with the recorder on, interleaved; prints the medians and the overhead
/// ratios (on / off, trace / off), each workload's and their geometric mean.
/// A corio workload: its name, its ratio key, and the run.
type Workload = (&'static str, &'static str, fn() -> Duration);

fn observe_overhead(rounds: usize, workloads: &[Workload]) {
    println!("| workload | metrics off | metrics on | recorder on | on/off | recorder/off |");
    println!("|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let (mut product_on, mut product_trace) = (1.0, 1.0);
    for (name, key, f) in workloads {
        let (mut off, mut on, mut trace) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Rotate which mode goes first.
            for k in 0..3 {
                match (round + k) % 3 {
                    0 => off.push(in_mode(MODE_OFF, *f)),
                    1 => on.push(in_mode(MODE_METRICS, *f)),
                    _ => trace.push(in_mode(MODE_TRACE, *f)),
                }
            }
        }
        let (off, on, trace) = (
            corio_bench::median(off),
            corio_bench::median(on),
            corio_bench::median(trace),
        );
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (r_on, r_trace) = (
            on.as_secs_f64() / off.as_secs_f64(),
            trace.as_secs_f64() / off.as_secs_f64(),
        );
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms | {r_on:.3} | {r_trace:.3} |",
            ms(off),
            ms(on),
            ms(trace)
        );
        product_on *= r_on;
        product_trace *= r_trace;
        ratios.push((format!("metrics_overhead_{key}"), r_on));
        ratios.push((format!("trace_overhead_{key}"), r_trace));
    }
    let n = workloads.len() as f64;
    ratios.push(("metrics_overhead".to_string(), product_on.powf(1.0 / n)));
    ratios.push(("trace_overhead".to_string(), product_trace.powf(1.0 / n)));
    println!();
    for (key, ratio) in ratios {
        println!("ratio {key} {ratio:.3}");
    }
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

// ------------------------------------------------------------ workloads ---

const SPAWNS: u64 = 1_000_000;
const CALLBACKS: u64 = 1_000_000;
const TIMERS: u64 = 100_000;
const PINGS: u64 = 1_000_000;

const PENDING: usize = 100_000;

fn corio_spawn_join() -> Duration {
    timed(|| {
        let sum = corio::run(async {
            quiet();
            let tasks: Vec<_> = (0..SPAWNS)
                .map(|i| corio::create_task(async move { i }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.expect("task");
            }
            sum
        })
        .expect("run");
        assert_eq!(sum, (0..SPAWNS).sum::<u64>());
    })
}

fn tokio_spawn_join() -> Duration {
    timed(|| {
        let sum = tokio_rt().block_on(async {
            let tasks: Vec<_> = (0..SPAWNS)
                .map(|i| tokio::spawn(async move { i }))
                .collect();
            let mut sum = 0;
            for t in tasks {
                sum += t.await.expect("task");
            }
            sum
        });
        assert_eq!(sum, (0..SPAWNS).sum::<u64>());
    })
}

fn corio_call_soon() -> Duration {
    let lp = corio::EventLoop::new().expect("loop");
    lp.set_slow_callback_duration(Duration::from_secs(3600));
    observe_mode(&lp);
    let count = Rc::new(RefCell::new(0u64));
    timed(|| {
        for _ in 0..CALLBACKS {
            let c = count.clone();
            lp.call_soon(move || *c.borrow_mut() += 1);
        }
        lp.stop();
        lp.run_forever().expect("run");
        assert_eq!(*count.borrow(), CALLBACKS);
    })
}

/// tokio has no callback queue; its nearest peer of `call_soon(f)` is
/// spawning a future that runs `f` once (`spawn_local` on a `LocalSet`).
fn tokio_call_soon() -> Duration {
    let rt = tokio_rt();
    let count = Rc::new(RefCell::new(0u64));
    timed(|| {
        tokio::task::LocalSet::new().block_on(&rt, async {
            for _ in 0..CALLBACKS {
                let c = count.clone();
                tokio::task::spawn_local(async move { *c.borrow_mut() += 1 });
            }
            while *count.borrow() < CALLBACKS {
                tokio::task::yield_now().await;
            }
        });
        assert_eq!(*count.borrow(), CALLBACKS);
    })
}

/// Deadlines spread over 0..50 ms by a fixed LCG, so both runtimes get the
/// same ones.
fn deadlines() -> Vec<Duration> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..TIMERS)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            Duration::from_micros((x >> 33) % 50_000)
        })
        .collect()
}

fn corio_timers() -> Duration {
    let delays = deadlines();
    timed(|| {
        corio::run(async move {
            quiet();
            let tasks: Vec<_> = delays
                .into_iter()
                .map(|d| corio::create_task(corio::sleep(d)))
                .collect();
            for t in tasks {
                t.await.expect("timer");
            }
        })
        .expect("run");
    })
}

fn tokio_timers() -> Duration {
    let delays = deadlines();
    timed(|| {
        tokio_rt().block_on(async move {
            let tasks: Vec<_> = delays
                .into_iter()
                .map(|d| tokio::spawn(tokio::time::sleep(d)))
                .collect();
            for t in tasks {
                t.await.expect("timer");
            }
        });
    })
}

/// Two tasks hand a turn back and forth through a shared cell and each
/// other's wakers: one wake and one poll per round, nothing else.
struct Court {
    turn: u64,
    wakers: [Option<Waker>; 2],
}

async fn player(court: Rc<RefCell<Court>>, me: u64) {
    loop {
        let done = poll_fn(|cx| {
            let mut c = court.borrow_mut();
            if c.turn >= PINGS {
                return Poll::Ready(true);
            }
            if c.turn % 2 != me {
                c.wakers[me as usize] = Some(cx.waker().clone());
                return Poll::Pending;
            }
            c.turn += 1;
            if let Some(w) = c.wakers[(1 - me) as usize].take() {
                w.wake();
            }
            Poll::Ready(false)
        })
        .await;
        if done {
            if let Some(w) = court.borrow_mut().wakers[(1 - me) as usize].take() {
                w.wake();
            }
            return;
        }
    }
}

fn court() -> Rc<RefCell<Court>> {
    Rc::new(RefCell::new(Court {
        turn: 0,
        wakers: [None, None],
    }))
}

fn corio_ping_pong() -> Duration {
    timed(|| {
        corio::run(async {
            observe_mode(&corio::get_running_loop().expect("inside run"));
            let c = court();
            let a = corio::create_task(player(c.clone(), 0));
            let b = corio::create_task(player(c.clone(), 1));
            a.await.expect("a");
            b.await.expect("b");
            assert_eq!(c.borrow().turn, PINGS);
        })
        .expect("run");
    })
}

fn tokio_ping_pong() -> Duration {
    let rt = tokio_rt();
    timed(|| {
        tokio::task::LocalSet::new().block_on(&rt, async {
            let c = court();
            let a = tokio::task::spawn_local(player(c.clone(), 0));
            let b = tokio::task::spawn_local(player(c.clone(), 1));
            a.await.expect("a");
            b.await.expect("b");
            assert_eq!(c.borrow().turn, PINGS);
        });
    })
}

/// The heap's own share of a timer, without the loop: nanoseconds per
/// timer to schedule 100,000 random deadlines and pop them all, and to
/// schedule and cancel them all.
fn timer_queue_costs() -> (f64, f64) {
    use corio::timer::TimerQueue;
    let base = Instant::now();
    let delays = deadlines();
    let per_timer = |d: Duration| d.as_secs_f64() * 1e9 / TIMERS as f64;
    let mut samples = (Vec::new(), Vec::new());
    for _ in 0..5 {
        let start = Instant::now();
        let mut queue = TimerQueue::new();
        for (i, d) in delays.iter().enumerate() {
            queue.schedule(base + *d, i);
        }
        let mut out = Vec::with_capacity(delays.len());
        queue.pop_due(base + Duration::from_secs(1), &mut out);
        assert_eq!(out.len(), delays.len());
        samples.0.push(start.elapsed());

        let start = Instant::now();
        let mut queue = TimerQueue::new();
        let ids: Vec<_> = delays
            .iter()
            .enumerate()
            .map(|(i, d)| queue.schedule(base + *d, i))
            .collect();
        for id in ids {
            queue.cancel(id);
        }
        assert!(queue.is_empty());
        samples.1.push(start.elapsed());
    }
    (
        per_timer(corio_bench::median(samples.0)),
        per_timer(corio_bench::median(samples.1)),
    )
}

/// What timing one step costs: a precise and a coarse clock read, in ns.
fn clock_read_costs() -> (f64, f64) {
    const READS: u32 = 10_000_000;
    let start = Instant::now();
    for _ in 0..READS {
        std::hint::black_box(Instant::now());
    }
    let precise = start.elapsed().as_secs_f64() * 1e9 / f64::from(READS);
    let start = Instant::now();
    for _ in 0..READS {
        std::hint::black_box(corio::timer::CoarseInstant::now());
    }
    let coarse = start.elapsed().as_secs_f64() * 1e9 / f64::from(READS);
    (precise, coarse)
}

/// Live heap bytes per pending task right after every task's first step,
/// and one loop iteration later, when the ready queue has given back the
/// slots the burst of 100,000 first steps made it hold (it shrinks once
/// mostly empty; tokio's run queue is intrusive and holds nothing).
fn corio_bytes_per_pending_task() -> (f64, f64) {
    corio::run(async {
        quiet();
        let before = LIVE.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..PENDING)
            .map(|_| corio::create_task(std::future::pending::<()>()))
            .collect();
        corio::yield_now().await; // every task has taken its first step
        let after = LIVE.load(Ordering::Relaxed);
        corio::yield_now().await;
        let settled = LIVE.load(Ordering::Relaxed);
        for t in &tasks {
            t.cancel();
        }
        let per_task = |bytes: isize| (bytes - before) as f64 / PENDING as f64;
        (per_task(after), per_task(settled))
    })
    .expect("run")
}

/// Live heap bytes per task asleep in a one-hour `sleep` (its timer
/// included), once the ready queue has settled.
fn corio_bytes_per_sleeping_task() -> f64 {
    corio::run(async {
        quiet();
        let before = LIVE.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..PENDING)
            .map(|_| corio::create_task(corio::sleep(Duration::from_secs(3600))))
            .collect();
        corio::yield_now().await;
        corio::yield_now().await;
        let after = LIVE.load(Ordering::Relaxed);
        for t in &tasks {
            t.cancel();
        }
        (after - before) as f64 / PENDING as f64
    })
    .expect("run")
}

/// The same on tokio (its timer entry lives in the sleep future).
fn tokio_bytes_per_sleeping_task() -> f64 {
    tokio_rt().block_on(async {
        let before = LIVE.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..PENDING)
            .map(|_| tokio::spawn(tokio::time::sleep(Duration::from_secs(3600))))
            .collect();
        tokio::task::yield_now().await;
        tokio::task::yield_now().await;
        let after = LIVE.load(Ordering::Relaxed);
        for t in &tasks {
            t.abort();
        }
        (after - before) as f64 / PENDING as f64
    })
}

fn tokio_bytes_per_pending_task() -> f64 {
    tokio_rt().block_on(async {
        let before = LIVE.load(Ordering::Relaxed);
        let tasks: Vec<_> = (0..PENDING)
            .map(|_| tokio::spawn(std::future::pending::<()>()))
            .collect();
        tokio::task::yield_now().await;
        let after = LIVE.load(Ordering::Relaxed);
        for t in &tasks {
            t.abort();
        }
        (after - before) as f64 / PENDING as f64
    })
}

/// How late 10,000 1 ms timers fire on corio (median and p99), with the
/// loop's timer slack (`None`: the thread's own, 50 µs).
fn corio_timer_lateness(slack: Option<Duration>) -> corio_bench::Summary {
    let lp = corio::EventLoop::new().expect("loop");
    lp.set_timer_slack(slack);
    let mut late = lp
        .run_until_complete(async {
            let mut late = Vec::with_capacity(10_000);
            for _ in 0..10_000 {
                let lp = corio::get_running_loop().expect("loop");
                let due = lp.time() + Duration::from_millis(1);
                corio::sleep_until(due).await;
                late.push(lp.time().saturating_duration_since(due));
            }
            late
        })
        .expect("run");
    corio_bench::Summary::of(&mut late)
}

/// Resident memory in MiB (`VmRSS`).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

/// A million `call_later` handles scheduled, then cancelled: live heap and
/// RSS at the peak and after (MiB).
fn corio_timer_storm_memory() -> [f64; 4] {
    let mib = |bytes: isize| bytes as f64 / (1024.0 * 1024.0);
    let lp = corio::EventLoop::new().expect("loop");
    let base = LIVE.load(Ordering::Relaxed);
    let handles: Vec<_> = (0..1_000_000u64)
        .map(|i| lp.call_later(Duration::from_secs(60 + i % 1000), || {}))
        .collect();
    let peak = [mib(LIVE.load(Ordering::Relaxed) - base), rss_mib()];
    for handle in &handles {
        handle.cancel();
    }
    drop(handles);
    let after = [mib(LIVE.load(Ordering::Relaxed) - base), rss_mib()];
    lp.close().expect("close");
    [peak[0], after[0], peak[1], after[1]]
}

/// `waiters` tasks wait on one pending task, then all give up (cancelled):
/// the time of adding and dropping that many entries of its done-wakers.
fn corio_waiters(waiters: usize) -> Duration {
    timed(|| {
        corio_bench::corio_run(async move {
            let target = corio::create_task(std::future::pending::<()>());
            let tasks: Vec<_> = (0..waiters)
                .map(|_| corio::create_task(target.as_ref()))
                .collect();
            corio::yield_now().await; // every waiter has its entry
            for task in &tasks {
                task.cancel();
            }
            corio::yield_now().await; // every waiter has dropped it
            target.cancel();
        })
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("ROUNDS"))
        .unwrap_or(5);
    // An optional second argument runs only the workloads whose name
    // contains it: interleaved as usual, or with a third argument `corio`
    // or `tokio`, that side once (for counting instructions with callgrind).
    let only: Option<String> = std::env::args().nth(2);
    let side = std::env::args().nth(3);
    type Pair = (
        &'static str,
        &'static str,
        fn() -> Duration,
        fn() -> Duration,
    );
    let workloads: [Pair; 4] = [
        (
            "spawn+join 1,000,000 tasks",
            "spawn_join",
            corio_spawn_join,
            tokio_spawn_join,
        ),
        (
            "1,000,000 call_soon (tokio: spawn_local)",
            "call_soon",
            corio_call_soon,
            tokio_call_soon,
        ),
        (
            "100,000 timers, random deadlines < 50 ms",
            "timers",
            corio_timers,
            tokio_timers,
        ),
        (
            "1,000,000-round wake/poll ping-pong",
            "ping_pong",
            corio_ping_pong,
            tokio_ping_pong,
        ),
    ];
    if only.as_deref() == Some("observe") {
        let corio_side: Vec<_> = workloads.iter().map(|(n, k, c, _)| (*n, *k, *c)).collect();
        println!("corio alone, median of {rounds} rounds per mode (issue 32)\n");
        observe_overhead(rounds, &corio_side);
        return;
    }
    println!("median of {rounds} interleaved rounds; ratio = corio / tokio (< 1: corio faster)\n");
    println!("| workload | corio | tokio | ratio |");
    println!("|---|---|---|---|");
    if let (Some(only), Some(side)) = (&only, &side) {
        let tokio_side = side == "tokio";
        for (name, _, corio_fn, tokio_fn) in
            workloads.iter().filter(|w| w.0.contains(only.as_str()))
        {
            let (side, took) = if tokio_side {
                ("tokio", tokio_fn())
            } else {
                ("corio", corio_fn())
            };
            println!("{side} only: {name}: {:.1} ms", took.as_secs_f64() * 1e3);
        }
        return;
    }
    let selected = workloads
        .into_iter()
        .filter(|w| only.as_deref().is_none_or(|only| w.0.contains(only)));
    let mut ratios = Vec::new();
    for (name, key, corio_fn, tokio_fn) in selected {
        ratios.push((
            key,
            corio_bench::side_by_side(rounds, name, corio_fn, tokio_fn),
        ));
    }
    if only.as_deref() == Some("lateness") {
        print_lateness();
        return;
    }
    // `bytes` selects no workload: only the memory figures below.
    if only.is_some() && only.as_deref() != Some("bytes") {
        corio_bench::print_ratios(&ratios);
        corio_bench::also_under_lto("executor");
        return;
    }
    let ((cm, settled), tm) = (
        corio_bytes_per_pending_task(),
        tokio_bytes_per_pending_task(),
    );
    println!(
        "| bytes per pending task | {cm:.0} B ({settled:.0} B an iteration later) | {tm:.0} B | {:.2} |",
        cm / tm
    );
    let (cs, ts) = (
        corio_bytes_per_sleeping_task(),
        tokio_bytes_per_sleeping_task(),
    );
    println!(
        "| bytes per sleeping task (with its timer) | {cs:.0} B | {ts:.0} B | {:.2} |",
        cs / ts
    );
    corio_bench::print_ratios(&ratios);
    println!("bytes_per_task corio={cm:.0} tokio={tm:.0} corio_settled={settled:.0}");
    println!("bytes_per_sleeping_task corio={cs:.0} tokio={ts:.0}");
    let (schedule_pop, cancel) = timer_queue_costs();
    println!(
        "\ntimer queue alone, 100,000 random deadlines: schedule + pop_due {schedule_pop:.0} ns per timer; schedule + cancel {cancel:.0} ns per timer"
    );
    let (precise, coarse) = clock_read_costs();
    println!(
        "\nper-step timing: one Instant::now() costs {precise:.1} ns, one CoarseInstant::now() {coarse:.1} ns"
    );
    let small = corio_bench::median((0..rounds).map(|_| corio_waiters(10_000)).collect());
    let large = corio_bench::median((0..rounds).map(|_| corio_waiters(100_000)).collect());
    println!(
        "\nwaiters on one task, added and dropped: 10,000 in {:.1} ms, 100,000 in {:.1} ms (ratio {:.1}; linear is 10)",
        small.as_secs_f64() * 1e3,
        large.as_secs_f64() * 1e3,
        large.as_secs_f64() / small.as_secs_f64()
    );
    let [live_peak, live_after, rss_peak, rss_after] = corio_timer_storm_memory();
    println!(
        "\n1,000,000 call_later handles cancelled: live heap {live_peak:.1} MiB at the peak, {live_after:.1} MiB after; RSS {rss_peak:.1} MiB at the peak, {rss_after:.1} MiB after"
    );
    print_lateness();
    corio_bench::also_under_lto("executor");
}

/// How late 1 ms timers fire (`executor 1 lateness` prints only this).
fn print_lateness() {
    let thread = corio_timer_lateness(None);
    let late = corio_timer_lateness(Some(Duration::from_micros(1)));
    println!(
        "\ncorio: 10,000 sequential 1 ms timers fire late by median {} µs, p99 {} µs (max {} µs); with the thread's own 50 µs slack: median {} µs, p99 {} µs",
        corio_bench::micros(late.median),
        corio_bench::micros(late.p99),
        corio_bench::micros(late.max),
        corio_bench::micros(thread.median),
        corio_bench::micros(thread.p99),
    );
}
