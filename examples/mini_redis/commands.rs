//! The commands that touch only the keyspace and the server's settings:
//! one function from a parsed command to its reply bytes, no I/O. The
//! connection-level commands (`QUIT`, pub/sub) are the server's
//! (`server.rs`), which calls [`execute`] for everything else.

// Shared with the tests and the benchmark (`#[path]`): not every user
// calls every function.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use crate::db::{Condition, Db, NOT_AN_INTEGER, Ttl};
use crate::resp::{self, Command, parse_i64};

/// What [`execute`] did with a command.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Outcome {
    /// The reply is in `out`.
    Replied,
    /// Not a command of this module (the caller handles it, or answers
    /// with [`unknown_command`]).
    NotMine,
}

/// Settings `CONFIG GET` reports.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `--maxclients`.
    pub maxclients: usize,
}

/// A command the server knows: what the name lookup gives, so running
/// it is one jump on the variant rather than a string compare per known
/// name (Redis looks its `redisCommand` up once, then calls its `proc`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Cmd {
    /// `PING`.
    Ping,
    /// `ECHO`.
    Echo,
    /// `QUIT`.
    Quit,
    /// `GET`.
    Get,
    /// `SET`.
    Set,
    /// `DEL`.
    Del,
    /// `EXISTS`.
    Exists,
    /// `INCR`.
    Incr,
    /// `DECR`.
    Decr,
    /// `INCRBY`.
    IncrBy,
    /// `DECRBY`.
    DecrBy,
    /// `MGET`.
    MGet,
    /// `MSET`.
    MSet,
    /// `EXPIRE`.
    Expire,
    /// `PEXPIRE`.
    PExpire,
    /// `TTL`.
    Ttl,
    /// `PTTL`.
    PTtl,
    /// `PERSIST`.
    Persist,
    /// `DBSIZE`.
    DbSize,
    /// `FLUSHDB`.
    FlushDb,
    /// `SELECT`.
    Select,
    /// `CONFIG`.
    Config,
    /// `COMMAND`.
    Command,
    /// `PUBLISH`.
    Publish,
    /// `SUBSCRIBE`.
    Subscribe,
    /// `UNSUBSCRIBE`.
    Unsubscribe,
    /// `PSUBSCRIBE`.
    PSubscribe,
    /// `PUNSUBSCRIBE`.
    PUnsubscribe,
}

/// A command's name (lower case, as Redis prints it in errors), its arity
/// (`n`: exactly `n` arguments with the name; `-n`: at least `n`) and its
/// variant.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Spec {
    /// The name, lower case.
    pub name: &'static str,
    /// Redis's arity.
    pub arity: i32,
    /// What to run.
    pub cmd: Cmd,
}

/// Every command the server knows, in [`Cmd`]'s order, for `COMMAND
/// COUNT`, the arity check and the error texts.
pub const COMMANDS: &[Spec] = &[
    spec("ping", -1, Cmd::Ping),
    spec("echo", 2, Cmd::Echo),
    spec("quit", -1, Cmd::Quit),
    spec("get", 2, Cmd::Get),
    spec("set", -3, Cmd::Set),
    spec("del", -2, Cmd::Del),
    spec("exists", -2, Cmd::Exists),
    spec("incr", 2, Cmd::Incr),
    spec("decr", 2, Cmd::Decr),
    spec("incrby", 3, Cmd::IncrBy),
    spec("decrby", 3, Cmd::DecrBy),
    spec("mget", -2, Cmd::MGet),
    spec("mset", -3, Cmd::MSet),
    spec("expire", -3, Cmd::Expire),
    spec("pexpire", -3, Cmd::PExpire),
    spec("ttl", 2, Cmd::Ttl),
    spec("pttl", 2, Cmd::PTtl),
    spec("persist", 2, Cmd::Persist),
    spec("dbsize", 1, Cmd::DbSize),
    spec("flushdb", -1, Cmd::FlushDb),
    spec("select", 2, Cmd::Select),
    spec("config", -2, Cmd::Config),
    spec("command", -1, Cmd::Command),
    spec("publish", 3, Cmd::Publish),
    spec("subscribe", -2, Cmd::Subscribe),
    spec("unsubscribe", -1, Cmd::Unsubscribe),
    spec("psubscribe", -2, Cmd::PSubscribe),
    spec("punsubscribe", -1, Cmd::PUnsubscribe),
];

const fn spec(name: &'static str, arity: i32, cmd: Cmd) -> Spec {
    Spec { name, arity, cmd }
}

