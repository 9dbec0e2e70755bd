//! Fast paths over plain markup (simple names, `name='value'` attributes with nothing to unescape),
//! read without quick-xml's events. Anything unusual returns `None`, and the checked path reads it.

use std::borrow::Cow;

use super::device::{Attrs, DeviceState};
use super::names::{NAME_START, is_name_start};
use super::skip::comment_end;
use super::{Parser, Tag};
use crate::byteclass::{find_value_stop, name_len, tag_end};
use crate::error::InputError;

impl<'a> Parser<'a> {
    /// Fast path for the next child: when only white space stands before a start tag with a plain
    /// name, reads that tag without quick-xml, counts it and returns it. Like quick-xml's events, it
    /// leaves the attributes to whoever reads them ([`Parser::attributes`], [`Parser::check_tag`]).
    /// Anything else (an end tag, text, comments, unusual names) is left to quick-xml's events.
    pub(super) fn plain_start_tag(&mut self) -> Result<Option<(Tag<'a>, bool)>, InputError> {
        if self.after_text {
            return Ok(None);
        }
        let rest = self.remaining();
        let at = skip_ws(rest, 0);
        if rest.get(at) != Some(&b'<') || !rest.get(at + 1).is_some_and(|&b| is_name_start(b)) {
            return Ok(None);
        }
        let Some(gt) = tag_end(&rest[at + 1..]) else {
            return Ok(None);
        };
        let raw = &rest[at + 1..at + 1 + gt];
        let (raw, empty) = match raw.strip_suffix(b"/") {
            Some(raw) => (raw, true),
            None => (raw, false),
        };
        // The name must end at white space or at the end of the tag, as quick-xml reads names.
        let name_len = raw
            .iter()
            .position(|&b| is_name_end(b))
            .unwrap_or(raw.len());
        if raw.get(name_len).is_some_and(|b| !b.is_ascii_whitespace()) {
            return Ok(None);
        }
        // Both ends are ASCII markup, so char boundaries of the text.
        let start = self.position() + at + 1;
        let Some(raw) = self.text.get(start..start + raw.len()) else {
            return Ok(None);
        };
        self.count_elements(1, start)?;
        self.jump(at + 1 + gt + 1);
        let tag = Tag {
            name: &raw[..name_len],
            attrs: &raw[name_len..],
        };
        Ok(Some((tag, empty)))
    }
}

/// Deepest nesting inside one device that the fast path follows (real devices stay below 6).
pub(super) const FAST_LEVELS: usize = 16;

/// Most attributes on one tag that the fast paths read (libvirt writes at most a handful).
pub(super) const FAST_ATTRIBUTES: usize = 8;

pub(super) type Pairs<'a> = [(&'a str, &'a str); FAST_ATTRIBUTES];

/// What [`fast_device`] read: where the device's end tag starts, and how many elements it passed.
pub(super) struct FastRead {
    pub(super) end: usize,
    pub(super) elements: u64,
}

/// Fast path for the content of a device element, from just after its start tag to the `<` of its
/// end tag: plain start tags (see [`plain_pairs`]), end tags matching their start tags, text without
/// references. Anything else (comments, CDATA, processing instructions, references, unusual attributes
/// or names, a limit reached) returns `None`; the event-based path then reads the device again from
/// its start and reports any fault precisely.
pub(super) fn fast_device<'a>(
    rest: &'a str,
    device: &mut DeviceState<'a, '_>,
    max_level: u32,
    max_elements: u64,
) -> Option<FastRead> {
    let bytes = rest.as_bytes();
    let mut open: [&[u8]; FAST_LEVELS] = [&[]; FAST_LEVELS];
    let mut level: usize = 0;
    let mut elements: u64 = 0;
    let mut pairs: Pairs<'a> = [("", ""); FAST_ATTRIBUTES];
    let mut i = 0;
    loop {
        // Text between tags: usually a little white space; a reference, or a `]` that may begin the
        // `]]>` XML forbids in text, leaves it to the checked path.
        let at = match skip_ws(bytes, i) {
            at if bytes.get(at) == Some(&b'<') => at,
            at => at + memchr::memchr3(b'<', b'&', b']', &bytes[at..])?,
        };
        if bytes[at] != b'<' {
            return None;
        }
        let after = &bytes[at + 1..];
        match *after.first()? {
            b'/' => {
                if level == 0 {
                    return Some(FastRead { end: at, elements });
                }
                let close = &after[1..];
                let name = open[level - 1];
                if !close.starts_with(name) {
                    return None;
                }
                let gt = skip_ws(close, name.len());
                if close.get(gt) != Some(&b'>') {
                    return None;
                }
                device.end(level as u32);
                level -= 1;
                i = at + 2 + gt + 1;
            }
            b'!' | b'?' => return None,
            _ => {
                let tag = plain_tag(rest, at + 1, &mut pairs)?;
                let (name, empty, count) = (tag.name, tag.empty, tag.attributes);
                elements += 1;
                let child_level = level + 1;
                if elements > max_elements || child_level as u32 > max_level {
                    return None;
                }
                device
                    .child(
                        name,
                        child_level as u32,
                        empty,
                        &Attrs::Plain(&pairs[..count]),
                    )
                    .ok()?;
                if !empty {
                    if level == FAST_LEVELS {
                        return None;
                    }
                    open[level] = name.as_bytes();
                    level = child_level;
                }
                i = tag.end;
            }
        }
    }
}

