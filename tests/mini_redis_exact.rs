//! mini_redis byte for byte against a real `redis-server`, one test per
//! divergence Redis's own test suite found (issue 35) and per family of
//! commands added for it. Each test sends the same pipelined script to
//! both servers (started by the test, loopback, free ports) and compares
//! every byte of the replies; a script ends with `QUIT` or a protocol
//! error, so both servers close and the exchange ends by itself.

mod support;

#[path = "support/redis.rs"]
mod redis;

use std::io::Write;
use std::time::Duration;

use redis::{connect, encode, exchange_until_close, have, read_n, rss};
use support::{KillOnDrop, spawn_example, wait_for_line};

/// mini_redis on a free port: (child, port, pid).
fn serve() -> (KillOnDrop, u16, u32) {
    let (child, mut out) = spawn_example("mini_redis", &["--serve", "0"]);
    let addr = wait_for_line(&mut out, "listening on ");
    let port = addr.rsplit(':').next().unwrap().parse().expect("port");
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let pid = child.0.id();
    (child, port, pid)
}

/// Inline commands, one per line.
fn inline(lines: &[&str]) -> Vec<u8> {
    let mut s = Vec::new();
    for line in lines {
        s.extend_from_slice(line.as_bytes());
        s.extend_from_slice(b"\r\n");
    }
    s
}

/// Sends `script` (then `QUIT`) to redis-server and to mini_redis and
/// checks the replies are the same bytes. Skipped without redis-server.
fn same_bytes(script: &[u8]) {
    if !have("redis-server") {
        return;
    }
    let mut script = script.to_vec();
    script.extend_from_slice(b"QUIT\r\n");
    let (_redis, redis_port) = redis::start_redis_server();
    let (_server, port, _) = serve();
    let expected = exchange_until_close(redis_port, &script);
    let got = exchange_until_close(port, &script);
    assert!(
        expected.ends_with(b"+OK\r\n"),
        "the script reaches QUIT on redis-server"
    );
    if got != expected {
        let (e, g) = (
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&got),
        );
        let (e, g): (Vec<&str>, Vec<&str>) = (e.lines().collect(), g.lines().collect());
        let first = e
            .iter()
            .zip(&g)
            .position(|(a, b)| a != b)
            .unwrap_or(e.len().min(g.len()));
        let from = first.saturating_sub(6);
        panic!(
            "replies differ from line {first}:\nredis-server:\n{}\nmini_redis:\n{}",
            e[from..e.len().min(first + 6)].join("\n"),
            g[from..g.len().min(first + 6)].join("\n"),
        );
    }
}

// ------------------------------------------------------- divergences

#[test]
fn an_error_quoting_crlf_is_one_line_so_no_reply_is_injected() {
    let mut s = encode(&[b"SET", b"k", b"v"]);
    s.extend(encode(&[b"FOO", b"x'\r\n+OK"]));
    s.extend(encode(&[b"GET", b"k"]));
    s.extend(encode(&[b"EXPIRE", b"k", b"10", b"\r\nNX\r\n"]));
    s.extend(encode(&[b"CONFIG", b"a\r\nb"]));
    s.extend(encode(&[b"\r\nBAR\n", b"\n"]));
    s.extend(encode(&[b"GET", b"k"]));
    // Inline, the escapes make the CR LF.
    s.extend_from_slice(b"FOO \"x'\\r\\n+OK\"\r\nGET k\r\n");
    same_bytes(&s);
}

#[test]
fn an_unknown_command_lists_128_bytes_of_arguments_as_they_are() {
    let long = vec![b'a'; 100];
    let mut s = encode(&[b"NOSUCH", &long, &long, &long]);
    s.extend(encode(&[b"NOSUCH", b"\xff\xfe\x80", b"caf\xc3\xa9"]));
    s.extend(encode(&[b"NO\x00SUCH", b"a\x00b", b"c"]));
    s.extend(encode(&[&[b'n'; 200], b"x"]));
    let args: Vec<Vec<u8>> = (0..60).map(|i| format!("{i}").into_bytes()).collect();
    let mut cmd: Vec<&[u8]> = vec![b"NOSUCH"];
    cmd.extend(args.iter().map(Vec::as_slice));
    s.extend(encode(&cmd));
    same_bytes(&s);
}

