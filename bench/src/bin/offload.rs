//! corio-offload vs tokio's `spawn_blocking`, both driven from a
//! single-threaded runtime, in one process run:
//! `cargo run --release -p corio-bench --bin offload [ROUNDS]`.
//!
//! Both sides get the same number of worker threads (Python's default,
//! `min(32, cpus + 4)`; tokio's own default would allow 512), and both start
//! them lazily inside the timed region. Workloads:
//!
//! - a burst of 100,000 trivial jobs, all submitted, then awaited in order;
//! - the round-trip latency of one job at a time (submit, the worker runs
//!   it, the loop is woken and the awaiting task resumes), 10,000 times.

use std::time::{Duration, Instant};

use corio_bench::{Summary, corio_run, micros, side_by_side};

const BURST: usize = 100_000;
const ROUND_TRIPS: usize = 10_000;

fn workers() -> usize {
    corio::offload::default_max_workers()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(workers())
        .build()
        .expect("tokio runtime")
}

fn corio_burst() -> Duration {
    let start = Instant::now();
    corio_run(async {
        let jobs: Vec<_> = (0..BURST).map(|i| corio::to_thread(move || i)).collect();
        let mut sum = 0;
        for job in jobs {
            sum += job.await.expect("job");
        }
        assert_eq!(sum, (0..BURST).sum::<usize>());
    });
    start.elapsed()
}

fn tokio_burst() -> Duration {
    let start = Instant::now();
    tokio_rt().block_on(async {
        let jobs: Vec<_> = (0..BURST)
            .map(|i| tokio::task::spawn_blocking(move || i))
            .collect();
        let mut sum = 0;
        for job in jobs {
            sum += job.await.expect("job");
        }
        assert_eq!(sum, (0..BURST).sum::<usize>());
    });
    start.elapsed()
}

/// One sample per round trip, appended to `into`.
fn corio_round_trips(into: &mut Vec<Duration>) {
    let samples = corio_run(async {
        let mut samples = Vec::with_capacity(ROUND_TRIPS);
        for i in 0..ROUND_TRIPS {
            let start = Instant::now();
            let got = corio::to_thread(move || i).await.expect("job");
            samples.push(start.elapsed());
            assert_eq!(got, i);
        }
        samples
    });
    into.extend(samples);
}

fn tokio_round_trips(into: &mut Vec<Duration>) {
    let samples = tokio_rt().block_on(async {
        let mut samples = Vec::with_capacity(ROUND_TRIPS);
        for i in 0..ROUND_TRIPS {
            let start = Instant::now();
            let got = tokio::task::spawn_blocking(move || i).await.expect("job");
            samples.push(start.elapsed());
            assert_eq!(got, i);
        }
        samples
    });
    into.extend(samples);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds: usize = args
        .get(1)
        .map(|r| r.parse().expect("ROUNDS is a number"))
        .unwrap_or(5);
    // `offload ROUNDS latency corio` runs one side of one workload alone
    // (for strace or callgrind).
    if let (Some(workload), Some(side)) = (args.get(2), args.get(3)) {
        let mut sink = Vec::new();
        for _ in 0..rounds {
            match (workload.as_str(), side.as_str()) {
                ("burst", "corio") => sink.push(corio_burst()),
                ("burst", "tokio") => sink.push(tokio_burst()),
                ("latency", "corio") => corio_round_trips(&mut sink),
                ("latency", "tokio") => tokio_round_trips(&mut sink),
                _ => panic!("usage: offload ROUNDS [burst|latency corio|tokio]"),
            }
        }
        println!(
            "{workload} {side}: median {} µs",
            micros(corio_bench::median(sink))
        );
        return;
    }
    println!(
        "median of {rounds} rounds, order alternating; ratio = corio / tokio; {} workers each\n",
        workers()
    );
    println!("| workload | corio | tokio | ratio |\n|---|---|---|---|");
    let burst = side_by_side(
        rounds,
        "100,000 trivial jobs (tokio: spawn_blocking)",
        corio_burst,
        tokio_burst,
    );

    let (mut corio, mut tokio) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        if round % 2 == 0 {
            corio_round_trips(&mut corio);
            tokio_round_trips(&mut tokio);
        } else {
            tokio_round_trips(&mut tokio);
            corio_round_trips(&mut corio);
        }
    }
    let (c, t) = (Summary::of(&mut corio), Summary::of(&mut tokio));
    println!(
        "\nround trip of one job, {} samples each (µs)\n",
        corio.len()
    );
    println!("| | corio | tokio | ratio |\n|---|---|---|---|");
    let mut ratios = vec![("jobs_100k", burst)];
    for (name, key, c, t) in [
        ("median", "round_trip_median", c.median, t.median),
        ("p99", "round_trip_p99", c.p99, t.p99),
    ] {
        let ratio = c.as_secs_f64() / t.as_secs_f64();
        println!("| {name} | {} | {} | {ratio:.2} |", micros(c), micros(t));
        ratios.push((key, ratio));
    }
    corio_bench::print_ratios(&ratios);
}
