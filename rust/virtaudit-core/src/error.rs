//! Why an input produced no document. Each becomes one row of the `errors` table.

use std::fmt;
use std::io;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    Io,
    NotFound,
    Permission,
    NotRegular,
    TooLarge,
    Empty,
    NotUtf8,
    MalformedXml,
    TooDeep,
    TooManyElements,
    NotLibvirt,
    /// Well-formed, and its root is one of libvirt's other objects (a network, an nwfilter, a storage
    /// pool...): libvirt's, but no guest (see [`crate::parse::LIBVIRT_OTHER_ROOTS`]).
    NotDomain,
    SymlinkLoop,
    Archive,
    Glob,
}

impl ErrorKind {
    /// The stable name used in the `errors.kind` column (documented in docs/schema.md).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Io => "io",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Permission => "permission",
            ErrorKind::NotRegular => "not_regular",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Empty => "empty",
            ErrorKind::NotUtf8 => "not_utf8",
            ErrorKind::MalformedXml => "malformed_xml",
            ErrorKind::TooDeep => "too_deep",
            ErrorKind::TooManyElements => "too_many_elements",
            ErrorKind::NotLibvirt => "not_libvirt",
            ErrorKind::NotDomain => "not_domain",
            ErrorKind::SymlinkLoop => "symlink_loop",
            ErrorKind::Archive => "archive",
            ErrorKind::Glob => "glob",
        }
    }

    pub fn from_io(err: &io::Error) -> ErrorKind {
        const ELOOP: i32 = 40;
        match err.kind() {
            io::ErrorKind::NotFound => ErrorKind::NotFound,
            io::ErrorKind::PermissionDenied => ErrorKind::Permission,
            _ if err.raw_os_error() == Some(ELOOP) => ErrorKind::SymlinkLoop,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One input that could not be turned into a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub kind: ErrorKind,
    pub message: String,
    /// 1-based line and byte column of the fault inside the file, where that applies.
    pub position: Option<(u32, u32)>,
}

impl InputError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        InputError {
            kind,
            message: bounded(message.into()),
            position: None,
        }
    }

    pub fn at(kind: ErrorKind, message: impl Into<String>, data: &[u8], offset: usize) -> Self {
        let (line, column) = line_column(data, offset);
        InputError {
            kind,
            message: format!("{} (line {line}, column {column})", bounded(message.into())),
            position: Some((line, column)),
        }
    }

    pub fn from_io(err: &io::Error, what: &str) -> Self {
        let kind = ErrorKind::from_io(err);
        let reason = match kind {
            ErrorKind::NotFound => "no such file (vanished before it could be read?)".to_string(),
            ErrorKind::Permission => "permission denied".to_string(),
            ErrorKind::SymlinkLoop => "too many levels of symbolic links".to_string(),
            _ => err.to_string(),
        };
        InputError::new(kind, format!("cannot {what}: {reason}"))
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for InputError {}

/// Messages are capped: names from a hostile file must not put megabytes into an error row.
const MAX_MESSAGE: usize = 300;

fn bounded(mut message: String) -> String {
    if message.len() > MAX_MESSAGE {
        let mut end = MAX_MESSAGE;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

/// 1-based line and byte column of `offset` in `data` (clamped to the end).
pub fn line_column(data: &[u8], offset: usize) -> (u32, u32) {
    let offset = offset.min(data.len());
    let before = &data[..offset];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |i| i + 1);
    let column = offset - line_start + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_column_counts_from_one() {
        let data = b"ab\ncde\nf";
        assert_eq!(line_column(data, 0), (1, 1));
        assert_eq!(line_column(data, 4), (2, 2));
        assert_eq!(line_column(data, 100), (3, 2));
    }
}
