//! asyncio's `ssl=` over rustls: [`ClientContext`] and [`ServerContext`]
//! are `ssl.SSLContext`s for corio's streams, servers, protocols and
//! `start_tls`. They implement corio-net's TLS seam
//! (`corio_net::tls::TlsContext`), so the TLS layer runs in
//! the transport, below the application's protocol, as asyncio's
//! `sslproto` does.
//!
//! ```
//! use std::sync::Arc;
//! use corio_compat::ssl::{ClientContext, ServerContext};
//! use corio_net::{ConnectOptions, ServerOptions, open_connection_with, start_server_with};
//!
//! // A CA and a certificate for "localhost" it signed (a test's own PKI).
//! let ca = rcgen::generate_simple_self_signed(vec!["test CA".into()]).unwrap();
//! let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
//! params.is_ca = rcgen::IsCa::NoCa;
//! let key = rcgen::KeyPair::generate().unwrap();
//! let cert = params.signed_by(&key, &ca.cert, &ca.key_pair).unwrap();
//!
//! let server_ctx = ServerContext::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())?;
//! let client_ctx = ClientContext::from_ca_pem(ca.cert.pem().as_bytes())?;
//! corio_executor::run(async move {
//!     let options = ServerOptions { ssl: Some(Arc::new(server_ctx)), ..Default::default() };
//!     let server = start_server_with(
//!         |reader, writer| async move {
//!             let line = reader.readline().await?;
//!             writer.write(&line)?; // plaintext here, ciphertext on the wire
//!             writer.drain().await
//!         },
//!         "127.0.0.1", 0, options,
//!     ).await?;
//!     let port = server.addresses()[0].port();
//!     let options = ConnectOptions {
//!         ssl: Some(Arc::new(client_ctx)),
//!         server_hostname: Some("localhost".into()),
//!         ..Default::default()
//!     };
//!     let (reader, writer) = open_connection_with("127.0.0.1", port, options).await?;
//!     writer.write(b"over TLS\n")?;
//!     assert_eq!(reader.readline().await?, b"over TLS\n");
//!     Ok::<(), std::io::Error>(())
//! })??;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

use corio_net::tls::{TlsContext, TlsError, TlsSession};
use futures_rustls::pki_types::pem::PemObject;
use futures_rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};

/// A client's TLS settings: the CAs it trusts, its own certificate for
/// mutual TLS, its ALPN protocols. Python: `ssl.create_default_context()`
/// with `load_verify_locations(cafile)`, `load_cert_chain(...)`,
/// `set_alpn_protocols(...)`.
#[derive(Debug, Clone)]
pub struct ClientContext {
    config: Arc<ClientConfig>,
}

/// A server's TLS settings: its certificate chain and key, the CAs its
/// clients' certificates must chain to (mutual TLS), its ALPN protocols.
/// Python: `ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)` with
/// `load_cert_chain(certfile, keyfile)`, `verify_mode = CERT_REQUIRED`.
#[derive(Debug, Clone)]
pub struct ServerContext {
    config: Arc<ServerConfig>,
}

fn config_error(what: &str, e: impl std::fmt::Display) -> TlsError {
    TlsError::Config(format!("{what}: {e}"))
}

/// Every certificate in `pem`, in order.
fn certificates(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(what, e))?;
    if certs.is_empty() {
        return Err(TlsError::Config(format!(
            "{what}: no PEM certificate found"
        )));
    }
    Ok(certs)
}

fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| config_error("the private key", e))
}

fn roots(ca_pem: &[u8]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem, "the CA certificates")? {
        roots
            .add(cert)
            .map_err(|e| config_error("a CA certificate", e))?;
    }
    Ok(roots)
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| config_error(&path.display().to_string(), e))
}

