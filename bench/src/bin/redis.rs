//! `redis-benchmark` against three Redis servers side by side: corio's
//! (the `mini_redis` example, on the protocol layer), the real
//! `redis-server` (single-threaded `ae`, persistence off) and a tokio
//! port of the example (the same parser, keyspace and commands; only the
//! I/O differs). Also corio on streams, to choose the layer by measure.
//! Each server pinned to CPU 0, redis-benchmark pinned to CPU 1.
//!
//! ```text
//! cargo build --release -p corio-bench --bin redis
//! target/release/redis run [ROUNDS] [REQUESTS] [KIND,KIND..]  # ops/s and server CPU µs/op
//! ```
//!
//! The pieces, run by the driver as child processes: `redis server KIND
//! [--port N]` (KIND: `corio`, `corio-streams`, `tokio`; prints `PORT n`
//! and serves until killed).

// The example's modules, compiled here: the corio server is the example's
// own code, and the tokio peer shares everything but the I/O.
#[path = "../../../examples/mini_redis/commands.rs"]
mod commands;
#[path = "../../../examples/mini_redis/db.rs"]
mod db;
#[path = "../../../examples/mini_redis/resp.rs"]
mod resp;
#[allow(dead_code)]
#[path = "../../../examples/mini_redis/server.rs"]
mod server;
#[path = "../../../examples/mini_redis/sys.rs"]
mod sys;

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use commands::{Outcome, Settings};
use db::Db;
use resp::Parser;

const KINDS: [&str; 4] = ["corio", "redis-server", "tokio", "corio-streams"];
const TESTS: [&str; 3] = ["SET", "GET", "INCR"];
const PIPELINES: [usize; 2] = [1, 16];
const CLIENTS: usize = 50;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(at) => args
            .get(at + 1)
            .and_then(|p| p.parse().ok())
            .expect("--port N"),
        None => 0,
    };
    match arg(0, "run").as_str() {
        "server" => match arg(1, "corio").as_str() {
            "corio" => corio_server(port),
            "corio-streams" => corio_streams_server(port),
            "tokio" => tokio_server(port),
            other => Err(io::Error::other(format!("unknown server {other}"))),
        },
        "run" => {
            let only = arg(3, "");
            let kinds: Vec<&str> = KINDS
                .iter()
                .copied()
                .filter(|k| only.is_empty() || only.split(',').any(|o| o == *k))
                .collect();
            run(
                arg(1, "3").parse().expect("ROUNDS"),
                arg(2, "200000").parse().expect("REQUESTS"),
                &kinds,
            )
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown mode {other}: run [ROUNDS] [REQUESTS] | server KIND [--port N]"),
        )),
    }
}

fn announce(port: u16) {
    println!("PORT {port}");
    io::stdout().flush().expect("stdout");
}

// ---------------------------------------------------------------- servers

/// The example's server, exactly as `mini_redis --serve` runs it.
fn corio_server(port: u16) -> io::Result<()> {
    corio_bench::corio_run(async move {
        let shared = server::Shared::new(server::Config::default());
        let server = server::serve(shared, "127.0.0.1", port).await?;
        announce(server.addresses()[0].port());
        server.serve_forever().await
    })
}

/// Runs every whole command in `input` against `db`, appending replies to
/// `out`; returns the bytes consumed, or `None` after a protocol error
/// (its reply appended). The driver of the two streams-style servers.
fn run_batch(
    parser: &mut Parser,
    db: &RefCell<Db>,
    settings: &Settings,
    input: &[u8],
    out: &mut Vec<u8>,
) -> Option<usize> {
    let now = db::now_ms();
    let mut pos = 0;
    loop {
        match parser.feed(&input[pos..]) {
            Ok((used, Some(cmd))) => {
                pos += used;
                match commands::lookup(cmd.arg(0)) {
                    Some(spec) if commands::arity_ok(spec.arity, cmd.len()) => {
                        let mut db = db.borrow_mut();
                        if commands::execute(spec.cmd, &cmd, &mut db, settings, now, out)
                            == Outcome::NotMine
                        {
                            resp::error(out, "ERR not in the benchmark's server");
                        }
                    }
                    Some(spec) => commands::wrong_arity(spec.name, out),
                    None => commands::unknown_command(&cmd, out),
                }
                parser.clear();
            }
            Ok((used, None)) => return Some(pos + used),
            Err(e) => {
                resp::error(out, format!("ERR {e}"));
                return None;
            }
        }
    }
}

