//! Where finalized events go once the ledger lets them out of memory.
//!
//! A finalized event never changes the state again: the fold starts after the last
//! finalized prefix. All that the ordering checks still need from it is that it is
//! ordered, its clock and timestamp, its epoch (kept as a [`Stub`]) and which event
//! came first at its author's seq; and what a Checkpoint, Enroll, Admit or Rotate
//! says (those stay in memory). Its bytes are needed again only to serve it, to audit
//! its prefix, or to prove an equivocation. A node keeps all of it in its store, on
//! disk, and the ledger asks for it through [`Archive`]: at ten million events the
//! per-event indices alone would take gigabytes of memory.

use super::cold::{ColdRow, ColdTable};
use super::Movement;
use crate::event::SignedEvent;
use crate::hash::ContentId;
use crate::keys::PublicKey;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use thiserror::Error;

/// Finalized events held outside the ledger, by id: what audits and proofs read.
/// An archive that loses an event only makes those that need it fail.
pub trait Archive: Send + Sync {
    /// The event `id`, if held; an error if the archive cannot answer (a store that
    /// cannot be read), which its readers must not take for "not held".
    fn event(&self, id: &ContentId) -> Result<Option<SignedEvent>, ArchiveError>;
}

/// An archive that also keeps what the ledger keeps of a released event: a node's
/// store.
///
/// The ledger lets an event out of memory only once the archive holds it and what the
/// ledger hands over with it ([`super::Ledger::releasable`], then
/// [`super::Ledger::release`]), and asks for them back. The order and the state depend
/// on the answers to [`Index::stub`] and [`Index::first_at`], so an index that cannot
/// answer must say so (an error), never answer "not held": the ledger then reports the
/// failure ([`super::Ledger::take_archive_error`]) and its owner rebuilds it.
pub trait Index: Archive {
    /// What the ledger kept of the finalized event `id`, released or staying; None if
    /// `id` is not recorded.
    fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError>;
    /// The recorded event ordered first at `author`'s `seq` (the second of an
    /// equivocation is not one: the ledger keeps those ids).
    fn first_at(&self, author: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError>;
    /// (Lamport clock, id) of the recorded events of `epoch`, sorted.
    fn epoch_ids(&self, epoch: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError>;
    /// The highest epoch whose movements are recorded (0 for none), and `account`'s
    /// recorded movements, in ledger order: the finalized part of its history, which
    /// the ledger no longer holds (see [`Records::movements`]). Read together, so that
    /// the epoch says exactly which movements the list holds.
    fn movements(&self, account: &PublicKey) -> Result<(u64, Vec<Movement>), ArchiveError>;
    /// The value of `key` in the state's map `table` at the end of epoch `at`: that of
    /// the row recorded ([`Records::cold`]) at the highest epoch from `floor` to `at`;
    /// None if that row says none, or there is no such row.
    fn cold(
        &self,
        table: ColdTable,
        key: &[u8],
        floor: u64,
        at: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError>;
    /// Every key of the map `table` that holds a value at the end of epoch `at`, as
    /// [`Index::cold`] reads it, with that value: a read of every row of the map, for a
    /// state root built from nothing ([`super::cold::ColdMap::whole`]).
    fn cold_scan(&self, table: ColdTable, floor: u64, at: u64)
        -> Result<ColdEntries, ArchiveError>;
}

/// (key, value) pairs of a map of the state on disk, as [`Index::cold_scan`] gives them.
pub type ColdEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// The latest of each key's rows in the epochs `floor..=at` that hold a value, from
/// rows sorted by (key, epoch): what every [`Index::cold_scan`] returns.
pub fn latest_rows(
    rows: impl IntoIterator<Item = (Vec<u8>, u64, Option<Vec<u8>>)>,
    floor: u64,
    at: u64,
) -> ColdEntries {
    let mut out: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for (key, epoch, value) in rows {
        if epoch < floor || epoch > at {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.0 == key => last.1 = value,
            _ => out.push((key, value)),
        }
    }
    out.into_iter().filter_map(|(k, v)| Some((k, v?))).collect()
}

/// An archive could not answer (a disk that fails to read).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the archive of finalized events failed: {0}")]
pub struct ArchiveError(pub String);

/// The first failure of an index since it was last taken: set from `&self` lookups,
/// so behind a lock; a clone of the ledger starts with a copy of it.
#[derive(Default)]
pub(super) struct FirstFailure(Mutex<Option<ArchiveError>>);

impl FirstFailure {
    pub(super) fn record(&self, e: ArchiveError) {
        let mut first = self.0.lock().unwrap_or_else(|p| p.into_inner());
        first.get_or_insert(e);
    }

    pub(super) fn take(&self) -> Option<ArchiveError> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl Clone for FirstFailure {
    fn clone(&self) -> Self {
        let first = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        FirstFailure(Mutex::new(first))
    }
}

/// What the ordering checks need of an event no longer held in memory: the clock a
/// reference to it must exceed, the timestamp the next event of its chain must not go
/// below, the epoch that holds it, and whether it is on an org's line (the next event
/// of its chain inherits that role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stub {
    pub lamport: u64,
    pub timestamp_ms: u64,
    pub epoch: u64,
    pub org_line: bool,
}

/// A finalized event, with what its archive must keep of it. Most leave memory; those
/// that stay (see `stays`) are recorded all the same, so that a start which does not
/// read the released events still knows the epoch and the chain position of every
/// finalized one ([`super::Ledger::resume`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub id: ContentId,
    pub stub: Stub,
    /// (author, seq) when the event is the first ordered there; None for the second
    /// of an equivocation.
    pub first_at: Option<(PublicKey, u64)>,
    /// The event stays in memory: a Checkpoint, Enroll, Admit or Rotate (the quorum
    /// and role checks read what it says), or the second of an equivocation (the
    /// proof of it).
    pub stays: bool,
}

/// What the ledger finalized since its last release, for an archive to record in one
/// piece ([`super::Ledger::releasable`]): the events, the point movements of the
/// finalized epochs, and the finalized digest the last epoch ends at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records {
    pub events: Vec<Release>,
    /// (epoch, the movements its events and its settlement made, by account then in
    /// ledger order). An account's history is a ledger order by account: the node
    /// keeps the finalized part of it on disk, not in memory, where at ten million
    /// events it would be some six million entries.
    pub movements: Vec<(u64, Vec<Movement>)>,
    /// What the state's cold maps hold at the end of epoch `at.0` and not at the end of
    /// the epoch whose rows they read so far (see `cold.rs`): recorded at epoch
    /// `at.0`, a row per key, over any row an earlier release recorded at that epoch.
    pub cold: Vec<ColdRow>,
    /// The rows the maps `cold` was taken from read: (`at`, `floor`), see `cold.rs`.
    pub cold_since: (u64, u64),
    /// [`super::Ledger::finalized_digest`] when they were taken.
    pub at: (u64, crate::hash::Hash32),
}

impl Records {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.movements.is_empty() && self.cold.is_empty()
    }
}

