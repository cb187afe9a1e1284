//! Transports and protocols: asyncio's callback layer, on which streams
//! stand.
//!
//! A [`Transport`] owns a connected socket (or one end of a pipe, for a
//! child process's stdio) and keeps **one** registration
//! on the loop for its whole life, as asyncio's `_SelectorSocketTransport`
//! does: the reader callback stays on while reading is not paused, and the
//! writer callback is on only while the write buffer holds bytes. A message
//! that is read and answered at once costs one `recv` and one `send`, no
//! `epoll_ctl`.
//!
//! The protocol is called from the loop's callbacks, never from inside
//! another of its own callbacks: a transport method that must tell the
//! protocol something while the protocol is busy (a `write` inside
//! `data_received` crossing the high-water mark) schedules the call with
//! `call_soon`, and `connection_lost` always comes from `call_soon`, as in
//! asyncio.

mod connect;
mod endpoint;
mod protocol;
mod tls;
mod write;

use std::cell::RefCell;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::rc::{Rc, Weak};

use corio_executor::{EventLoop, WeakLoop, get_running_loop};

use crate::callee::Callee;
use crate::flow::FlowControl;
use crate::ready::try_again;
use crate::socket::Socket;
use crate::sys;

pub use connect::{
    create_connection, create_connection_with, create_unix_connection, create_unix_connection_with,
};
pub(crate) use endpoint::Endpoint;
pub use protocol::Protocol;
pub use tls::start_tls;

/// How much one `recv` asks for (asyncio's `max_size` is 256 KiB).
const READ_SIZE: usize = 64 * 1024;

/// A stream transport: a connected socket plus its buffers.
///
/// Mirrors `asyncio.Transport` (`_SelectorSocketTransport`). Cloning gives
/// another handle to the same transport. Differs from asyncio in that
/// [`write`](Self::write) after [`close`](Self::close) is an error (asyncio
/// drops the bytes silently).
#[derive(Clone)]
pub struct Transport {
    pub(super) inner: Rc<Inner>,
}

pub(super) struct Inner {
    /// Held weakly: a transport never keeps its loop alive. Gone or
    /// closed, the transport closes its fd without calling anyone.
    pub(super) lp: WeakLoop,
    /// The loop's read buffer, looked up once per connection.
    pub(super) scratch: Rc<ReadBuffer>,
    pub(super) protocol: Callee<dyn Protocol>,
    pub(super) state: RefCell<State>,
    /// Run after `connection_lost` (a server counts its connections).
    pub(super) on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
    /// The TLS layer, when the connection runs TLS (`crate::tls`).
    pub(super) tls: RefCell<Option<tls::TlsLayer>>,
}

pub(super) struct State {
    /// `None` once the connection is lost (the fd is closed then).
    pub(super) endpoint: Option<Endpoint>,
    /// Bytes accepted by `write` and not yet sent; `sent` of them are gone.
    pub(super) buffer: Vec<u8>,
    pub(super) sent: usize,
    /// `close()` was called (Python: `_closing`).
    pub(super) closing: bool,
    /// `write_eof()` was called.
    pub(super) eof: bool,
    pub(super) reading_paused: bool,
    /// The write buffer's water marks (asyncio's `_FlowControlMixin`).
    pub(super) flow: FlowControl,
    /// The writer callback is registered.
    pub(super) writing: bool,
    /// `connection_lost` is scheduled or done.
    pub(super) lost: bool,
    /// What ended the connection when it failed (not closed by us).
    pub(super) failure: Option<io::ErrorKind>,
    pub(super) peer: Option<SocketAddr>,
    pub(super) local: Option<SocketAddr>,
}

/// The loop's scratch buffer for transport reads (stream and datagram).
pub(crate) struct ReadBuffer(pub(crate) RefCell<Vec<u8>>);

impl ReadBuffer {
    /// The running loop's buffer, made on first use.
    pub(crate) fn of(lp: &EventLoop) -> Rc<ReadBuffer> {
        lp.extension(|| ReadBuffer(RefCell::new(vec![0; READ_SIZE])))
    }
}

impl crate::live::Release for Inner {
    fn release(&self) {
        let endpoint = {
            let mut state = self.state.borrow_mut();
            state.lost = true;
            state.closing = true;
            state.buffer = Vec::new();
            state.sent = 0;
            state.endpoint.take()
        };
        let tls = self.tls.take();
        // Out of every borrow: the protocol's destructor may use its
        // transport (whose every call now finds it lost).
        let protocol = self.protocol.take();
        let hook = self.on_lost.take();
        drop((endpoint, protocol, hook, tls));
    }
}

