//! UDP echo with datagram endpoints, as the asyncio docs'
//! `EchoServerProtocol` / `EchoClientProtocol` for UDP.
//!
//! ```text
//! cargo run --example udp_echo              # serve, send from a client, exit
//! cargo run --example udp_echo -- --serve 0 # serve forever
//! ```
//!
//! Python's server, for comparison:
//!
//! ```python
//! class EchoServerProtocol(asyncio.DatagramProtocol):
//!     def connection_made(self, transport):
//!         self.transport = transport
//!     def datagram_received(self, data, addr):
//!         self.transport.sendto(data, addr)
//!
//! transport, protocol = await loop.create_datagram_endpoint(
//!     EchoServerProtocol, local_addr=('127.0.0.1', 9999))
//! ```

mod common;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use corio::net::{DatagramProtocol, DatagramTransport, create_datagram_endpoint};
use corio::sync::Event;

#[derive(Default)]
struct EchoServerProtocol(Option<DatagramTransport>);

impl DatagramProtocol for EchoServerProtocol {
    fn connection_made(&mut self, transport: DatagramTransport) {
        self.0 = Some(transport);
    }
    fn datagram_received(&mut self, data: &[u8], addr: SocketAddr) {
        println!(
            "server received {:?} from {addr}",
            String::from_utf8_lossy(data)
        );
        if let Some(transport) = &self.0 {
            transport.sendto(data, Some(addr)).ok();
        }
    }
}

/// Sends its message on `connection_made`; sets `done` on the reply.
struct EchoClientProtocol {
    message: &'static str,
    done: Rc<Event>,
}

impl DatagramProtocol for EchoClientProtocol {
    fn connection_made(&mut self, transport: DatagramTransport) {
        println!("client sends {:?}", self.message);
        transport.sendto(self.message.as_bytes(), None).ok();
    }
    fn datagram_received(&mut self, data: &[u8], _addr: SocketAddr) {
        println!("client received {:?}", String::from_utf8_lossy(data));
        self.done.set();
    }
    fn error_received(&mut self, exc: io::Error) {
        println!("client error: {exc}");
    }
}

async fn main_async(serve_port: Option<u16>) -> io::Result<()> {
    let local = ("127.0.0.1", serve_port.unwrap_or(0));
    let (server, _) =
        create_datagram_endpoint(EchoServerProtocol::default, Some(local), None).await?;
    let addr = server.local_addr().expect("bound");
    println!("listening on {addr}");
    if serve_port.is_some() {
        return std::future::pending().await;
    }
    let done = Rc::new(Event::new());
    let waiter = done.clone();
    let (client, _) = create_datagram_endpoint(
        move || EchoClientProtocol {
            message: "Hello World!",
            done: waiter,
        },
        None,
        Some(("127.0.0.1", addr.port())),
    )
    .await?;
    done.wait().await;
    client.close();
    server.close();
    Ok(())
}

fn main() -> io::Result<()> {
    let serve_port = common::serve_port()?;
    corio::run(main_async(serve_port)).map_err(|e| io::Error::other(e.to_string()))?
}
