//! corio-reactor: Python's `selectors`, in Rust.
//!
//! The bottom layer of corio. A selector watches file descriptors and says
//! which are ready; the event loop stands on it ("register the fd, return a
//! future, let the loop watch it"). Everything here behaves like Python's
//! `selectors` module: the same calls ([`Selector::register`],
//! [`unregister`](Selector::unregister), [`modify`](Selector::modify),
//! [`select`](Selector::select), [`get_key`](Selector::get_key),
//! [`get_map`](Selector::get_map), [`close`](Selector::close)), the same
//! level-triggered readiness, the same error cases as typed
//! [`SelectorError`]s.
//!
//! | Python | corio |
//! |---|---|
//! | `selectors.DefaultSelector` | [`DefaultSelector`] (= [`EpollSelector`]) |
//! | `EpollSelector`, `PollSelector`, `SelectSelector` | [`EpollSelector`], [`PollSelector`], [`SelectSelector`] |
//! | `EVENT_READ`, `EVENT_WRITE` | [`EVENT_READ`], [`EVENT_WRITE`] ([`Events`]) |
//! | `SelectorKey` | [`SelectorKey`] |
//! | `BaseSelector` | the [`Selector`] trait |
//! | asyncio's self-pipe | [`Waker`] (an eventfd) |
//!
//! # Examples
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::fd::AsRawFd;
//! use std::os::unix::net::UnixStream;
//! use corio_reactor::{DefaultSelector, Selector, EVENT_READ};
//!
//! let (mut left, mut right) = UnixStream::pair()?;
//! let mut sel = DefaultSelector::new()?;
//! sel.register(right.as_raw_fd(), EVENT_READ, "right end")?;
//! left.write_all(b"hello")?;
//!
//! for (key, events) in sel.select(None)? {
//!     assert_eq!(key.data, "right end");
//!     assert!(events.is_readable());
//!     let mut buf = [0; 5];
//!     right.read_exact(&mut buf)?;
//!     assert_eq!(&buf, b"hello");
//! }
//! sel.unregister(right.as_raw_fd())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - [`selector`] (the trait and the shared bookkeeping, [`BaseSelector`]);
//! - one file per backend, each opening with the kernel facts it relies on:
//!   `epoll.rs`, `poll.rs`, `select.rs`;
//! - `sys.rs`, the only file with `unsafe`: one checked wrapper per syscall.
#![deny(missing_docs)]
// No `unsafe` outside the syscall layer (`sys`), where every block has
// its `// SAFETY:` comment (DESIGN rule 6).
#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

mod epoll;
mod error;
mod events;
mod poll;
mod select;
pub mod selector;
pub mod signal;
#[allow(unsafe_code)]
mod sys;
mod waker;

pub use epoll::{Epoll, EpollSelector, EpollTimeouts};
pub use error::SelectorError;
pub use events::{EVENT_READ, EVENT_WRITE, Events};
pub use poll::{Poll, PollSelector};
pub use select::{Select, SelectSelector};
pub use selector::{Backend, BaseSelector, Selector, SelectorKey};
pub use waker::Waker;

/// The best selector of the platform: [`EpollSelector`] on Linux.
/// Python's `selectors.DefaultSelector`.
pub type DefaultSelector<T = ()> = EpollSelector<T>;
