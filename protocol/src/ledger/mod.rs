//! The ledger: a pure function from a set of valid signed events to a state.
//!
//! Events are applied in one total order that every node computes alike. Finalized
//! checkpoints cut the order into epochs: the events a finalized claim's heads reach
//! (and no earlier claim's did) form its epoch, ordered by Lamport clock and content
//! id; every other event comes after all epochs, in the same order. A finalized
//! prefix is fixed by the content of its claim, so nothing that arrives later, however
//! low its clock, is ordered inside it: a late event costs only a re-fold of the
//! unfinalized tail. An event whose previous event or dependencies are still missing
//! waits in a pending pool; it is ordered only once its whole causal past is present.

mod apply;
mod archive;
pub mod audit;
mod chains;
pub mod cold;
mod finality;
mod frontier;
mod held;
mod items;
mod packed;
pub mod proof;
mod reads;
mod resume;
mod root;
mod snapshot;
mod state;
mod trie;

pub use apply::is_mobile_number;
pub use archive::{
    latest_rows, Archive, ArchiveError, ColdEntries, Index, MemoryArchive, Records, Release, Stub,
};
pub use items::{Items, ItemsView};
pub use resume::Resume;
pub use root::{merkle_root, LeafKey, StateLeaf, StateProof, PATH_CONTEXT};
pub use snapshot::{Snapshot, SnapshotError, SNAPSHOT_MAGIC};
pub use state::*;

use crate::event::SignedEvent;
use crate::genesis::Genesis;
use crate::hash::{ContentId, Hash32, NetworkId};
use crate::keys::PublicKey;
use crate::payload::Payload;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

/// Position in ledger order: (epoch, late, Lamport clock, content id).
///
/// The epoch of an event is the number (from 1) of the first finalized claim whose
/// prefix holds it, or [`TAIL`] for an event no finalized claim holds yet. `late` is 1
/// for a tail event whose clock is at or below the last finalized bound, or that
/// references such an event in the tail (it came too late for the prefixes its clock
/// points into), else 0: late events follow every timely one, so one written with an
/// old clock costs a re-fold of the late events only. Each epoch ends with a mark,
/// `(epoch, u64::MAX, u64::MAX, [0xff; 32])`, where the fold settles the claim.
pub type OrderKey = (u64, u64, u64, ContentId);

/// Epoch of the events no finalized claim holds yet.
pub const TAIL: u64 = u64::MAX;

const MARK_ID: Hash32 = Hash32([0xff; 32]);

fn mark(epoch: u64) -> OrderKey {
    (epoch, u64::MAX, u64::MAX, MARK_ID)
}

fn is_mark(key: &OrderKey) -> bool {
    key.0 != TAIL && key.1 == u64::MAX && key.3 == MARK_ID
}

/// The claim some heads give at a bound, and the orgs of the state after its prefix.
type Computed = (CheckpointClaim, BTreeSet<PublicKey>);

/// A prefix folded for a claim: ((bound, heads), its new ids, the state after it).
type Extended = ((u64, Vec<ContentId>), Vec<ContentId>, State);

/// A finalized claim and the heads that found its prefix.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Final {
    pub claim: CheckpointClaim,
    pub heads: Vec<ContentId>,
}

/// Events applied between two snapshots. Small enough that a re-apply after a late
/// arrival is cheap, large enough that snapshots cost little (they share structure).
const SNAPSHOT_INTERVAL: u64 = 1024;
/// Most events [`Ledger::shed_wire_bytes`] waits to shed: a few batches' worth.
const MAX_UNSHED: usize = 1 << 16;
/// Snapshots kept; a late event older than all of them re-applies from the end of
/// the finalized prefix. Each costs what the writes after it copy of the shared maps,
/// about 6 KiB per event applied after it (16 took 90 MiB in a fold of 300k events, 64
/// took 380 MiB), and finalization drops them all.
const MAX_SNAPSHOTS: usize = 16;
/// Near the tip, snapshots are taken this many times more often, and the last
/// [`FINE_SNAPSHOTS`] of them kept besides the others. Events of different authors
/// made at the same time share a clock, so most of them arrive after one that sorts
/// after them by id: each such arrival re-applies from the snapshot before it. With
/// snapshots 1024 events apart that is 512 events on average (1 ms, the most a batch
/// of concurrent API submissions cost); a fine snapshot a few events back makes it a
/// few dozen.
///
/// They are not free: each snapshot makes the writes after it copy the nodes they
/// touch (a leaf of 64 entries each), and dropping it frees the old ones. A settling
/// node fed in order spent a tenth of its time on fine snapshots no arrival used, so
/// they are taken only while arrivals land behind the tip: for [`FINE_HORIZON`]
/// intervals after the last one that did. The first late arrival after a calm
/// stretch re-applies from a coarse snapshot.
const FINE_RATIO: u64 = 16;
const FINE_SNAPSHOTS: usize = 8;
/// In intervals: fine snapshots are taken this many intervals' worth of events after
/// the last arrival behind the tip.
const FINE_HORIZON: u64 = 4;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum LedgerError {
    #[error("event is for network {got}, not {expected}")]
    WrongNetwork { expected: NetworkId, got: NetworkId },
    #[error(
        "Lamport clock {got} is not above {floor}, the clock of its previous event or a dependency"
    )]
    LamportTooLow { got: u64, floor: u64 },
    #[error("prev does not name this author's event at seq {0}")]
    BrokenChain(u64),
    #[error("timestamp goes backwards along the author's chain")]
    TimeBackwards,
    #[error("Lamport clock {got} jumps more than MAX_LAMPORT_STEP above {floor}")]
    LamportJump { got: u64, floor: u64 },
    /// The author holds no role in the event's causal past: not a founding org, and a
    /// first event that names no Enroll, Admit or Rotate of its author by an org. Such
    /// an event is a stranger's: never stored, never forwarded.
    #[error("the author has no role in the event's causal past (no Enroll, Admit or Rotate of it by an org among the deps of its first event)")]
    NoRole,
}

