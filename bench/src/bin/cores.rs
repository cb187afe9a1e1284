//! Many cores = many loops (DESIGN rule 10, issue 31 item 5): corio on 1
//! loop and on 2 loops (`Cores` + `SharedPort`, i.e. `SO_REUSEPORT`) against
//! tokio's multi-thread runtime (2 workers) and its current-thread runtime,
//! all driven by the same client in one run:
//!
//! - `http`: hyper HTTP/1.1 whose handler hashes for about 20 µs per request
//!   (std `DefaultHasher` rounds, calibrated once by the driver and passed to
//!   every server, so each does the same work); load `wrk -t1 -c100 --latency`.
//! - `echo`: TCP echo ping-pong, 100 connections, 64-byte messages; load: this
//!   binary's own client (one thread, epoll, per-message round-trip times).
//!
//! ```text
//! cargo build --release -p corio-bench --bin cores
//! target/release/cores run [SECONDS] [ROUNDS]       # needs wrk
//! target/release/cores server http|echo KIND [ITERS] # KIND: corio1 corio2 tokio-mt tokio-ct
//! target/release/cores client PORT CONNS SECONDS    # echo client
//! ```
//!
//! Nothing is pinned: the servers and the client share the machine's
//! cores, as they would on a 2-core box. Rounds are interleaved (each round
//! runs every server once, in a rotated order); the tables give the median
//! and the spread (min–max) of the rounds.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use bytes::Bytes;
use corio::net::{DEFAULT_LIMIT, SharedPort, StreamReader, StreamWriter, start_server_with};
use corio::{Core, Cores};
use corio_bench::print_ratios;
use http_body_util::Full;
use hyper::{Request, Response};

const KINDS: [&str; 4] = ["corio1", "corio2", "tokio-mt", "tokio-ct"];
const MESSAGE: usize = 64;
const ECHO_CONNS: usize = 100;
const HTTP_CONNS: usize = 100;
/// Same listen backlog for every server (tokio's `TcpListener::bind`).
const BACKLOG: i32 = 1024;
/// The handler's target CPU time per request.
const WORK: Duration = Duration::from_micros(20);

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    match arg(0, "run").as_str() {
        "server" => {
            let iters = arg(3, "0").parse().map_err(io::Error::other)?;
            server(&arg(1, "http"), &arg(2, "corio1"), iters)
        }
        "client" => {
            let port = arg(1, "0").parse().map_err(io::Error::other)?;
            let conns = arg(2, "100").parse().map_err(io::Error::other)?;
            let secs = arg(3, "3").parse().map_err(io::Error::other)?;
            let (msgs, secs, p99) = client(port, conns, Duration::from_secs(secs))?;
            println!("MSGS {msgs} SECS {secs} P99_US {p99}");
            Ok(())
        }
        "run" => run(
            arg(1, "3").parse().map_err(io::Error::other)?,
            arg(2, "3").parse().map_err(io::Error::other)?,
        ),
        other => Err(io::Error::other(format!(
            "unknown mode {other}: run | server http|echo KIND [ITERS] | client PORT CONNS SECS"
        ))),
    }
}

// ------------------------------------------------------------- the work

/// `iters` rounds of std's `DefaultHasher` (SipHash-1-3), chained so the
/// optimiser cannot skip any.
fn hash_work(iters: u64) -> u64 {
    let mut x = black_box(0x9e37_79b9_7f4a_7c15_u64);
    for i in 0..iters {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        i.hash(&mut h);
        x = h.finish();
    }
    black_box(x)
}

/// Rounds of [`hash_work`] that take about [`WORK`] on this machine: from
/// the fastest of many short probes (a short probe is rarely preempted, so
/// the fastest one is the undisturbed speed).
fn calibrate() -> u64 {
    let probe = 2_000;
    let best = (0..300)
        .map(|_| {
            let start = Instant::now();
            hash_work(probe);
            start.elapsed()
        })
        .min()
        .unwrap_or(Duration::from_micros(20));
    ((WORK.as_secs_f64() / best.as_secs_f64()) * probe as f64).round() as u64
}

async fn hashing(
    iters: u64,
    _req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let x = hash_work(iters);
    Ok(Response::new(Full::new(Bytes::from(format!("{x:016x}\n")))))
}

// ------------------------------------------------------------- servers

fn announce(port: u16) {
    println!("PORT {port}");
    io::stdout().flush().expect("stdout");
}

fn server(what: &str, kind: &str, iters: u64) -> io::Result<()> {
    match kind {
        "corio1" => serve_corio(what, 1, iters),
        "corio2" => serve_corio(what, 2, iters),
        "tokio-mt" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            serve_tokio(what, &rt, iters)
        }
        "tokio-ct" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            serve_tokio(what, &rt, iters)
        }
        other => Err(io::Error::other(format!("unknown server {other}"))),
    }
}

