//! The entry points: `open_connection`, `start_server` and their Unix
//! and keyword-argument variants.

use super::*;

/// The options of a stream client: asyncio's keyword arguments of
/// `open_connection` and `open_unix_connection`, for
/// [`open_connection_with`], [`open_unix_connection_with`] and
/// [`open_connection_sock`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The reader's limit ([`DEFAULT_LIMIT`]): the longest line or
    /// separator search. Python: `limit=`.
    pub limit: usize,
    /// Bind the connecting socket here first (`None`: the kernel picks).
    /// Python: `local_addr=`. TCP only: a Unix connection or a socket
    /// connected already refuses it.
    pub local_addr: Option<SocketAddr>,
    /// Run TLS over the connection, with sessions from this context
    /// (`None`: plain). Python: `ssl=context`. corio-compat's `tls`
    /// feature makes one from rustls configs.
    pub ssl: Option<SslContext>,
    /// The name the server's certificate must carry, also sent as SNI;
    /// `None`: the `host` connected to (required for a Unix connection).
    /// Python: `server_hostname=`.
    pub server_hostname: Option<String>,
    /// How long the TLS handshake may take before the connection is
    /// aborted ([`SSL_HANDSHAKE_TIMEOUT`], 60 s). Python:
    /// `ssl_handshake_timeout=`.
    pub ssl_handshake_timeout: Duration,
    /// How long closing a TLS connection may take (sending `close_notify`
    /// and what is buffered) before it is aborted
    /// ([`SSL_SHUTDOWN_TIMEOUT`], 30 s). Python: `ssl_shutdown_timeout=`.
    pub ssl_shutdown_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            limit: DEFAULT_LIMIT,
            local_addr: None,
            ssl: None,
            server_hostname: None,
            ssl_handshake_timeout: SSL_HANDSHAKE_TIMEOUT,
            ssl_shutdown_timeout: SSL_SHUTDOWN_TIMEOUT,
        }
    }
}

impl ConnectOptions {
    /// The TLS layer a client connection to `host` starts with, if any.
    /// `server_hostname` defaults to `host`; without either, TLS cannot
    /// verify the server (asyncio's "You must set server_hostname when
    /// using ssl without a host").
    pub(crate) fn client_tls(&self, host: Option<&str>) -> io::Result<Option<TlsStart>> {
        let Some(ssl) = &self.ssl else {
            return Ok(None);
        };
        let name = self.server_hostname.as_deref().or(host).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "server_hostname is required when using ssl without a host",
            )
        })?;
        let session = ssl.client_session(name)?;
        Ok(Some(TlsStart {
            session,
            handshake_timeout: self.ssl_handshake_timeout,
            shutdown_timeout: self.ssl_shutdown_timeout,
        }))
    }
}

/// Connects to `host:port`: a reader and a writer on a new connection.
/// Mirrors `asyncio.open_connection(host, port)`.
///
/// # Examples
///
/// ```
/// use corio_net::{open_connection, start_server, StreamReader, StreamWriter};
///
/// async fn shout(reader: StreamReader, writer: StreamWriter) -> std::io::Result<()> {
///     while let Some(line) = reader.next_line().await? {
///         writer.write(&line.to_ascii_uppercase())?;
///         writer.drain().await?;
///     }
///     Ok(())
/// }
///
/// corio_executor::run(async {
///     let server = start_server(shout, "127.0.0.1", 0).await?;
///     let port = server.addresses()[0].port();
///     let (reader, writer) = open_connection("127.0.0.1", port).await?;
///     writer.write(b"hello\n")?;
///     assert_eq!(reader.readline().await?, b"HELLO\n");
///     writer.close();
///     writer.wait_closed().await?;
///     server.close();
///     server.wait_closed().await;
///     Ok::<(), Box<dyn std::error::Error>>(())
/// })
/// .unwrap()
/// .unwrap();
/// ```
///
/// # Errors
/// As [`TcpStream::connect`]: `ConnectionRefused`, a resolution error
/// naming the host, `InvalidInput` for port 0.
pub async fn open_connection(host: &str, port: u16) -> io::Result<(StreamReader, StreamWriter)> {
    open_connection_with(host, port, ConnectOptions::default()).await
}

