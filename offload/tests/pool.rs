//! ThreadPoolExecutor and ConcurrentFuture, used from plain threads.

mod support;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use corio_offload::{OffloadError, ThreadPoolExecutor, default_max_workers};
use support::{eventually, occupy, threads_named};

/// Counts how many jobs run at once and remembers the most.
#[derive(Default)]
struct Concurrency {
    now: AtomicUsize,
    most: AtomicUsize,
}

impl Concurrency {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn the_notes_twenty_blocking_jobs_on_three_workers() {
    let pool = ThreadPoolExecutor::new(3).unwrap();
    let gauge = Arc::new(Concurrency::default());
    let started = Instant::now();
    let g = gauge.clone();
    let results: Vec<usize> = pool
        .map(
            move |i: usize| {
                g.enter();
                thread::sleep(Duration::from_millis(100));
                g.leave();
                i * 10
            },
            0..20,
        )
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let took = started.elapsed();
    assert_eq!(results, (0..20).map(|i| i * 10).collect::<Vec<_>>());
    assert_eq!(
        gauge.most.load(Ordering::SeqCst),
        3,
        "never more than 3 at once"
    );
    // ceil(20 / 3) = 7 rounds of 100 ms; loose upper bound for a busy CI.
    assert!(took >= Duration::from_millis(690), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    pool.shutdown(true, false);
}

#[test]
fn default_max_workers_is_pythons() {
    let cpus = thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(default_max_workers(), (cpus + 4).min(32));
    let pool = ThreadPoolExecutor::builder().build().unwrap();
    assert_eq!(pool.max_workers(), default_max_workers());
}

#[test]
fn zero_workers_is_a_typed_error() {
    let err = ThreadPoolExecutor::new(0).unwrap_err();
    assert_eq!(err, OffloadError::InvalidMaxWorkers);
    assert_eq!(err.to_string(), "max_workers must be greater than 0");
}

#[test]
fn workers_start_lazily_and_are_reused() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("lazy")
        .build()
        .unwrap();
    assert_eq!(
        threads_named("lazy_"),
        0,
        "no thread before the first submit"
    );
    let mut names = HashSet::new();
    for _ in 0..40 {
        let name = pool
            .submit(|| thread::current().name().map(String::from))
            .unwrap();
        names.insert(name.result().unwrap().unwrap());
        // Give the worker time to count itself idle (Python's order: after
        // the result is published), so the next submit reuses it.
        thread::sleep(Duration::from_millis(1));
    }
    // 40 jobs one after another: the idle worker takes each; a rare race
    // may start a second one, never more than the maximum.
    assert!(names.contains("lazy_0"), "{names:?}");
    assert!(names.len() <= 2, "idle workers were not reused: {names:?}");
    assert_eq!(threads_named("lazy_"), names.len());
    pool.shutdown(true, false);
    assert_eq!(
        threads_named("lazy_"),
        0,
        "shutdown(wait) joined the worker"
    );
}

#[test]
fn workers_are_named_prefix_n_up_to_the_maximum() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(3)
        .thread_name_prefix("named")
        .build()
        .unwrap();
    // Six jobs that all wait for one another's start: needs the 3 workers.
    let barrier = Arc::new(std::sync::Barrier::new(3));
    let futures: Vec<_> = (0..6)
        .map(|_| {
            let barrier = barrier.clone();
            pool.submit(move || {
                barrier.wait();
                thread::current().name().map(String::from).unwrap()
            })
            .unwrap()
        })
        .collect();
    let names: HashSet<String> = futures.iter().map(|f| f.result().unwrap()).collect();
    let expected: HashSet<String> = (0..3).map(|n| format!("named_{n}")).collect();
    assert_eq!(names, expected);
    pool.shutdown(true, false);

    let default = ThreadPoolExecutor::new(1).unwrap();
    let name = default.submit(|| thread::current().name().map(String::from));
    let name = name.unwrap().result().unwrap().unwrap();
    assert!(
        name.starts_with("ThreadPoolExecutor-") && name.ends_with("_0"),
        "{name}"
    );
}

#[test]
fn a_hundred_thousand_tiny_jobs_each_complete_exactly_once() {
    const N: usize = 100_000;
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let runs: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
    let futures: Vec<_> = (0..N)
        .map(|i| {
            let runs = runs.clone();
            pool.submit(move || {
                runs[i].fetch_add(1, Ordering::Relaxed);
                i
            })
            .unwrap()
        })
        .collect();
    for (i, future) in futures.iter().enumerate() {
        assert_eq!(future.result(), Ok(i));
    }
    pool.shutdown(true, false);
    assert!(runs.iter().all(|n| n.load(Ordering::Relaxed) == 1));
}

