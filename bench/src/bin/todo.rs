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

use corio::compat::ConnectInfo;
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
            // As corio's sockets are (asyncio's default), and as
            // tokio-postgres's own `Config::connect` sets it.
            stream.set_nodelay(true).expect("nodelay");
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
        let app = router(clients);
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (builder, app) = (builder.clone(), app.clone());
            // Each request carries its peer's address, as corio's
            // `serve_tower` and axum's `into_make_service_with_connect_info`
            // give it: the same work on both sides.
            let service = hyper::service::service_fn(move |mut req| {
                req.extensions_mut().insert(ConnectInfo(peer));
                tower::ServiceExt::oneshot(app.clone(), req)
            });
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
        Some("counts") => return counts(),
        Some("syscalls") => return syscalls(),
        Some("run") | None => {}
        Some(other) => return Err(io::Error::other(format!("unknown command {other}"))),
    }
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let pg = database()?;
    let db = pg.tcp_url();
    println!(
        "todo service endpoints, server on CPU 0, wrk -t1 -c50 on CPU 1, {secs} s per run, median of {rounds} interleaved rounds (first runtime alternating)"
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
        for round in 0..rounds {
            // Which runtime goes first alternates from round to round.
            let ((c_rps, c_cpu), (t_rps, t_cpu)) = if round % 2 == 0 {
                let c = measure(&["corio", &db], cmd, parse_wrk)?;
                (c, measure(&["tokio", &db], cmd, parse_wrk)?)
            } else {
                let t = measure(&["tokio", &db], cmd, parse_wrk)?;
                (measure(&["corio", &db], cmd, parse_wrk)?, t)
            };
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

/// `todo counts`: user-space instructions per request of each server
/// (callgrind), the difference of a 4 s and an 8 s `wrk` run so that
/// start-up (the pool's connections) cancels out.
fn counts() -> io::Result<()> {
    let pg = database()?;
    let db = pg.tcp_url();
    println!("| endpoint | server | instructions/request |\n|---|---|---:|");
    for (name, path) in [("/health", "/health"), ("/todos", "/todos?limit=10")] {
        for rt in ["corio", "tokio"] {
            let (short_ins, short_reqs) = callgrind_run(rt, &db, path, 4)?;
            let (long_ins, long_reqs) = callgrind_run(rt, &db, path, 8)?;
            let per = (long_ins - short_ins) / (long_reqs - short_reqs);
            println!("| {name} | {rt} | {per:.0} |");
        }
    }
    drop(pg);
    Ok(())
}

/// One server of `rt` under callgrind, `wrk -t1 -c10` on `path` for
/// `secs`; (instructions, requests).
fn callgrind_run(rt: &str, db: &str, path: &str, secs: u64) -> io::Result<(f64, f64)> {
    let endpoint: String = path
        .chars()
        .take_while(|c| *c != '?')
        .filter(char::is_ascii_alphanumeric)
        .collect();
    let out = std::env::temp_dir().join(format!(
        "todo-cg-{}-{endpoint}-{rt}-{secs}",
        std::process::id()
    ));
    let tool = ["valgrind".into(), "--tool=callgrind".into(), "-q".into(), {
        let mut o = std::ffi::OsString::from("--callgrind-out-file=");
        o.push(&out);
        o
    }];
    let (mut child, requests) = server_under_load(&tool, rt, db, path, secs)?;
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()?;
    child.wait()?;
    let text = std::fs::read_to_string(&out)?;
    // TODO_CALLGRIND_KEEP=1 keeps the profiles (for callgrind_annotate).
    if std::env::var_os("TODO_CALLGRIND_KEEP").is_none() {
        std::fs::remove_file(&out).ok();
    } else {
        eprintln!("kept {}", out.display());
    }
    let total = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|n| n.trim().parse::<f64>().ok())
        .ok_or_else(|| io::Error::other("no callgrind total"))?;
    Ok((total, requests))
}

/// `todo syscalls`: each server's syscalls during a 4 s `wrk -c10` run on
/// `/health` and `/todos` (`strace -c -f`), per request.
fn syscalls() -> io::Result<()> {
    let pg = database()?;
    let db = pg.tcp_url();
    for (name, path) in [("/health", "/health"), ("/todos", "/todos?limit=10")] {
        for rt in ["corio", "tokio"] {
            let out = std::env::temp_dir().join(format!("todo-st-{}-{rt}", std::process::id()));
            let tool = [
                "strace".into(),
                "-c".into(),
                "-f".into(),
                "-o".into(),
                out.clone().into_os_string(),
            ];
            let (mut child, requests) = server_under_load(&tool, rt, &db, path, 4)?;
            // The server is strace's child: stopping it ends strace.
            std::process::Command::new("pkill")
                .args(["-TERM", "-P", &child.id().to_string()])
                .status()?;
            child.wait()?;
            let report = std::fs::read_to_string(&out)?;
            std::fs::remove_file(&out).ok();
            println!("== {name} {rt}: {requests} requests");
            for line in report.lines().skip(2) {
                let f: Vec<&str> = line.split_whitespace().collect();
                if f.len() >= 5
                    && let Ok(calls) = f[3].parse::<f64>()
                {
                    let name = f.last().copied().unwrap_or("");
                    if calls / requests >= 0.05 {
                        println!("  {name:<16} {:.2}/req", calls / requests);
                    }
                }
            }
        }
    }
    drop(pg);
    Ok(())
}

/// Runs `tool_args` + this binary as `server RT DB` (a server under a
/// tool: valgrind, strace), then `wrk -t1 -c10` on `path` for `secs`
/// against it (`TODO_CONNECTIONS=N`: `-cN`); the child (still running)
/// and the requests wrk made.
fn server_under_load(
    tool_args: &[std::ffi::OsString],
    rt: &str,
    db: &str,
    path: &str,
    secs: u64,
) -> io::Result<(std::process::Child, f64)> {
    use std::io::BufRead;
    let (tool, args) = tool_args.split_first().expect("a tool");
    let mut child = std::process::Command::new(tool)
        .args(args)
        .arg(std::env::current_exe()?)
        .args(["server", rt, db])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufReader::new(child.stdout.take().expect("stdout")).lines();
    let port: u16 = loop {
        let line = lines.next().ok_or_else(|| io::Error::other("no PORT"))??;
        if let Some(p) = line.strip_prefix("PORT ") {
            break p.trim().parse().map_err(io::Error::other)?;
        }
    };
    let connections = std::env::var("TODO_CONNECTIONS").unwrap_or_else(|_| "10".into());
    let wrk = corio_bench::load::run_load(&[
        "wrk".into(),
        "-t1".into(),
        format!("-c{connections}"),
        format!("-d{secs}s"),
        format!("http://127.0.0.1:{port}{path}"),
    ])?;
    let (_, requests) =
        parse_wrk(&wrk).ok_or_else(|| io::Error::other(format!("wrk said {wrk}")))?;
    Ok((child, requests))
}
