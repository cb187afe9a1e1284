//! The syscall layer of corio-net: every libc call of the crate, and the
//! only place with `unsafe`.
//!
//! Each function is a thin, safe wrapper over one syscall, checked through
//! [`cvt`]: buffers are passed with their true lengths, fresh
//! fds are wrapped in [`OwnedFd`] at once, and socket addresses travel in
//! [`SockAddr`], which owns a `sockaddr_storage` and its length. Every
//! socket is made non-blocking and close-on-exec in the same syscall that
//! creates it (`SOCK_NONBLOCK | SOCK_CLOEXEC`, `accept4`), so no fd is ever
//! visible without those flags.

use std::ffi::OsStr;
use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

/// `errno` as an [`io::Error`] when a syscall returned `-1`, else the
/// value (for `int`, `long` and `ssize_t` returns alike).
fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A socket address as the kernel takes it: storage plus used length.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

/// The size of a C struct as a `socklen_t` (all socket structs are small).
fn socklen_of<T>() -> libc::socklen_t {
    mem::size_of::<T>() as libc::socklen_t
}

impl SockAddr {
    /// All-zero storage with the full length: what the kernel fills in.
    fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: sockaddr_storage is a plain C struct of integers and
            // byte arrays, for which all-zero bytes are a valid value.
            storage: unsafe { mem::zeroed() },
            len: socklen_of::<libc::sockaddr_storage>(),
        }
    }

    /// Copies the C struct `raw` into fresh storage.
    fn from_raw<T: Copy>(raw: &T) -> SockAddr {
        let mut addr = SockAddr::empty();
        debug_assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: `T` is one of the sockaddr_* structs, all no larger than
        // sockaddr_storage (asserted above) and all plain old data; the
        // storage is suitably aligned for any of them by definition.
        unsafe {
            std::ptr::write(std::ptr::from_mut(&mut addr.storage).cast::<T>(), *raw);
        }
        addr.len = socklen_of::<T>();
        addr
    }

    /// An IPv4 or IPv6 address.
    pub(crate) fn inet(addr: &SocketAddr) -> SockAddr {
        match addr {
            SocketAddr::V4(v4) => SockAddr::from_raw(&libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(v4.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            SocketAddr::V6(v6) => SockAddr::from_raw(&libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo().to_be(),
                sin6_addr: libc::in6_addr {
                    s6_addr: v6.ip().octets(),
                },
                sin6_scope_id: v6.scope_id(),
            }),
        }
    }

    /// A Unix socket path (a leading NUL byte makes it Linux's abstract
    /// namespace).
    ///
    /// # Errors
    /// `InvalidInput` when the path is empty, longer than `sun_path` (107
    /// bytes and its NUL), or holds a NUL byte inside.
    pub(crate) fn unix(path: &Path) -> io::Result<SockAddr> {
        let bytes = path.as_os_str().as_bytes();
        let mut raw = libc::sockaddr_un {
            sun_family: libc::AF_UNIX as libc::sa_family_t,
            sun_path: [0; 108],
        };
        let abstract_name = bytes.first() == Some(&0);
        let invalid = |why: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid Unix socket path {path:?}: {why}"),
            )
        };
        if bytes.is_empty() {
            return Err(invalid("empty"));
        }
        if !abstract_name && bytes.contains(&0) {
            return Err(invalid("contains a NUL byte"));
        }
        // A path needs room for its NUL terminator; an abstract name does not.
        let room = raw.sun_path.len() - usize::from(!abstract_name);
        if bytes.len() > room {
            return Err(invalid(&format!("longer than {room} bytes")));
        }
        for (dst, src) in raw.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let mut addr = SockAddr::from_raw(&raw);
        let path_offset = mem::size_of::<libc::sa_family_t>();
        addr.len = (path_offset + bytes.len() + usize::from(!abstract_name)) as libc::socklen_t;
        Ok(addr)
    }

    fn family(&self) -> libc::c_int {
        libc::c_int::from(self.storage.ss_family)
    }

    /// The IPv4/IPv6 address held, if it is one.
    pub(crate) fn as_inet(&self) -> Option<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the kernel wrote an AF_INET address, whose layout
                // is sockaddr_in; the storage is aligned and large enough.
                let raw: libc::sockaddr_in =
                    unsafe { std::ptr::read(std::ptr::from_ref(&self.storage).cast()) };
                let ip = Ipv4Addr::from(raw.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(raw.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for AF_INET6 and sockaddr_in6.
                let raw: libc::sockaddr_in6 =
                    unsafe { std::ptr::read(std::ptr::from_ref(&self.storage).cast()) };
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(raw.sin6_addr.s6_addr),
                    u16::from_be(raw.sin6_port),
                    u32::from_be(raw.sin6_flowinfo),
                    raw.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// The Unix path held: `Some(path)` for a named socket (a leading NUL
    /// for an abstract one), `Some("")` for an unnamed one or no address,
    /// `None` for another family.
    pub(crate) fn as_unix_path(&self) -> Option<&Path> {
        // An unbound datagram sender comes with no address at all.
        if self.len == 0 {
            return Some(Path::new(""));
        }
        if self.family() != libc::AF_UNIX {
            return None;
        }
        // SAFETY: an AF_UNIX address has the layout of sockaddr_un, which
        // fits in the aligned storage.
        let raw: &libc::sockaddr_un = unsafe { &*std::ptr::from_ref(&self.storage).cast() };
        let path_offset = mem::size_of::<libc::sa_family_t>();
        let used = (self.len as usize)
            .saturating_sub(path_offset)
            .min(raw.sun_path.len());
        // SAFETY: c_char and u8 have the same size and alignment; the slice
        // stays within `sun_path`.
        let bytes: &[u8] =
            unsafe { std::slice::from_raw_parts(raw.sun_path.as_ptr().cast(), used) };
        // A path is NUL-terminated within `used`; an abstract name is not.
        let bytes = match bytes.split_first() {
            Some((0, _)) => bytes,
            _ => bytes.split(|b| *b == 0).next().unwrap_or(&[]),
        };
        Some(Path::new(OsStr::from_bytes(bytes)))
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        std::ptr::from_ref(&self.storage).cast()
    }
}

/// Wraps a fresh fd returned by the kernel, so that it is closed on drop.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful syscall that creates a
    // new descriptor (checked by `cvt` at every call site), so it is open and
    // nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `socket(domain, ty | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)`.
pub(crate) fn socket(domain: libc::c_int, ty: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the kernel validates the integer arguments.
    let fd =
        cvt(unsafe { libc::socket(domain, ty | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    Ok(owned(fd))
}

/// The address family a [`SockAddr`] needs its socket to have.
pub(crate) fn domain_of(addr: &SockAddr) -> libc::c_int {
    addr.family()
}

/// `bind(fd, addr)`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points at `addr.len` initialised bytes of a sockaddr.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// `listen(fd, backlog)`.
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) }).map(drop)
}

