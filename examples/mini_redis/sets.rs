//! The set commands (Redis's `t_set.c`), the few that make and read a set:
//! `SADD`, `SCARD`, `SISMEMBER`, `SMEMBERS`, `SRANDMEMBER`. Like the list
//! commands, they exist so that a key can hold another type, and what
//! Redis's suite does with such a key (`MGET` reading it as nil, the raw
//! protocol tests) can run.

use std::collections::HashSet;

use super::Cmd;
use crate::db::{Db, WRONGTYPE};
use crate::resp::{self, Command, parse_i64};

/// Runs one of the set commands.
pub(super) fn execute(which: Cmd, cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    let key = cmd.arg(1);
    if which == Cmd::SRandMember {
        return random_members(cmd, db, now, out);
    }
    let set = match db.set_mut(key, now) {
        Err(_) => return resp::error(out, WRONGTYPE),
        Ok(set) => set,
    };
    match which {
        Cmd::SAdd => {
            let set = match set {
                Some(set) => set,
                None => {
                    db.insert_set(key, HashSet::new());
                    match db.set_mut(key, now) {
                        Ok(Some(set)) => set,
                        _ => unreachable!("the set was just made"),
                    }
                }
            };
            let added = cmd
                .args()
                .skip(2)
                .filter(|m| set.insert(m.to_vec()))
                .count();
            resp::integer(out, added as i64);
        }
        Cmd::SCard => resp::integer(out, set.map_or(0, |s| s.len()) as i64),
        Cmd::SIsMember => {
            let member = set.is_some_and(|s| s.contains(cmd.arg(2)));
            resp::integer(out, i64::from(member));
        }
        Cmd::SMembers => {
            let members: Vec<&Vec<u8>> = set.map(|s| s.iter().collect()).unwrap_or_default();
            resp::array(out, members.len());
            for member in members {
                resp::bulk(out, member);
            }
        }
        _ => unreachable!("{} is not a set command", which.spec().name),
    }
}

/// `SRANDMEMBER key [count]`: one member; `count` distinct ones (the
/// whole set when it has no more); `-count` drawn with repetition.
fn random_members(cmd: &Command<'_>, db: &mut Db, now: i64, out: &mut Vec<u8>) {
    if cmd.len() > 3 {
        return resp::error(out, "ERR syntax error");
    }
    let key = cmd.arg(1);
    let count = if cmd.len() == 3 {
        match parse_i64(cmd.arg(2)) {
            None => return resp::error(out, crate::db::NOT_AN_INTEGER),
            Some(i64::MIN) => {
                return resp::error(
                    out,
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                );
            }
            Some(n) => Some(n),
        }
    } else {
        None
    };
    let members: Vec<Vec<u8>> = match db.set_mut(key, now) {
        Err(_) => return resp::error(out, WRONGTYPE),
        Ok(None) if count.is_some() => return resp::array(out, 0),
        Ok(None) => return resp::nil(out),
        Ok(Some(set)) => set.iter().cloned().collect(),
    };
    let pick = |db: &mut Db| (db.next_random() % members.len() as u64) as usize;
    let Some(count) = count else {
        let at = pick(db);
        return resp::bulk(out, &members[at]);
    };
    let chosen: Vec<usize> = if count < 0 {
        (0..count.unsigned_abs()).map(|_| pick(db)).collect()
    } else if count as usize >= members.len() {
        (0..members.len()).collect()
    } else {
        // A partial Fisher-Yates shuffle: `count` distinct indexes.
        let mut indexes: Vec<usize> = (0..members.len()).collect();
        for i in 0..count as usize {
            let j = i + (db.next_random() % (members.len() - i) as u64) as usize;
            indexes.swap(i, j);
        }
        indexes.truncate(count as usize);
        indexes
    };
    resp::array(out, chosen.len());
    for at in chosen {
        resp::bulk(out, &members[at]);
    }
}
