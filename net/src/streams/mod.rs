//! Streams: asyncio's `StreamReader`, `StreamWriter`, `open_connection` and
//! `start_server`, built on the protocol layer exactly as asyncio's are.
//!
//! A [`StreamReaderProtocol`](self) sits on a [`Transport`]: `data_received`
//! appends to the reader's buffer and wakes the one task waiting to read;
//! `pause_writing` / `resume_writing` gate [`StreamWriter::drain`]. The
//! reader's methods consume the buffer only when they succeed, so a read
//! that is cancelled (its future dropped) loses no byte.
//!
//! Flow control both ways: the reader pauses the transport's reading when
//! its buffer passes `2 * limit` and resumes it at `limit`; the writer's
//! `drain` waits while the transport's write buffer is over its high-water
//! mark (64 KiB), until it is back to the low-water mark (16 KiB).

mod open;
mod protocol;
mod reader;
mod shared;
mod writer;

use std::cell::{Cell, RefCell};
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use corio_executor::{EventLoop, ExceptionContext, create_task, get_running_loop};

use crate::server::{Server, ServerOptions, create_server, create_unix_server};
use crate::tcp::TcpStream;
use crate::tls::{SSL_HANDSHAKE_TIMEOUT, SSL_SHUTDOWN_TIMEOUT, SslContext, TlsStart};
use crate::transport::{Endpoint, Protocol, Transport};
use crate::wakers::{WaitEntry, WakerList};
use std::time::Duration;

pub use open::{
    ConnectOptions, open_connection, open_connection_sock, open_connection_with,
    open_unix_connection, open_unix_connection_with, start_server, start_server_with,
    start_unix_server, start_unix_server_with,
};
pub use protocol::ClientResult;
use protocol::*;
pub(crate) use protocol::{child_input, child_output};
use reader::find;
pub use reader::{Lines, StreamReader};
use shared::*;
pub use writer::{Drain, StreamWriter};

/// asyncio's `_DEFAULT_LIMIT`: 64 KiB.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// What a stream read can fail with.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// EOF came first. `partial` holds the bytes read (they are consumed);
    /// `expected` is the count asked for, `None` when looking for a
    /// separator. Python: `asyncio.IncompleteReadError`.
    #[error("{} bytes read on a total of {} expected bytes", partial.len(), expected.map_or("undefined".to_string(), |n| n.to_string()))]
    IncompleteRead {
        /// The bytes read before EOF.
        partial: Vec<u8>,
        /// How many bytes were asked for.
        expected: Option<usize>,
    },
    /// The separator was not found within the limit. Nothing is consumed:
    /// `consumed` bytes are in the buffer, which stays intact. Python:
    /// `asyncio.LimitOverrunError`.
    #[error("{message}")]
    LimitOverrun {
        /// asyncio's message for the case.
        message: &'static str,
        /// How far the buffer was searched.
        consumed: usize,
    },
    /// `readline` met a line over the limit; the line is dropped from the
    /// buffer (through its newline, if it came). Python: the `ValueError`
    /// `readline` raises.
    #[error("{0}")]
    LineTooLong(&'static str),
    /// The connection failed, or the call was invalid (`InvalidInput`: an
    /// empty separator; `ResourceBusy`: another task is already reading).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl From<StreamError> for io::Error {
    fn from(err: StreamError) -> io::Error {
        match err {
            StreamError::Io(e) => e,
            StreamError::IncompleteRead { .. } => {
                io::Error::new(io::ErrorKind::UnexpectedEof, err.to_string())
            }
            _ => io::Error::new(io::ErrorKind::InvalidData, err.to_string()),
        }
    }
}

/// A connection error kept to be reported more than once (`io::Error` is
/// not `Clone`).
#[derive(Clone)]
struct Failure(io::ErrorKind, String);

impl Failure {
    fn of(err: &io::Error) -> Failure {
        Failure(err.kind(), err.to_string())
    }

    fn error(&self) -> io::Error {
        io::Error::new(self.0, self.1.clone())
    }
}
