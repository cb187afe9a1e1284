//! TCP echo ping-pong, 64-byte messages: corio streams, corio protocol and
//! tokio current-thread servers, each pinned to CPU 0 with the load client
//! pinned to CPU 1.
//!
//! ```text
//! cargo build --release -p corio-bench --bin echo
//! target/release/echo run [ROUNDS] [SECONDS]   # msgs/s and CPU µs/msg, 1/100/1,000 conns
//! target/release/echo counts                   # syscalls/msg (strace), instructions/msg (callgrind)
//! ```
//!
//! The pieces, run by the driver as child processes:
//! `echo server KIND [EXIT_AFTER] [--port N]` (KIND: `corio-streams`,
//! `corio-protocol`, `tokio`; it exits once EXIT_AFTER connections have
//! closed, 0 = never; it listens on port N, a free one by default, so an
//! outside harness can drive it)
//! and `echo client PORT CONNS (secs S | msgs N)`. The client is the same
//! for every server: one thread on corio's epoll selector, each connection
//! sending 64 bytes and waiting for them to come back before the next.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use corio::net::{
    DEFAULT_LIMIT, Protocol, ServerOptions, StreamReader, StreamWriter, Transport, create_server,
    start_server_with,
};
use corio_bench::corio_run;

const MESSAGE: usize = 64;
const KINDS: [&str; 3] = ["corio-streams", "corio-protocol", "tokio"];
const CONNS: [usize; 3] = [1, 100, 1000];
/// Same listen backlog for every server (tokio's `TcpListener::bind`).
const BACKLOG: i32 = 1024;

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    // `--port N`, anywhere: the server's port (0: a free one).
    let port: u16 = match args.iter().position(|a| a == "--port") {
        Some(at) => {
            let port = args
                .get(at + 1)
                .and_then(|p| p.parse().ok())
                .expect("--port N");
            args.drain(at..at + 2);
            port
        }
        None => 0,
    };
    let arg = |i: usize, default: &str| args.get(i).cloned().unwrap_or(default.into());
    match arg(0, "run").as_str() {
        "server" => server(
            &arg(1, "corio-protocol"),
            arg(2, "0").parse().expect("EXIT_AFTER"),
            port,
        ),
        "client" => {
            let port = arg(1, "0").parse().expect("PORT");
            let conns = arg(2, "1").parse().expect("CONNS");
            let limit = match (arg(3, "secs").as_str(), arg(4, "2").parse().expect("N")) {
                ("msgs", n) => Limit::Messages(n),
                (_, s) => Limit::Time(Duration::from_secs(s)),
            };
            let (msgs, secs) = client(port, conns, limit)?;
            println!("MSGS {msgs} SECS {secs}");
            Ok(())
        }
        "run" => run(
            arg(1, "5").parse().expect("ROUNDS"),
            arg(2, "2").parse().expect("SECONDS"),
        ),
        "counts" => counts(),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown mode {other}: run | counts | server KIND | client PORT CONNS"),
        )),
    }
}

// ---------------------------------------------------------------- servers

/// Serves echo on `port` (0: a free one; printed as `PORT n`) until
/// `exit_after` connections have closed (never if 0).
fn server(kind: &str, exit_after: usize, port: u16) -> io::Result<()> {
    match kind {
        "corio-streams" | "corio-streams-vec" | "corio-protocol" => {
            corio_server(kind, exit_after, port)
        }
        "tokio" => tokio_server(exit_after, port),
        other => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown server {other}"),
        )),
    }
}

fn announce(port: u16) {
    println!("PORT {port}");
    io::stdout().flush().expect("stdout");
}

/// Counts closed connections; fires `done` at `exit_after`.
struct Closed {
    count: Cell<usize>,
    exit_after: usize,
    done: corio::sync::Event,
}

impl Closed {
    fn one_more(&self) {
        self.count.set(self.count.get() + 1);
        if self.count.get() == self.exit_after {
            self.done.set();
        }
    }
}

