//! The node's core without the network: validate, order, persist, answer queries.
//!
//! The event loop owns one `Engine` and calls it for every event, whether it came from
//! gossip, from sync or from the local API. Keeping it free of sockets lets it be
//! tested directly, like the protocol core it wraps.

mod audit;
pub use audit::Settled;
mod search;
pub use search::search_in;
mod settle;
mod snapshots;
pub use snapshots::{write_snapshot, SavedSnapshot};
mod start;
#[cfg(test)]
mod tests;
mod views;
mod vouching;

use crate::handle::*;
use crate::store::{Store, StoreError};
use carnet_api::*;
use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::ledger::{Inserted, Insertion, Ledger, Outcome, Snapshot};
use carnet_protocol::payload::Payload;
use carnet_protocol::{ContentId, NetworkId, PublicKey, SecretKey, SignedEvent};

pub struct Engine {
    pub(crate) ledger: Ledger,
    pub(crate) store: Store,
    pub(crate) org: Author,
    pub(crate) network: NetworkId,
    /// Listings whose card this node holds (see `holder`).
    pub(crate) held: std::collections::HashSet<ContentId>,
    /// Held listings the ledger does not yet know this org holds: the next Hold names
    /// them (see `holder::holds_due`).
    pub(crate) hold_due: std::collections::BTreeSet<ContentId>,
    /// Purchases this node already sealed a card for since it started.
    pub(crate) delivered: std::collections::HashSet<ContentId>,
    /// Set when events were ordered since deliveries were last looked for.
    pub(crate) delivery_check_due: bool,
    /// Bumped whenever the set of held events changes, so the sync server knows when
    /// its reconciliation index is stale.
    generation: u64,
    /// Events the last saved (or restored) ledger snapshot covers.
    snapshot_events: Option<u64>,
    /// The finalized prefix the store's records end at, as a snapshot: what a
    /// roll-back after a failed write starts from again (see [`Engine::roll_back`]).
    recorded_base: Option<Snapshot>,
    /// Roll-backs that started from `recorded_base`, reading only the events held
    /// in memory, and those that had to insert every event again.
    roll_backs: (u64, u64),
    /// The unsaved batch of a roll back that could not read the store yet (see
    /// `roll_back`): finished before the store takes a write again.
    roll_back_due: Option<std::collections::HashSet<(u64, ContentId)>>,
    /// Events stored by commits not made durable yet (catch-up's, see
    /// [`Engine::ingest_fetched_batch`]): a failed write takes them from the store's
    /// open database, so after one they are checked against the reopened store and
    /// rolled back unless it holds them (`lose_undurable`). Cleared by each durable
    /// commit the engine sees succeed.
    undurable: Vec<(u64, ContentId)>,
    /// Pending events completed or dropped since the event loop last looked.
    completions: Completions,
    /// Ordered events to wait for between snapshots (see [`Engine::snapshot_due`]).
    pub snapshot_min_events: u64,
    /// The highest clock held at the previous checkpoint tick: the next bound, so
    /// that what lies below it had a whole tick to reach every org.
    last_tick_clock: u64,
    /// Checkpoint ticks this org waited for another to open a bound.
    idle_ticks: u64,
    /// Why the last write to the store failed, while it has not succeeded since: the
    /// node is unhealthy and refuses writes until the store takes one again.
    pub(crate) storage_fault: Option<String>,
    /// The network secret dedup keys are keyed by, once this node has it (see `dedup`).
    pub(crate) secret: Option<carnet_protocol::card::NetworkSecret>,
    /// Listed-or-opted-out answers each member got today (see `dedup`).
    pub(crate) dedup_misses: crate::dedup::MissQuota,
    /// Dedup keys of OptOuts: those applied at start and every one stored since,
    /// applied or not. A shown teaser under one is worth a look at the state (see
    /// `erasure`).
    pub(crate) opt_out_keys: std::collections::HashSet<carnet_protocol::Hash32>,
    /// Set when an erasure failed to write: tried again before the next batch.
    erasure_due: bool,
}

/// Default of [`Engine::snapshot_min_events`]: at ~27 µs to verify and apply an event,
/// at most about a second of replay after a crash, for a small ledger.
pub const DEFAULT_SNAPSHOT_MIN_EVENTS: u64 = 50_000;

