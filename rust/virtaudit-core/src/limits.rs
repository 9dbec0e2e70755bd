//! The bounds of one scan, passed whole from the caller down to the reader and the parser.

/// Bounds that keep one hostile file from costing more than a bounded amount of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest file read, in bytes; larger files are never read at all.
    pub max_file_size: u64,
    /// Deepest element nesting accepted (real status XML stays below 15).
    pub max_depth: u32,
    /// Most elements accepted in one file (real status XML has a few thousand).
    pub max_elements: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_size: 64 * 1024 * 1024,
            max_depth: 256,
            max_elements: 1_000_000,
        }
    }
}