impl LedgerError {
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::WrongNetwork { .. } => "wrong_network",
            LedgerError::LamportTooLow { .. } => "lamport_too_low",
            LedgerError::BrokenChain(_) => "prev_mismatch",
            LedgerError::TimeBackwards => "time_backwards",
            LedgerError::LamportJump { .. } => "lamport_jump",
            LedgerError::NoRole => "no_role",
        }
    }
}

/// A prefix of the ledger order: see [`Ledger::finalized_prefix`].
#[derive(Debug, Clone)]
pub struct Prefix {
    pub claim: CheckpointClaim,
    pub state: State,
    pub ids: Vec<ContentId>,
}

/// What became of an inserted event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    /// Ordered into the ledger (with any pending events it completed).
    Ordered,
    /// Already known.
    Duplicate,
    /// Waiting for these events (its prev or dependencies).
    Pending(Vec<ContentId>),
}

/// What [`Ledger::insert`] did with an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    pub inserted: Inserted,
    /// Pending events the insertion completed and ordered (not the event itself).
    pub completed: Vec<ContentId>,
    /// Pending events it completed that failed the ordering checks: dropped.
    pub dropped: Vec<(ContentId, LedgerError)>,
}

/// The event set and the state it gives.
#[derive(Clone)]
pub struct Ledger {
    genesis: Genesis,
    network: NetworkId,
    /// Events whose causal past is complete, by id, but those released to the
    /// archive. Not boxed: an event is a pointer to its shared parts, and a box around
    /// it was a 32-byte allocation more an event held. Not a map from id either: the
    /// event holds its id (see `held.rs`).
    events: held::Held,
    /// How many ordered events were released to `archive`: what is left of them is
    /// there, not here (see [`Release`]).
    released: usize,
    /// The first failure of `archive` since [`Ledger::take_archive_error`] was last
    /// called: a lookup that failed was taken for "not released", which may have
    /// ordered an event wrongly.
    archive_error: archive::FirstFailure,
    /// Where released events are, once a node gave one: see [`Ledger::set_archive`].
    archive: Option<std::sync::Arc<dyn Index>>,
    /// The same archive, where the state's cold maps read what they let go of (see
    /// `cold.rs`), with the first of those reads that failed.
    cold: Option<std::sync::Arc<cold::ColdStore>>,
    /// Events finalized since the last [`Ledger::release`] that may still leave memory.
    releasable: Vec<ContentId>,
    /// The point movements of each finalized epoch the archive has not recorded (all
    /// of them without an archive), by account then in ledger order: the state holds
    /// only the tail's, so that an account's finalized history is on disk, not here.
    moves: BTreeMap<u64, Vec<Movement>>,
    /// Digest of the finalized prefix up to the last mark, chained epoch by epoch:
    /// where [`Ledger::prefix_digest`] starts, so it reads no released event.
    final_digest: Hash32,
    /// Set by [`Ledger::begin_load`]: inserted Checkpoints finalize nothing until
    /// [`Ledger::end_load`], so that a snapshot can say which claims are final.
    loading: bool,
    /// The same events in ledger order, with the mark ending each epoch.
    order: BTreeSet<OrderKey>,
    /// (Lamport clock, id) of every ordered event: the set peers reconcile.
    items: Items,
    /// Epoch of every event a finalized claim holds.
    epoch_of: HashMap<ContentId, u64>,
    /// The content id held first at each (author, seq) in memory (further ones are
    /// in `forks`).
    chains: chains::Chains,
    /// Further ids at an (author, seq) already taken: equivocations only, so rare.
    forks: BTreeMap<(PublicKey, u64), Vec<ContentId>>,
    /// Highest ordered seq of each author.
    heads: HashMap<PublicKey, u64>,
    /// Ordered events whose author is on an org's line: a founding org, or a key whose
    /// first event named an Admit or a Rotate of it that was itself on an org's line.
    /// Only such events introduce a key (ordering check 5).
    org_line: std::collections::HashSet<ContentId>,
    /// Authors of the events on an org's line: whose chains a claim's heads follow.
    line_authors: BTreeSet<PublicKey>,
    /// Ordered events no event on an org's line reaches yet, by (Lamport, id): what
    /// an org seals.
    unsealed: BTreeSet<(u64, ContentId)>,
    /// Tail events that are late (see [`OrderKey`]).
    late: std::collections::HashSet<ContentId>,
    /// Key → the first ordered event (by Lamport clock and id) that introduces it:
    /// what its first event should name.
    introductions: HashMap<PublicKey, (u64, ContentId)>,
    /// Ordered Checkpoint events by bound and signer.
    signatures: BTreeMap<u64, BTreeMap<PublicKey, Vec<ContentId>>>,
    /// Finalized claims, epoch 1 first.
    finals: Vec<Final>,
    /// The state at the end of the last epoch (after its settlement): where the tail's
    /// fold starts and what the next claim is counted against.
    base: State,
    /// (bound, heads) → the claim they give on top of the finalized prefix and the
    /// orgs after it (None: a head above the bound). Cleared at each finalization.
    claims_cache: HashMap<(u64, Vec<ContentId>), Option<Computed>>,
    /// The last prefix folded for a claim: (bound, heads), its new ids, its state.
    last_extended: Option<Extended>,
    /// The prefix digest as the last snapshot's took it ([`Ledger::snapshot`]): the
    /// chained digest of the finalized prefix then, the last key hashed, and the
    /// hasher after it. The next one hashes only the keys after that one, while
    /// nothing was inserted at or before it since: before, each snapshot hashed the
    /// whole tail again, all 900,000 events of a catch-up of a network that
    /// finalizes nothing.
    digest_cache: Option<(Hash32, OrderKey, blake3::Hasher)>,
    pending: BTreeMap<ContentId, SignedEvent>,
    /// Missing id → pending events that wait for it.
    waiting: BTreeMap<ContentId, Vec<ContentId>>,
    state: State,
    /// Last key applied to `state`.
    applied_to: Option<OrderKey>,
    /// Smallest key inserted before `applied_to` since the last catch-up.
    dirty_from: Option<OrderKey>,
    /// (last key applied, state after it), in the tail.
    snapshots: BTreeMap<OrderKey, State>,
    /// The events ordered when the last catch-up found an arrival behind the tip:
    /// fine snapshots are taken up to [`FINE_HORIZON`] intervals after it.
    late_at: Option<u64>,
    snapshot_interval: u64,
    /// Root of `state` while it is unchanged: computing one walks the whole state
    /// (a second at a million events), and a node is asked for it on every status.
    root_cache: Option<Hash32>,
    /// Events ordered since the last [`Ledger::shed_wire_bytes`] whose wire bytes may
    /// still go, and whether a call found them held elsewhere already.
    unshed: Vec<(ContentId, bool)>,
}

