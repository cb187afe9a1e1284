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

/// How much one `recv` asks for (asyncio's `max_size` is 256 KiB).
const READ_SIZE: usize = 64 * 1024;

/// The callbacks of a stream connection. Mirrors `asyncio.Protocol`; every
/// method has asyncio's default (do nothing; `eof_received` closes).
pub trait Protocol: 'static {
    /// The connection is up; keep `transport` to write. Python:
    /// `connection_made(transport)`.
    fn connection_made(&mut self, transport: Transport) {
        drop(transport);
    }

    /// Bytes arrived. Python: `data_received(data)`.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer closed its writing half. Return true to keep the transport
    /// open (to keep writing), false to close it. Python: `eof_received()`.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a clean close or EOF, the error
    /// otherwise. Called exactly once. Python: `connection_lost(exc)`.
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        drop(exc);
    }

    /// The write buffer went over the high-water mark. Python:
    /// `pause_writing()`.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low-water mark. Python:
    /// `resume_writing()`.
    fn resume_writing(&mut self) {}
}

/// A stream transport: a connected socket plus its buffers.
///
/// Mirrors `asyncio.Transport` (`_SelectorSocketTransport`). Cloning gives
/// another handle to the same transport. Differs from asyncio in that
/// [`write`](Self::write) after [`close`](Self::close) is an error (asyncio
/// drops the bytes silently).
#[derive(Clone)]
pub struct Transport {
    inner: Rc<Inner>,
}

struct Inner {
    /// Held weakly: a transport never keeps its loop alive. Gone or
    /// closed, the transport closes its fd without calling anyone.
    lp: WeakLoop,
    /// The loop's read buffer, looked up once per connection.
    scratch: Rc<ReadBuffer>,
    protocol: Callee<dyn Protocol>,
    state: RefCell<State>,
    /// Run after `connection_lost` (a server counts its connections).
    on_lost: RefCell<Option<Box<dyn FnOnce()>>>,
}

struct State {
    /// `None` once the connection is lost (the fd is closed then).
    endpoint: Option<Endpoint>,
    /// Bytes accepted by `write` and not yet sent; `sent` of them are gone.
    buffer: Vec<u8>,
    sent: usize,
    /// `close()` was called (Python: `_closing`).
    closing: bool,
    /// `write_eof()` was called.
    eof: bool,
    reading_paused: bool,
    /// The write buffer's water marks (asyncio's `_FlowControlMixin`).
    flow: FlowControl,
    /// The writer callback is registered.
    writing: bool,
    /// `connection_lost` is scheduled or done.
    lost: bool,
    /// What ended the connection when it failed (not closed by us).
    failure: Option<io::ErrorKind>,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
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
        // Out of every borrow: the protocol's destructor may use its
        // transport (whose every call now finds it lost).
        let protocol = self.protocol.take();
        let hook = self.on_lost.take();
        drop((endpoint, protocol, hook));
    }
}

impl State {
    fn pending(&self) -> usize {
        self.buffer.len() - self.sent
    }

    fn fd(&self) -> Option<RawFd> {
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

/// What a transport moves its bytes through.
#[derive(Debug)]
pub(crate) enum Endpoint {
    /// A connected stream socket: `recv` / `send`; `write_eof` is
    /// `shutdown(SHUT_WR)`. asyncio: `_SelectorSocketTransport`.
    Socket(Socket),
    /// The read end of a pipe (a child's stdout or stderr): `read`, and
    /// never written. asyncio: `_UnixReadPipeTransport`.
    ReadPipe(OwnedFd),
    /// The write end of a pipe (a child's stdin): `write`. A pipe cannot
    /// half-close, so `write_eof` closes it. Its reader callback does not
    /// read: the selector reports the write end "readable" (`EPOLLERR`)
    /// only once the far end is closed. asyncio: `_UnixWritePipeTransport`.
    ///
    /// Writing to a pipe nobody reads raises `SIGPIPE`, which a Rust
    /// program ignores from the start (Rust's runtime sets it to
    /// `SIG_IGN` before `main`), so the write fails with `EPIPE` instead,
    /// as Python's does.
    WritePipe(OwnedFd),
}

impl From<Socket> for Endpoint {
    fn from(socket: Socket) -> Endpoint {
        Endpoint::Socket(socket)
    }
}

impl Endpoint {
    fn raw(&self) -> RawFd {
        match self {
            Endpoint::Socket(socket) => socket.raw(),
            Endpoint::ReadPipe(fd) | Endpoint::WritePipe(fd) => fd.as_raw_fd(),
        }
    }

    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Endpoint::Socket(socket) => sys::recv(socket.fd(), buf, 0),
            Endpoint::ReadPipe(fd) => sys::read(fd.as_fd(), buf),
            Endpoint::WritePipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the write end of a pipe cannot be read",
            )),
        }
    }

    fn write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Endpoint::Socket(socket) => sys::send(socket.fd(), data),
            Endpoint::WritePipe(fd) => sys::write(fd.as_fd(), data),
            Endpoint::ReadPipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the read end of a pipe cannot be written",
            )),
        }
    }

    fn is_pipe(&self) -> bool {
        !matches!(self, Endpoint::Socket(_))
    }
}

