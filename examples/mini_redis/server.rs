//! The server on corio's protocol layer: one [`Session`] per connection,
//! called back by its transport; no task per connection.
//!
//! The life of a pipelined read: the transport's reader callback does one
//! `recv` into the loop's scratch buffer and calls
//! [`Session::data_received`] with the bytes; the session parses every
//! whole command in them, appends each reply to one output buffer, and
//! hands that buffer to `Transport::write` once: one `send` for the whole
//! batch. Bytes of a command cut in half wait in the session for the next
//! read.
//!
//! Output is bounded: when what the transport holds unsent goes over its
//! high-water mark, the session stops executing, keeps the commands not yet
//! run, and pauses reading; the transport's `resume_writing` picks them up
//! again. A client that never reads its replies is thus held by TCP flow
//! control, not by the server's memory. A pub/sub subscriber cannot be
//! held that way (the publisher is someone else), so one over
//! [`Config::pubsub_limit`] unsent bytes is disconnected, as Redis's
//! `client-output-buffer-limit pubsub` does.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::{Rc, Weak};
use std::time::Instant;

use corio::net::{Protocol, Server, ServerOptions, Transport, create_server};

use crate::commands::{self, Cmd, DATABASES, Outcome, Settings, Spec};
use crate::db::{CYCLE_BUDGET, CYCLE_PERIOD, Db, now_ms};
use crate::resp::{self, Command, Parser};

#[path = "databases.rs"]
mod databases;
#[path = "info.rs"]
mod info;
#[path = "pubsub.rs"]
mod pubsub;

use databases::{copy_or_move, function};

use pubsub::{PubSub, unsubscribe};

/// The server's limits.
#[derive(Clone, Debug)]
pub struct Config {
    /// Connections served at once; more are refused with Redis's error.
    pub maxclients: usize,
    /// Unsent bytes a subscriber may have before it is disconnected
    /// (Redis's default hard limit for pub/sub clients is 32 MB).
    pub pubsub_limit: usize,
    /// The transport's high-water mark for ordinary clients: past it, the
    /// session stops executing and reading until the peer reads.
    pub output_high_water: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            maxclients: 10_000,
            pubsub_limit: 32 * 1024 * 1024,
            output_high_water: 1024 * 1024,
        }
    }
}

/// What every session shares: the keyspace, the subscriptions, the limits.
pub struct Shared {
    /// The databases `SELECT` chooses from (Redis's `server.db`).
    pub dbs: Vec<RefCell<Db>>,
    pubsub: RefCell<PubSub>,
    config: Config,
    settings: Settings,
    /// Connections open now (refused ones not counted).
    pub clients: Cell<usize>,
    next_id: Cell<u64>,
    /// Subscribers disconnected for going over `pubsub_limit`.
    pub dropped_subscribers: Cell<u64>,
    /// Connections accepted since the start (INFO's
    /// `total_connections_received`).
    pub connections: Cell<u64>,
    /// When the server started (INFO's `uptime_in_seconds`).
    pub started: Instant,
    /// The port it listens on, once known (INFO's `tcp_port`).
    pub port: Cell<u16>,
}

impl Shared {
    /// A fresh server state.
    pub fn new(config: Config) -> Rc<Shared> {
        Rc::new(Shared {
            dbs: (0..DATABASES).map(|_| RefCell::new(Db::new())).collect(),
            pubsub: RefCell::new(PubSub::default()),
            settings: Settings {
                maxclients: config.maxclients,
            },
            config,
            clients: Cell::new(0),
            next_id: Cell::new(1),
            dropped_subscribers: Cell::new(0),
            connections: Cell::new(0),
            started: Instant::now(),
            port: Cell::new(0),
        })
    }
}

/// Starts serving on `host:port`, and the active expiry cycle on the
/// loop's timers. The caller keeps `Server` to close it.
///
/// # Errors
/// The bind's or listen's error.
pub async fn serve(shared: Rc<Shared>, host: &str, port: u16) -> io::Result<Server> {
    let factory = {
        let shared = shared.clone();
        move || Session::new(shared.clone())
    };
    let options = ServerOptions {
        backlog: 511, // Redis's tcp-backlog
        ..ServerOptions::default()
    };
    let server = create_server(factory, host, port, options).await?;
    if let Some(addr) = server.addresses().first() {
        shared.port.set(addr.port());
    }
    schedule_expiry(Rc::downgrade(&shared));
    Ok(server)
}

