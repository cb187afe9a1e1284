//! [`StreamReader`]: asyncio's reader, over the shared buffer.

use super::*;

/// The reading half of a stream connection. Mirrors `asyncio.StreamReader`.
///
/// # Examples
///
/// The buffer and its limit work without a connection, fed by hand:
///
/// ```
/// use corio_net::{StreamError, StreamReader};
///
/// corio_executor::run(async {
///     let reader = StreamReader::new(8);
///     reader.feed_data(b"GET / HTTP/1.1\r\n");
///     reader.feed_eof();
///     // The newline is at 15, past the 8-byte limit: LimitOverrun, and
///     // nothing consumed.
///     let err = reader.readuntil(b"\n").await.unwrap_err();
///     assert!(matches!(err, StreamError::LimitOverrun { consumed: 15, .. }));
///     assert_eq!(reader.readexactly(4).await.unwrap(), b"GET ");
///     assert_eq!(reader.read(-1).await.unwrap(), b"/ HTTP/1.1\r\n");
///     assert!(reader.at_eof());
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StreamReader {
    pub(super) shared: Rc<Shared>,
    /// A child's stdout or stderr: the pipe's transport, closed when the
    /// reader is dropped (nobody else can read that pipe).
    pub(super) pipe: Option<Transport>,
}

impl Drop for StreamReader {
    fn drop(&mut self) {
        if let Some(pipe) = &self.pipe {
            pipe.close();
        }
    }
}

impl StreamReader {
    /// A reader with its own buffer of `limit` bytes (asyncio's `limit`:
    /// the longest line or separator search). Python: `StreamReader(limit)`.
    ///
    /// Any positive limit works, up to `usize::MAX` (no limit, in effect):
    /// nothing is allocated for it up front, and the pause threshold,
    /// twice the limit, saturates.
    ///
    /// # Panics
    /// When `limit` is 0 (asyncio raises `ValueError`).
    pub fn new(limit: usize) -> StreamReader {
        assert!(limit > 0, "limit must be positive");
        StreamReader {
            shared: Shared::new(limit),
            pipe: None,
        }
    }

    /// Appends bytes as if received. Python: `feed_data(data)`.
    pub fn feed_data(&self, data: &[u8]) {
        self.shared.feed_data(data);
    }

    /// Marks the end of the stream. Python: `feed_eof()`.
    pub fn feed_eof(&self) {
        self.shared.feed_eof();
    }

    /// The reader's limit. Python: `reader._limit`.
    pub fn limit(&self) -> usize {
        self.shared.limit
    }

    /// True when EOF came and the buffer is empty. Python: `at_eof()`.
    pub fn at_eof(&self) -> bool {
        self.shared.eof.get() && self.shared.buffer.borrow().len() == 0
    }

    /// The connection's error, if it failed. Python: `exception()`.
    pub fn exception(&self) -> Option<io::Error> {
        self.shared.failure.borrow().as_ref().map(Failure::error)
    }

