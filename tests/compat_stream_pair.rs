//! corio-compat's `StreamPair`: `open_connection`'s `(reader, writer)` as
//! `futures-io` `AsyncRead` + `AsyncBufRead` + `AsyncWrite`, on loopback:
//! an echo of 8 MB byte-exact, a write parked by backpressure, dropped
//! reads losing nothing, EOF, a peer that vanishes, lines.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio::net::{
    StreamReader, StreamWriter, TcpListener, TcpStream, open_connection, open_connection_sock,
    start_server,
};
use corio_compat::StreamPair;
use corio_compat::futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};

async fn read(s: &mut StreamPair, buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, buf)).await
}

async fn write_all(s: &mut StreamPair, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // Odd-sized pieces, so the transport's buffer fills unevenly.
        let piece = &data[..data.len().min(40_000)];
        let n = poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, piece)).await?;
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *s).poll_flush(cx)).await
}

async fn close(s: &mut StreamPair) -> io::Result<()> {
    poll_fn(|cx| Pin::new(&mut *s).poll_close(cx)).await
}

async fn read_to_end(s: &mut StreamPair) -> io::Result<Vec<u8>> {
    let mut all = Vec::new();
    let mut buf = vec![0u8; 50_000];
    loop {
        let n = read(s, &mut buf).await?;
        if n == 0 {
            return Ok(all);
        }
        all.extend_from_slice(&buf[..n]);
    }
}

/// One line through `poll_fill_buf` / `consume` (what `read_line` helpers
/// do), `None` at EOF.
async fn read_line(s: &mut StreamPair) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let done = poll_fn(|cx| {
            let mut s = Pin::new(&mut *s);
            let buf = std::task::ready!(s.as_mut().poll_fill_buf(cx))?;
            if buf.is_empty() {
                return Poll::Ready(Ok::<_, io::Error>(true));
            }
            let (end, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            line.extend_from_slice(&buf[..end]);
            s.consume(end);
            Poll::Ready(Ok(done))
        })
        .await?;
        if done {
            return Ok((!line.is_empty()).then_some(line));
        }
    }
}