impl Drop for Inner {
    /// A transport dropped without `connection_lost`: a protocol that
    /// paused reading kept no handle, so nothing held the connection and
    /// its socket closes with it (asyncio's transport, garbage-collected,
    /// does the same). Whoever counts connections (a server's `on_lost`)
    /// still hears of the end; the protocol is not called. After a
    /// `connection_lost`, and after the loop's close (`release`), the hook
    /// is gone already.
    fn drop(&mut self) {
        if let Some(hook) = self.on_lost.get_mut().take() {
            hook();
        }
    }
}

impl State {
    pub(super) fn pending(&self) -> usize {
        self.buffer.len() - self.sent
    }

    pub(super) fn fd(&self) -> Option<RawFd> {
        self.endpoint.as_ref().map(Endpoint::raw)
    }
}

/// Watches `fd` for writing on `lp` (a transport's or endpoint's loop,
/// `None` once it is closed or gone): the error a transport fails with.
pub(crate) fn add_writer(
    lp: Option<EventLoop>,
    fd: RawFd,
    writer: impl Fn() + 'static,
) -> io::Result<()> {
    let lp = lp.ok_or_else(|| io::Error::other("Event loop is closed"))?;
    lp.add_writer(fd, writer)
        .map_err(|e| io::Error::other(e.to_string()))
}

impl Transport {
    /// Wraps a connected socket (or a pipe end), registers its reader and
    /// tells the protocol `connection_made`.
    pub(crate) fn start(
        lp: &EventLoop,
        endpoint: impl Into<Endpoint>,
        protocol: Rc<RefCell<dyn Protocol>>,
    ) -> io::Result<Transport> {
        Transport::start_with(lp, endpoint, protocol, None)
    }

    /// [`start`](Self::start), with a TLS layer when `tls` is given: the
    /// protocol is then told `connection_made` once the handshake is done
    /// (asyncio's `SSLProtocol._on_handshake_complete`).
    pub(crate) fn start_with(
        lp: &EventLoop,
        endpoint: impl Into<Endpoint>,
        protocol: Rc<RefCell<dyn Protocol>>,
        tls: Option<crate::tls::TlsStart>,
    ) -> io::Result<Transport> {
        let endpoint = endpoint.into();
        let (peer, local) = match &endpoint {
            Endpoint::Socket(socket) => (
                socket.peer_addr().ok().and_then(|a| a.as_inet()),
                socket.local_addr().ok().and_then(|a| a.as_inet()),
            ),
            _ => (None, None),
        };
        let transport = Transport {
            inner: Rc::new(Inner {
                lp: lp.downgrade(),
                scratch: ReadBuffer::of(lp),
                protocol: Callee::new(lp, protocol),
                state: RefCell::new(State {
                    endpoint: Some(endpoint),
                    buffer: Vec::new(),
                    sent: 0,
                    closing: false,
                    eof: false,
                    reading_paused: false,
                    flow: FlowControl::default(),
                    writing: false,
                    lost: false,
                    failure: None,
                    peer,
                    local,
                }),
                on_lost: RefCell::new(None),
                tls: RefCell::new(None),
            }),
        };
        let weak = Rc::downgrade(&transport.inner);
        transport
            .inner
            .protocol
            .set_on_panic(Rc::new(move |error: io::Error| {
                if let Some(inner) = weak.upgrade() {
                    Transport { inner }.fatal_error(error);
                }
            }));
        crate::live::register(lp, &transport.inner);
        transport.add_reader()?;
        if let Some(tls) = tls {
            transport.install_tls(tls, true);
            return Ok(transport);
        }
        // Before anything else can reach the protocol (asyncio schedules it
        // and makes `create_connection` wait for it: the same order).
        let handle = transport.clone();
        transport.tell(move |p| p.connection_made(handle));
        Ok(transport)
    }

    pub(super) fn fd(&self) -> Option<RawFd> {
        self.inner.state.borrow().fd()
    }

    /// The loop, while it exists and is not closed.
    pub(super) fn lp(&self) -> Option<EventLoop> {
        self.inner.lp.upgrade().filter(|lp| !lp.is_closed())
    }

    pub(super) fn add_reader(&self) -> io::Result<()> {
        let Some(fd) = self.fd() else { return Ok(()) };
        let lp = self
            .lp()
            .ok_or_else(|| io::Error::other("Event loop is closed"))?;
        let me = self.clone();
        lp.add_reader(fd, move || me.read_ready())
            .map_err(|e| io::Error::other(e.to_string()))
    }

