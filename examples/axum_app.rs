//! axum on corio, with no tokio runtime: a small inventory API with JSON
//! bodies, path and query extractors, shared state, the peer's address,
//! a tower layer and an axum middleware, served over HTTP/1.1 and HTTP/2
//! by corio's `HttpServer`.
//!
//! ```text
//! cargo run --example axum_app -- --serve 8000
//! curl http://127.0.0.1:8000/items -d '{"name":"pear","price":3}' -H 'content-type: application/json'
//! curl 'http://127.0.0.1:8000/items?limit=10'
//! curl http://127.0.0.1:8000/items/1
//! curl --http2-prior-knowledge http://127.0.0.1:8000/whoami
//! curl 'http://127.0.0.1:8000/slow?ms=500'   # awaits corio's sleep
//! ```
//!
//! Without arguments: a demo on loopback (a hyper client makes each
//! request, then the server closes gracefully). With `--serve PORT` it
//! serves until SIGINT or SIGTERM, then closes as asyncio 3.13 does:
//! `close()`, `wait_closed()` within a grace period, `abort_clients()`.
//!
//! The aiohttp program it mirrors: `web.Application()` with
//! `app.router.add_get("/items/{id}", …)`, `request.query`,
//! `await request.json()`, `app["store"]`, `request.remote`, a
//! `@web.middleware`, and `web.run_app(app, port=…)`.
//!
//! axum wants `Send` handlers and state; corio's futures and `Rc`s are
//! not: the store is an `Rc<RefCell<…>>` in an `OnLoop`, and `/slow`
//! awaits corio's `sleep` through `on_loop`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use corio::compat::axum::extract::{Path, Query, Request, State};
use corio::compat::axum::http::{HeaderValue, StatusCode, header};
use corio::compat::axum::middleware::{self, Next};
use corio::compat::axum::response::{IntoResponse, Response};
use corio::compat::axum::routing::get;
use corio::compat::axum::{Json, Router};
use corio::compat::bytes::Bytes;
use corio::compat::http_body_util::{BodyExt, Full};
use corio::compat::{ConnectInfo, HttpServer, Io, OnLoop, hyper, on_loop, serve_tower};
use corio::net::{ServerOptions, TcpListener, TcpStream};
use serde::{Deserialize, Serialize};
use tower_http::set_header::SetResponseHeaderLayer;

/// An item of the inventory.
#[derive(Clone, Serialize)]
struct Item {
    id: u64,
    name: String,
    price: u32,
}

/// `POST /items`'s body.
#[derive(Deserialize)]
struct NewItem {
    name: String,
    price: u32,
}

/// `GET /items`'s query: `?limit=N&offset=M`.
#[derive(Deserialize)]
struct Page {
    #[serde(default = "default_limit")]
    limit: usize,
    #[serde(default)]
    offset: usize,
}

fn default_limit() -> usize {
    100
}

/// `GET /slow`'s query.
#[derive(Deserialize)]
struct Nap {
    ms: u64,
}

/// The inventory, on the loop's thread: no lock, as in asyncio (a borrow
/// is never held across an await).
#[derive(Default)]
struct Store {
    items: BTreeMap<u64, Item>,
    next_id: u64,
}

/// The app's shared state: `app["store"]` in aiohttp.
#[derive(Clone)]
struct AppState {
    store: OnLoop<Rc<RefCell<Store>>>,
    /// Requests seen, counted by the middleware (atomics: a middleware's
    /// state is `Send` too).
    requests: Arc<AtomicU64>,
}

async fn hello() -> &'static str {
    "hello from axum on corio\n"
}

async fn whoami(ConnectInfo(peer): ConnectInfo<SocketAddr>) -> String {
    format!("{peer}\n")
}

async fn list_items(State(app): State<AppState>, Query(page): Query<Page>) -> Json<Vec<Item>> {
    let store = app.store.borrow();
    let items = store.items.values();
    Json(items.skip(page.offset).take(page.limit).cloned().collect())
}

async fn create_item(
    State(app): State<AppState>,
    Json(new): Json<NewItem>,
) -> (StatusCode, Json<Item>) {
    let mut store = app.store.borrow_mut();
    store.next_id += 1;
    let item = Item {
        id: store.next_id,
        name: new.name,
        price: new.price,
    };
    store.items.insert(item.id, item.clone());
    (StatusCode::CREATED, Json(item))
}

async fn get_item(State(app): State<AppState>, Path(id): Path<u64>) -> Response {
    match app.store.borrow().items.get(&id) {
        Some(item) => Json(item.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no item {id}\n")).into_response(),
    }
}

async fn delete_item(State(app): State<AppState>, Path(id): Path<u64>) -> StatusCode {
    match app.store.borrow_mut().items.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT,
        None => StatusCode::NOT_FOUND,
    }
}

