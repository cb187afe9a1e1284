//! [`StreamWriter`]: asyncio's writer, over the connection's transport.

use super::*;

/// The writing half of a stream connection. Mirrors `asyncio.StreamWriter`.
///
/// Dropping the writer closes the connection (after sending what is
/// buffered), as asyncio's `StreamWriter.__del__` does since 3.11.5.
pub struct StreamWriter {
    pub(super) transport: Transport,
    pub(super) shared: Rc<Shared>,
    /// Dropping the writer closes the transport (false for the unused
    /// writer half of a child's output pipe).
    pub(super) close_on_drop: bool,
    /// The server's end of a connection (`start_server`'s callback got
    /// it): what side [`start_tls`](Self::start_tls) takes.
    pub(super) server_side: bool,
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
    pub(super) writer: &'a StreamWriter,
    /// The one-iteration yield of a closing transport is done.
    pub(super) yielded: bool,
    /// Our entry among the writer's waiters while waiting, removed when
    /// the drain is dropped.
    pub(super) entry: WaitEntry<'a>,
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
pub(super) fn lost_error(shared: &Shared) -> io::Error {
    match &*shared.lost_error.borrow() {
        Some(failure) => failure.error(),
        None => io::Error::new(io::ErrorKind::ConnectionReset, "Connection lost"),
    }
}

impl StreamWriter {
    /// Upgrades the connection to TLS in place (STARTTLS): waits for what
    /// is buffered to be sent, then runs the handshake, on the server's
    /// side for a connection `start_server` handed out and on the client's
    /// side otherwise. From then on the reader gets plaintext decrypted
    /// from the connection and the writer's bytes are encrypted. Python:
    /// `await writer.start_tls(sslcontext, server_hostname=...)` (3.11).
    ///
    /// Differs from asyncio in keeping the same reader and writer (asyncio
    /// swaps the writer's transport): the objects are the connection,
    /// whatever runs on it. Bytes the reader had buffered before the call
    /// stay plaintext; a protocol like SMTP's sends its `STARTTLS` answer
    /// and waits for the handshake, so nothing is in between.
    ///
    /// # Errors
    /// `InvalidInput` for a client without `server_hostname`, or a
    /// connection running TLS already; the handshake's error
    /// ([`TlsError`](crate::tls::TlsError) as the source: a bad
    /// certificate, a timeout after [`SSL_HANDSHAKE_TIMEOUT`]); the
    /// connection's error if it is lost.
    pub async fn start_tls(
        &self,
        ssl: SslContext,
        server_hostname: Option<&str>,
    ) -> io::Result<()> {
        self.drain().await?;
        crate::start_tls(&self.transport, ssl, self.server_side, server_hostname).await
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