impl Transport {
    /// Wraps a connected socket (or a pipe end), registers its reader and
    /// tells the protocol `connection_made`.
    pub(crate) fn start(
        lp: &EventLoop,
        endpoint: impl Into<Endpoint>,
        protocol: Rc<RefCell<dyn Protocol>>,
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
        // Before anything else can reach the protocol (asyncio schedules it
        // and makes `create_connection` wait for it: the same order).
        let handle = transport.clone();
        transport.tell(move |p| p.connection_made(handle));
        Ok(transport)
    }

    fn fd(&self) -> Option<RawFd> {
        self.inner.state.borrow().fd()
    }

    /// The loop, while it exists and is not closed.
    fn lp(&self) -> Option<EventLoop> {
        self.inner.lp.upgrade().filter(|lp| !lp.is_closed())
    }

    fn add_reader(&self) -> io::Result<()> {
        let Some(fd) = self.fd() else { return Ok(()) };
        let lp = self
            .lp()
            .ok_or_else(|| io::Error::other("Event loop is closed"))?;
        let me = self.clone();
        lp.add_reader(fd, move || me.read_ready())
            .map_err(|e| io::Error::other(e.to_string()))
    }

    fn remove_reader(&self) {
        if let (Some(fd), Some(lp)) = (self.fd(), self.lp()) {
            lp.remove_reader(fd);
        }
    }

    /// Calls the protocol now, or soon if it is busy in one of its own
    /// callbacks (so no callback is ever re-entered).
    fn tell(&self, f: impl FnOnce(&mut dyn Protocol) + 'static) {
        self.inner.protocol.tell(f);
    }

    /// The reader callback (asyncio's `_read_ready`): one `recv`, into the
    /// loop's shared scratch buffer (one per loop, not one per connection:
    /// callbacks never overlap, and the protocol gets a borrowed slice).
    fn read_ready(&self) {
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

    /// Writes `data`, never blocking: what the socket does not take now is
    /// buffered and sent when it is writable. Python: `transport.write(data)`.
    ///
    /// # Errors
    /// `NotConnected` after [`close`](Self::close) or
    /// [`write_eof`](Self::write_eof), or once the connection is lost;
    /// once it failed, the kind of its error (`ConnectionReset`,
    /// `BrokenPipe` when a child closed its stdin, ...).
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        let mut state = self.inner.state.borrow_mut();
        if let Some(kind) = state.failure {
            return Err(io::Error::new(
                kind,
                format!("write after the connection failed ({kind})"),
            ));
        }
        if state.closing || state.eof || state.lost {
            let why = if state.eof { "write_eof" } else { "close" };
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("write after {why}: the transport no longer takes data"),
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        let mut rest = data;
        if state.pending() == 0 {
            let Some(endpoint) = &state.endpoint else {
                return Ok(());
            };
            match endpoint.write(data) {
                Ok(n) => rest = &data[n..],
                Err(e) if try_again(&e) => {}
                Err(e) => {
                    drop(state);
                    self.fatal_error(e);
                    return Ok(());
                }
            }
        }
        if rest.is_empty() {
            return Ok(());
        }
        state.buffer.extend_from_slice(rest);
        let start_writer = !state.writing;
        state.writing = true;
        let buffered = state.pending();
        let pause = state.flow.pause_due(buffered);
        let fd = state.fd();
        drop(state);
        if start_writer && let Some(fd) = fd {
            let me = self.clone();
            if let Err(e) = add_writer(self.lp(), fd, move || me.write_ready()) {
                self.fatal_error(e);
            }
        }
        if pause {
            self.tell(|p| p.pause_writing());
        }
        Ok(())
    }

    /// Writes each buffer in turn. Python: `transport.writelines(list)`.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        data.into_iter().try_for_each(|chunk| self.write(chunk))
    }

    /// The writer callback (asyncio's `_write_ready`).
    fn write_ready(&self) {
        let mut state = self.inner.state.borrow_mut();
        let Some(endpoint) = &state.endpoint else {
            return;
        };
        let fd = endpoint.raw();
        let outcome = endpoint.write(&state.buffer[state.sent..]);
        match outcome {
            Err(e) if try_again(&e) => {}
            Err(e) => {
                drop(state);
                self.fatal_error(e);
            }
            Ok(n) => {
                state.sent += n;
                if state.pending() > 0 {
                    // Compact once the sent prefix is most of the buffer.
                    if state.sent > state.buffer.len() / 2 {
                        let sent = state.sent;
                        state.buffer.drain(..sent);
                        state.sent = 0;
                    }
                } else {
                    state.buffer.clear();
                    state.sent = 0;
                    state.writing = false;
                    if let Some(lp) = self.lp() {
                        lp.remove_writer(fd);
                    }
                }
                let buffered = state.pending();
                let resume = state.flow.resume_due(buffered);
                let drained = state.pending() == 0;
                let (closing, eof) = (state.closing, state.eof);
                drop(state);
                if resume {
                    self.tell(|p| p.resume_writing());
                }
                if drained && closing {
                    self.schedule_connection_lost(None);
                } else if drained && eof {
                    self.shutdown_write();
                }
            }
        }
    }