/// Runs the active expiry cycle every [`CYCLE_PERIOD`]: one `call_later`
/// on the loop's timer heap, rescheduled by itself. It holds the state
/// weakly, so it stops once the server's state is gone.
fn schedule_expiry(shared: Weak<Shared>) {
    let Ok(lp) = corio::get_running_loop() else {
        return;
    };
    lp.call_later(CYCLE_PERIOD, move || {
        let Some(state) = shared.upgrade() else {
            return;
        };
        let now = now_ms();
        for db in &state.dbs {
            db.borrow_mut()
                .active_expire_cycle(now, CYCLE_BUDGET, Instant::now);
        }
        schedule_expiry(shared);
    });
}

/// One client connection: its parser, its unparsed input, its replies.
pub struct Session {
    shared: Rc<Shared>,
    id: u64,
    /// The database `SELECT` chose (Redis's `c->db`).
    db: usize,
    transport: Option<Transport>,
    parser: Parser,
    /// Input not consumed by the parser yet (a command cut by a read, or
    /// commands left while output is over the limit).
    pending: Vec<u8>,
    /// Replies of the current batch, written once at its end.
    out: Vec<u8>,
    /// Channels and patterns this client listens to (Redis's
    /// `c->pubsub_channels`, `c->pubsub_patterns`).
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    /// Stopped executing because the transport's buffer is over the mark.
    held: bool,
    /// After `QUIT` or a protocol error: reply, then close; read no more.
    closing: bool,
    /// Counted in `Shared::clients` (false for a refused connection).
    counted: bool,
    /// The transaction being queued, between `MULTI` and `EXEC` (Redis's
    /// `c->mstate`).
    multi: Option<Transaction>,
}

/// The commands queued by `MULTI`, run by `EXEC`.
#[derive(Default)]
struct Transaction {
    /// The queued commands, encoded again as RESP (parsed and run in order
    /// by `EXEC`).
    commands: Vec<u8>,
    /// How many are queued.
    count: usize,
    /// A command was refused while queueing (unknown, wrong arity): `EXEC`
    /// discards the transaction (Redis's `CLIENT_DIRTY_EXEC`).
    failed: bool,
}

/// What one command asks of the connection.
enum Flow {
    Continue,
    Close,
    /// `EXEC` of the session's transaction: the session runs it, so that
    /// `execute` never calls itself (a plain tag: a payload here would give
    /// every command's flow a destructor to run).
    Exec,
}

impl Session {
    fn new(shared: Rc<Shared>) -> Session {
        let id = shared.next_id.get();
        shared.next_id.set(id + 1);
        Session {
            shared,
            id,
            db: 0,
            transport: None,
            parser: Parser::new(),
            pending: Vec::new(),
            out: Vec::new(),
            channels: Vec::new(),
            patterns: Vec::new(),
            held: false,
            closing: false,
            counted: false,
            multi: None,
        }
    }

