//! An HTTP/1.1 site on loopback that keeps connections alive and fails on
//! purpose, for the crawler (`examples/crawler.rs`) and its tests
//! (`tests/crawler.rs`): a page can answer 500, reset the connection, stall
//! forever, redirect, or hang up halfway through its body.
//!
//! It is written on corio's raw sockets (`TcpListener::accept`,
//! `TcpStream::recv`/`send_all`), not on `start_server`, for one reason: a
//! reset needs the socket itself (`SO_LINGER` 0, then close), and a
//! `StreamWriter` does not hand its socket out (asyncio's
//! `get_extra_info("socket")` has no corio counterpart yet). `site/mod.rs`
//! is the simpler HTTP/1.0 site on `start_server` the other examples use.
#![allow(dead_code)] // the crawler and its tests use different parts

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;

use corio::net::{TcpListener, TcpStream};
use corio::{Task, create_task};

/// What the site does for one request.
pub enum Reply {
    /// `200 OK` with this HTML body.
    Page(String),
    /// Any other final status (404, 500, 503, ...) with a short text body.
    Status(u16, String),
    /// A redirect (301, 302, ...) to this `Location`.
    Redirect(u16, String),
    /// Read the request, then reset the connection: `SO_LINGER` 0 and
    /// close send an RST, and the client's read fails with
    /// `ConnectionReset`.
    Reset,
    /// Read the request and never answer; the connection ends when the
    /// client gives up and closes it.
    Stall,
    /// Send the head with the full `Content-Length`, then only half of this
    /// body, and hang up: the client sees EOF in the middle of the body.
    Truncate(String),
    /// `200 OK` with this HTML body in chunked transfer coding (7-byte
    /// chunks, one with a chunk extension, and a trailer field), as most
    /// servers send a body whose length they do not know in advance.
    Chunked(String),
    /// Send these bytes as the whole response, whatever they are (a
    /// malformed status line, a head that promises a huge body), and hang
    /// up.
    Raw(String),
}

/// The site: what to do for each path. It may keep state (a page that
/// fails only the first time keeps a count).
pub type Site = Rc<dyn Fn(&str) -> Reply>;

/// How the server treats connections.
#[derive(Clone, Copy, Default)]
pub struct Options {
    /// After this many requests on one connection, close it *without*
    /// saying so (no `Connection: close`), as a server whose keep-alive
    /// limit or idle timeout ran out does: the client finds out when it
    /// reuses the connection. `None`: keep it open while the client does.
    pub max_requests_per_connection: Option<usize>,
}

/// What the server saw, for tests to check against the client's view.
#[derive(Default)]
pub struct Counters {
    /// Connections accepted.
    pub connections: Cell<usize>,
    /// Requests read (whatever the reply).
    pub requests: Cell<usize>,
}

/// A running site; [`close`](Server::close) it when done.
pub struct Server {
    /// The port on 127.0.0.1 it listens on.
    pub port: u16,
    /// Connections and requests so far.
    pub counters: Rc<Counters>,
    /// The accept loop.
    acceptor: Task<()>,
    /// Every connection's task, so that `close` can end the open ones
    /// (asyncio 3.13's `Server.close_clients()`).
    connections: Rc<RefCell<Vec<Task<()>>>>,
}

impl Server {
    /// Stops accepting and ends every open connection. Python 3.13:
    /// `server.close()` then `server.close_clients()`.
    pub fn close(&self) {
        self.acceptor.cancel();
        for conn in self.connections.borrow().iter() {
            conn.cancel();
        }
    }
}

/// Serves `site` on 127.0.0.1, any free port. Python: `asyncio.start_server(
/// cb, "127.0.0.1", 0)`, with the accept loop written out (`loop.sock_accept`
/// in a task, one task per connection, as `start_server` runs inside).
pub async fn serve(site: Site, options: Options) -> io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let counters = Rc::new(Counters::default());
    let connections: Rc<RefCell<Vec<Task<()>>>> = Rc::default();
    let acceptor = create_task({
        let (counters, connections) = (counters.clone(), connections.clone());
        async move {
            while let Ok((stream, _peer)) = listener.accept().await {
                counters.connections.set(counters.connections.get() + 1);
                let conn = serve_connection(stream, site.clone(), options, counters.clone());
                connections.borrow_mut().push(create_task(async move {
                    // A connection that fails (the client reset it) only
                    // ends itself.
                    conn.await.ok();
                }));
            }
        }
    });
    Ok(Server {
        port,
        counters,
        acceptor,
        connections,
    })
}