/// Length of a plain attribute value up to its closing `quote`, or `None` if it is not plain.
#[inline(always)] // called for every attribute; the call's own cost was a fifth of its work
pub(super) fn plain_value_len(value: &[u8], quote: u8) -> Option<usize> {
    let mut i = 0;
    loop {
        i += find_value_stop(&value[i..])?;
        match value[i] {
            c if c == quote => return Some(i),
            b'\'' | b'"' => i += 1, // the other quote character is plain text here
            _ => return None,
        }
    }
}

/// Reads the attributes of a tag (the text after its name, without the `/` of an empty tag) when they
/// are plain: each after white space, `name='value'` or `name="value"` with a simple name, distinct,
/// at most [`FAST_ATTRIBUTES`], and values holding no `<`, no reference and no tab or line end, so that
/// each value is exactly the text between its quotes. Anything else returns `None` and is read by
/// quick-xml's checked attribute reader.
pub(super) fn plain_pairs<'t>(attrs: &'t str, out: &mut Pairs<'t>) -> Option<usize> {
    let (count, end) = pairs_from(attrs, 0, out)?;
    (end == attrs.len()).then_some(count)
}

/// Reads plain attributes (see [`plain_pairs`]) from `text[i..]` up to the end of the text or to a `>`
/// or `/` where an attribute could start. Returns how many there were, and where reading stopped.
///
/// This runs for every attribute of every tag the fast paths read (a quarter of a scan's time), so the
/// spelling libvirt writes, ` name='value'`, is recognised with two-byte matches that each take one
/// bounds check; every other spelling goes through the general steps, which accept exactly what they
/// accepted before the shortcuts.
// Inlined into each caller (with `plain_tag`, into `fast_device`'s loop above all): the constants of the
// SSE2 searches are then loaded once per device rather than once per tag, and the call's frame is gone.
// That took 3.8% off a scan's instructions.
#[inline(always)]
pub(super) fn pairs_from<'t>(
    text: &'t str,
    mut i: usize,
    out: &mut Pairs<'t>,
) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut count = 0;
    let mut seen = 0u64;
    loop {
        // libvirt writes ` name='value'`: one space before the name and none around `=`. That spelling
        // is recognised by its first bytes, without the three white-space skips of the general one.
        let start = match b.get(i..i + 2) {
            Some(&[b' ', c]) if NAME_START[usize::from(c)] => i + 1,
            _ => {
                let before = i;
                i = skip_ws(b, i);
                if i == b.len() || b[i] == b'>' || b[i] == b'/' {
                    return Some((count, i));
                }
                if i == before || !is_name_start(b[i]) {
                    return None;
                }
                i
            }
        };
        if count == FAST_ATTRIBUTES {
            return None;
        }
        i = start + name_len(&b[start..]);
        let name = ascii_bounded(text, start, i);
        // `='` or `="` right after the name, as libvirt writes it; else white space may stand around
        // the `=`.
        let quote = match b.get(i..i + 2) {
            Some(&[b'=', q @ (b'\'' | b'"')]) => {
                i += 1;
                q
            }
            _ => {
                if b.get(i) == Some(&b'=') {
                    i += 1;
                } else {
                    i = skip_ws(b, i);
                    if b.get(i) != Some(&b'=') {
                        return None;
                    }
                    i += 1;
                }
                match b.get(i) {
                    Some(&q @ (b'\'' | b'"')) => q,
                    _ => {
                        i = skip_ws(b, i);
                        match b.get(i) {
                            Some(&q @ (b'\'' | b'"')) => q,
                            _ => return None,
                        }
                    }
                }
            }
        };
        let len = plain_value_len(&b[i + 1..], quote)?;
        let value = ascii_bounded(text, i + 1, i + 1 + len);
        // Duplicates are looked for only when a name's bit in `seen` is already set: one well
        // predicted branch per attribute instead of comparing it with each earlier name.
        let bit = name_bit(name.as_bytes());
        if seen & bit != 0 && out[..count].iter().any(|(earlier, _)| *earlier == name) {
            return None;
        }
        seen |= bit;
        out[count] = (name, value);
        count += 1;
        i += len + 2;
    }
}

