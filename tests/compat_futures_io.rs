//! corio-compat's `futures-io` impls on loopback: a large transfer with the
//! writer parked by backpressure, a dropped read losing no bytes, Unix
//! streams, `poll_close` as `write_eof`.

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use corio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use corio_compat::futures_io::{AsyncBufRead, AsyncRead, AsyncWrite};
use corio_compat::{BufIo, Io};

async fn read(s: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> std::io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *s).poll_read(cx, buf)).await
}

async fn write_all(s: &mut (impl AsyncWrite + Unpin), mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    Ok(())
}

#[test]
fn eight_megabytes_with_backpressure_and_close_as_eof() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let data: Vec<u8> = (0..8 << 20).map(|i: u32| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = corio::create_task(async move {
            let mut io = Io::new(TcpStream::connect("127.0.0.1", port).await.unwrap());
            write_all(&mut io, &data).await.unwrap();
            poll_fn(|cx| Pin::new(&mut io).poll_close(cx))
                .await
                .unwrap();
        });
        let (stream, _) = listener.accept().await.unwrap();
        // Let the writer fill the kernel buffers and park.
        corio::sleep(Duration::from_millis(50)).await;
        assert!(!writer.done(), "8 MB cannot fit in the socket buffers");
        let mut io = Io::new(stream);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = read(&mut io, &mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        writer.await.unwrap();
        assert!(got == expected, "{} bytes back", got.len());
    })
    .unwrap();
}

#[test]
fn a_dropped_read_loses_no_bytes() {
    corio::run(async {
        let path = std::env::temp_dir().join(format!("corio-fio-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let b = UnixStream::connect(&path).await.unwrap();
        let (a, _) = listener.accept().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut reader = BufIo::new(a);
        let mut writer = Io::new(b);
        // A read that times out before any data: dropped mid-wait.
        let mut buf = [0u8; 16];
        let timed_out =
            corio::timeout(Duration::from_millis(20), read(&mut reader, &mut buf)).await;
        assert!(timed_out.is_err());
        write_all(&mut writer, b"first\nsecond\n").await.unwrap();
        // Fill the buffer, take only the first line, then drop a read
        // future before polling it: the rest stays buffered.
        let line = poll_fn(|cx| {
            let mut r = Pin::new(&mut reader);
            let avail = std::task::ready!(r.as_mut().poll_fill_buf(cx))?;
            let end = avail.iter().position(|&b| b == b'\n').unwrap() + 1;
            let line = avail[..end].to_vec();
            r.consume(end);
            std::task::Poll::Ready(Ok::<_, std::io::Error>(line))
        })
        .await
        .unwrap();
        assert_eq!(line, b"first\n");
        drop(read(&mut reader, &mut buf));
        let n = read(&mut reader, &mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"second\n");
    })
    .unwrap();
}

/// `HttpServer::close` is graceful: a request in flight is answered, then
/// the connection closes and `wait_closed` returns; new connections are
/// refused.
#[test]
fn close_lets_the_request_in_flight_finish() {
    use corio_compat::bytes::Bytes;
    use corio_compat::http_body_util::{BodyExt, Empty, Full};
    use corio_compat::hyper::{self, Request, Response};

    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio_compat::serve(
            listener,
            hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                corio::sleep(Duration::from_millis(200)).await;
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("slow"))))
            }),
        );
        let io = Io::new(TcpStream::connect("127.0.0.1", port).await.unwrap());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        let conn = corio::create_task(conn);
        let request = corio::create_task(async move {
            let req = Request::get("/")
                .header("host", "x")
                .body(Empty::<Bytes>::new())
                .unwrap();
            let response = sender.send_request(req).await.unwrap();
            response.into_body().collect().await.unwrap().to_bytes()
        });
        corio::sleep(Duration::from_millis(50)).await;
        assert_eq!(server.connections(), 1);
        server.close();
        assert!(!server.is_serving());
        corio::timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("wait_closed returns once the request is answered");
        assert_eq!(request.await.unwrap(), "slow");
        // The server closed the connection after answering.
        corio::timeout(Duration::from_secs(5), conn)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(TcpStream::connect("127.0.0.1", port).await.is_err());
    })
    .unwrap();
}

/// hyper's `rt::Timer` on corio: a sleep fires at its deadline, `reset`
/// moves it, a dropped sleep's timer is cancelled.
#[test]
fn corio_timer_sleeps_resets_and_cancels() {
    use corio_compat::CorioTimer;
    use corio_compat::hyper::rt::Timer;
    use std::time::Instant;

    corio::run(async {
        let start = Instant::now();
        CorioTimer.sleep(Duration::from_millis(30)).await;
        let slept = start.elapsed();
        assert!(
            slept >= Duration::from_millis(30) && slept < Duration::from_secs(1),
            "{slept:?}"
        );

        let mut sleep = CorioTimer.sleep(Duration::from_secs(3600));
        // Arm it (one poll), then pull the deadline in.
        assert!(
            corio::timeout(Duration::from_millis(10), sleep.as_mut())
                .await
                .is_err()
        );
        CorioTimer.reset(&mut sleep, Instant::now() + Duration::from_millis(20));
        corio::timeout(Duration::from_secs(1), sleep)
            .await
            .expect("reset deadline");

        let dropped = CorioTimer.sleep(Duration::from_secs(3600));
        let mut dropped = dropped;
        assert!(
            corio::timeout(Duration::from_millis(5), dropped.as_mut())
                .await
                .is_err()
        );
        drop(dropped);
    })
    .unwrap();
}

