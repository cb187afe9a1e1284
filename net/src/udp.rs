//! [`UdpSocket`]: a non-blocking UDP socket on the running loop.

use std::io;
use std::net::SocketAddr;

use crate::resolve::try_each;
use crate::socket::Socket;
use crate::sys::SockAddr;
use crate::tcp::fd_traits;

/// A UDP socket.
///
/// Mirrors a `SOCK_DGRAM` `socket.socket` used with `loop.sock_recvfrom` /
/// `sock_sendto`; non-blocking and close-on-exec.
///
/// # Examples
///
/// ```
/// use corio_net::UdpSocket;
///
/// corio_executor::run(async {
///     let a = UdpSocket::bind_addr("127.0.0.1:0".parse().unwrap())?;
///     let b = UdpSocket::bind_addr("127.0.0.1:0".parse().unwrap())?;
///     b.send_to(b"hello", a.local_addr()?).await?;
///     let mut buf = [0; 16];
///     let (n, from) = a.recv_from(&mut buf).await?;
///     assert_eq!((&buf[..n], from), (&b"hello"[..], b.local_addr()?));
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct UdpSocket {
    socket: Socket,
}

impl UdpSocket {
    /// Binds to the first address `host` resolves to that accepts it.
    ///
    /// # Errors
    /// Resolution errors (naming the host); the OS error of bind.
    pub async fn bind(host: &str, port: u16) -> io::Result<UdpSocket> {
        try_each(host, port, |addr| async move { UdpSocket::bind_addr(addr) }).await
    }

    /// Binds to `addr`. Python: `sock.bind(addr)` on a new UDP socket.
    ///
    /// # Errors
    /// The OS error of socket or bind.
    pub fn bind_addr(addr: SocketAddr) -> io::Result<UdpSocket> {
        let sockaddr = SockAddr::inet(&addr);
        let socket = Socket::new_for(&sockaddr, libc::SOCK_DGRAM)?;
        socket.bind(&sockaddr)?;
        Ok(UdpSocket { socket })
    }

    /// Sets the default peer (UDP `connect` never blocks); `send`/`recv`
    /// then talk to it only. Python: `sock.connect(addr)`.
    ///
    /// # Errors
    /// The OS error of connect.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<()> {
        self.socket.connect(&SockAddr::inet(&addr)).await
    }

    /// Sends one datagram to `addr`. Python: `loop.sock_sendto`.
    ///
    /// # Errors
    /// The OS error (`EMSGSIZE` for a datagram too large).
    pub async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> io::Result<usize> {
        self.socket.send_to(buf, &SockAddr::inet(&addr)).await
    }

    /// Receives one datagram (truncated to `buf`) and its sender.
    /// Python: `loop.sock_recvfrom`.
    ///
    /// # Errors
    /// The OS error (`ConnectionRefused` after an ICMP port unreachable on a
    /// connected socket).
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let (n, addr) = self.socket.recv_from(buf).await?;
        let from = addr
            .as_inet()
            .ok_or_else(|| io::Error::other("datagram from a non-IP sender"))?;
        Ok((n, from))
    }

    /// Sends one datagram to the connected peer. Python: `loop.sock_sendall`.
    ///
    /// # Errors
    /// `NotConnected` without [`connect`](Self::connect); the OS error.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.socket.send(buf).await
    }

    /// Receives one datagram from the connected peer. Python: `loop.sock_recv`.
    ///
    /// # Errors
    /// The OS error.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.socket.recv(buf).await
    }

    /// The bound address. Python: `sock.getsockname()`.
    ///
    /// # Errors
    /// The OS error of `getsockname`.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_addr()?
            .as_inet()
            .ok_or_else(|| io::Error::other("not an IP socket address"))
    }
}

fd_traits!(UdpSocket);
