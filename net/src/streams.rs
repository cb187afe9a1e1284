//! Streams: asyncio's `StreamReader`, `StreamWriter`, `open_connection` and
//! `start_server`, built on the protocol layer exactly as asyncio's are.
//!
//! A [`StreamReaderProtocol`](self) sits on a [`Transport`]: `data_received`
//! appends to the reader's buffer and wakes the one task waiting to read;
//! `pause_writing` / `resume_writing` gate [`StreamWriter::drain`]. The
//! reader's methods consume the buffer only when they succeed, so a read
//! that is cancelled (its future dropped) loses no byte.
//!
//! Flow control both ways: the reader pauses the transport's reading when
//! its buffer passes `2 * limit` and resumes it at `limit`; the writer's
//! `drain` waits while the transport's write buffer is over its high-water
//! mark (64 KiB), until it is back to the low-water mark (16 KiB).

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio_executor::{EventLoop, ExceptionContext, create_task, get_running_loop};

use crate::server::{Server, ServerOptions, create_server, create_unix_server};
use crate::tcp::TcpStream;
use crate::transport::{Endpoint, Protocol, Transport};
use crate::wakers::{WaitEntry, WakerList};

/// asyncio's `_DEFAULT_LIMIT`: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// What a stream read can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// EOF came first. `partial` holds the bytes read (they are consumed);
    /// `expected` is the count asked for, `None` when looking for a
    /// separator. Python: `asyncio.IncompleteReadError`.
    #[error("{} bytes read on a total of {} expected bytes", partial.len(), expected.map_or("undefined".to_string(), |n| n.to_string()))]
    IncompleteRead {
        /// The bytes read before EOF.
        partial: Vec<u8>,
        /// How many bytes were asked for.
        expected: Option<usize>,
    },
    /// The separator was not found within the limit. Nothing is consumed:
    /// `consumed` bytes are in the buffer, which stays intact. Python:
    /// `asyncio.LimitOverrunError`.
    #[error("{message}")]
    LimitOverrun {
        /// asyncio's message for the case.
        message: &'static str,
        /// How far the buffer was searched.
        consumed: usize,
    },
    /// `readline` met a line over the limit; the line is dropped from the
    /// buffer (through its newline, if it came). Python: the `ValueError`
    /// `readline` raises.
    #[error("{0}")]
    LineTooLong(&'static str),
    /// The connection failed, or the call was invalid (`InvalidInput`: an
    /// empty separator; `ResourceBusy`: another task is already reading).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<StreamError> for io::Error {
    fn from(err: StreamError) -> io::Error {
        match err {
            StreamError::Io(e) => e,
            StreamError::IncompleteRead { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err.to_string())
            }
            _ => io::Error::new(io::ErrorKind::InvalidData, err.to_string()),
        }
    }
}

/// A connection error kept to be reported more than once (`io::Error` is
/// not `Clone`).
#[derive(Clone)]
struct Failure(io::ErrorKind, String);

impl Failure {
    fn of(err: &io::Error) -> Failure {
        Failure(err.kind(), err.to_string())
    }

    fn error(&self) -> io::Error {
        io::Error::new(self.0, self.1.clone())
    }
}

/// The bytes received and not yet read: a vector read from the front.
#[derive(Default)]
struct Buffer {
    bytes: Vec<u8>,
    /// Bytes before `head` are read.
    head: usize,
}

impl Buffer {
    fn unread(&self) -> &[u8] {
        &self.bytes[self.head..]
    }

    fn len(&self) -> usize {
        self.bytes.len() - self.head
    }

    fn extend(&mut self, data: &[u8]) {
        // Move the unread bytes to the front before growing, not on every
        // read: reads stay O(bytes read).
        if self.head > 0 && self.bytes.len() + data.len() > self.bytes.capacity() {
            self.bytes.drain(..self.head);
            self.head = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// Takes the first `n` unread bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.unread()[..n].to_vec();
        self.skip(n);
        out
    }

    /// Copies as many unread bytes as fit into `out`; returns how many.
    fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.len().min(out.len());
        out[..n].copy_from_slice(&self.unread()[..n]);
        self.skip(n);
        n
    }

