//! Moving the events of a store an older build wrote into ledger order.
//!
//! Builds before ledger order kept the events keyed by content id (`events`) and the
//! list of held events likewise (`held`); this one keeps both in ledger order (see the
//! module above). Builds between kept an index from id to clock beside them
//! (`event_clocks`), which goes at the first start of this one.
//!
//! A store of the older layout is moved over once, when it is opened, a chunk of
//! events a transaction: a process killed in the middle resumes where the last
//! committed chunk ended, since the old tables go only with the last chunk. Until then
//! the file holds the events twice.

use super::*;
use redb::TableHandle;

/// Content id → the event's wire bytes: the older layout.
pub(super) const OLD_EVENTS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("events");
/// Content id → nothing: the held list of the older layout.
const OLD_HELD: TableDefinition<&[u8; 32], ()> = TableDefinition::new("held");
/// Meta key: the last content id moved, while a move is under way.
const MOVED_THROUGH_META_KEY: &str = "events moved through";
/// Events moved a transaction: 65,536 events are some 20 MiB of wire bytes, a
/// transaction's worth of memory that stays small, and 150 commits at 10M events.
pub(super) const MOVE_CHUNK: usize = 65_536;

/// Moves a store of the older layout into ledger order, `chunk` events a transaction,
/// at most `max_chunks` transactions (tests stop part way); true once it moved one
/// (the caller compacts the file the old tables leave free). An entry that does not
/// decode to the event its id names stops the move with [`StoreError::Corrupt`], as a
/// start would stop at it; `carnet node repair` reads both layouts.
pub(super) fn move_events_once(
    db: &Database,
    network: &NetworkId,
    chunk: usize,
    max_chunks: usize,
) -> Result<bool, StoreError> {
    if !has_table(db, OLD_EVENTS.name())? {
        return Ok(false);
    }
    let t = std::time::Instant::now();
    let mut moved = 0u64;
    for _ in 0..max_chunks {
        let txn = db.begin_write().map_err(db_err("begin moving events"))?;
        let done = {
            let old = txn
                .open_table(OLD_EVENTS)
                .map_err(db_err("open old events"))?;
            let old_held = txn.open_table(OLD_HELD).map_err(db_err("open old held"))?;
            let mut events = txn.open_table(EVENTS).map_err(db_err("open events"))?;
            let mut held = txn
                .open_table(released::HELD)
                .map_err(db_err("open held"))?;
            let mut meta = txn.open_table(META).map_err(db_err("open meta"))?;
            let through = meta
                .get(MOVED_THROUGH_META_KEY)
                .map_err(db_err("read how far events moved"))?
                .map(|v| <[u8; 32]>::try_from(v.value()))
                .transpose()
                .map_err(|_| corrupt("meta:events moved through", "not 32 bytes"))?;
            let range = match &through {
                Some(id) => old.range::<&[u8; 32]>((
                    std::ops::Bound::Excluded(id),
                    std::ops::Bound::Unbounded,
                )),
                None => old.range::<&[u8; 32]>(..),
            };
            let (mut last, mut n) = (None, 0);
            for entry in range.map_err(db_err("read old events"))?.take(chunk) {
                let (key, bytes) = entry.map_err(db_err("read old events"))?;
                let id = Hash32(*key.value());
                let ev = decode_stored(id, bytes.value(), network)?;
                let lamport = ev.lamport();
                events
                    .insert((lamport, &id.0), bytes.value())
                    .map_err(db_err("move event"))?;
                if old_held
                    .get(&id.0)
                    .map_err(db_err("read old held"))?
                    .is_some()
                {
                    held.insert((lamport, &id.0), ())
                        .map_err(db_err("move held"))?;
                }
                last = Some(id.0);
                n += 1;
            }
            moved += n as u64;
            match last {
                Some(id) if n == chunk => {
                    meta.insert(MOVED_THROUGH_META_KEY, id.as_slice())
                        .map_err(db_err("record how far events moved"))?;
                    false
                }
                _ => {
                    meta.remove(MOVED_THROUGH_META_KEY)
                        .map_err(db_err("record how far events moved"))?;
                    true
                }
            }
        };
        if done {
            txn.delete_table(OLD_EVENTS)
                .map_err(db_err("drop old events"))?;
            txn.delete_table(OLD_HELD)
                .map_err(db_err("drop old held"))?;
        }
        txn.commit().map_err(db_err("commit moving events"))?;
        if done {
            tracing::info!(
                events = moved,
                secs = t.elapsed().as_secs_f64(),
                "moved the stored events into ledger order (a store an older build wrote)"
            );
            return Ok(true);
        }
    }
    Ok(false)
}

/// Content id → Lamport clock: the index the builds between ledger order and this one
/// kept.
const OLD_CLOCKS: TableDefinition<&[u8; 32], u64> = TableDefinition::new("event_clocks");

/// Drops the index from id to clock of a store an earlier build wrote; true if there
/// was one (the caller compacts the file it leaves free).
pub(super) fn drop_clock_index_once(db: &Database) -> Result<bool, StoreError> {
    if !has_table(db, OLD_CLOCKS.name())? {
        return Ok(false);
    }
    let txn = db
        .begin_write()
        .map_err(db_err("begin dropping the id index"))?;
    let dropped = txn
        .delete_table(OLD_CLOCKS)
        .map_err(db_err("drop the id index"))?;
    txn.commit()
        .map_err(db_err("commit dropping the id index"))?;
    Ok(dropped)
}

/// Whether the store has a table of this name: what tells an older layout.
fn has_table(db: &Database, name: &str) -> Result<bool, StoreError> {
    let txn = db
        .begin_read()
        .map_err(db_err("begin reading the layout"))?;
    let mut tables = txn.list_tables().map_err(db_err("list tables"))?;
    Ok(tables.any(|t| t.name() == name))
}