#[test]
fn expire_times_that_overflow_are_refused() {
    same_bytes(&inline(&[
        "SET k v EX 10000000000000000",
        "SET k v EX 9223372036854775",
        "SET k v EX 9223372036854776",
        "SET k v PX 9223372036854775807",
        "SET k v EX -1",
        "SET k v PX 0",
        "SETEX k 10000000000000000 v",
        "PSETEX k 9223372036854775807 v",
        "SET k v",
        "EXPIRE k 9223370399119966",
        "EXPIRE k 9223372036854776",
        "EXPIRE k 10000000000000000",
        "EXPIRE k -9223372036854776",
        "EXPIRE k -10000000000000000",
        "PEXPIRE k 9223372036854775807",
        "EXPIREAT k 9223372036854776",
        "PEXPIREAT k 9223372036854775807",
        "TTL k",
        "EXISTS k",
        "GETEX k EX 10000000000000000",
        "GETEX k PX -5",
        "TTL k",
        "EXPIRE k -9223372036854775",
        "EXISTS k",
    ]));
}

#[test]
fn expire_takes_several_flags_with_redis_messages_for_conflicts() {
    same_bytes(&inline(&[
        "SET k v",
        "EXPIRE k 100 LT XX",
        "EXPIRE k 100 XX LT",
        "EXPIRE k 100 NX XX",
        "EXPIRE k 100 NX GT",
        "EXPIRE k 100 LT NX",
        "EXPIRE k 100 GT LT",
        "EXPIRE k 100 FOO",
        "EXPIRE k x FOO",
        "EXPIRE k x NX",
        "EXPIRE k 100 lt",
        "TTL k",
        "EXPIRE k 200 GT",
        "TTL k",
        "EXPIRE k 50 GT",
        "EXPIRE k 50 LT XX",
        "TTL k",
        "EXPIRE k 60 NX",
        "EXPIRE nosuch 60 NX",
        "PERSIST k",
        "EXPIRE k 60 GT",
        "EXPIRE k 60 XX",
        "EXPIRE k 60 LT LT",
        "TTL k",
        "PEXPIRE k 100000 NX",
        "TTL k",
    ]));
}

#[test]
fn inline_escapes_follow_sdssplitargs() {
    same_bytes(&inline(&[
        r#"SET k "\x4g""#,
        "GET k",
        r#"SET k "\x41\x4a\x4""#,
        "GET k",
        r#"SET k "a\zb\n""#,
        "GET k",
        "SET\x0bk2\x0bv",
        "GET k2",
        r#"SET k 'it\'s'"#,
        "GET k",
    ]));
}

#[test]
fn decrby_the_smallest_integer_would_overflow() {
    same_bytes(&inline(&[
        "SET n 5",
        "DECRBY n -9223372036854775808",
        "DECRBY n -9223372036854775807",
        "DECRBY n 9223372036854775807",
        "DECRBY n 9223372036854775807",
        "INCRBY n -9223372036854775808",
        "GET n",
        "DECRBY n 9223372036854775808",
    ]));
}

#[test]
fn a_command_of_more_than_1048576_arguments_runs() {
    let n = 1_048_577;
    let mut s = format!("*{}\r\n$6\r\nEXISTS\r\n", n + 1).into_bytes();
    for _ in 0..n {
        s.extend_from_slice(b"$1\r\nk\r\n");
    }
    s.extend_from_slice(b"SET k v\r\n");
    let mut again = format!("*{}\r\n$3\r\nDEL\r\n", n + 1).into_bytes();
    for _ in 0..n {
        again.extend_from_slice(b"$1\r\nk\r\n");
    }
    s.extend(again);
    same_bytes(&s);
    // Past INT_MAX, the count itself is refused (reply, then close).
    if have("redis-server") {
        let (_redis, redis_port) = redis::start_redis_server();
        let (_server, port, _) = serve();
        let bad = b"*2147483648\r\n";
        assert_eq!(
            exchange_until_close(port, bad),
            exchange_until_close(redis_port, bad)
        );
    }
}