#[test]
fn a_panicking_job_is_an_error_and_the_worker_survives() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix("survive")
        .build()
        .unwrap();
    let boom = pool.submit(|| -> u32 { panic!("boom in a job") }).unwrap();
    let err = boom.result().unwrap_err();
    assert_eq!(err, OffloadError::Panicked("boom in a job".into()));
    assert!(err.is_panic());
    assert_eq!(boom.exception(), Some(err.clone()), "the error is kept");
    assert_eq!(boom.result(), Err(err), "and given again");
    let after = pool
        .submit(|| thread::current().name().map(String::from))
        .unwrap();
    assert_eq!(after.result().unwrap().as_deref(), Some("survive_0"));
    assert_eq!(threads_named("survive_"), 1, "the same worker ran on");
    pool.shutdown(true, false);
}

#[test]
fn result_reads_again_and_take_result_moves_the_value_out_once() {
    let pool = ThreadPoolExecutor::new(1).unwrap();
    let future = pool.submit(|| String::from("once")).unwrap();
    let copy = future.clone();
    assert_eq!(future.result().unwrap(), "once");
    assert_eq!(
        copy.result().unwrap(),
        "once",
        "Python's result() reads again"
    );
    assert_eq!(copy.take_result().unwrap(), "once");
    assert_eq!(future.result(), Err(OffloadError::Retrieved));
    assert_eq!(copy.take_result(), Err(OffloadError::Retrieved));
    assert_eq!(copy.exception(), None);
    assert!(copy.done() && !copy.cancelled() && !copy.running());
}

/// A pool of one worker held busy until `release` is sent.
fn busy_pool(
    prefix: &str,
) -> (
    ThreadPoolExecutor,
    mpsc::Sender<()>,
    corio_offload::ConcurrentFuture<&'static str>,
) {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(1)
        .thread_name_prefix(prefix)
        .build()
        .unwrap();
    let (release, busy) = occupy(&pool);
    assert!(busy.running());
    (pool, release, busy)
}

#[test]
fn result_timeout_expires_then_the_value_still_comes() {
    let (pool, release, busy) = busy_pool("timeout");
    let started = Instant::now();
    let err = busy.result_timeout(Duration::from_millis(30)).unwrap_err();
    assert!(err.is_timeout());
    assert_eq!(err.to_string(), "timed out waiting for the result");
    assert!(started.elapsed() >= Duration::from_millis(30));
    release.send(()).unwrap();
    assert_eq!(
        busy.result_timeout(Duration::from_secs(10)),
        Ok("busy done")
    );
    pool.shutdown(true, false);
}

#[test]
fn cancel_succeeds_only_before_the_job_starts() {
    let (pool, release, busy) = busy_pool("cancel");
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let queued = pool
        .submit(move || r.fetch_add(1, Ordering::SeqCst))
        .unwrap();
    assert!(!busy.cancel(), "running: cannot cancel");
    assert!(queued.cancel());
    assert!(queued.cancel(), "cancelling twice still says cancelled");
    assert!(queued.cancelled() && queued.done());
    assert_eq!(queued.result(), Err(OffloadError::Cancelled));
    release.send(()).unwrap();
    assert_eq!(busy.result(), Ok("busy done"));
    assert!(!busy.cancel(), "finished: cannot cancel");
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0, "a cancelled job never runs");
}

