//! A TLS echo server and client on corio, with a certificate made at start
//! (`rcgen`): asyncio's `start_server(..., ssl=ctx)` and
//! `open_connection(..., ssl=ctx)`, through `futures-io`'s traits.
//!
//! ```text
//! cargo run --example tls_echo                 # demo on loopback
//! cargo run --example tls_echo -- --serve 8443 # the server; CA in ./tls_echo_ca.pem
//! openssl s_client -CAfile tls_echo_ca.pem -verify_return_error -connect 127.0.0.1:8443
//! ```
//!
//! The certificates are a chain, as a real deployment's: a CA ("corio
//! tls_echo CA", which clients trust) signs the server's certificate
//! ("localhost"), so `openssl s_client -verify_return_error` accepts it.
//! A client must finish its handshake within 60 s (asyncio's
//! `ssl_handshake_timeout`; `--handshake-timeout SECS` to change it), so
//! one that connects and stays silent does not hold a task and an fd for
//! ever; accepting follows corio-net's `AcceptBackoff` (out of fds it
//! rests, it does not spin).
//!
//! The demo's client connects in plain text first, then upgrades with
//! `start_tls` (`loop.start_tls`); a second client that does not trust the
//! CA is refused with a clear error.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use corio::compat::futures_io::{AsyncRead, AsyncWrite};
use corio::compat::futures_rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use corio::compat::rustls::{ClientConfig, RootCertStore, ServerConfig};
use corio::compat::{TlsAcceptor, TlsConnector, start_tls};
use corio::net::{AcceptBackoff, TcpListener, TcpStream};

/// `reader.read(n)` on any `futures-io` stream.
async fn read(stream: &mut (impl AsyncRead + Unpin), buf: &mut [u8]) -> io::Result<usize> {
    poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, buf)).await
}

/// `writer.write(data); await writer.drain()` on any `futures-io` stream.
async fn write_all(stream: &mut (impl AsyncWrite + Unpin), mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        let n = poll_fn(|cx| Pin::new(&mut *stream).poll_write(cx, data)).await?;
        data = &data[n..];
    }
    poll_fn(|cx| Pin::new(&mut *stream).poll_flush(cx)).await
}

/// asyncio's `ssl_handshake_timeout` default.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A CA, and a certificate for localhost / 127.0.0.1 it signed. Each has
/// a name of its own: a certificate whose issuer is its own subject is
/// taken for self-signed, and a client that checks the chain (`openssl
/// s_client -verify_return_error`, error 18) refuses it.
fn certificates() -> io::Result<(Arc<ServerConfig>, rcgen::Certificate)> {
    let err = |e: rcgen::Error| io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "corio tls_echo CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).map_err(err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(io::Error::other)?;
    Ok((Arc::new(config), ca))
}

/// A client config trusting `ca` only (or nothing but an empty store).
fn client_config(ca: Option<&rcgen::Certificate>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = ca {
        roots.add(ca.der().clone()).map_err(io::Error::other)?;
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Accepts until the listener fails; each connection: the handshake
/// (within `handshake_timeout`), then echo until EOF.
async fn echo_server(listener: TcpListener, acceptor: TlsAcceptor, handshake_timeout: Duration) {
    let backoff = AcceptBackoff::new();
    let acceptor = Rc::new(acceptor);
    // An error here is a listener that can no longer accept (reported).
    while let Ok((stream, peer)) = backoff.accept(&listener).await {
        let acceptor = acceptor.clone();
        drop(corio::create_task(async move {
            let result = async {
                let mut tls = corio::timeout(handshake_timeout, acceptor.accept(stream))
                    .await
                    .map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("no TLS handshake within {handshake_timeout:?}"),
                        )
                    })??;
                let mut buf = [0u8; 4096];
                loop {
                    let n = read(&mut tls, &mut buf).await?;
                    if n == 0 {
                        return Ok::<_, io::Error>(());
                    }
                    write_all(&mut tls, &buf[..n]).await?;
                }
            }
            .await;
            if let Err(e) = result {
                eprintln!("connection from {peer}: {e}");
            }
        }));
    }
}

async fn demo() -> io::Result<()> {
    let (server_config, ca) = certificates()?;
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let acceptor = TlsAcceptor::new(server_config);
    let server = corio::create_task(echo_server(listener, acceptor, HANDSHAKE_TIMEOUT));

    // Plain TCP first, then `start_tls` on the open connection.
    let plain = TcpStream::connect("127.0.0.1", port).await?;
    let mut tls = start_tls(plain, client_config(Some(&ca))?, "localhost").await?;
    write_all(&mut tls, b"Hello over TLS!").await?;
    let mut buf = [0u8; 64];
    let n = read(&mut tls, &mut buf).await?;
    println!("client got: {}", String::from_utf8_lossy(&buf[..n]));

    // A client that does not trust our CA.
    let untrusting = TlsConnector::new(client_config(None)?);
    match untrusting
        .connect("localhost", TcpStream::connect("127.0.0.1", port).await?)
        .await
    {
        Ok(_) => println!("untrusting client: connected?!"),
        Err(e) => println!("untrusting client refused: {e}"),
    }
    server.cancel();
    Ok(())
}

async fn serve(port: u16, handshake_timeout: Duration) -> io::Result<()> {
    let (server_config, ca) = certificates()?;
    std::fs::write("tls_echo_ca.pem", ca.pem())?;
    let listener = TcpListener::bind("127.0.0.1", port).await?;
    println!("listening on {}", listener.local_addr()?);
    echo_server(listener, TlsAcceptor::new(server_config), handshake_timeout).await;
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |s: &str| {
        s.parse::<u16>()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{s}: {e}")))
    };
    let outcome = match args.as_slice() {
        [] => corio::run(demo()),
        [flag, port] if flag == "--serve" => corio::run(serve(number(port)?, HANDSHAKE_TIMEOUT)),
        [flag, port, limit, secs] if flag == "--serve" && limit == "--handshake-timeout" => {
            let timeout = Duration::from_secs(number(secs)?.into());
            corio::run(serve(number(port)?, timeout))
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: [--serve PORT [--handshake-timeout SECS]]",
            ));
        }
    };
    outcome.map_err(|e| io::Error::other(e.to_string()))?
}