    fn skip(&mut self, n: usize) {
        self.head += n;
        if self.head == self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        }
    }

    fn take_all(&mut self) -> Vec<u8> {
        self.take(self.len())
    }
}

/// The state a reader, its writer and their protocol share.
struct Shared {
    limit: usize,
    buffer: RefCell<Buffer>,
    eof: Cell<bool>,
    /// The connection's error, reported by every later read.
    failure: RefCell<Option<Failure>>,
    /// The task waiting for data (asyncio's `_waiter`; one at a time).
    reader_waiting: Cell<bool>,
    reader_waker: RefCell<Option<Waker>>,
    transport: RefCell<Option<Transport>>,
    /// The reader paused the transport's reading.
    reading_paused: Cell<bool>,
    /// A `read(-1)` is collecting everything: pausing past `2 * limit`
    /// would only be undone by its next wait (two `epoll_ctl` per chunk).
    to_eof: Cell<bool>,
    /// The transport told `pause_writing` (asyncio's `_paused`).
    writing_paused: Cell<bool>,
    /// `connection_lost` came, with this error if any.
    lost: Cell<bool>,
    lost_error: RefCell<Option<Failure>>,
    /// Tasks in `drain` or `wait_closed`, one entry each.
    writer_wakers: RefCell<WakerList>,
    /// The task parked in [`StreamWriter::poll_drain`] (poll-level callers
    /// keep no future to hold a `WaitEntry`; the latest poll's waker wins).
    poll_writer_waker: RefCell<Option<Waker>>,
}

impl Shared {
    fn new(limit: usize) -> Rc<Shared> {
        Rc::new(Shared {
            limit,
            buffer: RefCell::default(),
            eof: Cell::new(false),
            failure: RefCell::new(None),
            reader_waiting: Cell::new(false),
            reader_waker: RefCell::new(None),
            transport: RefCell::new(None),
            reading_paused: Cell::new(false),
            to_eof: Cell::new(false),
            writing_paused: Cell::new(false),
            lost: Cell::new(false),
            lost_error: RefCell::new(None),
            writer_wakers: RefCell::new(WakerList::default()),
            poll_writer_waker: RefCell::new(None),
        })
    }

    fn wake_reader(&self) {
        if let Some(waker) = self.reader_waker.borrow_mut().take() {
            waker.wake();
        }
    }

    fn wake_writers(&self) {
        let wakers = self.writer_wakers.borrow_mut().take_all();
        wakers.into_iter().for_each(Waker::wake);
        let parked = self.poll_writer_waker.borrow_mut().take();
        if let Some(waker) = parked {
            waker.wake();
        }
    }