impl ClientContext {
    /// Trusts the CA certificates in `ca_pem` (PEM, one or more). Python:
    /// `ssl.create_default_context(cadata=...)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] when the PEM holds no valid certificate.
    pub fn from_ca_pem(ca_pem: &[u8]) -> Result<ClientContext, TlsError> {
        let config = ClientConfig::builder()
            .with_root_certificates(roots(ca_pem)?)
            .with_no_client_auth();
        Ok(ClientContext::from_config(Arc::new(config)))
    }

    /// [`from_ca_pem`](Self::from_ca_pem), with this client's own
    /// certificate chain and key for servers that ask for one (mutual
    /// TLS). Python: `context.load_cert_chain(certfile, keyfile)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] for a bad PEM or a key that does not fit.
    pub fn with_client_cert(
        ca_pem: &[u8],
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<ClientContext, TlsError> {
        let config = ClientConfig::builder()
            .with_root_certificates(roots(ca_pem)?)
            .with_client_auth_cert(
                certificates(chain_pem, "the certificate chain")?,
                private_key(key_pem)?,
            )
            .map_err(|e| config_error("the client certificate", e))?;
        Ok(ClientContext::from_config(Arc::new(config)))
    }

    /// [`from_ca_pem`](Self::from_ca_pem) with the CAs read from a file.
    /// Python: `ssl.create_default_context(cafile=path)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] naming the file when it cannot be read or
    /// holds no certificate.
    pub fn from_ca_file(path: impl AsRef<Path>) -> Result<ClientContext, TlsError> {
        ClientContext::from_ca_pem(&read_file(path.as_ref())?)
    }

    /// Any rustls client config, as it is.
    pub fn from_config(config: Arc<ClientConfig>) -> ClientContext {
        ClientContext { config }
    }

    /// Offers these ALPN protocols, in order of preference (`b"h2"`,
    /// `b"http/1.1"`). Python: `context.set_alpn_protocols([...])`.
    #[must_use]
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> ClientContext {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.iter().map(|p| p.to_vec()).collect();
        self
    }
}

impl ServerContext {
    /// Serves with the certificate chain in `chain_pem` (leaf first) and
    /// its private key in `key_pem`. Python: `context.load_cert_chain(
    /// certfile, keyfile)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] for a bad PEM or a key that does not fit.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerContext, TlsError> {
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                certificates(chain_pem, "the certificate chain")?,
                private_key(key_pem)?,
            )
            .map_err(|e| config_error("the server certificate", e))?;
        Ok(ServerContext::from_config(Arc::new(config)))
    }

    /// [`from_pem`](Self::from_pem) with the chain and key read from
    /// files. Python: `context.load_cert_chain(certfile, keyfile)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] naming a file that cannot be read, or as
    /// `from_pem`.
    pub fn from_pem_files(
        chain: impl AsRef<Path>,
        key: impl AsRef<Path>,
    ) -> Result<ServerContext, TlsError> {
        ServerContext::from_pem(&read_file(chain.as_ref())?, &read_file(key.as_ref())?)
    }

    /// [`from_pem`](Self::from_pem), requiring each client to present a
    /// certificate that chains to a CA in `client_ca_pem` (mutual TLS).
    /// Python: `context.verify_mode = ssl.CERT_REQUIRED` with
    /// `load_verify_locations(cadata=...)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] for a bad PEM or a key that does not fit.
    pub fn with_client_auth(
        chain_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: &[u8],
    ) -> Result<ServerContext, TlsError> {
        let verifier = WebPkiClientVerifier::builder(Arc::new(roots(client_ca_pem)?))
            .build()
            .map_err(|e| config_error("the client CA", e))?;
        let config = ServerConfig::builder()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certificates(chain_pem, "the certificate chain")?,
                private_key(key_pem)?,
            )
            .map_err(|e| config_error("the server certificate", e))?;
        Ok(ServerContext::from_config(Arc::new(config)))
    }

    /// Any rustls server config, as it is.
    pub fn from_config(config: Arc<ServerConfig>) -> ServerContext {
        ServerContext { config }
    }

    /// Accepts these ALPN protocols, in order of preference. Python:
    /// `context.set_alpn_protocols([...])`.
    #[must_use]
    pub fn with_alpn(mut self, protocols: &[&[u8]]) -> ServerContext {
        Arc::make_mut(&mut self.config).alpn_protocols =
            protocols.iter().map(|p| p.to_vec()).collect();
        self
    }
}