/// An archive in memory: for tests and tools, and for a generator that writes events
/// straight to a store. Keeps the bytes of the events given to [`MemoryArchive::keep`]
/// (none if never called) and every record of a release.
#[derive(Default)]
pub struct MemoryArchive(Mutex<Held>);

#[derive(Default)]
struct Held {
    events: HashMap<ContentId, SignedEvent>,
    stubs: HashMap<ContentId, Stub>,
    first_at: std::collections::BTreeMap<(PublicKey, u64), ContentId>,
    epochs: BTreeSet<(u64, u64, ContentId)>,
    digests: std::collections::BTreeMap<u64, crate::hash::Hash32>,
    /// Recorded movements, by (account, epoch, place in the epoch's list).
    movements: std::collections::BTreeMap<(PublicKey, u64, usize), Movement>,
    /// The highest epoch whose movements are recorded.
    movements_through: u64,
    /// Rows of the state's cold maps by (table, key, epoch).
    cold: std::collections::BTreeMap<(ColdTable, Vec<u8>, u64), Option<Vec<u8>>>,
}

impl MemoryArchive {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps the bytes of `events` (a node's write of what it ordered).
    pub fn keep<'a>(&self, events: impl IntoIterator<Item = &'a SignedEvent>) {
        let mut held = self.held();
        for e in events {
            held.events.entry(e.id()).or_insert_with(|| e.clone());
        }
    }

