//! The crawler's HTTP/1.1 client: URLs, one GET over a stream pair, and a
//! small pool of kept-alive connections per host. What `aiohttp`'s
//! `ClientSession` does for the 500-lines crawler, in a page of code.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio::{Semaphore, StreamReader, StreamWriter, open_connection};

/// The largest body the crawler reads: a `Content-Length` beyond it is an
/// error, not an allocation.
const MAX_BODY: usize = 16 << 20;

/// An `http://host:port/path` URL: all the crawler needs of one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Url {
    /// The host, as written.
    pub host: String,
    /// The port (80 when not written).
    pub port: u16,
    /// The path, starting with `/`, query included, fragment dropped.
    pub path: String,
}

impl Url {
    /// Parses an absolute `http://` URL; `None` for anything else
    /// (`https:`, `mailto:`, ...). The fragment is dropped, the host
    /// lower-cased, and the path's dot segments removed (RFC 3986, 5.2.4).
    /// Python: `urllib.parse.urlparse`.
    pub fn parse(text: &str) -> Option<Url> {
        let (scheme, rest) = text.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") {
            return None;
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        // A user name and password (`user:pw@host`) are not the host.
        let authority = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, "")) => (host, 80),
            Some((host, port)) => (host, port.parse().ok()?),
            None => (authority, 80),
        };
        if host.is_empty() {
            return None;
        }
        let (path, query) = split_query(path);
        let path = if path.is_empty() {
            "/".to_string()
        } else {
            remove_dot_segments(path)
        };
        Some(Url {
            host: host.to_ascii_lowercase(),
            port,
            path: format!("{path}{query}"),
        })
    }

    /// Resolves a link found on this page, as RFC 3986 (5.2) resolves a
    /// reference against a base: an absolute URL, a network-path
    /// reference (`//host/...`), an absolute path, a query alone, or a
    /// path relative to this page's directory; then the dot segments are
    /// removed, so `../` and `./` never make a new name for a page already
    /// seen. Python: `urllib.parse.urljoin(url, href)`.
    pub fn join(&self, href: &str) -> Option<Url> {
        let href = href.trim().split('#').next().unwrap_or_default();
        if href.is_empty() {
            return Some(self.clone());
        }
        if has_scheme(href) {
            return Url::parse(href);
        }
        if let Some(rest) = href.strip_prefix("//") {
            return Url::parse(&format!("http://{rest}"));
        }
        let (base_path, _) = split_query(&self.path);
        let path = if let Some(query) = href.strip_prefix('?') {
            format!("{base_path}?{query}")
        } else {
            let (path, query) = split_query(href);
            let merged = if path.starts_with('/') {
                path.to_string()
            } else {
                let dir = &base_path[..=base_path.rfind('/').unwrap_or(0)];
                format!("{dir}{path}")
            };
            format!("{}{query}", remove_dot_segments(&merged))
        };
        Some(Url {
            path,
            ..self.clone()
        })
    }

    /// `host:port`: the key of the connection pool, and what "same site"
    /// means for the crawl. Python: `urlparse(url).netloc`.
    pub fn origin(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// `path?query` split before the `?` (the query keeps it).
fn split_query(text: &str) -> (&str, &str) {
    text.split_at(text.find('?').unwrap_or(text.len()))
}

/// Whether a reference starts with a scheme (`http:`, `mailto:`, ...):
/// a letter, then letters, digits, `+`, `-` or `.`, then `:`, before any
/// `/`, `?` or `#` (RFC 3986, 3.1).
fn has_scheme(href: &str) -> bool {
    let Some(colon) = href.find(':') else {
        return false;
    };
    let scheme = &href[..colon];
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// RFC 3986's `remove_dot_segments` (5.2.4), step by step as the RFC
/// writes it: `a/b/../c/./d` is `a/c/d`, and `..` above the root stays at
/// the root. Python: the loop at the end of `urllib.parse.urljoin`.
pub fn remove_dot_segments(path: &str) -> String {
    let mut input = path;
    let mut output = String::with_capacity(path.len());
    while !input.is_empty() {
        if let Some(rest) = input
            .strip_prefix("../")
            .or_else(|| input.strip_prefix("./"))
        {
            input = rest; // A: a leading `../` or `./` goes
        } else if input.starts_with("/./") {
            input = &input[2..]; // B: `/./` becomes `/`
        } else if input == "/." {
            input = "/";
        } else if input.starts_with("/../") {
            input = &input[3..]; // C: `/../` becomes `/`, and the last segment goes
            truncate_last_segment(&mut output);
        } else if input == "/.." {
            input = "/";
            truncate_last_segment(&mut output);
        } else if input == "." || input == ".." {
            input = ""; // D
        } else {
            // E: move the first segment (with its leading `/`) to the output.
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            output.push_str(&input[..end]);
            input = &input[end..];
        }
    }
    output
}

/// Removes the last segment of `output` and its preceding `/`, if any.
fn truncate_last_segment(output: &mut String) {
    let cut = output.rfind('/').unwrap_or(0);
    output.truncate(cut);
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}:{}{}", self.host, self.port, self.path)
    }
}

