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
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::reader::Reader;

use crate::error::{ErrorKind, InputError};
use crate::rows::{DeviceRow, DocKind, Document, DomainRow, Text};

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
        Limits { max_file_size: 64 * 1024 * 1024, max_depth: 256, max_elements: 1_000_000 }
    }
}

/// Parses one file's bytes. On error nothing of the document is returned.
pub fn parse_document<'a>(data: &'a [u8], limits: &Limits) -> Result<Document<'a>, InputError> {
    let text = decode(data)?;
    let mut parser = Parser {
        reader: Reader::from_str(text),
        text,
        data,
        limits: *limits,
        elements: 0,
    };
    parser.document()
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
    let text = std::str::from_utf8(body).map_err(|e| {
        let offset = e.valid_up_to() + (data.len() - body.len());
        InputError::at(ErrorKind::NotUtf8, "invalid UTF-8", data, offset)
    })?;
    if let Some(offset) = memchr::memchr(0, body) {
        let offset = offset + (data.len() - body.len());
        return Err(InputError::at(ErrorKind::MalformedXml, "NUL byte in XML", data, offset));
    }
    Ok(text)
}

/// Parses a number as libvirt's `virStrToLong_ui(..., 0, ...)` does: `0x` hex, leading `0` octal.
pub fn parse_u32(value: &str) -> Option<u32> {
    let (digits, radix) = if let Some(hex) = value.strip_prefix("0x").or_else(|| value.strip_prefix("0X")) {
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

fn parse_i64(value: &str) -> Option<i64> {
    value.parse().ok()
}

struct Parser<'a> {
    reader: Reader<&'a [u8]>,
    text: &'a str,
    data: &'a [u8],
    limits: Limits,
    elements: u64,
}

/// The attributes of a start tag, with values borrowed from the input where possible.
struct Tag<'a> {
    name: &'a str,
    attrs: &'a str,
}

impl<'a> Parser<'a> {
    fn position(&self) -> usize {
        usize::try_from(self.reader.buffer_position()).unwrap_or(usize::MAX)
    }

    fn malformed(&self, message: impl Into<String>, offset: usize) -> InputError {
        InputError::at(ErrorKind::MalformedXml, message, self.data, self.offset_in_data(offset))
    }

    /// Offsets from the reader count from the start of the text, which excludes a UTF-8 BOM.
    fn offset_in_data(&self, offset: usize) -> usize {
        offset + (self.data.len() - self.text.len())
    }

    fn truncated(&self, inside: &str) -> InputError {
        self.malformed(format!("unexpected end of file inside <{inside}> (truncated?)"), self.text.len())
    }

    /// The next event, with the limits and the entity policy applied.
    fn next(&mut self) -> Result<Event<'a>, InputError> {
        let event = self.reader.read_event().map_err(|e| {
            let offset = usize::try_from(self.reader.error_position()).unwrap_or(usize::MAX);
            self.malformed(describe_xml_error(&e), offset)
        })?;
        match &event {
            Event::Start(_) | Event::Empty(_) => {
                self.elements += 1;
                if self.elements > self.limits.max_elements {
                    return Err(InputError::at(
                        ErrorKind::TooManyElements,
                        format!("more than {} elements", self.limits.max_elements),
                        self.data,
                        self.offset_in_data(self.position()),
                    ));
                }
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
            _ => {}
        }
        Ok(event)
    }

