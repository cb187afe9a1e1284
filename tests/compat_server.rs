//! corio-compat's `HttpServer` at its edges: a service that panics, the
//! reports it makes through the loop's exception handler, a process out
//! of fds, and the clients that would hold a graceful close open forever.

mod support;

use std::cell::RefCell;
use std::error::Error as StdError;
use std::io::{ErrorKind, Write};
use std::rc::Rc;
use std::time::Duration;

use corio::ExceptionContext;
use corio::net::{TcpListener, TcpStream};
use corio_compat::bytes::Bytes;
use corio_compat::http_body_util::{BodyExt, Full};
use corio_compat::hyper::body::Incoming;
use corio_compat::hyper::{self, Request, Response};
use corio_compat::{HttpServer, Io, LocalExec, serve};

/// Every report of the running loop's exception handler, in order.
fn collect_reports() -> Rc<RefCell<Vec<ExceptionContext>>> {
    let reports = Rc::new(RefCell::new(Vec::new()));
    let sink = reports.clone();
    corio::get_running_loop()
        .unwrap()
        .set_exception_handler(Some(move |context: &ExceptionContext| {
            // A slow step (a panic's unwinding on a loaded machine) is not
            // what these tests count.
            if !context.message.starts_with("Executing ") {
                sink.borrow_mut().push(context.clone());
            }
        }));
    reports
}

type BoxError = Box<dyn StdError + Send + Sync>;

/// `/panic` panics; `/fail` returns an error; `/big` answers 8 MiB;
/// `/upload` reads the whole body; anything else answers "ok".
async fn routes(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, BoxError> {
    let body = match req.uri().path() {
        "/panic" => panic!("the service fell over"),
        "/fail" => return Err("the service gave up".into()),
        "/big" => Bytes::from(vec![b'x'; 8 << 20]),
        "/upload" => req.into_body().collect().await?.to_bytes(),
        _ => Bytes::from_static(b"ok"),
    };
    Ok(Response::new(Full::new(body)))
}

async fn start() -> (HttpServer, u16) {
    let listener = TcpListener::bind("127.0.0.1", 0).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    (serve(listener, hyper::service::service_fn(routes)), port)
}

/// Reads until EOF or an error; what was read.
async fn read_to_end(stream: &TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0; 4096];
    while let Ok(n) = stream.recv(&mut buf).await {
        if n == 0 {
            break;
        }
        all.extend_from_slice(&buf[..n]);
    }
    all
}

/// `close()` then `wait_closed()`, which must end within `limit`.
async fn assert_closes_within(server: &HttpServer, limit: Duration) {
    server.close();
    corio::timeout(limit, server.wait_closed())
        .await
        .unwrap_or_else(|_| panic!("wait_closed still waiting after {limit:?}"));
}

#[test]
fn an_http1_service_panic_is_reported_with_the_peer_and_close_still_ends() {
    corio::run(async {
        let reports = collect_reports();
        let (server, port) = start().await;
        let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let me = client.local_addr().unwrap();
        client
            .send_all(b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        // The connection is dropped without an answer.
        assert_eq!(read_to_end(&client).await, b"");
        assert_closes_within(&server, Duration::from_secs(1)).await;
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0]
                .message
                .contains(&format!("connection from {me}")),
            "{reports:?}"
        );
        assert!(reports[0].message.contains("panicked"), "{:?}", reports[0]);
        assert_eq!(
            reports[0].exception.as_deref(),
            Some("the service fell over")
        );
    })
    .unwrap();
}