/// `text[from..to]`, where the caller knows both ends to be char boundaries: each is the end of
/// `text`, the offset of an ASCII byte, or just after an ASCII byte. The checked `text.get(from..to)`
/// tested both ends again for every name and value and could never fail there.
#[inline(always)]
fn ascii_bounded(text: &str, from: usize, to: usize) -> &str {
    debug_assert!(from <= to && text.is_char_boundary(from) && text.is_char_boundary(to));
    // SAFETY: `from <= to <= text.len()` (every caller has read the bytes up to `to`, or `to` is the
    // end), and both are char boundaries: a char starts at an ASCII byte, and one ends just before
    // the byte after an ASCII byte (UTF-8 continuation bytes follow only lead or continuation bytes,
    // never ASCII). The callers: `pairs_from`, a name (from its name-start byte, ASCII, to the first
    // byte after it that is not a name byte, all of which are ASCII) and a value (from just after its
    // opening quote to its closing quote); `plain_tag`, a tag name (as an attribute name).
    unsafe { text.get_unchecked(from..to) }
}

/// One of 64 bits for an attribute name (from its length and first and last bytes), so that the names
/// of one tag, which differ there, rarely share a bit.
pub(super) fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied(), name.last().copied());
    let key = (u64::from(first.unwrap_or(0)) << 16)
        | (u64::from(last.unwrap_or(0)) << 8)
        | name.len() as u64;
    1 << (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// A start tag read whole by [`plain_tag`].
pub(super) struct PlainTag<'t> {
    pub(super) name: &'t str,
    /// How many attributes were read into the caller's pairs.
    pub(super) attributes: usize,
    pub(super) empty: bool,
    /// Offset just after the tag's `>`.
    pub(super) end: usize,
}

/// Reads the start tag whose name begins at `text[start]` (just after its `<`) when it is plain: a
/// simple name, plain attributes (see [`plain_pairs`]), then `>` or `/>`. One pass over the tag finds
/// its end and its attributes. Anything else returns `None`, for the checked path.
#[inline(always)] // (see `pairs_from`)
pub(super) fn plain_tag<'t>(
    text: &'t str,
    start: usize,
    out: &mut Pairs<'t>,
) -> Option<PlainTag<'t>> {
    let b = text.as_bytes();
    if !b.get(start).is_some_and(|&c| NAME_START[usize::from(c)]) {
        return None;
    }
    let name_end = start + name_len(&b[start..]);
    if name_end == b.len() {
        return None;
    }
    let name = ascii_bounded(text, start, name_end);
    // A tag without attributes (`<name>`, `<name/>`) needs no call: `pairs_from` would stop at once,
    // where it stands.
    let (attributes, i) = match b[name_end] {
        b'>' | b'/' => (0, name_end),
        _ => pairs_from(text, name_end, out)?,
    };
    let (empty, end) = match b.get(i)? {
        b'>' => (false, i + 1),
        b'/' if b.get(i + 1) == Some(&b'>') => (true, i + 2),
        _ => return None,
    };
    Some(PlainTag {
        name,
        attributes,
        empty,
        end,
    })
}

pub(super) fn is_name_end(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/')
}

