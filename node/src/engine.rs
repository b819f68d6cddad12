//! The node's core without the network: validate, order, persist, answer queries.
//!
//! The event loop owns one `Engine` and calls it for every event, whether it came from
//! gossip, from sync or from the local API. Keeping it free of sockets lets it be
//! tested directly, like the protocol core it wraps.

use crate::handle::*;
use crate::store::{verify_loaded, Store, StoreError};
use carnet_api::*;
use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::ledger::{Inserted, Insertion, Ledger, Outcome, Snapshot};
use carnet_protocol::payload::Payload;
use carnet_protocol::{ContentId, NetworkId, PublicKey, SecretKey, SignedEvent};

pub struct Engine {
    pub(crate) ledger: Ledger,
    /// Purchase id → Deliver event ids held for it, so a buyer's fetch is a lookup.
    /// Every Deliver is indexed (the first in ledger order is the one that paid).
    deliveries: std::collections::HashMap<ContentId, Vec<ContentId>>,
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
    /// Set when teasers were erased since the last snapshot: the saved one may still
    /// hold the listing, so another is due at once.
    erased_since_snapshot: bool,
}

/// Default of [`Engine::snapshot_min_events`]: at ~27 µs to verify and apply an event,
/// at most about a second of replay after a crash, for a small ledger.
pub const DEFAULT_SNAPSHOT_MIN_EVENTS: u64 = 50_000;

/// Encodes `snap` and replaces the store's snapshot with it.
pub fn write_snapshot(store: &Store, snap: &Snapshot) -> Result<SavedSnapshot, StoreError> {
    let bytes = snap
        .encode()
        .map_err(|e| StoreError::Snapshot(e.to_string()))?;
    store.put_snapshot(&bytes)?;
    Ok(SavedSnapshot {
        events: snap.applied(),
        bytes: bytes.len(),
    })
}

/// What [`Engine::open`] did to get back to the stored state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reopened {
    /// Events loaded from the store.
    pub events: usize,
    /// Events covered by the snapshot resumed from (0 without one).
    pub from_snapshot: u64,
    /// Signatures checked again: those of events no snapshot vouched for.
    pub verified: usize,
}

/// What [`Engine::save_snapshot`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SavedSnapshot {
    pub events: u64,
    pub bytes: usize,
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

fn index_delivery(
    index: &mut std::collections::HashMap<ContentId, Vec<ContentId>>,
    ev: &SignedEvent,
) {
    if let Payload::Deliver(d) = ev.payload() {
        let ids = index.entry(d.purchase_id).or_default();
        if !ids.contains(&ev.id()) {
            ids.push(ev.id());
        }
    }
}

fn hex_id(id: &ContentId) -> String {
    id.to_hex()
}

impl Engine {
    /// Loads every stored event into a fresh ledger, resuming the state from the saved
    /// snapshot where it still holds (see [`Ledger::restore`]). Signatures are checked
    /// again for the events the snapshot does not vouch for: its digest binds the ids
    /// and signatures of those before its position, which this node checked when it
    /// first accepted them.
    pub fn open(
        store: Store,
        genesis: carnet_protocol::Genesis,
        org_key: SecretKey,
    ) -> Result<Self, StoreError> {
        Ok(Self::reopen(store, genesis, org_key)?.0)
    }

    /// [`Engine::open`], also saying how the state was rebuilt.
    pub fn reopen(
        store: Store,
        genesis: carnet_protocol::Genesis,
        org_key: SecretKey,
    ) -> Result<(Self, Reopened), StoreError> {
        let network = genesis.network_id();
        let mut ledger = Ledger::new(genesis);
        let events = store.load_events(&network)?;
        let mut reopened = Reopened {
            events: events.len(),
            ..Reopened::default()
        };
        let mut bad = Vec::new();
        let mut deliveries = std::collections::HashMap::new();
        for ev in events {
            let id = ev.id();
            // Indexed before insertion; an entry whose event proves bad is never served,
            // since lookups go through the ledger.
            index_delivery(&mut deliveries, &ev);
            match ledger.insert(ev) {
                Ok(ins) => bad.extend(ins.dropped.into_iter().map(|(id, _)| id)),
                Err(_) => bad.push(id),
            }
        }
        // Nothing pending is kept across a restart (older builds stored pending
        // events): peers serve them again once they are complete.
        for id in ledger.pending_ids() {
            ledger.remove_pending(&id);
            bad.push(id);
        }
        let resumed = match store.get_snapshot()? {
            None => None,
            Some(bytes) => {
                let snap = Snapshot::decode(&bytes, &network).and_then(|snap| {
                    let (at, applied) = (snap.at(), snap.applied());
                    ledger.restore(snap).map(|()| (at, applied))
                });
                match snap {
                    Ok(r) => Some(r),
                    Err(e) => {
                        tracing::warn!(reason = %e, "replaying every event: the saved ledger snapshot does not apply");
                        None
                    }
                }
            }
        };
        if let Some((_, applied)) = resumed {
            reopened.from_snapshot = applied;
        }
        // Every event the ledger holds but those the snapshot covers.
        let ids = match resumed {
            Some((at, _)) => ledger.ids_after(at),
            None => ledger.all_items().into_iter().map(|k| k.1).collect(),
        };
        let unvouched: Vec<&SignedEvent> = ids.iter().filter_map(|i| ledger.get(i)).collect();
        verify_loaded(&unvouched)?;
        reopened.verified = unvouched.len();
        // Events stored by an older build that are invalid or incomplete here.
        if !bad.is_empty() {
            tracing::warn!(
                count = bad.len(),
                "dropping stored events that are incomplete or fail the ordering checks"
            );
            store.remove_events(&bad)?;
        }
        let org_pub = org_key.public();
        let head = ledger.chain_head(&org_pub).and_then(|(seq, id)| {
            let ev = ledger.get(&id)?;
            Some(AuthorHead {
                seq,
                id,
                lamport: ev.lamport(),
                timestamp_ms: ev.body().timestamp_ms,
            })
        });
        let held: std::collections::HashSet<ContentId> = store.card_ids()?.into_iter().collect();
        let engine = Engine {
            deliveries,
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
            erased_since_snapshot: false,
            snapshot_events: resumed.map(|(_, applied)| applied),
            completions: Completions::default(),
            snapshot_min_events: DEFAULT_SNAPSHOT_MIN_EVENTS,
            org: Author::resume(org_key, network, head),
            ledger,
            store,
            network,
        };
        let mut engine = engine;
        // A node may have stopped between storing an event and erasing it.
        engine.erase_all_due()?;
        Ok((engine, reopened))
    }

