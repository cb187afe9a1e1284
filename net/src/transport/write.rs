//! The write side of a [`Transport`]: the buffer, the writer callback,
//! the half-close, and the buffer's water marks (asyncio's
//! `_SelectorSocketTransport.write` and `_write_ready`).

use super::*;

impl Transport {
    /// Writes `data`, never blocking: what the socket does not take now is
    /// buffered and sent when it is writable. Python: `transport.write(data)`.
    ///
    /// # Errors
    /// `NotConnected` after [`close`](Self::close) or
    /// [`write_eof`](Self::write_eof), or once the connection is lost;
    /// once it failed, the kind of its error (`ConnectionReset`,
    /// `BrokenPipe` when a child closed its stdin, ...).
    pub fn write(&self, data: &[u8]) -> io::Result<()> {
        let state = self.inner.state.borrow_mut();
        if let Some(kind) = state.failure {
            return Err(io::Error::new(
                kind,
                format!("write after the connection failed ({kind})"),
            ));
        }
        if state.closing || state.eof || state.lost {
            let why = if state.eof { "write_eof" } else { "close" };
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                format!("write after {why}: the transport no longer takes data"),
            ));
        }
        if data.is_empty() {
            return Ok(());
        }
        drop(state);
        if self.has_tls() {
            self.tls_write(data);
        } else {
            self.write_raw(data);
        }
        Ok(())
    }

    /// Sends `data` as it is (ciphertext under TLS), buffering what the
    /// socket does not take now.
    pub(super) fn write_raw(&self, data: &[u8]) {
        let mut state = self.inner.state.borrow_mut();
        if state.lost {
            return;
        }
        let mut rest = data;
        if state.pending() == 0 {
            let Some(endpoint) = &state.endpoint else {
                return;
            };
            match endpoint.write(data) {
                Ok(n) => rest = &data[n..],
                Err(e) if try_again(&e) => {}
                Err(e) => {
                    drop(state);
                    self.fatal_error(e);
                    return;
                }
            }
        }
        if rest.is_empty() {
            return;
        }
        state.buffer.extend_from_slice(rest);
        let start_writer = !state.writing;
        state.writing = true;
        let buffered = state.pending();
        let pause = state.flow.pause_due(buffered);
        let fd = state.fd();
        drop(state);
        if start_writer && let Some(fd) = fd {
            let me = self.clone();
            if let Err(e) = add_writer(self.lp(), fd, move || me.write_ready()) {
                self.fatal_error(e);
            }
        }
        if pause {
            self.tell(|p| p.pause_writing());
        }
    }

    /// Writes each buffer in turn. Python: `transport.writelines(list)`.
    ///
    /// # Errors
    /// As [`write`](Self::write).
    pub fn writelines<'a>(&self, data: impl IntoIterator<Item = &'a [u8]>) -> io::Result<()> {
        data.into_iter().try_for_each(|chunk| self.write(chunk))
    }

    /// The writer callback (asyncio's `_write_ready`).
    pub(super) fn write_ready(&self) {
        let mut state = self.inner.state.borrow_mut();
        let Some(endpoint) = &state.endpoint else {
            return;
        };
        let fd = endpoint.raw();
        let outcome = endpoint.write(&state.buffer[state.sent..]);
        match outcome {
            Err(e) if try_again(&e) => {}
            Err(e) => {
                drop(state);
                self.fatal_error(e);
            }
            Ok(n) => {
                state.sent += n;
                if state.pending() > 0 {
                    // Compact once the sent prefix is most of the buffer.
                    if state.sent > state.buffer.len() / 2 {
                        let sent = state.sent;
                        state.buffer.drain(..sent);
                        state.sent = 0;
                    }
                } else {
                    state.buffer.clear();
                    state.sent = 0;
                    state.writing = false;
                    if let Some(lp) = self.lp() {
                        lp.remove_writer(fd);
                    }
                }
                let buffered = state.pending();
                let resume = state.flow.resume_due(buffered);
                let drained = state.pending() == 0;
                let (closing, eof) = (state.closing, state.eof);
                drop(state);
                if resume {
                    self.tell(|p| p.resume_writing());
                }
                if drained && closing {
                    self.schedule_connection_lost(None);
                } else if drained && eof {
                    self.shutdown_write();
                }
            }
        }
    }

    pub(super) fn shutdown_write(&self) {
        let state = self.inner.state.borrow();
        if let Some(Endpoint::Socket(socket)) = &state.endpoint
            && let Err(e) = socket.shutdown(Shutdown::Write)
        {
            drop(state);
            self.fatal_error(e);
        }
    }

    /// Closes the writing half once the buffer is sent (the peer reads
    /// EOF); reading goes on. Python: `transport.write_eof()`.
    pub fn write_eof(&self) {
        let mut state = self.inner.state.borrow_mut();
        if state.closing || state.eof {
            return;
        }
        state.eof = true;
        drop(state);
        if self.has_tls() {
            // TLS's own end of writing comes first: `close_notify`.
            self.tls_close_notify(false);
        }
        let state = self.inner.state.borrow();
        let drained = state.pending() == 0;
        let pipe = state.endpoint.as_ref().is_some_and(Endpoint::is_pipe);
        drop(state);
        if pipe {
            // A pipe's only EOF is its close (once the buffer is written).
            self.close();
        } else if drained {
            self.shutdown_write();
        }
    }

    /// True for TCP and Unix stream sockets (they half-close) and for the
    /// write end of a pipe (closing it is its EOF); false for the read end
    /// of a pipe. Python: `can_write_eof()`.
    pub fn can_write_eof(&self) -> bool {
        let state = self.inner.state.borrow();
        !matches!(state.endpoint, Some(Endpoint::ReadPipe(_)))
    }

    /// Bytes buffered, not yet sent. Python: `get_write_buffer_size()`.
    pub fn get_write_buffer_size(&self) -> usize {
        self.inner.state.borrow().pending()
    }

    /// Sets the water marks; `low` defaults to `high / 4`. Python:
    /// `set_write_buffer_limits(high, low)`.
    ///
    /// # Errors
    /// `InvalidInput` when `low > high`.
    pub fn set_write_buffer_limits(&self, high: usize, low: Option<usize>) -> io::Result<()> {
        self.inner.state.borrow_mut().flow.set_limits(high, low)
    }

    /// The water marks `(low, high)`. Python: `get_write_buffer_limits()`.
    pub fn get_write_buffer_limits(&self) -> (usize, usize) {
        self.inner.state.borrow().flow.limits()
    }
}