    fn resolve_ref(&self, r: &BytesRef<'_>) -> Result<Cow<'static, str>, InputError> {
        if r.is_char_ref() {
            return match r.resolve_char_ref() {
                Ok(Some(c)) => Ok(Cow::Owned(c.to_string())),
                _ => Err(self.malformed("invalid character reference", self.position())),
            };
        }
        match resolve_predefined_entity(r) {
            Some(s) => Ok(Cow::Borrowed(s)),
            None => Err(self.malformed("reference to an undeclared entity", self.position())),
        }
    }

    fn check_depth(&self, depth: u32) -> Result<(), InputError> {
        if depth > self.limits.max_depth {
            return Err(InputError::at(
                ErrorKind::TooDeep,
                format!("elements nested more than {} levels deep", self.limits.max_depth),
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
            Some(offset) if offset + content.len() <= self.text.len() => &self.text[offset..offset + content.len()],
            _ => "",
        };
        let name_len = start.name().as_ref().len().min(content.len());
        Tag { name: &content[..name_len], attrs: &content[name_len..] }
    }

    /// Calls `f` with each attribute name and (unescaped) value of a tag.
    fn attributes(&self, tag: &Tag<'a>, mut f: impl FnMut(&[u8], Cow<'a, str>)) -> Result<(), InputError> {
        let mut attrs = Attributes::new(tag.attrs, 0);
        attrs.with_checks(false);
        for attr in attrs {
            let attr = attr.map_err(|e| self.malformed(format!("bad attribute in <{}>: {e}", tag.name), self.position()))?;
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| self.malformed(format!("bad attribute value in <{}>: {}", tag.name, describe_xml_error(&e)), self.position()))?;
            f(attr.key.as_ref().as_bytes(), value);
        }
        Ok(())
    }

    fn document(&mut self) -> Result<Document<'a>, InputError> {
        let mut document: Option<Document<'a>> = None;
        loop {
            match self.next()? {
                Event::Start(start) | Event::Empty(start) if document.is_some() => {
                    let name = self.tag(&start).name;
                    return Err(self.malformed(format!("second root element <{name}>"), self.position()));
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
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
            }
        }
        document.ok_or_else(|| self.malformed("no root element", self.text.len()))
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
                    self.children(1, "domstatus", |p, child, child_empty| {
                        let child_tag = p.tag(child);
                        match child_tag.name {
                            "domain" if !seen_domain => {
                                seen_domain = true;
                                p.domain(&child_tag, child_empty, 2, &mut doc)
                            }
                            "qemuCaps" => {
                                doc.domain.has_qemu_caps = true;
                                p.named_list(child_empty, 2, "qemuCaps", "flag", b"name", &mut doc.caps)
                            }
                            "devices" => {
                                doc.domain.has_live_devices = true;
                                p.named_list(child_empty, 2, "devices", "device", b"alias", &mut doc.live_aliases)
                            }
                            "blockjobs" => {
                                p.attributes(&child_tag, |key, value| {
                                    if key == b"active" {
                                        doc.domain.blockjobs_active = Some(value);
                                    }
                                })?;
                                p.skip(child_empty, 2, "blockjobs")
                            }
                            name => p.skip(child_empty, 2, name),
                        }
                    })?;
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
            other => Err(InputError::new(
                ErrorKind::NotLibvirt,
                format!("root element is <{}>, not <domstatus> or <domain>", truncate_name(other)),
            )),
        }
    }

