//! Passing over subtrees that no table needs (`<cpu>`, `<vcpus>`, `<metadata>`, job state, ...): every
//! tag still checked, nothing decoded.

use quick_xml::events::Event;

use super::Parser;
use super::fast::{FAST_ATTRIBUTES, Pairs, is_name_end, plain_tag, skip_ws};
use crate::error::{ErrorKind, InputError};

impl<'a> Parser<'a> {
    /// Walks over an element's content that no table reads ([`skip_content`]: every tag still checked,
    /// nothing decoded), then reads its end tag ([`Parser::end_tag`]).
    pub(super) fn skip(&mut self, empty: bool, depth: u32, name: &str) -> Result<(), InputError> {
        if empty {
            return Ok(());
        }
        self.check_depth(depth)?;
        if !self.fast {
            return self.skip_slow(depth, name);
        }
        let max_nesting = self.limits.max_depth.saturating_sub(depth);
        match skip_content(self.remaining_text(), max_nesting) {
            Skipped::End { at, elements } => {
                self.count_elements(elements, self.position() + at)?;
                self.jump(at);
                self.end_tag(name)
            }
            Skipped::TooDeep { at } => Err(InputError::at(
                ErrorKind::TooDeep,
                format!(
                    "elements nested more than {} levels deep",
                    self.limits.max_depth
                ),
                self.data,
                self.offset_in_data(self.position() + at),
            )),
            Skipped::Unclosed => self.skip_slow(depth, name),
        }
    }

    /// Event-by-event skipping, for content the fast path cannot vouch for (it reports the error).
    pub(super) fn skip_slow(&mut self, depth: u32, name: &str) -> Result<(), InputError> {
        // Names of the elements open inside the skipped one.
        let mut open: Vec<&'a str> = Vec::new();
        loop {
            match self.next()? {
                Event::Empty(start) => self.check_tag(&self.tag(&start))?,
                Event::Start(start) => {
                    let tag = self.tag(&start);
                    self.check_tag(&tag)?;
                    open.push(tag.name);
                    self.check_depth(depth + u32::try_from(open.len()).unwrap_or(u32::MAX))?;
                }
                Event::End(end) => match open.pop() {
                    Some(inner) => self.end_of(&end, inner)?,
                    None => return self.end_of(&end, name),
                },
                Event::Eof => return Err(self.truncated(name)),
                _ => {}
            }
        }
    }
}

pub(super) enum Skipped {
    /// `at`: offset of the `<` of the element's own end tag; `elements`: elements passed over.
    End {
        at: usize,
        elements: u64,
    },
    TooDeep {
        at: usize,
    },
    /// No end tag: truncated or malformed, left to the event-based path to report precisely.
    Unclosed,
}

