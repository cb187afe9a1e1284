//! Streams on loopback: readers, writers, servers, limits and flow control.
//!
//! Each case is a plain function, made a test by `cases!` at the end.

use std::cell::RefCell;
use std::io::{self, ErrorKind, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use corio_executor::{create_task, run, sleep, wait_for};
use corio_net::{
    ConnectOptions, DEFAULT_LIMIT, ServerOptions, StreamError, StreamReader, StreamWriter,
    TcpListener, TcpStream, open_connection, open_connection_sock, open_connection_with,
    open_unix_connection, start_server, start_server_with, start_unix_server,
};

pub(crate) mod support;

use support::{Result, cases, until};

/// A stream connection with reader `limit`, and the raw socket of its
/// other end.
async fn connected(limit: usize) -> io::Result<(StreamReader, StreamWriter, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let options = ConnectOptions {
        limit,
        ..ConnectOptions::default()
    };
    let (reader, writer) = open_connection_with("127.0.0.1", port, options).await?;
    let (peer, _) = listener.accept().await?;
    Ok((reader, writer, peer))
}

/// The notes' echo handler: each line back until EOF.
async fn echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

fn echo_lines_through_a_server_and_iterate_lines_to_eof() -> Result {
    run(async {
        let server = start_server(echo, "127.0.0.1", 0).await?;
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        assert!(writer.peer_addr().unwrap().port() == port);
        writer.writelines([&b"one\n"[..], b"two\n", b"three"])?;
        writer.drain().await?;
        assert_eq!(reader.readline().await?, b"one\n");
        writer.write_eof();
        let mut lines = reader.lines();
        let mut rest = Vec::new();
        while let Some(line) = lines.next().await {
            rest.push(line?);
        }
        // The unterminated last line comes as it is, then EOF ends it.
        assert_eq!(rest, [b"two\n".to_vec(), b"three".to_vec()]);
        assert!(reader.at_eof());
        assert_eq!(reader.readline().await?, b"");
        // EOF keeps a stream's transport open (eof_received is true, for
        // half-close): closing is ours to do, as in asyncio.
        assert!(!writer.is_closing());
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok(())
    })?
}

fn read_readexactly_and_readuntil_split_the_stream_as_asyncio() -> Result {
    run(async {
        let (reader, writer, peer) = connected(DEFAULT_LIMIT).await?;
        peer.send_all(b"HEAD\r\n\r\nbody-bytes").await?;
        assert_eq!(reader.readuntil(b"\r\n\r\n").await?, b"HEAD\r\n\r\n");
        assert_eq!(reader.readexactly(4).await?, b"body");
        assert_eq!(reader.read(0).await?, b"");
        assert_eq!(reader.read(100).await?, b"-bytes");
        // read(n) returns what is there once something is, not n bytes.
        let later = create_task(async move {
            sleep(Duration::from_millis(20)).await;
            peer.send_all(b"ab").await?;
            sleep(Duration::from_millis(20)).await;
            peer.send_all(b"cd").await?;
            drop(peer);
            io::Result::Ok(())
        });
        assert_eq!(reader.read(10).await?, b"ab");
        assert_eq!(reader.read(-1).await?, b"cd");
        assert!(reader.at_eof());
        later.await??;
        drop(writer);
        Ok(())
    })?
}

fn read_into_fills_the_callers_buffer_as_read_would() -> Result {
    run(async {
        // A small limit, so the sender's burst pauses the transport and
        // the reads below must resume it.
        let (reader, writer, peer) = connected(16).await?;
        let mut buf = [0u8; 10];
        assert_eq!(reader.read_into(&mut []).await?, 0);
        let later = create_task(async move {
            sleep(Duration::from_millis(20)).await;
            peer.send_all(b"abc").await?;
            sleep(Duration::from_millis(20)).await;
            let body: Vec<u8> = (0..200u8).collect();
            peer.send_all(&body).await?;
            drop(peer);
            io::Result::Ok(body)
        });
        // It waits for data, then returns what is there, not a full buffer.
        assert_eq!(reader.read_into(&mut buf).await?, 3);
        assert_eq!(&buf[..3], b"abc");
        let mut got = Vec::new();
        loop {
            let n = reader.read_into(&mut buf).await?;
            if n == 0 {
                break; // EOF
            }
            assert!(n <= buf.len());
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, later.await??, "every byte, in order");
        assert!(reader.at_eof());
        assert_eq!(reader.read_into(&mut buf).await?, 0);
        drop(writer);
        Ok(())
    })?
}

fn read_into_after_a_reset_is_connection_reset() -> Result {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = std_listener.local_addr()?.port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        let (peer, _) = std_listener.accept()?;
        writer.write(b"never read by the peer")?;
        let reading = create_task(async move {
            let mut buf = [0u8; 8];
            reader.read_into(&mut buf).await.map_err(io::Error::from)
        });
        sleep(Duration::from_millis(5)).await;
        reset_by(peer, 1);
        let err = reading.await?.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        Ok(())
    })?
}

