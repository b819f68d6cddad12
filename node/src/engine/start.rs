//! The three ways a node gets its ledger back at start: from the snapshot and the
//! store's records, reading only the events held in memory; by reading every event
//! and resuming the fold from a snapshot that still holds; or, with no snapshot to
//! resume from, by replaying every event from genesis, a window at a time.

use super::{release_finalized, Reopened};
use crate::store::{verify_loaded, Store, StoreError};
use carnet_protocol::ledger::{Items, Ledger, OrderKey, Resume, Snapshot};
use carnet_protocol::{ContentId, Genesis, SignedEvent};

/// Events a replay reads, checks and applies at a time. What the window finalizes is
/// recorded and let out of memory before the next is read: a replay holds the state,
/// the events not finalized and one window, not every event (2.4 GiB at a million
/// events before, docs/benchmarks.md). A few windows even in this crate's small
/// tests.
const REPLAY_WINDOW: usize = if cfg!(test) { 64 } else { 1 << 13 };

/// Windows a replay applies between two writes of the records (32k events). Each
/// write dirties a page of the records' tables per event it records (their keys are
/// random ids), up to every page: written every window, the records were rewritten
/// nearly whole each time, 40% of a replay's main thread at 300k events. At 1M,
/// every 4 windows: 58.2 and 56.6 s against 65.9 and 77.1 s, for a peak of 806
/// against 782 MiB; every 8: no faster, 864 MiB (docs/benchmarks.md).
const RELEASE_EVERY: usize = if cfg!(test) { 2 } else { 4 };

/// Gets the ledger back from `store`; the signatures of the events no snapshot vouches
/// for are checked on the way (see [`super::Engine::open`]).
pub(super) fn start(store: &Store, genesis: Genesis) -> Result<Started, StoreError> {
    let network = genesis.network_id();
    let Some(file) = store.open_snapshot()? else {
        return replay_every_event(store, genesis);
    };
    // The order index, which a start from the records hands the ledger, is read and
    // built on a thread of its own while the snapshot is decoded: at ten million
    // events it is some 2 s of reading and 0.4 s of building, which came after the
    // decoding (docs/benchmarks.md).
    let (snapshot, items) = std::thread::scope(|scope| {
        let items = scope.spawn(|| store.order_items());
        let snapshot = Snapshot::read(|at| Ok(At { file: &file, at }), &network);
        // The thread only reads: it cannot panic but by a bug, which it passes on.
        let items = items
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (snapshot, items)
    });
    match snapshot {
        Ok(snap) => match resume_from_records(store, &genesis, snap.clone(), || items)? {
            Some(started) => verify_unvouched(started),
            // Restoring the snapshot checks the order up to it, with every event in
            // memory: fine for a ledger with nothing finalized, which holds every
            // event anyway, not for one that lets finalized events go (a crash
            // between the snapshot and its records, a snapshot copied from another
            // node): at 1M events that start held 2.4 GiB.
            None if snap.finalized_digest().0 > 0 || store.released_through()? > 0 => {
                tracing::warn!("replaying every event: the saved ledger snapshot does not end where the store's records of finalized events do");
                store.remove_snapshot()?;
                replay_every_event(store, genesis)
            }
            None => verify_unvouched(load_every_event(store, genesis, snap)?),
        },
        Err(e) => {
            tracing::warn!(reason = %e, "replaying every event: the saved ledger snapshot does not apply");
            // Of no use to any later start; and gone before the records are, so that
            // a start after a crash in the middle of this one replays again rather
            // than resume from records this one had not finished writing.
            store.remove_snapshot()?;
            replay_every_event(store, genesis)
        }
    }
}

/// A file read from byte `at` on by positional reads: three of them read the three
/// parts of the snapshot on three threads, from the one file opened, without a shared
/// offset.
struct At<'a> {
    file: &'a std::fs::File,
    at: u64,
}