#[test]
fn an_http2_service_panic_is_reported_with_the_peer_and_the_connection_goes_on() {
    corio::run(async {
        let reports = collect_reports();
        let (server, port) = start().await;
        let stream = TcpStream::connect("127.0.0.1", port).await.unwrap();
        let me = stream.local_addr().unwrap();
        let (mut sender, conn) = hyper::client::conn::http2::handshake(LocalExec, Io::new(stream))
            .await
            .unwrap();
        let conn = corio::create_task(conn);
        let get = |path: &str| {
            Request::get(format!("http://127.0.0.1:{port}{path}"))
                .body(Full::new(Bytes::new()))
                .unwrap()
        };
        // The panicking stream is reset; the connection serves the next.
        assert!(sender.send_request(get("/panic")).await.is_err());
        let ok = sender.send_request(get("/")).await.unwrap();
        let body = ok.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body, "ok");
        drop(sender);
        conn.await.unwrap().unwrap();
        assert_closes_within(&server, Duration::from_secs(1)).await;
        let reports = reports.borrow();
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert!(
            reports[0]
                .message
                .contains(&format!("connection from {me}")),
            "{reports:?}"
        );
        assert_eq!(
            reports[0].exception.as_deref(),
            Some("the service fell over")
        );
    })
    .unwrap();
}

/// Sends `request` on a fresh connection and reads until the server closes
/// it (or fails it).
async fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
    client.send_all(request).await.unwrap();
    read_to_end(&client).await
}

#[test]
fn errors_of_the_service_are_reported_those_of_the_peer_only_in_debug_mode() {
    corio::run(async {
        let reports = collect_reports();
        let (server, port) = start().await;
        let close = b"Connection: close\r\n\r\n";
        let fail = [b"GET /fail HTTP/1.1\r\nHost: x\r\n".as_slice(), close].concat();
        let malformed = b"GET / HTTP/1.1\r\nthis is not a header\r\n\r\n";
        exchange(port, &fail).await;
        let answer = exchange(port, malformed).await;
        assert!(answer.starts_with(b"HTTP/1.1 400"), "{answer:?}");
        // A body cut short: the service's error, the peer's doing.
        let cut = TcpStream::connect("127.0.0.1", port).await.unwrap();
        cut.send_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
            .await
            .unwrap();
        cut.shutdown(std::net::Shutdown::Write).unwrap();
        read_to_end(&cut).await;
        assert_eq!(reports.borrow().len(), 1, "{:?}", reports.borrow());
        assert!(
            reports.borrow()[0]
                .exception
                .as_deref()
                .is_some_and(|e| e.contains("the service gave up")),
            "{:?}",
            reports.borrow()
        );
        corio::get_running_loop().unwrap().set_debug(true);
        exchange(port, malformed).await;
        assert_eq!(reports.borrow().len(), 2, "{:?}", reports.borrow());
        assert!(
            reports.borrow()[1]
                .message
                .starts_with("HTTP connection from 127.0.0.1:"),
            "{:?}",
            reports.borrow()
        );
        assert_closes_within(&server, Duration::from_secs(1)).await;
    })
    .unwrap();
}

#[test]
#[ignore = "the child of out_of_fds_the_server_rests_reports_once_and_serves_again"]
fn out_of_fds_server_child() {
    if !testkit::child::is_child("out_of_fds_server_child") {
        return;
    }
    corio::run(async {
        // Each report on a line of its own, for the parent to count.
        corio::get_running_loop()
            .unwrap()
            .set_exception_handler(Some(|context: &ExceptionContext| {
                println!("REPORT {}", context.message);
                std::io::stdout().flush().unwrap();
            }));
        let (server, port) = start().await;
        println!("PORT {port}");
        std::io::stdout().flush().unwrap();
        // The parent kills us; this is only a backstop.
        let _ = corio::timeout(Duration::from_secs(60), server.wait_closed()).await;
    })
    .unwrap();
}

/// At its fd limit the server neither spins nor prints; it tells the
/// exception handler once, and serves the connections that waited in the
/// backlog once fds are free.
#[test]
fn out_of_fds_the_server_rests_reports_once_and_serves_again() {
    let child = testkit::child::spawn_limited_child("out_of_fds_server_child", 48);
    let request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    testkit::child::check_out_of_fds(child, request, b"HTTP/1.1 200");
}

/// How a peer's connection ended, read to its end: `Ok(bytes)` at EOF,
/// else the error's kind.
async fn outcome(stream: &TcpStream) -> Result<usize, ErrorKind> {
    let mut total = 0;
    let mut buf = vec![0; 64 * 1024];
    loop {
        match stream.recv(&mut buf).await {
            Ok(0) => return Ok(total),
            Ok(n) => total += n,
            Err(e) => return Err(e.kind()),
        }
    }
}