    /// Parks the reading task until data, EOF or the connection's error
    /// (asyncio's `_wait_for_data`), resuming a paused transport first:
    /// waiting on it paused would wait forever.
    fn park_reader(&self, waker: &Waker) {
        if self.reading_paused.replace(false)
            && let Some(transport) = &*self.transport.borrow()
        {
            transport.resume_reading();
        }
        let mut parked = self.reader_waker.borrow_mut();
        if !parked.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *parked = Some(waker.clone());
        }
    }

    /// asyncio's `feed_data`, pausing the transport past `2 * limit`.
    fn feed_data(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut buffer = self.buffer.borrow_mut();
        buffer.extend(data);
        // Saturating: any limit up to `usize::MAX` is valid.
        let over = buffer.len() > self.limit.saturating_mul(2);
        drop(buffer);
        self.wake_reader();
        if over && !self.reading_paused.get() && !self.to_eof.get() {
            if let Some(transport) = &*self.transport.borrow() {
                transport.pause_reading();
                self.reading_paused.set(true);
            }
        }
    }

    fn feed_eof(&self) {
        self.eof.set(true);
        self.wake_reader();
    }

    /// Looks for `separator` from `offset` on (bytes before it were
    /// searched already): its index, or `None` and the next `offset`.
    fn search(&self, separator: &[u8], offset: &mut usize) -> Result<Option<usize>, StreamError> {
        let buffer = self.buffer.borrow();
        let unread = buffer.unread();
        if unread.len() < *offset + separator.len() {
            return Ok(None);
        }
        if let Some(at) = find(&unread[*offset..], separator) {
            return Ok(Some(*offset + at));
        }
        *offset = unread.len() + 1 - separator.len();
        if *offset > self.limit {
            return Err(StreamError::LimitOverrun {
                message: "Separator is not found, and chunk exceed the limit",
                consumed: *offset,
            });
        }
        Ok(None)
    }

    /// A byte is buffered, or EOF came: what `read(n)` waits for.
    fn has_data_or_eof(&self) -> bool {
        self.buffer.borrow().len() > 0 || self.eof.get()
    }

    /// asyncio's `_maybe_resume_transport`.
    fn maybe_resume(&self) {
        if self.reading_paused.get() && self.buffer.borrow().len() <= self.limit {
            self.reading_paused.set(false);
            if let Some(transport) = &*self.transport.borrow() {
                transport.resume_reading();
            }
        }
    }
}

/// Waits until `ready(shared)` holds: asyncio's
/// `while not <condition>: await self._wait_for_data()`, as one future.
/// Each poll checks the condition first, then the connection's error; only
/// then does it park (resuming a paused transport first: waiting on one
/// would wait forever). The protocol wakes the parked reader on data, EOF
/// or error.
struct WaitUntil<'a, F> {
    shared: &'a Shared,
    ready: F,
}

impl<F: FnMut(&Shared) -> bool + Unpin> Future for WaitUntil<'_, F> {
    type Output = Result<(), StreamError>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Self::Output> {
        let this = &mut *self;
        let shared = this.shared;
        if (this.ready)(shared) {
            return Poll::Ready(Ok(()));
        }
        if let Some(failure) = &*shared.failure.borrow() {
            return Poll::Ready(Err(failure.error().into()));
        }
        shared.park_reader(cx.waker());
        Poll::Pending
    }
}

impl<F> Drop for WaitUntil<'_, F> {
    fn drop(&mut self) {
        self.shared.reader_waker.borrow_mut().take();
    }
}

/// Marks the reader busy for one read (two tasks reading one stream would
/// steal each other's bytes: the second gets `ResourceBusy`, as asyncio's
/// `RuntimeError`).
struct ReadGuard<'a>(&'a Shared);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.0.reader_waiting.set(false);
        self.0.to_eof.set(false);
    }
}

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
    shared: Rc<Shared>,
    /// A child's stdout or stderr: the pipe's transport, closed when the
    /// reader is dropped (nobody else can read that pipe).
    pipe: Option<Transport>,
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

    fn check(&self) -> Result<ReadGuard<'_>, StreamError> {
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
    fn wait_until<F: FnMut(&Shared) -> bool + Unpin>(&self, ready: F) -> WaitUntil<'_, F> {
        WaitUntil {
            shared: &self.shared,
            ready,
        }
    }

    /// Waits for more data than is buffered now, or EOF.
    fn wait_for_more(&self) -> WaitUntil<'_, impl FnMut(&Shared) -> bool + Unpin> {
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
    reader: &'a StreamReader,
}

impl Lines<'_> {
    /// The next line, or `None` at EOF.
    pub async fn next(&mut self) -> Option<Result<Vec<u8>, StreamError>> {
        self.reader.next_line().await.transpose()
    }
}

/// Where `needle` first occurs in `haystack`.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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