    pub(super) fn remove_reader(&self) {
        if let (Some(fd), Some(lp)) = (self.fd(), self.lp()) {
            lp.remove_reader(fd);
        }
    }

    /// Calls the protocol now, or soon if it is busy in one of its own
    /// callbacks (so no callback is ever re-entered).
    pub(super) fn tell(&self, f: impl FnOnce(&mut dyn Protocol) + 'static) {
        self.inner.protocol.tell(f);
    }

    /// The reader callback (asyncio's `_read_ready`): one `recv`, into the
    /// loop's shared scratch buffer (one per loop, not one per connection:
    /// callbacks never overlap, and the protocol gets a borrowed slice).
    pub(super) fn read_ready(&self) {
        let mut buf = self.inner.scratch.0.borrow_mut();
        let outcome = {
            let state = self.inner.state.borrow();
            match &state.endpoint {
                None => return,
                Some(Endpoint::WritePipe(_)) => {
                    // The pipe's reader is gone: nothing written can be
                    // delivered any more (asyncio: `BrokenPipeError`).
                    drop(state);
                    drop(buf);
                    self.fatal_error(io::Error::new(
                        io::ErrorKind::BrokenPipe,
                        "the pipe's reading end was closed",
                    ));
                    return;
                }
                Some(endpoint) => endpoint.read(&mut buf),
            }
        };
        match outcome {
            Err(e) if try_again(&e) => {}
            Err(e) => self.fatal_error(e),
            Ok(0) if self.has_tls() => {
                drop(buf);
                self.tls_eof();
            }
            Ok(n) if self.has_tls() => self.tls_received(&buf[..n]),
            Ok(0) => {
                drop(buf);
                self.remove_reader();
                let me = self.clone();
                self.tell(move |p| {
                    if !p.eof_received() {
                        me.close();
                    }
                });
            }
            Ok(n) => {
                let data = &buf[..n];
                if self.inner.protocol.now(|p| p.data_received(data)).is_none() {
                    let data = data.to_vec();
                    self.tell(move |p| p.data_received(&data));
                }
            }
        }
    }

    /// Closes the transport once the buffered data is sent; the protocol's
    /// `connection_lost(None)` follows. Python: `transport.close()`.
    pub fn close(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing {
            return;
        }
        state.closing = true;
        drop(state);
        if self.has_tls() {
            self.tls_close_notify(true);
        }
        let drained = self.inner.state.borrow().pending() == 0;
        self.remove_reader();
        if drained {
            self.schedule_connection_lost(None);
        }
    }

    /// Closes at once, dropping buffered data. Python: `transport.abort()`.
    pub fn abort(&self) {
        self.force_close(None);
    }

    /// [`abort`](Self::abort) with a reset: the socket closes with
    /// `SO_LINGER` 0, so the peer reads `ECONNRESET` rather than an EOF
    /// that could pass for the end of a complete reply (a server's
    /// `abort_clients`).
    pub(crate) fn reset(&self) {
        if let Some(Endpoint::Socket(socket)) = &self.inner.state.borrow().endpoint
            && let Err(e) = sys::set_linger(socket.fd(), Some(std::time::Duration::ZERO))
        {
            drop(e); // the abort below still closes it, with a FIN
        }
        self.abort();
    }

    /// `connection_lost` is scheduled or done: the connection is over.
    pub(crate) fn is_lost(&self) -> bool {
        self.inner.state.borrow().lost
    }

    /// A handle that does not keep the transport alive (asyncio's
    /// `Server._clients` is a `WeakSet` of transports).
    pub(crate) fn downgrade(&self) -> WeakTransport {
        WeakTransport(Rc::downgrade(&self.inner))
    }

    /// True once closing (or lost). Python: `is_closing()`.
    pub fn is_closing(&self) -> bool {
        let state = self.inner.state.borrow();
        state.closing || state.lost
    }

    /// Stops reading until [`resume_reading`](Self::resume_reading).
    /// Python: `pause_reading()`.
    pub fn pause_reading(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing || state.reading_paused {
            return;
        }
        state.reading_paused = true;
        drop(state);
        self.remove_reader();
    }

    /// Reads again after [`pause_reading`](Self::pause_reading).
    /// Python: `resume_reading()`.
    pub fn resume_reading(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing || !state.reading_paused {
            return;
        }
        state.reading_paused = false;
        drop(state);
        if let Err(e) = self.add_reader() {
            self.fatal_error(e);
        }
    }