/// What [`Engine::open`] did to get back to the stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reopened {
    /// Events read from the store: every one, or those held in memory when started
    /// from the records.
    pub events: usize,
    /// The most events held in memory at once during the start, ordered or pending:
    /// every event read, but for a replay, which lets each window's finalized events
    /// go before it reads the next.
    pub most_held: usize,
    /// Events covered by the snapshot resumed from (0 without one).
    pub from_snapshot: u64,
    /// Signatures checked again: those of events no snapshot vouched for.
    pub verified: usize,
    /// Finalized events let out of memory once loaded (read from the store on demand).
    pub released: usize,
    /// Whether the start read only the events held in memory, the store's records
    /// standing for the rest (see [`Ledger::resume`]).
    pub from_records: bool,
    /// Whether, after a replay from genesis, the ledger was started again from the
    /// snapshot it saved and the records, for a state that takes less memory (see
    /// [`Engine::reopen`]); the figures above are the replay's.
    pub started_again: bool,
}

/// Events a batch added, and those the ledger rejected with the reason.
pub type BatchIngested = (Vec<Ingested>, Vec<(ContentId, IngestError)>);

/// What became of pending events while others were ingested: see
/// [`Engine::take_completions`].
#[derive(Debug, Clone, Default)]
pub struct Completions {
    /// Ordered and stored: their causal past arrived and they passed the checks.
    pub completed: Vec<SignedEvent>,
    /// Their causal past arrived and they failed the ordering checks: dropped.
    pub dropped: Vec<(ContentId, IngestError)>,
}

/// What ingesting one event did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    pub event: SignedEvent,
    pub result: Submitted,
    /// True when the event was new to this node (so it is worth gossiping).
    pub new: bool,
}

/// Has the allocator give back to the system the memory it holds free. A start reads
/// every event and lets the finalized ones go again, which leaves hundreds of MiB
/// free but held by glibc's malloc (1,964 against 1,212 MiB of RSS at a million
/// events, docs/benchmarks.md); nothing else returns it. glibc only.
fn give_back_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and trims glibc's own free lists; it takes no
    // pointer and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Lets what `ledger` finalized out of memory, once `store` holds its records; a
/// failed write leaves it in memory, to go after the next write.
fn release_finalized(ledger: &mut Ledger, store: &Store) -> usize {
    let released = ledger.releasable();
    if released.is_empty() {
        return 0;
    }
    match store.put_released(&released) {
        Ok(()) => ledger.release(&released),
        Err(e) => {
            tracing::warn!(error = %e, "finalized events stay in memory: their records could not be written");
            0
        }
    }
}

fn hex_id(id: &ContentId) -> String {
    id.to_hex()
}

impl Engine {
    /// Opens the stored ledger. With a snapshot of the finalized prefix the store's
    /// records hold, only the events held in memory are read ([`Ledger::resume`]);
    /// with another snapshot, every stored event is loaded into a fresh ledger,
    /// resuming the state from the snapshot where it still holds (see
    /// [`Ledger::restore`]); with none that applies, every event is replayed from
    /// genesis a window at a time (see `start.rs`). Signatures are checked again for
    /// the events the snapshot does not vouch for: its digest binds the ids and
    /// signatures of those before its position, which this node checked when it
    /// first accepted them, and the records bind the rest.
    pub fn open(
        store: Store,
        genesis: carnet_protocol::Genesis,
        org_key: SecretKey,
    ) -> Result<Self, StoreError> {
        Ok(Self::reopen(store, genesis, org_key)?.0)
    }