impl std::io::Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(self.file, buf, self.at)?;
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(self.file, buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// Checks the signatures of every event the ledger holds but those the snapshot it
/// resumed from covers: its digest binds their ids and signatures, which this node
/// checked when it first took them, and the records bind the released ones.
fn verify_unvouched(started: Started) -> Result<Started, StoreError> {
    let (ledger, mut reopened, resumed, bad) = started;
    let ids = match resumed {
        Some((at, _)) => ledger.ids_after(at),
        None => ledger.all_items().into_iter().map(|k| k.1).collect(),
    };
    let unvouched: Vec<&SignedEvent> = ids.iter().filter_map(|i| ledger.get(i)).collect();
    verify_loaded(&unvouched)?;
    reopened.verified = unvouched.len();
    Ok((ledger, reopened, resumed, bad))
}

/// Starts from genesis: every stored event read in ledger order a window at a time
/// ([`REPLAY_WINDOW`]), its signature checked before it is applied, and what each
/// window finalizes recorded and let out of memory before the next is read.
///
/// The records an earlier start wrote are dropped first and written again as the
/// replay finalizes: read as they are, they would take events this replay has not
/// ordered yet for ordered ones, and say which twin of an equivocation came first
/// in the order the events arrived, where a replay orders them by clock.
fn replay_every_event(store: &Store, genesis: Genesis) -> Result<Started, StoreError> {
    let network = genesis.network_id();
    store.forget_records()?;
    let mut ledger = Ledger::new(genesis);
    ledger.set_archive(std::sync::Arc::new(store.clone()));
    let mut reopened = Reopened::default();
    let mut bad = Vec::new();
    // Windows are read and their signatures checked on a thread of their own, a
    // window ahead of the ledger: the checks are a third of a replay, and the fold
    // leaves the other core idle.
    std::thread::scope(|scope| -> Result<(), StoreError> {
        let (ready, windows) = std::sync::mpsc::sync_channel(1);
        scope.spawn(move || read_windows(store, &network, ready));
        for (n, window) in (1usize..).zip(windows) {
            let window = window?;
            reopened.events += window.len();
            reopened.verified += window.len();
            for ev in window {
                insert(&mut ledger, ev, &mut bad);
            }
            reopened.most_held = reopened
                .most_held
                .max(ledger.held_len() + ledger.pending_len());
            // A record that could not be read was taken for "not there": nothing
            // built on it stands.
            if let Some(e) = ledger.take_archive_error() {
                return Err(StoreError::Unreadable(e.to_string()));
            }
            if n.is_multiple_of(RELEASE_EVERY) {
                reopened.released += release_finalized(&mut ledger, store);
                // The nodes a finalization drops (what the finalized state and the
                // next claim's no longer share) and the events a release lets go are
                // freed all over the heap, and glibc kept them: given back here, a
                // replay of ten million events peaked at 1,999 MiB against 2,813
                // (every window instead: 1,998; docs/benchmarks.md, "A replay's heap
                // given back").
                super::give_back_free_memory();
            }
        }
        Ok(())
    })?;
    reopened.released += release_finalized(&mut ledger, store);
    if reopened.events as u64 != store.event_count()? {
        return Err(store.unindexed_event()?);
    }
    drop_pending(&mut ledger, &mut bad);
    // The records were dropped with the list of what an earlier start let go: what
    // this one holds is listed again, for the next start to read.
    store.list_held(&held_keys(&ledger))?;
    Ok((ledger, reopened, None, bad))
}

/// A start: the ledger, what it did, the snapshot position and events it resumed
/// from, and the stored events to drop.
pub(super) type Started = (Ledger, Reopened, Option<(OrderKey, u64)>, Vec<ContentId>);

/// Starts from the snapshot and the store's records of finalized events, reading only
/// the events the ledger holds in memory ([`Ledger::resume`]). None when the
/// snapshot ends no finalized prefix, or not the one the records hold (a crash
/// between them, a snapshot copied from another store): then every event is read.
/// `items` gives the order index ([`Store::order_items`]), asked for only once the
/// records are known to fit: a start has read it already, a roll-back reads it then.
pub(super) fn resume_from_records(
    store: &Store,
    genesis: &Genesis,
    snap: Snapshot,
    items: impl FnOnce() -> Result<Items, StoreError>,
) -> Result<Option<Started>, StoreError> {
    let (epochs, _) = snap.finalized_digest();
    if epochs == 0 {
        return Ok(None);
    }
    let Some(digest) = store.finalized_digest_at(epochs)? else {
        return Ok(None);
    };
    let events = store.load_held(epochs)?;
    let read = events.len();
    let (at, applied) = (snap.at(), snap.applied());
    let mut ledger = Ledger::new(genesis.clone());
    let started = ledger.resume(Resume {
        snapshot: snap,
        archive: std::sync::Arc::new(store.clone()),
        digest,
        heads: store.recorded_heads()?,
        items: items()?,
        events,
    });
    // A record that could not be read was taken for "not there": nothing built on
    // it stands.
    if let Some(e) = ledger.take_archive_error() {
        return Err(StoreError::Unreadable(e.to_string()));
    }
    match started {
        Ok(bad) => {
            let reopened = Reopened {
                events: read,
                most_held: read,
                from_snapshot: applied,
                from_records: true,
                ..Reopened::default()
            };
            Ok(Some((ledger, reopened, Some((at, applied)), bad)))
        }
        Err(e) => {
            tracing::warn!(reason = %e, "reading every event: the saved ledger snapshot is not of the finalized events recorded");
            Ok(None)
        }
    }
}

/// Starts by inserting every stored event, resuming the fold from the snapshot where
/// it still holds (see [`Ledger::restore`]): for a snapshot of a ledger with nothing
/// finalized, which holds every event in memory anyway. The restore checks the order
/// up to the snapshot, with every event in memory.
fn load_every_event(
    store: &Store,
    genesis: Genesis,
    snap: Snapshot,
) -> Result<Started, StoreError> {
    let network = genesis.network_id();
    let mut ledger = Ledger::new(genesis);
    // The claims the snapshot holds are not folded again as their Checkpoints are
    // inserted (see `Ledger::begin_load`).
    ledger.begin_load();
    let mut events = store.load_events(&network)?;
    let mut reopened = Reopened {
        events: events.len(),
        most_held: events.len(),
        ..Reopened::default()
    };
    let mut bad = Vec::new();
    // Taken from the end in clock order, the vector giving back its room as it
    // empties: each event moves into the ledger's own allocation, and the loaded
    // copies (some 450 bytes an event) would otherwise stay until the last one.
    events.reverse();
    while let Some(ev) = events.pop() {
        if events.len().is_multiple_of(1 << 16) {
            events.shrink_to_fit();
        }
        insert(&mut ledger, ev, &mut bad);
    }
    drop_pending(&mut ledger, &mut bad);
    let (at, applied) = (snap.at(), snap.applied());
    let resumed = match ledger.restore(snap) {
        Ok(()) => Some((at, applied)),
        Err(e) => {
            tracing::warn!(reason = %e, "replaying every event: the saved ledger snapshot does not apply");
            None
        }
    };
    ledger.end_load();
    if let Some((_, applied)) = resumed {
        reopened.from_snapshot = applied;
    }
    Ok((ledger, reopened, resumed, bad))
}

/// Reads every stored event in ledger order a window at a time and checks their
/// signatures, handing each window to `ready` until the last, the first error, or
/// the receiver is gone.
fn read_windows(
    store: &Store,
    network: &carnet_protocol::NetworkId,
    ready: std::sync::mpsc::SyncSender<Result<Vec<SignedEvent>, StoreError>>,
) {
    let mut after = None;
    loop {
        let window = store
            .load_events_after(network, after, REPLAY_WINDOW)
            .and_then(|w| verify_loaded(&w.iter().collect::<Vec<_>>()).map(|()| w));
        // Where the next window starts; none after an error, which ends the reading.
        let next = match &window {
            Ok(w) => match w.last() {
                Some(last) => Some((last.lamport(), last.id())),
                None => return,
            },
            Err(_) => None,
        };
        if ready.send(window).is_err() || next.is_none() {
            return;
        }
        after = next;
    }
}

/// Inserts one stored event; one the ledger refuses or drops goes on `bad`.
fn insert(ledger: &mut Ledger, ev: SignedEvent, bad: &mut Vec<ContentId>) {
    let id = ev.id();
    match ledger.insert(ev) {
        Ok(ins) => bad.extend(ins.dropped.into_iter().map(|(id, _)| id)),
        Err(_) => bad.push(id),
    }
}

/// Nothing pending is kept across a restart (older builds stored pending events):
/// peers serve them again once they are complete.
fn drop_pending(ledger: &mut Ledger, bad: &mut Vec<ContentId>) {
    for id in ledger.pending_ids() {
        ledger.remove_pending(&id);
        bad.push(id);
    }
}

/// The order keys (Lamport clock, id) of the events `ledger` holds in memory. Not a
/// method of the ledger: a change to the protocol's code makes every node's snapshot
/// of another build, and its next start a replay from genesis.
fn held_keys(ledger: &Ledger) -> Vec<(u64, ContentId)> {
    ledger
        .held_ids()
        .into_iter()
        .filter_map(|id| ledger.get(&id).map(|ev| (ev.lamport(), id)))
        .collect()
}
