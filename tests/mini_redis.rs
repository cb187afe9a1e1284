//! The mini_redis example against real clients (`redis-cli`,
//! `redis-benchmark`), byte for byte against a real `redis-server`, one
//! test per kind of bad input, and a property test of its parser.
//!
//! The server runs as a child process (`--serve 0`), so its fds and memory
//! can be read from `/proc`; every socket has a read timeout, so a test
//! that goes wrong fails instead of hanging.

mod support;

#[path = "support/redis.rs"]
mod redis;

#[path = "../examples/mini_redis/resp.rs"]
mod resp;

#[path = "../examples/mini_redis/db.rs"]
mod db;
#[path = "../examples/mini_redis/sys.rs"]
#[allow(dead_code, unused_imports)] // the float half is not used here
mod sys;

use std::io::{BufRead, Write};
use std::net::Shutdown;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use redis::{
    assert_fds_settle, assert_serves, cli, connect, encode, exchange_until_close, have, open_fds,
    read_n, read_reply, read_until_closed, reader, rss,
};
use support::{KillOnDrop, spawn_example, wait_for_line};

/// The example serving on a free port with extra `args`: (child, port, pid).
fn serve(args: &[&str]) -> (KillOnDrop, u16, u32) {
    let mut all = vec!["--serve", "0"];
    all.extend_from_slice(args);
    let (child, mut out) = spawn_example("mini_redis", &all);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().parse().expect("port");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let pid = child.0.id();
    (child, port, pid)
}

// ------------------------------------------------------------ the demo

#[test]
fn the_demo_runs_to_its_end() {
    let out = support::run_example("mini_redis", &[], Duration::from_secs(60));
    for expected in [
        "PING -> PONG",
        "GET greeting -> \"hello\"",
        "INCRBY visits 41 -> (integer) 42",
        "MGET greeting visits nosuch -> [\"hello\", \"42\", (nil)]",
        "GET session (60 ms later) -> (nil)",
        "subscriber got -> [\"pmessage\", \"news.*\", \"news.corio\", \"a redis on corio\"]",
        "QUIT -> OK",
    ] {
        assert!(out.contains(expected), "{expected:?} missing from:\n{out}");
    }
}

// ------------------------------------------------------- real clients

