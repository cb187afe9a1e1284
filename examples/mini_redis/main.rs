//! A Redis-compatible server on corio: RESP2 (inline and multibulk, with
//! pipelining), 16 databases of strings (and enough of lists and sets
//! for the `WRONGTYPE` paths) with expiry, transactions, pub/sub with
//! glob patterns. Real clients (`redis-cli`, `redis-benchmark`) talk to
//! it; the tests compare its replies byte for byte with a real
//! `redis-server`, and Redis's own test suite runs against it
//! (`redis-tests.sh`).
//!
//! ```text
//! cargo run --example mini_redis                         # serve, run a demo client, exit
//! cargo run --example mini_redis -- --serve 6380         # serve (port 0: any free one)
//! cargo run --example mini_redis -- --serve 6380 --maxclients 100
//! redis-cli -p 6380 set greeting hello
//! ```
//!
//! The pieces: `resp.rs` (the parser and the reply encoders), `db.rs` (a
//! keyspace and expiry), `commands.rs` (the command table and dispatch;
//! the commands in `strings.rs`, `float.rs`, `keyspace.rs`, `lists.rs`,
//! `sets.rs`), `server.rs` (connections on the protocol layer, `SELECT`,
//! transactions; `pubsub.rs`, `info.rs`, `databases.rs`). The walk through one pipelined
//! request is `docs/12-mini-redis.md`.

mod commands;
mod db;
mod resp;
mod server;
mod sys;

use std::io;
use std::rc::Rc;
use std::time::Duration;

use corio::net::{StreamReader, open_connection};

use server::{Config, Shared};

/// The command line: `[--serve PORT] [--maxclients N] [--pubsub-limit BYTES]
/// [--output-limit BYTES]`.
fn parse_args() -> io::Result<(Option<u16>, Config)> {
    let mut config = Config::default();
    let mut serve = None;
    let mut args = std::env::args().skip(1);
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidInput, what);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        let number = || {
            value
                .parse::<usize>()
                .map_err(|e| bad(format!("{flag} {value}: {e}")))
        };
        match flag.as_str() {
            "--serve" => serve = Some(number()? as u16),
            "--maxclients" => config.maxclients = number()?,
            "--pubsub-limit" => config.pubsub_limit = number()?,
            "--output-limit" => config.output_high_water = number()?,
            _ => {
                return Err(bad(format!(
                    "unknown flag {flag}; usage: [--serve PORT] [--maxclients N] \
                     [--pubsub-limit BYTES] [--output-limit BYTES]"
                )));
            }
        }
    }
    Ok((serve, config))
}

/// Reads one reply and renders it as `redis-cli` does.
async fn read_reply(reader: &StreamReader) -> io::Result<String> {
    let line = reader.readline().await?;
    let text = String::from_utf8_lossy(&line).trim_end().to_string();
    let (kind, rest) = text.split_at(1);
    Ok(match kind {
        "+" => rest.to_string(),
        "-" => format!("(error) {rest}"),
        ":" => format!("(integer) {rest}"),
        "$" if rest == "-1" => "(nil)".to_string(),
        "$" => {
            let len: usize = rest.parse().map_err(io::Error::other)?;
            let data = reader.readexactly(len + 2).await?;
            format!("{:?}", String::from_utf8_lossy(&data[..len]))
        }
        "*" => {
            let len: usize = rest.parse().map_err(io::Error::other)?;
            let mut items = Vec::with_capacity(len);
            for _ in 0..len {
                items.push(Box::pin(read_reply(reader)).await?);
            }
            format!("[{}]", items.join(", "))
        }
        _ => return Err(io::Error::other(format!("not RESP: {text:?}"))),
    })
}

/// The demo: serve on a free port, send a pipeline through a client of
/// our own, print each command with its reply, then pub/sub.
async fn demo(shared: Rc<Shared>) -> io::Result<()> {
    let server = server::serve(shared.clone(), "127.0.0.1", 0).await?;
    let port = server.addresses()[0].port();
    println!("listening on 127.0.0.1:{port}");
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    let commands = [
        "PING",
        "SET greeting hello",
        "GET greeting",
        "INCR visits",
        "INCRBY visits 41",
        "SET session alive PX 50",
        "PTTL session",
        "MGET greeting visits nosuch",
        "NOSUCH command",
    ];
    // One write for the whole pipeline (inline commands, as from nc).
    writer.write(format!("{}\r\n", commands.join("\r\n")).as_bytes())?;
    for command in commands {
        println!("{command} -> {}", read_reply(&reader).await?);
    }
    corio::sleep(Duration::from_millis(60)).await;
    writer.write(b"GET session\r\n")?;
    println!(
        "GET session (60 ms later) -> {}",
        read_reply(&reader).await?
    );

    let (sub_reader, sub_writer) = open_connection("127.0.0.1", port).await?;
    sub_writer.write(b"PSUBSCRIBE news.*\r\n")?;
    println!("PSUBSCRIBE news.* -> {}", read_reply(&sub_reader).await?);
    writer.write(b"PUBLISH news.corio \"a redis on corio\"\r\n")?;
    println!("PUBLISH news.corio -> {}", read_reply(&reader).await?);
    println!("subscriber got -> {}", read_reply(&sub_reader).await?);
    writer.write(b"QUIT\r\n")?;
    println!("QUIT -> {}", read_reply(&reader).await?);
    sub_writer.close();
    writer.close();
    server.close();
    server.wait_closed().await;
    Ok(())
}

async fn main_async(serve: Option<u16>, config: Config) -> io::Result<()> {
    let shared = Shared::new(config);
    let Some(port) = serve else {
        return demo(shared).await;
    };
    let server = server::serve(shared, "127.0.0.1", port).await?;
    println!("listening on {}", server.addresses()[0]);
    server.serve_forever().await
}

fn main() -> io::Result<()> {
    let (serve, config) = parse_args()?;
    corio::run(main_async(serve, config)).map_err(|e| io::Error::other(e.to_string()))?
}
