//! [`Server`] and [`create_server`]: asyncio's `loop.create_server`.
//!
//! Each listening socket has one reader callback that accepts up to
//! `backlog` connections per readiness (asyncio's `_accept_connection`) and
//! starts a [`Transport`] with a fresh protocol for each. A failed
//! `accept4` is handled by [`AcceptBackoff`], the policy every accept loop
//! shares: out of fds (`EMFILE`, ...), the listener stops reading for
//! [`ACCEPT_RETRY_DELAY`](crate::ACCEPT_RETRY_DELAY) instead of spinning on
//! a readiness it cannot serve, reports the shortage once through the
//! loop's exception handler, then serves again.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Duration;

use corio_executor::{EventLoop, Future, WeakLoop, get_running_loop};

use crate::accept::{AcceptAction, AcceptBackoff};

use crate::ready::try_again;
use crate::socket::Socket;
use crate::sys;
use crate::sys::SockAddr;
use crate::tcp::{DEFAULT_BACKLOG, TcpListener, check_backlog};
use crate::transport::{Protocol, Transport, WeakTransport};
use crate::wakers::{WaitEntry, WakerList};

/// The options of a server, with asyncio's defaults: the keyword
/// arguments of `create_server` and `start_server` (and their Unix
/// twins).
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The readers' limit of a stream server ([`start_server_with`](crate::start_server_with),
    /// [`start_unix_server_with`](crate::start_unix_server_with)): asyncio's
    /// `limit` (64 KiB). A protocol server has no reader and does not use it.
    pub limit: usize,
    /// `listen` backlog, also the most accepts per readiness (100).
    pub backlog: i32,
    /// `SO_REUSEPORT`, to let several loops share the port (false).
    pub reuse_port: bool,
    /// Start accepting at once (true); else on `start_serving`.
    pub start_serving: bool,
    /// Run TLS on every connection, server side, with sessions from this
    /// context (`None`: plain). Python: `ssl=context`.
    pub ssl: Option<crate::tls::SslContext>,
    /// How long a connection's TLS handshake may take before it is
    /// aborted (60 s). Python: `ssl_handshake_timeout=`.
    pub ssl_handshake_timeout: Duration,
    /// How long closing a TLS connection may take before it is aborted
    /// (30 s). Python: `ssl_shutdown_timeout=`.
    pub ssl_shutdown_timeout: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            limit: crate::DEFAULT_LIMIT,
            backlog: DEFAULT_BACKLOG,
            reuse_port: false,
            start_serving: true,
            ssl: None,
            ssl_handshake_timeout: crate::tls::SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout: crate::tls::SSL_SHUTDOWN_TIMEOUT,
        }
    }
}

/// A listening server. Mirrors `asyncio.Server`.
///
/// Cloning gives another handle to the same server.
#[derive(Clone)]
pub struct Server {
    inner: Rc<ServerInner>,
}

struct ServerInner {
    /// Held weakly: a server never keeps its loop alive.
    lp: WeakLoop,
    /// Emptied (the sockets closed) by `close` (Python: `_sockets`).
    listeners: RefCell<Vec<Socket>>,
    /// A Unix server's socket file, removed on close if still ours.
    unix_file: Option<SocketFile>,
    factory: ProtocolFactory,
    backlog: i32,
    /// What a failed accept does (asyncio's `_accept_connection` errors).
    backoff: AcceptBackoff,
    /// TLS on every connection, if asked for.
    tls: Option<crate::tls::ServerTls>,
    serving: Cell<bool>,
    closed: Cell<bool>,
    /// Connections whose `connection_lost` has not come yet.
    active: Cell<usize>,
    /// Their transports, by a number of their own, for `close_clients`
    /// and `abort_clients` (Python: the `_clients` WeakSet).
    clients: RefCell<BTreeMap<u64, WeakTransport>>,
    /// The number the next connection gets in `clients`.
    next_client: Cell<u64>,
    /// Set when closed and every connection is gone.
    all_gone: Cell<bool>,
    /// One entry per waiting `wait_closed` call (asyncio's `_waiters`),
    /// replaced by its polls and removed when the call is dropped.
    closed_waiters: RefCell<WakerList>,
    /// Done when closed (`serve_forever` returns).
    stopped: Future<()>,
}

