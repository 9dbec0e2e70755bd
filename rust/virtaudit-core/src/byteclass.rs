//! Byte-class searches, the parser's innermost loops (every byte of every file goes through one of
//! them): control characters, the end of an attribute value, the end of a name. On x86-64 they take
//! sixteen bytes at a time with SSE2, which every x86-64 processor has; elsewhere eight at a time in a
//! word (SWAR) or one by one. Each is tested against a byte-by-byte search over every byte value at
//! every position, on whichever versions the target compiles.

pub(crate) fn is_control(b: u8) -> bool {
    b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')
}

// Eight bytes at a time (SWAR): a byte value in every lane of a word, and the lanes' high bits.
#[cfg(any(test, not(target_arch = "x86_64")))]
const ONES: u64 = 0x0101_0101_0101_0101;
#[cfg(any(test, not(target_arch = "x86_64")))]
const HIGH: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte lane of `word` whose byte is below `n` (at most 0x80), exactly: the sum
/// of a lane's low seven bits and `0x80 - n` stays inside the lane.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn lanes_below(word: u64, n: u8) -> u64 {
    !(((word & !HIGH) + ONES * u64::from(0x80 - n)) | word) & HIGH
}

/// First byte that XML 1.0 forbids as a character (C0 controls other than tab, LF and CR), and whether
/// all bytes are ASCII. Sixteen bytes at a time with SSE2 (part of every x86-64): one signed compare
/// flags both the bytes below 0x20 and those of 0x80 and above, line feeds are unflagged, and only a
/// block with a flag left (a tab, a CR, a control character, non-ASCII text; libvirt writes almost
/// none) is looked at byte by byte. This pass reads every byte of every file: going from eight bytes a
/// step to sixteen saved 7% of the scan's instructions. Where the processor has AVX2 (looked up once and
/// cached by std), thirty-two bytes a step: about 1% of a one-thread scan.
pub(crate) fn find_control_char(data: &[u8]) -> (Option<usize>, bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the processor has AVX2, checked just above.
            return unsafe { find_control_char_avx2(data) };
        }
        // SAFETY: SSE2 is part of the x86-64 baseline: every x86-64 processor has it.
        unsafe { find_control_char_sse2(data) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    find_control_char_swar(data)
}

/// [`find_control_char_sse2`] with 32-byte blocks.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn find_control_char_avx2(data: &[u8]) -> (Option<usize>, bool) {
    use std::arch::x86_64::{
        _mm256_andnot_si256, _mm256_cmpeq_epi8, _mm256_cmpgt_epi8, _mm256_loadu_si256,
        _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let space = _mm256_set1_epi8(0x20);
    let line_feed = _mm256_set1_epi8(b'\n' as i8);
    let mut ascii = true;
    let mut chunks = data.chunks_exact(32);
    for (i, chunk) in chunks.by_ref().enumerate() {
        // SAFETY: `chunk` holds 32 readable bytes, and an unaligned load has no alignment needs.
        let block = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
        // (signed: `0x20 > byte` flags the bytes below 0x20 and those of 0x80 and above)
        let flagged = _mm256_andnot_si256(
            _mm256_cmpeq_epi8(block, line_feed),
            _mm256_cmpgt_epi8(space, block),
        );
        if _mm256_movemask_epi8(flagged) != 0 {
            if let Some(p) = chunk.iter().position(|&b| is_control(b)) {
                return (Some(i * 32 + p), false);
            }
            ascii &= chunk.is_ascii();
        }
    }
    let tail = chunks.remainder();
    let start = data.len() - tail.len();
    (
        tail.iter().position(|&b| is_control(b)).map(|p| start + p),
        ascii && tail.is_ascii(),
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn find_control_char_sse2(data: &[u8]) -> (Option<usize>, bool) {
    use std::arch::x86_64::{
        _mm_andnot_si128, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_set1_epi8,
    };
    let below_space = _mm_set1_epi8(0x20);
    let line_feed = _mm_set1_epi8(b'\n' as i8);
    let mut ascii = true;
    let mut chunks = data.chunks_exact(16);
    for (i, chunk) in chunks.by_ref().enumerate() {
        // SAFETY: `chunk` holds 16 readable bytes, and an unaligned load has no alignment needs.
        let block = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let flagged = _mm_andnot_si128(
            _mm_cmpeq_epi8(block, line_feed),
            _mm_cmplt_epi8(block, below_space),
        );
        if _mm_movemask_epi8(flagged) != 0 {
            if let Some(p) = chunk.iter().position(|&b| is_control(b)) {
                return (Some(i * 16 + p), false);
            }
            ascii &= chunk.is_ascii();
        }
    }
    let tail = chunks.remainder();
    let start = data.len() - tail.len();
    (
        tail.iter().position(|&b| is_control(b)).map(|p| start + p),
        ascii && tail.is_ascii(),
    )
}

/// The same, eight bytes at a time in a word (SWAR), where SSE2 is not there: a word whose bytes below
/// 0x20 are all line feeds needs no closer look.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn find_control_char_swar(data: &[u8]) -> (Option<usize>, bool) {
    let mut any_high = 0u64;
    let mut chunks = data.chunks_exact(8);
    for (i, chunk) in chunks.by_ref().enumerate() {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        any_high |= word;
        let line_feeds = lanes_below(word ^ (ONES * u64::from(b'\n')), 1);
        if lanes_below(word, 0x20) & !line_feeds != 0
            && let Some(p) = chunk.iter().position(|&b| is_control(b))
        {
            return (Some(i * 8 + p), false);
        }
    }
    let tail = chunks.remainder();
    let start = data.len() - tail.len();
    let ascii = any_high & HIGH == 0 && tail.is_ascii();
    (
        tail.iter().position(|&b| is_control(b)).map(|p| start + p),
        ascii,
    )
}

/// Bytes of the simple attribute names that the fast paths accept (ASCII letters, digits, `_-:.`).
static NAME_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b':' | b'.');
        b += 1;
    }
    table
};

