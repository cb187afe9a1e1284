//! RESP2, the Redis protocol: the request parser and the reply encoders.
//!
//! No I/O here: the parser takes whatever bytes have arrived and says how
//! many it consumed, so the same code serves corio's protocol layer, its
//! streams, the tokio peer of the benchmark and the property test.
//!
//! A request is either *multibulk* (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`, what
//! clients send) or *inline* (`GET k\r\n`, what a person types into
//! `telnet` or `nc`). The limits and the error texts are Redis's own
//! (`processMultibulkBuffer` and `processInlineBuffer` in `networking.c`):
//! after a protocol error Redis replies with the error and closes the
//! connection, and so does this server.

// Shared with the tests and the benchmark (`#[path]`): not every user
// calls every function.
#![allow(dead_code)]

#[path = "glob.rs"]
mod glob;

pub use glob::glob_match;

use std::fmt;
use std::ops::Range;

/// The longest bulk string accepted (Redis's `proto-max-bulk-len`, 512 MB):
/// a longer one is refused from its header, before anything is allocated.
pub const MAX_BULK_LEN: usize = 512 * 1024 * 1024;
/// The most arguments one multibulk request may announce (Redis 7's
/// `INT_MAX`). The parser allocates per argument as it arrives, never
/// from the count.
pub const MAX_MULTIBULK_COUNT: usize = i32::MAX as usize;
/// The longest line without its `\r\n` (Redis's `PROTO_INLINE_MAX_SIZE`):
/// an inline request, or the header of a multibulk or bulk.
pub const MAX_INLINE: usize = 64 * 1024;

/// A malformed request. Its `Display` is the text Redis sends after `-ERR `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// An inline request longer than [`MAX_INLINE`] with no newline yet.
    TooBigInline,
    /// A `*count` line longer than [`MAX_INLINE`].
    TooBigMultibulkCount,
    /// A `$len` line longer than [`MAX_INLINE`].
    TooBigBulkCount,
    /// A count that is not a number or is over [`MAX_MULTIBULK_COUNT`].
    InvalidMultibulkLength,
    /// A length that is not a number, is negative or is over [`MAX_BULK_LEN`].
    InvalidBulkLength,
    /// An argument of a multibulk request that does not start with `$`.
    ExpectedDollar(u8),
    /// An inline request with a quote left open.
    UnbalancedQuotes,
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Protocol error: ")?;
        match self {
            ProtocolError::TooBigInline => f.write_str("too big inline request"),
            ProtocolError::TooBigMultibulkCount => f.write_str("too big mbulk count string"),
            ProtocolError::TooBigBulkCount => f.write_str("too big bulk count string"),
            ProtocolError::InvalidMultibulkLength => f.write_str("invalid multibulk length"),
            ProtocolError::InvalidBulkLength => f.write_str("invalid bulk length"),
            ProtocolError::ExpectedDollar(got) => {
                write!(f, "expected '$', got '{}'", char::from(*got))
            }
            ProtocolError::UnbalancedQuotes => f.write_str("unbalanced quotes in request"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// How far [`Parser::parse`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    /// A whole command is ready.
    Ready,
    /// The input ended inside a command: feed the unconsumed bytes again
    /// with more after them.
    NeedMore,
}

/// The incremental request parser.
///
/// A multibulk command that arrives whole in one input is not copied: its
/// arguments are spans of that input (on corio's protocol layer, of the
/// loop's read buffer), borrowed by the [`Command`] that
/// [`feed`](Parser::feed) returns. Only a command cut by the end of an
/// input has what it parsed so far copied into one reused arena (the
/// caller drops consumed bytes), and so has an inline command, whose
/// quotes and escapes rewrite its arguments. Either way a connection in
/// its steady state parses without allocating. The bytes of a half-read
/// line or bulk are left to the caller (not consumed), so the parser
/// never holds more than the input it was given.
#[derive(Debug, Default)]
pub struct Parser {
    /// The arguments' bytes, one after the other, for a command in the
    /// arena (see `in_arena`).
    arena: Vec<u8>,
    /// Where each argument lies: in `arena` when `in_arena`, else in the
    /// input being parsed.
    spans: Vec<Range<usize>>,
    /// The command in progress keeps its arguments in `arena`: it was cut
    /// by the end of an earlier input, or it is inline.
    in_arena: bool,
    /// Arguments still to read of the multibulk command in progress; 0
    /// between commands.
    expected: usize,
    /// The length from a `$len` line whose data has not all arrived.
    bulk_len: Option<usize>,
}

/// A parsed command: its arguments, borrowed from the input it came in
/// or from the parser's arena.
#[derive(Clone, Copy)]
pub struct Command<'a> {
    /// The input the command came in, or the parser's arena.
    bytes: &'a [u8],
    /// Where each argument lies in `bytes`.
    spans: &'a [Range<usize>],
}

