//! What the ledger keeps of the finalized events (see
//! [`carnet_protocol::ledger::Index`]): each one's clock, timestamp, epoch and role,
//! which event came first at each (author, seq), each epoch's ids, and the finalized
//! digest where each release ended; and which stored events the ledger holds in
//! memory. Kept here so that a node at ten million events holds none of it in memory,
//! and starts by reading only the events it holds ([`Ledger::resume`]). Derived from
//! the events, so dropped and written again whenever it might not match them.
//!
//! [`Ledger::resume`]: carnet_protocol::ledger::Ledger::resume

use super::*;
use carnet_protocol::ledger::{
    latest_rows, ArchiveError, ColdEntries, Index, Items, Movement, Records, Stub,
};
use carnet_protocol::PublicKey;

/// Content id → (Lamport clock, timestamp, epoch, on an org's line), for every
/// finalized event, released or staying in memory.
pub(super) const STUBS: TableDefinition<&[u8; 32], (u64, u64, u64, bool)> =
    TableDefinition::new("finalized");
/// (author, seq) → the finalized event ordered first there.
pub(super) const FIRST_AT: TableDefinition<(&[u8; 32], u64), &[u8; 32]> =
    TableDefinition::new("finalized_first_at");
/// (epoch, Lamport clock, id) → nothing: each epoch's events in order.
const EPOCHS: TableDefinition<(u64, u64, &[u8; 32]), ()> = TableDefinition::new("finalized_epochs");
/// Epoch → the chained digest of the finalized prefix ending there, for each epoch a
/// release ended at: what tells a snapshot of this prefix from another.
const DIGESTS: TableDefinition<u64, &[u8; 32]> = TableDefinition::new("finalized_digests");
/// (account, epoch, place in the epoch's list) → the movement (postcard): every
/// finalized point movement, so that an account's history is a range read and the
/// ledger keeps only the tail's in memory.
const MOVEMENTS: TableDefinition<(&[u8; 32], u64, u64), &[u8]> =
    TableDefinition::new("finalized_movements");
/// (map, key, epoch) → the key's value in that map of the state at the end of the
/// epoch, a byte 1 and its encoding, or a byte 0 for none: the state's cold maps,
/// which the ledger reads through [`Index::cold`] rather than hold (see
/// [`carnet_protocol::ledger::cold`]).
pub(super) const COLD: TableDefinition<(u8, &[u8], u64), &[u8]> =
    TableDefinition::new("finalized_state");
/// (Lamport clock, content id) → nothing: the stored events the ledger holds in
/// memory (all but the released ones), which a start reads. In ledger order, as the
/// events are: new events are listed at the end of the tree, released ones leave it
/// near its start, and a start reads the events in the order of the list.
pub(super) const HELD: TableDefinition<(u64, &[u8; 32]), ()> =
    TableDefinition::new("held_in_order");
/// Meta key: the highest epoch whose events are all recorded. Records of an epoch are
/// written in one transaction, so every epoch up to it is whole.
const THROUGH_META_KEY: &str = "finalized through";
/// Meta key set once [`HELD`] lists every stored event not released.
const HELD_META_KEY: &str = "held index";
/// Meta key set once the records hold the finalized movements: records written by
/// an older build have none, and are dropped to be written again whole.
const MOVEMENTS_META_KEY: &str = "movements recorded";

/// The records of released events an older build kept (without the events that stay
/// in memory, nor their role): dropped, the next start writes them again.
const OLD_STUBS: TableDefinition<&[u8; 32], (u64, u64, u64)> = TableDefinition::new("released");
const OLD_FIRST_AT: TableDefinition<(&[u8; 32], u64), &[u8; 32]> =
    TableDefinition::new("released_first_at");
const OLD_EPOCHS: TableDefinition<(u64, u64, &[u8; 32]), ()> =
    TableDefinition::new("released_epochs");
const OLD_THROUGH_META_KEY: &str = "released through";

