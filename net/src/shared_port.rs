//! [`SharedPort`]: one port for the listeners of several loops
//! (`SO_REUSEPORT`), DESIGN rule 10's "a shared port is one listener per
//! loop".

use std::io;
use std::net::SocketAddr;

use crate::ServerOptions;
use crate::socket::Socket;
use crate::sys::SockAddr;

/// A TCP port reserved for the servers of several loops: a socket bound
/// with `SO_REUSEPORT` that does not listen. Each loop then serves the
/// same port with [`SharedPort::server_options`] (`reuse_port: true`):
/// the kernel hashes each new connection (by its addresses and ports) to
/// one of the *listening* sockets, so the reservation itself never gets
/// one, and port 0 can be shared (the kernel picks it here, once).
///
/// What the kernel's hashing means: connections spread evenly on average,
/// not by load (one busy connection stays on its loop), and a listener
/// that closes drops the connections queued on it. No asyncio
/// counterpart beyond `create_server(reuse_port=True)`.
///
/// # Examples
///
/// ```
/// use corio_net::SharedPort;
///
/// let shared = SharedPort::reserve("127.0.0.1:0".parse()?)?;
/// assert_ne!(shared.port(), 0);
/// let options = shared.server_options();
/// assert!(options.reuse_port);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SharedPort {
    _socket: Socket,
    addr: SocketAddr,
}

impl SharedPort {
    /// Reserves `addr` (port 0: a free one) for listeners that set
    /// `SO_REUSEPORT`.
    ///
    /// # Errors
    /// The OS error of `socket` or `bind` (`AddrInUse` for a port held by a
    /// socket without `SO_REUSEPORT`).
    pub fn reserve(addr: SocketAddr) -> io::Result<SharedPort> {
        let sockaddr = SockAddr::inet(&addr);
        let socket = Socket::new_for(&sockaddr, libc::SOCK_STREAM)?;
        socket.set_option(libc::SOL_SOCKET, libc::SO_REUSEADDR, true)?;
        socket.set_option(libc::SOL_SOCKET, libc::SO_REUSEPORT, true)?;
        if addr.is_ipv6() {
            socket.set_option(libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, true)?;
        }
        socket.bind(&sockaddr)?;
        let addr = socket
            .local_addr()?
            .as_inet()
            .ok_or_else(|| io::Error::other("a TCP socket without an IP address"))?;
        Ok(SharedPort {
            _socket: socket,
            addr,
        })
    }

    /// The port every loop's server binds.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The reserved address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Server options that join the port: asyncio's defaults with
    /// `reuse_port: true`.
    pub fn server_options(&self) -> ServerOptions {
        ServerOptions {
            reuse_port: true,
            ..ServerOptions::default()
        }
    }
}
