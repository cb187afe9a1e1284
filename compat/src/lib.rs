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
//! | `tls` | [`TlsAcceptor`], [`TlsConnector`], [`start_tls`] over rustls (ring provider) | `ssl.SSLContext`, `loop.start_tls` |
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
//! [`HttpServer`]), `tls.rs` (rustls), `sys.rs` (the unsafe steps).
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

#[cfg(feature = "tls")]
mod tls;
#[cfg(feature = "tls")]
pub use tls::{TlsAcceptor, TlsConnector, TlsStream, start_tls};

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
