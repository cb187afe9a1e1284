//! hyper 1.x serving on corio: hello world, an echo-body route and a
//! streaming route, over HTTP/1.1 and HTTP/2 (prior knowledge, or ALPN `h2`
//! with `--tls`).
//!
//! ```text
//! cargo run --example hyper_server -- --serve 8000
//! curl http://127.0.0.1:8000/            # hello
//! curl --http2-prior-knowledge http://127.0.0.1:8000/stream
//! curl --data-binary @file http://127.0.0.1:8000/echo
//! cargo run --example hyper_server -- --serve 8443 --tls /tmp/ca.pem
//! curl --cacert /tmp/ca.pem https://localhost:8443/
//! cargo run --example hyper_server -- --serve 8000 --loops 4
//! ```
//!
//! With `--loops N`, N event loops (`Cores`, one thread each) serve the
//! same port, each with its own listener in one `SO_REUSEPORT` group
//! (`SharedPort`): the kernel spreads the connections among them. Ctrl-C
//! (or SIGTERM) stops every loop; each loop's connection count is printed
//! as it stops.
//!
//! Without arguments: a demo on loopback (a hyper client fetches each
//! route over HTTP/1.1 and HTTP/2, then the server closes: gracefully, and
//! by force for a client that would hold the graceful close open).
//!
//! The shutdown recipe, asyncio 3.13's: `close()` (stop accepting, let
//! requests in flight finish), `wait_closed()` under a deadline, then
//! `abort_clients()` for the connections still open (a stalled upload, a
//! client that never reads its response, an HTTP/2 peer that never
//! answers GOAWAY) and `wait_closed()` again.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use corio::compat::bytes::Bytes;
use corio::compat::http_body_util::{BodyExt, Either, Full};
use corio::compat::hyper::body::{Body, Frame, Incoming};
use corio::compat::hyper::{Method, Request, Response, StatusCode};
use corio::compat::rustls::ServerConfig;
use corio::compat::{FuturesIo, HttpServer, Io, LocalExec, TlsAcceptor, hyper, serve, serve_with};
use corio::net::{ServerOptions, SharedPort, TcpListener, TcpStream};
use corio::{Core, Cores};

/// `/stream`'s body: `left` chunks of one line each, made as they are sent.
struct Chunks {
    left: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        let line = format!("chunk {}\n", 10 - self.left);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
    }
}

type Reply = Response<Either<Full<Bytes>, Chunks>>;

/// The routes: `/` hello, `POST /echo` the request body back, `/stream`
/// ten chunks.
async fn route(req: Request<Incoming>) -> Result<Reply, hyper::Error> {
    let full = |status: StatusCode, body: Bytes| {
        let mut r = Response::new(Either::Left(Full::new(body)));
        *r.status_mut() = status;
        r
    };
    Ok(match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => full(
            StatusCode::OK,
            Bytes::from(format!("hello from hyper on corio ({:?})\n", req.version())),
        ),
        (&Method::POST, "/echo") => {
            let body = req.into_body().collect().await?.to_bytes();
            full(StatusCode::OK, body)
        }
        (&Method::GET, "/stream") => Response::new(Either::Right(Chunks { left: 10 })),
        _ => full(StatusCode::NOT_FOUND, Bytes::from_static(b"not found\n")),
    })
}

