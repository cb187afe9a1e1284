//! Datagram endpoints: asyncio's `create_datagram_endpoint`,
//! `DatagramProtocol` and `_SelectorDatagramTransport`.
//!
//! One reader registration for the endpoint's life; each readiness reads
//! one datagram into the loop's scratch buffer and hands it to
//! `datagram_received`. `sendto` sends at once; a datagram the socket
//! cannot take now waits, whole, in a queue that a writer callback empties.
//! An error of one datagram (an ICMP "port unreachable" on a connected
//! socket, say) goes to `error_received` and the endpoint lives on.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use corio_executor::{EventLoop, WeakLoop, get_running_loop};

use crate::callee::Callee;
use crate::flow::FlowControl;
use crate::ready::try_again;
use crate::socket::Socket;
use crate::sys::{self, SockAddr};
use crate::transport::ReadBuffer;

/// The callbacks of a datagram endpoint. Mirrors `asyncio.DatagramProtocol`;
/// every method defaults to doing nothing.
pub trait DatagramProtocol: 'static {
    /// The endpoint is ready; keep `transport` to send. Python:
    /// `connection_made(transport)`.
    fn connection_made(&mut self, transport: DatagramTransport) {
        drop(transport);
    }

    /// One datagram arrived from `addr`. Python: `datagram_received(data,
    /// addr)`.
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        let _ = (data, addr);
    }

    /// A send or receive failed (e.g. `ConnectionRefused` after an ICMP
    /// port-unreachable); the endpoint stays open. Python:
    /// `error_received(exc)`.
    fn error_received(&mut self, exc: io::Error) {
        drop(exc);
    }

    /// The endpoint is closed: `None` after `close`, the error after a
    /// fatal one. Called exactly once. Python: `connection_lost(exc)`.
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        drop(exc);
    }

    /// The send queue went over the high-water mark. Python:
    /// `pause_writing()`.
    fn pause_writing(&mut self) {}

    /// The send queue drained to the low-water mark. Python:
    /// `resume_writing()`.
    fn resume_writing(&mut self) {}
}

/// A datagram transport. Mirrors `asyncio.DatagramTransport`; cloning gives
/// another handle to the same endpoint.
#[derive(Clone)]
pub struct DatagramTransport {
    inner: Rc<Inner>,
}

struct Inner {
    /// Held weakly: an endpoint never keeps its loop alive.
    lp: WeakLoop,
    scratch: Rc<ReadBuffer>,
    protocol: Callee<dyn DatagramProtocol>,
    state: RefCell<State>,
}

struct State {
    /// `None` once closed.
    socket: Option<Socket>,
    /// Datagrams waiting for the socket to be writable, whole.
    queue: VecDeque<(Vec<u8>, Option<SockAddr>)>,
    queued_bytes: usize,
    /// The connected peer (`remote_addr`), if any.
    remote: Option<SocketAddr>,
    local: Option<SocketAddr>,
    closing: bool,
    lost: bool,
    writing: bool,
    /// The send queue's water marks (asyncio's `_FlowControlMixin`).
    flow: FlowControl,
}

impl DatagramTransport {
    fn start(
        lp: &EventLoop,
        socket: Socket,
        remote: Option<SocketAddr>,
        protocol: Rc<RefCell<dyn DatagramProtocol>>,
    ) -> io::Result<DatagramTransport> {
        let local = socket.local_addr().ok().and_then(|a| a.as_inet());
        let fd = socket.raw();
        let transport = DatagramTransport {
            inner: Rc::new(Inner {
                lp: lp.downgrade(),
                scratch: ReadBuffer::of(lp),
                protocol: Callee::new(lp, protocol),
                state: RefCell::new(State {
                    socket: Some(socket),
                    queue: VecDeque::new(),
                    queued_bytes: 0,
                    remote,
                    local,
                    closing: false,
                    lost: false,
                    writing: false,
                    flow: FlowControl::default(),
                }),
            }),
        };
        let weak = Rc::downgrade(&transport.inner);
        transport
            .inner
            .protocol
            .set_on_panic(Rc::new(move |error: io::Error| {
                if let Some(inner) = weak.upgrade() {
                    DatagramTransport { inner }.force_close(Some(error));
                }
            }));
        crate::live::register(lp, &transport.inner);
        let me = transport.clone();
        lp.add_reader(fd, move || me.read_ready())
            .map_err(|e| io::Error::other(e.to_string()))?;
        let handle = transport.clone();
        transport
            .inner
            .protocol
            .tell(move |p| p.connection_made(handle));
        Ok(transport)
    }

