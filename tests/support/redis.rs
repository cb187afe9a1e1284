//! Helpers for the mini_redis tests: raw RESP over a socket, the Redis
//! tools as child processes, a real `redis-server`, and what `/proc` says
//! about a server child (open fds, resident memory).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::KillOnDrop;

/// True if `tool` runs here; prints why a test part is skipped otherwise.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        println!("skipped: {tool} is not installed (CI installs it: .ci/run)");
    }
    found
}

/// A connection with a 10 s read timeout, so no test waits forever.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}

/// Sends `request`, half-closes, and reads everything until the server
/// closes: the raw reply bytes.
pub fn exchange_until_close(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = connect(port);
    stream.write_all(request).unwrap();
    let mut reply = Vec::new();
    stream
        .read_to_end(&mut reply)
        .expect("server closes in time");
    reply
}

/// Reads exactly `n` bytes.
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream.read_exact(&mut buf).expect("reply in time");
    buf
}

/// Reads one whole RESP reply (any type, nested arrays included).
pub fn read_reply(reader: &mut impl BufRead) -> Vec<u8> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).expect("reply in time");
    assert!(line.ends_with(b"\r\n"), "not a RESP line: {line:?}");
    let count = || -> i64 {
        std::str::from_utf8(&line[1..line.len() - 2])
            .unwrap()
            .parse()
            .unwrap()
    };
    match line[0] {
        b'$' if count() >= 0 => {
            let mut data = vec![0; count() as usize + 2];
            reader.read_exact(&mut data).unwrap();
            line.extend_from_slice(&data);
        }
        b'*' => {
            for _ in 0..count().max(0) {
                let item = read_reply(reader);
                line.extend_from_slice(&item);
            }
        }
        _ => {}
    }
    line
}

/// One command as a multibulk request.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// `redis-cli -p PORT ARGS...`: its stdout, after checking it succeeded.
pub fn cli(port: u16, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("redis-cli runs");
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real `redis-server`, persistence off, on a free port; killed on drop.
pub fn start_redis_server() -> (KillOnDrop, u16) {
    let port = free_port();
    let child = Command::new("redis-server")
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server runs");
    let child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, port)
}

/// How many fds the process has open.
pub use testkit::open_fds_of as open_fds;

/// Resident memory of the process, in bytes.
pub fn rss(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    let kb: usize = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// Waits (up to 5 s) for the server's fd count to come back to `before`:
/// closes run on the server's next loop iterations, not at once.
pub fn assert_fds_settle(pid: u32, before: usize) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = open_fds(pid);
        if now <= before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fd leak: {before} fds before, {now} after"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Checks the server still answers a fresh client.
pub fn assert_serves(port: u16) {
    let mut stream = connect(port);
    stream.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut stream, 7), b"+PONG\r\n");
    stream.shutdown(Shutdown::Both).ok();
}

/// Reads everything until EOF or a reset (a reset is also a close).
pub fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// A buffered reader over a clone of `stream`.
pub fn reader(stream: &TcpStream) -> BufReader<TcpStream> {
    BufReader::new(stream.try_clone().unwrap())
}