/// A response read in full.
#[derive(Debug)]
pub struct Response {
    /// The status code (200, 301, 404, ...).
    pub status: u16,
    /// The headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes, the chunks of a chunked body
    /// decoded, or everything up to EOF).
    pub body: Vec<u8>,
    /// Whether the connection can carry another request.
    pub keep_alive: bool,
}

impl Response {
    /// The first header called `name` (lower case). Python:
    /// `response.headers.get(name)`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `Content-Type` split into the media type and the charset, as the
    /// 500-lines crawler's `cgi.parse_header` does.
    pub fn content_type(&self) -> (Option<String>, Option<String>) {
        let Some(value) = self.header("content-type") else {
            return (None, None);
        };
        let mut parts = value.split(';').map(str::trim);
        let media = parts.next().map(str::to_ascii_lowercase);
        let charset = parts
            .find_map(|p| p.strip_prefix("charset="))
            .map(|c| c.trim_matches('"').to_ascii_lowercase());
        (media, charset)
    }
}

/// One kept-alive connection: the stream pair `open_connection` gave.
pub struct Connection {
    reader: StreamReader,
    writer: StreamWriter,
}

impl Connection {
    /// Whether the server closed this idle connection already, as far as
    /// the loop has seen (its FIN or RST was read while the connection sat
    /// in the pool). Python: `writer.is_closing() or reader.at_eof()`.
    fn is_stale(&self) -> bool {
        self.reader.at_eof() || self.reader.exception().is_some() || self.writer.is_closing()
    }