// `Cmd::spec` indexes the table by the variant: check the order once, at
// compile time.
const _: () = {
    let mut i = 0;
    while i < COMMANDS.len() {
        assert!(
            COMMANDS[i].cmd as usize == i,
            "COMMANDS is not in Cmd's order"
        );
        i += 1;
    }
};

impl Cmd {
    /// The command's name, arity and variant.
    pub fn spec(self) -> Spec {
        COMMANDS[self as usize]
    }

    /// True for the commands a subscribed client may run (RESP2).
    pub fn allowed_while_subscribed(self) -> bool {
        matches!(
            self,
            Cmd::Subscribe
                | Cmd::Unsubscribe
                | Cmd::PSubscribe
                | Cmd::PUnsubscribe
                | Cmd::Ping
                | Cmd::Quit
        )
    }
}

/// The longest command name.
const MAX_NAME: usize = 12;

/// The command named `name` (any case), or `None` for a name no command
/// has. The name is lowered into a stack buffer and matched against the
/// literals, which the compiler turns into a switch on the length and a
/// compare or two: no scan of the table, no allocation.
pub fn lookup(name: &[u8]) -> Option<Spec> {
    let mut buf = [0u8; MAX_NAME];
    let lower = buf.get_mut(..name.len())?;
    // Byte by byte: a name is a few bytes, not worth a `memcpy` call.
    for (to, from) in lower.iter_mut().zip(name) {
        *to = from.to_ascii_lowercase();
    }
    let cmd = match &*lower {
        b"ping" => Cmd::Ping,
        b"echo" => Cmd::Echo,
        b"quit" => Cmd::Quit,
        b"get" => Cmd::Get,
        b"set" => Cmd::Set,
        b"del" => Cmd::Del,
        b"exists" => Cmd::Exists,
        b"incr" => Cmd::Incr,
        b"decr" => Cmd::Decr,
        b"incrby" => Cmd::IncrBy,
        b"decrby" => Cmd::DecrBy,
        b"mget" => Cmd::MGet,
        b"mset" => Cmd::MSet,
        b"expire" => Cmd::Expire,
        b"pexpire" => Cmd::PExpire,
        b"ttl" => Cmd::Ttl,
        b"pttl" => Cmd::PTtl,
        b"persist" => Cmd::Persist,
        b"dbsize" => Cmd::DbSize,
        b"flushdb" => Cmd::FlushDb,
        b"select" => Cmd::Select,
        b"config" => Cmd::Config,
        b"command" => Cmd::Command,
        b"publish" => Cmd::Publish,
        b"subscribe" => Cmd::Subscribe,
        b"unsubscribe" => Cmd::Unsubscribe,
        b"psubscribe" => Cmd::PSubscribe,
        b"punsubscribe" => Cmd::PUnsubscribe,
        _ => return None,
    };
    Some(cmd.spec())
}

/// Appends Redis's reply to a command it does not know.
pub fn unknown_command(cmd: &Command<'_>, out: &mut Vec<u8>) {
    let mut text = format!(
        "ERR unknown command '{}', with args beginning with: ",
        clip(cmd.arg(0))
    );
    for arg in cmd.args().skip(1) {
        text.push_str(&format!("'{}' ", clip(arg)));
    }
    resp::error(out, &text);
}

/// At most 128 bytes of an argument, for an error text (Redis's `%.128s`).
fn clip(arg: &[u8]) -> String {
    String::from_utf8_lossy(&arg[..arg.len().min(128)]).into_owned()
}

/// Appends Redis's reply to a known command with the wrong arguments.
pub fn wrong_arity(name: &str, out: &mut Vec<u8>) {
    resp::error(
        out,
        &format!("ERR wrong number of arguments for '{name}' command"),
    );
}

/// True if `argc` arguments (the name included) suit `arity`.
pub fn arity_ok(arity: i32, argc: usize) -> bool {
    if arity >= 0 {
        argc == arity as usize
    } else {
        argc >= arity.unsigned_abs() as usize
    }
}

