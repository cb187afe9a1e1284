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
use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use bytes::Bytes;
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

/// A server child pinned to CPU 0, and its port.
fn start(kind: &str) -> io::Result<(Child, u16)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .args(["server", kind])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| io::Error::other(format!("server said {line:?}")))?;
    Ok((child, port))
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based).
    let utime: u64 = fields[11].parse().map_err(io::Error::other)?;
    let stime: u64 = fields[12].parse().map_err(io::Error::other)?;
    Ok(utime + stime)
}

/// Runs the load generator (pinned to CPU 1); its stdout.
fn load(cmd: &[String]) -> io::Result<String> {
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .args(cmd)
        .output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// requests/s and server CPU µs per request of one load run.
fn measure(
    kind: &str,
    cmd: impl Fn(u16) -> Vec<String>,
    parse: fn(&str) -> Option<(f64, f64)>,
) -> io::Result<(f64, f64)> {
    let (mut child, port) = start(kind)?;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(child.id())?;
    let out = load(&cmd(port))?;
    let after = cpu_ticks(child.id())?;
    let _ = child.kill();
    let _ = child.wait();
    let (rps, requests) =
        parse(&out).ok_or_else(|| io::Error::other(format!("cannot parse:\n{out}")))?;
    let cpu_us = (after - before) as f64 / ticks_per_sec * 1e6 / requests;
    Ok((rps, cpu_us))
}

/// wrk's `Requests/sec:` and its request count.
fn parse_wrk(out: &str) -> Option<(f64, f64)> {
    let rps = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let requests = out
        .lines()
        .find(|l| l.contains("requests in"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((rps, requests))
}

/// h2load's `finished in Xs, Y req/s` and `requests: N total, N started, N done, N succeeded`.
fn parse_h2load(out: &str) -> Option<(f64, f64)> {
    let finished = out.lines().find(|l| l.starts_with("finished in"))?;
    let rps = finished
        .split(", ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let requests = out
        .lines()
        .find(|l| l.starts_with("requests:"))?
        .split(", ")
        .find(|p| p.ends_with("succeeded"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((rps, requests))
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
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows = Vec::new();
    for (name, cmd, parse) in &loads {
        let mut samples: [Vec<f64>; 4] = Default::default();
        for _ in 0..rounds {
            let (c_rps, c_cpu) = measure("corio", cmd, *parse)?;
            let (t_rps, t_cpu) = measure("tokio", cmd, *parse)?;
            for (v, x) in samples.iter_mut().zip([c_rps, t_rps, c_cpu, t_cpu]) {
                v.push(x);
            }
        }
        let [c_rps, t_rps, c_cpu, t_cpu] = samples.map(median);
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