    /// Records what a release hands over, and the finalized digest `at` the last epoch
    /// it covers ([`super::Ledger::finalized_digest`]).
    pub fn put_released(&self, records: &Records) {
        let mut held = self.held();
        if !records.is_empty() {
            held.digests.insert(records.at.0, records.at.1);
        }
        for (epoch, list) in &records.movements {
            for (n, m) in list.iter().enumerate() {
                held.movements.insert((m.account, *epoch, n), m.clone());
            }
            held.movements_through = held.movements_through.max(*epoch);
        }
        for row in &records.cold {
            let key = (row.table, row.key.clone(), records.at.0);
            held.cold.insert(key, row.value.clone());
        }
        for r in &records.events {
            held.stubs.insert(r.id, r.stub);
            if let Some(at) = r.first_at {
                held.first_at.insert(at, r.id);
            }
            held.epochs.insert((r.stub.epoch, r.stub.lamport, r.id));
        }
    }
}

impl MemoryArchive {
    /// The highest recorded seq of each author: what a start from the records knows of
    /// the chains (see [`super::Resume`]).
    pub fn heads(&self) -> Vec<(PublicKey, u64)> {
        let held = self.held();
        let mut out: Vec<(PublicKey, u64)> = Vec::new();
        for (author, seq) in held.first_at.keys() {
            match out.last_mut() {
                Some(last) if last.0 == *author => last.1 = last.1.max(*seq),
                _ => out.push((*author, *seq)),
            }
        }
        out
    }

    /// The finalized digest recorded at `epoch`, if a release ended there.
    pub fn digest_at(&self, epoch: u64) -> Option<crate::hash::Hash32> {
        self.held().digests.get(&epoch).copied()
    }

    /// Ids recorded in epochs above `epoch`.
    pub fn ids_above(&self, epoch: u64) -> Vec<ContentId> {
        let held = self.held();
        let from = (epoch.saturating_add(1), 0, ContentId::ZERO);
        held.epochs.range(from..).map(|k| k.2).collect()
    }
}

impl Archive for MemoryArchive {
    fn event(&self, id: &ContentId) -> Result<Option<SignedEvent>, ArchiveError> {
        Ok(self.held().events.get(id).cloned())
    }
}

impl Index for MemoryArchive {
    fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError> {
        Ok(self.held().stubs.get(id).copied())
    }

    fn first_at(&self, author: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError> {
        Ok(self.held().first_at.get(&(*author, seq)).copied())
    }

    fn epoch_ids(&self, epoch: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError> {
        let from = (epoch, 0, ContentId::ZERO);
        let to = (epoch, u64::MAX, crate::hash::Hash32([0xff; 32]));
        Ok(self
            .held()
            .epochs
            .range(from..=to)
            .map(|k| (k.1, k.2))
            .collect())
    }

    fn movements(&self, account: &PublicKey) -> Result<(u64, Vec<Movement>), ArchiveError> {
        let held = self.held();
        let list = held
            .movements
            .range((*account, 0, 0)..=(*account, u64::MAX, usize::MAX))
            .map(|(_, m)| m.clone())
            .collect();
        Ok((held.movements_through, list))
    }

    fn cold(
        &self,
        table: ColdTable,
        key: &[u8],
        floor: u64,
        at: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        let held = self.held();
        let row = held
            .cold
            .range((table, key.to_vec(), floor)..=(table, key.to_vec(), at))
            .next_back();
        Ok(row.and_then(|(_, v)| v.clone()))
    }

    fn cold_scan(
        &self,
        table: ColdTable,
        floor: u64,
        at: u64,
    ) -> Result<ColdEntries, ArchiveError> {
        let held = self.held();
        let rows = held
            .cold
            .range((table, Vec::new(), 0)..(table.saturating_add(1), Vec::new(), 0))
            .map(|((_, k, epoch), v)| (k.clone(), *epoch, v.clone()));
        Ok(latest_rows(rows, floor, at))
    }
}