/// Listens on every address `host` resolves to and runs a protocol made by
/// `factory` on each accepted connection. Mirrors `loop.create_server(
/// protocol_factory, host, port, backlog=…, reuse_port=…, start_serving=…)`.
///
/// # Examples
///
/// ```
/// use corio_net::{Protocol, ServerOptions, Transport, TcpStream, create_server};
///
/// struct Echo(Option<Transport>);
/// impl Protocol for Echo {
///     fn connection_made(&mut self, t: Transport) { self.0 = Some(t) }
///     fn data_received(&mut self, data: &[u8]) {
///         self.0.as_ref().unwrap().write(data).unwrap();
///     }
/// }
///
/// corio_executor::run(async {
///     let server = create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
///     let port = server.addresses()[0].port();
///     let client = TcpStream::connect("127.0.0.1", port).await?;
///     client.send_all(b"echo me").await?;
///     let mut buf = [0; 7];
///     let mut got = 0;
///     while got < 7 { got += client.recv(&mut buf[got..]).await?; }
///     assert_eq!(&buf, b"echo me");
///     drop(client);
///     server.close();
///     server.wait_closed().await;
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// Resolution errors naming the host; `InvalidInput` for a negative
/// backlog; the bind error of any address (listeners already made are
/// closed); `Other` without a running loop.
pub async fn create_server<P: Protocol>(
    factory: impl Fn() -> P + 'static,
    host: &str,
    port: u16,
    options: ServerOptions,
) -> io::Result<Server> {
    let lp = get_running_loop().map_err(io::Error::other)?;
    check_backlog(options.backlog)?;
    let mut addrs = crate::getaddrinfo(host, port).await?;
    addrs.dedup();
    let mut listeners = Vec::new();
    for addr in addrs {
        let listener = TcpListener::bind_addr(addr, options.reuse_port, options.backlog)
            .map_err(|e| io::Error::new(e.kind(), format!("could not bind on {addr}: {e}")))?;
        listeners.push(listener.into_socket());
    }
    Server::start(&lp, listeners, None, boxed(factory), &options)
}

/// Listens on the Unix socket `path` and runs a protocol made by `factory`
/// on each connection. Mirrors `loop.create_unix_server(protocol_factory,
/// path, backlog=…, start_serving=…)`: a stale socket file at `path` is
/// replaced, and the file is removed when the server closes (as Python
/// 3.13's `cleanup_socket=True`), unless something else replaced it.
/// `reuse_port` is ignored.
///
/// # Errors
/// `AddrInUse` when `path` exists and is not a socket; `InvalidInput` for
/// a path too long or with a NUL byte, or a negative backlog; `Other`
/// without a running loop.
pub async fn create_unix_server<P: Protocol>(
    factory: impl Fn() -> P + 'static,
    path: impl AsRef<Path>,
    options: ServerOptions,
) -> io::Result<Server> {
    let lp = get_running_loop().map_err(io::Error::other)?;
    let path = path.as_ref();
    check_backlog(options.backlog)?;
    let addr = SockAddr::unix(path)?;
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        // A socket file left behind by a server that is gone (Python:
        // `if stat.S_ISSOCK(...): os.remove(path)`).
        std::fs::remove_file(path)?;
    }
    let socket = Socket::new_for(&addr, libc::SOCK_STREAM)?;
    let named = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", path.display()));
    socket.bind(&addr).map_err(named)?;
    socket.listen(options.backlog).map_err(named)?;
    let meta = std::fs::symlink_metadata(path)?;
    let file = SocketFile {
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    };
    Server::start(&lp, vec![socket], Some(file), boxed(factory), &options)
}

impl crate::live::Release for ServerInner {
    /// The loop closes: the listening sockets close (and a Unix server's
    /// file goes); the connections are released on their own.
    fn release(&self) {
        self.closed.set(true);
        self.serving.set(false);
        drop(self.listeners.take());
        drop(self.clients.take());
        if let Some(file) = &self.unix_file {
            file.remove();
        }
    }
}

impl Drop for ServerInner {
    /// A server dropped without `close` (never started, say) still takes
    /// its socket file away.
    fn drop(&mut self) {
        if !self.closed.get()
            && let Some(file) = &self.unix_file
        {
            file.remove();
        }
    }
}

/// A protocol factory with the protocol type erased.
type ProtocolFactory = Box<dyn Fn() -> Rc<RefCell<dyn Protocol>>>;

