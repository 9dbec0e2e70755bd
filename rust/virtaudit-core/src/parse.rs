//! One libvirt XML document (status `<domstatus>` or plain `<domain>`) into rows.
//!
//! The parser visits only the parts the tables need and walks over the rest (CPU models, vCPU lists,
//! metadata, job state, ...) without decoding attributes. It never recurses on the input's nesting:
//! subtrees are skipped with a depth counter, so hostile nesting costs a counter, not the stack.
//! DOCTYPE declarations are refused outright, so entities are never declared, expanded or fetched.

use std::borrow::Cow;

use quick_xml::XmlVersion;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::Attributes;
use quick_xml::events::{BytesEnd, BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use crate::byteclass::{find_control_char, find_value_stop, name_len, tag_end};
use crate::error::{ErrorKind, InputError};
use crate::rows::{DeviceRow, DocKind, Document, DomainRow, Text};

/// Most attributes accepted on one element that is read (libvirt writes at most a dozen or so).
pub const MAX_ATTRIBUTES: usize = 512;

/// Bounds that keep one hostile file from costing more than a bounded amount of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes; larger files are never read at all.
    pub max_file_size: u64,
    /// Deepest element nesting accepted (real status XML stays below 15).
    pub max_depth: u32,
    /// Most elements accepted in one file (real status XML has a few thousand).
    pub max_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 64 * 1024 * 1024,
            max_depth: 256,
            max_elements: 1_000_000,
        }
    }
}

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

fn parse_with<'a>(data: &'a [u8], limits: &Limits, fast: bool) -> Result<Document<'a>, InputError> {
    let text = decode(data)?;
    let mut parser = Parser {
        reader: reader(text),
        text,
        data,
        limits: *limits,
        elements: 0,
        jumped: 0,
        fast,
        after_text: false,
        other_root: None,
    };
    parser.document()
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

