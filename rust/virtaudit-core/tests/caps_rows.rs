//! Which `<qemuCaps>` flags become rows: all, only some, or all but some; `caps_count` counts them all.

use std::collections::HashSet;
use std::sync::Arc;

use arrow_array::{Array, StringViewArray, UInt32Array};
use virtaudit_core::{CapsRows, ScanOptions, scan};

const GUEST: &str = "<domstatus state='running'><qemuCaps><flag name='kvm'/><flag name='pci-multibus'/>\
<flag name='virtio-crypto'/><flag name='blockdev'/></qemuCaps><domain type='kvm'><name>g</name>\
<devices><disk type='file'/></devices></domain></domstatus>";

/// The caps rows' flags and the domains' caps_count of one status file scanned with `caps_rows`.
fn scanned(name: &str, caps_rows: CapsRows) -> (Vec<String>, u32) {
    let dir =
        std::env::temp_dir().join(format!("virtaudit-caps-rows-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("g.xml"), GUEST).unwrap();
    let options = ScanOptions {
        caps_rows,
        ..ScanOptions::default()
    };
    let batches = scan(std::slice::from_ref(&dir), &options).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (mut flags, mut count) = (Vec::new(), 0);
    for batch in &batches {
        let caps = batch.table("caps").unwrap();
        let values = caps
            .column_by_name("flag")
            .unwrap()
            .as_any()
            .downcast_ref::<StringViewArray>()
            .unwrap();
        flags.extend((0..values.len()).map(|i| values.value(i).to_string()));
        let domains = batch.table("domains").unwrap();
        let counts = domains
            .column_by_name("caps_count")
            .unwrap()
            .as_any()
            .downcast_ref::<UInt32Array>()
            .unwrap();
        count += (0..counts.len()).map(|i| counts.value(i)).sum::<u32>();
    }
    (flags, count)
}

#[test]
fn every_flag_by_default() {
    let (flags, count) = scanned("all", CapsRows::All);
    assert_eq!(flags, ["kvm", "pci-multibus", "virtio-crypto", "blockdev"]);
    assert_eq!(count, 4);
}

#[test]
fn only_the_flags_named() {
    let only = CapsRows::Only(vec!["pci-multibus".to_string(), "absent".to_string()].into());
    let (flags, count) = scanned("only", only);
    assert_eq!(flags, ["pci-multibus"]);
    assert_eq!(count, 4, "caps_count still counts every flag");
}

#[test]
fn every_flag_but_those_named() {
    let except: HashSet<String> = ["kvm", "blockdev", "absent"].map(String::from).into();
    let (flags, count) = scanned("except", CapsRows::Except(Arc::new(except)));
    assert_eq!(flags, ["pci-multibus", "virtio-crypto"]);
    assert_eq!(count, 4, "caps_count still counts every flag");
}