    /// Visits the child elements of the element just opened at `depth - 1`, until its end tag.
    /// `visit` gets each child's start tag and must consume the child's content.
    fn children(
        &mut self,
        depth: u32,
        parent: &str,
        mut visit: impl FnMut(&mut Self, &BytesStart<'a>, bool) -> Result<(), InputError>,
    ) -> Result<(), InputError> {
        self.check_depth(depth)?;
        loop {
            match self.next()? {
                Event::Start(start) => visit(self, &start, false)?,
                Event::Empty(start) => visit(self, &start, true)?,
                Event::End(_) => return Ok(()),
                Event::Eof => return Err(self.truncated(parent)),
                _ => {}
            }
        }
    }

    /// Walks over an element's content without looking at it.
    fn skip(&mut self, empty: bool, depth: u32, name: &str) -> Result<(), InputError> {
        if empty {
            return Ok(());
        }
        self.check_depth(depth)?;
        let mut level: u32 = 1;
        loop {
            match self.next()? {
                Event::Start(_) => {
                    level += 1;
                    self.check_depth(depth + level - 1)?;
                }
                Event::End(_) => {
                    level -= 1;
                    if level == 0 {
                        return Ok(());
                    }
                }
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
        self.children(depth, parent, |p, child, child_empty| {
            let tag = p.tag(child);
            if tag.name == item {
                let mut value = None;
                p.attributes(&tag, |k, v| {
                    if k == key {
                        value = Some(v);
                    }
                })?;
                out.extend(value);
            }
            p.skip(child_empty, depth + 1, tag.name)
        })
    }

    /// Text content of a simple element (`<name>`, `<uuid>`, `<emulator>`); child elements are skipped.
    fn text_content(&mut self, empty: bool, depth: u32, name: &str) -> Result<Cow<'a, str>, InputError> {
        if empty {
            return Ok(Cow::Borrowed(""));
        }
        self.check_depth(depth)?;
        let mut out: Cow<'a, str> = Cow::Borrowed("");
        loop {
            let piece: Cow<'a, str> = match self.next()? {
                Event::Text(t) => {
                    let s = self.tag_text(&t);
                    Cow::Borrowed(s)
                }
                Event::CData(c) => {
                    let s: &str = &c;
                    Cow::Owned(s.to_string())
                }
                Event::GeneralRef(r) => self.resolve_ref(&r)?,
                Event::Start(start) => {
                    let child = self.tag(&start).name;
                    self.skip(false, depth + 1, child)?;
                    continue;
                }
                Event::End(_) => return Ok(out),
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
            Some(offset) if offset + content.len() <= self.text.len() => &self.text[offset..offset + content.len()],
            _ => "",
        }
    }

    fn domain(&mut self, tag: &Tag<'a>, empty: bool, depth: u32, doc: &mut Document<'a>) -> Result<(), InputError> {
        self.attributes(tag, |key, value| match key {
            b"type" => doc.domain.virt_type = Some(value),
            b"id" => doc.domain.id = parse_i64(&value),
            _ => {}
        })?;
        if empty {
            return Ok(());
        }
        let mut seen_devices = false;
        self.children(depth, "domain", |p, child, child_empty| {
            let child_tag = p.tag(child);
            match child_tag.name {
                "name" if doc.domain.name.is_none() => {
                    doc.domain.name = Some(p.text_content(child_empty, depth + 1, "name")?);
                }
                "uuid" if doc.domain.uuid.is_none() => {
                    doc.domain.uuid = Some(p.text_content(child_empty, depth + 1, "uuid")?);
                }
                "os" => {
                    if !child_empty {
                        p.children(depth + 1, "os", |p, os_child, os_empty| {
                            let os_tag = p.tag(os_child);
                            if os_tag.name == "type" {
                                p.attributes(&os_tag, |key, value| match key {
                                    b"arch" => doc.domain.arch = Some(value),
                                    b"machine" => doc.domain.machine = Some(value),
                                    _ => {}
                                })?;
                            }
                            p.skip(os_empty, depth + 2, os_tag.name)
                        })?;
                    }
                }
                "devices" if !seen_devices => {
                    seen_devices = true;
                    if !child_empty {
                        p.children(depth + 1, "devices", |p, device, device_empty| {
                            let device_tag = p.tag(device);
                            if device_tag.name == "emulator" {
                                if doc.domain.emulator.is_none() {
                                    doc.domain.emulator = Some(p.text_content(device_empty, depth + 2, "emulator")?);
                                } else {
                                    p.skip(device_empty, depth + 2, "emulator")?;
                                }
                                return Ok(());
                            }
                            let row = p.device(&device_tag, device_empty, depth + 2)?;
                            doc.devices.push(row);
                            Ok(())
                        })?;
                    }
                }
                name => p.skip(child_empty, depth + 1, name)?,
            }
            Ok(())
        })
    }

    /// One device element under `<domain><devices>`.
    fn device(&mut self, tag: &Tag<'a>, empty: bool, depth: u32) -> Result<DeviceRow<'a>, InputError> {
        let mut row = DeviceRow { element: Cow::Borrowed(tag.name), ..DeviceRow::default() };
        let mut model_attr: Text<'a> = None;
        self.attributes(tag, |key, value| match key {
            b"type" => row.type_ = Some(value),
            b"model" => model_attr = Some(value),
            b"index" => row.index = parse_u32(&value),
            b"managed" => row.managed = Some(value),
            _ => {}
        })?;
        let is_controller = tag.name == "controller";
        let is_video = tag.name == "video";
        let mut model_child: Text<'a> = None;
        let mut seen_alias = false;
        let mut seen_address = false;
        if !empty {
            self.check_depth(depth)?;
            // level 1 = direct children of the device element.
            let mut level: u32 = 0;
            // level at which a <privateData> is open, so that its <objects> child can be recognised.
            let mut private_data_level: Option<u32> = None;
            loop {
                let (start, child_empty) = match self.next()? {
                    Event::Start(start) => (start, false),
                    Event::Empty(start) => (start, true),
                    Event::End(_) => {
                        if level == 0 {
                            break;
                        }
                        if private_data_level == Some(level) {
                            private_data_level = None;
                        }
                        level -= 1;
                        continue;
                    }
                    Event::Eof => return Err(self.truncated(tag.name)),
                    _ => continue,
                };
                let child_level = level + 1;
                self.check_depth(depth + child_level)?;
                let child = self.tag(&start);
                match child.name {
                    "alias" if child_level == 1 && !seen_alias => {
                        seen_alias = true;
                        self.attributes(&child, |key, value| {
                            if key == b"name" {
                                row.alias = Some(value);
                            }
                        })?;
                    }
                    "address" if child_level == 1 && !seen_address => {
                        seen_address = true;
                        self.address(&child, &mut row)?;
                    }
                    "model" if child_level == 1 => {
                        self.attributes(&child, |key, value| match key {
                            b"type" if model_child.is_none() => model_child = Some(value),
                            b"name" if row.model_name.is_none() => row.model_name = Some(value),
                            b"device" if is_video && row.video_device.is_none() => row.video_device = Some(value),
                            _ => {}
                        })?;
                    }
                    "target" if child_level == 1 && is_controller => {
                        self.attributes(&child, |key, value| match key {
                            b"index" => row.target_index = parse_u32(&value),
                            b"chassis" => row.target_chassis = parse_u32(&value),
                            b"port" => row.target_port = parse_u32(&value),
                            b"hotplug" => row.target_hotplug = Some(value),
                            _ => {}
                        })?;
                    }
                    "auth" => row.has_auth = true,
                    "encryption" => row.has_encryption = true,
                    "origstates" => row.has_origstates = true,
                    "actual" => row.has_actual = true,
                    "privateData" if !child_empty => private_data_level = Some(child_level),
                    "objects" if private_data_level == Some(level) => row.has_private_objects = true,
                    "source" => self.attributes(&child, |key, value| {
                        if key == b"tls" && value == "yes" {
                            row.has_tls = true;
                        }
                    })?,
                    _ => {}
                }
                if !child_empty {
                    level = child_level;
                }
            }
        }
        row.model = model_attr.or(model_child);
        Ok(row)
    }

    fn address(&self, tag: &Tag<'a>, row: &mut DeviceRow<'a>) -> Result<(), InputError> {
        let mut address_type: Text<'a> = None;
        let (mut domain, mut bus, mut slot, mut function) = (None, None, None, None);
        let mut multifunction = None;
        self.attributes(tag, |key, value| match key {
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
}

fn new_document<'a>(kind: DocKind) -> Document<'a> {
    Document { domain: DomainRow::new(kind), devices: Vec::new(), caps: Vec::new(), live_aliases: Vec::new() }
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

/// quick-xml's messages can quote input; keep only their category and the names involved, shortened.
fn describe_xml_error(err: &quick_xml::Error) -> String {
    let message = err.to_string();
    let mut out = String::with_capacity(message.len().min(200));
    for (i, c) in message.chars().enumerate() {
        if i >= 200 {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