impl TlsContext for ClientContext {
    fn client_session(&self, server_name: &str) -> Result<Box<dyn TlsSession>, TlsError> {
        let name = ServerName::try_from(server_name.to_string())
            .map_err(|e| config_error(&format!("server_hostname {server_name:?}"), e))?;
        let conn = ClientConnection::new(self.config.clone(), name)
            .map_err(|e| config_error("the client session", e))?;
        Ok(Box::new(RustlsSession::new(conn.into())))
    }

    fn server_session(&self) -> Result<Box<dyn TlsSession>, TlsError> {
        Err(TlsError::Config(
            "a ClientContext cannot serve: use a ServerContext".to_string(),
        ))
    }
}

impl TlsContext for ServerContext {
    fn client_session(&self, _: &str) -> Result<Box<dyn TlsSession>, TlsError> {
        Err(TlsError::Config(
            "a ServerContext cannot connect: use a ClientContext".to_string(),
        ))
    }

    fn server_session(&self) -> Result<Box<dyn TlsSession>, TlsError> {
        let conn = ServerConnection::new(self.config.clone())
            .map_err(|e| config_error("the server session", e))?;
        Ok(Box::new(RustlsSession::new(conn.into())))
    }
}

/// A rustls connection, driven sans I/O.
struct RustlsSession {
    conn: Connection,
}

impl RustlsSession {
    fn new(mut conn: Connection) -> RustlsSession {
        // The transport's write buffer and its water marks are the
        // backpressure: plaintext written before the handshake ends is
        // kept whole, not cut at rustls's default 64 KiB.
        conn.set_buffer_limit(None);
        RustlsSession { conn }
    }

    /// Moves the plaintext rustls has decrypted to `out`; true once the
    /// peer's close_notify came.
    fn drain_plaintext(&mut self, out: &mut Vec<u8>) -> Result<bool, TlsError> {
        let mut chunk = [0; 16 * 1024];
        loop {
            match self.conn.reader().read(&mut chunk) {
                Ok(0) => return Ok(true),
                Ok(n) => out.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(TlsError::Protocol(e.to_string())),
            }
        }
    }
}

impl TlsSession for RustlsSession {
    fn receive(
        &mut self,
        mut ciphertext: &[u8],
        plaintext: &mut Vec<u8>,
    ) -> Result<bool, TlsError> {
        let mut closed = false;
        while !ciphertext.is_empty() {
            let handshaking = self.conn.is_handshaking();
            let fail = |e: String| {
                if handshaking {
                    TlsError::Handshake(e)
                } else {
                    TlsError::Protocol(e)
                }
            };
            let read = self
                .conn
                .read_tls(&mut ciphertext)
                .map_err(|e| fail(e.to_string()))?;
            self.conn
                .process_new_packets()
                .map_err(|e| fail(e.to_string()))?;
            closed |= self.drain_plaintext(plaintext)?;
            if read == 0 {
                break;
            }
        }
        Ok(closed)
    }

    fn send(&mut self, plaintext: &[u8]) {
        // Unbounded (see `new`): the write takes every byte.
        let _ = self.conn.writer().write_all(plaintext);
    }

    fn transmit(&mut self, out: &mut Vec<u8>) {
        while self.conn.wants_write() {
            if self.conn.write_tls(out).is_err() {
                break; // a Vec takes everything; never here
            }
        }
    }

    fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
    }

    fn close(&mut self) {
        self.conn.send_close_notify();
    }

    fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.conn.alpn_protocol().map(<[u8]>::to_vec)
    }

    fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.conn
            .peer_certificates()
            .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
            .unwrap_or_default()
    }
}