/// The streams echo, as tokio's: one buffer, reused for every read.
async fn stream_echo(reader: StreamReader, writer: StreamWriter, closed: Rc<Closed>) {
    let mut buf = vec![0; DEFAULT_LIMIT];
    while let Ok(n) = reader.read_into(&mut buf).await {
        if n == 0 || writer.write(&buf[..n]).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
    closed.one_more();
}

/// The streams echo as asyncio writes it: each `read(n)` returns new bytes.
async fn stream_echo_vec(reader: StreamReader, writer: StreamWriter, closed: Rc<Closed>) {
    while let Ok(data) = reader.read(DEFAULT_LIMIT as isize).await {
        if data.is_empty() || writer.write(&data).is_err() || writer.drain().await.is_err() {
            break;
        }
    }
    closed.one_more();
}

struct ProtocolEcho {
    transport: Option<Transport>,
    closed: Rc<Closed>,
}

impl Protocol for ProtocolEcho {
    fn connection_made(&mut self, transport: Transport) {
        self.transport = Some(transport);
    }
    fn data_received(&mut self, data: &[u8]) {
        if let Some(t) = &self.transport {
            t.write(data).ok();
        }
    }
    fn connection_lost(&mut self, _: Option<io::Error>) {
        self.transport = None;
        self.closed.one_more();
    }
}

fn corio_server(kind: &str, exit_after: usize, port: u16) -> io::Result<()> {
    let kind = kind.to_string();
    corio_run(async move {
        let closed = Rc::new(Closed {
            count: Cell::new(0),
            exit_after,
            done: corio::sync::Event::new(),
        });
        let options = ServerOptions {
            backlog: BACKLOG,
            ..ServerOptions::default()
        };
        let c = closed.clone();
        let server = match kind.as_str() {
            "corio-streams" => {
                let handler = move |r, w| stream_echo(r, w, c.clone());
                start_server_with(handler, "127.0.0.1", port, options).await?
            }
            "corio-streams-vec" => {
                let handler = move |r, w| stream_echo_vec(r, w, c.clone());
                start_server_with(handler, "127.0.0.1", port, options).await?
            }
            _ => {
                let factory = move || ProtocolEcho {
                    transport: None,
                    closed: c.clone(),
                };
                create_server(factory, "127.0.0.1", port, options).await?
            }
        };
        announce(server.addresses()[0].port());
        closed.done.wait().await;
        server.close();
        server.wait_closed().await;
        Ok(())
    })
}

fn tokio_server(exit_after: usize, port: u16) -> io::Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        announce(listener.local_addr()?.port());
        let closed = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(tokio::sync::Notify::new());
        let accepting = async {
            loop {
                let (mut sock, _) = listener.accept().await?;
                sock.set_nodelay(true)?;
                let (closed, done) = (closed.clone(), done.clone());
                tokio::spawn(async move {
                    let mut buf = vec![0; DEFAULT_LIMIT];
                    while let Ok(n) = sock.read(&mut buf).await {
                        if n == 0 || sock.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    if closed.fetch_add(1, Ordering::SeqCst) + 1 == exit_after {
                        done.notify_one();
                    }
                });
            }
        };
        tokio::select! {
            result = accepting => result,
            () = done.notified() => Ok::<(), io::Error>(()),
        }
    })
}

// ----------------------------------------------------------------- client

enum Limit {
    Time(Duration),
    Messages(u64),
}

/// Ping-pong on `conns` connections until the limit; (messages, seconds).
fn client(port: u16, conns: usize, limit: Limit) -> io::Result<(u64, f64)> {
    let mut msgs = 0u64;
    let start = Instant::now();
    let secs = corio_bench::load::ping_pong(port, conns, MESSAGE, |_| {
        msgs += 1;
        match limit {
            Limit::Messages(n) => msgs < n,
            Limit::Time(d) => !msgs.is_multiple_of(64) || start.elapsed() < d,
        }
    })?;
    Ok((msgs, secs))
}

