//! Where a misuse that cannot be returned as an error goes: a guard whose
//! drop finds its lock or permit already given back.
//!
//! asyncio raises such errors from `__aexit__`; a Rust `Drop` cannot fail,
//! so the drop changes nothing and reports the error instead. With the
//! `executor` feature (on by default) the report goes to the running corio
//! loop's exception handler, as asyncio's `call_exception_handler` would
//! show it; without a running loop, or without the feature (the crate
//! used on another executor), it is written to standard error.

use crate::SyncError;

/// The message a report carries, before the error itself.
const MESSAGE: &str = "a guard was dropped after its release";

/// Reports `error` from a drop (see the module docs). Kept out of line:
/// it is the cold branch of every guard's drop.
#[cold]
#[inline(never)]
pub(crate) fn report_misuse(error: SyncError) {
    #[cfg(feature = "executor")]
    if let Ok(lp) = corio_executor::get_running_loop() {
        lp.call_exception_handler(corio_executor::ExceptionContext {
            message: MESSAGE.to_owned(),
            exception: Some(error.to_string()),
        });
        return;
    }
    eprintln!("corio-sync: {MESSAGE}\n  {error}");
}
