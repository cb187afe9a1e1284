//! Helpers for the tests of HTTP servers run as child processes: curl,
//! a signal, and the child's open fds.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::KillOnDrop;

/// curl with `args`; its stdout (checked to have succeeded).
pub fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// curl with `args`, as text.
pub fn curl_text(args: &[&str]) -> String {
    String::from_utf8(curl(args)).expect("curl's output is text")
}

/// Sends `signal` ("-TERM", "-INT") to the child with `kill`.
pub fn send_signal(child: &KillOnDrop, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.0.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {signal}");
}

/// The child's open fds (`/proc/PID/fd`).
pub fn fds(child: &KillOnDrop) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", child.0.id()))
        .expect("proc fd")
        .count()
}

/// Waits (up to 5 s) for the child's fd count to come back to `before`.
pub fn assert_fds_settle(child: &KillOnDrop, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = fds(child);
        if now <= before {
            return;
        }
        assert!(Instant::now() < deadline, "fd leak: {before} -> {now}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits (up to `limit`) for the child to exit; its status.
pub fn wait_exit(child: &mut KillOnDrop, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.0.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
