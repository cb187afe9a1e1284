//! The walkthroughs: how corio works, from epoll up, told on its own code.
//! Start with [`path`]: the order of the chapters, and why each follows
//! from the flaw of the one before, ending at the crawler.
//!
//! Each chapter is a Markdown file under `docs/`, included here so that its
//! Rust code blocks run as doctests and cannot drift from the code.

#[doc = include_str!("../docs/README.md")]
pub mod path {}

/// The project's README, here so that its example is compiled and run.
#[doc = include_str!("../README.md")]
pub mod readme {}

#[doc = include_str!("../docs/01-selector.md")]
pub mod selector {}

#[doc = include_str!("../docs/02-event-loop.md")]
pub mod event_loop {}

#[doc = include_str!("../docs/03-futures-and-tasks.md")]
pub mod futures_and_tasks {}

#[doc = include_str!("../docs/04-timers.md")]
pub mod timers {}

#[doc = include_str!("../docs/05-sync.md")]
pub mod sync {}

#[doc = include_str!("../docs/06-streams.md")]
pub mod streams {}

#[doc = include_str!("../docs/07-offload.md")]
pub mod offload {}

#[doc = include_str!("../docs/08-signals-and-processes.md")]
pub mod signals_and_processes {}

#[doc = include_str!("../docs/09-porting-from-asyncio.md")]
pub mod porting_from_asyncio {}
