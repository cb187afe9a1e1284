//! [`TcpListener`] and [`TcpStream`]: non-blocking TCP sockets on the
//! running loop.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use crate::ServerOptions;
use crate::resolve::try_each;
use crate::socket::Socket;
use crate::sys::{self, SockAddr};

/// asyncio's default `backlog` for servers.
pub const DEFAULT_BACKLOG: i32 = 100;

/// A listening TCP socket.
///
/// Mirrors a listening `socket.socket` used with `loop.sock_accept`; made
/// non-blocking and close-on-exec, with `SO_REUSEADDR` as asyncio's servers
/// set it.
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream};
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let client = corio_executor::create_task(async move {
///         let stream = TcpStream::connect("127.0.0.1", port).await?;
///         stream.send_all(b"ping").await
///     });
///     let (server_side, _peer) = listener.accept().await?;
///     let mut buf = [0; 4];
///     let n = server_side.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"ping");
///     client.await.unwrap()
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TcpListener {
    socket: Socket,
}

impl TcpListener {
    pub(crate) fn into_socket(self) -> Socket {
        self.socket
    }

    /// Binds and listens on the first address `host` resolves to that
    /// accepts the bind (port 0: the kernel picks one), with `SO_REUSEADDR`
    /// and a backlog of [`DEFAULT_BACKLOG`].
    ///
    /// Python: `socket.create_server((host, port))` made non-blocking.
    ///
    /// # Errors
    /// Resolution errors (naming the host); `AddrInUse`, `PermissionDenied`.
    pub async fn bind(host: &str, port: u16) -> io::Result<TcpListener> {
        TcpListener::bind_with(host, port, ServerOptions::default()).await
    }

    /// [`bind`](Self::bind) with `options.backlog` as the `listen` backlog
    /// and `options.reuse_port` as `SO_REUSEPORT` (`start_serving` is a
    /// server's and does not apply to a bare listener).
    ///
    /// Python: `socket.create_server((host, port), backlog=…,
    /// reuse_port=…)`. A burst of connections larger than the backlog
    /// (asyncio's default 100, as here) waits on the kernel's SYN retries,
    /// a second and more, until the server accepts; a server that expects
    /// bursts raises it (the kernel caps it at `net.core.somaxconn`).
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::{ServerOptions, TcpListener};
    ///
    /// corio_executor::run(async {
    ///     let options = ServerOptions { backlog: 1024, ..ServerOptions::default() };
    ///     let listener = TcpListener::bind_with("127.0.0.1", 0, options).await?;
    ///     assert_ne!(listener.local_addr()?.port(), 0);
    ///     let negative = ServerOptions { backlog: -1, ..ServerOptions::default() };
    ///     let err = TcpListener::bind_with("127.0.0.1", 0, negative).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`bind`](Self::bind); `InvalidInput` for a negative backlog.
    pub async fn bind_with(
        host: &str,
        port: u16,
        options: ServerOptions,
    ) -> io::Result<TcpListener> {
        check_backlog(options.backlog)?;
        try_each(host, port, |addr| async move {
            TcpListener::bind_addr(addr, options.reuse_port, options.backlog)
        })
        .await
    }

    /// Binds and listens on `addr`; `reuse_port` sets `SO_REUSEPORT` (several
    /// listeners, e.g. one per loop, share the port).
    ///
    /// Python: `socket.create_server(addr, reuse_port=…, backlog=…)`.
    ///
    /// # Errors
    /// `InvalidInput` for a backlog below 0; the OS error of socket, bind or
    /// listen (the socket is closed).
    pub fn bind_addr(addr: SocketAddr, reuse_port: bool, backlog: i32) -> io::Result<TcpListener> {
        check_backlog(backlog)?;
        let sockaddr = SockAddr::inet(&addr);
        let socket = Socket::new_for(&sockaddr, libc::SOCK_STREAM)?;
        socket.set_option(libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
        if reuse_port {
            socket.set_option(libc::SOL_SOCKET, libc::SO_REUSEPORT, true)?;
        }
        if addr.is_ipv6() {
            // As asyncio: an IPv6 listener does not also take IPv4.
            socket.set_option(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, true)?;
        }
        socket.bind(&sockaddr)?;
        socket.listen(backlog)?;
        Ok(TcpListener { socket })
    }

    /// Waits for a connection; the new stream is non-blocking, close-on-exec
    /// and has `TCP_NODELAY` on. Python: `loop.sock_accept(sock)`.
    ///
    /// # Errors
    /// The OS error of `accept4` (`EMFILE` when out of fds: the caller
    /// decides how to back off).
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, addr) = self.socket.accept().await?;
        let stream = TcpStream::from_socket(socket)?;
        let peer = addr
            .as_inet()
            .ok_or_else(|| io::Error::other("accepted a non-IP peer"))?;
        Ok((stream, peer))
    }

    /// The asyncio name of [`accept`](Self::accept).
    pub async fn sock_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        self.accept().await
    }

    /// The address the listener is bound to. Python: `sock.getsockname()`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.socket.local_addr()?)
    }
}