/// At open, in `txn`: a store no build kept [`HELD`] for (new, or written by an older
/// one) gets every stored event listed as held, and no records (an older build's are
/// dropped); the next start writes them.
pub(super) fn index_held_once(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let meta = txn.open_table(META).map_err(db_err("open meta"))?;
    let done = meta
        .get(HELD_META_KEY)
        .map_err(db_err("read held index mark"))?
        .is_some();
    let movements = meta
        .get(MOVEMENTS_META_KEY)
        .map_err(db_err("read movements mark"))?
        .is_some();
    drop(meta);
    if done && movements {
        return Ok(());
    }
    let drop = db_err("drop older records");
    txn.delete_table(OLD_STUBS).map_err(drop)?;
    let drop = db_err("drop older records");
    txn.delete_table(OLD_FIRST_AT).map_err(drop)?;
    let drop = db_err("drop older records");
    txn.delete_table(OLD_EPOCHS).map_err(drop)?;
    Store::forget_released(txn)?;
    let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
    meta.remove(OLD_THROUGH_META_KEY)
        .map_err(db_err("drop older records"))?;
    meta.insert(HELD_META_KEY, [1u8].as_slice())
        .map_err(db_err("mark held index"))?;
    meta.insert(MOVEMENTS_META_KEY, [1u8].as_slice())
        .map_err(db_err("mark movements recorded"))?;
    Ok(())
}

/// Drops every record of finalized events and the mark of how far they go, in `txn`.
fn drop_records(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
    let drop = db_err("drop records");
    txn.delete_table(STUBS).map_err(drop)?;
    let drop = db_err("drop records");
    txn.delete_table(FIRST_AT).map_err(drop)?;
    let drop = db_err("drop records");
    txn.delete_table(EPOCHS).map_err(drop)?;
    let drop = db_err("drop records");
    txn.delete_table(DIGESTS).map_err(drop)?;
    let drop = db_err("drop records");
    txn.delete_table(MOVEMENTS).map_err(drop)?;
    let drop = db_err("drop records");
    txn.delete_table(COLD).map_err(drop)?;
    let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
    meta.remove(THROUGH_META_KEY)
        .map_err(db_err("drop finalized through"))?;
    Ok(())
}

impl Store {
    /// Records what the ledger finalized since its last release, in one transaction,
    /// with the finalized digest `at` the epoch it ends at
    /// ([`Ledger::finalized_digest`]); the released events are no longer listed as
    /// held. Epochs already recorded whole are skipped: at a start that reads every
    /// event the ledger hands over every finalized event again; the rows of the
    /// state's maps are written all the same, over the same rows (an epoch's end is
    /// final), since the ledger reads them from then on.
    ///
    /// [`Ledger::finalized_digest`]: carnet_protocol::ledger::Ledger::finalized_digest
    pub fn put_released(&self, records: &Records) -> Result<(), StoreError> {
        let (released, at) = (&records.events, records.at);
        let through = self.released_through()?;
        if at.0 <= through && records.cold.is_empty() {
            return Ok(());
        }
        let txn = self.begin_write("begin release")?;
        {
            let mut cold = txn.open_table(COLD).map_err(db_err("open records state"))?;
            for row in &records.cold {
                let value = match &row.value {
                    Some(v) => [&[1u8][..], v].concat(),
                    None => vec![0u8],
                };
                cold.insert((row.table, row.key.as_slice(), at.0), value.as_slice())
                    .map_err(db_err("record state"))?;
            }
        }
        if at.0 <= through {
            return self.commit_records(txn, "commit release");
        }
        {
            let mut stubs = txn.open_table(STUBS).map_err(db_err("open records"))?;
            let mut first = txn
                .open_table(FIRST_AT)
                .map_err(db_err("open records first"))?;
            let mut epochs = txn
                .open_table(EPOCHS)
                .map_err(db_err("open records epochs"))?;
            let mut held = txn.open_table(HELD).map_err(db_err("open held"))?;
            let mut digests = txn
                .open_table(DIGESTS)
                .map_err(db_err("open records digests"))?;
            let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
            let mut movements = txn
                .open_table(MOVEMENTS)
                .map_err(db_err("open records movements"))?;
            for (epoch, list) in records.movements.iter().filter(|(e, _)| *e > through) {
                for (n, m) in (0u64..).zip(list) {
                    let bytes = carnet_protocol::encoding::to_canonical(m);
                    movements
                        .insert((&m.account.0, *epoch, n), bytes.as_slice())
                        .map_err(db_err("record movement"))?;
                }
            }
            for r in released.iter().filter(|r| r.stub.epoch > through) {
                let s = r.stub;
                stubs
                    .insert(&r.id.0, (s.lamport, s.timestamp_ms, s.epoch, s.org_line))
                    .map_err(db_err("record finalized"))?;
                if let Some((author, seq)) = r.first_at {
                    first
                        .insert((&author.0, seq), &r.id.0)
                        .map_err(db_err("record finalized first"))?;
                }
                epochs
                    .insert((s.epoch, s.lamport, &r.id.0), ())
                    .map_err(db_err("record finalized epoch"))?;
                if !r.stays {
                    held.remove((s.lamport, &r.id.0))
                        .map_err(db_err("record released"))?;
                }
            }
            digests
                .insert(at.0, &at.1 .0)
                .map_err(db_err("record finalized digest"))?;
            meta.insert(THROUGH_META_KEY, at.0.to_be_bytes().as_slice())
                .map_err(db_err("record finalized through"))?;
        }
        self.commit_records(txn, "commit release")
    }

