//! A keyspace: values (strings, lists, sets), each with an optional
//! deadline, and the two ways Redis expires keys (`expire.c`, `db.c`).
//!
//! - **Lazily**: every lookup first checks the key's deadline and deletes
//!   a key that is past it, so no command ever sees an expired key.
//! - **Actively**: a key nobody reads again would otherwise stay forever,
//!   so [`Db::active_expire_cycle`] (`expiry.rs`) samples keys that have a
//!   deadline, deletes the expired ones, and samples again while more than
//!   a quarter of a sample was expired, within a time budget. The server
//!   runs it from a loop timer every [`CYCLE_PERIOD`].
//!
//! The ways to list keys (`KEYS`, `SCAN`, `RANDOMKEY`) are `walk.rs`.
//!
//! Deadlines are Unix times in milliseconds, as Redis keeps them: `EXPIREAT`,
//! `SET .. PXAT` and `PEXPIRETIME` speak that clock. No clock is read here
//! but in [`now_ms`]: `now` is an argument, so tests can move time.

// Shared with the tests and the benchmark (`#[path]`): not every user
// calls every function.
#![allow(dead_code)]

#[path = "expiry.rs"]
mod expiry;
#[path = "walk.rs"]
mod walk;

use std::collections::{HashMap, HashSet, VecDeque};

// The server's timer reads these; the tests that compile this file alone
// do not.
#[allow(unused_imports)]
pub use expiry::{CYCLE_BUDGET, CYCLE_PERIOD};

/// The Unix time in milliseconds (Redis's `mstime()`), the clock every
/// deadline is on. Read once per batch of commands, so on Linux it is
/// `clock_gettime` itself: `SystemTime`'s `duration_since(UNIX_EPOCH)`
/// normalizes a `Duration` and costs twice the clock read (measured with
/// callgrind: 56 instructions a call, a third of what a pipelined `GET`
/// costs outside the kernel's read and write).
pub fn now_ms() -> i64 {
    crate::sys::realtime_ms()
}

/// A key's value: Redis's string or list object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A string (`SET`, `INCR`...).
    Str(Vec<u8>),
    /// A list (`LPUSH`, `RPUSH`), never empty: the pop of its last
    /// element deletes the key, as in Redis.
    List(VecDeque<Vec<u8>>),
    /// A set (`SADD`), never empty either.
    Set(HashSet<Vec<u8>>),
}

impl Value {
    /// What `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
        }
    }
}

/// A command run on a key of another type (Redis's `checkType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongType;

/// Redis's text for [`WrongType`].
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// One value and its deadline.
struct Entry {
    value: Value,
    /// `Some((unix ms, index in Db::volatile))` when the key expires.
    deadline: Option<(i64, usize)>,
}

impl Entry {
    /// True when the key's deadline has passed (Redis's `keyIsExpired`:
    /// `now > when`): every command must treat it as missing.
    fn due(&self, now: i64) -> bool {
        self.deadline.is_some_and(|(at, _)| now > at)
    }
}

/// A database: Redis's `redisDb` with strings and lists.
#[derive(Default)]
pub struct Db {
    /// Every key (Redis's `db->dict`).
    keys: HashMap<Vec<u8>, Entry>,
    /// The keys that have a deadline (Redis's `db->expires`), in a vector
    /// so the active cycle can pick one at random in O(1).
    volatile: Vec<Vec<u8>>,
    /// The random state (xorshift64) of the active cycle and `RANDOMKEY`.
    rng: u64,
    /// Keys deleted because they expired (lazily or actively): INFO's
    /// `expired_keys`.
    pub expired: u64,
}

/// How `set` treats an existing key (`SET`'s `NX`/`XX`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Condition {
    /// Always set.
    Always,
    /// Only if the key is missing (`NX`).
    IfMissing,
    /// Only if the key exists (`XX`).
    IfExists,
}

/// What `set` does to the key's deadline.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Ttl {
    /// Remove it (plain `SET`).
    Clear,
    /// Keep it (`KEEPTTL`).
    Keep,
    /// Expire at this Unix time in ms (`EX`, `PX`, `EXAT`, `PXAT`).
    At(i64),
}

impl Db {
    /// An empty database.
    pub fn new() -> Db {
        Db {
            rng: 0x9E37_79B9_7F4A_7C15,
            ..Db::default()
        }
    }

    /// Deletes `key` if its deadline has passed; true if it did. With no
    /// deadline anywhere it needs no lookup at all (Redis's
    /// `expireIfNeeded` starts the same way, from `dictSize(db->expires)`).
    fn expire_if_needed(&mut self, key: &[u8], now: i64) -> bool {
        if self.volatile.is_empty() {
            return false;
        }
        let due = self.keys.get(key).is_some_and(|e| e.due(now));
        if due {
            self.remove(key);
            self.expired += 1;
        }
        due
    }