impl Ledger {
    pub fn new(genesis: Genesis) -> Self {
        Self::with_snapshot_interval(genesis, SNAPSHOT_INTERVAL)
    }

    /// A ledger that snapshots its state every `interval` applied events (tests use a
    /// small one to exercise re-application; the result never depends on it).
    pub fn with_snapshot_interval(genesis: Genesis, interval: u64) -> Self {
        let network = genesis.network_id();
        let state = initial_state(&genesis);
        Ledger {
            genesis,
            network,
            events: held::Held::default(),
            released: 0,
            archive_error: Default::default(),
            archive: None,
            cold: None,
            releasable: Vec::new(),
            moves: BTreeMap::new(),
            final_digest: Hash32::ZERO,
            loading: false,
            order: BTreeSet::new(),
            items: Items::default(),
            epoch_of: HashMap::new(),
            chains: Default::default(),
            forks: BTreeMap::new(),
            heads: HashMap::new(),
            org_line: Default::default(),
            line_authors: BTreeSet::new(),
            unsealed: BTreeSet::new(),
            late: Default::default(),
            introductions: HashMap::new(),
            signatures: BTreeMap::new(),
            finals: Vec::new(),
            base: state.clone(),
            claims_cache: HashMap::new(),
            last_extended: None,
            digest_cache: None,
            pending: BTreeMap::new(),
            waiting: BTreeMap::new(),
            state,
            applied_to: None,
            dirty_from: None,
            snapshots: BTreeMap::new(),
            late_at: None,
            snapshot_interval: interval.max(1),
            root_cache: None,
            unshed: Vec::new(),
        }
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn network(&self) -> NetworkId {
        self.network
    }

    /// Inserts a validated event. Errors reject the event: it must not be stored.
    /// Pending events it completes are ordered too, and reported; any of those that
    /// fail the checks are dropped and reported.
    pub fn insert(&mut self, ev: SignedEvent) -> Result<Insertion, LedgerError> {
        if ev.body().network != self.network {
            return Err(LedgerError::WrongNetwork {
                expected: self.network,
                got: ev.body().network,
            });
        }
        let id = ev.id();
        let only = |inserted| Insertion {
            inserted,
            completed: Vec::new(),
            dropped: Vec::new(),
        };
        if self.is_ordered(&id) || self.pending.contains_key(&id) {
            return Ok(only(Inserted::Duplicate));
        }
        let missing = self.missing(&ev);
        if !missing.is_empty() {
            for m in &missing {
                self.waiting.entry(*m).or_default().push(id);
            }
            self.pending.insert(id, ev);
            return Ok(only(Inserted::Pending(missing)));
        }
        let mut signed = matches!(ev.payload(), Payload::Checkpoint(_));
        self.order_complete(ev)?;
        let mut completed = Vec::new();
        let mut dropped = Vec::new();
        let mut ready = vec![id];
        while let Some(done) = ready.pop() {
            for w in self.waiting.remove(&done).unwrap_or_default() {
                let Some(ev) = self.pending.get(&w) else {
                    continue;
                };
                if !self.missing(ev).is_empty() {
                    continue;
                }
                let Some(ev) = self.pending.remove(&w) else {
                    continue;
                };
                signed |= matches!(ev.payload(), Payload::Checkpoint(_));
                match self.order_complete(ev) {
                    Ok(()) => {
                        completed.push(w);
                        ready.push(w);
                    }
                    Err(e) => dropped.push((w, e)),
                }
            }
        }
        if signed && !self.loading {
            self.finalize_due();
        }
        Ok(Insertion {
            inserted: Inserted::Ordered,
            completed,
            dropped,
        })
    }

    /// Drops a pending event (a node's pool gave up on it: too old, or its sender
    /// sent too many). Returns it, or None if it is not pending.
    pub fn remove_pending(&mut self, id: &ContentId) -> Option<SignedEvent> {
        let ev = self.pending.remove(id)?;
        for m in self.missing(&ev) {
            if let std::collections::btree_map::Entry::Occupied(mut w) = self.waiting.entry(m) {
                w.get_mut().retain(|x| x != id);
                if w.get().is_empty() {
                    w.remove();
                }
            }
        }
        Some(ev)
    }

    /// Whether `author` is a founding org of the genesis.
    fn is_founding(&self, author: &PublicKey) -> bool {
        self.genesis
            .founding_orgs
            .binary_search_by(|o| o.key.cmp(author))
            .is_ok()
    }

    /// Ordering check 5, for an event whose prev and deps are ordered: whether its
    /// author holds a role in its causal past. `Ok(true)` when the event is on an
    /// org's line (see `org_line`), `Ok(false)` for a member's.
    fn role(&self, ev: &SignedEvent) -> Result<bool, LedgerError> {
        let body = ev.body();
        if self.is_founding(&body.author) {
            return Ok(true);
        }
        // A later event inherits the role its chain's first event proved; a released
        // prev's is in its stub.
        if let Some(prev) = &body.prev {
            return Ok(self.org_line.contains(prev)
                || !self.events.contains_key(prev)
                    && self.stub_of(prev).is_some_and(|s| s.org_line));
        }
        let mut member = false;
        // Admits, Rotates and Enrolls are never released from memory: a dep not held
        // is none of them.
        for d in body.deps.iter().filter(|d| self.org_line.contains(*d)) {
            let Some(dep) = self.events.get(d) else {
                continue;
            };
            match dep.payload() {
                Payload::Admit(a) if a.org == body.author => return Ok(true),
                Payload::Rotate(r) if r.to == body.author => return Ok(true),
                Payload::Enroll(e) if e.member == body.author => member = true,
                _ => {}
            }
        }
        if member {
            Ok(false)
        } else {
            Err(LedgerError::NoRole)
        }
    }

    /// Ids among `ev`'s prev, deps and (for a Checkpoint) heads that are not yet
    /// ordered: what a pending event waits for.
    pub fn missing(&self, ev: &SignedEvent) -> Vec<ContentId> {
        refs(ev).filter(|d| !self.is_ordered(d)).copied().collect()
    }

    /// Checks an event whose causal past is present and puts it in order.
    fn order_complete(&mut self, ev: SignedEvent) -> Result<(), LedgerError> {
        let body = ev.body();
        let mut floor = 0;
        if let Some(prev) = &body.prev {
            let before = body.seq.checked_sub(1);
            let (linked, timestamp_ms) = match self.events.get(prev) {
                Some(p) => (
                    p.author() == body.author && Some(p.seq()) == before,
                    p.body().timestamp_ms,
                ),
                // A released event: its (author, seq) is in the archive or `forks`.
                None => (
                    before.is_some_and(|s| self.ids_at(&body.author, s).contains(prev)),
                    self.stub_of(prev).map_or(0, |s| s.timestamp_ms),
                ),
            };
            if !linked {
                return Err(LedgerError::BrokenChain(body.seq.saturating_sub(1)));
            }
            if timestamp_ms > body.timestamp_ms {
                return Err(LedgerError::TimeBackwards);
            }
        }
        for d in refs(&ev) {
            floor = floor.max(self.lamport_of(d).unwrap_or(0));
        }
        let has_refs = refs(&ev).next().is_some();
        if body.lamport <= floor && has_refs {
            return Err(LedgerError::LamportTooLow {
                got: body.lamport,
                floor,
            });
        }
        if body.lamport > floor.saturating_add(crate::limits::MAX_LAMPORT_STEP) {
            return Err(LedgerError::LamportJump {
                got: body.lamport,
                floor,
            });
        }
        let on_org_line = self.role(&ev)?;
        let id = ev.id();
        let author = ev.author();
        if on_org_line {
            self.org_line.insert(id);
            self.line_authors.insert(author);
            let introduced = match ev.payload() {
                Payload::Admit(a) => Some(a.org),
                Payload::Rotate(r) => Some(r.to),
                Payload::Enroll(e) => Some(e.member),
                _ => None,
            };
            if let Some(k) = introduced {
                let first = self.introductions.entry(k).or_insert((ev.lamport(), id));
                *first = (*first).min((ev.lamport(), id));
            }
            // Everything this event reaches is sealed now.
            let mut stack: Vec<ContentId> = refs(&ev).copied().collect();
            while let Some(x) = stack.pop() {
                let Some(e) = self.events.get(&x) else {
                    continue;
                };
                if self.unsealed.remove(&(e.lamport(), x)) {
                    stack.extend(refs(e).copied());
                }
            }
        } else {
            self.unsealed.insert((ev.lamport(), id));
        }
        let seq = ev.seq();
        // A seq above the author's head is free; one below it may be held by a
        // released event, whose place in `chains` is in the archive.
        let below_head = self.heads.get(&author).is_some_and(|h| *h >= seq);
        let head = self.heads.entry(author).or_insert(seq);
        *head = (*head).max(seq);
        // The archive records the events that stay in memory too: one found there is
        // this very event when a start puts it back.
        let taken = self.chains.contains_key(&(author, seq))
            || below_head
                && self
                    .archived_first_at(&author, seq)
                    .is_some_and(|first| first != id);
        if taken {
            self.forks.entry((author, seq)).or_default().push(id);
        } else {
            self.chains.insert((author, seq), id);
        }
        if let Payload::Checkpoint(c) = ev.payload() {
            self.signatures
                .entry(c.lamport_bound)
                .or_default()
                .entry(author)
                .or_default()
                .push(id);
        }
        let late = self.is_late(&ev);
        if late {
            self.late.insert(id);
        }
        let key = (TAIL, late as u64, ev.lamport(), id);
        self.mark_dirty(key);
        if self
            .digest_cache
            .as_ref()
            .is_some_and(|(_, at, _)| key <= *at)
        {
            self.digest_cache = None;
        }
        self.order.insert(key);
        self.items.insert((ev.lamport(), id));
        self.events.insert(ev);
        // Bounded: a caller that never sheds (a replay, a tool) must not grow it.
        if self.unshed.len() < MAX_UNSHED {
            self.unshed.push((id, false));
        }
        Ok(())
    }

    /// Lets go of the wire bytes of the events ordered since the last call that
    /// nothing but this ledger holds any more ([`SignedEvent::shed_bytes`]): folding
    /// and the ordering checks read only an event's body, and its bytes are in the
    /// node's store once the event is, some 0.35 KiB of the 1.8 an unfinalized event
    /// cost. An event still held elsewhere (its batch's caller passing it on) is tried
    /// again at the next call, then kept whole. A caller calls this once what it
    /// ordered is stored. The events are the same events: nothing read from them
    /// changes, and [`SignedEvent::as_bytes`] encodes them again if asked.
    pub fn shed_wire_bytes(&mut self) {
        // Filtered in place: the list keeps its room from batch to batch.
        let events = &mut self.events;
        self.unshed.retain_mut(|(id, tried)| {
            let Some(ev) = events.get_mut(id) else {
                return false;
            };
            let again = !ev.shed_bytes() && !*tried;
            *tried = true;
            again
        });
    }

    /// Whether a tail event is late: its clock is at or below the last finalized bound,
    /// or it references a late tail event.
    fn is_late(&self, ev: &SignedEvent) -> bool {
        let bound = self.finals.last().map(|f| f.claim.lamport_bound);
        bound.is_some_and(|b| ev.lamport() <= b) || refs(ev).any(|r| self.late.contains(r))
    }

    /// Lets finalized events out of memory from now on: once the node's `archive`
    /// holds them and their records ([`Ledger::releasable`]), [`Ledger::release`]
    /// drops them here and reads go to it.
    /// Without an archive every event stays in memory (tests, tools, audits of a
    /// bundle).
    pub fn set_archive(&mut self, archive: std::sync::Arc<dyn Index>) {
        let cold = cold::ColdStore::new(archive.clone());
        self.archive = Some(archive);
        self.base.attach_cold(&cold);
        self.state.attach_cold(&cold);
        for s in self.snapshots.values_mut() {
            s.attach_cold(&cold);
        }
        self.claims_cache.clear();
        self.last_extended = None;
        self.cold = Some(cold);
    }

    /// `state`, taken from a snapshot, with its cold maps reading from this ledger's
    /// archive. Refused for a state whose cold maps read rows on disk when there is no
    /// archive to read them from.
    fn adopt_state(&self, mut state: State) -> Result<State, SnapshotError> {
        match &self.cold {
            Some(cold) => state.attach_cold(cold),
            None if state.cold_at() > 0 => return Err(SnapshotError::OtherEvents),
            None => {}
        }
        Ok(state)
    }

    /// The events finalized since the last [`Ledger::release`], with what the archive
    /// must keep of each. All but Checkpoints, Enrolls, Admits and Rotates (the quorum
    /// and role checks read what they say) and the seconds of equivocations may leave
    /// memory; those stay (`stays`), and are recorded all the same. An epoch's events
    /// come all at once: an archive may record them in one piece, with the digest
    /// [`Ledger::finalized_digest`] gives. With them, the point movements of the
    /// epochs finalized since. Empty without an archive. The caller stores the events
    /// and the records, then calls [`Ledger::release`]; until then nothing changes
    /// here.
    pub fn releasable(&self) -> Records {
        if self.archive.is_none() {
            return Records::default();
        }
        let events = self
            .releasable
            .iter()
            .filter_map(|id| {
                let ev = self.events.get(id)?;
                let at = (ev.author(), ev.seq());
                let first = self.chains.get(&at) == Some(id);
                Some(Release {
                    id: *id,
                    stub: Stub {
                        lamport: ev.lamport(),
                        timestamp_ms: ev.body().timestamp_ms,
                        epoch: *self.epoch_of.get(id)?,
                        org_line: self.org_line.contains(id),
                    },
                    first_at: first.then_some(at),
                    stays: Self::kept(ev) || !first,
                })
            })
            .collect();
        // The finalized state's cold maps, once per epoch they have not been recorded
        // at (never at epoch 0: no map reads rows there).
        let (cold, cold_since) = match self.finals.len() as u64 > self.base.cold_at() {
            true => self.base.cold_rows(),
            false => (Vec::new(), (0, 0)),
        };
        Records {
            events,
            movements: self.unrecorded_moves(),
            cold,
            cold_since,
            at: self.finalized_digest(),
        }
    }

    /// The finalized movements the archive has not recorded, epoch by epoch: what a
    /// release hands over and a snapshot of the finalized prefix carries.
    pub(super) fn unrecorded_moves(&self) -> Vec<(u64, Vec<Movement>)> {
        self.moves.iter().map(|(e, m)| (*e, m.clone())).collect()
    }

    /// The number of finalized epochs and the chained digest of the finalized prefix
    /// (see `Ledger::prefix_digest`): what an archive records with the releases that
    /// end there, so that a start can tell a snapshot of this prefix from another.
    pub fn finalized_digest(&self) -> (u64, Hash32) {
        (self.finals.len() as u64, self.final_digest)
    }

    /// Drops from memory the events and movements of `done`, which the archive now
    /// holds (see [`Ledger::releasable`]). Returns how many events were dropped.
    pub fn release(&mut self, done: &Records) -> usize {
        if self.archive.is_none() {
            return 0;
        }
        self.moves.retain(|epoch, _| *epoch > done.at.0);
        let mut dropped = 0;
        for r in done.events.iter().filter(|r| !r.stays) {
            if self.events.remove(&r.id).is_none() {
                continue;
            }
            self.order.remove(&(r.stub.epoch, 0, r.stub.lamport, r.id));
            self.epoch_of.remove(&r.id);
            // Its role is in the stub now, for the next event of its chain.
            self.org_line.remove(&r.id);
            if let Some(at) = r.first_at {
                if self.chains.get(&at) == Some(&r.id) {
                    self.chains.remove(&at);
                }
            }
            self.released += 1;
            dropped += 1;
        }
        // Hash maps keep their room when emptied: a start releases nearly every event
        // at once, which would leave the room for all of them.
        fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
            if m.len() < m.capacity() / 4 {
                m.shrink_to_fit();
            }
        }
        self.events.shrink();
        shrink(&mut self.epoch_of);
        self.chains.shrink();
        // What is left to release: none that was recorded.
        let recorded: std::collections::HashSet<ContentId> =
            done.events.iter().map(|r| r.id).collect();
        self.releasable.retain(|id| !recorded.contains(id));
        // The cold maps read the rows recorded at the end of `done`'s last epoch: every
        // state here went through the finalized state they were taken from (a
        // finalization starts them all again from it).
        let (at, since) = (done.at.0, done.cold_since);
        let rows = cold::Released::decode(&done.cold);
        self.base.rebase_cold(at, &rows, since);
        self.state.rebase_cold(at, &rows, since);
        for s in self.snapshots.values_mut() {
            s.rebase_cold(at, &rows, since);
        }
        dropped
    }