#[test]
fn flushdb_gives_the_keyspace_memory_back() {
    let (_server, port, pid) = serve();
    let before = rss(pid);
    let mut stream = connect(port);
    let keys = 300_000;
    let mut batch = Vec::new();
    for i in 0..keys {
        batch.extend(encode(&[
            b"SET",
            format!("key:{i:08}").as_bytes(),
            &[b'v'; 64],
        ]));
        if i % 10_000 == 9_999 {
            stream.write_all(&batch).unwrap();
            assert_eq!(read_n(&mut stream, 5 * 10_000), b"+OK\r\n".repeat(10_000));
            batch.clear();
        }
    }
    let full = rss(pid);
    assert!(full > before + (30 << 20), "{before} -> {full}");
    stream.write_all(b"FLUSHDB\r\nDBSIZE\r\n").unwrap();
    assert_eq!(read_n(&mut stream, 9), b"+OK\r\n:0\r\n");
    let after = rss(pid);
    assert!(
        after < before + (full - before) / 5,
        "FLUSHDB kept the memory: {before} before, {full} full, {after} after"
    );
}

// ----------------------------------------------------- the commands

#[test]
fn select_and_flush_work_on_16_databases() {
    same_bytes(&inline(&[
        "SET k db0",
        "SELECT 15",
        "GET k",
        "SET k db15",
        "SET other x",
        "DBSIZE",
        "SELECT 16",
        "SELECT -1",
        "SELECT 99999999999",
        "SELECT x",
        "SELECT 0",
        "GET k",
        "INFO keyspace",
        "FLUSHDB",
        "INFO keyspace",
        "SELECT 15",
        "GET k",
        "FLUSHDB SYNC",
        "FLUSHDB ASYNC",
        "FLUSHDB LATER",
        "FLUSHDB SYNC ASYNC",
        "SET k x",
        "SELECT 3",
        "SET k y",
        "FLUSHALL",
        "DBSIZE",
        "SELECT 15",
        "DBSIZE",
        "FLUSHALL ASYNC",
        "FLUSHALL SYNC",
        "FLUSHALL x",
        "INFO keyspace",
        "FUNCTION FLUSH",
        "FUNCTION FLUSH ASYNC",
        "FUNCTION FLUSH sync",
        "FUNCTION FLUSH LATER",
        "FUNCTION FLUSH a b",
        "FUNCTION NOSUCH",
        "FUNCTION",
    ]));
}

#[test]
fn set_variants_match_redis() {
    same_bytes(&inline(&[
        "SETNX k v",
        "SETNX k w",
        "GET k",
        "SETEX k 100 v2",
        "TTL k",
        "SETEX k 0 v",
        "SETEX k x v",
        "SETEX k -5 v",
        "PSETEX k 100000 v3",
        "TTL k",
        "PSETEX k 0 v",
        "GETSET k v4",
        "TTL k",
        "GETSET nosuch v",
        "GET nosuch",
        "SET k v EXAT 4000000000",
        "EXPIRETIME k",
        "PEXPIRETIME k",
        "TTL nosuchkey",
        "SET k v PXAT 4000000000123",
        "PEXPIRETIME k",
        "EXPIRETIME k",
        "SET k v KEEPTTL",
        "PEXPIRETIME k",
        "SET k v KEEPTTL EX 10",
        "SET k v EX 10 KEEPTTL",
        "SET k v EXAT 10 PXAT 10",
        "SET k v PX 10 EX 10",
        "SET k v EXAT",
        "SET k v GET",
        "SET k v2 GET NX",
        "SET k v3 GET XX",
        "SET nx1 v GET NX",
        "SET xx1 v GET XX",
        "GET xx1",
        "SET k v EXAT 1",
        "GET k",
        "SET k v EXAT 0",
        "SET k v PXAT x",
        "EXPIRETIME nosuch",
        "SET p v",
        "EXPIRETIME p",
        "PEXPIRETIME p",
        "EXPIREAT p 4000000000",
        "EXPIRETIME p",
        "PEXPIREAT p 4000000000999",
        "EXPIRETIME p",
        "PEXPIRETIME p",
        "EXPIREAT p 4000000001 LT",
        "EXPIREAT p 4000000001 GT",
        "EXPIRETIME p",
        "EXPIREAT p 1",
        "EXISTS p",
        "MSETNX a 1 b 2",
        "MSETNX b 3 c 4",
        "MGET a b c",
        "MSETNX a",
        "MSETNX a 1 b",
        "MSET a 1 b",
    ]));
}

