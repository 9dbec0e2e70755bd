//! The Rust read-only pass: the floor under any scan of the same files.
//!
//! Reads every file named (on the command line, or one path per line in `--list FILE`) into one reused
//! buffer and does nothing with the bytes. Prints one JSON line: files, bytes, seconds (inside the
//! process, after the list is loaded) and MB/s.
//!
//! ```text
//! cargo run --release --example read_floor -- --list files.txt
//! cargo run --release --example read_floor -- a.xml b.xml
//! cargo run --release --example read_floor -- --mode core-read --list files.txt
//! cargo run --release --example read_floor -- --mode scan --jobs 1 --list files.txt
//! ```
//!
//! Modes (diagnostics, to see where the time of a scan goes without Python in the way):
//! - `read` (default): `File::open` + `read_to_end` into the reused buffer; the floor.
//! - `core-read`: the core's own `read_listed_file`, as the scan reads (open with O_NOATIME,
//!   fstat, one capped read).
//! - `scan`: `virtaudit_core::scan` over the same files (read, parse, build the Arrow tables), with
//!   `--jobs N` worker threads (default 1). `--caps-except FILE` (one flag per line) makes caps rows of
//!   every flag but those, as an audit does (`CapsRows::Except`); `--map-large-blocks` sets glibc's
//!   mmap threshold to 1 MiB as the Python binding does, so that the allocator behaves as in an audit.
//!   `--digest` adds a hash of every value of every table (after the timing), to check that a change
//!   to the scan leaves its output as it was.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use virtaudit_core::{Batch, CapsRows, Limits, ScanOptions, TABLE_NAMES, read_listed_file, scan};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    CoreRead,
    Scan,
}

struct Args {
    mode: Mode,
    jobs: usize,
    caps_rows: CapsRows,
    map_large_blocks: bool,
    digest: bool,
    paths: Vec<PathBuf>,
}

const USAGE: &str = "usage: read_floor [--mode read|core-read|scan] [--jobs N] [--caps-except FILE] \
     [--map-large-blocks] [--digest] [--list FILE] [PATH...]";

fn read_lines(list: &std::ffi::OsStr) -> Result<Vec<String>, String> {
    let file = File::open(list).map_err(|e| format!("{}: {e}", PathBuf::from(list).display()))?;
    let mut lines = Vec::new();
    for line in io::BufReader::new(file).lines() {
        let line = line.map_err(|e| e.to_string())?;
        if !line.is_empty() {
            lines.push(line);
        }
    }
    Ok(lines)
}

/// What the Python binding does before a batch scan (see its `allocator.rs`).
fn map_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        unsafe extern "C" {
            fn mallopt(
                param: std::os::raw::c_int,
                value: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's mallopt takes no pointers and may be called at any time.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: Mode::Read,
        jobs: 1,
        caps_rows: CapsRows::All,
        map_large_blocks: false,
        digest: false,
        paths: Vec::new(),
    };
    let mut it = std::env::args_os().skip(1);
    while let Some(arg) = it.next() {
        match arg.to_str() {
            Some("--mode") => {
                let value = it.next().ok_or("--mode needs a value")?;
                args.mode = match value.to_str() {
                    Some("read") => Mode::Read,
                    Some("core-read") => Mode::CoreRead,
                    Some("scan") => Mode::Scan,
                    _ => return Err(format!("unknown mode {value:?}")),
                };
            }
            Some("--jobs") => {
                let value = it.next().ok_or("--jobs needs a value")?;
                args.jobs = value
                    .to_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--jobs needs a number")?;
            }
            Some("--list") => {
                let list = it.next().ok_or("--list needs a file")?;
                args.paths
                    .extend(read_lines(&list)?.into_iter().map(PathBuf::from));
            }
            Some("--caps-except") => {
                let list = it.next().ok_or("--caps-except needs a file")?;
                let flags: HashSet<String> = read_lines(&list)?.into_iter().collect();
                args.caps_rows = CapsRows::Except(Arc::new(flags));
            }
            Some("--map-large-blocks") => args.map_large_blocks = true,
            Some("--digest") => args.digest = true,
            Some("-h" | "--help") => return Err(USAGE.to_string()),
            _ => args.paths.push(PathBuf::from(arg)),
        }
    }
    Ok(args)
}