pub(super) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    match s.get(i) {
        // Most white space between tags is a line feed and an indent of spaces: the spaces go eight
        // at a time below.
        Some(b'\n') => i += 1,
        Some(b' ') => {}
        // Often there is none at all (around `=`, before `>`).
        Some(b) if !b.is_ascii_whitespace() => return i,
        _ => {}
    }
    while let Some(chunk) = s.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let spaces = ((word ^ 0x2020_2020_2020_2020).trailing_zeros() / 8) as usize;
        i += spaces;
        if spaces < 8 {
            break;
        }
    }
    while i < s.len() && s[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Fast path for `<qemuCaps><flag name='…'/>…</qemuCaps>` and `<devices><device alias='…'/>…`: reads
/// the `key` attribute of each self-closing `item` child into `out`, up to the `<` of `</parent>`, and
/// returns that offset. Anything unusual (another element, content inside an item, references in
/// values) leaves `out` as it was and returns `None`; the general event-based path then reads the
/// element instead.
pub(super) fn fast_named_list<'a>(
    rest: &'a str,
    parent: &[u8],
    item: &[u8],
    key: &[u8],
    out: &mut Vec<Cow<'a, str>>,
) -> Option<usize> {
    let before = out.len();
    let end = named_list_items(rest, parent, item, key, out);
    if end.is_none() {
        out.truncate(before);
    }
    end
}