#[test]
fn getex_getdel_and_partial_strings_match_redis() {
    same_bytes(&inline(&[
        "SET k hello",
        "GETEX k",
        "GETEX k EX 100",
        "TTL k",
        "GETEX k PERSIST",
        "TTL k",
        "GETEX k PXAT 4000000000000",
        "PEXPIRETIME k",
        "GETEX k EX 10 PX 10",
        "GETEX k PERSIST EX 10",
        "GETEX k FOO",
        "GETEX k EX",
        "GETEX k EX x",
        "GETEX k EX 0",
        "GETEX nosuch EX 0",
        "GETEX nosuch",
        "GETEX k EXAT 1",
        "EXISTS k",
        "SET k hello",
        "GETDEL k",
        "GETDEL k",
        "EXISTS k",
        "APPEND k abc",
        "APPEND k def",
        "GET k",
        "STRLEN k",
        "STRLEN nosuch",
        "SET k \"Hello World\"",
        "GETRANGE k 0 4",
        "GETRANGE k -5 -1",
        "GETRANGE k -1 -5",
        "GETRANGE k 5 3",
        "GETRANGE k 0 -100",
        "GETRANGE k -100 -50",
        "GETRANGE k 0 100000",
        "GETRANGE k 100 200",
        "GETRANGE k x 1",
        "GETRANGE nosuch 0 10",
        "SUBSTR k 0 2",
        "SET n 1234",
        "GETRANGE n 1 2",
        "SETRANGE k 6 Redis",
        "GET k",
        "SETRANGE k 20 !",
        "GET k",
        "STRLEN k",
        "SETRANGE k 1 \"\"",
        "SETRANGE nosuch 5 \"\"",
        "EXISTS nosuch",
        "SETRANGE nosuch 3 x",
        "GET nosuch",
        "SETRANGE k -1 x",
        "SETRANGE k x x",
        "SETRANGE k 536870911 xx",
        "SETRANGE k 536870912 \"\"",
        "SETEX t 100 abc",
        "APPEND t def",
        "SETRANGE t 0 X",
        "TTL t",
        "GET t",
    ]));
}

/// The sums are C's 80-bit `long double`'s, as Redis's (`1 - 1.1` is
/// `-0.1` there, `-0.10000000000000009` in an `f64`).
#[test]
fn incrbyfloat_matches_redis_on_its_test_values() {
    same_bytes(&inline(&[
        "INCRBYFLOAT f 1",
        "INCRBYFLOAT f 0.25",
        "SET f 1.5",
        "INCRBYFLOAT f 1.5",
        "INCRBYFLOAT f 1.1",
        "SET f 17179869184",
        "INCRBYFLOAT f 1.5",
        "SET f 17179869184",
        "INCRBYFLOAT f 17179869184",
        "SET f \"    11\"",
        "INCRBYFLOAT f 1.0",
        "SET f \"11 \"",
        "INCRBYFLOAT f 1.0",
        "SET f 0",
        "INCRBYFLOAT f +inf",
        "INCRBYFLOAT f -inf",
        "INCRBYFLOAT f nan",
        "INCRBYFLOAT f x",
        "INCRBYFLOAT f \"\"",
        "INCRBYFLOAT f 1e3",
        "INCRBYFLOAT f -1000",
        "SET f 1",
        "INCRBYFLOAT f -1.1",
        "INCRBYFLOAT f 0.1",
        "INCRBYFLOAT f 0.2",
        "INCRBYFLOAT f 0.1",
        "INCRBYFLOAT f 1e-30",
        "INCRBYFLOAT f 123456789012345678901234567890",
        "INCRBYFLOAT f 1.5e300",
        "INCRBYFLOAT f -1.5e300",
        "INCRBYFLOAT f 1e5000",
        "INCRBYFLOAT f 1e-5000",
        "INCRBYFLOAT f 0x1p3",
        "INCRBYFLOAT f 1.18973149535723176502e+4932",
        "INCRBYFLOAT f 1.18973149535723176502e+4932",
        "SET f 3.0000000000000000001",
        "INCRBYFLOAT f 0",
        "SET f 1",
        "INCRBYFLOAT f -0.999999999999999999",
        "INCRBYFLOAT f 5e-18",
        "INCRBYFLOAT f 4e-18",
        "INCRBYFLOAT f -1.5",
        "INCRBYFLOAT f 1.5",
        "SET f \"1\"",
        "INCRBYFLOAT f .5",
        "INCRBYFLOAT f 5.",
        "INCRBYFLOAT f infinity",
        "INCRBYFLOAT f 1e",
        "DEL f",
        "INCRBYFLOAT f 0.024390243902439025",
        "INCRBYFLOAT f -0.024390243902439025",
        "GET f",
        "SETEX f 100 3",
        "INCRBYFLOAT f 2",
        "TTL f",
        "INCRBYFLOAT f 5.0e3",
        "INCRBYFLOAT f 10.5",
    ]));
}

