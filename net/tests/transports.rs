//! The transport/protocol layer on loopback.

use std::io::{self, ErrorKind, Read, Write};
use std::time::Duration;

use corio_executor::{run, sleep};
use corio_net::{Protocol, TcpListener, Transport, create_connection};

/// Records every callback, in order.
#[derive(Default)]
struct Recorder {
    transport: Option<Transport>,
    events: Vec<String>,
    data: Vec<u8>,
    keep_open_on_eof: bool,
}

impl Protocol for Recorder {
    fn connection_made(&mut self, transport: Transport) {
        self.events.push("made".into());
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.data.extend_from_slice(data);
    }
    fn eof_received(&mut self) -> bool {
        self.events.push("eof".into());
        if self.keep_open_on_eof {
            let t = self.transport.as_ref().unwrap();
            t.write(b"bye").unwrap();
            t.close();
        }
        self.keep_open_on_eof
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        self.events
            .push(format!("lost {:?}", exc.map(|e| e.kind())));
    }
    fn pause_writing(&mut self) {
        self.events.push("pause".into());
    }
    fn resume_writing(&mut self) {
        self.events.push("resume".into());
    }
}

mod support;

use support::until;

/// Waits for `connection_lost`, then returns every callback seen.
async fn events_once_lost(protocol: &std::rc::Rc<std::cell::RefCell<Recorder>>) -> Vec<String> {
    until(|| {
        protocol
            .borrow()
            .events
            .iter()
            .any(|e| e.starts_with("lost"))
    })
    .await;
    protocol.borrow().events.clone()
}

#[test]
fn callbacks_come_in_asyncio_order_and_eof_closes_by_default() {
    let events = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let (transport, protocol) = create_connection(Recorder::default, "127.0.0.1", port).await?;
        let (peer, _) = listener.accept().await?;
        transport.write(b"ping")?;
        let mut buf = [0; 4];
        let mut got = 0;
        while got < 4 {
            got += peer.recv(&mut buf[got..]).await?;
        }
        assert_eq!(&buf, b"ping");
        peer.send_all(b"pong").await?;
        drop(peer);
        until(|| protocol.borrow().events.len() == 3).await;
        assert_eq!(protocol.borrow().data, b"pong");
        assert!(transport.is_closing());
        let err = transport.write(b"late").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected);
        assert!(err.to_string().contains("write after close"), "{err}");
        let events = protocol.borrow().events.clone();
        Ok::<_, io::Error>(events)
    })
    .unwrap()
    .unwrap();
    assert_eq!(events, ["made", "eof", "lost None"]);
}

#[test]
fn eof_received_true_keeps_the_transport_open_to_answer() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        s.write_all(b"question").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        answer
    });
    let events = run(async move {
        let (_transport, protocol) = create_connection(
            || Recorder {
                keep_open_on_eof: true,
                ..Recorder::default()
            },
            "127.0.0.1",
            port,
        )
        .await?;
        until(|| protocol.borrow().events.len() == 3).await;
        let events = protocol.borrow().events.clone();
        Ok::<_, io::Error>(events)
    })
    .unwrap()
    .unwrap();
    assert_eq!(events, ["made", "eof", "lost None"]);
    assert_eq!(peer.join().unwrap(), b"bye");
}

#[test]
fn a_slow_peer_pauses_and_resumes_writing_and_the_buffer_stays_bounded() {
    let (events, most_buffered, received) = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let (transport, protocol) = create_connection(Recorder::default, "127.0.0.1", port).await?;
        let (peer, _) = listener.accept().await?;
        until(|| protocol.borrow().transport.is_some()).await;
        // Write until the protocol is told to pause: the peer reads nothing.
        let chunk = vec![7u8; 16 * 1024];
        let mut written = 0;
        while !protocol.borrow().events.contains(&"pause".to_string()) {
            transport.write(&chunk)?;
            written += chunk.len();
            assert!(written < 64 << 20, "never paused");
        }
        let most = transport.get_write_buffer_size();
        // Now the peer reads everything; the buffer drains and writing resumes.
        let mut received = 0;
        let mut buf = vec![0; 64 * 1024];
        while received < written {
            received += peer.recv(&mut buf).await?;
        }
        until(|| transport.get_write_buffer_size() == 0).await;
        transport.close();
        let events = events_once_lost(&protocol).await;
        Ok::<_, io::Error>((events, most, received))
    })
    .unwrap()
    .unwrap();
    assert_eq!(events, ["made", "pause", "resume", "lost None"]);
    // The protocol stops writing at the high-water mark; the buffer is what
    // one write could leave above it.
    assert!(
        most_buffered <= corio_net::DEFAULT_HIGH_WATER + 16 * 1024,
        "{most_buffered}"
    );
    assert!(received > 0);
}

