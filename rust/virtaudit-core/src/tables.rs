//! Arrow column builders for the five scan tables (docs/schema.md is the contract).
//!
//! Strings are built as Utf8View, which polars imports without copying.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock};

use arrow_array::types::{Int64Type, UInt32Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};

use crate::columns::{BoolBuilder as BooleanBuilder, PrimBuilder, StringViewBuilder};
use crate::crosslist::{Scratch, cross_listed};
use crate::error::InputError;
use crate::rows::Document;
use crate::strhash::{ListMemo, StrSet};

type UInt32Builder = PrimBuilder<UInt32Type>;
type UInt64Builder = PrimBuilder<UInt64Type>;
type Int64Builder = PrimBuilder<Int64Type>;

pub const SCHEMA_VERSION: u32 = 2;

/// Table names, in the order the scan returns them.
pub const TABLE_NAMES: [&str; 5] = ["domains", "devices", "caps", "live_aliases", "errors"];

fn schema(fields: &[(&str, DataType, bool)]) -> SchemaRef {
    let fields: Vec<Field> = fields
        .iter()
        .map(|(name, ty, nullable)| Field::new(*name, ty.clone(), *nullable))
        .collect();
    let metadata = HashMap::from([(
        "virtaudit.schema_version".to_string(),
        SCHEMA_VERSION.to_string(),
    )]);
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

use DataType::{Boolean as B, Int64 as I64, UInt32 as U32, UInt64 as U64, Utf8View as S};

pub static DOMAINS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("path", S, false),
        ("host", S, false),
        ("doc_id", U32, false),
        ("kind", S, false),
        ("name", S, true),
        ("uuid", S, true),
        ("id", I64, true),
        ("virt_type", S, true),
        ("state", S, true),
        ("reason", S, true),
        ("pid", I64, true),
        ("arch", S, true),
        ("machine", S, true),
        ("emulator", S, true),
        ("has_qemu_caps", B, false),
        ("caps_count", U32, false),
        ("has_live_devices", B, false),
        ("live_alias_count", U32, false),
        ("blockjobs_active", S, true),
        ("device_count", U32, false),
        ("file_size", U64, false),
        ("job_async", S, true),
        ("job_phase", S, true),
        ("dbus_daemon", B, true),
        ("iothreads", U32, true),
        ("tpm_backend", S, true),
    ])
});

pub static DEVICES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("path", S, false),
        ("host", S, false),
        ("doc_id", U32, false),
        ("ordinal", U32, false),
        ("element", S, false),
        ("type", S, true),
        ("model", S, true),
        ("model_name", S, true),
        ("index", U32, true),
        ("alias", S, true),
        ("user_alias", B, false),
        ("address_type", S, true),
        ("pci_domain", U32, true),
        ("pci_bus", U32, true),
        ("pci_slot", U32, true),
        ("pci_function", U32, true),
        ("multifunction", B, true),
        ("dimm_slot", U32, true),
        ("target_index", U32, true),
        ("target_chassis", U32, true),
        ("target_port", U32, true),
        ("target_hotplug", S, true),
        ("video_device", S, true),
        ("managed", S, true),
        ("has_auth", B, false),
        ("has_encryption", B, false),
        ("has_tls", B, false),
        ("has_private_objects", B, false),
        ("has_origstates", B, false),
        ("has_actual", B, false),
        ("volume_actual_type", S, true),
        ("nbdkit", B, true),
        ("in_live_list", B, true),
        ("alias_repeated", B, true),
    ])
});

pub static CAPS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("path", S, false),
        ("host", S, false),
        ("doc_id", U32, false),
        ("flag", S, false),
    ])
});

pub static LIVE_ALIASES_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("path", S, false),
        ("host", S, false),
        ("doc_id", U32, false),
        ("alias", S, false),
        ("in_definition", B, false),
    ])
});

pub static ERRORS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    schema(&[
        ("path", S, false),
        ("host", S, false),
        ("doc_id", U32, false),
        ("kind", S, false),
        ("message", S, false),
        ("line", U32, true),
        ("column", U32, true),
    ])
});

pub fn schema_of(table: &str) -> Option<SchemaRef> {
    match table {
        "domains" => Some(DOMAINS_SCHEMA.clone()),
        "devices" => Some(DEVICES_SCHEMA.clone()),
        "caps" => Some(CAPS_SCHEMA.clone()),
        "live_aliases" => Some(LIVE_ALIASES_SCHEMA.clone()),
        "errors" => Some(ERRORS_SCHEMA.clone()),
        _ => None,
    }
}

