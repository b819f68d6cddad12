//! Catch-up sync as a state machine: no sockets, no clock, no engine.
//!
//! Gossip carries new events; sync repairs what gossip missed (a node that was down,
//! a message dropped). The initiator reconciles its set of content ids with a peer's in
//! negentropy rounds, then fetches the events it lacks (docs/protocol.md, "Peer
//! protocol"). This module keeps the sessions and decides what to send next; the event
//! loop moves the bytes over libp2p request-response, decodes and ingests the events it
//! is handed, and reports the requests that failed. The tests at the end drive two
//! machines against each other directly, losing and reordering replies.
//!
//! A catch-up is fetched through a window per peer: what a reconciliation finds
//! missing is queued, and at most [`MAX_FETCHES_IN_FLIGHT`] fetches of it are under
//! way at once, each leaving its slot only once its events were ingested. The queue
//! keeps the order of reconciliation, which is the order of the Lamport clock but
//! within one range of at most a frame's ids (negentropy hands a range's ids in hash
//! order), so what waits for its past stays within about one range; sending every
//! fetch at once made their answers arrive in any order, and a catch-up of 100,000
//! events outgrew the bound on pending events. Ids a pending event waits for jump the
//! queue. One reconciliation queues at most [`MAX_QUEUED_IDS`]; once they are in, the
//! next one finds the rest, so a catch-up of ten million events holds neither ten
//! million ids nor ten million requests.

use carnet_protocol::ledger::ItemsView;
use carnet_protocol::ContentId;
use negentropy::{Bound, Id, Item, Negentropy, NegentropyStorageBase};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

/// Negentropy frame size limit (bytes); bounds one reconciliation message.
pub const NEGENTROPY_FRAME_BYTES: u64 = 512 * 1024;
/// Most events asked for in one fetch; 256 × 16 KiB stays under the response limit.
pub const MAX_FETCH_IDS: usize = 256;
/// Fetches one peer is asked at once, counted until their events were ingested:
/// 16,384 events, some 280 ms of verifying. Enough to hide a round trip, and to keep
/// the verifier busy while the loop stops for its settle (some 80 ms a second through
/// a catch-up): with 16, the window filled with verified fetches waiting for the loop
/// and the verifier idled 40% of a catch-up (docs/benchmarks.md, "Where node 1's loop
/// stops through a catch-up").
pub const MAX_FETCHES_IN_FLIGHT: usize = 64;
/// Most events one peer's window holds: those its fetches under way ask for
/// ([`MAX_FETCH_IDS`] each) and those it brought that still wait for their past. A
/// fetch goes only while it fits (or while none is under way), so what waits stays
/// within two reconciliation ranges (a frame's ids, 16,384) whatever order the
/// answers come in, half the node's bound on fetched events pending a peer
/// (`pending::MAX_FETCHED_PENDING_PER_PEER`): counted in fetches alone, 64 of them
/// answered in any order left 57,923 waiting (the test below).
pub const MAX_WINDOW_EVENTS: usize = 2 * 16_384;
/// Most ids one reconciliation queues for fetching (32 bytes each, about 80 with
/// their entry among those asked): a reconciliation that finds more stops there, and
/// the next starts once they are fetched.
pub const MAX_QUEUED_IDS: usize = 1 << 18;

/// Sequences of byte strings as CBOR arrays of byte strings (serde_bytes does one
/// byte string; serde alone writes bytes as arrays of integers, 1.9x the size).
mod byte_strings {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer, T: AsRef<[u8]>>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| serde_bytes::Bytes::new(b.as_ref())))
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: TryFrom<Vec<u8>>>(
        d: D,
    ) -> Result<Vec<T>, D::Error> {
        Vec::<serde_bytes::ByteBuf>::deserialize(d)?
            .into_iter()
            .map(|b| {
                T::try_from(b.into_vec())
                    .map_err(|_| D::Error::custom("a byte string of the wrong length"))
            })
            .collect()
    }
}

/// A sync request (docs/protocol.md, "Peer protocol"). Bytes are CBOR byte strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncRequest {
    /// A negentropy message from the initiator.
    Reconcile(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Content ids of events the requester lacks.
    Fetch(#[serde(with = "byte_strings")] Vec<[u8; 32]>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncResponse {
    Reconcile(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Wire bytes of the requested events that this node holds.
    Events(#[serde(with = "byte_strings")] Vec<Vec<u8>>),
    Refused(String),
}

/// Counters of catch-up sync, for status and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub sessions: u64,
    pub rounds: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub events_fetched: u64,
}

/// What the machine needs of the events this node holds.
pub trait Held {
    /// Changes whenever the held set changes, so the index is rebuilt only then.
    fn generation(&self) -> u64;
    /// The Lamport clock and content id of every held event, as a frozen copy.
    fn items(&self) -> ItemsView;
    /// The wire bytes of a held event.
    fn bytes(&self, id: &ContentId) -> Option<Vec<u8>>;
    /// Whether the node has the event in any form: held, or waiting for its past.
    /// The reconciliation set holds only the former, so a peer's reconciliation finds
    /// a waiting event missing; it is not fetched again.
    fn holds(&self, id: &ContentId) -> bool;
}

/// Names one request this machine made; the transport maps its own request ids to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(u64);

/// A request to send to `peer`; its answer goes to [`Sync::on_response`] with `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing<P> {
    pub token: Token,
    pub peer: P,
    pub request: SyncRequest,
}

/// What an answer asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<P> {
    /// Nothing: the reconciliation found nothing missing, or the answer was to a
    /// request the machine no longer waits for (a duplicate, or one given up).
    Idle,
    /// Requests to send: the next reconciliation round, or fetches of what was found
    /// missing.
    Send(Vec<Outgoing<P>>),
    /// Events a fetch brought: to decode and ingest, then hand `asked` back to
    /// [`Sync::fetched`] and [`Sync::fetch`] what they still wait for. `asked` is what
    /// the fetch asked for: an event served that is none of them is the peer's
    /// offence, not this node's to hold.
    Events {
        peer: P,
        events: Vec<Vec<u8>>,
        asked: Vec<ContentId>,
    },
    /// The peer declined (it has not admitted this node yet, or rate-limits it): no
    /// offence, a later round tries again.
    Refused { peer: P, reason: String },
    /// The peer broke the protocol: an answer of the wrong kind, a malformed
    /// negentropy message, more events than were asked for.
    Misbehaved { peer: P, reason: String },
}