    pub(super) fn check(&self) -> Result<ReadGuard<'_>, StreamError> {
        if let Some(failure) = &*self.shared.failure.borrow() {
            return Err(failure.error().into());
        }
        if self.shared.reader_waiting.replace(true) {
            return Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "another task is already waiting to read this stream",
            )
            .into());
        }
        Ok(ReadGuard(&self.shared))
    }

    /// Waits until `ready` holds, or the connection fails.
    pub(super) fn wait_until<F: FnMut(&Shared) -> bool + Unpin>(
        &self,
        ready: F,
    ) -> WaitUntil<'_, F> {
        WaitUntil {
            shared: &self.shared,
            ready,
        }
    }

    /// Waits for more data than is buffered now, or EOF.
    pub(super) fn wait_for_more(&self) -> WaitUntil<'_, impl FnMut(&Shared) -> bool + Unpin> {
        let before = self.shared.buffer.borrow().len();
        self.wait_until(move |s| s.buffer.borrow().len() > before || s.eof.get())
    }

    /// Reads up to `n` bytes: whatever is buffered (at least one byte)
    /// once something is, or `b""` at EOF; `n < 0` reads until EOF.
    /// Python: `await reader.read(n=-1)`.
    ///
    /// # Errors
    /// The connection's error; `ResourceBusy` if another task is reading.
    pub async fn read(&self, n: isize) -> Result<Vec<u8>, StreamError> {
        if n < 0 {
            let _guard = self.check()?;
            self.shared.to_eof.set(true);
            self.wait_until(|s| s.eof.get()).await?;
            let all = self.shared.buffer.borrow_mut().take_all();
            self.shared.maybe_resume();
            return Ok(all);
        }
        let _guard = self.check()?;
        if n == 0 {
            return Ok(Vec::new());
        }
        self.wait_until(Shared::has_data_or_eof).await?;
        let mut buffer = self.shared.buffer.borrow_mut();
        let n = buffer.len().min(n.unsigned_abs());
        let data = buffer.take(n);
        drop(buffer);
        self.shared.maybe_resume();
        Ok(data)
    }

    /// Reads up to `buf.len()` bytes into `buf` and returns how many: what
    /// [`read(buf.len())`](Self::read) would return, copied into the
    /// caller's buffer instead of a new `Vec`; 0 at EOF (or for an empty
    /// `buf`).
    ///
    /// No asyncio counterpart on `StreamReader` (its nearest kin is
    /// `loop.sock_recv_into`); it is tokio's `AsyncReadExt::read`, for a
    /// loop that reuses one buffer and so allocates nothing per read.
    ///
    /// # Examples
    ///
    /// ```
    /// use corio_net::StreamReader;
    ///
    /// corio_executor::run(async {
    ///     let reader = StreamReader::new(1024);
    ///     reader.feed_data(b"hello");
    ///     reader.feed_eof();
    ///     let mut buf = [0u8; 3];
    ///     assert_eq!(reader.read_into(&mut buf).await?, 3);
    ///     assert_eq!(&buf, b"hel");
    ///     assert_eq!(reader.read_into(&mut buf).await?, 2);
    ///     assert_eq!(&buf[..2], b"lo");
    ///     assert_eq!(reader.read_into(&mut buf).await?, 0); // EOF
    ///     Ok::<(), corio_net::StreamError>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As for [`read`](Self::read).
    pub async fn read_into(&self, buf: &mut [u8]) -> Result<usize, StreamError> {
        let _guard = self.check()?;
        if buf.is_empty() {
            return Ok(0);
        }
        self.wait_until(Shared::has_data_or_eof).await?;
        let n = self.shared.buffer.borrow_mut().take_into(buf);
        self.shared.maybe_resume();
        Ok(n)
    }

    /// The poll-level [`read_into`](Self::read_into), for adapters that
    /// implement other crates' read traits (`futures_io::AsyncRead`): copies
    /// up to `buf.len()` buffered bytes into `buf` and returns how many, `0`
    /// at EOF (or for an empty `buf`), or parks the task until data, EOF or
    /// the connection's error arrives.
    ///
    /// Mirrors `await reader.read(len(buf))` taken apart: its checks, then
    /// asyncio's `_wait_for_data` as a stored waker instead of a future.
    /// Differs in keeping no "a task is reading" mark between polls, so
    /// an abandoned poll leaves nothing behind; one task at a time should
    /// read (a second poller replaces the first's waker).
    ///
    /// Cancel-safe: bytes are consumed only by a `Ready(Ok(n))`, so a poll
    /// that returned `Pending` and is never repeated loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use corio_net::StreamReader;
    ///
    /// corio_executor::run(async {
    ///     let reader = StreamReader::new(1024);
    ///     reader.feed_data(b"abc");
    ///     reader.feed_eof();
    ///     let mut buf = [0u8; 8];
    ///     let n = poll_fn(|cx| reader.poll_read_into(cx, &mut buf)).await?;
    ///     assert_eq!(&buf[..n], b"abc");
    ///     assert_eq!(poll_fn(|cx| reader.poll_read_into(cx, &mut buf)).await?, 0);
    ///     Ok::<(), corio_net::StreamError>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The connection's error (reported before buffered bytes, as
    /// asyncio's `read` raises `exception()` first); `ResourceBusy` while
    /// another task awaits a read of this reader.
    pub fn poll_read_into(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<usize, StreamError>> {
        let shared = &*self.shared;
        if let Some(failure) = &*shared.failure.borrow() {
            return Poll::Ready(Err(failure.error().into()));
        }
        if shared.reader_waiting.get() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "another task is already waiting to read this stream",
            )
            .into()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = shared.buffer.borrow_mut().take_into(buf);
        if n > 0 {
            shared.maybe_resume();
            return Poll::Ready(Ok(n));
        }
        if shared.eof.get() {
            return Poll::Ready(Ok(0));
        }
        shared.park_reader(cx.waker());
        Poll::Pending
    }

    /// Reads exactly `n` bytes. Python: `await reader.readexactly(n)`.
    ///
    /// # Errors
    /// [`StreamError::IncompleteRead`] with what was buffered (consumed)
    /// when EOF comes first; the connection's error.
    pub async fn readexactly(&self, n: usize) -> Result<Vec<u8>, StreamError> {
        let _guard = self.check()?;
        self.wait_until(|s| s.buffer.borrow().len() >= n || s.eof.get())
            .await?;
        if self.shared.buffer.borrow().len() < n {
            let partial = self.shared.buffer.borrow_mut().take_all();
            return Err(StreamError::IncompleteRead {
                partial,
                expected: Some(n),
            });
        }
        let data = self.shared.buffer.borrow_mut().take(n);
        self.shared.maybe_resume();
        Ok(data)
    }

    /// Reads through `separator`, which ends the returned bytes. Python:
    /// `await reader.readuntil(separator)`.
    ///
    /// # Errors
    /// [`StreamError::LimitOverrun`] when the separator is not within the
    /// limit (the buffer is left intact); [`StreamError::IncompleteRead`]
    /// at EOF without it (the partial bytes are consumed);
    /// `InvalidInput` for an empty separator; the connection's error.
    pub async fn readuntil(&self, separator: &[u8]) -> Result<Vec<u8>, StreamError> {
        if separator.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "separator should be at least one-byte string",
            )
            .into());
        }
        let _guard = self.check()?;
        let limit = self.shared.limit;
        // Where the search resumes: bytes before it were searched already.
        let mut offset = 0;
        let found = loop {
            if let Some(found) = self.shared.search(separator, &mut offset)? {
                break found;
            }
            if self.shared.eof.get() {
                let partial = self.shared.buffer.borrow_mut().take_all();
                return Err(StreamError::IncompleteRead {
                    partial,
                    expected: None,
                });
            }
            self.wait_for_more().await?;
        };
        if found > limit {
            return Err(StreamError::LimitOverrun {
                message: "Separator is found, but chunk is longer than limit",
                consumed: found,
            });
        }
        let line = self
            .shared
            .buffer
            .borrow_mut()
            .take(found + separator.len());
        self.shared.maybe_resume();
        Ok(line)
    }

    /// Reads one line, through `\n`; at EOF the last unterminated bytes,
    /// then `b""`. Python: `await reader.readline()`.
    ///
    /// # Errors
    /// [`StreamError::LineTooLong`] when the line passes the limit: as in
    /// asyncio, the buffer loses the line through its `\n` if it came,
    /// else everything buffered; the connection's error.
    pub async fn readline(&self) -> Result<Vec<u8>, StreamError> {
        match self.readuntil(b"\n").await {
            Ok(line) => Ok(line),
            Err(StreamError::IncompleteRead { partial, .. }) => Ok(partial),
            Err(StreamError::LimitOverrun { message, consumed }) => {
                let mut buffer = self.shared.buffer.borrow_mut();
                if buffer.unread().get(consumed) == Some(&b'\n') {
                    buffer.skip(consumed + 1);
                } else {
                    buffer.take_all();
                }
                drop(buffer);
                self.shared.maybe_resume();
                Err(StreamError::LineTooLong(message))
            }
            Err(other) => Err(other),
        }
    }

    /// The next line, `None` at EOF: `async for line in reader`. Python:
    /// `await reader.__anext__()`.
    ///
    /// # Errors
    /// As [`readline`](Self::readline).
    pub async fn next_line(&self) -> Result<Option<Vec<u8>>, StreamError> {
        let line = self.readline().await?;
        Ok((!line.is_empty()).then_some(line))
    }

    /// Line iteration: `while let Some(line) = lines.next().await`. Python:
    /// `async for line in reader`.
    pub fn lines(&self) -> Lines<'_> {
        Lines { reader: self }
    }
}

/// The lines of a [`StreamReader`], until EOF (see [`StreamReader::lines`]).
pub struct Lines<'a> {
    pub(super) reader: &'a StreamReader,
}

impl Lines<'_> {
    /// The next line, or `None` at EOF.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, StreamError>> {
        self.reader.next_line().await.transpose()
    }
}

/// Where `needle` first occurs in `haystack`.
pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        [byte] => haystack.iter().position(|b| b == byte),
        _ => haystack.windows(needle.len()).position(|w| w == needle),
    }
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("buffered", &self.shared.buffer.borrow().len())
            .field("limit", &self.shared.limit)
            .field("eof", &self.shared.eof.get())
            .finish()
    }
}