/// Runs `cmd` (already checked: known, right arity) against `db`,
/// appending its reply to `out`. `now` is the time of the batch the
/// command came in (Redis, too, reads the clock once per event).
pub fn execute(
    which: Cmd,
    cmd: &Command<'_>,
    db: &mut Db,
    settings: &Settings,
    now: Instant,
    out: &mut Vec<u8>,
) -> Outcome {
    let arg = |i: usize| cmd.arg(i);
    let name = which.spec().name;
    match which {
        Cmd::Ping => match cmd.len() {
            1 => resp::simple(out, "PONG"),
            2 => resp::bulk(out, arg(1)),
            _ => wrong_arity(name, out),
        },
        Cmd::Echo => resp::bulk(out, arg(1)),
        Cmd::Get => db.read(arg(1), now, |value| resp::optional_bulk(out, value)),
        Cmd::Set => set(cmd, db, now, out),
        Cmd::Del => {
            let n = cmd.args().skip(1).filter(|k| db.del(k, now)).count();
            resp::integer(out, n as i64);
        }
        Cmd::Exists => {
            let n = cmd.args().skip(1).filter(|k| db.exists(k, now)).count();
            resp::integer(out, n as i64);
        }
        Cmd::Incr | Cmd::Decr | Cmd::IncrBy | Cmd::DecrBy => {
            let by = match which {
                Cmd::Incr => Some(1),
                Cmd::Decr => Some(-1),
                Cmd::IncrBy => parse_i64(arg(2)),
                _ => parse_i64(arg(2)).and_then(i64::checked_neg),
            };
            match by
                .ok_or(NOT_AN_INTEGER)
                .map(|by| db.incr_by(arg(1), by, now))
            {
                Ok(Ok(n)) => resp::integer(out, n),
                Ok(Err(e)) | Err(e) => resp::error(out, e),
            }
        }
        Cmd::MGet => {
            resp::array(out, cmd.len() - 1);
            for key in cmd.args().skip(1) {
                db.read(key, now, |value| resp::optional_bulk(out, value));
            }
        }
        Cmd::MSet => {
            if cmd.len() % 2 == 0 {
                wrong_arity(name, out);
            } else {
                for i in (1..cmd.len()).step_by(2) {
                    db.set(
                        arg(i),
                        arg(i + 1),
                        Condition::Always,
                        Ttl::Clear,
                        false,
                        now,
                    );
                }
                resp::simple(out, "OK");
            }
        }
        Cmd::Expire | Cmd::PExpire => expire(name, cmd, db, now, out),
        Cmd::Ttl | Cmd::PTtl => {
            let ms = db.pttl(arg(1), now);
            let reply = if ms < 0 || which == Cmd::PTtl {
                ms
            } else {
                (ms + 500) / 1000
            };
            resp::integer(out, reply);
        }
        Cmd::Persist => resp::integer(out, i64::from(db.persist(arg(1), now))),
        Cmd::DbSize => resp::integer(out, db.len() as i64),
        Cmd::FlushDb => {
            let mode_ok = match cmd.len() {
                1 => true,
                2 => arg(1).eq_ignore_ascii_case(b"sync") || arg(1).eq_ignore_ascii_case(b"async"),
                _ => false,
            };
            if mode_ok {
                db.clear();
                resp::simple(out, "OK");
            } else {
                resp::error(out, "ERR syntax error");
            }
        }
        Cmd::Select => match parse_i64(arg(1)) {
            Some(0) => resp::simple(out, "OK"),
            Some(_) => resp::error(out, "ERR DB index is out of range"),
            None => resp::error(out, NOT_AN_INTEGER),
        },
        Cmd::Config => config(cmd, settings, out),
        Cmd::Command => command(cmd, out),
        _ => return Outcome::NotMine,
    }
    Outcome::Replied
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|KEEPTTL]`.
fn set(cmd: &Command<'_>, db: &mut Db, now: Instant, out: &mut Vec<u8>) {
    let mut cond = Condition::Always;
    let mut ttl_arg: Option<(&[u8], u64)> = None; // (number, ms per unit)
    let mut keep_ttl = false;
    let mut want_old = false;
    let mut i = 3;
    while i < cmd.len() {
        let opt = cmd.arg(i);
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let has_next = i + 1 < cmd.len();
        if is("NX") && cond != Condition::IfExists {
            cond = Condition::IfMissing;
        } else if is("XX") && cond != Condition::IfMissing {
            cond = Condition::IfExists;
        } else if is("GET") {
            want_old = true;
        } else if is("KEEPTTL") && ttl_arg.is_none() {
            keep_ttl = true;
        } else if (is("EX") || is("PX")) && ttl_arg.is_none() && !keep_ttl && has_next {
            ttl_arg = Some((cmd.arg(i + 1), if is("EX") { 1000 } else { 1 }));
            i += 1;
        } else {
            return resp::error(out, "ERR syntax error");
        }
        i += 1;
    }
    let ttl = match ttl_arg {
        None if keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
        Some((number, unit)) => match parse_i64(number) {
            None => return resp::error(out, NOT_AN_INTEGER),
            Some(n) => match deadline(n, unit, now) {
                Some(at) if n > 0 => Ttl::At(at),
                _ => return resp::error(out, "ERR invalid expire time in 'set' command"),
            },
        },
    };
    let (stored, old) = db.set(cmd.arg(1), cmd.arg(2), cond, ttl, want_old, now);
    if want_old {
        resp::optional_bulk(out, old.as_deref());
    } else if stored {
        resp::simple(out, "OK");
    } else {
        resp::nil(out);
    }
}

/// `now + n * unit` milliseconds; a negative `n` gives an instant in the
/// past (or `now` when that is before the clock's start); `None` on
/// overflow.
fn deadline(n: i64, unit_ms: u64, now: Instant) -> Option<Instant> {
    let ms = n.unsigned_abs().checked_mul(unit_ms)?;
    let span = Duration::from_millis(ms);
    if n >= 0 {
        now.checked_add(span)
    } else {
        Some(now.checked_sub(span).unwrap_or(now))
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT]`, `PEXPIRE` in milliseconds.
fn expire(name: &str, cmd: &Command<'_>, db: &mut Db, now: Instant, out: &mut Vec<u8>) {
    let Some(n) = parse_i64(cmd.arg(2)) else {
        return resp::error(out, NOT_AN_INTEGER);
    };
    let unit = if name == "expire" { 1000 } else { 1 };
    let Some(at) = deadline(n, unit, now) else {
        return resp::error(out, &format!("ERR invalid expire time in '{name}' command"));
    };
    let key = cmd.arg(1);
    if cmd.len() > 4 {
        return resp::error(out, "ERR syntax error");
    }
    if cmd.len() == 4 {
        let flag = cmd.arg(3).to_ascii_uppercase();
        let current = db.pttl(key, now); // -1: no deadline (infinite)
        let new_ms = at.saturating_duration_since(now).as_millis() as i64;
        let allowed = match flag.as_slice() {
            b"NX" => current == -1,
            b"XX" => current >= 0,
            b"GT" => current >= 0 && new_ms > current,
            b"LT" => current == -1 || new_ms < current,
            _ => {
                let text = format!("ERR Unsupported option {}", clip(cmd.arg(3)));
                return resp::error(out, &text);
            }
        };
        if current == -2 || !allowed {
            return resp::integer(out, 0);
        }
    }
    resp::integer(out, i64::from(db.expire_at(key, at, now)));
}