/// One connection: requests one after another while both sides keep it
/// alive.
async fn serve_connection(
    stream: TcpStream,
    site: Site,
    options: Options,
    counters: Rc<Counters>,
) -> io::Result<()> {
    let mut buffer = Vec::new();
    let mut served = 0;
    while let Some(head) = read_head(&stream, &mut buffer).await? {
        counters.requests.set(counters.requests.get() + 1);
        served += 1;
        let mut words = head.lines().next().unwrap_or_default().split_whitespace();
        let path = words.nth(1).unwrap_or("/").to_string();
        let http11 = words.next() == Some("HTTP/1.1");
        let wants_close = head
            .lines()
            .any(|l| l.eq_ignore_ascii_case("connection: close"));
        let keep_alive = http11 && !wants_close;
        let (status, location, body) = match site(&path) {
            Reply::Page(body) => (200, None, body),
            Reply::Status(status, body) => (status, None, body),
            Reply::Redirect(status, to) => (status, Some(to), String::new()),
            Reply::Reset => return reset(stream),
            Reply::Stall => {
                // Read (and drop) until the client hangs up.
                let mut scrap = [0; 512];
                while stream.recv(&mut scrap).await? > 0 {}
                return Ok(());
            }
            Reply::Chunked(body) => {
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
                     Transfer-Encoding: chunked\r\nConnection: {}\r\n\r\n",
                    if keep_alive { "keep-alive" } else { "close" }
                );
                stream.send_all(head.as_bytes()).await?;
                stream.send_all(&chunked(body.as_bytes())).await?;
                if !keep_alive {
                    return Ok(());
                }
                continue;
            }
            Reply::Raw(bytes) => {
                stream.send_all(bytes.as_bytes()).await?;
                return Ok(()); // dropped: closed
            }
            Reply::Truncate(body) => {
                let head = response_head(200, None, body.len(), false);
                stream.send_all(head.as_bytes()).await?;
                stream.send_all(&body.as_bytes()[..body.len() / 2]).await?;
                return Ok(()); // dropped: closed mid-body
            }
        };
        let head = response_head(status, location.as_deref(), body.len(), keep_alive);
        stream.send_all(head.as_bytes()).await?;
        stream.send_all(body.as_bytes()).await?;
        let limit_reached = options
            .max_requests_per_connection
            .is_some_and(|max| served >= max);
        if !keep_alive || limit_reached {
            return Ok(()); // dropped: closed (silently, when the limit ran out)
        }
    }
    Ok(())
}

/// `body` in chunked transfer coding: 7-byte chunks (the first with a
/// chunk extension), the last chunk, and one trailer field.
fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, chunk) in body.chunks(7).enumerate() {
        let ext = if i == 0 { ";name=value" } else { "" };
        out.extend_from_slice(format!("{:x}{ext}\r\n", chunk.len()).as_bytes());
        out.extend_from_slice(chunk);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    out
}

/// The status line and headers of a response.
fn response_head(status: u16, location: Option<&str>, length: usize, keep_alive: bool) -> String {
    let reason = match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    };
    let content_type = if status == 200 {
        "text/html; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let location = location.map_or(String::new(), |to| format!("Location: {to}\r\n"));
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n{location}\
         Content-Length: {length}\r\nConnection: {connection}\r\n\r\n"
    )
}

/// Reads one request head (through its blank line) into a string; `None`
/// when the client closed the connection between requests.
async fn read_head(stream: &TcpStream, buffer: &mut Vec<u8>) -> io::Result<Option<String>> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head: Vec<u8> = buffer.drain(..end + 4).collect();
            return Ok(Some(String::from_utf8_lossy(&head).into_owned()));
        }
        if buffer.len() > 16 * 1024 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "request head too long",
            ));
        }
        let mut chunk = [0; 4096];
        let n = stream.recv(&mut chunk).await?;
        if n == 0 {
            return if buffer.is_empty() {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// Closes `stream` with an RST instead of a FIN: `SO_LINGER` on, with a
/// linger time of 0.
fn reset(stream: TcpStream) -> io::Result<()> {
    stream.set_linger(Some(std::time::Duration::ZERO))?;
    drop(stream); // the close sends the RST
    Ok(())
}