#[test]
fn redis_cli_runs_every_command() {
    if !have("redis-cli") {
        return;
    }
    let (_server, port, _) = serve(&[]);
    let run = |args: &[&str]| cli(port, args);
    assert_eq!(run(&["PING"]), "PONG\n");
    assert_eq!(run(&["PING", "hi"]), "hi\n");
    assert_eq!(run(&["ECHO", "hello world"]), "hello world\n");
    assert_eq!(run(&["SELECT", "0"]), "OK\n");
    assert_eq!(run(&["FLUSHDB"]), "OK\n");
    assert_eq!(run(&["SET", "k", "v"]), "OK\n");
    assert_eq!(run(&["GET", "k"]), "v\n");
    assert_eq!(run(&["SET", "k", "w", "NX"]), "\n"); // nil
    assert_eq!(run(&["SET", "k", "w", "XX", "GET"]), "v\n");
    assert_eq!(run(&["SET", "fresh", "x", "XX"]), "\n");
    assert_eq!(run(&["SET", "k", "v2", "EX", "100"]), "OK\n");
    assert_eq!(run(&["TTL", "k"]), "100\n");
    let pttl: i64 = run(&["PTTL", "k"]).trim().parse().unwrap();
    assert!((99_000..=100_000).contains(&pttl), "{pttl}");
    assert_eq!(run(&["PERSIST", "k"]), "1\n");
    assert_eq!(run(&["TTL", "k"]), "-1\n");
    assert_eq!(run(&["TTL", "nosuch"]), "-2\n");
    assert_eq!(run(&["SET", "p", "1", "PX", "100000"]), "OK\n");
    assert_eq!(run(&["EXPIRE", "p", "50"]), "1\n");
    assert_eq!(run(&["TTL", "p"]), "50\n");
    assert_eq!(run(&["PEXPIRE", "p", "20000"]), "1\n");
    assert_eq!(run(&["TTL", "p"]), "20\n");
    assert_eq!(run(&["EXPIRE", "nosuch", "5"]), "0\n");
    assert_eq!(run(&["INCR", "n"]), "1\n");
    assert_eq!(run(&["INCRBY", "n", "41"]), "42\n");
    assert_eq!(run(&["DECR", "n"]), "41\n");
    assert_eq!(
        run(&["INCR", "k"]).trim_end(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(run(&["MSET", "a", "1", "b", "2"]), "OK\n");
    assert_eq!(run(&["MGET", "a", "b", "nosuch"]), "1\n2\n\n");
    assert_eq!(run(&["EXISTS", "a", "b", "nosuch", "a"]), "3\n");
    assert_eq!(run(&["DEL", "a", "nosuch"]), "1\n");
    assert_eq!(run(&["DBSIZE"]), "4\n"); // k, p, n, b
    assert_eq!(run(&["CONFIG", "GET", "save"]), "save\n\n");
    assert_eq!(run(&["CONFIG", "GET", "appendonly"]), "appendonly\nno\n");
    assert_eq!(run(&["COMMAND", "COUNT"]), "76\n");
    assert_eq!(run(&["PUBLISH", "nobody", "hello"]), "0\n");
    assert_eq!(
        run(&["NOSUCH", "x"]).trim_end(),
        "ERR unknown command 'NOSUCH', with args beginning with: 'x'"
    );
    assert_eq!(run(&["QUIT"]), "OK\n");
    // Expiry: a key with 100 ms to live is gone after it.
    assert_eq!(run(&["SET", "short", "x", "PX", "100"]), "OK\n");
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(run(&["GET", "short"]), "\n");
    assert_eq!(run(&["FLUSHDB"]), "OK\n");
    assert_eq!(run(&["DBSIZE"]), "0\n");
}

#[test]
fn active_expiry_collects_keys_nobody_reads() {
    if !have("redis-cli") {
        return;
    }
    let (_server, port, _) = serve(&[]);
    let mut stream = connect(port);
    let mut script = Vec::new();
    for i in 0..500 {
        script.extend(encode(&[
            b"SET",
            format!("t{i}").as_bytes(),
            b"x",
            b"PX",
            b"50",
        ]));
    }
    stream.write_all(&script).unwrap();
    assert_eq!(read_n(&mut stream, 500 * 5), b"+OK\r\n".repeat(500));
    assert_eq!(cli(port, &["DBSIZE"]), "500\n");
    // Never read again: only the timer's cycle can delete them. A few
    // cycles (every 100 ms) are enough when all of them are expired.
    let deadline = Instant::now() + Duration::from_secs(5);
    while cli(port, &["DBSIZE"]) != "0\n" {
        assert!(Instant::now() < deadline, "keys not collected");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn redis_cli_pipe_mass_inserts_100000_keys() {
    if !have("redis-cli") {
        return;
    }
    let (_server, port, _) = serve(&[]);
    let mut data = Vec::new();
    for i in 0..100_000 {
        data.extend(encode(&[
            b"SET",
            format!("key:{i}").as_bytes(),
            format!("value:{i}").as_bytes(),
        ]));
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli runs");
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let output = child.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("errors: 0, replies: 100000"), "{report}");
    assert_eq!(cli(port, &["DBSIZE"]), "100000\n");
    assert_eq!(cli(port, &["GET", "key:99999"]), "value:99999\n");
}

#[test]
fn subscribe_in_one_redis_cli_receives_publish_from_another() {
    if !have("redis-cli") {
        return;
    }
    let (_server, port, _) = serve(&[]);
    let mut sub = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "SUBSCRIBE", "news"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("redis-cli runs");
    let mut out = std::io::BufReader::new(sub.stdout.take().unwrap());
    let sub = KillOnDrop(sub);
    let mut psub = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "PSUBSCRIBE", "n?w[sx]"])
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .expect("redis-cli runs");
    let mut pout = std::io::BufReader::new(psub.stdout.take().unwrap());
    let psub = KillOnDrop(psub);
    // Both confirmed before publishing (redis-cli prints the reply).
    assert_eq!(lines(&mut out, 3), ["subscribe", "news", "1"]);
    assert_eq!(lines(&mut pout, 3), ["psubscribe", "n?w[sx]", "1"]);
    assert_eq!(cli(port, &["PUBLISH", "news", "hello"]), "2\n");
    assert_eq!(cli(port, &["PUBLISH", "newx", "pattern only"]), "1\n");
    assert_eq!(cli(port, &["PUBLISH", "other", "nobody"]), "0\n");
    assert_eq!(lines(&mut out, 3), ["message", "news", "hello"]);
    assert_eq!(
        lines(&mut pout, 8),
        [
            "pmessage",
            "n?w[sx]",
            "news",
            "hello",
            "pmessage",
            "n?w[sx]",
            "newx",
            "pattern only"
        ]
    );
    drop((sub, psub));
}

/// The next `n` lines a child printed, trimmed.
fn lines(out: &mut dyn BufRead, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let mut line = String::new();
            out.read_line(&mut line).unwrap();
            line.trim_end().to_string()
        })
        .collect()
}