/// `CONFIG GET pattern...`: the few settings redis-benchmark asks about.
fn config(cmd: &Command<'_>, settings: &Settings, out: &mut Vec<u8>) {
    let sub = cmd.arg(1);
    if !sub.eq_ignore_ascii_case(b"GET") {
        return resp::error(
            out,
            &format!("ERR unknown subcommand '{}'. Try CONFIG HELP.", clip(sub)),
        );
    }
    if cmd.len() < 3 {
        return wrong_arity("config|get", out);
    }
    let maxclients = settings.maxclients.to_string();
    let known: [(&str, &str); 4] = [
        ("save", ""),
        ("appendonly", "no"),
        ("databases", "1"),
        ("maxclients", &maxclients),
    ];
    let matching: Vec<&(&str, &str)> = known
        .iter()
        .filter(|(param, _)| {
            cmd.args()
                .skip(2)
                .any(|pat| resp::glob_match(&pat.to_ascii_lowercase(), param.as_bytes()))
        })
        .collect();
    resp::array(out, matching.len() * 2);
    for (param, value) in matching {
        resp::bulk(out, param.as_bytes());
        resp::bulk(out, value.as_bytes());
    }
}

/// `COMMAND`: just enough for redis-cli to start cleanly (it asks for
/// `COMMAND DOCS` to draw its hints; an empty answer means no hints).
fn command(cmd: &Command<'_>, out: &mut Vec<u8>) {
    if cmd.len() == 1 {
        return resp::array(out, 0);
    }
    let sub = cmd.arg(1).to_ascii_uppercase();
    match sub.as_slice() {
        b"COUNT" => resp::integer(out, COMMANDS.len() as i64),
        b"DOCS" | b"INFO" => resp::array(out, 0),
        _ => resp::error(
            out,
            &format!(
                "ERR unknown subcommand '{}'. Try COMMAND HELP.",
                clip(cmd.arg(1))
            ),
        ),
    }
}
