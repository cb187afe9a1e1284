//! The same hyper hello-world service on corio (corio-compat) and on
//! tokio's current-thread runtime (a `LocalSet`, hyper-util's `TokioIo`),
//! each server pinned to CPU 0, the load generator to CPU 1: `wrk -t1`
//! (HTTP/1.1, 1 and 100 connections) and `h2load` (HTTP/2 prior knowledge).
//!
//! ```text
//! cargo build --release -p corio-bench --bin http
//! target/release/http run [SECONDS] [ROUNDS]   # needs wrk, h2load, taskset
//! target/release/http server corio|tokio   # prints PORT n, serves forever
//! ```
//!
//! Server CPU per request is utime + stime from `/proc/PID/stat` over the
//! load run, divided by the requests the load generator counted.

use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use corio_bench::load::{measure, median_f64, parse_h2load, parse_wrk};
use corio_bench::{corio_run, print_ratios};
use http_body_util::Full;
use hyper::{Request, Response};

async fn hello(_req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"Hello, World!",
    ))))
}

fn serve_corio() {
    corio_run(async {
        let listener = corio::net::TcpListener::bind("127.0.0.1", 0)
            .await
            .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        let server = corio::compat::serve(listener, hyper::service::service_fn(hello));
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

fn serve_tokio() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        println!("PORT {}", listener.local_addr().expect("addr").port());
        // Timers on both sides, as corio::compat::serve sets CorioTimer.
        let mut builder = hyper_util::server::conn::auto::Builder::new(TokioLocalExec);
        builder.http1().timer(hyper_util::rt::TokioTimer::new());
        builder.http2().timer(hyper_util::rt::TokioTimer::new());
        let builder = std::rc::Rc::new(builder);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            tokio::task::spawn_local(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = builder
                    .serve_connection(io, hyper::service::service_fn(hello))
                    .await;
            });
        }
    });
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("server") => {
            match args.get(1).map(String::as_str) {
                Some("tokio") => serve_tokio(),
                _ => serve_corio(),
            }
            return Ok(());
        }
        Some("run") | None => {}
        Some(other) => return Err(io::Error::other(format!("unknown command {other}"))),
    }
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let rounds: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    println!(
        "hyper hello world, server on CPU 0, load on CPU 1, {secs} s per run, median of {rounds} interleaved rounds"
    );
    println!(
        "{:<26} {:>12} {:>12} {:>14} {:>14}",
        "load", "corio req/s", "tokio req/s", "corio µs/req", "tokio µs/req"
    );
    type Cmd = Box<dyn Fn(u16) -> Vec<String>>;
    type Parse = fn(&str) -> Option<(f64, f64)>;
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let loads: Vec<(String, Cmd, Parse)> = vec![
        (
            "wrk HTTP/1.1 1 conn".into(),
            Box::new(move |port| {
                strings(&[
                    "wrk",
                    "-t1",
                    "-c1",
                    &format!("-d{secs}s"),
                    &format!("http://127.0.0.1:{port}/"),
                ])
            }),
            parse_wrk,
        ),
        (
            "wrk HTTP/1.1 100 conn".into(),
            Box::new(move |port| {
                strings(&[
                    "wrk",
                    "-t1",
                    "-c100",
                    &format!("-d{secs}s"),
                    &format!("http://127.0.0.1:{port}/"),
                ])
            }),
            parse_wrk,
        ),
        (
            "h2load 100 conn x 10 str".into(),
            Box::new(move |port| {
                strings(&[
                    "h2load",
                    "-c100",
                    "-m10",
                    "-t1",
                    "-D",
                    &secs.to_string(),
                    &format!("http://127.0.0.1:{port}/"),
                ])
            }),
            parse_h2load,
        ),
    ];
    let mut rows = Vec::new();
    for (name, cmd, parse) in &loads {
        let mut samples: [Vec<f64>; 4] = Default::default();
        for _ in 0..rounds {
            let (c_rps, c_cpu) = measure(&["corio"], cmd, *parse)?;
            let (t_rps, t_cpu) = measure(&["tokio"], cmd, *parse)?;
            for (v, x) in samples.iter_mut().zip([c_rps, t_rps, c_cpu, t_cpu]) {
                v.push(x);
            }
        }
        let [c_rps, t_rps, c_cpu, t_cpu] = samples.map(median_f64);
        println!("{name:<26} {c_rps:>12.0} {t_rps:>12.0} {c_cpu:>14.2} {t_cpu:>14.2}");
        rows.push((c_rps / t_rps, c_cpu / t_cpu));
    }
    print_ratios(&[
        ("http1_rps", (rows[0].0 + rows[1].0) / 2.0),
        ("http1_cpu", (rows[0].1 + rows[1].1) / 2.0),
        ("http2_rps", rows[2].0),
        ("http2_cpu", rows[2].1),
    ]);
    Ok(())
}