    /// The reader callback: one datagram.
    fn read_ready(&self) {
        let mut buf = self.inner.scratch.0.borrow_mut();
        let outcome = {
            let state = self.inner.state.borrow();
            let Some(socket) = &state.socket else { return };
            sys::recv_from(socket.fd(), &mut buf)
        };
        match outcome {
            Err(e) if try_again(&e) => {}
            Err(e) => self.inner.protocol.tell(move |p| p.error_received(e)),
            Ok((n, from)) => {
                let Some(from) = from.as_inet() else { return };
                let data = &buf[..n];
                let protocol = &self.inner.protocol;
                if protocol.now(|p| p.datagram_received(data, from)).is_none() {
                    let data = data.to_vec();
                    protocol.tell(move |p| p.datagram_received(&data, from));
                }
            }
        }
    }

    /// Sends one datagram to `addr`, or to the connected peer when `addr`
    /// is `None`; never blocks (a datagram the socket cannot take now is
    /// queued). Python: `transport.sendto(data, addr=None)`.
    ///
    /// # Errors
    /// `InvalidInput` when `addr` is `None` on an unconnected endpoint, or
    /// differs from the connected peer; `NotConnected` after `close`. A
    /// failure of the send itself goes to `error_received`, as in asyncio.
    pub fn sendto(&self, data: &[u8], addr: Option<SocketAddr>) -> io::Result<()> {
        let mut state = self.inner.state.borrow_mut();
        if state.closing || state.lost {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "sendto after close: the endpoint is closed",
            ));
        }
        let to = match (addr, state.remote) {
            (Some(addr), Some(remote)) if addr != remote => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("invalid address: must be None or {remote}"),
                ));
            }
            (_, Some(_)) => None,
            (Some(addr), None) => Some(SockAddr::inet(&addr)),
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "no address: the endpoint has no remote_addr",
                ));
            }
        };
        if state.queue.is_empty() {
            let Some(socket) = &state.socket else {
                return Ok(());
            };
            match send_one(socket, data, to.as_ref()) {
                Ok(_) => return Ok(()),
                Err(e) if try_again(&e) => {}
                Err(e) => {
                    drop(state);
                    self.inner.protocol.tell(move |p| p.error_received(e));
                    return Ok(());
                }
            }
        }
        state.queue.push_back((data.to_vec(), to));
        state.queued_bytes += data.len();
        let start_writer = !state.writing;
        state.writing = true;
        let queued = state.queued_bytes;
        let pause = state.flow.pause_due(queued);
        let fd = state.socket.as_ref().map(Socket::raw);
        drop(state);
        if start_writer && let Some(fd) = fd {
            let me = self.clone();
            let added = crate::transport::add_writer(self.lp(), fd, move || me.write_ready());
            if let Err(e) = added {
                self.force_close(Some(e));
            }
        }
        if pause {
            self.inner.protocol.tell(|p| p.pause_writing());
        }
        Ok(())
    }

    /// The writer callback: send queued datagrams until the socket is full.
    fn write_ready(&self) {
        let mut state = self.inner.state.borrow_mut();
        let Some(socket) = &state.socket else { return };
        let fd = socket.raw();
        let mut errors = Vec::new();
        while let Some((data, to)) = state.queue.front() {
            let socket = state.socket.as_ref().expect("checked above");
            match send_one(socket, data, to.as_ref()) {
                Err(e) if try_again(&e) => break,
                Err(e) => errors.push(e),
                Ok(_) => {}
            }
            let (data, _) = state.queue.pop_front().expect("front exists");
            state.queued_bytes -= data.len();
        }
        let queued = state.queued_bytes;
        let resume = state.flow.resume_due(queued);
        let drained = state.queue.is_empty();
        if drained {
            state.writing = false;
            if let Some(lp) = self.lp() {
                lp.remove_writer(fd);
            }
        }
        let closing = state.closing;
        drop(state);
        for e in errors {
            self.inner.protocol.tell(move |p| p.error_received(e));
        }
        if resume {
            self.inner.protocol.tell(|p| p.resume_writing());
        }
        if drained && closing {
            self.schedule_connection_lost(None);
        }
    }

    /// Closes once the queued datagrams are sent; `connection_lost(None)`
    /// follows. Python: `transport.close()`.
    pub fn close(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing {
            return;
        }
        state.closing = true;
        let drained = state.queue.is_empty();
        let fd = state.socket.as_ref().map(Socket::raw);
        drop(state);
        if let (Some(fd), Some(lp)) = (fd, self.lp()) {
            lp.remove_reader(fd);
        }
        if drained {
            self.schedule_connection_lost(None);
        }
    }

    /// Closes at once, dropping queued datagrams. Python: `abort()`.
    pub fn abort(&self) {
        self.force_close(None);
    }

    /// True once closing. Python: `is_closing()`.
    pub fn is_closing(&self) -> bool {
        let state = self.inner.state.borrow();
        state.closing || state.lost
    }

    /// Bytes queued, not yet sent. Python: `get_write_buffer_size()`.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.state.borrow().queued_bytes
    }

    /// Sets the send queue's water marks (`pause_writing` over `high`,
    /// `resume_writing` back at `low`); `low` defaults to `high / 4`.
    /// Python: `set_write_buffer_limits(high, low)`, which datagram
    /// transports have too.
    ///
    /// # Errors
    /// `InvalidInput` when `low > high`.
    pub fn set_write_buffer_limits(&self, high: usize, low: Option<usize>) -> io::Result<()> {
        self.inner.state.borrow_mut().flow.set_limits(high, low)
    }

    /// The send queue's water marks `(low, high)`. Python:
    /// `get_write_buffer_limits()`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.state.borrow().flow.limits()
    }

    /// The bound address. Python: `get_extra_info('sockname')`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().local
    }

    /// The connected peer, if made with `remote_addr`. Python:
    /// `get_extra_info('peername')`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.inner.state.borrow().remote
    }

    fn force_close(&self, err: Option<io::Error>) {
        let mut state = self.inner.state.borrow_mut();
        if state.lost {
            return;
        }
        state.closing = true;
        state.queue.clear();
        state.queued_bytes = 0;
        drop(state);
        self.schedule_connection_lost(err);
    }

    fn schedule_connection_lost(&self, err: Option<io::Error>) {
        let mut state = self.inner.state.borrow_mut();
        if std::mem::replace(&mut state.lost, true) {
            return;
        }
        drop(state);
        let Some(lp) = self.lp() else {
            // The loop is closed or gone: nobody may be called any more.
            crate::live::Release::release(&*self.inner);
            return;
        };
        let me = self.clone();
        lp.call_soon(move || {
            let socket = me.inner.state.borrow_mut().socket.take();
            if let (Some(socket), Some(lp)) = (&socket, me.lp()) {
                lp.remove_reader(socket.raw());
                lp.remove_writer(socket.raw());
            }
            if let Some(protocol) = me.inner.protocol.take() {
                protocol.borrow_mut().connection_lost(err);
            }
            drop(socket);
        });
    }

    /// The loop, while it exists and is not closed.
    fn lp(&self) -> Option<EventLoop> {
        self.inner.lp.upgrade().filter(|lp| !lp.is_closed())
    }
}

