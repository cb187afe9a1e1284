// The walkthroughs: how corio works, from epoll up, told on its own code.
//
// Maintainer notes (kept out of the rendered page):
//
// - This module's own page is the path, `docs/README.md`; each chapter is
//   a Markdown file under `docs/`, included into a module below so that
//   its Rust code blocks run as doctests and cannot drift from the code.
//   The modules are numbered so that they list in reading order.
// - A chapter links to another with a label (`[ch05]`), defined at the end
//   of the file as the file (`[ch05]: 05-sync.md`) for the repository
//   page. Rustdoc takes the first definition of a label, so every chapter
//   module first gets `chapter_links!()`, the same labels as intra-doc
//   links to the modules.
// - The chapters' pictures (`docs/img/*.svg`) are referenced with
//   reference-style image links (`![..][fig-x]`, with `[fig-x]:
//   img/x.svg` at the end of the chapter). Rustdoc cannot follow that
//   relative path from the generated HTML, so each chapter's module first
//   defines the same label as a `data:` URI of the picture
//   (`docs/img/x.svg.b64`). Links to examples (`../examples/x.rs`) are
//   redefined the same way, to the example pages of `examples` below.
//   `tests/doc_pictures.rs` checks that every such label has its
//   definition and that the base64 is current.

#![doc = "[path]: crate::docs"]
#![doc = "[ch01]: crate::docs::ch01_selector"]
#![doc = "[ch02]: crate::docs::ch02_event_loop"]
#![doc = "[ch03]: crate::docs::ch03_futures_and_tasks"]
#![doc = "[ch04]: crate::docs::ch04_timers"]
#![doc = "[ch05]: crate::docs::ch05_sync"]
#![doc = "[ch06]: crate::docs::ch06_streams"]
#![doc = "[ch07]: crate::docs::ch07_offload"]
#![doc = "[ch08]: crate::docs::ch08_signals_and_processes"]
#![doc = "[ch09]: crate::docs::ch09_crawler"]
#![doc = "[ch10]: crate::docs::ch10_porting_from_asyncio"]
#![doc = "[ch11]: crate::docs::ch11_ecosystem"]
#![doc = "[ch12]: crate::docs::ch12_mini_redis"]
#![doc = "[ch13]: crate::docs::ch13_many_cores"]
#![doc = "[ch14]: crate::docs::ch14_observability"]
#![doc = "[ex-site]: crate::docs::examples::site"]
#![doc = concat!("[fig-path-map]: data:image/svg+xml;base64,", include_str!("../docs/img/path-map.svg.b64"))]
#![doc = include_str!("../docs/README.md")]

/// The labels every chapter may use for the other chapters, as intra-doc
/// links to their modules.
macro_rules! chapter_links {
    () => {
        "[path]: crate::docs\n\
         [ch01]: crate::docs::ch01_selector\n\
         [ch02]: crate::docs::ch02_event_loop\n\
         [ch03]: crate::docs::ch03_futures_and_tasks\n\
         [ch04]: crate::docs::ch04_timers\n\
         [ch05]: crate::docs::ch05_sync\n\
         [ch06]: crate::docs::ch06_streams\n\
         [ch07]: crate::docs::ch07_offload\n\
         [ch08]: crate::docs::ch08_signals_and_processes\n\
         [ch09]: crate::docs::ch09_crawler\n\
         [ch10]: crate::docs::ch10_porting_from_asyncio\n\
         [ch11]: crate::docs::ch11_ecosystem\n\
         [ch12]: crate::docs::ch12_mini_redis\n\
         [ch13]: crate::docs::ch13_many_cores\n\
         [ch14]: crate::docs::ch14_observability\n"
    };
}

/// The project's README, here so that its example is compiled and run.
#[doc = include_str!("../README.md")]
pub mod readme {}

/// The examples the chapters link to, one page each, so that those links
/// work here as they do on the repository page. They are programs, not
/// doctests: `cargo run --example NAME` runs one, and `tests/examples.rs`
/// and `tests/net_examples.rs` run them all and check what they print.
pub mod examples {
    #[doc = "`examples/call_soon_later_at.rs`: run it with `cargo run --example call_soon_later_at`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/call_soon_later_at.rs"), "\n```")]
    pub mod call_soon_later_at {}

