//! The walkthroughs: how corio works, from epoll up, told on its own code.
//! Start with [`ch00_path`]: the order of the chapters, and why each follows
//! from the flaw of the one before, ending at the crawler.
//!
//! Each chapter is a Markdown file under `docs/`, included here so that its
//! Rust code blocks run as doctests and cannot drift from the code. The
//! modules are numbered so that they list in reading order.

// The chapter links of the path page point at the chapters' modules here
// (the page itself defines them as the files, for reading on the
// repository page; the first definition of a label wins).
#[doc = "[01-selector.md]: crate::docs::ch01_selector"]
#[doc = "[02-event-loop.md]: crate::docs::ch02_event_loop"]
#[doc = "[03-futures-and-tasks.md]: crate::docs::ch03_futures_and_tasks"]
#[doc = "[04-timers.md]: crate::docs::ch04_timers"]
#[doc = "[05-sync.md]: crate::docs::ch05_sync"]
#[doc = "[06-streams.md]: crate::docs::ch06_streams"]
#[doc = "[07-offload.md]: crate::docs::ch07_offload"]
#[doc = "[08-signals-and-processes.md]: crate::docs::ch08_signals_and_processes"]
#[doc = "[09-porting-from-asyncio.md]: crate::docs::ch09_porting_from_asyncio"]
#[doc = "[10-ecosystem.md]: crate::docs::ch10_ecosystem"]
#[doc = include_str!("../docs/README.md")]
pub mod ch00_path {}

/// The project's README, here so that its example is compiled and run.
#[doc = include_str!("../README.md")]
pub mod readme {}

#[doc = include_str!("../docs/01-selector.md")]
pub mod ch01_selector {}

#[doc = include_str!("../docs/02-event-loop.md")]
pub mod ch02_event_loop {}

#[doc = include_str!("../docs/03-futures-and-tasks.md")]
pub mod ch03_futures_and_tasks {}

#[doc = include_str!("../docs/04-timers.md")]
pub mod ch04_timers {}

#[doc = include_str!("../docs/05-sync.md")]
pub mod ch05_sync {}

#[doc = include_str!("../docs/06-streams.md")]
pub mod ch06_streams {}

#[doc = include_str!("../docs/07-offload.md")]
pub mod ch07_offload {}

#[doc = include_str!("../docs/08-signals-and-processes.md")]
pub mod ch08_signals_and_processes {}

#[doc = include_str!("../docs/09-porting-from-asyncio.md")]
pub mod ch09_porting_from_asyncio {}

#[doc = include_str!("../docs/10-ecosystem.md")]
pub mod ch10_ecosystem {}
