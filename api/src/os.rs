//! What the node and the member's client ask of the operating system: fresh
//! randomness, and files only their owner can read. Keys, salts and nonces all come
//! from here, so there is one place to audit.

use std::fs;
use std::io::Write;
use std::path::Path;

/// `N` bytes of fresh randomness from the operating system.
pub fn random<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)?;
    Ok(b)
}

/// Writes a file that must not exist yet (`AlreadyExists` otherwise), readable by
/// the owner only, and syncs it to disk before returning.
pub fn write_new_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Appends `bytes` to a file, creating it readable by the owner only, and syncs it
/// to disk before returning: an append-only log whose last record may be torn by a
/// crash, never an earlier one.
pub fn append_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut opts = fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_data()
}
