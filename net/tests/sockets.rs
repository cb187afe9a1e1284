//! The socket layer on real loopback sockets and Unix paths.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use corio_executor::{create_task, run, sleep};
use corio_net::{
    TcpListener, TcpStream, UdpSocket, UnixDatagram, UnixListener, UnixStream, getaddrinfo,
};

/// A fresh directory for Unix socket files, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("corio-net-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A name glibc rejects without asking any server (a 64-byte label), so the
/// test never leaves the machine.
fn unresolvable() -> String {
    format!("{}.invalid", "x".repeat(64))
}

async fn echo_once(listener: TcpListener) -> io::Result<()> {
    let (stream, _) = listener.accept().await?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = stream.recv(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        stream.send_all(&buf[..n]).await?;
    }
}

#[test]
fn tcp_echo_over_ipv4_and_ipv6_loopback() {
    for host in ["127.0.0.1", "::1"] {
        let got = run(async move {
            let listener = TcpListener::bind(host, 0).await?;
            let port = listener.local_addr()?.port();
            let server = create_task(echo_once(listener));
            let client = TcpStream::connect(host, port).await?;
            assert!(client.nodelay()?, "TCP_NODELAY is on by default");
            assert_eq!(client.peer_addr()?.port(), port);
            // 1 MiB: more than the socket buffers, so sends and receives
            // both have to wait for readiness.
            let payload: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
            let sender = {
                let payload = payload.clone();
                let client = std::rc::Rc::new(client);
                let c = client.clone();
                (
                    create_task(async move {
                        c.send_all(&payload).await?;
                        c.shutdown(Shutdown::Write)
                    }),
                    client,
                )
            };
            let (send_task, client) = sender;
            let mut got = Vec::new();
            let mut buf = [0; 8192];
            loop {
                let n = client.recv(&mut buf).await?;
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            send_task.await.unwrap()?;
            server.await.unwrap()?;
            assert_eq!(got, payload);
            Ok::<_, io::Error>(got.len())
        })
        .unwrap()
        .unwrap();
        assert_eq!(got, 1 << 20, "{host}");
    }
}

#[test]
fn talks_to_a_std_peer_on_a_thread() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = std_listener.local_addr().unwrap().port();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = std_listener.accept().unwrap();
        let mut buf = [0; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"world").unwrap();
        buf
    });
    let reply = run(async move {
        let stream = TcpStream::connect("localhost", port).await?;
        stream.sock_sendall(b"hello").await?;
        let mut buf = [0; 5];
        let mut got = 0;
        while got < 5 {
            got += stream.sock_recv(&mut buf[got..]).await?;
        }
        Ok::<_, io::Error>(buf)
    })
    .unwrap()
    .unwrap();
    assert_eq!(&reply, b"world");
    assert_eq!(&peer.join().unwrap(), b"hello");
}

#[test]
fn connection_refused_is_typed_and_names_the_host() {
    // A port that was just free: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(async move { TcpStream::connect("127.0.0.1", port).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
}

#[test]
fn a_host_that_does_not_resolve_is_named_in_the_error() {
    let host = unresolvable();
    let h = host.clone();
    let err = run(async move { TcpStream::connect(&h, 80).await })
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains(&host), "{err}");
    let h = host.clone();
    let err = run(async move { getaddrinfo(&h, 80).await })
        .unwrap()
        .unwrap_err();
    assert!(err.to_string().contains("could not resolve host"), "{err}");
    // Matchable: a program can tell "no such host" from other failures.
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

