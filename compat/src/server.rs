//! [`serve`] and [`HttpServer`]: hyper's connections on a corio listener,
//! asyncio's `loop.create_server` + `Server` with hyper as the protocol.
//!
//! One task accepts (with corio-net's [`AcceptBackoff`]); each connection
//! is a task of its own, counted by a guard while it lives, so that
//! `wait_closed` sees it go however it ends. Every wait on the server's
//! shutdown goes through [`first`], which looks at the shutdown only when
//! it fired.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::AssertUnwindSafe;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use corio_executor::{ExceptionContext, Task, create_task, get_running_loop, panic_message};
use corio_net::{AcceptBackoff, TcpListener};
use corio_sync::Event;
use hyper::body::{Body, Incoming};
use hyper::rt::{Executor, Read, Write};
use hyper::service::Service;
use hyper::{Request, Response};
use hyper_util::server::conn::auto::Builder;

use crate::io::Io;

/// The server of [`serve`]: a listening socket accepting in a task, and
/// the connections it serves.
///
/// Mirrors asyncio's `Server` (`close`, `wait_closed`, `is_serving`); as in
/// Python 3.12+, `wait_closed` waits for the connections too, but `close`
/// here is graceful: in-flight requests finish, idle connections close.
#[derive(Debug)]
pub struct HttpServer {
    local_addr: std::net::SocketAddr,
    shared: Rc<Shared>,
    accept: Task<()>,
}

struct Shared {
    closing: Event,
    /// How long `wrap` (a TLS handshake) may take per connection.
    upgrade_timeout: Cell<Duration>,
    /// The connections being served, by a number of their own (Python:
    /// `Server._clients`): each has a [`Served`] guard, whose drop takes
    /// it out however its task ends (an answer, an error, a panic, a
    /// cancellation).
    clients: RefCell<BTreeMap<u64, Rc<Client>>>,
    /// The number the next connection gets in `clients`.
    next_client: Cell<u64>,
    /// Set when `closing` and no connection is left.
    idle: Event,
}

/// What the server keeps of a connection it serves, to end it from
/// outside (`close_clients`, `abort_clients`).
struct Client {
    /// The accepted socket's fd, open for as long as the entry is in
    /// `clients` (the socket is dropped inside the connection's task,
    /// before its guard takes the entry out).
    fd: RawFd,
    /// Set to end the connection now: its task drops it.
    stop: Event,
}

/// How long a connection's `wrap` (its TLS handshake) may take before the
/// connection is dropped: asyncio's `ssl_handshake_timeout` default (60 s).
pub const UPGRADE_TIMEOUT: Duration = Duration::from_secs(60);

impl Default for Shared {
    fn default() -> Self {
        Shared {
            closing: Event::new(),
            upgrade_timeout: Cell::new(UPGRADE_TIMEOUT),
            clients: RefCell::new(BTreeMap::new()),
            next_client: Cell::new(0),
            idle: Event::new(),
        }
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("closing", &self.closing.is_set())
            .field("clients", &self.clients.borrow().len())
            .finish()
    }
}

impl Shared {
    /// The connections being served now.
    fn clients(&self) -> Vec<Rc<Client>> {
        self.clients.borrow().values().cloned().collect()
    }
}

/// One connection in [`Shared::clients`] for as long as it lives.
struct Served {
    shared: Rc<Shared>,
    id: u64,
    client: Rc<Client>,
}

impl Served {
    fn new(shared: Rc<Shared>, fd: RawFd) -> Served {
        let id = shared.next_client.get();
        shared.next_client.set(id + 1);
        let client = Rc::new(Client {
            fd,
            stop: Event::new(),
        });
        shared.clients.borrow_mut().insert(id, client.clone());
        Served { shared, id, client }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let shared = &self.shared;
        let gone = shared.clients.borrow_mut().remove(&self.id);
        drop(gone);
        if shared.clients.borrow().is_empty() && shared.closing.is_set() {
            shared.idle.set();
        }
    }
}

impl HttpServer {
    /// The listening address. Python: `server.sockets[0].getsockname()`.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// Whether it still accepts. Python: `Server.is_serving()`.
    pub fn is_serving(&self) -> bool {
        !self.shared.closing.is_set()
    }

    /// How long each new connection's `wrap` of [`serve_with`] (its TLS
    /// handshake) may take; a peer that does not finish in time is
    /// dropped, so a silent client cannot hold a task and an fd until the
    /// server closes. Default [`UPGRADE_TIMEOUT`]. Python: the
    /// `ssl_handshake_timeout` argument of `loop.create_server`.
    pub fn set_upgrade_timeout(&self, timeout: Duration) {
        self.shared.upgrade_timeout.set(timeout);
    }