/// A CA and a certificate for `localhost` / 127.0.0.1 it signed, made now;
/// the CA's PEM is written to `ca_path` for the client (`curl --cacert`).
fn tls_config(ca_path: &str) -> io::Result<Arc<ServerConfig>> {
    use corio::compat::futures_rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    let err = |e: rcgen::Error| io::Error::other(e.to_string());
    let ca_key = rcgen::KeyPair::generate().map_err(err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "corio example CA");
    let ca = ca_params.self_signed(&ca_key).map_err(err)?;
    let key = rcgen::KeyPair::generate().map_err(err)?;
    let params =
        rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .map_err(err)?;
    let cert = params.signed_by(&key, &ca, &ca_key).map_err(err)?;
    std::fs::write(ca_path, ca.pem())?;
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .map_err(io::Error::other)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves until killed.
async fn serve_forever(port: u16, ca_path: Option<String>) -> io::Result<()> {
    // A backlog for bursts: asyncio's 100 makes the 102nd simultaneous
    // connect wait on SYN retries (a second and more).
    let options = ServerOptions {
        backlog: 1024,
        ..ServerOptions::default()
    };
    let listener = TcpListener::bind_with("127.0.0.1", port, options).await?;
    let addr = listener.local_addr()?;
    let service = hyper::service::service_fn(route);
    let server = match ca_path {
        None => serve(listener, service),
        Some(path) => {
            let acceptor = TlsAcceptor::new(tls_config(&path)?);
            serve_with(listener, service, move |stream| {
                let acceptor = acceptor.clone();
                async move { Ok(FuturesIo(acceptor.accept(stream).await?)) }
            })
        }
    };
    println!("listening on {addr}");
    server.wait_closed().await;
    Ok(())
}

/// `--loops N`: N loops, each serving the port with its own listener in
/// one `SO_REUSEPORT` group, until Ctrl-C or SIGTERM stops them all.
fn serve_on_loops(port: u16, loops: usize) -> io::Result<()> {
    let shared = SharedPort::reserve(([127, 0, 0, 1], port).into())?;
    let port = shared.port();
    let options = ServerOptions {
        backlog: 1024,
        ..shared.server_options()
    };
    // Every loop's listener joins the group before the port is announced.
    let listening = Arc::new(std::sync::Barrier::new(loops));
    let served = Cores::new().count(loops).run(move |core: Core| {
        let (options, listening) = (options.clone(), listening.clone());
        async move {
            let listener = TcpListener::bind_with("127.0.0.1", port, options).await?;
            let server = std::rc::Rc::new(serve(listener, hyper::service::service_fn(route)));
            if listening.wait().is_leader() {
                println!("{loops} loops listening on 127.0.0.1:{port}");
            }
            // Until every loop is told to stop: print what this one served.
            let watch = ConnectionsOnDrop(core.index(), server.clone());
            core.shutdown_requested().await;
            drop(watch);
            shutdown(&server, Duration::from_secs(1)).await;
            io::Result::Ok(())
        }
    });
    drop(shared);
    match served {
        Ok(outcomes) => outcomes
            .into_iter()
            .collect::<io::Result<Vec<()>>>()
            .map(drop),
        Err(corio::CoresError::Interrupted) => {
            println!("interrupted: every loop stopped");
            Ok(())
        }
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// Prints how many connections a loop's server has seen when it goes (at
/// a shutdown request, or when Ctrl-C cancels the loop's main task).
struct ConnectionsOnDrop(usize, std::rc::Rc<HttpServer>);

impl Drop for ConnectionsOnDrop {
    fn drop(&mut self) {
        println!(
            "loop {} stopping: {} connections accepted",
            self.0,
            self.1.accepted()
        );
    }
}

/// One request on a fresh HTTP/1.1 or HTTP/2 client connection.
async fn fetch(port: u16, h2: bool, method: Method, path: &str, body: &str) -> io::Result<String> {
    let io = Io::new(TcpStream::connect("127.0.0.1", port).await?);
    let req = Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(io::Error::other)?;
    let response = if h2 {
        let (mut sender, conn) = hyper::client::conn::http2::handshake(LocalExec, io)
            .await
            .map_err(io::Error::other)?;
        drop(corio::create_task(conn));
        sender.send_request(req).await
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(io::Error::other)?;
        drop(corio::create_task(conn));
        sender.send_request(req).await
    }
    .map_err(io::Error::other)?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    Ok(format!("{status} {}", String::from_utf8_lossy(&body)))
}

async fn demo() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let server = serve(listener, hyper::service::service_fn(route));
    for h2 in [false, true] {
        let name = if h2 { "HTTP/2" } else { "HTTP/1.1" };
        print!(
            "{name} GET /: {}",
            fetch(port, h2, Method::GET, "/", "").await?
        );
        println!(
            "{name} POST /echo: {}",
            fetch(port, h2, Method::POST, "/echo", "echo me").await?
        );
        let streamed = fetch(port, h2, Method::GET, "/stream", "").await?;
        println!("{name} GET /stream: {} lines", streamed.lines().count());
    }
    // A client that asks for its request and never sends the body it
    // announced: it holds the graceful close until the deadline.
    let stalled = TcpStream::connect("127.0.0.1", port).await?;
    stalled
        .send_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
        .await?;
    corio::sleep(Duration::from_millis(50)).await;
    println!(
        "shutting down with {} connection open",
        server.connections()
    );
    shutdown(&server, Duration::from_millis(500)).await;
    println!("server closed");
    Ok(())
}

/// Graceful close, then force (`HttpServer::shutdown`: `close()`,
/// `wait_closed()` within `grace`, else `abort_clients()`).
async fn shutdown(server: &HttpServer, grace: Duration) {
    let aborted = server.shutdown(grace).await;
    if aborted > 0 {
        println!("{aborted} connection still open after {grace:?}: aborting");
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => corio::run(demo()),
        [flag, port] if flag == "--serve" => corio::run(serve_forever(parse(port)?, None)),
        [flag, port, tls, ca] if flag == "--serve" && tls == "--tls" => {
            corio::run(serve_forever(parse(port)?, Some(ca.clone())))
        }
        [flag, port, loops, n] if flag == "--serve" && loops == "--loops" => {
            let n =
                n.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidInput, "--loops N: N ≥ 1")
                })?;
            return serve_on_loops(parse(port)?, n);
        }
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: [--serve PORT [--tls CA_PEM_OUT | --loops N]]",
            ));
        }
    };
    result.map_err(|e| io::Error::other(e.to_string()))?
}

fn parse(port: &str) -> io::Result<u16> {
    port.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("--serve {port}: {e}")))
}
