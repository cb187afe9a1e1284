//! The list commands (Redis's `t_list.c`), the few that make and read a
//! list: `LPUSH`, `RPUSH`, `LPOP`, `RPOP`, `LLEN`, `LRANGE`. They are here
//! so that a key can hold another type than a string, and every string
//! command answers such a key with Redis's `WRONGTYPE` error.

use std::collections::VecDeque;

use super::Cmd;
use crate::db::{Db, NOT_AN_INTEGER, WRONGTYPE};
use crate::resp::{self, Command, parse_i64};

/// Runs one of the list commands.
pub(super) fn execute(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let key = cmd.arg(1);
    match which {
        Cmd::LPush | Cmd::RPush => {
            let front = which == Cmd::LPush;
            let list = match db.list_mut(key, now) {
                Err(_) => return resp::error(out, WRONGTYPE),
                Ok(Some(list)) => list,
                Ok(None) => {
                    db.insert_list(key, VecDeque::new());
                    match db.list_mut(key, now) {
                        Ok(Some(list)) => list,
                        _ => unreachable!("the list was just made"),
                    }
                }
            };
            for value in cmd.args().skip(2) {
                if front {
                    list.push_front(value.to_vec());
                } else {
                    list.push_back(value.to_vec());
                }
            }
            resp::integer(out, list.len() as i64);
        }
        Cmd::LPop | Cmd::RPop => pop(which == Cmd::LPop, cmd, db, now, out),
        Cmd::LLen => match db.list_mut(key, now) {
            Err(_) => resp::error(out, WRONGTYPE),
            Ok(list) => resp::integer(out, list.map_or(0, |l| l.len()) as i64),
        },
        Cmd::LRange => {
            let (Some(start), Some(end)) = (parse_i64(cmd.arg(2)), parse_i64(cmd.arg(3))) else {
                return resp::error(out, NOT_AN_INTEGER);
            };
            let list = match db.list_mut(key, now) {
                Err(_) => return resp::error(out, WRONGTYPE),
                Ok(None) => return resp::array(out, 0),
                Ok(Some(list)) => list,
            };
            let len = list.len() as i64;
            let start = if start < 0 { len + start } else { start }.max(0);
            let end = if end < 0 { len + end } else { end };
            if start > end || start >= len {
                return resp::array(out, 0);
            }
            let end = end.min(len - 1);
            resp::array(out, (end - start + 1) as usize);
            for value in list.range(start as usize..=end as usize) {
                resp::bulk(out, value);
            }
        }
        _ => unreachable!("{} is not a list command", which.spec().name),
    }
}

/// `LPOP key [count]`, `RPOP`: one element, or an array of up to `count`.
fn pop(front: bool, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let name = if front { "lpop" } else { "rpop" };
    if cmd.len() > 3 {
        return super::wrong_arity(name, out);
    }
    let count = if cmd.len() == 3 {
        // Redis's `getPositiveLongFromObjectOrReply`: one message for both.
        match parse_i64(cmd.arg(2)) {
            Some(n) if n >= 0 => Some(n as usize),
            _ => return resp::error(out, "ERR value is out of range, must be positive"),
        }
    } else {
        None
    };
    let key = cmd.arg(1);
    let list = match db.list_mut(key, now) {
        Err(_) => return resp::error(out, WRONGTYPE),
        Ok(None) if count.is_some() => return out.extend_from_slice(b"*-1\r\n"),
        Ok(None) => return resp::nil(out),
        Ok(Some(list)) => list,
    };
    let mut take = || {
        if front {
            list.pop_front()
        } else {
            list.pop_back()
        }
    };
    match count {
        None => resp::optional_bulk(out, take().as_deref()),
        Some(n) => {
            let popped: Vec<Vec<u8>> = (0..n).map_while(|_| take()).collect();
            resp::array(out, popped.len());
            for value in &popped {
                resp::bulk(out, value);
            }
        }
    }
    db.drop_if_empty(key);
}