// ----------------------------------------------------------------- driver

/// A server child, pinned to CPU 0 (optionally under a tool).
struct ServerChild {
    child: Child,
    port: u16,
}

impl ServerChild {
    fn start(kind: &str, exit_after: usize, tool: &[&str]) -> io::Result<ServerChild> {
        let exe = std::env::current_exe()?;
        let mut cmd = Command::new(tool.first().copied().unwrap_or("taskset"));
        if tool.is_empty() {
            cmd.args(["-c", "0"]);
        } else {
            cmd.args(&tool[1..]).args(["taskset", "-c", "0"]);
        }
        let mut child = cmd
            .arg(exe)
            .args(["server", kind, &exit_after.to_string()])
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

    /// The server's pid: the last process of the chain (taskset execs).
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Runs the client pinned to CPU 1: (messages, seconds).
fn run_client(port: u16, conns: usize, limit: &str, n: u64) -> io::Result<(u64, f64)> {
    let exe = std::env::current_exe()?;
    let out = Command::new("taskset")
        .args(["-c", "1"])
        .arg(exe)
        .args([
            "client",
            &port.to_string(),
            &conns.to_string(),
            limit,
            &n.to_string(),
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("MSGS "))
        .ok_or_else(|| {
            io::Error::other(format!(
                "client failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ))
        })?;
    let fields: Vec<&str> = line.split(' ').collect();
    Ok((
        fields[1].parse().map_err(io::Error::other)?,
        fields[3].parse().map_err(io::Error::other)?,
    ))
}

/// (user, system) CPU ticks of a process.
fn cpu_ticks(pid: u32) -> io::Result<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap_or(0) + 2..]
        .split(' ')
        .collect();
    let tick = |i: usize| fields[i].parse::<u64>().map_err(io::Error::other);
    Ok((tick(11)?, tick(12)?))
}

/// One measured run: msgs/s and server CPU µs/msg (user, system).
fn one_run(kind: &str, conns: usize, secs: u64) -> io::Result<(f64, f64, f64)> {
    let mut server = ServerChild::start(kind, conns, &[])?;
    let before = cpu_ticks(server.pid())?;
    let (msgs, elapsed) = run_client(server.port, conns, "secs", secs)?;
    let after = cpu_ticks(server.pid())?;
    server.child.wait()?;
    let per_msg = |ticks: u64| ticks as f64 * 10_000.0 / msgs as f64; // 1 tick = 10 ms
    Ok((
        msgs as f64 / elapsed,
        per_msg(after.0 - before.0),
        per_msg(after.1 - before.1),
    ))
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn run(rounds: usize, secs: u64) -> io::Result<()> {
    println!(
        "TCP echo ping-pong, 64 B; server on CPU 0, client on CPU 1; median of {rounds} interleaved rounds of {secs} s\n"
    );
    println!("| conns | server | msgs/s | vs tokio | user µs/msg | sys µs/msg |");
    println!("|---:|---|---:|---:|---:|---:|");
    let mut ratios: Vec<(String, f64)> = Vec::new();
    for conns in CONNS {
        let mut results: HashMap<&str, Vec<(f64, f64, f64)>> = HashMap::new();
        for round in 0..rounds {
            // Rotate who goes first, so no server always follows another.
            for k in 0..KINDS.len() {
                let kind = KINDS[(k + round) % KINDS.len()];
                results
                    .entry(kind)
                    .or_default()
                    .push(one_run(kind, conns, secs)?);
            }
        }
        let rate = |kind: &str| median(results[kind].iter().map(|r| r.0).collect());
        let tokio_rate = rate("tokio");
        for kind in KINDS {
            let r = &results[kind];
            println!(
                "| {conns} | {kind} | {:.0} | {:.2} | {:.2} | {:.2} |",
                rate(kind),
                rate(kind) / tokio_rate,
                median(r.iter().map(|x| x.1).collect()),
                median(r.iter().map(|x| x.2).collect()),
            );
            if kind != "tokio" {
                let key = format!("echo_msgs_per_s_{}_{conns}", kind.replace('-', "_"));
                ratios.push((key, rate(kind) / tokio_rate));
            }
        }
    }
    let ratios: Vec<(&str, f64)> = ratios.iter().map(|(k, r)| (k.as_str(), *r)).collect();
    corio_bench::print_ratios(&ratios);
    corio_bench::also_under_lto("echo");
    Ok(())
}

/// Syscalls per message at 100 connections (`strace -c -f`), and
/// user-space instructions per message (`callgrind`); each the difference
/// of two runs, of N and 2N messages, so start-up and shutdown cancel out.
fn counts() -> io::Result<()> {
    const MSGS: u64 = 20_000;
    println!(
        "| server | syscalls/msg (100 conns) | instructions/msg (1 conn) | instructions/msg (100 conns) |"
    );
    println!("|---|---:|---:|---:|");
    // `corio-streams-vec` too: the asyncio idiom, one new `Vec` per read.
    for kind in KINDS.iter().chain(&["corio-streams-vec"]) {
        // The difference of two runs: accepts, start-up and shutdown cancel.
        let small = strace_calls(kind, 100, MSGS)?;
        let syscalls =
            strace_calls(kind, 100, 2 * MSGS)?.saturating_sub(small) as f64 / MSGS as f64;
        let ins_1 = instructions_per_msg(kind, 1, MSGS)?;
        let ins_100 = instructions_per_msg(kind, 100, MSGS)?;
        println!("| {kind} | {syscalls:.2} | {ins_1:.0} | {ins_100:.0} |");
    }
    Ok(())
}

fn temp_file(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("corio-echo-{}-{name}", std::process::id()))
}

/// Total syscalls of a server serving `msgs` messages on `conns`.
fn strace_calls(kind: &str, conns: usize, msgs: u64) -> io::Result<u64> {
    let out = temp_file("strace");
    let out_s = out.to_string_lossy().into_owned();
    let mut server = ServerChild::start(kind, conns, &["strace", "-c", "-f", "-o", &out_s])?;
    run_client(server.port, conns, "msgs", msgs)?;
    server.child.wait()?;
    let report = std::fs::read_to_string(&out)?;
    std::fs::remove_file(&out)?;
    // The "total" row: "100.00 <secs> <usecs/call> <calls> [errors] total".
    let total = report
        .lines()
        .find(|l| l.trim_end().ends_with("total"))
        .ok_or_else(|| io::Error::other(format!("no total in strace report:\n{report}")))?;
    total
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad total row {total:?}")))
}

/// Instructions of the server process (not the taskset wrapper) serving
/// `msgs` messages.
fn callgrind_instructions(kind: &str, conns: usize, msgs: u64) -> io::Result<u64> {
    let out = temp_file(&format!("callgrind-{kind}-{conns}-{msgs}"));
    let pattern = format!("--callgrind-out-file={}.%p", out.to_string_lossy());
    let tool = [
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        &pattern,
    ];
    let mut server = ServerChild::start(kind, conns, &tool)?;
    run_client(server.port, conns, "msgs", msgs)?;
    server.child.wait()?;
    let dir = out.parent().expect("temp dir");
    let stem = out
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let mut most = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !name.starts_with(&stem) {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        std::fs::remove_file(&path)?;
        let total = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("summary: ")
                    .or_else(|| l.strip_prefix("totals: "))
            })
            .and_then(|n| n.trim().parse::<u64>().ok())
            .unwrap_or(0);
        most = most.max(total); // taskset's own run is the small one
    }
    Ok(most)
}

fn instructions_per_msg(kind: &str, conns: usize, msgs: u64) -> io::Result<f64> {
    let small = callgrind_instructions(kind, conns, msgs)?;
    let large = callgrind_instructions(kind, conns, 2 * msgs)?;
    Ok(large.saturating_sub(small) as f64 / msgs as f64)
}