fn readexactly_and_readuntil_at_eof_give_the_partial_bytes() -> Result {
    run(async {
        let reader = StreamReader::new(1024);
        reader.feed_data(b"abc");
        reader.feed_eof();
        match reader.readexactly(5).await {
            Err(StreamError::IncompleteRead { partial, expected }) => {
                assert_eq!((partial.as_slice(), expected), (&b"abc"[..], Some(5)));
            }
            other => panic!("{other:?}"),
        }
        assert!(reader.at_eof(), "the partial bytes are consumed");
        let reader = StreamReader::new(1024);
        reader.feed_data(b"no separator");
        reader.feed_eof();
        let err = reader.readuntil(b"\r\n").await.unwrap_err();
        assert!(
            matches!(&err, StreamError::IncompleteRead { partial, expected: None } if partial == b"no separator")
        );
        assert_eq!(
            err.to_string(),
            "12 bytes read on a total of undefined expected bytes"
        );
        let io: io::Error = err.into();
        assert_eq!(io.kind(), ErrorKind::UnexpectedEof);
        Ok(())
    })?
}

fn limit_overrun_leaves_the_buffer_intact() -> Result {
    run(async {
        let reader = StreamReader::new(4);
        reader.feed_data(b"abcdefgh");
        // Not found, and the searched chunk passed the limit: nothing read.
        match reader.readuntil(b"\n").await {
            Err(StreamError::LimitOverrun { consumed, message }) => {
                assert_eq!(consumed, 8);
                assert!(message.contains("not found"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        reader.feed_data(b"\nxy\n");
        // Found, but past the limit: still nothing consumed.
        match reader.readuntil(b"\n").await {
            Err(StreamError::LimitOverrun { consumed, message }) => {
                assert_eq!(consumed, 8);
                assert!(message.contains("is found"), "{message}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(reader.readexactly(9).await?, b"abcdefgh\n");
        assert_eq!(reader.readuntil(b"\n").await?, b"xy\n");
        // An empty separator is bad input.
        let err = reader.readuntil(b"").await.unwrap_err();
        assert!(matches!(err, StreamError::Io(ref e) if e.kind() == ErrorKind::InvalidInput));
        Ok(())
    })?
}

fn readline_over_the_limit_drops_the_line_as_asyncio() -> Result {
    run(async {
        // The newline came: the long line goes, through its newline.
        let reader = StreamReader::new(4);
        reader.feed_data(b"too long\nok\n");
        let err = reader.readline().await.unwrap_err();
        assert!(matches!(err, StreamError::LineTooLong(_)), "{err:?}");
        assert_eq!(reader.readline().await?, b"ok\n");
        // No newline yet: everything buffered goes.
        let reader = StreamReader::new(4);
        reader.feed_data(b"0123456789");
        assert!(matches!(
            reader.readline().await,
            Err(StreamError::LineTooLong(_))
        ));
        reader.feed_data(b"x\n");
        assert_eq!(reader.readline().await?, b"x\n");
        // A line of exactly the limit (plus newline) is fine.
        let reader = StreamReader::new(4);
        reader.feed_data(b"abcd\n");
        assert_eq!(reader.readline().await?, b"abcd\n");
        Ok(())
    })?
}

fn a_line_longer_than_the_limit_over_a_connection() -> Result {
    run(async {
        let (reader, _writer, peer) = connected(16).await?;
        peer.send_all(&[b'x'; 100]).await?;
        peer.send_all(b"\nnext\n").await?;
        assert!(matches!(
            reader.readline().await,
            Err(StreamError::LineTooLong(_))
        ));
        // Whatever part of the long line came later is dropped the same way
        // by the next readline; the stream is in step again after it.
        let mut line = reader.readline().await;
        while matches!(line, Err(StreamError::LineTooLong(_)))
            || line.as_deref().is_ok_and(|l| l.starts_with(b"x"))
        {
            line = reader.readline().await;
        }
        assert_eq!(line?, b"next\n");
        Ok(())
    })?
}

fn a_cancelled_readline_loses_no_bytes() -> Result {
    run(async {
        let (reader, _writer, peer) = connected(DEFAULT_LIMIT).await?;
        peer.send_all(b"first half, ").await?;
        let reader = Rc::new(reader);
        let r = reader.clone();
        let timed_out = wait_for(
            async move { r.readline().await },
            Some(Duration::from_millis(30)),
        )
        .await;
        assert!(timed_out.is_err(), "no newline yet: the wait times out");
        peer.send_all(b"second half\n").await?;
        assert_eq!(reader.readline().await?, b"first half, second half\n");
        Ok(())
    })?
}

fn two_tasks_reading_one_stream_is_resource_busy() -> Result {
    run(async {
        let (reader, _writer, peer) = connected(DEFAULT_LIMIT).await?;
        let reader = Rc::new(reader);
        let first = create_task({
            let reader = reader.clone();
            async move { reader.readline().await }
        });
        sleep(Duration::from_millis(5)).await;
        let err = reader.readline().await.unwrap_err();
        assert!(matches!(err, StreamError::Io(ref e) if e.kind() == ErrorKind::ResourceBusy));
        peer.send_all(b"for the first\n").await?;
        assert_eq!(first.await?.unwrap(), b"for the first\n");
        Ok(())
    })?
}

fn a_full_reader_pauses_the_transport_and_resumes_it_when_read() -> Result {
    run(async {
        let (reader, writer, peer) = connected(1024).await?;
        let sender = create_task(async move {
            peer.send_all(&vec![7u8; 64 * 1024]).await?;
            io::Result::Ok(peer)
        });
        // Past 2 * limit the transport stops reading: the rest waits in
        // the kernel, not in our buffer.
        until(|| !writer.transport().is_reading()).await;
        let mut total = 0;
        while total < 64 * 1024 {
            let chunk = reader.read(4096).await?;
            assert!(chunk.iter().all(|&b| b == 7));
            total += chunk.len();
        }
        assert!(writer.transport().is_reading());
        drop(sender.await??);
        assert_eq!(reader.read(-1).await?, b"");
        Ok(())
    })?
}

fn read_to_eof_takes_a_body_past_the_limit_without_pausing() -> Result {
    run(async {
        let (reader, writer, peer) = connected(1024).await?;
        let body: Vec<u8> = (0..256 * 1024u32).map(|i| i as u8).collect();
        let sent = body.clone();
        let sender = create_task(async move {
            peer.send_all(&sent).await?;
            drop(peer); // EOF
            io::Result::Ok(())
        });
        // Sample the transport while read(-1) collects: pausing would only
        // be undone by the reader's next wait.
        let transport = writer.transport().clone();
        let paused = Rc::new(std::cell::Cell::new(false));
        let seen = paused.clone();
        let sampler = create_task(async move {
            loop {
                seen.set(seen.get() || !transport.is_reading());
                corio_executor::yield_now().await;
            }
        });
        assert_eq!(reader.read(-1).await?, body, "every byte, in order");
        sampler.cancel();
        sender.await??;
        assert!(!paused.get(), "read(-1) never paused the transport");
        Ok(())
    })?
}

fn drain_waits_for_a_slow_peer_and_the_buffer_stays_bounded() -> Result {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = std_listener.local_addr()?.port();
        let (_reader, writer) = open_connection("127.0.0.1", port).await?;
        let writer = Rc::new(writer);
        let (mut peer, _) = std_listener.accept()?;
        let chunk = vec![1u8; 16 * 1024];
        let mut written = 0;
        let mut most = 0;
        // The peer reads nothing: drain must start waiting, with the
        // transport's buffer near the high-water mark.
        loop {
            writer.write(&chunk)?;
            written += chunk.len();
            most = most.max(writer.transport().get_write_buffer_size());
            let w = writer.clone();
            if wait_for(
                async move { w.drain().await },
                Some(Duration::from_millis(20)),
            )
            .await
            .is_err()
            {
                break;
            }
            assert!(written < 64 << 20, "drain never waited");
        }
        assert!(
            most <= 64 * 1024 + chunk.len(),
            "buffer bounded by the high-water mark plus one write: {most}"
        );
        // The peer reads everything, in a thread; drain then completes.
        let reading = std::thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            let mut got = 0;
            while got < written {
                got += peer.read(&mut buf).unwrap();
            }
            got
        });
        writer.drain().await?;
        let (low, _) = writer.transport().get_write_buffer_limits();
        assert!(writer.transport().get_write_buffer_size() <= low);
        until(|| writer.transport().get_write_buffer_size() == 0).await;
        assert_eq!(reading.join().unwrap(), written, "no byte dropped");
        Ok(())
    })?
}

/// A std peer whose close resets the connection: it closes with bytes of
/// ours unread, which makes the kernel send RST instead of FIN.
fn reset_by(mut peer: std::net::TcpStream, unread_expected: usize) {
    let mut waited = 0;
    peer.set_nonblocking(true).unwrap();
    // Make sure our bytes are in its receive queue before closing.
    let mut probe = [0u8; 1];
    while waited < 500 {
        if matches!(peer.peek(&mut probe), Ok(1)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
        waited += 1;
    }
    assert!(unread_expected > 0);
    peer.flush().unwrap();
    drop(peer);
}

fn a_reset_during_a_read_is_connection_reset() -> Result {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = std_listener.local_addr()?.port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        let (peer, _) = std_listener.accept()?;
        writer.write(b"never read by the peer")?;
        let reading = create_task(async move {
            let line = reader.readline().await;
            (line.map_err(io::Error::from), reader)
        });
        sleep(Duration::from_millis(5)).await;
        reset_by(peer, 1);
        let (line, reader) = reading.await?;
        let err = line.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        // Every later read and drain reports it too.
        assert!(reader.exception().is_some());
        assert!(reader.read(1).await.is_err());
        assert!(writer.drain().await.is_err());
        assert_eq!(
            writer.wait_closed().await.unwrap_err().kind(),
            ErrorKind::ConnectionReset
        );
        Ok(())
    })?
}

fn a_reset_during_a_drain_ends_the_drain_with_the_error() -> Result {
    run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let port = std_listener.local_addr()?.port();
        let (_reader, writer) = open_connection("127.0.0.1", port).await?;
        let (peer, _) = std_listener.accept()?;
        let chunk = vec![0u8; 64 * 1024];
        let mut written = 0;
        // Fill the kernel's buffers and ours past the high-water mark.
        while writer.transport().get_write_buffer_size() <= 64 * 1024 {
            writer.write(&chunk)?;
            written += chunk.len();
            assert!(written < 64 << 20, "the peer's window never filled");
            sleep(Duration::from_millis(1)).await;
        }
        let writer = Rc::new(writer);
        let draining = create_task({
            let writer = writer.clone();
            async move { writer.drain().await }
        });
        sleep(Duration::from_millis(5)).await;
        assert!(!draining.done(), "the peer reads nothing: drain waits");
        reset_by(peer, written);
        let err = draining.await?.unwrap_err();
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        // A later write names the failure, not a close nobody made.
        let late = writer.write(b"late").unwrap_err();
        assert_eq!(late.kind(), err.kind(), "{late}");
        Ok(())
    })?
}