    /// True while reading is on. Python: `is_reading()`.
    pub fn is_reading(&self) -> bool {
        let state = self.inner.state.borrow();
        !state.reading_paused && !state.closing && !state.lost
    }

    /// The peer's address (`None` for Unix sockets). Python:
    /// `get_extra_info('peername')`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().peer
    }

    /// This end's address. Python: `get_extra_info('sockname')`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().local
    }

    /// The socket's (or pipe end's) file descriptor while the transport
    /// is open, for socket options the transport does not wrap (`None`
    /// once it is closed). Python: `get_extra_info('socket')`; differs in
    /// giving the bare fd, which the transport still owns: set options on
    /// it, but do not close it or read and write around the transport.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::open_connection;
    ///
    /// corio_executor::run(async {
    ///     let listener = corio_net::TcpListener::bind("127.0.0.1", 0).await?;
    ///     let port = listener.local_addr()?.port();
    ///     let (_reader, writer) = open_connection("127.0.0.1", port).await?;
    ///     let fd = writer.transport().as_raw_fd().expect("open");
    ///     assert!(fd >= 0);
    ///     writer.close();
    ///     writer.wait_closed().await?;
    ///     assert_eq!(writer.transport().as_raw_fd(), None);
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn as_raw_fd(&self) -> Option<RawFd> {
        self.inner.state.borrow().fd()
    }

    /// asyncio's `_fatal_error`: close at once with the error.
    pub(super) fn fatal_error(&self, err: io::Error) {
        let mut state = self.inner.state.borrow_mut();
        if !state.lost {
            state.failure = Some(err.kind());
        }
        drop(state);
        self.force_close(Some(err));
    }

    pub(super) fn force_close(&self, err: Option<io::Error>) {
        let mut state = self.inner.state.borrow_mut();
        if state.lost {
            return;
        }
        state.closing = true;
        state.buffer.clear();
        state.sent = 0;
        let writing = std::mem::take(&mut state.writing);
        let fd = state.fd();
        drop(state);
        if let (Some(fd), Some(lp)) = (fd, self.lp()) {
            lp.remove_reader(fd);
            if writing {
                lp.remove_writer(fd);
            }
        }
        self.schedule_connection_lost(err);
    }

    /// Schedules `connection_lost` once; the socket is closed right after
    /// the protocol is told, as asyncio's `_call_connection_lost` does.
    pub(super) fn schedule_connection_lost(&self, err: Option<io::Error>) {
        let mut state = self.inner.state.borrow_mut();
        if state.lost {
            return;
        }
        state.lost = true;
        drop(state);
        self.tls_connection_lost();
        let Some(lp) = self.lp() else {
            // The loop is closed or gone: nobody may be called any more.
            crate::live::Release::release(&*self.inner);
            return;
        };
        let me = self.clone();
        lp.call_soon(move || {
            let endpoint = me.inner.state.borrow_mut().endpoint.take();
            if let (Some(endpoint), Some(lp)) = (&endpoint, me.lp()) {
                lp.remove_reader(endpoint.raw());
                lp.remove_writer(endpoint.raw());
            }
            // Taken out first: the protocol may drop its transport handle.
            let protocol = me.inner.protocol.take();
            match protocol {
                // A TLS connection whose handshake never finished: its
                // protocol was never connected, so it is not told either.
                Some(_) if me.protocol_unannounced() => me.report_failed_handshake(err),
                Some(protocol) => protocol.borrow_mut().connection_lost(err),
                None => {}
            }
            drop(endpoint);
            if let Some(hook) = me.inner.on_lost.take() {
                hook();
            }
        });
    }

    /// Runs `hook` once the connection is lost (after `connection_lost`).
    pub(crate) fn on_lost(&self, hook: impl FnOnce() + 'static) {
        *self.inner.on_lost.borrow_mut() = Some(Box::new(hook));
    }
}

/// A [`Transport`] held weakly; see [`Transport::downgrade`].
pub(crate) struct WeakTransport(Weak<Inner>);

impl WeakTransport {
    /// The transport, while anyone else holds it.
    pub(crate) fn upgrade(&self) -> Option<Transport> {
        self.0.upgrade().map(|inner| Transport { inner })
    }
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("Transport")
            .field("fd", &state.fd())
            .field("peer", &state.peer)
            .field("closing", &state.closing)
            .field("buffered", &state.pending())
            .finish()
    }
}
