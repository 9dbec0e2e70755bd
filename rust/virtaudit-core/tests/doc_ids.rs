//! Document ids: every input gets one, numbered in scan order across the batches of a scan, and every
//! row an input contributes carries it, whichever thread read it.

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

use arrow_array::{Array, RecordBatch, StringViewArray, UInt32Array};
use virtaudit_core::{Batch, ScanError, ScanOptions, Scanner, scan, scan_buffers};

const GUEST: &str = "<domstatus state='running'><qemuCaps><flag name='kvm'/><flag name='x'/></qemuCaps>\
<devices><device alias='net0'/></devices><domain type='kvm'><name>g</name><devices>\
<disk type='file'/><interface type='network'/></devices></domain></domstatus>";

fn column<'b, T: 'static>(batch: &'b RecordBatch, name: &str) -> &'b T {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_any()
        .downcast_ref::<T>()
        .expect("column type")
}

/// `(table, path, doc_id)` for every row of every table.
fn rows(batches: &[Batch]) -> Vec<(&'static str, String, u32)> {
    let mut out = Vec::new();
    for batch in batches {
        for table in virtaudit_core::TABLE_NAMES {
            let rb = batch.table(table).expect("table");
            let paths = column::<StringViewArray>(rb, "path");
            let ids = column::<UInt32Array>(rb, "doc_id");
            assert_eq!(ids.null_count(), 0, "{table}");
            for i in 0..rb.num_rows() {
                out.push((table, paths.value(i).to_string(), ids.value(i)));
            }
        }
    }
    out
}

/// A directory of `good` status files and `bad` unreadable ones (every tenth name), in name order.
fn fleet(name: &str, files: usize) -> (PathBuf, Vec<String>) {
    let dir = std::env::temp_dir().join(format!("virtaudit-doc-ids-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("h")).unwrap();
    let mut paths = Vec::new();
    for i in 0..files {
        let path = dir.join("h").join(format!("g{i:04}.xml"));
        let text = if i % 10 == 3 { "<domain>" } else { GUEST };
        fs::write(&path, text).unwrap();
        paths.push(path.to_string_lossy().into_owned());
    }
    (dir, paths)
}

/// Each input's id is `first` plus its position in the scan; all rows of one input share it.
fn check_numbering(rows: &[(&'static str, String, u32)], paths: &[String], first: u32) {
    let mut by_path: BTreeMap<&str, u32> = BTreeMap::new();
    for (table, path, id) in rows {
        let known = *by_path.entry(path.as_str()).or_insert(*id);
        assert_eq!(known, *id, "{table} row of {path} has another id");
    }
    for (n, path) in paths.iter().enumerate() {
        assert_eq!(
            by_path.get(path.as_str()),
            Some(&(first + n as u32)),
            "{path}"
        );
    }
    let doc_rows = rows
        .iter()
        .filter(|(t, ..)| *t == "domains" || *t == "errors")
        .count();
    assert_eq!(doc_rows, paths.len(), "one domains or errors row per input");
}

#[test]
fn a_scan_numbers_its_inputs_in_path_order_on_every_thread() {
    let (dir, paths) = fleet("scan", 300);
    for jobs in [1, 2, 4] {
        let options = ScanOptions {
            jobs: Some(jobs),
            ..ScanOptions::default()
        };
        let batches = scan(std::slice::from_ref(&dir), &options).unwrap();
        assert!(
            batches.len() > 1 || jobs == 1,
            "several runs with {jobs} threads"
        );
        check_numbering(&rows(&batches), &paths, 0);
    }
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_scanner_numbers_on_across_batches() {
    let (dir, paths) = fleet("scanner", 130);
    let options = ScanOptions {
        jobs: Some(2),
        first_doc_id: 1000,
        ..ScanOptions::default()
    };
    let mut scanner = Scanner::new(std::slice::from_ref(&dir), options).unwrap();
    let mut all = Vec::new();
    let mut batches = 0;
    while let Some(batch) = scanner.next_batch(47).unwrap() {
        all.extend(rows(&batch));
        batches += 1;
    }
    assert_eq!(batches, 3);
    check_numbering(&all, &paths, 1000);
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn buffers_start_at_the_first_id_given() {
    let items: Vec<(String, String, Vec<u8>)> = (0..5)
        .map(|i| {
            let text = if i == 2 { "<x/>" } else { GUEST };
            (
                format!("a.tar!g{i}.xml"),
                "h".into(),
                text.as_bytes().to_vec(),
            )
        })
        .collect();
    let paths: Vec<String> = items.iter().map(|(p, ..)| p.clone()).collect();
    let options = ScanOptions {
        first_doc_id: 77,
        ..ScanOptions::default()
    };
    let batch = scan_buffers(&items, &options).unwrap();
    check_numbering(&rows(&[batch]), &paths, 77);
}

#[test]
fn ids_that_would_not_fit_are_refused() {
    let items = vec![("a".to_string(), "h".to_string(), GUEST.as_bytes().to_vec()); 2];
    let last = ScanOptions {
        first_doc_id: u32::MAX,
        ..ScanOptions::default()
    };
    let batch = scan_buffers(&items[..1], &last).unwrap();
    assert!(rows(&[batch]).iter().all(|r| r.2 == u32::MAX));
    assert!(matches!(
        scan_buffers(&items, &last),
        Err(ScanError::TooManyInputs { .. })
    ));
}
