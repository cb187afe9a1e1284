//! The asyncio notes' echo client on streams: connect, send each message
//! as a line, print each reply.
//!
//! ```text
//! cargo run --example echo_client -- PORT [MESSAGE...]
//! ```
//!
//! Python's version, for comparison:
//!
//! ```python
//! async def tcp_echo_client(message):
//!     reader, writer = await asyncio.open_connection('127.0.0.1', 8888)
//!     writer.write(message.encode())
//!     await writer.drain()
//!     data = await reader.readline()
//!     print(f'Received: {data.decode()!r}')
//!     writer.close()
//!     await writer.wait_closed()
//! ```

use std::io;

use corio::net::open_connection;

async fn client(port: u16, messages: Vec<String>) -> io::Result<()> {
    let (reader, writer) = open_connection("127.0.0.1", port).await?;
    for message in messages {
        writer.write(format!("{message}\n").as_bytes())?;
        writer.drain().await?;
        let reply = reader.readline().await?;
        println!("Received: {:?}", String::from_utf8_lossy(&reply));
    }
    writer.close();
    writer.wait_closed().await
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let port: u16 = args
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: echo_client PORT [MESSAGE...]",
            )
        })?
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut messages: Vec<String> = args.collect();
    if messages.is_empty() {
        messages.push("Hello World!".into());
    }
    corio::run(client(port, messages)).map_err(|e| io::Error::other(e.to_string()))?
}
