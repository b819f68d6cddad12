//! The ledger snapshot file beside the store: written whole, replaced atomically.

use super::*;

impl Store {
    /// Replaces the saved ledger snapshot: written to a temporary file beside it,
    /// synced, renamed over it, and the directory synced, so a crash leaves the old
    /// one or the new one, whole.
    pub fn put_snapshot(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.put_snapshot_with(|file| {
            std::io::Write::write_all(file, bytes)?;
            Ok(bytes.len() as u64)
        })?;
        Ok(())
    }

    /// [`Store::put_snapshot`] with the bytes written by `write` into the new file (a
    /// snapshot is written a chunk at a time, not held whole in memory); returns what
    /// `write` says it wrote.
    pub fn put_snapshot_with(
        &self,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<u64>,
    ) -> Result<u64, StoreError> {
        let io = |source| StoreError::Io {
            path: self.snapshot_path.clone(),
            source,
        };
        let dir = self.snapshot_dir();
        let mut tmp = tempfile::Builder::new()
            .prefix(&self.snapshot_tmp_prefix())
            .suffix(SNAPSHOT_TMP_SUFFIX)
            .tempfile_in(&dir)
            .map_err(io)?;
        let written = write(tmp.as_file_mut()).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.snapshot_path).map_err(|e| io(e.error))?;
        #[cfg(unix)]
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
        Ok(written)
    }

    /// Deletes the saved ledger snapshot, if any: the next start replays.
    pub fn remove_snapshot(&self) -> Result<(), StoreError> {
        match std::fs::remove_file(&self.snapshot_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Io {
                path: self.snapshot_path.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn snapshot_dir(&self) -> PathBuf {
        match self.snapshot_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        }
    }

    /// Names of snapshot files being written start with this ("events.snapshot.").
    pub(super) fn snapshot_tmp_prefix(&self) -> String {
        let name = self.snapshot_path.file_name().unwrap_or_default();
        format!("{}.", name.to_string_lossy())
    }

    /// Removes snapshot files a crash left half-written. Called once the database is
    /// open, whose lock keeps a second node off the same store.
    pub(super) fn remove_stale_snapshot_writes(&self) {
        let dir = self.snapshot_dir();
        let prefix = self.snapshot_tmp_prefix();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&prefix) && name.ends_with(SNAPSHOT_TMP_SUFFIX) {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a half-written snapshot");
                }
            }
        }
    }

    /// The saved ledger snapshot to read, if any (checked by its decoder,
    /// [`carnet_protocol::ledger::Snapshot::read`], not here, which reads it a chunk
    /// at a time: no buffer of ours).
    pub fn open_snapshot(&self) -> Result<Option<std::fs::File>, StoreError> {
        match std::fs::File::open(&self.snapshot_path) {
            Ok(file) => Ok(Some(file)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: self.snapshot_path.clone(),
                source,
            }),
        }
    }

    /// The saved ledger snapshot's bytes, if any (checked by its decoder, not here).
    pub fn get_snapshot(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match std::fs::read(&self.snapshot_path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError::Io {
                path: self.snapshot_path.clone(),
                source,
            }),
        }
    }
}