#[test]
fn redis_benchmark_completes() {
    if !have("redis-benchmark") {
        return;
    }
    let (_server, port, _) = serve(&[]);
    let output = Command::new("redis-benchmark")
        .args(["-p", &port.to_string(), "-t", "ping,set,get,incr,mset"])
        .args(["-n", "20000", "-q"])
        .stdin(Stdio::null())
        .output()
        .expect("redis-benchmark runs");
    let text = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
    assert!(output.status.success(), "{text}");
    for test in [
        "PING_INLINE",
        "PING_MBULK",
        "SET",
        "GET",
        "INCR",
        "MSET (10 keys)",
    ] {
        let done = format!("{test}: ");
        assert!(
            text.lines()
                .any(|l| l.trim_start().starts_with(&done) && l.contains("requests per second")),
            "{test} did not complete:\n{text}"
        );
    }
    // INCR ran 20,000 times on one key.
    assert_eq!(cli(port, &["GET", "counter:__rand_int__"]), "20000\n");
}

/// A scripted session: every command of the issue with its error cases,
/// inline and multibulk, ending with a protocol error (reply, then close).
fn scripted_session() -> Vec<u8> {
    let mut s = Vec::new();
    let inline = [
        "PING",
        "PING hello",
        "ECHO \"two words\\n\"",
        "SELECT 0",
        "SELECT x",
        "FLUSHDB",
        "SET k v",
        "GET k",
        "SET k w NX",
        "SET k w XX GET",
        "SET k v NX XX",
        "SET k v EX 0",
        "SET k v EX x",
        "SET k v PX 100 EX 10",
        "SET k v KEEPTTL",
        "SET k v2 EX 1000",
        "TTL k",
        "PERSIST k",
        "PERSIST k",
        "TTL k",
        "TTL nosuch",
        "PTTL nosuch",
        "PTTL k",
        "EXPIRE k 500",
        "TTL k",
        "PEXPIRE k 3000000",
        "TTL k",
        "EXPIRE k x",
        "EXPIRE nosuch 5",
        "EXPIRE k -1",
        "EXISTS k",
        "INCR n",
        "INCR n",
        "INCRBY n 40",
        "DECR n",
        "DECRBY n 2",
        "INCRBY n x",
        "SET n 9223372036854775807",
        "INCR n",
        "SET f 1.5",
        "INCR f",
        "MSET a 1 b 2 c",
        "MSET a 1 b 2",
        "MGET a b nosuch",
        "EXISTS a b nosuch a",
        "DEL a nosuch b",
        "DBSIZE",
        "DBSIZE x",
        "GET",
        "get a b",
        "CONFIG GET save",
        "CONFIG GET appendonly",
        "CONFIG GET nosuch",
        "CONFIG GET",
        "COMMAND FOO",
        "PUBLISH nobody hi",
        "NOSUCH a 'b c'",
        "nosuch",
        "SUBSCRIBE ch1",
        "GET k",
        "PING",
        "PING x",
        "PSUBSCRIBE p*",
        "UNSUBSCRIBE ch1",
        "PUNSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "GET f",
        "FLUSHDB",
        "DBSIZE",
    ];
    for line in inline {
        s.extend_from_slice(line.as_bytes());
        s.extend_from_slice(b"\r\n");
    }
    s.extend(encode(&[b"SET", b"bin\r\nkey", b"\x00\xff value"]));
    s.extend(encode(&[b"GET", b"bin\r\nkey"]));
    s.extend(encode(&[b"ECHO", b""]));
    s.extend_from_slice(b"*0\r\n*-1\r\n\r\n\n"); // empty requests: no reply
    s.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    s.extend_from_slice(b"*1\r\n$-3\r\n"); // protocol error: reply, close
    s.extend_from_slice(b"PING\r\n"); // never run
    s
}

