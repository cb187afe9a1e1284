//! The classic echo server of Python's `selectors` docs, on corio's
//! `DefaultSelector`: one thread, no event loop yet, the callback of each fd
//! kept in its key's `data`.
//!
//! ```text
//! cargo run --example selector_echo              # serve, run a demo client, exit
//! cargo run --example selector_echo -- --serve 0 # serve forever on a free port
//! ```
//!
//! Python's version, for comparison:
//!
//! ```python
//! def accept(sock, mask):
//!     conn, addr = sock.accept()
//!     conn.setblocking(False)
//!     sel.register(conn, selectors.EVENT_READ, read)
//!
//! def read(conn, mask):
//!     data = conn.recv(1000)
//!     if data:
//!         conn.send(data)  # Hope it won't block
//!     else:
//!         sel.unregister(conn)
//!         conn.close()
//!
//! while True:
//!     for key, mask in sel.select():
//!         callback = key.data
//!         callback(key.fileobj, mask)
//! ```
//!
//! Unlike Python's, this one does not "hope it won't block": what the
//! socket cannot take now is kept, and the fd is modified to wait for
//! `EVENT_WRITE` until it has been sent; while too much is pending it stops
//! asking for `EVENT_READ` (backpressure); after the peer's EOF it finishes
//! echoing, then closes.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::thread;

use corio::selectors::{DefaultSelector, EVENT_READ, EVENT_WRITE, Events, Selector};

/// What a key's `data` holds: the function to call when its fd is ready.
type Callback = fn(&mut Server, RawFd, Events) -> io::Result<()>;

struct Server {
    sel: DefaultSelector<Callback>,
    listener: TcpListener,
    clients: HashMap<RawFd, Client>,
    accepted: usize,
}

struct Client {
    conn: TcpStream,
    /// Bytes read but not yet echoed.
    pending: Vec<u8>,
    /// The peer sent EOF: echo what is pending, then close.
    eof: bool,
}

/// Stop reading from a client while this much is waiting to be echoed to
/// it, so a peer that sends without reading cannot make us buffer without
/// bound.
const PENDING_LIMIT: usize = 64 * 1024;

/// The listener's callback: accept one connection, watch it for reading.
fn accept(server: &mut Server, _fd: RawFd, _mask: Events) -> io::Result<()> {
    let (conn, addr) = match server.listener.accept() {
        Ok(accepted) => accepted,
        Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e),
    };
    println!("accepted {addr}");
    conn.set_nonblocking(true)?;
    let fd = conn.as_raw_fd();
    server
        .sel
        .register(fd, EVENT_READ, serve_client as Callback)?;
    let client = Client {
        conn,
        pending: Vec::new(),
        eof: false,
    };
    server.clients.insert(fd, client);
    server.accepted += 1;
    Ok(())
}

/// A client's callback: read what arrived, echo what the socket takes.
fn serve_client(server: &mut Server, fd: RawFd, mask: Events) -> io::Result<()> {
    let Some(client) = server.clients.get_mut(&fd) else {
        return Ok(()); // closed by an earlier callback of this round
    };
    if mask.is_readable() {
        let mut buf = [0; 16 * 1024];
        match client.conn.read(&mut buf) {
            Ok(0) => client.eof = true,
            Ok(n) => client.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => return close(server, fd), // reset by the peer
        }
    }
    while !client.pending.is_empty() {
        match client.conn.write(&client.pending) {
            Ok(n) => drop(client.pending.drain(..n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(_) => return close(server, fd),
        }
    }
    if client.eof && client.pending.is_empty() {
        return close(server, fd);
    }
    // Read while there is room, write while there is something to write.
    let mut events = Events::NONE;
    if !client.eof && client.pending.len() < PENDING_LIMIT {
        events |= EVENT_READ;
    }
    if !client.pending.is_empty() {
        events |= EVENT_WRITE;
    }
    if server.sel.get_key(fd)?.events != events {
        server.sel.modify(fd, events, serve_client as Callback)?;
    }
    Ok(())
}

/// Unregister first, then close: the order Python's example uses too.
fn close(server: &mut Server, fd: RawFd) -> io::Result<()> {
    server.sel.unregister(fd)?;
    if let Some(client) = server.clients.remove(&fd) {
        let peer = client.conn.peer_addr();
        println!("closed {}", peer.map_or("?".into(), |a| a.to_string()));
    }
    Ok(())
}

/// Serves until `done` says to stop (checked after every round).
fn serve(server: &mut Server, done: impl Fn(&Server) -> bool) -> io::Result<()> {
    while !done(server) {
        for (key, mask) in server.sel.select(None)? {
            let callback = key.data;
            callback(server, key.fd, mask)?;
        }
    }
    Ok(())
}

/// A blocking client: sends each line, prints what comes back.
fn demo_client(port: u16) -> io::Result<()> {
    let mut conn = TcpStream::connect(("127.0.0.1", port))?;
    let mut replies = BufReader::new(conn.try_clone()?);
    for line in ["hello, selector", "level-triggered", "goodbye"] {
        writeln!(conn, "{line}")?;
        let mut echo = String::new();
        replies.read_line(&mut echo)?;
        print!("client got: {echo}");
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let serve_forever = args.first().map(String::as_str) == Some("--serve");
    let port: u16 = match args.get(1) {
        Some(p) => p
            .parse()
            .map_err(|e| io::Error::new(ErrorKind::InvalidInput, e))?,
        None => 0,
    };

    let listener = TcpListener::bind(("127.0.0.1", port))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    println!("listening on {addr}");

    let mut sel = DefaultSelector::new()?;
    sel.register(listener.as_raw_fd(), EVENT_READ, accept as Callback)?;
    let mut server = Server {
        sel,
        listener,
        clients: HashMap::new(),
        accepted: 0,
    };

    if serve_forever {
        return serve(&mut server, |_| false);
    }
    let client = thread::spawn(move || demo_client(addr.port()));
    serve(&mut server, |s| s.accepted > 0 && s.clients.is_empty())?;
    client.join().expect("client thread")?;
    println!("done");
    Ok(())
}