/// corio on streams: a task per connection, `read_into` a buffer, one
/// `write` per read, `drain` for flow control.
fn corio_streams_server(port: u16) -> io::Result<()> {
    use corio::net::{ServerOptions, StreamReader, StreamWriter, start_server_with};
    corio_bench::corio_run(async move {
        let db = Rc::new(RefCell::new(Db::new()));
        let settings = Rc::new(Settings { maxclients: 10_000 });
        let handler = move |reader: StreamReader, writer: StreamWriter| {
            let (db, settings) = (db.clone(), settings.clone());
            async move {
                let mut parser = Parser::new();
                let mut buf = vec![0; 64 * 1024];
                let mut pending: Vec<u8> = Vec::new();
                let mut out = Vec::new();
                while let Ok(n) = reader.read_into(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let input: &[u8] = if pending.is_empty() {
                        &buf[..n]
                    } else {
                        pending.extend_from_slice(&buf[..n]);
                        &pending
                    };
                    let used = run_batch(&mut parser, &db, &settings, input, &mut out);
                    let rest = used.map(|u| input[u..].to_vec());
                    if writer.write(&out).is_err() || writer.drain().await.is_err() {
                        break;
                    }
                    out.clear();
                    match rest {
                        Some(rest) => pending = rest,
                        None => break,
                    }
                }
                writer.close();
            }
        };
        let options = ServerOptions {
            backlog: 511,
            ..ServerOptions::default()
        };
        let server = start_server_with(handler, "127.0.0.1", port, options).await?;
        announce(server.addresses()[0].port());
        server.serve_forever().await
    })
}

/// The tokio port: current-thread runtime, a task per connection, the
/// example's parser and keyspace (in a `RefCell` on a `LocalSet`, as
/// corio's are: one thread, no locks).
fn tokio_server(port: u16) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce(listener.local_addr()?.port());
        let db = Rc::new(RefCell::new(Db::new()));
        let settings = Rc::new(Settings { maxclients: 10_000 });
        loop {
            let (mut sock, _) = listener.accept().await?;
            sock.set_nodelay(true)?;
            let (db, settings) = (db.clone(), settings.clone());
            tokio::task::spawn_local(async move {
                let mut parser = Parser::new();
                let mut buf = vec![0; 64 * 1024];
                let mut pending: Vec<u8> = Vec::new();
                let mut out = Vec::new();
                while let Ok(n) = sock.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let input: &[u8] = if pending.is_empty() {
                        &buf[..n]
                    } else {
                        pending.extend_from_slice(&buf[..n]);
                        &pending
                    };
                    let used = run_batch(&mut parser, &db, &settings, input, &mut out);
                    let rest = used.map(|u| input[u..].to_vec());
                    if sock.write_all(&out).await.is_err() {
                        break;
                    }
                    out.clear();
                    match rest {
                        Some(rest) => pending = rest,
                        None => break,
                    }
                }
            });
        }
    })
}

// ----------------------------------------------------------------- driver