    /// Sends `GET url.path` and reads the whole response.
    ///
    /// # Errors
    /// An [`HttpError`] that says whether any byte of the response came
    /// (only then was the request surely seen by the server).
    async fn get(&self, url: &Url) -> Result<Response, HttpError> {
        let before = |e: io::Error| HttpError {
            error: e,
            response_started: false,
        };
        let request = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: corio-crawler\r\n\r\n",
            url.path,
            url.origin()
        );
        self.writer.write(request.as_bytes()).map_err(before)?;
        self.writer.drain().await.map_err(before)?;
        let status_line = self.reader.readline().await.map_err(|e| before(e.into()))?;
        if status_line.is_empty() {
            return Err(before(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without answering",
            )));
        }
        self.read_rest(&status_line)
            .await
            .map_err(|error| HttpError {
                error,
                response_started: true,
            })
    }

    /// The status line's code, the headers, and the body.
    async fn read_rest(&self, status_line: &[u8]) -> io::Result<Response> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let line = String::from_utf8_lossy(status_line);
        let mut words = line.split_whitespace();
        let version = words.next().unwrap_or_default().to_string();
        let status = words
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid("malformed status line"))?;
        let mut headers = Vec::new();
        while let Some(line) = self.reader.next_line().await? {
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| invalid("bad header"))?;
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
            keep_alive: false,
        };
        let connection = response.header("connection").map(str::to_ascii_lowercase);
        response.keep_alive = match version.as_str() {
            "HTTP/1.1" => connection.as_deref() != Some("close"),
            _ => connection.as_deref() == Some("keep-alive"),
        };
        let chunked = response.header("transfer-encoding").map(|te| {
            // The last coding says how the body ends (RFC 9112, 6.3).
            let last = te.rsplit(',').next().unwrap_or_default();
            last.trim().eq_ignore_ascii_case("chunked")
        });
        response.body = match (chunked, response.header("content-length")) {
            (Some(true), _) => self.read_chunked().await?,
            // Another coding last (gzip alone): the body ends at EOF.
            (Some(false), _) => {
                response.keep_alive = false;
                self.read_to_eof().await?
            }
            (None, Some(n)) => {
                let n: usize = n.parse().map_err(|_| invalid("bad Content-Length"))?;
                if n > MAX_BODY {
                    return Err(over_limit());
                }
                self.reader.readexactly(n).await?
            }
            (None, None) => {
                // The body ends at EOF: the connection cannot be reused.
                response.keep_alive = false;
                self.read_to_eof().await?
            }
        };
        Ok(response)
    }

    /// A body up to EOF, at most [`MAX_BODY`] bytes.
    async fn read_to_eof(&self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let chunk = self.reader.read(64 * 1024).await?;
            if chunk.is_empty() {
                return Ok(body);
            }
            if body.len() + chunk.len() > MAX_BODY {
                return Err(over_limit());
            }
            body.extend_from_slice(&chunk);
        }
    }

    /// A body in chunked transfer coding (RFC 9112, 7.1): chunks of `size
    /// (hex) [; extensions] CRLF data CRLF`, a last chunk of size 0, then
    /// trailer lines up to a blank line. Decoded, at most [`MAX_BODY`]
    /// bytes; the connection stays usable after it.
    async fn read_chunked(&self) -> io::Result<Vec<u8>> {
        let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        let mut body = Vec::new();
        loop {
            let line = self.reader.readline().await?;
            if line.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the connection closed in a chunked body",
                ));
            }
            let line = String::from_utf8_lossy(&line);
            let size = line.split(';').next().unwrap_or_default().trim();
            let size = usize::from_str_radix(size, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                break;
            }
            if size > MAX_BODY - body.len() {
                return Err(over_limit());
            }
            body.extend_from_slice(&self.reader.readexactly(size).await?);
            if self.reader.readexactly(2).await? != b"\r\n" {
                return Err(invalid("a chunk not followed by CRLF"));
            }
        }
        // Trailer fields, if any, up to the blank line.
        while let Some(line) = self.reader.next_line().await? {
            if line == b"\r\n" || line == b"\n" {
                break;
            }
        }
        Ok(body)
    }

    /// Closes the connection (FIN), without waiting.
    fn close(&self) {
        self.writer.close();
    }
}

/// The error of a body past [`MAX_BODY`]: `InvalidData`, which the crawler
/// does not retry (the same page would be as large the next time).
fn over_limit() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        "body over the crawler's 16 MiB limit",
    )
}

/// A failed GET, and whether the server had started answering.
#[derive(Debug)]
pub struct HttpError {
    /// What went wrong.
    pub error: io::Error,
    /// True once a byte of the status line came; a request that failed
    /// before that on a *reused* connection is retried on a fresh one.
    pub response_started: bool,
}

/// What the pool did, for the report and the tests.
#[derive(Default, Debug)]
pub struct PoolStats {
    /// Connections opened.
    pub opened: Cell<usize>,
    /// Requests sent on a connection that had carried one before.
    pub reused: Cell<usize>,
    /// Pooled connections found closed by the server (before use, or by
    /// the request failing before any answer) and replaced.
    pub stale: Cell<usize>,
    /// Connections in use right now.
    pub in_use: Cell<usize>,
    /// The most connections in use at once.
    pub most_in_use: Cell<usize>,
}

/// At most `per_host` connections to each host at once, the idle ones
/// kept for reuse (HTTP/1.1 keep-alive). Python: aiohttp's
/// `TCPConnector(limit_per_host=...)`.
pub struct Pool {
    /// The most connections open to one host at once.
    per_host: usize,
    /// The permits: one `Semaphore(per_host)` per host, created on first
    /// use.
    limits: RefCell<HashMap<String, Rc<Semaphore>>>,
    /// Idle connections per host, the most recently used last.
    idle: RefCell<HashMap<String, Vec<Connection>>>,
    /// What the pool did.
    pub stats: PoolStats,
}

