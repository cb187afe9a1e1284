//! A tour of corio in a few seconds: a short version of every example of
//! the asyncio notes, one after another, each under its heading.
//!
//! ```text
//! cargo run --example tour            # all of them
//! cargo run --example tour -- queue   # those whose name contains "queue"
//! ```
//!
//! Each stop is the example of the same name (`examples/NAME.rs`), its
//! file included here as a module, so what the tour runs is exactly what
//! `cargo run --example NAME` runs (times there are already scaled down
//! from the notes' seconds to tenths).

// The fetching examples each declare the loopback site module (each is a
// program of its own), so the tour holds one copy per example.
#![allow(clippy::duplicate_mod)]

use std::time::Instant;

#[path = "async_context.rs"]
mod async_context;
#[path = "async_iter.rs"]
mod async_iter;
#[path = "call_soon_later_at.rs"]
mod call_soon_later_at;
#[path = "callbacks.rs"]
mod callbacks;
#[path = "cancel_on_ctrl_c.rs"]
mod cancel_on_ctrl_c;
#[path = "condition.rs"]
mod condition;
#[path = "crawler.rs"]
mod crawler;
#[path = "event.rs"]
mod event;
#[path = "generator.rs"]
mod generator;
#[path = "hello.rs"]
mod hello;
#[path = "http_get.rs"]
mod http_get;
#[path = "lock_cache.rs"]
mod lock_cache;
#[path = "nested.rs"]
mod nested;
#[path = "queue.rs"]
mod queue;
#[path = "run_until_complete_internals.rs"]
mod run_until_complete_internals;
#[path = "semaphore.rs"]
mod semaphore;
#[path = "task_result.rs"]
mod task_result;
#[path = "thread_pool.rs"]
mod thread_pool;
#[path = "wait_gather.rs"]
mod wait_gather;

/// One stop: the example's name, what it shows, and its demo.
type Stop = (&'static str, &'static str, fn() -> corio::Result<()>);

const STOPS: &[Stop] = &[
    (
        "hello",
        "ten get_html tasks sleep together: one sleep's time",
        hello::demo,
    ),
    (
        "task_result",
        "create_task, run_until_complete, result()",
        task_result::demo,
    ),
    (
        "callbacks",
        "add_done_callback with an extra argument (partial)",
        callbacks::demo,
    ),
    (
        "wait_gather",
        "wait; gather in groups; group2.cancel()",
        wait_gather::demo,
    ),
    (
        "run_until_complete_internals",
        "run_until_complete = a done callback that stops run_forever",
        run_until_complete_internals::demo,
    ),
    ("nested", "print_sum awaits compute", nested::demo),
    (
        "call_soon_later_at",
        "call_soon, call_later, call_at: the order they run in",
        call_soon_later_at::demo,
    ),
    (
        "cancel_on_ctrl_c",
        "Ctrl-C cancels the main task (a real SIGINT, sent by the tour)",
        cancel_on_ctrl_c::demo,
    ),
    (
        "generator",
        "producer/consumer with a generator's send",
        generator::demo,
    ),
    (
        "thread_pool",
        "blocking GETs on a ThreadPoolExecutor via run_in_executor",
        thread_pool::demo,
    ),
    (
        "http_get",
        "open_connection, line iteration, as_completed over 20 GETs",
        http_get::demo,
    ),
    (
        "lock_cache",
        "a Lock keeps two readers from fetching one page twice",
        lock_cache::demo,
    ),
    (
        "semaphore",
        "Semaphore(3): at most three at once",
        semaphore::demo,
    ),
    (
        "condition",
        "Condition: wait / notify, and wait_for(predicate)",
        condition::demo,
    ),
    (
        "event",
        "Event: waiters released together; a traffic light",
        event::demo,
    ),
    (
        "queue",
        "Queue(maxsize=2): producer and consumer",
        queue::demo,
    ),
    (
        "async_iter",
        "an asynchronous iterator, until it ends",
        async_iter::demo,
    ),
    (
        "async_context",
        "an asynchronous context manager as a guard",
        async_context::demo,
    ),
    (
        "crawler",
        "the crawler: Queue, seen-set, Semaphore(3), on a loopback site",
        crawler::demo,
    ),
];

fn main() -> corio::Result<()> {
    let filter = std::env::args().nth(1);
    let start = Instant::now();
    let mut ran = 0;
    for (name, what, demo) in STOPS {
        if filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        println!("\n== {name}: {what}");
        let stop = Instant::now();
        demo()?;
        println!("-- {name} ({:.2} s)", stop.elapsed().as_secs_f64());
        ran += 1;
    }
    println!(
        "\ntour: {ran} examples in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
