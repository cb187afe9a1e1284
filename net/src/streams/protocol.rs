//! The streams' protocol (asyncio's `StreamReaderProtocol`): what the
//! transport calls, feeding the reader and gating the writer; and how a
//! connection (or a child's pipe) becomes a reader and a writer.

use super::*;

/// What a `client_connected_cb` may return: nothing, or a `Result` whose
/// error is reported to the loop's exception handler (and the connection
/// closed), as asyncio does with an exception from the callback.
pub trait ClientResult: 'static {
    /// The error's text, if the callback failed.
    fn failure(self) -> Option<String>;
}

impl ClientResult for () {
    fn failure(self) -> Option<String> {
        None
    }
}

impl<E: std::fmt::Display + 'static> ClientResult for Result<(), E> {
    fn failure(self) -> Option<String> {
        self.err().map(|e| e.to_string())
    }
}

/// The callback a stream server runs on each connection, as a task.
pub(super) type ClientCallback = Rc<dyn Fn(StreamReader, StreamWriter)>;

/// asyncio's `StreamReaderProtocol`: feeds a reader, gates a writer.
pub(super) struct StreamProtocol {
    pub(super) shared: Rc<Shared>,
    /// Servers: run on `connection_made` with a fresh reader and writer.
    pub(super) on_connect: Option<ClientCallback>,
    /// A child's pipe: EOF ends the connection (no half-close to keep).
    pub(super) close_on_eof: bool,
}

impl Protocol for StreamProtocol {
    fn connection_made(&mut self, transport: Transport) {
        *self.shared.transport.borrow_mut() = Some(transport.clone());
        if let Some(callback) = &self.on_connect {
            let reader = StreamReader {
                shared: self.shared.clone(),
                pipe: None,
            };
            let writer = StreamWriter {
                transport,
                shared: self.shared.clone(),
                close_on_drop: true,
                server_side: true,
            };
            callback(reader, writer);
        }
    }

    fn data_received(&mut self, data: &[u8]) {
        self.shared.feed_data(data);
    }

    fn eof_received(&mut self) -> bool {
        self.shared.feed_eof();
        // Keep the transport: the writer may still answer (half-close).
        !self.close_on_eof
    }

    fn connection_lost(&mut self, exc: Option<io::Error>) {
        let shared = &*self.shared;
        match &exc {
            None => shared.feed_eof(),
            Some(err) => {
                *shared.failure.borrow_mut() = Some(Failure::of(err));
                *shared.lost_error.borrow_mut() = Some(Failure::of(err));
                shared.wake_reader();
            }
        }
        shared.lost.set(true);
        shared.transport.borrow_mut().take(); // the transport ↔ reader cycle
        shared.wake_writers();
    }

    fn pause_writing(&mut self) {
        self.shared.writing_paused.set(true);
    }

    fn resume_writing(&mut self) {
        self.shared.writing_paused.set(false);
        self.shared.wake_writers();
    }
}

/// Wraps a connected transport in a reader and a writer.
pub(super) fn streams_on(
    lp: &EventLoop,
    socket: crate::socket::Socket,
    limit: usize,
    tls: Option<crate::tls::TlsStart>,
) -> io::Result<(StreamReader, StreamWriter)> {
    streams_with(lp, socket, limit, false, tls)
}

pub(super) fn streams_with(
    lp: &EventLoop,
    endpoint: impl Into<Endpoint>,
    limit: usize,
    pipe: bool,
    tls: Option<crate::tls::TlsStart>,
) -> io::Result<(StreamReader, StreamWriter)> {
    let reader = StreamReader::new(limit);
    let protocol = Rc::new(RefCell::new(StreamProtocol {
        shared: reader.shared.clone(),
        on_connect: None,
        close_on_eof: pipe,
    }));
    let transport = Transport::start_with(lp, endpoint, protocol, tls)?;
    let writer = StreamWriter {
        transport,
        shared: reader.shared.clone(),
        close_on_drop: true,
        server_side: false,
    };
    Ok((reader, writer))
}

/// The reader of a child's stdout or stderr (the read end of its pipe):
/// the transport closes itself at EOF, when the child closed its end, or
/// when the reader is dropped.
pub(crate) fn child_output(
    lp: &EventLoop,
    pipe: OwnedFd,
    limit: usize,
) -> io::Result<StreamReader> {
    let (mut reader, mut writer) = streams_with(lp, Endpoint::ReadPipe(pipe), limit, true, None)?;
    writer.close_on_drop = false;
    reader.pipe = Some(writer.transport.clone());
    Ok(reader)
}

/// The writer of a child's stdin (the write end of its pipe): closing it
/// (or dropping it) is the child's EOF.
pub(crate) fn child_input(lp: &EventLoop, pipe: OwnedFd) -> io::Result<StreamWriter> {
    Ok(streams_with(lp, Endpoint::WritePipe(pipe), DEFAULT_LIMIT, true, None)?.1)
}
