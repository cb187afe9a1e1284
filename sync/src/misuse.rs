//! Where a misuse that cannot be returned as an error goes: a guard whose
//! drop finds its lock or permit already given back.
//!
//! asyncio raises such errors from `__aexit__`; a Rust `Drop` cannot fail,
//! so the drop changes nothing and reports the error instead, to the hook
//! installed with [`set_misuse_hook`]. corio's event loop installs one that
//! reports to the running loop's exception handler, as asyncio's
//! `call_exception_handler` would show it; with no hook (the crate used on
//! another executor), the report is written to standard error.

use std::sync::OnceLock;

use crate::SyncError;

/// What a report says before the error itself.
pub const MISUSE_MESSAGE: &str = "a guard was dropped after its release";

/// A misuse reporter: given [`MISUSE_MESSAGE`] and the error.
pub type MisuseHook = fn(message: &str, error: &SyncError);

static HOOK: OnceLock<MisuseHook> = OnceLock::new();

/// Installs the process's misuse reporter (see the module docs); the first
/// one installed stays. Returns false when one was installed already.
///
/// No asyncio counterpart (asyncio raises from `__aexit__`); corio's
/// event loop calls it when it is created, so a program on corio never
/// needs to.
///
/// # Examples
///
/// ```
/// use corio_sync::{BoundedSemaphore, SyncError, set_misuse_hook};
///
/// fn count(_message: &str, error: &SyncError) {
///     assert_eq!(*error, SyncError::ReleasedTooManyTimes);
/// }
/// set_misuse_hook(count);
/// let sem = BoundedSemaphore::new(1);
/// let guard = sem.try_acquire().unwrap();
/// sem.release().unwrap(); // the permit given back without the guard
/// drop(guard); // refused: reported to `count`, the count stays at 1
/// assert_eq!(sem.value(), 1);
/// ```
pub fn set_misuse_hook(hook: MisuseHook) -> bool {
    HOOK.set(hook).is_ok()
}

/// Reports `error` from a drop (see the module docs). Kept out of line:
/// it is the cold branch of every guard's drop.
#[cold]
#[inline(never)]
pub(crate) fn report_misuse(error: SyncError) {
    match HOOK.get() {
        Some(hook) => hook(MISUSE_MESSAGE, &error),
        None => eprintln!("corio-sync: {MISUSE_MESSAGE}\n  {error}"),
    }
}

/// A wait reporter: told what a task parks on (`"Lock.acquire"`, …) and
/// the address of the primitive's wait list (which tells two locks
/// apart). corio's event loop installs one for its inspector (`corio-ps`
/// shows what each task awaits); it records nothing unless the inspector
/// is on.
pub type WaitHook = fn(what: &'static str, object: usize);

static WAIT_HOOK: OnceLock<WaitHook> = OnceLock::new();

/// Installs the process's wait reporter (see [`WaitHook`]); the first one
/// installed stays. Returns false when one was installed already.
///
/// No asyncio counterpart: asyncio's `ps` reads the await chain from the
/// coroutine frames; a Rust future's state is opaque, so primitives say
/// what they wait on.
///
/// ```
/// use corio_sync::set_wait_hook;
///
/// fn ignore(_what: &'static str, _object: usize) {}
/// // corio's event loop installs its own first when one exists.
/// let _ = set_wait_hook(ignore);
/// ```
pub fn set_wait_hook(hook: WaitHook) -> bool {
    WAIT_HOOK.set(hook).is_ok()
}

/// Tells the wait hook, if one is installed, that the running task parks
/// on `what` at `object`.
#[inline]
pub(crate) fn note_wait(what: &'static str, object: usize) {
    if let Some(hook) = WAIT_HOOK.get() {
        hook(what, object);
    }
}
