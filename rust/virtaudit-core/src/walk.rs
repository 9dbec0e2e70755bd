//! Turns the user's arguments (files, directories, glob patterns) into a sorted list of inputs.
//!
//! Directories are walked recursively for `*.xml`. Symlinks are followed, but a directory reached again
//! through one of its own ancestors is a loop: it becomes an error row instead of an endless walk.
//! Problems found while walking (unreadable directories, loops, missing arguments, bad patterns) are
//! inputs too, carrying their error, so every one of them is reported in path order with the rest.

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use regex::Regex;

use crate::error::{ErrorKind, InputError};
use crate::read::not_regular;

/// One file to read, or one problem found while looking for files. Kept small (24 bytes plus the
/// path's bytes): a scan of a million files holds a million of these. An input without an error was a
/// regular file (or a link the walk could not follow) when it was listed; anything else that is not a
/// directory is listed with a `not_regular` error, so the read need not look before it opens.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: Box<Path>,
    pub error: Option<Box<InputError>>,
}

impl Input {
    fn file(path: PathBuf) -> Self {
        Input {
            path: path.into_boxed_path(),
            error: None,
        }
    }

    fn failed(path: PathBuf, error: InputError) -> Self {
        Input {
            path: path.into_boxed_path(),
            error: Some(Box::new(error)),
        }
    }

    /// The path as shown in the tables (lossy where the file name is not UTF-8).
    pub fn display(&self) -> std::borrow::Cow<'_, str> {
        self.path.to_string_lossy()
    }
}

/// Kernel file systems: never status files; reading them can block, never end or change state.
const KERNEL_TREES: [&str; 3] = ["/proc", "/sys", "/dev"];

/// Whether the symbolic link `path` resolves into /proc, /sys or /dev (one `realpath`, links only).
fn in_kernel_tree(path: &Path) -> bool {
    fs::canonicalize(path).is_ok_and(|real| KERNEL_TREES.iter().any(|tree| real.starts_with(tree)))
}

fn kernel_refusal() -> InputError {
    InputError::new(
        ErrorKind::NotRegular,
        "resolves into /proc, /sys or /dev: not a status file, never opened",
    )
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands the arguments into inputs sorted by path, each file once.
pub fn expand(args: &[PathBuf]) -> Vec<Input> {
    let mut walker = Walker {
        out: Vec::new(),
        visited_dirs: HashSet::new(),
    };
    for arg in args {
        let as_text = arg.to_string_lossy();
        if !arg.exists() && has_glob_chars(&as_text) {
            walker.glob(arg, &as_text);
            continue;
        }
        match fs::metadata(arg) {
            Ok(meta) if meta.is_dir() => walker.dir(arg, &mut Vec::new(), None),
            // Files named explicitly are read whatever their extension; FIFOs and devices are reported.
            Ok(meta) if meta.is_file() => walker.out.push(Input::file(arg.clone())),
            Ok(meta) => walker
                .out
                .push(Input::failed(arg.clone(), not_regular(&meta.file_type()))),
            Err(err) => walker.out.push(Input::failed(
                arg.clone(),
                InputError::from_io(&err, "open"),
            )),
        }
    }
    let mut out = walker.out;
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.path == b.path);
    out
}

struct Walker {
    out: Vec<Input>,
    /// (device, inode) of every directory listed, so two links to one directory list it once.
    visited_dirs: HashSet<(u64, u64)>,
}