    /// Events that never leave memory: what the quorum and role checks read.
    fn kept(ev: &SignedEvent) -> bool {
        matches!(
            ev.payload(),
            Payload::Checkpoint(_) | Payload::Enroll(_) | Payload::Admit(_) | Payload::Rotate(_)
        )
    }

    /// The first failure of the archive since the last call, if any: lookups that
    /// failed were taken for "not released", so what was inserted since may be ordered
    /// wrongly, and the ledger should be rebuilt from the store.
    pub fn take_archive_error(&self) -> Option<ArchiveError> {
        let cold = self.cold.as_ref().and_then(|c| c.failure.take());
        self.archive_error.take().or(cold)
    }

    /// The archive, once something was released to it: before that it holds nothing
    /// the ledger needs, and is not asked.
    pub(super) fn released_to(&self) -> Option<&dyn Index> {
        self.archive.as_deref().filter(|_| self.released > 0)
    }

    /// The answer of an archive, or None with the failure recorded (see
    /// [`Ledger::take_archive_error`]).
    pub(super) fn recorded<T>(&self, answer: Result<T, ArchiveError>) -> Option<T> {
        answer.map_err(|e| self.archive_error.record(e)).ok()
    }

    /// Asks the archive, when something was released; a failure is recorded and
    /// taken as "not there".
    fn archived<T>(
        &self,
        ask: impl FnOnce(&dyn Index) -> Result<Option<T>, ArchiveError>,
    ) -> Option<T> {
        self.recorded(ask(self.released_to()?)).flatten()
    }

