//! The `<qemuCaps>` lists of the last few documents a scan read, so that a list met again is not read
//! flag by flag. The guests of one host started by one QEMU binary carry the same couple of hundred
//! flags, byte for byte: in the benchmark fleet 62% of files repeat the previous file's list, 86% one
//! of the last four. Reading a list is about 6% of a scan; recognising one is a comparison of its bytes.
//!
//! What [`fast_named_list`](super::fast::fast_named_list) returns depends on nothing but the bytes from
//! where it starts to just past the name of the end tag it stops at. An entry keeps those bytes, where
//! each value stood in them, and where the end tag starts; the same bytes at the start of another
//! document's list give the same values at the same offsets, and the same end.

use std::borrow::Cow;

/// How many lists are remembered (most recently met first).
const ENTRIES: usize = 4;

/// Lists longer than this are not remembered (a real one is about 6 KB): memory stays bounded whatever
/// the input.
const MAX_BYTES: usize = 64 * 1024;

struct Entry {
    /// The bytes the fast path's answer depended on.
    bytes: Box<[u8]>,
    /// Each value's offset and length in `bytes`.
    values: Vec<(u32, u32)>,
    /// Offset of the `<` of the end tag.
    end: usize,
}

#[derive(Default)]
pub(crate) struct ListCache {
    entries: Vec<Entry>,
    /// Lists recognised (for the tests).
    #[cfg(test)]
    hits: usize,
}

impl ListCache {
    /// If `rest` starts with a remembered list, appends its values (borrowed from `rest`) to `out` and
    /// returns the offset of its end tag, as the fast path would.
    pub(super) fn recall<'a>(
        &mut self,
        rest: &'a str,
        out: &mut Vec<Cow<'a, str>>,
    ) -> Option<usize> {
        let bytes = rest.as_bytes();
        let found = self.entries.iter().position(|e| {
            let n = e.bytes.len();
            // Lists of other lengths fail on their last bytes (the end tag) without a full comparison.
            bytes.len() >= n
                && bytes[n.saturating_sub(16)..n] == e.bytes[n.saturating_sub(16)..]
                && bytes[..n] == *e.bytes
        })?;
        self.entries[..=found].rotate_right(1);
        #[cfg(test)]
        {
            self.hits += 1;
        }
        let entry = &self.entries[0];
        let before = out.len();
        for &(at, len) in &entry.values {
            let (at, len) = (at as usize, len as usize);
            // The same bytes as when the entry was made, so the same character boundaries.
            let Some(value) = rest.get(at..at + len) else {
                out.truncate(before);
                return None;
            };
            out.push(Cow::Borrowed(value));
        }
        Some(entry.end)
    }

    /// Remembers what the fast path read from `rest`: the values it appended to `out` from `before` on
    /// (all borrowed from `rest`) and the end it returned, for a list whose end tag names `parent`.
    pub(super) fn remember(
        &mut self,
        rest: &str,
        out: &[Cow<'_, str>],
        before: usize,
        end: usize,
        parent: &[u8],
    ) {
        // `</parent` and the byte after it were read to find the end.
        let depends = end + 2 + parent.len() + 1;
        if depends > rest.len() || depends > MAX_BYTES {
            return;
        }
        let base = rest.as_ptr() as usize;
        let mut values = Vec::with_capacity(out.len() - before);
        for value in &out[before..] {
            let Cow::Borrowed(value) = value else { return };
            let at = (value.as_ptr() as usize).wrapping_sub(base);
            if at.checked_add(value.len()).is_none_or(|stop| stop > end) {
                return;
            }
            // (both below MAX_BYTES)
            values.push((at as u32, value.len() as u32));
        }
        if self.entries.len() == ENTRIES {
            self.entries.pop();
        }
        self.entries.insert(
            0,
            Entry {
                bytes: rest.as_bytes()[..depends].into(),
                values,
                end,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse_document, parse_document_cached};
    use super::*;
    use crate::limits::Limits;

    fn status(caps: &str) -> String {
        format!(
            "<domstatus state='running'><qemuCaps>{caps}<domain type='kvm'><name>g</name></domain>\
             </domstatus>"
        )
    }

    #[test]
    fn remembered_lists_give_what_reading_them_gives() {
        let lists = [
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCaps>",
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCaps>",
            // The same flags and a different end tag: another answer (here an error).
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCapsX>",
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCaps >",
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCaps>",
            // A value of other characters, a comment, another spelling, one flag more.
            "<flag name='é-ü'/><!-- c --><flag  name=\"x\" /></qemuCaps>",
            "<flag name='é-ü'/><!-- c --><flag  name=\"x\" /></qemuCaps>",
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n  <flag name='vnc'/>\n</qemuCaps>",
            "<flag name='a&amp;b'/></qemuCaps>",
            "<flag name='a&amp;b'/></qemuCaps>",
            "",
            "\n  <flag name='kvm'/>\n  <flag name='blockdev'/>\n</qemuCaps>",
        ];
        let limits = Limits::default();
        let mut cache = ListCache::default();
        // Twice round: the second time every list is met again, from the cache where it was kept.
        for _ in 0..2 {
            for list in lists {
                let text = status(list);
                let data = text.as_bytes();
                let expected = parse_document(data, &limits);
                let got = parse_document_cached(data, &limits, &mut cache);
                assert_eq!(got, expected, "{list:?}");
            }
        }
        // Each list read once, then recognised: the 4 well-formed distinct lists the second time
        // round, and the repeats the first time.
        assert!(cache.hits >= 8, "{}", cache.hits);
        // The file ending right after the list's end tag name.
        let cut = "<domstatus><qemuCaps><flag name='kvm'/></qemuCaps";
        assert_eq!(
            parse_document_cached(cut.as_bytes(), &limits, &mut cache),
            parse_document(cut.as_bytes(), &limits)
        );
    }
}