    #[doc = "`examples/callbacks.rs`: run it with `cargo run --example callbacks`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/callbacks.rs"), "\n```")]
    pub mod callbacks {}

    #[doc = "`examples/cancel_on_ctrl_c.rs`: run it with `cargo run --example cancel_on_ctrl_c`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/cancel_on_ctrl_c.rs"), "\n```")]
    pub mod cancel_on_ctrl_c {}

    #[doc = "`examples/condition.rs`: run it with `cargo run --example condition`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/condition.rs"), "\n```")]
    pub mod condition {}

    #[doc = "`examples/echo_client.rs`: run it with `cargo run --example echo_client`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/echo_client.rs"), "\n```")]
    pub mod echo_client {}

    #[doc = "`examples/echo_protocol.rs`: run it with `cargo run --example echo_protocol`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/echo_protocol.rs"), "\n```")]
    pub mod echo_protocol {}

    #[doc = "`examples/echo_server.rs`: run it with `cargo run --example echo_server`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/echo_server.rs"), "\n```")]
    pub mod echo_server {}

    #[doc = "`examples/event.rs`: run it with `cargo run --example event`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/event.rs"), "\n```")]
    pub mod event {}

    #[doc = "`examples/generator.rs`: run it with `cargo run --example generator`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/generator.rs"), "\n```")]
    pub mod generator {}

    #[doc = "`examples/graceful_shutdown.rs`: run it with `cargo run --example graceful_shutdown`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/graceful_shutdown.rs"), "\n```")]
    pub mod graceful_shutdown {}

    #[doc = "`examples/http_get.rs`: run it with `cargo run --example http_get`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/http_get.rs"), "\n```")]
    pub mod http_get {}

    #[doc = "`examples/lock_cache.rs`: run it with `cargo run --example lock_cache`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/lock_cache.rs"), "\n```")]
    pub mod lock_cache {}

    #[doc = "`examples/queue.rs`: run it with `cargo run --example queue`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/queue.rs"), "\n```")]
    pub mod queue {}

    #[doc = "`examples/run_until_complete_internals.rs`: run it with `cargo run --example run_until_complete_internals`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/run_until_complete_internals.rs"), "\n```")]
    pub mod run_until_complete_internals {}

    #[doc = "`examples/selector_echo.rs`: run it with `cargo run --example selector_echo`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/selector_echo.rs"), "\n```")]
    pub mod selector_echo {}

    #[doc = "`examples/semaphore.rs`: run it with `cargo run --example semaphore`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/semaphore.rs"), "\n```")]
    pub mod semaphore {}

    #[doc = "`examples/site/mod.rs`: the small HTTP site on 127.0.0.1 that the fetching examples share (a module, not an example of its own)."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/site/mod.rs"), "\n```")]
    pub mod site {}

    #[doc = "`examples/thread_pool.rs`: run it with `cargo run --example thread_pool`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/thread_pool.rs"), "\n```")]
    pub mod thread_pool {}

    #[doc = "`examples/wait_gather.rs`: run it with `cargo run --example wait_gather`."]
    #[doc = concat!("```rust,ignore\n", include_str!("../examples/wait_gather.rs"), "\n```")]
    pub mod wait_gather {}
}

#[doc = "[ex-selector-echo]: crate::docs::examples::selector_echo"]
#[doc = "[ex-site]: crate::docs::examples::site"]
#[doc = concat!("[fig-epoll-lists]: data:image/svg+xml;base64,", include_str!("../docs/img/epoll-lists.svg.b64"))]
#[doc = concat!("[fig-level-edge]: data:image/svg+xml;base64,", include_str!("../docs/img/level-edge.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/01-selector.md")]
pub mod ch01_selector {}

#[doc = "[ex-call-soon-later-at]: crate::docs::examples::call_soon_later_at"]
#[doc = concat!("[fig-run-once]: data:image/svg+xml;base64,", include_str!("../docs/img/run-once.svg.b64"))]
#[doc = concat!("[fig-stack-ripping]: data:image/svg+xml;base64,", include_str!("../docs/img/stack-ripping.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/02-event-loop.md")]
pub mod ch02_event_loop {}

