//! TLS over corio sockets with rustls (ring provider) via futures-rustls.

use std::io;
use std::sync::Arc;

use futures_rustls::pki_types::ServerName;
use futures_rustls::rustls::{ClientConfig, ServerConfig};

use crate::io::{Io, PollSocket};

/// A TLS session over a corio socket: `futures_io::AsyncRead` /
/// `AsyncWrite`, and hyper's traits through [`FuturesIo`](crate::FuturesIo).
/// Python: an `ssl.SSLObject` under a transport.
pub type TlsStream<S> = futures_rustls::TlsStream<Io<S>>;

/// The server side's TLS handshake. Python: `ssl.SSLContext(PROTOCOL_TLS_SERVER)`
/// passed as `ssl=` to `create_server`.
#[derive(Clone)]
pub struct TlsAcceptor(futures_rustls::TlsAcceptor);

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsAcceptor")
    }
}

impl TlsAcceptor {
    /// An acceptor with `config` (certificate chain, key, ALPN protocols).
    pub fn new(config: Arc<ServerConfig>) -> TlsAcceptor {
        TlsAcceptor(futures_rustls::TlsAcceptor::from(config))
    }

    /// Runs the server handshake on `stream`. Python: the handshake
    /// `create_server(ssl=...)` runs on each accepted connection.
    ///
    /// # Errors
    /// `InvalidData` naming the TLS error (e.g. garbage instead of a
    /// ClientHello, an alert from a client that does not trust us).
    pub async fn accept<S: PollSocket>(&self, stream: S) -> io::Result<TlsStream<S>> {
        let tls = self.0.accept(Io::new(stream)).await?;
        Ok(futures_rustls::TlsStream::Server(tls))
    }
}

/// The client side's TLS handshake. Python: `ssl.create_default_context()`
/// passed as `ssl=` to `open_connection`.
#[derive(Clone)]
pub struct TlsConnector(futures_rustls::TlsConnector);

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TlsConnector")
    }
}

impl TlsConnector {
    /// A connector with `config` (trusted roots, ALPN protocols).
    pub fn new(config: Arc<ClientConfig>) -> TlsConnector {
        TlsConnector(futures_rustls::TlsConnector::from(config))
    }

    /// Runs the client handshake on `stream`, checking the certificate
    /// against `server_hostname`. Python: `open_connection(...,
    /// ssl=ctx, server_hostname=name)`.
    ///
    /// # Errors
    /// `InvalidInput` for a malformed name; `InvalidData` naming the TLS
    /// error (e.g. "invalid peer certificate: UnknownIssuer").
    pub async fn connect<S: PollSocket>(
        &self,
        server_hostname: &str,
        stream: S,
    ) -> io::Result<TlsStream<S>> {
        let name = ServerName::try_from(server_hostname.to_owned())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = self.0.connect(name, Io::new(stream)).await?;
        Ok(futures_rustls::TlsStream::Client(tls))
    }
}

/// Upgrades an open plain connection to TLS as its client. Python:
/// `loop.start_tls(transport, protocol, sslcontext, server_hostname=...)`;
/// here on a socket rather than a transport (corio's transports buffer in
/// user space, which a TLS layer would have to drain first): whatever was
/// exchanged in plain text before is done, the handshake starts now.
///
/// # Errors
/// As [`TlsConnector::connect`].
pub async fn start_tls<S: PollSocket>(
    stream: S,
    config: Arc<ClientConfig>,
    server_hostname: &str,
) -> io::Result<TlsStream<S>> {
    TlsConnector::new(config)
        .connect(server_hostname, stream)
        .await
}
