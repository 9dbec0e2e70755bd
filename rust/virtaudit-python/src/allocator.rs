//! glibc allocator tuning for the batch scanner. It changes the whole process's allocator, so it is the
//! application's decision, made here in the binding, not in the core library: a Rust program using the
//! core keeps its allocator as it set it.

/// Hands memory freed since the last batch back to the system. Each worker thread allocates its batch's
/// columns in its own glibc arena, and glibc keeps what those arenas free: over hundreds of batches the
/// process would grow by tens of megabytes that no table uses. `malloc_trim` returns it.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's malloc_trim takes no pointers and may be called at any time from any thread.
        unsafe {
            malloc_trim(0);
        }
    }
}

/// Makes glibc serve blocks of 1 MiB and more (a batch's column buffers) from their own mappings, given
/// back to the system when freed. By default glibc raises that threshold each time such a block is freed,
/// up to 32 MiB, and from then on carves column buffers out of its arenas, where they fragment: a
/// million-file audit peaked at 249 MB with the default, 235 MB with this (same machine, same hour). The
/// CPU cost of mapping fresh pages did not show in a 20,000-file audit. Process-wide, like
/// [`release_free_memory`]; set when a batch scanner is made.
pub fn map_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: std::os::raw::c_int = -3;
        unsafe extern "C" {
            fn mallopt(
                param: std::os::raw::c_int,
                value: std::os::raw::c_int,
            ) -> std::os::raw::c_int;
        }
        // SAFETY: glibc's mallopt takes no pointers; M_MMAP_THRESHOLD only changes where later blocks
        // come from, and may be set at any time from any thread.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 20);
        }
    }
}