fn writing_after_close_is_an_error_not_a_panic() -> Result {
    run(async {
        let server = start_server(echo, "127.0.0.1", 0).await?;
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"last words\n")?;
        writer.close();
        assert!(writer.is_closing());
        let err = writer.write(b"too late").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected);
        let err = writer.drain().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        writer.wait_closed().await?;
        // Closed by us: the reader sees EOF.
        assert_eq!(reader.read(-1).await?, b"");
        server.close();
        server.wait_closed().await;
        Ok(())
    })?
}

fn half_close_both_ways_with_write_eof() -> Result {
    run(async {
        // The server reads to EOF, answers, then half-closes in turn.
        let server = start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                let request = reader.read(-1).await?;
                writer.write(format!("got {} bytes", request.len()).as_bytes())?;
                assert!(writer.can_write_eof());
                writer.write_eof();
                // Our reading half stays open after write_eof... and so
                // does the connection until we close.
                writer.drain().await?;
                io::Result::Ok(())
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"the whole request")?;
        writer.write_eof();
        assert!(writer.write(b"more").is_err(), "no writing after write_eof");
        assert_eq!(reader.read(-1).await?, b"got 17 bytes");
        writer.close();
        writer.wait_closed().await?;
        server.close();
        server.wait_closed().await;
        Ok(())
    })?
}

