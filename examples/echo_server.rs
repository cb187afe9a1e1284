//! The asyncio notes' echo server on streams: `start_server` runs
//! `handle_echo` as a task for each connection.
//!
//! ```text
//! cargo run --example echo_server              # serve, run the demo client, exit
//! cargo run --example echo_server -- --serve 0 # serve forever (port 0: any)
//! ```
//!
//! Python's version, for comparison:
//!
//! ```python
//! async def handle_echo(reader, writer):
//!     async for line in reader:
//!         writer.write(line)
//!         await writer.drain()
//!     writer.close()
//!     await writer.wait_closed()
//!
//! async def main():
//!     server = await asyncio.start_server(handle_echo, '127.0.0.1', 8888)
//!     async with server:
//!         await server.serve_forever()
//! ```

mod common;

use std::io;

use corio::net::{StreamReader, StreamWriter, open_connection, start_server};

async fn handle_echo(reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let peer = writer.peer_addr();
    while let Some(line) = reader.next_line().await? {
        writer.write(&line)?;
        writer.drain().await?;
    }
    println!("{peer:?} said goodbye");
    writer.close();
    writer.wait_closed().await
}

/// The notes' echo client: one message, one reply.
async fn tcp_echo_client(port: u16, message: &str) -> io::Result<String> {
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    writer.write(format!("{message}\n").as_bytes())?;
    writer.drain().await?;
    let reply = reader.readline().await?;
    writer.close();
    writer.wait_closed().await?;
    Ok(String::from_utf8_lossy(&reply).trim_end().to_string())
}

async fn main_async(serve_port: Option<u16>) -> io::Result<()> {
    let server = start_server(handle_echo, "127.0.0.1", serve_port.unwrap_or(0)).await?;
    let addr = server.addresses()[0];
    println!("listening on {addr}");
    if serve_port.is_some() {
        return server.serve_forever().await;
    }
    for message in ["Hello World!", "from corio streams"] {
        let reply = tcp_echo_client(addr.port(), message).await?;
        println!("client got: {reply}");
    }
    server.close();
    server.wait_closed().await;
    Ok(())
}

fn main() -> io::Result<()> {
    let serve_port = common::serve_port()?;
    corio::run(main_async(serve_port)).map_err(|e| io::Error::other(e.to_string()))?
}
