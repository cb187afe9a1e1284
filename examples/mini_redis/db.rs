//! The keyspace: string values, each with an optional deadline, and the
//! two ways Redis expires keys (`expire.c`, `db.c`).
//!
//! - **Lazily**: every lookup first checks the key's deadline and deletes
//!   a key that is past it, so no command ever sees an expired key.
//! - **Actively**: a key nobody reads again would otherwise stay forever,
//!   so [`Db::active_expire_cycle`] samples [`KEYS_PER_SAMPLE`] keys that
//!   have a deadline, deletes the expired ones, and samples again while
//!   more than a quarter of a sample was expired, within a time budget.
//!   The server runs it from a loop timer every [`CYCLE_PERIOD`].
//!
//! No clock is read here: `now` is an argument, so tests can move time.

// Shared with the tests and the benchmark (`#[path]`): not every user
// calls every function.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Keys sampled per round of the active cycle (Redis's
/// `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`): small enough that a round costs
/// microseconds, large enough that the share of expired keys it sees is a
/// fair estimate of the whole.
pub const KEYS_PER_SAMPLE: usize = 20;
/// Another round runs while more than 1/4 of a sample had expired (Redis's
/// `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE` of 10% with effort 1 is close; a
/// quarter is its classic threshold).
pub const STALE_FRACTION_DIVISOR: usize = 4;
/// How often the server runs the cycle (Redis's `hz 10`).
pub const CYCLE_PERIOD: Duration = Duration::from_millis(100);
/// The most time one cycle may take: 25% of its period, as Redis's
/// `ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC`, so clients always get 75%.
pub const CYCLE_BUDGET: Duration = Duration::from_millis(25);

/// One value and its deadline.
struct Entry {
    value: Vec<u8>,
    /// `Some` when the key expires; its index in `Db::volatile` then.
    deadline: Option<(Instant, usize)>,
}

impl Entry {
    /// True when the key's deadline has passed: every command must treat
    /// it as missing (and delete it).
    fn due(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|(at, _)| at <= now)
    }
}

