//! `carnet node repair`: a damaged event store rebuilt from what is intact.
//!
//! The event set is shared by the whole network, so what a damaged store lost comes
//! back from peers by sync once the node runs again. What only this node has (the
//! cards its members contribute, the bounce messages they reported) is copied over
//! entry by entry as far as the file can still be read. The damaged file is kept
//! beside the new one, never deleted.

use crate::datadir::DataDir;
use crate::engine::Engine;
use crate::run::STORE_FILE;
use crate::store::{quietly, salvage, Store, StoreError, SNAPSHOT_EXTENSION};
use serde::Serialize;
use std::path::PathBuf;

/// What a repair kept.
#[derive(Debug, Clone, Serialize)]
pub struct Repaired {
    /// Events in the new store that the ledger accepted on loading it.
    pub events: usize,
    pub cards: usize,
    pub evidence: usize,
    /// Where the damaged store was moved.
    pub damaged: PathBuf,
    /// What could not be read.
    pub lost: Vec<String>,
}

/// Rebuilds the event store of `dir` from its readable entries. The node must be
/// stopped (redb refuses a file another process has open).
pub fn repair(dir: &DataDir) -> Result<Repaired, StoreError> {
    let path = dir.path.join(STORE_FILE);
    let io = |path: &PathBuf| {
        let path = path.clone();
        move |source| StoreError::Io { path, source }
    };
    let salvaged = salvage(&path, &dir.network());
    let damaged = path.with_extension(format!("redb.damaged-{}", carnet_api::now_ms()));
    std::fs::rename(&path, &damaged).map_err(io(&path))?;
    // The snapshot is a cache of a state the new store may no longer give.
    let snapshot = path.with_extension(SNAPSHOT_EXTENSION);
    if snapshot.exists() {
        std::fs::remove_file(&snapshot).map_err(io(&snapshot))?;
    }
    {
        let store = Store::open(&path, dir.network())?;
        let mut events = salvaged.events.clone();
        events.sort_by_key(|e| (e.lamport(), e.id()));
        store.put_events(&events)?;
        store.restore_raw(&salvaged)?;
    }
    // Loading drops whatever the ledger no longer accepts (events whose past was lost
    // stay out until peers serve it again).
    let store = Store::open(&path, dir.network())?;
    let (mut engine, _) =
        quietly(|| Engine::reopen(store, dir.genesis.clone(), dir.org_key.clone())).map_err(
            |detail| StoreError::Damaged {
                path: path.clone(),
                detail,
            },
        )??;
    Ok(Repaired {
        events: engine.ledger().len(),
        cards: salvaged.cards.len(),
        evidence: salvaged.evidence.len(),
        damaged,
        lost: salvaged.lost,
    })
}
