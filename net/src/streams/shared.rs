//! What a reader, its writer and their protocol share: the read buffer
//! ([`Buffer`]), the connection's state ([`Shared`]), and the futures that
//! wait on it.

use super::*;

/// The bytes received and not yet read: a vector read from the front.
#[derive(Default)]
pub(super) struct Buffer {
    pub(super) bytes: Vec<u8>,
    /// Bytes before `head` are read.
    pub(super) head: usize,
}

impl Buffer {
    pub(super) fn unread(&self) -> &[u8] {
        &self.bytes[self.head..]
    }

    pub(super) fn len(&self) -> usize {
        self.bytes.len() - self.head
    }

    pub(super) fn extend(&mut self, data: &[u8]) {
        // Move the unread bytes to the front before growing, not on every
        // read: reads stay O(bytes read).
        if self.head > 0 && self.bytes.len() + data.len() > self.bytes.capacity() {
            self.bytes.drain(..self.head);
            self.head = 0;
        }
        self.bytes.extend_from_slice(data);
    }

    /// Takes the first `n` unread bytes.
    pub(super) fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.unread()[..n].to_vec();
        self.skip(n);
        out
    }

    /// Copies as many unread bytes as fit into `out`; returns how many.
    pub(super) fn take_into(&mut self, out: &mut [u8]) -> usize {
        let n = self.len().min(out.len());
        out[..n].copy_from_slice(&self.unread()[..n]);
        self.skip(n);
        n
    }

    pub(super) fn skip(&mut self, n: usize) {
        self.head += n;
        if self.head == self.bytes.len() {
            self.bytes.clear();
            self.head = 0;
        }
    }

    pub(super) fn take_all(&mut self) -> Vec<u8> {
        self.take(self.len())
    }
}

/// The state a reader, its writer and their protocol share.
pub(super) struct Shared {
    pub(super) limit: usize,
    pub(super) buffer: RefCell<Buffer>,
    pub(super) eof: Cell<bool>,
    /// The connection's error, reported by every later read.
    pub(super) failure: RefCell<Option<Failure>>,
    /// The task waiting for data (asyncio's `_waiter`; one at a time).
    pub(super) reader_waiting: Cell<bool>,
    pub(super) reader_waker: RefCell<Option<Waker>>,
    pub(super) transport: RefCell<Option<Transport>>,
    /// The reader paused the transport's reading.
    pub(super) reading_paused: Cell<bool>,
    /// A `read(-1)` is collecting everything: pausing past `2 * limit`
    /// would only be undone by its next wait (two `epoll_ctl` per chunk).
    pub(super) to_eof: Cell<bool>,
    /// The transport told `pause_writing` (asyncio's `_paused`).
    pub(super) writing_paused: Cell<bool>,
    /// `connection_lost` came, with this error if any.
    pub(super) lost: Cell<bool>,
    pub(super) lost_error: RefCell<Option<Failure>>,
    /// Tasks in `drain` or `wait_closed`, one entry each.
    pub(super) writer_wakers: RefCell<WakerList>,
    /// The task parked in [`StreamWriter::poll_drain`] (poll-level callers
    /// keep no future to hold a `WaitEntry`; the latest poll's waker wins).
    pub(super) poll_writer_waker: RefCell<Option<Waker>>,
}

impl Shared {
    pub(super) fn new(limit: usize) -> Rc<Shared> {
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

    pub(super) fn wake_reader(&self) {
        if let Some(waker) = self.reader_waker.borrow_mut().take() {
            waker.wake();
        }
    }

    pub(super) fn wake_writers(&self) {
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
    pub(super) fn park_reader(&self, waker: &Waker) {
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
    pub(super) fn feed_data(&self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        let mut buffer = self.buffer.borrow_mut();
        buffer.extend(data);
        // Saturating: any limit up to `usize::MAX` is valid.
        let over = buffer.len() > self.limit.saturating_mul(2);
        drop(buffer);
        self.wake_reader();
        if over
            && !self.reading_paused.get()
            && !self.to_eof.get()
            && let Some(transport) = &*self.transport.borrow()
        {
            transport.pause_reading();
            self.reading_paused.set(true);
        }
    }

    pub(super) fn feed_eof(&self) {
        self.eof.set(true);
        self.wake_reader();
    }

    /// Looks for `separator` from `offset` on (bytes before it were
    /// searched already): its index, or `None` and the next `offset`.
    pub(super) fn search(
        &self,
        separator: &[u8],
        offset: &mut usize,
    ) -> Result<Option<usize>, StreamError> {
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
    pub(super) fn has_data_or_eof(&self) -> bool {
        self.buffer.borrow().len() > 0 || self.eof.get()
    }

    /// asyncio's `_maybe_resume_transport`.
    pub(super) fn maybe_resume(&self) {
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
pub(super) struct WaitUntil<'a, F> {
    pub(super) shared: &'a Shared,
    pub(super) ready: F,
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
pub(super) struct ReadGuard<'a>(pub(super) &'a Shared);

impl Drop for ReadGuard<'_> {
    fn drop(&mut self) {
        self.0.reader_waiting.set(false);
        self.0.to_eof.set(false);
    }
}