async fn pair_to(port: u16) -> StreamPair {
    let (reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
    StreamPair::new(reader, writer)
}

/// A connected pair and the raw socket of its peer.
async fn pair_and_peer() -> (StreamPair, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let pair = pair_to(port).await;
    let (peer, _) = listener.accept().await.unwrap();
    (pair, peer)
}

/// 8 MB out through one pair, echoed by a server that is a pair too, and
/// back byte-exact; `poll_close` is the half-close that ends the echo.
#[test]
fn eight_megabytes_echo_byte_exact_through_two_pairs() {
    corio::run(async {
        let server = start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                let mut pair = StreamPair::new(reader, writer);
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let n = read(&mut pair, &mut buf).await?;
                    if n == 0 {
                        break;
                    }
                    write_all(&mut pair, &buf[..n]).await?;
                }
                close(&mut pair).await
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.addresses()[0].port();
        let mut pair = pair_to(port).await;
        let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
        let got = {
            // Both halves at once: one pair, split by hand into a writing
            // and a reading future polled side by side.
            let pair = std::cell::RefCell::new(&mut pair);
            let mut sent = 0;
            let mut closed = false;
            let mut got = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            poll_fn(|cx| {
                let mut p = pair.borrow_mut();
                while sent < data.len() {
                    let end = (sent + 100_000).min(data.len());
                    match Pin::new(&mut **p).poll_write(cx, &data[sent..end]) {
                        Poll::Ready(n) => sent += n?,
                        Poll::Pending => break,
                    }
                }
                if sent == data.len()
                    && !closed
                    && let Poll::Ready(r) = Pin::new(&mut **p).poll_close(cx)
                {
                    r?;
                    closed = true;
                }
                loop {
                    match Pin::new(&mut **p).poll_read(cx, &mut buf) {
                        Poll::Ready(Ok(0)) => return Poll::Ready(Ok::<_, io::Error>(())),
                        Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
            })
            .await
            .unwrap();
            got
        };
        assert_eq!(got.len(), data.len());
        assert!(got == data, "the echo differs");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// A peer that does not read: `poll_write` takes data until the
/// transport's buffer is over its high-water mark, then returns `Pending`
/// (the task parked as in `drain()`), without buffering without bound
/// (one call takes at most the mark's worth of a big buffer); once the
/// peer reads, the parked write is woken and goes through.
#[test]
fn a_write_parks_over_the_high_water_mark_and_resumes_when_the_peer_reads() {
    corio::run(async {
        let (mut pair, peer) = pair_and_peer().await;
        let high = pair.writer().transport().get_write_buffer_limits().1;
        let chunk = vec![7u8; 1 << 20];
        let mut cx = Context::from_waker(Waker::noop());
        let mut written = 0usize;
        while let Poll::Ready(n) = Pin::new(&mut pair).poll_write(&mut cx, &chunk) {
            let n = n.unwrap();
            assert!(n > 0 && n <= high, "one write took {n} bytes");
            written += n;
            let buffered = pair.writer().transport().get_write_buffer_size();
            assert!(buffered <= 2 * high, "{buffered} bytes buffered");
            // Let the transport's writer callback fill the kernel.
            corio::sleep(Duration::from_millis(1)).await;
            assert!(written < 256 << 20, "never parked after {written} bytes");
        }
        let buffered = pair.writer().transport().get_write_buffer_size();
        assert!(buffered > high, "parked with {buffered} bytes buffered");
        // Still parked: nobody reads.
        corio::sleep(Duration::from_millis(20)).await;
        assert!(Pin::new(&mut pair).poll_write(&mut cx, &chunk).is_pending());
        assert!(Pin::new(&mut pair).poll_flush(&mut cx).is_pending());

        let drain = corio::create_task(async move {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0usize;
            loop {
                let n = peer.recv(&mut buf).await?;
                if n == 0 {
                    return io::Result::Ok(total);
                }
                total += n;
            }
        });
        let n = corio::timeout(
            Duration::from_secs(10),
            poll_fn(|cx| Pin::new(&mut pair).poll_write(cx, &chunk)),
        )
        .await
        .expect("the parked write resumes once the peer reads")
        .unwrap();
        written += n;
        close(&mut pair).await.unwrap();
        let total = corio::timeout(Duration::from_secs(10), drain)
            .await
            .expect("the peer reads to EOF")
            .unwrap()
            .unwrap();
        assert_eq!(total, written, "every byte written arrives");
    })
    .unwrap();
}

/// Reads abandoned mid-wait (a timeout) or after a fill lose no byte;
/// bytes the `StreamReader` buffered before the pair was made come first;
/// `into_inner` hands back what a fill took and nobody consumed.
#[test]
fn dropped_reads_lose_nothing_and_buffered_bytes_come_first() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (reader, writer) = open_connection_sock(accepted, Default::default()).unwrap();
        peer.send_all(b"head:one\ntwo\n").await.unwrap();
        // Read a little through the reader's own API; the rest stays in
        // its buffer.
        assert_eq!(reader.readexactly(5).await.unwrap(), b"head:");
        let mut pair = StreamPair::new(reader, writer);

        let mut buf = [0u8; 4];
        assert_eq!(read(&mut pair, &mut buf).await.unwrap(), 4);
        assert_eq!(&buf, b"one\n");
        assert_eq!(read_line(&mut pair).await.unwrap().unwrap(), b"two\n");

        // Nothing to read: a read that times out is dropped mid-wait.
        let waited = corio::timeout(Duration::from_millis(30), read(&mut pair, &mut buf)).await;
        assert!(waited.is_err(), "nothing was sent");
        // A read polled once (Pending) and dropped.
        let mut cx = Context::from_waker(Waker::noop());
        assert!(
            Pin::new(&mut pair)
                .poll_read(&mut cx, &mut buf)
                .is_pending()
        );
        peer.send_all(b"alpha\nbeta\n").await.unwrap();
        corio::sleep(Duration::from_millis(20)).await;
        // A fill that nobody consumes, then a read future made and dropped.
        let filled = poll_fn(|cx| Pin::new(&mut pair).poll_fill_buf(cx).map_ok(<[u8]>::to_vec))
            .await
            .unwrap();
        assert_eq!(filled, b"alpha\nbeta\n");
        drop(read(&mut pair, &mut buf));
        assert_eq!(read_line(&mut pair).await.unwrap().unwrap(), b"alpha\n");
        assert_eq!(pair.buffer(), b"beta\n");
        let (reader, _writer, rest) = pair.into_inner();
        assert_eq!(rest, b"beta\n");
        peer.send_all(b"gamma\n").await.unwrap();
        assert_eq!(reader.readline().await.unwrap(), b"gamma\n");
    })
    .unwrap();
}

/// The peer's half-close: the tail, then `Ok(0)` (and an empty fill) for
/// good; the pair can still write, and its own close reaches the peer as
/// EOF.
#[test]
fn eof_reads_zero_for_good_and_the_pair_still_writes() {
    corio::run(async {
        let (mut pair, peer) = pair_and_peer().await;
        peer.send_all(b"tail").await.unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(read_to_end(&mut pair).await.unwrap(), b"tail");
        let mut buf = [0u8; 8];
        assert_eq!(read(&mut pair, &mut buf).await.unwrap(), 0);
        let fill = poll_fn(|cx| Pin::new(&mut pair).poll_fill_buf(cx).map_ok(<[u8]>::len))
            .await
            .unwrap();
        assert_eq!(fill, 0);
        assert!(pair.reader().at_eof());
        write_all(&mut pair, b"reply").await.unwrap();
        close(&mut pair).await.unwrap();
        let mut got = Vec::new();
        loop {
            let n = corio::timeout(Duration::from_secs(5), peer.recv(&mut buf))
                .await
                .expect("the peer gets the reply and EOF")
                .unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"reply");
        // Writing after close is an error, not silence.
        let err = poll_fn(|cx| Pin::new(&mut pair).poll_write(cx, b"late"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    })
    .unwrap();
}

/// The peer vanishes (closes with unread data: a reset) while the pair is
/// writing: writes, and then reads, fail with the connection's error
/// instead of hanging or succeeding.
#[test]
fn a_peer_that_vanishes_mid_transfer_is_an_error() {
    corio::run(async {
        let (mut pair, peer) = pair_and_peer().await;
        let chunk = vec![1u8; 64 * 1024];
        // Some data reaches the peer, which never reads it and closes.
        write_all(&mut pair, &chunk).await.unwrap();
        corio::sleep(Duration::from_millis(20)).await;
        drop(peer);
        let err = corio::timeout(Duration::from_secs(10), async {
            loop {
                if let Err(e) = write_all(&mut pair, &chunk).await {
                    return e;
                }
            }
        })
        .await
        .expect("the write fails once the peer is gone");
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
        let mut buf = [0u8; 8];
        let err = read(&mut pair, &mut buf).await.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{err:?}"
        );
    })
    .unwrap();
}

/// `AsyncBufRead` lines: many short lines and one longer than a fill,
/// sent in pieces that cut lines in two.
#[test]
fn lines_through_async_buf_read() {
    corio::run(async {
        let (mut pair, peer) = pair_and_peer().await;
        let mut text = Vec::new();
        let mut expected = Vec::new();
        for i in 0..2000 {
            let line = format!("line {i}\n").into_bytes();
            text.extend_from_slice(&line);
            expected.push(line);
        }
        let long = [vec![b'x'; 200_000], b"\n".to_vec()].concat();
        text.extend_from_slice(&long);
        expected.push(long);
        text.extend_from_slice(b"no newline at the end");
        expected.push(b"no newline at the end".to_vec());
        let sender = corio::create_task(async move {
            for piece in text.chunks(777) {
                peer.send_all(piece).await?;
            }
            peer.shutdown(std::net::Shutdown::Write)?;
            io::Result::Ok(peer)
        });
        let mut got = Vec::new();
        while let Some(line) = read_line(&mut pair).await.unwrap() {
            got.push(line);
        }
        assert_eq!(got.len(), expected.len());
        assert!(got == expected);
        sender.await.unwrap().unwrap();
    })
    .unwrap();
}

/// A pair's read while another task awaits a read of the same reader is
/// `ResourceBusy` (two readers would steal each other's bytes), and the
/// awaiting task still gets the bytes.
#[test]
fn a_poll_read_beside_an_awaited_read_is_busy() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let (accepted, _) = listener.accept().await.unwrap();
        let (reader, _writer) = open_connection_sock(accepted, Default::default()).unwrap();
        let reader = std::rc::Rc::new(reader);
        let waiting = reader.clone();
        let task = corio::create_task(async move { waiting.readline().await });
        corio::sleep(Duration::from_millis(10)).await;
        let mut buf = [0u8; 4];
        let err = poll_fn(|cx| reader.poll_read_into(cx, &mut buf))
            .await
            .unwrap_err();
        assert_eq!(io::Error::from(err).kind(), io::ErrorKind::ResourceBusy);
        peer.send_all(b"mine\n").await.unwrap();
        assert_eq!(task.await.unwrap().unwrap(), b"mine\n");
    })
    .unwrap();
}

