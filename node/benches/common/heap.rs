//! What the allocator has in use, for the benches that say what the engine holds.

/// The heap in use, in bytes: glibc's `mallinfo2`, the small blocks allocated and not
/// freed in the main arena (the benches measure on their main thread) and the large
/// ones it maps on their own. 0 off glibc.
pub fn in_use() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let heap = {
        // SAFETY: only reads the allocator's own bookkeeping.
        let info = unsafe { libc::mallinfo2() };
        info.uordblks + info.hblkhd
    };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let heap = 0;
    heap
}
