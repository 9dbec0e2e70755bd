//! Reads one input file without blocking, without following it past the size cap, and without
//! changing it (not even its access time, where the kernel lets us).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{ErrorKind, InputError};
use crate::limits::Limits;

// Linux open(2) flags; std does not name them and the libc crate would be a dependency for a few numbers.
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
    read_opened(open(path), limits, buf)
}

/// [`read_listed_file`], opening the file by its name in its directory when that directory is the one
/// the last file was in (see [`Dirs`]).
pub(crate) fn read_file_in(
    dirs: &mut Dirs,
    path: &Path,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<u64, InputError> {
    read_opened(dirs.open(path), limits, buf)
}

/// The rest of [`read_listed_file`] once the file is opened (or not).
fn read_opened(
    file: io::Result<File>,
    limits: &Limits,
    buf: &mut Vec<u8>,
) -> Result<u64, InputError> {
    let max_file_size = limits.max_file_size;
    let mut file = file.map_err(|e| {
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

/// The directory the last file was opened in, held open, so that the next file listed in it is opened
/// by its name alone (`openat`): opening by the whole path walks every directory of it again, and that
/// walk was 3% of a one-thread scan of paths eight components deep. The directory is held with `O_PATH`,
/// which opens nothing (a device put in its place sees no `open`). Wherever this does not apply (no
/// parent in the path, another system, see [`by_name`]) or fails in any way, the file is opened by its
/// whole path as before, so errors are reported exactly as they were.
#[derive(Default)]
pub(crate) struct Dirs {
    held: by_name::Held,
}

impl Dirs {
    fn open(&mut self, path: &Path) -> io::Result<File> {
        match self.held.open(path) {
            Some(file) => Ok(file),
            None => open(path),
        }
    }
}

/// Opening by name in a held directory, on Linux where `O_PATH` and `O_CLOEXEC` have asm-generic's
/// values (x86, arm64, powerpc and s390 keep them; sparc, alpha and parisc define their own, and there,
/// as on other systems, files are opened by their whole path only).
#[cfg(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
))]
mod by_name {
    use std::fs::{File, OpenOptions};
    use std::io;
    use std::os::unix::fs::OpenOptionsExt;
    use std::path::{Path, PathBuf};

    use super::{O_NOATIME, O_NOCTTY, O_NONBLOCK};

    const O_CLOEXEC: i32 = 0o2000000;
    const O_PATH: i32 = 0o10000000;
    /// Whether files are opened by name here (for the tests).
    #[cfg(test)]
    pub(super) const SUPPORTED: bool = true;

    #[derive(Default)]
    pub(super) struct Held(Option<(PathBuf, Option<File>)>);

    impl Held {
        /// `path` opened by its name in its directory, held from the last call; None: open it by path.
        pub(super) fn open(&mut self, path: &Path) -> Option<File> {
            let (parent, name) = (path.parent()?, path.file_name()?);
            if parent.as_os_str().is_empty() {
                return None;
            }
            let held = match &mut self.0 {
                Some((dir, fd)) if dir == parent => fd,
                held => {
                    let fd = OpenOptions::new()
                        .read(true)
                        .custom_flags(O_PATH | O_CLOEXEC)
                        .open(parent)
                        .ok();
                    &mut held.insert((parent.to_path_buf(), fd)).1
                }
            };
            openat(held.as_ref()?, name).ok()
        }
    }

    /// `openat(dir, name)` with the flags of [`open`] (`O_NOATIME` dropped where the kernel refuses it).
    fn openat(dir: &File, name: &std::ffi::OsStr) -> io::Result<File> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::raw::{c_char, c_int};
        use std::os::unix::ffi::OsStrExt;
        unsafe extern "C" {
            fn openat(dirfd: c_int, pathname: *const c_char, flags: c_int, ...) -> c_int;
        }
        let name = std::ffi::CString::new(name.as_bytes()).map_err(io::Error::other)?;
        let flags = O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
        for flags in [flags | O_NOATIME, flags] {
            // SAFETY: `name` is a NUL-terminated string alive for the call; `dir` is borrowed, so its
            // descriptor stays open through the call; without O_CREAT openat reads no mode argument.
            let fd = unsafe { openat(dir.as_raw_fd(), name.as_ptr(), flags) };
            if fd >= 0 {
                // SAFETY: `fd` was just returned by openat: an open descriptor nothing else owns.
                return Ok(unsafe { File::from_raw_fd(fd) });
            }
            let err = io::Error::last_os_error();
            if err.raw_os_error() != Some(1) {
                return Err(err);
            }
        }
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(all(
    target_os = "linux",
    any(
        target_arch = "x86_64",
        target_arch = "aarch64",
        target_arch = "powerpc64",
        target_arch = "s390x"
    )
)))]
mod by_name {
    use std::fs::File;
    use std::path::Path;

    #[cfg(test)]
    pub(super) const SUPPORTED: bool = false;

    #[derive(Default)]
    pub(super) struct Held;

    impl Held {
        pub(super) fn open(&mut self, _path: &Path) -> Option<File> {
            None
        }
    }
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
    fn files_opened_by_name_in_a_held_directory_read_and_fail_as_by_path() {
        let other = std::env::temp_dir().join(format!("virtaudit-read-b-{}", std::process::id()));
        fs::create_dir_all(&other).unwrap();
        let in_other = other.join("g.xml");
        File::create(&in_other).unwrap().write_all(b"<b/>").unwrap();
        let paths = [
            temp_file("d1.xml", b"<a/>"),
            temp_file("d2.xml", b"<aa/>"),
            in_other.clone(),
            temp_file("d3.xml", b"<aaa/>"),
            other.join("missing.xml"),
            other.clone(),
            Path::new("/dev/null").to_path_buf(),
            Path::new("no-parent-here.xml").to_path_buf(),
            in_other,
        ];
        let mut dirs = Dirs::default();
        let limits = cap(1 << 20);
        let (mut by_path, mut by_name) = (Vec::new(), Vec::new());
        for path in &paths {
            let expected = read_listed_file(path, &limits, &mut by_path);
            let got = read_file_in(&mut dirs, path, &limits, &mut by_name);
            match (expected, got) {
                (Ok(a), Ok(b)) => assert_eq!((a, &by_path), (b, &by_name), "{path:?}"),
                (Err(a), Err(b)) => {
                    assert_eq!((a.kind, a.message), (b.kind, b.message), "{path:?}")
                }
                (a, b) => panic!("{path:?}: {a:?} vs {b:?}"),
            }
        }
        // (and the file was opened by name, not by the fallback, where that is supported)
        assert_eq!(dirs.held.open(&paths[0]).is_some(), by_name::SUPPORTED);
        fs::remove_dir_all(&other).unwrap();
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
