//! Load runs against a server child: the server pinned to CPU 0, the load
//! generator (`wrk`, `h2load`) to CPU 1, the server's CPU read from
//! `/proc/PID/stat` around the run. Shared by the HTTP benchmarks
//! (`http`, `todo`).

use std::io::{self, BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// Starts this benchmark binary again as `server ARGS...`, pinned to
/// CPU 0; the child and the port from the `PORT n` line it prints.
pub fn start_server(args: &[&str]) -> io::Result<(Child, u16)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(exe)
        .arg("server")
        .args(args)
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
pub fn cpu_ticks(pid: u32) -> io::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After the comm: state is field 3, utime 14, stime 15 (1-based).
    let utime: u64 = fields[11].parse().map_err(io::Error::other)?;
    let stime: u64 = fields[12].parse().map_err(io::Error::other)?;
    Ok(utime + stime)
}

/// Runs the load generator (pinned to CPU 1); its stdout.
pub fn run_load(cmd: &[String]) -> io::Result<String> {
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

/// requests/s and server CPU µs per request of one load run against a
/// fresh server started with `server_args`.
pub fn measure(
    server_args: &[&str],
    cmd: impl Fn(u16) -> Vec<String>,
    parse: fn(&str) -> Option<(f64, f64)>,
) -> io::Result<(f64, f64)> {
    let (mut child, port) = start_server(server_args)?;
    let ticks_per_sec = 100.0; // USER_HZ on Linux
    let before = cpu_ticks(child.id())?;
    let out = run_load(&cmd(port))?;
    let after = cpu_ticks(child.id())?;
    let _ = child.kill();
    let _ = child.wait();
    let (rps, requests) =
        parse(&out).ok_or_else(|| io::Error::other(format!("cannot parse:\n{out}")))?;
    let cpu_us = (after - before) as f64 / ticks_per_sec * 1e6 / requests;
    Ok((rps, cpu_us))
}

/// wrk's `Requests/sec:` and its request count; `None` if it saw errors
/// (non-2xx answers, socket errors), so a failing server cannot pass
/// for a fast one.
pub fn parse_wrk(out: &str) -> Option<(f64, f64)> {
    if out.contains("Non-2xx or 3xx responses") {
        return None;
    }
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
pub fn parse_h2load(out: &str) -> Option<(f64, f64)> {
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

/// The middle value (of a non-empty sample).
pub fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The echo benchmarks' client (`echo`, `cores`): `conns` connections to
/// `port` on loopback, each with one `len`-byte message in flight, sent
/// again as soon as its echo is whole (a closed loop). `on_echo` gets
/// each round trip's time and says whether to go on. Returns the seconds
/// the run took. Blocking sockets under corio's own `DefaultSelector`, so
/// the client is the same whatever server it measures.
pub fn ping_pong(
    port: u16,
    conns: usize,
    len: usize,
    mut on_echo: impl FnMut(std::time::Duration) -> bool,
) -> io::Result<f64> {
    use corio::selectors::{DefaultSelector, EVENT_READ, Selector};
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};
    let streams: Vec<std::net::TcpStream> = (0..conns)
        .map(|_| {
            let s = std::net::TcpStream::connect(("127.0.0.1", port))?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .collect::<io::Result<_>>()?;
    let mut sel: DefaultSelector<usize> = DefaultSelector::new().map_err(io::Error::other)?;
    for (i, s) in streams.iter().enumerate() {
        sel.register(s.as_raw_fd(), EVENT_READ, i)
            .map_err(io::Error::other)?;
    }
    let ping = vec![b'x'; len];
    let mut got = vec![0usize; conns];
    let mut sent = vec![Instant::now(); conns];
    let start = Instant::now();
    for (mut s, at) in streams.iter().zip(sent.iter_mut()) {
        *at = Instant::now();
        s.write_all(&ping)?;
    }
    let mut ready = Vec::with_capacity(conns);
    let mut buf = vec![0u8; len];
    loop {
        ready.clear();
        sel.select_with(Some(Duration::from_secs(10)), |key, _| ready.push(key.data))
            .map_err(io::Error::other)?;
        if ready.is_empty() {
            return Err(io::Error::other("no echo for 10 s"));
        }
        for &i in &ready {
            let mut s = &streams[i];
            match s.read(&mut buf[..len - got[i]]) {
                Ok(0) => return Err(io::Error::other("server closed")),
                Ok(n) => got[i] += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
            if got[i] == len {
                got[i] = 0;
                let now = Instant::now();
                if !on_echo(now.duration_since(sent[i])) {
                    return Ok(start.elapsed().as_secs_f64());
                }
                sent[i] = now;
                s.write_all(&ping)?;
            }
        }
    }
}