    fn subscriptions(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// Sends the batch's replies, one write.
    fn flush(&mut self) {
        if self.out.is_empty() {
            return;
        }
        if let Some(transport) = &self.transport {
            // Fails only once the transport is closing: nobody listens.
            transport.write(&self.out).ok();
        }
        self.out.clear();
        if self.out.capacity() > 1024 * 1024 {
            self.out.shrink_to(64 * 1024);
        }
    }

    /// True when the transport holds more unsent bytes than its mark
    /// (the session set that mark itself in `connection_made`, so it need
    /// not ask the transport for it).
    fn over_limit(&self) -> bool {
        self.transport
            .as_ref()
            .is_some_and(|t| t.get_write_buffer_size() > self.shared.config.output_high_water)
    }

    /// Runs every whole command in `input`; returns the bytes consumed.
    fn run_commands(&mut self, input: &[u8]) -> usize {
        let now = now_ms();
        let mut pos = 0;
        while !self.closing && !self.held {
            match self.parser.feed(&input[pos..]) {
                Ok((used, Some(cmd))) => {
                    pos += used;
                    let flow = execute(
                        &self.shared,
                        &mut Client {
                            id: self.id,
                            db: &mut self.db,
                            transport: &self.transport,
                            channels: &mut self.channels,
                            patterns: &mut self.patterns,
                            multi: &mut self.multi,
                        },
                        &cmd,
                        now,
                        &mut self.out,
                    );
                    self.parser.clear();
                    match flow {
                        Flow::Continue => {}
                        Flow::Close => self.closing = true,
                        Flow::Exec => {
                            if let Some(transaction) = self.multi.take() {
                                self.exec(&transaction, now);
                            }
                        }
                    }
                    if self.out.len() >= 64 * 1024 {
                        self.flush();
                        self.held = self.over_limit();
                    }
                }
                Ok((used, None)) => {
                    pos += used;
                    break;
                }
                Err(e) => {
                    resp::error(&mut self.out, format!("ERR {e}"));
                    self.closing = true;
                    pos = input.len();
                }
            }
        }
        self.flush();
        if !self.held && self.over_limit() {
            self.held = true;
        }
        if let Some(transport) = &self.transport {
            if self.closing {
                transport.close(); // sends what is buffered first
            } else if self.held {
                transport.pause_reading();
            }
        }
        pos
    }

    /// `EXEC`: runs the queued commands in order, their replies in one
    /// array.
    fn exec(&mut self, transaction: &Transaction, now: i64) {
        resp::array(&mut self.out, transaction.count);
        let mut parser = Parser::new();
        let mut input = &transaction.commands[..];
        while let Ok((used, Some(cmd))) = parser.feed(input) {
            let mut client = Client {
                id: self.id,
                db: &mut self.db,
                transport: &self.transport,
                channels: &mut self.channels,
                patterns: &mut self.patterns,
                multi: &mut self.multi,
            };
            // MULTI, EXEC, DISCARD and QUIT are never queued: no flow but
            // Continue comes back.
            execute(&self.shared, &mut client, &cmd, now, &mut self.out);
            parser.clear();
            input = &input[used..];
        }
    }

    /// Runs what is in `pending`, keeping what was not consumed.
    fn run_pending(&mut self) {
        let input = std::mem::take(&mut self.pending);
        let used = self.run_commands(&input);
        self.pending = input;
        self.pending.drain(..used);
    }
}

/// What a command may read or change of the session running it.
struct Client<'a> {
    id: u64,
    /// The selected database.
    db: &'a mut usize,
    transport: &'a Option<Transport>,
    /// The subscriptions.
    channels: &'a mut Vec<Vec<u8>>,
    patterns: &'a mut Vec<Vec<u8>>,
    /// The transaction being queued.
    multi: &'a mut Option<Transaction>,
}

