//! Write-side flow control, asyncio's `_FlowControlMixin`: a transport's
//! write buffer has a high- and a low-water mark; the protocol is told
//! `pause_writing` once when the buffer goes over the high mark and
//! `resume_writing` once when it drains to the low mark. Stream and
//! datagram transports share it, as asyncio's do.

use std::io;

/// Default high-water mark of a transport's write buffer (asyncio: 64 KiB).
pub const DEFAULT_HIGH_WATER: usize = 64 * 1024;
/// Default low-water mark: `high / 4` (asyncio: 16 KiB).
pub const DEFAULT_LOW_WATER: usize = DEFAULT_HIGH_WATER / 4;

/// The water marks and whether the protocol is paused.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowControl {
    high: usize,
    low: usize,
    /// `pause_writing` was called and `resume_writing` not yet (asyncio's
    /// `_protocol_paused`).
    paused: bool,
}

impl Default for FlowControl {
    fn default() -> FlowControl {
        FlowControl {
            high: DEFAULT_HIGH_WATER,
            low: DEFAULT_LOW_WATER,
            paused: false,
        }
    }
}

impl FlowControl {
    /// asyncio's `_maybe_pause_protocol`: true when the protocol must be
    /// told `pause_writing` now (over the high mark, not paused yet).
    pub(crate) fn pause_due(&mut self, buffered: usize) -> bool {
        let pause = !self.paused && buffered > self.high;
        self.paused |= pause;
        pause
    }

    /// asyncio's `_maybe_resume_protocol`: true when the protocol must be
    /// told `resume_writing` now (paused, and drained to the low mark).
    pub(crate) fn resume_due(&mut self, buffered: usize) -> bool {
        let resume = self.paused && buffered <= self.low;
        self.paused &= !resume;
        resume
    }

    /// asyncio's `set_write_buffer_limits(high, low)`: `low` defaults to
    /// `high / 4`.
    ///
    /// # Errors
    /// `InvalidInput` when `low > high`, and nothing changes.
    pub(crate) fn set_limits(&mut self, high: usize, low: Option<usize>) -> io::Result<()> {
        let low = low.unwrap_or(high / 4);
        if low > high {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("high ({high}) must be >= low ({low}) must be >= 0"),
            ));
        }
        (self.high, self.low) = (high, low);
        Ok(())
    }

    /// The water marks `(low, high)`, as asyncio's
    /// `get_write_buffer_limits()` orders them.
    pub(crate) fn limits(&self) -> (usize, usize) {
        (self.low, self.high)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_once_over_the_high_mark_and_resume_once_at_the_low_mark() {
        let mut flow = FlowControl::default();
        assert!(!flow.pause_due(DEFAULT_HIGH_WATER), "at the mark: not over");
        assert!(flow.pause_due(DEFAULT_HIGH_WATER + 1));
        assert!(!flow.pause_due(10 * DEFAULT_HIGH_WATER), "told once");
        assert!(!flow.resume_due(DEFAULT_LOW_WATER + 1));
        assert!(flow.resume_due(DEFAULT_LOW_WATER));
        assert!(!flow.resume_due(0), "told once");
    }

    #[test]
    fn limits_default_low_to_a_quarter_and_refuse_low_over_high() {
        let mut flow = FlowControl::default();
        flow.set_limits(1000, None).unwrap();
        assert_eq!(flow.limits(), (250, 1000));
        assert!(flow.set_limits(10, Some(11)).is_err());
        assert_eq!(flow.limits(), (250, 1000), "unchanged");
        flow.set_limits(0, Some(0)).unwrap();
        assert!(flow.pause_due(1), "high 0: any byte pauses");
    }
}
