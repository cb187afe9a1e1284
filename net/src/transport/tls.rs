//! The TLS layer of a [`Transport`] (asyncio's `SSLProtocol` between the
//! transport and the application's protocol; see `crate::tls` for the
//! picture). The socket carries ciphertext; the protocol sees plaintext;
//! the layer runs in between, inside the transport's read and write paths.

use std::task::{Poll, Waker};
use std::time::Duration;

use super::*;
use crate::tls::{TlsError, TlsSession, TlsStart};

/// A transport's TLS state.
pub(crate) struct TlsLayer {
    session: Box<dyn TlsSession>,
    /// How the handshake ended, once it has.
    handshake: Option<Result<(), TlsError>>,
    /// Tasks awaiting the handshake (`open_connection`, `start_tls`).
    waiters: Vec<Waker>,
    /// The protocol is told `connection_made` when the handshake is done
    /// (a new connection), not at once; false for an upgrade, whose
    /// protocol is connected already.
    announce: bool,
    /// Cancels the handshake's timeout once it is done.
    handshake_timer: Option<corio_executor::TimerHandle>,
    shutdown_timeout: Duration,
    /// `close_notify` was queued.
    closed: bool,
}

impl Transport {
    /// Installs a TLS layer: from now on the socket carries ciphertext.
    /// `announce`: tell the protocol `connection_made` once the handshake
    /// is done (a new connection) rather than never (an upgrade).
    pub(super) fn install_tls(&self, start: TlsStart, announce: bool) {
        let timeout = start.handshake_timeout;
        let timer = self.lp().map(|lp| {
            let weak = self.downgrade();
            lp.call_later(timeout, move || {
                if let Some(me) = weak.upgrade() {
                    me.fail_handshake(TlsError::HandshakeTimeout(timeout));
                }
            })
        });
        *self.inner.tls.borrow_mut() = Some(TlsLayer {
            session: start.session,
            handshake: None,
            waiters: Vec::new(),
            announce,
            handshake_timer: timer,
            shutdown_timeout: start.shutdown_timeout,
            closed: false,
        });
        // A client speaks first (its ClientHello).
        self.tls_flush();
    }

    /// Whether a TLS layer is on.
    pub(super) fn has_tls(&self) -> bool {
        self.inner.tls.borrow().is_some()
    }

    /// Sends what the engine has ready for the peer.
    pub(super) fn tls_flush(&self) {
        let mut out = Vec::new();
        if let Some(layer) = self.inner.tls.borrow_mut().as_mut() {
            layer.session.transmit(&mut out);
        }
        if !out.is_empty() {
            self.write_raw(&out);
        }
    }

    /// Ciphertext came (the reader callback): decrypt, answer the
    /// handshake, hand the plaintext to the protocol.
    pub(super) fn tls_received(&self, data: &[u8]) {
        let mut plain = Vec::new();
        let (outcome, was_handshaking, handshaking) = {
            let mut tls = self.inner.tls.borrow_mut();
            let Some(layer) = tls.as_mut() else { return };
            let was = layer.session.is_handshaking();
            let outcome = layer.session.receive(data, &mut plain);
            (outcome, was, layer.session.is_handshaking())
        };
        // Handshake replies, and an alert after an error, go out first.
        self.tls_flush();
        let peer_closed = match outcome {
            Ok(closed) => closed,
            Err(e) => {
                let e = if was_handshaking {
                    e
                } else {
                    match e {
                        TlsError::Handshake(m) => TlsError::Protocol(m),
                        other => other,
                    }
                };
                self.fail_handshake_or_connection(e, was_handshaking);
                return;
            }
        };
        if was_handshaking && !handshaking {
            self.handshake_done();
        }
        if !plain.is_empty()
            && self
                .inner
                .protocol
                .now(|p| p.data_received(&plain))
                .is_none()
        {
            self.tell(move |p| p.data_received(&plain));
        }
        if peer_closed {
            self.remove_reader();
            let me = self.clone();
            self.tell(move |p| {
                if !p.eof_received() {
                    me.close();
                }
            });
        }
    }