fn boxed<P: Protocol>(factory: impl Fn() -> P + 'static) -> ProtocolFactory {
    Box::new(move || Rc::new(RefCell::new(factory())) as Rc<RefCell<dyn Protocol>>)
}

/// The socket file a Unix server made: its path and (device, inode).
struct SocketFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SocketFile {
    /// Removes the file if it is still the one bound (Python 3.13 checks
    /// the inode the same way before unlinking).
    fn remove(&self) {
        if let Ok(meta) = std::fs::symlink_metadata(&self.path)
            && (meta.dev(), meta.ino()) == self.id
        {
            // Already gone is fine: nothing else to clean up.
            std::fs::remove_file(&self.path).ok();
        }
    }
}

impl Server {
    fn start(
        lp: &EventLoop,
        listeners: Vec<Socket>,
        unix_file: Option<SocketFile>,
        factory: ProtocolFactory,
        options: &ServerOptions,
    ) -> io::Result<Server> {
        let server = Server {
            inner: Rc::new(ServerInner {
                lp: lp.downgrade(),
                listeners: RefCell::new(listeners),
                unix_file,
                factory,
                backlog: options.backlog,
                backoff: AcceptBackoff::new(),
                tls: options.ssl.clone().map(|ssl| crate::tls::ServerTls {
                    ssl,
                    handshake_timeout: options.ssl_handshake_timeout,
                    shutdown_timeout: options.ssl_shutdown_timeout,
                }),
                serving: Cell::new(false),
                closed: Cell::new(false),
                active: Cell::new(0),
                clients: RefCell::new(BTreeMap::new()),
                next_client: Cell::new(0),
                all_gone: Cell::new(false),
                closed_waiters: RefCell::new(WakerList::default()),
                stopped: lp.create_future(),
            }),
        };
        crate::live::register(lp, &server.inner);
        if options.start_serving {
            server.start_serving()?;
        }
        Ok(server)
    }

