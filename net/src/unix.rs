//! [`UnixListener`], [`UnixStream`] and [`UnixDatagram`]: Unix-domain
//! sockets on the running loop.

use std::io;
use std::net::Shutdown;
use std::path::{Path, PathBuf};

use crate::ServerOptions;
use crate::socket::Socket;
use crate::sys::SockAddr;
use crate::tcp::{check_backlog, fd_traits};

/// A path out of a Unix address the kernel filled (empty when unnamed).
fn path_of(addr: SockAddr) -> io::Result<PathBuf> {
    addr.as_unix_path()
        .map(Path::to_path_buf)
        .ok_or_else(|| io::Error::other("not a Unix socket address"))
}

/// A listening Unix stream socket.
///
/// Mirrors a listening `AF_UNIX` `socket.socket` with `loop.sock_accept`.
/// Binding fails if the path exists (as Python's `bind` does); the
/// stream-level server replaces a stale socket file itself.
///
/// # Examples
///
/// ```
/// use corio_net::{UnixListener, UnixStream};
///
/// let dir = std::env::temp_dir().join(format!("corio-doc-unix-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// let path = dir.join("echo.sock");
/// let _ = std::fs::remove_file(&path);
/// let p = path.clone();
/// corio_executor::run(async move {
///     let path = p;
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server_side, _) = listener.accept().await?;
///     client.send_all(b"over a path").await?;
///     let mut buf = [0; 32];
///     let n = server_side.recv(&mut buf).await?;
///     assert_eq!(&buf[..n], b"over a path");
///     Ok::<(), std::io::Error>(())
/// })??;
/// std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UnixListener {
    socket: Socket,
}

impl UnixListener {
    /// Binds to `path` and listens (backlog
    /// [`DEFAULT_BACKLOG`](crate::DEFAULT_BACKLOG)).
    /// Python: `sock.bind(path); sock.listen(100)`.
    ///
    /// # Errors
    /// `InvalidInput` for a path too long or with a NUL byte; `AddrInUse`
    /// if the file exists.
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        UnixListener::bind_with(path, ServerOptions::default())
    }

    /// [`bind`](Self::bind) with `options.backlog` as the `listen`
    /// backlog (`reuse_port` and `start_serving` do not apply). Python:
    /// `sock.bind(path); sock.listen(backlog)`.
    ///
    /// # Errors
    /// As [`bind`](Self::bind); `InvalidInput` for a negative backlog.
    pub fn bind_with(path: impl AsRef<Path>, options: ServerOptions) -> io::Result<UnixListener> {
        check_backlog(options.backlog)?;
        let addr = SockAddr::unix(path.as_ref())?;
        let socket = Socket::new_for(&addr, libc::SOCK_STREAM)?;
        socket.bind(&addr)?;
        socket.listen(options.backlog)?;
        Ok(UnixListener { socket })
    }

    /// Waits for a connection. Python: `loop.sock_accept(sock)`.
    ///
    /// # Errors
    /// The OS error of `accept4`.
    pub async fn accept(&self) -> io::Result<(UnixStream, PathBuf)> {
        let (socket, addr) = self.socket.accept().await?;
        Ok((UnixStream { socket }, path_of(addr)?))
    }

    /// The bound path. Python: `sock.getsockname()`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<PathBuf> {
        path_of(self.socket.local_addr()?)
    }
}

/// A connected Unix stream socket.
///
/// Mirrors a connected `AF_UNIX` `socket.socket` with `loop.sock_recv` /
/// `sock_sendall`.
#[derive(Debug)]
pub struct UnixStream {
    pub(crate) socket: Socket,
}

impl UnixStream {
    pub(crate) fn into_socket(self) -> Socket {
        self.socket
    }

    /// Connects to the socket at `path`. Python: `loop.sock_connect(sock, path)`.
    ///
    /// # Errors
    /// `InvalidInput` for a bad path; `NotFound` when no file;
    /// `ConnectionRefused` when nobody listens.
    pub async fn connect(path: impl AsRef<Path>) -> io::Result<UnixStream> {
        let path = path.as_ref();
        let addr = SockAddr::unix(path)?;
        let socket = Socket::new_for(&addr, libc::SOCK_STREAM)?;
        socket
            .connect(&addr)
            .await
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(UnixStream { socket })
    }

    /// Reads at most `buf.len()` bytes; 0 at EOF. Python: `loop.sock_recv`.
    ///
    /// # Errors
    /// The OS error.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf).await
    }

    /// Sends some of `buf`; how much.
    ///
    /// # Errors
    /// The OS error (`BrokenPipe` once the peer is gone; never SIGPIPE).
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf).await
    }

    /// Sends all of `buf`. Python: `loop.sock_sendall`.
    ///
    /// # Errors
    /// As [`send`](Self::send).
    pub async fn send_all(&self, buf: &[u8]) -> io::Result<()> {
        self.socket.send_all(buf).await
    }

    /// Shuts down one or both directions. Python: `sock.shutdown(how)`.
    ///
    /// # Errors
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.socket.shutdown(how)
    }

    /// The peer's path (empty for an unnamed client). Python: `getpeername`.
    ///
    /// # Errors
    /// The OS error of `getpeername`.
    pub fn peer_addr(&self) -> io::Result<PathBuf> {
        path_of(self.socket.peer_addr()?)
    }

    /// This end's path (empty when unnamed). Python: `getsockname`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<PathBuf> {
        path_of(self.socket.local_addr()?)
    }
}

/// A Unix datagram socket.
///
/// Mirrors an `AF_UNIX`, `SOCK_DGRAM` `socket.socket` with
/// `loop.sock_sendto` / `sock_recvfrom`.
#[derive(Debug)]
pub struct UnixDatagram {
    socket: Socket,
}

impl UnixDatagram {
    /// Binds a datagram socket to `path`. Python: `sock.bind(path)`.
    ///
    /// # Errors
    /// As [`UnixListener::bind`].
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SockAddr::unix(path.as_ref())?;
        let socket = Socket::new_for(&addr, libc::SOCK_DGRAM)?;
        socket.bind(&addr)?;
        Ok(UnixDatagram { socket })
    }

    /// An unbound datagram socket (it can send; replies cannot reach it).
    /// Python: `socket.socket(AF_UNIX, SOCK_DGRAM)`.
    ///
    /// # Errors
    /// The OS error of socket.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            socket: Socket::from_fd(crate::sys::socket(libc::AF_UNIX, libc::SOCK_DGRAM)?),
        })
    }

    /// Sends one datagram to the socket at `path`. Python: `loop.sock_sendto`.
    ///
    /// # Errors
    /// `InvalidInput` for a bad path; the OS error.
    pub async fn send_to(&self, buf: &[u8], path: impl AsRef<Path>) -> io::Result<usize> {
        self.socket
            .send_to(buf, &SockAddr::unix(path.as_ref())?)
            .await
    }

    /// Receives one datagram and its sender's path (empty if unbound).
    /// Python: `loop.sock_recvfrom`.
    ///
    /// # Errors
    /// The OS error.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, PathBuf)> {
        let (n, addr) = self.socket.recv_from(buf).await?;
        Ok((n, path_of(addr)?))
    }

    /// The bound path (empty when unbound). Python: `getsockname`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<PathBuf> {
        path_of(self.socket.local_addr()?)
    }
}

fd_traits!(UnixListener, UnixStream, UnixDatagram);
