//! [`StreamPair`]: asyncio's `(reader, writer)` as one `futures-io` byte
//! stream.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use corio_net::{StreamReader, StreamWriter};

use crate::read_buffer::ReadBuffer;

/// The `(StreamReader, StreamWriter)` of `open_connection` or
/// `start_server` as one duplex stream: `futures_io::AsyncRead`,
/// `AsyncBufRead` and `AsyncWrite`, for crates written against those
/// traits (`futures::io::copy`, line codecs, futures-rustls).
///
/// Mirrors what an asyncio program does with the pair by hand:
///
/// - **reads** are `reader.read(n)`: bytes the protocol already buffered
///   are served first, then the task parks until `data_received`, EOF
///   (`Ok(0)`) or the connection's error. A read that returned `Pending`
///   and is dropped consumed nothing, so no byte is lost;
/// - **writes** are `writer.write(data)` preceded by `await
///   writer.drain()`: a write parks while the transport's buffer is over
///   its high-water mark (64 KiB) until it is back to the low-water mark,
///   and otherwise takes `data` (up to the high-water mark's worth) into
///   the transport's buffer, which the loop sends on its own;
/// - **`poll_flush`** is `drain()`; it differs from a flush "to the
///   kernel": up to the high-water mark may stay in the transport's
///   buffer, which the loop keeps sending (and `close` sends before it
///   closes), so no byte is left behind, but it is not all on the wire
///   when the flush returns;
/// - **`poll_close`** is `writer.write_eof()` after a drain: the peer reads
///   EOF once the buffer is sent, and reading goes on (a duplex stream's
///   close is its write half's, as for a `TcpStream`). The connection
///   itself closes when the pair is dropped (asyncio's `writer.close()`,
///   sending what is buffered first), or use [`close`](Self::close).
///
/// # Examples
///
/// ```
/// use std::future::poll_fn;
/// use std::pin::Pin;
/// use corio_compat::StreamPair;
/// use corio_compat::futures_io::{AsyncBufRead, AsyncWrite};
/// use corio_net::{open_connection, start_server, StreamReader, StreamWriter};
///
/// async fn echo(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
///     while let Some(line) = reader.next_line().await? {
///         writer.write(&line)?;
///     }
///     Ok(())
/// }
///
/// corio_executor::run(async {
///     let server = start_server(echo, "127.0.0.1", 0).await?;
///     let port = server.addresses()[0].port();
///     let (reader, writer) = open_connection("127.0.0.1", port).await?;
///     let mut pair = StreamPair::new(reader, writer);
///     poll_fn(|cx| Pin::new(&mut pair).poll_write(cx, b"ping\n")).await?;
///     let line = poll_fn(|cx| {
///         let mut pair = Pin::new(&mut pair);
///         let buf = std::task::ready!(pair.as_mut().poll_fill_buf(cx))?;
///         let end = buf.iter().position(|&b| b == b'\n').map_or(buf.len(), |i| i + 1);
///         let line = buf[..end].to_vec();
///         pair.consume(end);
///         std::task::Poll::Ready(Ok::<_, std::io::Error>(line))
///     })
///     .await?;
///     assert_eq!(line, b"ping\n");
///     server.close();
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct StreamPair {
    reader: StreamReader,
    writer: StreamWriter,
    /// `AsyncBufRead`'s buffer: bytes moved out of the reader by
    /// `poll_fill_buf` and not consumed yet (plain reads copy straight
    /// from the reader once it is empty).
    buf: ReadBuffer,
}

impl StreamPair {
    /// Joins a reader and its writer. Python: the `(reader, writer)` tuple
    /// `open_connection` returns.
    pub fn new(reader: StreamReader, writer: StreamWriter) -> StreamPair {
        StreamPair {
            reader,
            writer,
            buf: ReadBuffer::default(),
        }
    }

    /// The reader: the tuple's first item in Python. Its own buffer does
    /// not hold what `poll_fill_buf` already moved into the pair (see
    /// [`buffer`](Self::buffer)). Read it or the pair, not both at once:
    /// the pair's reads fail with `ResourceBusy` while a read awaited on
    /// the reader is pending.
    pub fn reader(&self) -> &StreamReader {
        &self.reader
    }

    /// The writer: the tuple's second item in Python, e.g. for
    /// `writer().transport().get_write_buffer_size()`.
    pub fn writer(&self) -> &StreamWriter {
        &self.writer
    }

    /// Bytes `poll_fill_buf` took from the reader and nobody consumed yet.
    /// No asyncio counterpart (asyncio's buffered reads live in the
    /// `StreamReader` alone).
    pub fn buffer(&self) -> &[u8] {
        self.buf.unread()
    }

    /// Closes the connection once the write buffer is sent. Python:
    /// `writer.close()`; then `self.writer().wait_closed().await`.
    pub fn close(&self) {
        self.writer.close();
    }

    /// The reader and writer back, with the bytes `poll_fill_buf` took
    /// from the reader and nobody consumed (they come before the reader's).
    /// No asyncio counterpart: the inverse of [`new`](Self::new).
    pub fn into_inner(self) -> (StreamReader, StreamWriter, Vec<u8>) {
        let rest = self.buf.unread().to_vec();
        (self.reader, self.writer, rest)
    }
}

impl Unpin for StreamPair {}

impl futures_io::AsyncRead for StreamPair {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.buf.unread().is_empty() {
            return Poll::Ready(Ok(this.buf.take_into(out)));
        }
        this.reader.poll_read_into(cx, out).map_err(io::Error::from)
    }
}

impl futures_io::AsyncBufRead for StreamPair {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let reader = &this.reader;
        // At most the reader's limit (what it may hold unpaused); the
        // storage grows toward it only as fast as data comes.
        this.buf.poll_fill(reader.limit(), |buf| {
            reader.poll_read_into(cx, buf).map_err(io::Error::from)
        })
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        self.get_mut().buf.consume(amt);
    }
}

/// The most one `poll_write` takes: the transport's high-water mark (at
/// least 16 KiB), so the write buffer stays under twice the mark however
/// big the caller's buffer (`write_all` loops over the rest).
fn write_cap(writer: &StreamWriter) -> usize {
    let (_low, high) = writer.transport().get_write_buffer_limits();
    high.max(16 * 1024)
}

impl futures_io::AsyncWrite for StreamPair {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let writer = &self.get_mut().writer;
        ready!(writer.poll_drain(cx))?;
        let n = data.len().min(write_cap(writer));
        writer.write(&data[..n])?;
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let writer = &self.get_mut().writer;
        ready!(writer.poll_drain(cx))?;
        let mut room = write_cap(writer);
        let mut taken = 0;
        writer.writelines(bufs.iter().filter(|b| !b.is_empty()).map_while(|b| {
            let piece = &b[..b.len().min(room)];
            room -= piece.len();
            taken += piece.len();
            (!piece.is_empty()).then_some(piece)
        }))?;
        Poll::Ready(Ok(taken))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.writer.poll_drain(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let writer = &this.writer;
        if writer.transport().is_closing() {
            // Closed already: fine, unless it failed.
            return Poll::Ready(this.reader.exception().map_or(Ok(()), Err));
        }
        ready!(writer.poll_drain(cx))?;
        writer.write_eof();
        Poll::Ready(Ok(()))
    }
}