/// Awaits corio's timer: a request that is in flight for a while.
async fn slow(Query(nap): Query<Nap>) -> String {
    on_loop(corio::sleep(Duration::from_millis(nap.ms))).await;
    format!("slept {} ms\n", nap.ms)
}

async fn stats(State(app): State<AppState>) -> String {
    format!("requests {}\n", app.requests.load(Ordering::Relaxed))
}

/// An axum middleware (aiohttp's `@web.middleware`): counts requests.
async fn count_requests(State(app): State<AppState>, req: Request, next: Next) -> Response {
    app.requests.fetch_add(1, Ordering::Relaxed);
    next.run(req).await
}

/// The routes, the middleware and a tower layer (`server: corio`).
fn app() -> Router {
    let state = AppState {
        store: OnLoop::new(Rc::new(RefCell::new(Store::default()))),
        requests: Arc::new(AtomicU64::new(0)),
    };
    Router::new()
        .route("/", get(hello))
        .route("/whoami", get(whoami))
        .route("/items", get(list_items).post(create_item))
        .route("/items/{id}", get(get_item).delete(delete_item))
        .route("/slow", get(slow))
        .route("/stats", get(stats))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::SERVER,
            HeaderValue::from_static("corio"),
        ))
        .with_state(state)
}

/// Graceful close, then force (`HttpServer::shutdown`: `close()`,
/// `wait_closed()` within `grace`, else `abort_clients()`).
async fn shutdown(server: &HttpServer, grace: Duration) {
    let aborted = server.shutdown(grace).await;
    if aborted > 0 {
        println!("{aborted} connection(s) still open after {grace:?}: aborting");
    }
}

/// Serves until SIGINT or SIGTERM, then shuts down.
async fn serve_forever(port: u16) -> io::Result<()> {
    let options = ServerOptions {
        backlog: 1024,
        ..ServerOptions::default()
    };
    let listener = TcpListener::bind_with("127.0.0.1", port, options).await?;
    let addr = listener.local_addr()?;
    let server = serve_tower(listener, app());
    let stop = Rc::new(corio::Event::new());
    for signal in [corio::signal::SIGINT, corio::signal::SIGTERM] {
        let stop = stop.clone();
        corio::add_signal_handler(signal, move || stop.set()).map_err(io::Error::other)?;
    }
    println!("listening on {addr}");
    stop.wait().await;
    println!("shutting down");
    shutdown(&server, Duration::from_secs(5)).await;
    println!("server closed");
    Ok(())
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
async fn fetch(port: u16, method: &str, path: &str, json: &str) -> io::Result<(u16, String)> {
    let io = Io::new(TcpStream::connect("127.0.0.1", port).await?);
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("http://127.0.0.1:{port}{path}"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(json.to_string())))
        .map_err(io::Error::other)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    drop(corio::create_task(conn));
    let response = sender.send_request(req).await.map_err(io::Error::other)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    Ok((
        status,
        String::from_utf8_lossy(&body).trim_end().to_string(),
    ))
}

async fn demo() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1", 0).await?;
    let port = listener.local_addr()?.port();
    let server = serve_tower(listener, app());
    for (method, path, body) in [
        ("GET", "/", ""),
        ("POST", "/items", r#"{"name":"pear","price":3}"#),
        ("POST", "/items", r#"{"name":"fig","price":5}"#),
        ("POST", "/items", r#"{"name":"fig"}"#),
        ("GET", "/items?limit=1&offset=1", ""),
        ("GET", "/items/1", ""),
        ("DELETE", "/items/1", ""),
        ("GET", "/items/1", ""),
        ("GET", "/slow?ms=20", ""),
        ("GET", "/stats", ""),
    ] {
        let (status, reply) = fetch(port, method, path, body).await?;
        println!("{method} {path} -> {status} {reply}");
    }
    let (_, peer) = fetch(port, "GET", "/whoami", "").await?;
    println!(
        "whoami: a peer on {}",
        peer.rsplit_once(':').map_or("?", |p| p.0)
    );
    shutdown(&server, Duration::from_secs(1)).await;
    println!("server closed");
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => corio::run(demo()),
        [flag, port] if flag == "--serve" => corio::run(serve_forever(parse(port)?)),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: [--serve PORT]",
            ));
        }
    };
    result.map_err(|e| io::Error::other(e.to_string()))?
}

fn parse(port: &str) -> io::Result<u16> {
    port.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("--serve {port}: {e}")))
}