#[test]
fn abort_drops_the_buffer_and_reports_lost_at_once() {
    let events = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let (transport, protocol) = create_connection(Recorder::default, "127.0.0.1", port).await?;
        let (_peer, _) = listener.accept().await?;
        transport.write(&vec![1; 8 << 20])?; // more than the socket takes
        assert!(transport.get_write_buffer_size() > 0);
        transport.abort();
        assert_eq!(transport.get_write_buffer_size(), 0);
        let events = events_once_lost(&protocol).await;
        Ok::<_, io::Error>(events)
    })
    .unwrap()
    .unwrap();
    assert_eq!(events.first().map(String::as_str), Some("made"));
    assert_eq!(events.last().map(String::as_str), Some("lost None"));
}

#[test]
fn water_marks_are_checked() {
    run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (transport, _p) = create_connection(Recorder::default, "127.0.0.1", port)
            .await
            .unwrap();
        assert_eq!(
            transport.get_write_buffer_limits(),
            (corio_net::DEFAULT_LOW_WATER, corio_net::DEFAULT_HIGH_WATER)
        );
        transport.set_write_buffer_limits(1000, None).unwrap();
        assert_eq!(transport.get_write_buffer_limits(), (250, 1000));
        let err = transport.set_write_buffer_limits(10, Some(20)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(transport.peer_addr().is_some() && transport.local_addr().is_some());
        transport.close();
    })
    .unwrap();
}

/// Echoes everything back.
struct Echo(Option<Transport>);

impl Protocol for Echo {
    fn connection_made(&mut self, transport: Transport) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        self.0.as_ref().unwrap().write(data).unwrap();
    }
}

#[test]
fn a_protocol_server_echoes_to_a_hundred_concurrent_clients() {
    use corio_net::{ServerOptions, TcpStream, create_server};
    let total = run(async {
        let server = create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
        assert!(server.is_serving());
        let port = server.addresses()[0].port();
        let clients = (0..100u32).map(|i| async move {
            let stream = TcpStream::connect("127.0.0.1", port).await?;
            let msg = format!("message {i}").repeat(50);
            stream.send_all(msg.as_bytes()).await?;
            let mut got = vec![0; msg.len()];
            let mut n = 0;
            while n < got.len() {
                n += stream.recv(&mut got[n..]).await?;
            }
            assert_eq!(got, msg.as_bytes());
            Ok::<_, io::Error>(n)
        });
        let results = corio_executor::gather(clients).await.unwrap();
        server.close();
        server.wait_closed().await;
        assert!(!server.is_serving());
        Ok::<_, io::Error>(results.into_iter().map(Result::unwrap).sum::<usize>())
    })
    .unwrap()
    .unwrap();
    assert!(total > 100 * 50 * 9);
}

#[test]
fn wait_closed_waits_for_live_connections_and_serve_forever_ends_on_close() {
    use corio_net::{ServerOptions, TcpStream, create_server};
    let order = run(async {
        let order = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let server = create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
        let port = server.addresses()[0].port();
        let forever = {
            let (server, order) = (server.clone(), order.clone());
            corio_executor::create_task(async move {
                server.serve_forever().await.unwrap();
                order.borrow_mut().push("serve_forever returned");
            })
        };
        let client = TcpStream::connect("127.0.0.1", port).await?;
        client.send_all(b"x").await?;
        let mut b = [0; 1];
        client.recv(&mut b).await?;
        let waiter = {
            let (server, order) = (server.clone(), order.clone());
            corio_executor::create_task(async move {
                server.wait_closed().await;
                order.borrow_mut().push("wait_closed returned");
            })
        };
        server.close();
        sleep(Duration::from_millis(20)).await;
        order.borrow_mut().push("client closes");
        drop(client);
        waiter.await.unwrap();
        forever.await.unwrap();
        // A closed server refuses new connections.
        let refused = TcpStream::connect("127.0.0.1", port).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        let order = order.borrow().clone();
        Ok::<_, io::Error>(order)
    })
    .unwrap()
    .unwrap();
    assert_eq!(
        order,
        [
            "serve_forever returned",
            "client closes",
            "wait_closed returned"
        ]
    );
}

