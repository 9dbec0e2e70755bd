//! virtaudit-core: streams libvirt status and domain XML into Arrow tables.
//!
//! Pure Rust, no Python: the `virtaudit-python` crate binds it. The entry points are [`scan`] (all inputs
//! at once, as a list of batches in path order) and [`Scanner`] (batch by batch, bounded memory).
//! Every input ends up as exactly one row in `domains` or in `errors`.

// The modules are private: what callers (the binding, tests, benches, examples, fuzz targets) may use is
// re-exported below, so the inside can be rearranged without breaking them.
mod byteclass;
mod columns;
mod crosslist;
mod error;
mod limits;
mod parse;
mod read;
mod rows;
mod strhash;
mod tables;
mod walk;

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;
use regex::Regex;
use walk::{Input, InputList, expand};

pub use error::{ErrorKind, InputError};
pub use limits::Limits;
use parse::{ListCache, parse_document_cached};
pub use parse::{parse_document, parse_document_checked};
use read::read_file_in;
pub use read::read_listed_file;
pub use rows::{DeviceRow, DocKind, Document, DomainRow, Text};
pub use tables::{Batch, CapsRows, LiveRows, SCHEMA_VERSION, TABLE_NAMES, TableBuilder, schema_of};

/// How the `host` column is derived from a file's path.
#[derive(Debug, Clone, Default)]
pub enum HostFrom {
    /// Name of the directory holding the file (`fleet/HOST/guest.xml`).
    #[default]
    Parent,
    /// Name of the directory above that (`fleet/HOST/qemu/guest.xml`).
    Grandparent,
    /// The same name for every file (a single host's `/run/libvirt/qemu`).
    Fixed(String),
    /// First capture group of a regex applied to the path; the parent directory where it does not match.
    Regex(Regex),
}

impl HostFrom {
    pub fn host_of(&self, path: &Path) -> String {
        let nth_parent = |n: usize| -> String {
            // Relative paths are made absolute only when the name is not in the path as given
            // (`guest.xml`, `./guest.xml`, `x/../guest.xml`): that takes a getcwd per file.
            nth_name(path, n).unwrap_or_else(|| {
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
                nth_name(&absolute, n).unwrap_or_default()
            })
        };
        match self {
            HostFrom::Parent => nth_parent(1),
            HostFrom::Grandparent => nth_parent(2),
            HostFrom::Fixed(name) => name.clone(),
            HostFrom::Regex(re) => re
                .captures(&path.to_string_lossy())
                .and_then(|c| c.get(1).map(|m| m.as_str().to_string()))
                .unwrap_or_else(|| nth_parent(1)),
        }
    }
}

/// The name of the `n`th ancestor of `path`; `None` where the path as written does not hold it (too few
/// components, or `.`/`..` in its place).
fn nth_name(path: &Path, n: usize) -> Option<String> {
    path.ancestors()
        .nth(n)
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Worker threads; `None` uses one per core.
    pub jobs: Option<usize>,
    pub host_from: HostFrom,
    pub limits: Limits,
    /// Which `<qemuCaps>` flags become rows of the caps table (`domains.caps_count` still counts every
    /// flag); all by default. A couple of hundred flags per status file make caps the largest table,
    /// and an audit reads a handful of them, or all but those its target surely knows.
    pub caps_rows: CapsRows,
    /// Which ids of QEMU's live device list become rows of the live_aliases table; all by default.
    pub live_rows: LiveRows,
    /// The document id of the first input (`doc_id` column); the others follow in scan order. A caller
    /// that combines several scans (archive members with plain files) starts each after the last.
    pub first_doc_id: u32,
}

#[derive(Debug)]
pub enum ScanError {
    ThreadPool(String),
    Arrow(arrow_schema::ArrowError),
    /// The inputs' document ids would not fit in the `u32` of the `doc_id` column.
    TooManyInputs {
        first_doc_id: u32,
        inputs: u64,
    },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScanError::ThreadPool(e) => write!(f, "cannot start worker threads: {e}"),
            ScanError::Arrow(e) => write!(f, "cannot build tables: {e}"),
            ScanError::TooManyInputs {
                first_doc_id,
                inputs,
            } => write!(
                f,
                "{inputs} inputs from document id {first_doc_id} on would exceed the largest id ({})",
                u32::MAX
            ),
        }
    }
}

impl std::error::Error for ScanError {}

impl From<arrow_schema::ArrowError> for ScanError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        ScanError::Arrow(e)
    }
}

/// Checks that `len` inputs numbered from `first` keep their document ids within `u32`.
fn check_doc_ids(first: u32, len: usize) -> Result<(), ScanError> {
    let inputs = len as u64;
    if u64::from(first) + inputs > u64::from(u32::MAX) + 1 {
        return Err(ScanError::TooManyInputs {
            first_doc_id: first,
            inputs,
        });
    }
    Ok(())
}

