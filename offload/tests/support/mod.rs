//! Helpers shared by the offload test binaries.
#![allow(dead_code)] // each binary uses its own subset

use std::sync::mpsc;

use corio_offload::{ConcurrentFuture, ThreadPoolExecutor};

/// How many threads of this process have a name starting with `prefix`
/// (read from /proc, so it sees exited threads disappear). Linux keeps 15
/// bytes of a thread's name: keep prefixes short.
pub fn threads_named(prefix: &str) -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("read /proc/self/task")
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
        .filter(|comm| comm.trim_end().starts_with(prefix))
        .count()
}

/// The process's thread count.
#[allow(unused_imports)] // not every test binary counts threads
pub use testkit::live_threads as thread_count;

#[allow(unused_imports)] // not every test binary polls
pub use testkit::eventually;

/// Submits a job that holds one worker of `pool` until the returned sender
/// is used, and waits until it runs. The job's value is "busy done".
pub fn occupy(pool: &ThreadPoolExecutor) -> (mpsc::Sender<()>, ConcurrentFuture<&'static str>) {
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let busy = pool
        .submit(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            "busy done"
        })
        .unwrap();
    started.recv().unwrap();
    (release, busy)
}