fn closing_a_server_with_live_connections() -> Result {
    run(async {
        let server = start_server(echo, "127.0.0.1", 0).await?;
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"before\n")?;
        assert_eq!(reader.readline().await?, b"before\n");
        server.close();
        assert!(!server.is_serving());
        assert!(server.addresses().is_empty());
        let refused = open_connection("127.0.0.1", port).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        // The live connection still works; wait_closed waits for it.
        writer.write(b"after\n")?;
        assert_eq!(reader.readline().await?, b"after\n");
        let server2 = server.clone();
        let closed = create_task(async move { server2.wait_closed().await });
        sleep(Duration::from_millis(10)).await;
        assert!(!closed.done());
        writer.close();
        closed.await?;
        Ok(())
    })?
}

fn a_failing_callback_is_reported_and_its_connection_closed() -> Result {
    run(async {
        let reports = Rc::new(RefCell::new(Vec::new()));
        let seen = reports.clone();
        corio_executor::get_running_loop()?.set_exception_handler(Some(
            move |ctx: &corio_executor::ExceptionContext| {
                if ctx.message.starts_with("Executing ") {
                    return; // a slow step on a loaded machine
                }
                seen.borrow_mut()
                    .push(format!("{}: {:?}", ctx.message, ctx.exception));
            },
        ));
        let server = start_server(
            |reader: StreamReader, writer: StreamWriter| async move {
                let line = reader.readline().await.map_err(io::Error::from)?;
                if line == b"panic\n" {
                    panic!("the handler panicked");
                }
                let _keep = writer;
                Err(io::Error::other(format!("refusing {line:?}")))
            },
            "127.0.0.1",
            0,
        )
        .await?;
        let port = server.addresses()[0].port();
        for request in [&b"hello\n"[..], b"panic\n"] {
            let (reader, writer) = open_connection("127.0.0.1", port).await?;
            writer.write(request)?;
            assert_eq!(reader.read(-1).await?, b"", "closed by the server");
        }
        let reports = reports.borrow().clone();
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(reports[0].contains("client_connected_cb") && reports[0].contains("refusing"));
        assert!(reports[1].contains("the handler panicked"), "{reports:?}");
        server.close();
        server.wait_closed().await;
        Ok(())
    })?
}

