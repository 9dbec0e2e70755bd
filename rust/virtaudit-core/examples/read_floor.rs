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
//!   `--jobs N` worker threads (default 1).

use std::fs::File;
use std::io::{self, BufRead, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use virtaudit_core::{Limits, ScanOptions, read_listed_file, scan};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    CoreRead,
    Scan,
}

struct Args {
    mode: Mode,
    jobs: usize,
    paths: Vec<PathBuf>,
}

const USAGE: &str =
    "usage: read_floor [--mode read|core-read|scan] [--jobs N] [--list FILE] [PATH...]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: Mode::Read,
        jobs: 1,
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
                let file = File::open(&list)
                    .map_err(|e| format!("{}: {e}", PathBuf::from(&list).display()))?;
                for line in io::BufReader::new(file).lines() {
                    let line = line.map_err(|e| e.to_string())?;
                    if !line.is_empty() {
                        args.paths.push(PathBuf::from(line));
                    }
                }
            }
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

fn scan_all(paths: &[PathBuf], jobs: usize) -> io::Result<u64> {
    let options = ScanOptions {
        jobs: Some(jobs),
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
    Ok(total)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    let start = Instant::now();
    let result = match args.mode {
        Mode::Read => read_all(&args.paths),
        Mode::CoreRead => core_read_all(&args.paths),
        Mode::Scan => scan_all(&args.paths, args.jobs),
    };
    let seconds = start.elapsed().as_secs_f64();
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
                "{{\"mode\": \"{mode}\", \"files\": {}, \"bytes\": {bytes}, \"seconds\": {seconds:.6}, \"mb_per_s\": {mbps:.1}}}",
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