    /// [`Engine::open`], also saying how the state was rebuilt.
    ///
    /// After a replay from genesis that finalized a claim, the state is saved as a
    /// snapshot and the ledger started again from it and the records, as the next
    /// start would: the fold leaves the state's maps two thirds full, a snapshot
    /// decodes them full (a node at 2M events held 1,249 MiB after a replay, 938 MiB
    /// after a start from the snapshot, docs/benchmarks.md). Some seconds at a
    /// million events, once per upgrade. Should the save fail, the replayed ledger is
    /// kept; should the store not open again, or that start fail, the start fails with
    /// its cause.
    pub fn reopen(
        store: Store,
        genesis: carnet_protocol::Genesis,
        org_key: SecretKey,
    ) -> Result<(Self, Reopened), StoreError> {
        let (mut engine, reopened) = Self::reopen_once(store, genesis.clone(), org_key.clone())?;
        let replayed = reopened.from_snapshot == 0 && !reopened.from_records;
        if !replayed || engine.ledger.finals().is_empty() {
            return Ok((engine, reopened));
        }
        match engine.save_snapshot() {
            Ok(Some(_)) => {}
            Ok(None) => return Ok((engine, reopened)),
            Err(e) => {
                tracing::warn!(error = %e, "keeping the replayed ledger: its snapshot could not be saved");
                return Ok((engine, reopened));
            }
        }
        let store = engine.store();
        drop(engine);
        // redb's cache was filled page by page through the replay, its pages spread
        // over the heap, where each keeps what lies around it resident: closed and
        // opened again, the start begins from what a fresh process would hold.
        // The replayed ledger is gone by now: a failure here fails the start, with
        // its own cause rather than the closed store's "being reopened".
        store.reopen()?;
        give_back_free_memory();
        let (engine, again) = Self::reopen_once(store, genesis, org_key)?;
        if !again.from_records {
            tracing::warn!(
                "the start after a replay read every event again: its snapshot did not apply"
            );
        }
        Ok((
            engine,
            Reopened {
                verified: reopened.verified + again.verified,
                started_again: again.from_records,
                ..reopened
            },
        ))
    }

    /// One start: [`Engine::reopen`] but for the start again after a replay.
    fn reopen_once(
        store: Store,
        genesis: carnet_protocol::Genesis,
        org_key: SecretKey,
    ) -> Result<(Self, Reopened), StoreError> {
        let network = genesis.network_id();
        let (mut ledger, mut reopened, resumed, bad) = start::start(&store, genesis)?;
        // Events stored by an older build that are invalid or incomplete here.
        if !bad.is_empty() {
            tracing::warn!(
                count = bad.len(),
                "dropping stored events that are incomplete or fail the ordering checks"
            );
            store.remove_events(&bad)?;
        }
        // Every ordered event is stored: the finalized ones leave memory, the twins
        // of an equivocation ordered as the records say.
        ledger.set_archive(std::sync::Arc::new(store.clone()));
        ledger.follow_records();
        reopened.released += release_finalized(&mut ledger, &store);
        let org_pub = org_key.public();
        give_back_free_memory();
        let head = match ledger.chain_head(&org_pub) {
            Some((seq, id)) => ledger.fetch(&id)?.map(|ev| AuthorHead {
                seq,
                id,
                lamport: ev.lamport(),
                timestamp_ms: ev.body().timestamp_ms,
            }),
            None => None,
        };
        let held: std::collections::HashSet<ContentId> = store.card_ids()?.into_iter().collect();
        let engine = Engine {
            hold_due: held.iter().copied().collect(),
            held,
            delivered: Default::default(),
            // Purchases may have arrived while the node was down (or before it could
            // deliver): look once at start.
            delivery_check_due: true,
            generation: 0,
            last_tick_clock: 0,
            idle_ticks: 0,
            storage_fault: None,
            secret: None,
            dedup_misses: Default::default(),
            opt_out_keys: Default::default(),
            erasure_due: false,
            snapshot_events: resumed.map(|(_, applied)| applied),
            recorded_base: None,
            roll_backs: (0, 0),
            roll_back_due: None,
            undurable: Vec::new(),
            completions: Completions::default(),
            snapshot_min_events: DEFAULT_SNAPSHOT_MIN_EVENTS,
            org: Author::resume(org_key, network, head),
            ledger,
            store,
            network,
        };
        let mut engine = engine;
        engine.keep_recorded_base();
        // A node may have stopped between storing an event and erasing it.
        engine.erase_all_due()?;
        Ok((engine, reopened))
    }

