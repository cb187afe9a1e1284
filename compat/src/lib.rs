//! corio-compat
