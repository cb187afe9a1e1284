//! The string commands (Redis's `t_string.c`): `SET` and its options,
//! the `SET` variants (`SETNX`, `SETEX`, `PSETEX`, `GETSET`, `MSETNX`),
//! `GETEX`, `GETDEL`, the commands that read or rewrite part of a value
//! (`APPEND`, `STRLEN`, `GETRANGE`, `SETRANGE`, `SETBIT`, `GETBIT`,
//! `INCRBYFLOAT`) and `LCS`.
//! Argument checks come in Redis's order, so a command with two faults
//! gets the error Redis gives.

#[path = "float.rs"]
mod float;

use super::{Cmd, wrong_arity};
use crate::db::{Condition, Db, NOT_AN_INTEGER, Ttl, Value, WRONGTYPE};
use crate::resp::{self, Command, MAX_BULK_LEN, parse_i64};

/// How an `EX`-like argument is read: the unit, and whether it counts from
/// now or from the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Expiry {
    /// `EX` seconds from now.
    Ex,
    /// `PX` milliseconds from now.
    Px,
    /// `EXAT`, a Unix time in seconds.
    ExAt,
    /// `PXAT`, a Unix time in milliseconds.
    PxAt,
}

/// The option flags `SET` and `GETEX` share (`parseExtendedStringArguments`).
#[derive(Default)]
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    expiry: Option<(Expiry, &'a [u8])>,
}

/// Parses `SET`'s options (from argument 3) or `GETEX`'s (from 2), as
/// Redis does: an option that conflicts with an earlier one, or an
/// expiry without its number, is a syntax error.
fn options<'a>(cmd: &Command<'a>, set: bool) -> Option<Options<'a>> {
    let mut o = Options::default();
    let mut i = if set { 3 } else { 2 };
    while i < cmd.len() {
        let opt = cmd.arg(i);
        let is = |name: &[u8]| opt.eq_ignore_ascii_case(name);
        let next = (i + 1 < cmd.len()).then(|| cmd.arg(i + 1));
        let timed = o.expiry.is_some();
        let expiry = match opt.len() {
            2 if is(b"EX") => Some(Expiry::Ex),
            2 if is(b"PX") => Some(Expiry::Px),
            4 if is(b"EXAT") => Some(Expiry::ExAt),
            4 if is(b"PXAT") => Some(Expiry::PxAt),
            _ => None,
        };
        if set && is(b"NX") && !o.xx {
            o.nx = true;
        } else if set && is(b"XX") && !o.nx {
            o.xx = true;
        } else if set && is(b"GET") {
            o.get = true;
        } else if set && is(b"KEEPTTL") && !timed {
            o.keep_ttl = true;
        } else if !set && is(b"PERSIST") && !timed {
            o.persist = true;
        } else if let (Some(kind), Some(number)) = (expiry, next)
            && !o.keep_ttl
            && !o.persist
            && !timed
        {
            o.expiry = Some((kind, number));
            i += 1;
        } else {
            return None;
        }
        i += 1;
    }
    Some(o)
}