    /// A handle on the store, for work off the event loop.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Settles the store if it was written since the last time (see
    /// [`Store::settle`]). Not while the store refuses writes; a settle that fails
    /// makes the node unhealthy as any failed write does (redb takes no write after
    /// it until reopened, which the loop's probe does).
    pub fn settle_store(&mut self) {
        if self.storage_fault.is_some() {
            return;
        }
        let settled = self.store.settle();
        if self.written(settled).is_ok() {
            // Durable now, with everything committed before.
            self.undurable.clear();
        }
    }

    pub fn pending_len(&self) -> usize {
        self.ledger.pending_len()
    }

    /// Ordered events held in memory: the tail, checkpoints and the events that
    /// introduce keys; other finalized events are read from the store when asked for.
    pub fn events_in_memory(&self) -> usize {
        self.ledger.held_len()
    }

    pub fn network(&self) -> NetworkId {
        self.network
    }

    pub fn org(&self) -> PublicKey {
        self.org.public()
    }

    pub fn ledger(&mut self) -> &mut Ledger {
        &mut self.ledger
    }

    /// Validates, orders and persists one event given as wire bytes.
    pub fn ingest(&mut self, bytes: &[u8]) -> Result<Ingested, IngestError> {
        let ev = SignedEvent::decode(bytes, &self.network).map_err(IngestError::Invalid)?;
        self.ingest_event(ev)
    }

    /// Validates, orders and persists many submitted events with one write transaction
    /// (one fsync for all, where one each would bound a busy API by the disk), and
    /// answers each in the order given, with what the rules made of it.
    /// Events at a chain position this node already holds are refused
    /// ([`Engine::check_position`]).
    pub fn ingest_submitted(&mut self, wires: &[Vec<u8>]) -> Vec<Result<Ingested, IngestError>> {
        let decoded = crate::decode::decode_all(wires, &self.network);
        self.ingest_decoded(decoded)
    }

    /// [`Engine::ingest_submitted`] of submissions already decoded and verified, in
    /// the order they came (the event loop verifies them away from itself).
    pub fn ingest_decoded(
        &mut self,
        decoded: Vec<Result<SignedEvent, carnet_protocol::event::EventError>>,
    ) -> Vec<Result<Ingested, IngestError>> {
        let mut taken = std::collections::HashMap::new();
        let decoded = decoded
            .into_iter()
            .map(|r| {
                let ev = r.map_err(IngestError::Invalid)?;
                if !self.own_member(&ev.author()) {
                    return Ok(ev);
                }
                self.check_position(&ev)?;
                // Two submissions at one position in one batch: the first is taken.
                match taken.entry((ev.author(), ev.seq())) {
                    std::collections::hash_map::Entry::Occupied(o) if *o.get() != ev.id() => {
                        Err(IngestError::ChainMoved {
                            seq: ev.seq(),
                            held: *o.get(),
                        })
                    }
                    e => {
                        e.or_insert(ev.id());
                        Ok(ev)
                    }
                }
            })
            .collect();
        self.ingest_answered(decoded)
    }

    /// Whether `author` is (or was) a member of this org.
    fn own_member(&mut self, author: &PublicKey) -> bool {
        let org = self.org.public();
        self.ledger
            .state()
            .accounts
            .get(author)
            .is_some_and(|a| a.org() == Some(org))
    }

    /// Refuses an event of a member of this org, submitted to this node's API, at a
    /// position of the member's chain where the node already holds another event
    /// (docs/web.md, "Signing for members"). From gossip, or from another org's
    /// member, such a pair is an equivocation and is ordered, to be judged; from a
    /// member to its own org's node it is the member's two signers racing (the CLI and
    /// the web app, both of which talk only to it), and refusing the second keeps the
    /// member from being excluded for it.
    pub fn check_position(&mut self, ev: &SignedEvent) -> Result<(), IngestError> {
        if !self.own_member(&ev.author()) {
            return Ok(());
        }
        match self.ledger.held_at(&ev.author(), ev.seq()) {
            Some(held) if held != ev.id() => Err(IngestError::ChainMoved {
                seq: ev.seq(),
                held,
            }),
            _ => Ok(()),
        }
    }

    /// Orders and persists an event that already passed [`SignedEvent::decode`], and
    /// says what the rules made of it.
    pub fn ingest_event(&mut self, ev: SignedEvent) -> Result<Ingested, IngestError> {
        self.ingest_answered(vec![Ok(ev)])
            .pop()
            .expect("ingest_answered answers every input")
    }

