//! The generic key commands (Redis's `expire.c` and `db.c`): deadlines
//! (`EXPIRE` and its variants, `TTL`, `EXPIRETIME`, `PERSIST`), `TYPE`,
//! renames, and the ways to list keys (`KEYS`, `SCAN`, `RANDOMKEY`).

use super::{Cmd, c_str};
use crate::db::{Db, NOT_AN_INTEGER};
use crate::resp::{self, Command, parse_i64};

/// Runs one of the generic key commands.
pub(super) fn execute(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    if which == Cmd::RandomKey {
        return resp::optional_bulk(out, db.random_key(now).as_deref());
    }
    let key = cmd.arg(1);
    match which {
        Cmd::Expire | Cmd::PExpire | Cmd::ExpireAt | Cmd::PExpireAt => {
            expire(which, cmd, db, now, out)
        }
        Cmd::Ttl | Cmd::PTtl | Cmd::ExpireTime | Cmd::PExpireTime => {
            let reply = match db.deadline(key, now) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => {
                    let absolute = matches!(which, Cmd::ExpireTime | Cmd::PExpireTime);
                    let ms = if absolute { at } else { at - now }.max(0);
                    if matches!(which, Cmd::PTtl | Cmd::PExpireTime) {
                        ms
                    } else {
                        (ms + 500) / 1000
                    }
                }
            };
            resp::integer(out, reply);
        }
        Cmd::Persist => resp::integer(out, i64::from(db.persist(key, now))),
        Cmd::Type => resp::simple(out, db.type_name(key, now)),
        Cmd::Rename | Cmd::RenameNx => {
            let nx = which == Cmd::RenameNx;
            match db.rename(key, cmd.arg(2), nx, now) {
                None => resp::error(out, "ERR no such key"),
                Some(moved) if nx => resp::integer(out, i64::from(moved)),
                Some(_) => resp::simple(out, "OK"),
            }
        }
        Cmd::Keys => {
            let keys = db.keys_matching(key, now);
            resp::array(out, keys.len());
            for k in keys {
                resp::bulk(out, k);
            }
        }
        Cmd::Scan => scan(cmd, db, now, out),
        _ => unreachable!("{} is not a key command", which.spec().name),
    }
}

/// `EXPIRE key seconds [NX|XX|GT|LT ...]`, `PEXPIRE` in milliseconds,
/// `EXPIREAT`/`PEXPIREAT` from the Unix epoch (`expireGenericCommand`):
/// the flags are checked first, then the number, then the key.
fn expire(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in cmd.args().skip(3) {
        let flag = match opt.to_ascii_lowercase().as_slice() {
            b"nx" => &mut nx,
            b"xx" => &mut xx,
            b"gt" => &mut gt,
            b"lt" => &mut lt,
            _ => {
                let mut text = b"ERR Unsupported option ".to_vec();
                text.extend_from_slice(c_str(opt));
                return resp::error(out, &text);
            }
        };
        *flag = true;
    }
    if nx && (xx || gt || lt) {
        return resp::error(
            out,
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        );
    }
    if gt && lt {
        return resp::error(
            out,
            "ERR GT and LT options at the same time are not compatible",
        );
    }
    let Some(n) = parse_i64(cmd.arg(2)) else {
        return resp::error(out, NOT_AN_INTEGER);
    };
    let invalid = format!("ERR invalid expire time in '{}' command", which.spec().name);
    let seconds = matches!(which, Cmd::Expire | Cmd::ExpireAt);
    let base = if matches!(which, Cmd::Expire | Cmd::PExpire) {
        now
    } else {
        0
    };
    let Some(at) = (if seconds {
        n.checked_mul(1000)
    } else {
        Some(n)
    })
    .filter(|_| !seconds || (i64::MIN / 1000..=i64::MAX / 1000).contains(&n))
    .and_then(|ms| (ms <= i64::MAX - base).then(|| ms + base)) else {
        return resp::error(out, invalid);
    };
    let key = cmd.arg(1);
    let Some(current) = db.deadline(key, now) else {
        return resp::integer(out, 0);
    };
    let refused = (nx && current.is_some())
        || (xx && current.is_none())
        || (gt && current.is_none_or(|c| at <= c))
        || (lt && current.is_some_and(|c| at >= c));
    if refused {
        return resp::integer(out, 0);
    }
    resp::integer(out, i64::from(db.expire_at(key, at, now)));
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn scan(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let Some(cursor) = parse_cursor(cmd.arg(1)) else {
        return resp::error(out, "ERR invalid cursor");
    };
    let mut count = 10usize;
    let mut pattern: Option<&[u8]> = None;
    let mut wanted_type: Option<&[u8]> = None;
    let mut i = 2;
    while i < cmd.len() {
        let opt = cmd.arg(i);
        let value = (i + 1 < cmd.len()).then(|| cmd.arg(i + 1));
        match (opt.to_ascii_lowercase().as_slice(), value) {
            (b"count", Some(n)) => match parse_i64(n) {
                None => return resp::error(out, NOT_AN_INTEGER),
                Some(n) if n < 1 => return resp::error(out, "ERR syntax error"),
                Some(n) => count = n as usize,
            },
            (b"match", Some(p)) => pattern = Some(p).filter(|p| *p != b"*"),
            (b"type", Some(t)) => wanted_type = Some(t),
            _ => return resp::error(out, "ERR syntax error"),
        }
        i += 2;
    }
    let (next, keys) = db.scan(cursor, count, now);
    let keys: Vec<Vec<u8>> = keys
        .into_iter()
        .filter(|k| pattern.is_none_or(|p| resp::glob_match(p, k)))
        .filter(|k| {
            wanted_type.is_none_or(|t| t.eq_ignore_ascii_case(db.type_name(k, now).as_bytes()))
        })
        .collect();
    resp::array(out, 2);
    resp::bulk(out, next.to_string().as_bytes());
    resp::array(out, keys.len());
    for k in &keys {
        resp::bulk(out, k);
    }
}

/// A cursor as C's `strtoul` reads it: an optional sign, decimal digits
/// (none reads as 0), nothing after them, no overflow; `-n` wraps.
fn parse_cursor(bytes: &[u8]) -> Option<u64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() {
        return bytes.is_empty().then_some(0);
    }
    let mut value: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        value = value.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}