/// `connect(fd, addr)`: on a non-blocking socket, `EINPROGRESS` means "wait
/// until writable, then read SO_ERROR".
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    // SAFETY: `addr` points at `addr.len` initialised bytes of a sockaddr.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), addr.as_ptr(), addr.len) }).map(drop)
}

/// `accept4(fd, .., SOCK_NONBLOCK | SOCK_CLOEXEC)`: the new socket and the
/// peer's address.
pub(crate) fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, SockAddr)> {
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `addr.len` bytes into the storage
    // and updates `addr.len` with the real size.
    let new = cvt(unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            std::ptr::from_mut(&mut addr.storage).cast(),
            &mut addr.len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    })?;
    Ok((owned(new), addr))
}

/// `getsockname` (`peer == false`) or `getpeername` (`peer == true`).
pub(crate) fn socket_addr(fd: BorrowedFd<'_>, peer: bool) -> io::Result<SockAddr> {
    let mut addr = SockAddr::empty();
    let call = if peer {
        libc::getpeername
    } else {
        libc::getsockname
    };
    // SAFETY: as in `accept`: the kernel fills at most `addr.len` bytes.
    cvt(unsafe {
        call(
            fd.as_raw_fd(),
            std::ptr::from_mut(&mut addr.storage).cast(),
            &mut addr.len,
        )
    })?;
    Ok(addr)
}

