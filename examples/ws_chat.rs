//! A WebSocket chat on corio: every text or binary message a client sends
//! goes to every client (the sender too, so with one client it is an
//! echo). tungstenite (async-tungstenite) speaks the protocol over a
//! corio stream pair through its `futures-io` impls; no tokio anywhere.
//!
//! ```text
//! cargo run --example ws_chat -- --serve 8765
//! python3 -m websockets ws://127.0.0.1:8765/      # in two terminals
//! ```
//!
//! Without arguments: a demo on loopback (two corio clients chat, then the
//! server shuts down).
//!
//! The asyncio program it mirrors, with the `websockets` package:
//!
//! ```python
//! clients = set()
//! async def chat(ws):
//!     clients.add(ws)
//!     try:
//!         async for message in ws:
//!             websockets.broadcast(clients, message)
//!     finally:
//!         clients.discard(ws)
//! async with websockets.serve(chat, "127.0.0.1", 8765, max_size=32 * 2**20):
//!     await stop  # SIGINT / SIGTERM
//! ```
//!
//! Each client has an outbox (a bounded corio `Queue`); one task per
//! client reads its socket and its outbox, whichever is ready first. A
//! client too slow to keep 64 messages queued is dropped (close code
//! 1008), so one stalled reader cannot grow the server's memory, as
//! `websockets.broadcast` skips a client whose buffer is full. Shutdown:
//! every client gets close 1001 "going away", then `Server::shutdown`
//! (`close()`, `wait_closed()` within a grace period, `abort_clients()`).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::poll_fn;
use std::io;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::Duration;

use corio::compat::StreamPair;
use corio::compat::async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use corio::compat::async_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use corio::compat::async_tungstenite::tungstenite::{Error as WsError, Message};
use corio::compat::async_tungstenite::{accept_async_with_config, client_async_with_config};
use corio::compat::futures_io::AsyncRead;
use corio::compat::futures_util::StreamExt;
use corio::compat::futures_util::future::{Either, select};
use corio::net::{Server, StreamReader, StreamWriter, open_connection, start_server};
use corio::sync::{Queue, SyncError};

/// The largest message (and frame) taken: 32 MiB (the `websockets`
/// package's `max_size`; tungstenite's frame default is 16 MiB).
const MAX_MESSAGE: usize = 32 << 20;

/// How many messages may wait for a client before it counts as stalled.
const OUTBOX: usize = 64;

fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// What waits to be sent to one client.
struct Outbox {
    queue: Queue<Message>,
    /// Set when the client was dropped for falling behind.
    stalled: Cell<bool>,
}

/// The clients, by a number of their own: Python's `clients` set.
#[derive(Default)]
struct Room {
    outboxes: RefCell<BTreeMap<u64, Rc<Outbox>>>,
    next_id: Cell<u64>,
}

impl Room {
    fn join(self: &Rc<Self>) -> Member {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let outbox = Rc::new(Outbox {
            queue: Queue::new(OUTBOX),
            stalled: Cell::new(false),
        });
        self.outboxes.borrow_mut().insert(id, outbox.clone());
        Member {
            room: self.clone(),
            id,
            outbox,
        }
    }

    /// `websockets.broadcast`: to every outbox with room; a full one's
    /// client is dropped (its outbox shut down at once).
    fn broadcast(&self, message: &Message) {
        let outboxes: Vec<_> = self.outboxes.borrow().values().cloned().collect();
        for outbox in outboxes {
            if let Err(e) = outbox.queue.put_nowait(message.clone())
                && e.error == SyncError::QueueFull
            {
                outbox.stalled.set(true);
                outbox.queue.shutdown(true);
            }
        }
    }

    /// Ends every client: what is queued is still sent, then close 1001.
    fn close_all(&self) {
        for outbox in self.outboxes.borrow().values() {
            outbox.queue.shutdown(false);
        }
    }
}

/// A client in the room for as long as its task holds this.
struct Member {
    room: Rc<Room>,
    id: u64,
    outbox: Rc<Outbox>,
}

impl Drop for Member {
    fn drop(&mut self) {
        let gone = self.room.outboxes.borrow_mut().remove(&self.id);
        drop(gone);
    }
}