/// The writing half of a stream connection. Mirrors `asyncio.StreamWriter`.
///
/// Dropping the writer closes the connection (after sending what is
/// buffered), as asyncio's `StreamWriter.__del__` does since 3.11.5.
pub struct StreamWriter {
    transport: Transport,
    shared: Rc<Shared>,
    /// Dropping the writer closes the transport (false for the unused
    /// writer half of a child's output pipe).
    close_on_drop: bool,
}

impl StreamWriter {
    /// Buffers `data` and sends what the socket takes now; never blocks.
    /// Follow with [`drain`](Self::drain). Python: `writer.write(data)`.
    ///
    /// # Errors
    /// `NotConnected` after [`close`](Self::close) or
    /// [`write_eof`](Self::write_eof) (asyncio drops the bytes silently).
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        self.transport.write(data)
    }

    /// Writes each buffer in turn. Python: `writer.writelines(data)`.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        self.transport.writelines(data)
    }

    /// Waits while the write buffer is over its high-water mark. Python:
    /// `await writer.drain()`.
    ///
    /// # Errors
    /// The connection's error if it failed (`ConnectionReset` when the
    /// peer reset), or `ConnectionReset` ("Connection lost") once it is
    /// closed.
    pub fn drain(&self) -> Drain<'_> {
        Drain {
            writer: self,
            yielded: false,
            entry: WaitEntry::new(&self.shared.writer_wakers),
        }
    }

    /// The poll-level [`drain`](Self::drain), for adapters that implement
    /// other crates' write traits (`futures_io::AsyncWrite`): `Ready(Ok)`
    /// while the transport's write buffer is under its high-water mark,
    /// else parks the task until the buffer is back to the low-water mark
    /// (`resume_writing`) or the connection ends.
    ///
    /// Mirrors `await writer.drain()` taken apart; differs in skipping
    /// drain's one-iteration yield on a closing transport (a poll has no
    /// "later" of its own: the next poll sees `connection_lost`), and in
    /// keeping one waker, the latest poll's, rather than one per waiting
    /// future.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::future::poll_fn;
    /// use corio_net::{TcpListener, open_connection};
    ///
    /// corio_executor::run(async {
    ///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
    ///     let port = listener.local_addr()?.port();
    ///     let (_reader, writer) = open_connection("127.0.0.1", port).await?;
    ///     writer.write(b"hello")?;
    ///     poll_fn(|cx| writer.poll_drain(cx)).await?; // under the mark
    ///     Ok::<(), std::io::Error>(())
    /// })??;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`drain`](Self::drain): the connection's error, or
    /// `ConnectionReset` ("Connection lost") once it is closed.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let shared = &*self.shared;
        if let Some(failure) = &*shared.failure.borrow() {
            return Poll::Ready(Err(failure.error()));
        }
        if shared.lost.get() {
            return Poll::Ready(Err(lost_error(shared)));
        }
        if !shared.writing_paused.get() {
            return Poll::Ready(Ok(()));
        }
        let mut parked = shared.poll_writer_waker.borrow_mut();
        if !parked.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *parked = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Closes the writing half once the buffer is sent; reading goes on.
    /// Python: `writer.write_eof()`.
    pub fn write_eof(&self) {
        self.transport.write_eof();
    }

    /// True for TCP and Unix streams. Python: `writer.can_write_eof()`.
    pub fn can_write_eof(&self) -> bool {
        self.transport.can_write_eof()
    }

    /// Closes the connection once the buffer is sent. Python:
    /// `writer.close()`.
    pub fn close(&self) {
        self.transport.close();
    }

    /// True once closing. Python: `writer.is_closing()`.
    pub fn is_closing(&self) -> bool {
        self.transport.is_closing()
    }

    /// Waits until the connection is closed. Python: `await
    /// writer.wait_closed()`.
    ///
    /// # Errors
    /// The error the connection ended with, if any.
    pub async fn wait_closed(&self) -> io::Result<()> {
        let shared = &*self.shared;
        let mut entry = WaitEntry::new(&shared.writer_wakers);
        poll_fn(|cx| {
            if !shared.lost.get() {
                entry.register(cx.waker());
                return Poll::Pending;
            }
            Poll::Ready(match &*shared.lost_error.borrow() {
                Some(failure) => Err(failure.error()),
                None => Ok(()),
            })
        })
        .await
    }

    /// The transport underneath. Python: `writer.transport`.
    pub fn transport(&self) -> &Transport {
        &self.transport
    }

    /// The peer's address (`None` for Unix streams). Python:
    /// `get_extra_info('peername')`.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.transport.peer_addr()
    }

    /// This end's address. Python: `get_extra_info('sockname')`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.transport.local_addr()
    }
}

