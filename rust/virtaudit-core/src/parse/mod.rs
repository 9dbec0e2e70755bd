//! One libvirt XML document (status `<domstatus>` or plain `<domain>`) into rows.
//!
//! The parser visits only the parts the tables need and walks over the rest (CPU models, vCPU lists,
//! metadata, job state, ...) without decoding attributes. It never recurses on the input's nesting:
//! subtrees are skipped with a depth counter, so hostile nesting costs a counter, not the stack.
//! DOCTYPE declarations are refused outright, so entities are never declared, expanded or fetched.
//!
//! Layout: this file holds the entry points, the encoding check and the [`Parser`]'s cursor (events,
//! offsets, errors, end tags, limits). `document` walks the document and reads the domain's values;
//! `device` reads one device element into its row; `tags` reads and checks start tags (names,
//! attributes); `fast` holds the fast paths over plain markup; `skip` passes over subtrees no table
//! needs; `names` holds XML's character and name classes; `numbers` parses numbers as libvirt does;
//! `messages` words errors without quoting the input.

mod device;
mod document;
mod fast;
mod listcache;
mod messages;
mod names;
mod numbers;
mod skip;
mod tags;

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesEnd, BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use crate::byteclass::find_control_char;
use crate::error::{ErrorKind, InputError};
use crate::limits::Limits;
use crate::rows::Document;
use fast::skip_ws;
pub(crate) use listcache::ListCache;
use messages::{describe_xml_error, truncate_name};
use names::is_xml_char;
use skip::holds_cdata_end;

/// Most attributes accepted on one element that is read (libvirt writes at most a dozen or so).
pub const MAX_ATTRIBUTES: usize = 512;

/// Root elements of libvirt's XML documents that are not guests: networks and their ports, nwfilters
/// and their bindings, storage pools and volumes, secrets, node devices, host interfaces, snapshots,
/// checkpoints and backups. A well-formed document with one of these roots is `not_domain`, not
/// `not_libvirt` (what /etc/libvirt holds beside the guests' XML).
pub const LIBVIRT_OTHER_ROOTS: [&str; 12] = [
    "network",
    "networkport",
    "filter",
    "filterbinding",
    "pool",
    "volume",
    "secret",
    "device",
    "interface",
    "domainsnapshot",
    "domaincheckpoint",
    "domainbackup",
];

/// Parses one file's bytes. On error nothing of the document is returned.
pub fn parse_document<'a>(data: &'a [u8], limits: &Limits) -> Result<Document<'a>, InputError> {
    parse_with(data, limits, true)
}

/// The same parser with every fast path turned off: each element goes through quick-xml's events and
/// checked attribute reader. Slower; kept as the reference the fast paths are tested against.
pub fn parse_document_checked<'a>(
    data: &'a [u8],
    limits: &Limits,
) -> Result<Document<'a>, InputError> {
    parse_with(data, limits, false)
}

/// [`parse_document`] for a scan that reads file after file: lists met in the last few documents are
/// recognised instead of read again (see `listcache`). The same document as [`parse_document`]'s.
pub(crate) fn parse_document_cached<'a>(
    data: &'a [u8],
    limits: &Limits,
    cache: &mut ListCache,
) -> Result<Document<'a>, InputError> {
    let text = decode(data)?;
    let mut parser = Parser::new(text, data, limits, true);
    parser.lists = Some(std::mem::take(cache));
    let result = parser.document();
    *cache = parser.lists.take().unwrap_or_default();
    result
}

fn parse_with<'a>(data: &'a [u8], limits: &Limits, fast: bool) -> Result<Document<'a>, InputError> {
    let text = decode(data)?;
    Parser::new(text, data, limits, fast).document()
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, data: &'a [u8], limits: &Limits, fast: bool) -> Self {
        Parser {
            reader: reader(text),
            text,
            data,
            limits: *limits,
            elements: 0,
            jumped: 0,
            fast,
            after_text: false,
            other_root: None,
            lists: None,
        }
    }
}

fn reader(text: &str) -> Reader<&[u8]> {
    let mut reader = Reader::from_str(text);
    // `--` inside comments is refused by libxml2, so by libvirt.
    reader.config_mut().check_comments = true;
    // End tags are matched against their start tags here, not by quick-xml, because the fast paths
    // read some start tags without it (see `Parser::end_of`).
    reader.config_mut().check_end_names = false;
    reader.config_mut().allow_unmatched_ends = true;
    reader
}