    /// How many connections are being served now.
    pub fn connections(&self) -> usize {
        self.shared.clients.borrow().len()
    }

    /// How many connections it has accepted since it started: with one
    /// server per loop on a shared port, how the kernel spread them. No
    /// asyncio counterpart (`Server` keeps no count).
    pub fn accepted(&self) -> u64 {
        self.shared.next_client.get()
    }

    /// Stops accepting and shuts every connection down gracefully
    /// (hyper's `graceful_shutdown`: requests in flight are answered, HTTP/2
    /// sends GOAWAY). Python: `Server.close()`.
    ///
    /// A graceful close waits on the peers: one that stalls an upload,
    /// never reads its response or never answers HTTP/2's GOAWAY holds
    /// [`wait_closed`](Self::wait_closed) as long as it likes. Give it a
    /// deadline, then [`abort_clients`](Self::abort_clients):
    ///
    /// ```
    /// # use corio_compat::{serve, hyper, http_body_util::Full, bytes::Bytes};
    /// # use corio_net::TcpListener;
    /// # use std::convert::Infallible;
    /// # use std::time::Duration;
    /// # corio_executor::run(async {
    /// # let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    /// # let service = hyper::service::service_fn(|_req| async {
    /// #     Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
    /// # });
    /// let server = serve(listener, service);
    /// // ... on shutdown:
    /// server.close();
    /// let grace = Duration::from_secs(10);
    /// if corio_executor::timeout(grace, server.wait_closed()).await.is_err() {
    ///     server.abort_clients();
    ///     server.wait_closed().await;
    /// }
    /// // (the same in one call: `server.shutdown(grace).await`)
    /// # }).unwrap();
    /// ```
    pub fn close(&self) {
        self.shared.closing.set();
        if self.shared.clients.borrow().is_empty() {
            self.shared.idle.set();
        }
    }

    /// Ends every connection being served now, without waiting for its
    /// requests: the connection is dropped and its socket closed, so the
    /// peer reads what was already handed to the kernel, then EOF.
    /// Python 3.13: `Server.close_clients()`; differs in that hyper's own
    /// write buffer is dropped with the connection (a transport's is sent
    /// first), as hyper offers no "flush, then close". As in asyncio, call
    /// [`close`](Self::close) first, or connections accepted meanwhile go
    /// on.
    pub fn close_clients(&self) {
        for client in self.shared.clients() {
            client.stop.set();
        }
    }

    /// Ends every connection being served now, at once and with a reset:
    /// the sockets close with `SO_LINGER` 0, so what is unsent is dropped
    /// and the peer reads `ECONNRESET` (a truncated response cannot pass
    /// for a complete one). Python 3.13: `Server.abort_clients()`; the
    /// force after a graceful [`close`](Self::close) that took too long
    /// (see the recipe there).
    pub fn abort_clients(&self) {
        self.reset_clients();
    }

    /// `abort_clients`, telling how many connections it ended (those not
    /// already told to stop).
    fn reset_clients(&self) -> usize {
        let mut ended = 0;
        for client in self.shared.clients() {
            if let Err(e) = crate::sys::set_reset_on_close(client.fd) {
                // The connection still ends below, with a FIN.
                report(
                    "HttpServer.abort_clients(): could not arm the reset".to_string(),
                    &e,
                );
            }
            ended += usize::from(!client.stop.is_set());
            client.stop.set();
        }
        ended
    }

    /// Waits until closed and every connection is done. Python:
    /// `Server.wait_closed()` (3.12+ semantics).
    pub async fn wait_closed(&self) {
        self.shared.idle.wait().await;
        let _ = self.accept.clone().await;
    }

    /// Graceful, then by force: [`close`](Self::close), then
    /// [`wait_closed`](Self::wait_closed) for at most `grace`; the
    /// connections still open then are ended with
    /// [`abort_clients`](Self::abort_clients), and it waits for them.
    /// Returns how many this call aborted (0: all finished in time; one
    /// already told to stop, by another call, is not counted).
    ///
    /// asyncio has no single call: this is the shutdown recipe of its
    /// 3.13 documentation (`close()`, `wait_closed()` under a timeout,
    /// `abort_clients()`), the one every service writes. Call it from a
    /// task of its own: awaited in a request's handler, it waits out the
    /// grace for that very connection, then aborts it.
    pub async fn shutdown(&self, grace: Duration) -> usize {
        self.close();
        if corio_executor::timeout(grace, self.wait_closed())
            .await
            .is_ok()
        {
            return 0;
        }
        let aborted = self.reset_clients();
        self.wait_closed().await;
        aborted
    }
}