    /// The stub of a released event.
    pub(super) fn stub_of(&self, id: &ContentId) -> Option<Stub> {
        self.archived(|a| a.stub(id))
    }

    /// The released event first ordered at (author, seq).
    pub(super) fn archived_first_at(&self, author: &PublicKey, seq: u64) -> Option<ContentId> {
        self.archived(|a| a.first_at(author, seq))
    }

    /// A state to save and later [`Ledger::restore`] instead of replaying: the one at
    /// the end of the finalized prefix, with the finalized claims, once a claim is
    /// final; before that, the state after every ordered event. None while nothing
    /// is ordered.
    ///
    /// Taken at the last mark, a snapshot spares a restart every fold of a finalized
    /// prefix, each of which inserting the events would otherwise do again; the tail
    /// after it is short and folded again.
    ///
    /// The state holds every listing with its teaser erased (see
    /// [`ListingBody::listing`]), so a snapshot holds nothing of a person who opted
    /// out, even while the OptOut waits in the tail after a finalized claim
    /// (docs/protocol.md, "Erasure").
    pub fn snapshot(&mut self) -> Option<Snapshot> {
        if !self.finals.is_empty() {
            return self.finalized_snapshot();
        }
        self.catch_up();
        let at = self.applied_to?;
        let digest = self.prefix_digest_cached(at);
        Some(Snapshot::new(
            self.network,
            at,
            digest,
            self.state.clone(),
            Vec::new(),
            self.final_digest,
            Vec::new(),
        ))
    }

