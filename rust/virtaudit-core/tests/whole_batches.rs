//! `ScanOptions::whole_batches`: each table of a batch in one piece, holding exactly the rows the runs
//! of the scan's threads give without it, in the same order.

use std::path::PathBuf;

use arrow_array::RecordBatch;
use virtaudit_core::{Batch, ScanOptions, Scanner, TABLE_NAMES};

/// A directory of `n` status files of different sizes (so the threads' runs differ), a few of them broken
/// (error rows), and a few with live lists and capability flags.
fn fleet(name: &str, n: usize) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("virtaudit-whole-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let disks: String = (0..i % 7)
            .map(|d| format!("<disk type='file'><alias name='ua-disk{d}'/></disk>"))
            .collect();
        let text = if i % 13 == 5 {
            "<domstatus state='running'><domain".to_string() // truncated: an error row
        } else {
            format!(
                "<domstatus state='running'><devices><device alias='net0'/><device alias='gone{i}'/>\
                 </devices><qemuCaps><flag name='blockdev'/><flag name='f{i}'/></qemuCaps>\
                 <domain type='kvm'><name>g{i}</name><devices>{disks}\
                 <interface type='network'><alias name='net0'/></interface></devices></domain></domstatus>"
            )
        };
        std::fs::write(dir.join(format!("g{i:04}.xml")), text).unwrap();
    }
    dir
}

fn batches(dir: &PathBuf, whole: bool, batch_files: usize) -> Vec<Vec<Batch>> {
    let options = ScanOptions {
        jobs: Some(3),
        whole_batches: whole,
        ..ScanOptions::default()
    };
    let mut scanner = Scanner::new(std::slice::from_ref(dir), options).unwrap();
    let mut out = Vec::new();
    while let Some(runs) = scanner.next_batch(batch_files).unwrap() {
        out.push(runs);
    }
    out
}

#[test]
fn one_piece_per_table_with_the_runs_rows_in_order() {
    let dir = fleet("rows", 300);
    let by_runs = batches(&dir, false, 120);
    let whole = batches(&dir, true, 120);
    assert_eq!(by_runs.len(), 3);
    assert_eq!(whole.len(), 3);
    // (the comparison is about something: without the option a batch comes in several runs)
    assert!(
        by_runs.iter().all(|runs| runs.len() > 1),
        "{:?}",
        by_runs.iter().map(Vec::len).collect::<Vec<_>>()
    );
    for (runs, one) in by_runs.iter().zip(&whole) {
        assert_eq!(one.len(), 1);
        for table in TABLE_NAMES {
            let joined = one[0].table(table).unwrap();
            let mut offset = 0;
            for run in runs {
                let part: &RecordBatch = run.table(table).unwrap();
                assert_eq!(
                    &joined.slice(offset, part.num_rows()),
                    part,
                    "{table} at row {offset}"
                );
                offset += part.num_rows();
            }
            assert_eq!(offset, joined.num_rows(), "{table}");
        }
    }
    // every table has rows to compare
    for table in TABLE_NAMES {
        assert!(
            whole
                .iter()
                .map(|b| b[0].table(table).unwrap().num_rows())
                .sum::<usize>()
                > 0,
            "{table}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
