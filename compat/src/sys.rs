//! The unsafe steps of the hyper and tokio adapters: telling hyper's read
//! cursor or tokio's `ReadBuf` how many bytes the kernel initialized, and
//! arming a connection's reset.

use std::io;
#[cfg(feature = "hyper")]
use std::os::fd::RawFd;
use std::task::{Context, Poll};

#[cfg(feature = "hyper")]
use hyper::rt::ReadBufCursor;

/// Reads with `read` into the unfilled part of tokio's `buf` and marks
/// what it wrote as initialized and filled.
#[cfg(feature = "tokio-io")]
pub(crate) fn read_into_readbuf(
    buf: &mut tokio::io::ReadBuf<'_>,
    cx: &mut Context<'_>,
    read: impl FnOnce(&mut Context<'_>, &mut [std::mem::MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: the slice is only handed to `read`, whose contract (corio-net's
    // `poll_recv_uninit`: a `recv` into it) is to write, never de-initialize.
    let unfilled = unsafe { buf.unfilled_mut() };
    let len = unfilled.len();
    match read(cx, unfilled) {
        Poll::Ready(Ok(n)) => {
            assert!(n <= len, "recv returned more than the buffer");
            // SAFETY: `recv` initialized the first `n` bytes of the unfilled
            // part (it returned `n`, and `n <= len`).
            unsafe { buf.assume_init(n) };
            buf.advance(n);
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Reads with `read` into the unfilled part of `cursor` and advances it.
#[cfg(feature = "hyper")]
pub(crate) fn read_into_cursor(
    cursor: &mut ReadBufCursor<'_>,
    cx: &mut Context<'_>,
    read: impl FnOnce(&mut Context<'_>, &mut [std::mem::MaybeUninit<u8>]) -> Poll<io::Result<usize>>,
) -> Poll<io::Result<()>> {
    // SAFETY: the slice is only handed to `read`, whose contract (corio-net's
    // `poll_recv_uninit`: a `recv` into it) is to write, never de-initialize.
    let unfilled = unsafe { cursor.as_mut() };
    let len = unfilled.len();
    match read(cx, unfilled) {
        Poll::Ready(Ok(n)) => {
            assert!(n <= len, "recv returned more than the buffer");
            // SAFETY: `recv` initialized the first `n` bytes of the unfilled
            // part (it returned `n`, and `n <= len`).
            unsafe { cursor.advance(n) };
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(feature = "hyper")]
/// `setsockopt(fd, SOL_SOCKET, SO_LINGER, {on, 0 s})`: the socket's close
/// drops what is unsent and resets the connection.
///
/// `fd` is a connection's that a server task owns; the server keeps it
/// only while that task holds the socket open (see `server.rs`'s
/// `Client`), so it names that socket and no other.
pub(crate) fn set_reset_on_close(fd: RawFd) -> io::Result<()> {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let size = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: the option value points at a live `linger` of `size` bytes,
    // which the kernel only reads; a stale fd would fail with EBADF, not
    // touch memory.
    let rc = unsafe {
        libc::setsockopt(
            fd,
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

// SAFETY: an `OnLoop`'s value is reachable only through `Deref`,
// `DerefMut`, `Clone`, `Future::poll` and `Drop`, and each of them first
// checks that the calling thread is the owner (the one that made it), so
// the value is only ever touched on one thread, whatever thread holds the
// wrapper: off the owner's thread, `Drop` leaks the value rather than
// destroy it.
#[cfg(feature = "axum")]
unsafe impl<T> Send for crate::on_loop::OnLoop<T> {}
// SAFETY: as for `Send`: a shared `&OnLoop` gives access to the value
// only through the same owner-checked paths.
#[cfg(feature = "axum")]
unsafe impl<T> Sync for crate::on_loop::OnLoop<T> {}

/// Structural pinning of an [`OnLoop`](crate::on_loop::OnLoop)'s value.
#[cfg(feature = "axum")]
pub(crate) fn pin_on_loop<F>(
    on_loop: std::pin::Pin<&mut crate::on_loop::OnLoop<F>>,
) -> std::pin::Pin<&mut F> {
    // SAFETY: `value` is never moved out of a pinned `OnLoop`: no method
    // hands it out by value or by `&mut` once pinned (`DerefMut` needs an
    // unpinned `&mut OnLoop`, which a `Pin<&mut OnLoop<F>>` of a `!Unpin`
    // F does not give), and `Drop` does not move it.
    unsafe { on_loop.map_unchecked_mut(|o| &mut *o.value) }
}

/// Destroys an [`OnLoop`](crate::on_loop::OnLoop)'s value, from its
/// `Drop` on the owner's thread.
#[cfg(feature = "axum")]
pub(crate) fn drop_on_loop<T>(value: &mut std::mem::ManuallyDrop<T>) {
    // SAFETY: called only from `OnLoop::drop`, once, and the value is
    // never used after it (the `OnLoop` is being dropped).
    unsafe { std::mem::ManuallyDrop::drop(value) }
}
