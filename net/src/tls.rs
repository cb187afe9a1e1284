//! TLS as a protocol layer, asyncio's `sslproto`: the seam between a
//! transport and a TLS engine.
//!
//! ```text
//!   application protocol   data_received(plaintext), transport.write(plaintext)
//!          │   ▲
//!          ▼   │
//!   TLS layer              TlsSession: decrypts what came, encrypts what goes,
//!          │   ▲           runs the handshake, sends close_notify
//!          ▼   │
//!   transport              write buffer, flow control, one registration
//!          │   ▲
//!          ▼   │
//!   socket                 recv / send of ciphertext
//! ```
//!
//! This crate knows no cryptography: it defines what a TLS engine must do
//! ([`TlsSession`], asyncio's `ssl.SSLObject` driven through its memory
//! BIOs) and what makes one ([`TlsContext`], asyncio's `ssl.SSLContext`),
//! and the transport runs the layer: the handshake before the protocol's
//! `connection_made`, its timeout, the records both ways, `close_notify`
//! on close and its timeout. corio-compat implements the two traits over
//! rustls (feature `tls`); any other engine can implement them too.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

/// asyncio's default `ssl_handshake_timeout`: 60 s.
pub const SSL_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(60);

/// asyncio's default `ssl_shutdown_timeout`: 30 s.
pub const SSL_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection's TLS engine, without I/O: ciphertext in and out as
/// bytes, plaintext in and out as bytes. Mirrors Python's `ssl.SSLObject`
/// with its two `MemoryBIO`s (what asyncio's `SSLProtocol` drives).
pub trait TlsSession {
    /// Takes `ciphertext` from the peer, all of it, and appends the
    /// plaintext it decrypts to `plaintext`. `Ok(true)` once the peer's
    /// `close_notify` has come (no more plaintext will).
    ///
    /// # Errors
    /// A [`TlsError`] ends the connection; the engine may have queued an
    /// alert for the peer, which [`transmit`](Self::transmit) then gives.
    fn receive(&mut self, ciphertext: &[u8], plaintext: &mut Vec<u8>) -> Result<bool, TlsError>;

    /// Queues `plaintext` for the peer; it is encrypted once the handshake
    /// allows (until then the engine keeps it).
    fn send(&mut self, plaintext: &[u8]);

    /// Moves the ciphertext ready for the peer (handshake messages,
    /// records, alerts) to the end of `out`.
    fn transmit(&mut self, out: &mut Vec<u8>);

    /// True until the handshake is complete.
    fn is_handshaking(&self) -> bool;

    /// Queues `close_notify`: this side sends no more. Python:
    /// `SSLObject.unwrap()`.
    fn close(&mut self);

    /// The protocol agreed by ALPN, if any. Python:
    /// `SSLObject.selected_alpn_protocol()`.
    fn alpn_protocol(&self) -> Option<Vec<u8>>;

    /// The peer's certificate chain, DER-encoded, leaf first (empty when it
    /// sent none). Python: `SSLObject.getpeercert(binary_form=True)`.
    fn peer_certificates(&self) -> Vec<Vec<u8>>;
}

/// What makes [`TlsSession`]s: the `ssl=` of asyncio's calls. Mirrors
/// `ssl.SSLContext`: one context, many connections, shared across loops
/// (so `Send + Sync`).
pub trait TlsContext: Send + Sync + fmt::Debug {
    /// A client's session, verifying the server as `server_name` (also
    /// sent as SNI). Python: `context.wrap_bio(..., server_side=False,
    /// server_hostname=server_name)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] when the context is a server's, or the name is
    /// not a valid DNS name or IP address.
    fn client_session(&self, server_name: &str) -> Result<Box<dyn TlsSession>, TlsError>;

    /// A server's session. Python: `context.wrap_bio(...,
    /// server_side=True)`.
    ///
    /// # Errors
    /// [`TlsError::Config`] when the context is a client's.
    fn server_session(&self) -> Result<Box<dyn TlsSession>, TlsError>;
}

/// A shared TLS context, as the options structs hold it (`ssl=ctx`).
pub type SslContext = Arc<dyn TlsContext>;

/// What went wrong in TLS. Python: `ssl.SSLError` and its kin, which are
/// `OSError`s: this converts into `io::Error` with a kind that says which
/// (the `TlsError` stays reachable as the error's source).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The handshake failed: a bad or untrusted certificate, a name that
    /// does not match, no common protocol, bytes that are not TLS. The
    /// engine's reason is kept. Python: `ssl.SSLCertVerificationError`,
    /// `ssl.SSLError`.
    #[error("SSL handshake failed: {0}")]
    Handshake(String),
    /// The handshake did not finish within `ssl_handshake_timeout`.
    /// Python: `ConnectionAbortedError("SSL handshake is taking longer
    /// than 60.0 seconds: aborting the connection")`.
    #[error("SSL handshake is taking longer than {0:?}: aborting the connection")]
    HandshakeTimeout(Duration),
    /// The peer broke the protocol after the handshake (a bad record, a
    /// fatal alert). Python: `ssl.SSLError`.
    #[error("TLS protocol error: {0}")]
    Protocol(String),
    /// The connection ended without the peer's `close_notify`: what came
    /// last may have been cut short. Python: `ssl.SSLEOFError`.
    #[error("the TLS peer closed the connection without close_notify")]
    Truncated,
    /// The connection ended during the handshake.
    #[error("the connection was lost during the SSL handshake")]
    LostInHandshake,
    /// A context that cannot make the session asked for.
    #[error("TLS configuration: {0}")]
    Config(String),
}

impl TlsError {
    /// The `io::ErrorKind` it converts to.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            TlsError::HandshakeTimeout(_) => io::ErrorKind::TimedOut,
            TlsError::Truncated => io::ErrorKind::UnexpectedEof,
            TlsError::LostInHandshake => io::ErrorKind::ConnectionAborted,
            TlsError::Config(_) => io::ErrorKind::InvalidInput,
            TlsError::Handshake(_) | TlsError::Protocol(_) => io::ErrorKind::InvalidData,
        }
    }
}

impl From<TlsError> for io::Error {
    fn from(err: TlsError) -> io::Error {
        io::Error::new(err.kind(), err)
    }
}

/// How a connection starts its TLS layer: the engine, which side, the
/// timeouts.
pub(crate) struct TlsStart {
    pub(crate) session: Box<dyn TlsSession>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

/// A server's TLS settings, kept for each connection it accepts.
#[derive(Clone)]
pub(crate) struct ServerTls {
    pub(crate) ssl: SslContext,
    pub(crate) handshake_timeout: Duration,
    pub(crate) shutdown_timeout: Duration,
}

impl ServerTls {
    /// The layer an accepted connection starts with.
    pub(crate) fn start(&self) -> Result<TlsStart, TlsError> {
        Ok(TlsStart {
            session: self.ssl.server_session()?,
            handshake_timeout: self.handshake_timeout,
            shutdown_timeout: self.shutdown_timeout,
        })
    }
}
