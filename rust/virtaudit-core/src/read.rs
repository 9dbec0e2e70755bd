//! Reads one input file without blocking, without following it past the size cap, and without
//! changing it (not even its access time, where the kernel lets us).

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{ErrorKind, InputError};

// Linux open(2) flags; std does not name them and the libc crate would be a dependency for three numbers.
const O_NONBLOCK: i32 = 0o4000;
const O_NOCTTY: i32 = 0o400;
const O_NOATIME: i32 = 0o1000000;

fn not_regular(kind: &fs::FileType) -> InputError {
    let what = if kind.is_dir() {
        "a directory"
    } else {
        "not a regular file (FIFO, socket or device)"
    };
    InputError::new(ErrorKind::NotRegular, format!("{what}: never opened"))
}

fn too_large(size: u64, cap: u64) -> InputError {
    InputError::new(
        ErrorKind::TooLarge,
        format!("{size} bytes is above the {cap}-byte limit; not read"),
    )
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true);
    // O_NOATIME needs ownership of the file (or CAP_FOWNER); retry without it.
    match options
        .clone()
        .custom_flags(O_NONBLOCK | O_NOCTTY | O_NOATIME)
        .open(path)
    {
        Err(err) if err.raw_os_error() == Some(1) => {
            options.custom_flags(O_NONBLOCK | O_NOCTTY).open(path)
        }
        result => result,
    }
}

/// Reads `path` into `buf` (cleared first) and returns the number of bytes read.
pub fn read_file(path: &Path, max_file_size: u64, buf: &mut Vec<u8>) -> Result<u64, InputError> {
    buf.clear();
    // Look before opening: FIFOs, sockets and devices are never opened, huge files never read.
    let meta = fs::metadata(path).map_err(|e| InputError::from_io(&e, "stat"))?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    if meta.len() > max_file_size {
        return Err(too_large(meta.len(), max_file_size));
    }
    let file = open(path).map_err(|e| InputError::from_io(&e, "open"))?;
    // The path may have been replaced between the look and the open: check what was opened.
    let meta = file
        .metadata()
        .map_err(|e| InputError::from_io(&e, "stat"))?;
    if !meta.is_file() {
        return Err(not_regular(&meta.file_type()));
    }
    if meta.len() > max_file_size {
        return Err(too_large(meta.len(), max_file_size));
    }
    buf.reserve(usize::try_from(meta.len()).unwrap_or(0).saturating_add(1));
    // Never read past the cap, even from a file that grows while we read it.
    file.take(max_file_size.saturating_add(1))
        .read_to_end(buf)
        .map_err(|e| InputError::from_io(&e, "read"))?;
    let len = buf.len() as u64;
    if len > max_file_size {
        buf.clear();
        return Err(too_large(len, max_file_size));
    }
    Ok(len)
}