/// Runs one command for a session. Inlined into the session's batch
/// loop, as it was when that loop was its only caller (`EXEC` is the
/// other): a call there costs 3-4% of a pipelined `GET`'s instructions.
#[inline(always)]
fn execute(
    shared: &Shared,
    client: &mut Client<'_>,
    cmd: &Command<'_>,
    now: i64,
    out: &mut Vec<u8>,
) -> Flow {
    let subs = client;
    let Some(Spec {
        name,
        arity,
        cmd: which,
    }) = commands::lookup(cmd.arg(0))
    else {
        commands::unknown_command(cmd, out);
        if let Some(transaction) = subs.multi {
            transaction.failed = true;
        }
        return Flow::Continue;
    };
    if !commands::arity_ok(arity, cmd.len()) {
        commands::wrong_arity(name, out);
        if let Some(transaction) = subs.multi {
            transaction.failed = true;
        }
        return Flow::Continue;
    }
    let subscribed = subs.channels.len() + subs.patterns.len() > 0;
    if subscribed && !which.allowed_while_subscribed() {
        resp::error(
            out,
            format!(
                "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
            ),
        );
        return Flow::Continue;
    }
    if let Some(transaction) = subs.multi
        && !matches!(which, Cmd::Exec | Cmd::Discard | Cmd::Multi | Cmd::Quit)
    {
        let args: Vec<&[u8]> = cmd.args().collect();
        resp::array(&mut transaction.commands, args.len());
        for arg in args {
            resp::bulk(&mut transaction.commands, arg);
        }
        transaction.count += 1;
        resp::simple(out, "QUEUED");
        return Flow::Continue;
    }
    match which {
        Cmd::Multi if subs.multi.is_some() => resp::error(out, "ERR MULTI calls can not be nested"),
        Cmd::Multi => {
            *subs.multi = Some(Transaction::default());
            resp::simple(out, "OK");
        }
        Cmd::Discard => match subs.multi.take() {
            Some(_) => resp::simple(out, "OK"),
            None => resp::error(out, "ERR DISCARD without MULTI"),
        },
        Cmd::Exec => match subs.multi {
            None => resp::error(out, "ERR EXEC without MULTI"),
            Some(Transaction { failed: true, .. }) => {
                *subs.multi = None;
                resp::error(
                    out,
                    "EXECABORT Transaction discarded because of previous errors.",
                );
            }
            Some(_) => return Flow::Exec,
        },
        Cmd::Quit => {
            resp::simple(out, "OK");
            return Flow::Close;
        }
        Cmd::Ping if subscribed => {
            if cmd.len() > 2 {
                commands::wrong_arity(name, out);
            } else {
                resp::array(out, 2);
                resp::bulk(out, b"pong");
                resp::bulk(out, if cmd.len() == 2 { cmd.arg(1) } else { b"" });
            }
        }
        Cmd::Publish => {
            let n = shared.publish(cmd.arg(1), cmd.arg(2));
            resp::integer(out, n as i64);
        }
        Cmd::Subscribe | Cmd::PSubscribe | Cmd::Unsubscribe | Cmd::PUnsubscribe => {
            if !pubsub::subscriptions(shared, subs, which, name, cmd, out) {
                return Flow::Close;
            }
        }
        Cmd::Select => match resp::parse_i64(cmd.arg(1)) {
            None => resp::error(out, crate::db::NOT_AN_INTEGER),
            Some(n) if i32::try_from(n).is_err() => resp::error(
                out,
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
            Some(n) if (0..DATABASES as i64).contains(&n) => {
                *subs.db = n as usize;
                resp::simple(out, "OK");
            }
            Some(_) => resp::error(out, "ERR DB index is out of range"),
        },
        Cmd::FlushAll => {
            if commands::flush_mode_ok(cmd) {
                for db in &shared.dbs {
                    db.borrow_mut().clear();
                }
                resp::simple(out, "OK");
            } else {
                resp::error(out, "ERR syntax error");
            }
        }
        Cmd::Copy | Cmd::Move => copy_or_move(shared, *subs.db, which, cmd, now, out),
        Cmd::Function => function(cmd, out),
        Cmd::PubSub => shared.pubsub_command(cmd, out),
        Cmd::Info => info::info(shared, cmd, out),
        _ => {
            let mut db = shared.dbs[*subs.db].borrow_mut();
            let outcome = commands::execute(which, cmd, &mut db, &shared.settings, now, out);
            debug_assert_eq!(outcome, Outcome::Replied, "{name} has no handler");
        }
    }
    Flow::Continue
}

impl Protocol for Session {
    fn connection_made(&mut self, transport: Transport) {
        let shared = &self.shared;
        if shared.clients.get() >= shared.config.maxclients {
            // Redis's answer, then close (what it sends is flushed first).
            transport
                .write(b"-ERR max number of clients reached\r\n")
                .ok();
            transport.close();
            self.closing = true;
            return;
        }
        shared.clients.set(shared.clients.get() + 1);
        shared.connections.set(shared.connections.get() + 1);
        self.counted = true;
        // Past this, a client's replies wait in its socket, not here.
        transport
            .set_write_buffer_limits(shared.config.output_high_water, None)
            .ok();
        self.transport = Some(transport);
    }

    fn data_received(&mut self, data: &[u8]) {
        if self.closing {
            return;
        }
        if self.pending.is_empty() && !self.held {
            // The common case: parse straight from the loop's read buffer.
            let used = self.run_commands(data);
            self.pending.extend_from_slice(&data[used..]);
        } else {
            self.pending.extend_from_slice(data);
            if !self.held {
                self.run_pending();
            }
        }
    }

    fn eof_received(&mut self) -> bool {
        false // close once the replies are sent
    }

    fn resume_writing(&mut self) {
        if !self.held || self.closing {
            return;
        }
        self.held = false;
        self.run_pending();
        if !self.held
            && !self.closing
            && let Some(transport) = &self.transport
        {
            transport.resume_reading();
        }
    }

    fn connection_lost(&mut self, _exc: Option<io::Error>) {
        for channel in std::mem::take(&mut self.channels) {
            unsubscribe(&self.shared, self.id, false, &channel);
        }
        for pattern in std::mem::take(&mut self.patterns) {
            unsubscribe(&self.shared, self.id, true, &pattern);
        }
        if self.counted {
            self.shared.clients.set(self.shared.clients.get() - 1);
            self.counted = false;
        }
        self.transport = None; // no cycle outlives the connection
        self.pending = Vec::new();
    }
}

/// Test hook: how many subscriptions a session has (used by `Debug`).
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("subscriptions", &self.subscriptions())
            .finish()
    }
}