/// `setsockopt(fd, level, name, &value)` for an `int` option.
pub(crate) fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a live `c_int` of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            socklen_of::<libc::c_int>(),
        )
    })
    .map(drop)
}

/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, …)`: with `Some(0 s)` the next
/// `close` drops what is unsent and resets the connection (the peer reads
/// `ECONNRESET`) instead of sending a FIN after the data; `None` turns
/// lingering off (the default). Seconds past `i32::MAX` saturate.
pub(crate) fn set_linger(fd: BorrowedFd<'_>, linger: Option<Duration>) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: libc::c_int::from(linger.is_some()),
        l_linger: linger.map_or(0, |d| {
            libc::c_int::try_from(d.as_secs()).unwrap_or(libc::c_int::MAX)
        }),
    };
    // SAFETY: the option value is a live `linger` of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            socklen_of::<libc::linger>(),
        )
    })
    .map(drop)
}

/// `getsockopt(fd, SOL_SOCKET, SO_LINGER)`: `None` when lingering is off.
pub(crate) fn linger(fd: BorrowedFd<'_>) -> io::Result<Option<Duration>> {
    let mut linger = libc::linger {
        l_onoff: 0,
        l_linger: 0,
    };
    let mut len = socklen_of::<libc::linger>();
    // SAFETY: the kernel writes at most `len` bytes into `linger`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_mut(&mut linger).cast(),
            &mut len,
        )
    })?;
    let secs = u64::try_from(linger.l_linger).unwrap_or(0);
    Ok((linger.l_onoff != 0).then_some(Duration::from_secs(secs)))
}

/// `getsockopt(fd, level, name)` for an `int` option.
pub(crate) fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = socklen_of::<libc::c_int>();
    // SAFETY: the kernel writes at most `len` bytes into `value`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            std::ptr::from_mut(&mut value).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

// The data path (`recv`, `send`, `sendmsg`, `read`, `write`) calls the
// kernel through `syscall(2)` rather than glibc's wrappers of the same
// names. Those wrappers are pthread cancellation points: in a process with
// more than one thread (corio's watchdog, an offload pool, any thread of
// the application) each call then enables and disables asynchronous
// cancellation around the syscall, about 45 instructions more per call
// (callgrind, the streams echo: 3 such calls per message). corio never
// cancels a thread, so it skips them; with one thread the two cost the
// same. The kernel's calls are `recvfrom`/`sendto` with no address, which
// is what `recv`/`send` are on every architecture.

/// `recv(fd, buf, flags)`: bytes read, 0 at EOF.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    unsafe { recv_raw(fd, buf.as_mut_ptr(), buf.len(), flags) }
}

/// `recv(fd, buf, 0)` into memory not yet initialized: the first `n`
/// bytes of `buf` are initialized when it returns `Ok(n)`.
pub(crate) fn recv_uninit(
    fd: BorrowedFd<'_>,
    buf: &mut [std::mem::MaybeUninit<u8>],
) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes; the kernel
    // only writes to it, never reads the uninitialized bytes.
    unsafe { recv_raw(fd, buf.as_mut_ptr().cast(), buf.len(), 0) }
}

/// `recvfrom(fd, ptr, len, flags, NULL, NULL)`, which is `recv`: the one
/// body of [`recv`] and [`recv_uninit`].
///
/// # Safety
/// `ptr` must be valid for writes of `len` bytes.
unsafe fn recv_raw(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    flags: libc::c_int,
) -> io::Result<usize> {
    // SAFETY: the caller's promise for `ptr`; no address is asked for
    // (null pointers).
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            fd.as_raw_fd(),
            ptr,
            len,
            flags,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    })?;
    Ok(n as usize)
}

/// `send(fd, buf, MSG_NOSIGNAL)`: a reset peer is EPIPE, never SIGPIPE.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes; no address
    // (a connected socket).
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_sendto,
            fd.as_raw_fd(),
            buf.as_ptr(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            std::ptr::null::<libc::sockaddr>(),
            0 as libc::socklen_t,
        )
    })?;
    Ok(n as usize)
}

/// `sendmsg(fd, iov, MSG_NOSIGNAL)`: one gathered send of several
/// buffers (`writev` that never raises SIGPIPE).
pub(crate) fn send_vectored(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: an all-zero `msghdr` is valid (no name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` on Unix (documented by std);
    // sendmsg only reads through the pointer.
    msg.msg_iov = bufs.as_ptr().cast_mut().cast();
    msg.msg_iovlen = bufs.len().min(1024) as _;
    // SAFETY: `msg` points at `msg_iovlen` valid iovecs, each valid for
    // reads of its length, alive for the call.
    let n = cvt(unsafe {
        libc::syscall(
            libc::SYS_sendmsg,
            fd.as_raw_fd(),
            &raw const msg,
            libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
}

/// `recvfrom(fd, buf, 0)`: bytes read and the sender's address.
pub(crate) fn recv_from(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, SockAddr)> {
    let mut addr = SockAddr::empty();
    // SAFETY: `buf` is writable for its length; the kernel fills at most
    // `addr.len` bytes of the storage.
    let n = cvt(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            0,
            std::ptr::from_mut(&mut addr.storage).cast(),
            &mut addr.len,
        )
    })?;
    Ok((n as usize, addr))
}