/// The absolute deadline (Unix ms) an `EX`/`PX`/`EXAT`/`PXAT` argument
/// names, or the error Redis gives for it (`getExpireMillisecondsOrReply`):
/// not an integer; zero, negative or overflowing ("invalid expire time in
/// '`name`' command").
pub(super) fn deadline(name: &str, kind: Expiry, number: &[u8], now: i64) -> Result<i64, String> {
    let n = parse_i64(number).ok_or_else(|| NOT_AN_INTEGER.to_string())?;
    let invalid = || format!("ERR invalid expire time in '{name}' command");
    let seconds = matches!(kind, Expiry::Ex | Expiry::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if seconds { n * 1000 } else { n };
    match kind {
        Expiry::Ex | Expiry::Px => ms.checked_add(now).ok_or_else(invalid),
        Expiry::ExAt | Expiry::PxAt => Ok(ms),
    }
}

/// `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
pub(super) fn set(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    if cmd.len() == 3 {
        // The common case, without the option parser's work.
        db.set(
            cmd.arg(1),
            cmd.arg(2),
            Condition::Always,
            Ttl::Clear,
            false,
            now,
        );
        return resp::simple(out, "OK");
    }
    let Some(o) = options(cmd, true) else {
        return resp::error(out, "ERR syntax error");
    };
    let ttl = match o.expiry {
        Some((kind, number)) => match deadline("set", kind, number, now) {
            Ok(at) => Ttl::At(at),
            Err(e) => return resp::error(out, e),
        },
        None if o.keep_ttl => Ttl::Keep,
        None => Ttl::Clear,
    };
    let cond = if o.nx {
        Condition::IfMissing
    } else if o.xx {
        Condition::IfExists
    } else {
        Condition::Always
    };
    if o.get && db.check_string(cmd.arg(1), now).is_err() {
        return resp::error(out, WRONGTYPE);
    }
    let (stored, old) = db.set(cmd.arg(1), cmd.arg(2), cond, ttl, o.get, now);
    if o.get {
        resp::optional_bulk(out, old.as_deref());
    } else if stored {
        resp::simple(out, "OK");
    } else {
        resp::nil(out);
    }
}

/// `MSET key value [key value ...]`, `MSETNX` (all or none).
pub(super) fn mset(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    if cmd.len().is_multiple_of(2) {
        return wrong_arity(which.spec().name, out);
    }
    let pairs = (1..cmd.len()).step_by(2);
    if which == Cmd::MSetNx && pairs.clone().any(|i| db.exists(cmd.arg(i), now)) {
        return resp::integer(out, 0);
    }
    for i in pairs {
        let (key, value) = (cmd.arg(i), cmd.arg(i + 1));
        db.set(key, value, Condition::Always, Ttl::Clear, false, now);
    }
    if which == Cmd::MSetNx {
        resp::integer(out, 1);
    } else {
        resp::simple(out, "OK");
    }
}

/// Redis's error for a string that would pass `proto-max-bulk-len`.
const TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";

/// The other string commands.
pub(super) fn execute(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let name = which.spec().name;
    let key = cmd.arg(1);
    let checked = matches!(
        which,
        Cmd::GetSet | Cmd::GetDel | Cmd::Append | Cmd::IncrByFloat
    );
    if checked && db.check_string(key, now).is_err() {
        return resp::error(out, WRONGTYPE);
    }
    match which {
        Cmd::SetNx => {
            let (stored, _) = db.set(
                key,
                cmd.arg(2),
                Condition::IfMissing,
                Ttl::Clear,
                false,
                now,
            );
            resp::integer(out, i64::from(stored));
        }
        Cmd::SetEx | Cmd::PSetEx => {
            let kind = if which == Cmd::SetEx {
                Expiry::Ex
            } else {
                Expiry::Px
            };
            match deadline(name, kind, cmd.arg(2), now) {
                Ok(at) => {
                    db.set(key, cmd.arg(3), Condition::Always, Ttl::At(at), false, now);
                    resp::simple(out, "OK");
                }
                Err(e) => resp::error(out, e),
            }
        }
        Cmd::GetSet => {
            let (_, old) = db.set(key, cmd.arg(2), Condition::Always, Ttl::Clear, true, now);
            resp::optional_bulk(out, old.as_deref());
        }
        Cmd::GetDel => match db.take(key, now) {
            Some(Value::Str(value)) => resp::bulk(out, &value),
            _ => resp::nil(out),
        },
        Cmd::GetEx => getex(cmd, db, now, out),
        Cmd::StrLen => match db.read(key, now, |v| v.map(|v| v.map_or(0, <[u8]>::len))) {
            Ok(len) => resp::integer(out, len as i64),
            Err(_) => resp::error(out, WRONGTYPE),
        },
        Cmd::Append => {
            let tail = cmd.arg(2);
            if let Some(value) = db.get_mut(key, now) {
                if value.len() + tail.len() > MAX_BULK_LEN {
                    return resp::error(out, TOO_LONG);
                }
                value.extend_from_slice(tail);
                resp::integer(out, value.len() as i64);
            } else {
                db.put_keep_ttl(key, tail.to_vec(), now);
                resp::integer(out, tail.len() as i64);
            }
        }
        Cmd::GetRange | Cmd::Substr => {
            let (Some(start), Some(end)) = (parse_i64(cmd.arg(2)), parse_i64(cmd.arg(3))) else {
                return resp::error(out, NOT_AN_INTEGER);
            };
            db.read(key, now, |value| match value {
                Ok(value) => resp::bulk(out, range(value.unwrap_or_default(), start, end)),
                Err(_) => resp::error(out, WRONGTYPE),
            });
        }
        Cmd::SetRange => setrange(cmd, db, now, out),
        Cmd::SetBit | Cmd::GetBit => bit(which, cmd, db, now, out),
        Cmd::Lcs => lcs(cmd, db, now, out),
        Cmd::IncrByFloat => incr_by_float(cmd, db, now, out),
        _ => unreachable!("{name} is not a string command"),
    }
}

/// `GETEX key [EX s|PX ms|EXAT s|PXAT ms|PERSIST]`.
fn getex(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let Some(o) = options(cmd, false) else {
        return resp::error(out, "ERR syntax error");
    };
    let key = cmd.arg(1);
    if db.check_string(key, now).is_err() {
        return resp::error(out, WRONGTYPE);
    }
    let Some(value) = db.get(key, now).map(<[u8]>::to_vec) else {
        return resp::nil(out);
    };
    let at = match o.expiry {
        Some((kind, number)) => match deadline("getex", kind, number, now) {
            Ok(at) => Some(at),
            Err(e) => return resp::error(out, e),
        },
        None => None,
    };
    resp::bulk(out, &value);
    if let Some(at) = at {
        db.expire_at(key, at, now);
    } else if o.persist {
        db.persist(key, now);
    }
}

/// `GETRANGE`'s slice of `value`: inclusive `start..=end`, negative
/// indexes from the end, clamped as Redis clamps them.
fn range(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = value.len() as i64;
    if start < 0 && end < 0 && start > end {
        return b"";
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return b"";
    }
    &value[start as usize..=end as usize]
}

/// `SETRANGE key offset value`: overwrites from `offset`, padding with
/// zero bytes; the new length.
fn setrange(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let (key, patch) = (cmd.arg(1), cmd.arg(3));
    let Some(offset) = parse_i64(cmd.arg(2)) else {
        return resp::error(out, NOT_AN_INTEGER);
    };
    if offset < 0 {
        return resp::error(out, "ERR offset is out of range");
    }
    if db.check_string(key, now).is_err() {
        return resp::error(out, WRONGTYPE);
    }
    let offset = offset as u64;
    let too_long = offset + patch.len() as u64 > MAX_BULK_LEN as u64;
    match db.get_mut(key, now) {
        None if patch.is_empty() => resp::integer(out, 0),
        Some(value) if patch.is_empty() => resp::integer(out, value.len() as i64),
        _ if too_long => resp::error(out, TOO_LONG),
        Some(value) => {
            write_at(value, offset as usize, patch);
            resp::integer(out, value.len() as i64);
        }
        None => {
            let mut value = Vec::new();
            write_at(&mut value, offset as usize, patch);
            let len = value.len();
            db.put_keep_ttl(key, value, now);
            resp::integer(out, len as i64);
        }
    }
}

/// `SETBIT key offset 0|1` (the bit's old value) and `GETBIT key offset`;
/// bit 0 is the most significant bit of the first byte.
fn bit(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let key = cmd.arg(1);
    let offset = match parse_i64(cmd.arg(2)) {
        Some(n) if n >= 0 && ((n >> 3) as usize) < MAX_BULK_LEN => n as usize,
        _ => return resp::error(out, "ERR bit offset is not an integer or out of range"),
    };
    let (byte, mask) = (offset >> 3, 0x80u8 >> (offset & 7));
    if which == Cmd::GetBit {
        let set = db.read(key, now, |v| {
            v.map(|v| v.and_then(|v| v.get(byte)).is_some_and(|b| b & mask != 0))
        });
        let Ok(set) = set else {
            return resp::error(out, WRONGTYPE);
        };
        return resp::integer(out, i64::from(set));
    }
    let on = match parse_i64(cmd.arg(3)) {
        Some(n @ (0 | 1)) => n == 1,
        _ => return resp::error(out, "ERR bit is not an integer or out of range"),
    };
    if db.check_string(key, now).is_err() {
        return resp::error(out, WRONGTYPE);
    }
    if db.get_mut(key, now).is_none() {
        db.put_keep_ttl(key, Vec::new(), now);
    }
    let Some(value) = db.get_mut(key, now) else {
        return resp::integer(out, 0);
    };
    if value.len() <= byte {
        value.resize(byte + 1, 0);
    }
    let was = value[byte] & mask != 0;
    if on {
        value[byte] |= mask;
    } else {
        value[byte] &= !mask;
    }
    resp::integer(out, i64::from(was));
}

/// Copies `patch` into `value` at `offset`, growing it with zeros.
fn write_at(value: &mut Vec<u8>, offset: usize, patch: &[u8]) {
    let end = offset + patch.len();
    if value.len() < end {
        value.resize(end, 0);
    }
    value[offset..end].copy_from_slice(patch);
}

/// `INCRBYFLOAT key increment`: the sum in C's `long double`, printed
/// as Redis prints it (`float.rs`); the key's deadline stays.
fn incr_by_float(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let key = cmd.arg(1);
    let current = db.get(key, now).unwrap_or(b"0");
    match float::incr_by_float(current, cmd.arg(2)) {
        Ok(text) => {
            let value = text.into_bytes();
            resp::bulk(out, &value);
            db.put_keep_ttl(key, value, now);
        }
        Err(e) => resp::error(out, e),
    }
}

/// `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]`: the
/// longest common subsequence of two values, by Redis's dynamic
/// programming table (`lcsCommand`), walked back from the end so the
/// matched ranges come out in Redis's order.
fn lcs(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    if db.check_string(cmd.arg(1), now).is_err() || db.check_string(cmd.arg(2), now).is_err() {
        return resp::error(out, "ERR The specified keys must contain string values");
    }
    let a = db.get(cmd.arg(1), now).unwrap_or_default().to_vec();
    let b = db.get(cmd.arg(2), now).unwrap_or_default().to_vec();
    let (mut get_len, mut get_idx, mut with_len, mut min_len) = (false, false, false, 0i64);
    let mut i = 3;
    while i < cmd.len() {
        let opt = cmd.arg(i);
        if opt.eq_ignore_ascii_case(b"IDX") {
            get_idx = true;
        } else if opt.eq_ignore_ascii_case(b"LEN") {
            get_len = true;
        } else if opt.eq_ignore_ascii_case(b"WITHMATCHLEN") {
            with_len = true;
        } else if opt.eq_ignore_ascii_case(b"MINMATCHLEN") && i + 1 < cmd.len() {
            let Some(n) = parse_i64(cmd.arg(i + 1)) else {
                return resp::error(out, NOT_AN_INTEGER);
            };
            min_len = n.max(0);
            i += 1;
        } else {
            return resp::error(out, "ERR syntax error");
        }
        i += 1;
    }
    if get_len && get_idx {
        return resp::error(
            out,
            "ERR If you want both the length and indexes, please just use IDX.",
        );
    }
    let (alen, blen) = (a.len(), b.len());
    if (alen + 1) as u64 * (blen + 1) as u64 * 4 > MAX_BULK_LEN as u64 {
        return resp::error(
            out,
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        );
    }
    // table[i * (blen + 1) + j]: the LCS length of a[..i] and b[..j].
    let width = blen + 1;
    let mut table = vec![0u32; (alen + 1) * width];
    for i in 1..=alen {
        for j in 1..=blen {
            table[i * width + j] = if a[i - 1] == b[j - 1] {
                table[(i - 1) * width + j - 1] + 1
            } else {
                table[(i - 1) * width + j].max(table[i * width + j - 1])
            };
        }
    }
    let total = table[alen * width + blen];
    if get_len {
        return resp::integer(out, i64::from(total));
    }
    let mut result = vec![0u8; total as usize];
    let mut ranges = Vec::new(); // ([a_start, a_end], [b_start, b_end], len)
    let (mut idx, mut i, mut j) = (total as usize, alen, blen);
    let unset = alen; // a_start == alen: no range open
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (unset, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            result[idx - 1] = a[i - 1];
            if a_start == unset {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * width + j] > table[i * width + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != unset {
                emit = true;
            }
        }
        let match_len = a_end.wrapping_sub(a_start).wrapping_add(1);
        if emit {
            if min_len == 0 || match_len as i64 >= min_len {
                ranges.push(([a_start, a_end], [b_start, b_end], match_len));
            }
            a_start = unset;
        }
    }
    if !get_idx {
        return resp::bulk(out, &result);
    }
    resp::array(out, 4);
    resp::bulk(out, b"matches");
    resp::array(out, ranges.len());
    for (ar, br, len) in ranges {
        resp::array(out, if with_len { 3 } else { 2 });
        for range in [ar, br] {
            resp::array(out, 2);
            resp::integer(out, range[0] as i64);
            resp::integer(out, range[1] as i64);
        }
        if with_len {
            resp::integer(out, len as i64);
        }
    }
    resp::bulk(out, b"len");
    resp::integer(out, i64::from(total));
}
