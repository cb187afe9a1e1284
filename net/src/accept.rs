//! [`AcceptBackoff`]: the one policy every accept loop follows when
//! `accept` fails, whether the loop is a reader callback ([`Server`]) or a
//! task awaiting [`TcpListener::accept`] (corio-compat's `serve`).
//!
//! An accept can fail for three reasons, and each wants its own answer:
//!
//! - **one connection's trouble** (the peer reset before we took it:
//!   `ECONNABORTED`, `EPROTO`, a network error the kernel passes on, a
//!   firewall's `EPERM`): accept the next one at once;
//! - **no resources now** (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`): the
//!   listener stays readable (the connection waits in the backlog), so a
//!   loop that tried again at once would spin at 100% CPU without ever
//!   succeeding. Stop accepting for [`ACCEPT_RETRY_DELAY`], then try again;
//!   tell the loop's exception handler once, when the shortage starts, not
//!   at every retry (a server out of fds for a minute reports one line,
//!   not sixty);
//! - **the listener itself is broken** (`EBADF`, `EINVAL`, `ENOTSOCK`):
//!   stop the loop, and report it.
//!
//! Nothing here prints: reports go through the running loop's exception
//! handler (`loop.call_exception_handler`), which the application may
//! replace.
//!
//! [`Server`]: crate::Server

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use corio_executor::{ExceptionContext, get_running_loop};

use crate::{TcpListener, TcpStream};

/// How long an accept loop rests after running out of fds or memory
/// (asyncio's `constants.ACCEPT_RETRY_DELAY`: 1 s).
pub const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// What an accept loop does after a failed `accept`: the answer of
/// [`AcceptBackoff::failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptAction {
    /// The error was one connection's (its peer reset before it was
    /// accepted, a network error on its path): accept again at once.
    Retry,
    /// No fds or memory now: stop accepting for this long, then try again.
    Rest(Duration),
    /// The listening socket is unusable: stop accepting for good (the
    /// failure was reported).
    Stop,
}

/// The failure policy of one accept loop (see the module docs): retry,
/// rest on resource exhaustion, stop on a broken listener, and report
/// each shortage once.
///
/// Mirrors what asyncio's `BaseSelectorEventLoop._accept_connection` does
/// on `EMFILE`/`ENFILE`/`ENOBUFS`/`ENOMEM` (call the exception handler with
/// "socket.accept() out of system resource", remove the reader, retry after
/// `ACCEPT_RETRY_DELAY`); differs in reporting once per shortage rather
/// than at every failed retry: the report says when the shortage begins,
/// and the next one is reported after an accept has succeeded again.
///
/// # Examples
///
/// An accept loop in a task: [`accept`](Self::accept) rests and reports
/// by itself, and returns an error only when the listener is unusable.
///
/// ```
/// use corio_net::{AcceptBackoff, TcpListener, TcpStream};
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let server = corio_executor::create_task(async move {
///         let backoff = AcceptBackoff::new();
///         let mut served = 0;
///         while served < 2 {
///             let (stream, _peer) = backoff.accept(&listener).await?;
///             stream.send_all(b"hi").await?;
///             served += 1;
///         }
///         std::io::Result::Ok(served)
///     });
///     for _ in 0..2 {
///         let client = TcpStream::connect("127.0.0.1", port).await?;
///         let mut buf = [0; 2];
///         assert_eq!(client.recv(&mut buf).await?, 2);
///     }
///     assert_eq!(server.await.unwrap()?, 2);
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AcceptBackoff {
    /// How long to rest on a shortage.
    delay: Duration,
    /// A shortage is going on and was reported; cleared by the next
    /// successful accept, so the next shortage is reported again.
    reported: Cell<bool>,
}

impl Default for AcceptBackoff {
    fn default() -> Self {
        AcceptBackoff::new()
    }
}

impl AcceptBackoff {
    /// A policy resting [`ACCEPT_RETRY_DELAY`] on a shortage, as asyncio's
    /// selector event loop does.
    pub fn new() -> AcceptBackoff {
        AcceptBackoff::with_delay(ACCEPT_RETRY_DELAY)
    }

    /// A policy resting `delay` on a shortage. No asyncio counterpart:
    /// there the delay is the module constant `ACCEPT_RETRY_DELAY`.
    pub fn with_delay(delay: Duration) -> AcceptBackoff {
        AcceptBackoff {
            delay,
            reported: Cell::new(false),
        }
    }

    /// How long this policy rests on a shortage (asyncio:
    /// `constants.ACCEPT_RETRY_DELAY`).
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// What to do after `accept` on the listener described by
    /// `listening_on` (its address, for the report) failed with `err`.
    ///
    /// Python: the `except OSError` of `_accept_connection`; differs in
    /// that a shortage is reported once (at the first error after a
    /// success) where asyncio reports every retry. Reports, a shortage's
    /// and every broken listener's, go to the running loop's exception
    /// handler (without a running loop there is no handler, and nothing
    /// is reported).
    pub fn failed(&self, err: &io::Error, listening_on: &dyn fmt::Display) -> AcceptAction {
        match classify(err) {
            Failure::OneConnection => AcceptAction::Retry,
            Failure::OutOfResources => {
                if !self.reported.replace(true) {
                    report(
                        format!(
                            "socket.accept() out of system resource on {listening_on}: \
                             accepting again every {:?} until it succeeds",
                            self.delay
                        ),
                        err,
                    );
                }
                AcceptAction::Rest(self.delay)
            }
            Failure::Broken => {
                report(
                    format!("socket.accept() failed on {listening_on}: no longer accepting"),
                    err,
                );
                AcceptAction::Stop
            }
        }
    }

    /// An accept succeeded: a shortage that was going on is over, and the
    /// next one will be reported. No asyncio counterpart (asyncio keeps no
    /// state between failures).
    pub fn accepted(&self) {
        self.reported.set(false);
    }

    /// Waits for a connection on `listener`, following the policy: one
    /// connection's error is skipped, a shortage rests (a timer, not a
    /// spin) and tries again. Python: `loop.sock_accept(sock)` in a loop,
    /// with `_accept_connection`'s error handling around it.
    ///
    /// # Errors
    /// Only the error of a listener that can no longer accept (`EBADF`,
    /// `EINVAL`, `ENOTSOCK`), already reported.
    pub async fn accept(&self, listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept_with(&ListenerName(listener), || listener.accept())
            .await
    }

    /// [`accept`](Self::accept) for any listener: `accept` is called until
    /// it gives a connection, with the policy applied to its errors;
    /// `listening_on` names the listener in reports.
    ///
    /// # Errors
    /// As [`accept`](Self::accept).
    pub async fn accept_with<T, F>(
        &self,
        listening_on: &dyn fmt::Display,
        mut accept: impl FnMut() -> F,
    ) -> io::Result<T>
    where
        F: Future<Output = io::Result<T>>,
    {
        loop {
            match accept().await {
                Ok(accepted) => {
                    self.accepted();
                    return Ok(accepted);
                }
                Err(e) => match self.failed(&e, listening_on) {
                    AcceptAction::Retry => {}
                    AcceptAction::Rest(delay) => corio_executor::sleep(delay).await,
                    AcceptAction::Stop => return Err(e),
                },
            }
        }
    }
}

/// A listener's address, looked up only when a report needs it.
struct ListenerName<'a>(&'a TcpListener);

impl fmt::Display for ListenerName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.local_addr() {
            Ok(addr) => addr.fmt(f),
            Err(_) => f.write_str("a TCP listener"),
        }
    }
}

