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
fn ctrl_c_cancels_the_sleeping_workers_and_dies_by_sigint() {
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
    // As CPython after a KeyboardInterrupt: killed by SIGINT, not an exit
    // status (Python's subprocess sees -2; a shell loop around it stops).
    assert_eq!(status.signal(), Some(2), "{status:?}");
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

/// `add_signal_handler(SIGINT, ..)` inside `run()` replaces `run()`'s own
/// Ctrl-C handling: the example finishes its in-flight jobs, then exits
/// 130 with nothing on stderr (`Error::SystemExit(130)` out of
/// `corio::main`: Python's `sys.exit(130)`).
#[test]
fn a_sigint_handler_replaces_runs_own_and_the_program_finishes_its_work() {
    use std::io::{BufReader, Read};
    use std::process::Stdio;
    let mut child = Command::new(support::example_path("graceful_shutdown"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn graceful_shutdown");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    wait_for_line(&mut out, "pid ");
    wait_for_line(&mut out, "worker ");
    send("-INT", child.id());
    let rest: Vec<String> = (&mut out).lines().map(|l| l.unwrap()).collect();
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let shutting = rest.iter().position(|l| l.starts_with("shutting down"));
    assert!(shutting.is_some(), "{rest:?}");
    assert_eq!(
        rest.last().map(String::as_str),
        Some("all work finished"),
        "{rest:?}"
    );
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(stderr, "", "no noise on Ctrl-C");
}

/// Started with SIGINT ignored (a script's `cmd &`), `run` leaves Ctrl-C
/// alone; in debug mode it says so once on stderr, and only then.
#[test]
fn an_ignored_sigint_is_reported_once_in_debug_mode_only() {
    let run_example = |debug: bool| {
        let example = support::example_path("async_iter");
        let mut command = Command::new("sh");
        command.args(["-c", "trap '' INT; exec \"$0\"", example.to_str().unwrap()]);
        if debug {
            command.env("CORIO_DEBUG", "1");
        } else {
            command.env_remove("CORIO_DEBUG");
        }
        let output = command.output().expect("run async_iter");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stderr).unwrap()
    };
    let said = run_example(true);
    assert_eq!(said.matches("SIGINT is ignored").count(), 1, "{said:?}");
    assert!(
        !run_example(false).contains("SIGINT"),
        "silent outside debug mode"
    );
}