/// Bytes that end a plain attribute value, or make it not plain (a reference, `<`, a tab or line end,
/// which the checked path normalises or refuses).
static VALUE_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(b as u8, b'\'' | b'"' | b'&' | b'<' | b'\t' | b'\n' | b'\r');
        b += 1;
    }
    table
};

/// Offset of the first [`VALUE_STOP`] byte. Values are short (most under 16 bytes), so one SSE2 block
/// usually holds the whole value and its closing quote: one signed compare flags the bytes below 0x28
/// (the quotes, `&`, tab, line ends, and space, which does not stop) and those of 0x80 and above, one
/// more the `<`; the flagged bytes are then checked against the table in order.
pub(crate) fn find_value_stop(bytes: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline.
    return unsafe { find_value_stop_sse2(bytes) };
    #[cfg(not(target_arch = "x86_64"))]
    find_value_stop_swar(bytes)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn find_value_stop_sse2(bytes: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };
    let below = _mm_set1_epi8(0x28);
    let less_than = _mm_set1_epi8(b'<' as i8);
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 16) {
        // SAFETY: `chunk` holds 16 readable bytes; the load has no alignment needs.
        let block = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let flagged = _mm_or_si128(
            _mm_cmplt_epi8(block, below),
            _mm_cmpeq_epi8(block, less_than),
        );
        let mut candidates = _mm_movemask_epi8(flagged) as u32;
        while candidates != 0 {
            let at = i + candidates.trailing_zeros() as usize;
            if VALUE_STOP[usize::from(bytes[at])] {
                return Some(at);
            }
            candidates &= candidates - 1;
        }
        i += 16;
    }
    bytes[i..]
        .iter()
        .position(|&c| VALUE_STOP[usize::from(c)])
        .map(|p| i + p)
}

/// [`find_value_stop`] eight bytes at a time in a word (SWAR), where SSE2 is not there: a word is passed over when none of
/// its bytes is below 0x28 (which covers the quotes, `&`, tab and line ends) or equal to `<`; a word
/// that has one (a space, say) is looked at byte by byte from its first candidate.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn find_value_stop_swar(bytes: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let lt = word.wrapping_sub(ONES * 0x28) & !word & HIGH;
        let lt_eq = word ^ (ONES * u64::from(b'<'));
        let candidates = lt | (lt_eq.wrapping_sub(ONES) & !lt_eq & HIGH);
        if candidates == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged lane is exact (borrows only run upwards), so nothing before it stops.
        let first = i + (candidates.trailing_zeros() / 8) as usize;
        if VALUE_STOP[usize::from(bytes[first])] {
            return Some(first);
        }
        i = first + 1;
    }
    bytes[i..]
        .iter()
        .position(|&c| VALUE_STOP[usize::from(c)])
        .map(|p| i + p)
}

