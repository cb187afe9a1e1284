//! The server's commands that reach past one database: `COPY` and
//! `MOVE` between the 16 databases, and `FUNCTION FLUSH` (no scripts
//! here, but Redis's test runner calls it). Called from `execute`.

use super::Shared;
use crate::commands::{self, Cmd, DATABASES};
use crate::resp::{self, Command};

/// `COPY source destination [DB index] [REPLACE]` and `MOVE key db`:
/// the value and its deadline go to another key or database (Redis's
/// `copyCommand`, `moveCommand`, in their order of checks).
pub(super) fn copy_or_move(
    shared: &Shared,
    from: usize,
    which: Cmd,
    cmd: &Command<'_>,
    now: i64,
    out: &mut Vec<u8>,
) {
    /// A database index argument: `None` after replying the error.
    fn index(arg: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        match resp::parse_i64(arg) {
            None => resp::error(out, crate::db::NOT_AN_INTEGER),
            Some(n) if i32::try_from(n).is_err() => resp::error(
                out,
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ),
            Some(n) if (0..DATABASES as i64).contains(&n) => return Some(n as usize),
            Some(_) => resp::error(out, "ERR DB index is out of range"),
        }
        None
    }
    const SAME: &str = "ERR source and destination objects are the same";
    let key = cmd.arg(1);
    let (to, dest, replace) = if which == Cmd::Move {
        let Some(to) = index(cmd.arg(2), out) else {
            return;
        };
        if to == from {
            return resp::error(out, SAME);
        }
        (to, key, false)
    } else {
        let (mut to, mut replace, mut i) = (from, false, 3);
        while i < cmd.len() {
            let opt = cmd.arg(i);
            if opt.eq_ignore_ascii_case(b"replace") {
                replace = true;
            } else if opt.eq_ignore_ascii_case(b"db") && i + 1 < cmd.len() {
                let Some(n) = index(cmd.arg(i + 1), out) else {
                    return;
                };
                to = n;
                i += 1;
            } else {
                return resp::error(out, "ERR syntax error");
            }
            i += 1;
        }
        if to == from && key == cmd.arg(2) {
            return resp::error(out, SAME);
        }
        (to, cmd.arg(2), replace)
    };
    let Some((value, deadline)) = shared.dbs[from].borrow_mut().snapshot(key, now) else {
        return resp::integer(out, 0);
    };
    let mut target = shared.dbs[to].borrow_mut();
    if target.exists(dest, now) && !replace {
        return resp::integer(out, 0);
    }
    target.store(dest, value, deadline);
    drop(target);
    if which == Cmd::Move {
        shared.dbs[from].borrow_mut().del(key, now);
    }
    resp::integer(out, 1);
}

/// `FUNCTION FLUSH [ASYNC|SYNC]`: there are no functions to flush (the
/// server runs no scripts), but the test suite's runner calls it before
/// every unit.
pub(super) fn function(cmd: &Command<'_>, out: &mut Vec<u8>) {
    if !cmd.arg(1).eq_ignore_ascii_case(b"flush") {
        return commands::unknown_subcommand("FUNCTION", cmd.arg(1), out);
    }
    match cmd.len() {
        2 => resp::simple(out, "OK"),
        3 if cmd.arg(2).eq_ignore_ascii_case(b"sync")
            || cmd.arg(2).eq_ignore_ascii_case(b"async") =>
        {
            resp::simple(out, "OK")
        }
        3 => resp::error(out, "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"),
        _ => commands::subcommand_syntax_error("FUNCTION", cmd.arg(1), out),
    }
}
