//! [`Events`]: the interest and readiness bit set of a selector key.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign, Not};

/// A set of I/O events: [`EVENT_READ`], [`EVENT_WRITE`], or both.
///
/// Mirrors the integer masks of Python's `selectors` module
/// (`selectors.EVENT_READ | selectors.EVENT_WRITE`); differs in being its own
/// type, so that a mask cannot be confused with a file descriptor.
///
/// The set is what a caller registers interest in, and also what
/// [`select`](crate::Selector::select) reports as ready.
///
/// # Examples
///
/// ```
/// use corio_reactor::{Events, EVENT_READ, EVENT_WRITE};
///
/// let both = EVENT_READ | EVENT_WRITE;
/// assert!(both.is_readable() && both.is_writable());
/// assert_eq!(both & EVENT_WRITE, EVENT_WRITE);
/// assert!(Events::NONE.is_empty());
/// // Unknown bits can be expressed, and a selector refuses them.
/// assert!(!Events::from_bits_retain(0b100).is_valid());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Events(u32);

/// Interest in (or readiness for) reading. Python's `selectors.EVENT_READ`.
pub const EVENT_READ: Events = Events(1);
/// Interest in (or readiness for) writing. Python's `selectors.EVENT_WRITE`.
pub const EVENT_WRITE: Events = Events(2);

impl Events {
    /// The empty set. Registering it is an error, as in Python.
    pub const NONE: Events = Events(0);
    /// Same as [`EVENT_READ`].
    pub const READ: Events = EVENT_READ;
    /// Same as [`EVENT_WRITE`].
    pub const WRITE: Events = EVENT_WRITE;
    /// Every bit a selector knows: `EVENT_READ | EVENT_WRITE`.
    pub const ALL: Events = Events(EVENT_READ.0 | EVENT_WRITE.0);

    /// Builds a set from raw bits, keeping bits that mean nothing.
    ///
    /// Mirrors passing an arbitrary `int` as `events` in Python; the selector
    /// then answers with [`SelectorError::InvalidEvents`](crate::SelectorError::InvalidEvents),
    /// as Python answers with `ValueError`.
    pub const fn from_bits_retain(bits: u32) -> Events {
        Events(bits)
    }

    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when the set is non-empty and holds only known bits: what
    /// `register` and `modify` accept.
    pub const fn is_valid(self) -> bool {
        self.0 != 0 && self.0 & !Events::ALL.0 == 0
    }

    /// True when every bit of `other` is in `self`.
    pub const fn contains(self, other: Events) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when [`EVENT_READ`] is in the set.
    pub const fn is_readable(self) -> bool {
        self.contains(EVENT_READ)
    }

    /// True when [`EVENT_WRITE`] is in the set.
    pub const fn is_writable(self) -> bool {
        self.contains(EVENT_WRITE)
    }
}

impl BitOr for Events {
    type Output = Events;
    fn bitor(self, rhs: Events) -> Events {
        Events(self.0 | rhs.0)
    }
}

impl BitOrAssign for Events {
    fn bitor_assign(&mut self, rhs: Events) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Events {
    type Output = Events;
    fn bitand(self, rhs: Events) -> Events {
        Events(self.0 & rhs.0)
    }
}

impl Not for Events {
    type Output = Events;
    /// The complement within the known bits.
    fn not(self) -> Events {
        Events(!self.0 & Events::ALL.0)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names = Vec::new();
        if self.is_readable() {
            names.push("EVENT_READ".to_string());
        }
        if self.is_writable() {
            names.push("EVENT_WRITE".to_string());
        }
        let unknown = self.0 & !Events::ALL.0;
        if unknown != 0 {
            names.push(format!("{unknown:#x}"));
        }
        if names.is_empty() {
            f.write_str("Events(NONE)")
        } else {
            write!(f, "Events({})", names.join(" | "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_names_every_bit() {
        assert_eq!(format!("{:?}", Events::NONE), "Events(NONE)");
        assert_eq!(
            format!("{:?}", EVENT_READ | EVENT_WRITE),
            "Events(EVENT_READ | EVENT_WRITE)"
        );
        assert_eq!(
            format!("{:?}", Events::from_bits_retain(0b101)),
            "Events(EVENT_READ | 0x4)"
        );
    }

    #[test]
    fn validity_rules_match_python() {
        assert!(EVENT_READ.is_valid());
        assert!(Events::ALL.is_valid());
        assert!(!Events::NONE.is_valid());
        assert!(!Events::from_bits_retain(8).is_valid());
        assert!(!Events::from_bits_retain(8 | 1).is_valid());
        assert_eq!(!EVENT_READ, EVENT_WRITE);
    }
}