    /// The socket reached EOF under TLS: during the handshake, the
    /// handshake failed; after it, without `close_notify`, the data may be
    /// cut short (the peer's `close_notify` ends the stream the other way,
    /// in [`tls_received`](Self::tls_received)).
    pub(super) fn tls_eof(&self) {
        let handshaking = self
            .inner
            .tls
            .borrow()
            .as_ref()
            .is_some_and(|l| l.handshake.is_none());
        let error = if handshaking {
            TlsError::LostInHandshake
        } else {
            TlsError::Truncated
        };
        self.fail_handshake_or_connection(error, handshaking);
    }

    /// The handshake is complete: wake its awaiters, cancel its timeout,
    /// and (a new connection) connect the protocol.
    fn handshake_done(&self) {
        let (waiters, announce, timer) = {
            let mut tls = self.inner.tls.borrow_mut();
            let Some(layer) = tls.as_mut() else { return };
            if layer.handshake.is_some() {
                return;
            }
            layer.handshake = Some(Ok(()));
            (
                std::mem::take(&mut layer.waiters),
                std::mem::take(&mut layer.announce),
                layer.handshake_timer.take(),
            )
        };
        if let Some(timer) = timer {
            timer.cancel();
        }
        if announce {
            let handle = self.clone();
            self.tell(move |p| p.connection_made(handle));
        }
        // Plaintext written before the handshake ended goes out now.
        self.tls_flush();
        for waiter in waiters {
            waiter.wake();
        }
    }

    /// The handshake's timeout came: fail it, if it is still going.
    fn fail_handshake(&self, error: TlsError) {
        let handshaking = self
            .inner
            .tls
            .borrow()
            .as_ref()
            .is_some_and(|l| l.handshake.is_none());
        if handshaking {
            self.fail_handshake_or_connection(error, true);
        }
    }

    /// Ends the connection with `error`; during the handshake, the
    /// handshake's awaiters get it too.
    fn fail_handshake_or_connection(&self, error: TlsError, handshaking: bool) {
        if handshaking {
            let (waiters, timer) = {
                let mut tls = self.inner.tls.borrow_mut();
                match tls.as_mut() {
                    Some(layer) if layer.handshake.is_none() => {
                        layer.handshake = Some(Err(error.clone()));
                        (
                            std::mem::take(&mut layer.waiters),
                            layer.handshake_timer.take(),
                        )
                    }
                    _ => (Vec::new(), None),
                }
            };
            if let Some(timer) = timer {
                timer.cancel();
            }
            for waiter in waiters {
                waiter.wake();
            }
        }
        self.fatal_error(error.into());
    }

    /// Whether the protocol is still to be told `connection_made` (a new
    /// connection whose handshake never finished): then it is not told
    /// `connection_lost` either, as asyncio's `SSLProtocol` does.
    pub(super) fn protocol_unannounced(&self) -> bool {
        self.inner.tls.borrow().as_ref().is_some_and(|l| l.announce)
    }

    /// Plaintext from the protocol: encrypt and send.
    pub(super) fn tls_write(&self, data: &[u8]) {
        if let Some(layer) = self.inner.tls.borrow_mut().as_mut() {
            layer.session.send(data);
        }
        self.tls_flush();
    }

    /// `close()` or `write_eof()` under TLS: queue `close_notify` (once)
    /// and send it. On close, the shutdown has `ssl_shutdown_timeout` to
    /// drain the write buffer; then the transport is aborted (asyncio's
    /// `ssl_shutdown_timeout`).
    pub(super) fn tls_close_notify(&self, closing: bool) {
        let shutdown = {
            let mut tls = self.inner.tls.borrow_mut();
            let Some(layer) = tls.as_mut() else { return };
            if !layer.closed {
                layer.closed = true;
                layer.session.close();
            }
            layer.shutdown_timeout
        };
        self.tls_flush();
        if closing && let Some(lp) = self.lp() {
            let weak = self.downgrade();
            lp.call_later(shutdown, move || {
                if let Some(me) = weak.upgrade() {
                    me.abort();
                }
            });
        }
    }