fn read_all(paths: &[PathBuf]) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(1 << 20);
    let mut total = 0u64;
    for path in paths {
        buf.clear();
        total += File::open(path)?.read_to_end(&mut buf)? as u64;
    }
    std::hint::black_box(&buf);
    Ok(total)
}

fn core_read_all(paths: &[PathBuf]) -> io::Result<u64> {
    let limits = Limits::default();
    let mut buf = Vec::with_capacity(1 << 20);
    let mut total = 0u64;
    for path in paths {
        total += read_listed_file(path, &limits, &mut buf)
            .map_err(|e| io::Error::other(format!("{}: {}", path.display(), e.message)))?;
    }
    std::hint::black_box(&buf);
    Ok(total)
}

/// A hash of every value of every table of `batches`, in order (nulls included).
fn digest(batches: &[Batch]) -> u64 {
    use arrow_array::{Array, BooleanArray, Int64Array, StringViewArray, UInt32Array, UInt64Array};
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for batch in batches {
        for name in TABLE_NAMES {
            let table = batch.table(name).expect("every table");
            table.num_rows().hash(&mut h);
            for column in table.columns() {
                let any = column.as_any();
                if let Some(a) = any.downcast_ref::<StringViewArray>() {
                    a.iter().for_each(|v| v.hash(&mut h));
                } else if let Some(a) = any.downcast_ref::<UInt32Array>() {
                    a.iter().for_each(|v| v.hash(&mut h));
                } else if let Some(a) = any.downcast_ref::<UInt64Array>() {
                    a.iter().for_each(|v| v.hash(&mut h));
                } else if let Some(a) = any.downcast_ref::<Int64Array>() {
                    a.iter().for_each(|v| v.hash(&mut h));
                } else if let Some(a) = any.downcast_ref::<BooleanArray>() {
                    a.iter().for_each(|v| v.hash(&mut h));
                } else {
                    panic!("unexpected column type {:?}", column.data_type());
                }
            }
        }
    }
    h.finish()
}

fn scan_all(paths: &[PathBuf], jobs: usize, caps_rows: CapsRows) -> io::Result<(u64, Vec<Batch>)> {
    let options = ScanOptions {
        jobs: Some(jobs),
        caps_rows,
        ..ScanOptions::default()
    };
    let batches = scan(paths, &options).map_err(|e| io::Error::other(e.to_string()))?;
    let mut total = 0u64;
    for batch in &batches {
        let domains = batch
            .table("domains")
            .ok_or_else(|| io::Error::other("no domains table"))?;
        let sizes = domains
            .column_by_name("file_size")
            .and_then(|c| c.as_any().downcast_ref::<arrow_array::UInt64Array>())
            .ok_or_else(|| io::Error::other("no file_size column"))?;
        total += sizes.iter().flatten().sum::<u64>();
    }
    std::hint::black_box(&batches);
    Ok((total, batches))
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    if args.map_large_blocks {
        map_large_blocks();
    }
    let start = Instant::now();
    let mut batches = Vec::new();
    let result = match args.mode {
        Mode::Read => read_all(&args.paths),
        Mode::CoreRead => core_read_all(&args.paths),
        Mode::Scan => scan_all(&args.paths, args.jobs, args.caps_rows.clone()).map(|(n, b)| {
            batches = b;
            n
        }),
    };
    let seconds = start.elapsed().as_secs_f64();
    let digest = if args.digest {
        format!(", \"digest\": \"{:016x}\"", digest(&batches))
    } else {
        String::new()
    };
    match result {
        Ok(bytes) => {
            let mbps = if seconds > 0.0 {
                bytes as f64 / 1e6 / seconds
            } else {
                0.0
            };
            let mode = match args.mode {
                Mode::Read => "read",
                Mode::CoreRead => "core-read",
                Mode::Scan => "scan",
            };
            let line = format!(
                "{{\"mode\": \"{mode}\", \"files\": {}, \"bytes\": {bytes}, \"seconds\": {seconds:.6}, \"mb_per_s\": {mbps:.1}{digest}}}",
                args.paths.len()
            );
            let _ = writeln!(io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("read_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