    /// Takes back the state tree that writing `snap` computed ([`Snapshot::write_to`]),
    /// if it is more recent than the one this ledger's state keeps: the next root then
    /// hashes only what changed since the snapshot. The root does not depend on it.
    pub fn adopt_saved_tree(&mut self, snap: &mut Snapshot) {
        let tree = snap.state.take_tree();
        self.state.adopt_newer_tree(tree);
    }

    /// Starts a bulk load (a node's start): Checkpoints inserted from now on finalize
    /// nothing until [`Ledger::end_load`]. A snapshot restored in between
    /// ([`Ledger::restore`]) says which claims are final, and their prefixes are not
    /// folded again.
    pub fn begin_load(&mut self) {
        self.loading = true;
    }

    /// Ends a bulk load: whatever is due and not finalized by a restored snapshot is
    /// finalized now, each claim folded as usual.
    pub fn end_load(&mut self) {
        self.loading = false;
        self.finalize_due();
    }

    /// Resumes the fold from a snapshot: the state becomes the snapshot's, and only
    /// events after its position are applied from then on. Meant for right after the
    /// stored events are inserted at start-up, but sound at any time.
    ///
    /// Refused, leaving the ledger as it was, unless this ledger's order up to the
    /// snapshot's position (events and finalization marks) is exactly the one it was
    /// folded from. The state is then the same as a replay's, byte for byte.
    pub fn restore(&mut self, snap: Snapshot) -> Result<(), SnapshotError> {
        if snap.network != self.network {
            return Err(SnapshotError::WrongNetwork {
                expected: self.network,
                got: snap.network,
            });
        }
        if self.loading && !snap.finals.is_empty() {
            return self.restore_finals(snap);
        }
        let at = snap.at;
        let floor = self.finals.len() as u64;
        // Only a position in the tail: the finalized prefix is already folded.
        if at.0 != TAIL && at != mark(floor)
            || !self.order.contains(&at)
            || self.prefix_digest(at) != snap.prefix_digest
        {
            return Err(SnapshotError::OtherEvents);
        }
        self.state = self.adopt_state(snap.state)?;
        self.root_cache = None;
        self.applied_to = Some(at);
        self.dirty_from = None;
        self.snapshots.clear();
        self.snapshots.insert(at, self.state.clone());
        Ok(())
    }