/// A client that holds a graceful close: `close()` leaves `wait_closed()`
/// waiting 500 ms later, and `abort_clients()` then ends it within a
/// second; the client sees the reset.
async fn assert_close_then_abort_clients(server: &HttpServer, client: &TcpStream) {
    corio::sleep(Duration::from_millis(200)).await; // the server is at work
    assert_eq!(server.connections(), 1);
    server.close();
    let graceful = corio::timeout(Duration::from_millis(500), server.wait_closed()).await;
    assert!(
        graceful.is_err(),
        "this client was to hold the graceful close"
    );
    server.abort_clients();
    corio::timeout(Duration::from_secs(1), server.wait_closed())
        .await
        .expect("wait_closed within a second of abort_clients");
    assert_eq!(outcome(client).await, Err(ErrorKind::ConnectionReset));
}

#[test]
fn shutdown_aborts_what_the_grace_period_did_not_end() {
    corio::run(async {
        let (server, port) = start().await;
        // An idle client is closed gracefully at once.
        let idle = TcpStream::connect("127.0.0.1", port).await.unwrap();
        // A stalled upload holds the graceful close: aborted after 300 ms.
        let stalled = TcpStream::connect("127.0.0.1", port).await.unwrap();
        stalled
            .send_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
            .await
            .unwrap();
        corio::sleep(Duration::from_millis(200)).await;
        let started = std::time::Instant::now();
        let aborted = server.shutdown(Duration::from_millis(300)).await;
        assert_eq!(aborted, 1, "the stalled upload (the idle one closed)");
        assert!(started.elapsed() >= Duration::from_millis(300));
        assert_eq!(outcome(&stalled).await, Err(ErrorKind::ConnectionReset));
        assert_eq!(outcome(&idle).await, Ok(0));
        // Nothing left open: nothing to abort.
        let (quick, _) = start().await;
        assert_eq!(quick.shutdown(Duration::from_millis(500)).await, 0);
    })
    .unwrap();
}

#[test]
fn abort_clients_ends_a_stalled_upload() {
    corio::run(async {
        let (server, port) = start().await;
        let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
        // 1 byte of the 1000 announced, and then nothing.
        client
            .send_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
            .await
            .unwrap();
        assert_close_then_abort_clients(&server, &client).await;
    })
    .unwrap();
}

#[test]
fn abort_clients_ends_a_response_nobody_reads() {
    corio::run(async {
        let (server, port) = start().await;
        let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
        // 8 MiB asked for, and never read.
        client
            .send_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        assert_close_then_abort_clients(&server, &client).await;
    })
    .unwrap();
}

#[test]
fn abort_clients_ends_an_http2_peer_that_never_answers() {
    corio::run(async {
        let (server, port) = start().await;
        let client = TcpStream::connect("127.0.0.1", port).await.unwrap();
        // The HTTP/2 preface and an empty SETTINGS frame; then the peer
        // neither reads nor answers (no SETTINGS ack, no GOAWAY, no PING ack).
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        client.send_all(&hello).await.unwrap();
        assert_close_then_abort_clients(&server, &client).await;
    })
    .unwrap();
}

#[test]
fn close_clients_ends_connections_without_a_reset() {
    corio::run(async {
        let (server, port) = start().await;
        let stalled = TcpStream::connect("127.0.0.1", port).await.unwrap();
        stalled
            .send_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nx")
            .await
            .unwrap();
        let idle = TcpStream::connect("127.0.0.1", port).await.unwrap();
        corio::sleep(Duration::from_millis(100)).await;
        assert_eq!(server.connections(), 2);
        server.close();
        server.close_clients();
        corio::timeout(Duration::from_secs(1), server.wait_closed())
            .await
            .expect("wait_closed within a second of close_clients");
        assert_eq!(outcome(&stalled).await, Ok(0));
        assert_eq!(outcome(&idle).await, Ok(0));
        // Nothing left open: nothing to abort.
        let (quick, _) = start().await;
        assert_eq!(quick.shutdown(Duration::from_millis(500)).await, 0);
    })
    .unwrap();
}
