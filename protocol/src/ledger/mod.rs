//! The ledger: a pure function from a set of valid signed events to a state.
//!
//! Events are applied in one total order that every node computes alike: by Lamport
//! clock, ties broken by content id. An event's clock exceeds that of its previous
//! event and of its dependencies, so this order respects causality. An event whose
//! previous event or dependencies are still missing waits in a pending pool; it is
//! ordered only once its whole causal past is present. A late event that sorts before
//! events already applied makes the ledger re-apply from the nearest snapshot before
//! it, so the state is always that of applying the whole set in order from genesis.

mod apply;
pub mod audit;
mod frontier;
pub mod proof;
mod root;
mod snapshot;
mod state;

pub use apply::is_mobile_number;
pub use root::{merkle_root, StateLeaf, StateProof};
pub use snapshot::{Snapshot, SnapshotError, SNAPSHOT_MAGIC};
pub use state::*;

use crate::event::SignedEvent;
use crate::genesis::Genesis;
use crate::hash::{ContentId, Hash32, NetworkId};
use crate::keys::PublicKey;
use crate::payload::Payload;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

/// Position of an event in ledger order.
pub type OrderKey = (u64, ContentId);

/// Events applied between two snapshots. Small enough that a re-apply after a late
/// arrival is cheap, large enough that snapshots cost little (they share structure).
const SNAPSHOT_INTERVAL: u64 = 1024;
/// Snapshots kept; a late event older than all of them re-applies from genesis.
const MAX_SNAPSHOTS: usize = 64;

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