fn connect_faults_are_typed() -> Result {
    run(async {
        let port = TcpListener::bind("127.0.0.1", 0)
            .await?
            .local_addr()?
            .port();
        let refused = open_connection("127.0.0.1", port).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        let host = format!("{}.invalid", "x".repeat(64));
        let unresolved = open_connection(&host, 80).await.unwrap_err();
        assert!(unresolved.to_string().contains(&host), "{unresolved}");
        for (host, port) in [("127.0.0.1", 0), ("bad\0host", 80), ("", 80)] {
            let err = open_connection(host, port).await.unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidInput,
                "{host:?}:{port}: {err}"
            );
        }
        let zero = ConnectOptions {
            limit: 0,
            ..ConnectOptions::default()
        };
        let err = open_connection_with("127.0.0.1", port, zero)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        Ok(())
    })?
}

fn open_connection_binds_the_local_address_it_is_given() -> Result {
    run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let local = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
        let options = ConnectOptions {
            local_addr: Some(local),
            ..ConnectOptions::default()
        };
        let (_reader, writer) = open_connection_with("127.0.0.1", port, options).await?;
        let (_, peer) = listener.accept().await?;
        assert_eq!(peer, local);
        assert_eq!(writer.local_addr(), Some(local));
        Ok(())
    })?
}

