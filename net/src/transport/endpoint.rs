//! What a transport reads and writes: a connected socket, or one end of a
//! pipe (a child process's stdio).

use super::*;

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
    pub(super) fn raw(&self) -> RawFd {
        match self {
            Endpoint::Socket(socket) => socket.raw(),
            Endpoint::ReadPipe(fd) | Endpoint::WritePipe(fd) => fd.as_raw_fd(),
        }
    }

    pub(super) fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Endpoint::Socket(socket) => sys::recv(socket.fd(), buf, 0),
            Endpoint::ReadPipe(fd) => sys::read(fd.as_fd(), buf),
            Endpoint::WritePipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the write end of a pipe cannot be read",
            )),
        }
    }

    pub(super) fn write(&self, data: &[u8]) -> io::Result<usize> {
        match self {
            Endpoint::Socket(socket) => sys::send(socket.fd(), data),
            Endpoint::WritePipe(fd) => sys::write(fd.as_fd(), data),
            Endpoint::ReadPipe(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the read end of a pipe cannot be written",
            )),
        }
    }

    pub(super) fn is_pipe(&self) -> bool {
        !matches!(self, Endpoint::Socket(_))
    }
}