/// `sendto(fd, buf, MSG_NOSIGNAL, addr)`.
pub(crate) fn send_to(fd: BorrowedFd<'_>, buf: &[u8], addr: &SockAddr) -> io::Result<usize> {
    // SAFETY: `buf` is readable for its length; `addr` points at
    // `addr.len` initialised bytes.
    let n = cvt(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
            addr.as_ptr(),
            addr.len,
        )
    })?;
    Ok(n as usize)
}

/// `shutdown(fd, how)`.
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) }).map(drop)
}

// ------------------------------------------------------------ processes ---

/// `pipe2(O_CLOEXEC)`: (read end, write end), both blocking (the child's
/// end must block; the loop makes its own end non-blocking).
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` is two writable ints, as pipe2 expects.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((owned(fds[0]), owned(fds[1])))
}

/// `read(fd, buf)`: bytes read, 0 at EOF.
pub(crate) fn read(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n =
        cvt(unsafe { libc::syscall(libc::SYS_read, fd.as_raw_fd(), buf.as_mut_ptr(), buf.len()) })?;
    Ok(n as usize)
}

/// `write(fd, buf)`: bytes written. On a pipe without a reader this
/// raises `SIGPIPE` unless it is ignored (Rust programs ignore it), and
/// fails with `EPIPE`.
pub(crate) fn write(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for reads of `buf.len()` bytes.
    let n =
        cvt(unsafe { libc::syscall(libc::SYS_write, fd.as_raw_fd(), buf.as_ptr(), buf.len()) })?;
    Ok(n as usize)
}

/// `fcntl(fd, F_SETFL, O_NONBLOCK | flags)`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take and return plain integers.
    unsafe {
        let flags = cvt(libc::fcntl(fd.as_raw_fd(), libc::F_GETFL))?;
        cvt(libc::fcntl(
            fd.as_raw_fd(),
            libc::F_SETFL,
            flags | libc::O_NONBLOCK,
        ))
        .map(drop)
    }
}

/// `pidfd_open(pid, 0)` (Linux ≥ 5.3): an fd that becomes readable when
/// the process exits. Close-on-exec by default.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: no pointers; the kernel validates the pid.
    let fd = cvt(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    Ok(owned(fd as RawFd))
}

/// `pidfd_send_signal(pidfd, signum, NULL, 0)` (Linux ≥ 5.1): signals the
/// very process the pidfd names, never one that reused its pid.
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signum: libc::c_int) -> io::Result<()> {
    // SAFETY: a null siginfo is allowed (the kernel fills in a kill-like one).
    cvt(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            signum,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}
