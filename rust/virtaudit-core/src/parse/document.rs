//! The walk over a document: the root, the domain's own values, the lists of capability flags and
//! live aliases, text content. Devices are read in `device`, passed-over subtrees in `skip`.

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};

use super::fast::fast_named_list;
use super::messages::truncate_name;
use super::numbers::{parse_i64, parse_u32_decimal};
use super::{LIBVIRT_OTHER_ROOTS, Parser, Tag};
use crate::error::{ErrorKind, InputError};
use crate::rows::{DeviceRow, DocKind, Document, DomainRow};

impl<'a> Parser<'a> {
    pub(super) fn document(&mut self) -> Result<Document<'a>, InputError> {
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

    pub(super) fn root(
        &mut self,
        start: &BytesStart<'a>,
        empty: bool,
    ) -> Result<Document<'a>, InputError> {
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
                let (mut seen_domain, mut seen_job) = (false, false);
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
                            // libvirt reads the first <job> (`./job[1]`).
                            "job" if !seen_job => {
                                seen_job = true;
                                p.attributes(child_tag, |key, value| match key {
                                    b"async" => doc.domain.job_async = Some(value),
                                    b"phase" => doc.domain.job_phase = Some(value),
                                    _ => {}
                                })?;
                                p.skip(child_empty, 2, "job")
                            }
                            // Only its presence: whatever it records (paths) stays unread.
                            "dbusDaemon" => {
                                doc.domain.dbus_daemon = Some(true);
                                p.check_tag(child_tag)?;
                                p.skip(child_empty, 2, "dbusDaemon")
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
    pub(super) fn children(
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

    /// `<qemuCaps><flag name=…/>…` and `<devices><device alias=…/>…`: one attribute of each child.
    pub(super) fn named_list(
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
            && let Some(end) = self.fast_list(parent, item, key, out)
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

    /// The fast path for [`Parser::named_list`]: a `<qemuCaps>` list met in one of the last documents of
    /// the scan is recognised (see `listcache`), any other list read by [`fast_named_list`].
    fn fast_list(
        &mut self,
        parent: &str,
        item: &str,
        key: &[u8],
        out: &mut Vec<Cow<'a, str>>,
    ) -> Option<usize> {
        let rest = self.remaining_text();
        let (parent, item) = (parent.as_bytes(), item.as_bytes());
        let cache = self.lists.as_mut().filter(|_| parent == b"qemuCaps");
        let Some(cache) = cache else {
            return fast_named_list(rest, parent, item, key, out);
        };
        if let Some(end) = cache.recall(rest, out) {
            return Some(end);
        }
        let before = out.len();
        let end = fast_named_list(rest, parent, item, key, out)?;
        cache.remember(rest, out, before, end, parent);
        Some(end)
    }

    /// Text content of a simple element (`<name>`, `<uuid>`, `<emulator>`); child elements are skipped.
    pub(super) fn text_content(
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
    pub(super) fn tag_text(&self, text: &quick_xml::events::BytesText<'_>) -> &'a str {
        let content: &str = text;
        let base = self.text.as_ptr() as usize;
        match (content.as_ptr() as usize).checked_sub(base) {
            Some(offset) if offset + content.len() <= self.text.len() => {
                &self.text[offset..offset + content.len()]
            }
            _ => "",
        }
    }

    pub(super) fn domain(
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
        let mut seen_iothreads = false;
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
                "iothreads" if !seen_iothreads => {
                    seen_iothreads = true;
                    let text = p.text_content(child_empty, depth + 1, "iothreads")?;
                    doc.domain.iothreads = parse_u32_decimal(&text);
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
}

pub(super) fn non_empty(text: Cow<'_, str>) -> Option<Cow<'_, str>> {
    (!text.is_empty()).then_some(text)
}

/// XML parsers hand text over with `\r\n` and lone `\r` read as `\n`.
pub(super) fn normalize_line_ends(text: Cow<'_, str>) -> Cow<'_, str> {
    if !text.contains('\r') {
        return text;
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

pub(super) fn new_document<'a>(kind: DocKind) -> Document<'a> {
    Document {
        domain: DomainRow::new(kind),
        // Sized for a typical status file, so that the vectors rarely grow.
        devices: Vec::with_capacity(48),
        caps: Vec::with_capacity(if kind == DocKind::Status { 320 } else { 0 }),
        live_aliases: Vec::with_capacity(if kind == DocKind::Status { 48 } else { 0 }),
    }
}