    /// [`Engine::ingest_batch`] for submitters who each want an answer: one result per
    /// input, in order, with the outcome of every ordered event (one fold for all).
    fn ingest_answered(
        &mut self,
        decoded: Vec<Result<SignedEvent, IngestError>>,
    ) -> Vec<Result<Ingested, IngestError>> {
        let valid: Vec<SignedEvent> = decoded.iter().filter_map(|r| r.clone().ok()).collect();
        let (accepted, rejected) = match self.ingest_batch(valid) {
            Ok(r) => r,
            Err(e) => return decoded.into_iter().map(|_| Err(e.clone())).collect(),
        };
        let mut accepted: std::collections::HashMap<ContentId, Ingested> =
            accepted.into_iter().map(|i| (i.event.id(), i)).collect();
        let rejected: std::collections::HashMap<ContentId, IngestError> =
            rejected.into_iter().collect();
        if accepted
            .values()
            .any(|i| matches!(i.result, Submitted::Ordered { .. }))
        {
            let state = self.ledger.state();
            for (id, i) in accepted.iter_mut() {
                if let Submitted::Ordered { outcome, .. } = &mut i.result {
                    *outcome = match state.outcome(id) {
                        Outcome::Applied => "applied".to_string(),
                        Outcome::Void(r) => format!("void:{r:?}"),
                    };
                }
            }
        }
        let mut answered = std::collections::HashSet::new();
        decoded
            .into_iter()
            .map(|r| {
                let ev = r?;
                let id = ev.id();
                if let Some(e) = rejected.get(&id) {
                    return Err(e.clone());
                }
                match accepted.get(&id) {
                    // The same event twice in one batch: new only the first time.
                    Some(i) if answered.insert(id) => Ok(i.clone()),
                    Some(i) => Ok(Ingested {
                        new: false,
                        ..i.clone()
                    }),
                    None => Ok(Ingested {
                        event: ev,
                        result: Submitted::Duplicate { id: hex_id(&id) },
                        new: false,
                    }),
                }
            })
            .collect()
    }

    /// Orders and persists many decoded events with one write transaction: the path
    /// for catch-up, where a fetch brings up to 256 events at once. Events the ledger
    /// rejects are returned with the reason and not stored; duplicates are left out.
    /// Ordered events report the outcome "ordered": folding the state per event would
    /// cost more than the batch saves.
    pub fn ingest_batch(&mut self, events: Vec<SignedEvent>) -> Result<BatchIngested, IngestError> {
        self.ingest_batch_as(events, true)
    }

    /// [`Engine::ingest_batch`] for events fetched by catch-up, stored without a
    /// durable commit ([`Store::put_events_undurable`]): the durable commit was most
    /// of what ordering and storing a fetch cost, and these events can be fetched
    /// again. The event loop settles the store once a second while it writes, and any
    /// durable commit (a submission, a record) makes them durable too; a process killed
    /// before loses them from memory and disk alike. Nothing this node signs can get
    /// ahead of them: its own events are committed durably, after them.
    pub fn ingest_fetched_batch(
        &mut self,
        events: Vec<SignedEvent>,
    ) -> Result<BatchIngested, IngestError> {
        self.ingest_batch_as(events, false)
    }

