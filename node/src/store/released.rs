//! What the ledger keeps of the finalized events it let out of memory (see
//! [`carnet_protocol::ledger::Index`]): each one's clock, timestamp and epoch, which
//! event came first at each (author, seq), and each epoch's ids. Kept here so that a
//! node at ten million events holds none of it in memory; derived from the events, so
//! dropped and written again whenever it might not match them.

use super::*;
use carnet_protocol::ledger::{ArchiveError, Index, Release, Stub};
use carnet_protocol::PublicKey;

/// Content id → (Lamport clock, timestamp, epoch).
const STUBS: TableDefinition<&[u8; 32], (u64, u64, u64)> = TableDefinition::new("released");
/// (author, seq) → the released event ordered first there.
const FIRST_AT: TableDefinition<(&[u8; 32], u64), &[u8; 32]> =
    TableDefinition::new("released_first_at");
/// (epoch, Lamport clock, id) → nothing: each epoch's released events in order.
const EPOCHS: TableDefinition<(u64, u64, &[u8; 32]), ()> = TableDefinition::new("released_epochs");
/// Meta key: the highest epoch whose released events are all recorded. Records of an
/// epoch are written in one transaction, so every epoch up to it is whole.
const THROUGH_META_KEY: &str = "released through";

impl Store {
    /// Records what the ledger lets out of memory, in one transaction. Events of
    /// epochs already recorded whole are skipped: at start the ledger hands over every
    /// finalized event again.
    pub fn put_released(&self, released: &[Release]) -> Result<(), StoreError> {
        let through = self.released_through()?;
        let new: Vec<&Release> = released.iter().filter(|r| r.stub.epoch > through).collect();
        let Some(top) = new.iter().map(|r| r.stub.epoch).max() else {
            return Ok(());
        };
        let txn = self.db()?.begin_write().map_err(db_err("begin release"))?;
        {
            let mut stubs = txn.open_table(STUBS).map_err(db_err("open released"))?;
            let mut first = txn
                .open_table(FIRST_AT)
                .map_err(db_err("open released first"))?;
            let mut epochs = txn
                .open_table(EPOCHS)
                .map_err(db_err("open released epochs"))?;
            let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
            for r in new {
                let s = r.stub;
                stubs
                    .insert(&r.id.0, (s.lamport, s.timestamp_ms, s.epoch))
                    .map_err(db_err("record released"))?;
                if let Some((author, seq)) = r.first_at {
                    first
                        .insert((&author.0, seq), &r.id.0)
                        .map_err(db_err("record released first"))?;
                }
                epochs
                    .insert((s.epoch, s.lamport, &r.id.0), ())
                    .map_err(db_err("record released epoch"))?;
            }
            meta.insert(THROUGH_META_KEY, top.to_be_bytes().as_slice())
                .map_err(db_err("record released through"))?;
        }
        txn.commit().map_err(db_err("commit release"))
    }

    /// The highest epoch whose released events are all recorded; 0 for none.
    pub fn released_through(&self) -> Result<u64, StoreError> {
        Ok(self
            .get_meta(THROUGH_META_KEY)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Drops every record of released events, in `txn`: the next start writes them
    /// again from the events (after events were taken out of the store).
    pub(super) fn forget_released(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        let drop = db_err("drop released records");
        txn.delete_table(STUBS).map_err(drop)?;
        let drop = db_err("drop released records");
        txn.delete_table(FIRST_AT).map_err(drop)?;
        let drop = db_err("drop released records");
        txn.delete_table(EPOCHS).map_err(drop)?;
        let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
        meta.remove(THROUGH_META_KEY)
            .map_err(db_err("drop released through"))?;
        Ok(())
    }

    fn released_read<T>(
        &self,
        read: impl FnOnce(&redb::ReadTransaction) -> Result<T, StoreError>,
    ) -> Result<T, ArchiveError> {
        let txn = self
            .db()
            .and_then(|db| db.begin_read().map_err(db_err("begin read")))
            .map_err(|e| ArchiveError(e.to_string()))?;
        read(&txn).map_err(|e| ArchiveError(e.to_string()))
    }
}

/// Whether any of `ids` is recorded as released.
pub(super) fn any_released(
    txn: &redb::WriteTransaction,
    ids: &[ContentId],
) -> Result<bool, StoreError> {
    let stubs = txn.open_table(STUBS).map_err(db_err("open released"))?;
    for id in ids {
        if stubs.get(&id.0).map_err(db_err("read released"))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Opens a table of released records for reading; None if no record was ever written.
fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(db_err("open released records")(e)),
    }
}

impl Index for Store {
    fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError> {
        self.released_read(|txn| {
            let Some(t) = open(txn, STUBS)? else {
                return Ok(None);
            };
            let found = t.get(&id.0).map_err(db_err("read released"))?;
            Ok(found.map(|v| {
                let (lamport, timestamp_ms, epoch) = v.value();
                Stub {
                    lamport,
                    timestamp_ms,
                    epoch,
                }
            }))
        })
    }

    fn first_at(&self, author: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError> {
        self.released_read(|txn| {
            let Some(t) = open(txn, FIRST_AT)? else {
                return Ok(None);
            };
            let found = t
                .get((&author.0, seq))
                .map_err(db_err("read released first"))?;
            Ok(found.map(|v| Hash32(*v.value())))
        })
    }

    fn epoch_ids(&self, epoch: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError> {
        self.released_read(|txn| {
            let Some(t) = open(txn, EPOCHS)? else {
                return Ok(Vec::new());
            };
            let range = t
                .range((epoch, 0, &[0u8; 32])..=(epoch, u64::MAX, &[0xff; 32]))
                .map_err(db_err("read released epoch"))?;
            let mut out = Vec::new();
            for entry in range {
                let (key, _) = entry.map_err(db_err("read released epoch"))?;
                let (_, lamport, id) = key.value();
                out.push((lamport, Hash32(*id)));
            }
            Ok(out)
        })
    }
}