pub(super) fn named_list_items<'a>(
    rest: &'a str,
    parent: &[u8],
    item: &[u8],
    key: &[u8],
    out: &mut Vec<Cow<'a, str>>,
) -> Option<usize> {
    let bytes = rest.as_bytes();
    // The form libvirt writes, `<flag name='`, is matched whole; other spellings take the long way.
    let canonical: Vec<u8> = [b"<", item, b" ", key, b"='"].concat();
    // Compared as one 16-byte word where it fits (`<flag name='` does), not with a call to memcmp.
    let (word, mask) = match canonical.len() {
        len @ ..=16 => {
            let mut word = [0u8; 16];
            word[..len].copy_from_slice(&canonical);
            (u128::from_le_bytes(word), u128::MAX >> (8 * (16 - len)))
        }
        _ => (0, 0),
    };
    let starts_canonical = |at: usize| match bytes.get(at..at + 16) {
        Some(chunk) if mask != 0 => {
            (u128::from_le_bytes(chunk.try_into().expect("16 bytes")) ^ word) & mask == 0
        }
        _ => bytes[at..].starts_with(&canonical),
    };
    let mut pairs: Pairs<'a> = [("", ""); FAST_ATTRIBUTES];
    let mut i = 0;
    loop {
        let at = skip_ws(bytes, i);
        if bytes.get(at) != Some(&b'<') {
            return None;
        }
        if starts_canonical(at) {
            let from = at + canonical.len();
            let end = from + plain_value_len(&bytes[from..], b'\'')?;
            if bytes[end + 1..].starts_with(b"/>") {
                // Bounded by ASCII markup, so char boundaries of `rest`.
                out.push(Cow::Borrowed(rest.get(from..end)?));
                i = end + 3;
                continue;
            }
        }
        let after = &bytes[at + 1..];
        if let Some(close) = after.strip_prefix(b"/") {
            let ok = close.starts_with(parent)
                && close
                    .get(parent.len())
                    .is_some_and(|&b| is_name_end(b) && b != b'/');
            return ok.then_some(at);
        }
        if after.starts_with(b"!--") {
            i = comment_end(bytes, at)?;
            continue;
        }
        // Any other spelling of an item: a plain, self-closing tag (distinct attributes, nothing to
        // unescape), or the general path.
        let tag = plain_tag(rest, at + 1, &mut pairs)?;
        if !tag.empty || tag.name.as_bytes() != item {
            return None;
        }
        let value = pairs[..tag.attributes]
            .iter()
            .find(|(name, _)| name.as_bytes() == key)
            .map(|&(_, value)| value);
        out.extend(value.map(Cow::Borrowed));
        i = tag.end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_space_is_skipped_like_a_byte_by_byte_loop() {
        let naive = |s: &[u8], i: usize| {
            i + s[i..]
                .iter()
                .take_while(|b| b.is_ascii_whitespace())
                .count()
        };
        for prefix in ["", "\n", "\n\n", " \n", "\t", "\r\n"] {
            for spaces in 0..20 {
                for tail in ["<a>", "x", "\t<", "\n ", ""] {
                    let text = format!("<b>{prefix}{}{tail}", " ".repeat(spaces));
                    for from in 0..text.len() {
                        assert_eq!(
                            skip_ws(text.as_bytes(), from),
                            naive(text.as_bytes(), from),
                            "{text:?} {from}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn attribute_names_share_bits_only_when_they_differ_little() {
        // The names libvirt writes together on one tag get distinct bits (a shared bit costs only a
        // closer look, but the common tags should not need one).
        for names in [
            &["type", "domain", "bus", "slot", "function", "multifunction"][..],
            &["type", "index", "model", "managed"],
            &["index", "chassis", "port", "hotplug"],
            &["type", "name", "cache", "io", "discard"],
        ] {
            let bits = names
                .iter()
                .fold(0u64, |acc, n| acc | name_bit(n.as_bytes()));
            assert_eq!(bits.count_ones() as usize, names.len(), "{names:?}");
        }
        let mut pairs: Pairs<'_> = [("", ""); FAST_ATTRIBUTES];
        assert_eq!(plain_pairs(" a='1' b='2' a='3'", &mut pairs), None);
        assert_eq!(plain_pairs(" type='pci' domain='0'", &mut pairs), Some(2));
    }

    #[test]
    fn attributes_are_plain_in_every_spelling_they_were() {
        // The shortcuts for ` name='value'` take nothing more, and nothing less, than the general steps.
        let mut pairs: Pairs<'_> = [("", ""); FAST_ATTRIBUTES];
        for (attrs, expected) in [
            (" a='1' b=\"2\"", Some(vec![("a", "1"), ("b", "2")])),
            (" a = '1'", Some(vec![("a", "1")])),
            (" a=\n\"1\"", Some(vec![("a", "1")])),
            ("\ta='1'", Some(vec![("a", "1")])),
            (" a='1' ", Some(vec![("a", "1")])),
            (" _a:b.c-9='v\"w'", Some(vec![("_a:b.c-9", "v\"w")])),
            (" a=''", Some(vec![("a", "")])),
            (" a='é'", Some(vec![("a", "é")])),
            ("", Some(vec![])),
            (" a='1'b='2'", None),
            ("a='1'", None),
            (" 1a='x'", None),
            (" é='x'", None),
            (" a='x", None),
            (" a=x", None),
            (" a", None),
            (" a=", None),
            (" a='<'", None),
            (" a='&amp;'", None),
            (" a='x'/", None),
            (" a='1' a='2'", None),
        ] {
            let count = plain_pairs(attrs, &mut pairs);
            let got = count.map(|n| pairs[..n].to_vec());
            assert_eq!(got, expected, "{attrs:?}");
        }
        // At the end of a tag inside a longer text, a plain tag's attributes stop at its `/` or `>`.
        let text = "<a x='1' y=\"2\"/><b>";
        let tag = plain_tag(text, 1, &mut pairs).expect("plain");
        assert_eq!((tag.name, tag.attributes, tag.empty), ("a", 2, true));
        assert_eq!(&text[tag.end..], "<b>");
        assert_eq!(&pairs[..2], &[("x", "1"), ("y", "2")]);
        let tag = plain_tag("<b>x", 1, &mut pairs).expect("plain");
        assert_eq!(
            (tag.name, tag.attributes, tag.empty, tag.end),
            ("b", 0, false, 3)
        );
        assert!(plain_tag("<b", 1, &mut pairs).is_none());
        assert!(plain_tag("<b x='1'", 1, &mut pairs).is_none());
    }

    #[test]
    fn named_list_fast_path_reads_flags() {
        let region =
            "\n    <flag name='kvm'/>\n    <!-- c -->\n    <flag name=\"a-b\" />\n  </qemuCaps>";
        let mut values = vec![Cow::Borrowed("before")];
        let end =
            fast_named_list(region, b"qemuCaps", b"flag", b"name", &mut values).expect("fast path");
        assert_eq!(values, vec!["before", "kvm", "a-b"]);
        assert_eq!(&region[end..end + 2], "</");
        // Unusual content falls back to the general path.
        // Values read before the fault are taken back.
        let mut values = Vec::new();
        assert!(
            fast_named_list(
                "<flag name='kvm'/><flag name='a&amp;b'/></qemuCaps>",
                b"qemuCaps",
                b"flag",
                b"name",
                &mut values
            )
            .is_none()
        );
        assert!(values.is_empty());
        assert!(
            fast_named_list(
                "<other/></qemuCaps>",
                b"qemuCaps",
                b"flag",
                b"name",
                &mut values
            )
            .is_none()
        );
    }
}
