//! A whole service on corio, with no tokio runtime: a todo list in
//! PostgreSQL behind an axum JSON API, a WebSocket feed of every change,
//! and a graceful shutdown on Ctrl-C or SIGTERM. What an aiohttp +
//! asyncpg + websockets user would write on asyncio.
//!
//! ```text
//! examples/todo_service/postgres.sh start /tmp/todo-pg 5433   # a throwaway cluster
//! cargo run --example todo_service -- --db 'host=127.0.0.1 port=5433 user=postgres' --serve 8000 --feed 8001
//! python3 -m websockets ws://127.0.0.1:8001/                  # the feed
//! curl -d '{"title":"write docs"}' -H 'content-type: application/json' http://127.0.0.1:8000/todos
//! curl -X PATCH -d '{"done":true}' -H 'content-type: application/json' http://127.0.0.1:8000/todos/1
//! curl http://127.0.0.1:8000/todos
//! examples/todo_service/postgres.sh stop /tmp/todo-pg
//! ```
//!
//! - `GET /todos?limit=&offset=`, `POST /todos`, `GET|PATCH|DELETE
//!   /todos/{id}`: JSON, on a pool of 8 connections (asyncpg's
//!   `create_pool`); `GET /health`: JSON without the database.
//! - The feed: each change is announced with `pg_notify` in the
//!   change's own transaction; one connection `LISTEN`s and every
//!   notification goes to every WebSocket client (`feed.rs`). Several
//!   instances of the service on one database share one feed this way.
//! - Shutdown: stop accepting, let requests in flight finish for up to
//!   5 s, then `abort_clients()`; feed clients get close 1001; the pool
//!   closes once every lent connection is back.

mod db;
mod feed;

use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio::compat::axum::extract::{Path, Query, State};
use corio::compat::axum::http::StatusCode;
use corio::compat::axum::response::{IntoResponse, Response};
use corio::compat::axum::routing::get;
use corio::compat::axum::{Json, Router};
use corio::compat::postgres::{self, Pool};
use corio::compat::tokio_postgres::Config;
use corio::compat::{HttpServer, OnLoop, on_loop, serve_tower};
use corio::net::{ServerOptions, TcpListener};
use serde::Deserialize;
use serde_json::json;

/// Connections in the pool.
const POOL_SIZE: usize = 8;

/// How long requests in flight may take after a shutdown signal.
const GRACE: Duration = Duration::from_secs(5);

/// What the handlers share: `app["pool"]` in aiohttp.
#[derive(Clone)]
struct App {
    pool: OnLoop<Pool>,
}

