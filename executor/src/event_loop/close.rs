//! How a loop's life ends: `close()`, and close on drop (DESIGN rule 7).

use std::panic::{AssertUnwindSafe, catch_unwind};

use super::Shutdown;
use super::inner::{LoopInner, LoopState};
use crate::panic_message;

/// A loop nobody closed is closed when its last `EventLoop` goes: nothing
/// of corio's holds a loop strongly from inside it (tasks, timers, wakers,
/// transports hold it weakly), so this runs once the user's handles are
/// gone.
impl Drop for LoopInner {
    fn drop(&mut self) {
        self.close_now();
    }
}

impl LoopInner {
    /// `EventLoop::close`, and close on drop (see its docs for the order).
    pub(super) fn close_now(&self) {
        if matches!(self.state.get(), LoopState::Closing | LoopState::Closed) {
            return;
        }
        self.state.set(LoopState::Closing);
        self.unwatch();
        self.run_shutdown_hooks(Shutdown::Close);
        self.dump_trace_at_close();
        // Signals first: their dispositions go back before the pipe closes.
        if let Some(mut signals) = self.signals.take() {
            signals.restore_all();
        }
        self.drop_pending_tasks();
        for hook in self.close_hooks.take() {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) {
                self.report(
                    "Exception in close hook".to_string(),
                    Some(panic_message(&*payload)),
                );
            }
        }
        // Taken out before they drop: a callback's drop may call back into
        // the loop (a transport removing its reader), which must find the
        // selector free.
        let keys = self.selector.borrow_mut().close_and_take_keys();
        self.drop_reporting_panics("I/O callbacks", keys);
        // Discard what those drops scheduled, until nothing is left.
        loop {
            let ready: Vec<_> = self.ready.borrow_mut().drain(..).collect();
            let timers = self.scheduled.borrow_mut().drain();
            if ready.is_empty() && timers.is_empty() && !self.has_tasks() {
                break;
            }
            self.drop_reporting_panics("callbacks", (ready, timers));
            self.drop_pending_tasks();
        }
        self.state.set(LoopState::Closed);
        // What other threads sent meanwhile is dropped too.
        drop(self.remote.close());
    }

    /// Drops what `close` discards. Its destructors are user code: a panic
    /// in one is reported and `close` goes on, so that the loop still ends
    /// closed with every fd released (what `Drop` cannot promise once a
    /// panic escapes it).
    fn drop_reporting_panics<T>(&self, what: &str, discarded: T) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(move || drop(discarded))) {
            self.report(
                format!("Exception while dropping the loop's {what}"),
                Some(panic_message(&*payload)),
            );
        }
    }

    /// Reports and drops every task still pending (loop close); a panic in
    /// a coroutine's destructor is reported, and the next task is dropped.
    fn drop_pending_tasks(&self) {
        let pending = self.tasks.borrow_mut().take_all();
        self.stats.tasks_dropped.add(pending.len() as u64);
        for task in pending {
            self.report(
                format!(
                    "Task was destroyed but it is pending! {}",
                    task.header().describe()
                ),
                None,
            );
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| task.abandon())) {
                self.report(
                    format!("Exception while dropping {}", task.header().describe()),
                    Some(panic_message(&*payload)),
                );
            }
        }
    }

    fn has_tasks(&self) -> bool {
        !self.tasks.borrow().is_empty()
    }

    pub(super) fn run_shutdown_hooks(&self, kind: Shutdown) {
        let hooks = self.shutdown_hooks.take();
        for hook in hooks {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(|| hook(kind))) {
                self.report(
                    "Exception in shutdown hook".to_string(),
                    Some(panic_message(&*payload)),
                );
            }
        }
    }
}