/// One client: the handshake, then its socket and its outbox, whichever
/// is ready first, until either ends.
async fn client(room: Rc<Room>, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let pair = StreamPair::new(reader, writer);
    let mut ws = accept_async_with_config(pair, Some(config()))
        .await
        .map_err(io::Error::other)?;
    let member = room.join();
    let mut closing = false;
    loop {
        let next = {
            let incoming = pin!(ws.next());
            let outgoing = pin!(member.outbox.queue.get());
            match select(incoming, outgoing).await {
                Either::Left((incoming, _)) => Either::Left(incoming),
                Either::Right((outgoing, _)) => Either::Right(outgoing),
            }
        };
        match next {
            // Pings are answered and a peer's close is replied to by
            // tungstenite itself, inside `next()`.
            Either::Left(Some(Ok(message))) => {
                if message.is_text() || message.is_binary() {
                    room.broadcast(&message);
                }
            }
            // The peer closed (handshake done) or vanished.
            Either::Left(None) | Either::Left(Some(Err(WsError::ConnectionClosed))) => break,
            Either::Left(Some(Err(WsError::Capacity(e)))) => {
                // Over MAX_MESSAGE: close 1009, as `websockets` does. The
                // rest of the frame is still coming: read it away, so the
                // peer reads the close rather than a reset.
                println!("client {}: {e}; closing with 1009", member.id);
                let frame = CloseFrame {
                    code: CloseCode::Size,
                    reason: "message too big".into(),
                };
                ws.close(Some(frame)).await.map_err(io::Error::other)?;
                discard_until_eof(ws.get_mut(), LINGER).await;
                return Ok(());
            }
            Either::Left(Some(Err(e))) => return Err(io::Error::other(e)),
            Either::Right(Ok(message)) => ws.send(message).await.map_err(io::Error::other)?,
            Either::Right(Err(_shut_down)) if !closing => {
                // Server shutdown or a stalled client: say so, then wait
                // for the peer's close (the loop reads on).
                closing = true;
                let (code, reason) = if member.outbox.stalled.get() {
                    (CloseCode::Policy, "too slow")
                } else {
                    (CloseCode::Away, "server shutting down")
                };
                let frame = CloseFrame {
                    code,
                    reason: reason.into(),
                };
                ws.close(Some(frame)).await.map_err(io::Error::other)?;
            }
            Either::Right(Err(_)) => {
                // Closing: only the peer's reply is awaited now.
                match ws.next().await {
                    Some(Ok(_)) => continue,
                    _ => break,
                }
            }
        }
    }
    Ok(())
}

/// How long a client closed for a message too big may go on sending.
const LINGER: Duration = Duration::from_secs(10);

/// Reads and drops what `stream` sends until EOF, an error or `limit`.
async fn discard_until_eof(stream: &mut StreamPair, limit: Duration) {
    let mut sink = vec![0u8; 64 * 1024];
    let drain = async {
        while let Ok(n) = poll_fn(|cx| Pin::new(&mut *stream).poll_read(cx, &mut sink)).await {
            if n == 0 {
                break;
            }
        }
    };
    // A peer still sending after `limit` is dropped all the same.
    let _ = corio::timeout(limit, drain).await;
}

/// The server on `port` (0: any), for `room`.
async fn chat_server(room: Rc<Room>, port: u16) -> io::Result<Server> {
    start_server(
        move |reader, writer| client(room.clone(), reader, writer),
        "127.0.0.1",
        port,
    )
    .await
}

/// Close 1001 to every client, then asyncio 3.13's recipe
/// (`Server::shutdown`): `close()`, `wait_closed()` within `grace`,
/// `abort_clients()`.
async fn shutdown(room: &Room, server: &Server, grace: Duration) {
    room.close_all();
    let aborted = server.shutdown(grace).await;
    if aborted > 0 {
        println!("{aborted} client(s) still connected after {grace:?}: aborted");
    }
}

async fn serve_forever(port: u16) -> io::Result<()> {
    let room = Rc::new(Room::default());
    let server = chat_server(room.clone(), port).await?;
    let stop = Rc::new(corio::Event::new());
    for signal in [corio::signal::SIGINT, corio::signal::SIGTERM] {
        let stop = stop.clone();
        corio::add_signal_handler(signal, move || stop.set()).map_err(io::Error::other)?;
    }
    println!("listening on {}", server.addresses()[0]);
    stop.wait().await;
    println!("shutting down");
    shutdown(&room, &server, Duration::from_secs(5)).await;
    println!("server closed");
    Ok(())
}

async fn demo() -> io::Result<()> {
    let room = Rc::new(Room::default());
    let server = chat_server(room.clone(), 0).await?;
    let port = server.addresses()[0].port();
    let mut clients = Vec::new();
    for _ in 0..2 {
        let (reader, writer) = open_connection("127.0.0.1", port).await?;
        let url = format!("ws://127.0.0.1:{port}/");
        let (ws, _) =
            client_async_with_config(url, StreamPair::new(reader, writer), Some(config()))
                .await
                .map_err(io::Error::other)?;
        clients.push(ws);
    }
    clients[0]
        .send(Message::text("hello from client 0"))
        .await
        .map_err(io::Error::other)?;
    for (i, ws) in clients.iter_mut().enumerate() {
        if let Some(Ok(message)) = ws.next().await {
            println!("client {i} got: {message}");
        }
    }
    // The server closes while the clients read on: each gets close 1001,
    // which tungstenite answers, then the end of the stream.
    let closing = corio::create_task(async move {
        shutdown(&room, &server, Duration::from_secs(1)).await;
    });
    for (i, ws) in clients.iter_mut().enumerate() {
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Close(Some(frame)) = message {
                println!(
                    "client {i} closed: {} {}",
                    u16::from(frame.code),
                    frame.reason
                );
            }
        }
    }
    closing.await.map_err(|e| io::Error::other(e.to_string()))?;
    println!("server closed");
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.as_slice() {
        [] => corio::run(demo()),
        [flag, port] if flag == "--serve" => corio::run(serve_forever(parse(port)?)),
        _ => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "usage: [--serve PORT]",
            ));
        }
    };
    result.map_err(|e| io::Error::other(e.to_string()))?
}

fn parse(port: &str) -> io::Result<u16> {
    port.parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("--serve {port}: {e}")))
}
