//! The rows one document produces, borrowed from the file's bytes where no unescaping was needed.
//!
//! A document is parsed completely into these rows before any of them reaches a table, so that a file
//! that fails half-way contributes nothing but its error row (files seen = documents + errors).

use std::borrow::Cow;

pub type Text<'a> = Option<Cow<'a, str>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Status,
    Domain,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Status => "status",
            DocKind::Domain => "domain",
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct DomainRow<'a> {
    pub kind: DocKind,
    pub name: Text<'a>,
    pub uuid: Text<'a>,
    pub id: Option<i64>,
    pub virt_type: Text<'a>,
    pub state: Text<'a>,
    pub reason: Text<'a>,
    pub pid: Option<i64>,
    pub arch: Text<'a>,
    pub machine: Text<'a>,
    pub emulator: Text<'a>,
    pub has_qemu_caps: bool,
    pub has_live_devices: bool,
    pub blockjobs_active: Text<'a>,
    pub job_async: Text<'a>,
    pub job_phase: Text<'a>,
    /// `Some` for status documents only (plain domain XML has no private data to record it in).
    pub dbus_daemon: Option<bool>,
    pub iothreads: Option<u32>,
}

impl DomainRow<'_> {
    pub fn new(kind: DocKind) -> Self {
        DomainRow {
            kind,
            name: None,
            uuid: None,
            id: None,
            virt_type: None,
            state: None,
            reason: None,
            pid: None,
            arch: None,
            machine: None,
            emulator: None,
            has_qemu_caps: false,
            has_live_devices: false,
            blockjobs_active: None,
            job_async: None,
            job_phase: None,
            dbus_daemon: (kind == DocKind::Status).then_some(false),
            iothreads: None,
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct DeviceRow<'a> {
    pub element: Cow<'a, str>,
    pub type_: Text<'a>,
    pub model: Text<'a>,
    pub model_name: Text<'a>,
    pub index: Option<u32>,
    pub alias: Text<'a>,
    pub address_type: Text<'a>,
    pub pci_domain: Option<u32>,
    pub pci_bus: Option<u32>,
    pub pci_slot: Option<u32>,
    pub pci_function: Option<u32>,
    pub multifunction: Option<bool>,
    pub dimm_slot: Option<u32>,
    pub target_index: Option<u32>,
    pub target_chassis: Option<u32>,
    pub target_port: Option<u32>,
    pub target_hotplug: Text<'a>,
    pub video_device: Text<'a>,
    pub managed: Text<'a>,
    pub has_auth: bool,
    pub has_encryption: bool,
    pub has_tls: bool,
    pub has_private_objects: bool,
    pub has_origstates: bool,
    pub has_actual: bool,
    /// `disk type='volume'` only: its first `<source>`'s `actualType`.
    pub volume_actual_type: Text<'a>,
    /// Disks only: `source/privateData/nbdkit` present.
    pub nbdkit: Option<bool>,
    /// `<tpm>` only: `Some` when it has a `<backend>`, holding the first one's `type`. Not a devices column:
    /// it feeds `domains.tpm_backend`.
    pub tpm_backend: Option<Text<'a>>,
}

/// Everything one well-formed libvirt document contributes to the tables.
#[derive(Debug, PartialEq)]
pub struct Document<'a> {
    pub domain: DomainRow<'a>,
    pub devices: Vec<DeviceRow<'a>>,
    pub caps: Vec<Cow<'a, str>>,
    pub live_aliases: Vec<Cow<'a, str>>,
}