#[test]
fn key_commands_match_redis() {
    same_bytes(&inline(&[
        "SET a 1",
        "TYPE a",
        "TYPE nosuch",
        "RENAME a b",
        "GET a",
        "GET b",
        "RENAME nosuch x",
        "RENAME b b",
        "RENAMENX b b",
        "RENAMENX nosuch b",
        "SET c 3",
        "RENAMENX b c",
        "RENAME b c",
        "GET c",
        "SETEX v 100 x",
        "RENAME v w",
        "TTL w",
        "RENAMENX w z",
        "TTL z",
        "DEL c",
        "KEYS *",
        "KEYS z?",
        "KEYS [yz]",
        "KEYS nomatch*",
        "RANDOMKEY",
        "DBSIZE",
        "SCAN 0",
        "SCAN 0 MATCH z",
        "SCAN 0 MATCH y",
        "SCAN 0 COUNT 0",
        "SCAN 0 COUNT x",
        "SCAN 0 COUNT",
        "SCAN 0 TYPE string",
        "SCAN 0 TYPE list",
        "SCAN 0 FOO bar",
        "SCAN x",
        "SCAN -1x",
        "SCAN \" 0\"",
        "SCAN 18446744073709551616",
        "PERSIST z",
        "PERSIST z",
        "TTL z",
        "UNLINK z nosuch",
        "RANDOMKEY",
        "KEYS *",
        "SCAN 0",
        "TIME x",
        "PUBSUB NUMSUB a b",
        "PUBSUB NUMPAT",
        "PUBSUB CHANNELS",
        "PUBSUB CHANNELS a b",
        "PUBSUB NUMPAT x",
        "PUBSUB FOO",
    ]));
}

#[test]
fn bits_copy_and_move_match_redis() {
    same_bytes(&inline(&[
        "SETBIT b 1 1",
        "SETBIT b 1 1",
        "SETBIT b 7 1",
        "GET b",
        "GETBIT b 1",
        "GETBIT b 2",
        "GETBIT b 100",
        "GETBIT nosuch 0",
        "SETBIT b 1 0",
        "SETBIT b 20 1",
        "STRLEN b",
        "SETBIT b 4294967296 1",
        "SETBIT b -1 1",
        "SETBIT b x 1",
        "SETBIT b 0 2",
        "SETBIT b 0 -1",
        "SETBIT b 0 x",
        "GETBIT b -1",
        "SET n 1",
        "GETBIT n 2",
        "SETBIT n 6 1",
        "GET n",
        "SETEX t 100 a",
        "COPY t u",
        "TTL u",
        "GET u",
        "COPY t u",
        "COPY t u REPLACE",
        "COPY t t",
        "COPY nosuch u",
        "COPY t u DB 3",
        "COPY t u DB 3",
        "COPY t u DB 16",
        "COPY t u DB x",
        "COPY t u FOO",
        "COPY t u DB",
        "COPY t t DB 0",
        "SELECT 3",
        "GET u",
        "TTL u",
        "SELECT 0",
        "MOVE t 0",
        "MOVE t 5",
        "MOVE t 5",
        "EXISTS t",
        "MOVE nosuch 5",
        "MOVE u 3",
        "MOVE u 16",
        "MOVE u x",
        "SELECT 5",
        "GET t",
        "TTL t",
        "SET a ohmytext",
        "SET b mynewtext",
        "LCS a b",
        "LCS a b LEN",
        "LCS a b IDX",
        "LCS a b IDX WITHMATCHLEN",
        "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN",
        "LCS a b IDX MINMATCHLEN -3",
        "LCS a b IDX LEN",
        "LCS a b MINMATCHLEN x",
        "LCS a b MINMATCHLEN",
        "LCS a b FOO",
        "LCS a nosuch",
        "LCS nosuch1 nosuch2 IDX",
        "SET c aaaa",
        "LCS c c IDX WITHMATCHLEN",
        "LCS a c IDX",
    ]));
}