impl<'a> Command<'a> {
    /// How many arguments, the command's name included.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True for a command with no arguments at all (never produced by the
    /// parser, which skips empty requests).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Argument `i` (0 is the command's name).
    ///
    /// # Panics
    /// When `i >= len()`.
    pub fn arg(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.spans[i].clone()]
    }

    /// Every argument, in order.
    pub fn args(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let bytes = self.bytes;
        self.spans.iter().map(move |s| &bytes[s.clone()])
    }
}

impl fmt::Debug for Command<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.args().map(String::from_utf8_lossy))
            .finish()
    }
}

/// Finds the first `byte` in `buf`.
fn find(buf: &[u8], byte: u8) -> Option<usize> {
    buf.iter().position(|&b| b == byte)
}

/// Parses a decimal integer the way Redis's `string2ll` does: an optional
/// `-`, digits, no spaces, no `+`, no leading zeros, within `i64`.
pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = i64::from(d - b'0');
        value = if negative {
            value.checked_mul(10)?.checked_sub(d)?
        } else {
            value.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(value)
}

impl Parser {
    /// A parser with nothing read.
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parses from `input`, the bytes after those already consumed.
    /// Returns how many bytes it consumed and the command, once one is
    /// whole; run it, then call [`clear`](Self::clear) before feeding
    /// more. Consumed bytes are never needed again; the rest must be
    /// passed again, followed by what arrives next.
    ///
    /// # Errors
    /// A [`ProtocolError`] for input Redis would refuse; the connection
    /// should get its text as an error reply and be closed.
    pub fn feed<'a>(
        &'a mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Command<'a>>), ProtocolError> {
        let (used, progress) = self.parse(input)?;
        if progress == Progress::NeedMore {
            if self.expected > 0 {
                // Cut: the caller drops what was consumed, so keep it.
                self.move_to_arena(input);
            }
            return Ok((used, None));
        }
        let base = if self.in_arena {
            &self.arena[..]
        } else {
            input
        };
        let command = Command {
            bytes: base,
            spans: &self.spans,
        };
        Ok((used, Some(command)))
    }

    /// Copies the arguments parsed so far out of `input` into the arena,
    /// for a command that goes on in a later input.
    fn move_to_arena(&mut self, input: &[u8]) {
        if self.in_arena {
            return;
        }
        self.in_arena = true;
        for span in &mut self.spans {
            let start = self.arena.len();
            self.arena.extend_from_slice(&input[span.clone()]);
            *span = start..self.arena.len();
        }
    }

    /// [`feed`](Self::feed)'s parsing: (bytes consumed, progress).
    fn parse(&mut self, input: &[u8]) -> Result<(usize, Progress), ProtocolError> {
        let mut pos = 0;
        if self.expected == 0 {
            // Between commands: skip empty requests, then read the header.
            loop {
                let rest = &input[pos..];
                match rest.first() {
                    None => return Ok((pos, Progress::NeedMore)),
                    Some(b'*') => {
                        let Some(cr) = find(rest, b'\r') else {
                            if rest.len() > MAX_INLINE {
                                return Err(ProtocolError::TooBigMultibulkCount);
                            }
                            return Ok((pos, Progress::NeedMore));
                        };
                        if cr > MAX_INLINE {
                            return Err(ProtocolError::TooBigMultibulkCount);
                        }
                        if rest.len() < cr + 2 {
                            return Ok((pos, Progress::NeedMore));
                        }
                        let count = parse_i64(&rest[1..cr])
                            .filter(|&n| n <= MAX_MULTIBULK_COUNT as i64)
                            .ok_or(ProtocolError::InvalidMultibulkLength)?;
                        pos += cr + 2;
                        if count > 0 {
                            self.expected = count as usize;
                            break;
                        }
                        // `*0` and `*-1`: nothing to run.
                    }
                    Some(_) => {
                        let (used, progress) = self.inline(rest)?;
                        pos += used;
                        if progress == Progress::Ready {
                            return Ok((pos, Progress::Ready));
                        }
                        if used == 0 {
                            return Ok((pos, Progress::NeedMore));
                        }
                    }
                }
            }
        }
        // Inside a multibulk command: its arguments, one bulk each.
        while self.expected > 0 {
            let rest = &input[pos..];
            let len = match self.bulk_len {
                Some(len) => len,
                None => {
                    let Some(&first) = rest.first() else {
                        return Ok((pos, Progress::NeedMore));
                    };
                    let Some(cr) = find(rest, b'\r') else {
                        if rest.len() > MAX_INLINE {
                            return Err(ProtocolError::TooBigBulkCount);
                        }
                        return Ok((pos, Progress::NeedMore));
                    };
                    if cr > MAX_INLINE {
                        return Err(ProtocolError::TooBigBulkCount);
                    }
                    if first != b'$' {
                        return Err(ProtocolError::ExpectedDollar(first));
                    }
                    if rest.len() < cr + 2 {
                        return Ok((pos, Progress::NeedMore));
                    }
                    let len = parse_i64(&rest[1..cr])
                        .filter(|&n| (0..=MAX_BULK_LEN as i64).contains(&n))
                        .ok_or(ProtocolError::InvalidBulkLength)?
                        as usize;
                    pos += cr + 2;
                    self.bulk_len = Some(len);
                    len
                }
            };
            let rest = &input[pos..];
            // The data and its `\r\n`, which Redis skips unchecked.
            if rest.len() < len + 2 {
                return Ok((pos, Progress::NeedMore));
            }
            if self.in_arena {
                let start = self.arena.len();
                self.arena.extend_from_slice(&rest[..len]);
                self.spans.push(start..start + len);
            } else {
                self.spans.push(pos..pos + len); // no copy
            }
            pos += len + 2;
            self.bulk_len = None;
            self.expected -= 1;
        }
        Ok((pos, Progress::Ready))
    }

    /// One inline request from the start of `input`: (consumed, progress).
    /// A blank line is consumed with `NeedMore` and no command.
    fn inline(&mut self, input: &[u8]) -> Result<(usize, Progress), ProtocolError> {
        let Some(nl) = find(input, b'\n') else {
            if input.len() > MAX_INLINE {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok((0, Progress::NeedMore));
        };
        if nl > MAX_INLINE {
            return Err(ProtocolError::TooBigInline);
        }
        let mut line = &input[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        // Redis splits the line as a C string: it ends at a NUL.
        if let Some(nul) = find(line, 0) {
            line = &line[..nul];
        }
        // Escapes rewrite the arguments: they go to the arena (a blank
        // line, which has none, leaves the mode as it was).
        let was_in_arena = std::mem::replace(&mut self.in_arena, true);
        split_args(line, &mut self.arena, &mut self.spans)?;
        if self.spans.is_empty() {
            self.in_arena = was_in_arena;
        }
        let progress = if self.spans.is_empty() {
            Progress::NeedMore
        } else {
            Progress::Ready
        };
        Ok((nl + 1, progress))
    }

    /// Forgets the command just run, keeping the arena's memory for the
    /// next one (but not a huge one's: memory stays bounded by what is in
    /// flight).
    pub fn clear(&mut self) {
        self.arena.clear();
        self.spans.clear();
        self.in_arena = false;
        if self.arena.capacity() > 4 * MAX_INLINE {
            self.arena.shrink_to(MAX_INLINE);
        }
        if self.spans.capacity() > 1024 {
            self.spans.shrink_to(64);
        }
    }

    /// Bytes of memory the parser holds (its arena and spans), for the
    /// tests that bound it by the input.
    pub fn memory(&self) -> usize {
        self.arena.capacity() + self.spans.capacity() * std::mem::size_of::<Range<usize>>()
    }

    /// True when no command is half read (the input may end here cleanly).
    pub fn is_idle(&self) -> bool {
        self.expected == 0
    }
}

/// Splits an inline request into arguments as Redis's `sdssplitargs` does:
/// spaces separate, `"..."` takes `\n \r \t \b \a \\ \" \xHH` escapes,
/// `'...'` takes `\'`, and a closing quote must be followed by a space or
/// the end.
fn split_args(
    line: &[u8],
    arena: &mut Vec<u8>,
    spans: &mut Vec<Range<usize>>,
) -> Result<(), ProtocolError> {
    let mut i = 0;
    let start_spans = spans.len();
    let start_arena = arena.len();
    let fail = |arena: &mut Vec<u8>, spans: &mut Vec<Range<usize>>| {
        arena.truncate(start_arena);
        spans.truncate(start_spans);
        Err(ProtocolError::UnbalancedQuotes)
    };
    loop {
        while i < line.len() && line[i].is_c_space() {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = arena.len();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    match line.get(i) {
                        None => return fail(arena, spans),
                        Some(b'\\')
                            if i + 3 < line.len()
                                && line[i + 1] == b'x'
                                && line[i + 2].is_ascii_hexdigit()
                                && line[i + 3].is_ascii_hexdigit() =>
                        {
                            let hex = |b: u8| (b as char).to_digit(16).unwrap_or(0);
                            arena.push((hex(line[i + 2]) * 16 + hex(line[i + 3])) as u8);
                            i += 4;
                        }
                        Some(b'\\') if i + 1 < line.len() => {
                            arena.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        Some(b'"') => {
                            i += 1;
                            if line.get(i).is_some_and(|b| !b.is_c_space()) {
                                return fail(arena, spans);
                            }
                            break;
                        }
                        Some(&b) => {
                            arena.push(b);
                            i += 1;
                        }
                    }
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    match line.get(i) {
                        None => return fail(arena, spans),
                        Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                            arena.push(b'\'');
                            i += 2;
                        }
                        Some(b'\'') => {
                            i += 1;
                            if line.get(i).is_some_and(|b| !b.is_c_space()) {
                                return fail(arena, spans);
                            }
                            break;
                        }
                        Some(&b) => {
                            arena.push(b);
                            i += 1;
                        }
                    }
                }
            }
            _ => {
                while i < line.len() && !line[i].ends_word() {
                    arena.push(line[i]);
                    i += 1;
                }
            }
        }
        spans.push(start..arena.len());
    }
}