/// The future of [`StreamWriter::drain`] (Python: the `writer.drain()`
/// coroutine): ready at once while the write buffer is under its
/// high-water mark, which is the common case, so it is written out by
/// hand rather than as an `async fn`.
#[must_use = "futures do nothing unless awaited"]
pub struct Drain<'a> {
    writer: &'a StreamWriter,
    /// The one-iteration yield of a closing transport is done.
    yielded: bool,
    /// Our entry among the writer's waiters while waiting, removed when
    /// the drain is dropped.
    entry: WaitEntry<'a>,
}

impl Future for Drain<'_> {
    type Output = io::Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<io::Result<()>> {
        let shared = &*self.writer.shared;
        if !self.yielded {
            if let Some(failure) = &*shared.failure.borrow() {
                return Poll::Ready(Err(failure.error()));
            }
            if self.writer.transport.is_closing() {
                // Let connection_lost come if it is scheduled (as asyncio's
                // `await sleep(0)`).
                self.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            self.yielded = true;
        }
        if shared.lost.get() {
            return Poll::Ready(Err(lost_error(shared)));
        }
        if !shared.writing_paused.get() {
            return Poll::Ready(Ok(()));
        }
        self.entry.register(cx.waker());
        Poll::Pending
    }
}

/// What `drain` says once the connection is gone.
fn lost_error(shared: &Shared) -> io::Error {
    match &*shared.lost_error.borrow() {
        Some(failure) => failure.error(),
        None => io::Error::new(io::ErrorKind::ConnectionReset, "Connection lost"),
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        if self.close_on_drop {
            self.transport.close();
        }
    }
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("transport", &self.transport)
            .finish()
    }
}

/// What a `client_connected_cb` may return: nothing, or a `Result` whose
/// error is reported to the loop's exception handler (and the connection
/// closed), as asyncio does with an exception from the callback.
pub trait ClientResult: 'static {
    /// The error's text, if the callback failed.
    fn failure(self) -> Option<String>;
}

impl ClientResult for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display + 'static> ClientResult for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// The callback a stream server runs on each connection, as a task.
type ClientCallback = Rc<dyn Fn(StreamReader, StreamWriter)>;

/// asyncio's `StreamReaderProtocol`: feeds a reader, gates a writer.
struct StreamProtocol {
    shared: Rc<Shared>,
    /// Servers: run on `connection_made` with a fresh reader and writer.
    on_connect: Option<ClientCallback>,
    /// A child's pipe: EOF ends the connection (no half-close to keep).
    close_on_eof: bool,
}