/// How many bytes at the start of `bytes` are [`NAME_BYTE`]s (all of them: `bytes.len()`). Names are
/// short and of every length, so a byte-by-byte loop mispredicts its exit at nearly every name; one
/// SSE2 block classifies sixteen bytes (letters by folding case, digits, `_-:.`) without a branch each.
pub(crate) fn name_len(bytes: &[u8]) -> usize {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline.
    return unsafe { name_len_sse2(bytes) };
    #[cfg(not(target_arch = "x86_64"))]
    name_len_scalar(bytes)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn name_len_scalar(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .position(|&c| !NAME_BYTE[usize::from(c)])
        .unwrap_or(bytes.len())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn name_len_sse2(bytes: &[u8]) -> usize {
    use std::arch::x86_64::{
        _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8,
    };
    let byte = |b: u8| _mm_set1_epi8(b as i8);
    // Whether each byte lies in `first..first + len`: one add and one signed compare. Adding
    // `0x80 - first` (wrapping) moves exactly that range to the lowest signed values,
    // `-128..-128 + len`. (Two compares and an `and` per range, and one compare for each of `_-:.`,
    // before: this test runs for every attribute name, and the change took 1.5% off a scan's
    // instructions.)
    let in_range = |v, first: u8, len: u8| {
        _mm_cmplt_epi8(
            _mm_add_epi8(v, byte(0x80u8.wrapping_sub(first))),
            byte(0x80 + len),
        )
    };
    let mut i = 0;
    while let Some(chunk) = bytes.get(i..i + 16) {
        // SAFETY: `chunk` holds 16 readable bytes; the load has no alignment needs.
        let v = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        // Setting bit 5 folds exactly the letters A-Z onto a-z (and nothing else onto a-z).
        let letter = in_range(_mm_or_si128(v, byte(0x20)), b'a', 26);
        // `0`-`9` and `:` are adjacent (0x30-0x3A), as are `-` and `.` (0x2D-0x2E).
        let digit_colon = in_range(v, b'0', 11);
        let dash_dot = in_range(v, b'-', 2);
        let underscore = _mm_cmpeq_epi8(v, byte(b'_'));
        let name = _mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(letter, digit_colon),
            _mm_or_si128(dash_dot, underscore),
        )) as u32;
        let others = !name & 0xFFFF;
        if others != 0 {
            return i + others.trailing_zeros() as usize;
        }
        i += 16;
    }
    i + bytes[i..]
        .iter()
        .position(|&c| !NAME_BYTE[usize::from(c)])
        .unwrap_or(bytes.len() - i)
}

