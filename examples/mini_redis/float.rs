//! `INCRBYFLOAT`'s arithmetic in C's `long double`, as Redis does it.
//!
//! On x86-64 Linux a `long double` is the x87's 80-bit extended format (a
//! 64-bit mantissa), so Redis's `1 + -1.1` is `-0.1` to 17 decimals where
//! an `f64`'s is `-0.10000000000000009`. To answer byte for byte, the
//! arguments are read by the C library's own `strtold` (called from an
//! `asm!` block, which stores the x87 register it returns in), added by
//! the x87's `fadd`, and printed here exactly as
//! `%.17Lf` prints (Redis's `ld2string` in its human mode). Elsewhere an
//! `f64` stands in, and the last digits may differ from Redis's.

/// Redis's text for an argument or value that is not a float.
pub const NOT_A_FLOAT: &str = "ERR value is not a valid float";
/// Redis's text for a sum that is not finite.
pub const NOT_FINITE: &str = "ERR increment would produce NaN or Infinity";

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
pub use x87::incr_by_float;

#[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
pub use f64_sum::incr_by_float;

/// The `long double` path: C's parser, the x87's adder, `%.17Lf` here.
#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod x87 {
    use std::ffi::c_int;

    use super::{NOT_A_FLOAT, NOT_FINITE};

    /// Redis's buffer for a float's text (`MAX_LONG_DOUBLE_CHARS`): a
    /// longer argument is not a float.
    const MAX_CHARS: usize = 5 * 1024;

    /// `current + by` as Redis's `INCRBYFLOAT` prints it.
    ///
    /// # Errors
    /// [`NOT_A_FLOAT`] when either is not a float as `string2ld` reads one,
    /// [`NOT_FINITE`] when the sum overflows.
    pub fn incr_by_float(current: &[u8], by: &[u8]) -> Result<String, &'static str> {
        let (Some(a), Some(b)) = (parse(current), parse(by)) else {
            return Err(NOT_A_FLOAT);
        };
        let sum = add(a, b);
        if sum.is_special() {
            return Err(NOT_FINITE);
        }
        let mut text = sum.to_fixed_17();
        // `ld2string`: trailing zeros after the point go, then the point; no -0.
        if text.contains('.') {
            let kept = text.trim_end_matches('0').trim_end_matches('.').len();
            text.truncate(kept);
        }
        if text == "-0" {
            text = "0".to_string();
        }
        Ok(text)
    }

    /// An 80-bit extended value as the x87 stores it: the 64-bit mantissa
    /// (its integer bit explicit), then the sign and the biased exponent.
    #[derive(Clone, Copy, Debug)]
    struct F80([u8; 16]);

    impl F80 {
        fn mantissa(self) -> u64 {
            let mut low = [0u8; 8];
            low.copy_from_slice(&self.0[..8]);
            u64::from_le_bytes(low)
        }

        fn sign_exponent(self) -> u16 {
            u16::from_le_bytes([self.0[8], self.0[9]])
        }

        /// An infinity or a NaN (the exponent all ones).
        fn is_special(self) -> bool {
            self.sign_exponent() & 0x7fff == 0x7fff
        }

        /// A NaN: all-ones exponent, a fraction other than zero.
        fn is_nan(self) -> bool {
            self.is_special() && self.mantissa() << 1 != 0
        }

        fn is_zero(self) -> bool {
            self.mantissa() == 0
        }

        /// The value printed as C's `%.17Lf` prints it: every integer digit,
        /// then 17 decimals, rounded to nearest, ties to even (glibc rounds the
        /// exact binary value).
        fn to_fixed_17(self) -> String {
            const SCALE: u128 = 100_000_000_000_000_000; // 10^17
            let sign = if self.sign_exponent() & 0x8000 != 0 {
                "-"
            } else {
                ""
            };
            let m = self.mantissa();
            // value = m * 2^e; a denormal's exponent is that of the smallest
            // normal one.
            let biased = i32::from(self.sign_exponent() & 0x7fff).max(1);
            let e = biased - 16383 - 63;
            if e >= 0 {
                return format!("{sign}{}.{:017}", shifted_decimal(m, e as u32), 0);
            }
            let s = e.unsigned_abs();
            let (mut int_part, fraction) = if s >= 64 {
                (0, u128::from(m))
            } else {
                (m >> s, u128::from(m & ((1u64 << s) - 1)))
            };
            // fraction * 10^17 < 2^64 * 2^57: it fits, and past 2^121 of
            // scale the 17 decimals round to zero.
            let mut decimals = 0u128;
            if s < 122 {
                let product = fraction * SCALE;
                decimals = product >> s;
                let rest = product & ((1u128 << s) - 1);
                let half = 1u128 << (s - 1);
                if rest > half || (rest == half && decimals & 1 == 1) {
                    decimals += 1;
                }
                if decimals == SCALE {
                    decimals = 0;
                    int_part += 1;
                }
            }
            format!("{sign}{int_part}.{decimals:017}")
        }
    }

    /// The decimal digits of `m * 2^e`, an integer of any size (a `long
    /// double` reaches 2^16384): limbs of nine digits, doubled 29 bits at a
    /// time.
    fn shifted_decimal(m: u64, mut e: u32) -> String {
        const LIMB: u64 = 1_000_000_000;
        let mut limbs = vec![m % LIMB, (m / LIMB) % LIMB, m / LIMB / LIMB]; // little end first
        while e > 0 {
            let step = e.min(29);
            let mut carry = 0u64;
            for limb in &mut limbs {
                let v = (*limb << step) + carry;
                *limb = v % LIMB;
                carry = v / LIMB;
            }
            while carry > 0 {
                limbs.push(carry % LIMB);
                carry /= LIMB;
            }
            e -= step;
        }
        while limbs.len() > 1 && limbs.last() == Some(&0) {
            limbs.pop();
        }
        let mut text = limbs.last().map_or(String::new(), u64::to_string);
        for limb in limbs.iter().rev().skip(1) {
            text.push_str(&format!("{limb:09}"));
        }
        text
    }

    /// `string2ld`: the whole argument read by `strtold`, no leading space, no
    /// NaN, no overflow to infinity or underflow to zero.
    fn parse(bytes: &[u8]) -> Option<F80> {
        let c_space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
        if bytes.is_empty() || bytes.len() >= MAX_CHARS || c_space(bytes[0]) || bytes.contains(&0) {
            return None;
        }
        let mut text = bytes.to_vec();
        text.push(0);
        let (value, used, errno) = strtold(&text);
        const ERANGE: c_int = 34;
        let out_of_range = errno == ERANGE && (value.is_special() || value.is_zero());
        if used != bytes.len() || out_of_range || value.is_nan() {
            return None;
        }
        Some(value)
    }

    /// C's `strtold` on the NUL-terminated `text`: (the value, how many
    /// bytes it read, `errno` after it). The call is in `sys.rs`.
    fn strtold(text: &[u8]) -> (F80, usize, c_int) {
        let (value, used, errno) = crate::sys::strtold(text);
        (F80(value), used, errno)
    }

    /// `a + b` by the x87 (`sys.rs`).
    fn add(a: F80, b: F80) -> F80 {
        F80(crate::sys::x87_add(&a.0, &b.0))
    }
}