/// One batch of each table, for a contiguous run of inputs.
#[derive(Debug, Clone)]
pub struct Batch {
    pub domains: RecordBatch,
    pub devices: RecordBatch,
    pub caps: RecordBatch,
    pub live_aliases: RecordBatch,
    pub errors: RecordBatch,
}

impl Batch {
    pub fn table(&self, name: &str) -> Option<&RecordBatch> {
        match name {
            "domains" => Some(&self.domains),
            "devices" => Some(&self.devices),
            "caps" => Some(&self.caps),
            "live_aliases" => Some(&self.live_aliases),
            "errors" => Some(&self.errors),
            _ => None,
        }
    }
}

/// Bytes of the strings of `values` that do not fit in a view and go to the data block.
fn long_bytes<'s>(values: impl Iterator<Item = &'s str>) -> usize {
    values.map(str::len).filter(|&n| n > 12).sum()
}

fn opt(builder: &mut StringViewBuilder, value: Option<&str>) {
    builder.append_option(value);
}

#[derive(Default)]
struct DomainColumns {
    path: StringViewBuilder,
    host: StringViewBuilder,
    doc_id: UInt32Builder,
    kind: StringViewBuilder,
    name: StringViewBuilder,
    uuid: StringViewBuilder,
    id: Int64Builder,
    virt_type: StringViewBuilder,
    state: StringViewBuilder,
    reason: StringViewBuilder,
    pid: Int64Builder,
    arch: StringViewBuilder,
    machine: StringViewBuilder,
    emulator: StringViewBuilder,
    has_qemu_caps: BooleanBuilder,
    caps_count: UInt32Builder,
    has_live_devices: BooleanBuilder,
    live_alias_count: UInt32Builder,
    blockjobs_active: StringViewBuilder,
    device_count: UInt32Builder,
    file_size: UInt64Builder,
    job_async: StringViewBuilder,
    job_phase: StringViewBuilder,
    dbus_daemon: BooleanBuilder,
    iothreads: UInt32Builder,
    tpm_backend: StringViewBuilder,
}

#[derive(Default)]
struct DeviceColumns {
    path: StringViewBuilder,
    host: StringViewBuilder,
    doc_id: UInt32Builder,
    ordinal: UInt32Builder,
    element: StringViewBuilder,
    type_: StringViewBuilder,
    model: StringViewBuilder,
    model_name: StringViewBuilder,
    index: UInt32Builder,
    alias: StringViewBuilder,
    user_alias: BooleanBuilder,
    address_type: StringViewBuilder,
    pci_domain: UInt32Builder,
    pci_bus: UInt32Builder,
    pci_slot: UInt32Builder,
    pci_function: UInt32Builder,
    multifunction: BooleanBuilder,
    dimm_slot: UInt32Builder,
    target_index: UInt32Builder,
    target_chassis: UInt32Builder,
    target_port: UInt32Builder,
    target_hotplug: StringViewBuilder,
    video_device: StringViewBuilder,
    managed: StringViewBuilder,
    has_auth: BooleanBuilder,
    has_encryption: BooleanBuilder,
    has_tls: BooleanBuilder,
    has_private_objects: BooleanBuilder,
    has_origstates: BooleanBuilder,
    has_actual: BooleanBuilder,
    volume_actual_type: StringViewBuilder,
    nbdkit: BooleanBuilder,
    in_live_list: BooleanBuilder,
    alias_repeated: BooleanBuilder,
}

impl DeviceColumns {
    /// Room for `rows` more devices in every column.
    fn reserve(&mut self, rows: usize) {
        for strings in [
            &mut self.path,
            &mut self.host,
            &mut self.element,
            &mut self.type_,
            &mut self.model,
            &mut self.model_name,
            &mut self.alias,
            &mut self.address_type,
            &mut self.target_hotplug,
            &mut self.video_device,
            &mut self.managed,
            &mut self.volume_actual_type,
        ] {
            strings.reserve(rows, 0);
        }
        for numbers in [
            &mut self.doc_id,
            &mut self.ordinal,
            &mut self.index,
            &mut self.pci_domain,
            &mut self.pci_bus,
            &mut self.pci_slot,
            &mut self.pci_function,
            &mut self.dimm_slot,
            &mut self.target_index,
            &mut self.target_chassis,
            &mut self.target_port,
        ] {
            numbers.reserve(rows);
        }
        for flags in [
            &mut self.user_alias,
            &mut self.multifunction,
            &mut self.has_auth,
            &mut self.has_encryption,
            &mut self.has_tls,
            &mut self.has_private_objects,
            &mut self.has_origstates,
            &mut self.has_actual,
            &mut self.nbdkit,
            &mut self.in_live_list,
            &mut self.alias_repeated,
        ] {
            flags.reserve(rows);
        }
    }
}