enum Session<P> {
    Reconciling {
        peer: P,
        neg: Box<Negentropy<'static, Shared>>,
        need: Vec<Id>,
    },
    Fetching {
        peer: P,
        asked: Vec<ContentId>,
    },
}

/// Where an id to fetch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asked {
    /// In a peer's queue (or two: an id a pending event waits for is queued again in
    /// front; whichever copy comes first is sent, the other skipped).
    Queued,
    /// In a fetch under way, or whose events are being ingested.
    Sent,
}

/// One peer's fetch window.
#[derive(Debug, Default)]
struct Window {
    /// Ids pending events wait for: sent before the queue.
    urgent: VecDeque<ContentId>,
    /// What reconciliation found missing, in its order.
    queue: VecDeque<ContentId>,
    /// Fetches sent whose events were not yet handed back by [`Sync::fetched`].
    in_flight: usize,
    /// Events fetched from this peer that wait for their past, as [`Sync::fetched`]
    /// last heard: they hold room in the window ([`MAX_WINDOW_EVENTS`]).
    pending: usize,
    /// The last reconciliation stopped at [`MAX_QUEUED_IDS`]: once the window is
    /// done, reconcile again for the rest.
    more: bool,
}

impl Window {
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.urgent.is_empty() && self.queue.is_empty()
    }
}

/// The sync sessions of one node, with `P` naming peers (libp2p's `PeerId` in the
/// node, small integers in tests).
pub struct Sync<P> {
    next_token: u64,
    sessions: HashMap<Token, Session<P>>,
    /// Peers with a reconciliation under way: one at a time per peer.
    reconciling: BTreeSet<P>,
    /// Ids queued or asked for and not yet ingested: not asked again meanwhile. A
    /// catch-up takes many sync intervals, and each round of reconciliation finds all
    /// those not yet ingested missing again; fetching them twice cost 2.5 times the
    /// events a 40,000-event catch-up needed.
    asked: HashMap<ContentId, Asked>,
    /// Each peer's fetch window, while it has anything queued or under way.
    windows: BTreeMap<P, Window>,
    window: usize,
    window_events: usize,
    max_queued: usize,
    /// The sealed reconciliation index of the held events and the generation it was
    /// built at: rebuilding it is O(n log n), answering from it is not.
    index: Option<(u64, Shared)>,
    stats: SyncStats,
}

impl<P: Copy + Ord> Default for Sync<P> {
    fn default() -> Self {
        Sync {
            next_token: 0,
            sessions: HashMap::new(),
            reconciling: BTreeSet::new(),
            asked: HashMap::new(),
            windows: BTreeMap::new(),
            window: MAX_FETCHES_IN_FLIGHT,
            window_events: MAX_WINDOW_EVENTS,
            max_queued: MAX_QUEUED_IDS,
            index: None,
            stats: SyncStats::default(),
        }
    }
}

/// The index of the held set, shared by the reconciliations this node starts: each
/// holds the copy it began with, unchanged as the held set changes under it. A copy
/// of the ledger's own sorted set ([`ItemsView`], which shares its chunks), so that
/// neither a second sorted copy of every (clock, id) (40 bytes an event, 400 MB at
/// ten million) nor its rebuild on every change is needed.
#[derive(Clone)]
struct Shared(Arc<ItemsView>);

fn item(&(lamport, id): &(u64, ContentId)) -> Item {
    Item {
        timestamp: lamport,
        id: Id::from_byte_array(*id.as_bytes()),
    }
}

impl NegentropyStorageBase for Shared {
    fn size(&self) -> Result<usize, negentropy::Error> {
        Ok(self.0.len())
    }
    fn get_item(&self, i: usize) -> Result<Option<Item>, negentropy::Error> {
        Ok(self.0.get(i).map(item))
    }
    fn iterate(
        &self,
        begin: usize,
        end: usize,
        cb: &mut dyn FnMut(Item, usize) -> Result<bool, negentropy::Error>,
    ) -> Result<(), negentropy::Error> {
        if begin > end || end > self.0.len() {
            return Err(negentropy::Error::BadRange);
        }
        for (i, it) in (begin..).zip(self.0.range(begin, end)) {
            if !cb(item(it), i)? {
                break;
            }
        }
        Ok(())
    }
    fn find_lower_bound(&self, first: usize, last: usize, value: &Bound) -> usize {
        self.0.lower_bound(first, last, |it| item(it) < value.item)
    }
}