/// Parses a number as libvirt's `virStrToLong_ui(..., 0, ...)` does: `0x` hex, leading `0` octal.
pub fn parse_u32(value: &str) -> Option<u32> {
    let value = value.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let value = value.strip_prefix('+').unwrap_or(value);
    let (digits, radix) = if let Some(hex) = value
        .strip_prefix("0x")
        .or_else(|| value.strip_prefix("0X"))
    {
        (hex, 16)
    } else if value.len() > 1 && value.starts_with('0') {
        (&value[1..], 8)
    } else {
        (value, 10)
    };
    // from_str_radix accepts a leading '+', strtoul does too; a '-' is refused by both for unsigned.
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// `id` and `pid` are signed decimal numbers for libvirt (`virStrToLong_i` / `_ll` with base 10).
fn parse_i64(value: &str) -> Option<i64> {
    value
        .trim_start_matches(|c: char| c.is_ascii_whitespace())
        .parse()
        .ok()
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

    /// [`Parser::check_tag`], after a cheap look that clears the usual plain tag.
    fn check_plain_tag(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        if is_xml_name(tag.name)
            && plain_pairs(tag.attrs, &mut [("", ""); FAST_ATTRIBUTES]).is_some()
        {
            Ok(())
        } else {
            self.check_tag(tag)
        }
    }

    /// Checks what the tables do not read of a tag: a valid name and well-formed attributes.
    fn check_tag(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        self.check_name(tag)?;
        self.attributes(tag, |_, _| {})
    }

    /// The element's name is an XML name (see [`is_xml_name`]).
    fn check_name(&self, tag: &Tag<'a>) -> Result<(), InputError> {
        if is_xml_name(tag.name) {
            Ok(())
        } else {
            Err(self.malformed(
                format!("invalid element name <{}>", truncate_name(tag.name)),
                self.position(),
            ))
        }
    }

    /// Calls `f` with each attribute name and (unescaped) value of a tag.
    fn attributes(
        &self,
        tag: &Tag<'a>,
        mut f: impl FnMut(&[u8], Cow<'a, str>),
    ) -> Result<(), InputError> {
        let mut pairs: Pairs<'a> = [("", ""); FAST_ATTRIBUTES];
        if self.fast
            && let Some(count) = plain_pairs(tag.attrs, &mut pairs)
        {
            for (key, value) in &pairs[..count] {
                f(key.as_bytes(), Cow::Borrowed(value));
            }
            return Ok(());
        }
        if !attributes_separated(tag.attrs) {
            return Err(self.malformed(
                format!(
                    "attributes without white space between them in <{}>",
                    tag.name
                ),
                self.position(),
            ));
        }
        // With checks: duplicate attributes and missing quotes are errors, as for libxml2.
        let mut attrs = Attributes::new(tag.attrs, 0);
        attrs.with_checks(true);
        for (n, attr) in attrs.enumerate() {
            if n >= MAX_ATTRIBUTES {
                return Err(InputError::at(
                    ErrorKind::TooManyElements,
                    format!(
                        "more than {MAX_ATTRIBUTES} attributes on <{}>",
                        truncate_name(tag.name)
                    ),
                    self.data,
                    self.offset_in_data(self.position()),
                ));
            }
            let attr = attr.map_err(|_| {
                self.malformed(
                    format!("malformed attribute in <{}>", truncate_name(tag.name)),
                    self.position(),
                )
            })?;
            // quick-xml takes any run of bytes up to `=` for a name; libxml2 refuses the file (and
            // libvirt with it) unless it is an XML name. (The fast paths read plain names only.)
            if !is_xml_name(attr.key.as_ref()) {
                return Err(self.malformed(
                    format!("invalid attribute name in <{}>", truncate_name(tag.name)),
                    self.position(),
                ));
            }
            // Values without references or whitespace to normalise are borrowed as they are.
            if memchr::memchr(b'<', attr.value.as_bytes()).is_some() {
                return Err(self.malformed(
                    format!("'<' in an attribute value of <{}>", tag.name),
                    self.position(),
                ));
            }
            if let Cow::Borrowed(raw) = attr.value
                && memchr::memchr3(b'&', b'\n', b'\t', raw.as_bytes()).is_none()
                && memchr::memchr(b'\r', raw.as_bytes()).is_none()
            {
                f(attr.key.as_ref().as_bytes(), Cow::Borrowed(raw));
                continue;
            }
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| {
                    self.malformed(
                        format!(
                            "bad attribute value in <{}>: {}",
                            truncate_name(tag.name),
                            describe_xml_error(&e)
                        ),
                        self.position(),
                    )
                })?;
            // quick-xml resolves `&#6;` or `&#xFFFE;` like any other reference; XML allows references
            // to its Chars only. (A literal non-Char was refused with the whole text, so any one here
            // came from a reference.)
            if !value.chars().all(is_xml_char) {
                return Err(self.malformed(
                    format!(
                        "bad attribute value in <{}>: invalid character reference",
                        truncate_name(tag.name)
                    ),
                    self.position(),
                ));
            }
            f(attr.key.as_ref().as_bytes(), value);
        }
        Ok(())
    }

    fn document(&mut self) -> Result<Document<'a>, InputError> {
        let mut document: Option<Document<'a>> = None;
        let mut seen_markup = false;
        loop {
            match self.next()? {
                Event::Start(start) | Event::Empty(start) if document.is_some() => {
                    let name = self.tag(&start).name;
                    return Err(
                        self.malformed(format!("second root element <{name}>"), self.position())
                    );
                }
                Event::Start(start) => {
                    document = Some(self.root(&start, false)?);
                }
                Event::Empty(start) => {
                    document = Some(self.root(&start, true)?);
                }
                Event::Text(t) if t.bytes().all(|b| b.is_ascii_whitespace()) => {}
                Event::Text(_) | Event::CData(_) | Event::GeneralRef(_) => {
                    return Err(self.malformed("text outside the root element", self.position()));
                }
                Event::End(_) => return Err(self.malformed("unexpected end tag", self.position())),
                Event::Eof => break,
                Event::Decl(_) if seen_markup => {
                    return Err(self.malformed(
                        "XML declaration not at the start of the file",
                        self.position(),
                    ));
                }
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
            seen_markup = true;
        }
        let document =
            document.ok_or_else(|| self.malformed("no root element", self.text.len()))?;
        if let Some(name) = self.other_root {
            return Err(InputError::new(
                ErrorKind::NotDomain,
                format!("root element is <{name}>: one of libvirt's other objects, not a guest"),
            ));
        }
        Ok(document)
    }

    fn root(&mut self, start: &BytesStart<'a>, empty: bool) -> Result<Document<'a>, InputError> {
        let tag = self.tag(start);
        match tag.name {
            "domstatus" => {
                let mut doc = new_document(DocKind::Status);
                self.attributes(&tag, |key, value| match key {
                    b"state" => doc.domain.state = Some(value),
                    b"reason" => doc.domain.reason = Some(value),
                    b"pid" => doc.domain.pid = parse_i64(&value),
                    _ => {}
                })?;
                let mut seen_domain = false;
                if !empty {
                    self.children(
                        1,
                        "domstatus",
                        |p, child_tag, child_empty| match child_tag.name {
                            "domain" if !seen_domain => {
                                seen_domain = true;
                                p.domain(child_tag, child_empty, 2, &mut doc)
                            }
                            "qemuCaps" => {
                                doc.domain.has_qemu_caps = true;
                                p.check_plain_tag(child_tag)?;
                                p.named_list(
                                    child_empty,
                                    2,
                                    "qemuCaps",
                                    "flag",
                                    b"name",
                                    &mut doc.caps,
                                )
                            }
                            "devices" => {
                                doc.domain.has_live_devices = true;
                                p.check_plain_tag(child_tag)?;
                                p.named_list(
                                    child_empty,
                                    2,
                                    "devices",
                                    "device",
                                    b"alias",
                                    &mut doc.live_aliases,
                                )
                            }
                            "blockjobs" => {
                                p.attributes(child_tag, |key, value| {
                                    if key == b"active" {
                                        doc.domain.blockjobs_active = Some(value);
                                    }
                                })?;
                                p.skip(child_empty, 2, "blockjobs")
                            }
                            _ => {
                                p.check_tag(child_tag)?;
                                p.skip(child_empty, 2, child_tag.name)
                            }
                        },
                    )?;
                }
                if !seen_domain {
                    return Err(InputError::new(
                        ErrorKind::NotLibvirt,
                        "<domstatus> without a <domain> element: not a libvirt status file",
                    ));
                }
                Ok(doc)
            }
            "domain" => {
                let mut doc = new_document(DocKind::Domain);
                self.domain(&tag, empty, 1, &mut doc)?;
                Ok(doc)
            }
            other if LIBVIRT_OTHER_ROOTS.contains(&other) => {
                self.check_tag(&tag)?;
                self.skip(empty, 1, other)?;
                self.other_root = Some(other);
                Ok(new_document(DocKind::Domain))
            }
            other => Err(InputError::new(
                ErrorKind::NotLibvirt,
                format!(
                    "root element is <{}>, not <domstatus> or <domain>",
                    truncate_name(other)
                ),
            )),
        }
    }

    /// Visits the child elements of the element just opened at `depth - 1`, until its end tag.
    /// `visit` gets each child's start tag and must consume the child's content.
    fn children(
        &mut self,
        depth: u32,
        parent: &str,
        mut visit: impl FnMut(&mut Self, &Tag<'a>, bool) -> Result<(), InputError>,
    ) -> Result<(), InputError> {
        self.check_depth(depth)?;
        loop {
            if self.fast
                && let Some((tag, empty)) = self.plain_start_tag()?
            {
                visit(self, &tag, empty)?;
                continue;
            }
            match self.next()? {
                Event::Start(start) => visit(self, &self.tag(&start), false)?,
                Event::Empty(start) => visit(self, &self.tag(&start), true)?,
                Event::End(end) => return self.end_of(&end, parent),
                Event::Eof => return Err(self.truncated(parent)),
                _ => {}
            }
        }
    }

    /// Fast path for the next child: when only white space stands before a start tag with a plain
    /// name, reads that tag without quick-xml, counts it and returns it. Like quick-xml's events, it
    /// leaves the attributes to whoever reads them ([`Parser::attributes`], [`Parser::check_tag`]).
    /// Anything else (an end tag, text, comments, unusual names) is left to quick-xml's events.
    fn plain_start_tag(&mut self) -> Result<Option<(Tag<'a>, bool)>, InputError> {
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

    /// Walks over an element's content that no table reads ([`skip_content`]: every tag still checked,
    /// nothing decoded), then reads its end tag ([`Parser::end_tag`]).
    fn skip(&mut self, empty: bool, depth: u32, name: &str) -> Result<(), InputError> {
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
    fn skip_slow(&mut self, depth: u32, name: &str) -> Result<(), InputError> {
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

    /// `<qemuCaps><flag name=…/>…` and `<devices><device alias=…/>…`: one attribute of each child.
    fn named_list(
        &mut self,
        empty: bool,
        depth: u32,
        parent: &str,
        item: &str,
        key: &[u8],
        out: &mut Vec<Cow<'a, str>>,
    ) -> Result<(), InputError> {
        if empty {
            return Ok(());
        }
        if self.fast
            && let Some(end) = fast_named_list(
                self.remaining_text(),
                parent.as_bytes(),
                item.as_bytes(),
                key,
                out,
            )
        {
            self.jump(end);
            return self.end_tag(parent);
        }
        self.children(depth, parent, |p, tag, child_empty| {
            if tag.name == item {
                let mut value = None;
                p.attributes(tag, |k, v| {
                    if k == key {
                        value = Some(v);
                    }
                })?;
                out.extend(value);
            } else {
                p.check_tag(tag)?;
            }
            p.skip(child_empty, depth + 1, tag.name)
        })
    }

    /// Text content of a simple element (`<name>`, `<uuid>`, `<emulator>`); child elements are skipped.
    fn text_content(
        &mut self,
        empty: bool,
        depth: u32,
        name: &str,
    ) -> Result<Cow<'a, str>, InputError> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        self.check_depth(depth)?;
        let mut out: Cow<'a, str> = Cow::Borrowed("");
        loop {
            let piece: Cow<'a, str> = match self.next()? {
                // (`]]>` in text is refused by `next`)
                Event::Text(t) => Cow::Borrowed(self.tag_text(&t)),
                Event::CData(c) => {
                    let s: &str = &c;
                    Cow::Owned(s.to_string())
                }
                Event::GeneralRef(r) => self.resolve_ref(&r)?,
                Event::Start(start) => {
                    let child = self.tag(&start);
                    self.check_tag(&child)?;
                    self.skip(false, depth + 1, child.name)?;
                    continue;
                }
                Event::Empty(start) => {
                    self.check_tag(&self.tag(&start))?;
                    continue;
                }
                Event::End(end) => {
                    self.end_of(&end, name)?;
                    return Ok(normalize_line_ends(out));
                }
                Event::Eof => return Err(self.truncated(name)),
                _ => continue,
            };
            if out.is_empty() {
                out = piece;
            } else {
                out.to_mut().push_str(&piece);
            }
        }
    }

    /// Text events borrow from the input too; same re-borrowing as for tags.
    fn tag_text(&self, text: &quick_xml::events::BytesText<'_>) -> &'a str {
        let content: &str = text;
        let base = self.text.as_ptr() as usize;
        match (content.as_ptr() as usize).checked_sub(base) {
            Some(offset) if offset + content.len() <= self.text.len() => {
                &self.text[offset..offset + content.len()]
            }
            _ => "",
        }
    }

    fn domain(
        &mut self,
        tag: &Tag<'a>,
        empty: bool,
        depth: u32,
        doc: &mut Document<'a>,
    ) -> Result<(), InputError> {
        self.attributes(tag, |key, value| match key {
            b"type" => doc.domain.virt_type = Some(value),
            b"id" => doc.domain.id = parse_i64(&value),
            _ => {}
        })?;
        if empty {
            return Ok(());
        }
        // libvirt reads the first of each of these elements.
        let (mut seen_os, mut seen_os_type) = (false, false);
        let (mut seen_name, mut seen_uuid, mut seen_emulator) = (false, false, false);
        self.children(depth, "domain", |p, child_tag, child_empty| {
            // Every tag is checked as libxml2 would (libvirt refuses the whole file otherwise), whether or
            // not a table reads its attributes.
            p.check_plain_tag(child_tag)?;
            match child_tag.name {
                "name" if !seen_name => {
                    seen_name = true;
                    doc.domain.name = non_empty(p.text_content(child_empty, depth + 1, "name")?);
                }
                "uuid" if !seen_uuid => {
                    seen_uuid = true;
                    doc.domain.uuid = non_empty(p.text_content(child_empty, depth + 1, "uuid")?);
                }
                "os" if !seen_os => {
                    seen_os = true;
                    if !child_empty {
                        p.children(depth + 1, "os", |p, os_tag, os_empty| {
                            if os_tag.name == "type" && !seen_os_type {
                                seen_os_type = true;
                                p.attributes(os_tag, |key, value| match key {
                                    b"arch" => doc.domain.arch = Some(value),
                                    b"machine" => doc.domain.machine = Some(value),
                                    _ => {}
                                })?;
                            } else {
                                p.check_plain_tag(os_tag)?;
                            }
                            p.skip(os_empty, depth + 2, os_tag.name)
                        })?;
                    }
                }
                // Every <devices> section counts, as libvirt's `./devices/…` queries match them all.
                "devices" => {
                    if !child_empty {
                        p.children(depth + 1, "devices", |p, device_tag, device_empty| {
                            if device_tag.name == "emulator" {
                                p.check_plain_tag(device_tag)?;
                                if !seen_emulator {
                                    seen_emulator = true;
                                    doc.domain.emulator = non_empty(p.text_content(
                                        device_empty,
                                        depth + 2,
                                        "emulator",
                                    )?);
                                } else {
                                    p.skip(device_empty, depth + 2, "emulator")?;
                                }
                                return Ok(());
                            }
                            // Elements in a namespace are not libvirt devices (its XPath queries ignore them).
                            if device_tag.name.contains(':') {
                                p.check_plain_tag(device_tag)?;
                                return p.skip(device_empty, depth + 2, device_tag.name);
                            }
                            // Built in place: a device row is a few hundred bytes, not worth moving.
                            doc.devices.push(DeviceRow::default());
                            let row = doc.devices.last_mut().expect("just pushed");
                            p.device(device_tag, device_empty, depth + 2, row)
                        })?;
                    }
                }
                _ => p.skip(child_empty, depth + 1, child_tag.name)?,
            }
            Ok(())
        })
    }

    /// One device element under `<domain><devices>`.
    fn device(
        &mut self,
        tag: &Tag<'a>,
        empty: bool,
        depth: u32,
        row: &mut DeviceRow<'a>,
    ) -> Result<(), InputError> {
        let mut device = self.device_start(tag, row)?;
        if empty {
            device.finish();
            return Ok(());
        }
        self.check_depth(depth)?;
        // The usual device is plain markup, read here without quick-xml's events.
        let max_elements = self.limits.max_elements.saturating_sub(self.elements);
        let max_level = self.limits.max_depth.saturating_sub(depth);
        if self.fast
            && let Some(read) =
                fast_device(self.remaining_text(), &mut device, max_level, max_elements)
        {
            self.elements += read.elements;
            self.jump(read.end);
            device.finish();
            return self.end_tag(tag.name);
        }
        // Something unusual: read the device again from its start tag, event by event, with every check.
        let mut device = self.device_start(tag, device.row)?;
        self.device_children(&mut device, depth, tag.name)?;
        device.finish();
        Ok(())
    }

    /// Starts (or starts again) the row of a device from its start tag.
    fn device_start<'r>(
        &self,
        tag: &Tag<'a>,
        row: &'r mut DeviceRow<'a>,
    ) -> Result<DeviceState<'a, 'r>, InputError> {
        // (any name is a device here, so it is checked like the names of skipped elements)
        self.check_name(tag)?;
        *row = DeviceRow {
            element: Cow::Borrowed(tag.name),
            ..DeviceRow::default()
        };
        let mut device = DeviceState::new(tag.name, row);
        self.attributes(tag, |key, value| device.start_attribute(key, value))?;
        Ok(device)
    }

    /// The content of a device element, event by event, up to and including its end tag.
    fn device_children(
        &mut self,
        device: &mut DeviceState<'a, '_>,
        depth: u32,
        name: &str,
    ) -> Result<(), InputError> {
        // Names of the elements open inside the device; level 1 = direct children of the device.
        let mut open: Vec<&'a str> = Vec::new();
        loop {
            let (start, child_empty) = match self.next()? {
                Event::Start(start) => (start, false),
                Event::Empty(start) => (start, true),
                Event::End(end) => {
                    let Some(inner) = open.last() else {
                        return self.end_of(&end, name);
                    };
                    self.end_of(&end, inner)?;
                    device.end(level_of(&open));
                    open.pop();
                    continue;
                }
                Event::Eof => return Err(self.truncated(name)),
                _ => continue,
            };
            let child_level = level_of(&open) + 1;
            self.check_depth(depth + child_level)?;
            let child = self.tag(&start);
            device.child(
                child.name,
                child_level,
                child_empty,
                &Attrs::Checked(self, &child),
            )?;
            if !child_empty {
                open.push(child.name);
            }
        }
    }
}

fn level_of(open: &[&str]) -> u32 {
    u32::try_from(open.len()).unwrap_or(u32::MAX)
}

/// The attributes of a tag: read through the checked path, or already read by a fast path.
enum Attrs<'p, 'a> {
    Checked(&'p Parser<'a>, &'p Tag<'a>),
    Plain(&'p [(&'a str, &'a str)]),
}

impl<'a> Attrs<'_, 'a> {
    fn each(&self, mut f: impl FnMut(&[u8], Cow<'a, str>)) -> Result<(), InputError> {
        match self {
            Attrs::Checked(parser, tag) => parser.attributes(tag, f),
            Attrs::Plain(pairs) => {
                for (key, value) in pairs.iter() {
                    f(key.as_bytes(), Cow::Borrowed(value));
                }
                Ok(())
            }
        }
    }

    /// Checks attributes that no table reads (plain ones were checked when they were read).
    fn check(&self) -> Result<(), InputError> {
        match self {
            Attrs::Checked(parser, tag) => parser.check_plain_tag(tag),
            Attrs::Plain(_) => Ok(()),
        }
    }
}

/// A device row being read, and which of its children have been seen. Both ways of reading a device's
/// content (the fast path and the event-based one) feed it the same calls, so they agree by construction.
struct DeviceState<'a, 'r> {
    row: &'r mut DeviceRow<'a>,
    model_attr: Text<'a>,
    model_child: Text<'a>,
    is_controller: bool,
    is_video: bool,
    // The first of each child counts, as for libvirt.
    seen_alias: bool,
    seen_address: bool,
    seen_model: bool,
    seen_target: bool,
    /// Level at which a `<privateData>` is open, so that its `<objects>` child can be recognised.
    private_data_level: Option<u32>,
}

impl<'a, 'r> DeviceState<'a, 'r> {
    fn new(element: &str, row: &'r mut DeviceRow<'a>) -> Self {
        DeviceState {
            row,
            model_attr: None,
            model_child: None,
            is_controller: element == "controller",
            is_video: element == "video",
            seen_alias: false,
            seen_address: false,
            seen_model: false,
            seen_target: false,
            private_data_level: None,
        }
    }

    fn start_attribute(&mut self, key: &[u8], value: Cow<'a, str>) {
        match key {
            b"type" => self.row.type_ = Some(value),
            b"model" => self.model_attr = Some(value),
            b"index" => self.row.index = parse_u32(&value),
            b"managed" => self.row.managed = Some(value),
            _ => {}
        }
    }

    /// A start tag inside the device, at `level` (1 = a direct child).
    fn child(
        &mut self,
        name: &str,
        level: u32,
        empty: bool,
        attrs: &Attrs<'_, 'a>,
    ) -> Result<(), InputError> {
        let row = &mut *self.row;
        match name {
            "alias" if level == 1 && !self.seen_alias => {
                self.seen_alias = true;
                attrs.each(|key, value| {
                    if key == b"name" {
                        row.alias = Some(value);
                    }
                })
            }
            "address" if level == 1 && !self.seen_address => {
                self.seen_address = true;
                address(attrs, row)
            }
            "model" if level == 1 && !self.seen_model => {
                self.seen_model = true;
                let (model_child, is_video) = (&mut self.model_child, self.is_video);
                attrs.each(|key, value| match key {
                    b"type" => *model_child = Some(value),
                    b"name" => row.model_name = Some(value),
                    b"device" if is_video => row.video_device = Some(value),
                    _ => {}
                })
            }
            "target" if level == 1 && self.is_controller && !self.seen_target => {
                self.seen_target = true;
                attrs.each(|key, value| match key {
                    b"index" => row.target_index = parse_u32(&value),
                    b"chassis" => row.target_chassis = parse_u32(&value),
                    b"port" => row.target_port = parse_u32(&value),
                    b"hotplug" => row.target_hotplug = Some(value),
                    _ => {}
                })
            }
            "auth" => {
                row.has_auth = true;
                attrs.check()
            }
            // (the attributes of these are read by no table, but checked like any others')
            "encryption" => {
                row.has_encryption = true;
                attrs.check()
            }
            "origstates" => {
                row.has_origstates = true;
                attrs.check()
            }
            "actual" => {
                row.has_actual = true;
                attrs.check()
            }
            "privateData" if !empty => {
                self.private_data_level = Some(level);
                attrs.check()
            }
            "objects" if self.private_data_level == Some(level - 1) => {
                row.has_private_objects = true;
                attrs.check()
            }
            "source" => attrs.each(|key, value| {
                if key == b"tls" && value == "yes" {
                    row.has_tls = true;
                }
            }),
            _ => attrs.check(),
        }
    }

    /// The end tag of the element open at `level`.
    fn end(&mut self, level: u32) {
        if self.private_data_level == Some(level) {
            self.private_data_level = None;
        }
    }

    fn finish(self) {
        self.row.model = self.model_attr.or(self.model_child);
    }
}

fn address<'a>(attrs: &Attrs<'_, 'a>, row: &mut DeviceRow<'a>) -> Result<(), InputError> {
    let mut address_type: Text<'a> = None;
    let (mut domain, mut bus, mut slot, mut function) = (None, None, None, None);
    let mut multifunction = None;
    attrs.each(|key, value| match key {
        b"type" => address_type = Some(value),
        b"domain" => domain = Some(value),
        b"bus" => bus = Some(value),
        b"slot" => slot = Some(value),
        b"function" => function = Some(value),
        b"multifunction" => multifunction = Some(value),
        _ => {}
    })?;
    match address_type.as_deref() {
        Some("pci") => {
            row.pci_domain = domain.as_deref().and_then(parse_u32);
            row.pci_bus = bus.as_deref().and_then(parse_u32);
            row.pci_slot = slot.as_deref().and_then(parse_u32);
            row.pci_function = function.as_deref().and_then(parse_u32);
            row.multifunction = match multifunction.as_deref() {
                Some("on") => Some(true),
                Some("off") => Some(false),
                _ => None,
            };
        }
        Some("dimm") => row.dimm_slot = slot.as_deref().and_then(parse_u32),
        _ => {}
    }
    row.address_type = address_type;
    Ok(())
}

/// Deepest nesting inside one device that the fast path follows (real devices stay below 6).
const FAST_LEVELS: usize = 16;

/// Most attributes on one tag that the fast paths read (libvirt writes at most a handful).
const FAST_ATTRIBUTES: usize = 8;

type Pairs<'a> = [(&'a str, &'a str); FAST_ATTRIBUTES];

/// What [`fast_device`] read: where the device's end tag starts, and how many elements it passed.
struct FastRead {
    end: usize,
    elements: u64,
}

/// Fast path for the content of a device element, from just after its start tag to the `<` of its
/// end tag: plain start tags (see [`plain_pairs`]), end tags matching their start tags, text without
/// references. Anything else (comments, CDATA, processing instructions, references, unusual attributes
/// or names, a limit reached) returns `None`; the event-based path then reads the device again from
/// its start and reports any fault precisely.
fn fast_device<'a>(
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
fn plain_value_len(value: &[u8], quote: u8) -> Option<usize> {
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
fn plain_pairs<'t>(attrs: &'t str, out: &mut Pairs<'t>) -> Option<usize> {
    let (count, end) = pairs_from(attrs, 0, out)?;
    (end == attrs.len()).then_some(count)
}

/// Reads plain attributes (see [`plain_pairs`]) from `text[i..]` up to the end of the text or to a `>`
/// or `/` where an attribute could start. Returns how many there were, and where reading stopped.
fn pairs_from<'t>(text: &'t str, mut i: usize, out: &mut Pairs<'t>) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    let mut count = 0;
    let mut seen = 0u64;
    loop {
        // libvirt writes ` name='value'`: one space before the name and none around `=`. That spelling
        // is recognised by its first bytes, without the three white-space skips of the general one.
        let start = if b.get(i) == Some(&b' ') && b.get(i + 1).is_some_and(|&c| is_name_start(c)) {
            i + 1
        } else {
            let before = i;
            i = skip_ws(b, i);
            if i == b.len() || b[i] == b'>' || b[i] == b'/' {
                return Some((count, i));
            }
            if i == before || !is_name_start(b[i]) {
                return None;
            }
            i
        };
        if count == FAST_ATTRIBUTES {
            return None;
        }
        i = start + name_len(&b[start..]);
        let name = text.get(start..i)?;
        if b.get(i) == Some(&b'=') {
            i += 1;
        } else {
            i = skip_ws(b, i);
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i += 1;
        }
        let quote = match b.get(i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => {
                i = skip_ws(b, i);
                match b.get(i) {
                    Some(&q @ (b'\'' | b'"')) => q,
                    _ => return None,
                }
            }
        };
        let len = plain_value_len(&b[i + 1..], quote)?;
        let value = text.get(i + 1..i + 1 + len)?;
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

/// Whether `name` is an XML name (XML 1.0, fifth edition, as libxml2 reads names): a NameStartChar,
/// then NameChars. What libxml2 refuses as a name (`1bus`, `-x`, `a@b`, `×`) makes libvirt refuse the
/// whole file.
fn is_xml_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    // The usual name is ASCII, checked a block at a time; any other takes the character loop.
    if bytes
        .first()
        .is_some_and(|&b| is_name_start(b) || b == b':')
        && name_len(bytes) == bytes.len()
    {
        return true;
    }
    let mut chars = name.chars();
    chars.next().is_some_and(is_name_start_char) && chars.all(is_name_char)
}

/// XML 1.0's Char: what a document may hold, and what a character reference may stand for.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML 1.0 (fifth edition) NameStartChar.
fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

/// XML 1.0 (fifth edition) NameChar.
fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// A byte that may start a name on the fast paths (a letter or `_`; anything else takes the long way).
fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// One of 64 bits for an attribute name (from its length and first and last bytes), so that the names
/// of one tag, which differ there, rarely share a bit.
fn name_bit(name: &[u8]) -> u64 {
    let (first, last) = (name.first().copied(), name.last().copied());
    let key = (u64::from(first.unwrap_or(0)) << 16)
        | (u64::from(last.unwrap_or(0)) << 8)
        | name.len() as u64;
    1 << (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58)
}

/// A start tag read whole by [`plain_tag`].
struct PlainTag<'t> {
    name: &'t str,
    /// How many attributes were read into the caller's pairs.
    attributes: usize,
    empty: bool,
    /// Offset just after the tag's `>`.
    end: usize,
}

/// Reads the start tag whose name begins at `text[start]` (just after its `<`) when it is plain: a
/// simple name, plain attributes (see [`plain_pairs`]), then `>` or `/>`. One pass over the tag finds
/// its end and its attributes. Anything else returns `None`, for the checked path.
fn plain_tag<'t>(text: &'t str, start: usize, out: &mut Pairs<'t>) -> Option<PlainTag<'t>> {
    let b = text.as_bytes();
    if !b.get(start).is_some_and(|&c| is_name_start(c)) {
        return None;
    }
    let name_end = start + name_len(&b[start..]);
    if name_end == b.len() {
        return None;
    }
    let name = text.get(start..name_end)?;
    let (attributes, i) = pairs_from(text, name_end, out)?;
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

/// After each quoted value in a tag, XML requires white space, `/` or the end before anything else.
fn attributes_separated(attrs: &str) -> bool {
    let bytes = attrs.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => {
                quote = None;
                if bytes
                    .get(i + 1)
                    .is_some_and(|&n| !n.is_ascii_whitespace() && n != b'/')
                {
                    return false;
                }
            }
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None => {}
        }
    }
    true
}

fn non_empty(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!text.is_empty()).then_some(text)
}

/// XML parsers hand text over with `\r\n` and lone `\r` read as `\n`.
fn normalize_line_ends(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains('\r') {
        return text;
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

fn is_name_end(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/')
}

enum Skipped {
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
fn skip_content(text: &str, max_nesting: u32) -> Skipped {
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
fn needs_checked_text(span: &[u8]) -> bool {
    // (one pass for the usual span, which has neither `&` nor `]`)
    memchr::memchr2(b'&', b']', span)
        .is_some_and(|_| memchr::memchr(b'&', span).is_some() || holds_cdata_end(span))
}

/// Whether `text` holds `]]>` (looked for only where there is a `]`: text is mostly white space).
fn holds_cdata_end(text: &[u8]) -> bool {
    memchr::memchr(b']', text).is_some_and(|at| memchr::memmem::find(&text[at..], b"]]>").is_some())
}

/// The offset just past a comment that starts at `at` (`<!--`), if it is plainly well formed: XML
/// forbids `--` inside a comment, so the first `--` must be the one that closes it. A comment that
/// starts with `-` or `>` (where parsers disagree on `<!-->` and `<!--->`) or breaks the rule gets
/// `None`, and the caller leaves it to the event-based path, which reports it or reads it.
fn comment_end(bytes: &[u8], at: usize) -> Option<usize> {
    let from = at + 4;
    if matches!(bytes.get(from), None | Some(b'-' | b'>')) {
        return None;
    }
    let dashes = from + memchr::memmem::find(&bytes[from..], b"--")?;
    (bytes.get(dashes + 2) == Some(&b'>')).then_some(dashes + 3)
}

fn skip_ws(s: &[u8], mut i: usize) -> usize {
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
fn fast_named_list<'a>(
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

fn named_list_items<'a>(
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

fn new_document<'a>(kind: DocKind) -> Document<'a> {
    Document {
        domain: DomainRow::new(kind),
        // Sized for a typical status file, so that the vectors rarely grow.
        devices: Vec::with_capacity(48),
        caps: Vec::with_capacity(if kind == DocKind::Status { 320 } else { 0 }),
        live_aliases: Vec::with_capacity(if kind == DocKind::Status { 48 } else { 0 }),
    }
}

/// Element names in messages are cut short: a hostile file must not put megabytes into a message.
fn truncate_name(name: &str) -> String {
    const MAX: usize = 64;
    if name.len() <= MAX {
        return name.to_string();
    }
    let mut end = MAX;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

/// A description of a quick-xml error that never quotes the input: an attribute value or an entity
/// name may hold a secret (a graphics password cut in half, say), so only the category and, for tag
/// mismatches, the (shortened) element names are kept.
fn describe_xml_error(err: &quick_xml::Error) -> String {
    use quick_xml::errors::IllFormedError;
    match err {
        quick_xml::Error::Syntax(e) => format!("syntax error: {e}"),
        quick_xml::Error::IllFormed(IllFormedError::MismatchedEndTag { expected, found }) => {
            format!(
                "end tag </{}> does not match <{}>",
                truncate_name(found),
                truncate_name(expected)
            )
        }
        quick_xml::Error::IllFormed(IllFormedError::UnmatchedEndTag(name)) => {
            format!("end tag </{}> without a start tag", truncate_name(name))
        }
        quick_xml::Error::IllFormed(IllFormedError::DoubleHyphenInComment) => {
            "'--' inside a comment".to_string()
        }
        quick_xml::Error::IllFormed(_) => "ill-formed document".to_string(),
        quick_xml::Error::InvalidAttr(_) => "malformed attribute".to_string(),
        quick_xml::Error::Escape(_) => "invalid character or entity reference".to_string(),
        quick_xml::Error::Encoding(_) => "invalid encoding".to_string(),
        quick_xml::Error::Namespace(_) => "invalid namespace".to_string(),
        quick_xml::Error::Io(_) => "read error".to_string(),
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
    fn numbers_follow_strtoul_base_zero() {
        assert_eq!(parse_u32("0x1f"), Some(31));
        assert_eq!(parse_u32("0X10"), Some(16));
        assert_eq!(parse_u32("010"), Some(8));
        assert_eq!(parse_u32("0"), Some(0));
        assert_eq!(parse_u32("12"), Some(12));
        assert_eq!(parse_u32(""), None);
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32("0x100000000"), None);
        assert_eq!(parse_u32("09"), None);
        assert_eq!(parse_u32("zz"), None);
    }
}

#[cfg(test)]
mod fast_path_tests {
    use super::*;

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