#[test]
fn replies_match_a_real_redis_server_byte_for_byte() {
    if !have("redis-server") {
        return;
    }
    let (_redis, redis_port) = redis::start_redis_server();
    let (_server, port, _) = serve(&[]);
    let script = scripted_session();
    let expected = exchange_until_close(redis_port, &script);
    let got = exchange_until_close(port, &script);
    assert!(
        expected.ends_with(b"-ERR Protocol error: invalid bulk length\r\n"),
        "the session reaches its end on redis-server"
    );
    if got != expected {
        let (e, g) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&got),
        );
        let first = e.lines().zip(g.lines()).position(|(a, b)| a != b);
        panic!("replies differ (first at line {first:?}):\nredis-server:\n{e}\nmini_redis:\n{g}");
    }
}

// ---------------------------------------------------------- bad input

/// Sends `bad` on one connection and checks the server answers with
/// `error` and closes it, that another client is served meanwhile, that
/// memory stayed small and no fd leaked.
fn refused(bad: &[u8], error: &str) {
    let (_server, port, pid) = serve(&[]);
    let (fds, mem) = (open_fds(pid), rss(pid));
    let mut other = connect(port);
    let reply = exchange_until_close(port, bad);
    assert_eq!(String::from_utf8_lossy(&reply), format!("-ERR {error}\r\n"));
    other.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut other, 7), b"+PONG\r\n", "others go on");
    drop(other);
    assert_serves(port);
    assert!(
        rss(pid) < mem + (16 << 20),
        "memory grew: {} -> {}",
        mem,
        rss(pid)
    );
    assert_fds_settle(pid, fds);
}

#[test]
fn a_bulk_length_over_512_mb_is_refused_before_allocating() {
    refused(
        b"*2\r\n$3\r\nGET\r\n$536870913\r\n",
        "Protocol error: invalid bulk length",
    );
    // 512 MB exactly is allowed: the server waits for the data (without
    // allocating it up front) and serves the others meanwhile.
    let (_server, port, pid) = serve(&[]);
    let mem = rss(pid);
    let mut big = connect(port);
    big.write_all(b"*2\r\n$3\r\nGET\r\n$536870912\r\nabc")
        .unwrap();
    assert_serves(port);
    assert!(rss(pid) < mem + (16 << 20), "allocated from the header");
}

#[test]
fn a_negative_bulk_length_is_refused() {
    refused(b"*1\r\n$-5\r\n", "Protocol error: invalid bulk length");
}

#[test]
fn a_non_numeric_bulk_length_is_refused() {
    refused(
        b"*1\r\n$12x\r\nPING\r\n",
        "Protocol error: invalid bulk length",
    );
}

#[test]
fn a_non_numeric_multibulk_count_is_refused() {
    refused(b"*x\r\n", "Protocol error: invalid multibulk length");
}

#[test]
fn a_missing_dollar_is_refused() {
    refused(b"*1\r\n+PING\r\n", "Protocol error: expected '$', got '+'");
}

#[test]
fn a_multibulk_count_over_int_max_is_refused() {
    refused(
        b"*2147483648\r\n",
        "Protocol error: invalid multibulk length",
    );
}

#[test]
fn a_line_over_64_kib_without_crlf_is_refused() {
    refused(
        &vec![b'a'; 70_000],
        "Protocol error: too big inline request",
    );
    let mut count = b"*".to_vec();
    count.extend(vec![b'1'; 70_000]);
    refused(&count, "Protocol error: too big mbulk count string");
    let mut len = b"*1\r\n$".to_vec();
    len.extend(vec![b'1'; 70_000]);
    refused(&len, "Protocol error: too big bulk count string");
}

#[test]
fn unbalanced_quotes_are_refused() {
    refused(
        b"SET k \"abc\r\n",
        "Protocol error: unbalanced quotes in request",
    );
}

