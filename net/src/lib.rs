//! corio-net: sockets on the loop's selector.
//!
//! Every socket is non-blocking and close-on-exec from birth. An operation
//! first tries its syscall; when it would block, it parks on a future that
//! the loop completes when the selector reports the fd ready (asyncio's
//! `sock_recv` / `sock_sendall` / `sock_connect` / `sock_accept`).
//!
//! Above the sockets, asyncio's callback layer and its streams, built the
//! same way: a [`Transport`] keeps one registration for a connection's life
//! and calls its [`Protocol`]; streams are a protocol like any other (see
//! the walkthrough `docs/06-streams.md`).
//!
//! | Python | corio |
//! |---|---|
//! | `loop.getaddrinfo` | [`getaddrinfo`] (numeric hosts skip the thread pool) |
//! | `loop.sock_connect`, `sock_accept`, `sock_recv`, `sock_sendall` on TCP | [`TcpStream`], [`TcpListener`] |
//! | `sock_sendto`, `sock_recvfrom` on UDP | [`UdpSocket`] |
//! | `AF_UNIX` stream and datagram sockets | [`UnixStream`], [`UnixListener`], [`UnixDatagram`] |
//! | `loop.create_connection`, `create_server`, `Protocol`, `Transport`, `Server` | [`create_connection`], [`create_server`], [`Protocol`], [`Transport`], [`Server`] |
//! | `loop.create_unix_connection`, `create_unix_server` | [`create_unix_connection`], [`create_unix_server`] |
//! | `loop.create_datagram_endpoint`, `DatagramProtocol` | [`create_datagram_endpoint`], [`DatagramProtocol`], [`DatagramTransport`] |
//! | `asyncio.open_connection`, `start_server`, `StreamReader`, `StreamWriter` | [`open_connection`], [`start_server`], [`StreamReader`], [`StreamWriter`] |
//! | `open_unix_connection`, `start_unix_server` | [`open_unix_connection`], [`start_unix_server`] |
//! | `IncompleteReadError`, `LimitOverrunError` | [`StreamError`] |
//!
//! # Layout
//!
//! From the kernel up, each layer using only those below it:
//!
//! ```text
//!  streams/    StreamReader, StreamWriter, open_* / start_*: a protocol
//!              like any other (reader.rs, writer.rs, protocol.rs, open.rs,
//!              shared.rs: the state the three share)
//!  process     subprocesses: pipes as streams, a pidfd on the loop
//!  server      Server, create_server: listeners and their connections;
//!  accept      the accept loop's one policy (AcceptBackoff)
//!  transport/  Transport + Protocol (asyncio's callback layer: the read
//!              side and close in mod.rs, write.rs, endpoint.rs: socket or
//!              pipe, connect.rs: create_connection); datagram: the same
//!  datagram    for UDP and Unix datagrams; flow: the write buffer's water
//!  flow        marks, shared by both; callee, live: how a transport calls
//!              its protocol, and closes at loop close
//!  tcp, udp,   the sockets and their awaitable operations (ready: the
//!  unix        future an operation parks on); poll_io: the poll-level
//!  poll_io     reads and writes other crates' traits are built on
//!  socket      a non-blocking socket fd; resolve: getaddrinfo
//!  sys         every syscall, the only unsafe code
//! ```
#![deny(missing_docs)]
// No `unsafe` outside the syscall layer (`sys`), where every block has
// its `// SAFETY:` comment (DESIGN rule 6).
#![deny(unsafe_code)]

mod accept;
mod callee;
mod datagram;
mod flow;
mod live;
mod poll_io;
mod process;
mod ready;
mod resolve;
mod server;
mod socket;
mod streams;
#[allow(unsafe_code)]
mod sys;
mod tcp;
pub mod tls;
mod transport;
mod udp;
mod unix;
mod wakers;

pub use accept::{ACCEPT_RETRY_DELAY, AcceptAction, AcceptBackoff};
pub use datagram::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
pub use flow::{DEFAULT_HIGH_WATER, DEFAULT_LOW_WATER};
pub use poll_io::{PollSocket, PollState};
pub use process::{
    Process, ProcessOptions, Stdio, create_subprocess_exec, create_subprocess_shell,
};
pub use resolve::getaddrinfo;
pub use server::{Server, ServerOptions, create_server, create_unix_server};
pub use streams::{
    ClientResult, ConnectOptions, DEFAULT_LIMIT, Drain, Lines, StreamError, StreamReader,
    StreamWriter, open_connection, open_connection_sock, open_connection_with,
    open_unix_connection, open_unix_connection_with, start_server, start_server_with,
    start_unix_server, start_unix_server_with,
};
pub use tcp::{DEFAULT_BACKLOG, TcpListener, TcpStream};
pub use transport::{
    Protocol, Transport, create_connection, create_connection_with, create_unix_connection,
    create_unix_connection_with, start_tls,
};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
