//! Times a scan of the given paths, single-threaded unless JOBS is given (for profiling the parser
//! without Python): `cargo run --release --example scan_timing -- DIR [REPEATS] [JOBS]`.

use std::path::PathBuf;
use std::time::Instant;

use virtaudit_core::{ScanOptions, scan};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = PathBuf::from(
        args.first()
            .expect("usage: scan_timing DIR [REPEATS] [JOBS]"),
    );
    let repeats: usize = args.get(1).and_then(|r| r.parse().ok()).unwrap_or(5);
    let jobs: usize = args.get(2).and_then(|r| r.parse().ok()).unwrap_or(1);
    let options = ScanOptions {
        jobs: Some(jobs),
        ..ScanOptions::default()
    };
    let mut best = f64::MAX;
    let mut bytes = 0u64;
    for _ in 0..repeats {
        let start = Instant::now();
        let batches = scan(std::slice::from_ref(&path), &options).expect("scan");
        best = best.min(start.elapsed().as_secs_f64());
        bytes = batches
            .iter()
            .map(|b| {
                let sizes = b.domains.column_by_name("file_size").expect("file_size");
                let sizes = sizes
                    .as_any()
                    .downcast_ref::<arrow_array::UInt64Array>()
                    .expect("u64");
                sizes.values().iter().sum::<u64>()
            })
            .sum();
    }
    println!(
        "{bytes} bytes in {best:.4} s: {:.0} MB/s",
        bytes as f64 / best / 1e6
    );
}
