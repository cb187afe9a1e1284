//! `loop.create_connection` and `loop.create_unix_connection`.

use super::*;

/// Connects to `host:port` and runs the protocol made by `factory` on the
/// connection. Mirrors `loop.create_connection(protocol_factory, host,
/// port)`, returning `(transport, protocol)`.
///
/// # Examples
///
/// ```
/// use std::{cell::RefCell, rc::Rc};
/// use corio_net::{Protocol, Transport, TcpListener, create_connection};
///
/// #[derive(Default)]
/// struct Collect(Vec<u8>, bool);
/// impl Protocol for Collect {
///     fn data_received(&mut self, data: &[u8]) { self.0.extend_from_slice(data) }
///     fn connection_lost(&mut self, _: Option<std::io::Error>) { self.1 = true }
/// }
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let (transport, protocol) = create_connection(Collect::default, "127.0.0.1", port).await?;
///     let (server_side, _) = listener.accept().await?;
///     server_side.send_all(b"hello").await?;
///     drop(server_side); // EOF: eof_received() says close
///     while !protocol.borrow().1 {
///         corio_executor::sleep(std::time::Duration::from_millis(1)).await;
///     }
///     assert_eq!(protocol.borrow().0, b"hello");
///     assert!(transport.is_closing());
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// As [`TcpStream::connect`](crate::TcpStream::connect); `Other` without a
/// running loop.
pub async fn create_connection<P: Protocol>(
    factory: impl FnOnce() -> P,
    host: &str,
    port: u16,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let stream = crate::TcpStream::connect(host, port).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start(&lp, stream.into_socket(), protocol.clone())?;
    Ok((transport, protocol))
}

/// Connects to the Unix socket at `path` and runs the protocol made by
/// `factory` on it. Mirrors `loop.create_unix_connection(protocol_factory,
/// path)`. The transport's addresses are `None`.
///
/// # Errors
/// As [`UnixStream::connect`](crate::UnixStream::connect); `Other` without
/// a running loop.
pub async fn create_unix_connection<P: Protocol>(
    factory: impl FnOnce() -> P,
    path: impl AsRef<std::path::Path>,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let stream = crate::UnixStream::connect(path).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start(&lp, stream.into_socket(), protocol.clone())?;
    Ok((transport, protocol))
}

/// [`create_connection`] with asyncio's keyword arguments: `local_addr`,
/// and `ssl` with `server_hostname`, `ssl_handshake_timeout`,
/// `ssl_shutdown_timeout` (the options' `limit` is the streams' and is not
/// used here). With `ssl`, the protocol is told `connection_made` once the
/// TLS handshake is done, and this returns then, as asyncio's does.
/// Mirrors `loop.create_connection(protocol_factory, host, port,
/// ssl=..., ...)`.
///
/// # Errors
/// As [`create_connection`]; the TLS handshake's error (kind
/// `InvalidData` for a certificate refused, `TimedOut`, ...; the
/// [`TlsError`](crate::tls::TlsError) is its source).
pub async fn create_connection_with<P: Protocol>(
    factory: impl FnOnce() -> P,
    host: &str,
    port: u16,
    options: crate::ConnectOptions,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    let tls = options.client_tls(Some(host))?;
    let stream = crate::TcpStream::connect_from(host, port, options.local_addr).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start_with(&lp, stream.into_socket(), protocol.clone(), tls)?;
    transport.tls_handshake().await?;
    Ok((transport, protocol))
}

/// [`create_unix_connection`] with the options of
/// [`create_connection_with`] (`ssl` needs `server_hostname` here, as in
/// asyncio; `local_addr` is refused). Mirrors
/// `loop.create_unix_connection(protocol_factory, path, ssl=..., ...)`.
///
/// # Errors
/// As [`create_unix_connection`]; `InvalidInput` for `ssl` without
/// `server_hostname` or a `local_addr`; the TLS handshake's error.
pub async fn create_unix_connection_with<P: Protocol>(
    factory: impl FnOnce() -> P,
    path: impl AsRef<std::path::Path>,
    options: crate::ConnectOptions,
) -> io::Result<(Transport, Rc<RefCell<P>>)> {
    if options.local_addr.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "local_addr cannot be used with a Unix connection",
        ));
    }
    let tls = options.client_tls(None)?;
    let stream = crate::UnixStream::connect(path).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let protocol = Rc::new(RefCell::new(factory()));
    let transport = Transport::start_with(&lp, stream.into_socket(), protocol.clone(), tls)?;
    transport.tls_handshake().await?;
    Ok((transport, protocol))
}