#[derive(Default)]
struct PairColumns {
    path: StringViewBuilder,
    host: StringViewBuilder,
    doc_id: UInt32Builder,
    value: StringViewBuilder,
}

impl PairColumns {
    /// Like [`PairColumns::push`], for the values that `keep` accepts.
    fn push_kept(
        &mut self,
        path: &str,
        host: &str,
        doc_id: u32,
        values: &[std::borrow::Cow<'_, str>],
        keep: impl Fn(&str) -> bool,
    ) {
        let mut kept = 0;
        for value in values.iter().filter(|v| keep(v.as_ref())) {
            self.value.append_value(value);
            kept += 1;
        }
        // Like `push`: the document's path and host stored once, not once per kept row.
        self.path.append_repeated(path, kept);
        self.host.append_repeated(host, kept);
        self.doc_id.append_value_n(doc_id, kept);
    }

    /// Like [`PairColumns::push`], for the values at the positions `kept`.
    fn push_at(
        &mut self,
        path: &str,
        host: &str,
        doc_id: u32,
        values: &[std::borrow::Cow<'_, str>],
        kept: &[u32],
    ) {
        for &i in kept {
            self.value.append_value(&values[i as usize]);
        }
        self.path.append_repeated(path, kept.len());
        self.host.append_repeated(host, kept.len());
        self.doc_id.append_value_n(doc_id, kept.len());
    }

    fn reserve(&mut self, values: &[std::borrow::Cow<'_, str>], copies: usize) {
        let rows = values.len() * copies;
        self.path.reserve(rows, 0);
        self.host.reserve(rows, 0);
        self.doc_id.reserve(rows);
        self.value
            .reserve(rows, long_bytes(values.iter().map(|v| &**v)) * copies);
    }

    fn push(&mut self, path: &str, host: &str, doc_id: u32, values: &[std::borrow::Cow<'_, str>]) {
        self.path.append_repeated(path, values.len());
        self.host.append_repeated(host, values.len());
        self.doc_id.append_value_n(doc_id, values.len());
        self.value.append_all(values.iter().map(|v| &**v));
    }
}

#[derive(Default)]
struct ErrorColumns {
    path: StringViewBuilder,
    host: StringViewBuilder,
    doc_id: UInt32Builder,
    kind: StringViewBuilder,
    message: StringViewBuilder,
    line: UInt32Builder,
    column: UInt32Builder,
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Which `<qemuCaps>` flags become rows of the caps table (`domains.caps_count` counts them all
/// whichever is chosen). A couple of hundred flags per status file make caps the largest table by far,
/// and a caller rarely needs them all.
#[derive(Debug, Clone, Default)]
pub enum CapsRows {
    /// Every flag.
    #[default]
    All,
    /// Only these flags (a handful: looked up by a linear scan).
    Only(Arc<[String]>),
    /// Every flag but these (hundreds: looked up in a hash set). An audit that needs the flags its
    /// target release may not know drops those every target knows.
    Except(Arc<HashSet<String>>),
}

/// Which ids of QEMU's live device list become rows of the live_aliases table (`domains.live_alias_count`
/// counts them all whichever is chosen).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LiveRows {
    /// Every listed id.
    #[default]
    All,
    /// Only the ids no device of the definition carries as its alias (`in_definition` false): all an
    /// audit's rules read, a handful where the list has a row for nearly every device (a quarter of a
    /// batch's memory otherwise).
    Unmatched,
}

/// Accumulates rows of all five tables for a run of inputs, then finishes them into a [`Batch`].
///
/// Each input pushed (a document or an error) takes the next document id, from the first one given to
/// [`TableBuilder::with_first_doc_id`] (0 by default); every row the input contributes carries it.
#[derive(Default)]
pub struct TableBuilder {
    /// Caps flags that become rows; see `ScanOptions::caps_rows`.
    caps_rows: CapsRows,
    /// The flags of `CapsRows::Except` in a faster set than its `HashSet` (which stays the fallback).
    caps_dropped: Option<StrSet>,
    /// Which of the last document's flags `CapsRows::Except` kept, for the next one with the same list.
    caps_memo: ListMemo,
    /// What [`cross_listed`] reuses from one document to the next.
    cross: Scratch,
    /// The id of the next input pushed.
    next_doc_id: u32,
    domains: DomainColumns,
    devices: DeviceColumns,
    caps: PairColumns,
    live_aliases: PairColumns,
    /// The `in_definition` column of the live aliases (the other tables' pairs have no such column).
    live_in_definition: BooleanBuilder,
    /// Which live ids become rows; see `ScanOptions::live_rows`.
    live_rows: LiveRows,
    /// The positions of the kept live ids of a document (`LiveRows::Unmatched`), reused.
    live_kept: Vec<u32>,
    errors: ErrorColumns,
}

impl TableBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Which caps flags become rows of the caps table (all by default).
    pub fn with_caps_rows(mut self, caps_rows: CapsRows) -> Self {
        self.caps_dropped = match &caps_rows {
            CapsRows::Except(drop) => StrSet::new(drop.iter().map(String::as_str)).ok(),
            _ => None,
        };
        self.caps_rows = caps_rows;
        self
    }

    /// Which live ids become rows of the live_aliases table (all by default).
    pub fn with_live_rows(mut self, live_rows: LiveRows) -> Self {
        self.live_rows = live_rows;
        self
    }

    /// Numbers the inputs pushed from `first` on (a scan gives each run of inputs its place in the scan).
    pub fn with_first_doc_id(mut self, first: u32) -> Self {
        self.next_doc_id = first;
        self
    }

    /// The id for the input being pushed. The caller keeps the ids within `u32` (see `doc_id_range` in
    /// lib.rs); wrapping, if it ever came to that, would at least not panic in the middle of a batch.
    fn take_doc_id(&mut self) -> u32 {
        let id = self.next_doc_id;
        self.next_doc_id = self.next_doc_id.wrapping_add(1);
        id
    }

    /// Makes room for `copies` more documents like `doc`, so that the columns of a batch are allocated
    /// once instead of growing (and being copied) a dozen times. Called with the first document of a
    /// run of inputs; [`StringViewBuilder::finish`] gives back what the estimate overshot.
    pub fn reserve_like(&mut self, doc: &Document<'_>, copies: usize) {
        self.devices.reserve(doc.devices.len() * copies);
        let v = &mut self.devices;
        let aliases = long_bytes(doc.devices.iter().filter_map(|d| d.alias.as_deref()));
        v.alias.reserve(0, aliases * copies);
        if matches!(self.caps_rows, CapsRows::All) {
            self.caps.reserve(&doc.caps, copies);
        }
        if self.live_rows == LiveRows::All {
            self.live_aliases.reserve(&doc.live_aliases, copies);
            self.live_in_definition
                .reserve(doc.live_aliases.len() * copies);
        }
    }

    pub fn push_document(&mut self, path: &str, host: &str, file_size: u64, doc: &Document<'_>) {
        let doc_id = self.take_doc_id();
        let d = &mut self.domains;
        let row = &doc.domain;
        d.path.append_value(path);
        d.host.append_value(host);
        d.doc_id.append_value(doc_id);
        d.kind.append_value(row.kind.as_str());
        opt(&mut d.name, row.name.as_deref());
        opt(&mut d.uuid, row.uuid.as_deref());
        d.id.append_option(row.id);
        opt(&mut d.virt_type, row.virt_type.as_deref());
        opt(&mut d.state, row.state.as_deref());
        opt(&mut d.reason, row.reason.as_deref());
        d.pid.append_option(row.pid);
        opt(&mut d.arch, row.arch.as_deref());
        opt(&mut d.machine, row.machine.as_deref());
        opt(&mut d.emulator, row.emulator.as_deref());
        d.has_qemu_caps.append_value(row.has_qemu_caps);
        d.caps_count.append_value(count(doc.caps.len()));
        d.has_live_devices.append_value(row.has_live_devices);
        d.live_alias_count
            .append_value(count(doc.live_aliases.len()));
        opt(&mut d.blockjobs_active, row.blockjobs_active.as_deref());
        d.device_count.append_value(count(doc.devices.len()));
        d.file_size.append_value(file_size);
        opt(&mut d.job_async, row.job_async.as_deref());
        opt(&mut d.job_phase, row.job_phase.as_deref());
        d.dbus_daemon.append_option(row.dbus_daemon);
        d.iothreads.append_option(row.iothreads);
        // The type of the first backend of a <tpm> device (libvirt's `./devices/tpm/backend`, first match).
        let tpm_backend = doc.devices.iter().find_map(|dev| dev.tpm_backend.as_ref());
        opt(&mut d.tpm_backend, tpm_backend.and_then(|t| t.as_deref()));

        let listed = cross_listed(doc, &mut self.cross);
        let v = &mut self.devices;
        v.path.append_repeated(path, doc.devices.len());
        v.host.append_repeated(host, doc.devices.len());
        v.doc_id.append_value_n(doc_id, doc.devices.len());
        for (ordinal, dev) in doc.devices.iter().enumerate() {
            v.ordinal.append_value(count(ordinal));
            v.element.append_value(&dev.element);
            opt(&mut v.type_, dev.type_.as_deref());
            opt(&mut v.model, dev.model.as_deref());
            opt(&mut v.model_name, dev.model_name.as_deref());
            v.index.append_option(dev.index);
            opt(&mut v.alias, dev.alias.as_deref());
            v.user_alias
                .append_value(dev.alias.as_deref().is_some_and(|a| a.starts_with("ua-")));
            opt(&mut v.address_type, dev.address_type.as_deref());
            v.pci_domain.append_option(dev.pci_domain);
            v.pci_bus.append_option(dev.pci_bus);
            v.pci_slot.append_option(dev.pci_slot);
            v.pci_function.append_option(dev.pci_function);
            v.multifunction.append_option(dev.multifunction);
            v.dimm_slot.append_option(dev.dimm_slot);
            v.target_index.append_option(dev.target_index);
            v.target_chassis.append_option(dev.target_chassis);
            v.target_port.append_option(dev.target_port);
            opt(&mut v.target_hotplug, dev.target_hotplug.as_deref());
            opt(&mut v.video_device, dev.video_device.as_deref());
            opt(&mut v.managed, dev.managed.as_deref());
            v.has_auth.append_value(dev.has_auth);
            v.has_encryption.append_value(dev.has_encryption);
            v.has_tls.append_value(dev.has_tls);
            v.has_private_objects.append_value(dev.has_private_objects);
            v.has_origstates.append_value(dev.has_origstates);
            v.has_actual.append_value(dev.has_actual);
            opt(&mut v.volume_actual_type, dev.volume_actual_type.as_deref());
            v.nbdkit.append_option(dev.nbdkit);
        }
        for (in_list, repeated) in listed.in_live_list.iter().zip(&listed.alias_repeated) {
            v.in_live_list.append_option(*in_list);
            v.alias_repeated.append_option(*repeated);
        }
        match &self.caps_rows {
            CapsRows::All => self.caps.push(path, host, doc_id, &doc.caps),
            CapsRows::Only(keep) => self.caps.push_kept(path, host, doc_id, &doc.caps, |flag| {
                keep.iter().any(|k| k == flag)
            }),
            CapsRows::Except(drop) => {
                let fast = self.caps_dropped.as_ref();
                let kept = self.caps_memo.kept(&doc.caps, |flag| {
                    match fast.map(|set| set.contains(flag)) {
                        Some(Ok(dropped)) => !dropped,
                        _ => !drop.contains(flag),
                    }
                });
                self.caps.push_at(path, host, doc_id, &doc.caps, kept);
            }
        }
        match self.live_rows {
            LiveRows::All => {
                self.live_aliases
                    .push(path, host, doc_id, &doc.live_aliases);
                self.live_in_definition.append_slice(&listed.in_definition);
            }
            LiveRows::Unmatched => {
                self.live_kept.clear();
                let unmatched = listed
                    .in_definition
                    .iter()
                    .enumerate()
                    .filter(|(_, found)| !**found);
                // (a document's list is far shorter than u32: its ids are elements of one capped file)
                self.live_kept.extend(unmatched.map(|(i, _)| i as u32));
                let kept = &self.live_kept;
                self.live_aliases
                    .push_at(path, host, doc_id, &doc.live_aliases, kept);
                for _ in kept {
                    self.live_in_definition.append_value(false);
                }
            }
        }
    }

    pub fn push_error(&mut self, path: &str, host: &str, error: &InputError) {
        let doc_id = self.take_doc_id();
        let e = &mut self.errors;
        e.path.append_value(path);
        e.host.append_value(host);
        e.doc_id.append_value(doc_id);
        e.kind.append_value(error.kind.as_str());
        e.message.append_value(&error.message);
        e.line.append_option(error.position.map(|p| p.0));
        e.column.append_option(error.position.map(|p| p.1));
    }

    pub fn finish(mut self) -> Result<Batch, ArrowError> {
        let d = &mut self.domains;
        let domains: Vec<ArrayRef> = vec![
            Arc::new(d.path.finish()),
            Arc::new(d.host.finish()),
            Arc::new(d.doc_id.finish()),
            Arc::new(d.kind.finish()),
            Arc::new(d.name.finish()),
            Arc::new(d.uuid.finish()),
            Arc::new(d.id.finish()),
            Arc::new(d.virt_type.finish()),
            Arc::new(d.state.finish()),
            Arc::new(d.reason.finish()),
            Arc::new(d.pid.finish()),
            Arc::new(d.arch.finish()),
            Arc::new(d.machine.finish()),
            Arc::new(d.emulator.finish()),
            Arc::new(d.has_qemu_caps.finish()),
            Arc::new(d.caps_count.finish()),
            Arc::new(d.has_live_devices.finish()),
            Arc::new(d.live_alias_count.finish()),
            Arc::new(d.blockjobs_active.finish()),
            Arc::new(d.device_count.finish()),
            Arc::new(d.file_size.finish()),
            Arc::new(d.job_async.finish()),
            Arc::new(d.job_phase.finish()),
            Arc::new(d.dbus_daemon.finish()),
            Arc::new(d.iothreads.finish()),
            Arc::new(d.tpm_backend.finish()),
        ];
        let v = &mut self.devices;
        let devices: Vec<ArrayRef> = vec![
            Arc::new(v.path.finish()),
            Arc::new(v.host.finish()),
            Arc::new(v.doc_id.finish()),
            Arc::new(v.ordinal.finish()),
            Arc::new(v.element.finish()),
            Arc::new(v.type_.finish()),
            Arc::new(v.model.finish()),
            Arc::new(v.model_name.finish()),
            Arc::new(v.index.finish()),
            Arc::new(v.alias.finish()),
            Arc::new(v.user_alias.finish()),
            Arc::new(v.address_type.finish()),
            Arc::new(v.pci_domain.finish()),
            Arc::new(v.pci_bus.finish()),
            Arc::new(v.pci_slot.finish()),
            Arc::new(v.pci_function.finish()),
            Arc::new(v.multifunction.finish()),
            Arc::new(v.dimm_slot.finish()),
            Arc::new(v.target_index.finish()),
            Arc::new(v.target_chassis.finish()),
            Arc::new(v.target_port.finish()),
            Arc::new(v.target_hotplug.finish()),
            Arc::new(v.video_device.finish()),
            Arc::new(v.managed.finish()),
            Arc::new(v.has_auth.finish()),
            Arc::new(v.has_encryption.finish()),
            Arc::new(v.has_tls.finish()),
            Arc::new(v.has_private_objects.finish()),
            Arc::new(v.has_origstates.finish()),
            Arc::new(v.has_actual.finish()),
            Arc::new(v.volume_actual_type.finish()),
            Arc::new(v.nbdkit.finish()),
            Arc::new(v.in_live_list.finish()),
            Arc::new(v.alias_repeated.finish()),
        ];
        let pair = |p: &mut PairColumns| -> Vec<ArrayRef> {
            vec![
                Arc::new(p.path.finish()),
                Arc::new(p.host.finish()),
                Arc::new(p.doc_id.finish()),
                Arc::new(p.value.finish()),
            ]
        };
        let e = &mut self.errors;
        let errors: Vec<ArrayRef> = vec![
            Arc::new(e.path.finish()),
            Arc::new(e.host.finish()),
            Arc::new(e.doc_id.finish()),
            Arc::new(e.kind.finish()),
            Arc::new(e.message.finish()),
            Arc::new(e.line.finish()),
            Arc::new(e.column.finish()),
        ];
        Ok(Batch {
            domains: RecordBatch::try_new(DOMAINS_SCHEMA.clone(), domains)?,
            devices: RecordBatch::try_new(DEVICES_SCHEMA.clone(), devices)?,
            caps: RecordBatch::try_new(CAPS_SCHEMA.clone(), pair(&mut self.caps))?,
            live_aliases: RecordBatch::try_new(LIVE_ALIASES_SCHEMA.clone(), {
                let mut columns = pair(&mut self.live_aliases);
                columns.push(Arc::new(self.live_in_definition.finish()));
                columns
            })?,
            errors: RecordBatch::try_new(ERRORS_SCHEMA.clone(), errors)?,
        })
    }
}