impl Protocol for StreamProtocol {
    fn connection_made(&mut self, transport: Transport) {
        *self.shared.transport.borrow_mut() = Some(transport.clone());
        if let Some(callback) = &self.on_connect {
            let reader = StreamReader {
                shared: self.shared.clone(),
                pipe: None,
            };
            let writer = StreamWriter {
                transport,
                shared: self.shared.clone(),
                close_on_drop: true,
            };
            callback(reader, writer);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.shared.feed_data(data);
    }

    fn eof_received(&mut self) -> bool {
        self.shared.feed_eof();
        // Keep the transport: the writer may still answer (half-close).
        !self.close_on_eof
    }

    fn connection_lost(&mut self, exc: Option<io::Error>) {
        let shared = &*self.shared;
        match &exc {
            None => shared.feed_eof(),
            Some(err) => {
                *shared.failure.borrow_mut() = Some(Failure::of(err));
                *shared.lost_error.borrow_mut() = Some(Failure::of(err));
                shared.wake_reader();
            }
        }
        shared.lost.set(true);
        shared.transport.borrow_mut().take(); // the transport ↔ reader cycle
        shared.wake_writers();
    }

    fn pause_writing(&mut self) {
        self.shared.writing_paused.set(true);
    }

    fn resume_writing(&mut self) {
        self.shared.writing_paused.set(false);
        self.shared.wake_writers();
    }
}

/// The options of [`open_connection_with`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The reader's limit ([`DEFAULT_LIMIT`]).
    pub limit: usize,
    /// Bind the connecting socket here first (`None`: the kernel picks).
    /// Python: `local_addr=`.
    pub local_addr: Option<SocketAddr>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            limit: DEFAULT_LIMIT,
            local_addr: None,
        }
    }
}

/// Wraps a connected transport in a reader and a writer.
fn streams_on(
    lp: &EventLoop,
    socket: crate::socket::Socket,
    limit: usize,
) -> io::Result<(StreamReader, StreamWriter)> {
    streams_with(lp, socket, limit, false)
}

fn streams_with(
    lp: &EventLoop,
    endpoint: impl Into<Endpoint>,
    limit: usize,
    pipe: bool,
) -> io::Result<(StreamReader, StreamWriter)> {
    let reader = StreamReader::new(limit);
    let protocol = Rc::new(RefCell::new(StreamProtocol {
        shared: reader.shared.clone(),
        on_connect: None,
        close_on_eof: pipe,
    }));
    let transport = Transport::start(lp, endpoint, protocol)?;
    let writer = StreamWriter {
        transport,
        shared: reader.shared.clone(),
        close_on_drop: true,
    };
    Ok((reader, writer))
}

/// The reader of a child's stdout or stderr (the read end of its pipe):
/// the transport closes itself at EOF, when the child closed its end, or
/// when the reader is dropped.
pub(crate) fn child_output(
    lp: &EventLoop,
    pipe: OwnedFd,
    limit: usize,
) -> io::Result<StreamReader> {
    let (mut reader, mut writer) = streams_with(lp, Endpoint::ReadPipe(pipe), limit, true)?;
    writer.close_on_drop = false;
    reader.pipe = Some(writer.transport.clone());
    Ok(reader)
}

/// The writer of a child's stdin (the write end of its pipe): closing it
/// (or dropping it) is the child's EOF.
pub(crate) fn child_input(lp: &EventLoop, pipe: OwnedFd) -> io::Result<StreamWriter> {
    Ok(streams_with(lp, Endpoint::WritePipe(pipe), DEFAULT_LIMIT, true)?.1)
}

/// Connects to `host:port`: a reader and a writer on a new connection.
/// Mirrors `asyncio.open_connection(host, port)`.
///
/// # Examples
///
/// ```
/// use corio_net::{open_connection, start_server, StreamReader, StreamWriter};
///
/// async fn shout(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
///     while let Some(line) = reader.next_line().await? {
///         writer.write(&line.to_ascii_uppercase())?;
///         writer.drain().await?;
///     }
///     Ok(())
/// }
///
/// corio_executor::run(async {
///     let server = start_server(shout, "127.0.0.1", 0).await?;
///     let port = server.addresses()[0].port();
///     let (reader, writer) = open_connection("127.0.0.1", port).await?;
///     writer.write(b"hello\n")?;
///     assert_eq!(reader.readline().await?, b"HELLO\n");
///     writer.close();
///     writer.wait_closed().await?;
///     server.close();
///     server.wait_closed().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
///
/// # Errors
/// As [`TcpStream::connect`]: `ConnectionRefused`, a resolution error
/// naming the host, `InvalidInput` for port 0.
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    open_connection_with(host, port, ConnectOptions::default()).await
}

