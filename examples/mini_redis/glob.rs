//! Redis's glob patterns (`stringmatchlen`), for `KEYS`, `SCAN MATCH`,
//! `PSUBSCRIBE` and `PUBSUB CHANNELS`.

/// Matches `text` against a Redis glob `pattern` (`stringmatchlen`): `*`,
/// `?`, `[abc]`, `[^a-z]`, and `\` escaping the next byte.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    // Iterative with one backtrack point for the last `*`: linear in
    // practice, never recursive (a hostile pattern cannot blow the stack).
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() {
            // How far the pattern moves if it matches this byte.
            let advance = match pattern[p] {
                b'*' => {
                    star = Some((p, t));
                    p += 1;
                    continue;
                }
                b'?' => Some(1),
                b'[' => match class_match(pattern, p, text[t]) {
                    (true, next) => Some(next - p),
                    (false, _) => None,
                },
                b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == text[t]).then_some(2),
                c => (c == text[t]).then_some(1),
            };
            if let Some(n) = advance {
                p += n;
                t += 1;
                continue;
            }
        }
        // Mismatch: let the last star eat one more byte, or fail.
        match star {
            Some((sp, st)) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class opening at `pattern[open] == b'['`:
/// (matched, index after the class). An unclosed class runs to the end.
fn class_match(pattern: &[u8], open: usize, c: u8) -> (bool, usize) {
    let mut i = open + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (lo, hi) = (
                pattern[i].min(pattern[i + 2]),
                pattern[i].max(pattern[i + 2]),
            );
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    let next = (i + 1).min(pattern.len());
    (matched != negate, next)
}
