//! The read-ahead buffer behind `AsyncBufRead`, shared by [`BufIo`] and
//! [`StreamPair`].
//!
//! [`BufIo`]: crate::BufIo
//! [`StreamPair`]: crate::StreamPair

use std::io;
use std::task::{Poll, ready};

/// The storage a first fill allocates (at most the caller's `size`).
const FIRST_FILL: usize = 64 * 1024;

/// Bytes read ahead and not consumed yet: `buf[pos..filled]`. The storage
/// is allocated by the first fill, so a stream nobody reads line by line
/// never holds one; it starts at [`FIRST_FILL`] and doubles, up to the
/// `size` the caller allows, each time a fill fills it whole. So a huge
/// `size` (a reader limit of 2^44, or `usize::MAX`) costs only what the
/// data needs.
#[derive(Debug, Default)]
pub(crate) struct ReadBuffer {
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
}

impl ReadBuffer {
    /// The bytes read ahead and not consumed.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// Marks `amt` unread bytes consumed (at most all of them).
    pub(crate) fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }

    /// Copies unread bytes into `out` and consumes them; how many.
    pub(crate) fn take_into(&mut self, out: &mut [u8]) -> usize {
        let rest = self.unread();
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.consume(n);
        n
    }

    /// The unread bytes; when there are none, first refilled by `fill`
    /// (which reads into the storage, `size` bytes, and says how many it
    /// wrote). A `fill` that is pending or fails leaves the buffer empty
    /// and loses nothing.
    pub(crate) fn poll_fill(
        &mut self,
        size: usize,
        fill: impl FnOnce(&mut [u8]) -> Poll<io::Result<usize>>,
    ) -> Poll<io::Result<&[u8]>> {
        if self.pos == self.filled {
            let want = if self.buf.is_empty() {
                size.min(FIRST_FILL)
            } else if self.filled == self.buf.len() {
                // The last fill filled it: the data comes faster than this.
                size.min(self.buf.len().saturating_mul(2))
            } else {
                self.buf.len()
            };
            if want != self.buf.len() {
                self.buf = vec![0; want].into_boxed_slice();
                (self.pos, self.filled) = (0, 0);
            }
            let n = ready!(fill(&mut self.buf))?;
            self.pos = 0;
            self.filled = n;
        }
        Poll::Ready(Ok(self.unread()))
    }
}
