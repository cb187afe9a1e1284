//! Helpers shared by the test binaries of corio-net.
#![allow(dead_code)] // each binary uses its own part

use std::time::Duration;

/// What a test case returns.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Waits (on the loop) until `cond` holds; fails the test after 5 s.
pub async fn until(cond: impl Fn() -> bool) {
    for _ in 0..5_000 {
        if cond() {
            return;
        }
        corio_executor::sleep(Duration::from_millis(1)).await;
    }
    panic!("condition not reached in 5 s");
}

#[allow(unused_imports)] // not every test binary counts fds
pub use testkit::open_fds;

/// Makes each case (a plain `fn() -> Result`) a test, and lists them all
/// as `CASES` for `fd_leaks_per_case`, which runs them one by one in one
/// process and checks that none leaves an fd behind.
#[allow(unused_macros)]
macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        #[cfg(test)]
        mod each {
            $(
                #[test]
                fn $case() -> super::support::Result {
                    super::$case()
                }
            )*
        }

        /// Every case, by name.
        #[allow(dead_code)]
        pub const CASES: &[(&str, fn() -> support::Result)] =
            &[$((stringify!($case), $case)),*];
    };
}

#[allow(unused_imports)]
pub(crate) use cases;
