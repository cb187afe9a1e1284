//! A TLS echo server and client on corio's streams, with a certificate
//! chain made at start (`rcgen`): asyncio's `start_server(..., ssl=ctx)`,
//! `open_connection(..., ssl=ctx)` and `writer.start_tls(ctx)`.
//!
//! ```text
//! cargo run --example tls_echo                 # demo on loopback
//! cargo run --example tls_echo -- --serve 8443 # the server; CA in ./tls_echo_ca.pem
//! openssl s_client -CAfile tls_echo_ca.pem -verify_return_error -connect 127.0.0.1:8443
//! ```
//!
//! Python, for comparison:
//!
//! ```python
//! async def handle(reader, writer):
//!     while line := await reader.readline():
//!         writer.write(line)
//!         await writer.drain()
//! server = await asyncio.start_server(handle, "127.0.0.1", 8443, ssl=server_ctx)
//! reader, writer = await asyncio.open_connection("127.0.0.1", 8443, ssl=client_ctx,
//!                                                server_hostname="localhost")
//! ```
//!
//! TLS is a layer under the application, as asyncio's `sslproto`: the
//! handler reads and writes plaintext, the transport sends ciphertext. The
//! certificates are a chain, as a real deployment's: a CA ("corio
//! tls_echo CA", which clients trust) signs the server's certificate
//! ("localhost"), so `openssl s_client -verify_return_error` accepts it. A
//! client must finish its handshake within 60 s (asyncio's
//! `ssl_handshake_timeout`; `--handshake-timeout SECS` to change it).
//!
//! The demo's first client connects with `ssl` at once; the second one
//! connects in plain text and upgrades with STARTTLS
//! (`writer.start_tls`); a third, that does not trust the CA, is refused
//! with the reason.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use corio::compat::ssl::{ClientContext, ServerContext};
use corio::net::tls::SslContext;
use corio::net::{
    ConnectOptions, ServerOptions, StreamReader, StreamWriter, open_connection,
    open_connection_with, start_server_with,
};

/// The CA clients of this example trust.
const CA_NAME: &str = "corio tls_echo CA";

/// asyncio's `ssl_handshake_timeout` default.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// A CA, and a certificate for localhost / 127.0.0.1 it signed. Each has
/// a name of its own: a certificate whose issuer is its own subject is
/// taken for self-signed, and a client that checks the chain (`openssl
/// s_client -verify_return_error`, error 18) refuses it. The server's
/// context and the CA's PEM.
fn certificates(ca_name: &str) -> io::Result<(SslContext, String)> {
    let err = |e: rcgen::Error| io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, ca_name);
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).map_err(err)?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
    let server = ServerContext::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())?;
    Ok((Arc::new(server), ca.pem()))
}

/// The echo handler: each line back, until EOF. Plaintext here; the
/// transport's TLS layer encrypts.
async fn echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    writer.close();
    writer.wait_closed().await
}

/// A plain-text listener's handler: `STARTTLS` upgrades the connection
/// (server side), then it echoes as above.
async fn starttls_then_echo(
    reader: StreamReader,
    writer: StreamWriter,
    ssl: SslContext,
) -> io::Result<()> {
    if reader.readline().await? != b"STARTTLS\n" {
        writer.write(b"500 say STARTTLS first\n")?;
        return Ok(());
    }
    writer.write(b"220 go ahead\n")?;
    writer.start_tls(ssl, None).await?;
    echo(reader, writer).await
}

fn tls_options(ssl: SslContext, handshake_timeout: Duration) -> ServerOptions {
    ServerOptions {
        ssl: Some(ssl),
        ssl_handshake_timeout: handshake_timeout,
        ..ServerOptions::default()
    }
}

async fn demo() -> io::Result<()> {
    let (server_ctx, ca) = certificates(CA_NAME)?;
    let options = tls_options(server_ctx.clone(), HANDSHAKE_TIMEOUT);
    let server = start_server_with(echo, "127.0.0.1", 0, options).await?;
    let port = server.addresses()[0].port();
    let client_ctx: SslContext = Arc::new(ClientContext::from_ca_pem(ca.as_bytes())?);
    let client = |ssl: SslContext| ConnectOptions {
        ssl: Some(ssl),
        server_hostname: Some("localhost".into()),
        ..ConnectOptions::default()
    };

    // `ssl=` at once: the handshake runs before open_connection returns.
    let (reader, writer) =
        open_connection_with("127.0.0.1", port, client(client_ctx.clone())).await?;
    writer.write(b"Hello over TLS!\n")?;
    let line = reader.readline().await?;
    println!("client got: {}", String::from_utf8_lossy(&line).trim_end());
    writer.close();
    writer.wait_closed().await?;

    // Plain text first, then STARTTLS on the open connection.
    let upgrader = start_server_with(
        move |reader, writer| starttls_then_echo(reader, writer, server_ctx.clone()),
        "127.0.0.1",
        0,
        ServerOptions::default(),
    )
    .await?;
    let (reader, writer) = open_connection("127.0.0.1", upgrader.addresses()[0].port()).await?;
    writer.write(b"STARTTLS\n")?;
    let answer = reader.readline().await?;
    writer.start_tls(client_ctx, Some("localhost")).await?;
    writer.write(b"Hello after STARTTLS!\n")?;
    let line = reader.readline().await?;
    println!(
        "upgraded client got: {} (after {})",
        String::from_utf8_lossy(&line).trim_end(),
        String::from_utf8_lossy(&answer).trim_end()
    );
    drop(writer);

    // A client that trusts another CA.
    let (_, other_ca) = certificates("another CA")?;
    let stranger: SslContext = Arc::new(ClientContext::from_ca_pem(other_ca.as_bytes())?);
    match open_connection_with("127.0.0.1", port, client(stranger)).await {
        Ok(_) => println!("untrusting client: connected?!"),
        Err(e) => println!("untrusting client refused: {e}"),
    }
    for server in [server, upgrader] {
        server.close();
        server.wait_closed().await;
    }
    Ok(())
}

async fn serve(port: u16, handshake_timeout: Duration) -> io::Result<()> {
    let (server_ctx, ca) = certificates(CA_NAME)?;
    std::fs::write("tls_echo_ca.pem", ca)?;
    let options = tls_options(server_ctx, handshake_timeout);
    let server = start_server_with(echo, "127.0.0.1", port, options).await?;
    println!("listening on {}", server.addresses()[0]);
    server.serve_forever().await
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