impl Walker {
    /// Walks `dir`; `ancestors` holds the (device, inode) of the directories above it on this walk.
    /// With a `pattern`, only entries whose path matches it are taken (a matching directory: all its
    /// `*.xml`); without, every `*.xml` file is taken.
    fn dir(&mut self, dir: &Path, ancestors: &mut Vec<(u64, u64)>, pattern: Option<&Regex>) {
        let meta = match fs::metadata(dir) {
            Ok(meta) => meta,
            Err(err) => {
                self.out.push(Input::failed(
                    dir.to_path_buf(),
                    InputError::from_io(&err, "open directory"),
                ));
                return;
            }
        };
        let id = (meta.dev(), meta.ino());
        if ancestors.contains(&id) {
            self.out.push(Input::failed(
                dir.to_path_buf(),
                InputError::new(
                    ErrorKind::SymlinkLoop,
                    "directory symlink loop: this directory contains itself; not followed",
                ),
            ));
            return;
        }
        if !self.visited_dirs.insert(id) {
            return;
        }
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(err) => {
                self.out.push(Input::failed(
                    dir.to_path_buf(),
                    InputError::from_io(&err, "list directory"),
                ));
                return;
            }
        };
        // (path, its type where known). The type comes from readdir itself; only symlinks cost a stat.
        // The scan reads what is listed here without looking again, so everything but directories and
        // regular files (FIFOs, sockets, devices) is recorded now as an input that is never opened.
        let mut names: Vec<(PathBuf, Option<fs::FileType>)> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    let file_type = match entry.file_type() {
                        Ok(t) if !t.is_symlink() => Some(t),
                        // A link into /proc, /sys or /dev (a "regular" file of size 0 there, such as
                        // /proc/self/environ): never opened, never walked.
                        _ if in_kernel_tree(&path) => {
                            self.out.push(Input::failed(path, kernel_refusal()));
                            continue;
                        }
                        // A dangling or unreadable link: left to the read, which reports why.
                        _ => fs::metadata(&path).ok().map(|m| m.file_type()),
                    };
                    names.push((path, file_type));
                }
                Err(err) => {
                    self.out.push(Input::failed(
                        dir.to_path_buf(),
                        InputError::from_io(&err, "list directory"),
                    ));
                }
            }
        }
        // In name order. Every entry's path is this directory's path joined with its name, so their bytes
        // compare as the names do, which is the order `Path::cmp` gives them, without splitting every
        // path into components (that had been a quarter of the walk's time).
        names.sort_by(|a, b| {
            use std::os::unix::ffi::OsStrExt;
            a.0.as_os_str().as_bytes().cmp(b.0.as_os_str().as_bytes())
        });
        ancestors.push(id);
        for (path, file_type) in names {
            // A dangling symlink is still a file the user may expect to be read: it becomes an error row.
            let matches = pattern.is_none_or(|re| re.is_match(&path.to_string_lossy()));
            if file_type.is_some_and(|t| t.is_dir()) {
                // A directory that matches a pattern is taken whole, like a directory argument.
                self.dir(&path, ancestors, if matches { None } else { pattern });
            } else if matches && (pattern.is_some() || path.extension().is_some_and(|e| e == "xml"))
            {
                match file_type {
                    Some(t) if !t.is_file() => self.out.push(Input::failed(path, not_regular(&t))),
                    _ => self.out.push(Input::file(path)),
                }
            }
        }
        ancestors.pop();
    }

    fn glob(&mut self, arg: &Path, pattern: &str) {
        let regex = match glob_to_regex(pattern) {
            Ok(regex) => regex,
            Err(message) => {
                self.out.push(Input::failed(
                    arg.to_path_buf(),
                    InputError::new(ErrorKind::Glob, message),
                ));
                return;
            }
        };
        // Walk from the longest leading part of the pattern without wildcards.
        let mut base = PathBuf::new();
        for component in Path::new(pattern).components() {
            let text = component.as_os_str().to_string_lossy();
            if has_glob_chars(&text) {
                break;
            }
            base.push(component);
        }
        let start = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base
        };
        let before = self.out.len();
        if start.is_dir() {
            let relative_dot = start == Path::new(".") && !pattern.starts_with("./");
            if relative_dot {
                // Patterns like `*.xml` are matched against `./x.xml` paths: allow the prefix.
                let regex = Regex::new(&format!(r"^(?:\./)?{}", &regex.as_str()[1..]))
                    .expect("valid regex");
                self.dir(&start, &mut Vec::new(), Some(&regex));
                for input in &mut self.out[before..] {
                    if let Ok(stripped) = input.path.strip_prefix(".") {
                        input.path = stripped.into();
                    }
                }
            } else {
                self.dir(&start, &mut Vec::new(), Some(&regex));
            }
        }
        if self.out.len() == before {
            self.out.push(Input::failed(
                arg.to_path_buf(),
                InputError::new(ErrorKind::NotFound, "pattern matched no file"),
            ));
        }
    }
}