    fn shutdown_write(&self) {
        let state = self.inner.state.borrow();
        if let Some(Endpoint::Socket(socket)) = &state.endpoint
            && let Err(e) = socket.shutdown(Shutdown::Write)
        {
            drop(state);
            self.fatal_error(e);
        }
    }

    /// Closes the writing half once the buffer is sent (the peer reads
    /// EOF); reading goes on. Python: `transport.write_eof()`.
    pub fn write_eof(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing || state.eof {
            return;
        }
        state.eof = true;
        let drained = state.pending() == 0;
        let pipe = state.endpoint.as_ref().is_some_and(Endpoint::is_pipe);
        drop(state);
        if pipe {
            // A pipe's only EOF is its close (once the buffer is written).
            self.close();
        } else if drained {
            self.shutdown_write();
        }
    }

    /// True for TCP and Unix stream sockets (they half-close) and for the
    /// write end of a pipe (closing it is its EOF); false for the read end
    /// of a pipe. Python: `can_write_eof()`.
    pub fn can_write_eof(&self) -> bool {
        let state = self.inner.state.borrow();
        !matches!(state.endpoint, Some(Endpoint::ReadPipe(_)))
    }

    /// Closes the transport once the buffered data is sent; the protocol's
    /// `connection_lost(None)` follows. Python: `transport.close()`.
    pub fn close(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing {
            return;
        }
        state.closing = true;
        let drained = state.pending() == 0;
        drop(state);
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

    /// Bytes buffered, not yet sent. Python: `get_write_buffer_size()`.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.state.borrow().pending()
    }

    /// Sets the water marks; `low` defaults to `high / 4`. Python:
    /// `set_write_buffer_limits(high, low)`.
    ///
    /// # Errors
    /// `InvalidInput` when `low > high`.
    pub fn set_write_buffer_limits(&self, high: usize, low: Option<usize>) -> io::Result<()> {
        self.inner.state.borrow_mut().flow.set_limits(high, low)
    }

    /// The water marks `(low, high)`. Python: `get_write_buffer_limits()`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.state.borrow().flow.limits()
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
    fn fatal_error(&self, err: io::Error) {
        let mut state = self.inner.state.borrow_mut();
        if !state.lost {
            state.failure = Some(err.kind());
        }
        drop(state);
        self.force_close(Some(err));
    }

    fn force_close(&self, err: Option<io::Error>) {
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
    fn schedule_connection_lost(&self, err: Option<io::Error>) {
        let mut state = self.inner.state.borrow_mut();
        if state.lost {
            return;
        }
        state.lost = true;
        drop(state);
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
            if let Some(protocol) = protocol {
                protocol.borrow_mut().connection_lost(err);
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

/// Connects to `host:port` and runs the protocol made by `factory` on the
/// connection. Mirrors `loop.create_connection(protocol_factory, host,
/// port)`, returning `(transport, protocol)`.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use corio_net::{Protocol, Transport, TcpListener, create_connection};
///
/// #[derive(Default)]
/// struct Collect(Vec<u8>, bool);
/// impl Protocol for Collect {
///     fn data_received(&mut self, data: &[u8]) { self.0.extend_from_slice(data) }
///     fn connection_lost(&mut self, _: Option<std::io::Error>) { self.1 = true }
/// }
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let (transport, protocol) = create_connection(Collect::default, "127.0.0.1", port).await?;
///     let (server_side, _) = listener.accept().await?;
///     server_side.send_all(b"hello").await?;
///     drop(server_side); // EOF: eof_received() says close
///     while !protocol.borrow().1 {
///         corio_executor::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(protocol.borrow().0, b"hello");
///     assert!(transport.is_closing());
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`TcpStream::connect`](crate::TcpStream::connect); `Other` without a
/// running loop.
pub async fn create_connection<P: Protocol>(
    factory: impl FnOnce() -> P,
    host: &str,
    port: u16,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let stream = crate::TcpStream::connect(host, port).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start(&lp, stream.into_socket(), protocol.clone())?;
    Ok((transport, protocol))
}

/// Connects to the Unix socket at `path` and runs the protocol made by
/// `factory` on it. Mirrors `loop.create_unix_connection(protocol_factory,
/// path)`. The transport's addresses are `None`.
///
/// # Errors
/// As [`UnixStream::connect`](crate::UnixStream::connect); `Other` without
/// a running loop.
pub async fn create_unix_connection<P: Protocol>(
    factory: impl FnOnce() -> P,
    path: impl AsRef<std::path::Path>,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let stream = crate::UnixStream::connect(path).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start(&lp, stream.into_socket(), protocol.clone())?;
    Ok((transport, protocol))
}