/// The streams echo, as tokio's: one buffer, reused for every read.
async fn stream_echo(reader: StreamReader, writer: StreamWriter) {
    let mut buf = vec![0; DEFAULT_LIMIT];
    while let Ok(n) = reader.read_into(&mut buf).await {
        if n == 0 || writer.write(&buf[..n]).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
}

/// `loops` corio loops (`Cores`), each serving the shared port; the same
/// code for 1 loop and for 2. Serves until killed.
fn serve_corio(what: &str, loops: usize, iters: u64) -> io::Result<()> {
    let shared = SharedPort::reserve(([127, 0, 0, 1], 0).into())?;
    let port = shared.port();
    let mut options = shared.server_options();
    options.backlog = BACKLOG;
    let listening = Arc::new(Barrier::new(loops));
    let http = what == "http";
    let result = Cores::new().count(loops).run(move |core: Core| {
        let (options, listening) = (options.clone(), listening.clone());
        async move {
            corio::get_running_loop()
                .expect("inside a loop")
                .set_slow_callback_duration(Duration::from_secs(3600));
            if http {
                let listener =
                    corio::net::TcpListener::bind_with("127.0.0.1", port, options).await?;
                let service = hyper::service::service_fn(move |req| hashing(iters, req));
                let server = corio::compat::serve(listener, service);
                listening.wait();
                if core.index() == 0 {
                    announce(port);
                }
                server.wait_closed().await;
            } else {
                let server = start_server_with(stream_echo, "127.0.0.1", port, options).await?;
                listening.wait();
                if core.index() == 0 {
                    announce(port);
                }
                server.wait_closed().await;
            }
            io::Result::Ok(())
        }
    });
    drop(shared);
    match result {
        Ok(results) => results.into_iter().collect(),
        Err(e) => Err(io::Error::other(e.to_string())),
    }
}

/// hyper or echo on a tokio runtime (`tokio::spawn` per connection, so the
/// multi-thread runtime spreads and steals them). Serves until killed.
fn serve_tokio(what: &str, rt: &tokio::runtime::Runtime, iters: u64) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let http = what == "http";
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?.port());
        // Timers on both sides, as corio::compat::serve sets CorioTimer.
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder.http1().timer(hyper_util::rt::TokioTimer::new());
        builder.http2().timer(hyper_util::rt::TokioTimer::new());
        let builder = Arc::new(builder);
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            stream.set_nodelay(true)?;
            if http {
                let builder = builder.clone();
                tokio::spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let service = hyper::service::service_fn(move |req| hashing(iters, req));
                    let _ = builder.serve_connection(io, service).await;
                });
            } else {
                tokio::spawn(async move {
                    let mut buf = vec![0; DEFAULT_LIMIT];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        }
    })
}

// ---------------------------------------------------------- echo client

/// Ping-pong on `conns` connections for `limit`: (messages, seconds, p99
/// round trip in µs).
fn client(port: u16, conns: usize, limit: Duration) -> io::Result<(u64, f64, u64)> {
    let mut rtts: Vec<u32> = Vec::with_capacity(1 << 20);
    let start = Instant::now();
    let secs = corio_bench::load::ping_pong(port, conns, MESSAGE, |rtt| {
        rtts.push(rtt.as_micros().min(u32::MAX as u128) as u32);
        !rtts.len().is_multiple_of(64) || start.elapsed() < limit
    })?;
    let msgs = rtts.len() as u64;
    rtts.sort_unstable();
    let p99 = rtts[((rtts.len() - 1) as f64 * 0.99).round() as usize];
    Ok((msgs, secs, u64::from(p99)))
}

// -------------------------------------------------------------- driver

/// A server child (not pinned) and its port; killed on drop.
struct ServerChild {
    child: Child,
    port: u16,
}

impl ServerChild {
    fn start(what: &str, kind: &str, iters: u64) -> io::Result<ServerChild> {
        let exe = std::env::current_exe()?;
        let mut child = Command::new(exe)
            .args(["server", what, kind, &iters.to_string()])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        while !line.starts_with("PORT ") {
            line.clear();
            if out.read_line(&mut line)? == 0 {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::other(format!("{what} {kind} did not start")));
            }
        }
        let port = line[5..].trim().parse().map_err(io::Error::other)?;
        Ok(ServerChild { child, port })
    }
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One load run's figures: requests (or messages) per second, p99 in µs.
#[derive(Clone, Copy)]
struct Sample {
    rate: f64,
    p99_us: f64,
    /// Server CPU (user + system) per request or message, µs.
    cpu_us: f64,
    /// The client's (wrk's or ours) CPU per request or message, µs.
    client_us: f64,
    /// The busiest server thread's share of the server's CPU (%): 100
    /// on one loop, 50 when two loops split the work evenly.
    top_thread: f64,
}

