//! Shared helpers of corio's benchmark binaries (`src/bin/*`).
//!
//! Each binary prints a table; `bench/RESULTS.md` records them with the
//! command that produced them.

use std::time::Duration;

/// Summary statistics of a sample of durations.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    /// The smallest value.
    pub min: Duration,
    /// The median.
    pub median: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest value.
    pub max: Duration,
}

impl Summary {
    /// Summarises `sample` (sorted in place). Panics on an empty sample.
    pub fn of(sample: &mut [Duration]) -> Summary {
        assert!(!sample.is_empty(), "empty sample");
        sample.sort_unstable();
        let at = |q: f64| sample[((sample.len() - 1) as f64 * q).round() as usize];
        Summary {
            min: sample[0],
            median: at(0.5),
            p99: at(0.99),
            max: sample[sample.len() - 1],
        }
    }
}

/// A duration in microseconds with one decimal, for tables.
pub fn micros(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_picks_order_statistics() {
        let mut sample: Vec<_> = (1..=100).rev().map(Duration::from_micros).collect();
        let s = Summary::of(&mut sample);
        assert_eq!(s.min, Duration::from_micros(1));
        assert_eq!(s.median, Duration::from_micros(51));
        assert_eq!(s.p99, Duration::from_micros(99));
        assert_eq!(s.max, Duration::from_micros(100));
    }
}