    /// [`Ledger::restore`] during a load, of a snapshot taken at the end of a
    /// finalized prefix: its claims become the finalized epochs (each epoch's ids
    /// found from the claim's heads, as a finalization does, but not folded) and its
    /// state the state after them. Refused, changing nothing, unless the events
    /// present give exactly the prefix the snapshot names (its digest).
    fn restore_finals(&mut self, snap: Snapshot) -> Result<(), SnapshotError> {
        let floor = snap.finals.len() as u64;
        if !self.finals.is_empty() || snap.at != mark(floor) {
            return Err(SnapshotError::OtherEvents);
        }
        let mut taken = std::collections::HashSet::new();
        let mut epochs = Vec::with_capacity(snap.finals.len());
        let mut digest = self.final_digest;
        for f in &snap.finals {
            let ids = self
                .prefix_ids(&f.heads, f.claim.lamport_bound, &taken)
                .ok_or(SnapshotError::OtherEvents)?;
            digest = self.epoch_digest(digest, &ids, &f.claim);
            taken.extend(ids.iter().copied());
            epochs.push(ids);
        }
        if digest != snap.final_digest || Self::digest_at_mark(digest) != snap.prefix_digest {
            return Err(SnapshotError::OtherEvents);
        }
        let state = self.adopt_state(snap.state)?;
        for (f, ids) in snap.finals.into_iter().zip(epochs) {
            self.commit_epoch(f, ids);
        }
        self.redecide_late();
        self.claims_cache.clear();
        self.last_extended = None;
        self.moves = snap.movements.into_iter().collect();
        self.base = state.clone();
        self.state = state;
        self.root_cache = None;
        self.applied_to = Some(snap.at);
        self.dirty_from = None;
        self.snapshots.clear();
        Ok(())
    }

    fn mark_dirty(&mut self, key: OrderKey) {
        if self.applied_to.is_some_and(|a| key <= a) {
            self.dirty_from = Some(self.dirty_from.map_or(key, |d| d.min(key)));
        }
    }

    /// Brings the state up to date with every ordered event.
    fn catch_up(&mut self) {
        self.fold(0);
    }

    /// Folds part of the tail ahead of the next read, once it is long: all of it but
    /// its last stretch, where snapshots are taken. Returns whether it folded.
    ///
    /// The state is folded when it is read, and a node that reads none of it while it
    /// orders events (a catch-up) folded its whole tail at the next read, the loop
    /// stopped meanwhile: up to 0.87 s for a snapshot's read in a catch-up of 900,000
    /// events, while the fetches waiting behind it left the verifier idle
    /// (docs/benchmarks.md, "Where node 1's loop stops through a catch-up"). Called
    /// after each batch, this folds a quarter of that stretch at a time. The stretch
    /// is left: folded ahead, its snapshots would make every write after them copy
    /// shared nodes, and a late arrival lands mostly there. The state after a read is
    /// the same whenever this ran.
    pub fn fold_ahead(&mut self) -> bool {
        let keep = self.snapshot_interval.saturating_mul(MAX_SNAPSHOTS as u64);
        let unapplied = (self.len() as u64).saturating_sub(self.state.applied);
        if unapplied < keep.saturating_add(keep / 4) {
            return false;
        }
        // One more: the fold takes a coarse snapshot once the stretch is all that is
        // left, and none is wanted ahead of it.
        self.fold(keep + 1);
        true
    }

    /// Folds the tail but its last `keep` events (and the marks among them).
    fn fold(&mut self, keep: u64) {
        if self.dirty_from.is_some() || self.order.last().copied() != self.applied_to {
            self.root_cache = None;
        }
        if let Some(dirty) = self.dirty_from.take() {
            self.late_at = Some(self.len() as u64);
            // Drop snapshots at or after the first changed position, resume from the
            // latest one before it, or from the end of the finalized prefix (nothing
            // inserted ever lands inside it).
            let _ = self.snapshots.split_off(&dirty);
            // The state tree goes along: it is a cache of the last root, valid for any
            // state, and the one computed last differs least from the state refolded.
            let tree = self.state.take_tree();
            match self.snapshots.iter().next_back() {
                Some((k, s)) => {
                    self.applied_to = Some(*k);
                    self.state = s.clone();
                }
                None => {
                    let epochs = self.finals.len() as u64;
                    self.applied_to = (epochs > 0).then(|| mark(epochs));
                    self.state = self.base.clone();
                }
            }
            self.state.adopt_tree(tree);
        }
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            network: self.network,
        };
        let range = match self.applied_to {
            Some(a) => self
                .order
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.order.range(..),
        };
        // Every ordered event, released ones too: `state.applied` counts those.
        let total = self.len() as u64;
        for key in range {
            if !is_mark(key) && total.saturating_sub(self.state.applied) <= keep {
                break;
            }
            if is_mark(key) {
                if let Some(f) = self.finals.get(key.0 as usize - 1) {
                    apply::finalize(&mut self.state, f.claim);
                }
            } else {
                apply::apply(&mut self.state, &ctx, &self.events[&key.3]);
            }
            self.applied_to = Some(*key);
            // Late events sort near the tip, so only the last stretch is worth
            // snapshots; snapshotting a long replay would only slow it (a snapshot
            // makes the next writes copy shared nodes).
            if key.0 == TAIL {
                let interval = self.snapshot_interval;
                let horizon = interval.saturating_mul(FINE_HORIZON);
                let fine = self
                    .late_at
                    .is_some_and(|at| self.state.applied.saturating_sub(at) <= horizon);
                take_snapshot(
                    &mut self.snapshots,
                    &self.state,
                    interval,
                    fine,
                    *key,
                    total,
                );
            }
        }
    }
}

/// Keeps the state after `key` as a snapshot, if it falls on a coarse or (at the
/// very tip, if `fine`) a fine interval: see [`MAX_SNAPSHOTS`] and [`FINE_RATIO`].
fn take_snapshot(
    snapshots: &mut BTreeMap<OrderKey, State>,
    state: &State,
    interval: u64,
    fine_wanted: bool,
    key: OrderKey,
    total: u64,
) {
    let fine = (interval / FINE_RATIO).max(1);
    let applied = state.applied;
    let remaining = total.saturating_sub(applied);
    let coarse = applied.is_multiple_of(interval)
        && remaining <= interval.saturating_mul(MAX_SNAPSHOTS as u64);
    let near = fine_wanted
        && applied.is_multiple_of(fine)
        && remaining <= fine.saturating_mul(FINE_SNAPSHOTS as u64);
    if !coarse && !near {
        return;
    }
    snapshots.insert(key, state.clone());
    // Drops the oldest of a kind over its count.
    for (kind_coarse, max) in [(false, FINE_SNAPSHOTS), (true, MAX_SNAPSHOTS)] {
        let of_kind = |s: &State| s.applied.is_multiple_of(interval) == kind_coarse;
        if snapshots.values().filter(|s| of_kind(s)).count() > max {
            let oldest = snapshots.iter().find(|(_, s)| of_kind(s));
            if let Some(k) = oldest.map(|(k, _)| *k) {
                snapshots.remove(&k);
            }
        }
    }
}

