//! corio's shared test helpers, for every crate's tests (dev only, never
//! published, no corio crate among its dependencies).
//!
//! - [`open_fds`], [`live_threads`], [`rss_kib`]: what a test counts
//!   before and after to show that nothing leaked, read from `/proc`;
//! - [`reset_on_close`]: a blocking std socket that ends with a reset (a
//!   peer vanishing), for tests whose peer is not a corio socket (corio's
//!   own is `TcpStream::set_linger`);
//! - [`child`]: a test run in a child process of its own (a lower fd
//!   limit), watched from outside;
//! - [`postgres`]: a throwaway PostgreSQL cluster (`initdb`, `pg_ctl`)
//!   started and stopped by the tests that need a real server;
//! - [`exec`]: a tiny single-threaded executor written on std alone, to
//!   show that a crate meant for any executor (corio-sync) works on one
//!   that is not corio's.
#![deny(missing_docs)]
#![deny(unsafe_code)]

pub mod child;
pub mod exec;
pub mod postgres;
#[allow(unsafe_code)]
mod sys;

pub use sys::reset_on_close;

/// File descriptors open in this process (`/proc/self/fd`).
pub fn open_fds() -> usize {
    count_entries("/proc/self/fd")
}

/// File descriptors open in process `pid` (`/proc/PID/fd`).
pub fn open_fds_of(pid: u32) -> usize {
    count_entries(&format!("/proc/{pid}/fd"))
}

/// Threads alive in this process (`/proc/self/task`).
pub fn live_threads() -> usize {
    count_entries("/proc/self/task")
}

/// Resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
pub fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Polls `cond` every millisecond for up to 10 s of real time; true once
/// it holds. For what another thread or process does in its own time (a
/// worker thread ending, a child reaped), where a fixed sleep would be
/// flaky on a busy machine.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

fn count_entries(dir: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_change_with_what_is_open() {
        let before = super::open_fds();
        let file = std::fs::File::open("/proc/self/status").unwrap();
        assert_eq!(super::open_fds(), before + 1);
        drop(file);
        assert_eq!(super::open_fds(), before);
        let threads = super::live_threads();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        assert!(super::live_threads() > threads);
        drop(tx);
        t.join().unwrap().unwrap_err();
        assert!(super::rss_kib() > 0);
    }
}
