//! The commands that touch one database and the server's settings: the
//! command table, the name lookup, and one function from a parsed command
//! to its reply bytes, no I/O. The string commands are `strings.rs`, the
//! generic key commands (expiry, renames, iteration) `keyspace.rs`. The
//! commands that need the connection or every database (`QUIT`,
//! `SELECT`, `FLUSHALL`, `INFO`, pub/sub) are the server's (`server.rs`),
//! which calls [`execute`] for everything else.

// Shared with the tests and the benchmark (`#[path]`): not every user
// calls every function.
#![allow(dead_code)]

#[path = "keyspace.rs"]
mod keyspace;
#[path = "lists.rs"]
mod lists;
#[path = "sets.rs"]
mod sets;
#[path = "strings.rs"]
mod strings;

use crate::db::{Db, NOT_AN_INTEGER, WRONGTYPE};
use crate::resp::{self, Command};

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

/// How many databases `SELECT` can choose from (Redis's `databases 16`).
pub const DATABASES: usize = 16;

/// Declares [`Cmd`], the [`COMMANDS`] table and [`lookup`] from one list,
/// so the three cannot disagree: `Variant "name" arity`.
macro_rules! commands {
    ($($variant:ident $name:literal $arity:literal,)*) => {
        /// A command the server knows: what the name lookup gives, so
        /// running it is one jump on the variant rather than a string
        /// compare per known name (Redis looks its `redisCommand` up once,
        /// then calls its `proc`).
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum Cmd {
            $(
                #[doc = concat!("`", stringify!($variant), "`.")]
                $variant,
            )*
        }

        /// Every command the server knows, in [`Cmd`]'s order, for
        /// `COMMAND COUNT`, the arity check and the error texts.
        pub const COMMANDS: &[Spec] = &[$(spec(utf8($name), $arity, Cmd::$variant),)*];

        /// The command named `name` (any case), or `None` for a name no
        /// command has. The name is lowered into a stack buffer and matched
        /// against the literals, which the compiler turns into a switch on
        /// the length and a compare or two: no scan of the table, no
        /// allocation.
        pub fn lookup(name: &[u8]) -> Option<Spec> {
            let mut buf = [0u8; MAX_NAME];
            let lower = buf.get_mut(..name.len())?;
            // Byte by byte: a name is a few bytes, not worth a `memcpy` call.
            for (to, from) in lower.iter_mut().zip(name) {
                *to = from.to_ascii_lowercase();
            }
            let cmd = match &*lower {
                $($name => Cmd::$variant,)*
                _ => return None,
            };
            Some(cmd.spec())
        }
    };
}

