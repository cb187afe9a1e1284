//! How corio uses several cores: one event loop per core, each in its own
//! thread with its own echo server on the same port (`reuse_port`), and
//! the kernel spreading connections among them. Nothing is shared between
//! the loops; each is asyncio's single-threaded model, unchanged.
//!
//! ```text
//! cargo run --example multi_loop_echo              # N loops, 40 clients, report, exit
//! cargo run --example multi_loop_echo -- --serve 8888
//! ```

mod common;

use std::io;
use std::sync::mpsc;
use std::thread;

use corio::net::{ServerOptions, StreamReader, StreamWriter, open_connection, start_server_with};

/// Echoes each line prefixed with the loop's number.
async fn handle(id: usize, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(format!("loop {id}: ").as_bytes())?;
        writer.write(&line)?;
        writer.drain().await?;
    }
    Ok(())
}

/// One loop: serve on `port` until `stop` says so (or forever).
fn serve(
    id: usize,
    port: u16,
    bound: mpsc::Sender<u16>,
    stop: Option<mpsc::Receiver<()>>,
) -> io::Result<()> {
    corio::run(async move {
        let options = ServerOptions {
            reuse_port: true,
            ..ServerOptions::default()
        };
        let server =
            start_server_with(move |r, w| handle(id, r, w), "127.0.0.1", port, options).await?;
        bound.send(server.addresses()[0].port()).ok();
        match stop {
            None => server.serve_forever().await,
            Some(stop) => {
                // The stop signal comes from another thread: wait for it there.
                corio::to_thread(move || stop.recv().ok())
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?;
                server.close();
                server.wait_closed().await;
                Ok(())
            }
        }
    })
    .map_err(|e| io::Error::other(e.to_string()))?
}

fn main() -> io::Result<()> {
    let serve_port = common::serve_port()?;
    let loops = thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    // The first loop picks the port; the others join it.
    let (bound_tx, bound_rx) = mpsc::channel();
    let mut stops = Vec::new();
    let mut threads = Vec::new();
    let mut port = serve_port.unwrap_or(0);
    for id in 0..loops {
        let (stop_tx, stop_rx) = mpsc::channel();
        let stop = serve_port.is_none().then_some(stop_rx);
        let bound = bound_tx.clone();
        threads.push(thread::spawn(move || serve(id, port, bound, stop)));
        stops.push(stop_tx);
        port = bound_rx.recv().map_err(io::Error::other)?;
    }
    println!("{loops} loops listening on 127.0.0.1:{port}");
    if serve_port.is_some() {
        for t in threads {
            t.join().expect("loop thread")?;
        }
        return Ok(());
    }
    // 40 clients, each its own connection: count who served them.
    let replies = corio::run(async move {
        let mut replies = Vec::new();
        for i in 0..40 {
            let (reader, writer) = open_connection("127.0.0.1", port).await?;
            writer.write(format!("client {i}\n").as_bytes())?;
            replies.push(String::from_utf8_lossy(&reader.readline().await?).into_owned());
        }
        io::Result::Ok(replies)
    })
    .map_err(|e| io::Error::other(e.to_string()))??;
    for id in 0..loops {
        let served = replies
            .iter()
            .filter(|r| r.starts_with(&format!("loop {id}:")))
            .count();
        println!("loop {id} served {served} of {} connections", replies.len());
    }
    for stop in stops {
        stop.send(()).ok();
    }
    for t in threads {
        t.join().expect("loop thread")?;
    }
    Ok(())
}