/// Reads and parses a run of inputs into one batch, reusing one read buffer; the first input gets the
/// document id `first_doc_id`.
fn scan_inputs(
    inputs: &[Input],
    first_doc_id: u32,
    options: &ScanOptions,
) -> Result<Batch, ScanError> {
    let mut builder = TableBuilder::new()
        .with_caps_rows(options.caps_rows.clone())
        .with_live_rows(options.live_rows)
        .with_first_doc_id(first_doc_id);
    let mut buf = Vec::new();
    let mut lists = ListCache::default();
    let mut dirs = read::Dirs::default();
    let mut reserved = false;
    for (n, input) in inputs.iter().enumerate() {
        let host = options.host_from.host_of(&input.path);
        let display = input.display();
        if let Some(error) = &input.error {
            builder.push_error(&display, &host, error);
            continue;
        }
        let outcome =
            read_file_in(&mut dirs, &input.path, &options.limits, &mut buf).and_then(|size| {
                parse_document_cached(&buf, &options.limits, &mut lists).map(|doc| (size, doc))
            });
        match outcome {
            Ok((size, doc)) => {
                if !reserved {
                    reserved = true;
                    builder.reserve_like(&doc, inputs.len() - n);
                }
                builder.push_document(&display, &host, size, &doc);
            }
            Err(error) => builder.push_error(&display, &host, &error),
        }
    }
    Ok(builder.finish()?)
}

fn pool(jobs: Option<usize>) -> Result<rayon::ThreadPool, ScanError> {
    let mut pool = rayon::ThreadPoolBuilder::new().thread_name(|i| format!("virtaudit-{i}"));
    if let Some(jobs) = jobs {
        pool = pool.num_threads(jobs.max(1));
    }
    pool.build()
        .map_err(|e| ScanError::ThreadPool(e.to_string()))
}

/// Parses `inputs` in parallel into batches that keep the inputs' order; the inputs are numbered from
/// `first_doc_id` in that order, whichever thread reads them.
///
/// The inputs are cut into contiguous runs that shrink as the end nears (guided scheduling): each run
/// is about what is left divided by twice the number of threads, at least [`MIN_RUN`] files. The
/// threads take runs in order from a shared counter. Large first runs keep the batches few and large
/// (every batch is a chunk of every table downstream); small last runs let both threads finish
/// together. With equal runs (a sixteenth each) one thread could still be on its last run while the
/// other had nothing left: up to a sixteenth of the work on one core.
fn scan_parallel(
    pool: &rayon::ThreadPool,
    inputs: &[Input],
    first_doc_id: u32,
    options: &ScanOptions,
) -> Result<Vec<Batch>, ScanError> {
    check_doc_ids(first_doc_id, inputs.len())?;
    if inputs.is_empty() {
        return Ok(vec![TableBuilder::new().finish()?]);
    }
    let runs = guided_runs(inputs.len(), pool.current_num_threads().max(1));
    let next = AtomicUsize::new(0);
    let batches: Vec<OnceLock<Result<Batch, ScanError>>> =
        runs.iter().map(|_| OnceLock::new()).collect();
    pool.broadcast(|_| {
        loop {
            let k = next.fetch_add(1, Ordering::Relaxed);
            let Some(run) = runs.get(k) else { break };
            // (in range: checked above for all the inputs)
            let first = first_doc_id + run.start as u32;
            let _ = batches[k].set(scan_inputs(&inputs[run.clone()], first, options));
        }
    });
    batches
        .into_iter()
        .map(|batch| batch.into_inner().expect("every run is scanned once"))
        .collect()
}

/// Fewest files in a run of [`scan_parallel`] (a batch of a few files costs more than it balances).
const MIN_RUN: usize = 16;
/// Most files in a run: the batches of a large scan stay of a bounded size.
const MAX_RUN: usize = 2048;

/// Contiguous runs covering `0..len`, shrinking towards the end (see [`scan_parallel`]).
fn guided_runs(len: usize, threads: usize) -> Vec<Range<usize>> {
    let mut runs = Vec::new();
    let mut start = 0;
    while start < len {
        let left = len - start;
        let size = (left / (2 * threads)).clamp(MIN_RUN, MAX_RUN).min(left);
        runs.push(start..start + size);
        start += size;
    }
    runs
}

/// Scans everything named by `args` (files, directories, glob patterns).
pub fn scan(args: &[PathBuf], options: &ScanOptions) -> Result<Vec<Batch>, ScanError> {
    let inputs = expand(args);
    let pool = pool(options.jobs)?;
    scan_parallel(&pool, &inputs, options.first_doc_id, options)
}