/// Without the x87: `f64`s, parsed and printed as close to Redis as an
/// `f64` allows (the last digits of a sum may differ).
#[cfg(not(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu")))]
mod f64_sum {
    use super::{NOT_A_FLOAT, NOT_FINITE};

    /// `current + by` in `f64`.
    ///
    /// # Errors
    /// As the `long double` path.
    pub fn incr_by_float(current: &[u8], by: &[u8]) -> Result<String, &'static str> {
        let (Some(a), Some(b)) = (parse(current), parse(by)) else {
            return Err(NOT_A_FLOAT);
        };
        let sum = a + b;
        if !sum.is_finite() {
            return Err(NOT_FINITE);
        }
        let shortest = format!("{sum}");
        let decimals = shortest.split_once('.').map_or(0, |(_, d)| d.len());
        let mut text = if decimals <= 17 {
            shortest
        } else {
            let fixed = format!("{sum:.17}");
            fixed
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        };
        if text == "-0" {
            text = "0".to_string();
        }
        Ok(text)
    }

    fn parse(bytes: &[u8]) -> Option<f64> {
        let text = std::str::from_utf8(bytes).ok()?;
        if text.is_empty() || text.starts_with(|c: char| c.is_ascii_whitespace()) {
            return None;
        }
        let value: f64 = text.parse().ok()?;
        let literal_infinity = text.to_ascii_lowercase().contains("inf");
        (!value.is_nan() && (value.is_finite() || literal_infinity)).then_some(value)
    }
}