    /// Starts accepting (if not yet). Python: `await server.start_serving()`.
    ///
    /// # Errors
    /// `NotConnected` on a closed server; the selector's error.
    pub fn start_serving(&self) -> io::Result<()> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the server is closed",
            ));
        }
        if inner.serving.replace(true) {
            return Ok(());
        }
        for index in 0..inner.listeners.borrow().len() {
            self.watch(index)?;
        }
        Ok(())
    }

    fn watch(&self, index: usize) -> io::Result<()> {
        let fd = self.inner.listeners.borrow()[index].raw();
        let lp = self
            .lp()
            .ok_or_else(|| io::Error::other("Event loop is closed"))?;
        let me = self.clone();
        lp.add_reader(fd, move || me.accept_ready(index))
            .map_err(|e| io::Error::other(e.to_string()))
    }

    /// The loop, while it exists and is not closed.
    fn lp(&self) -> Option<EventLoop> {
        self.inner.lp.upgrade().filter(|lp| !lp.is_closed())
    }

    /// The reader of listener `index`: accept up to `backlog` connections.
    fn accept_ready(&self, index: usize) {
        let inner = &self.inner;
        for _ in 0..inner.backlog.max(1) {
            let accepted = match inner.listeners.borrow().get(index) {
                Some(listener) => sys::accept(listener.fd()),
                None => return, // closed
            };
            let e = match accepted {
                Ok((fd, _)) => {
                    inner.backoff.accepted();
                    self.serve(Socket::from_fd(fd));
                    continue;
                }
                Err(e) if try_again(&e) => return,
                Err(e) => e,
            };
            match inner.backoff.failed(&e, &self.listener_name(index)) {
                AcceptAction::Retry => {}
                AcceptAction::Rest(delay) => {
                    // Stop watching and look again later (asyncio's way).
                    let Some(lp) = self.lp() else { return };
                    if let Some(listener) = inner.listeners.borrow().get(index) {
                        lp.remove_reader(listener.raw());
                    }
                    let me = self.clone();
                    lp.call_later(delay, move || {
                        if me.inner.serving.get() && !me.inner.closed.get() {
                            // A failure here is reported by the next accept.
                            me.watch(index).ok();
                        }
                    });
                    return;
                }
                AcceptAction::Stop => {
                    if let (Some(lp), Some(listener)) =
                        (self.lp(), inner.listeners.borrow().get(index))
                    {
                        lp.remove_reader(listener.raw());
                    }
                    return;
                }
            }
        }
    }

    /// Listener `index`'s address, for reports.
    fn listener_name(&self, index: usize) -> String {
        let listeners = self.inner.listeners.borrow();
        let Some(addr) = listeners.get(index).and_then(|l| l.local_addr().ok()) else {
            return "a closed listener".to_string();
        };
        match (addr.as_inet(), addr.as_unix_path()) {
            (Some(inet), _) => inet.to_string(),
            (None, Some(path)) => path.display().to_string(),
            (None, None) => "a listener".to_string(),
        }
    }

    fn serve(&self, socket: Socket) {
        let inner = &self.inner;
        if inner.unix_file.is_none()
            && let Err(e) = socket.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, true)
        {
            drop(e); // a connection already reset; the transport will see it
        }
        let Some(lp) = self.lp() else { return };
        let protocol = (inner.factory)();
        inner.active.set(inner.active.get() + 1);
        let me = self.clone();
        let id = inner.next_client.get();
        inner.next_client.set(id + 1);
        let tls = match inner.tls.as_ref().map(crate::tls::ServerTls::start) {
            None => None,
            Some(Ok(start)) => Some(start),
            Some(Err(e)) => {
                lp.call_exception_handler(corio_executor::ExceptionContext {
                    message: "Cannot start TLS on an accepted connection".to_string(),
                    exception: Some(e.to_string()),
                });
                self.connection_gone(id);
                return;
            }
        };
        match Transport::start_with(&lp, socket, protocol, tls) {
            Ok(transport) => {
                inner.clients.borrow_mut().insert(id, transport.downgrade());
                transport.on_lost(move || me.connection_gone(id));
            }
            Err(_) => self.connection_gone(id),
        }
    }

    fn connection_gone(&self, id: u64) {
        let inner = &self.inner;
        inner.active.set(inner.active.get() - 1);
        inner.clients.borrow_mut().remove(&id);
        self.maybe_all_gone();
    }

    /// The transports of the connections still open.
    fn clients(&self) -> Vec<Transport> {
        let clients = self.inner.clients.borrow();
        clients
            .values()
            .filter_map(WeakTransport::upgrade)
            .collect()
    }

    fn maybe_all_gone(&self) {
        let inner = &self.inner;
        if inner.closed.get() && inner.active.get() == 0 && !inner.all_gone.replace(true) {
            // Taken out first: a woken task may wait again at once.
            let wakers = inner.closed_waiters.borrow_mut().take_all();
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    /// Stops listening and closes the listening sockets; connections go on
    /// until they end. Python: `server.close()`.
    pub fn close(&self) {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return;
        }
        let listeners = inner.listeners.take();
        if inner.serving.replace(false)
            && let Some(lp) = self.lp()
        {
            for listener in &listeners {
                lp.remove_reader(listener.raw());
            }
        }
        drop(listeners); // closes the listening sockets
        if let Some(file) = &inner.unix_file {
            file.remove();
        }
        if !inner.stopped.done() {
            inner.stopped.set_result(()).ok();
        }
        self.maybe_all_gone();
    }

    /// Closes every connection the server accepted and still serves: each
    /// transport's buffered bytes are sent, then it closes and its
    /// protocol gets `connection_lost(None)`. Python 3.13:
    /// `server.close_clients()`; as there, call [`close`](Self::close)
    /// first, or connections accepted meanwhile stay open.
    ///
    /// A peer that never reads keeps its transport waiting to send; see
    /// [`abort_clients`](Self::abort_clients).
    pub fn close_clients(&self) {
        for transport in self.clients() {
            transport.close();
        }
    }

    /// Closes every connection the server accepted and still serves, at
    /// once: buffered bytes are dropped and the socket is reset (the peer
    /// reads `ECONNRESET`, not an EOF that could pass for the end of a
    /// complete reply). Python 3.13: `server.abort_clients()` (whose
    /// `transport.abort()` may end with a FIN); the force after a graceful
    /// close that took too long:
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio_net::{Protocol, ServerOptions, TcpStream, Transport, create_server};
    ///
    /// /// Answers anything with 8 MiB, more than a peer's socket buffers hold.
    /// struct Flood(Option<Transport>);
    /// impl Protocol for Flood {
    ///     fn connection_made(&mut self, t: Transport) { self.0 = Some(t) }
    ///     fn data_received(&mut self, _: &[u8]) {
    ///         self.0.as_ref().unwrap().write(&vec![0; 8 << 20]).unwrap();
    ///     }
    /// }
    ///
    /// corio_executor::run(async {
    ///     let server = create_server(|| Flood(None), "127.0.0.1", 0, ServerOptions::default()).await?;
    ///     let port = server.addresses()[0].port();
    ///     let client = TcpStream::connect("127.0.0.1", port).await?;
    ///     client.send_all(b"go").await?; // and never read
    ///
    ///     server.close();
    ///     server.close_clients(); // flush, then close: waits on the reader
    ///     let grace = Duration::from_millis(200);
    ///     if corio_executor::timeout(grace, server.wait_closed()).await.is_err() {
    ///         server.abort_clients();
    ///         server.wait_closed().await;
    ///     }
    ///     // What the client had not read yet is gone; it sees the reset.
    ///     let mut buf = vec![0; 64 * 1024];
    ///     let end = loop {
    ///         match client.recv(&mut buf).await {
    ///             Ok(0) => break None,
    ///             Ok(_) => continue,
    ///             Err(e) => break Some(e.kind()),
    ///         }
    ///     };
    ///     assert_eq!(end, Some(std::io::ErrorKind::ConnectionReset));
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort_clients(&self) {
        self.reset_clients();
    }

    /// `abort_clients`, telling how many connections it ended (those whose
    /// `connection_lost` was not already on its way).
    fn reset_clients(&self) -> usize {
        let mut ended = 0;
        for transport in self.clients() {
            ended += usize::from(!transport.is_lost());
            transport.reset();
        }
        ended
    }

    /// Connections open now (accepted, `connection_lost` not yet come):
    /// with one server per loop on a shared port, how the kernel spread
    /// them. Python: `len(server._clients)` (private in asyncio).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{open_connection, start_server};
    ///
    /// corio_executor::run(async {
    ///     let server = start_server(|reader, writer| async move {
    ///         let _ = reader.read(-1).await; // until the client's EOF
    ///         drop(writer);
    ///     }, "127.0.0.1", 0).await?;
    ///     let (_r, writer) = open_connection("127.0.0.1", server.addresses()[0].port()).await?;
    ///     while server.connection_count() == 0 {
    ///         corio_executor::yield_now().await;
    ///     }
    ///     assert_eq!(server.connection_count(), 1);
    ///     drop(writer);
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn connection_count(&self) -> usize {
        self.inner.active.get()
    }

    /// True while accepting. Python: `server.is_serving()`.
    pub fn is_serving(&self) -> bool {
        self.inner.serving.get()
    }

    /// The bound IP addresses (none once closed, none for a Unix server).
    /// Python: `[s.getsockname() for s in server.sockets]`.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.inner
            .listeners
            .borrow()
            .iter()
            .filter_map(|l| l.local_addr().ok()?.as_inet())
            .collect()
    }

    /// A Unix server's socket path while it listens (`None` once closed
    /// and for a TCP server). Python: `server.sockets[0].getsockname()`.
    pub fn path(&self) -> Option<PathBuf> {
        let listeners = self.inner.listeners.borrow();
        let addr = listeners.first()?.local_addr().ok()?;
        addr.as_unix_path().map(Path::to_path_buf)
    }

    /// Waits until the server is closed and every connection it accepted
    /// is gone. Python: `await server.wait_closed()` (3.12 semantics).
    ///
    /// Each call waits on an entry of its own (asyncio's `_waiters` hold
    /// one future per call), so a cancelled wait (a
    /// `wait_for(server.wait_closed(), ..)` timing out) affects no other.
    /// Differs in what a given-up wait leaves: nothing (asyncio keeps its
    /// cancelled future in `_waiters` until the server is done); polling
    /// one wait again replaces its entry. Returns at once when the loop is
    /// closed or gone, since nothing could end the wait then.
    pub async fn wait_closed(&self) {
        let inner = &*self.inner;
        let mut entry = WaitEntry::new(&inner.closed_waiters);
        poll_fn(|cx| {
            if inner.all_gone.get() || self.lp().is_none() {
                return Poll::Ready(());
            }
            entry.register(cx.waker());
            Poll::Pending
        })
        .await;
    }

    /// Graceful, then by force: [`close`](Self::close) (no new
    /// connections), then [`wait_closed`](Self::wait_closed) for at most
    /// `grace` while the open connections end on their own; those still
    /// open then are reset with [`abort_clients`](Self::abort_clients),
    /// and it waits for them. Returns how many this call aborted (0: all
    /// ended in time; a connection ending on its own meanwhile, or aborted
    /// by another call, is not counted).
    ///
    /// asyncio has no single call: this is the shutdown recipe of its
    /// 3.13 documentation (`close()`, `wait_closed()` under a timeout,
    /// `abort_clients()`), which every service writes; compat's
    /// `HttpServer::shutdown` is the same for HTTP. To have the
    /// connections told first (a protocol's goodbye, a stream handler's
    /// `EOF`), do it before calling this, or call
    /// [`close_clients`](Self::close_clients) for a half-close. Call it
    /// from a task of its own (a signal handler's, `main`'s): awaited in a
    /// connection's own handler, it waits out the grace for that very
    /// connection, then aborts it.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio_net::{open_connection, start_server};
    ///
    /// corio_executor::run(async {
    ///     // A handler that waits for the client's EOF, which never comes.
    ///     let server = start_server(|reader, writer| async move {
    ///         let _ = reader.read(-1).await;
    ///         drop(writer);
    ///     }, "127.0.0.1", 0).await?;
    ///     let port = server.addresses()[0].port();
    ///     let (reader, _writer) = open_connection("127.0.0.1", port).await?;
    ///     while server.connection_count() == 0 {
    ///         corio_executor::yield_now().await;
    ///     }
    ///     let aborted = server.shutdown(Duration::from_millis(50)).await;
    ///     assert_eq!(aborted, 1);
    ///     assert!(reader.read(-1).await.is_err()); // reset by the server
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// Serves until closed. Python: `await server.serve_forever()`;
    /// dropping the future (a cancelled task) closes the server, as
    /// asyncio's cancellation does.
    ///
    /// # Errors
    /// As [`start_serving`](Self::start_serving).
    pub async fn serve_forever(&self) -> io::Result<()> {
        self.start_serving()?;
        let guard = CloseOnDrop(self.clone());
        self.inner.stopped.clone().await.ok();
        drop(guard);
        Ok(())
    }
}

