//! Reads one input file without blocking, without following it past the size cap, and without
//! changing it (not even its access time, where the kernel lets us).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{ErrorKind, InputError};
use crate::limits::Limits;

// Linux open(2) flags; std does not name them and the libc crate would be a dependency for three numbers.
const O_NONBLOCK: i32 = 0o4000;
const O_NOCTTY: i32 = 0o400;
const O_NOATIME: i32 = 0o1000000;

pub(crate) fn not_regular(kind: &fs::FileType) -> InputError {
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

fn open(path: &Path) -> io::Result<File> {
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

/// Reads `path` into `buf` and returns the number of bytes read (`buf.len()` afterwards), for a path the
/// walk has already seen to be a regular file (from the directory listing's own file types, or the stat
/// of a named file; FIFOs, sockets and devices are never opened), so it does not look again before opening:
/// that stat was 5% of a one-thread scan's profile (dropping it and two of the three reads took the
/// reading of 2,000 files from 60 to 40 ms). What was opened is still
/// checked (fstat) before a byte is read, so a path replaced since the walk by a FIFO, a directory or a
/// huge file is refused the same way; the open itself cannot block (O_NONBLOCK). Only a device node put
/// in its place, which takes root, would be opened.
pub fn read_listed_file(
    path: &Path,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<u64, InputError> {
    let max_file_size = limits.max_file_size;
    let mut file = open(path).map_err(|e| {
        buf.clear();
        InputError::from_io(&e, "open")
    })?;
    let meta = file.metadata().map_err(|e| {
        buf.clear();
        InputError::from_io(&e, "stat")
    })?;
    if !meta.is_file() {
        buf.clear();
        // Listed as a regular file, something else now: it was opened (without blocking), not read.
        return Err(InputError::new(
            ErrorKind::NotRegular,
            "not a regular file when opened (replaced since it was listed?); not read",
        ));
    }
    if meta.len() > max_file_size {
        buf.clear();
        return Err(too_large(meta.len(), max_file_size));
    }
    read_capped(&mut file, meta.len(), max_file_size, buf).map_err(|e| {
        buf.clear();
        InputError::from_io(&e, "read")
    })?;
    let len = buf.len() as u64;
    if len > max_file_size {
        buf.clear();
        return Err(too_large(len, max_file_size));
    }
    Ok(len)
}

/// Reads the file into `buf` (resized to what was read), never more than `max_file_size + 1` bytes, so a
/// file that grows while it is read is still caught by the cap.
///
/// The buffer is offered `expected + 1` bytes (the size fstat gave, plus one): a read that returns
/// fewer bytes than offered has met the end of a regular file, so a file that did not change since the
/// fstat takes one read(2), not the three of `read_to_end` (an 8 KiB probe, the rest, an empty read).
/// `buf` keeps its length between files instead of being cleared: growing it zero-fills only the bytes
/// it did not have, not the whole file each time.
fn read_capped(
    file: &mut File,
    expected: u64,
    max_file_size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<()> {
    let cap = max_file_size.saturating_add(1);
    let first = usize::try_from(expected.saturating_add(1).min(cap)).unwrap_or(usize::MAX);
    buf.resize(first, 0);
    let mut filled = 0usize;
    loop {
        if filled == buf.len() {
            if filled as u64 >= cap {
                break;
            }
            // The file grew since the fstat: keep reading, up to one byte past the cap.
            let grown = (filled as u64).saturating_mul(2).max(8192).min(cap);
            buf.resize(usize::try_from(grown).unwrap_or(usize::MAX), 0);
        }
        let offered = buf.len() - filled;
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if n < offered && filled as u64 == expected {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits whose only bound that matters here is the file size.
    fn cap(max_file_size: u64) -> Limits {
        Limits {
            max_file_size,
            ..Limits::default()
        }
    }
    use std::io::Write;

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("virtaudit-read-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        File::create(&path).unwrap().write_all(bytes).unwrap();
        path
    }

    #[test]
    fn reads_whole_files_of_every_size_into_a_reused_buffer() {
        // Sizes around the 8 KiB probe of read_to_end and the buffer's previous length, growing and
        // shrinking, so that a stale byte left from a longer file would show.
        let mut buf = Vec::new();
        for (i, size) in [
            0usize, 1, 8191, 8192, 8193, 40_000, 5, 20_000, 19_999, 70_000, 3,
        ]
        .into_iter()
        .enumerate()
        {
            let bytes: Vec<u8> = (0..size).map(|j| (j * 7 + i) as u8).collect();
            let path = temp_file(&format!("f{i}"), &bytes);
            let n = read_listed_file(&path, &cap(1 << 20), &mut buf).unwrap();
            assert_eq!(n as usize, size);
            assert_eq!(buf, bytes, "size {size}");
        }
    }

    #[test]
    fn the_cap_holds() {
        let path = temp_file("big", &[b'x'; 1001]);
        let mut buf = vec![1u8; 10];
        let err = read_listed_file(&path, &cap(1000), &mut buf).unwrap_err();
        assert_eq!(err.kind, ErrorKind::TooLarge);
        assert!(buf.is_empty());
        assert_eq!(read_listed_file(&path, &cap(1001), &mut buf).unwrap(), 1001);
    }

    #[test]
    fn what_is_not_a_regular_file_once_opened_is_refused_unread() {
        let mut buf = vec![1u8; 10];
        let err = read_listed_file(Path::new("/dev/null"), &cap(1000), &mut buf).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotRegular);
        assert!(err.message.contains("when opened"), "{}", err.message);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_file_that_grows_past_its_fstat_size_is_read_to_the_end_or_the_cap() {
        let path = temp_file("grows", b"0123456789");
        let mut file = File::open(&path).unwrap();
        let mut buf = Vec::new();
        // As if fstat had said 4 bytes: the reader must not stop at the first full read.
        read_capped(&mut file, 4, 1 << 20, &mut buf).unwrap();
        assert_eq!(buf, b"0123456789");
        let mut file = File::open(&path).unwrap();
        read_capped(&mut file, 4, 6, &mut buf).unwrap();
        assert_eq!(buf, b"0123456", "stops one byte past the cap");
    }
}