/// A pair over a reader with a huge limit (2^44, `usize::MAX`) allocates
/// as data arrives, not `limit` bytes up front (which aborted the
/// process), and its read-ahead still serves lines far longer than a
/// first fill.
#[test]
fn a_huge_limit_allocates_as_data_arrives() {
    for limit in [1usize << 44, usize::MAX] {
        corio::run(async move {
            let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let options = corio::net::ConnectOptions {
                limit,
                ..Default::default()
            };
            let (reader, writer) = corio::net::open_connection_with("127.0.0.1", port, options)
                .await
                .unwrap();
            let mut pair = StreamPair::new(reader, writer);
            let (peer, _) = listener.accept().await.unwrap();
            let long = [vec![b'y'; 3 << 20], b"\n".to_vec()].concat();
            let sent = long.clone();
            let sender = corio::create_task(async move {
                peer.send_all(b"short\n").await?;
                peer.send_all(&sent).await?;
                peer.shutdown(std::net::Shutdown::Write)?;
                io::Result::Ok(peer)
            });
            assert_eq!(read_line(&mut pair).await.unwrap().unwrap(), b"short\n");
            assert!(read_line(&mut pair).await.unwrap().unwrap() == long);
            assert_eq!(read_line(&mut pair).await.unwrap(), None);
            sender.await.unwrap().unwrap();
        })
        .unwrap();
    }
}
