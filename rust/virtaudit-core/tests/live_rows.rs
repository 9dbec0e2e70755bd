//! Which ids of QEMU's live device list become rows: all, or only those no device carries
//! (`LiveRows::Unmatched`, an audit's); `domains.live_alias_count` counts them all either way.

use arrow_array::{Array, BooleanArray, StringViewArray, UInt32Array};
use virtaudit_core::{LiveRows, ScanOptions, scan};

const GUEST: &str = "<domstatus state='running'>\
<devices><device alias='net0'/><device alias='stale0'/><device alias='virtio-disk0'/>\
<device alias='ua-gone'/></devices>\
<domain type='kvm'><name>g</name><devices>\
<disk type='file'><alias name='virtio-disk0'/></disk>\
<interface type='network'><alias name='net0'/></interface>\
</devices></domain></domstatus>";

const ALL_FOUND: &str = "<domstatus state='running'><devices><device alias='net0'/></devices>\
<domain type='kvm'><name>h</name><devices><interface type='network'><alias name='net0'/></interface>\
</devices></domain></domstatus>";

/// (alias, in_definition, doc_id) of every live row, and the domains' live_alias_count, per option.
fn scanned(name: &str, live_rows: LiveRows) -> (Vec<(String, bool, u32)>, Vec<u32>) {
    let dir =
        std::env::temp_dir().join(format!("virtaudit-live-rows-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.xml"), GUEST).unwrap();
    std::fs::write(dir.join("b.xml"), ALL_FOUND).unwrap();
    std::fs::write(dir.join("c.xml"), GUEST).unwrap();
    let options = ScanOptions {
        live_rows,
        jobs: Some(1),
        ..ScanOptions::default()
    };
    let batches = scan(std::slice::from_ref(&dir), &options).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let (mut rows, mut counts) = (Vec::new(), Vec::new());
    for batch in &batches {
        let live = batch.table("live_aliases").unwrap();
        let get = |name: &str| live.column_by_name(name).unwrap().as_any();
        let alias = get("alias").downcast_ref::<StringViewArray>().unwrap();
        let found = get("in_definition").downcast_ref::<BooleanArray>().unwrap();
        let doc = get("doc_id").downcast_ref::<UInt32Array>().unwrap();
        assert!(live.columns().iter().all(|c| c.len() == alias.len()));
        rows.extend(
            (0..alias.len()).map(|i| (alias.value(i).to_string(), found.value(i), doc.value(i))),
        );
        let domains = batch.table("domains").unwrap();
        let count = domains.column_by_name("live_alias_count").unwrap();
        let count = count.as_any().downcast_ref::<UInt32Array>().unwrap();
        counts.extend(count.values().iter().copied());
    }
    (rows, counts)
}

#[test]
fn every_listed_id_by_default() {
    let (rows, counts) = scanned("all", LiveRows::All);
    let expected = |doc| {
        [
            ("net0", true),
            ("stale0", false),
            ("virtio-disk0", true),
            ("ua-gone", false),
        ]
        .map(|(a, f)| (a.to_string(), f, doc))
    };
    let mut want: Vec<_> = expected(0).into();
    want.push(("net0".to_string(), true, 1));
    want.extend(expected(2));
    assert_eq!(rows, want);
    assert_eq!(counts, [4, 1, 4]);
}

#[test]
fn only_the_unmatched_ids_for_an_audit() {
    let (rows, counts) = scanned("unmatched", LiveRows::Unmatched);
    let row = |a: &str, doc| (a.to_string(), false, doc);
    assert_eq!(
        rows,
        [
            row("stale0", 0),
            row("ua-gone", 0),
            row("stale0", 2),
            row("ua-gone", 2)
        ]
    );
    assert_eq!(
        counts,
        [4, 1, 4],
        "live_alias_count still counts every listed id"
    );
}