/// Passes over the content of an element that starts at `rest[0]`, up to its end tag, tracking nesting
/// with memchr over `<` and `>` only: no names, attributes or text are decoded. Comments, CDATA and
/// processing instructions are passed over whole.
pub(super) fn skip_content(text: &str, max_nesting: u32) -> Skipped {
    let rest = text.as_bytes();
    // Names of the open elements, so that every end tag is checked against its start tag.
    let mut open: Vec<&str> = Vec::new();
    let mut pairs: Pairs<'_> = [("", ""); FAST_ATTRIBUTES];
    let name_of =
        |s: &'_ [u8]| -> usize { s.iter().position(|&b| is_name_end(b)).unwrap_or(s.len()) };
    let mut nesting: u32 = 0;
    let mut elements: u64 = 0;
    let mut i = 0;
    let find =
        |needle: &[u8], from: usize| memchr::memmem::find(&rest[from..], needle).map(|p| from + p);
    while let Some(p) = memchr::memchr(b'<', &rest[i..]) {
        let at = i + p;
        let after = &rest[at + 1..];
        i = match after.first() {
            Some(b'/') => {
                if nesting == 0 {
                    // References in the passed-over text must still resolve, and text must not hold
                    // `]]>`: leave any span with either to the event-based path, which checks them
                    // (a CDATA section or an attribute value may hold `]]>` too; it finds those good).
                    if needs_checked_text(&rest[..at]) {
                        return Skipped::Unclosed;
                    }
                    return Skipped::End { at, elements };
                }
                let name_len = name_of(&after[1..]);
                let gt = skip_ws(after, 1 + name_len);
                if open.pop().map(str::as_bytes) != Some(&after[1..1 + name_len])
                    || after.get(gt) != Some(&b'>')
                {
                    // A mismatched or malformed end tag: the event-based path reports it.
                    return Skipped::Unclosed;
                }
                nesting -= 1;
                at + 1 + gt + 1
            }
            Some(b'!') if after.starts_with(b"!--") => match comment_end(rest, at) {
                Some(end) => end,
                None => return Skipped::Unclosed,
            },
            Some(b'!') if after.starts_with(b"![CDATA[") => match find(b"]]>", at + 9) {
                Some(end) => end + 3,
                None => return Skipped::Unclosed,
            },
            // An XML declaration (or a PI named like one) is an error inside a document: the
            // event-based path reports it.
            Some(b'?') if after.len() >= 4 && after[1..4].eq_ignore_ascii_case(b"xml") => {
                return Skipped::Unclosed;
            }
            Some(b'?') => match find(b"?>", at + 2) {
                Some(end) => end + 2,
                None => return Skipped::Unclosed,
            },
            Some(_) => {
                let Some(tag) = plain_tag(text, at + 1, &mut pairs) else {
                    return Skipped::Unclosed;
                };
                elements += 1;
                if !tag.empty {
                    open.push(tag.name);
                    nesting += 1;
                    if nesting > max_nesting {
                        // An unresolvable reference (or `]]>`) before this point is the first error:
                        // the event-based path finds whichever comes first.
                        if needs_checked_text(&rest[..at]) {
                            return Skipped::Unclosed;
                        }
                        return Skipped::TooDeep { at };
                    }
                }
                tag.end
            }
            None => return Skipped::Unclosed,
        };
    }
    Skipped::Unclosed
}

/// Whether passed-over markup holds a reference or `]]>`, which only the event-based path checks.
pub(super) fn needs_checked_text(span: &[u8]) -> bool {
    // (one pass for the usual span, which has neither `&` nor `]`)
    memchr::memchr2(b'&', b']', span)
        .is_some_and(|_| memchr::memchr(b'&', span).is_some() || holds_cdata_end(span))
}

/// Whether `text` holds `]]>` (looked for only where there is a `]`: text is mostly white space).
pub(super) fn holds_cdata_end(text: &[u8]) -> bool {
    memchr::memchr(b']', text).is_some_and(|at| memchr::memmem::find(&text[at..], b"]]>").is_some())
}

/// The offset just past a comment that starts at `at` (`<!--`), if it is plainly well formed: XML
/// forbids `--` inside a comment, so the first `--` must be the one that closes it. A comment that
/// starts with `-` or `>` (where parsers disagree on `<!-->` and `<!--->`) or breaks the rule gets
/// `None`, and the caller leaves it to the event-based path, which reports it or reads it.
pub(super) fn comment_end(bytes: &[u8], at: usize) -> Option<usize> {
    let from = at + 4;
    if matches!(bytes.get(from), None | Some(b'-' | b'>')) {
        return None;
    }
    let dashes = from + memchr::memmem::find(&bytes[from..], b"--")?;
    (bytes.get(dashes + 2) == Some(&b'>')).then_some(dashes + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipping_tracks_nesting_and_limits() {
        let rest = "<cpu/><cpu a='1'><x/></cpu><!-- </cpu> --><?pi </a>?></cpu>tail";
        match skip_content(rest, 10) {
            Skipped::End { at, elements } => {
                assert_eq!(&rest[at..], "</cpu>tail");
                assert_eq!(elements, 3);
            }
            _ => panic!("end tag not found"),
        }
        // A CDATA section ends in the `]]>` that text must not hold: the event-based path tells them
        // apart (libvirt writes no CDATA).
        for rest in ["<![CDATA[</x>]]></cpu>", "<a b=']]>'/></cpu>", "x]]></cpu>"] {
            assert!(
                matches!(skip_content(rest, 10), Skipped::Unclosed),
                "{rest}"
            );
        }
        assert!(matches!(skip_content("<cpu>", 10), Skipped::Unclosed));
        assert!(matches!(
            skip_content("<a><b><c></c></b></a></x>", 2),
            Skipped::TooDeep { .. }
        ));
    }
}
