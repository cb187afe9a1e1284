//! The active expiry cycle (Redis's `activeExpireCycle`): for the keys
//! nobody reads again, rounds of random samples among the keys that have
//! a deadline, deleting the due ones, while a round finds enough of them
//! and the time budget lasts. The server runs it every [`CYCLE_PERIOD`]
//! from a loop timer.

use std::time::{Duration, Instant};

use super::Db;

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

impl Db {
    fn random_slot(&mut self) -> usize {
        (self.next_random() % self.volatile.len() as u64) as usize
    }

    /// The active expiry cycle: rounds of [`KEYS_PER_SAMPLE`] random keys
    /// with a deadline, deleting the expired ones, while more than
    /// 1/[`STALE_FRACTION_DIVISOR`] of a round was expired and the
    /// `budget` lasts (`clock` is read once per round, to stop in time).
    /// Returns how many keys it deleted.
    pub fn active_expire_cycle(
        &mut self,
        now: i64,
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
                let due = self.keys.get(&key).is_some_and(|e| e.due(now));
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
