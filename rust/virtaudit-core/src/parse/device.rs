//! One device element under `<domain><devices>` into its row, by the fast path or event by event.

use std::borrow::Cow;

use quick_xml::events::Event;

use super::fast::fast_device;
use super::numbers::parse_u32;
use super::{Parser, Tag};
use crate::error::InputError;
use crate::rows::{DeviceRow, Text};

impl<'a> Parser<'a> {
    /// One device element under `<domain><devices>`.
    pub(super) fn device(
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
    pub(super) fn device_start<'r>(
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
    pub(super) fn device_children(
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

pub(super) fn level_of(open: &[&str]) -> u32 {
    u32::try_from(open.len()).unwrap_or(u32::MAX)
}

/// The attributes of a tag: read through the checked path, or already read by a fast path.
pub(super) enum Attrs<'p, 'a> {
    Checked(&'p Parser<'a>, &'p Tag<'a>),
    Plain(&'p [(&'a str, &'a str)]),
}

impl<'a> Attrs<'_, 'a> {
    pub(super) fn each(&self, mut f: impl FnMut(&[u8], Cow<'a, str>)) -> Result<(), InputError> {
        match self {
            Attrs::Checked(parser, tag) => parser.attributes(tag, f),
            Attrs::Plain(pairs) => {
                for (key, value) in *pairs {
                    f(key.as_bytes(), Cow::Borrowed(value));
                }
                Ok(())
            }
        }
    }

    /// Checks attributes that no table reads (plain ones were checked when they were read).
    pub(super) fn check(&self) -> Result<(), InputError> {
        match self {
            Attrs::Checked(parser, tag) => parser.check_plain_tag(tag),
            Attrs::Plain(_) => Ok(()),
        }
    }
}

/// A device row being read, and which of its children have been seen. Both ways of reading a device's
/// content (the fast path and the event-based one) feed it the same calls, so they agree by construction.
pub(super) struct DeviceState<'a, 'r> {
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
    is_disk: bool,
    is_tpm: bool,
    seen_source: bool,
    seen_backend: bool,
    /// A `<source>` child of the device is open (level 1).
    in_source: bool,
    /// A `<privateData>` child of that `<source>` is open (level 2), where `<nbdkit>` is recorded.
    in_source_private_data: bool,
    nbdkit: bool,
}

impl<'a, 'r> DeviceState<'a, 'r> {
    pub(super) fn new(element: &str, row: &'r mut DeviceRow<'a>) -> Self {
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
            is_disk: element == "disk",
            is_tpm: element == "tpm",
            seen_source: false,
            seen_backend: false,
            in_source: false,
            in_source_private_data: false,
            nbdkit: false,
        }
    }

    pub(super) fn start_attribute(&mut self, key: &[u8], value: Cow<'a, str>) {
        match key {
            b"type" => self.row.type_ = Some(value),
            b"model" => self.model_attr = Some(value),
            b"index" => self.row.index = parse_u32(&value),
            b"managed" => self.row.managed = Some(value),
            _ => {}
        }
    }

    /// A start tag inside the device, at `level` (1 = a direct child).
    pub(super) fn child(
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
                if level == 2 && self.in_source {
                    self.in_source_private_data = true;
                }
                attrs.check()
            }
            "nbdkit" if level == 3 && self.in_source_private_data => {
                self.nbdkit = true;
                attrs.check()
            }
            "backend" if level == 1 && self.is_tpm && !self.seen_backend => {
                self.seen_backend = true;
                let mut backend_type = None;
                attrs.each(|key, value| {
                    if key == b"type" {
                        backend_type = Some(value);
                    }
                })?;
                row.tpm_backend = Some(backend_type);
                Ok(())
            }
            "objects" if self.private_data_level == Some(level - 1) => {
                row.has_private_objects = true;
                attrs.check()
            }
            "source" => {
                // The first direct <source> of a volume disk records the translated type.
                let volume = level == 1
                    && self.is_disk
                    && !self.seen_source
                    && row.type_.as_deref() == Some("volume");
                if level == 1 {
                    self.seen_source = true;
                    self.in_source = !empty;
                }
                attrs.each(|key, value| match key {
                    b"tls" if value == "yes" => row.has_tls = true,
                    b"actualType" if volume => row.volume_actual_type = Some(value),
                    _ => {}
                })
            }
            _ => attrs.check(),
        }
    }

    /// The end tag of the element open at `level`.
    pub(super) fn end(&mut self, level: u32) {
        if self.private_data_level == Some(level) {
            self.private_data_level = None;
        }
        match level {
            1 => self.in_source = false,
            2 => self.in_source_private_data = false,
            _ => {}
        }
    }

    pub(super) fn finish(self) {
        self.row.model = self.model_attr.or(self.model_child);
        self.row.nbdkit = self.is_disk.then_some(self.nbdkit);
    }
}

pub(super) fn address<'a>(
    attrs: &Attrs<'_, 'a>,
    row: &mut DeviceRow<'a>,
) -> Result<(), InputError> {
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
