//! The record tables the ledger's point lookups read (the stub of a released event,
//! the event first at an (author, seq), a row of the state's cold maps), opened once
//! and shared by the lookups that follow until something is written. Each lookup
//! used to begin a read transaction and open its table, half of what it cost: the
//! lookups were 8% of a settling node's time, asked for each dependency of each
//! event (docs/benchmarks.md, "What settlement costs a node").
//!
//! A read transaction kept open keeps redb from reusing the pages freed after it, so
//! the shared one goes at the start of every write. And since a lookup during a write
//! that changes the records would take the state before it, such a write marks the
//! shared tables stale once it committed ([`Lookups::changed`]).

use super::released::{open, COLD, FIRST_AT, STUBS};
use super::*;
use redb::ReadOnlyTable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type Id = &'static [u8; 32];
/// [`STUBS`], [`FIRST_AT`] and [`COLD`] as read.
type StubTable = ReadOnlyTable<Id, (u64, u64, u64, bool)>;
type FirstTable = ReadOnlyTable<(Id, u64), Id>;
type ColdTable = ReadOnlyTable<(u8, &'static [u8], u64), &'static [u8]>;

/// The tables of one read transaction, which they keep alive; None for a table no
/// record was written to yet.
pub(super) struct Tables {
    pub stubs: Option<StubTable>,
    pub first: Option<FirstTable>,
    pub cold: Option<ColdTable>,
}

/// The shared tables, with the count of changes to the records they were opened at.
#[derive(Default)]
pub(super) struct Lookups {
    shared: Mutex<Option<(u64, Arc<Tables>)>>,
    changes: AtomicU64,
}

impl Lookups {
    /// The shared tables, opened again if the records changed since.
    pub fn tables(&self, db: &Database) -> Result<Arc<Tables>, StoreError> {
        let mut shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        // Read before the transaction begins: a change counted after this read
        // committed after it too, so tables opened now may be of the state before
        // it, and the next lookup opens them again.
        let now = self.changes.load(Ordering::SeqCst);
        if let Some((at, tables)) = shared.as_ref() {
            if *at == now {
                return Ok(tables.clone());
            }
        }
        let txn = db.begin_read().map_err(db_err("begin read"))?;
        let tables = Arc::new(Tables {
            stubs: open(&txn, STUBS)?,
            first: open(&txn, FIRST_AT)?,
            cold: open(&txn, COLD)?,
        });
        *shared = Some((now, tables.clone()));
        Ok(tables)
    }

    /// Lets the shared transaction go: at the start of every write, and before the
    /// database is closed.
    pub fn release(&self) {
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).take();
    }

    /// After a write that changed the records committed (or failed part way).
    pub fn changed(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        self.release();
    }
}
