//! The per-document alias comparisons the core hands the rules: `devices.in_live_list`,
//! `devices.alias_repeated` and `live_aliases.in_definition`.

use arrow_array::{Array, BooleanArray, RecordBatch, StringViewArray};
use virtaudit_core::{ScanOptions, scan};

const STATUS: &str = "<domstatus state='running'>\
<devices><device alias='net0'/><device alias='virtio-disk0'/><device alias='orphan0'/></devices>\
<domain type='kvm'><name>g</name><devices>\
<disk type='file'><alias name='virtio-disk0'/></disk>\
<disk type='file'><alias name='virtio-disk0'/></disk>\
<interface type='network'><alias name='net0'/></interface>\
<controller type='pci' index='1'><alias name='pci.1'/></controller>\
<input type='tablet'/>\
</devices></domain></domstatus>";

const NO_LIST: &str = "<domstatus state='running'><domain type='kvm'><name>h</name><devices>\
<disk type='file'><alias name='virtio-disk0'/></disk></devices></domain></domstatus>";

fn column<'b, T: 'static>(batch: &'b RecordBatch, name: &str) -> &'b T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .expect("column type")
}

fn flags(array: &BooleanArray) -> Vec<Option<bool>> {
    (0..array.len())
        .map(|i| array.is_valid(i).then(|| array.value(i)))
        .collect()
}

#[test]
fn aliases_are_compared_within_each_document() {
    let dir = std::env::temp_dir().join(format!("virtaudit-cross-listed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.xml"), STATUS).unwrap();
    std::fs::write(dir.join("b.xml"), NO_LIST).unwrap();
    let batches = scan(std::slice::from_ref(&dir), &ScanOptions::default()).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(batches.len(), 1);
    let devices = batches[0].table("devices").unwrap();
    let aliases = column::<StringViewArray>(devices, "alias");
    let aliases: Vec<Option<&str>> = (0..aliases.len())
        .map(|i| aliases.is_valid(i).then(|| aliases.value(i)))
        .collect();
    assert_eq!(
        aliases,
        [
            Some("virtio-disk0"),
            Some("virtio-disk0"),
            Some("net0"),
            Some("pci.1"),
            None,
            Some("virtio-disk0"), // b.xml, no list: its disk shares the alias with a.xml's, not within b.xml
        ]
    );
    let in_list = flags(column::<BooleanArray>(devices, "in_live_list"));
    assert_eq!(
        in_list,
        [Some(true), Some(true), Some(true), Some(false), None, None]
    );
    let repeated = flags(column::<BooleanArray>(devices, "alias_repeated"));
    assert_eq!(
        repeated,
        [
            Some(true),
            Some(true),
            Some(false),
            Some(false),
            None,
            Some(false)
        ]
    );
    let live = batches[0].table("live_aliases").unwrap();
    let ids = column::<StringViewArray>(live, "alias");
    let ids: Vec<&str> = (0..ids.len()).map(|i| ids.value(i)).collect();
    assert_eq!(ids, ["net0", "virtio-disk0", "orphan0"]);
    let defined = flags(column::<BooleanArray>(live, "in_definition"));
    assert_eq!(defined, [Some(true), Some(true), Some(false)]);
}