/// A server child pinned to CPU 0; killed on drop.
struct ServerChild {
    child: Child,
    port: u16,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl ServerChild {
    fn start(kind: &str) -> io::Result<ServerChild> {
        let mut cmd = Command::new("taskset");
        cmd.args(["-c", "0"]);
        if kind == "redis-server" {
            let port = free_port()?;
            cmd.args(["redis-server", "--save", "", "--appendonly", "no"])
                .args(["--port", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let child = cmd.spawn()?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                if Instant::now() > deadline {
                    return Err(io::Error::other("redis-server did not start"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(ServerChild { child, port });
        }
        let mut child = cmd
            .arg(std::env::current_exe()?)
            .args(["server", kind])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while !line.starts_with("PORT ") {
            line.clear();
            if out.read_line(&mut line)? == 0 {
                return Err(io::Error::other(format!("{kind} server did not start")));
            }
        }
        let port = line[5..].trim().parse().map_err(io::Error::other)?;
        Ok(ServerChild { child, port })
    }
}

/// CPU time a process has used, in ns, every thread summed: the first
/// field of each `/proc/PID/task/TID/schedstat` (nanoseconds on the CPU;
/// `/proc/PID/stat`'s utime+stime count 10 ms ticks, too coarse for a
/// 0.2 s run at -P 16).
fn cpu_ns(pid: u32) -> io::Result<u64> {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let stat = std::fs::read_to_string(task?.path().join("schedstat"))?;
        total += stat
            .split_whitespace()
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .ok_or_else(|| io::Error::other(format!("bad schedstat {stat:?}")))?;
    }
    Ok(total)
}

/// One test of redis-benchmark (pinned to CPU 1): (ops/s, server CPU
/// µs per op).
fn bench_one(
    server: &ServerChild,
    test: &str,
    pipeline: usize,
    n: usize,
) -> io::Result<(f64, f64)> {
    let before = cpu_ns(server.child.id())?;
    let out = Command::new("taskset")
        .args(["-c", "1", "redis-benchmark", "-p", &server.port.to_string()])
        .args(["-t", &test.to_lowercase(), "-c", &CLIENTS.to_string()])
        .args(["-n", &n.to_string(), "-P", &pipeline.to_string(), "--csv"])
        .stdin(Stdio::null())
        .output()?;
    let after = cpu_ns(server.child.id())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|l| l.starts_with(&format!("\"{test}\"")))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|v| v.trim_matches('"').parse::<f64>().ok())
        .ok_or_else(|| io::Error::other(format!("no {test} row in:\n{text}")))?;
    let cpu_us = (after - before) as f64 / 1000.0 / n as f64;
    Ok((rps, cpu_us))
}

/// Test name → (ops/s, CPU µs/op) of each round.
type PerTest = HashMap<&'static str, Vec<(f64, f64)>>;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// How far the rounds strayed from their median, in percent of it (the
/// larger of the two sides): a difference between two servers smaller
/// than this is the machine's noise, not theirs.
fn spread(xs: &[f64]) -> f64 {
    let mid = median(xs.to_vec());
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    100.0 * (hi - mid).max(mid - lo) / mid
}

fn run(rounds: usize, n: usize, kinds: &[&str]) -> io::Result<()> {
    println!(
        "redis-benchmark -c {CLIENTS} -n {n}; servers on CPU 0, redis-benchmark on CPU 1; \
         median of {rounds} interleaved rounds\n"
    );
    // The reference of the ratio columns: redis-server when it runs.
    let base = if kinds.contains(&"redis-server") {
        "redis-server"
    } else {
        kinds[0]
    };
    println!(
        "| test | -P | server | ops/s ±spread | vs {base} | server CPU µs/op ±spread | vs {base} |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    let mut ratios: Vec<(String, f64)> = Vec::new();
    for pipeline in PIPELINES {
        // results[kind][test] = [(ops/s, µs/op)] over rounds
        let mut results: HashMap<&str, PerTest> = HashMap::new();
        for round in 0..rounds {
            // Rotate who goes first, so no server always follows another.
            for k in 0..kinds.len() {
                let kind = kinds[(k + round) % kinds.len()];
                let server = ServerChild::start(kind)?;
                for test in TESTS {
                    let r = bench_one(&server, test, pipeline, n)?;
                    results
                        .entry(kind)
                        .or_default()
                        .entry(test)
                        .or_default()
                        .push(r);
                }
            }
        }
        for test in TESTS {
            let rates = |kind: &str| results[kind][test].iter().map(|r| r.0).collect::<Vec<_>>();
            let cpus = |kind: &str| results[kind][test].iter().map(|r| r.1).collect::<Vec<_>>();
            let rate = |kind: &str| median(rates(kind));
            let cpu = |kind: &str| median(cpus(kind));
            let (redis_rate, redis_cpu) = (rate(base), cpu(base));
            for &kind in kinds {
                println!(
                    "| {test} | {pipeline} | {kind} | {:.0} ±{:.0}% | {:.2} | {:.3} ±{:.0}% | {:.2} |",
                    rate(kind),
                    spread(&rates(kind)),
                    rate(kind) / redis_rate,
                    cpu(kind),
                    spread(&cpus(kind)),
                    cpu(kind) / redis_cpu,
                );
            }
            let t = test.to_lowercase();
            if kinds != KINDS {
                continue; // the ratios need every server
            }
            ratios.push((format!("redis_{t}_p{pipeline}"), rate("corio") / redis_rate));
            ratios.push((
                format!("redis_cpu_{t}_p{pipeline}"),
                cpu("corio") / redis_cpu,
            ));
            ratios.push((
                format!("redis_{t}_p{pipeline}_vs_tokio"),
                rate("corio") / rate("tokio"),
            ));
            ratios.push((
                format!("redis_cpu_{t}_p{pipeline}_vs_tokio"),
                cpu("corio") / cpu("tokio"),
            ));
            ratios.push((
                format!("redis_{t}_p{pipeline}_streams_vs_protocol"),
                rate("corio-streams") / rate("corio"),
            ));
        }
    }
    let ratios: Vec<(&str, f64)> = ratios.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    corio_bench::print_ratios(&ratios);
    Ok(())
}