    fn ingest_batch_as(
        &mut self,
        mut events: Vec<SignedEvent>,
        durable: bool,
    ) -> Result<BatchIngested, IngestError> {
        // After a failed write nothing is ordered until the store takes writes again:
        // memory must never run ahead of the disk.
        self.writable()?;
        self.retry_erasure().map_err(|e| self.storage_failed(e))?;
        // What the batches before ordered is stored, and passed on by now: the ledger
        // keeps their bodies, the store their bytes.
        self.ledger.shed_wire_bytes();
        // Clock order, so most events find their dependencies already present.
        events.sort_by_key(|e| (e.lamport(), e.id()));
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        // Ordered now, so stored now: the new events and the pending ones they completed
        // (`completed_now`; the new ones are taken from `accepted` after the loop, not
        // cloned a third time). A pending event is held in memory only (see `pending`):
        // it is stored, and passed on, once its causal past is here and it passed the
        // ordering checks.
        let mut completed_now = Vec::new();
        for ev in events {
            let id = ev.id();
            match self.ledger.insert(ev.clone()) {
                Ok(Insertion {
                    inserted: Inserted::Duplicate,
                    ..
                }) => {}
                Ok(Insertion {
                    inserted,
                    completed,
                    dropped,
                }) => {
                    let result = match inserted {
                        Inserted::Pending(missing) => Submitted::Pending {
                            id: hex_id(&id),
                            missing: missing.iter().map(hex_id).collect(),
                        },
                        _ => Submitted::Ordered {
                            id: hex_id(&id),
                            outcome: "ordered".into(),
                        },
                    };
                    // Completed just now, from pending: held in memory.
                    for c in completed {
                        if let Some(e) = self.ledger.get(&c) {
                            let e = e.clone();
                            completed_now.push(e.clone());
                            self.completions.completed.push(e);
                        }
                    }
                    self.completions.dropped.extend(
                        dropped
                            .into_iter()
                            .map(|(id, e)| (id, IngestError::Rejected(e))),
                    );
                    accepted.push(Ingested {
                        event: ev,
                        result,
                        new: true,
                    });
                }
                Err(e) => rejected.push((id, IngestError::Rejected(e))),
            }
        }
        let to_store: Vec<&SignedEvent> = accepted
            .iter()
            .filter(|i| !matches!(i.result, Submitted::Pending { .. }))
            .map(|i| &i.event)
            .chain(&completed_now)
            .collect();
        // A lookup of a released event that failed was taken for "not there": what
        // this batch ordered may be wrong, so none of it stands, as when the write
        // fails. (Every ordered event of the batch is in `to_store`.)
        let failed = match self.ledger.take_archive_error() {
            Some(e) => Some(StoreError::Unreadable(e.to_string())),
            None if durable => self.store.put_events(&to_store).err(),
            None => self.store.put_events_undurable(&to_store).err(),
        };
        if let Some(e) = failed {
            let unsaved: std::collections::HashSet<(u64, ContentId)> =
                to_store.iter().map(|e| (e.lamport(), e.id())).collect();
            self.roll_back(&unsaved);
            return Err(self.storage_failed(e));
        }
        if durable {
            self.undurable.clear();
        } else {
            self.undurable
                .extend(to_store.iter().map(|e| (e.lamport(), e.id())));
        }
        // The events are stored and stand; a failed erasure makes the node unhealthy
        // and is retried before anything else is written (`retry_erasure`).
        let erased = self.erase_after(&to_store);
        if self.written(erased).is_err() {
            self.erasure_due = true;
        }
        // Stored: what this batch finalized may leave memory.
        release_finalized(&mut self.ledger, &self.store);
        self.keep_recorded_base();
        // Not all at the next read (`Ledger::fold_ahead`).
        self.ledger.fold_ahead();
        self.delivery_check_due |= !to_store.is_empty();
        if !to_store.is_empty() {
            self.generation += 1;
        }
        Ok((accepted, rejected))
    }

    /// Err while the store refuses writes: tries to reopen it first (redb takes no
    /// write after a failed one until reopened), so writes resume by themselves once
    /// the disk has room again.
    pub(crate) fn writable(&mut self) -> Result<(), IngestError> {
        let Some(fault) = self.storage_fault.clone() else {
            return Ok(());
        };
        match self.store.reopen().and_then(|()| self.retry_roll_back()) {
            Ok(()) => Ok(()),
            Err(e) => Err(IngestError::Storage(format!(
                "the event store refuses writes since: {fault} (reopening: {e}); \
                 nothing was stored, try again once the disk has room"
            ))),
        }
    }

    /// Passes on the result of a write to the store beside the events (a held card,
    /// evidence, their records): a failed one makes the node unhealthy as a failed
    /// event write does, so that it refuses writes and probes the store until it takes
    /// one again. A refusal of the input itself (evidence too large) is not a fault.
    pub(crate) fn written<T>(&mut self, r: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &r {
            if !matches!(e, StoreError::EvidenceTooLarge(_)) {
                self.lose_undurable();
                let msg = e.to_string();
                tracing::error!(error = %msg, "a write to the store failed; writes are refused until the store takes one again");
                self.storage_fault = Some(msg);
            }
        }
        r
    }