/// The three kinds of accept failure (see the module docs).
enum Failure {
    OneConnection,
    OutOfResources,
    Broken,
}

fn classify(err: &io::Error) -> Failure {
    match err.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => Failure::OutOfResources,
        Some(libc::EBADF | libc::EINVAL | libc::ENOTSOCK | libc::EFAULT) => Failure::Broken,
        // EINTR, ECONNABORTED, EPROTO, EPERM and the network errors that
        // accept(2) says to treat as EAGAIN; also a failure setting up the
        // accepted socket, which concerns that socket only.
        _ => Failure::OneConnection,
    }
}

/// Tells the running loop's exception handler.
fn report(message: String, err: &io::Error) {
    if let Ok(lp) = get_running_loop() {
        lp.call_exception_handler(ExceptionContext {
            message,
            exception: Some(err.to_string()),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    /// A shortage is reported once however often it fails, again after a
    /// success; one connection's errors are not reported; a broken
    /// listener always is.
    #[test]
    fn one_report_per_shortage() {
        corio_executor::run(async {
            let reports = Rc::new(RefCell::new(Vec::new()));
            let sink = reports.clone();
            get_running_loop()
                .unwrap()
                .set_exception_handler(Some(move |c: &ExceptionContext| {
                    sink.borrow_mut().push(c.message.clone());
                }));
            let backoff = AcceptBackoff::with_delay(Duration::from_millis(7));
            let rest = AcceptAction::Rest(Duration::from_millis(7));
            let on = "127.0.0.1:80";
            assert_eq!(backoff.failed(&os(libc::EMFILE), &on), rest);
            assert_eq!(backoff.failed(&os(libc::EMFILE), &on), rest);
            assert_eq!(backoff.failed(&os(libc::ENFILE), &on), rest);
            assert_eq!(reports.borrow().len(), 1);
            assert!(reports.borrow()[0].contains("out of system resource on 127.0.0.1:80"));
            backoff.accepted();
            assert_eq!(backoff.failed(&os(libc::ENOBUFS), &on), rest);
            assert_eq!(backoff.failed(&os(libc::ENOMEM), &on), rest);
            assert_eq!(reports.borrow().len(), 2);
            for code in [libc::ECONNABORTED, libc::EPROTO, libc::EPERM, libc::EINTR] {
                assert_eq!(backoff.failed(&os(code), &on), AcceptAction::Retry);
            }
            assert_eq!(reports.borrow().len(), 2);
            assert_eq!(backoff.failed(&os(libc::EBADF), &on), AcceptAction::Stop);
            assert_eq!(backoff.failed(&os(libc::EINVAL), &on), AcceptAction::Stop);
            assert_eq!(reports.borrow().len(), 4);
            assert!(reports.borrow()[3].contains("no longer accepting"));
        })
        .unwrap();
    }
}