#[test]
fn shutdown_wait_true_blocks_until_queued_jobs_ran_and_workers_exited() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("waitall")
        .build()
        .unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    for _ in 0..6 {
        let done = done.clone();
        pool.submit(move || {
            thread::sleep(Duration::from_millis(20));
            done.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.shutdown(true, false);
    assert_eq!(
        done.load(Ordering::SeqCst),
        6,
        "queued jobs ran before shutdown returned"
    );
    assert_eq!(threads_named("waitall_"), 0);
}

#[test]
fn shutdown_wait_false_returns_at_once_and_the_jobs_still_finish() {
    let (pool, release, busy) = busy_pool("nowait");
    let queued = pool.submit(|| "queued done").unwrap();
    let started = Instant::now();
    pool.shutdown(false, false);
    assert!(started.elapsed() < Duration::from_secs(1), "did not wait");
    assert!(!busy.done());
    release.send(()).unwrap();
    assert_eq!(busy.result(), Ok("busy done"));
    assert_eq!(queued.result(), Ok("queued done"));
    assert!(
        eventually(|| threads_named("nowait_") == 0),
        "the worker exits by itself"
    );
    // A later waiting shutdown still joins (nothing left to join here).
    pool.shutdown(true, false);
}

#[test]
fn shutdown_cancel_futures_cancels_every_job_not_started() {
    let (pool, release, busy) = busy_pool("cancelall");
    let ran = Arc::new(AtomicUsize::new(0));
    let queued: Vec<_> = (0..5)
        .map(|_| {
            let ran = ran.clone();
            pool.submit(move || ran.fetch_add(1, Ordering::SeqCst))
                .unwrap()
        })
        .collect();
    pool.shutdown(false, true);
    assert!(queued.iter().all(|f| f.cancelled()));
    release.send(()).unwrap();
    assert_eq!(busy.result(), Ok("busy done"), "the running job finishes");
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn submit_after_shutdown_is_a_typed_error() {
    let pool = ThreadPoolExecutor::new(2).unwrap();
    pool.shutdown(true, false);
    let err = pool.submit(|| 1).unwrap_err();
    assert_eq!(err, OffloadError::Shutdown);
    assert_eq!(
        err.to_string(),
        "cannot schedule new futures after shutdown"
    );
    assert!(matches!(
        pool.map(|x: u8| x, [1, 2]),
        Err(OffloadError::Shutdown)
    ));
    // And from a clone: the handles share one pool.
    let clone = pool.clone();
    assert_eq!(clone.submit(|| 2).unwrap_err(), OffloadError::Shutdown);
}

#[test]
fn shutdown_from_a_worker_joins_the_others_not_itself() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(2)
        .thread_name_prefix("selfjoin")
        .build()
        .unwrap();
    let inner = pool.clone();
    let outcome = pool
        .submit(move || {
            inner.shutdown(true, false);
            "returned"
        })
        .unwrap();
    assert_eq!(
        outcome.result_timeout(Duration::from_secs(10)),
        Ok("returned")
    );
    assert!(eventually(|| threads_named("selfjoin_") == 0));
}

#[test]
fn dropping_the_last_handle_lets_queued_jobs_finish() {
    let (pool, release, busy) = busy_pool("dropped");
    let queued = pool.submit(|| "still runs").unwrap();
    drop(pool);
    release.send(()).unwrap();
    assert_eq!(busy.result(), Ok("busy done"));
    assert_eq!(queued.result(), Ok("still runs"));
    assert!(
        eventually(|| threads_named("dropped_") == 0),
        "workers exit"
    );
}

#[test]
fn done_callbacks_run_in_the_completing_thread_or_at_once() {
    let (pool, release, busy) = busy_pool("callback");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    busy.add_done_callback(move |f| {
        s.lock().unwrap().push(format!(
            "{} done={}",
            thread::current().name().unwrap_or("?"),
            f.done()
        ));
    });
    let s = seen.clone();
    busy.add_done_callback(|_| panic!("a callback panics; the next still runs"));
    busy.add_done_callback(move |_| s.lock().unwrap().push("second".into()));
    release.send(()).unwrap();
    assert_eq!(busy.result(), Ok("busy done"));
    assert!(eventually(|| seen.lock().unwrap().len() == 2));
    assert_eq!(*seen.lock().unwrap(), ["callback_0 done=true", "second"]);
    // Already done: runs at once, here.
    let s = seen.clone();
    busy.add_done_callback(move |_| {
        s.lock()
            .unwrap()
            .push(thread::current().name().unwrap_or("?").into())
    });
    assert_eq!(
        seen.lock().unwrap().last().map(String::as_str),
        thread::current().name()
    );
    pool.shutdown(true, false);
}

#[test]
fn map_gives_results_in_order_with_each_error_in_place() {
    let pool = ThreadPoolExecutor::new(4).unwrap();
    let results: Vec<_> = pool
        .map(
            |i: u32| {
                thread::sleep(Duration::from_millis(u64::from(10 - i)));
                assert!(i != 3, "three fails");
                i
            },
            0..6,
        )
        .unwrap()
        .collect();
    assert_eq!(results[..3], [Ok(0), Ok(1), Ok(2)]);
    assert_eq!(
        results[3],
        Err(OffloadError::Panicked("three fails".into()))
    );
    assert_eq!(results[4..], [Ok(4), Ok(5)]);
}

#[test]
fn dropping_map_results_cancels_the_jobs_not_started() {
    let (pool, release, _busy) = busy_pool("mapdrop");
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    let results = pool
        .map(move |_: u8| r.fetch_add(1, Ordering::SeqCst), 0..10)
        .unwrap();
    assert_eq!(results.len(), 10);
    drop(results);
    release.send(()).unwrap();
    pool.shutdown(true, false);
    assert_eq!(ran.load(Ordering::SeqCst), 0);
}

#[test]
fn concurrent_future_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<corio_offload::ConcurrentFuture<Vec<u8>>>();
    assert_send_sync::<ThreadPoolExecutor>();
    assert_send_sync::<OffloadError>();
}

/// A job submitted the moment the previous one completes (from its done
/// callback, which runs on the worker as the future completes: the moment
/// a woken `submit(..).result()` caller would look) finds that worker idle
/// and starts no other, as in CPython. Before, the worker counted itself
/// idle only after completing, and a second worker started.
#[test]
fn a_job_submitted_as_the_last_completes_reuses_its_worker() {
    let pool = ThreadPoolExecutor::builder()
        .max_workers(4)
        .thread_name_prefix("reuse")
        .build()
        .unwrap();
    let first = pool
        .submit(|| std::thread::current().name().map(String::from))
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let resubmit = pool.clone();
    first.add_done_callback(move |_| {
        let second = resubmit
            .submit(|| std::thread::current().name().map(String::from))
            .unwrap();
        tx.send(second).unwrap();
    });
    let second = rx.recv().unwrap();
    for job in [first, second] {
        assert!(job.result().unwrap().unwrap().starts_with("reuse_"));
    }
    assert_eq!(threads_named("reuse_"), 1, "a second worker was started");
    pool.shutdown(true, false);
}