/// Each `wait_closed` waits on its own: one that times out (and is
/// cancelled) lets no later one return while a connection is still open.
#[test]
fn a_cancelled_wait_closed_affects_no_other() {
    use corio_executor::{timeout, wait_for};
    use corio_net::{ServerOptions, TcpStream, create_server};
    run(async {
        let server = create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
        let port = server.addresses()[0].port();
        let client = TcpStream::connect("127.0.0.1", port).await?;
        client.send_all(b"x").await?;
        let mut b = [0; 1];
        client.recv(&mut b).await?;
        server.close(); // one connection still open
        let first = {
            let server = server.clone();
            wait_for(
                async move { server.wait_closed().await },
                Some(Duration::from_millis(20)),
            )
        };
        assert!(first.await.unwrap_err().is_timeout());
        let second = timeout(Duration::from_millis(20), server.wait_closed()).await;
        assert!(second.is_err(), "returned while a connection is open");
        let third = {
            let server = server.clone();
            corio_executor::create_task(async move { server.wait_closed().await })
        };
        drop(client);
        timeout(Duration::from_secs(5), third)
            .await
            .expect("wait_closed after the last connection")
            .unwrap();
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn reuse_port_lets_two_servers_share_a_port() {
    use corio_net::{ServerOptions, create_server};
    run(async {
        let options = ServerOptions {
            reuse_port: true,
            ..ServerOptions::default()
        };
        let a = create_server(|| Echo(None), "127.0.0.1", 0, options.clone())
            .await
            .unwrap();
        let port = a.addresses()[0].port();
        let b = create_server(|| Echo(None), "127.0.0.1", port, options)
            .await
            .unwrap();
        assert_eq!(b.addresses()[0].port(), port);
        let err = create_server(|| Echo(None), "127.0.0.1", port, ServerOptions::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        assert!(err.to_string().contains(&port.to_string()), "{err}");
        a.close();
        b.close();
    })
    .unwrap();
}

/// Answers its first bytes with `size` bytes of a known pattern, more than
/// a peer's socket buffers hold, and records how it ended.
struct Flood {
    transport: Option<Transport>,
    size: usize,
    lost: std::rc::Rc<std::cell::RefCell<Vec<Option<ErrorKind>>>>,
}

impl Protocol for Flood {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, _: &[u8]) {
        let flood: Vec<u8> = (0..self.size).map(|i| (i % 251) as u8).collect();
        self.transport.as_ref().unwrap().write(&flood).unwrap();
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        self.lost.borrow_mut().push(exc.map(|e| e.kind()));
    }
}

/// A server of [`Flood`]s and one client that asked for its flood and has
/// read nothing yet; the server's transport holds most of it in its buffer.
async fn flooded(
    size: usize,
) -> io::Result<(
    corio_net::Server,
    corio_net::TcpStream,
    std::rc::Rc<std::cell::RefCell<Vec<Option<ErrorKind>>>>,
)> {
    use corio_net::{ServerOptions, TcpStream, create_server};
    let lost = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let factory = {
        let lost = lost.clone();
        move || Flood {
            transport: None,
            size,
            lost: lost.clone(),
        }
    };
    let server = create_server(factory, "127.0.0.1", 0, ServerOptions::default()).await?;
    let port = server.addresses()[0].port();
    let client = TcpStream::connect("127.0.0.1", port).await?;
    client.send_all(b"go").await?;
    sleep(Duration::from_millis(50)).await; // the server writes its flood
    Ok((server, client, lost))
}

/// Reads until EOF: how many bytes came, or how the connection ended.
async fn read_to_end(client: &corio_net::TcpStream) -> Result<usize, ErrorKind> {
    let mut buf = vec![0; 64 * 1024];
    let mut got = 0;
    loop {
        match client.recv(&mut buf).await {
            Ok(0) => return Ok(got),
            Ok(n) => got += n,
            Err(e) => return Err(e.kind()),
        }
    }
}

#[test]
fn close_clients_sends_what_is_buffered_then_closes() {
    const SIZE: usize = 4 << 20;
    run(async {
        let (server, client, lost) = flooded(SIZE).await?;
        server.close();
        server.close_clients();
        // Graceful: the flood is still on its way, so the server is not
        // done until the client has read it all.
        let early = corio_executor::timeout(Duration::from_millis(100), server.wait_closed()).await;
        assert!(early.is_err(), "closed before the buffer was sent");
        let mut got = Vec::with_capacity(SIZE);
        let mut buf = vec![0; 64 * 1024];
        loop {
            let n = client.recv(&mut buf).await?;
            if n == 0 {
                break; // EOF, after every byte
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), SIZE);
        assert!(got.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
        corio_executor::timeout(Duration::from_secs(5), server.wait_closed())
            .await
            .expect("wait_closed once the buffer is sent");
        assert_eq!(*lost.borrow(), [None]);
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn abort_clients_resets_at_once_dropping_the_buffer() {
    run(async {
        let (server, client, lost) = flooded(8 << 20).await?;
        server.close();
        // A graceful close waits on a client that never reads.
        let graceful =
            corio_executor::timeout(Duration::from_millis(200), server.wait_closed()).await;
        assert!(graceful.is_err());
        server.abort_clients();
        corio_executor::timeout(Duration::from_secs(1), server.wait_closed())
            .await
            .expect("wait_closed within a second of abort_clients");
        assert_eq!(*lost.borrow(), [None]);
        assert_eq!(
            read_to_end(&client).await,
            Err(ErrorKind::ConnectionReset),
            "the peer sees a reset"
        );
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn close_and_abort_clients_leave_a_closed_server_and_idle_servers_alone() {
    use corio_net::{ServerOptions, create_server};
    run(async {
        let server = create_server(|| Echo(None), "127.0.0.1", 0, ServerOptions::default()).await?;
        // No clients: nothing to do, and the server keeps serving.
        server.close_clients();
        server.abort_clients();
        assert!(server.is_serving());
        server.close();
        server.abort_clients();
        server.wait_closed().await;
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn shutdown_aborts_only_what_outlives_the_grace_period() {
    run(async {
        // A client that reads the whole flood: the server's connection ends
        // on its own within the grace period, nothing is aborted.
        const SIZE: usize = 1 << 20;
        let (server, client, lost) = flooded(SIZE).await?;
        server.close_clients(); // half-close once the flood is sent
        let reading = corio_executor::create_task(async move { read_to_end(&client).await });
        assert_eq!(server.shutdown(Duration::from_secs(5)).await, 0);
        assert_eq!(reading.await.unwrap(), Ok(SIZE), "every byte, then EOF");
        assert_eq!(*lost.borrow(), [None]);
        assert!(!server.is_serving());

        // A client that never reads: its connection outlives the grace
        // period and is reset.
        let (server, client, lost) = flooded(8 << 20).await?;
        let started = std::time::Instant::now();
        assert_eq!(server.shutdown(Duration::from_millis(100)).await, 1);
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(*lost.borrow(), [None]);
        assert_eq!(read_to_end(&client).await, Err(ErrorKind::ConnectionReset));

        // A second shutdown of a finished server: nothing left to do.
        assert_eq!(server.shutdown(Duration::ZERO).await, 0);
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A protocol that pauses reading and keeps no transport: nothing holds
/// the connection once `connection_made` returns.
struct Forgetful;

impl Protocol for Forgetful {
    fn connection_made(&mut self, transport: Transport) {
        transport.pause_reading();
    }

    fn data_received(&mut self, _: &[u8]) {}
}

#[test]
fn a_connection_whose_transport_is_dropped_is_no_longer_counted() {
    // Regression: the server counted such a connection forever, so
    // `wait_closed` (and `shutdown`, past its grace) never returned.
    use corio_net::{ServerOptions, TcpStream, create_server};
    run(async {
        let server = create_server(|| Forgetful, "127.0.0.1", 0, ServerOptions::default()).await?;
        let port = server.addresses()[0].port();
        let client = TcpStream::connect("127.0.0.1", port).await?;
        let mut buf = [0; 16];
        // The transport is dropped, so the socket closes: the client reads
        // its EOF.
        let n = corio_executor::timeout(Duration::from_secs(2), client.recv(&mut buf))
            .await
            .expect("the dropped transport's socket closes")?;
        assert_eq!(n, 0);
        assert_eq!(server.connection_count(), 0);
        let done = corio_executor::timeout(Duration::from_secs(2), server.shutdown(Duration::ZERO));
        assert_eq!(done.await.expect("shutdown returns"), 0);
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

#[test]
fn concurrent_shutdowns_count_each_aborted_connection_once() {
    run(async {
        let (server, _client, _lost) = flooded(8 << 20).await?;
        let other = server.clone();
        let second =
            corio_executor::create_task(
                async move { other.shutdown(Duration::from_millis(50)).await },
            );
        let first = server.shutdown(Duration::from_millis(50)).await;
        let second = second.await.unwrap();
        assert_eq!(first + second, 1, "{first} + {second}");
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}
