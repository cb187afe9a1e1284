//! The walkthroughs: how corio works, from epoll up, told on its own code.
//!
//! Each chapter is a Markdown file under `docs/`, included here so that its
//! Rust code blocks run as doctests and cannot drift from the code.

#[doc = include_str!("../docs/01-selector.md")]
pub mod selector {}
