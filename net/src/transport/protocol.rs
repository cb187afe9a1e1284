//! [`Protocol`]: the callbacks of a stream connection (asyncio's
//! `asyncio.Protocol`).

use super::*;

/// The callbacks of a stream connection. Mirrors `asyncio.Protocol`; every
/// method has asyncio's default (do nothing; `eof_received` closes).
pub trait Protocol: 'static {
    /// The connection is up; keep `transport` to write. Python:
    /// `connection_made(transport)`.
    fn connection_made(&mut self, transport: Transport) {
        drop(transport);
    }

    /// Bytes arrived. Python: `data_received(data)`.
    fn data_received(&mut self, data: &[u8]) {
        let _ = data;
    }

    /// The peer closed its writing half. Return true to keep the transport
    /// open (to keep writing), false to close it. Python: `eof_received()`.
    fn eof_received(&mut self) -> bool {
        false
    }

    /// The connection is gone: `None` after a clean close or EOF, the error
    /// otherwise. Called exactly once. Python: `connection_lost(exc)`.
    fn connection_lost(&mut self, exc: Option<io::Error>) {
        drop(exc);
    }

    /// The write buffer went over the high-water mark. Python:
    /// `pause_writing()`.
    fn pause_writing(&mut self) {}

    /// The write buffer drained to the low-water mark. Python:
    /// `resume_writing()`.
    fn resume_writing(&mut self) {}
}