/// Closes the server if `serve_forever` is dropped before it ends.
struct CloseOnDrop(Server);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addresses", &self.addresses())
            .field("serving", &self.is_serving())
            .field("active", &self.inner.active.get())
            .finish()
    }
}

#[cfg(test)]
mod wait_closed_waiters {
    use std::future::Future as _;
    use std::pin::pin;
    use std::task::{Context, Waker};
    use std::time::Duration;

    use corio_executor::{timeout, yield_now};

    use super::*;
    use crate::TcpStream;

    struct Idle;
    impl Protocol for Idle {}

    impl Server {
        /// How many `wait_closed` calls have an entry.
        fn wait_closed_entries(&self) -> usize {
            self.inner.closed_waiters.borrow().len()
        }
    }

    /// `wait_closed` futures polled once and dropped leave no entry behind,
    /// one polled again and again holds one, and it still ends when the
    /// last connection goes.
    #[test]
    fn abandoned_waits_leave_no_entry_and_repeated_polls_hold_one() {
        corio_executor::run(async {
            let server = create_server(|| Idle, "127.0.0.1", 0, ServerOptions::default()).await?;
            let port = server.addresses()[0].port();
            let client = TcpStream::connect("127.0.0.1", port).await?;
            while server.inner.active.get() == 0 {
                yield_now().await;
            }
            server.close(); // one connection still open
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..10_000 {
                let wait = pin!(server.wait_closed());
                assert!(wait.poll(&mut cx).is_pending());
            }
            assert_eq!(server.wait_closed_entries(), 0);
            let mut wait = Box::pin(server.wait_closed());
            for _ in 0..1000 {
                assert!(wait.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!(server.wait_closed_entries(), 1);
            drop(client);
            timeout(Duration::from_secs(5), wait)
                .await
                .expect("wait_closed after the last connection");
            assert_eq!(server.wait_closed_entries(), 0);
            io::Result::Ok(())
        })
        .unwrap()
        .unwrap();
    }
}
