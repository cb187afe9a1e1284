//! An echo server on the protocol layer, as the asyncio docs'
//! `EchoServerProtocol`: no task per connection, only callbacks.
//!
//! ```text
//! cargo run --example echo_protocol              # serve, run a demo client, exit
//! cargo run --example echo_protocol -- --serve 0 # serve forever
//! ```
//!
//! Python's version, for comparison:
//!
//! ```python
//! class EchoServerProtocol(asyncio.Protocol):
//!     def connection_made(self, transport):
//!         self.transport = transport
//!     def data_received(self, data):
//!         self.transport.write(data)
//!
//! server = await loop.create_server(EchoServerProtocol, '127.0.0.1', 8888)
//! ```

mod common;

use std::io;

use corio::net::{Protocol, ServerOptions, Transport, create_server, open_connection};

#[derive(Default)]
struct EchoServerProtocol {
    transport: Option<Transport>,
}

impl Protocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: Transport) {
        println!("connection from {:?}", transport.peer_addr());
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if let Some(transport) = &self.transport {
            // Only fails once the transport is closing; then nobody listens.
            transport.write(data).ok();
        }
    }

    fn connection_lost(&mut self, exc: Option<io::Error>) {
        println!("connection lost ({exc:?})");
        self.transport = None; // no cycle outlives the connection
    }
}

async fn main_async(serve_port: Option<u16>) -> io::Result<()> {
    let port = serve_port.unwrap_or(0);
    let server = create_server(
        EchoServerProtocol::default,
        "127.0.0.1",
        port,
        ServerOptions::default(),
    )
    .await?;
    let addr = server.addresses()[0];
    println!("listening on {addr}");
    if serve_port.is_some() {
        return server.serve_forever().await;
    }
    let (reader, writer) = open_connection("127.0.0.1", addr.port()).await?;
    for line in ["callbacks, ", "not tasks\n"] {
        writer.write(line.as_bytes())?;
    }
    println!(
        "client got: {:?}",
        String::from_utf8_lossy(&reader.readline().await?)
    );
    writer.close();
    writer.wait_closed().await?;
    server.close();
    server.wait_closed().await;
    Ok(())
}

fn main() -> io::Result<()> {
    let serve_port = common::serve_port()?;
    corio::run(main_async(serve_port)).map_err(|e| io::Error::other(e.to_string()))?
}
