//! When the engine saves a snapshot of the ledger state, and what it saved: a cache
//! that spares a restart the replay of every event.

use super::*;

/// Encodes `snap` and replaces the store's snapshot with it. The state tree this
/// computes stays in `snap`, for [`Engine::adopt_saved_tree`].
pub fn write_snapshot(store: &Store, snap: &mut Snapshot) -> Result<SavedSnapshot, StoreError> {
    let bytes = store.put_snapshot_with(|file| snap.write_to(file))?;
    Ok(SavedSnapshot {
        events: snap.applied(),
        bytes: bytes as usize,
    })
}

/// What [`Engine::save_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedSnapshot {
    pub events: u64,
    pub bytes: usize,
}

impl Engine {
    /// Whether enough events were ordered since the last snapshot to save another: at
    /// least [`Engine::snapshot_min_events`], and at least a quarter of the ledger, so
    /// that a crash replays at most a fifth of it while the bytes written for
    /// snapshots stay within a few times the final one.
    pub fn snapshot_due(&self) -> bool {
        let last = self.snapshot_events.unwrap_or(0);
        let since = (self.ledger.len() as u64).saturating_sub(last);
        since > 0 && since >= self.snapshot_min_events.max(last / 4)
    }

    /// Saves the ledger state as the store's snapshot, unless the saved one is already
    /// of every ordered event. The snapshot is a cache: failing to save one loses
    /// nothing but start-up time.
    ///
    /// Fetched events not durable yet are made durable first: a node stopped within a
    /// second of a catch-up, before the loop's settle, saved none (the snapshot may
    /// not cover what a kill could lose), and its next start replayed them all.
    pub fn save_snapshot(&mut self) -> Result<Option<SavedSnapshot>, StoreError> {
        if !self.undurable.is_empty() {
            self.settle_store();
        }
        let Some(mut snap) = self.snapshot_to_save() else {
            return Ok(None);
        };
        let saved = write_snapshot(&self.store, &mut snap)?;
        self.snapshot_saved(saved.events);
        self.adopt_saved_tree(&mut snap);
        Ok(Some(saved))
    }

    /// The snapshot to save, unless the saved one is already of every ordered event.
    /// Taking it is cheap (the state shares structure with the ledger's); encoding and
    /// writing it, [`write_snapshot`], is not, and needs no engine, so the event loop
    /// does that on another thread.
    pub fn snapshot_to_save(&mut self) -> Option<Snapshot> {
        // Every ordered event is applied once the ledger catches up: nothing new to
        // save, and no digest over the whole ledger to compute.
        if self.snapshot_events == Some(self.ledger.len() as u64) {
            return None;
        }
        // Not over fetched events whose commit is not durable yet: after a kill the
        // store would lack events the snapshot says it holds, and the start would
        // replay from genesis. The loop's settle makes them durable once a second and
        // the loop asks again right after it. (Settling here instead, a durable commit
        // in the middle of a catch-up, made catch-ups of 100,000 events collapse on
        // the fetched-pending bound in 3 of 5 runs, against none of 4 without it.)
        if !self.undurable.is_empty() {
            return None;
        }
        let snap = self.ledger.snapshot()?;
        (self.snapshot_events != Some(snap.applied())).then_some(snap)
    }

    /// Records that a snapshot of `events` events was saved.
    pub fn snapshot_saved(&mut self, events: u64) {
        self.snapshot_events = Some(events);
    }

    /// Takes back the state tree that saving `snap` computed, when it is more recent
    /// than the ledger's: a node that asks for no root meanwhile (a catch-up) would
    /// otherwise hash, at each save, every change since its start (at 900k events
    /// 18% of a catch-up's CPU, docs/benchmarks.md).
    pub fn adopt_saved_tree(&mut self, snap: &mut Snapshot) {
        self.ledger.adopt_saved_tree(snap);
    }

    /// Events the last saved or restored snapshot covers.
    pub fn snapshot_events(&self) -> Option<u64> {
        self.snapshot_events
    }
}
