//! corio-compat: the Rust async ecosystem on corio's loop.
//!
//! Runtime-agnostic crates take their I/O, executor and timer as traits.
//! This crate implements those traits on corio's reactor and executor, each
//! adapter behind a cargo feature so the core crates keep their three
//! dependencies:
//!
//! | feature | what | Python analogue |
//! |---|---|---|
//! | `futures-io` | [`Io`] implements `futures_io::AsyncRead` / `AsyncWrite` for [`TcpStream`](corio_net::TcpStream) and [`UnixStream`](corio_net::UnixStream) (and [`BufIo`] `AsyncBufRead`) | a socket driven by `add_reader` / `add_writer` |
//! | `futures-io` | [`StreamPair`]: `open_connection`'s `(reader, writer)` as `AsyncRead` + `AsyncBufRead` + `AsyncWrite` | `reader.read(n)`, `writer.write` + `drain()` |
//! | `hyper` | [`Io`] implements `hyper::rt::Read` / `Write`; [`LocalExec`] is a `hyper::rt::Executor` for `!Send` futures, [`CorioTimer`] its `rt::Timer`; [`serve`] runs an HTTP/1.1 + HTTP/2 server with graceful [`HttpServer::close`] | `loop.create_server` + a protocol |
//! | `tokio-io` | [`Io`] and [`StreamPair`] implement `tokio::io::AsyncRead` / `AsyncWrite` (and `AsyncBufRead` for the pair); [`TokioCompat`] does it for any `futures-io` stream (a [`TlsStream`]). The `tokio` crate comes without any runtime feature | a socket driven by `add_reader` / `add_writer` |
//! | `axum` | [`serve_tower`] serves an `axum::Router` (any tower `Service`) on [`HttpServer`], with the peer as [`ConnectInfo`]; [`OnLoop`] / [`on_loop`] let axum's `Send` handlers and state hold corio's `!Send` futures and `Rc`s | aiohttp's `web.AppRunner` + `TCPSite` |
//! | `websocket` | WebSockets with [`async_tungstenite`] over [`Io`], [`StreamPair`] or a [`TlsStream`] (their `futures-io` impls are all it needs) | the `websockets` package |
//! | `postgres` | [`postgres::connect`] runs tokio-postgres over a corio TCP or Unix socket, its connection a corio task with `NOTIFY`s as a stream; [`postgres::Canceller`] cancels a dropped query; [`postgres::Pool`] on corio's `Semaphore` and `Queue` | asyncpg |
//! | `tls` | [`ssl::ClientContext`], [`ssl::ServerContext`]: rustls as the `ssl=` of corio-net's streams, servers, protocols and `start_tls` (the TLS layer in the transport) | `ssl.SSLContext` |
//! | `tls` | [`TlsAcceptor`], [`TlsConnector`], [`start_tls`]: TLS over a bare socket at the poll level (futures-rustls) | `ssl.SSLSocket` |
//!
//! Everything runs on the running loop's thread: tasks are `!Send` and so
//! may the futures hyper hands to [`LocalExec`] be.
//!
//! # Layout
//!
//! This crate only implements other crates' traits on corio's types; the
//! mechanisms are corio-net's (the poll-level I/O of [`PollSocket`], the
//! accept loop's `AcceptBackoff`, the streams):
//! `io.rs` ([`Io`], [`BufIo`]: futures-io and hyper's I/O traits over a
//! [`PollSocket`]), `pair.rs` ([`StreamPair`]) and `read_buffer.rs` (the
//! read-ahead both buffered kinds share), `http.rs` (hyper's executor and
//! its `Read`/`Write`), `timer.rs` ([`CorioTimer`]), `server.rs` ([`serve`],
//! [`HttpServer`]), `ssl.rs` (rustls as the transport's TLS layer), `tls.rs`
//! (futures-rustls at the poll level), `tokio_io.rs` (tokio's I/O traits,
//! [`TokioCompat`]), `router.rs` ([`serve_tower`]: a tower service on
//! [`HttpServer`], [`ConnectInfo`]), `on_loop.rs` ([`OnLoop`]: `!Send`
//! values for axum's `Send` bounds), `postgres.rs` (tokio-postgres on corio
//! sockets, its pool), `sys.rs` (the unsafe steps).
#![deny(missing_docs)]
// No `unsafe` outside the syscall layer (`sys`), where every block has
// its `// SAFETY:` comment (DESIGN rule 6).
#![deny(unsafe_code)]

mod io;
#[cfg(feature = "futures-io")]
pub use io::BufIo;

