//! Ctrl-C, for real: the notes' cancel-on-Ctrl-C example runs as a child
//! process and gets SIGINT from `kill -INT`, once or twice.

mod support;

use std::io::BufRead;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{spawn_example, wait_for_line};

fn send(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill {signal} {pid}");
}

#[test]
fn ctrl_c_cancels_the_sleeping_workers_and_exits_130() {
    let (mut child, mut out) = spawn_example("cancel_on_ctrl_c", &[]);
    wait_for_line(&mut out, "pid ");
    // Worker 1 finishes at 1 s; Ctrl-C comes while 2 and 3 still sleep.
    wait_for_line(&mut out, "worker 1: done");
    send("-INT", child.0.id());
    let mut rest: Vec<String> = (&mut out).lines().map(|l| l.unwrap()).collect();
    let status = child.0.wait().unwrap();
    rest.sort(); // the order of the two cancellations is not the point
    assert_eq!(
        rest,
        ["interrupted", "worker 2: cancelled", "worker 3: cancelled"],
        "{status:?}"
    );
    assert_eq!(status.code(), Some(130));
}

#[test]
fn a_second_ctrl_c_during_a_slow_shutdown_ends_the_process_at_once() {
    let (mut child, mut out) = spawn_example("cancel_on_ctrl_c", &["--slow-exit"]);
    wait_for_line(&mut out, "pid ");
    wait_for_line(&mut out, "worker 1: done");
    send("-INT", child.0.id());
    // The workers are cancelled; the shutdown then waits for the 30 s
    // blocking job.
    wait_for_line(&mut out, "worker 2: cancelled");
    wait_for_line(&mut out, "worker 3: cancelled");
    std::thread::sleep(Duration::from_millis(200));
    assert!(child.0.try_wait().unwrap().is_none(), "still shutting down");
    let start = Instant::now();
    send("-INT", child.0.id());
    let status = child.0.wait().unwrap();
    assert_eq!(
        status.signal(),
        Some(2),
        "ended by the second SIGINT: {status:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "at once, not after the 30 s job"
    );
}
