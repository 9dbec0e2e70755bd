//! The parser on small documents: every device kind, namespaces in metadata, entities and CDATA in text,
//! attributes in any order and quoting style. Expected values are written out by hand.

use std::path::PathBuf;

use virtaudit_core::{DeviceRow, DocKind, Document, ErrorKind, Limits, parse_document};

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/devices")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn parse(data: &[u8]) -> Document<'_> {
    parse_document(data, &Limits::default()).expect("parses")
}

fn device<'d, 'a>(doc: &'d Document<'a>, element: &str, nth: usize) -> &'d DeviceRow<'a> {
    doc.devices
        .iter()
        .filter(|d| d.element == element)
        .nth(nth)
        .unwrap_or_else(|| panic!("no {element} #{nth}"))
}

#[test]
fn status_fixture_with_every_device_kind() {
    let data = fixture("q35-status.xml");
    let doc = parse(&data);
    let d = &doc.domain;
    assert_eq!(d.kind, DocKind::Status);
    assert_eq!(d.state.as_deref(), Some("running"));
    assert_eq!(d.reason.as_deref(), Some("booted"));
    assert_eq!(d.pid, Some(4242));
    assert_eq!(d.id, Some(7));
    assert_eq!(d.virt_type.as_deref(), Some("kvm"));
    // An entity, a comment splitting the text and a character reference.
    assert_eq!(d.name.as_deref(), Some("web&db-A"));
    // An entity and CDATA in the emulator path.
    assert_eq!(
        d.emulator.as_deref(),
        Some("/opt/qemu&tools/bin/qemu-system-x86_64")
    );
    assert!(d.has_qemu_caps && d.has_live_devices);
    assert_eq!(d.blockjobs_active.as_deref(), Some("yes"));
    // Comments and processing instructions among the flags are not flags.
    assert_eq!(
        doc.caps,
        vec![
            "kvm",
            "device-alias",
            "blockdev",
            "virtio-vga",
            "pcie-root-port"
        ]
    );
    assert_eq!(doc.live_aliases.len(), 8);
    assert!(doc.live_aliases.iter().any(|a| a == "ua-<lt>A"));

    let elements: Vec<&str> = doc.devices.iter().map(|d| d.element.as_ref()).collect();
    for kind in [
        "disk",
        "controller",
        "interface",
        "hostdev",
        "video",
        "memory",
        "serial",
        "console",
        "channel",
        "input",
        "graphics",
        "sound",
        "audio",
        "watchdog",
        "memballoon",
        "rng",
        "tpm",
        "shmem",
        "redirdev",
        "smartcard",
        "panic",
        "iommu",
        "vsock",
        "hub",
        "filesystem",
        "lease",
    ] {
        assert!(elements.contains(&kind), "{kind} missing from {elements:?}");
    }
    assert!(!elements.contains(&"emulator"));

    let root = device(&doc, "controller", 0);
    assert_eq!(
        (root.type_.as_deref(), root.model.as_deref(), root.index),
        (Some("pci"), Some("pcie-root"), Some(0))
    );
    // Attributes in another order, double quotes, white space before `>`.
    let port2 = device(&doc, "controller", 2);
    assert_eq!(port2.index, Some(2));
    assert_eq!(port2.model.as_deref(), Some("pcie-root-port"));
    assert_eq!(port2.model_name.as_deref(), Some("pcie-root-port"));
    assert!(port2.alias.as_deref().is_some_and(|a| a.starts_with("ua-")));
}

#[test]
fn hostdev_source_address_is_not_the_guest_address() {
    let xml = br#"<domain type='kvm'><name>h</name><devices>
        <hostdev mode='subsystem' type='pci' managed='yes'>
          <source><address domain='0x0000' bus='0x3b' slot='0x00' function='0x1'/></source>
          <alias name='hostdev0'/>
          <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
          <origstates><unbind/></origstates>
        </hostdev></devices></domain>"#;
    let doc = parse(xml);
    let h = &doc.devices[0];
    assert_eq!(
        (h.pci_bus, h.pci_slot, h.pci_function),
        (Some(7), Some(0), Some(0))
    );
    assert_eq!(h.managed.as_deref(), Some("yes"));
    assert!(h.has_origstates);
    assert_eq!(h.alias.as_deref(), Some("hostdev0"));
}