/// Offset of the `>` that ends a start tag, passing over quoted attribute values (which may hold `>`);
/// `None` where there is no such `>` or a quoted value does not end. Every start tag at the domain's
/// level goes through this: with SSE2 the `>` and both quote characters of sixteen bytes are found at
/// once, and the scan jumps from one to the next instead of branching at every byte.
pub(crate) fn tag_end(tag: &[u8]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE2 is part of the x86-64 baseline.
    return unsafe { tag_end_sse2(tag) };
    #[cfg(not(target_arch = "x86_64"))]
    tag_end_scalar(tag)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
fn tag_end_scalar(tag: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < tag.len() {
        match tag[i] {
            b'>' => return Some(i),
            quote @ (b'\'' | b'"') => i += 1 + tag[i + 1..].iter().position(|&b| b == quote)?,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn tag_end_sse2(tag: &[u8]) -> Option<usize> {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let (gt, apos, quot) = (
        _mm_set1_epi8(b'>' as i8),
        _mm_set1_epi8(b'\'' as i8),
        _mm_set1_epi8(b'"' as i8),
    );
    // The quote that ends the value we are in, or 0 outside values.
    let mut inside = 0u8;
    let mut i = 0;
    while let Some(chunk) = tag.get(i..i + 16) {
        // SAFETY: `chunk` holds 16 readable bytes; the load has no alignment needs.
        let block = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
        let gts = _mm_movemask_epi8(_mm_cmpeq_epi8(block, gt)) as u32;
        let apostrophes = _mm_movemask_epi8(_mm_cmpeq_epi8(block, apos)) as u32;
        let quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(block, quot)) as u32;
        // Bits below `from` are passed already (at most 16, so the shift stays below 32).
        let mut from = 0u32;
        loop {
            let ahead = u32::MAX << from;
            let next = match inside {
                0 => (gts | apostrophes | quotes) & ahead,
                b'\'' => apostrophes & ahead,
                _ => quotes & ahead,
            };
            if next == 0 {
                break;
            }
            let bit = next.trailing_zeros();
            if inside != 0 {
                inside = 0;
            } else if gts >> bit & 1 != 0 {
                return Some(i + bit as usize);
            } else {
                inside = chunk[bit as usize];
            }
            from = bit + 1;
        }
        i += 16;
    }
    for (j, &c) in tag.iter().enumerate().skip(i) {
        if inside != 0 {
            if c == inside {
                inside = 0;
            }
        } else if c == b'>' {
            return Some(j);
        } else if c == b'\'' || c == b'"' {
            inside = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_stops_are_found_like_a_byte_by_byte_search() {
        value_stops_are_found_by(find_value_stop);
        value_stops_are_found_by(find_value_stop_swar);
    }

    fn value_stops_are_found_by(find_value_stop: fn(&[u8]) -> Option<usize>) {
        let naive = |s: &[u8]| s.iter().position(|&c| VALUE_STOP[usize::from(c)]);
        // Every byte value at every position of a 40-byte run, after a prefix of each filler that the
        // word test flags without stopping (space, `!`, `%`) or passes over (letters, UTF-8 bytes).
        for filler in [b'a', b' ', b'!', b'%', 0xC3, b'='] {
            for at in 0..40 {
                for byte in 0..=255u8 {
                    let mut data = vec![filler; 40];
                    data[at] = byte;
                    assert_eq!(find_value_stop(&data), naive(&data), "{filler} {at} {byte}");
                }
            }
        }
        assert_eq!(find_value_stop(b""), None);
        assert_eq!(find_value_stop(b"ua-net0'/>"), Some(7));
    }

    #[test]
    fn control_characters_are_found_anywhere() {
        control_characters_are_found_by(find_control_char);
        control_characters_are_found_by(find_control_char_swar);
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of the x86-64 baseline.
            control_characters_are_found_by(|data| unsafe { find_control_char_sse2(data) });
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the processor has AVX2, checked just above.
                control_characters_are_found_by(|data| unsafe { find_control_char_avx2(data) });
            }
        }
    }

    fn control_characters_are_found_by(find_control_char: fn(&[u8]) -> (Option<usize>, bool)) {
        assert_eq!(find_control_char(b"<a>\n\t\r text</a>"), (None, true));
        assert_eq!(find_control_char("<a>é</a>".as_bytes()), (None, false));
        for at in 0..72 {
            let mut data = vec![b'x'; 72];
            data[at] = 0x01;
            assert_eq!(find_control_char(&data).0, Some(at));
            data[at] = 0;
            assert_eq!(find_control_char(&data).0, Some(at));
            data[at] = 0xC3;
            assert_eq!(find_control_char(&data), (None, false));
        }
        // Against a byte-by-byte search, with the allowed characters below 0x20 (and 0x7F, 0x80, 0x9F,
        // 0xA0, which are not controls for XML) around every byte value.
        for filler in [
            *b"\n\t ",
            *b"\r\n\n",
            [0x7F, 0x80, b'\n'],
            [0x9F, 0xA0, b' '],
        ] {
            for at in 0..72 {
                for byte in 0..=255u8 {
                    let mut data: Vec<u8> = filler.iter().copied().cycle().take(72).collect();
                    data[at] = byte;
                    let expected = data.iter().position(|&b| is_control(b));
                    let (found, ascii) = find_control_char(&data);
                    assert_eq!(found, expected, "{filler:?} {at} {byte}");
                    if found.is_none() {
                        assert_eq!(ascii, data.is_ascii(), "{filler:?} {at} {byte}");
                    }
                }
            }
        }
    }

    #[test]
    fn names_are_measured_like_a_byte_by_byte_search() {
        for filler in [b'a', b'Z', b'0', b'_', b'-', b':', b'.'] {
            for len in [0usize, 1, 15, 16, 17, 31, 32, 40] {
                for at in 0..len {
                    for byte in 0..=255u8 {
                        let mut data = vec![filler; len];
                        data[at] = byte;
                        assert_eq!(
                            name_len(&data),
                            name_len_scalar(&data),
                            "{filler} {len} {at} {byte}"
                        );
                    }
                }
                assert_eq!(name_len(&vec![filler; len]), len);
            }
        }
    }

    #[test]
    fn tag_ends_are_found_like_a_byte_by_byte_scan() {
        // Random tags over the bytes that matter (and a filler), of every length up to 70, so that
        // quotes open and close across block boundaries; then every byte value at every position.
        let alphabet = [b'a', b' ', b'\'', b'"', b'>', b'=', b'/'];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 71) as usize;
            let tag: Vec<u8> = (0..len)
                .map(|k| alphabet[((state >> (k % 58)) as usize + k * 7) % alphabet.len()])
                .collect();
            assert_eq!(
                tag_end(&tag),
                tag_end_scalar(&tag),
                "{:?}",
                String::from_utf8_lossy(&tag)
            );
        }
        for filler in [*b"a='b' ", *b" x=\"'\""] {
            for at in 0..40 {
                for byte in 0..=255u8 {
                    let mut tag: Vec<u8> = filler.iter().copied().cycle().take(40).collect();
                    tag[at] = byte;
                    assert_eq!(tag_end(&tag), tag_end_scalar(&tag), "{at} {byte}");
                }
            }
        }
        assert_eq!(tag_end(b"a x='>' y=\"'>\">rest"), Some(14));
        assert_eq!(tag_end(b"a x='>"), None);
    }
}