/// Checks the encoding: libvirt writes UTF-8 only.
fn decode(data: &[u8]) -> Result<&str, InputError> {
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError::new(ErrorKind::Empty, "file is empty"));
    }
    let bom_name = match data {
        [0x00, 0x00, 0xFE, 0xFF, ..] | [0xFF, 0xFE, 0x00, 0x00, ..] => Some("UTF-32"),
        [0xFE, 0xFF, ..] | [0xFF, 0xFE, ..] => Some("UTF-16"),
        _ => None,
    };
    if let Some(name) = bom_name {
        return Err(InputError::new(
            ErrorKind::NotUtf8,
            format!("file starts with a {name} byte-order mark; libvirt writes UTF-8 only"),
        ));
    }
    let body = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    // libxml2 takes one byte-order mark; a second is a character before the XML declaration or the
    // root, and libvirt's parser refuses the file.
    if body.len() < data.len() && body.starts_with(b"\xEF\xBB\xBF") {
        return Err(InputError::at(
            ErrorKind::MalformedXml,
            "a second byte-order mark (libvirt refuses the file)",
            data,
            3,
        ));
    }
    // XML 1.0 allows no control characters but tab, line feed and carriage return (libxml2 refuses them).
    // The same pass tells whether the file is pure ASCII, as status XML almost always is.
    let (control, ascii) = find_control_char(body);
    let text = if ascii {
        // SAFETY: every byte is below 0x80, and ASCII is valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(body) }
    } else {
        std::str::from_utf8(body).map_err(|e| {
            let offset = e.valid_up_to() + (data.len() - body.len());
            InputError::at(ErrorKind::NotUtf8, "invalid UTF-8", data, offset)
        })?
    };
    // Beyond ASCII, valid UTF-8 holds two characters that are not XML's: U+FFFE and U+FFFF.
    let noncharacter = if ascii {
        None
    } else {
        memchr::memmem::find_iter(body, b"\xEF\xBF")
            .find(|&at| matches!(body.get(at + 2), Some(0xBE | 0xBF)))
    };
    if let Some(offset) = noncharacter {
        let offset = offset + (data.len() - body.len());
        return Err(InputError::at(
            ErrorKind::MalformedXml,
            "U+FFFE or U+FFFF in XML (not an XML character)",
            data,
            offset,
        ));
    }
    if let Some(offset) = control {
        let what = if body[offset] == 0 {
            "NUL byte".to_string()
        } else {
            format!("control character 0x{:02x}", body[offset])
        };
        let offset = offset + (data.len() - body.len());
        return Err(InputError::at(
            ErrorKind::MalformedXml,
            format!("{what} in XML"),
            data,
            offset,
        ));
    }
    Ok(text)
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    data: &'a [u8],
    limits: Limits,
    elements: u64,
    /// Bytes passed over by [`Parser::jump`], which quick-xml's own offsets do not count.
    jumped: usize,
    /// Whether the fast paths may read plain markup (off only for the reference parse).
    fast: bool,
    /// Whether the last event was text. quick-xml then stands at the `<` that ended the text, in the
    /// middle of its own markup state, and must read that markup itself: a fast path may not jump.
    after_text: bool,
    /// The root element, when it is one of [`LIBVIRT_OTHER_ROOTS`]: the whole document is still checked
    /// (a malformed one stays `malformed_xml`), then it is `not_domain`.
    other_root: Option<&'a str>,
    /// Lists remembered from earlier documents of the scan (none for a document parsed on its own).
    lists: Option<ListCache>,
}

/// The attributes of a start tag, with values borrowed from the input where possible.
struct Tag<'a> {
    name: &'a str,
    attrs: &'a str,
}

impl<'a> Parser<'a> {
    /// Offset in the text of the reader's next byte (exact across [`Parser::jump`]s).
    fn position(&self) -> usize {
        self.text.len() - self.reader.get_ref().len()
    }

