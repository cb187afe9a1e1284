//! [`Socket`]: one non-blocking socket fd and the operations every socket
//! type shares, each awaiting readiness when its syscall would block.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::ready::{Interest, ready, retry};
use crate::sys::{self, SockAddr};

/// An owned non-blocking, close-on-exec socket.
#[derive(Debug)]
pub(crate) struct Socket {
    fd: OwnedFd,
    /// A task is parked waiting to read / to write. The loop keeps one
    /// reader and one writer per fd (as asyncio's `add_reader` does), so a
    /// second waiter in the same direction would silently replace the
    /// first and lose its wake-up: it gets `ResourceBusy` instead.
    waiting: [Cell<bool>; 2],
}

/// Marks one direction of a socket busy while a task waits on it.
struct Busy<'a>(&'a Cell<bool>);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

impl Socket {
    /// A new socket of the address's family.
    pub(crate) fn new_for(addr: &SockAddr, ty: libc::c_int) -> io::Result<Socket> {
        Ok(Socket::from_fd(sys::socket(sys::domain_of(addr), ty)?))
    }

    pub(crate) fn from_fd(fd: OwnedFd) -> Socket {
        Socket {
            fd,
            waiting: Default::default(),
        }
    }

    /// Claims `interest` for one waiting task.
    fn claim(&self, interest: Interest) -> io::Result<Busy<'_>> {
        let flag = &self.waiting[usize::from(interest == Interest::Write)];
        if flag.replace(true) {
            let direction = match interest {
                Interest::Read => "read from",
                Interest::Write => "write to",
            };
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                format!("another task is already waiting to {direction} this socket"),
            ));
        }
        Ok(Busy(flag))
    }

    /// [`retry`] with this socket's direction claimed.
    async fn retry<T>(
        &self,
        interest: Interest,
        op: impl FnMut() -> io::Result<T>,
    ) -> io::Result<T> {
        let _busy = self.claim(interest)?;
        retry(self.raw(), interest, op).await
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(crate) fn bind(&self, addr: &SockAddr) -> io::Result<()> {
        sys::bind(self.fd(), addr)
    }

    pub(crate) fn listen(&self, backlog: i32) -> io::Result<()> {
        sys::listen(self.fd(), backlog)
    }

    pub(crate) fn set_option(
        &self,
        level: libc::c_int,
        name: libc::c_int,
        on: bool,
    ) -> io::Result<()> {
        sys::set_int_option(self.fd(), level, name, libc::c_int::from(on))
    }

    pub(crate) fn option(&self, level: libc::c_int, name: libc::c_int) -> io::Result<bool> {
        sys::int_option(self.fd(), level, name).map(|v| v != 0)
    }

    /// asyncio's `sock_connect`: `connect`, and on `EINPROGRESS` wait until
    /// writable, then the outcome is `SO_ERROR`.
    pub(crate) async fn connect(&self, addr: &SockAddr) -> io::Result<()> {
        match sys::connect(self.fd(), addr) {
            Ok(()) => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        let busy = self.claim(Interest::Write)?;
        ready(self.raw(), Interest::Write).await?;
        drop(busy);
        match sys::int_option(self.fd(), libc::SOL_SOCKET, libc::SO_ERROR)? {
            0 => Ok(()),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// asyncio's `sock_accept`.
    pub(crate) async fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        let (fd, addr) = self
            .retry(Interest::Read, || sys::accept(self.fd()))
            .await?;
        Ok((Socket::from_fd(fd), addr))
    }

    /// asyncio's `sock_recv`: at most `buf.len()` bytes, 0 at EOF.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.retry(Interest::Read, || sys::recv(self.fd(), buf, 0))
            .await
    }

    /// Reads without consuming (`MSG_PEEK`).
    pub(crate) async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.retry(Interest::Read, || sys::recv(self.fd(), buf, libc::MSG_PEEK))
            .await
    }

    /// One `send`: how many bytes went out.
    pub(crate) async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.retry(Interest::Write, || sys::send(self.fd(), buf))
            .await
    }

    /// asyncio's `sock_sendall`: every byte, or the error.
    pub(crate) async fn send_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.send(buf).await?;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// asyncio's `sock_recvfrom`.
    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
        self.retry(Interest::Read, || sys::recv_from(self.fd(), buf))
            .await
    }

    /// asyncio's `sock_sendto`.
    pub(crate) async fn send_to(&self, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
        self.retry(Interest::Write, || sys::send_to(self.fd(), buf, addr))
            .await
    }

    pub(crate) fn local_addr(&self) -> io::Result<SockAddr> {
        sys::socket_addr(self.fd(), false)
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::socket_addr(self.fd(), true)
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        sys::shutdown(self.fd(), how)
    }

    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }
}
