//! PostgreSQL on corio: tokio-postgres (without its `runtime` feature,
//! so without tokio's reactor and timer) over a corio TCP or Unix socket.
//!
//! tokio-postgres splits a connection in two: a [`Client`] that sends
//! queries, and a connection future that does the socket I/O and must be
//! polled by someone. [`connect`] opens the socket with corio, hands it
//! to `Config::connect_raw` through the `tokio-io` impls of [`Io`], and
//! runs the connection future as a corio task, which also turns the
//! server's `NOTIFY` messages into a stream
//! ([`Connection::notifications`]). [`Canceller`] sends the protocol's
//! cancel request on a socket of its own, and [`Pool`] keeps a few
//! connections on corio's `Semaphore` and `Queue`.
//!
//! asyncpg is the Python counterpart: `asyncpg.connect`, `add_listener`,
//! `asyncpg.create_pool`.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;
use std::task::Poll;

use corio_executor::{Task, create_task};
use corio_net::{TcpStream, UnixStream};
use corio_sync::{Queue, Semaphore};
use futures_util::Stream;
use tokio_postgres::config::Host;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, CancelToken, Client, Config, NoTls, Notification};

use crate::io::{Io, PollSocket};

/// What [`connect`], [`Canceller`] and [`Pool`] fail with.
///
/// Python: asyncpg's `PostgresError` family and the `OSError` of a
/// connect; `PoolClosed` is asyncpg's `InterfaceError("pool is closed")`.
#[derive(Debug)]
pub enum Error {
    /// The socket could not be opened (no server there, a bad path).
    Connect(io::Error),
    /// The server or the protocol said no: authentication, a query's
    /// error, the connection lost mid-query (`is_closed()` on it).
    Postgres(tokio_postgres::Error),
    /// The configuration names no host.
    NoHost,
    /// [`Pool::get`] after [`Pool::close`].
    PoolClosed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Connect(e) => write!(f, "could not connect to PostgreSQL: {e}"),
            Error::Postgres(e) => write!(f, "{e}"),
            Error::NoHost => f.write_str("the PostgreSQL configuration names no host"),
            Error::PoolClosed => f.write_str("the pool is closed"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Connect(e) => Some(e),
            Error::Postgres(e) => Some(e),
            Error::NoHost | Error::PoolClosed => None,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        Error::Postgres(e)
    }
}

/// Where the server listens: a TCP host and port, or a Unix socket.
#[derive(Debug, Clone)]
enum Target {
    Tcp(String, u16),
    Unix(PathBuf),
}

impl Target {
    /// The configuration's hosts in order, each with its port (libpq's
    /// rules: one port for all, or one per host; 5432 by default).
    fn all(config: &Config) -> Vec<Target> {
        let ports = config.get_ports();
        config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                match host {
                    Host::Tcp(name) => Target::Tcp(name.clone(), port),
                    Host::Unix(dir) => Target::Unix(dir.join(format!(".s.PGSQL.{port}"))),
                }
            })
            .collect()
    }
}

/// The driver of one connection: a corio task polling tokio-postgres's
/// connection future, and the notifications it received.
///
/// Mirrors the half of an asyncpg `Connection` that reads the socket.
/// Dropping it detaches the task, which runs until the [`Client`] is
/// dropped (the connection then says goodbye and ends) or the server
/// goes away.
#[derive(Debug)]
pub struct Connection {
    task: Task<Result<(), tokio_postgres::Error>>,
    notifications: Rc<Queue<Notification>>,
    canceller: Canceller,
}