    /// Whether enough events were ordered since the last snapshot to save another: at
    /// least [`Engine::snapshot_min_events`], and at least a quarter of the ledger, so
    /// that a crash replays at most a fifth of it while the bytes written for
    /// snapshots stay within a few times the final one.
    pub fn snapshot_due(&self) -> bool {
        if self.erased_since_snapshot {
            return true;
        }
        let last = self.snapshot_events.unwrap_or(0);
        let since = (self.ledger.len() as u64).saturating_sub(last);
        since > 0 && since >= self.snapshot_min_events.max(last / 4)
    }

    /// Saves the ledger state as the store's snapshot, unless the saved one is already
    /// of every ordered event. The snapshot is a cache: failing to save one loses
    /// nothing but start-up time.
    pub fn save_snapshot(&mut self) -> Result<Option<SavedSnapshot>, StoreError> {
        let Some(snap) = self.snapshot_to_save() else {
            return Ok(None);
        };
        let saved = write_snapshot(&self.store, &snap)?;
        self.snapshot_saved(saved.events);
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
        let snap = self.ledger.snapshot()?;
        (self.snapshot_events != Some(snap.applied())).then_some(snap)
    }

    /// Records that a snapshot of `events` events was saved.
    pub fn snapshot_saved(&mut self, events: u64) {
        self.snapshot_events = Some(events);
        self.erased_since_snapshot = false;
    }

    /// Makes a snapshot due now, even of events already covered: teasers were
    /// erased, and the saved snapshot may still hold one of them.
    pub(crate) fn snapshot_after_erasure(&mut self) {
        self.snapshot_events = None;
        self.erased_since_snapshot = true;
    }

    /// A handle on the store, for work off the event loop.
    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// Events the last saved or restored snapshot covers.
    pub fn snapshot_events(&self) -> Option<u64> {
        self.snapshot_events
    }

