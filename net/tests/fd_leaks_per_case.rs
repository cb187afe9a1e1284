//! Runs every stream and datagram case one by one in this process (no test
//! harness, so nothing else runs meanwhile) and checks that each leaves the
//! process's fd count as it found it: no fault path leaks a socket, an
//! epoll fd or an eventfd.

// Each case file is also a test binary of its own, with its own `support`.
#![allow(clippy::duplicate_mod)]

#[path = "datagrams.rs"]
mod datagrams;
#[path = "streams.rs"]
mod streams;

fn main() {
    let cases = streams::CASES.iter().chain(datagrams::CASES);
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, case) in cases {
        count += 1;
        let before = streams::support::open_fds();
        let outcome = std::panic::catch_unwind(case);
        let after = streams::support::open_fds();
        match outcome {
            Ok(Ok(())) if after == before => {}
            Ok(Ok(())) => failures.push(format!("{name}: {before} fds before, {after} after")),
            Ok(Err(e)) => failures.push(format!("{name}: failed: {e}")),
            Err(_) => failures.push(format!("{name}: panicked")),
        }
    }
    if !failures.is_empty() {
        eprintln!("fd-leak check failed:\n  {}", failures.join("\n  "));
        std::process::exit(1);
    }
    println!("fd-leak check: {count} cases, no fd left behind");
}