/// Serves `service` over HTTP/1.1 and HTTP/2 (prior knowledge, detected from
/// the connection preface) on every connection `listener` accepts.
///
/// Mirrors `loop.create_server(protocol_factory, sock=listener)` with
/// hyper as the protocol; returns at once with the [`HttpServer`] (like
/// `start_serving=True`). A connection's failure ends that connection
/// only, and is told to the loop's exception handler
/// (`loop.call_exception_handler`) naming the peer: always a panic of the
/// service (HTTP/1.1: the connection is dropped; HTTP/2: the stream is
/// reset) and an error the service or its body returned; the peer's doing
/// (a malformed request, a reset, a timeout) only in debug mode
/// ([`EventLoop::set_debug`](corio_executor::EventLoop::set_debug)), as
/// asyncio's transports log an `OSError`. Accepting follows corio-net's
/// [`AcceptBackoff`]: out of fds, it rests and reports once, without
/// spinning.
///
/// ```
/// use corio_compat::{serve, hyper, http_body_util::Full, bytes::Bytes};
/// use corio_net::TcpListener;
/// use std::convert::Infallible;
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
///     let service = hyper::service::service_fn(|_req| async {
///         Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("hi"))))
///     });
///     let server = serve(listener, service);
///     assert!(server.is_serving());
///     server.close();
///     server.wait_closed().await;
/// }).unwrap();
/// ```
pub fn serve<S, B>(listener: TcpListener, service: S) -> HttpServer
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    serve_with(
        listener,
        service,
        |stream| async move { Ok(Io::new(stream)) },
    )
}

/// [`serve`] with each accepted stream first turned into `I` by `wrap`,
/// e.g. a TLS handshake (`|s| acceptor.accept(s)`, then
/// [`FuturesIo`](crate::FuturesIo)): `loop.create_server(..., ssl=context)`. A `wrap` error
/// (a failed handshake) or timeout is reported and ends that connection
/// only.
pub fn serve_with<S, B, I, W, WF>(listener: TcpListener, service: S, wrap: W) -> HttpServer
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    I: Read + Write + Unpin + 'static,
    W: Fn(corio_net::TcpStream) -> WF + 'static,
    WF: Future<Output = io::Result<I>> + 'static,
{
    let local_addr = listener
        .local_addr()
        .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let shared = Rc::new(Shared::default());
    let wrap = Rc::new(wrap);
    let accept_shared = shared.clone();
    let accept = create_task(async move {
        let backoff = AcceptBackoff::new();
        loop {
            let accepted = {
                let closing = pin!(accept_shared.closing.wait());
                match first(backoff.accept(&listener), closing).await {
                    Either::Left(accepted) => accepted,
                    Either::Right(_) => break,
                }
            };
            // An error here is a listener that can no longer accept, which
            // the policy has reported.
            let Ok((stream, peer)) = accepted else { break };
            let served = Served::new(accept_shared.clone(), stream.as_raw_fd());
            let service = service.clone();
            let wrap = wrap.clone();
            drop(create_task(async move {
                let ended = {
                    let serving = serve_one(&served.shared, service, &*wrap, stream, peer);
                    let stop = pin!(served.client.stop.wait());
                    // On `stop`, the connection (and its socket) is dropped.
                    first(catch_unwind(serving), stop).await
                };
                if let Either::Left(Err(panic)) = ended {
                    report_panic(peer, &*panic, "the connection was dropped");
                }
                drop(served);
            }));
        }
        drop(listener);
    });
    HttpServer {
        local_addr,
        shared,
        accept,
    }
}

/// hyper's auto builder for one connection: corio's timer, and an
/// executor that names the connection when a stream's task panics.
fn builder(peer: SocketAddr) -> Builder<ConnExec> {
    let mut builder = Builder::new(ConnExec { peer });
    builder.http1().timer(crate::CorioTimer);
    builder.http2().timer(crate::CorioTimer);
    builder
}

async fn serve_one<S, B, I, W, WF>(
    shared: &Shared,
    service: S,
    wrap: &W,
    stream: corio_net::TcpStream,
    peer: SocketAddr,
) where
    S: Service<Request<Incoming>, Response = Response<B>> + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
    I: Read + Write + Unpin + 'static,
    W: Fn(corio_net::TcpStream) -> WF,
    WF: Future<Output = io::Result<I>>,
{
    let io = {
        let closing = pin!(shared.closing.wait());
        let limit = shared.upgrade_timeout.get();
        let upgrade = corio_executor::timeout(limit, wrap(stream));
        match first(upgrade, closing).await {
            Either::Left(Ok(Ok(io))) => io,
            Either::Left(Ok(Err(e))) => {
                report_error(format!("HTTP connection from {peer}: handshake failed"), &e);
                return;
            }
            Either::Left(Err(_)) => {
                let e = io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("not done after {limit:?}; connection dropped"),
                );
                report_error(
                    format!("HTTP connection from {peer}: handshake timed out"),
                    &e,
                );
                return;
            }
            Either::Right(_) => return,
        }
    };
    let builder = builder(peer);
    let mut conn = pin!(builder.serve_connection(io, service));
    let result = {
        let closing = pin!(shared.closing.wait());
        match first(conn.as_mut(), closing).await {
            Either::Left(result) => result,
            Either::Right(_) => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    };
    if let Err(e) = result {
        report_error(format!("HTTP connection from {peer} failed"), &*e);
    }
}

