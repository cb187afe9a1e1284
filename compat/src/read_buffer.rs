//! The read-ahead buffer behind `AsyncBufRead`, shared by [`BufIo`] and
//! [`StreamPair`].
//!
//! [`BufIo`]: crate::BufIo
//! [`StreamPair`]: crate::StreamPair

use std::io;
use std::task::{Poll, ready};

/// Bytes read ahead and not consumed yet: `buf[pos..filled]`. The storage
/// is allocated by the first fill, so a stream nobody reads line by line
/// never holds one.
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
            if self.buf.is_empty() {
                self.buf = vec![0; size].into_boxed_slice();
            }
            let n = ready!(fill(&mut self.buf))?;
            self.pos = 0;
            self.filled = n;
        }
        Poll::Ready(Ok(self.unread()))
    }
}