fn unix_streams_replace_a_stale_socket_file_and_remove_it_on_close() -> Result {
    let dir = std::env::temp_dir().join(format!("corio-streams-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("echo.sock");
    // A stale socket file: bound by a listener that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path)?);
    assert!(path.exists());
    let p = path.clone();
    run(async move {
        let server = start_unix_server(echo, &p).await?;
        assert_eq!(server.path().as_deref(), Some(p.as_path()));
        assert!(server.addresses().is_empty());
        let (reader, writer) = open_unix_connection(&p).await?;
        assert_eq!(writer.peer_addr(), None);
        writer.write(b"over a path\n")?;
        assert_eq!(reader.readline().await?, b"over a path\n");
        drop(writer);
        server.close();
        server.wait_closed().await;
        assert!(!p.exists(), "the socket file is removed on close");
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    // A path that is not a socket is not replaced.
    std::fs::write(&path, b"not a socket")?;
    let p = path.clone();
    let err = run(async move { start_unix_server(echo, &p).await.unwrap_err() })?;
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
    assert_eq!(std::fs::read(&path)?, b"not a socket");
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn stream_servers_take_backlog_and_reuse_port() -> Result {
    run(async {
        let options = ServerOptions {
            reuse_port: true,
            ..ServerOptions::default()
        };
        let first = start_server_with(echo, "127.0.0.1", 0, options.clone()).await?;
        let port = first.addresses()[0].port();
        let second = start_server_with(echo, "127.0.0.1", port, options).await?;
        assert_eq!(second.addresses()[0].port(), port);
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(b"either\n")?;
        assert_eq!(reader.readline().await?, b"either\n");
        let negative = ServerOptions {
            backlog: -1,
            ..ServerOptions::default()
        };
        let err = start_server_with(echo, "127.0.0.1", 0, negative)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        drop(writer);
        for server in [first, second] {
            server.close();
            server.wait_closed().await;
        }
        Ok(())
    })?
}

/// `open_connection(sock=...)`: a socket accepted by hand becomes a
/// reader/writer pair; its transport gives the socket's fd while open (the
/// kernel says it is a socket) and `None` once closed; a limit of 0 is
/// refused and the socket is not leaked.
fn a_hand_accepted_socket_becomes_a_stream_pair_whose_fd_is_reachable() -> Result {
    run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let client = TcpStream::connect("127.0.0.1", port).await?;
        let (accepted, _) = listener.accept().await?;
        let zero_limit = ConnectOptions {
            limit: 0,
            ..ConnectOptions::default()
        };
        let refused = open_connection_sock(accepted, zero_limit).unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidInput);
        // The refused socket was dropped (closed): the client sees EOF.
        let mut buf = [0; 16];
        assert_eq!(client.recv(&mut buf).await?, 0);

        let client = TcpStream::connect("127.0.0.1", port).await?;
        let (accepted, _) = listener.accept().await?;
        let (reader, writer) = open_connection_sock(accepted, ConnectOptions::default())?;
        let fd = writer.transport().as_raw_fd().expect("open transport");
        let link = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
        assert!(link.to_string_lossy().starts_with("socket:"), "{link:?}");
        client.send_all(b"GET /\r\n").await?;
        assert_eq!(reader.readline().await.unwrap(), b"GET /\r\n");
        writer.write(b"ok")?;
        writer.drain().await?;
        assert_eq!(client.recv(&mut buf).await?, 2);
        writer.close();
        writer.wait_closed().await?;
        assert_eq!(writer.transport().as_raw_fd(), None);
        assert_eq!(client.recv(&mut buf).await?, 0, "closed: EOF");
        Ok(())
    })?
}

fn a_std_blocking_client_talks_to_a_stream_server() -> Result {
    // The server's loop runs on this thread; a plain blocking client in
    // another thread checks every byte of a large echo.
    run(async {
        let server = start_server(echo, "127.0.0.1", 0).await?;
        let port = server.addresses()[0].port();
        let client = corio_offload::to_thread(move || {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            let payload: Vec<u8> = (0..200_000u32)
                .map(|i| {
                    if i % 61 == 60 {
                        b'\n'
                    } else {
                        b'a' + (i % 26) as u8
                    }
                })
                .collect();
            let mut writer = s.try_clone()?;
            let sent = payload.clone();
            let t = std::thread::spawn(move || {
                writer.write_all(&sent)?;
                writer.shutdown(std::net::Shutdown::Write)
            });
            let mut back = Vec::new();
            s.read_to_end(&mut back)?;
            t.join().unwrap()?;
            io::Result::Ok(back == payload)
        })
        .await?;
        assert!(client?, "every byte echoed in order");
        server.close();
        server.wait_closed().await;
        Ok(())
    })?
}

/// Any limit works: at `usize::MAX` (and at 2^63, whose double wraps to 0)
/// the pause threshold `2 * limit` saturates instead of overflowing, so
/// lines, separators and bulk reads behave as with no limit at all.
fn a_limit_up_to_usize_max_works() -> Result {
    for limit in [usize::MAX, 1 << 63, usize::MAX / 2 + 1] {
        run(async move {
            let (reader, _writer, peer) = connected(limit).await?;
            assert_eq!(reader.limit(), limit);
            let bulk = vec![b'x'; 1 << 20];
            let sender = corio_executor::create_task(async move {
                peer.send_all(b"first line\n").await?;
                peer.send_all(&bulk).await?;
                peer.send_all(b"\r\nend").await?;
                io::Result::Ok(peer)
            });
            assert_eq!(reader.readline().await?, b"first line\n");
            let body = reader.readuntil(b"\r\n").await?;
            assert_eq!(body.len(), (1 << 20) + 2);
            let peer = sender.await.unwrap()?;
            drop(peer);
            assert_eq!(reader.read(-1).await?, b"end");
            io::Result::Ok(())
        })??;
    }
    Ok(())
}

cases!(
    a_limit_up_to_usize_max_works,
    echo_lines_through_a_server_and_iterate_lines_to_eof,
    read_readexactly_and_readuntil_split_the_stream_as_asyncio,
    read_into_fills_the_callers_buffer_as_read_would,
    read_into_after_a_reset_is_connection_reset,
    readexactly_and_readuntil_at_eof_give_the_partial_bytes,
    limit_overrun_leaves_the_buffer_intact,
    readline_over_the_limit_drops_the_line_as_asyncio,
    a_line_longer_than_the_limit_over_a_connection,
    a_cancelled_readline_loses_no_bytes,
    two_tasks_reading_one_stream_is_resource_busy,
    a_full_reader_pauses_the_transport_and_resumes_it_when_read,
    read_to_eof_takes_a_body_past_the_limit_without_pausing,
    drain_waits_for_a_slow_peer_and_the_buffer_stays_bounded,
    a_reset_during_a_read_is_connection_reset,
    a_reset_during_a_drain_ends_the_drain_with_the_error,
    writing_after_close_is_an_error_not_a_panic,
    half_close_both_ways_with_write_eof,
    closing_a_server_with_live_connections,
    a_failing_callback_is_reported_and_its_connection_closed,
    connect_faults_are_typed,
    open_connection_binds_the_local_address_it_is_given,
    unix_streams_replace_a_stale_socket_file_and_remove_it_on_close,
    stream_servers_take_backlog_and_reuse_port,
    a_std_blocking_client_talks_to_a_stream_server,
    a_hand_accepted_socket_becomes_a_stream_pair_whose_fd_is_reachable,
);