/// [`open_connection`] with asyncio's keyword arguments `limit` and
/// `local_addr`.
///
/// # Errors
/// As [`open_connection`]; `InvalidInput` for a limit of 0; the bind
/// error of `local_addr`.
pub async fn open_connection_with(
    host: &str,
    port: u16,
    options: ConnectOptions,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_limit(options.limit)?;
    let tls = options.client_tls(Some(host))?;
    let stream = TcpStream::connect_from(host, port, options.local_addr).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let (reader, writer) = streams_on(&lp, stream.into_socket(), options.limit, tls)?;
    writer.transport().tls_handshake().await?;
    Ok((reader, writer))
}

/// Makes a reader/writer pair of a connected `TcpStream`: one accepted by
/// hand from a [`TcpListener`](crate::TcpListener), or connected
/// elsewhere. Python: `asyncio.open_connection(sock=sock)` (below streams:
/// `loop.connect_accepted_socket`); differs in being a plain function
/// (nothing to wait for: the socket is connected already).
///
/// # Examples
///
/// ```
/// use corio_net::{TcpListener, TcpStream, open_connection_sock};
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let client = TcpStream::connect("127.0.0.1", port).await?;
///     let (accepted, _peer) = listener.accept().await?;
///     let (reader, writer) = open_connection_sock(accepted, Default::default())?;
///     client.send_all(b"ping\n").await?;
///     assert_eq!(reader.readline().await.unwrap(), b"ping\n");
///     writer.write(b"pong\n")?;
///     let mut buf = [0; 5];
///     assert_eq!(client.recv(&mut buf).await?, 5);
///     assert_eq!(&buf, b"pong\n");
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `InvalidInput` for a limit of 0 or a `local_addr` (the socket is
/// connected already); `Other` outside a running loop.
pub fn open_connection_sock(
    stream: TcpStream,
    options: ConnectOptions,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_options(&options, "a connected socket")?;
    if options.ssl.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "ssl cannot be used with a connected socket: use StreamWriter::start_tls",
        ));
    }
    let lp = get_running_loop().map_err(io::Error::other)?;
    streams_on(&lp, stream.into_socket(), options.limit, None)
}

/// Connects to the Unix socket at `path`. Mirrors
/// `asyncio.open_unix_connection(path)`.
///
/// # Errors
/// As [`UnixStream::connect`](crate::UnixStream::connect).
pub async fn open_unix_connection(
    path: impl AsRef<Path>,
) -> io::Result<(StreamReader, StreamWriter)> {
    open_unix_connection_with(path, ConnectOptions::default()).await
}

/// [`open_unix_connection`] with asyncio's keyword argument `limit`.
///
/// # Errors
/// As [`UnixStream::connect`](crate::UnixStream::connect);
/// `InvalidInput` for a limit of 0 or a `local_addr` (TCP only).
pub async fn open_unix_connection_with(
    path: impl AsRef<Path>,
    options: ConnectOptions,
) -> io::Result<(StreamReader, StreamWriter)> {
    check_options(&options, "a Unix connection")?;
    let tls = options.client_tls(None)?;
    let stream = crate::UnixStream::connect(path).await?;
    let lp = get_running_loop().map_err(io::Error::other)?;
    let (reader, writer) = streams_on(&lp, stream.into_socket(), options.limit, tls)?;
    writer.transport().tls_handshake().await?;
    Ok((reader, writer))
}

/// The limit is positive, and `local_addr` is not given where it means
/// nothing (`what`: a Unix connection, a socket connected already).
fn check_options(options: &ConnectOptions, what: &str) -> io::Result<()> {
    check_limit(options.limit)?;
    if options.local_addr.is_some() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("local_addr cannot be used with {what}"),
        ));
    }
    Ok(())
}