/// A prefix of the ledger order: see [`Ledger::prefix_at`].
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
    /// Events whose causal past is complete, by id.
    /// Boxed: the map moves its entries when it grows, and an event is large.
    events: HashMap<ContentId, Box<SignedEvent>>,
    /// The same events in ledger order.
    order: BTreeSet<OrderKey>,
    /// Every content id held at (author, seq); two or more is an equivocation.
    chains: HashMap<(PublicKey, u64), ContentId>,
    /// Further ids at an (author, seq) already taken: equivocations only, so rare.
    forks: BTreeMap<(PublicKey, u64), Vec<ContentId>>,
    /// Highest ordered seq of each author.
    heads: HashMap<PublicKey, u64>,
    /// Ordered events whose author is on an org's line: a founding org, or a key whose
    /// first event named an Admit or a Rotate of it that was itself on an org's line.
    /// Only such events introduce a key (ordering check 5).
    org_line: std::collections::HashSet<ContentId>,
    /// Key → the first ordered event (in ledger order) that introduces it: what its
    /// first event should name.
    introductions: HashMap<PublicKey, OrderKey>,
    equivocators: BTreeMap<PublicKey, u64>,
    /// Every bound named by an ordered Checkpoint.
    claimed_bounds: BTreeSet<u64>,
    pending: BTreeMap<ContentId, SignedEvent>,
    /// Missing id → pending events that wait for it.
    waiting: BTreeMap<ContentId, Vec<ContentId>>,
    state: State,
    /// Last key applied to `state`.
    applied_to: Option<OrderKey>,
    /// Smallest key inserted before `applied_to` since the last catch-up.
    dirty_from: Option<OrderKey>,
    /// (last key applied, state after it).
    snapshots: BTreeMap<OrderKey, State>,
    snapshot_interval: u64,
    /// Root of `state` while it is unchanged: computing one walks the whole state
    /// (a second at a million events), and a node is asked for it on every status.
    root_cache: Option<Hash32>,
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
            events: HashMap::new(),
            order: BTreeSet::new(),
            chains: HashMap::new(),
            forks: BTreeMap::new(),
            heads: HashMap::new(),
            org_line: Default::default(),
            introductions: HashMap::new(),
            equivocators: BTreeMap::new(),
            claimed_bounds: BTreeSet::new(),
            pending: BTreeMap::new(),
            waiting: BTreeMap::new(),
            state,
            applied_to: None,
            dirty_from: None,
            snapshots: BTreeMap::new(),
            snapshot_interval: interval.max(1),
            root_cache: None,
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
        if self.events.contains_key(&id) || self.pending.contains_key(&id) {
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
                match self.order_complete(ev) {
                    Ok(()) => {
                        completed.push(w);
                        ready.push(w);
                    }
                    Err(e) => dropped.push((w, e)),
                }
            }
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
        // A later event inherits the role its chain's first event proved.
        if let Some(prev) = &body.prev {
            return Ok(self.org_line.contains(prev));
        }
        let mut member = false;
        for d in body.deps.iter().filter(|d| self.org_line.contains(*d)) {
            match self.events[d].payload() {
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

    /// Ids among `ev`'s prev and deps that are not yet ordered: what a pending event
    /// waits for.
    pub fn missing(&self, ev: &SignedEvent) -> Vec<ContentId> {
        ev.body()
            .prev
            .iter()
            .chain(ev.body().deps.iter())
            .filter(|d| !self.events.contains_key(d))
            .copied()
            .collect()
    }

    /// Checks an event whose causal past is present and puts it in order.
    fn order_complete(&mut self, ev: SignedEvent) -> Result<(), LedgerError> {
        let body = ev.body();
        let mut floor = 0;
        if let Some(prev) = &body.prev {
            let p = &self.events[prev];
            if p.author() != body.author || p.seq() + 1 != body.seq {
                return Err(LedgerError::BrokenChain(body.seq.saturating_sub(1)));
            }
            if p.body().timestamp_ms > body.timestamp_ms {
                return Err(LedgerError::TimeBackwards);
            }
            floor = p.lamport();
        }
        for d in &body.deps {
            floor = floor.max(self.events[d].lamport());
        }
        if body.lamport <= floor && (body.prev.is_some() || !body.deps.is_empty()) {
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
        let key = (ev.lamport(), ev.id());
        if on_org_line {
            self.org_line.insert(ev.id());
            let introduced = match ev.payload() {
                Payload::Admit(a) => Some(a.org),
                Payload::Rotate(r) => Some(r.to),
                Payload::Enroll(e) => Some(e.member),
                _ => None,
            };
            if let Some(k) = introduced {
                let first = self.introductions.entry(k).or_insert(key);
                *first = (*first).min(key);
            }
        }
        let author = ev.author();
        let seq = ev.seq();
        let head = self.heads.entry(author).or_insert(seq);
        *head = (*head).max(seq);
        let taken = match self.chains.entry((author, seq)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(ev.id());
                false
            }
            std::collections::hash_map::Entry::Occupied(_) => true,
        };
        if taken {
            self.forks.entry((author, seq)).or_default().push(ev.id());
            // Equivocation: from the lowest forked seq on, this author's events are void.
            let first = self.equivocators.get(&author).copied();
            if first.is_none_or(|s| seq < s) {
                self.equivocators.insert(author, seq);
                let affected = self
                    .first_key_from(&author, seq)
                    .into_iter()
                    .chain(std::iter::once(key))
                    .min();
                if let Some(k) = affected {
                    self.mark_dirty(k);
                }
            }
        }
        if let Payload::Checkpoint(c) = ev.payload() {
            // The fold records the prefix at each claimed bound as it passes it; a new
            // bound it already passed means going back to just after the bound.
            if self.claimed_bounds.insert(c.lamport_bound) {
                self.mark_dirty((c.lamport_bound.saturating_add(1), ContentId::ZERO));
            }
        }
        self.mark_dirty(key);
        self.order.insert(key);
        self.events.insert(ev.id(), Box::new(ev));
        Ok(())
    }

    /// The first position in ledger order of an ordered event by `author` at `seq` or
    /// later: where voiding an equivocator's events from `seq` on changes the fold.
    fn first_key_from(&self, author: &PublicKey, seq: u64) -> Option<OrderKey> {
        let top = self.heads.get(author).copied().unwrap_or(seq);
        (seq..=top)
            .flat_map(|q| self.ids_at(author, q))
            .filter_map(|i| self.events.get(&i).map(|e| (e.lamport(), i)))
            .min()
    }

    /// Digest of (id, signature) of every ordered event up to `at`, in ledger order:
    /// what names the exact prefix a snapshot was folded from.
    fn prefix_digest(&self, at: OrderKey) -> Hash32 {
        let mut h = blake3::Hasher::new_derive_key(snapshot::PREFIX_DIGEST_CONTEXT);
        // Hashed in large pieces: two small updates per event cost more than the rest.
        let mut buf = Vec::with_capacity(96 * 1024);
        for key in self.order.range(..=at) {
            buf.extend_from_slice(key.1.as_bytes());
            buf.extend_from_slice(self.events[&key.1].signature());
            if buf.len() == buf.capacity() {
                h.update(&buf);
                buf.clear();
            }
        }
        h.update(&buf);
        Hash32(*h.finalize().as_bytes())
    }

    /// The state after every ordered event, to save and later [`Ledger::restore`]
    /// instead of replaying. None while nothing is ordered.
    pub fn snapshot(&mut self) -> Option<Snapshot> {
        self.catch_up();
        let at = self.applied_to?;
        Some(Snapshot::new(
            self.network,
            at,
            self.prefix_digest(at),
            self.claimed_bounds.clone(),
            self.equivocators.clone(),
            self.state.clone(),
        ))
    }

    /// Resumes the fold from a snapshot: the state becomes the snapshot's, and only
    /// events after its position are applied from then on. Meant for right after the
    /// stored events are inserted at start-up, but sound at any time.
    ///
    /// Refused, leaving the ledger as it was, unless this ledger's ordered events up to
    /// the snapshot's position are exactly those it was folded from, and no fact of
    /// the whole set learnt since (a Checkpoint bound the fold had already passed, an
    /// equivocation reaching back before the position) would have folded them
    /// differently. The state is then the same as a replay's, byte for byte.
    pub fn restore(&mut self, snap: Snapshot) -> Result<(), SnapshotError> {
        if snap.network != self.network {
            return Err(SnapshotError::WrongNetwork {
                expected: self.network,
                got: snap.network,
            });
        }
        let at = snap.at;
        if !self.order.contains(&at) || self.prefix_digest(at) != snap.prefix_digest {
            return Err(SnapshotError::OtherEvents);
        }
        let new_bounds = self
            .claimed_bounds
            .difference(&snap.claimed_bounds)
            .map(|b| (b.saturating_add(1), ContentId::ZERO));
        // Equivocator seqs only ever go down: any other value is one learnt since.
        let new_forks = self
            .equivocators
            .iter()
            .filter(|(a, s)| snap.equivocators.get(*a) != Some(*s))
            .filter_map(|(a, s)| self.first_key_from(a, *s));
        if new_bounds.chain(new_forks).min().is_some_and(|k| k <= at) {
            return Err(SnapshotError::Stale);
        }
        self.state = snap.state;
        self.root_cache = None;
        self.applied_to = Some(at);
        self.dirty_from = None;
        self.snapshots.clear();
        self.snapshots.insert(at, self.state.clone());
        Ok(())
    }

    fn mark_dirty(&mut self, key: OrderKey) {
        if self.applied_to.is_some_and(|a| key <= a) {
            self.dirty_from = Some(self.dirty_from.map_or(key, |d| d.min(key)));
        }
    }

    /// Brings the state up to date with every ordered event.
    fn catch_up(&mut self) {
        if self.dirty_from.is_some() || self.order.last().copied() != self.applied_to {
            self.root_cache = None;
        }
        if let Some(dirty) = self.dirty_from.take() {
            // Drop snapshots at or after the first changed position, resume from the
            // latest one before it (or from genesis).
            let _ = self.snapshots.split_off(&dirty);
            match self.snapshots.iter().next_back() {
                Some((k, s)) => {
                    self.applied_to = Some(*k);
                    self.state = s.clone();
                }
                None => {
                    self.applied_to = None;
                    self.state = initial_state(&self.genesis);
                }
            }
        }
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            claimed_bounds: &self.claimed_bounds,
            equivocators: &self.equivocators,
        };
        let range = match self.applied_to {
            Some(a) => self
                .order
                .range((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
            None => self.order.range(..),
        };
        for key in range {
            apply::apply(&mut self.state, &ctx, &self.events[&key.1]);
            self.applied_to = Some(*key);
            // Late events sort near the tip, so only the last stretch is worth
            // snapshots; snapshotting a long replay would only slow it (a snapshot
            // makes the next writes copy shared nodes).
            let remaining = self.order.len() as u64 - self.state.applied;
            let near_tip = remaining <= self.snapshot_interval.saturating_mul(MAX_SNAPSHOTS as u64);
            if near_tip && self.state.applied.is_multiple_of(self.snapshot_interval) {
                self.snapshots.insert(*key, self.state.clone());
                if self.snapshots.len() > MAX_SNAPSHOTS {
                    self.snapshots.pop_first();
                }
            }
        }
    }

    /// The state after applying every ordered event.
    pub fn state(&mut self) -> &State {
        self.catch_up();
        &self.state
    }

    pub fn state_root(&mut self) -> Hash32 {
        self.catch_up();
        *self.root_cache.get_or_insert_with(|| self.state.root())
    }

    /// What a Checkpoint at `bound` claims: the event count, the Merkle root of the
    /// content ids in order and the state root of the prefix of events with a Lamport
    /// clock at most `bound`.
    pub fn claim_at(&self, bound: u64) -> CheckpointClaim {
        claim_of(bound, &self.state_at(bound))
    }

    /// The prefix of events with a Lamport clock at most `bound`: its claim, the
    /// state after applying exactly it, and its content ids in ledger order (the
    /// leaves of `events_root`), from which auditors' proofs are built.
    pub fn prefix_at(&self, bound: u64) -> Prefix {
        let state = self.state_at(bound);
        let ids = self
            .order
            .range(..=(bound, Hash32([0xff; 32])))
            .map(|k| k.1)
            .collect();
        Prefix {
            claim: claim_of(bound, &state),
            state,
            ids,
        }
    }

    /// The state after exactly the events with a clock at most `bound`, folded from
    /// the latest kept snapshot at or below it that lies before any dirty position,
    /// or from genesis. An org node needs this for every checkpoint it signs, a
    /// stride behind the tip, where folding a million events from genesis would
    /// stall it for seconds.
    fn state_at(&self, bound: u64) -> State {
        let last = (bound, Hash32([0xff; 32]));
        let valid_before = self.dirty_from.unwrap_or((u64::MAX, Hash32([0xff; 32])));
        let start = self
            .snapshots
            .range(..=last)
            .next_back()
            .filter(|(k, _)| **k < valid_before);
        let (mut state, from) = match start {
            Some((k, s)) => (s.clone(), std::ops::Bound::Excluded(*k)),
            None => (initial_state(&self.genesis), std::ops::Bound::Unbounded),
        };
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            claimed_bounds: &self.claimed_bounds,
            equivocators: &self.equivocators,
        };
        for key in self.order.range((from, std::ops::Bound::Included(last))) {
            apply::apply(&mut state, &ctx, &self.events[&key.1]);
        }
        state
    }

    pub fn get(&self, id: &ContentId) -> Option<&SignedEvent> {
        self.events
            .get(id)
            .map(|e| &**e)
            .or_else(|| self.pending.get(id))
    }

    /// Ordered events, in ledger order.
    pub fn events(&self) -> impl Iterator<Item = &SignedEvent> {
        self.order.iter().map(|k| &*self.events[&k.1])
    }

    /// Ordered events (pending ones not counted).
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether `id` is ordered (held with its whole causal past).
    pub fn is_ordered(&self, id: &ContentId) -> bool {
        self.events.contains_key(id)
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// The highest seq and its id for `author`, if any event of theirs is ordered.
    pub fn chain_head(&self, author: &PublicKey) -> Option<(u64, ContentId)> {
        let seq = *self.heads.get(author)?;
        self.ids_at(author, seq).first().map(|id| (seq, *id))
    }

    /// Every ordered id at (author, seq): one, or more after an equivocation.
    fn ids_at(&self, author: &PublicKey, seq: u64) -> Vec<ContentId> {
        let mut ids: Vec<ContentId> = self
            .chains
            .get(&(*author, seq))
            .copied()
            .into_iter()
            .collect();
        if let Some(more) = self.forks.get(&(*author, seq)) {
            ids.extend(more);
        }
        ids
    }

    /// (Lamport clock, id) of every ordered event, sorted: the set a node reconciles
    /// with its peers. Pending events are left out: an event is passed on only once
    /// its causal past is present and it passed the ordering checks.
    pub fn all_items(&self) -> Vec<OrderKey> {
        self.order.iter().copied().collect()
    }

    /// Ids of the pending events.
    pub fn pending_ids(&self) -> Vec<ContentId> {
        self.pending.keys().copied().collect()
    }

    /// The event that introduces `key` (the first in ledger order): what a new
    /// member's (or an admitted or rotated org key's) first event names among its deps.
    pub fn introduction(&self, key: &PublicKey) -> Option<ContentId> {
        self.introductions.get(key).map(|k| k.1)
    }

    /// Highest Lamport clock among ordered events.
    pub fn max_lamport(&self) -> u64 {
        self.order.iter().next_back().map_or(0, |k| k.0)
    }

    /// Two events by one author at one seq, if the author equivocated: the proof.
    pub fn equivocation(&self, author: &PublicKey) -> Option<(&SignedEvent, &SignedEvent)> {
        let seq = self.equivocators.get(author)?;
        let ids = self.ids_at(author, *seq);
        Some((
            self.events.get(ids.first()?)?,
            self.events.get(ids.get(1)?)?,
        ))
    }
}

/// The claim of a prefix, from the state after it (whose frontier holds the count and
/// the Merkle root of its ids).
fn claim_of(bound: u64, state: &State) -> CheckpointClaim {
    CheckpointClaim {
        lamport_bound: bound,
        event_count: state.frontier.count(),
        events_root: state.frontier.root(),
        state_root: state.root(),
    }
}

fn initial_state(genesis: &Genesis) -> State {
    let mut state = State::default();
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