#[cfg(feature = "futures-io")]
mod pair;
#[cfg(feature = "futures-io")]
mod read_buffer;
pub use io::{Io, PollSocket};
#[cfg(feature = "futures-io")]
pub use pair::StreamPair;

#[cfg(any(feature = "hyper", feature = "tokio-io"))]
#[allow(unsafe_code)]
mod sys;

#[cfg(feature = "tokio-io")]
mod tokio_io;
#[cfg(feature = "tokio-io")]
pub use tokio_io::TokioCompat;

#[cfg(feature = "hyper")]
mod http;
#[cfg(feature = "hyper")]
pub use http::{FuturesIo, LocalExec};
#[cfg(feature = "hyper")]
mod server;
#[cfg(feature = "hyper")]
pub use server::{HttpServer, UPGRADE_TIMEOUT, serve, serve_with};

#[cfg(feature = "hyper")]
mod timer;
#[cfg(feature = "hyper")]
pub use timer::{CorioSleep, CorioTimer};

#[cfg(feature = "axum")]
mod router;
#[cfg(feature = "axum")]
pub use router::{ConnectInfo, serve_tower};
#[cfg(feature = "axum")]
mod on_loop;
#[cfg(feature = "axum")]
pub use on_loop::{OnLoop, on_loop};

#[cfg(feature = "postgres")]
pub mod postgres;

#[cfg(feature = "tls")]
pub mod ssl;
#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
pub use tls::{TlsAcceptor, TlsConnector, TlsStream, start_tls};

/// async-tungstenite (WebSockets over any `futures-io` stream), re-exported
/// so users name the same version: a corio stream ([`Io`], [`StreamPair`],
/// a [`TlsStream`]) is all it needs, no adapter. Python: the `websockets`
/// package (`websockets.serve`, `websockets.connect`).
///
/// ```
/// use corio_compat::async_tungstenite::{accept_async, client_async, tungstenite::Message};
/// use corio_compat::Io;
/// use corio_net::{TcpListener, TcpStream};
/// use corio_compat::futures_util::{SinkExt, StreamExt};
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await?;
///     let port = listener.local_addr()?.port();
///     let server = corio_executor::create_task(async move {
///         let (stream, _) = listener.accept().await?;
///         let mut ws = accept_async(Io::new(stream)).await.map_err(std::io::Error::other)?;
///         while let Some(Ok(msg)) = ws.next().await {
///             if msg.is_text() {
///                 ws.send(msg).await.map_err(std::io::Error::other)?;
///             }
///         }
///         Ok::<(), std::io::Error>(())
///     });
///     let stream = Io::new(TcpStream::connect("127.0.0.1", port).await?);
///     let url = format!("ws://127.0.0.1:{port}/");
///     let (mut ws, _) = client_async(url, stream).await.map_err(std::io::Error::other)?;
///     ws.send(Message::text("hello")).await.map_err(std::io::Error::other)?;
///     assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("hello"));
///     ws.close(None).await.map_err(std::io::Error::other)?;
///     server.await.unwrap()?;
///     Ok::<(), std::io::Error>(())
/// })??;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[cfg(feature = "websocket")]
pub use async_tungstenite;
/// axum (without its tokio runtime), re-exported so users name the same
/// version.
#[cfg(feature = "axum")]
pub use axum;
/// `bytes`, re-exported (hyper's body chunks).
#[cfg(feature = "hyper")]
pub use bytes;
/// The `futures-io` crate, re-exported so users name the same version.
#[cfg(feature = "futures-io")]
pub use futures_io;
/// `futures-rustls` (and through it `rustls`), re-exported.
#[cfg(feature = "tls")]
pub use futures_rustls;
/// rustls, re-exported (`ServerConfig`, `ClientConfig`, `RootCertStore`).
#[cfg(feature = "tls")]
pub use futures_rustls::rustls;
/// `futures-util` (`StreamExt`, `SinkExt`: a WebSocket's messages, a
/// PostgreSQL connection's notifications), re-exported.
#[cfg(any(feature = "websocket", feature = "postgres"))]
pub use futures_util;
/// `http-body-util`, re-exported (`Full`, `BodyExt::collect`).
#[cfg(feature = "hyper")]
pub use http_body_util;
/// hyper 1.x, re-exported so users name the same version.
#[cfg(feature = "hyper")]
pub use hyper;
/// The `tokio` crate (its I/O traits only, no runtime), re-exported so
/// users name the same version.
#[cfg(feature = "tokio-io")]
pub use tokio;
/// tokio-postgres (without its `runtime` feature), re-exported so users
/// name the same version: `Client`, `Config`, `Row`, `Notification`.
#[cfg(feature = "postgres")]
pub use tokio_postgres;
