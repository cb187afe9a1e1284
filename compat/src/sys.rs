//! The one unsafe step of the hyper adapter: telling hyper's read cursor
//! how many bytes the kernel initialized.

use std::io;
use std::task::{Context, Poll};

use hyper::rt::ReadBufCursor;

/// Reads with `read` into the unfilled part of `cursor` and advances it.
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
