//! The WebSocket feed of changes: a dedicated PostgreSQL connection
//! `LISTEN`s on the changes channel, and every notification goes to every
//! WebSocket client (a bounded outbox each; a client that falls behind is
//! closed with 1008 rather than buffered without end).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::pin::pin;
use std::rc::Rc;

use corio::compat::StreamPair;
use corio::compat::async_tungstenite::accept_async;
use corio::compat::async_tungstenite::tungstenite::Message;
use corio::compat::async_tungstenite::tungstenite::protocol::CloseFrame;
use corio::compat::async_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use corio::compat::futures_util::StreamExt;
use corio::compat::futures_util::future::{Either, select};
use corio::compat::postgres::{Connection, Error};
use corio::compat::tokio_postgres::Client;
use corio::net::{Server, StreamReader, StreamWriter, start_server};
use corio::sync::{Queue, SyncError};

/// Messages that may wait for one client.
const OUTBOX: usize = 256;

/// One client's outbox.
struct Outbox {
    queue: Queue<String>,
    /// Set when the client was closed for falling behind.
    stalled: Cell<bool>,
}

/// The feed's clients.
#[derive(Default)]
pub struct Feed {
    outboxes: RefCell<BTreeMap<u64, Rc<Outbox>>>,
    next_id: Cell<u64>,
}

impl Feed {
    fn publish(&self, event: &str) {
        let outboxes: Vec<_> = self.outboxes.borrow().values().cloned().collect();
        for outbox in outboxes {
            if let Err(e) = outbox.queue.put_nowait(event.to_string())
                && e.error == SyncError::QueueFull
            {
                outbox.stalled.set(true);
                outbox.queue.shutdown(true);
            }
        }
    }

    /// Every client: what is queued is sent, then close 1001.
    pub fn close_all(&self) {
        for outbox in self.outboxes.borrow().values() {
            outbox.queue.shutdown(false);
        }
    }
}

/// Forwards the listener connection's notifications to the feed until
/// the connection ends; `client` is kept alive for as long.
pub async fn forward(feed: Rc<Feed>, client: Client, connection: Connection) {
    let mut notifications = pin!(connection.notifications());
    while let Some(n) = notifications.next().await {
        feed.publish(n.payload());
    }
    drop(client);
}

/// `LISTEN`s on `channel` with `client`.
pub async fn listen(client: &Client, channel: &str) -> Result<(), Error> {
    client.batch_execute(&format!("LISTEN {channel}")).await?;
    Ok(())
}

/// The WebSocket server of the feed on `port` (0: any).
pub async fn serve(feed: Rc<Feed>, port: u16) -> io::Result<Server> {
    start_server(
        move |reader, writer| client(feed.clone(), reader, writer),
        "127.0.0.1",
        port,
    )
    .await
}

/// One feed client: the handshake, then its outbox (and its socket, for
/// pings and its close) until either ends.
async fn client(feed: Rc<Feed>, reader: StreamReader, writer: StreamWriter) -> io::Result<()> {
    let mut ws = accept_async(StreamPair::new(reader, writer))
        .await
        .map_err(io::Error::other)?;
    let id = feed.next_id.get();
    feed.next_id.set(id + 1);
    let outbox = Rc::new(Outbox {
        queue: Queue::new(OUTBOX),
        stalled: Cell::new(false),
    });
    feed.outboxes.borrow_mut().insert(id, outbox.clone());
    /// Leaves the feed however the task ends.
    struct Leave(Rc<Feed>, u64);
    impl Drop for Leave {
        fn drop(&mut self) {
            let gone = self.0.outboxes.borrow_mut().remove(&self.1);
            drop(gone);
        }
    }
    let _leave = Leave(feed.clone(), id);
    let mut closing = false;
    loop {
        let next = {
            let incoming = pin!(ws.next());
            let outgoing = pin!(outbox.queue.get());
            match select(incoming, outgoing).await {
                Either::Left((incoming, _)) => Either::Left(incoming),
                Either::Right((outgoing, _)) => Either::Right(outgoing),
            }
        };
        match next {
            // The client's messages (pings answered by tungstenite) are
            // not commands: ignored.
            Either::Left(Some(Ok(_))) => {}
            Either::Left(Some(Err(_)) | None) => break,
            Either::Right(Ok(event)) => ws
                .send(Message::text(event))
                .await
                .map_err(io::Error::other)?,
            Either::Right(Err(_)) if !closing => {
                closing = true;
                let (code, reason) = if outbox.stalled.get() {
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
            // Closing: only the client's reply is awaited now.
            Either::Right(Err(_)) => match ws.next().await {
                Some(Ok(_)) => {}
                _ => break,
            },
        }
    }
    Ok(())
}