    pub fn pending_len(&self) -> usize {
        self.ledger.pending_len()
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
    pub fn ingest_submitted(&mut self, wires: &[Vec<u8>]) -> Vec<Result<Ingested, IngestError>> {
        let decoded = wires
            .iter()
            .map(|b| SignedEvent::decode(b, &self.network).map_err(IngestError::Invalid))
            .collect();
        self.ingest_answered(decoded)
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
    pub fn ingest_batch(
        &mut self,
        mut events: Vec<SignedEvent>,
    ) -> Result<BatchIngested, IngestError> {
        // After a failed write nothing is ordered until the store takes writes again:
        // memory must never run ahead of the disk.
        self.writable()?;
        self.retry_erasure().map_err(|e| self.storage_failed(e))?;
        // Clock order, so most events find their dependencies already present.
        events.sort_by_key(|e| (e.lamport(), e.id()));
        let mut accepted = Vec::new();
        let mut rejected = Vec::new();
        // Ordered now, so stored now: the new events and the pending ones they completed.
        // A pending event is held in memory only (see `pending`): it is stored, and
        // passed on, once its causal past is here and it passed the ordering checks.
        let mut to_store = Vec::new();
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
                        _ => {
                            to_store.push(ev.clone());
                            Submitted::Ordered {
                                id: hex_id(&id),
                                outcome: "ordered".into(),
                            }
                        }
                    };
                    for c in completed {
                        if let Some(e) = self.ledger.get(&c) {
                            to_store.push(e.clone());
                            self.completions.completed.push(e.clone());
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
        if let Err(e) = self.store.put_events(&to_store) {
            let unsaved: std::collections::HashSet<ContentId> =
                to_store.iter().map(|e| e.id()).collect();
            self.roll_back(&unsaved);
            return Err(self.storage_failed(e));
        }
        for ev in &to_store {
            index_delivery(&mut self.deliveries, ev);
        }
        // The events are stored and stand; a failed erasure makes the node unhealthy
        // and is retried before anything else is written (`retry_erasure`).
        let erased = self.erase_after(&to_store);
        if self.written(erased).is_err() {
            self.erasure_due = true;
        }
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
        match self.store.reopen() {
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

    /// The ledger rebuilt without `unsaved`: the events of a batch whose write failed
    /// were already ordered in memory, and the ledger cannot take events out, so it is
    /// replayed from the events that are on disk (the rest of memory). Costs a replay
    /// (about 30 s at a million events), on a failed write only.
    fn roll_back(&mut self, unsaved: &std::collections::HashSet<ContentId>) {
        let kept: Vec<SignedEvent> = self
            .ledger
            .all_items()
            .into_iter()
            .filter(|(_, id)| !unsaved.contains(id))
            .filter_map(|(_, id)| self.ledger.get(&id).cloned())
            .collect();
        let mut ledger = Ledger::new(self.ledger.genesis().clone());
        let mut deliveries = std::collections::HashMap::new();
        for ev in kept {
            index_delivery(&mut deliveries, &ev);
            if let Err(e) = ledger.insert(ev) {
                tracing::error!(error = %e, "an event held before a failed write no longer applies");
            }
        }
        self.ledger = ledger;
        self.deliveries = deliveries;
        self.completions = Completions::default();
        self.delivery_check_due = true;
        self.generation += 1;
    }

    /// Pending events that became ordered (and were stored) or were dropped since the
    /// last call: the event loop passes the first on and counts the second against
    /// whoever sent them.
    pub fn take_completions(&mut self) -> Completions {
        std::mem::take(&mut self.completions)
    }

    /// What `ev` waits for, if it is pending: the ids to fetch for it.
    pub fn waits_for(&self, ev: &SignedEvent) -> Vec<ContentId> {
        self.ledger.missing(ev)
    }

    /// Gives up on pending events (too old, or their sender sent too many). They were
    /// never stored; the ids that were not pending are ignored.
    pub fn drop_pending(&mut self, ids: &[ContentId]) -> usize {
        ids.iter()
            .filter(|id| self.ledger.remove_pending(id).is_some())
            .count()
    }

    /// The Checkpoint this org should sign now, if any, with the deps it names: at the
    /// lowest bound another org signed and nobody decided yet, or else (if it is this
    /// org's turn to open one: the round's leader at once, the others after waiting
    /// two ticks per place behind it) at the highest clock it held at the previous
    /// call (one tick ago: what lies below had a tick to reach every org, so their
    /// views, hence their claims, agree); if the org has not signed there yet, the bound it signed last is
    /// decided (finalized, or out of reach of a quorum), and the claim would settle
    /// something besides other checkpoints. Every honest org holding the same org
    /// chains below the bound names the same heads and claim, so their signatures add
    /// up to a quorum (docs/protocol.md, "Signing checkpoints"). The deps name the
    /// other orgs' signatures at the last bound: whoever holds this one holds why that
    /// bound was decided.
    pub fn checkpoint_due(&mut self) -> Option<(Payload, Vec<ContentId>)> {
        let own = std::mem::replace(&mut self.last_tick_clock, self.ledger.max_lamport());
        let tip = self.ledger.max_lamport();
        let org = self.org.public();
        let orgs: Vec<PublicKey> = self.ledger.state().orgs.keys().copied().collect();
        let rank = orgs.iter().position(|o| *o == org)?;
        let last = self.ledger.last_signed(&org);
        let mut deps = Vec::new();
        if let Some(b) = last {
            if !self.ledger.bound_decided(b) {
                return None;
            }
            let mine = self.org.head().map(|h| h.id);
            deps = self
                .ledger
                .signatures_at(b)
                .into_iter()
                .filter(|d| Some(*d) != mine)
                .filter(|d| self.ledger.get(d).is_some_and(|e| e.author() != org))
                .take(carnet_protocol::limits::MAX_DEPS - 2)
                .collect();
        }
        // Join the lowest bound another org opened and nobody decided yet: orgs that
        // each opened a bound of their own would never meet.
        let open = self
            .ledger
            .signed_bounds_above(last.unwrap_or(0))
            .into_iter()
            .take_while(|b| *b <= tip)
            .find(|b| !self.ledger.bound_decided(*b));
        let target = match open {
            Some(b) => b,
            None => {
                // Open a new bound: the leader of this round does at once, the others
                // only after waiting in turn (a leader may be down), so that two orgs
                // seldom open different bounds at the same time.
                if own == 0 || last.is_some_and(|b| b >= own) {
                    return None;
                }
                let finalized = self
                    .ledger
                    .finals()
                    .last()
                    .map_or(0, |f| f.claim.lamport_bound);
                let round = self.ledger.signed_bounds_above(finalized).len();
                let turn = (rank + orgs.len() - round % orgs.len()) % orgs.len();
                if self.idle_ticks < 2 * turn as u64 {
                    self.idle_ticks += 1;
                    return None;
                }
                own
            }
        };
        let claim = self.ledger.claim_at(target)?;
        self.idle_ticks = 0;
        Some((Payload::Checkpoint(claim), deps))
    }

    /// Seals this org's members' events that no org event reaches yet: one Seal per
    /// `MAX_DEPS - 1` members, naming each member's latest such event (its chain
    /// reaches the rest). Sealed events enter the org's line, and from there the next
    /// checkpoint's prefix.
    pub fn seals_due(&mut self) -> Vec<Vec<ContentId>> {
        let org = self.org.public();
        let mut latest: std::collections::BTreeMap<PublicKey, (u64, ContentId)> =
            std::collections::BTreeMap::new();
        {
            let state = self.ledger.state().clone();
            for ev in self.ledger.unsealed() {
                let ours = state
                    .accounts
                    .get(&ev.author())
                    .is_some_and(|a| a.org() == Some(org));
                if ours {
                    let e = latest.entry(ev.author()).or_insert((ev.seq(), ev.id()));
                    if ev.seq() >= e.0 {
                        *e = (ev.seq(), ev.id());
                    }
                }
            }
        }
        let ids: Vec<ContentId> = latest.values().map(|v| v.1).collect();
        ids.chunks(carnet_protocol::limits::MAX_DEPS - 1)
            .map(|c| c.to_vec())
            .collect()
    }

    /// Signs `payload` with the org key, naming `deps`, as the next event of the org's
    /// chain.
    pub fn sign_as_org_with(
        &mut self,
        payload: Payload,
        deps: Vec<ContentId>,
    ) -> Result<SignedEvent, IngestError> {
        self.resync_org_head();
        let clock = self.ledger.max_lamport();
        if self.org.head().is_none() {
            let intro = self.ledger.introduction(&self.org.public());
            self.org = self.org.clone().introduced_by(intro);
        }
        self.org
            .sign(payload, deps, clock, carnet_api::now_ms())
            .map_err(IngestError::Invalid)
    }

    /// Puts this org's signing head where the ledger has its chain. An org event
    /// signed but not ordered (its write failed, or the ledger refused it) must not
    /// become the `prev` of the next one: that would fork the org's chain or leave it
    /// waiting on an event nobody has.
    fn resync_org_head(&mut self) {
        let key = self.org.public();
        let head = self.ledger.chain_head(&key).and_then(|(seq, id)| {
            let ev = self.ledger.get(&id)?;
            Some(AuthorHead {
                seq,
                id,
                lamport: ev.lamport(),
                timestamp_ms: ev.body().timestamp_ms,
            })
        });
        if self.org.head() != head {
            self.org = Author::resume(self.org.key().clone(), self.network, head);
        }
    }

    /// Signs `payload` with the org key as the next event of the org's chain.
    pub fn sign_as_org(&mut self, payload: Payload) -> Result<SignedEvent, IngestError> {
        self.resync_org_head();
        let clock = self.ledger.max_lamport();
        if self.org.head().is_none() {
            // An admitted org's first event names an Admit of it (ordering check 5).
            let intro = self.ledger.introduction(&self.org.public());
            self.org = self.org.clone().introduced_by(intro);
        }
        self.org
            .sign(payload, vec![], clock, carnet_api::now_ms())
            .map_err(IngestError::Invalid)
    }

    /// (Lamport, id) of every event held, ordered or pending, for set reconciliation.
    pub fn items(&self) -> Vec<(u64, ContentId)> {
        self.ledger.all_items()
    }

    /// Changes whenever [`Engine::items`] does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The wire bytes of an ordered event: pending ones are not passed on.
    pub fn event_bytes(&self, id: &ContentId) -> Option<Vec<u8>> {
        if !self.ledger.is_ordered(id) {
            return None;
        }
        self.ledger.get(id).map(|e| e.as_bytes().to_vec())
    }

    pub fn search(&mut self, q: &SearchQuery) -> Vec<ListingView> {
        let limit = q.limit.unwrap_or(50).min(500);
        let lower = |s: &Option<String>| s.as_ref().map(|x| x.to_lowercase());
        let (text, company, domain, title, city) = (
            lower(&q.text),
            lower(&q.company),
            lower(&q.domain),
            lower(&q.title),
            lower(&q.city),
        );
        let has = |field: &str, want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| field.to_lowercase().contains(w))
        };
        let state = self.ledger.state();
        state
            .listings
            .iter()
            .filter(|(_, l)| l.status == carnet_protocol::ledger::ListingStatus::Active)
            // A listing this node only knows with its teaser erased has nothing to show.
            .filter_map(|(id, l)| Some((id, l, l.listing.teaser.shown()?)))
            .filter(|(_, _, t)| {
                has(&t.company, &company)
                    && has(&t.company_domain, &domain)
                    && has(&t.title, &title)
                    && has(&t.city, &city)
                    && text.as_ref().is_none_or(|w| {
                        [&t.name, &t.title, &t.company, &t.company_domain, &t.city]
                            .iter()
                            .any(|f| f.to_lowercase().contains(w))
                    })
            })
            .take(limit)
            .map(|(id, l, t)| ListingView {
                id: id.to_hex(),
                name: t.name.clone(),
                title: t.title.clone(),
                company: t.company.clone(),
                company_domain: t.company_domain.clone(),
                city: t.city.clone(),
                email: t.availability.email,
                postal: t.availability.postal,
                phone: t.availability.phone,
                status: format!("{:?}", l.status),
                sales: l.sales,
            })
            .collect()
    }

    pub fn balance(&mut self, account: &PublicKey) -> Option<BalanceView> {
        self.ledger
            .state()
            .accounts
            .get(account)
            .map(|a| BalanceView {
                account: account.to_hex(),
                balance: a.balance,
                escrow: a.escrow,
                pending: a.pending,
                status: format!("{:?}", a.status),
            })
    }

    pub fn history(&mut self, account: &PublicKey) -> Vec<MovementView> {
        self.ledger
            .state()
            .history(account)
            .into_iter()
            .map(|m| MovementView {
                event: m.event.to_hex(),
                delta: m.delta,
                reason: format!("{:?}", m.reason),
            })
            .collect()
    }

    /// The Deliver for `purchase`: the first in ledger order among those held.
    pub fn delivery(&self, purchase: &ContentId) -> Option<DeliveryView> {
        let ids = self.deliveries.get(purchase)?;
        let ev = ids
            .iter()
            .filter_map(|id| self.ledger.get(id))
            .min_by_key(|e| (e.lamport(), e.id()))?;
        let Payload::Deliver(d) = ev.payload() else {
            return None;
        };
        Some(DeliveryView {
            purchase_id: purchase.to_hex(),
            deliver_event: ev.id().to_hex(),
            ephemeral_hex: hex::encode(d.ephemeral),
            sealed_card_hex: hex::encode(&d.sealed_card),
        })
    }

    pub fn chain_head(&self, author: &PublicKey) -> ChainHeadView {
        let head = self.ledger.chain_head(author);
        let last = head.and_then(|(_, id)| self.ledger.get(&id));
        ChainHeadView {
            author: author.to_hex(),
            next_seq: head.map_or(0, |(s, _)| s + 1),
            prev: head.map(|(_, id)| id.to_hex()),
            last_lamport: last.map(|e| e.lamport()),
            last_timestamp_ms: last.map(|e| e.body().timestamp_ms),
            clock: self.ledger.max_lamport(),
            introduction: head
                .is_none()
                .then(|| self.ledger.introduction(author))
                .flatten()
                .map(|id| id.to_hex()),
        }
    }

    pub fn state_root_hex(&mut self) -> String {
        self.ledger.state_root().to_hex()
    }

    /// docs/protocol.md, "Report vouchers": checks `req` against the ledger (a
    /// delivered purchase of the reporter, a member of this org, the opening of the
    /// card's email), keeps the message as evidence and signs the voucher. The mail
    /// checks of the message itself ran before (carnet-mail).
    pub fn vouch(
        &mut self,
        req: &crate::vouch::VouchRequest,
    ) -> Result<crate::vouch::Vouched, crate::vouch::VouchError> {
        use crate::vouch::{VouchError, Vouched};
        let network = self.ledger.network();
        let email_commitment =
            self.vouch_precheck(&req.reporter, &req.purchase_id, &req.opening)?;
        // At most a few different messages per purchase, remembered across restarts.
        use crate::vouch::{decode_records, encode_records, VouchedRecord};
        let storage = |e: StoreError| VouchError::Storage(e.to_string());
        let quota_key = format!(
            "{}{}",
            crate::vouch::VOUCHED_META_PREFIX,
            req.purchase_id.to_hex()
        );
        let mut kept = decode_records(
            &self
                .store
                .get_meta(&quota_key)
                .map_err(storage)?
                .unwrap_or_default(),
        );
        let hash = carnet_protocol::hash::evidence_hash(&req.message);
        let known = kept.iter().any(|r| r.evidence == hash);
        if !known && kept.len() >= crate::vouch::MAX_MESSAGES_PER_PURCHASE {
            return Err(VouchError::TooManyMessages(req.purchase_id.to_hex()));
        }
        self.writable()
            .map_err(|e| VouchError::Storage(e.to_string()))?;
        let writes = (|| {
            let evidence = self.store.put_evidence(&req.message, self.org.key())?;
            if !known {
                kept.push(VouchedRecord {
                    evidence,
                    at_ms: carnet_api::now_ms(),
                });
                self.store.put_meta(&quota_key, &encode_records(&kept))?;
            }
            self.keep_opening(&req.purchase_id, &email_commitment, &req.opening)?;
            Ok(evidence)
        })();
        let evidence = self.written(writes).map_err(storage)?;
        let body = carnet_protocol::voucher::VoucherBody {
            network,
            reporter: req.reporter,
            purchase_id: req.purchase_id,
            evidence,
            status: req.status,
            email_commitment,
        };
        Ok(Vouched {
            voucher: carnet_protocol::voucher::sign(self.org.key(), &body),
            evidence,
        })
    }

    /// Deletes the bounce messages this node vouched for that no BounceReport on the
    /// ledger names, once twice the bounce window has passed since (the member's time
    /// to publish its report): see [`crate::vouch::retain`]. Returns how many went.
    pub fn sweep_evidence(&mut self, now_ms: u64) -> Result<usize, StoreError> {
        let keep_ms = self
            .ledger
            .genesis()
            .rules
            .bounce_window_ms
            .saturating_mul(2);
        let entries = self
            .store
            .meta_with_prefix(crate::vouch::VOUCHED_META_PREFIX)?;
        if entries.is_empty() {
            return Ok(0);
        }
        let reports: Vec<ContentId> = self.ledger.state().bounce_reports.keys().copied().collect();
        let named: std::collections::HashSet<carnet_protocol::Hash32> = reports
            .iter()
            .filter_map(|id| match self.ledger.get(id).map(|e| e.payload()) {
                Some(Payload::BounceReport(b)) => Some(b.evidence),
                _ => None,
            })
            .collect();
        let mut removed = 0;
        for (key, value) in entries {
            let records = crate::vouch::decode_records(&value);
            let (kept, gone) =
                crate::vouch::retain(&records, |h| named.contains(h), now_ms, keep_ms);
            if gone.is_empty() {
                continue;
            }
            for h in &gone {
                self.store.remove_evidence(h)?;
            }
            // Only what is kept stays recorded: a purchase has at most its quota of
            // messages kept at a time.
            self.store
                .put_meta(&key, &crate::vouch::encode_records(&kept))?;
            removed += gone.len();
        }
        Ok(removed)
    }

    /// docs/protocol.md, "Report vouchers": a mobile voucher for `reporter`'s
    /// delivered purchase, once `opening` opens its phone commitment and the number
    /// is classified Mobile. The opening is kept (encrypted) for an audit export; the
    /// report that carries the voucher carries no number.
    pub fn vouch_mobile(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<carnet_protocol::payload::Voucher, crate::vouch::VouchError> {
        use crate::vouch::VouchError;
        let p = self.vouchable_purchase(reporter, purchase_id)?;
        let commitment = p.phone_commitment.ok_or(VouchError::NoPhone)?;
        if carnet_protocol::card::commit_phone(opening) != commitment {
            return Err(VouchError::OpeningMismatch);
        }
        if !carnet_protocol::ledger::is_mobile_number(&opening.value) {
            return Err(VouchError::NotMobile(opening.value.clone()));
        }
        self.keep_opening(purchase_id, &commitment, opening)
            .map_err(|e| VouchError::Storage(e.to_string()))?;
        let body = carnet_protocol::voucher::MobileVoucherBody {
            network: self.ledger.network(),
            reporter: *reporter,
            purchase_id: *purchase_id,
            phone_commitment: commitment,
        };
        Ok(carnet_protocol::voucher::sign_mobile(self.org.key(), &body))
    }

    fn opening_key(purchase_id: &ContentId, commitment: &carnet_protocol::Hash32) -> String {
        format!(
            "{}{}:{}",
            crate::vouch::OPENING_META_PREFIX,
            purchase_id.to_hex(),
            commitment.to_hex()
        )
    }

    /// Keeps the opening a reporter showed for `commitment` of `purchase_id`,
    /// encrypted like a bounce message, for an audit export.
    fn keep_opening(
        &self,
        purchase_id: &ContentId,
        commitment: &carnet_protocol::Hash32,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<(), StoreError> {
        let bytes = carnet_protocol::encoding::to_canonical(opening);
        let hash = self.store.put_evidence(&bytes, self.org.key())?;
        self.store
            .put_meta(&Self::opening_key(purchase_id, commitment), hash.as_bytes())
    }

    /// The opening of `commitment` (a purchase's email or phone commitment) this node
    /// can disclose: the one a reporter showed it, or, for the holder, the card's own.
    fn opening_for(
        &self,
        purchase_id: &ContentId,
        listing_id: &ContentId,
        commitment: &carnet_protocol::Hash32,
    ) -> Result<Option<carnet_protocol::payload::Opening>, StoreError> {
        use carnet_protocol::card::{commit_email, commit_phone};
        use carnet_protocol::payload::Opening;
        if let Some(h) = self
            .store
            .get_meta(&Self::opening_key(purchase_id, commitment))?
        {
            let hash = <[u8; 32]>::try_from(h.as_slice())
                .map(carnet_protocol::Hash32)
                .map_err(|_| StoreError::Corrupt {
                    id: purchase_id.to_hex(),
                    reason: "an opening record is not 32 bytes".into(),
                })?;
            if let Some(bytes) = self.store.get_evidence(&hash, self.org.key())? {
                let opening: Opening =
                    carnet_protocol::encoding::from_canonical(&bytes, bytes.len()).map_err(
                        |e| StoreError::Corrupt {
                            id: purchase_id.to_hex(),
                            reason: format!("a kept opening does not decode: {e}"),
                        },
                    )?;
                return Ok(Some(opening));
            }
        }
        let Some(card) = self.store.get_card(listing_id, self.org.key())? else {
            return Ok(None);
        };
        if commit_email(&card.email) == *commitment {
            return Ok(Some(card.email));
        }
        Ok(card.phone.filter(|p| commit_phone(p) == *commitment))
    }

    /// The purchase `reporter` may have a report vouched for: its own, delivered, and
    /// the reporter a member of this org.
    fn vouchable_purchase(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
    ) -> Result<carnet_protocol::ledger::PurchaseState, crate::vouch::VouchError> {
        use crate::vouch::VouchError;
        use carnet_protocol::ledger::PurchaseStatus;
        let org = self.org.public();
        let state = self.ledger.state();
        let ours = state
            .accounts
            .get(reporter)
            .and_then(|a| a.org())
            .is_some_and(|o| o == org);
        if !ours {
            return Err(VouchError::NotOurMember);
        }
        let id = purchase_id.to_hex();
        let p = state
            .purchases
            .get(purchase_id)
            .ok_or_else(|| VouchError::UnknownPurchase(id.clone()))?;
        if p.buyer != *reporter {
            return Err(VouchError::NotBuyer(id));
        }
        if p.status != PurchaseStatus::Delivered {
            return Err(VouchError::NotDelivered(id));
        }
        Ok(p.clone())
    }

    /// The ledger's half of [`Engine::vouch`], run before the message is read: the
    /// purchase is `reporter`'s and delivered, `opening` opens its email commitment
    /// (returned), and the reporter is a member of this org. Checked first so that a
    /// stranger cannot make this node parse mail or look up DKIM keys in DNS.
    pub fn vouch_precheck(
        &mut self,
        reporter: &PublicKey,
        purchase_id: &ContentId,
        opening: &carnet_protocol::payload::Opening,
    ) -> Result<carnet_protocol::Hash32, crate::vouch::VouchError> {
        let p = self.vouchable_purchase(reporter, purchase_id)?;
        if carnet_protocol::card::commit_email(opening) != p.email_commitment {
            return Err(crate::vouch::VouchError::OpeningMismatch);
        }
        Ok(p.email_commitment)
    }

    /// Keeps a piece of evidence (a bounce message) and returns its evidence hash.
    pub fn put_evidence(&mut self, raw: &[u8]) -> Result<carnet_protocol::Hash32, AuditRefusal> {
        self.writable()
            .map_err(|e| AuditRefusal::Storage(e.to_string()))?;
        let put = self.store.put_evidence(raw, self.org.key());
        self.written(put).map_err(|e| match e {
            crate::store::StoreError::EvidenceTooLarge(_) => {
                AuditRefusal::EvidenceTooLarge(e.to_string())
            }
            e => AuditRefusal::Storage(e.to_string()),
        })
    }

    /// The audit bundle of penalty `event`. With `include_message` (the org agrees
    /// to disclose it), a bounce report's message must be held by this node; with
    /// `include_opening`, the opening of the reported commitment (which this node was
    /// shown by the reporter, or holds the card of).
    pub fn audit_bundle(
        &mut self,
        event: &ContentId,
        include_message: bool,
        include_opening: bool,
    ) -> Result<carnet_protocol::ledger::audit::Bundle, AuditRefusal> {
        let opening = if include_opening {
            let storage = |e: StoreError| AuditRefusal::Storage(e.to_string());
            let reported = match self.ledger.get(event).map(|e| e.payload()) {
                Some(Payload::BounceReport(b)) => Some((b.purchase_id, false)),
                Some(Payload::MobileReport(m)) => Some((m.purchase_id, true)),
                _ => None,
            };
            let found = match reported.and_then(|(id, mobile)| {
                let p = self.ledger.state().purchases.get(&id)?;
                let commitment = if mobile {
                    p.phone_commitment?
                } else {
                    p.email_commitment
                };
                Some((id, p.listing_id, commitment))
            }) {
                Some((id, listing, commitment)) => self
                    .opening_for(&id, &listing, &commitment)
                    .map_err(storage)?,
                None => None,
            };
            Some(found.ok_or(AuditRefusal::NoOpening(*event))?)
        } else {
            None
        };
        let message = match self.ledger.get(event).map(|e| e.payload()) {
            Some(Payload::BounceReport(b)) if include_message => {
                let raw = self
                    .store
                    .get_evidence(&b.evidence, self.org.key())
                    .map_err(|e| AuditRefusal::Storage(e.to_string()))?
                    .ok_or(AuditRefusal::NoMessage(b.evidence))?;
                Some(raw)
            }
            _ => None,
        };
        Ok(self.ledger.audit_bundle(event, message, opening)?)
    }

    /// See [`Command::AuditCheckpoint`].
    pub fn audit_checkpoint(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<carnet_protocol::ledger::audit::CheckpointFile, AuditRefusal> {
        Ok(self.ledger.audit_checkpoint(bound, since)?)
    }

    pub fn finalized_bound(&mut self) -> Option<u64> {
        self.ledger.state().finalized.map(|c| c.lamport_bound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use carnet_protocol::card::{recipient_public, seal_card};
    use carnet_protocol::genesis::Rules;
    use carnet_protocol::payload::*;

    fn key(i: u8) -> SecretKey {
        SecretKey::from_seed([i; 32])
    }

    /// Issue 14: a write that fails (a full disk, injected) leaves memory equal to the
    /// disk: the batch is not kept, this org's chain does not go on over it, a
    /// snapshot claims no more than is stored; writes resume once the fault clears.
    #[test]
    fn a_failed_write_leaves_memory_equal_to_disk_and_writes_resume_after() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org, fail) = crate::test_support::faulty_engine(dir.path());
        let net = genesis.network_id();
        let path = dir.path().join("events.redb");
        let mut member = Author::new(key(10), net);
        let enroll = e
            .sign_as_org(Payload::Enroll(Enroll {
                member: member.public(),
                handle: "m".into(),
            }))
            .unwrap();
        member = member.introduced_by(Some(enroll.id()));
        e.ingest_event(enroll).unwrap();
        let vote = |m: &mut Author, e: &mut Engine, d: &str| {
            m.sign(
                Payload::Vote(Vote {
                    company_domain: d.into(),
                    employees: EmployeeRange::From1To10,
                    revenue: RevenueRange::Under1M,
                }),
                vec![],
                e.ledger().max_lamport(),
                1,
            )
            .unwrap()
        };
        for d in ["a.example", "b.example", "c.example"] {
            let v = vote(&mut member, &mut e, d);
            e.ingest_event(v).unwrap();
        }
        let on_disk = |e: &Engine| e.store().load_events(&net).unwrap().len();
        assert_eq!((e.ledger().len(), on_disk(&e)), (4, 4));

        fail.store(true, Ordering::SeqCst);
        let mut lost_member = member.clone();
        let v = vote(&mut lost_member, &mut e, "d.example");
        let err = e.ingest_event(v.clone()).unwrap_err();
        assert!(matches!(err, IngestError::Storage(_)), "{err}");
        assert!(e.ledger().get(&v.id()).is_none());
        assert_eq!(e.ledger().len(), 4);
        assert!(e.storage_fault.is_some());
        let grant = |points| {
            Payload::Grant(Grant {
                member: member.public(),
                points,
                memo: String::new(),
            })
        };
        let g1 = e.sign_as_org(grant(5)).unwrap();
        assert!(e.ingest_event(g1.clone()).is_err());
        // The org's next event takes the unsaved one's place, not the one after it.
        let g2 = e.sign_as_org(grant(6)).unwrap();
        assert_eq!(g2.body().seq, g1.body().seq);
        assert_eq!(e.ledger().len(), 4);
        let saved = e.save_snapshot().unwrap().unwrap();
        assert_eq!(saved.events, 4);

        fail.store(false, Ordering::SeqCst);
        assert!(e.probe_storage());
        assert!(e.storage_fault.is_none());
        e.ingest_event(v).unwrap();
        e.ingest_event(g2).unwrap();
        assert_eq!((e.ledger().len(), on_disk(&e)), (6, 6));
        let root = e.state_root_hex();
        drop(e);
        let store = Store::open(&path, net).unwrap();
        let mut again = Engine::open(store, genesis, org).unwrap();
        assert_eq!(again.state_root_hex(), root);
    }

    /// Issue 14: a failed write of a held card or of evidence makes the node unhealthy
    /// as a failed event write does: nothing is kept, and once the store takes writes
    /// again the node is healthy and the same writes go through.
    #[test]
    fn a_failed_card_or_evidence_write_makes_the_node_unhealthy_until_the_store_recovers() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, org, fail) = crate::test_support::faulty_engine(dir.path());
        e.set_network_secret(crate::test_support::SECRET);
        let (_, mut m) = crate::test_support::enroll(&mut e, 10);
        let ada = crate::test_support::card("ada@acme.example");
        let ev = crate::test_support::contribution(&mut e, &mut m, &ada);

        fail.store(true, Ordering::SeqCst);
        let err = e.contribute(ev.as_bytes(), ada.clone()).unwrap_err();
        assert!(matches!(err, IngestError::Storage(_)), "{err}");
        assert!(e.storage_fault.is_some(), "a failed card write is a fault");
        assert!(e.ledger().get(&ev.id()).is_none());
        e.storage_fault = None;
        let err = e.put_evidence(b"a bounce").unwrap_err();
        assert_eq!(err.code(), "storage");
        assert!(
            e.storage_fault.is_some(),
            "a failed evidence write is a fault"
        );
        // An input refused for itself is no fault of the store.
        fail.store(false, Ordering::SeqCst);
        assert!(e.probe_storage());
        let huge = vec![0u8; carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES + 1];
        assert_eq!(
            e.put_evidence(&huge).unwrap_err().code(),
            "evidence_too_large"
        );
        assert!(e.storage_fault.is_none());

        e.contribute(ev.as_bytes(), ada).unwrap();
        assert!(e.store().get_card(&ev.id(), &org).unwrap().is_some());
        let h = e.put_evidence(b"a bounce").unwrap();
        assert!(e.store().get_evidence(&h, &org).unwrap().is_some());
    }

    /// Issue 14: vouched bounce messages that no report names are deleted once their
    /// time is up; recent ones stay.
    #[test]
    fn evidence_no_report_names_is_swept_after_twice_the_bounce_window() {
        use crate::vouch::{encode_records, VouchedRecord, VOUCHED_META_PREFIX};
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
        let window = genesis.rules.bounce_window_ms;
        let now = 100 * window;
        let old = e.store.put_evidence(b"an old bounce", &org).unwrap();
        let new = e.store.put_evidence(b"a new bounce", &org).unwrap();
        let records = [
            VouchedRecord {
                evidence: old,
                at_ms: now - 2 * window,
            },
            VouchedRecord {
                evidence: new,
                at_ms: now - window,
            },
        ];
        let key = format!(
            "{VOUCHED_META_PREFIX}{}",
            carnet_protocol::Hash32::of(b"purchase").to_hex()
        );
        e.store.put_meta(&key, &encode_records(&records)).unwrap();
        assert_eq!(e.sweep_evidence(now).unwrap(), 1);
        assert_eq!(e.store.get_evidence(&old, &org).unwrap(), None);
        assert!(e.store.get_evidence(&new, &org).unwrap().is_some());
        assert_eq!(e.sweep_evidence(now).unwrap(), 0);
        assert_eq!(e.sweep_evidence(now + window).unwrap(), 1);
    }

    #[test]
    fn cards_kept_in_one_burst_are_held_in_holds_of_at_most_31() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, _) = crate::test_support::one_org_engine(dir.path());
        let net = genesis.network_id();
        let mut member = Author::new(key(10), net);
        let ev = e
            .sign_as_org(Payload::Enroll(Enroll {
                member: member.public(),
                handle: "m".into(),
            }))
            .unwrap();
        member = member.introduced_by(Some(ev.id()));
        e.ingest_event(ev).unwrap();
        let mut ids = Vec::new();
        for n in 0..40 {
            let card = crate::test_support::card(&format!("p{n}@acme.example"));
            let c = member
                .sign(
                    Payload::Contribute(Contribute {
                        listing: card.listing(&crate::test_support::SECRET).unwrap(),
                    }),
                    vec![],
                    e.ledger().max_lamport(),
                    1,
                )
                .unwrap();
            ids.push(c.id());
            e.contribute(c.as_bytes(), card).unwrap();
        }
        let holds = e.holds_due();
        let sizes: Vec<usize> = holds
            .iter()
            .map(|h| match h {
                Payload::Hold(h) => h.listings.len(),
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, [31, 9]);
        for h in holds {
            let ev = e.sign_as_org(h).expect("a Hold fits in one event");
            e.ingest_event(ev).unwrap();
        }
        assert!(e.holds_due().is_empty(), "nothing left to hold");
        for id in ids {
            assert!(e.listing(&id).unwrap().held);
        }
    }

    #[test]
    fn deliveries_are_indexed_and_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let orgs = [key(1), key(2)];
        let genesis = carnet_protocol::testkit::genesis("t", &orgs, Rules::default(), 0);
        let net = genesis.network_id();
        let path = dir.path().join("events.redb");
        let mut e0 = Engine::open(
            Store::open(&path, net).unwrap(),
            genesis.clone(),
            orgs[0].clone(),
        )
        .unwrap();
        let mut seller = Author::new(key(10), net);
        let mut buyer = Author::new(key(11), net);
        let mut org1 = Author::new(orgs[1].clone(), net);
        let put = |e: &mut Engine, ev: SignedEvent| e.ingest_event(ev).unwrap();
        let enroll = |m: PublicKey| {
            Payload::Enroll(Enroll {
                member: m,
                handle: "m".into(),
            })
        };
        let ev = e0.sign_as_org(enroll(seller.public())).unwrap();
        seller = seller.introduced_by(Some(ev.id()));
        put(&mut e0, ev);
        let ev = org1
            .sign(enroll(buyer.public()), vec![], e0.ledger().max_lamport(), 1)
            .unwrap();
        buyer = buyer.introduced_by(Some(ev.id()));
        put(&mut e0, ev);
        let ev = org1
            .sign(
                Payload::Grant(Grant {
                    member: buyer.public(),
                    points: 50,
                    memo: String::new(),
                }),
                vec![],
                e0.ledger().max_lamport(),
                1,
            )
            .unwrap();
        put(&mut e0, ev);
        let card = crate::test_support::card("ada@acme.example");
        let c = seller
            .sign(
                Payload::Contribute(Contribute {
                    listing: card.listing(&crate::test_support::SECRET).unwrap(),
                }),
                vec![],
                e0.ledger().max_lamport(),
                1,
            )
            .unwrap();
        put(&mut e0, c.clone());
        let recipient = recipient_public([9; 32]);
        let p = buyer
            .sign(
                Payload::Purchase(Purchase {
                    listing_id: c.id(),
                    recipient,
                    max_price: 10,
                }),
                vec![],
                e0.ledger().max_lamport(),
                1,
            )
            .unwrap();
        put(&mut e0, p.clone());
        assert!(e0.delivery(&p.id()).is_none());
        let (ephemeral, sealed_card) = seal_card(&card, &recipient, [5; 32], &p.id()).unwrap();
        let d = e0
            .sign_as_org(Payload::Deliver(Deliver {
                purchase_id: p.id(),
                ephemeral,
                sealed_card,
            }))
            .unwrap();
        put(&mut e0, d.clone());
        let view = e0.delivery(&p.id()).expect("indexed");
        assert_eq!(view.deliver_event, d.id().to_hex());
        // The sale is paid; the contribution's reward waits for the bounce window.
        let b = e0.balance(&seller.public()).unwrap();
        assert_eq!((b.balance, b.pending), (10, 10));
        drop(e0);
        let e1 = Engine::open(Store::open(&path, net).unwrap(), genesis, orgs[0].clone()).unwrap();
        assert_eq!(e1.delivery(&p.id()).unwrap().deliver_event, d.id().to_hex());
    }

    #[test]
    fn pending_events_are_never_stored_and_older_stored_ones_are_dropped_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
        let net = genesis.network_id();
        let enroll = e
            .sign_as_org(Payload::Enroll(Enroll {
                member: key(10).public(),
                handle: "m".into(),
            }))
            .unwrap();
        let mut member = Author::new(key(10), net).introduced_by(Some(enroll.id()));
        let vote = Payload::Vote(Vote {
            company_domain: "c.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        });
        let waiting = member.sign(vote, vec![], enroll.lamport(), 5).unwrap();
        // Its introduction is missing: held, not stored.
        let r = e.ingest_event(waiting.clone()).unwrap();
        assert!(matches!(r.result, Submitted::Pending { .. }), "{r:?}");
        assert_eq!(e.store.load_events(&net).unwrap().len(), 0);
        assert_eq!(
            e.event_bytes(&waiting.id()),
            None,
            "not served while pending"
        );
        // Once complete, it is stored with what completed it, and reported.
        e.ingest_event(enroll.clone()).unwrap();
        assert_eq!(e.store.load_events(&net).unwrap().len(), 2);
        let done = e.take_completions();
        assert_eq!(done.completed, vec![waiting.clone()]);
        assert!(done.dropped.is_empty());
        // An older build stored pending events: they are dropped at start.
        let orphan = Author::new(key(11), net)
            .sign(
                Payload::Grant(Grant {
                    member: key(10).public(),
                    points: 1,
                    memo: String::new(),
                }),
                vec![carnet_protocol::Hash32([7; 32])],
                9,
                5,
            )
            .unwrap();
        e.store.put_events(std::slice::from_ref(&orphan)).unwrap();
        drop(e);
        let store = Store::open(&dir.path().join("events.redb"), net).unwrap();
        let e = Engine::open(store, genesis, org).unwrap();
        assert_eq!(e.pending_len(), 0);
        let kept: Vec<_> = e.store.load_events(&net).unwrap();
        assert_eq!(kept.len(), 2);
        assert!(!kept.contains(&orphan));
    }

    #[test]
    fn a_restart_resumes_from_the_snapshot_and_checks_only_later_signatures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.redb");
        let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
        let enroll = |i: u8| {
            Payload::Enroll(Enroll {
                member: key(i).public(),
                handle: format!("m{i}"),
            })
        };
        let mut ids = Vec::new();
        for i in 10..20 {
            let ev = e.sign_as_org(enroll(i)).unwrap();
            ids.push(ev.id());
            e.ingest_event(ev).unwrap();
        }
        assert_eq!(e.snapshot_events(), None);
        let saved = e.save_snapshot().unwrap().expect("a first snapshot");
        assert_eq!(saved.events, 10);
        assert_eq!(e.save_snapshot().unwrap(), None, "nothing new to save");
        for i in 20..25 {
            let ev = e.sign_as_org(enroll(i)).unwrap();
            e.ingest_event(ev).unwrap();
        }
        let root = e.state_root_hex();
        drop(e);
        let reopen = || {
            let store = Store::open(&path, genesis.network_id()).unwrap();
            Engine::reopen(store, genesis.clone(), org.clone())
        };
        let (mut e, r) = reopen().unwrap();
        assert_eq!(
            r,
            Reopened {
                events: 15,
                from_snapshot: 10,
                verified: 5
            }
        );
        assert_eq!(e.state_root_hex(), root);
        assert_eq!(e.snapshot_events(), Some(10));
        // The org's chain goes on from where it was.
        let ev = e.sign_as_org(enroll(25)).unwrap();
        assert_eq!(ev.seq(), 15);
        drop(e);

        // A damaged snapshot costs a full replay, not the node.
        let store = Store::open(&path, genesis.network_id()).unwrap();
        let mut bytes = store.get_snapshot().unwrap().unwrap();
        let n = bytes.len();
        bytes[n - 1] ^= 1;
        store.put_snapshot(&bytes).unwrap();
        drop(store);
        let (mut e, r) = reopen().unwrap();
        assert_eq!((r.from_snapshot, r.verified), (0, 15));
        assert_eq!(e.state_root_hex(), root);
        e.save_snapshot().unwrap().expect("a fresh snapshot");
        drop(e);

        // A signature that rotted under the snapshot does not hide behind it: the
        // snapshot no longer matches, every signature is checked, and the bad one named.
        crate::store::tests::tamper(&path, &ids[3], |b| {
            let n = b.len();
            b[n - 1] ^= 1;
        });
        match reopen() {
            Err(StoreError::Corrupt { id, reason }) => {
                assert_eq!(id, ids[3].to_hex());
                assert!(reason.contains("signature"), "{reason}");
            }
            Err(e) => panic!("expected Corrupt, got {e}"),
            Ok(_) => panic!("expected Corrupt, got an engine"),
        }
    }

    #[test]
    fn snapshots_fall_due_by_count_and_by_share_of_the_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
        e.snapshot_min_events = 4;
        let mut enrolled = 0u8;
        let mut add = |e: &mut Engine, n: u8| {
            for _ in 0..n {
                enrolled += 1;
                let ev = e
                    .sign_as_org(Payload::Enroll(Enroll {
                        member: key(100 + enrolled).public(),
                        handle: format!("m{enrolled}"),
                    }))
                    .unwrap();
                e.ingest_event(ev).unwrap();
            }
        };
        assert!(!e.snapshot_due(), "nothing to save");
        add(&mut e, 3);
        assert!(!e.snapshot_due());
        add(&mut e, 1);
        assert!(e.snapshot_due());
        e.save_snapshot().unwrap();
        assert!(!e.snapshot_due());
        // At 40 events saved, the next waits for a quarter more (10), not for 4.
        add(&mut e, 36);
        e.save_snapshot().unwrap();
        add(&mut e, 9);
        assert!(!e.snapshot_due());
        add(&mut e, 1);
        assert!(e.snapshot_due());
    }

    #[test]
    fn submissions_in_one_batch_are_answered_each_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
        let net = genesis.network_id();
        let member = Author::new(key(10), net);
        let enroll = e
            .sign_as_org(Payload::Enroll(Enroll {
                member: member.public(),
                handle: "m".into(),
            }))
            .unwrap();
        let mut member = member.introduced_by(Some(enroll.id()));
        let vote = |k: u16| {
            Payload::Vote(Vote {
                company_domain: format!("c{k}.example"),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            })
        };
        let v1 = member.sign(vote(1), vec![], enroll.lamport(), 5).unwrap();
        let v2 = member.sign(vote(2), vec![], enroll.lamport(), 5).unwrap();
        let wires = vec![
            enroll.as_bytes().to_vec(),
            v1.as_bytes().to_vec(),
            b"not an event".to_vec(),
            v2.as_bytes().to_vec(),
            v1.as_bytes().to_vec(),
        ];
        let r = e.ingest_submitted(&wires);
        assert_eq!(r.len(), 5);
        let outcome = |i: usize| match &r[i] {
            Ok(Ingested {
                result: Submitted::Ordered { outcome, .. },
                new,
                ..
            }) => (outcome.clone(), *new),
            other => panic!("{i}: {other:?}"),
        };
        assert_eq!(outcome(0), ("applied".into(), true));
        assert_eq!(outcome(1), ("applied".into(), true));
        assert!(matches!(r[2], Err(IngestError::Invalid(_))));
        assert_eq!(outcome(3), ("applied".into(), true));
        assert_eq!(
            outcome(4),
            ("applied".into(), false),
            "the repeat is not new"
        );
        assert_eq!(e.ledger().len(), 3);
        // Submitted again in a later batch: known.
        let again = e.ingest_submitted(&[v2.as_bytes().to_vec()]);
        assert!(matches!(
            &again[0],
            Ok(Ingested {
                result: Submitted::Duplicate { .. },
                new: false,
                ..
            })
        ));
        // All three survive a restart: they were committed.
        drop(e);
        let mut reopened = Engine::open(
            Store::open(&dir.path().join("events.redb"), net).unwrap(),
            genesis,
            org,
        )
        .unwrap();
        assert_eq!(reopened.ledger().len(), 3);
    }
}