/// Shell-style pattern to an anchored regex: `*` and `?` stay within one path component, `**` crosses
/// components, `[...]` / `[!...]` are character classes.
pub fn glob_to_regex(pattern: &str) -> Result<Regex, String> {
    let mut out = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '*' if chars.get(i + 1) == Some(&'*') => {
                if chars.get(i + 2) == Some(&'/') {
                    out.push_str("(?:.*/)?");
                    i += 3;
                } else {
                    out.push_str(".*");
                    i += 2;
                }
                continue;
            }
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            '[' => {
                let close = chars[i + 1..]
                    .iter()
                    .position(|&c| c == ']')
                    .map(|p| p + i + 1);
                let Some(close) = close else {
                    return Err(format!("invalid pattern {pattern:?}: unclosed '['"));
                };
                out.push('[');
                let mut body: String = chars[i + 1..close].iter().collect();
                if let Some(rest) = body.strip_prefix('!') {
                    body = format!("^{rest}");
                }
                out.push_str(&body.replace('\\', "\\\\").replace('[', "\\["));
                out.push(']');
                i = close;
            }
            c => out.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    out.push('$');
    Regex::new(&out).map_err(|e| format!("invalid pattern {pattern:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_translation() {
        let re = glob_to_regex("/a/*/g?.xml").unwrap();
        assert!(re.is_match("/a/host/g1.xml"));
        assert!(!re.is_match("/a/host/sub/g1.xml"));
        let re = glob_to_regex("/a/**/*.xml").unwrap();
        assert!(re.is_match("/a/x.xml"));
        assert!(re.is_match("/a/b/c/x.xml"));
        let re = glob_to_regex("/a/[!b]*.xml").unwrap();
        assert!(re.is_match("/a/c.xml"));
        assert!(!re.is_match("/a/b.xml"));
        assert!(glob_to_regex("/a/[b").is_err());
    }

    #[test]
    fn links_into_kernel_trees_are_refused_unopened() {
        let dir =
            std::env::temp_dir().join(format!("virtaudit-walk-kernel-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        for (name, target) in [
            ("status.xml", "/proc/self/status"),
            ("environ.xml", "/proc/self/environ"),
            ("zero.xml", "/dev/zero"),
            ("procdir", "/proc/self"),
        ] {
            let _ = fs::remove_file(dir.join(name));
            std::os::unix::fs::symlink(target, dir.join(name)).unwrap();
        }
        let out = expand(std::slice::from_ref(&dir));
        fs::remove_dir_all(&dir).unwrap();
        let names: Vec<_> = out
            .iter()
            .map(|i| {
                (
                    i.path.file_name().unwrap().to_string_lossy().into_owned(),
                    i.error.as_ref().map(|e| e.kind),
                )
            })
            .collect();
        assert_eq!(names.len(), 4, "{names:?}");
        assert!(
            names
                .iter()
                .all(|(_, kind)| *kind == Some(ErrorKind::NotRegular)),
            "{names:?}"
        );
    }
}

/// The inputs of a batch-by-batch scan, kept compact for the scan's whole length. Sorted paths share
/// most of their bytes with the path before them (`fleet/host-0001/guest-00017.xml`, then
/// `…guest-00018.xml`), so each is stored as the length it shares with the previous path plus the rest:
/// about 15 bytes a path instead of about 80 for a boxed path in a `Vec<Input>`. That matters at a
/// million files, where the list would otherwise outweigh a batch of tables. Read in order only.
#[derive(Debug, Default)]
pub struct InputList {
    /// Per input: shared prefix length and suffix length (u32, little-endian), then the suffix bytes.
    data: Vec<u8>,
    /// Errors found while walking, by input index (ascending).
    errors: Vec<(usize, Box<InputError>)>,
    len: usize,
}

/// Where [`InputList::take`] goes on from.
#[derive(Debug, Default)]
pub struct InputCursor {
    offset: usize,
    index: usize,
    error: usize,
    path: Vec<u8>,
}

impl InputList {
    pub fn new(inputs: Vec<Input>) -> Self {
        use std::os::unix::ffi::OsStrExt;
        let mut list = InputList::default();
        let mut previous: &[u8] = &[];
        for (index, input) in inputs.iter().enumerate() {
            let path = input.path.as_os_str().as_bytes();
            let shared = path
                .iter()
                .zip(previous)
                .take_while(|(a, b)| a == b)
                .count();
            let suffix = &path[shared..];
            let length = |n: usize| u32::try_from(n).expect("paths are shorter than 4 GiB");
            list.data.extend_from_slice(&length(shared).to_le_bytes());
            list.data
                .extend_from_slice(&length(suffix.len()).to_le_bytes());
            list.data.extend_from_slice(suffix);
            previous = path;
            list.len += 1;
            if let Some(error) = &input.error {
                list.errors.push((index, error.clone()));
            }
        }
        list.data.shrink_to_fit();
        list.errors.shrink_to_fit();
        list
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The next `n` inputs after `cursor` (fewer at the end), as ordinary inputs.
    pub fn take(&self, cursor: &mut InputCursor, n: usize) -> Vec<Input> {
        use std::os::unix::ffi::OsStrExt;
        let mut out = Vec::with_capacity(n.min(self.len - cursor.index));
        while out.len() < n && cursor.index < self.len {
            let at = cursor.offset;
            let word = |i: usize| {
                let bytes: [u8; 4] = self.data[i..i + 4].try_into().expect("4 bytes");
                u32::from_le_bytes(bytes) as usize
            };
            let (shared, suffix) = (word(at), word(at + 4));
            cursor.path.truncate(shared);
            cursor
                .path
                .extend_from_slice(&self.data[at + 8..at + 8 + suffix]);
            cursor.offset = at + 8 + suffix;
            let path = Path::new(std::ffi::OsStr::from_bytes(&cursor.path));
            let error = match self.errors.get(cursor.error) {
                Some((index, error)) if *index == cursor.index => {
                    cursor.error += 1;
                    Some(error.clone())
                }
                _ => None,
            };
            out.push(Input {
                path: path.into(),
                error,
            });
            cursor.index += 1;
        }
        out
    }
}

#[cfg(test)]
mod input_list_tests {
    use super::*;

    #[test]
    fn compact_list_gives_back_every_input_in_order() {
        let paths = [
            "fleet/host-1/a.xml",
            "fleet/host-1/ab.xml",
            "fleet/host-1/b.xml",
            "fleet/host-10/a.xml",
            "fleet/host-2/a.xml",
            "other.xml",
            "z/\u{e9}t\u{e9}.xml",
        ];
        let inputs: Vec<Input> = paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i % 3 == 1 {
                    Input::failed(PathBuf::from(p), InputError::new(ErrorKind::Io, "boom"))
                } else {
                    Input::file(PathBuf::from(p))
                }
            })
            .collect();
        let list = InputList::new(inputs.clone());
        assert_eq!(list.len(), paths.len());
        for batch in [1, 2, 3, 100] {
            let mut cursor = InputCursor::default();
            let mut back = Vec::new();
            loop {
                let part = list.take(&mut cursor, batch);
                if part.is_empty() {
                    break;
                }
                assert!(part.len() <= batch);
                back.extend(part);
            }
            assert_eq!(back.len(), inputs.len());
            for (a, b) in back.iter().zip(&inputs) {
                assert_eq!(a.path, b.path);
                assert_eq!(
                    a.error.as_ref().map(|e| e.message.clone()),
                    b.error.as_ref().map(|e| e.message.clone())
                );
            }
        }
    }
}
