//! Walking a keyspace: `KEYS` (all at once), `SCAN` (a cursor that no
//! insert or delete moves), `RANDOMKEY`.

use super::Db;

impl Db {
    /// The live keys matching `pattern` (`KEYS`), in the map's order.
    pub fn keys_matching(&self, pattern: &[u8], now: i64) -> Vec<&[u8]> {
        let all = pattern == b"*";
        self.keys
            .iter()
            .filter(|(k, e)| !e.due(now) && (all || crate::resp::glob_match(pattern, k)))
            .map(|(k, _)| k.as_slice())
            .collect()
    }

    /// One step of `SCAN` from `cursor`: up to `count` keys in the order of
    /// a fixed hash of their names, and the cursor to go on from (0 at the
    /// end). A key present for the whole iteration is returned once: the
    /// cursor is the next hash to visit, which no insert or delete moves
    /// (Redis keeps the same promise with its reverse-binary cursor).
    /// O(keys) per call. Expired keys met are deleted, as Redis's scan
    /// does.
    pub fn scan(&mut self, cursor: u64, count: usize, now: i64) -> (u64, Vec<Vec<u8>>) {
        let mut batch: Vec<(u64, &[u8])> = self
            .keys
            .keys()
            .map(|k| (scan_hash(k), k.as_slice()))
            .filter(|&(h, _)| h >= cursor)
            .collect();
        let next = if batch.len() > count {
            batch.select_nth_unstable(count);
            let next = batch[count].0;
            batch.truncate(count);
            next
        } else {
            0
        };
        let keys: Vec<Vec<u8>> = batch.into_iter().map(|(_, k)| k.to_vec()).collect();
        let live = keys
            .into_iter()
            .filter(|k| !self.expire_if_needed(k, now))
            .collect();
        (next, live)
    }

    /// A random live key (`RANDOMKEY`); due keys it meets are deleted.
    /// O(keys) per call: a `HashMap` has no random access.
    pub fn random_key(&mut self, now: i64) -> Option<Vec<u8>> {
        while !self.keys.is_empty() {
            let at = (self.next_random() % self.keys.len() as u64) as usize;
            let key = self.keys.keys().nth(at)?.clone();
            if !self.expire_if_needed(&key, now) {
                return Some(key);
            }
        }
        None
    }
}

/// The fixed hash `SCAN` orders keys by (FNV-1a; never 0 for a cursor
/// to mean the start, since cursor 0 starts and ends an iteration).
fn scan_hash(key: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.max(1)
}
