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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Final {
    pub claim: CheckpointClaim,
    pub heads: Vec<ContentId>,
}

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
    /// The same events in ledger order, with the mark ending each epoch.
    order: BTreeSet<OrderKey>,
    /// (Lamport clock, id) of every ordered event: the set peers reconcile.
    items: BTreeSet<(u64, ContentId)>,
    /// Epoch of every event a finalized claim holds.
    epoch_of: HashMap<ContentId, u64>,
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
            items: BTreeSet::new(),
            epoch_of: HashMap::new(),
            chains: HashMap::new(),
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
        if signed {
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

    /// Ids among `ev`'s prev, deps and (for a Checkpoint) heads that are not yet
    /// ordered: what a pending event waits for.
    pub fn missing(&self, ev: &SignedEvent) -> Vec<ContentId> {
        refs(ev)
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
        }
        for d in refs(&ev) {
            floor = floor.max(self.events[d].lamport());
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
        let head = self.heads.entry(author).or_insert(seq);
        *head = (*head).max(seq);
        match self.chains.entry((author, seq)) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.forks.entry((author, seq)).or_default().push(id);
            }
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
        self.order.insert(key);
        self.items.insert((ev.lamport(), id));
        self.events.insert(id, Box::new(ev));
        Ok(())
    }

    /// Whether a tail event is late: its clock is at or below the last finalized bound,
    /// or it references a late tail event.
    fn is_late(&self, ev: &SignedEvent) -> bool {
        let bound = self.finals.last().map(|f| f.claim.lamport_bound);
        bound.is_some_and(|b| ev.lamport() <= b) || refs(ev).any(|r| self.late.contains(r))
    }

    /// Finalizes every claim that is due, in turn, each on top of the one before.
    ///
    /// Due: the claim builds on the last finalized one (`source` is its events root,
    /// zero for the first), its bound is above that one's, and the orgs that signed it
    /// with heads that give it (heads at or below the bound, whose prefix has exactly
    /// the claimed count, events root and state root), and signed no other claim at
    /// that bound, are a quorum of the orgs of the state after that prefix. The lowest
    /// bound is taken first, then the lowest claim.
    fn finalize_due(&mut self) {
        while let Some((fin, ids, state)) = self.next_final() {
            self.commit_final(fin, ids, state);
        }
    }

    fn next_final(&mut self) -> Option<(Final, Vec<ContentId>, State)> {
        let last = self.finals.last().map(|f| f.claim);
        let source = last.map_or(Hash32::ZERO, |c| c.events_root);
        let from = last.map_or(0, |c| c.lamport_bound.saturating_add(1));
        let rules = self.genesis.rules.clone();
        let bounds: Vec<u64> = self.signatures.range(from..).map(|(b, _)| *b).collect();
        for bound in bounds {
            // (claim, heads) → signers, for orgs that signed one claim at the bound.
            let mut signed: BTreeMap<(CheckpointClaim, Vec<ContentId>), Vec<PublicKey>> =
                BTreeMap::new();
            for (org, ids) in &self.signatures[&bound] {
                let claims: BTreeSet<(CheckpointClaim, &Vec<ContentId>)> = ids
                    .iter()
                    .filter_map(|i| {
                        let ev = &self.events[i];
                        match ev.payload() {
                            Payload::Checkpoint(c) if ev.lamport() > bound => {
                                Some((CheckpointClaim::from(c), &c.heads))
                            }
                            _ => None,
                        }
                    })
                    .collect();
                let distinct: BTreeSet<CheckpointClaim> = claims.iter().map(|c| c.0).collect();
                // An org that signed two claims at one bound counts for neither.
                if distinct.len() != 1 {
                    continue;
                }
                if let Some((claim, heads)) = claims.into_iter().next() {
                    if claim.source == source {
                        signed.entry((claim, heads.clone())).or_default().push(*org);
                    }
                }
            }
            let mut tally: BTreeMap<CheckpointClaim, (usize, Vec<ContentId>, usize)> =
                BTreeMap::new();
            for ((claim, heads), orgs) in signed {
                let Some((computed, prefix_orgs)) = self.computed(bound, &heads) else {
                    continue;
                };
                if computed != claim {
                    continue;
                }
                let valid = orgs.iter().filter(|o| prefix_orgs.contains(*o)).count();
                let t = tally
                    .entry(claim)
                    .or_insert((0, heads.clone(), prefix_orgs.len()));
                t.0 += valid;
            }
            for (claim, (valid, heads, n)) in tally {
                if rules.is_quorum(valid, n) {
                    let (ids, state) = match self.last_extended.take() {
                        Some((k, ids, state)) if k == (bound, heads.clone()) => (ids, state),
                        _ => {
                            let (_, ids, state) = self.extend(&heads, bound)?;
                            (ids, state)
                        }
                    };
                    return Some((Final { claim, heads }, ids, state));
                }
            }
        }
        None
    }

    /// The claim `heads` give at `bound` on top of the finalized prefix, and the orgs
    /// of the state after it; cached until the next finalization.
    fn computed(&mut self, bound: u64, heads: &[ContentId]) -> Option<Computed> {
        let key = (bound, heads.to_vec());
        if let Some(c) = self.claims_cache.get(&key) {
            return c.clone();
        }
        let extended = self.extend(heads, bound);
        let c = extended
            .as_ref()
            .map(|(claim, _, state)| (*claim, state.orgs.keys().copied().collect()));
        self.claims_cache.insert(key.clone(), c.clone());
        // Kept for the finalization that likely follows: folding a prefix twice would
        // double the cost of the first claim over a long log.
        self.last_extended = extended.map(|(_, ids, state)| (key, ids, state));
        c
    }

    /// The prefix `heads` give on top of the finalized one, as a claim at `bound`: its
    /// new ids in order and the state after them. None when a head is not ordered or
    /// above the bound.
    fn extend(
        &self,
        heads: &[ContentId],
        bound: u64,
    ) -> Option<(CheckpointClaim, Vec<ContentId>, State)> {
        let mut seen = std::collections::HashSet::new();
        let mut stack = Vec::new();
        for h in heads {
            let e = self.events.get(h)?;
            if e.lamport() > bound {
                return None;
            }
            stack.push(*h);
        }
        let mut ids = Vec::new();
        while let Some(x) = stack.pop() {
            if self.epoch_of.contains_key(&x) || !seen.insert(x) {
                continue;
            }
            let e = &self.events[&x];
            ids.push((e.lamport(), x));
            stack.extend(refs(e).copied());
        }
        ids.sort_unstable();
        let mut state = self.base.clone();
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            network: self.network,
        };
        for (_, id) in &ids {
            apply::apply(&mut state, &ctx, &self.events[id]);
        }
        let source = self
            .finals
            .last()
            .map_or(Hash32::ZERO, |f| f.claim.events_root);
        let claim = CheckpointClaim {
            lamport_bound: bound,
            source,
            event_count: state.frontier.count(),
            events_root: state.frontier.root(),
            state_root: state.root(),
        };
        Some((claim, ids.into_iter().map(|k| k.1).collect(), state))
    }

    /// Makes `fin` the next epoch: its new events move out of the tail, its mark
    /// settles, and the tail is folded again from there.
    fn commit_final(&mut self, fin: Final, ids: Vec<ContentId>, mut state: State) {
        let epoch = self.finals.len() as u64 + 1;
        for id in &ids {
            let lamport = self.events[id].lamport();
            let late = self.late.remove(id) as u64;
            self.order.remove(&(TAIL, late, lamport, *id));
            self.order.insert((epoch, 0, lamport, *id));
            self.epoch_of.insert(*id, epoch);
        }
        self.order.insert(mark(epoch));
        apply::finalize(&mut state, fin.claim);
        self.finals.push(fin);
        // The bound rose: which tail events are late is decided again, in clock
        // order so that a reference is decided before what names it.
        let mut tail: Vec<(u64, ContentId)> = self
            .order
            .range((TAIL, 0, 0, Hash32::ZERO)..)
            .map(|k| (k.2, k.3))
            .collect();
        tail.sort_unstable();
        for (lamport, id) in tail {
            let was = self.late.contains(&id);
            let now = self.is_late(&self.events[&id]);
            if was != now {
                self.order.remove(&(TAIL, was as u64, lamport, id));
                self.order.insert((TAIL, now as u64, lamport, id));
                if now {
                    self.late.insert(id);
                } else {
                    self.late.remove(&id);
                }
            }
        }
        self.claims_cache.clear();
        self.last_extended = None;
        self.base = state.clone();
        self.state = state;
        self.applied_to = Some(mark(epoch));
        self.dirty_from = None;
        self.snapshots.clear();
        self.root_cache = None;
    }

    /// Digest of every key up to `at` in ledger order, with each event's signature and
    /// each mark's claim: what names the exact prefix a snapshot was folded from.
    fn prefix_digest(&self, at: OrderKey) -> Hash32 {
        let mut h = blake3::Hasher::new_derive_key(snapshot::PREFIX_DIGEST_CONTEXT);
        // Hashed in large pieces: two small updates per event cost more than the rest.
        let mut buf = Vec::with_capacity(96 * 1024);
        for key in self.order.range(..=at) {
            if is_mark(key) {
                let Some(f) = self.finals.get(key.0 as usize - 1) else {
                    continue;
                };
                buf.extend_from_slice(&crate::encoding::to_canonical(&f.claim));
            } else {
                buf.extend_from_slice(key.3.as_bytes());
                buf.extend_from_slice(self.events[&key.3].signature());
            }
            if buf.len() >= 64 * 1024 {
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
            self.state.clone(),
        ))
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
        let at = snap.at;
        let floor = self.finals.len() as u64;
        // Only a position in the tail: the finalized prefix is already folded.
        if at.0 != TAIL && at != mark(floor)
            || !self.order.contains(&at)
            || self.prefix_digest(at) != snap.prefix_digest
        {
            return Err(SnapshotError::OtherEvents);
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
            // latest one before it, or from the end of the finalized prefix (nothing
            // inserted ever lands inside it).
            let _ = self.snapshots.split_off(&dirty);
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
        let total = self.events.len() as u64;
        for key in range {
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
            let remaining = total.saturating_sub(self.state.applied);
            let near_tip = remaining <= self.snapshot_interval.saturating_mul(MAX_SNAPSHOTS as u64);
            if key.0 == TAIL
                && near_tip
                && self.state.applied.is_multiple_of(self.snapshot_interval)
            {
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

    /// Claims finalized so far, epoch 1 first.
    pub fn finals(&self) -> &[Final] {
        &self.finals
    }

    /// The state at the end of the finalized prefix (after its settlement).
    pub fn finalized_state(&self) -> &State {
        &self.base
    }

    /// The heads an honest org names for a claim at `bound`: on each chain of an org's
    /// line, the last event at or below the bound that no finalized claim holds yet.
    /// A chain with two events at one seq is followed only up to the seq before.
    pub fn heads_at(&self, bound: u64) -> Vec<ContentId> {
        let mut out = Vec::new();
        for author in &self.line_authors {
            let Some(&top) = self.heads.get(author) else {
                continue;
            };
            let fork = self
                .forks
                .range((*author, 0)..=(*author, u64::MAX))
                .next()
                .map(|((_, s), _)| *s);
            let top = match fork {
                Some(0) => continue,
                Some(s) => top.min(s - 1),
                None => top,
            };
            let mut seq = top;
            loop {
                if let Some(id) = self.chains.get(&(*author, seq)) {
                    let e = &self.events[id];
                    if e.lamport() <= bound {
                        if !self.epoch_of.contains_key(id) {
                            out.push(*id);
                        }
                        break;
                    }
                }
                if seq == 0 {
                    break;
                }
                seq -= 1;
            }
        }
        out.sort_unstable();
        out
    }

    /// What an honest org signs at `bound`: the claim its [`Ledger::heads_at`] give on
    /// top of the finalized prefix. None when the bound is not above the last
    /// finalized one, or the claim would add nothing but Checkpoint events (a quiet
    /// network stops signing).
    pub fn claim_at(&self, bound: u64) -> Option<crate::payload::Checkpoint> {
        if self
            .finals
            .last()
            .is_some_and(|f| f.claim.lamport_bound >= bound)
        {
            return None;
        }
        let heads = self.heads_at(bound);
        let (claim, ids, _) = self.extend(&heads, bound)?;
        let settles = ids
            .iter()
            .any(|i| !matches!(self.events[i].payload(), Payload::Checkpoint(_)));
        settles.then(|| claim.payload(heads))
    }

    /// Whether the claims signed at `bound` are settled one way or the other: the
    /// last finalized bound reached it, or no claim there on top of the finalized
    /// prefix can reach a quorum, even if every org that has signed neither at the
    /// bound nor above it signs it. Orgs are those of the current state: an org
    /// evicted since is not waited for. An honest org signs its next bound only then (docs/protocol.md,
    /// "Signing checkpoints").
    pub fn bound_decided(&mut self, bound: u64) -> bool {
        let last = self.finals.last().map(|f| f.claim);
        if last.is_some_and(|c| c.lamport_bound >= bound) {
            return true;
        }
        let source = last.map_or(Hash32::ZERO, |c| c.events_root);
        let orgs: BTreeSet<PublicKey> = self.state().orgs.keys().copied().collect();
        let n = orgs.len();
        let Some(by_org) = self.signatures.get(&bound) else {
            return false;
        };
        let mut tally: BTreeMap<CheckpointClaim, usize> = BTreeMap::new();
        let mut signed = 0;
        for (_, ids) in by_org.iter().filter(|(o, _)| orgs.contains(*o)) {
            signed += 1;
            for i in ids {
                if let Payload::Checkpoint(c) = self.events[i].payload() {
                    let claim = CheckpointClaim::from(c);
                    if claim.source == source {
                        *tally.entry(claim).or_default() += 1;
                    }
                }
            }
        }
        // An org that signed a higher bound will not sign this one: orgs sign bounds
        // in increasing order.
        let moved_on = orgs
            .iter()
            .filter(|o| !by_org.contains_key(*o))
            .filter(|o| {
                self.signatures
                    .range(bound.saturating_add(1)..)
                    .any(|(_, m)| m.contains_key(*o))
            })
            .count();
        let unseen = n.saturating_sub(signed + moved_on);
        let best = tally.values().max().copied().unwrap_or(0);
        !self.genesis.rules.is_quorum(best + unseen, n)
    }

    /// The Checkpoint events signed at `bound`: what an org's next Checkpoint names in
    /// its deps, so that whoever holds it holds why the bound was decided.
    pub fn signatures_at(&self, bound: u64) -> Vec<ContentId> {
        self.signatures
            .get(&bound)
            .map(|m| m.values().flatten().copied().collect())
            .unwrap_or_default()
    }

    /// Bounds above `after` that some Checkpoint names, lowest first.
    pub fn signed_bounds_above(&self, after: u64) -> Vec<u64> {
        self.signatures
            .range(after.saturating_add(1)..)
            .map(|(b, _)| *b)
            .collect()
    }

    /// The last bound `org` signed, if any.
    pub fn last_signed(&self, org: &PublicKey) -> Option<u64> {
        self.signatures
            .iter()
            .rev()
            .find(|(_, m)| m.contains_key(org))
            .map(|(b, _)| *b)
    }

    /// Ordered events that no event on an org's line reaches yet, by (Lamport, id):
    /// what org nodes seal.
    pub fn unsealed(&self) -> impl Iterator<Item = &SignedEvent> {
        self.unsealed.iter().map(|k| &*self.events[&k.1])
    }

    /// The finalized prefix of epoch `epoch` (1 = first): its claim, the state before
    /// its settlement (what `state_root` commits to) and its ids in ledger order (the
    /// leaves of `events_root`), from which auditors' proofs are built. Folds from
    /// genesis: for audits, not for every event.
    pub fn finalized_prefix(&self, epoch: usize) -> Option<Prefix> {
        let fin = self.finals.get(epoch.checked_sub(1)?)?;
        let mut state = initial_state(&self.genesis);
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            network: self.network,
        };
        let mut ids = Vec::new();
        for key in self.order.range(..mark(epoch as u64)) {
            if is_mark(key) {
                if let Some(f) = self.finals.get(key.0 as usize - 1) {
                    apply::finalize(&mut state, f.claim);
                }
            } else {
                apply::apply(&mut state, &ctx, &self.events[&key.3]);
                ids.push(key.3);
            }
        }
        Some(Prefix {
            claim: fin.claim,
            state,
            ids,
        })
    }

    /// The epoch of `id`: the number of the finalized claim whose prefix first holds
    /// it, if one does.
    pub fn epoch(&self, id: &ContentId) -> Option<u64> {
        self.epoch_of.get(id).copied()
    }

    pub fn get(&self, id: &ContentId) -> Option<&SignedEvent> {
        self.events
            .get(id)
            .map(|e| &**e)
            .or_else(|| self.pending.get(id))
    }

    /// Replaces an ordered event by its form with the teaser erased (docs/protocol.md,
    /// "Erasure"): the same id and signature, so nothing derived from the event
    /// changes. Returns the erased event, or `None` if `id` is not ordered or carries
    /// no shown teaser.
    pub fn erase_teaser(&mut self, id: &ContentId) -> Option<SignedEvent> {
        let held = self.events.get_mut(id)?;
        let erased = held.erased()?;
        **held = erased.clone();
        Some(erased)
    }

    /// Ordered events, in ledger order.
    pub fn events(&self) -> impl Iterator<Item = &SignedEvent> {
        self.order
            .iter()
            .filter(|k| !is_mark(k))
            .map(|k| &*self.events[&k.3])
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
    pub fn all_items(&self) -> Vec<(u64, ContentId)> {
        self.items.iter().copied().collect()
    }

    /// Ordered events after `at` in ledger order (marks left out): what a snapshot
    /// taken at `at` has not applied.
    pub fn ids_after(&self, at: OrderKey) -> Vec<ContentId> {
        self.order
            .range((std::ops::Bound::Excluded(at), std::ops::Bound::Unbounded))
            .filter(|k| !is_mark(k))
            .map(|k| k.3)
            .collect()
    }

    /// Ids of the pending events.
    pub fn pending_ids(&self) -> Vec<ContentId> {
        self.pending.keys().copied().collect()
    }

    /// The event that introduces `key` (the first by clock and id): what a new
    /// member's (or an admitted or rotated org key's) first event names among its deps.
    pub fn introduction(&self, key: &PublicKey) -> Option<ContentId> {
        self.introductions.get(key).map(|k| k.1)
    }

    /// Highest Lamport clock among ordered events.
    pub fn max_lamport(&self) -> u64 {
        self.items.iter().next_back().map_or(0, |k| k.0)
    }

    /// Two events by one author at one seq, if the author equivocated: the proof.
    pub fn equivocation(&self, author: &PublicKey) -> Option<(&SignedEvent, &SignedEvent)> {
        let ((_, seq), more) = self
            .forks
            .range((*author, 0)..=(*author, u64::MAX))
            .next()?;
        let first = self.chains.get(&(*author, *seq))?;
        Some((self.events.get(first)?, self.events.get(more.first()?)?))
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
