//! Datagram endpoints and Unix transports on real sockets.

use std::cell::RefCell;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::rc::Rc;

use corio_executor::run;
use corio_net::{
    DatagramProtocol, DatagramTransport, Protocol, ServerOptions, StreamReader, StreamWriter,
    Transport, create_datagram_endpoint, create_unix_connection, create_unix_server,
    open_unix_connection_with, start_unix_server_with,
};

mod support;

use support::{Result, cases, until};

/// Echoes every datagram to its sender.
#[derive(Default)]
struct Echo(Option<DatagramTransport>);

impl DatagramProtocol for Echo {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.0 = Some(transport);
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.0.as_ref().unwrap().sendto(data, Some(addr)).unwrap();
    }
}

/// Records what arrives and every error.
#[derive(Debug, Default)]
struct Recorder {
    datagrams: Vec<(Vec<u8>, SocketAddr)>,
    errors: Vec<ErrorKind>,
    lost: Option<Option<ErrorKind>>,
}

impl DatagramProtocol for Recorder {
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        self.datagrams.push((data.to_vec(), addr));
    }
    fn error_received(&mut self, exc: io::Error) {
        self.errors.push(exc.kind());
    }
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        self.lost = Some(exc.map(|e| e.kind()));
    }
}

fn udp_echo_keeps_datagram_boundaries() -> Result {
    run(async {
        let (server, _) =
            create_datagram_endpoint(Echo::default, Some(("127.0.0.1", 0)), None).await?;
        let server_addr = server.local_addr().unwrap();
        let (client, got) = create_datagram_endpoint(
            Recorder::default,
            None,
            Some(("127.0.0.1", server_addr.port())),
        )
        .await?;
        assert_eq!(client.peer_addr(), Some(server_addr));
        // Three datagrams, one empty: each comes back whole and apart.
        for data in [&b"one"[..], b"", &[9u8; 1400]] {
            client.sendto(data, None)?;
        }
        until(|| got.borrow().datagrams.len() == 3).await;
        let lens: Vec<usize> = got
            .borrow()
            .datagrams
            .iter()
            .map(|(d, _)| d.len())
            .collect();
        assert_eq!(lens, [3, 0, 1400]);
        assert!(
            got.borrow()
                .datagrams
                .iter()
                .all(|(_, from)| *from == server_addr)
        );
        client.close();
        until(|| got.borrow().lost.is_some()).await;
        assert_eq!(got.borrow().lost, Some(None));
        server.close();
        Ok(())
    })?
}

fn sendto_checks_its_address() -> Result {
    run(async {
        let (unconnected, _) =
            create_datagram_endpoint(Recorder::default, Some(("127.0.0.1", 0)), None).await?;
        let err = unconnected.sendto(b"where?", None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let target = unconnected.local_addr().unwrap();
        let (connected, _) =
            create_datagram_endpoint(Recorder::default, None, Some(("127.0.0.1", target.port())))
                .await?;
        let elsewhere: SocketAddr = "127.0.0.1:9".parse()?;
        let err = connected.sendto(b"x", Some(elsewhere)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(&target.to_string()), "{err}");
        connected.sendto(b"same peer named", Some(target))?;
        connected.close();
        assert!(connected.is_closing());
        let err = connected.sendto(b"late", None).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotConnected);
        unconnected.abort();
        // No address at all, and mixed families, are bad input.
        let err = create_datagram_endpoint(Recorder::default, None, None)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let err =
            create_datagram_endpoint(Recorder::default, Some(("127.0.0.1", 0)), Some(("::1", 9)))
                .await
                .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        Ok(())
    })?
}

fn a_refused_datagram_goes_to_error_received_and_the_endpoint_lives() -> Result {
    run(async {
        // A port nobody listens on: the kernel answers with ICMP
        // port-unreachable, which a connected UDP socket reports.
        let closed = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
        let (client, got) =
            create_datagram_endpoint(Recorder::default, None, Some(("127.0.0.1", closed.port())))
                .await?;
        client.sendto(b"anyone?", None)?;
        until(|| !got.borrow().errors.is_empty()).await;
        assert_eq!(got.borrow().errors[0], ErrorKind::ConnectionRefused);
        assert!(!client.is_closing(), "error_received does not close");
        client.close();
        until(|| got.borrow().lost.is_some()).await;
        Ok(())
    })?
}

fn udp_over_ipv6_loopback() -> Result {
    run(async {
        let Ok((server, _)) = create_datagram_endpoint(Echo::default, Some(("::1", 0)), None).await
        else {
            eprintln!("no IPv6 loopback here; skipped");
            return Ok(());
        };
        let port = server.local_addr().unwrap().port();
        let (client, got) =
            create_datagram_endpoint(Recorder::default, None, Some(("::1", port))).await?;
        client.sendto(b"six", None)?;
        until(|| !got.borrow().datagrams.is_empty()).await;
        assert_eq!(got.borrow().datagrams[0].0, b"six");
        client.close();
        server.close();
        Ok(())
    })?
}