/// A handler's failure, as a JSON body with its status.
enum AppError {
    NotFound(i64),
    Invalid(&'static str),
    Database(postgres::Error),
}

impl From<postgres::Error> for AppError {
    fn from(e: postgres::Error) -> AppError {
        AppError::Database(e)
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            AppError::NotFound(id) => (StatusCode::NOT_FOUND, format!("no todo {id}")),
            AppError::Invalid(why) => (StatusCode::UNPROCESSABLE_ENTITY, why.to_string()),
            AppError::Database(postgres::Error::PoolClosed) => {
                (StatusCode::SERVICE_UNAVAILABLE, "shutting down".to_string())
            }
            AppError::Database(e) => {
                eprintln!("database error: {e}");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "database error".to_string(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

#[derive(Deserialize)]
struct Page {
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    100
}

#[derive(Deserialize)]
struct NewTodo {
    title: String,
}

#[derive(Deserialize)]
struct TodoPatch {
    title: Option<String>,
    done: Option<bool>,
}

type Reply<T> = Result<Json<T>, AppError>;

async fn health() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok", "runtime": "corio" }))
}

async fn list(State(app): State<App>, Query(page): Query<Page>) -> Reply<Vec<db::Todo>> {
    on_loop(async move { Ok(Json(db::list(&app.pool, page.limit, page.offset).await?)) }).await
}

async fn create(State(app): State<App>, Json(new): Json<NewTodo>) -> Result<Response, AppError> {
    if new.title.trim().is_empty() {
        return Err(AppError::Invalid("a todo needs a title"));
    }
    on_loop(async move {
        match db::create(&app.pool, new.title.trim()).await? {
            Some(todo) => Ok((StatusCode::CREATED, Json(todo)).into_response()),
            None => Err(AppError::Invalid("not created")),
        }
    })
    .await
}

async fn show(State(app): State<App>, Path(id): Path<i64>) -> Reply<db::Todo> {
    on_loop(async move {
        let todo = db::get(&app.pool, id).await?;
        todo.map(Json).ok_or(AppError::NotFound(id))
    })
    .await
}

async fn patch(
    State(app): State<App>,
    Path(id): Path<i64>,
    Json(patch): Json<TodoPatch>,
) -> Reply<db::Todo> {
    if patch.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(AppError::Invalid("a todo needs a title"));
    }
    on_loop(async move {
        let title = patch.title.as_deref().map(str::trim);
        let todo = db::update(&app.pool, id, title, patch.done).await?;
        todo.map(Json).ok_or(AppError::NotFound(id))
    })
    .await
}

async fn remove(State(app): State<App>, Path(id): Path<i64>) -> Result<StatusCode, AppError> {
    on_loop(async move {
        match db::delete(&app.pool, id).await? {
            Some(_) => Ok(StatusCode::NO_CONTENT),
            None => Err(AppError::NotFound(id)),
        }
    })
    .await
}

fn router(pool: Pool) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/todos", get(list).post(create))
        .route("/todos/{id}", get(show).patch(patch).delete(remove))
        .with_state(App {
            pool: OnLoop::new(pool),
        })
}

/// The command line: `--db CONNINFO --serve PORT --feed PORT`.
struct Args {
    db: Config,
    http_port: u16,
    feed_port: u16,
}

fn parse_args() -> io::Result<Args> {
    let usage = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: --db CONNINFO --serve PORT --feed PORT",
        )
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut db = None;
    let (mut http_port, mut feed_port) = (None, None);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(usage)?;
        let bad = |e: &dyn std::fmt::Display| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--db" => db = Some(value.parse::<Config>().map_err(|e| bad(&e))?),
            "--serve" => http_port = Some(value.parse().map_err(|e| bad(&e))?),
            "--feed" => feed_port = Some(value.parse().map_err(|e| bad(&e))?),
            _ => return Err(usage()),
        }
    }
    match (db, http_port, feed_port) {
        (Some(db), Some(http_port), Some(feed_port)) => Ok(Args {
            db,
            http_port,
            feed_port,
        }),
        _ => Err(usage()),
    }
}

/// Graceful close within [`GRACE`], then force (`HttpServer::shutdown`).
async fn close_http(server: &HttpServer) {
    let aborted = server.shutdown(GRACE).await;
    if aborted > 0 {
        println!("{aborted} connection(s) still open after {GRACE:?}: aborting");
    }
}

async fn run(args: Args) -> io::Result<()> {
    let err = |e: postgres::Error| io::Error::other(e.to_string());
    let pool = Pool::new(args.db.clone(), POOL_SIZE);
    db::migrate(&pool).await.map_err(err)?;

    let feed = Rc::new(feed::Feed::default());
    let (listener_client, listener_conn) = postgres::connect(&args.db).await.map_err(err)?;
    feed::listen(&listener_client, db::CHANNEL)
        .await
        .map_err(err)?;
    let forwarding =
        corio::create_task(feed::forward(feed.clone(), listener_client, listener_conn));
    let feed_server = feed::serve(feed.clone(), args.feed_port).await?;

    let options = ServerOptions {
        backlog: 1024,
        ..ServerOptions::default()
    };
    let listener = TcpListener::bind_with("127.0.0.1", args.http_port, options).await?;
    let addr = listener.local_addr()?;
    let http = serve_tower(listener, router(pool.clone()));

    let stop = Rc::new(corio::Event::new());
    for signal in [corio::signal::SIGINT, corio::signal::SIGTERM] {
        let stop = stop.clone();
        corio::add_signal_handler(signal, move || stop.set()).map_err(io::Error::other)?;
    }
    println!("feed on {}", feed_server.addresses()[0]);
    println!("listening on {addr}");
    stop.wait().await;

    println!("shutting down");
    close_http(&http).await;
    feed.close_all();
    feed_server.close();
    if corio::timeout(GRACE, feed_server.wait_closed())
        .await
        .is_err()
    {
        feed_server.abort_clients();
        feed_server.wait_closed().await;
    }
    forwarding.cancel();
    pool.close();
    pool.wait_closed().await;
    println!("server closed");
    Ok(())
}

fn main() -> io::Result<()> {
    let args = parse_args()?;
    corio::run(run(args)).map_err(|e| io::Error::other(e.to_string()))?
}