/// A database: Redis's `redisDb` with only strings.
#[derive(Default)]
pub struct Db {
    /// Every key (Redis's `db->dict`).
    keys: HashMap<Vec<u8>, Entry>,
    /// The keys that have a deadline (Redis's `db->expires`), in a vector
    /// so the active cycle can pick one at random in O(1).
    volatile: Vec<Vec<u8>>,
    /// The active cycle's random state (xorshift64).
    rng: u64,
    /// Keys deleted because they expired (lazily or actively).
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
    /// Expire at this instant (`EX`, `PX`).
    At(Instant),
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
    fn expire_if_needed(&mut self, key: &[u8], now: Instant) -> bool {
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
    fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
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
    fn set_deadline(&mut self, key: &[u8], deadline: Option<Instant>) {
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

    /// The value of `key`, if it exists and has not expired.
    pub fn get(&mut self, key: &[u8], now: Instant) -> Option<&[u8]> {
        self.expire_if_needed(key, now);
        self.keys.get(key).map(|e| e.value.as_slice())
    }

    /// Calls `f` with the value of `key` (`None` if it is missing or has
    /// expired) and returns what `f` returns: [`get`](Self::get) in one
    /// hash lookup for a live key, where `get` needs two whenever some key
    /// has a deadline (a returned borrow cannot be followed by the delete
    /// of a due key in the same function; a callback's can).
    pub fn read<R>(&mut self, key: &[u8], now: Instant, f: impl FnOnce(Option<&[u8]>) -> R) -> R {
        match self.keys.get(key) {
            None => return f(None),
            Some(entry) if !entry.due(now) => return f(Some(&entry.value)),
            Some(_) => {}
        }
        self.remove(key);
        self.expired += 1;
        f(None)
    }

    /// True if `key` exists and has not expired.
    pub fn exists(&mut self, key: &[u8], now: Instant) -> bool {
        self.read(key, now, |value| value.is_some())
    }

    /// `SET`: stores `value` under `key` unless `cond` says no; returns
    /// (whether it was stored, the old value when `want_old`).
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
        now: Instant,
    ) -> (bool, Option<Vec<u8>>) {
        if let Some(entry) = self.keys.get_mut(key)
            && !entry.due(now)
        {
            let old = want_old.then(|| entry.value.clone());
            if cond == Condition::IfMissing {
                return (false, old);
            }
            entry.value.clear();
            entry.value.extend_from_slice(value);
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
        let deadline = match ttl {
            Ttl::At(at) => {
                self.volatile.push(key.to_vec());
                Some((at, self.volatile.len() - 1))
            }
            Ttl::Keep | Ttl::Clear => None,
        };
        let entry = Entry {
            value: value.to_vec(),
            deadline,
        };
        self.keys.insert(key.to_vec(), entry);
        (true, None)
    }

    /// Deletes `key`; true if it existed.
    pub fn del(&mut self, key: &[u8], now: Instant) -> bool {
        self.expire_if_needed(key, now);
        self.remove(key).is_some()
    }

    /// `INCRBY`: the new value.
    ///
    /// # Errors
    /// Redis's text for a value that is not an integer, or for overflow.
    pub fn incr_by(&mut self, key: &[u8], by: i64, now: Instant) -> Result<i64, &'static str> {
        const OVERFLOW: &str = "ERR increment or decrement would overflow";
        // One lookup for a live key; a missing or due one starts from 0.
        if let Some(entry) = self.keys.get_mut(key)
            && !entry.due(now)
        {
            let current = crate::resp::parse_i64(&entry.value).ok_or(NOT_AN_INTEGER)?;
            let new = current.checked_add(by).ok_or(OVERFLOW)?;
            // Rewritten in place; the deadline stays, as in Redis.
            entry.value.clear();
            crate::resp::push_int(&mut entry.value, new);
            return Ok(new);
        }
        self.expire_if_needed(key, now);
        let mut value = Vec::with_capacity(20);
        crate::resp::push_int(&mut value, by);
        self.keys.insert(
            key.to_vec(),
            Entry {
                value,
                deadline: None,
            },
        );
        Ok(by)
    }

    /// `EXPIRE`/`PEXPIRE` with the deadline already computed: true if the
    /// key exists. A deadline in the past deletes the key at once.
    pub fn expire_at(&mut self, key: &[u8], at: Instant, now: Instant) -> bool {
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
    pub fn persist(&mut self, key: &[u8], now: Instant) -> bool {
        self.expire_if_needed(key, now);
        let had = matches!(
            self.keys.get(key),
            Some(Entry {
                deadline: Some(_),
                ..
            })
        );
        if had {
            self.set_deadline(key, None);
        }
        had
    }

    /// `PTTL`'s answer: -2 for a missing key, -1 for no deadline, else the
    /// milliseconds left.
    pub fn pttl(&mut self, key: &[u8], now: Instant) -> i64 {
        self.expire_if_needed(key, now);
        match self.keys.get(key) {
            None => -2,
            Some(Entry { deadline: None, .. }) => -1,
            Some(Entry {
                deadline: Some((at, _)),
                ..
            }) => at.saturating_duration_since(now).as_millis() as i64,
        }
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

    /// `FLUSHDB`.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.volatile.clear();
    }

    fn random_slot(&mut self) -> usize {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        (x % self.volatile.len() as u64) as usize
    }

    /// The active expiry cycle: rounds of [`KEYS_PER_SAMPLE`] random keys
    /// with a deadline, deleting the expired ones, while more than
    /// 1/[`STALE_FRACTION_DIVISOR`] of a round was expired and the
    /// `budget` lasts (`clock` is read once per round, to stop in time).
    /// Returns how many keys it deleted.
    pub fn active_expire_cycle(
        &mut self,
        now: Instant,
        budget: Duration,
        clock: impl Fn() -> Instant,
    ) -> usize {
        let started = clock();
        let mut deleted = 0;
        loop {
            let sample = KEYS_PER_SAMPLE.min(self.volatile.len());
            if sample == 0 {
                return deleted;
            }
            let mut expired = 0;
            for _ in 0..sample {
                if self.volatile.is_empty() {
                    break;
                }
                let slot = self.random_slot();
                let key = std::mem::take(&mut self.volatile[slot]);
                let due = matches!(
                    self.keys.get(&key),
                    Some(Entry { deadline: Some((at, _)), .. }) if *at <= now
                );
                self.volatile[slot] = key;
                if due {
                    let key = self.volatile[slot].clone();
                    self.remove(&key);
                    self.expired += 1;
                    expired += 1;
                }
            }
            deleted += expired;
            if expired * STALE_FRACTION_DIVISOR <= sample || clock() - started >= budget {
                return deleted;
            }
        }
    }
}

/// Redis's text for a value or argument that is not an integer.
pub const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