#[test]
fn a_command_split_at_every_byte_boundary_is_read_whole() {
    let (_server, port, pid) = serve(&[]);
    let fds = open_fds(pid);
    let mut pipeline = encode(&[b"SET", b"split", b"v\r\nv"]);
    pipeline.extend_from_slice(b"GET split\r\n");
    pipeline.extend(encode(&[b"INCR", b"count"]));
    let whole = {
        let mut s = connect(port);
        s.write_all(&pipeline).unwrap();
        let mut r = reader(&s);
        (0..3)
            .map(|_| read_reply(&mut r))
            .collect::<Vec<_>>()
            .concat()
    };
    assert!(whole.starts_with(b"+OK\r\n$4\r\nv\r\nv\r\n:1\r\n"));
    for cut in 1..pipeline.len() {
        let mut s = connect(port);
        s.write_all(&pipeline[..cut]).unwrap();
        // Long enough for the server to read the first part alone.
        std::thread::sleep(Duration::from_millis(2));
        s.write_all(&pipeline[cut..]).unwrap();
        let mut r = reader(&s);
        let replies: Vec<u8> = (0..3)
            .map(|_| read_reply(&mut r))
            .collect::<Vec<_>>()
            .concat();
        let count = cut as i64 + 1;
        let expected = format!("+OK\r\n$4\r\nv\r\nv\r\n:{count}\r\n");
        assert_eq!(String::from_utf8_lossy(&replies), expected, "cut at {cut}");
    }
    // And one byte per write.
    let mut s = connect(port);
    for byte in &pipeline {
        s.write_all(std::slice::from_ref(byte)).unwrap();
    }
    let mut r = reader(&s);
    let replies: Vec<u8> = (0..3)
        .map(|_| read_reply(&mut r))
        .collect::<Vec<_>>()
        .concat();
    let expected = format!("+OK\r\n$4\r\nv\r\nv\r\n:{}\r\n", pipeline.len() + 1);
    assert_eq!(String::from_utf8_lossy(&replies), expected);
    drop((s, r));
    assert_fds_settle(pid, fds);
}

#[test]
fn a_client_sending_1_gb_without_reading_replies_is_held_by_flow_control() {
    let (_server, port, pid) = serve(&[]);
    let fds = open_fds(pid);
    // A 64 KiB value: each 30-byte GET asks for 64 KiB of reply.
    let value = vec![b'v'; 64 * 1024];
    let mut setup = connect(port);
    setup.write_all(&encode(&[b"SET", b"big", &value])).unwrap();
    assert_eq!(read_n(&mut setup, 5), b"+OK\r\n");
    let mem = rss(pid);
    let flood = connect(port);
    flood
        .set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = encode(&[b"GET", b"big"]).repeat(32 * 1024); // ~0.8 MB
    let sender = {
        let mut flood = flood.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut sent = 0usize;
            while sent < 1 << 30 {
                match flood.write(&chunk) {
                    Ok(n) => sent += n,
                    Err(_) => break, // blocked for 500 ms: held
                }
            }
            sent
        })
    };
    let sent = sender.join().unwrap();
    assert!(
        sent < 1 << 30,
        "the server must stop reading, not buffer 1 GB"
    );
    // Held, and served the others all along.
    assert_serves(port);
    let grown = rss(pid).saturating_sub(mem);
    assert!(grown < 64 << 20, "output not bounded: grew {grown} bytes");
    flood.shutdown(Shutdown::Both).ok();
    drop(flood);
    assert_serves(port);
    assert_fds_settle(pid, fds + 1); // `setup` is still open
}

#[test]
fn a_client_disconnecting_mid_pipeline_affects_no_one() {
    let (_server, port, pid) = serve(&[]);
    let fds = open_fds(pid);
    let mut watcher = connect(port);
    for round in 0..20 {
        let mut s = connect(port);
        let mut pipeline = Vec::new();
        for i in 0..2000 {
            pipeline.extend(encode(&[b"SET", format!("k{i}").as_bytes(), b"value"]));
        }
        pipeline.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nk"); // cut mid-command
        s.write_all(&pipeline).unwrap();
        if round % 2 == 0 {
            // A reset instead of a FIN, on every other round.
            testkit::reset_on_close(&s).unwrap();
        }
        drop(s);
        watcher.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_n(&mut watcher, 7), b"+PONG\r\n");
    }
    drop(watcher);
    assert_serves(port);
    assert_fds_settle(pid, fds);
}

#[test]
fn clients_over_maxclients_get_redis_error() {
    let (_server, port, pid) = serve(&["--maxclients", "2"]);
    let fds = open_fds(pid);
    let mut a = connect(port);
    let mut b = connect(port);
    a.write_all(b"PING\r\n").unwrap();
    b.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_n(&mut a, 7), b"+PONG\r\n");
    assert_eq!(read_n(&mut b, 7), b"+PONG\r\n");
    let mut third = connect(port);
    assert_eq!(
        String::from_utf8_lossy(&read_until_closed(&mut third)),
        "-ERR max number of clients reached\r\n"
    );
    drop(b);
    // A slot is free again once the server saw `b` close.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = connect(port);
        c.write_all(b"PING\r\n").unwrap();
        let reply = read_until_closed_or(&mut c, 7);
        if reply == b"+PONG\r\n" {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed: {reply:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop((a, third));
    assert_fds_settle(pid, fds);
}

/// Reads `n` bytes, or fewer if the server closes first.
fn read_until_closed_or(stream: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while got.len() < n {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => got.extend_from_slice(&buf[..k]),
        }
    }
    got
}

