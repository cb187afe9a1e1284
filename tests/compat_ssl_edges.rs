//! TLS against peers that are broken or hostile: plaintext on a TLS port,
//! garbage, a record cut short, a client silent mid-handshake, 500
//! handshakes at once, a peer that vanishes mid-record, a close without
//! `close_notify`. One test, its cases in turn, each checked for the fds
//! it leaves (the count is the whole process's, so nothing else runs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use corio_compat::ssl::{ClientContext, ServerContext};
use corio_net::tls::{SslContext, TlsError};
use corio_net::{
    ConnectOptions, Server, ServerOptions, StreamReader, StreamWriter, TcpStream,
    open_connection_with, start_server_with,
};

#[derive(Clone)]
struct Pki {
    server: SslContext,
    client: SslContext,
}

fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "edges CA");
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::NoCa;
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    Pki {
        server: Arc::new(
            ServerContext::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes()).unwrap(),
        ),
        client: Arc::new(ClientContext::from_ca_pem(ca.pem().as_bytes()).unwrap()),
    }
}

async fn echo(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

async fn tls_server(pki: &Pki, handshake_timeout: Duration) -> Server {
    let options = ServerOptions {
        ssl: Some(pki.server.clone()),
        ssl_handshake_timeout: handshake_timeout,
        backlog: 1024,
        ..ServerOptions::default()
    };
    start_server_with(echo, "127.0.0.1", 0, options)
        .await
        .unwrap()
}

fn client_options(pki: &Pki) -> ConnectOptions {
    ConnectOptions {
        ssl: Some(pki.client.clone()),
        server_hostname: Some("localhost".into()),
        ..ConnectOptions::default()
    }
}

/// A real TLS client still gets served: the server survived.
async fn still_serves(pki: &Pki, port: u16) {
    let (reader, writer) = open_connection_with("127.0.0.1", port, client_options(pki))
        .await
        .unwrap();
    writer.write(b"still serving\n").unwrap();
    assert_eq!(reader.readline().await.unwrap(), b"still serving\n");
    writer.close();
    writer.wait_closed().await.unwrap();
}

/// Reads `stream` until EOF or an error; how long that took.
async fn until_closed(stream: &TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0; 4096];
    while let Ok(n) = stream.recv(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    start.elapsed()
}

/// A hand-driven TLS client on a raw socket: the handshake done, so a
/// test can cut what follows wherever it likes.
async fn handshaken(pki: &Pki, port: u16) -> (TcpStream, Box<dyn corio_net::tls::TlsSession>) {
    let stream = TcpStream::connect("127.0.0.1", port).await.unwrap();
    let mut session = pki.client.client_session("localhost").unwrap();
    let mut buf = vec![0; 16 * 1024];
    while session.is_handshaking() {
        let mut out = Vec::new();
        session.transmit(&mut out);
        stream.send_all(&out).await.unwrap();
        if !session.is_handshaking() {
            break;
        }
        let n = stream.recv(&mut buf).await.unwrap();
        assert!(n > 0, "the server hung up during the handshake");
        session.receive(&buf[..n], &mut Vec::new()).unwrap();
    }
    let mut out = Vec::new();
    session.transmit(&mut out); // the client's Finished
    stream.send_all(&out).await.unwrap();
    (stream, session)
}

type Case = (&'static str, fn(&Pki));

const CASES: &[Case] = &[
    ("plaintext_to_a_tls_port", plaintext_to_a_tls_port),
    (
        "garbage_and_a_cut_client_hello",
        garbage_and_a_cut_client_hello,
    ),
    (
        "a_silent_client_is_dropped_at_the_handshake_timeout",
        silent_client,
    ),
    ("five_hundred_handshakes_at_once", five_hundred_handshakes),
    ("a_peer_vanishing_mid_record", peer_vanishing_mid_record),
    (
        "a_close_without_close_notify_is_truncation",
        no_close_notify,
    ),
];

#[test]
fn broken_and_hostile_tls_peers() {
    let pki = pki();
    for (name, case) in CASES {
        let fds = testkit::open_fds();
        case(&pki);
        // A closed transport's fd goes once its `connection_lost` ran; the
        // loop is gone by now (each case runs its own).
        assert_eq!(testkit::open_fds(), fds, "{name} left fds open");
        println!("{name}: ok");
    }
}

fn plaintext_to_a_tls_port(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let server = tls_server(pki, Duration::from_secs(60)).await;
        let port = server.addresses()[0].port();
        let raw = TcpStream::connect("127.0.0.1", port).await.unwrap();
        raw.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        until_closed(&raw).await; // an alert, then the close
        still_serves(pki, port).await;
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn garbage_and_a_cut_client_hello(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let server = tls_server(pki, Duration::from_secs(60)).await;
        let port = server.addresses()[0].port();
        let garbage: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let raw = TcpStream::connect("127.0.0.1", port).await.unwrap();
        raw.send_all(&garbage).await.unwrap();
        until_closed(&raw).await;
        // Half a real ClientHello, then EOF.
        let mut hello = Vec::new();
        pki.client
            .client_session("localhost")
            .unwrap()
            .transmit(&mut hello);
        let raw = TcpStream::connect("127.0.0.1", port).await.unwrap();
        raw.send_all(&hello[..hello.len() / 2]).await.unwrap();
        raw.shutdown(std::net::Shutdown::Write).unwrap();
        until_closed(&raw).await;
        still_serves(pki, port).await;
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn silent_client(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let server = tls_server(pki, Duration::from_millis(200)).await;
        let port = server.addresses()[0].port();
        let raw = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let waited = until_closed(&raw).await; // says nothing at all
        assert!(
            waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
            "dropped after {waited:?}, not at the 200 ms timeout"
        );
        still_serves(pki, port).await;
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn five_hundred_handshakes(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let server = tls_server(pki, Duration::from_secs(60)).await;
        let port = server.addresses()[0].port();
        let clients: Vec<_> = (0..500)
            .map(|i| {
                let options = client_options(pki);
                corio_executor::create_task(async move {
                    let (reader, writer) = open_connection_with("127.0.0.1", port, options).await?;
                    writer.write(format!("client {i}\n").as_bytes())?;
                    let line = reader.readline().await?;
                    writer.close();
                    writer.wait_closed().await?;
                    std::io::Result::Ok(line == format!("client {i}\n").as_bytes())
                })
            })
            .collect();
        let mut echoed = 0;
        for client in clients {
            if client.await.unwrap().unwrap() {
                echoed += 1;
            }
        }
        assert_eq!(echoed, 500);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn peer_vanishing_mid_record(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let server = tls_server(pki, Duration::from_secs(60)).await;
        let port = server.addresses()[0].port();
        let (stream, mut session) = handshaken(pki, port).await;
        session.send(&vec![b'x'; 100_000]);
        let mut records = Vec::new();
        session.transmit(&mut records);
        stream
            .send_all(&records[..records.len() / 2])
            .await
            .unwrap();
        stream.set_linger(Some(Duration::ZERO)).unwrap();
        drop(stream); // a reset, mid-record
        still_serves(pki, port).await;
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

fn no_close_notify(pki: &Pki) {
    let pki = pki.clone();
    corio_executor::run(async move {
        let pki = &pki;
        let options = ServerOptions {
            ssl: Some(pki.server.clone()),
            ..ServerOptions::default()
        };
        let server = start_server_with(
            |_reader: StreamReader, writer: StreamWriter| async move {
                writer.write(b"the start of a reply")?;
                writer.drain().await?;
                writer.transport().abort(); // a FIN, no close_notify
                std::io::Result::Ok(())
            },
            "127.0.0.1",
            0,
            options,
        )
        .await
        .unwrap();
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection_with("127.0.0.1", port, client_options(pki))
            .await
            .unwrap();
        let mut got = Vec::new();
        let err = loop {
            match reader.read(1024).await {
                Ok(bytes) if bytes.is_empty() => panic!("a clean EOF: the truncation went unseen"),
                Ok(bytes) => got.extend_from_slice(&bytes),
                Err(e) => break e,
            }
        };
        assert_eq!(got, b"the start of a reply");
        let err = std::io::Error::from(err);
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof, "{err}");
        assert!(
            err.get_ref().and_then(|e| e.downcast_ref::<TlsError>()) == Some(&TlsError::Truncated)
                || err.to_string().contains("close_notify"),
            "{err:?}"
        );
        drop(writer);
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}