/// hyper's executor for one connection's background work (HTTP/2 streams):
/// [`LocalExec`](crate::LocalExec)'s `create_task`, with a panic reported as the
/// connection's.
#[derive(Clone, Copy)]
struct ConnExec {
    peer: SocketAddr,
}

impl<F> Executor<F> for ConnExec
where
    F: Future + 'static,
{
    fn execute(&self, fut: F) {
        let peer = self.peer;
        drop(create_task(async move {
            if let Err(panic) = catch_unwind(fut).await {
                report_panic(peer, &*panic, "its stream was reset");
            }
        }));
    }
}

/// Runs `fut`, catching a panic of any of its polls: the payload, with
/// `fut` dropped. The server's `catch_unwind` around each connection, so
/// that a panic is told as that connection's (and the connection's
/// bookkeeping runs) rather than as an anonymous task's.
async fn catch_unwind<F: Future>(fut: F) -> Result<F::Output, Box<dyn Any + Send>> {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx| {
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(panic) => Poll::Ready(Err(panic)),
        }
    })
    .await
}

fn report_panic(peer: SocketAddr, panic: &(dyn Any + Send), outcome: &str) {
    report(
        format!("HTTP connection from {peer}: the service panicked; {outcome}"),
        &panic_message(panic),
    );
}

/// Reports a connection's error, with its sources. The application's
/// (hyper's `is_user`: the service or its body returned an error of its
/// own) always; the peer's doing (a malformed request, a reset or vanished
/// peer, a header-read timeout, a failed or timed-out TLS handshake, and a
/// service error caused by one of those, such as a body cut short) only
/// in debug mode, as asyncio's transports log an `OSError` only then
/// (`_fatal_error`): a public server meets such peers all day.
fn report_error(message: String, err: &(dyn StdError + 'static)) {
    let applications = err
        .downcast_ref::<hyper::Error>()
        .is_some_and(hyper::Error::is_user);
    let mut peers = false;
    let mut cause = err.source();
    while let Some(e) = cause {
        peers |= e.is::<io::Error>()
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(|e| !e.is_user());
        cause = e.source();
    }
    if (applications && !peers) || get_running_loop().is_ok_and(|lp| lp.get_debug()) {
        report(message, &Chain(err));
    }
}

/// An error with its sources: hyper's own message is only a category
/// ("connection error"), the cause is in the chain.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

/// Tells the running loop's exception handler (`loop.call_exception_handler`).
fn report(message: String, exception: &dyn std::fmt::Display) {
    if let Ok(lp) = get_running_loop() {
        lp.call_exception_handler(ExceptionContext {
            message,
            exception: Some(exception.to_string()),
        });
    }
}

enum Either<A, B> {
    Left(A),
    Right(B),
}

/// Whichever of two futures finishes first (the other is dropped by the
/// caller): a two-way `asyncio.wait(..., return_when=FIRST_COMPLETED)`.
///
/// `b` is a rare event (the server's shutdown), `a` a connection woken on
/// every request: `b` is polled only when it woke (through [`WokeFlag`]),
/// not on each of `a`'s wake-ups, so a busy connection does not pay for
/// looking at the shutdown `Event` each time.
async fn first<A: Future, B: Future + Unpin>(a: A, mut b: B) -> Either<A::Output, B::Output> {
    let mut a = pin!(a);
    let flag = Arc::new(WokeFlag {
        woke: AtomicBool::new(true), // poll `b` once to register it
        task: Mutex::new(None),
    });
    let b_waker = Waker::from(flag.clone());
    let mut task: Option<Waker> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        if !task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            // First poll, or polled by another task: `b`'s wake-up must
            // reach this one.
            *flag.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
            task = Some(cx.waker().clone());
        }
        if flag.woke.swap(false, Ordering::AcqRel)
            && let Poll::Ready(v) = Pin::new(&mut b).poll(&mut Context::from_waker(&b_waker))
        {
            return Poll::Ready(Either::Right(v));
        }
        Poll::Pending
    })
    .await
}

/// The waker [`first`] gives its rare future: notes that it woke, then
/// wakes the task.
struct WokeFlag {
    woke: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl Wake for WokeFlag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woke.store(true, Ordering::Release);
        let task = self.task.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(task) = task {
            task.wake();
        }
    }
}