impl crate::live::Release for Inner {
    fn release(&self) {
        let socket = {
            let mut state = self.state.borrow_mut();
            state.lost = true;
            state.closing = true;
            state.queue.clear();
            state.queued_bytes = 0;
            state.socket.take()
        };
        let protocol = self.protocol.take();
        drop((socket, protocol));
    }
}

/// One `send` (connected) or `sendto`.
fn send_one(socket: &Socket, data: &[u8], to: Option<&SockAddr>) -> io::Result<usize> {
    match to {
        Some(addr) => sys::send_to(socket.fd(), data, addr),
        None => sys::send(socket.fd(), data),
    }
}

impl std::fmt::Debug for DatagramTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.inner.state.borrow();
        f.debug_struct("DatagramTransport")
            .field("local", &state.local)
            .field("remote", &state.remote)
            .field("closing", &state.closing)
            .field("queued", &state.queued_bytes)
            .finish()
    }
}

/// Makes a UDP endpoint and runs the protocol made by `factory` on it.
///
/// Mirrors `loop.create_datagram_endpoint(protocol_factory, local_addr=…,
/// remote_addr=…, reuse_port=…)`, returning `(transport, protocol)`.
/// `local` binds (port 0: the kernel picks); `remote` connects, so only its
/// datagrams arrive and `sendto(data, None)` goes there. With `local`
/// only, the socket takes the family of its address; with `remote` only,
/// it binds to the wildcard of the remote's family.
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use corio_net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
///
/// struct Echo(Option<DatagramTransport>);
/// impl DatagramProtocol for Echo {
///     fn connection_made(&mut self, t: DatagramTransport) { self.0 = Some(t) }
///     fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
///         self.0.as_ref().unwrap().sendto(data, Some(addr)).unwrap();
///     }
/// }
/// #[derive(Default)]
/// struct Client(Vec<Vec<u8>>);
/// impl DatagramProtocol for Client {
///     fn datagram_received(&mut self, data: &[u8], _: SocketAddr) { self.0.push(data.to_vec()) }
/// }
///
/// corio_executor::run(async {
///     let (server, _) = create_datagram_endpoint(|| Echo(None), Some(("127.0.0.1", 0)), None).await?;
///     let port = server.local_addr().unwrap().port();
///     let (client, got) =
///         create_datagram_endpoint(Client::default, None, Some(("127.0.0.1", port))).await?;
///     client.sendto(b"ping", None)?;
///     while got.borrow().0.is_empty() {
///         corio_executor::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(got.borrow().0, [b"ping".to_vec()]);
///     client.close();
///     server.close();
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `InvalidInput` when both addresses are `None` or their families
/// differ; resolution errors naming the host; the OS error of bind or
/// connect; `Other` without a running loop.
pub async fn create_datagram_endpoint<P: DatagramProtocol>(
    factory: impl FnOnce() -> P,
    local: Option<(&str, u16)>,
    remote: Option<(&str, u16)>,
) -> io::Result<(DatagramTransport, Rc<RefCell<P>>)> {
    let lp = get_running_loop().map_err(io::Error::other)?;
    let local = match local {
        Some((host, port)) => Some(first_addr(host, port).await?),
        None => None,
    };
    let remote = match remote {
        Some((host, port)) => Some(first_addr(host, port).await?),
        None => None,
    };
    let bind_to = match (local, remote) {
        (None, None) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "create_datagram_endpoint needs a local or a remote address",
            ));
        }
        (Some(l), Some(r)) if l.is_ipv4() != r.is_ipv4() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("local {l} and remote {r} are of different families"),
            ));
        }
        (Some(l), _) => l,
        (None, Some(r)) if r.is_ipv4() => SocketAddr::from(([0, 0, 0, 0], 0)),
        (None, Some(_)) => SocketAddr::from(([0u16; 8], 0)),
    };
    let bind_addr = SockAddr::inet(&bind_to);
    let socket = Socket::new_for(&bind_addr, libc::SOCK_DGRAM)?;
    socket
        .bind(&bind_addr)
        .map_err(|e| io::Error::new(e.kind(), format!("could not bind on {bind_to}: {e}")))?;
    if let Some(remote) = remote {
        // UDP connect only records the peer: it completes at once.
        socket
            .connect(&SockAddr::inet(&remote))
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{remote}: {e}")))?;
    }
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = DatagramTransport::start(&lp, socket, remote, protocol.clone())?;
    Ok((transport, protocol))
}

/// The first address `host` resolves to.
async fn first_addr(host: &str, port: u16) -> io::Result<SocketAddr> {
    let addrs = crate::getaddrinfo(host, port).await?;
    Ok(addrs[0])
}