    /// Removes `key` and its deadline; the value if it was there.
    fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let entry = self.keys.remove(key)?;
        if let Some((_, slot)) = entry.deadline {
            self.unlink_volatile(slot);
        }
        Some(entry.value)
    }

    /// Removes `volatile[slot]`, moving the last one into its place.
    fn unlink_volatile(&mut self, slot: usize) {
        self.volatile.swap_remove(slot);
        if let Some(moved) = self.volatile.get(slot)
            && let Some(Entry {
                deadline: Some((_, at)),
                ..
            }) = self.keys.get_mut(moved.as_slice())
        {
            *at = slot;
        }
    }

    /// Sets or clears the deadline of an existing key.
    fn set_deadline(&mut self, key: &[u8], deadline: Option<i64>) {
        let Some(entry) = self.keys.get_mut(key) else {
            return;
        };
        match (entry.deadline, deadline) {
            (Some((_, slot)), Some(at)) => entry.deadline = Some((at, slot)),
            (None, Some(at)) => {
                entry.deadline = Some((at, self.volatile.len()));
                self.volatile.push(key.to_vec());
            }
            (Some((_, slot)), None) => {
                entry.deadline = None;
                self.unlink_volatile(slot);
            }
            (None, None) => {}
        }
    }

    /// The string value of `key`, if it exists, has not expired and is a
    /// string.
    pub fn get(&mut self, key: &[u8], now: i64) -> Option<&[u8]> {
        self.expire_if_needed(key, now);
        match self.keys.get(key).map(|e| &e.value) {
            Some(Value::Str(value)) => Some(value),
            _ => None,
        }
    }

    /// The string value of a live `key`, to change in place (`APPEND`,
    /// `SETRANGE`); its deadline stays.
    pub fn get_mut(&mut self, key: &[u8], now: i64) -> Option<&mut Vec<u8>> {
        self.expire_if_needed(key, now);
        match self.keys.get_mut(key).map(|e| &mut e.value) {
            Some(Value::Str(value)) => Some(value),
            _ => None,
        }
    }

    /// Err when a live `key` holds another type than a string: the check
    /// the string commands that have no one-lookup path make first.
    pub fn check_string(&mut self, key: &[u8], now: i64) -> Result<(), WrongType> {
        self.expire_if_needed(key, now);
        match self.keys.get(key).map(|e| &e.value) {
            Some(Value::Str(_)) | None => Ok(()),
            Some(_) => Err(WrongType),
        }
    }

    /// The list of a live `key` (`None`: missing).
    ///
    /// # Errors
    /// [`WrongType`] for a string.
    pub fn list_mut(
        &mut self,
        key: &[u8],
        now: i64,
    ) -> Result<Option<&mut VecDeque<Vec<u8>>>, WrongType> {
        self.expire_if_needed(key, now);
        match self.keys.get_mut(key).map(|e| &mut e.value) {
            None => Ok(None),
            Some(Value::List(list)) => Ok(Some(list)),
            Some(_) => Err(WrongType),
        }
    }

    /// The set of a live `key` (`None`: missing).
    ///
    /// # Errors
    /// [`WrongType`] for another type.
    pub fn set_mut(
        &mut self,
        key: &[u8],
        now: i64,
    ) -> Result<Option<&mut HashSet<Vec<u8>>>, WrongType> {
        self.expire_if_needed(key, now);
        match self.keys.get_mut(key).map(|e| &mut e.value) {
            None => Ok(None),
            Some(Value::Set(set)) => Ok(Some(set)),
            Some(_) => Err(WrongType),
        }
    }

    /// Adds a missing `key` holding `set`.
    pub fn insert_set(&mut self, key: &[u8], set: HashSet<Vec<u8>>) {
        self.insert(key, Value::Set(set), Ttl::Clear);
    }

    /// Adds a missing `key` holding `list`.
    pub fn insert_list(&mut self, key: &[u8], list: VecDeque<Vec<u8>>) {
        self.insert(key, Value::List(list), Ttl::Clear);
    }

    /// Deletes `key` if it holds an empty list (after a pop).
    pub fn drop_if_empty(&mut self, key: &[u8]) {
        if matches!(self.keys.get(key), Some(Entry { value: Value::List(l), .. }) if l.is_empty()) {
            self.remove(key);
        }
    }

    /// The type of a live `key`, as `TYPE` names it (`none`: missing).
    pub fn type_name(&mut self, key: &[u8], now: i64) -> &'static str {
        self.expire_if_needed(key, now);
        self.keys.get(key).map_or("none", |e| e.value.type_name())
    }

    /// Calls `f` with the value of `key` (`None` if it is missing or has
    /// expired) and returns what `f` returns: [`get`](Self::get) in one
    /// hash lookup for a live key, where `get` needs two whenever some key
    /// has a deadline (a returned borrow cannot be followed by the delete
    /// of a due key in the same function; a callback's can).
    /// A key of another type than a string is `Err(WrongType)`.
    pub fn read<R>(
        &mut self,
        key: &[u8],
        now: i64,
        f: impl FnOnce(Result<Option<&[u8]>, WrongType>) -> R,
    ) -> R {
        match self.keys.get(key) {
            None => return f(Ok(None)),
            Some(entry) if !entry.due(now) => {
                return f(match &entry.value {
                    Value::Str(value) => Ok(Some(value)),
                    _ => Err(WrongType),
                });
            }
            Some(_) => {}
        }
        self.remove(key);
        self.expired += 1;
        f(Ok(None))
    }

    /// True if `key` exists (of any type) and has not expired.
    pub fn exists(&mut self, key: &[u8], now: i64) -> bool {
        self.read(key, now, |value| !matches!(value, Ok(None)))
    }

    /// `SET`: stores `value` under `key` unless `cond` says no; returns
    /// (whether it was stored, the old value when `want_old`). A list is
    /// replaced (the caller checks the type first for `SET ... GET`).
    ///
    /// A live key costs one hash lookup (its value's buffer is reused); a
    /// missing or due one, two (the insert, after the delete of a due one).
    pub fn set(
        &mut self,
        key: &[u8],
        value: &[u8],
        cond: Condition,
        ttl: Ttl,
        want_old: bool,
        now: i64,
    ) -> (bool, Option<Vec<u8>>) {
        if let Some(entry) = self.keys.get_mut(key)
            && !entry.due(now)
        {
            let old = match &entry.value {
                Value::Str(old) if want_old => Some(old.clone()),
                _ => None,
            };
            if cond == Condition::IfMissing {
                return (false, old);
            }
            match &mut entry.value {
                Value::Str(current) => {
                    current.clear();
                    current.extend_from_slice(value);
                }
                other => *other = Value::Str(value.to_vec()),
            }
            let unlink = match (ttl, &mut entry.deadline) {
                (Ttl::Keep, _) | (Ttl::Clear, None) => None,
                (Ttl::Clear, Some((_, slot))) => {
                    let slot = *slot;
                    entry.deadline = None;
                    Some(slot)
                }
                (Ttl::At(at), Some((deadline, _))) => {
                    *deadline = at;
                    None
                }
                (Ttl::At(at), None) => {
                    entry.deadline = Some((at, self.volatile.len()));
                    self.volatile.push(key.to_vec());
                    None
                }
            };
            if let Some(slot) = unlink {
                self.unlink_volatile(slot);
            }
            return (true, old);
        }
        self.expire_if_needed(key, now);
        if cond == Condition::IfExists {
            return (false, None);
        }
        self.insert(key, Value::Str(value.to_vec()), ttl);
        (true, None)
    }

    /// Adds a key known to be missing.
    fn insert(&mut self, key: &[u8], value: Value, ttl: Ttl) {
        let deadline = match ttl {
            Ttl::At(at) => {
                self.volatile.push(key.to_vec());
                Some((at, self.volatile.len() - 1))
            }
            Ttl::Keep | Ttl::Clear => None,
        };
        self.keys.insert(key.to_vec(), Entry { value, deadline });
    }

    /// Deletes `key`; true if it existed.
    pub fn del(&mut self, key: &[u8], now: i64) -> bool {
        self.expire_if_needed(key, now);
        self.remove(key).is_some()
    }

    /// Deletes a live `key` and returns its value (`GETDEL`).
    pub fn take(&mut self, key: &[u8], now: i64) -> Option<Value> {
        self.expire_if_needed(key, now);
        self.remove(key)
    }

    /// `INCRBY`: the new value.
    ///
    /// # Errors
    /// Redis's text for a value that is not an integer, or for overflow.
    pub fn incr_by(&mut self, key: &[u8], by: i64, now: i64) -> Result<i64, &'static str> {
        const OVERFLOW: &str = "ERR increment or decrement would overflow";
        // One lookup for a live key; a missing or due one starts from 0.
        if let Some(entry) = self.keys.get_mut(key)
            && !entry.due(now)
        {
            let Value::Str(value) = &mut entry.value else {
                return Err(WRONGTYPE);
            };
            let current = crate::resp::parse_i64(value).ok_or(NOT_AN_INTEGER)?;
            let new = current.checked_add(by).ok_or(OVERFLOW)?;
            // Rewritten in place; the deadline stays, as in Redis.
            value.clear();
            crate::resp::push_int(value, new);
            return Ok(new);
        }
        self.expire_if_needed(key, now);
        let mut value = Vec::with_capacity(20);
        crate::resp::push_int(&mut value, by);
        self.insert(key, Value::Str(value), Ttl::Clear);
        Ok(by)
    }

    /// Stores `value` under `key`, keeping the deadline of a live key
    /// (`INCRBYFLOAT`, `SETRANGE` and `APPEND` of a missing key).
    pub fn put_keep_ttl(&mut self, key: &[u8], value: Vec<u8>, now: i64) {
        self.expire_if_needed(key, now);
        match self.keys.get_mut(key) {
            Some(entry) => entry.value = Value::Str(value),
            None => self.insert(key, Value::Str(value), Ttl::Clear),
        }
    }

    /// The deadline of `key`: `None` when it is missing, `Some(None)` when
    /// it has none.
    pub fn deadline(&mut self, key: &[u8], now: i64) -> Option<Option<i64>> {
        self.expire_if_needed(key, now);
        self.keys.get(key).map(|e| e.deadline.map(|(at, _)| at))
    }

    /// Gives an existing key the deadline `at` (Unix ms), or deletes it
    /// when `at` is not in the future (Redis's `checkAlreadyExpired`).
    /// False if the key is missing.
    pub fn expire_at(&mut self, key: &[u8], at: i64, now: i64) -> bool {
        if !self.exists(key, now) {
            return false;
        }
        if at <= now {
            self.remove(key);
        } else {
            self.set_deadline(key, Some(at));
        }
        true
    }

    /// `PERSIST`: true if the key had a deadline and lost it.
    pub fn persist(&mut self, key: &[u8], now: i64) -> bool {
        let had = matches!(self.deadline(key, now), Some(Some(_)));
        if had {
            self.set_deadline(key, None);
        }
        had
    }

    /// `PTTL`'s answer: -2 for a missing key, -1 for no deadline, else the
    /// milliseconds left (0 at least).
    pub fn pttl(&mut self, key: &[u8], now: i64) -> i64 {
        match self.deadline(key, now) {
            None => -2,
            Some(None) => -1,
            Some(Some(at)) => at.saturating_sub(now).max(0),
        }
    }

    /// `RENAME`: moves a live `from` (value and deadline) to `to`,
    /// replacing it unless `nx` and it exists. `None` if `from` is
    /// missing; else whether it moved (a key renamed to itself has).
    pub fn rename(&mut self, from: &[u8], to: &[u8], nx: bool, now: i64) -> Option<bool> {
        self.expire_if_needed(from, now);
        if !self.keys.contains_key(from) {
            return None;
        }
        if from == to {
            return Some(!nx);
        }
        if self.exists(to, now) {
            if nx {
                return Some(false);
            }
            self.remove(to);
        }
        let deadline = self.deadline(from, now).flatten();
        let value = self.remove(from)?;
        self.insert(to, value, deadline.map_or(Ttl::Clear, Ttl::At));
        Some(true)
    }

    /// A copy of a live key's value and its deadline (`COPY`, `MOVE`).
    pub fn snapshot(&mut self, key: &[u8], now: i64) -> Option<(Value, Option<i64>)> {
        self.expire_if_needed(key, now);
        self.keys
            .get(key)
            .map(|e| (e.value.clone(), e.deadline.map(|(at, _)| at)))
    }

    /// Stores `value` with `deadline` under `key`, replacing whatever was
    /// there (`COPY ... REPLACE`, `MOVE`).
    pub fn store(&mut self, key: &[u8], value: Value, deadline: Option<i64>) {
        self.remove(key);
        self.insert(key, value, deadline.map_or(Ttl::Clear, Ttl::At));
    }

    /// How many keys (expired ones not yet collected included, as Redis's
    /// `DBSIZE`).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// How many keys have a deadline.
    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// `FLUSHDB`: drops every key and the tables themselves, so their
    /// memory goes back to the allocator (a `clear` would keep the
    /// capacity of the largest keyspace ever held).
    pub fn clear(&mut self) {
        self.keys = HashMap::new();
        self.volatile = Vec::new();
        give_back_free_memory();
    }

    /// A pseudo-random number (xorshift64; `RANDOMKEY`, `SRANDMEMBER`,
    /// the active cycle's samples).
    pub fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

/// Returns the allocator's free pages to the kernel. glibc keeps freed
/// small blocks in its heap (only a free top is trimmed), so after the
/// millions of small frees of a `FLUSHDB` the process would keep most of
/// its resident memory; `malloc_trim` releases the free pages wherever
/// they are, as jemalloc does on its own for Redis.
fn give_back_free_memory() {
    crate::sys::malloc_trim();
}

/// Redis's text for a value or argument that is not an integer.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
