//! How corio uses several cores: one event loop per core (`Cores`), each
//! with its own echo server on one shared port (`SharedPort`:
//! `SO_REUSEPORT`), and the kernel spreading connections among them.
//! Nothing is shared between the loops; each is asyncio's single-threaded
//! model, unchanged. Ctrl-C stops every loop.
//!
//! ```text
//! cargo run --example multi_loop_echo              # N loops, 40 clients, report, exit
//! cargo run --example multi_loop_echo -- --serve 8888
//! ```

mod common;

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use corio::net::{SharedPort, StreamReader, StreamWriter, open_connection, start_server_with};
use corio::{Core, Cores};

/// Echoes each line prefixed with the loop's number.
async fn handle(id: usize, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    while let Some(line) = reader.next_line().await? {
        writer.write(format!("loop {id}: ").as_bytes())?;
        writer.write(&line)?;
        writer.drain().await?;
    }
    Ok(())
}

/// The demo's clients, on loop 0 once every loop listens: 40 connections,
/// one line each; then every loop is asked to stop.
async fn clients(core: &Core, port: u16) -> io::Result<()> {
    for i in 0..40 {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        writer.write(format!("client {i}\n").as_bytes())?;
        reader.readline().await?;
    }
    core.request_shutdown();
    Ok(())
}

fn main() -> io::Result<()> {
    let serve_port = common::serve_port()?;
    let demo = serve_port.is_none();
    let loops = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2);
    let shared = SharedPort::reserve(([127, 0, 0, 1], serve_port.unwrap_or(0)).into())?;
    let (port, options) = (shared.port(), shared.server_options());
    let listening = std::sync::Arc::new(std::sync::Barrier::new(loops));
    println!("{loops} loops listening on 127.0.0.1:{port}");
    let served = Cores::new().count(loops).run(move |core| {
        let (options, listening) = (options.clone(), listening.clone());
        async move {
            let id = core.index();
            let count = Rc::new(Cell::new(0usize));
            let counter = count.clone();
            let handler = move |reader, writer| {
                counter.set(counter.get() + 1);
                handle(id, reader, writer)
            };
            let server = start_server_with(handler, "127.0.0.1", port, options).await?;
            listening.wait(); // every loop's listener is in the port's group
            if demo && id == 0 {
                clients(&core, port).await?;
            }
            core.shutdown_requested().await;
            server.close();
            server.wait_closed().await;
            io::Result::Ok(count.get())
        }
    });
    drop(shared);
    let served = match served {
        Ok(served) => served,
        Err(corio::CoresError::Interrupted) => {
            println!("Ctrl-C: every loop stopped");
            return Ok(());
        }
        Err(e) => return Err(io::Error::other(e.to_string())),
    };
    for (id, count) in served.iter().enumerate() {
        let count = count
            .as_ref()
            .map_err(|e| io::Error::new(e.kind(), e.to_string()))?;
        println!("loop {id} served {count} connections");
    }
    Ok(())
}