#[test]
fn a_slow_subscriber_is_disconnected_and_the_others_get_everything() {
    let limit = 1 << 20;
    let (_server, port, pid) = serve(&["--pubsub-limit", &limit.to_string()]);
    let fds = open_fds(pid);
    let mut fast = connect(port);
    let mut slow = connect(port);
    for s in [&mut fast, &mut slow] {
        s.write_all(b"SUBSCRIBE feed\r\n").unwrap();
    }
    let confirm = b"*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n";
    assert_eq!(read_n(&mut fast, confirm.len()), confirm);
    assert_eq!(read_n(&mut slow, confirm.len()), confirm);
    // The fast one reads on a thread; the slow one never reads.
    let messages = 3000;
    let payload = vec![b'm'; 8 * 1024]; // 24 MB in all: past any socket buffers
    // How many messages the fast one has read: the publisher keeps at most
    // `LAG` messages (256 KiB) ahead of it, so a reader thread starved by a
    // busy machine is never the one over the limit.
    const LAG: usize = 32;
    let read = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let fast_reader = {
        let mut r = reader(&fast);
        let read = read.clone();
        std::thread::spawn(move || {
            (0..messages)
                .map(|_| {
                    let n = read_reply(&mut r).len();
                    read.fetch_add(1, std::sync::atomic::Ordering::Release);
                    n
                })
                .sum::<usize>()
        })
    };
    let mut publisher = connect(port);
    let mut publisher_reader = reader(&publisher);
    let mut receivers = Vec::new();
    for sent in 0..messages {
        while read.load(std::sync::atomic::Ordering::Acquire) + LAG < sent {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        publisher
            .write_all(&encode(&[b"PUBLISH", b"feed", &payload]))
            .unwrap();
        receivers.push(read_reply(&mut publisher_reader));
    }
    let frame = b"*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$8192\r\n".len() + payload.len() + 2;
    assert_eq!(fast_reader.join().unwrap(), messages * frame);
    assert_eq!(receivers.first().unwrap(), b":2\r\n");
    assert_eq!(
        receivers.last().unwrap(),
        b":1\r\n",
        "the slow one was dropped"
    );
    let got = read_until_closed(&mut slow).len();
    assert!(
        got < messages * frame,
        "the slow one was cut off at {got} bytes"
    );
    drop((fast, slow, publisher, publisher_reader));
    assert_serves(port);
    assert_fds_settle(pid, fds);
}

// ------------------------------------------------------------- parser

/// Parses `input` fed in `chunks` (sizes; the rest at the end) the way a
/// connection does: consumed bytes dropped, the rest fed again with more.
/// Returns the commands and whether it ended in a protocol error; checks
/// the parser's memory against the input on the way.
fn parse_chunked(input: &[u8], chunks: &[usize]) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut parser = resp::Parser::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    let mut sizes = chunks.iter().copied().chain(std::iter::once(usize::MAX));
    while fed < input.len() {
        let n = sizes
            .next()
            .unwrap_or(usize::MAX)
            .max(1)
            .min(input.len() - fed);
        pending.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.feed(&pending) {
                Ok((used, Some(cmd))) => {
                    commands.push(cmd.args().map(<[u8]>::to_vec).collect());
                    parser.clear();
                    pending.drain(..used);
                }
                Ok((used, None)) => {
                    pending.drain(..used);
                    break;
                }
                Err(_) => return (commands, true),
            }
            assert!(
                parser.memory() <= 8 * input.len() + 1024,
                "parser holds {} bytes for {} of input",
                parser.memory(),
                input.len()
            );
        }
        assert!(pending.len() <= input.len());
    }
    (commands, false)
}

/// A few valid commands, multibulk or inline.
fn valid_commands() -> impl Strategy<Value = Vec<u8>> {
    let arg = prop::collection::vec(any::<u8>(), 0..40);
    let command = prop::collection::vec(arg, 1..5);
    prop::collection::vec((command, any::<bool>()), 1..8).prop_map(|cmds| {
        let mut out = Vec::new();
        for (args, inline) in cmds {
            let printable = args
                .iter()
                .all(|a| !a.is_empty() && a.iter().all(|b| b.is_ascii_alphanumeric()));
            if inline && printable {
                let words: Vec<String> = args
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                out.extend_from_slice(words.join(" ").as_bytes());
                out.extend_from_slice(b"\r\n");
            } else {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                out.extend(encode(&refs));
            }
        }
        out
    })
}