/// The bytes `sdssplitargs` treats as spaces. Between arguments, and
/// after a closing quote, it uses C's `isspace` (Rust's
/// `is_ascii_whitespace` plus the vertical tab); inside an unquoted
/// argument only space, tab, CR and LF end it.
trait CSpace {
    fn is_c_space(&self) -> bool;
    fn ends_word(&self) -> bool;
}

impl CSpace for u8 {
    fn is_c_space(&self) -> bool {
        matches!(self, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }
    fn ends_word(&self) -> bool {
        matches!(self, b' ' | b'\t' | b'\n' | b'\r')
    }
}

// ----------------------------------------------------------------- replies

/// Appends the decimal digits of `n` (how Redis stores an integer value
/// as a string, and the digits of every length and integer reply).
pub fn push_int(out: &mut Vec<u8>, n: i64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        digits[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends a status reply: `+OK\r\n`.
pub fn simple(out: &mut Vec<u8>, text: &str) {
    out.push(b'+');
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends an error reply; `text` starts with its code (`ERR ...`).
///
/// An error text may quote a client's bytes, which may hold `\r\n`: as
/// Redis's `addReplyErrorFormat` does, trailing CRs and LFs are dropped
/// and the others become spaces, so a reply is always one line and no
/// client can inject a reply of its own.
pub fn error(out: &mut Vec<u8>, text: impl AsRef<[u8]>) {
    let mut text = text.as_ref();
    while let Some((b'\r' | b'\n', rest)) = text.split_last() {
        text = rest;
    }
    out.push(b'-');
    out.extend(text.iter().map(|&b| match b {
        b'\r' | b'\n' => b' ',
        b => b,
    }));
    out.extend_from_slice(b"\r\n");
}

/// Appends an integer reply: `:42\r\n`.
pub fn integer(out: &mut Vec<u8>, n: i64) {
    out.push(b':');
    push_int(out, n);
    out.extend_from_slice(b"\r\n");
}

/// Appends a bulk string reply: `$3\r\nabc\r\n`.
pub fn bulk(out: &mut Vec<u8>, data: &[u8]) {
    out.push(b'$');
    push_int(out, data.len() as i64);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Appends the nil bulk reply, `$-1\r\n` (a missing key).
pub fn nil(out: &mut Vec<u8>) {
    out.extend_from_slice(b"$-1\r\n");
}

/// Appends a bulk reply, or nil for `None`.
pub fn optional_bulk(out: &mut Vec<u8>, data: Option<&[u8]>) {
    match data {
        Some(data) => bulk(out, data),
        None => nil(out),
    }
}

/// Appends the header of an array of `len` replies: `*2\r\n`.
pub fn array(out: &mut Vec<u8>, len: usize) {
    out.push(b'*');
    push_int(out, len as i64);
    out.extend_from_slice(b"\r\n");
}