    /// The highest epoch whose events are all recorded; 0 for none.
    pub fn released_through(&self) -> Result<u64, StoreError> {
        Ok(through(self.get_meta(THROUGH_META_KEY)?.as_deref()))
    }

    /// The finalized digest recorded where a release ended at `epoch`.
    pub fn finalized_digest_at(&self, epoch: u64) -> Result<Option<Hash32>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let Some(t) = open(&txn, DIGESTS)? else {
            return Ok(None);
        };
        let found = t.get(epoch).map_err(db_err("read finalized digest"))?;
        Ok(found.map(|v| Hash32(*v.value())))
    }

    /// The highest recorded seq of each author: one descent per author, not a scan.
    pub fn recorded_heads(&self) -> Result<Vec<(PublicKey, u64)>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let Some(t) = open(&txn, FIRST_AT)? else {
            return Ok(Vec::new());
        };
        let read = db_err("read recorded heads");
        let mut out = Vec::new();
        let mut next = t.first().map_err(read)?.map(|(k, _)| *k.value().0);
        while let Some(author) = next {
            let last = t
                .range((&author, 0)..=(&author, u64::MAX))
                .map_err(db_err("read recorded heads"))?
                .next_back()
                .transpose()
                .map_err(db_err("read recorded heads"))?;
            if let Some((k, _)) = last {
                out.push((PublicKey(author), k.value().1));
            }
            let after = (
                std::ops::Bound::Excluded((&author, u64::MAX)),
                std::ops::Bound::Unbounded,
            );
            next = t
                .range::<(&[u8; 32], u64)>(after)
                .map_err(db_err("read recorded heads"))?
                .next()
                .transpose()
                .map_err(db_err("read recorded heads"))?
                .map(|(k, _)| *k.value().0);
        }
        Ok(out)
    }

    /// The events a start holds in memory: those listed as held, and those recorded
    /// in epochs above `epoch` (a snapshot's: the ledger finalizes them again),
    /// decoded and checked against their ids but not their signatures, as
    /// [`Store::load_events`] does.
    pub fn load_held(&self, epoch: u64) -> Result<Vec<SignedEvent>, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin load"))?;
        let events = txn.open_table(EVENTS).map_err(db_err("open events"))?;
        let mut keys: Vec<(u64, [u8; 32])> = Vec::new();
        let held = txn.open_table(HELD).map_err(db_err("open held"))?;
        for entry in held.iter().map_err(db_err("read held"))? {
            let (key, _) = entry.map_err(db_err("read held"))?;
            let (lamport, id) = key.value();
            keys.push((lamport, *id));
        }
        if let Some(t) = open(&txn, EPOCHS)? {
            let above = t
                .range((epoch.saturating_add(1), 0, &[0u8; 32])..)
                .map_err(db_err("read finalized epochs"))?;
            for entry in above {
                let (key, _) = entry.map_err(db_err("read finalized epochs"))?;
                let (_, lamport, id) = key.value();
                keys.push((lamport, *id));
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for (lamport, key) in keys {
            let id = Hash32(key);
            let bytes = events
                .get((lamport, &key))
                .map_err(db_err("read event"))?
                .ok_or_else(|| corrupt(id, "listed as held but not stored"))?;
            let ev = decode_stored(id, bytes.value(), &self.network)?;
            if let Some(e) = super::misindexed(&id, lamport, Some(ev.lamport())) {
                return Err(e);
            }
            out.push(ev);
        }
        Ok(out)
    }

    /// (Lamport clock, id) of every stored event: the order index, as the set the
    /// ledger reconciles, built as it is read (see [`Items::from_ordered`]).
    pub fn order_items(&self) -> Result<Items, StoreError> {
        let txn = self.db()?.begin_read().map_err(db_err("begin read"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        let mut failed = None;
        let items =
            Items::from_ordered(order.iter().map_err(db_err("read order index"))?.map_while(
                |entry| match entry {
                    Ok((key, _)) => {
                        let (lamport, id) = key.value();
                        Some((lamport, Hash32(*id)))
                    }
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                },
            ));
        match failed {
            Some(e) => Err(db_err("read order index")(e)),
            None => Ok(items),
        }
    }

    /// Drops every record of finalized events, for a start that replays every event
    /// and writes them again as it finalizes (see `Engine::open`): the old ones would
    /// name events it has not ordered yet as finalized, and say which twin of an
    /// equivocation came first in the order events arrived, where a replay orders
    /// them by clock. The held list stays: each release takes its events off it, and
    /// the start lists what it holds once it is done ([`Store::list_held`]).
    pub fn forget_records(&self) -> Result<(), StoreError> {
        let txn = self.begin_write("begin forget")?;
        drop_records(&txn)?;
        self.commit_records(txn, "commit forget")
    }

    /// Lists the events at `keys` (Lamport clock, id) as held in memory (those
    /// already listed stay so). Events not stored are left out: there is nothing of
    /// theirs a start could read.
    pub fn list_held(&self, keys: &[(u64, ContentId)]) -> Result<(), StoreError> {
        let txn = self.begin_write("begin list held")?;
        {
            let mut held = txn.open_table(HELD).map_err(db_err("open held"))?;
            let events = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            for (lamport, id) in keys {
                let stored = events
                    .get((*lamport, &id.0))
                    .map_err(db_err("read event"))?
                    .is_some();
                if stored {
                    held.insert((*lamport, &id.0), ())
                        .map_err(db_err("list held"))?;
                }
            }
        }
        txn.commit().map_err(db_err("commit list held"))
    }

    /// Drops every record of finalized events, in `txn`, and lists every stored event
    /// as held again: the next start writes the records again from the events (after
    /// events were taken out of the store).
    pub(super) fn forget_released(txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        drop_records(txn)?;
        let mut held = txn.open_table(HELD).map_err(db_err("open held"))?;
        let order = txn.open_table(ORDER).map_err(db_err("open order"))?;
        for entry in order.iter().map_err(db_err("read order index"))? {
            let (key, _) = entry.map_err(db_err("read order index"))?;
            held.insert(key.value(), ()).map_err(db_err("list held"))?;
        }
        Ok(())
    }

    /// A point lookup of the ledger's, in the tables the lookups share (see
    /// [`super::lookups`]).
    fn shared_read<T>(
        &self,
        read: impl FnOnce(&super::lookups::Tables) -> Result<T, StoreError>,
    ) -> Result<T, ArchiveError> {
        let tables = self
            .db()
            .and_then(|db| self.lookups.tables(&db))
            .map_err(|e| ArchiveError(e.to_string()))?;
        read(&tables).map_err(|e| ArchiveError(e.to_string()))
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

/// Whether any of `ids` is recorded as finalized, released or not.
pub(super) fn any_recorded(
    txn: &redb::WriteTransaction,
    ids: &[ContentId],
) -> Result<bool, StoreError> {
    let stubs = txn.open_table(STUBS).map_err(db_err("open records"))?;
    for id in ids {
        if stubs.get(&id.0).map_err(db_err("read records"))?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The epoch the meta value "finalized through" names; 0 for none.
fn through(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|v| <[u8; 8]>::try_from(v).ok())
        .map_or(0, u64::from_be_bytes)
}

/// Opens a table of records for reading; None if no record was ever written.
pub(super) fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<K, V>,
) -> Result<Option<redb::ReadOnlyTable<K, V>>, StoreError> {
    match txn.open_table(table) {
        Ok(t) => Ok(Some(t)),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(db_err("open records")(e)),
    }
}

/// A row of the state on disk: a flag byte, then the value (1) or nothing (0, the key
/// removed).
fn cold_value(table: u8, row: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
    match row.split_first() {
        Some((1, bytes)) => Ok(Some(bytes.to_vec())),
        Some((0, [])) => Ok(None),
        _ => Err(StoreError::Corrupt {
            id: format!("state row {table}"),
            reason: "neither a value nor a removal".into(),
        }),
    }
}

impl Index for Store {
    fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError> {
        self.shared_read(|tables| {
            let Some(t) = &tables.stubs else {
                return Ok(None);
            };
            let found = t.get(&id.0).map_err(db_err("read records"))?;
            Ok(found.map(|v| {
                let (lamport, timestamp_ms, epoch, org_line) = v.value();
                Stub {
                    lamport,
                    timestamp_ms,
                    epoch,
                    org_line,
                }
            }))
        })
    }

    fn first_at(&self, author: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError> {
        self.shared_read(|tables| {
            let Some(t) = &tables.first else {
                return Ok(None);
            };
            let found = t
                .get((&author.0, seq))
                .map_err(db_err("read records first"))?;
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
                .map_err(db_err("read records epoch"))?;
            let mut out = Vec::new();
            for entry in range {
                let (key, _) = entry.map_err(db_err("read records epoch"))?;
                let (_, lamport, id) = key.value();
                out.push((lamport, Hash32(*id)));
            }
            Ok(out)
        })
    }

    fn cold(
        &self,
        table: u8,
        key: &[u8],
        floor: u64,
        at: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.shared_read(|tables| {
            let Some(t) = &tables.cold else {
                return Ok(None);
            };
            let mut range = t
                .range((table, key, floor)..=(table, key, at))
                .map_err(db_err("read records state"))?;
            let Some(entry) = range.next_back() else {
                return Ok(None);
            };
            let (_, value) = entry.map_err(db_err("read records state"))?;
            cold_value(table, value.value())
        })
    }

    fn cold_scan(&self, table: u8, floor: u64, at: u64) -> Result<ColdEntries, ArchiveError> {
        self.released_read(|txn| {
            let Some(t) = open(txn, COLD)? else {
                return Ok(Vec::new());
            };
            let end = table.checked_add(1).ok_or_else(|| StoreError::Corrupt {
                id: format!("state rows {table}"),
                reason: "no such map".into(),
            })?;
            let range = t
                .range((table, &[][..], 0)..(end, &[][..], 0))
                .map_err(db_err("read records state"))?;
            let mut rows = Vec::new();
            for entry in range {
                let (key, value) = entry.map_err(db_err("read records state"))?;
                let (_, k, epoch) = key.value();
                rows.push((k.to_vec(), epoch, cold_value(table, value.value())?));
            }
            Ok(latest_rows(rows, floor, at))
        })
    }

    fn movements(&self, account: &PublicKey) -> Result<(u64, Vec<Movement>), ArchiveError> {
        self.released_read(|txn| {
            // Read in the transaction of the movements, so that it says which they are.
            let through = match open(txn, META)? {
                Some(meta) => {
                    let value = meta
                        .get(THROUGH_META_KEY)
                        .map_err(db_err("read finalized through"))?;
                    self::through(value.as_ref().map(|v| v.value()))
                }
                None => 0,
            };
            let Some(t) = open(txn, MOVEMENTS)? else {
                return Ok((through, Vec::new()));
            };
            let range = t
                .range((&account.0, 0, 0)..=(&account.0, u64::MAX, u64::MAX))
                .map_err(db_err("read records movements"))?;
            let mut out = Vec::new();
            for entry in range {
                let (key, bytes) = entry.map_err(db_err("read records movements"))?;
                let (_, epoch, _) = key.value();
                let m: Movement = carnet_protocol::encoding::from_canonical(bytes.value(), 1024)
                    .map_err(|e| StoreError::Corrupt {
                        id: format!("movement of {} in epoch {epoch}", account.to_hex()),
                        reason: format!("does not decode: {e}"),
                    })?;
                out.push(m);
            }
            Ok((through, out))
        })
    }
}