#[test]
fn a_refused_numeric_address_is_named_once() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port() // closed when dropped
    };
    let err = run(async move { TcpStream::connect("127.0.0.1", port).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    let named = format!("127.0.0.1:{port}");
    assert_eq!(err.to_string().matches(&named).count(), 1, "{err}");
}

#[test]
fn invalid_addresses_and_ports_are_invalid_input() {
    let errors = run(async {
        vec![
            TcpStream::connect("127.0.0.1", 0).await.unwrap_err(),
            TcpStream::connect("", 80).await.unwrap_err(),
            TcpStream::connect("bad\0host", 80).await.unwrap_err(),
            TcpListener::bind_addr("127.0.0.1:0".parse().unwrap(), false, -1).unwrap_err(),
            UnixStream::connect("").await.unwrap_err(),
            UnixStream::connect("a\0b").await.unwrap_err(),
            UnixListener::bind("x".repeat(200)).unwrap_err(),
        ]
    })
    .unwrap();
    for err in errors {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}

#[test]
fn numeric_hosts_skip_the_resolver_thread_and_names_use_it() {
    let (numeric, bracketed, named) = run(async {
        (
            getaddrinfo("::1", 7).await.unwrap(),
            getaddrinfo("[::1]", 7).await.unwrap(),
            getaddrinfo("localhost", 7).await.unwrap(),
        )
    })
    .unwrap();
    let v6: SocketAddr = "[::1]:7".parse().unwrap();
    assert_eq!(numeric, [v6]);
    assert_eq!(bracketed, [v6]);
    assert!(!named.is_empty() && named.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
}

#[test]
fn the_peer_resets_during_a_read() {
    let err = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let client = TcpStream::connect("127.0.0.1", port).await?;
        let (server_side, _) = listener.accept().await?;
        // Closing a socket with unread data makes the kernel send RST.
        client.send_all(b"never read").await?;
        sleep(Duration::from_millis(10)).await;
        drop(server_side);
        let mut buf = [0; 16];
        let mut outcome = client.recv(&mut buf).await.map(drop);
        // The RST normally arrives before the read; should the read see an
        // EOF instead, writing into the dead connection must fail soon.
        for _ in 0..100 {
            if outcome.is_err() {
                break;
            }
            outcome = client.send_all(&[0; 1024]).await;
            sleep(Duration::from_millis(1)).await;
        }
        Ok::<_, io::Error>(outcome.unwrap_err())
    })
    .unwrap()
    .unwrap();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
        ),
        "{err:?}"
    );
}

#[test]
fn half_close_with_shutdown_write_both_ways() {
    let transcript = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let client = TcpStream::connect("127.0.0.1", port).await?;
        let (server_side, _) = listener.accept().await?;
        client.send_all(b"request").await?;
        client.shutdown(Shutdown::Write)?;
        let mut buf = [0; 32];
        let n = server_side.recv(&mut buf).await?;
        let eof = server_side.recv(&mut buf[n..]).await?;
        assert_eq!(eof, 0, "the server sees EOF after the request");
        // The server can still answer on its half.
        server_side.send_all(b"reply").await?;
        server_side.shutdown(Shutdown::Write)?;
        let mut reply = [0; 32];
        let m = client.recv(&mut reply).await?;
        assert_eq!(client.recv(&mut reply[m..]).await?, 0);
        Ok::<_, io::Error>((buf[..n].to_vec(), reply[..m].to_vec()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(transcript, (b"request".to_vec(), b"reply".to_vec()));
}

#[test]
fn udp_echo_and_connected_udp() {
    let got = run(async {
        let server = UdpSocket::bind("127.0.0.1", 0).await?;
        let client = UdpSocket::bind_addr("127.0.0.1:0".parse().unwrap())?;
        let server_addr = server.local_addr()?;
        let echo = create_task(async move {
            let mut buf = [0; 1500];
            for _ in 0..3 {
                let (n, from) = server.recv_from(&mut buf).await?;
                server.send_to(&buf[..n], from).await?;
            }
            Ok::<_, io::Error>(())
        });
        let mut replies = Vec::new();
        for msg in [&b"one"[..], b"two"] {
            client.send_to(msg, server_addr).await?;
            let mut buf = [0; 1500];
            let (n, from) = client.recv_from(&mut buf).await?;
            assert_eq!(from, server_addr);
            replies.push(buf[..n].to_vec());
        }
        client.connect(server_addr).await?;
        client.send(b"three").await?;
        let mut buf = [0; 1500];
        let n = client.recv(&mut buf).await?;
        replies.push(buf[..n].to_vec());
        echo.await.unwrap()?;
        Ok::<_, io::Error>(replies)
    })
    .unwrap()
    .unwrap();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]);
}

#[test]
fn unix_stream_and_datagram_sockets_in_a_temp_dir() {
    let dir = TempDir::new("unix");
    let stream_path = dir.0.join("stream.sock");
    let dgram_path = dir.0.join("dgram.sock");
    let (sp, dp) = (stream_path.clone(), dgram_path.clone());
    let got = run(async move {
        let listener = UnixListener::bind(&sp)?;
        assert_eq!(listener.local_addr()?, sp);
        let client = UnixStream::connect(&sp).await?;
        let (server_side, peer) = listener.accept().await?;
        assert_eq!(peer, PathBuf::new(), "an unnamed client");
        client.send_all(b"stream").await?;
        let mut buf = [0; 32];
        let n = server_side.recv(&mut buf).await?;
        let stream_msg = buf[..n].to_vec();

        let server = UnixDatagram::bind(&dp)?;
        let sender = UnixDatagram::unbound()?;
        sender.send_to(b"datagram", &dp).await?;
        let (n, from) = server.recv_from(&mut buf).await?;
        assert_eq!(from, PathBuf::new());
        Ok::<_, io::Error>((stream_msg, buf[..n].to_vec()))
    })
    .unwrap()
    .unwrap();
    assert_eq!(got, (b"stream".to_vec(), b"datagram".to_vec()));
    // A second bind on the same path fails: nothing replaces it silently.
    let err = UnixListener::bind(&stream_path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

#[test]
fn unix_connect_errors_name_the_path() {
    let dir = TempDir::new("unixerr");
    let missing = dir.0.join("nobody.sock");
    let m = missing.clone();
    let err = run(async move { UnixStream::connect(&m).await })
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("nobody.sock"), "{err}");
}

#[test]
fn dropping_a_pending_accept_unregisters_the_fd() {
    let ok = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let pending = corio_executor::wait_for(
            async move { listener.accept().await.map(drop) },
            Some(Duration::from_millis(20)),
        )
        .await;
        assert!(pending.unwrap_err().is_timeout());
        // The loop has nothing registered but its own waker again: it can
        // finish without reporting a stale reader.
        Ok::<_, io::Error>(())
    })
    .unwrap();
    ok.unwrap();
}