/// A Unix protocol that answers each chunk with its length.
struct Lengths(Option<Transport>);

impl Protocol for Lengths {
    fn connection_made(&mut self, transport: Transport) {
        self.0 = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        let reply = format!("{}\n", data.len());
        self.0.as_ref().unwrap().write(reply.as_bytes()).unwrap();
    }
}

#[derive(Debug, Default)]
struct Collect(Rc<RefCell<Vec<u8>>>);

impl Protocol for Collect {
    fn data_received(&mut self, data: &[u8]) {
        self.0.borrow_mut().extend_from_slice(data);
    }
}

fn unix_transports_on_the_protocol_layer() -> Result {
    let dir = std::env::temp_dir().join(format!("corio-unix-proto-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("lengths.sock");
    let p = path.clone();
    run(async move {
        let server = create_unix_server(|| Lengths(None), &p, ServerOptions::default()).await?;
        let (transport, collected) = create_unix_connection(Collect::default, &p).await?;
        assert_eq!(transport.peer_addr(), None);
        transport.write(b"12345")?;
        let seen = collected.borrow().0.clone();
        until(|| seen.borrow().as_slice() == b"5\n").await;
        transport.close();
        server.close();
        server.wait_closed().await;
        assert!(!p.exists());
        // Nobody listens now: refused or not found, typed.
        let err = create_unix_connection(Collect::default, &p)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn bad_input_to_unix_servers_and_datagram_endpoints_is_typed() -> Result {
    let dir = std::env::temp_dir().join(format!("corio-bad-input-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("s.sock");
    let p = path.clone();
    run(async move {
        let invalid = |e: io::Error| assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let negative = ServerOptions {
            backlog: -1,
            ..ServerOptions::default()
        };
        invalid(
            create_unix_server(|| Lengths(None), &p, negative)
                .await
                .unwrap_err(),
        );
        let too_long = dir_path_of_length(200);
        invalid(
            create_unix_server(|| Lengths(None), &too_long, ServerOptions::default())
                .await
                .unwrap_err(),
        );
        let zero_limit = corio_net::ConnectOptions {
            limit: 0,
            ..Default::default()
        };
        invalid(open_unix_connection_with(&p, zero_limit).await.unwrap_err());
        let tcp_only = corio_net::ConnectOptions {
            local_addr: Some("127.0.0.1:0".parse().unwrap()),
            ..Default::default()
        };
        invalid(open_unix_connection_with(&p, tcp_only).await.unwrap_err());
        invalid(
            start_unix_server_with(
                |_: StreamReader, _: StreamWriter| async {},
                &p,
                ServerOptions {
                    limit: 0,
                    ..ServerOptions::default()
                },
            )
            .await
            .unwrap_err(),
        );
        assert!(!p.exists(), "nothing was bound");
        let host = format!("{}.invalid", "x".repeat(64));
        let err = create_datagram_endpoint(Recorder::default, None, Some((host.as_str(), 9)))
            .await
            .unwrap_err();
        assert!(err.to_string().contains(&host), "{err}");
        Ok::<_, Box<dyn std::error::Error>>(())
    })??;
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// A path longer than `sun_path` holds.
fn datagram_water_marks_are_set_and_checked() -> Result {
    run(async {
        let (endpoint, _) =
            create_datagram_endpoint(Recorder::default, Some(("127.0.0.1", 0)), None).await?;
        assert_eq!(
            endpoint.get_write_buffer_limits(),
            (corio_net::DEFAULT_LOW_WATER, corio_net::DEFAULT_HIGH_WATER)
        );
        endpoint.set_write_buffer_limits(4096, None)?;
        assert_eq!(endpoint.get_write_buffer_limits(), (1024, 4096));
        let err = endpoint.set_write_buffer_limits(10, Some(11)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert_eq!(
            endpoint.get_write_buffer_limits(),
            (1024, 4096),
            "unchanged"
        );
        endpoint.close();
        Ok(())
    })?
}

fn dir_path_of_length(len: usize) -> std::path::PathBuf {
    std::env::temp_dir().join("x".repeat(len))
}

cases!(
    datagram_water_marks_are_set_and_checked,
    bad_input_to_unix_servers_and_datagram_endpoints_is_typed,
    udp_echo_keeps_datagram_boundaries,
    sendto_checks_its_address,
    a_refused_datagram_goes_to_error_received_and_the_endpoint_lives,
    udp_over_ipv6_loopback,
    unix_transports_on_the_protocol_layer,
);
