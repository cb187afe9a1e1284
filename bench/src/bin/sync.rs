//! corio-sync vs tokio::sync, both on a single-threaded runtime, in one
//! process run: `cargo run --release -p corio-bench --bin sync [ROUNDS]`.
//!
//! Each workload runs ROUNDS times per side, the order alternating per
//! round; the table shows medians and the ratio corio/tokio (below 1.0:
//! corio is faster). The tokio side runs on a current-thread runtime with a
//! `LocalSet`, its closest peer to corio's loop.

use std::rc::Rc;

use corio_bench::corio_run;
use std::time::{Duration, Instant};

const LOCKS: u64 = 1_000_000;
const ITEMS: u64 = 1_000_000;
const CONTENDERS: u64 = 1_000;
const ROUNDS_PER_CONTENDER: u64 = 100;

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn timed(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

fn tokio_run<F: std::future::Future + 'static>(main: F) -> F::Output {
    let rt = tokio_rt();
    tokio::task::LocalSet::new().block_on(&rt, main)
}

// ----------------------------------------------------------- workloads ---

fn corio_lock() -> Duration {
    timed(|| {
        corio_run(async {
            let lock = corio::Lock::new();
            for _ in 0..LOCKS {
                drop(std::hint::black_box(lock.acquire().await));
            }
        })
    })
}

fn tokio_lock() -> Duration {
    timed(|| {
        tokio_run(async {
            let lock = tokio::sync::Mutex::new(());
            for _ in 0..LOCKS {
                drop(std::hint::black_box(lock.lock().await));
            }
        })
    })
}

fn corio_queue_ping_pong() -> Duration {
    timed(|| {
        corio_run(async {
            let queue = Rc::new(corio::Queue::new(1));
            let producer = {
                let queue = queue.clone();
                corio::create_task(async move {
                    for i in 0..ITEMS {
                        queue.put(i).await.expect("put");
                    }
                })
            };
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += queue.get().await.expect("get");
            }
            producer.await.expect("producer");
            assert_eq!(sum, (0..ITEMS).sum::<u64>());
        })
    })
}

fn tokio_channel_ping_pong() -> Duration {
    timed(|| {
        tokio_run(async {
            let (tx, mut rx) = tokio::sync::mpsc::channel(1);
            let producer = tokio::task::spawn_local(async move {
                for i in 0..ITEMS {
                    tx.send(i).await.expect("send");
                }
            });
            let mut sum = 0;
            for _ in 0..ITEMS {
                sum += rx.recv().await.expect("recv");
            }
            producer.await.expect("producer");
            assert_eq!(sum, (0..ITEMS).sum::<u64>());
        })
    })
}

fn corio_semaphore() -> Duration {
    timed(|| {
        corio_run(async {
            let sem = Rc::new(corio::Semaphore::new(10));
            let tasks: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let sem = sem.clone();
                    corio::create_task(async move {
                        for _ in 0..ROUNDS_PER_CONTENDER {
                            let _permit = sem.acquire().await;
                            corio::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("contender");
            }
        })
    })
}

fn tokio_semaphore() -> Duration {
    timed(|| {
        tokio_run(async {
            let sem = Rc::new(tokio::sync::Semaphore::new(10));
            let tasks: Vec<_> = (0..CONTENDERS)
                .map(|_| {
                    let sem = sem.clone();
                    tokio::task::spawn_local(async move {
                        for _ in 0..ROUNDS_PER_CONTENDER {
                            let _permit = sem.acquire().await.expect("open");
                            tokio::task::yield_now().await;
                        }
                    })
                })
                .collect();
            for t in tasks {
                t.await.expect("contender");
            }
        })
    })
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(5);
    type Pair = (
        &'static str,
        &'static str,
        fn() -> Duration,
        fn() -> Duration,
    );
    let workloads: [Pair; 3] = [
        (
            "uncontended Lock acquire/release ×1,000,000 (tokio: Mutex)",
            "lock",
            corio_lock,
            tokio_lock,
        ),
        (
            "1,000,000 items through Queue(1) (tokio: mpsc::channel(1))",
            "queue",
            corio_queue_ping_pong,
            tokio_channel_ping_pong,
        ),
        (
            "1,000 tasks × 100 acquires on Semaphore(10)",
            "semaphore",
            corio_semaphore,
            tokio_semaphore,
        ),
    ];
    println!("median of {rounds} rounds, order alternating; ratio = corio / tokio\n");
    println!("| workload | corio | tokio | ratio |\n|---|---|---|---|");
    let ratios: Vec<_> = workloads
        .into_iter()
        .map(|(name, key, corio_fn, tokio_fn)| {
            (
                key,
                corio_bench::side_by_side(rounds, name, corio_fn, tokio_fn),
            )
        })
        .collect();
    corio_bench::print_ratios(&ratios);
    corio_bench::also_under_lto("sync");
}
