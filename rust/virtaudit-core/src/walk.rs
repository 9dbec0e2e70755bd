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

/// One file to read, or one problem found while looking for files. Kept small (24 bytes plus the
/// path's bytes): a scan of a million files holds a million of these.
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
            Ok(_) => walker.out.push(Input::file(arg.clone())),
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
        // (path, is a directory). The type comes from readdir itself; only symlinks cost a stat.
        let mut names: Vec<(PathBuf, bool)> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let path = entry.path();
                    let is_dir = match entry.file_type() {
                        Ok(t) if t.is_symlink() => {
                            fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false)
                        }
                        Ok(t) => t.is_dir(),
                        Err(_) => fs::metadata(&path).map(|m| m.is_dir()).unwrap_or(false),
                    };
                    names.push((path, is_dir));
                }
                Err(err) => {
                    self.out.push(Input::failed(
                        dir.to_path_buf(),
                        InputError::from_io(&err, "list directory"),
                    ));
                }
            }
        }
        names.sort();
        ancestors.push(id);
        for (path, is_dir) in names {
            // A dangling symlink is still a file the user may expect to be read: it becomes an error row.
            let matches = pattern.is_none_or(|re| re.is_match(&path.to_string_lossy()));
            if is_dir {
                // A directory that matches a pattern is taken whole, like a directory argument.
                self.dir(&path, ancestors, if matches { None } else { pattern });
            } else if matches && (pattern.is_some() || path.extension().is_some_and(|e| e == "xml"))
            {
                self.out.push(Input::file(path));
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
}