/// A mutation of valid input: overwrite, insert, delete or cut.
#[derive(Debug, Clone)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (
            any::<usize>(),
            prop::sample::select(b"*$\r\n-0123456789 \"'".to_vec())
        )
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(mut input: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if input.is_empty() {
            break;
        }
        let len = input.len();
        match *m {
            Mutation::Set(i, b) => input[i % len] = b,
            Mutation::Insert(i, b) => input.insert(i % (len + 1), b),
            Mutation::Delete(i) => {
                input.remove(i % len);
            }
            Mutation::Truncate(i) => input.truncate(i % len),
        }
    }
    input
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic_the_parser(
        input in prop::collection::vec(any::<u8>(), 0..4096),
        chunks in prop::collection::vec(1usize..300, 0..20),
    ) {
        parse_chunked(&input, &chunks);
    }

    #[test]
    fn mutated_resp_never_panics_the_parser(
        input in valid_commands(),
        mutations in prop::collection::vec(mutation(), 1..6),
        chunks in prop::collection::vec(1usize..64, 0..20),
    ) {
        parse_chunked(&apply(input, &mutations), &chunks);
    }

    #[test]
    fn valid_resp_parses_the_same_however_it_is_split(
        input in valid_commands(),
        chunks in prop::collection::vec(1usize..64, 0..20),
    ) {
        let whole = parse_chunked(&input, &[]);
        prop_assert!(!whole.1, "valid input refused");
        prop_assert_eq!(parse_chunked(&input, &chunks), whole);
    }

    #[test]
    fn glob_matches_a_literal_and_a_star(text in "[a-z.]{0,12}", cut in 0usize..12) {
        let cut = cut.min(text.len());
        prop_assert!(resp::glob_match(text.as_bytes(), text.as_bytes()));
        let pattern = format!("{}*", &text[..cut]);
        prop_assert!(resp::glob_match(pattern.as_bytes(), text.as_bytes()));
    }
}

#[test]
fn a_huge_announced_count_holds_no_memory_before_its_arguments() {
    let mut parser = resp::Parser::new();
    let headers = b"*1048576\r\n$536870912\r\n";
    let (used, command) = parser.feed(headers).unwrap();
    assert_eq!((used, command.is_none()), (headers.len(), true));
    assert!(parser.memory() < 1024, "{}", parser.memory());
}

#[test]
fn the_active_cycle_deletes_expired_keys_on_a_moved_clock() {
    let mut keys = db::Db::new();
    let start: i64 = 1_700_000_000_000; // Unix ms
    for i in 0..1000 {
        let ttl = if i % 2 == 0 { 10 } else { 10_000 };
        let at = start + ttl;
        keys.set(
            format!("k{i}").as_bytes(),
            b"v",
            db::Condition::Always,
            db::Ttl::At(at),
            false,
            start,
        );
    }
    keys.set(
        b"forever",
        b"v",
        db::Condition::Always,
        db::Ttl::Clear,
        false,
        start,
    );
    assert_eq!(keys.volatile_len(), 1000);
    // Nothing due yet: one sample, nothing deleted.
    assert_eq!(
        keys.active_expire_cycle(start, Duration::from_secs(1), Instant::now),
        0
    );
    // Half are due: rounds go on while over 1/4 of a sample is expired.
    let later = start + 20;
    let mut deleted = 0;
    for _ in 0..50 {
        deleted += keys.active_expire_cycle(later, Duration::from_secs(1), Instant::now);
    }
    assert!(deleted >= 400, "only {deleted} of 500 collected");
    assert_eq!(keys.len(), 1001 - deleted);
    // Lazy expiry gets the rest on access; the others are intact.
    let left = (0..1000)
        .filter(|i| keys.exists(format!("k{i}").as_bytes(), later))
        .count();
    assert_eq!(left, 500);
    assert_eq!(keys.volatile_len(), 500);
    assert!(keys.exists(b"forever", later));
}