/// Scans in-memory documents (archive members): `(path, host, bytes)`.
pub fn scan_buffers(
    items: &[(String, String, Vec<u8>)],
    options: &ScanOptions,
) -> Result<Batch, ScanError> {
    check_doc_ids(options.first_doc_id, items.len())?;
    let pool = pool(options.jobs)?;
    let limits = &options.limits;
    let docs: Vec<Result<Document, InputError>> = pool.install(|| {
        items
            .par_iter()
            .map(|(_, _, data)| {
                if data.len() as u64 > limits.max_file_size {
                    return Err(InputError::new(
                        ErrorKind::TooLarge,
                        format!(
                            "{} bytes is above the {}-byte limit; not read",
                            data.len(),
                            limits.max_file_size
                        ),
                    ));
                }
                parse_document(data, limits)
            })
            .collect()
    });
    let mut builder = TableBuilder::new().with_first_doc_id(options.first_doc_id);
    for ((path, host, data), result) in items.iter().zip(&docs) {
        match result {
            Ok(doc) => builder.push_document(path, host, data.len() as u64, doc),
            Err(error) => builder.push_error(path, host, error),
        }
    }
    Ok(builder.finish()?)
}

/// Batch-by-batch scanning: the list of inputs is kept, their tables are produced `batch_files` at a
/// time, so memory stays bounded by the batch size whatever the number of files.
pub struct Scanner {
    inputs: InputList,
    cursor: walk::InputCursor,
    /// The document id of the next input: ids run on across batches, so they are unique in the scan.
    next_doc_id: u32,
    options: ScanOptions,
    pool: rayon::ThreadPool,
}

impl Scanner {
    pub fn new(args: &[PathBuf], options: ScanOptions) -> Result<Self, ScanError> {
        let pool = pool(options.jobs)?;
        let inputs = InputList::new(expand(args));
        check_doc_ids(options.first_doc_id, inputs.len())?;
        Ok(Scanner {
            inputs,
            cursor: walk::InputCursor::default(),
            next_doc_id: options.first_doc_id,
            options,
            pool,
        })
    }

    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// The next batch of tables, or `None` when every input has been scanned.
    pub fn next_batch(&mut self, batch_files: usize) -> Result<Option<Vec<Batch>>, ScanError> {
        let inputs = self.inputs.take(&mut self.cursor, batch_files.max(1));
        if inputs.is_empty() {
            return Ok(None);
        }
        let first = self.next_doc_id;
        let batches = scan_parallel(&self.pool, &inputs, first, &self.options)?;
        // (wraps only after the last input: `new` checked that all of them fit)
        self.next_doc_id = first.wrapping_add(inputs.len() as u32);
        Ok(Some(batches))
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;

    #[test]
    fn relative_paths_name_the_same_host_as_their_absolute_form() {
        let cwd = std::env::current_dir().unwrap();
        let cwd_name = cwd.file_name().unwrap().to_string_lossy().into_owned();
        for (relative, parent, grandparent) in [
            ("fleet/web01/g.xml", "web01", "fleet".to_string()),
            ("web01/g.xml", "web01", cwd_name.clone()),
            ("g.xml", cwd_name.as_str(), String::new()),
            ("./g.xml", cwd_name.as_str(), String::new()),
        ] {
            let path = Path::new(relative);
            assert_eq!(HostFrom::Parent.host_of(path), parent, "{relative}");
            let absolute = std::path::absolute(path).unwrap();
            assert_eq!(HostFrom::Parent.host_of(&absolute), parent, "{relative}");
            if !grandparent.is_empty() {
                assert_eq!(
                    HostFrom::Grandparent.host_of(path),
                    grandparent,
                    "{relative}"
                );
            }
        }
        assert_eq!(HostFrom::Parent.host_of(Path::new("/g.xml")), "");
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;

    #[test]
    fn guided_runs_cover_every_input_once_in_order_and_shrink() {
        for threads in [1, 2, 3, 8] {
            for len in [1, 15, 16, 17, 100, 2000, 20_000, 1_000_003] {
                let runs = guided_runs(len, threads);
                assert_eq!(runs.first().map(|r| r.start), Some(0));
                assert_eq!(runs.last().map(|r| r.end), Some(len));
                for pair in runs.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start);
                    assert!(pair[0].len() >= pair[1].len(), "{len} {threads}: {runs:?}");
                }
                assert!(runs.iter().all(|r| r.len() <= MAX_RUN && !r.is_empty()));
                assert!(runs[..runs.len() - 1].iter().all(|r| r.len() >= MIN_RUN));
            }
        }
        // 2,000 files on two threads: a few large runs first, small ones last, about as many as before.
        let runs = guided_runs(2000, 2);
        assert_eq!(runs[0].len(), 500);
        assert!(runs.len() < 32, "{}", runs.len());
    }
}
