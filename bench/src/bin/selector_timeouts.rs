//! How late does `select(Some(1.5 ms))` return, on each selector path?
//!
//! Run: `cargo run --release -p corio-bench --bin selector_timeouts [N]`
//!
//! Nothing is ready, so every select waits out its timeout; lateness is the
//! time past the deadline. A negative value would mean a select returned
//! early, which corio never allows, so the `min` column must be ≥ 0.

use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use corio::selectors::{
    EVENT_READ, EpollSelector, EpollTimeouts, PollSelector, SelectSelector, Selector,
};
use corio_bench::{Summary, micros};

fn lateness<S: Selector<()>>(mut sel: S, timeout: Duration, n: usize) -> Summary {
    let (_a, b) = UnixStream::pair().expect("socketpair");
    sel.register(b.as_raw_fd(), EVENT_READ, ())
        .expect("register");
    let mut late = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let ready = sel.select(Some(timeout)).expect("select");
        let waited = start.elapsed();
        assert!(ready.is_empty());
        assert!(
            waited >= timeout,
            "returned early: {waited:?} < {timeout:?}"
        );
        late.push(waited - timeout);
    }
    Summary::of(&mut late)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse().expect("N must be a number"))
        .unwrap_or(1000);
    let timeout = Duration::from_micros(1500);

    let epoll_ns = EpollSelector::<()>::new().expect("epoll");
    let ns_path = epoll_ns.backend().map(|b| b.timeouts());
    let mut epoll_ms = EpollSelector::<()>::new().expect("epoll");
    epoll_ms
        .backend_mut()
        .expect("open")
        .set_timeouts(EpollTimeouts::Milliseconds)
        .expect("epoll_wait path");

    println!("select(Some({timeout:?})) with nothing ready, {n} times each; lateness in µs");
    println!("| path | min | median | p99 | max |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, s: Summary| {
        println!(
            "| {name} | {} | {} | {} | {} |",
            micros(s.min),
            micros(s.median),
            micros(s.p99),
            micros(s.max)
        );
    };
    if ns_path == Some(EpollTimeouts::Nanoseconds) {
        row("epoll_pwait2 (ns timeout)", lateness(epoll_ns, timeout, n));
    } else {
        println!("| epoll_pwait2 | not available on this kernel | | | |");
    }
    row(
        "epoll_wait (ms, rounded up)",
        lateness(epoll_ms, timeout, n),
    );
    row(
        "ppoll (PollSelector)",
        lateness(PollSelector::<()>::new().expect("poll"), timeout, n),
    );
    row(
        "pselect (SelectSelector)",
        lateness(SelectSelector::<()>::new().expect("select"), timeout, n),
    );
}