/// [`open_connection`] with asyncio's keyword arguments `limit` and
/// `local_addr`.
///
/// # Errors
/// As [`open_connection`]; `InvalidInput` for a limit of 0; the bind
/// error of `local_addr`.
pub async fn open_connection_with(
    host: &str,
    port: u16,
    options: ConnectOptions,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_limit(options.limit)?;
    let stream = TcpStream::connect_from(host, port, options.local_addr).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    streams_on(&lp, stream.into_socket(), options.limit)
}

/// Makes a reader/writer pair of a connected `TcpStream`: one accepted by
/// hand from a [`TcpListener`](crate::TcpListener), or connected
/// elsewhere. Python: `asyncio.open_connection(sock=sock)` (below streams:
/// `loop.connect_accepted_socket`); differs in being a plain function
/// (nothing to wait for: the socket is connected already).
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream, DEFAULT_LIMIT, open_connection_sock};
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let client = TcpStream::connect("127.0.0.1", port).await?;
///     let (accepted, _peer) = listener.accept().await?;
///     let (reader, writer) = open_connection_sock(accepted, DEFAULT_LIMIT)?;
///     client.send_all(b"ping\n").await?;
///     assert_eq!(reader.readline().await.unwrap(), b"ping\n");
///     writer.write(b"pong\n")?;
///     let mut buf = [0; 5];
///     assert_eq!(client.recv(&mut buf).await?, 5);
///     assert_eq!(&buf, b"pong\n");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `InvalidInput` for a limit of 0; `Other` outside a running loop.
pub fn open_connection_sock(
    stream: TcpStream,
    limit: usize,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_limit(limit)?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    streams_on(&lp, stream.into_socket(), limit)
}

/// Connects to the Unix socket at `path`. Mirrors
/// `asyncio.open_unix_connection(path, limit=…)`.
///
/// # Errors
/// As [`UnixStream::connect`](crate::UnixStream::connect);
/// `InvalidInput` for a limit of 0.
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
    limit: usize,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_limit(limit)?;
    let stream = crate::UnixStream::connect(path).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    streams_on(&lp, stream.into_socket(), limit)
}

/// A `client_connected_cb` made into a protocol factory: each connection
/// runs the callback as its own task.
fn stream_factory<F, Fut>(callback: F, limit: usize) -> impl Fn() -> StreamProtocol + 'static
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    let callback = Rc::new(callback);
    let on_connect: ClientCallback = Rc::new(move |reader, writer: StreamWriter| {
        let transport = writer.transport.clone();
        let closer = transport.clone();
        let run = callback(reader, writer);
        let task = create_task(async move {
            if let Some(failure) = run.await.failure() {
                client_failed(&closer, failure);
            }
        });
        task.add_done_callback(move |task| {
            if let Ok(Some(err)) = task.exception()
                && !err.is_cancelled()
            {
                client_failed(&transport, err.to_string());
            }
        });
    });
    move || StreamProtocol {
        shared: Shared::new(limit),
        on_connect: Some(on_connect.clone()),
        close_on_eof: false,
    }
}

/// A `client_connected_cb` failed: close its connection, tell the loop.
fn client_failed(transport: &Transport, failure: String) {
    transport.close();
    if let Ok(lp) = get_running_loop() {
        lp.call_exception_handler(ExceptionContext {
            message: "Unhandled error in client_connected_cb".into(),
            exception: Some(failure),
        });
    }
}

/// Serves `host:port`, running `client_connected_cb(reader, writer)` as a
/// new task for each connection. Mirrors `asyncio.start_server(
/// client_connected_cb, host, port)`; `port` 0 lets the kernel pick (see
/// [`Server::addresses`]). The callback may return `()` or a `Result`: an
/// error (or a panic) is reported to the loop's exception handler and the
/// connection closed, as asyncio does.
///
/// # Errors
/// As [`create_server`].
pub async fn start_server<F, Fut>(
    client_connected_cb: F,
    host: &str,
    port: u16,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    start_server_with(
        client_connected_cb,
        host,
        port,
        DEFAULT_LIMIT,
        ServerOptions::default(),
    )
    .await
}