/// CPU ticks of each thread of `pid`, by thread id.
fn thread_ticks(pid: u32) -> io::Result<HashMap<u32, u64>> {
    let mut ticks = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let tid: u32 = entry?
            .file_name()
            .to_string_lossy()
            .parse()
            .map_err(io::Error::other)?;
        ticks.insert(tid, cpu_ticks_of(&format!("/proc/{pid}/task/{tid}/stat"))?);
    }
    Ok(ticks)
}

/// The busiest thread's share (%) of the ticks between two snapshots.
fn top_share(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> f64 {
    let deltas: Vec<u64> = after
        .iter()
        .map(|(tid, t)| t - before.get(tid).copied().unwrap_or(0))
        .collect();
    let total: u64 = deltas.iter().sum();
    let top = deltas.iter().copied().max().unwrap_or(0);
    if total == 0 {
        0.0
    } else {
        top as f64 * 100.0 / total as f64
    }
}

/// cutime + cstime of this process (the children it has waited for), in
/// clock ticks: read around a load run, the client's CPU.
fn children_ticks() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
        .split(' ')
        .collect();
    let tick = |i: usize| fields[i].parse::<u64>().map_err(io::Error::other);
    Ok(tick(13)? + tick(14)?)
}

/// utime + stime of `pid`, in clock ticks (10 ms).
fn cpu_ticks(pid: u32) -> io::Result<u64> {
    cpu_ticks_of(&format!("/proc/{pid}/stat"))
}

/// utime + stime from a `/proc/…/stat` file, in clock ticks.
fn cpu_ticks_of(path: &str) -> io::Result<u64> {
    let stat = std::fs::read_to_string(path)?;
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
        .split(' ')
        .collect();
    let tick = |i: usize| fields[i].parse::<u64>().map_err(io::Error::other);
    Ok(tick(11)? + tick(12)?)
}

/// Server CPU µs per unit of work, from ticks and a rate over `secs`.
fn cpu_per(ticks: u64, rate: f64, secs: f64) -> f64 {
    ticks as f64 * 10_000.0 / (rate * secs)
}

fn output(cmd: &mut Command) -> io::Result<String> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A wrk latency like `1.23ms`, in µs.
fn wrk_micros(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|x| x * scale)
}

/// wrk's `Requests/sec:` and the `99%` line of `--latency`.
fn parse_wrk(out: &str) -> Option<Sample> {
    let rate = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p99 = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| wrk_micros(v.trim()))?;
    Some(Sample {
        rate,
        p99_us: p99,
        cpu_us: 0.0,
        client_us: 0.0,
        top_thread: 0.0,
    })
}

fn http_run(kind: &str, iters: u64, secs: u64) -> io::Result<Sample> {
    let server = ServerChild::start("http", kind, iters)?;
    let before = cpu_ticks(server.child.id())?;
    let threads_before = thread_ticks(server.child.id())?;
    let client_before = children_ticks()?;
    let out = output(Command::new("wrk").args([
        "-t1",
        &format!("-c{HTTP_CONNS}"),
        &format!("-d{secs}s"),
        "--latency",
        &format!("http://127.0.0.1:{}/", server.port),
    ]))?;
    if out.contains("Non-2xx") || out.contains("Socket errors") {
        eprintln!("wrk on {kind} reported errors:\n{out}");
    }
    let after = cpu_ticks(server.child.id())?;
    let mut sample =
        parse_wrk(&out).ok_or_else(|| io::Error::other(format!("cannot parse wrk:\n{out}")))?;
    sample.cpu_us = cpu_per(after - before, sample.rate, secs as f64);
    let client = children_ticks()? - client_before;
    sample.client_us = cpu_per(client, sample.rate, secs as f64);
    sample.top_thread = top_share(&threads_before, &thread_ticks(server.child.id())?);
    Ok(sample)
}