#[test]
fn metadata_namespaces_are_not_devices() {
    let xml = br#"<domain type='kvm'><name>m</name>
        <metadata><ns:devices xmlns:ns='urn:x'><ns:disk secret='s3cret'/></ns:devices>
          <ovirt:devices xmlns:ovirt='urn:o'><disk/></ovirt:devices></metadata>
        <devices><disk type='file'><alias name='virtio-disk0'/></disk>
          <q:disk xmlns:q='urn:q'/></devices></domain>"#;
    let doc = parse(xml);
    assert_eq!(
        doc.devices.len(),
        1,
        "only the real disk: {:?}",
        doc.devices
    );
    assert_eq!(doc.devices[0].alias.as_deref(), Some("virtio-disk0"));
}

#[test]
fn addresses_numbers_and_flags() {
    let xml = br#"<domstatus state='paused' reason='starting up' pid='77'><domain type='kvm' id='3'>
        <name>n</name><devices>
        <controller type='pci' index='5' model='pcie-root-port'><model name='pcie-root-port'/>
          <target chassis='5' port="0x14" hotplug='off'/><alias name='pci.5'/>
          <address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x4' multifunction='on'/></controller>
        <memory model='dimm'><alias name='dimm1'/><address type='dimm' slot='0'/></memory>
        <video><model type='virtio' heads='1' primary='yes'/><alias name='video0'/></video>
        <disk type='network'><source protocol='rbd' name='p/v' tls='yes'><auth username='u'/></source>
          <encryption format='luks'/><privateData><objects><secret type='auth' alias='x'/></objects></privateData></disk>
        <interface type='network'><actual type='bridge'/><model type='virtio'/></interface>
        </devices></domain></domstatus>"#;
    let doc = parse(xml);
    let c = &doc.devices[0];
    assert_eq!(c.target_chassis, Some(5));
    assert_eq!(c.target_port, Some(0x14));
    assert_eq!(c.target_hotplug.as_deref(), Some("off"));
    assert_eq!(
        (c.pci_domain, c.pci_bus, c.pci_slot, c.pci_function),
        (Some(0), Some(0), Some(2), Some(4))
    );
    assert_eq!(c.multifunction, Some(true));
    let m = &doc.devices[1];
    assert_eq!(
        (m.model.as_deref(), m.address_type.as_deref(), m.dimm_slot),
        (Some("dimm"), Some("dimm"), Some(0))
    );
    let v = &doc.devices[2];
    assert_eq!(
        (v.model.as_deref(), v.video_device.as_deref()),
        (Some("virtio"), None)
    );
    let d = &doc.devices[3];
    assert!(d.has_auth && d.has_encryption && d.has_tls && d.has_private_objects);
    let i = &doc.devices[4];
    assert!(i.has_actual);
    assert_eq!(i.model.as_deref(), Some("virtio"));
    assert_eq!(doc.domain.state.as_deref(), Some("paused"));
    assert_eq!(doc.domain.reason.as_deref(), Some("starting up"));
}

#[test]
fn errors_name_the_fault() {
    let cases: [(&[u8], ErrorKind); 7] = [
        (b"", ErrorKind::Empty),
        (b"<domain><name>x</name>", ErrorKind::MalformedXml),
        (b"<foo/>", ErrorKind::NotLibvirt),
        (b"\xff\xfe<\x00d\x00", ErrorKind::NotUtf8),
        (
            b"<domain><name>\xc3\x28</name></domain>",
            ErrorKind::NotUtf8,
        ),
        (
            b"<!DOCTYPE d [<!ENTITY x 'y'>]><domain><name>&x;</name></domain>",
            ErrorKind::MalformedXml,
        ),
        (
            b"<domstatus state='running'><qemuCaps/></domstatus>",
            ErrorKind::NotLibvirt,
        ),
    ];
    for (data, kind) in cases {
        let err = parse_document(data, &Limits::default()).expect_err("must fail");
        assert_eq!(
            err.kind,
            kind,
            "{:?}: {}",
            String::from_utf8_lossy(data),
            err.message
        );
    }
    let err = parse_document(b"<domain>\n  <name>x</nam>\n</domain>", &Limits::default())
        .expect_err("mismatch");
    assert_eq!(err.position.map(|p| p.0), Some(2), "{}", err.message);
}

#[test]
fn limits_apply_in_skipped_subtrees() {
    let deep = format!(
        "<domain><metadata>{}{}</metadata></domain>",
        "<x>".repeat(300),
        "</x>".repeat(300)
    );
    let err = parse_document(deep.as_bytes(), &Limits::default()).expect_err("too deep");
    assert_eq!(err.kind, ErrorKind::TooDeep);
    let many = format!(
        "<domain><metadata>{}</metadata></domain>",
        "<x/>".repeat(50)
    );
    let limits = Limits {
        max_elements: 20,
        ..Limits::default()
    };
    assert_eq!(
        parse_document(many.as_bytes(), &limits)
            .expect_err("too many")
            .kind,
        ErrorKind::TooManyElements
    );
}