#[test]
fn lazy_expiry_treats_a_due_key_as_missing_on_every_path() {
    use db::{Condition, Ttl};
    let start: i64 = 1_700_000_000_000; // Unix ms
    let later = start + 20;
    let soon = Ttl::At(start + 10);
    let mut keys = db::Db::new();
    let set =
        |keys: &mut db::Db, k: &[u8], cond, ttl, get| keys.set(k, b"v", cond, ttl, get, start);
    for k in [b"get", b"nx_", b"xx_", b"kee", b"old", b"inc", b"pex"] {
        set(&mut keys, k, Condition::Always, soon, false);
    }
    set(&mut keys, b"forever", Condition::Always, Ttl::Clear, false);
    assert_eq!((keys.len(), keys.volatile_len()), (8, 7));
    // Not due yet: every path sees the keys.
    assert_eq!(keys.get(b"get", start), Some(&b"v"[..]));
    assert_eq!(keys.pttl(b"pex", start), 10);

    // Due: a read misses and deletes.
    assert_eq!(keys.get(b"get", later), None);
    assert_eq!(keys.expired, 1);
    // NX sets a due key (it is missing), XX does not.
    let nx = keys.set(
        b"nx_",
        b"new",
        Condition::IfMissing,
        Ttl::Clear,
        false,
        later,
    );
    assert_eq!(nx, (true, None));
    let xx = keys.set(
        b"xx_",
        b"new",
        Condition::IfExists,
        Ttl::Clear,
        false,
        later,
    );
    assert_eq!(xx, (false, None));
    // KEEPTTL has no deadline to keep on a due key: it lives forever.
    keys.set(b"kee", b"new", Condition::Always, Ttl::Keep, false, later);
    assert_eq!(keys.pttl(b"kee", later), -1);
    // SET .. GET returns nil for a due key.
    let old = keys.set(b"old", b"new", Condition::Always, Ttl::Clear, true, later);
    assert_eq!(old, (true, None));
    // INCR starts a due key from zero, with no deadline.
    assert_eq!(keys.incr_by(b"inc", 5, later), Ok(5));
    assert_eq!(keys.pttl(b"inc", later), -1);
    assert_eq!(keys.pttl(b"pex", later), -2);
    assert_eq!(keys.expired, 7);
    assert_eq!(keys.volatile_len(), 0);
    assert_eq!(keys.len(), 5); // nx_, kee, old, inc, forever

    // A live key keeps its deadline through INCR and loses it through SET.
    set(
        &mut keys,
        b"n",
        Condition::Always,
        Ttl::At(later + 1000),
        false,
    );
    assert_eq!(keys.incr_by(b"n", 1, later), Err(db::NOT_AN_INTEGER));
    keys.set(b"n", b"41", Condition::Always, Ttl::Keep, false, later);
    assert_eq!(keys.incr_by(b"n", 1, later), Ok(42));
    assert_eq!(keys.pttl(b"n", later), 1000);
    assert_eq!(keys.get(b"n", later), Some(&b"42"[..]));
    keys.set(b"n", b"7", Condition::Always, Ttl::Clear, false, later);
    assert_eq!((keys.pttl(b"n", later), keys.volatile_len()), (-1, 0));
}

#[test]
fn a_whole_command_is_borrowed_from_the_input_and_a_cut_one_is_kept() {
    let value = vec![b'v'; 4096];
    let input = encode(&[b"SET", b"key", &value]);
    let mut parser = resp::Parser::new();
    // Whole: the arguments are read in place, nothing is copied.
    let (used, command) = parser.feed(&input).unwrap();
    let command = command.expect("a whole command");
    assert_eq!(used, input.len());
    assert_eq!(command.arg(2), &value[..]);
    parser.clear();
    assert!(parser.memory() < 1024, "{}", parser.memory());
    // Cut inside the value: the name and the key are kept by the parser,
    // the value's bytes are left unconsumed, and the rest completes it.
    let cut = input.len() - 100;
    let (used, command) = parser.feed(&input[..cut]).unwrap();
    assert!(command.is_none());
    let mut rest = input[used..].to_vec();
    assert!(parser.memory() < 1024, "{}", parser.memory());
    rest.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    let (used, command) = parser.feed(&rest).unwrap();
    let args: Vec<&[u8]> = command.expect("completed").args().collect();
    assert_eq!(args, [&b"SET"[..], b"key", &value]);
    parser.clear();
    let (_, command) = parser.feed(&rest[used..]).unwrap();
    assert_eq!(command.expect("the next one").arg(0), b"PING");
}