    /// Runs an erasure that failed to write before, if any: the write that must
    /// succeed before any other.
    fn retry_erasure(&mut self) -> Result<(), StoreError> {
        if self.erasure_due {
            self.erase_all_due()?;
            self.erasure_due = false;
        }
        Ok(())
    }

    /// Records a failed write: the node is unhealthy until one succeeds.
    fn storage_failed(&mut self, e: StoreError) -> IngestError {
        self.lose_undurable();
        let msg = e.to_string();
        tracing::error!(error = %msg, "a write to the event store failed; nothing of it was kept, and writes are refused until the store takes one again");
        self.storage_fault = Some(msg.clone());
        IngestError::Storage(format!("{msg}; nothing was stored"))
    }

    /// Called on the loop's tick while unhealthy: reopens the store and tries a small
    /// write, so the node is healthy again as soon as the disk has room, even if no
    /// event arrives. True if it is healthy now.
    pub fn probe_storage(&mut self) -> bool {
        if self.storage_fault.is_none() {
            return true;
        }
        let probe = self
            .store
            .reopen()
            .and_then(|()| {
                self.store
                    .put_meta("health probe", &carnet_api::now_ms().to_le_bytes())
            })
            .and_then(|()| self.retry_roll_back())
            .and_then(|()| self.retry_erasure());
        match probe {
            Ok(()) => {
                tracing::info!("the event store takes writes again");
                self.storage_fault = None;
                true
            }
            Err(e) => {
                tracing::debug!(error = %e, "the event store still refuses writes");
                false
            }
        }
    }