/// An event's references: its prev, its deps and, for a Checkpoint, its heads.
fn refs(ev: &SignedEvent) -> impl Iterator<Item = &ContentId> {
    let heads: &[ContentId] = match ev.payload() {
        Payload::Checkpoint(c) => &c.heads,
        _ => &[],
    };
    ev.body()
        .prev
        .iter()
        .chain(ev.body().deps.iter())
        .chain(heads.iter())
}

fn initial_state(genesis: &Genesis) -> State {
    // Network time starts at the genesis' creation, not at 0: a grant made before a
    // quorum of orgs has signed is dated then, not in 1970 (docs/protocol.md, "Network
    // time").
    let mut state = State {
        now_ms: genesis.created_ms,
        ..State::default()
    };
    for o in &genesis.founding_orgs {
        state.orgs.insert(
            o.key,
            OrgState {
                name: o.name.clone(),
                founding: true,
            },
        );
        state
            .accounts
            .insert(o.key, Account::new(AccountKind::Org, o.name.clone()));
    }
    state
}

#[cfg(all(test, feature = "testkit"))]
mod tests {
    use super::*;
    use crate::testkit::workload::generate;

    /// Snapshots kept between two coarse intervals.
    fn fine(l: &Ledger) -> usize {
        let interval = l.snapshot_interval;
        l.snapshots
            .values()
            .filter(|s| !s.applied.is_multiple_of(interval))
            .count()
    }

    /// Fine snapshots serve arrivals behind the tip, and each costs the writes after
    /// it a copy of what they touch: a ledger fed in order takes none, and takes them
    /// again once an arrival lands behind its tip.
    #[test]
    fn fine_snapshots_are_taken_only_while_arrivals_land_behind_the_tip() {
        // Nothing finalizes (which drops every snapshot).
        let (genesis, mut log) = generate(3000);
        let mut l = Ledger::with_snapshot_interval(genesis, 64);
        let held = log.remove(log.len() - 400);
        let rest = log.split_off(log.len() - 300);
        for (k, ev) in log.into_iter().enumerate() {
            l.insert(ev).expect("a valid workload event");
            if k % 50 == 0 {
                l.catch_up();
            }
        }
        l.catch_up();
        assert!(!l.snapshots.is_empty(), "coarse snapshots are kept");
        assert_eq!(fine(&l), 0, "no arrival landed behind the tip");
        l.insert(held).expect("a valid workload event");
        l.catch_up();
        assert!(l.late_at.is_some(), "the held event landed behind the tip");
        for (k, ev) in rest.into_iter().enumerate() {
            l.insert(ev).expect("a valid workload event");
            if k % 50 == 0 {
                l.catch_up();
            }
        }
        l.catch_up();
        assert!(fine(&l) > 0, "fine snapshots after a late arrival");
    }

    /// Folding ahead folds a long tail in steps, leaves its last stretch (where
    /// snapshots are taken) to the next read, takes no snapshot on the way, and
    /// changes nothing a read then gives.
    #[test]
    fn a_long_tail_is_folded_ahead_but_its_last_stretch() {
        let (genesis, log) = generate(2000);
        let n = log.len();
        let mut reference = Ledger::with_snapshot_interval(genesis.clone(), 8);
        let mut l = Ledger::with_snapshot_interval(genesis, 8);
        let keep = 8 * MAX_SNAPSHOTS as u64;
        let unapplied = |l: &Ledger| l.len() as u64 - l.state.applied;
        let mut folds = 0;
        for ev in log {
            reference
                .insert(ev.clone())
                .expect("a valid workload event");
            l.insert(ev).expect("a valid workload event");
            if l.fold_ahead() {
                folds += 1;
                assert_eq!(unapplied(&l), keep + 1, "its last stretch is left");
                assert!(l.snapshots.is_empty(), "no snapshot ahead of the stretch");
            }
            assert!(unapplied(&l) < keep + keep / 4);
        }
        // A quarter of the stretch at a time, once it is exceeded.
        let (first, step) = ((keep + keep / 4) as usize, (keep / 4 - 1) as usize);
        assert_eq!(folds, 1 + (n - first) / step);
        assert!(!l.fold_ahead(), "nothing to fold ahead right after a fold");
        assert_eq!(l.state_root(), reference.state_root());
        assert_eq!(unapplied(&l), 0);
    }

    /// A snapshot's prefix digest is hashed on from the last snapshot's, and is the
    /// digest of its whole prefix all the same: after arrivals past the last one, and
    /// after arrivals behind it, which drop what it hashed.
    #[test]
    fn a_snapshot_digest_hashed_on_from_the_last_is_the_whole_prefixs() {
        // Nothing finalizes: a snapshot is then of the tail.
        let (genesis, mut log) = generate(3000);
        let mut l = Ledger::with_snapshot_interval(genesis, 64);
        // Held back until after some snapshots: it and what waits for it land
        // behind them.
        let held = log.remove(1000);
        let check = |l: &mut Ledger| {
            let snap = l.snapshot().expect("events are ordered");
            assert_eq!(snap.prefix_digest, l.prefix_digest(snap.at));
            assert!(l.digest_cache.is_some());
        };
        let mut resumed = 0;
        for (k, ev) in log.into_iter().enumerate() {
            l.insert(ev).expect("a valid workload event");
            if k % 400 == 399 {
                resumed += usize::from(l.digest_cache.is_some());
                check(&mut l);
            }
        }
        assert!(
            resumed >= 5,
            "hashed on from the last snapshot's {resumed} times"
        );
        l.insert(held).expect("a valid workload event");
        assert!(l.digest_cache.is_none(), "an arrival behind it drops it");
        check(&mut l);
    }
}