/// A connected TCP socket.
///
/// Mirrors a connected `socket.socket` used with `loop.sock_recv`,
/// `sock_sendall`; non-blocking, close-on-exec, `TCP_NODELAY` on (as
/// asyncio's transports set it).
#[derive(Debug)]
pub struct TcpStream {
    pub(crate) socket: Socket,
}

impl TcpStream {
    pub(crate) fn into_socket(self) -> Socket {
        self.socket
    }

    fn from_socket(socket: Socket) -> io::Result<TcpStream> {
        socket.set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, true)?;
        Ok(TcpStream { socket })
    }

    /// Connects to `host:port`, trying each resolved address in order.
    ///
    /// Mirrors `loop.sock_connect` after `loop.getaddrinfo`, as
    /// `create_connection` does.
    ///
    /// # Errors
    /// `InvalidInput` for port 0 or a malformed host; a resolution error
    /// naming the host; otherwise the last address's error (e.g.
    /// `ConnectionRefused`), its message naming the host and address.
    pub async fn connect(host: &str, port: u16) -> io::Result<TcpStream> {
        TcpStream::connect_from(host, port, None).await
    }

    /// [`connect`](Self::connect) from `local` (bound first) if given:
    /// `create_connection`'s `local_addr`.
    pub(crate) async fn connect_from(
        host: &str,
        port: u16,
        local: Option<SocketAddr>,
    ) -> io::Result<TcpStream> {
        if port == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("cannot connect to {host}:0: port 0"),
            ));
        }
        try_each(host, port, |addr| TcpStream::connect_addr_from(addr, local)).await
    }

    /// Connects to one address. Python: `loop.sock_connect(sock, addr)`.
    ///
    /// # Errors
    /// As [`connect`](Self::connect), without resolution.
    pub async fn connect_addr(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_addr_from(addr, None).await
    }

    async fn connect_addr_from(
        addr: SocketAddr,
        local: Option<SocketAddr>,
    ) -> io::Result<TcpStream> {
        let sockaddr = SockAddr::inet(&addr);
        let socket = Socket::new_for(&sockaddr, libc::SOCK_STREAM)?;
        if let Some(local) = local {
            socket
                .bind(&SockAddr::inet(&local))
                .map_err(|e| io::Error::new(e.kind(), format!("could not bind on {local}: {e}")))?;
        }
        socket.connect(&sockaddr).await?;
        TcpStream::from_socket(socket)
    }

    /// Reads at most `buf.len()` bytes; 0 at EOF. Python: `loop.sock_recv`.
    ///
    /// # Errors
    /// The OS error (`ConnectionReset` when the peer reset).
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf).await
    }

    /// Reads without consuming. Python: `sock.recv(n, MSG_PEEK)`.
    ///
    /// # Errors
    /// As [`recv`](Self::recv).
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.peek(buf).await
    }

    /// Sends some of `buf`; how much. Python: `sock.send` on readiness.
    ///
    /// # Errors
    /// The OS error (`BrokenPipe` / `ConnectionReset` once the peer is gone;
    /// never SIGPIPE).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf).await
    }

    /// Sends all of `buf`. Python: `loop.sock_sendall`.
    ///
    /// # Errors
    /// As [`send`](Self::send); some bytes may have gone out before it.
    pub async fn send_all(&self, buf: &[u8]) -> io::Result<()> {
        self.socket.send_all(buf).await
    }

    /// The asyncio name of [`recv`](Self::recv).
    pub async fn sock_recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf).await
    }

    /// The asyncio name of [`send_all`](Self::send_all).
    pub async fn sock_sendall(&self, buf: &[u8]) -> io::Result<()> {
        self.send_all(buf).await
    }

    /// Shuts down one or both directions. Python: `sock.shutdown(how)`.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// Sets `TCP_NODELAY`. Python: `sock.setsockopt(IPPROTO_TCP, TCP_NODELAY, on)`.
    ///
    /// # Errors
    /// The OS error of `setsockopt`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.socket
            .set_option(libc::IPPROTO_TCP, libc::TCP_NODELAY, on)
    }

    /// Whether `TCP_NODELAY` is on. Python: `sock.getsockopt(…)`.
    ///
    /// # Errors
    /// The OS error of `getsockopt`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.socket.option(libc::IPPROTO_TCP, libc::TCP_NODELAY)
    }

    /// Sets `SO_LINGER`: with `Some(Duration::ZERO)`, dropping the stream
    /// resets the connection (the peer reads `ECONNRESET`, unsent bytes
    /// are dropped) instead of closing it with a FIN; `None` (the
    /// default) closes it gracefully. Python: `sock.setsockopt(
    /// SOL_SOCKET, SO_LINGER, struct.pack('ii', 1, 0))`; tokio's
    /// `TcpStream::set_linger`. Whole seconds only (the kernel's unit).
    ///
    /// # Errors
    /// The OS error of `setsockopt`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use corio_net::{TcpListener, TcpStream};
    ///
    /// corio_executor::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
    ///     let port = listener.local_addr()?.port();
    ///     let client = TcpStream::connect("127.0.0.1", port).await?;
    ///     let (server, _) = listener.accept().await?;
    ///     client.set_linger(Some(Duration::ZERO))?;
    ///     assert_eq!(client.linger()?, Some(Duration::ZERO));
    ///     drop(client); // a reset, not a FIN
    ///     let err = server.recv(&mut [0; 8]).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        sys::set_linger(self.socket.fd(), linger)
    }

    /// The `SO_LINGER` setting: `None` when off. Python:
    /// `sock.getsockopt(SOL_SOCKET, SO_LINGER, 8)`.
    ///
    /// # Errors
    /// The OS error of `getsockopt`.
    pub fn linger(&self) -> io::Result<Option<Duration>> {
        sys::linger(self.socket.fd())
    }

    /// This end's address. Python: `sock.getsockname()`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        inet(self.socket.local_addr()?)
    }

    /// The peer's address. Python: `sock.getpeername()`.
    ///
    /// # Errors
    /// `NotConnected` once the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        inet(self.socket.peer_addr()?)
    }
}

/// A negative backlog is the caller's mistake (the kernel would take it
/// for `somaxconn`).
pub(crate) fn check_backlog(backlog: i32) -> io::Result<()> {
    if backlog < 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("backlog must not be negative (got {backlog})"),
        ));
    }
    Ok(())
}

/// An IP socket address out of a [`SockAddr`] the kernel filled.
fn inet(addr: SockAddr) -> io::Result<SocketAddr> {
    addr.as_inet()
        .ok_or_else(|| io::Error::other("not an IP socket address"))
}

macro_rules! fd_traits {
    ($($ty:ty),*) => {$(
        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.socket.fd()
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.socket.raw()
            }
        }

        impl From<$ty> for std::os::fd::OwnedFd {
            fn from(value: $ty) -> std::os::fd::OwnedFd {
                value.socket.into_fd()
            }
        }
    )*};
}

pub(crate) use fd_traits;

fd_traits!(TcpListener, TcpStream);