    /// Takes the ledger back to what the store holds after a failed write (or a
    /// failed read) of a batch. The records, the events held and the finalized
    /// prefix they end at were written before the batch, so the ledger starts from
    /// them as a node's start does, reading only the events held in memory; failing
    /// that, every ordered event but the unsaved ones is inserted again, a replay
    /// from genesis (minutes at ten million events).
    /// `unsaved` are the events' order keys (Lamport clock, id).
    fn roll_back(&mut self, unsaved: &std::collections::HashSet<(u64, ContentId)>) {
        let genesis = self.ledger.genesis().clone();
        let resumed = self.recorded_base.clone().and_then(|snap| {
            match start::resume_from_records(&self.store, &genesis, snap, || {
                self.store.order_items()
            }) {
                Ok(Some((ledger, _, _, bad))) if bad.is_empty() => Some(ledger),
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(error = %e, "rolling back by inserting every event: the store's records could not be read");
                    None
                }
            }
        });
        let ledger = match resumed {
            Some(ledger) => {
                self.roll_backs.0 += 1;
                ledger
            }
            None => match self.rebuild_without(&unsaved.iter().map(|(_, id)| *id).collect()) {
                Ok(ledger) => {
                    self.roll_backs.1 += 1;
                    ledger
                }
                // The released events cannot be read back either (as after a failed
                // write, until the store is opened again): a ledger without them would
                // be another state. This one stays, the batch in it, until the store
                // can be read (`retry_roll_back`); writes are refused meanwhile.
                Err(e) => {
                    tracing::error!(error = %e, "cannot roll the ledger back yet: the store's events cannot be read; tried again before the next write");
                    self.roll_back_due = Some(unsaved.clone());
                    return;
                }
            },
        };
        self.roll_back_due = None;
        self.install(ledger);
    }

    /// After a failed write, the events stored without a durable commit may be gone
    /// from the store once it is reopened (redb writes nothing more after a failed
    /// write): they are checked against it then, before it takes a write again
    /// (`retry_roll_back`), and those it lost leave memory too.
    fn lose_undurable(&mut self) {
        if self.undurable.is_empty() {
            return;
        }
        self.roll_back_due
            .get_or_insert_with(Default::default)
            .extend(self.undurable.drain(..));
    }

    /// Finishes a roll back that could not read the store before, or that waited for
    /// it to be reopened: Err while it still cannot. Events the store holds now were
    /// saved after all and stay.
    fn retry_roll_back(&mut self) -> Result<(), StoreError> {
        if let Some(mut unsaved) = self.roll_back_due.take() {
            unsaved
                .retain(|(lamport, id)| !matches!(self.store.has_event_at(*lamport, id), Ok(true)));
            if unsaved.is_empty() {
                return Ok(());
            }
            self.roll_back(&unsaved);
            if self.roll_back_due.is_some() {
                return Err(StoreError::Unreadable(
                    "the ledger could not be rolled back to the store".into(),
                ));
            }
        }
        Ok(())
    }

    /// Every ordered event but `unsaved`, inserted into a new ledger: the events of a
    /// batch whose write failed were already ordered in memory, and the ledger cannot
    /// take events out. An event that cannot be read back fails it whole.
    fn rebuild_without(
        &self,
        unsaved: &std::collections::HashSet<ContentId>,
    ) -> Result<Ledger, carnet_protocol::ledger::ArchiveError> {
        let mut kept = Vec::new();
        for (_, id) in self.ledger.all_items() {
            if unsaved.contains(&id) {
                continue;
            }
            if let Some(e) = self.ledger.fetch(&id)? {
                kept.push(e.into_owned());
            }
        }
        let mut ledger = Ledger::new(self.ledger.genesis().clone());
        for ev in kept {
            if let Err(e) = ledger.insert(ev) {
                tracing::error!(error = %e, "an event held before a failed write no longer applies");
            }
        }
        Ok(ledger)
    }

    /// Makes `ledger`, rebuilt from the store, the engine's.
    fn install(&mut self, mut ledger: Ledger) {
        ledger.set_archive(std::sync::Arc::new(self.store.clone()));
        ledger.follow_records();
        release_finalized(&mut ledger, &self.store);
        self.ledger = ledger;
        self.keep_recorded_base();
        self.completions = Completions::default();
        self.delivery_check_due = true;
        self.generation += 1;
    }

    /// Keeps the ledger's finalized prefix as the one to roll back to, once the
    /// store's records end at it (their digests agree); until then the one before
    /// stays. One read of the store per finalization.
    fn keep_recorded_base(&mut self) {
        let epochs = self.ledger.finals().len() as u64;
        let kept = self.recorded_base.as_ref().map(|s| s.finalized_digest().0);
        if kept == Some(epochs) {
            return;
        }
        let Some(snap) = self.ledger.finalized_snapshot() else {
            return;
        };
        if let Ok(Some(recorded)) = self.store.finalized_digest_at(epochs) {
            if recorded == snap.finalized_digest().1 {
                self.recorded_base = Some(snap);
            }
        }
    }

    /// Roll-backs after a failed write since the engine opened: (those that started
    /// from the store's records, reading only the events held in memory; those that
    /// inserted every event again).
    pub fn roll_backs(&self) -> (u64, u64) {
        self.roll_backs
    }

    /// Pending events that became ordered (and were stored) or were dropped since the
    /// last call: the event loop passes the first on and counts the second against
    /// whoever sent them.
    pub fn take_completions(&mut self) -> Completions {
        std::mem::take(&mut self.completions)
    }

    /// What the pending event `id` waits for (as [`Engine::waits_for`]); None if no
    /// such event is pending.
    pub fn pending_waits_for(&self, id: &ContentId) -> Option<Vec<ContentId>> {
        if !self.ledger.is_pending(id) {
            return None;
        }
        self.ledger.get(id).map(|ev| self.waits_for(ev))
    }

    /// What `ev` waits for, if it is pending: the ids to fetch for it.
    pub fn waits_for(&self, ev: &SignedEvent) -> Vec<ContentId> {
        let mut missing = self.ledger.missing(ev);
        // A pending reference is here already, waiting itself: what it waits for was
        // asked for when it came.
        missing.retain(|id| !self.ledger.is_pending(id));
        missing
    }

    /// Gives up on pending events (too old, or their sender sent too many). They were
    /// never stored; the ids that were not pending are ignored.
    pub fn drop_pending(&mut self, ids: &[ContentId]) -> usize {
        ids.iter()
            .filter(|id| self.ledger.remove_pending(id).is_some())
            .count()
    }
}
