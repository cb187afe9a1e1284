//! examples/todo_service's two kinds of request, on corio and on tokio's
//! current-thread runtime: one axum `Router` (the same code on both), a
//! pure-JSON endpoint (`/health`) and a read that hits PostgreSQL
//! (`/todos?limit=10`, ten rows of a real server, serialized to JSON).
//! Each server is pinned to CPU 0 and `wrk -t1 -c50` to CPU 1;
//! PostgreSQL (a throwaway cluster started here) runs where the kernel
//! puts it.
//!
//! ```text
//! cargo build --release -p corio-bench --bin todo
//! target/release/todo run [SECONDS] [ROUNDS]   # needs wrk, taskset, PostgreSQL
//! ```
//!
//! Both sides reach PostgreSQL the same way, through tokio-postgres's
//! `connect_raw` (corio: on a corio socket, the connection a corio task;
//! tokio: on a tokio socket, the connection a `spawn_local`), with
//! [`CLIENTS`] connections shared round-robin (tokio-postgres pipelines
//! the queries of concurrent requests on one connection). The service's
//! own pool is corio-only, so it is not what is compared here.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use corio::compat::axum::extract::{Query, State};
use corio::compat::axum::http::StatusCode;
use corio::compat::axum::routing::get;
use corio::compat::axum::{Json, Router};
use corio::compat::tokio_postgres::{Client, Config, NoTls};
use corio_bench::load::{measure, median_f64, parse_wrk};
use corio_bench::{corio_run, print_ratios};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// PostgreSQL connections per server.
const CLIENTS: usize = 4;

/// The connections, shared round-robin.
struct Db {
    clients: Vec<Client>,
    next: AtomicUsize,
}

impl Db {
    fn client(&self) -> &Client {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        &self.clients[i % self.clients.len()]
    }
}

#[derive(Serialize)]
struct Todo {
    id: i64,
    title: String,
    done: bool,
}

#[derive(Deserialize)]
struct Page {
    limit: i64,
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn todos(
    State(db): State<Arc<Db>>,
    Query(page): Query<Page>,
) -> Result<Json<Vec<Todo>>, StatusCode> {
    let rows = db
        .client()
        .query(
            "SELECT id, title, done FROM todos ORDER BY id LIMIT $1",
            &[&page.limit],
        )
        .await
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let todos = rows
        .iter()
        .map(|r| Todo {
            id: r.get(0),
            title: r.get(1),
            done: r.get(2),
        })
        .collect();
    Ok(Json(todos))
}

/// The service, the same on both runtimes.
fn router(clients: Vec<Client>) -> Router {
    let db = Arc::new(Db {
        clients,
        next: AtomicUsize::new(0),
    });
    Router::new()
        .route("/health", get(health))
        .route("/todos", get(todos))
        .with_state(db)
}

fn serve_corio(db: Config) {
    corio_run(async move {
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let (client, connection) = corio::compat::postgres::connect(&db).await.expect("db");
            drop(connection); // detached: its task runs as long as the client
            clients.push(client);
        }
        let listener = corio::net::TcpListener::bind_with(
            "127.0.0.1",
            0,
            corio::net::ServerOptions {
                backlog: 1024,
                ..Default::default()
            },
        )
        .await
        .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let server = corio::compat::serve_tower(listener, router(clients));
        server.wait_closed().await;
    });
}

#[derive(Clone, Copy)]
struct TokioLocalExec;

impl<F: std::future::Future + 'static> hyper::rt::Executor<F> for TokioLocalExec {
    fn execute(&self, fut: F) {
        tokio::task::spawn_local(fut);
    }
}

fn serve_tokio(db: Config) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let port = db.get_ports().first().copied().unwrap_or(5432);
        let mut clients = Vec::new();
        for _ in 0..CLIENTS {
            let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("db");
            let (client, connection) = db.connect_raw(stream, NoTls).await.expect("db");
            tokio::task::spawn_local(connection);
            clients.push(client);
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioLocalExec);
        builder.http1().timer(hyper_util::rt::TokioTimer::new());
        builder.http2().timer(hyper_util::rt::TokioTimer::new());
        let builder = std::rc::Rc::new(builder);
        let service = hyper_util::service::TowerToHyperService::new(router(clients));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (builder, service) = (builder.clone(), service.clone());
            tokio::task::spawn_local(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = builder.serve_connection(io, service).await;
            });
        }
    });
}

/// A cluster with the `todos` table and 100 rows.
fn database() -> io::Result<testkit::postgres::PgCluster> {
    let pg = testkit::postgres::PgCluster::start().map_err(io::Error::other)?;
    pg.psql(
        "CREATE TABLE todos (id bigserial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false);
         INSERT INTO todos (title, done) SELECT 'todo ' || i, i % 3 = 0 FROM generate_series(1, 100) i;",
    )
    .map_err(io::Error::other)?;
    Ok(pg)
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            let db: Config = args
                .get(2)
                .ok_or_else(|| io::Error::other("server corio|tokio CONNINFO"))?
                .parse()
                .map_err(io::Error::other)?;
            match args.get(1).map(String::as_str) {
                Some("tokio") => serve_tokio(db),
                _ => serve_corio(db),
            }
            return Ok(());
        }
        Some("run") | None => {}
        Some(other) => return Err(io::Error::other(format!("unknown command {other}"))),
    }
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let pg = database()?;
    let db = pg.tcp_url();
    println!(
        "todo service endpoints, server on CPU 0, wrk -t1 -c50 on CPU 1, {secs} s per run, median of {rounds} interleaved rounds"
    );
    println!(
        "{:<24} {:>12} {:>12} {:>14} {:>14}",
        "endpoint", "corio req/s", "tokio req/s", "corio µs/req", "tokio µs/req"
    );
    let mut rows = Vec::new();
    for (name, path) in [
        ("GET /health (JSON)", "/health"),
        ("GET /todos (PostgreSQL)", "/todos?limit=10"),
    ] {
        let cmd = |port: u16| {
            [
                "wrk".to_string(),
                "-t1".into(),
                "-c50".into(),
                format!("-d{secs}s"),
                format!("http://127.0.0.1:{port}{path}"),
            ]
            .to_vec()
        };
        let mut samples: [Vec<f64>; 4] = Default::default();
        for _ in 0..rounds {
            let (c_rps, c_cpu) = measure(&["corio", &db], cmd, parse_wrk)?;
            let (t_rps, t_cpu) = measure(&["tokio", &db], cmd, parse_wrk)?;
            for (v, x) in samples.iter_mut().zip([c_rps, t_rps, c_cpu, t_cpu]) {
                v.push(x);
            }
        }
        let [c_rps, t_rps, c_cpu, t_cpu] = samples.map(median_f64);
        println!("{name:<24} {c_rps:>12.0} {t_rps:>12.0} {c_cpu:>14.2} {t_cpu:>14.2}");
        rows.push((c_rps / t_rps, c_cpu / t_cpu));
    }
    print_ratios(&[
        ("todo_json_rps", rows[0].0),
        ("todo_json_cpu", rows[0].1),
        ("todo_db_rps", rows[1].0),
        ("todo_db_cpu", rows[1].1),
    ]);
    drop(pg);
    Ok(())
}