/// A `client_connected_cb` made into a protocol factory: each connection
/// runs the callback as its own task.
pub(super) fn stream_factory<F, Fut>(
    callback: F,
    limit: usize,
) -> impl Fn() -> StreamProtocol + 'static
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    let callback = Rc::new(callback);
    let on_connect: ClientCallback = Rc::new(move |reader, writer: StreamWriter| {
        let transport = writer.transport.clone();
        let closer = transport.clone();
        let run = callback(reader, writer);
        let task = create_task(async move {
            if let Some(failure) = run.await.failure() {
                client_failed(&closer, failure);
            }
        });
        task.add_done_callback(move |task| {
            if let Ok(Some(err)) = task.exception()
                && !err.is_cancelled()
            {
                client_failed(&transport, err.to_string());
            }
        });
    });
    move || StreamProtocol {
        shared: Shared::new(limit),
        on_connect: Some(on_connect.clone()),
        close_on_eof: false,
    }
}

/// A `client_connected_cb` failed: close its connection, tell the loop.
pub(super) fn client_failed(transport: &Transport, failure: String) {
    transport.close();
    if let Ok(lp) = get_running_loop() {
        lp.call_exception_handler(ExceptionContext {
            message: "Unhandled error in client_connected_cb".into(),
            exception: Some(failure),
        });
    }
}

/// Serves `host:port`, running `client_connected_cb(reader, writer)` as a
/// new task for each connection. Mirrors `asyncio.start_server(
/// client_connected_cb, host, port)`; `port` 0 lets the kernel pick (see
/// [`Server::addresses`]). The callback may return `()` or a `Result`: an
/// error (or a panic) is reported to the loop's exception handler and the
/// connection closed, as asyncio does.
///
/// # Errors
/// As [`create_server`].
pub async fn start_server<F, Fut>(
    client_connected_cb: F,
    host: &str,
    port: u16,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    start_server_with(client_connected_cb, host, port, ServerOptions::default()).await
}

/// [`start_server`] with asyncio's keyword arguments: the readers'
/// `limit`, and `backlog`, `reuse_port`, `start_serving` (all in
/// [`ServerOptions`]).
///
/// # Errors
/// As [`create_server`]; `InvalidInput` for a limit of 0.
pub async fn start_server_with<F, Fut>(
    client_connected_cb: F,
    host: &str,
    port: u16,
    options: ServerOptions,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    check_limit(options.limit)?;
    let factory = stream_factory(client_connected_cb, options.limit);
    create_server(factory, host, port, options).await
}

/// Serves the Unix socket `path` (a stale socket file is replaced; the file
/// is removed on close). Mirrors `asyncio.start_unix_server(
/// client_connected_cb, path)`.
///
/// # Errors
/// As [`create_unix_server`].
pub async fn start_unix_server<F, Fut>(
    client_connected_cb: F,
    path: impl AsRef<Path>,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    start_unix_server_with(client_connected_cb, path, ServerOptions::default()).await
}

/// [`start_unix_server`] with asyncio's keyword arguments (`limit`,
/// `backlog`, `start_serving`, in [`ServerOptions`]).
///
/// # Errors
/// As [`create_unix_server`]; `InvalidInput` for a limit of 0.
pub async fn start_unix_server_with<F, Fut>(
    client_connected_cb: F,
    path: impl AsRef<Path>,
    options: ServerOptions,
) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future + 'static,
    Fut::Output: ClientResult,
{
    check_limit(options.limit)?;
    let factory = stream_factory(client_connected_cb, options.limit);
    create_unix_server(factory, path, options).await
}

pub(super) fn check_limit(limit: usize) -> io::Result<()> {
    if limit == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "limit must be positive",
        ));
    }
    Ok(())
}
