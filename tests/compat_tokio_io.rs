//! corio-compat's `tokio-io` impls on loopback, with no tokio runtime in
//! the process: tokio's own `io-util` helpers (`copy`, `BufReader`,
//! `read_exact`, `lines`) over corio's `Io` (TCP and Unix), `StreamPair`
//! and, through `TokioCompat`, a TLS stream.

use std::sync::Arc;

use corio::net::{TcpListener, TcpStream, UnixListener, UnixStream, open_connection, start_server};
use corio_compat::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use corio_compat::rustls::{ClientConfig, RootCertStore, ServerConfig};
use corio_compat::tokio::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, copy, split,
};
use corio_compat::{Io, StreamPair, TlsAcceptor, TlsConnector, TokioCompat};

/// 4 MiB of varied bytes.
fn payload() -> Vec<u8> {
    (0..4u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn tcp_io_echoes_four_megabytes_through_tokio_copy() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        // The echo side: tokio::io::copy from the socket's read half to
        // its write half, then shutdown (write_eof).
        let echo = corio::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (mut r, mut w) = split(Io::new(stream));
            let n = copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            n
        });
        let data = payload();
        let stream = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let (mut r, mut w) = split(Io::new(stream));
        let to_send = data.clone();
        let writer = corio::create_task(async move {
            w.write_all(&to_send).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(echo.await.unwrap(), data.len() as u64);
        assert!(got == data, "{} bytes back", got.len());
    })
    .unwrap();
}

#[test]
fn unix_io_reads_lines_with_tokio_bufreader() {
    corio::run(async {
        let path = std::env::temp_dir().join(format!("corio-tio-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let client = UnixStream::connect(&path).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut client = Io::new(client);
        client.write_all(b"one\ntwo\nthree").await.unwrap();
        client.shutdown().await.unwrap();
        let mut lines = BufReader::new(Io::new(server)).lines();
        let mut got = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            got.push(line);
        }
        assert_eq!(got, ["one", "two", "three"]);
    })
    .unwrap();
}

#[test]
fn stream_pair_speaks_tokio_io_to_a_corio_server() {
    corio::run(async {
        let server = start_server(
            |reader, writer| async move {
                // The server's pair too, read with tokio's read_exact.
                let mut pair = StreamPair::new(reader, writer);
                let mut len = [0u8; 4];
                pair.read_exact(&mut len).await?;
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                pair.read_exact(&mut body).await?;
                body.reverse();
                pair.write_all(&body).await?;
                pair.flush().await?;
                pair.shutdown().await
            },
            "127.0.0.1",
            0,
        )
        .await
        .unwrap();
        let port = server.addresses()[0].port();
        let (reader, writer) = open_connection("127.0.0.1", port).await.unwrap();
        let mut pair = StreamPair::new(reader, writer);
        let data = payload();
        pair.write_all(&(data.len() as u32).to_be_bytes())
            .await
            .unwrap();
        pair.write_all(&data).await.unwrap();
        pair.flush().await.unwrap();
        let mut got = Vec::new();
        pair.read_to_end(&mut got).await.unwrap();
        let mut expected = data;
        expected.reverse();
        assert!(got == expected, "{} bytes back", got.len());
        server.close();
        server.wait_closed().await;
    })
    .unwrap();
}

/// A server config for 127.0.0.1 and a client config trusting it.
fn tls_configs() -> (Arc<ServerConfig>, Arc<ClientConfig>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let client = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

#[test]
fn tls_stream_through_tokio_compat() {
    corio::run(async {
        let (server_config, client_config) = tls_configs();
        let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let acceptor = TlsAcceptor::new(server_config);
        let echo = corio::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let tls = TokioCompat::new(acceptor.accept(stream).await.unwrap());
            let (mut r, mut w) = split(tls);
            copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let stream = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let tls = TlsConnector::new(client_config)
            .connect("127.0.0.1", stream)
            .await
            .unwrap();
        let (mut r, mut w) = split(TokioCompat::new(tls));
        let data = payload();
        let to_send = data.clone();
        let writer = corio::create_task(async move {
            w.write_all(&to_send).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        echo.await.unwrap();
        assert!(got == data, "{} bytes back", got.len());
    })
    .unwrap();
}