fn echo_run(kind: &str, secs: u64) -> io::Result<Sample> {
    let server = ServerChild::start("echo", kind, 0)?;
    let before = cpu_ticks(server.child.id())?;
    let threads_before = thread_ticks(server.child.id())?;
    let client_before = children_ticks()?;
    let exe = std::env::current_exe()?;
    let out = output(Command::new(exe).args([
        "client",
        &server.port.to_string(),
        &ECHO_CONNS.to_string(),
        &secs.to_string(),
    ]))?;
    let line = out
        .lines()
        .find(|l| l.starts_with("MSGS "))
        .ok_or_else(|| io::Error::other(format!("client said {out:?}")))?;
    let after = cpu_ticks(server.child.id())?;
    let client = children_ticks()? - client_before;
    let top_thread = top_share(&threads_before, &thread_ticks(server.child.id())?);
    let f: Vec<&str> = line.split(' ').collect();
    let num = |i: usize| f[i].parse::<f64>().map_err(io::Error::other);
    Ok(Sample {
        rate: num(1)? / num(3)?,
        p99_us: num(5)?,
        cpu_us: num(1)?.recip() * (after - before) as f64 * 10_000.0,
        client_us: num(1)?.recip() * client as f64 * 10_000.0,
        top_thread,
    })
}

/// (median, min, max) of a sample.
fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

/// Prints one benchmark's table; returns the median rate and p99 by kind.
fn table(title: &str, unit: &str, samples: &[Vec<Sample>; 4]) -> [(f64, f64); 4] {
    println!("\n{title}\n");
    println!(
        "| server | {unit} median | {unit} min–max | p99 µs median | p99 µs min–max | server CPU µs each | client CPU µs each | busiest thread % |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let mut medians = [(0.0, 0.0); 4];
    for (k, kind) in KINDS.iter().enumerate() {
        let rates: Vec<f64> = samples[k].iter().map(|s| s.rate).collect();
        let p99s: Vec<f64> = samples[k].iter().map(|s| s.p99_us).collect();
        let (r, rlo, rhi) = stats(&rates);
        let (p, plo, phi) = stats(&p99s);
        let cpus: Vec<f64> = samples[k].iter().map(|s| s.cpu_us).collect();
        let (c, _, _) = stats(&cpus);
        let clients: Vec<f64> = samples[k].iter().map(|s| s.client_us).collect();
        let (l, _, _) = stats(&clients);
        let tops: Vec<f64> = samples[k].iter().map(|s| s.top_thread).collect();
        let (t, _, _) = stats(&tops);
        println!(
            "| {kind} | {r:.0} | {rlo:.0}–{rhi:.0} | {p:.0} | {plo:.0}–{phi:.0} | {c:.1} | {l:.1} | {t:.0} |"
        );
        medians[k] = (r, p);
    }
    medians
}

fn run(secs: u64, rounds: usize) -> io::Result<()> {
    let rounds = rounds.max(1);
    let iters = calibrate();
    let one = (0..50)
        .map(|_| {
            let start = Instant::now();
            hash_work(iters);
            start.elapsed()
        })
        .min()
        .unwrap_or_default();
    println!(
        "many cores, {} CPUs, nothing pinned (client shares the cores); {rounds} interleaved rounds of {secs} s",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "handler work: {iters} DefaultHasher rounds (calibrated to {} µs; best of 50 runs now: {:.1} µs)",
        WORK.as_micros(),
        one.as_secs_f64() * 1e6
    );
    let mut http: [Vec<Sample>; 4] = Default::default();
    let mut echo: [Vec<Sample>; 4] = Default::default();
    for round in 0..rounds {
        for j in 0..KINDS.len() {
            let k = (j + round) % KINDS.len();
            http[k].push(http_run(KINDS[k], iters, secs)?);
        }
        for j in 0..KINDS.len() {
            let k = (j + round) % KINDS.len();
            echo[k].push(echo_run(KINDS[k], secs)?);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let h = table(
        &format!(
            "(a) hyper HTTP/1.1, ~{} µs hashing per request, wrk -t1 -c{HTTP_CONNS} --latency",
            WORK.as_micros()
        ),
        "req/s",
        &http,
    );
    let e = table(
        &format!(
            "(b) TCP echo, {ECHO_CONNS} connections, {MESSAGE} B ping-pong, one-thread client"
        ),
        "msgs/s",
        &echo,
    );
    println!();
    for (k, kind) in KINDS.iter().enumerate() {
        println!("p99_us http {kind} {:.0}", h[k].1);
        println!("p99_us echo {kind} {:.0}", e[k].1);
    }
    let (c1, c2, mt) = (0, 1, 2);
    print_ratios(&[
        ("cores_http_2v1", h[c2].0 / h[c1].0),
        ("cores_http_vs_tokio_mt", h[c2].0 / h[mt].0),
        ("cores_http_p99_vs_tokio_mt", h[c2].1 / h[mt].1),
        ("cores_echo_2v1", e[c2].0 / e[c1].0),
        ("cores_echo_vs_tokio_mt", e[c2].0 / e[mt].0),
        ("cores_echo_p99_vs_tokio_mt", e[c2].1 / e[mt].1),
    ]);
    Ok(())
}