/// A peer that connects and never finishes `wrap` (here: a handshake that
/// waits for the client's first byte) is dropped after the upgrade
/// timeout: its task and fd do not live until the server closes, and the
/// server goes on serving.
#[test]
fn a_silent_peer_is_dropped_after_the_upgrade_timeout() {
    use corio_compat::bytes::Bytes;
    use corio_compat::http_body_util::Full;
    use corio_compat::hyper::{self, Request, Response};

    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio_compat::serve_with(
            listener,
            hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("hi"))))
            }),
            |stream: TcpStream| async move {
                // The "handshake": the client must speak first.
                let mut first = [0; 1];
                stream.recv(&mut first).await?;
                Ok(Io::new(stream))
            },
        );
        server.set_upgrade_timeout(Duration::from_millis(100));
        let silent = TcpStream::connect("127.0.0.1", port).await.unwrap();
        corio::sleep(Duration::from_millis(30)).await;
        assert_eq!(server.connections(), 1, "accepted, handshaking");
        let mut buf = [0; 8];
        let n = corio::timeout(Duration::from_secs(5), silent.recv(&mut buf))
            .await
            .expect("dropped well before the server closes")
            .unwrap();
        assert_eq!(n, 0, "the server closed the silent connection");
        assert_eq!(server.connections(), 0);
        assert!(server.is_serving(), "the server goes on");
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// After a short read the socket is believed drained and the next read
/// parks without a `recv`; bytes that arrived in between (here: before
/// that read was even polled) must still be delivered, by the loop's
/// level-triggered report, and so must bytes that arrive while parked.
#[test]
fn bytes_after_a_short_read_are_still_delivered() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let peer = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        let mut io = Io::new(stream);
        let mut buf = [0u8; 64];
        // Park once first, so the reader's registration exists.
        assert!(
            corio::timeout(Duration::from_millis(10), read(&mut io, &mut buf))
                .await
                .is_err()
        );
        for round in 0..50u8 {
            peer.send_all(&[round; 3]).await.unwrap();
            let n = corio::timeout(Duration::from_secs(5), read(&mut io, &mut buf))
                .await
                .expect("the first bytes")
                .unwrap();
            assert_eq!(&buf[..n], &[round; 3], "a short read");
            // More arrives before the next read is polled.
            peer.send_all(&[round; 5]).await.unwrap();
            let n = corio::timeout(Duration::from_secs(5), read(&mut io, &mut buf))
                .await
                .expect("bytes sent after a short read are delivered")
                .unwrap();
            assert_eq!(&buf[..n], &[round; 5]);
        }
    })
    .unwrap();
}

/// hyper's header-read timeout on `CorioTimer`: a keep-alive connection
/// is answered, then, once idle and holding half a request, dropped when
/// the timeout comes (a sleep per request: armed, dropped, armed again).
#[test]
fn corio_timer_drives_hyper_header_read_timeout() {
    use corio_compat::bytes::Bytes;
    use corio_compat::http_body_util::Full;
    use corio_compat::hyper::{self, Request, Response};
    use corio_compat::{CorioTimer, Io};
    use std::time::Instant;

    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(CorioTimer)
                .header_read_timeout(Duration::from_millis(200));
            builder
                .serve_connection(
                    Io::new(stream),
                    hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            "ok",
                        ))))
                    }),
                )
                .await
        });
        let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let mut buf = [0u8; 1024];
        for _ in 0..3 {
            client
                .send_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .await
                .unwrap();
            let n = client.recv(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "answered");
        }
        client.send_all(b"GET / HTTP/1.1\r\nho").await.unwrap();
        let start = Instant::now();
        let n = corio::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .expect("the server drops the slow client")
            .unwrap_or(0);
        // hyper answers 408 or just closes; either way the connection ends.
        assert!(
            n == 0 || buf[..n].starts_with(b"HTTP/1.1 408"),
            "{:?}",
            &buf[..n]
        );
        assert!(
            start.elapsed() >= Duration::from_millis(150),
            "{:?}",
            start.elapsed()
        );
        let result = corio::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert!(result.is_err(), "the connection ended with the timeout");
    })
    .unwrap();
}

/// `HttpServer::close` reaches every idle keep-alive connection (each
/// watches the shutdown only through the wake-up it registered once):
/// all of them are closed and `wait_closed` returns.
#[test]
fn close_reaches_every_idle_keep_alive_connection() {
    use corio_compat::bytes::Bytes;
    use corio_compat::http_body_util::Full;
    use corio_compat::hyper::{self, Request, Response};

    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = corio_compat::serve(
            listener,
            hyper::service::service_fn(|_req: Request<hyper::body::Incoming>| async {
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("ok"))))
            }),
        );
        let mut clients = Vec::new();
        let mut buf = [0u8; 1024];
        for _ in 0..20 {
            let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
            for _ in 0..3 {
                client
                    .send_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                    .await
                    .unwrap();
                let n = client.recv(&mut buf).await.unwrap();
                assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
            }
            clients.push(client);
        }
        assert_eq!(server.connections(), 20);
        server.close();
        corio::timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("every connection closes");
        for client in &clients {
            let n = corio::timeout(Duration::from_secs(5), client.recv(&mut buf))
                .await
                .expect("the server closed it")
                .unwrap_or(0);
            assert_eq!(n, 0);
        }
    })
    .unwrap();
}
