//! Alone in its binary, so that the process's thread count is this test's.

mod support;

use std::time::Duration;

use corio_executor::{gather, run};
use corio_offload::to_thread;
use support::thread_count;

#[test]
fn run_leaves_no_worker_thread_of_the_default_executor() {
    let before = thread_count();
    let during = run(async {
        // Four jobs that overlap: the default executor starts several workers.
        let jobs = (0..4).map(|_| to_thread(|| std::thread::sleep(Duration::from_millis(50))));
        let done = gather(jobs).await.unwrap();
        assert!(done.iter().all(Result::is_ok));
        thread_count()
    })
    .unwrap();
    assert!(during >= before + 2, "workers ran: {before} -> {during}");
    // A joined thread can linger in /proc/self/task for a moment after the
    // join returns (the kernel wakes the joiner before it reaps the task):
    // allow it that moment, not more.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while thread_count() > before && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(thread_count(), before, "run() joined every worker");
}