impl Connection {
    /// The notifications of the channels the client `LISTEN`s to, in the
    /// order the server sent them, as a stream that ends when the
    /// connection does. Python: asyncpg's `add_listener(channel,
    /// callback)`; here a stream to iterate (`while let Some(n) =
    /// stream.next().await`). Notifications not read are kept (no
    /// bound, as the server does not wait either). Take one stream per
    /// connection: two would share the notifications between them.
    pub fn notifications(&self) -> impl Stream<Item = Notification> + 'static {
        futures_util::stream::unfold(self.notifications.clone(), |queue| async move {
            let next = queue.get().await.ok()?;
            Some((next, queue))
        })
    }

    /// A handle that cancels the query running on this connection.
    pub fn canceller(&self) -> Canceller {
        self.canceller.clone()
    }

    /// Whether the connection has ended. Python: `conn.is_closed()`.
    pub fn is_closed(&self) -> bool {
        self.task.done()
    }

    /// Waits for the connection to end: `Ok` after the client was
    /// dropped, the server's or the socket's error otherwise. Python:
    /// awaiting `conn.close()`.
    ///
    /// # Errors
    /// [`Error::Postgres`]: the connection failed (e.g. the server went
    /// away).
    pub async fn wait_closed(self) -> Result<(), Error> {
        match self.task.await {
            Ok(result) => result.map_err(Error::Postgres),
            // The task was cancelled: the connection was dropped with it.
            Err(_) => Ok(()),
        }
    }
}

/// Opens a connection as `config` says (its first host that answers; a
/// `host=/dir` is the Unix socket `/dir/.s.PGSQL.PORT`), with no TLS.
///
/// Mirrors `asyncpg.connect(dsn)`. The [`Client`] is tokio-postgres's own
/// (`query`, `prepare`, `transaction`, `batch_execute`...); the
/// [`Connection`] is the corio task that does its I/O. Must be called
/// inside a corio loop.
///
/// # Examples
///
/// ```no_run
/// use corio_compat::postgres::connect;
/// corio_executor::run(async {
///     let config = "host=127.0.0.1 user=postgres".parse().unwrap();
///     let (client, _connection) = connect(&config).await.unwrap();
///     let row = client.query_one("SELECT 1 + 1", &[]).await.unwrap();
///     assert_eq!(row.get::<_, i32>(0), 2);
/// })
/// .unwrap();
/// ```
///
/// # Errors
/// - [`Error::NoHost`]: `config` names no host;
/// - [`Error::Connect`]: no host could be reached (the last one's error);
/// - [`Error::Postgres`]: the server refused the startup (authentication,
///   an unknown database).
pub async fn connect(config: &Config) -> Result<(Client, Connection), Error> {
    let mut last = Error::NoHost;
    for target in Target::all(config) {
        let attempt = match &target {
            Target::Tcp(host, port) => match TcpStream::connect(host, *port).await {
                Ok(stream) => start(config, stream, target).await,
                Err(e) => Err(Error::Connect(e)),
            },
            Target::Unix(path) => match UnixStream::connect(path).await {
                Ok(stream) => start(config, stream, target).await,
                Err(e) => Err(Error::Connect(e)),
            },
        };
        match attempt {
            Err(Error::Connect(e)) => last = Error::Connect(e),
            other => return other,
        }
    }
    Err(last)
}

/// The startup on an open socket, then the connection's task.
async fn start<S: PollSocket + 'static>(
    config: &Config,
    stream: S,
    target: Target,
) -> Result<(Client, Connection), Error> {
    let (client, connection) = config.connect_raw(Io::new(stream), NoTls).await?;
    let notifications = Rc::new(Queue::new(0));
    let task = create_task(drive(connection, notifications.clone()));
    let canceller = Canceller {
        token: client.cancel_token(),
        target,
    };
    Ok((
        client,
        Connection {
            task,
            notifications,
            canceller,
        },
    ))
}

/// Polls the connection until it ends, queueing its notifications; the
/// queue is shut down at the end, so the stream of them ends too.
async fn drive<S: PollSocket>(
    mut connection: tokio_postgres::Connection<Io<S>, NoTlsStream>,
    notifications: Rc<Queue<Notification>>,
) -> Result<(), tokio_postgres::Error> {
    /// Shuts the queue down however the task ends (cancelled too).
    struct Ending(Rc<Queue<Notification>>);
    impl Drop for Ending {
        fn drop(&mut self) {
            self.0.shutdown(false);
        }
    }
    let _ending = Ending(notifications.clone());
    std::future::poll_fn(|cx| {
        loop {
            match connection.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notification(n)))) => {
                    // Unbounded and not shut down while this task runs.
                    let _ = notifications.put_nowait(n);
                }
                // Notices (warnings the server sends) are not errors.
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}