#[test]
fn lists_and_the_wrongtype_paths_match_redis() {
    same_bytes(&inline(&[
        "RPUSH l a b c",
        "LPUSH l z y",
        "LRANGE l 0 -1",
        "LRANGE l 1 2",
        "LRANGE l -2 100",
        "LRANGE l 5 1",
        "LRANGE l 10 20",
        "LRANGE l x 1",
        "LRANGE nosuch 0 -1",
        "LLEN l",
        "LLEN nosuch",
        "TYPE l",
        "LPOP l",
        "RPOP l",
        "LPOP l 2",
        "LPOP l 0",
        "LPOP l -1",
        "LPOP l x",
        "LPOP l 1 2",
        "LPOP nosuch",
        "LPOP nosuch 2",
        "RPOP l 5",
        "EXISTS l",
        "RPUSH l a",
        "GET l",
        "MGET l nosuch",
        "STRLEN l",
        "APPEND l x",
        "INCR l",
        "DECRBY l 5",
        "INCRBYFLOAT l 1",
        "GETRANGE l 0 1",
        "GETRANGE l x 1",
        "SETRANGE l 0 x",
        "SETRANGE l -1 x",
        "SETRANGE l 0 \"\"",
        "SETBIT l 0 1",
        "SETBIT l 0 5",
        "GETBIT l 0",
        "GETBIT l x",
        "GETSET l v",
        "GETDEL l",
        "GETEX l",
        "GETEX l FOO",
        "GETEX nosuch EX 10",
        "SET l v GET",
        "SET l v NX",
        "SETNX l v",
        "MSETNX l v other w",
        "LCS l nosuch",
        "SET s v",
        "LPUSH s x",
        "RPOP s",
        "LLEN s",
        "LRANGE s 0 1",
        "SCAN 0 TYPE list",
        "SCAN 0 TYPE LIST",
        "SCAN 0 TYPE string",
        "COPY l l2",
        "LRANGE l2 0 -1",
        "RENAME l2 l3",
        "TYPE l3",
        "SETEX l 100 v",
        "TYPE l",
        "GET l",
    ]));
}

#[test]
fn sets_match_redis_where_their_order_is_not_random() {
    same_bytes(&inline(&[
        "SRANDMEMBER nokey",
        "SRANDMEMBER nokey 3",
        "SRANDMEMBER nokey -3",
        "SADD s a b",
        "SADD s a c",
        "SCARD s",
        "SCARD nokey",
        "SISMEMBER s a",
        "SISMEMBER s z",
        "SISMEMBER nokey z",
        "SMEMBERS nokey",
        "TYPE s",
        "SRANDMEMBER s 0",
        "SRANDMEMBER s x",
        "SRANDMEMBER s 1 2",
        "SRANDMEMBER s -9223372036854775808",
        "GET s",
        "MGET s nokey",
        "INCR s",
        "LPUSH s x",
        "SET str v",
        "SADD str a",
        "SCARD str",
        "SRANDMEMBER str",
        "SRANDMEMBER str 2",
        "SMEMBERS str",
        "SADD one x",
        "SADD one x",
        "SRANDMEMBER one",
        "SRANDMEMBER one -3",
        "SRANDMEMBER one 5",
        "SMEMBERS one",
        "SCAN 0 TYPE set MATCH one",
        "COPY one two",
        "SMEMBERS two",
        "RENAME two three",
        "TYPE three",
        "SET three v",
        "TYPE three",
    ]));
}