#[doc = "[ex-callbacks]: crate::docs::examples::callbacks"]
#[doc = "[ex-generator]: crate::docs::examples::generator"]
#[doc = "[ex-run-until-complete-internals]: crate::docs::examples::run_until_complete_internals"]
#[doc = "[ex-site]: crate::docs::examples::site"]
#[doc = "[ex-wait-gather]: crate::docs::examples::wait_gather"]
#[doc = concat!("[fig-task-states]: data:image/svg+xml;base64,", include_str!("../docs/img/task-states.svg.b64"))]
#[doc = concat!("[fig-poll-wake]: data:image/svg+xml;base64,", include_str!("../docs/img/poll-wake.svg.b64"))]
#[doc = concat!("[fig-await-chain]: data:image/svg+xml;base64,", include_str!("../docs/img/await-chain.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/03-futures-and-tasks.md")]
pub mod ch03_futures_and_tasks {}

#[doc = "[ex-graceful-shutdown]: crate::docs::examples::graceful_shutdown"]
#[doc = concat!("[fig-timer-heap]: data:image/svg+xml;base64,", include_str!("../docs/img/timer-heap.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/04-timers.md")]
pub mod ch04_timers {}

#[doc = "[ex-condition]: crate::docs::examples::condition"]
#[doc = "[ex-event]: crate::docs::examples::event"]
#[doc = "[ex-lock-cache]: crate::docs::examples::lock_cache"]
#[doc = "[ex-queue]: crate::docs::examples::queue"]
#[doc = "[ex-semaphore]: crate::docs::examples::semaphore"]
#[doc = concat!("[fig-waitlist]: data:image/svg+xml;base64,", include_str!("../docs/img/waitlist.svg.b64"))]
#[doc = concat!("[fig-handoff]: data:image/svg+xml;base64,", include_str!("../docs/img/handoff-timeline.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/05-sync.md")]
pub mod ch05_sync {}

#[doc = "[ex-echo-client]: crate::docs::examples::echo_client"]
#[doc = "[ex-echo-protocol]: crate::docs::examples::echo_protocol"]
#[doc = "[ex-echo-server]: crate::docs::examples::echo_server"]
#[doc = "[ex-http-get]: crate::docs::examples::http_get"]
#[doc = "[ex-site]: crate::docs::examples::site"]
#[doc = concat!("[fig-stream-stack]: data:image/svg+xml;base64,", include_str!("../docs/img/stream-stack.svg.b64"))]
#[doc = concat!("[fig-water-marks]: data:image/svg+xml;base64,", include_str!("../docs/img/water-marks.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/06-streams.md")]
pub mod ch06_streams {}

#[doc = "[ex-thread-pool]: crate::docs::examples::thread_pool"]
#[doc = concat!("[fig-offload]: data:image/svg+xml;base64,", include_str!("../docs/img/offload.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/07-offload.md")]
pub mod ch07_offload {}

#[doc = "[ex-cancel-on-ctrl-c]: crate::docs::examples::cancel_on_ctrl_c"]
#[doc = concat!("[fig-signal-pipe]: data:image/svg+xml;base64,", include_str!("../docs/img/signal-pipe.svg.b64"))]
#[doc = concat!("[fig-pidfd-reap]: data:image/svg+xml;base64,", include_str!("../docs/img/pidfd-reap.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/08-signals-and-processes.md")]
pub mod ch08_signals_and_processes {}

#[doc = concat!("[fig-crawler]: data:image/svg+xml;base64,", include_str!("../docs/img/crawler.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/09-crawler.md")]
pub mod ch09_crawler {}

#[doc = chapter_links!()]
#[doc = include_str!("../docs/10-porting-from-asyncio.md")]
pub mod ch10_porting_from_asyncio {}

#[doc = chapter_links!()]
#[doc = include_str!("../docs/11-ecosystem.md")]
pub mod ch11_ecosystem {}

#[doc = chapter_links!()]
#[doc = include_str!("../docs/12-mini-redis.md")]
pub mod ch12_mini_redis {}

#[doc = chapter_links!()]
#[doc = include_str!("../docs/13-many-cores.md")]
pub mod ch13_many_cores {}

#[doc = concat!("[fig-crawler-trace]: data:image/svg+xml;base64,", include_str!("../docs/img/crawler-trace.svg.b64"))]
#[doc = concat!("[fig-crawler-timer]: data:image/svg+xml;base64,", include_str!("../docs/img/crawler-timer.svg.b64"))]
#[doc = chapter_links!()]
#[doc = include_str!("../docs/14-observability.md")]
pub mod ch14_observability {}