#[test]
fn a_second_reader_of_one_socket_is_refused_not_lost() {
    let (second, first) = run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await?;
        let port = listener.local_addr()?.port();
        let client = std::rc::Rc::new(TcpStream::connect("127.0.0.1", port).await?);
        let (server_side, _) = listener.accept().await?;
        let c = client.clone();
        let first = create_task(async move {
            let mut buf = [0; 8];
            let n = c.recv(&mut buf).await?;
            Ok::<_, io::Error>(buf[..n].to_vec())
        });
        sleep(Duration::from_millis(5)).await; // the first task is parked
        let mut buf = [0; 8];
        let second = client.recv(&mut buf).await.unwrap_err();
        server_side.send_all(b"first").await?;
        let first = first.await.unwrap()?;
        // Once the first is done, the socket can be read again.
        server_side.send_all(b"again").await?;
        let n = client.recv(&mut buf).await?;
        assert_eq!(&buf[..n], b"again");
        Ok::<_, io::Error>((second, first))
    })
    .unwrap()
    .unwrap();
    assert_eq!(second.kind(), ErrorKind::ResourceBusy);
    assert!(
        second.to_string().contains("already waiting to read"),
        "{second}"
    );
    assert_eq!(first, b"first");
}

/// 200 connects at once, none accepted yet, all complete in the kernel
/// with a backlog of 256. (With asyncio's default 100, the 102nd waits on
/// SYN retries: a second, then three, until the server accepts.)
#[test]
fn a_backlog_of_256_takes_200_simultaneous_connects() {
    use corio_net::ServerOptions;
    const CLIENTS: usize = 200;
    run(async {
        let options = ServerOptions {
            backlog: 256,
            ..ServerOptions::default()
        };
        let listener = TcpListener::bind_with("127.0.0.1", 0, options).await?;
        let port = listener.local_addr()?.port();
        // Blocking connects on a thread while nobody accepts: each one
        // returns once the kernel has queued it, so all 200 are pending at
        // once. A connect the backlog cannot take would time out.
        let connecting = std::thread::spawn(move || {
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            (0..CLIENTS)
                .map(|_| std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)))
                .collect::<io::Result<Vec<_>>>()
        });
        let clients = connecting.join().unwrap()?;
        assert_eq!(clients.len(), CLIENTS);
        let mut accepted = Vec::new();
        while accepted.len() < CLIENTS {
            accepted.push(listener.accept().await?);
        }
        Ok::<_, io::Error>(())
    })
    .unwrap()
    .unwrap();
}

/// A negative backlog is the caller's mistake, on every entry that takes one.
#[test]
fn a_negative_backlog_is_invalid_input_everywhere() {
    use corio_net::{Protocol, ServerOptions, create_server, create_unix_server};
    struct Idle;
    impl Protocol for Idle {}
    let dir = TempDir::new("backlog");
    let path = dir.0.join("s.sock");
    run(async move {
        let negative = || ServerOptions {
            backlog: -1,
            ..ServerOptions::default()
        };
        let kinds = [
            TcpListener::bind_with("127.0.0.1", 0, negative())
                .await
                .map(drop),
            UnixListener::bind_with(&path, negative()).map(drop),
            create_server(|| Idle, "127.0.0.1", 0, negative())
                .await
                .map(drop),
            create_unix_server(|| Idle, &path, negative())
                .await
                .map(drop),
        ]
        .map(|result| result.unwrap_err().kind());
        assert_eq!(kinds, [ErrorKind::InvalidInput; 4]);
        assert!(!path.exists(), "nothing was bound");
    })
    .unwrap();
}