commands! {
    Ping b"ping" -1,
    Echo b"echo" 2,
    Quit b"quit" -1,
    Get b"get" 2,
    Set b"set" -3,
    Del b"del" -2,
    Unlink b"unlink" -2,
    Exists b"exists" -2,
    Incr b"incr" 2,
    Decr b"decr" 2,
    IncrBy b"incrby" 3,
    DecrBy b"decrby" 3,
    IncrByFloat b"incrbyfloat" 3,
    MGet b"mget" -2,
    MSet b"mset" -3,
    MSetNx b"msetnx" -3,
    SetNx b"setnx" 3,
    SetEx b"setex" 4,
    PSetEx b"psetex" 4,
    GetEx b"getex" -2,
    GetDel b"getdel" 2,
    GetSet b"getset" 3,
    Append b"append" 3,
    StrLen b"strlen" 2,
    GetRange b"getrange" 4,
    Substr b"substr" 4,
    SetRange b"setrange" 4,
    SetBit b"setbit" 4,
    GetBit b"getbit" 3,
    Lcs b"lcs" -3,
    LPush b"lpush" -3,
    RPush b"rpush" -3,
    LPop b"lpop" -2,
    RPop b"rpop" -2,
    LLen b"llen" 2,
    LRange b"lrange" 4,
    SAdd b"sadd" -3,
    SCard b"scard" 2,
    SIsMember b"sismember" 3,
    SMembers b"smembers" 2,
    SRandMember b"srandmember" -2,
    Expire b"expire" -3,
    PExpire b"pexpire" -3,
    ExpireAt b"expireat" -3,
    PExpireAt b"pexpireat" -3,
    ExpireTime b"expiretime" 2,
    PExpireTime b"pexpiretime" 2,
    Ttl b"ttl" 2,
    PTtl b"pttl" 2,
    Persist b"persist" 2,
    Type b"type" 2,
    Keys b"keys" 2,
    Scan b"scan" -2,
    Rename b"rename" 3,
    RenameNx b"renamenx" 3,
    RandomKey b"randomkey" 1,
    Copy b"copy" -3,
    Move b"move" 3,
    DbSize b"dbsize" 1,
    FlushDb b"flushdb" -1,
    FlushAll b"flushall" -1,
    Select b"select" 2,
    Info b"info" -1,
    Multi b"multi" 1,
    Exec b"exec" 1,
    Discard b"discard" 1,
    Function b"function" -2,
    Config b"config" -2,
    Command b"command" -1,
    Time b"time" 1,
    Publish b"publish" 3,
    PubSub b"pubsub" -2,
    Subscribe b"subscribe" -2,
    Unsubscribe b"unsubscribe" -1,
    PSubscribe b"psubscribe" -2,
    PUnsubscribe b"punsubscribe" -1,
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

/// A name's text (the table lists them as bytes, for `lookup`'s match).
const fn utf8(name: &'static [u8]) -> &'static str {
    match std::str::from_utf8(name) {
        Ok(text) => text,
        Err(_) => panic!("a command name is ASCII"),
    }
}

const fn spec(name: &'static str, arity: i32, cmd: Cmd) -> Spec {
    Spec { name, arity, cmd }
}

/// The longest command name.
const MAX_NAME: usize = {
    let mut i = 0;
    let mut max = 0;
    while i < COMMANDS.len() {
        if COMMANDS[i].name.len() > max {
            max = COMMANDS[i].name.len();
        }
        i += 1;
    }
    max
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

/// `bytes` up to its first NUL: what C's `%s` prints of an argument.
pub fn c_str(bytes: &[u8]) -> &[u8] {
    bytes
        .iter()
        .position(|&b| b == 0)
        .map_or(bytes, |nul| &bytes[..nul])
}

/// At most `n` bytes of a C string (`%.Ns`).
fn clip_n(arg: &[u8], n: usize) -> &[u8] {
    let arg = c_str(arg);
    &arg[..arg.len().min(n)]
}

/// At most 128 bytes of an argument, for an error text (Redis's `%.128s`).
pub fn clip(arg: &[u8]) -> &[u8] {
    clip_n(arg, 128)
}

/// Appends Redis's reply to a command it does not know: the name and the
/// arguments, quoted, until 128 bytes of them are listed (the error
/// encoder turns any CR or LF in them into spaces).
pub fn unknown_command(cmd: &Command<'_>, out: &mut Vec<u8>) {
    let mut args = Vec::new();
    for arg in cmd.args().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        args.push(b'\'');
        args.extend_from_slice(clip_n(arg, room));
        args.extend_from_slice(b"' ");
    }
    let mut text = b"ERR unknown command '".to_vec();
    text.extend_from_slice(clip(cmd.arg(0)));
    text.extend_from_slice(b"', with args beginning with: ");
    text.extend_from_slice(&args);
    resp::error(out, &text);
}

/// Appends Redis's reply to a known command with the wrong arguments.
pub fn wrong_arity(name: &str, out: &mut Vec<u8>) {
    resp::error(
        out,
        format!("ERR wrong number of arguments for '{name}' command"),
    );
}

/// Appends Redis's reply to an unknown subcommand of `container`.
pub fn unknown_subcommand(container: &str, sub: &[u8], out: &mut Vec<u8>) {
    let mut text = b"ERR unknown subcommand '".to_vec();
    text.extend_from_slice(clip(sub));
    text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    resp::error(out, &text);
}

/// Appends Redis's reply to a subcommand of `container` called with the
/// wrong arguments (`addReplySubcommandSyntaxError`).
pub fn subcommand_syntax_error(container: &str, sub: &[u8], out: &mut Vec<u8>) {
    let mut text = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
    text.extend_from_slice(clip(sub));
    text.extend_from_slice(format!("'. Try {container} HELP.").as_bytes());
    resp::error(out, &text);
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
/// appending its reply to `out`. `now` is the Unix time in ms of the
/// batch the command came in (Redis, too, reads the clock once per
/// event).
pub fn execute(
    which: Cmd,
    cmd: &Command<'_>,
    db: &mut Db,
    settings: &Settings,
    now: i64,
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
        Cmd::Get => db.read(arg(1), now, |value| match value {
            Ok(value) => resp::optional_bulk(out, value),
            Err(_) => resp::error(out, WRONGTYPE),
        }),
        Cmd::Set => strings::set(cmd, db, now, out),
        Cmd::Del | Cmd::Unlink => {
            let n = cmd.args().skip(1).filter(|k| db.del(k, now)).count();
            resp::integer(out, n as i64);
        }
        Cmd::Exists => {
            let n = cmd.args().skip(1).filter(|k| db.exists(k, now)).count();
            resp::integer(out, n as i64);
        }
        Cmd::Incr | Cmd::Decr | Cmd::IncrBy | Cmd::DecrBy => {
            let by = match which {
                Cmd::Incr => Ok(1),
                Cmd::Decr => Ok(-1),
                Cmd::IncrBy => resp::parse_i64(arg(2)).ok_or(NOT_AN_INTEGER),
                _ => match resp::parse_i64(arg(2)) {
                    Some(i64::MIN) => Err("ERR decrement would overflow"),
                    Some(n) => Ok(-n),
                    None => Err(NOT_AN_INTEGER),
                },
            };
            match by.and_then(|by| db.incr_by(arg(1), by, now)) {
                Ok(n) => resp::integer(out, n),
                Err(e) => resp::error(out, e),
            }
        }
        Cmd::MGet => {
            resp::array(out, cmd.len() - 1);
            for key in cmd.args().skip(1) {
                // Another type reads as nil here, as in Redis.
                db.read(key, now, |value| {
                    resp::optional_bulk(out, value.ok().flatten())
                });
            }
        }
        Cmd::MSet | Cmd::MSetNx => strings::mset(which, cmd, db, now, out),
        Cmd::IncrByFloat
        | Cmd::SetNx
        | Cmd::SetEx
        | Cmd::PSetEx
        | Cmd::GetEx
        | Cmd::GetDel
        | Cmd::GetSet
        | Cmd::Append
        | Cmd::StrLen
        | Cmd::GetRange
        | Cmd::Substr
        | Cmd::SetRange
        | Cmd::SetBit
        | Cmd::GetBit
        | Cmd::Lcs => strings::execute(which, cmd, db, now, out),
        Cmd::Expire
        | Cmd::PExpire
        | Cmd::ExpireAt
        | Cmd::PExpireAt
        | Cmd::ExpireTime
        | Cmd::PExpireTime
        | Cmd::Ttl
        | Cmd::PTtl
        | Cmd::Persist
        | Cmd::Type
        | Cmd::Keys
        | Cmd::Scan
        | Cmd::Rename
        | Cmd::RenameNx
        | Cmd::RandomKey => keyspace::execute(which, cmd, db, now, out),
        Cmd::LPush | Cmd::RPush | Cmd::LPop | Cmd::RPop | Cmd::LLen | Cmd::LRange => {
            lists::execute(which, cmd, db, now, out)
        }
        Cmd::SAdd | Cmd::SCard | Cmd::SIsMember | Cmd::SMembers | Cmd::SRandMember => {
            sets::execute(which, cmd, db, now, out)
        }
        Cmd::DbSize => resp::integer(out, db.len() as i64),
        Cmd::FlushDb => {
            if flush_mode_ok(cmd) {
                db.clear();
                resp::simple(out, "OK");
            } else {
                resp::error(out, "ERR syntax error");
            }
        }
        Cmd::Config => config(cmd, settings, out),
        Cmd::Command => command(cmd, out),
        Cmd::Time => {
            let micros = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_micros());
            let mut number = Vec::new();
            resp::array(out, 2);
            resp::push_int(&mut number, (micros / 1_000_000) as i64);
            resp::bulk(out, &number);
            number.clear();
            resp::push_int(&mut number, (micros % 1_000_000) as i64);
            resp::bulk(out, &number);
        }
        _ => return Outcome::NotMine,
    }
    Outcome::Replied
}

/// `FLUSHDB`/`FLUSHALL`'s optional `ASYNC|SYNC` (both flush at once
/// here).
pub fn flush_mode_ok(cmd: &Command<'_>) -> bool {
    match cmd.len() {
        1 => true,
        2 => cmd.arg(1).eq_ignore_ascii_case(b"sync") || cmd.arg(1).eq_ignore_ascii_case(b"async"),
        _ => false,
    }
}

/// `CONFIG GET pattern...`: the few settings redis-benchmark asks about.
fn config(cmd: &Command<'_>, settings: &Settings, out: &mut Vec<u8>) {
    let sub = cmd.arg(1);
    if !sub.eq_ignore_ascii_case(b"GET") {
        return unknown_subcommand("CONFIG", sub, out);
    }
    if cmd.len() < 3 {
        return wrong_arity("config|get", out);
    }
    let maxclients = settings.maxclients.to_string();
    let databases = DATABASES.to_string();
    let known: [(&str, &str); 4] = [
        ("save", ""),
        ("appendonly", "no"),
        ("databases", &databases),
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
        _ => unknown_subcommand("COMMAND", cmd.arg(1), out),
    }
}
