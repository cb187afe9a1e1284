//! mini_redis's calls outside Rust, the only `unsafe` of the example:
//! the realtime clock in milliseconds, glibc's `malloc_trim`, and C's
//! `strtold` and the x87's extended add for `INCRBYFLOAT` (Redis computes
//! it in `long double`). Each has a safe fallback on other targets (the
//! callers choose it for the x87 pair).

/// Milliseconds since the Unix epoch (Redis's `mstime()`).
pub fn realtime_ms() -> i64 {
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    {
        /// `struct timespec` on 64-bit Linux.
        #[repr(C)]
        struct Timespec {
            sec: i64,
            nsec: i64,
        }
        unsafe extern "C" {
            /// POSIX `clock_gettime(2)` (a vDSO call on Linux).
            fn clock_gettime(clock: i32, now: *mut Timespec) -> i32;
        }
        const CLOCK_REALTIME: i32 = 0;
        let mut now = Timespec { sec: 0, nsec: 0 };
        // SAFETY: `now` is a live, writable `struct timespec` of this
        // target's layout; CLOCK_REALTIME always exists, so the call
        // cannot fail (and `now` would stay 0 if it did).
        unsafe {
            clock_gettime(CLOCK_REALTIME, &mut now);
        }
        now.sec * 1000 + now.nsec / 1_000_000
    }
    #[cfg(not(all(target_os = "linux", target_pointer_width = "64")))]
    {
        use std::time::{SystemTime, UNIX_EPOCH};
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| {
            d.as_secs() as i64 * 1000 + i64::from(d.subsec_millis())
        })
    }
}

/// Returns the allocator's free pages to the kernel (glibc's
/// `malloc_trim(0)`; nothing elsewhere).
pub fn malloc_trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            /// glibc's `malloc_trim(3)`.
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: malloc_trim only walks the allocator's own free lists
        // (under its lock); it has no precondition and frees nothing in use.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
pub use x87::{strtold, x87_add};

#[cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]
mod x87 {
    use std::ffi::{c_char, c_int};

    unsafe extern "C" {
        /// C's `long double strtold(const char *, char **)`. Rust has no
        /// type for its result (in the x87's `st(0)`), so it is only ever
        /// called from the `asm!` in [`strtold`], which stores it.
        #[link_name = "strtold"]
        fn c_strtold();
        /// glibc's address of this thread's `errno`.
        fn __errno_location() -> *mut c_int;
    }

    /// C's `strtold` on the NUL-terminated `text`: (the 80-bit value in
    /// 16 bytes, how many bytes it read, `errno` after it).
    pub fn strtold(text: &[u8]) -> ([u8; 16], usize, c_int) {
        assert_eq!(text.last(), Some(&0), "a C string");
        let mut value = [0u8; 16];
        let mut end: *mut c_char = std::ptr::null_mut();
        // SAFETY: `text` is NUL-terminated (asserted). The asm calls
        // strtold(text, &end) by the C ABI: arguments in rdi and rsi, the
        // stack aligned for a call (no `nostack`), every register the ABI
        // lets a callee change declared clobbered; the `long double` it
        // returns in st(0) is popped into `value`'s 16 live bytes through
        // r12, which the callee preserves. errno is this thread's.
        unsafe {
            *__errno_location() = 0;
            std::arch::asm!(
                "call {strtold}",
                "fstp tbyte ptr [r12]",
                strtold = sym c_strtold,
                in("rdi") text.as_ptr(),
                in("rsi") &raw mut end,
                in("r12") value.as_mut_ptr(),
                clobber_abi("C"),
            );
            let used = end.offset_from(text.as_ptr().cast::<c_char>()) as usize;
            (value, used, *__errno_location())
        }
    }

    /// `a + b` by the x87 (extended precision, round to nearest: the
    /// control word Linux starts every thread with).
    pub fn x87_add(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
        let mut sum = [0u8; 16];
        // SAFETY: each pointer is to 16 live bytes, of which the x87 reads
        // or writes 10; the two values pushed are popped again, so the x87
        // stack is left empty as the ABI requires.
        unsafe {
            std::arch::asm!(
                "fld tbyte ptr [{a}]",
                "fld tbyte ptr [{b}]",
                "faddp st(1), st",
                "fstp tbyte ptr [{sum}]",
                a = in(reg) a.as_ptr(),
                b = in(reg) b.as_ptr(),
                sum = in(reg) sum.as_mut_ptr(),
                out("st(0)") _,
                out("st(1)") _,
                options(nostack),
            );
        }
        sum
    }
}