impl Pool {
    /// A pool of at most `per_host` connections per host. Python:
    /// `aiohttp.ClientSession(connector=TCPConnector(limit_per_host=per_host))`.
    pub fn new(per_host: usize) -> Pool {
        Pool {
            per_host,
            limits: RefCell::default(),
            idle: RefCell::default(),
            stats: PoolStats::default(),
        }
    }

    /// GETs `url` on a pooled connection (or a new one), within `limit`;
    /// waiting for a free connection does not count against `limit`, so a
    /// page that stalls cannot make the pages queued behind it time out.
    /// The asyncio shape: `async with sem: await asyncio.wait_for(...)`.
    ///
    /// # Errors
    /// `TimedOut` after `limit`; a connection error; `UnexpectedEof` for a
    /// server that hung up before or in the middle of its answer;
    /// `InvalidData` for a malformed response.
    pub async fn get(&self, url: &Url, limit: Duration) -> io::Result<Response> {
        let semaphore = self.semaphore(&url.origin());
        // The permit is given back when `_permit` is dropped, on every
        // path: `async with sem:`.
        let _permit = semaphore.acquire().await;
        let _in_use = InUse::new(&self.stats);
        match corio::timeout(limit, self.get_on_some_connection(url)).await {
            Ok(result) => result,
            Err(_elapsed) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no answer within {limit:?}"),
            )),
        }
    }

    /// The permit semaphore of `origin`.
    fn semaphore(&self, origin: &str) -> Rc<Semaphore> {
        let mut limits = self.limits.borrow_mut();
        let sem = limits
            .entry(origin.to_string())
            .or_insert_with(|| Rc::new(Semaphore::new(self.per_host)));
        sem.clone()
    }

    /// Tries idle connections (newest first) until one answers or none is
    /// left, then a new one. A pooled connection the server closed while
    /// it was idle fails before any answer: that is no fault of the page,
    /// so the request goes to the next connection.
    async fn get_on_some_connection(&self, url: &Url) -> io::Result<Response> {
        let origin = url.origin();
        loop {
            let (conn, reused) = match self.take_idle(&origin) {
                Some(conn) => (conn, true),
                None => {
                    let (reader, writer) = open_connection(&url.host, url.port).await?;
                    self.stats.opened.set(self.stats.opened.get() + 1);
                    (Connection { reader, writer }, false)
                }
            };
            if reused {
                self.stats.reused.set(self.stats.reused.get() + 1);
            }
            // If this future is dropped (timed out) while `conn` is in use,
            // `conn` is dropped with it, never pooled: its transport closes.
            match conn.get(url).await {
                Ok(response) => {
                    if response.keep_alive {
                        self.idle.borrow_mut().entry(origin).or_default().push(conn);
                    } else {
                        conn.close();
                    }
                    return Ok(response);
                }
                Err(failed) => {
                    conn.close();
                    if reused && !failed.response_started {
                        self.stats.reused.set(self.stats.reused.get() - 1);
                        self.stats.stale.set(self.stats.stale.get() + 1);
                        continue;
                    }
                    return Err(failed.error);
                }
            }
        }
    }

    /// The newest idle connection to `origin` that still looks open; the
    /// ones the server visibly closed are dropped on the way.
    fn take_idle(&self, origin: &str) -> Option<Connection> {
        let mut idle = self.idle.borrow_mut();
        let conns = idle.get_mut(origin)?;
        while let Some(conn) = conns.pop() {
            if !conn.is_stale() {
                return Some(conn);
            }
            conn.close();
            self.stats.stale.set(self.stats.stale.get() + 1);
        }
        None
    }

    /// Closes every idle connection. Python: `await session.close()`.
    pub fn close(&self) {
        for conn in self.idle.borrow_mut().drain().flat_map(|(_, conns)| conns) {
            conn.close();
        }
    }
}

/// Counts a connection in use while alive (a guard, so that a timed-out
/// or cancelled GET is uncounted too).
struct InUse<'a>(&'a PoolStats);

impl<'a> InUse<'a> {
    fn new(stats: &'a PoolStats) -> InUse<'a> {
        stats.in_use.set(stats.in_use.get() + 1);
        stats
            .most_in_use
            .set(stats.most_in_use.get().max(stats.in_use.get()));
        InUse(stats)
    }
}

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        self.0.in_use.set(self.0.in_use.get() - 1);
    }
}