/// Cancels the query a connection is running, from outside it: the
/// protocol's cancel request, on a socket of its own.
///
/// Mirrors what asyncpg does when a query's task is cancelled (and
/// psycopg's `conn.cancel()`); [`cancel_on_drop`](Self::cancel_on_drop)
/// gives a query that cancellation.
#[derive(Clone)]
pub struct Canceller {
    token: CancelToken,
    target: Target,
}

impl fmt::Debug for Canceller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Canceller")
            .field("target", &self.target)
            .finish()
    }
}

impl Canceller {
    /// Asks the server to cancel the connection's current query (which
    /// then fails with `57014 query_canceled`). Nothing happens if the
    /// connection is idle.
    ///
    /// # Errors
    /// [`Error::Connect`] or [`Error::Postgres`]: the request could not be
    /// sent.
    pub async fn cancel_query(&self) -> Result<(), Error> {
        match &self.target {
            Target::Tcp(host, port) => {
                let stream = TcpStream::connect(host, *port)
                    .await
                    .map_err(Error::Connect)?;
                self.token.cancel_query_raw(Io::new(stream), NoTls).await?;
            }
            Target::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(Error::Connect)?;
                self.token.cancel_query_raw(Io::new(stream), NoTls).await?;
            }
        }
        Ok(())
    }

    /// Runs `query`; if it is dropped before it finishes (its task
    /// cancelled, a `timeout` expired), the server is asked to cancel it,
    /// so the connection is free again at once rather than after the
    /// query would have ended. Python: what asyncpg does for a cancelled
    /// `await conn.fetch(...)`.
    pub async fn cancel_on_drop<F: Future>(&self, query: F) -> F::Output {
        /// Sends the cancel request from its drop, unless disarmed.
        struct Guard<'a>(Option<&'a Canceller>);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if let Some(canceller) = self.0 {
                    let canceller = canceller.clone();
                    // Detached: the request goes out on its own socket.
                    drop(create_task(async move {
                        // Best effort, as asyncpg's: the query may have
                        // ended meanwhile, or the server gone.
                        let _ = canceller.cancel_query().await;
                    }));
                }
            }
        }
        let mut guard = Guard(Some(self));
        let output = query.await;
        guard.0 = None;
        output
    }
}

/// A few connections to one server, shared by the tasks of a loop: at
/// most `max_size` open, each lent to one task at a time.
///
/// Mirrors `asyncpg.create_pool(dsn, max_size=…)` and `pool.acquire()`:
/// [`get`](Self::get) waits (on a corio `Semaphore`) while all are lent,
/// takes an idle one (from a corio `Queue`) or opens a new one; the
/// [`Pooled`] handle gives it back when dropped, unless it was closed
/// (the server went away), in which case its place is free for a new
/// one.
#[derive(Debug, Clone)]
pub struct Pool {
    inner: Rc<PoolInner>,
}

struct PoolInner {
    config: Config,
    max_size: usize,
    /// One permit per connection that may be lent out.
    permits: Semaphore,
    /// The open connections no task holds.
    idle: Queue<(Client, Connection)>,
    closed: std::cell::Cell<bool>,
}

impl Pool {
    /// A pool of at most `max_size` connections made with `config` (none
    /// opened yet). Python: `asyncpg.create_pool(..., min_size=0,
    /// max_size=max_size)`.
    ///
    /// # Panics
    /// If `max_size` is 0.
    pub fn new(config: Config, max_size: usize) -> Pool {
        assert!(max_size > 0, "a pool needs room for one connection");
        Pool {
            inner: Rc::new(PoolInner {
                config,
                max_size,
                permits: Semaphore::new(max_size),
                idle: Queue::new(0),
                closed: std::cell::Cell::new(false),
            }),
        }
    }