#[test]
fn transactions_match_redis() {
    same_bytes(&inline(&[
        "EXEC",
        "DISCARD",
        "SET k 0",
        "MULTI",
        "INCRBYFLOAT k 1.0",
        "INCR n",
        "GET k",
        "LPUSH k x",
        "MULTI",
        "EXEC",
        "GET k",
        "MULTI",
        "SET k 5",
        "DISCARD",
        "GET k",
        "MULTI",
        "SET k 6",
        "NOSUCH",
        "GET k",
        "EXEC",
        "GET k",
        "MULTI",
        "SET k 7",
        "GET",
        "EXEC",
        "MULTI",
        "EXEC",
        "MULTI",
        "SELECT 2",
        "SET k in2",
        "EXEC",
        "GET k",
        "SELECT 0",
        "GET k",
        "MULTI",
        "PING",
        "ECHO hi",
        "FLUSHALL",
        "EXEC",
        "DBSIZE",
        "MULTI",
    ]));
}

#[test]
fn a_scan_returns_every_key_once_across_writes() {
    if !have("redis-cli") {
        return;
    }
    let (_server, port, _) = serve();
    let mut stream = connect(port);
    let mut script = Vec::new();
    for i in 0..1000 {
        script.extend(encode(&[b"SET", format!("k{i}").as_bytes(), b"v"]));
    }
    stream.write_all(&script).unwrap();
    assert_eq!(read_n(&mut stream, 5 * 1000), b"+OK\r\n".repeat(1000));
    let mut reader = redis::reader(&stream);
    let mut seen = std::collections::HashSet::new();
    let mut cursor = b"0".to_vec();
    let mut round = 0;
    loop {
        stream
            .write_all(&encode(&[b"SCAN", &cursor, b"COUNT", b"7"]))
            .unwrap();
        // Writes in between: new keys may or may not be seen, the old
        // ones must all be.
        stream
            .write_all(&encode(&[b"SET", format!("new{round}").as_bytes(), b"v"]))
            .unwrap();
        let reply = redis::read_reply(&mut reader);
        assert_eq!(redis::read_reply(&mut reader), b"+OK\r\n");
        let text = String::from_utf8(reply).unwrap();
        let mut lines = text.split("\r\n").skip(2);
        cursor = lines.next().unwrap().as_bytes().to_vec();
        for line in lines.skip(2).step_by(2) {
            if !line.is_empty() {
                seen.insert(line.to_string());
            }
        }
        round += 1;
        if cursor == b"0" {
            break;
        }
        assert!(round < 1000, "the scan never ended");
    }
    for i in 0..1000 {
        assert!(seen.contains(&format!("k{i}")), "k{i} never returned");
    }
}

#[test]
fn info_reports_true_figures() {
    let (_server, port, pid) = serve();
    let mut stream = connect(port);
    stream
        .write_all(b"SET a 1\r\nSET b 2 PX 30\r\nINFO\r\n")
        .unwrap();
    let mut reader = redis::reader(&stream);
    redis::read_reply(&mut reader);
    redis::read_reply(&mut reader);
    let info = String::from_utf8(redis::read_reply(&mut reader)).unwrap();
    for field in [
        "# Server\r\n",
        &format!("process_id:{pid}\r\n"),
        &format!("tcp_port:{port}\r\n"),
        "connected_clients:1\r\n",
        "mem_allocator:libc\r\n",
        "expired_keys:0\r\n",
        "role:master\r\n",
        "db0:keys=2,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "{field:?} not in {info}");
    }
    std::thread::sleep(Duration::from_millis(50));
    stream.write_all(b"GET b\r\nINFO stats\r\n").unwrap();
    assert_eq!(redis::read_reply(&mut reader), b"$-1\r\n");
    let stats = String::from_utf8(redis::read_reply(&mut reader)).unwrap();
    assert!(stats.contains("expired_keys:1\r\n"), "{stats}");
    assert!(!stats.contains("# Server"), "{stats}");
}