impl<P: Copy + Ord> Sync<P> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A machine with other bounds than [`MAX_FETCHES_IN_FLIGHT`],
    /// [`MAX_WINDOW_EVENTS`] and [`MAX_QUEUED_IDS`], for tests that need them small.
    pub fn with_limits(window: usize, window_events: usize, max_queued: usize) -> Self {
        Sync {
            window: window.max(1),
            window_events,
            max_queued: max_queued.max(1),
            ..Self::default()
        }
    }

    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// Whether a reconciliation with `peer` is under way.
    pub fn is_reconciling(&self, peer: &P) -> bool {
        self.reconciling.contains(peer)
    }

    /// Requests sent and not yet answered or failed.
    pub fn in_flight(&self) -> usize {
        self.sessions.len()
    }

    fn index(&mut self, held: &impl Held) -> Option<&Shared> {
        let generation = held.generation();
        if self.index.as_ref().map(|(g, _)| *g) != Some(generation) {
            self.index = Some((generation, Shared(Arc::new(held.items()))));
        }
        self.index.as_ref().map(|(_, s)| s)
    }

    fn request(&mut self, peer: P, request: SyncRequest, session: Session<P>) -> Outgoing<P> {
        let token = Token(self.next_token);
        self.next_token += 1;
        self.sessions.insert(token, session);
        Outgoing {
            token,
            peer,
            request,
        }
    }

    /// Ids queued for fetching from any peer, not yet sent.
    pub fn queued(&self) -> usize {
        self.asked.values().filter(|a| **a == Asked::Queued).count()
    }

    /// Starts a reconciliation with `peer`, unless one is under way already or what
    /// the last one found is still being fetched.
    pub fn initiate(&mut self, peer: P, held: &impl Held) -> Option<Outgoing<P>> {
        if self.reconciling.contains(&peer) || self.windows.contains_key(&peer) {
            return None;
        }
        let storage = self.index(held)?.clone();
        let mut neg = Negentropy::owned(storage, NEGENTROPY_FRAME_BYTES).ok()?;
        let msg = neg.initiate().ok()?;
        self.stats.sessions += 1;
        self.stats.bytes_sent += msg.len() as u64;
        self.reconciling.insert(peer);
        let session = Session::Reconciling {
            peer,
            neg: Box::new(neg),
            need: Vec::new(),
        };
        Some(self.request(peer, SyncRequest::Reconcile(msg), session))
    }

    /// Asks `peer` for `ids`, which pending events wait for: ahead of what `peer`'s
    /// window has queued, and taken out of that queue if there; not at all if a fetch
    /// under way asks for them already. Returns the fetches the window has room for.
    pub fn fetch(&mut self, peer: P, ids: &[ContentId]) -> Vec<Outgoing<P>> {
        self.want(peer, ids);
        self.pump(peer)
    }

    /// Puts `ids` ahead of `peer`'s queue, but those a fetch under way asks for.
    fn want(&mut self, peer: P, ids: &[ContentId]) {
        let window = self.windows.entry(peer).or_default();
        for id in ids {
            match self.asked.get(id) {
                Some(Asked::Sent) => {}
                Some(Asked::Queued) => window.urgent.push_back(*id),
                None => {
                    self.asked.insert(*id, Asked::Queued);
                    window.urgent.push_back(*id);
                }
            }
        }
    }

    /// Queues what a reconciliation with `peer` found missing, but ids queued or
    /// asked already, and returns the fetches the window has room for. `more`: the
    /// reconciliation stopped before its end.
    fn enqueue(
        &mut self,
        peer: P,
        ids: impl IntoIterator<Item = ContentId>,
        more: bool,
    ) -> Vec<Outgoing<P>> {
        let window = self.windows.entry(peer).or_default();
        window.more = more;
        for id in ids {
            if let std::collections::hash_map::Entry::Vacant(e) = self.asked.entry(id) {
                e.insert(Asked::Queued);
                window.queue.push_back(id);
            }
        }
        self.pump(peer)
    }

    /// Sends fetches of `peer`'s queued ids, urgent ones first, while its window has
    /// room: fewer than [`MAX_FETCHES_IN_FLIGHT`] under way, and one more fits in
    /// [`MAX_WINDOW_EVENTS`] with what waits (or none under way, so that what waits
    /// gets what it waits for). Forgets the window once it is empty.
    fn pump(&mut self, peer: P) -> Vec<Outgoing<P>> {
        let mut chunks = Vec::new();
        if let Some(window) = self.windows.get_mut(&peer) {
            while window.in_flight < self.window
                && (window.in_flight == 0
                    || (window.in_flight + 1)
                        .saturating_mul(MAX_FETCH_IDS)
                        .saturating_add(window.pending)
                        <= self.window_events)
            {
                let mut chunk = Vec::new();
                while chunk.len() < MAX_FETCH_IDS {
                    let Some(id) = window
                        .urgent
                        .pop_front()
                        .or_else(|| window.queue.pop_front())
                    else {
                        break;
                    };
                    // A copy already sent, or released with a failed fetch.
                    if let Some(a @ Asked::Queued) = self.asked.get_mut(&id) {
                        *a = Asked::Sent;
                        chunk.push(id);
                    }
                }
                if chunk.is_empty() {
                    break;
                }
                window.in_flight += 1;
                chunks.push(chunk);
            }
            if window.is_idle() {
                self.windows.remove(&peer);
            }
        }
        chunks
            .into_iter()
            .map(|chunk| {
                let ids = chunk.iter().map(|id| *id.as_bytes()).collect();
                let session = Session::Fetching { peer, asked: chunk };
                self.request(peer, SyncRequest::Fetch(ids), session)
            })
            .collect()
    }

    /// The answer to a peer's request. Whether the peer may ask at all (admission,
    /// rate) is the caller's decision, made before.
    pub fn answer(&mut self, request: SyncRequest, held: &impl Held) -> SyncResponse {
        match request {
            SyncRequest::Reconcile(msg) => {
                self.stats.bytes_received += msg.len() as u64;
                let reply = self
                    .index(held)
                    .and_then(|s| Negentropy::borrowed(s, NEGENTROPY_FRAME_BYTES).ok())
                    .map(|mut n| n.reconcile(&msg));
                match reply {
                    Some(Ok(reply)) => {
                        self.stats.bytes_sent += reply.len() as u64;
                        SyncResponse::Reconcile(reply)
                    }
                    Some(Err(e)) => {
                        SyncResponse::Refused(format!("bad reconciliation message: {e}"))
                    }
                    None => SyncResponse::Refused("reconciliation unavailable".into()),
                }
            }
            SyncRequest::Fetch(ids) if ids.len() > MAX_FETCH_IDS => {
                SyncResponse::Refused(format!("at most {MAX_FETCH_IDS} ids per fetch"))
            }
            SyncRequest::Fetch(ids) => SyncResponse::Events(
                ids.iter()
                    .filter_map(|id| held.bytes(&carnet_protocol::Hash32(*id)))
                    .collect(),
            ),
        }
    }

    /// Takes the answer to the request named `token`. What a reconciliation finds
    /// missing is fetched, but for events `held` has in any form.
    pub fn on_response(
        &mut self,
        token: Token,
        response: SyncResponse,
        held: &impl Held,
    ) -> Outcome<P> {
        let Some(session) = self.sessions.remove(&token) else {
            return Outcome::Idle;
        };
        match (session, response) {
            (
                Session::Reconciling {
                    peer,
                    mut neg,
                    mut need,
                },
                SyncResponse::Reconcile(msg),
            ) => {
                self.stats.rounds += 1;
                self.stats.bytes_received += msg.len() as u64;
                let mut have = Vec::new();
                match neg.reconcile_with_ids(&msg, &mut have, &mut need) {
                    Ok(Some(next)) if need.len() < self.max_queued => {
                        self.stats.bytes_sent += next.len() as u64;
                        let session = Session::Reconciling { peer, neg, need };
                        Outcome::Send(vec![self.request(
                            peer,
                            SyncRequest::Reconcile(next),
                            session,
                        )])
                    }
                    // Done, or found as much as one window queues: the rest is for
                    // the next reconciliation, once this is fetched.
                    Ok(next) => {
                        self.reconciling.remove(&peer);
                        let ids: Vec<ContentId> = need
                            .iter()
                            .map(|id| carnet_protocol::Hash32(id.to_bytes()))
                            .filter(|id| !held.holds(id))
                            .collect();
                        match self.enqueue(peer, ids, next.is_some()) {
                            out if out.is_empty() => Outcome::Idle,
                            out => Outcome::Send(out),
                        }
                    }
                    Err(e) => {
                        self.reconciling.remove(&peer);
                        Outcome::Misbehaved {
                            peer,
                            reason: format!("a bad reconciliation message: {e}"),
                        }
                    }
                }
            }
            (Session::Fetching { peer, asked }, SyncResponse::Events(events)) => {
                self.stats.bytes_received += events.iter().map(|e| e.len() as u64).sum::<u64>();
                if events.len() > asked.len() {
                    let reason = format!("served {} events for {} ids", events.len(), asked.len());
                    self.end(Session::Fetching { peer, asked });
                    Outcome::Misbehaved { peer, reason }
                } else {
                    Outcome::Events {
                        peer,
                        events,
                        asked,
                    }
                }
            }
            (session, SyncResponse::Refused(reason)) => Outcome::Refused {
                peer: self.end(session),
                reason,
            },
            (session, _) => Outcome::Misbehaved {
                peer: self.end(session),
                reason: "an answer of the wrong kind".into(),
            },
        }
    }

    /// The request named `token` got no answer (timeout, closed connection): its
    /// session ends, so the next round may reconcile with that peer again.
    pub fn on_failure(&mut self, token: Token) {
        if let Some(session) = self.sessions.remove(&token) {
            self.end(session);
        }
    }

    /// Ends a fetch from `peer` whose events were ingested (`asked` as
    /// [`Outcome::Events`] gave it), `new_events` of them new to this node, and asks
    /// for `wanted`, what the pending ones among them wait for, as
    /// [`Sync::fetch`] does: until then what it asked for is not asked again, so
    /// events being verified are not fetched twice, and it holds its place in the
    /// window. What it asked for and did not get may be wanted at once. `pending`:
    /// the events fetched from `peer` that wait for their past now, which hold room
    /// in its window. Returns the requests to send next: fetches of what is wanted
    /// and queued, or the reconciliation that finds what the last one left for later.
    pub fn fetched(
        &mut self,
        peer: P,
        asked: &[ContentId],
        new_events: u64,
        wanted: &[ContentId],
        pending: usize,
        held: &impl Held,
    ) -> Vec<Outgoing<P>> {
        self.release(asked);
        self.stats.events_fetched += new_events;
        let window = self.windows.entry(peer).or_default();
        window.in_flight = window.in_flight.saturating_sub(1);
        window.pending = pending;
        let more = window.more;
        self.want(peer, wanted);
        let mut out = self.pump(peer);
        if more && !self.windows.contains_key(&peer) {
            out.extend(self.initiate(peer, held));
        }
        out
    }

    /// What a fetch asked for may be asked again.
    fn release(&mut self, asked: &[ContentId]) {
        for id in asked {
            self.asked.remove(id);
        }
    }

    /// A fetch from `peer` failed, was refused or broke the protocol, or brought
    /// events the store could not take (no further fetch then brings more it would
    /// refuse the same way): what it asked for and what the peer's window still
    /// queues may be asked again, and the next reconciliation finds what is still
    /// missing.
    pub fn abandon(&mut self, peer: P, asked: &[ContentId]) {
        self.release(asked);
        if let Some(window) = self.windows.get_mut(&peer) {
            window.in_flight = window.in_flight.saturating_sub(1);
            window.more = false;
            for id in window.urgent.drain(..).chain(window.queue.drain(..)) {
                if self.asked.get(&id) == Some(&Asked::Queued) {
                    self.asked.remove(&id);
                }
            }
            if window.in_flight == 0 {
                self.windows.remove(&peer);
            }
        }
    }

    fn end(&mut self, session: Session<P>) -> P {
        match session {
            Session::Reconciling { peer, .. } => {
                self.reconciling.remove(&peer);
                peer
            }
            Session::Fetching { peer, asked } => {
                self.abandon(peer, &asked);
                peer
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, VecDeque};

    /// A node's events, keyed by id: the "event" is its id's bytes plus a payload, and
    /// an event may wait for another (its parent), as a chain's next event does.
    #[derive(Default, Clone)]
    struct Store {
        events: BTreeMap<ContentId, u64>,
        /// Events held but waiting for their past: not in the reconciliation set.
        pending: BTreeSet<ContentId>,
        generation: u64,
    }

    fn id(n: u64) -> ContentId {
        carnet_protocol::Hash32(*blake3::hash(&n.to_le_bytes()).as_bytes())
    }

    fn event(n: u64) -> Vec<u8> {
        n.to_le_bytes().to_vec()
    }

    impl Store {
        fn with(range: impl IntoIterator<Item = u64>) -> Store {
            let mut s = Store::default();
            for n in range {
                s.insert(n);
            }
            s
        }
        fn insert(&mut self, n: u64) -> bool {
            let new = self.events.insert(id(n), n).is_none();
            self.generation += u64::from(new);
            new
        }
        fn numbers(&self) -> BTreeSet<u64> {
            self.events.values().copied().collect()
        }
    }

    impl Held for Store {
        fn generation(&self) -> u64 {
            self.generation
        }
        fn items(&self) -> ItemsView {
            let items = self.events.iter().map(|(id, n)| (*n, *id)).collect();
            carnet_protocol::ledger::Items::from_items(items).view()
        }
        fn bytes(&self, id: &ContentId) -> Option<Vec<u8>> {
            self.events.get(id).map(|n| event(*n))
        }
        fn holds(&self, id: &ContentId) -> bool {
            self.events.contains_key(id) || self.pending.contains(id)
        }
    }

    /// One party: its machine and its events.
    struct Party {
        sync: Sync<usize>,
        store: Store,
    }

    /// A request on the wire from party `from`, and what is done with its answer.
    struct InFlight {
        from: usize,
        out: Outgoing<usize>,
    }

    #[derive(Clone, Copy)]
    enum Fault {
        None,
        /// One answer in `n` is lost (the request times out).
        LoseOneIn(u64),
        /// Answers are delivered newest first.
        Reverse,
    }

    /// Runs sync between two parties until nothing is in flight; the event "parent"
    /// rule: event `n` of an odd number waits for `n - 1`, fetched in a second request.
    /// Returns the number of answers lost.
    fn drive(parties: &mut [Party; 2], start: &[usize], fault: Fault) -> usize {
        let mut wire: VecDeque<InFlight> = VecDeque::new();
        for &from in start {
            let to = 1 - from;
            if let Some(out) = parties[from].sync.initiate(to, &parties[from].store) {
                wire.push_back(InFlight { from, out });
            }
        }
        let mut lost = 0;
        while let Some(InFlight { from, out }) = match fault {
            Fault::Reverse => wire.pop_back(),
            _ => wire.pop_front(),
        } {
            let to = out.peer;
            let (server, client) = if from == 0 {
                let [a, b] = parties;
                (b, a)
            } else {
                let [a, b] = parties;
                (a, b)
            };
            let response = server.sync.answer(out.request, &server.store);
            // Chosen by a hash of the token, which keeps counting across rounds: not
            // the same request of every round.
            let scrambled = out.token.0.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
            if matches!(fault, Fault::LoseOneIn(k) if scrambled % k == 0) {
                lost += 1;
                client.sync.on_failure(out.token);
                continue;
            }
            match client.sync.on_response(out.token, response, &client.store) {
                Outcome::Send(next) => {
                    wire.extend(next.into_iter().map(|out| InFlight { from, out }))
                }
                Outcome::Events {
                    peer,
                    events,
                    asked,
                } => {
                    assert_eq!(peer, to);
                    let mut wanted = Vec::new();
                    let mut new = 0;
                    for bytes in events {
                        let n = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                        new += u64::from(client.store.insert(n));
                        if n % 2 == 1 && !client.store.events.contains_key(&id(n - 1)) {
                            wanted.push(id(n - 1));
                        }
                    }
                    wanted.retain(|w| !client.store.events.contains_key(w));
                    let next = client
                        .sync
                        .fetched(peer, &asked, new, &wanted, 0, &client.store);
                    wire.extend(next.into_iter().map(|out| InFlight { from, out }));
                }
                Outcome::Idle => {}
                other => panic!("unexpected outcome {other:?}"),
            }
        }
        lost
    }

    fn party(range: impl IntoIterator<Item = u64>) -> Party {
        Party {
            sync: Sync::new(),
            store: Store::with(range),
        }
    }

    #[test]
    fn the_initiator_gets_what_it_lacks_and_nothing_else() {
        let mut parties = [party(0..1000), party(500..3000)];
        drive(&mut parties, &[0], Fault::None);
        assert_eq!(parties[0].store.numbers(), (0..3000).collect());
        // Pull only: the answering side learns nothing.
        assert_eq!(parties[1].store.numbers(), (500..3000).collect());
        let stats = parties[0].sync.stats();
        assert_eq!(stats.events_fetched, 2000);
        assert_eq!((stats.sessions, parties[0].sync.in_flight()), (1, 0));
        assert!(!parties[0].sync.is_reconciling(&1));
    }

    #[test]
    fn both_directions_at_once_converge() {
        let mut parties = [party((0..4000).step_by(3)), party((0..4000).step_by(5))];
        drive(&mut parties, &[0, 1], Fault::None);
        let all: BTreeSet<u64> = (0..4000).filter(|n| n % 3 == 0 || n % 5 == 0).collect();
        assert_eq!(parties[0].store.numbers(), all);
        assert_eq!(parties[1].store.numbers(), all);
    }

    #[test]
    fn equal_sets_exchange_one_round_and_fetch_nothing() {
        let mut parties = [party(0..2000), party(0..2000)];
        drive(&mut parties, &[0], Fault::None);
        let stats = parties[0].sync.stats();
        assert_eq!((stats.rounds, stats.events_fetched), (1, 0));
    }

    #[test]
    fn a_large_gap_takes_several_rounds_and_fetches() {
        // 300,000 ids do not fit one 512 KiB frame, and 20,000 missing ones need
        // many fetches of at most MAX_FETCH_IDS.
        let mut parties = [party(0..280_000), party(0..300_000)];
        drive(&mut parties, &[0], Fault::None);
        assert_eq!(parties[0].store.numbers().len(), 300_000);
        assert!(parties[0].sync.stats().rounds > 1);
    }

    #[test]
    fn dependencies_fetched_later_arrive_when_answers_come_in_reverse() {
        let mut parties = [party(0..10), party(0..1200)];
        drive(&mut parties, &[0], Fault::Reverse);
        assert_eq!(parties[0].store.numbers(), (0..1200).collect());
    }

    #[test]
    fn lost_answers_end_the_session_and_a_later_round_finishes_the_job() {
        let mut parties = [party(0..100), party(0..5000)];
        let mut rounds = 0;
        let mut lost_total = 0;
        while parties[0].store.numbers().len() < 5000 {
            rounds += 1;
            assert!(rounds < 50, "sync never completed");
            lost_total += drive(&mut parties, &[0], Fault::LoseOneIn(3));
            // Nothing is left waiting after losses: the peer may be tried again.
            assert_eq!(parties[0].sync.in_flight(), 0);
            assert!(!parties[0].sync.is_reconciling(&1));
        }
        assert!(lost_total > 0 && rounds > 1);
    }

    /// Runs one reconciliation of `a` with a server holding `server`, to its end:
    /// the fetches it asks for.
    fn reconcile(a: &mut Party, server: &Store) -> Vec<Outgoing<usize>> {
        reconcile_with(a, 1, server)
    }

    /// The same with peer `peer` holding `server`.
    fn reconcile_with(a: &mut Party, peer: usize, server: &Store) -> Vec<Outgoing<usize>> {
        let mut serving = Sync::<usize>::new();
        let mut out = a.sync.initiate(peer, &a.store).expect("initiated");
        loop {
            let answer = serving.answer(out.request.clone(), server);
            match a.sync.on_response(out.token, answer, &a.store) {
                Outcome::Send(next) if matches!(next[0].request, SyncRequest::Reconcile(_)) => {
                    out = next.into_iter().next().expect("one round");
                }
                Outcome::Send(fetches) => return fetches,
                Outcome::Idle => return Vec::new(),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    fn asked(fetches: &[Outgoing<usize>]) -> BTreeSet<[u8; 32]> {
        fetches
            .iter()
            .flat_map(|f| match &f.request {
                SyncRequest::Fetch(ids) => ids.clone(),
                SyncRequest::Reconcile(_) => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn what_a_fetch_under_way_asks_for_is_not_asked_again() {
        let mut a = party(0..100);
        let b = party(0..1000);
        let first = reconcile(&mut a, &b.store);
        assert_eq!(asked(&first).len(), 900);
        // That peer is not reconciled with again while its fetches are under way; a
        // round with another peer holding the same finds the same 900 missing and
        // asks for none of them.
        assert!(a.sync.initiate(1, &a.store).is_none());
        assert!(reconcile_with(&mut a, 2, &b.store).is_empty());
        assert!(a.sync.fetch(1, &[id(500)]).is_empty());
        // Once a fetch failed, what it asked for may be asked again.
        let lost = first[0].token;
        let again = asked(&first[..1]);
        a.sync.on_failure(lost);
        assert_eq!(asked(&reconcile_with(&mut a, 2, &b.store)), again);
    }

    #[test]
    fn an_event_waiting_for_its_past_is_not_fetched_again() {
        let mut a = party(0..100);
        let b = party(0..110);
        a.store.pending.extend((100..105).map(id));
        let fetches = reconcile(&mut a, &b.store);
        let want: BTreeSet<[u8; 32]> = (105..110).map(|n| *id(n).as_bytes()).collect();
        assert_eq!(asked(&fetches), want);
    }

    #[test]
    fn reconciliations_share_the_index_rather_than_copy_it() {
        let mut p = party(0..1000);
        assert!(p.sync.initiate(1, &p.store).is_some());
        assert!(p.sync.initiate(2, &p.store).is_some());
        let index = &p.sync.index.as_ref().expect("built").1;
        // The machine's own, and one for each reconciliation under way.
        assert_eq!(Arc::strong_count(&index.0), 3);
    }

    #[test]
    fn one_reconciliation_per_peer_at_a_time() {
        let mut p = party(0..10);
        let first = p.sync.initiate(1, &p.store);
        assert!(first.is_some());
        assert_eq!(p.sync.initiate(1, &p.store), None);
        assert!(p.sync.initiate(2, &p.store).is_some());
        p.sync.on_failure(first.expect("checked").token);
        assert!(p.sync.initiate(1, &p.store).is_some());
    }

    #[test]
    fn answers_nobody_waits_for_are_ignored() {
        let mut a = party(0..10);
        let b = party(0..20);
        let out = a.sync.initiate(1, &a.store).expect("initiated");
        a.sync.on_failure(out.token);
        let late = SyncResponse::Reconcile(vec![0x61]);
        assert_eq!(a.sync.on_response(out.token, late, &a.store), Outcome::Idle);
        let fetch = a.sync.fetch(1, &[id(15)]).remove(0);
        let mut server = Sync::<usize>::new();
        let answer = server.answer(fetch.request, &b.store);
        assert!(matches!(
            a.sync.on_response(fetch.token, answer.clone(), &a.store),
            Outcome::Events { .. }
        ));
        assert_eq!(
            a.sync.on_response(fetch.token, answer, &a.store),
            Outcome::Idle
        );
    }

    #[test]
    fn a_peer_breaking_the_protocol_is_named() {
        let mut a = party(0..10);
        let out = a.sync.initiate(1, &a.store).expect("initiated");
        let wrong = SyncResponse::Events(vec![]);
        assert!(matches!(
            a.sync.on_response(out.token, wrong, &a.store),
            Outcome::Misbehaved { peer: 1, .. }
        ));
        assert!(!a.sync.is_reconciling(&1));

        let out = a.sync.initiate(1, &a.store).expect("initiated");
        let garbage = SyncResponse::Reconcile(vec![0xff, 0xff, 0xff]);
        assert!(matches!(
            a.sync.on_response(out.token, garbage, &a.store),
            Outcome::Misbehaved { peer: 1, .. }
        ));

        let fetch = a.sync.fetch(1, &[id(1)]).remove(0);
        let too_many = SyncResponse::Events(vec![event(1), event(2)]);
        assert!(matches!(
            a.sync.on_response(fetch.token, too_many, &a.store),
            Outcome::Misbehaved { peer: 1, .. }
        ));
    }

    #[test]
    fn a_refusal_is_not_an_offence_and_frees_the_peer() {
        let mut a = party(0..10);
        let out = a.sync.initiate(1, &a.store).expect("initiated");
        let refused = SyncResponse::Refused("rate limited".into());
        assert_eq!(
            a.sync.on_response(out.token, refused, &a.store),
            Outcome::Refused {
                peer: 1,
                reason: "rate limited".into()
            }
        );
        assert!(!a.sync.is_reconciling(&1));
    }

    #[test]
    fn the_answering_side_bounds_fetches_and_rejects_garbage() {
        let b = party(0..10);
        let mut server = Sync::<usize>::new();
        let too_many = SyncRequest::Fetch(vec![[0; 32]; MAX_FETCH_IDS + 1]);
        assert!(matches!(
            server.answer(too_many, &b.store),
            SyncResponse::Refused(_)
        ));
        // A range of mode 5 (no such mode), cut short.
        let garbage = SyncRequest::Reconcile(vec![0x61, 0x00, 0x05]);
        assert!(matches!(
            server.answer(garbage, &b.store),
            SyncResponse::Refused(_)
        ));
        // Ids it does not hold are left out, not an error.
        let unknown = SyncRequest::Fetch(vec![[7; 32], *id(3).as_bytes()]);
        assert_eq!(
            server.answer(unknown, &b.store),
            SyncResponse::Events(vec![event(3)])
        );
    }

    /// What a catch-up of a chain did: event `n` waits for `n - 1`, as a member's
    /// events wait for their predecessor.
    #[derive(Debug)]
    struct CatchUp {
        /// Most events held waiting for their past at once.
        max_pending: usize,
        /// Most fetches asked and not yet handed back at once.
        max_in_flight: usize,
        /// Ids asked for, counting repeats.
        asked: usize,
        reconciliations: u64,
    }

    /// Catches `sync` up from nothing with a server of events `0..n`, with no round
    /// started but the machine's own. `shuffle`: each answer is the one to a request
    /// picked at random among those under way, not the oldest.
    fn catch_up_chain(mut sync: Sync<usize>, n: u64, shuffle: bool) -> CatchUp {
        let server = Store::with(0..n);
        let mut serving = Sync::<usize>::new();
        let mut store = Store::default();
        let mut report = CatchUp {
            max_pending: 0,
            max_in_flight: 0,
            asked: 0,
            reconciliations: 0,
        };
        let mut wire: Vec<Outgoing<usize>> = sync.initiate(1, &store).into_iter().collect();
        let mut in_flight = 0usize;
        let mut step = 0u64;
        while !wire.is_empty() {
            step += 1;
            let pick = if shuffle {
                let scrambled = step.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 17;
                usize::try_from(scrambled).expect("fits") % wire.len()
            } else {
                0
            };
            let out = wire.remove(pick);
            if let SyncRequest::Fetch(ids) = &out.request {
                report.asked += ids.len();
            }
            let answer = serving.answer(out.request, &server);
            match sync.on_response(out.token, answer, &store) {
                Outcome::Send(next) => wire.extend(next),
                Outcome::Idle => {}
                Outcome::Events {
                    peer,
                    events,
                    asked,
                } => {
                    let mut wanted = Vec::new();
                    let mut new = 0;
                    for bytes in events {
                        let k = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
                        if k == 0 || store.events.contains_key(&id(k - 1)) {
                            new += u64::from(store.insert(k));
                            let mut next = k + 1;
                            while store.pending.remove(&id(next)) {
                                new += u64::from(store.insert(next));
                                next += 1;
                            }
                        } else {
                            store.pending.insert(id(k));
                            if !store.holds(&id(k - 1)) {
                                wanted.push(id(k - 1));
                            }
                        }
                    }
                    // What is still missing once the whole answer is in, as the
                    // node asks it of its ledger after ingesting a fetch.
                    wanted.retain(|w| !store.holds(w));
                    report.max_pending = report.max_pending.max(store.pending.len());
                    let pending = store.pending.len();
                    wire.extend(sync.fetched(peer, &asked, new, &wanted, pending, &store));
                }
                other => panic!("unexpected outcome {other:?}"),
            }
            in_flight = sync
                .sessions
                .values()
                .filter(|s| matches!(s, Session::Fetching { .. }))
                .count();
            report.max_in_flight = report.max_in_flight.max(in_flight);
        }
        assert_eq!((in_flight, sync.queued()), (0, 0));
        assert_eq!(store.numbers(), (0..n).collect(), "caught up");
        report.reconciliations = sync.stats().sessions;
        report
    }

    #[test]
    fn a_catch_up_goes_through_a_window_so_answers_in_any_order_leave_little_pending() {
        // Every fetch sent at once, as before the window: answered in any order,
        // nearly every event waits for its past (the node's bound is 65,536 a peer).
        let n = 60_000;
        let unbounded = Sync::with_limits(usize::MAX, usize::MAX, usize::MAX);
        let all_at_once = catch_up_chain(unbounded, n, true);
        assert!(all_at_once.max_pending > 50_000, "{all_at_once:?}");
        // A window counted in fetches alone: a fetch answered late holds back what
        // the fetches after it bring, and the window moves on meanwhile.
        let fetches_only = Sync::with_limits(MAX_FETCHES_IN_FLIGHT, usize::MAX, MAX_QUEUED_IDS);
        let fetches_only = catch_up_chain(fetches_only, n, true);
        assert!(
            fetches_only.max_pending > MAX_WINDOW_EVENTS,
            "{fetches_only:?}"
        );
        let windowed = catch_up_chain(Sync::new(), n, true);
        assert!(
            windowed.max_in_flight <= MAX_FETCHES_IN_FLIGHT,
            "{windowed:?}"
        );
        // Within two ranges of reconciliation (a frame's ids, 16,384) whatever the
        // order of the answers.
        assert!(windowed.max_pending <= MAX_WINDOW_EVENTS, "{windowed:?}");
        assert_eq!(windowed.asked as u64, n, "each event asked once");
        let in_order = catch_up_chain(Sync::new(), n, false);
        assert!(in_order.max_pending < 16_384 + 4_096, "{in_order:?}");
        assert_eq!(in_order.asked as u64, n);
    }

    #[test]
    fn a_reconciliation_queues_a_bounded_number_of_ids_and_the_next_finds_the_rest() {
        let report = catch_up_chain(Sync::with_limits(4, usize::MAX, 5_000), 30_000, false);
        // 30,000 missing in pieces of at least 5,000 (a round's ids on top): the
        // machine reconciled again by itself each time its window was done.
        assert!((3..=7).contains(&report.reconciliations), "{report:?}");
        assert!(report.max_in_flight <= 4);
        assert_eq!(report.asked, 30_000, "each event asked once");
    }

    #[test]
    fn ids_pending_events_wait_for_jump_the_queue() {
        let mut a = Party {
            sync: Sync::with_limits(1, usize::MAX, usize::MAX),
            store: Store::default(),
        };
        let b = party(0..1000);
        let first = reconcile(&mut a, &b.store);
        assert_eq!((first.len(), a.sync.queued()), (1, 1000 - MAX_FETCH_IDS));
        let queued_last = {
            let sent = asked(&first);
            (0..1000).map(id).rfind(|i| !sent.contains(i.as_bytes()))
        }
        .expect("some queued");
        // The window is full: the urgent id waits, then goes first.
        assert!(a.sync.fetch(1, &[queued_last]).is_empty());
        let next = a.sync.fetched(1, &[], 0, &[], 0, &a.store);
        match &next[..] {
            [Outgoing {
                request: SyncRequest::Fetch(ids),
                ..
            }] => {
                assert_eq!(ids[0], *queued_last.as_bytes());
                assert_eq!(ids.iter().filter(|i| **i == ids[0]).count(), 1);
            }
            other => panic!("one fetch expected, got {other:?}"),
        }
    }

    #[test]
    fn an_id_asked_and_not_served_is_asked_again_at_once_ahead_of_the_queue() {
        let mut a = Party {
            sync: Sync::with_limits(1, usize::MAX, usize::MAX),
            store: Store::default(),
        };
        let b = party(0..1000);
        let first = reconcile(&mut a, &b.store);
        let SyncRequest::Fetch(ids) = &first[0].request else {
            panic!("a fetch expected");
        };
        let ids: Vec<ContentId> = ids.iter().map(|i| carnet_protocol::Hash32(*i)).collect();
        // Served all but the first, which the others are taken to wait for.
        let left_out = ids[0];
        let next = a.sync.fetched(1, &ids, 255, &[left_out], 0, &a.store);
        match &next[..] {
            [Outgoing {
                request: SyncRequest::Fetch(again),
                ..
            }] => assert_eq!(again[0], *left_out.as_bytes()),
            other => panic!("one fetch expected, got {other:?}"),
        }
    }

    /// Has `b` answer `fetch` of `a`'s: the events it brought and the ids it asked.
    fn served(a: &mut Party, b: &Store, fetch: &Outgoing<usize>) -> (Vec<Vec<u8>>, Vec<ContentId>) {
        let answer = Sync::<usize>::new().answer(fetch.request.clone(), b);
        match a.sync.on_response(fetch.token, answer, &a.store) {
            Outcome::Events { events, asked, .. } => (events, asked),
            other => panic!("events expected, got {other:?}"),
        }
    }

    /// [`served`], then `a` ingests what the fetch brought (from peer 1); no further
    /// request follows (the tests below leave nothing queued).
    fn serve_and_ingest(a: &mut Party, b: &Store, fetch: &Outgoing<usize>) {
        let (events, brought) = served(a, b, fetch);
        for e in events {
            a.store
                .insert(u64::from_le_bytes(e.try_into().expect("8 bytes")));
        }
        assert!(a
            .sync
            .fetched(1, &brought, 256, &[], 0, &a.store)
            .is_empty());
    }

    #[test]
    fn a_failed_fetch_gives_up_the_peers_queue_and_the_next_reconciliation_finds_it() {
        let mut a = Party {
            sync: Sync::with_limits(2, usize::MAX, usize::MAX),
            store: Store::default(),
        };
        let b = party(0..2000);
        let first = reconcile(&mut a, &b.store);
        assert_eq!(
            (first.len(), a.sync.queued()),
            (2, 2000 - 2 * MAX_FETCH_IDS)
        );
        a.sync.on_failure(first[0].token);
        assert_eq!(a.sync.queued(), 0);
        // Not while the other fetch of that peer is under way.
        assert!(a.sync.initiate(1, &a.store).is_none());
        serve_and_ingest(&mut a, &b.store, &first[1]);
        let again = reconcile(&mut a, &b.store);
        assert_eq!(
            asked(&again).len() + a.sync.queued(),
            2000 - MAX_FETCH_IDS,
            "all but what the second fetch brought"
        );
    }

    /// A fetch the store could not take (a full disk) sends no further fetch to that
    /// peer: its window is given up, and a reconciliation once the store is back asks
    /// for what is still missing.
    #[test]
    fn a_fetch_the_store_refused_gives_up_the_window() {
        let mut a = Party {
            sync: Sync::with_limits(2, usize::MAX, usize::MAX),
            store: Store::default(),
        };
        let b = party(0..2000);
        let first = reconcile(&mut a, &b.store);
        assert_eq!(first.len(), 2);
        let (_, brought) = served(&mut a, &b.store, &first[0]);
        a.sync.abandon(1, &brought);
        assert_eq!(a.sync.queued(), 0, "nothing more is fetched from the peer");
        serve_and_ingest(&mut a, &b.store, &first[1]);
        let again = reconcile(&mut a, &b.store);
        assert_eq!(
            asked(&again).len() + a.sync.queued(),
            2000 - MAX_FETCH_IDS,
            "all but what the second fetch brought, the refused fetch's ids among them"
        );
    }

    #[test]
    fn the_index_is_rebuilt_only_when_the_held_set_changes() {
        let mut p = party(0..10);
        let g = p.store.generation;
        p.sync.index(&p.store);
        assert_eq!(p.sync.index.as_ref().map(|(g, _)| *g), Some(g));
        p.store.insert(99);
        p.sync.index(&p.store);
        assert_eq!(p.sync.index.as_ref().map(|(g, _)| *g), Some(g + 1));
    }
}