    /// A connection for this task, waiting while all are lent. Python:
    /// `async with pool.acquire() as conn`. Cancel-safe: a `get`
    /// dropped while waiting takes nothing.
    ///
    /// # Errors
    /// [`Error::PoolClosed`] after [`close`](Self::close); the errors of
    /// [`connect`] when a new connection is needed and cannot be opened.
    pub async fn get(&self) -> Result<Pooled, Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::PoolClosed);
        }
        inner.permits.acquire().await.forget();
        // From here the permit is the Pooled's, or given back below.
        let permit = Permit(self.inner.clone());
        if inner.closed.get() {
            return Err(Error::PoolClosed);
        }
        while let Ok((client, connection)) = inner.idle.get_nowait() {
            if !client.is_closed() && !connection.is_closed() {
                return Ok(Pooled {
                    conn: Some((client, connection)),
                    _permit: permit,
                });
            }
        }
        let conn = connect(&inner.config).await?;
        Ok(Pooled {
            conn: Some(conn),
            _permit: permit,
        })
    }

    /// Connections open now (lent or idle).
    pub fn size(&self) -> usize {
        self.inner.max_size - self.inner.permits.value() + self.inner.idle.qsize()
    }

    /// Closes the idle connections and every lent one as it comes back;
    /// further `get`s fail. Python: `pool.close()` (then `wait_closed`).
    pub fn close(&self) {
        self.inner.closed.set(true);
        while let Ok(conn) = self.inner.idle.get_nowait() {
            drop(conn);
        }
    }

    /// Waits until every lent connection has come back (and, the pool
    /// being closed, been closed). Python: the waiting half of
    /// `await pool.close()`.
    pub async fn wait_closed(&self) {
        let mut all = Vec::with_capacity(self.inner.max_size);
        for _ in 0..self.inner.max_size {
            all.push(self.inner.permits.acquire().await);
        }
    }
}

impl fmt::Debug for PoolInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("max_size", &self.max_size)
            .field("free", &self.permits.value())
            .field("idle", &self.idle.qsize())
            .field("closed", &self.closed.get())
            .finish()
    }
}

/// A lent connection's permit, given back on drop.
#[derive(Debug)]
struct Permit(Rc<PoolInner>);

impl Drop for Permit {
    fn drop(&mut self) {
        // Taken by `forget` in `get`: there is one to give back.
        let _ = self.0.permits.release();
    }
}

/// A connection lent by a [`Pool`]: derefs to the [`Client`]; dropping
/// it gives it back (or closes it, if the pool is closed or the
/// connection ended). Python: the connection of `pool.acquire()`.
#[derive(Debug)]
pub struct Pooled {
    conn: Option<(Client, Connection)>,
    _permit: Permit,
}

impl Pooled {
    /// The connection's [`Canceller`].
    pub fn canceller(&self) -> Option<Canceller> {
        self.conn.as_ref().map(|(_, c)| c.canceller())
    }
}

impl std::ops::Deref for Pooled {
    type Target = Client;

    fn deref(&self) -> &Client {
        // `conn` is `Some` until `drop`.
        match &self.conn {
            Some((client, _)) => client,
            None => unreachable!("a Pooled's connection is taken only by its drop"),
        }
    }
}

impl std::ops::DerefMut for Pooled {
    /// `&mut Client`, for `transaction()`.
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.conn {
            Some((client, _)) => client,
            None => unreachable!("a Pooled's connection is taken only by its drop"),
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let Some((client, connection)) = self.conn.take() else {
            return;
        };
        let pool = &self._permit.0;
        if !pool.closed.get() && !client.is_closed() && !connection.is_closed() {
            // Unbounded: never full, and shut down never.
            let _ = pool.idle.put_nowait((client, connection));
        }
        // Else dropped here: the client's drop ends the connection.
    }
}
