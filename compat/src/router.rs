//! [`serve_tower`]: an axum `Router`, or any tower `Service`, served by
//! [`HttpServer`] (HTTP/1.1 + HTTP/2, graceful close), each request
//! carrying its peer's address as a [`ConnectInfo<SocketAddr>`].
//!
//! hyper calls a service with `&self` and no readiness step; tower's
//! `Service` wants `&mut self` and `poll_ready` first, so each request
//! runs on a clone of the service, readied then called (hyper-util's
//! `TowerToHyperService` does the same). Most services (an axum `Router`
//! among them) are always ready: those are called at once and their
//! future returned as it is; only one that is not ready yet gets a boxed
//! future that waits for it.
//!
//! The peer address: [`serve_with`] hands `wrap` each accepted socket in
//! the connection's own task, and hyper calls the service in that task
//! too (for HTTP/2, the stream's future is spawned only after `call`), so
//! `wrap` notes (task, peer) in a table shared with the service, and the
//! connection's service looks its task up on its first request and keeps
//! the answer. The entry goes when the connection's socket does.

use std::cell::{Cell, RefCell};
use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use axum::extract::{Extension, FromRequestParts};
use axum::http::request::Parts;
use corio_executor::{TaskRef, current_task};
use corio_net::{TcpListener, TcpStream};
use futures_util::future::Either;
use hyper::body::{Body, Incoming};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::{Request, Response};

use crate::io::Io;
use crate::server::{HttpServer, serve_with};

/// Serves `service` (an `axum::Router`, or any tower `Service` of
/// requests) over HTTP/1.1 and HTTP/2 on every connection `listener`
/// accepts; every request gets the peer's address as a
/// [`ConnectInfo<SocketAddr>`] extension.
///
/// Mirrors aiohttp's `web.AppRunner(app)` + `web.TCPSite(runner, sock=…)`
/// on asyncio (the peer is aiohttp's `request.remote`, asyncio's
/// `transport.get_extra_info("peername")`). Returns at once with the
/// [`HttpServer`]: [`close`](HttpServer::close) is graceful (in-flight
/// requests finish), then [`wait_closed`](HttpServer::wait_closed);
/// failures are reported as [`serve`](crate::serve) reports them.
///
/// axum wants its handlers' futures `Send`; corio's are not (one loop,
/// one thread): await corio's timers, locks, queues and sockets inside
/// [`on_loop`](crate::on_loop), and keep `Rc` state in an
/// [`OnLoop`](crate::OnLoop).
///
/// # Examples
///
/// ```
/// use std::net::SocketAddr;
/// use corio_compat::axum::{Router, routing::get};
/// use corio_compat::{ConnectInfo, serve_tower};
/// use corio_net::TcpListener;
///
/// async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
///     peer.ip().to_string()
/// }
///
/// corio_executor::run(async {
///     let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
///     let app = Router::new().route("/whoami", get(whoami));
///     let server = serve_tower(listener, app);
///     assert!(server.is_serving());
///     server.close();
///     server.wait_closed().await;
/// })
/// .unwrap();
/// ```
pub fn serve_tower<S, B>(listener: TcpListener, service: S) -> HttpServer
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
    S::Error: Into<Box<dyn StdError + Send + Sync>>,
    B: Body + 'static,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let peers = Rc::new(Peers::default());
    let service = PeerService {
        inner: service,
        peers: peers.clone(),
        peer: Cell::new(None),
    };
    serve_with(listener, service, move |stream: TcpStream| {
        let peers = peers.clone();
        async move {
            let peer = stream.peer_addr()?;
            let task = current_task().ok_or_else(|| {
                io::Error::other("serve_tower: a connection served outside a task")
            })?;
            peers.conns.borrow_mut().push((task.clone(), peer));
            Ok(PeerIo {
                io: Io::new(stream),
                _entry: Entry { peers, task },
            })
        }
    })
}

/// The peer of the connection a request came on: an axum extractor, the
/// same as axum's own `ConnectInfo`, which axum compiles only with its
/// `tokio` feature (that brings tokio's runtime). [`serve_tower`] puts a
/// `ConnectInfo<SocketAddr>` into every request's extensions.
///
/// Python: aiohttp's `request.remote`, asyncio's
/// `transport.get_extra_info("peername")`.
///
/// # Errors
/// As an extractor, axum's `ExtensionRejection` (a 500) when the request
/// has none: a service not served by [`serve_tower`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectInfo<T>(pub T);

impl<S, T> FromRequestParts<S> for ConnectInfo<T>
where
    S: Send + Sync,
    T: Clone + Send + Sync + 'static,
{
    type Rejection = <Extension<ConnectInfo<T>> as FromRequestParts<S>>::Rejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Extension(info) = Extension::<ConnectInfo<T>>::from_request_parts(parts, state).await?;
        Ok(info)
    }
}

/// The connections being served and their peers, by the task serving
/// each.
#[derive(Default)]
struct Peers {
    conns: RefCell<Vec<(TaskRef, SocketAddr)>>,
}

impl Peers {
    fn of_current_task(&self) -> Option<SocketAddr> {
        let task = current_task()?;
        let conns = self.conns.borrow();
        conns
            .iter()
            .find(|(t, _)| t.same(&task))
            .map(|(_, peer)| *peer)
    }
}

/// A connection's entry in [`Peers`], taken out when the connection's
/// socket is dropped (however its task ends).
struct Entry {
    peers: Rc<Peers>,
    task: TaskRef,
}

impl Drop for Entry {
    fn drop(&mut self) {
        let mut conns = self.peers.conns.borrow_mut();
        if let Some(i) = conns.iter().position(|(t, _)| t.same(&self.task)) {
            let gone = conns.swap_remove(i);
            drop(conns);
            drop(gone);
        }
    }
}

/// An accepted socket with its connection's [`Entry`].
struct PeerIo {
    io: Io<TcpStream>,
    _entry: Entry,
}

impl Read for PeerIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
    }
}

impl Write for PeerIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// The tower service as hyper's, adding `ConnectInfo`.
struct PeerService<S> {
    inner: S,
    peers: Rc<Peers>,
    /// This connection's peer once looked up: each connection has its own
    /// clone (the server clones the service per connection).
    peer: Cell<Option<SocketAddr>>,
}

impl<S: Clone> Clone for PeerService<S> {
    fn clone(&self) -> Self {
        PeerService {
            inner: self.inner.clone(),
            peers: self.peers.clone(),
            peer: Cell::new(None),
        }
    }
}

impl<S, B: 'static> hyper::service::Service<Request<Incoming>> for PeerService<S>
where
    S: tower_service::Service<Request<Incoming>, Response = Response<B>> + Clone + 'static,
    S::Future: 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Either<S::Future, Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>>>>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        let peer = self.peer.get().or_else(|| {
            let peer = self.peers.of_current_task();
            self.peer.set(peer);
            peer
        });
        if let Some(peer) = peer {
            req.extensions_mut().insert(ConnectInfo(peer));
        }
        let mut service = self.inner.clone();
        // Polled without a task's waker: if it is not ready, the boxed
        // future below polls it again with one.
        match service.poll_ready(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(Ok(())) => Either::Left(service.call(req)),
            Poll::Ready(Err(e)) => Either::Right(Box::pin(std::future::ready(Err(e)))),
            Poll::Pending => Either::Right(Box::pin(async move {
                std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                service.call(req).await
            })),
        }
    }
}