/// [`start_server`] with asyncio's keyword arguments: the readers'
/// `limit`, and `backlog`, `reuse_port`, `start_serving`.
///
/// # Errors
/// As [`create_server`]; `InvalidInput` for a limit of 0.
pub async fn start_server_with<F, Fut>(
    client_connected_cb: F,
    host: &str,
    port: u16,
    limit: usize,
    options: ServerOptions,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    check_limit(limit)?;
    create_server(
        stream_factory(client_connected_cb, limit),
        host,
        port,
        options,
    )
    .await
}

/// Serves the Unix socket `path` (a stale socket file is replaced; the file
/// is removed on close). Mirrors `asyncio.start_unix_server(
/// client_connected_cb, path, limit=…)`.
///
/// # Errors
/// As [`create_unix_server`]; `InvalidInput` for a limit of 0.
pub async fn start_unix_server<F, Fut>(
    client_connected_cb: F,
    path: impl AsRef<Path>,
    limit: usize,
    options: ServerOptions,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    check_limit(limit)?;
    create_unix_server(stream_factory(client_connected_cb, limit), path, options).await
}

fn check_limit(limit: usize) -> io::Result<()> {
    if limit == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "limit must be positive",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod writer_waiters {
    use std::future::Future;
    use std::pin::{Pin, pin};
    use std::task::{Context, Waker};
    use std::time::Duration;

    use corio_executor::timeout;

    use super::*;
    use crate::TcpListener;

    /// How many `drain`s and `wait_closed`s have an entry.
    fn entries(writer: &StreamWriter) -> usize {
        writer.shared.writer_wakers.borrow().len()
    }

    /// Abandoned `drain()`s and `wait_closed()`s leave no entry behind,
    /// one polled again and again holds one, and that one is still woken
    /// (its entry holds the latest waker) when writing resumes.
    #[test]
    fn waits_given_up_leave_nothing_and_repeated_polls_hold_one_entry() {
        corio_executor::run(async {
            let listener = TcpListener::bind("127.0.0.1", 0).await?;
            let port = listener.local_addr()?.port();
            let (_reader, writer) = open_connection("127.0.0.1", port).await?;
            let (peer, _) = listener.accept().await?; // reads only later
            while !writer.shared.writing_paused.get() {
                writer.write(&[0; 64 * 1024])?;
                corio_executor::yield_now().await;
            }
            let mut cx = Context::from_waker(Waker::noop());
            for _ in 0..10_000 {
                let mut drain = writer.drain();
                let _ = Pin::new(&mut drain).poll(&mut cx);
                let _ = Pin::new(&mut drain).poll(&mut cx);
                let wait = pin!(writer.wait_closed());
                assert!(wait.poll(&mut cx).is_pending());
            }
            assert_eq!(entries(&writer), 0);
            let mut drain = writer.drain();
            let mut wait = Box::pin(writer.wait_closed());
            for _ in 0..1000 {
                assert!(Pin::new(&mut drain).poll(&mut cx).is_pending());
                assert!(wait.as_mut().poll(&mut cx).is_pending());
            }
            assert_eq!(entries(&writer), 2);
            drop(wait);
            assert_eq!(entries(&writer), 1);
            let reader = corio_executor::create_task(async move {
                let mut buf = vec![0; 64 * 1024];
                while peer.recv(&mut buf).await? > 0 {}
                io::Result::Ok(())
            });
            timeout(Duration::from_secs(5), drain)
                .await
                .expect("drain ends once the peer reads")?;
            assert_eq!(entries(&writer), 0);
            writer.close();
            timeout(Duration::from_secs(5), reader)
                .await
                .expect("the peer sees the end")
                .unwrap()?;
            io::Result::Ok(())
        })
        .unwrap()
        .unwrap();
    }
}