    /// The input not read yet, as text (the reader only ever stops at ASCII markup).
    fn remaining_text(&self) -> &'a str {
        &self.text[self.position()..]
    }

    /// The input not read yet.
    fn remaining(&self) -> &'a [u8] {
        self.reader.get_ref()
    }

    /// Moves the reader `n` bytes forward over content the fast paths have already dealt with. It
    /// always lands on markup: the `<` of the end tag of the element being read (which
    /// [`Parser::end_tag`] then reads), or just after that end tag.
    fn jump(&mut self, n: usize) {
        debug_assert!(!self.after_text, "jump inside quick-xml's markup state");
        let rest = self.reader.get_mut();
        *rest = &rest[n..];
        self.jumped += n;
    }

    fn malformed(&self, message: impl Into<String>, offset: usize) -> InputError {
        InputError::at(
            ErrorKind::MalformedXml,
            message,
            self.data,
            self.offset_in_data(offset),
        )
    }

    /// Offsets from the reader count from the start of the text, which excludes a UTF-8 BOM.
    fn offset_in_data(&self, offset: usize) -> usize {
        offset + (self.data.len() - self.text.len())
    }

    fn truncated(&self, inside: &str) -> InputError {
        self.malformed(
            format!("unexpected end of file inside <{inside}> (truncated?)"),
            self.text.len(),
        )
    }

    /// The next event, with the limits and the entity policy applied.
    fn next(&mut self) -> Result<Event<'a>, InputError> {
        let event = self.reader.read_event().map_err(|e| {
            let offset = usize::try_from(self.reader.error_position())
                .unwrap_or(usize::MAX)
                .saturating_add(self.jumped);
            self.malformed(describe_xml_error(&e), offset)
        })?;
        self.after_text = matches!(event, Event::Text(_));
        match &event {
            // quick-xml reads `<>` and `< a>` as elements without a name; XML has none.
            Event::Start(start) | Event::Empty(start) if start.name().as_ref().is_empty() => {
                return Err(self.malformed("element without a name", self.position()));
            }
            Event::Start(_) | Event::Empty(_) => {
                self.count_elements(1, self.position())?;
            }
            Event::DocType(_) => {
                return Err(self.malformed(
                    "DOCTYPE declarations are refused (libvirt never writes them; entities are not expanded)",
                    self.position(),
                ));
            }
            Event::GeneralRef(r) => {
                self.resolve_ref(r)?;
            }
            // libxml2 refuses `]]>` in text wherever it stands (quick-xml reads it as text).
            Event::Text(t) if holds_cdata_end(t.as_ref().as_bytes()) => {
                return Err(self.malformed("']]>' in text", self.position()));
            }
            // `<?xml …?>` is only allowed as the very first thing of the file.
            Event::Decl(_) if self.elements > 0 => {
                return Err(self.malformed("XML declaration inside the document", self.position()));
            }
            _ => {}
        }
        Ok(event)
    }

    fn resolve_ref(&self, r: &BytesRef<'_>) -> Result<Cow<'static, str>, InputError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                // (quick-xml refuses only `&#0;`; XML allows references to its Chars alone)
                Ok(Some(c)) if is_xml_char(c) => Ok(Cow::Owned(c.to_string())),
                _ => Err(self.malformed("invalid character reference", self.position())),
            };
        }
        match resolve_predefined_entity(r) {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => Err(self.malformed("reference to an undeclared entity", self.position())),
        }
    }

    /// Counts `n` more elements read, the last of them at `offset` in the text, against the limit.
    fn count_elements(&mut self, n: u64, offset: usize) -> Result<(), InputError> {
        self.elements += n;
        if self.elements > self.limits.max_elements {
            return Err(InputError::at(
                ErrorKind::TooManyElements,
                format!("more than {} elements", self.limits.max_elements),
                self.data,
                self.offset_in_data(offset),
            ));
        }
        Ok(())
    }

    /// Checks that an end tag closes the element `name`.
    fn end_of(&self, end: &BytesEnd<'_>, name: &str) -> Result<(), InputError> {
        let found = end.name();
        let found: &str = found.as_ref();
        if found == name {
            return Ok(());
        }
        Err(self.malformed(
            format!(
                "end tag </{}> does not match <{}>",
                truncate_name(found),
                truncate_name(name)
            ),
            self.position(),
        ))
    }

    /// Reads the end tag of `name` where a fast path stopped (at its `<`): `</name>`, perhaps with white
    /// space before the `>`, is passed over here; anything else is left to quick-xml, which reports it.
    fn end_tag(&mut self, name: &str) -> Result<(), InputError> {
        // (quick-xml keeps the white space of an end tag that holds nothing else, such as `</ >`, as
        // its name: a nameless element is left to it, though none gets this far.)
        if let Some(close) = self.remaining().strip_prefix(b"</")
            && !name.is_empty()
            && close.starts_with(name.as_bytes())
        {
            let gt = skip_ws(close, name.len());
            if close.get(gt) == Some(&b'>') {
                self.jump(2 + gt + 1);
                return Ok(());
            }
        }
        match self.next()? {
            Event::End(end) => self.end_of(&end, name),
            _ => Err(self.malformed(
                format!("malformed end tag of <{}>", truncate_name(name)),
                self.position(),
            )),
        }
    }

    fn check_depth(&self, depth: u32) -> Result<(), InputError> {
        if depth > self.limits.max_depth {
            return Err(InputError::at(
                ErrorKind::TooDeep,
                format!(
                    "elements nested more than {} levels deep",
                    self.limits.max_depth
                ),
                self.data,
                self.offset_in_data(self.position()),
            ));
        }
        Ok(())
    }

    /// Re-borrows a slice of an event from the input, so that rows can outlive the event.
    fn tag(&self, start: &BytesStart<'_>) -> Tag<'a> {
        let content: &str = start;
        let base = self.text.as_ptr() as usize;
        let at = content.as_ptr() as usize;
        // Events of a slice reader always borrow from the input; the fallback only guards the arithmetic.
        let content = match at.checked_sub(base) {
            Some(offset) if offset + content.len() <= self.text.len() => {
                &self.text[offset..offset + content.len()]
            }
            _ => "",
        };
        let name_len = start.name().as_ref().len().min(content.len());
        Tag {
            name: &content[..name_len],
            attrs: &content[name_len..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_byte_order_marks_are_refused() {
        let one = b"\xEF\xBB\xBF<domstatus/>";
        assert!(decode(one).is_ok());
        let two = b"\xEF\xBB\xBF\xEF\xBB\xBF<domstatus/>";
        let err = decode(two).expect_err("two BOMs");
        assert_eq!(err.kind, ErrorKind::MalformedXml);
    }
}