    /// The connection is being lost: a handshake still going fails (its
    /// awaiters learn it), and its timeout is cancelled.
    pub(super) fn tls_connection_lost(&self) {
        let (waiters, timer) = {
            let mut tls = self.inner.tls.borrow_mut();
            match tls.as_mut() {
                Some(layer) if layer.handshake.is_none() => {
                    layer.handshake = Some(Err(TlsError::LostInHandshake));
                    (
                        std::mem::take(&mut layer.waiters),
                        layer.handshake_timer.take(),
                    )
                }
                _ => (Vec::new(), None),
            }
        };
        if let Some(timer) = timer {
            timer.cancel();
        }
        for waiter in waiters {
            waiter.wake();
        }
    }

    /// A server's connection whose handshake failed: nobody awaits it, so
    /// it is reported, in debug mode only (a failed handshake is the
    /// client's doing; asyncio logs it at debug level).
    pub(super) fn report_failed_handshake(&self, err: Option<io::Error>) {
        if let Some(lp) = self.lp()
            && lp.get_debug()
        {
            let peer = self
                .peer_addr()
                .map_or_else(|| "a Unix peer".to_string(), |p| p.to_string());
            lp.call_exception_handler(corio_executor::ExceptionContext {
                message: format!("SSL handshake failed with {peer}"),
                exception: err.map(|e| e.to_string()),
            });
        }
    }

    /// Waits for the TLS handshake of this transport.
    pub(crate) async fn tls_handshake(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| {
            let mut tls = self.inner.tls.borrow_mut();
            let Some(layer) = tls.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            match &layer.handshake {
                Some(Ok(())) => Poll::Ready(Ok(())),
                Some(Err(e)) => Poll::Ready(Err(e.clone().into())),
                None => {
                    if !layer.waiters.iter().any(|w| w.will_wake(cx.waker())) {
                        layer.waiters.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// The protocol ALPN agreed on, once the handshake is done. Python:
    /// `get_extra_info('ssl_object').selected_alpn_protocol()`.
    pub fn alpn_protocol(&self) -> Option<Vec<u8>> {
        self.inner
            .tls
            .borrow()
            .as_ref()
            .and_then(|l| l.session.alpn_protocol())
    }

    /// The peer's certificate chain (DER, leaf first) under TLS; empty
    /// without TLS or when the peer sent none. Python:
    /// `get_extra_info('peercert')` in binary form.
    pub fn peer_certificates(&self) -> Vec<Vec<u8>> {
        self.inner
            .tls
            .borrow()
            .as_ref()
            .map_or_else(Vec::new, |l| l.session.peer_certificates())
    }

    /// True when the transport runs TLS. Python: `get_extra_info('sslcontext')
    /// is not None`.
    pub fn is_tls(&self) -> bool {
        self.has_tls()
    }
}

/// Upgrades a live connection to TLS, in place (STARTTLS), and waits for
/// the handshake. Python: `await loop.start_tls(transport, protocol,
/// sslcontext, server_side=..., server_hostname=...)`.
///
/// Differs from asyncio in upgrading the transport itself instead of
/// returning a new one: the protocol keeps its transport and from now on
/// writes plaintext through it and receives plaintext from it. The
/// timeouts are asyncio's defaults ([`SSL_HANDSHAKE_TIMEOUT`](crate::tls::SSL_HANDSHAKE_TIMEOUT),
/// [`SSL_SHUTDOWN_TIMEOUT`](crate::tls::SSL_SHUTDOWN_TIMEOUT)).
///
/// # Errors
/// `InvalidInput` for a client side without `server_hostname`, or a
/// transport that runs TLS already; `NotConnected` for a closing or lost
/// transport; the handshake's error, as the connection fails with it.
pub async fn start_tls(
    transport: &Transport,
    ssl: crate::tls::SslContext,
    server_side: bool,
    server_hostname: Option<&str>,
) -> io::Result<()> {
    if transport.has_tls() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the transport runs TLS already",
        ));
    }
    if transport.is_closing() {
        return Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "start_tls on a closing transport",
        ));
    }
    let session = if server_side {
        ssl.server_session()?
    } else {
        let name = server_hostname.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "server_hostname is required for a client's start_tls",
            )
        })?;
        ssl.client_session(name)?
    };
    let start = TlsStart {
        session,
        handshake_timeout: crate::tls::SSL_HANDSHAKE_TIMEOUT,
        shutdown_timeout: crate::tls::SSL_SHUTDOWN_TIMEOUT,
    };
    transport.install_tls(start, false);
    transport.tls_handshake().await
}
