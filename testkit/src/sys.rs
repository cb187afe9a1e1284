//! The kit's syscalls std does not offer: `SO_LINGER` on a std socket,
//! the effective uid.

use std::io;
use std::os::fd::AsRawFd;

/// Sets `SO_LINGER` to on, 0 s: closing `socket` then sends a reset
/// instead of a FIN (the peer reads `ECONNRESET`), as a peer that vanished
/// would. std's `TcpStream::set_linger` is unstable; corio's is not.
///
/// # Errors
/// The OS error of `setsockopt`.
pub fn reset_on_close(socket: &impl AsRawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let size = libc::socklen_t::try_from(std::mem::size_of::<libc::linger>())
        .expect("a linger struct fits a socklen_t");
    // SAFETY: the option value points at a live `linger` of `size` bytes,
    // which the kernel only reads; a closed fd fails with EBADF.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            size,
        )
    };
    if rc == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True when the process runs as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid takes no arguments, touches no memory and cannot
    // fail.
    unsafe { libc::geteuid() == 0 }
}
