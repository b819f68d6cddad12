//! The one task that owns the swarm and the engine.
//!
//! Commands from the API arrive on a channel, swarm events from libp2p, ticks from a
//! timer; the loop handles them one at a time, so the engine needs no lock and the
//! order in which this node ingests events is simply the order they are handled.

mod audits;
mod catch_up;
mod commands;
mod gossip;
mod peering;
mod verifying;

use crate::api::Metrics;
use crate::engine::{Engine, Ingested};
use crate::handle::{Command, IngestError};
use crate::network::{
    events_topic, Behaviour, BehaviourEvent, Hello, HelloReply, UNPROVEN_PEER_SCORE,
};
use crate::peers::{check_hello, peer_of, AddressBook, Admission, Refusal};
use crate::pending::PendingPool;
use crate::sync::{Outcome, Outgoing, Sync, SyncRequest, SyncResponse, Token};
use carnet_api::{NodeStatus, PeerView, Submitted};
use carnet_protocol::card::NetworkSecret;
use carnet_protocol::ContentId;
use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance};
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{identify, kad, Multiaddr, PeerId, Swarm};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};

/// Direct connections worth keeping; beyond it discovered peers are not dialled.
const TARGET_PEERS: usize = 8;
/// Ids a prefix lookup returns at most: enough to show an ambiguity.
const MAX_PREFIX_MATCHES: usize = 5;
/// Most queued submitted events ingested with one store commit. Storing costs about
/// 25 µs an event with a durable commit per 256, 22 when four such are made durable
/// together (the engine alone; random ids dirty a leaf each, what a commit shares is
/// written once): 16 submitters sending 64 events a call got 14,200 to 15,400
/// events/s under 256, 17,600 to 18,000 under 1,024. The loop holds a batch up to
/// about 25 ms.
const MAX_SUBMIT_BATCH: usize = 1024;
/// Most pending fetched events one search for holes reads (`repair_fetched_holes`).
const MAX_REPAIR_SCAN: usize = 65_536;
/// Submitted batches of at least this many events are verified off the loop even
/// when nothing else is being verified, so that the next is verified while the loop
/// stores this one.
const VERIFY_OFF_LOOP_FROM: usize = 64;
/// How often the loop looks for purchases to deliver: short, since a buyer waits, and
/// cheap, since it does nothing unless events were ordered meanwhile.
const DELIVER_INTERVAL: Duration = Duration::from_millis(200);
/// How often the store is settled while written to ([`crate::store::Store::settle`]):
/// a node killed a second after its last write opens its store at once.
const SETTLE_INTERVAL: Duration = Duration::from_secs(1);
/// Invalid events (undecodable, or refused by the ledger: a stranger's, a broken
/// chain) a peer may send before it is disconnected and banned.
const MAX_OFFENCES: u32 = 8;
/// How often a node that has not reached every org (up to [`TARGET_PEERS`]) walks the
/// DHT again for their nodes.
const DISCOVERY_INTERVAL: Duration = Duration::from_secs(60);
/// How long a banned peer's connections are closed as soon as they open.
const BAN_TIME: Duration = Duration::from_secs(600);

/// Who made this node hold a pending event: a peer, or this node's own API (None).
type Sender = Option<PeerId>;
/// What a pending event carries: the gossip message to accept (forward) or reject
/// once the event is decided; None for events fetched or submitted.
type Tag = Option<gossipsub::MessageId>;

fn is_pending(i: &Ingested) -> bool {
    matches!(i.result, Submitted::Pending { .. })
}

use crate::sync::SyncStats;

pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    engine: Engine,
    commands: mpsc::Receiver<Command>,
    shutdown: watch::Receiver<bool>,
    topic: IdentTopic,
    /// Catch-up sync's sessions; the loop only carries its messages.
    sync: Sync<PeerId>,
    /// The sync request each outstanding libp2p request carries.
    requests: HashMap<OutboundRequestId, Token>,
    sync_interval: Duration,
    checkpoint_interval: Duration,
    next_peer: usize,
    listen_addrs: Vec<Multiaddr>,
    stats_tx: watch::Sender<SyncStats>,
    metrics: Arc<Metrics>,
    /// Whether a Kademlia bootstrap has been started.
    discovered: bool,
    /// Content id of every event new to this node, for observers (benchmarks, tests).
    ingested: broadcast::Sender<ContentId>,
    /// The ledger snapshot being encoded and written on a blocking thread, if any:
    /// at a million events that takes seconds the loop should spend on peers.
    snapshot_saving: Option<tokio::task::JoinHandle<SnapshotSaved>>,
    /// The audit bundle or checkpoint file being built on a blocking thread, if any.
    audits: audits::Audits,
    /// Batches of submitted or fetched events being verified on blocking threads.
    verifying: verifying::Verifying,
    /// No new save before this: set after a failed one, so a full disk is not
    /// retried on every turn of the loop.
    snapshot_not_before: std::time::Instant,
    /// Sender and arrival of every pending event that came by gossip or the API (see
    /// `pending`).
    pool: PendingPool<Sender, Tag>,
    /// The same for events that came in answer to this node's own sync fetches, under
    /// a larger bound ([`crate::pending::MAX_FETCHED_PENDING_PER_PEER`]).
    fetched: PendingPool<Sender, Tag>,
    /// How many `fetched` held at the last settle tick: a pool that stopped
    /// shrinking is searched for holes (`repair_fetched_holes`).
    fetched_last: usize,
    /// Invalid events each peer sent (see [`MAX_OFFENCES`]).
    offences: HashMap<PeerId, u32>,
    /// Banned peers and until when.
    banned: HashMap<PeerId, std::time::Instant>,
    /// This node's proof of its org, shown to every peer.
    hello: Hello,
    /// Where a network secret received from a peer is kept.
    data_dir: std::path::PathBuf,
    /// Which connected peers proved they serve an org of the network.
    admission: Admission,
    /// Known peers, redialled while not connected, saved in the data directory.
    book: AddressBook,
    /// When to look for more peers again (a Kademlia walk) if some orgs of the network
    /// are still unreached.
    next_discovery: std::time::Instant,
    /// Sync requests each peer may still make (a token bucket per peer).
    sync_rate: crate::peers::RateLimit,
    /// Gossip messages per propagating peer (see `peers::GOSSIP_MESSAGES_PER_SECOND`).
    gossip_rate: crate::peers::RateLimit,
    /// Listen addresses peers announced (identify) before they proved themselves:
    /// remembered in the book once they do.
    announced: HashMap<PeerId, Vec<Multiaddr>>,
    /// Searches running off the loop at once (see [`SEARCHES_AT_ONCE`]); the others
    /// wait their turn.
    searches: Arc<tokio::sync::Semaphore>,
}

/// Searches run at once, each on a blocking thread: a search reads every stored
/// teaser (some 0.3 s at a million events), which the loop must not wait for, and
/// more at once than there are cores would only slow each.
pub const SEARCHES_AT_ONCE: usize = 2;

/// How long to wait after a failed snapshot save before trying again.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(60);

/// A snapshot save's result, when it started, and the snapshot, which holds the state
/// tree the save computed (none if the writer stopped).
type SnapshotSaved = (
    Result<crate::engine::SavedSnapshot, crate::store::StoreError>,
    std::time::Instant,
    Option<carnet_protocol::ledger::Snapshot>,
);

/// Waits for a save on the blocking pool; a writer that panicked is a failed save.
async fn finished(saving: &mut tokio::task::JoinHandle<SnapshotSaved>) -> SnapshotSaved {
    saving.await.unwrap_or_else(|e| {
        let failed = crate::store::StoreError::Snapshot(format!("the writer stopped: {e}"));
        (Err(failed), std::time::Instant::now(), None)
    })
}

impl crate::sync::Held for Engine {
    fn generation(&self) -> u64 {
        Engine::generation(self)
    }
    fn items(&self) -> carnet_protocol::ledger::ItemsView {
        Engine::items(self)
    }
    fn bytes(&self, id: &ContentId) -> Option<Vec<u8>> {
        // A peer is not told why: it asks another peer.
        self.event_bytes(id).unwrap_or_else(|e| {
            tracing::warn!(id = %id, error = %e, "cannot serve an event: the store cannot give it back");
            None
        })
    }
    fn holds(&self, id: &ContentId) -> bool {
        self.ledger.is_ordered(id) || self.ledger.is_pending(id)
    }
}

/// The loop's timers and the checkpoint stride (see `NodeConfig`).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub sync_interval: Duration,
    pub checkpoint_interval: Duration,
    /// Bounds of the pending pool (see `pending`).
    pub pending_ttl: Duration,
    pub max_pending_per_peer: usize,
    /// Gossip messages per peer: per second, and in a burst.
    pub gossip_rate: (u32, u32),
}

/// Who the node is to its peers, and whom it knows.
pub struct Peering {
    pub hello: Hello,
    pub book: AddressBook,
    /// The data directory, where a network secret received from a peer is kept.
    pub data_dir: std::path::PathBuf,
}

/// Where the loop reports to: metrics and ingest notifications.
pub struct Observers {
    pub metrics: Arc<Metrics>,
    pub ingested: broadcast::Sender<ContentId>,
}

impl EventLoop {
    pub fn new(
        swarm: Swarm<Behaviour>,
        engine: Engine,
        commands: mpsc::Receiver<Command>,
        shutdown: watch::Receiver<bool>,
        timing: Timing,
        peering: Peering,
        observers: Observers,
    ) -> (Self, watch::Receiver<SyncStats>) {
        let Observers { metrics, ingested } = observers;
        let Peering {
            hello,
            book,
            data_dir,
        } = peering;
        let topic = events_topic(&engine.network());
        let (stats_tx, stats_rx) = watch::channel(SyncStats::default());
        (
            EventLoop {
                swarm,
                engine,
                commands,
                shutdown,
                topic,
                sync: Sync::new(),
                requests: HashMap::new(),
                sync_interval: timing.sync_interval,
                checkpoint_interval: timing.checkpoint_interval,
                next_peer: 0,
                listen_addrs: Vec::new(),
                stats_tx,
                metrics,
                discovered: false,
                ingested,
                snapshot_saving: None,
                audits: audits::Audits::default(),
                verifying: verifying::Verifying::default(),
                searches: Arc::new(tokio::sync::Semaphore::new(SEARCHES_AT_ONCE)),
                snapshot_not_before: std::time::Instant::now(),
                pool: PendingPool::new(timing.max_pending_per_peer, timing.pending_ttl),
                fetched: PendingPool::new(
                    crate::pending::MAX_FETCHED_PENDING_PER_PEER,
                    timing.pending_ttl,
                ),
                fetched_last: 0,
                offences: HashMap::new(),
                banned: HashMap::new(),
                hello,
                data_dir,
                admission: Admission::default(),
                book,
                announced: HashMap::new(),
                next_discovery: std::time::Instant::now() + DISCOVERY_INTERVAL,
                sync_rate: crate::peers::RateLimit::new(
                    crate::peers::SYNC_REQUESTS_PER_SECOND,
                    crate::peers::SYNC_REQUEST_BURST,
                ),
                gossip_rate: crate::peers::RateLimit::new(
                    timing.gossip_rate.0,
                    timing.gossip_rate.1,
                ),
            },
            stats_rx,
        )
    }

    pub async fn run(mut self) {
        self.set_ledger_gauges();
        let mut tick = tokio::time::interval(self.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick one interval after start: a node just started has not caught
        // up with its peers yet, and seals or claims made now would be of a stale view.
        let mut checkpoint_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + self.checkpoint_interval,
            self.checkpoint_interval,
        );
        checkpoint_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut deliver_tick = tokio::time::interval(DELIVER_INTERVAL);
        deliver_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut settle_tick = tokio::time::interval(SETTLE_INTERVAL);
        settle_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                cmd = self.commands.recv() => match cmd {
                    Some(cmd @ (Command::Submit { .. } | Command::SubmitMany { .. })) => {
                        // Submitters wait for their answers: those just answered are
                        // woken on this thread, and send their next event only once the
                        // loop lets them run. Without this turn the next batch took
                        // whoever had sent meanwhile (13 of 16 on average) and the rest
                        // waited a whole commit more; with it, 15.5 (docs/benchmarks.md).
                        // Not after a lone submission, whose submitter gains nothing.
                        if self.on_submits(cmd) > 1 {
                            tokio::task::yield_now().await;
                        }
                    }
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = tick.tick() => {
                    let mesh = self.swarm.behaviour().gossipsub.mesh_peers(&self.topic.hash()).count();
                    self.metrics.set_gossip_mesh(mesh as u64);
                    self.tend_peers();
                    self.start_sync(None);
                }
                _ = checkpoint_tick.tick() => {
                    self.sign_checkpoint();
                    match self.engine.sweep_evidence(carnet_api::now_ms()) {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(messages = n, "deleted bounce messages no report named in time"),
                        Err(e) => tracing::warn!(error = %e, "could not sweep old bounce messages"),
                    }
                }
                _ = settle_tick.tick() => {
                    self.engine.settle_store();
                    self.repair_fetched_holes();
                }
                _ = deliver_tick.tick() => {
                    for peer in self.admission.to_close(std::time::Instant::now()) {
                        let _ = self.swarm.disconnect_peer_id(peer);
                    }
                    self.expire_pending();
                    self.deliver();
                }
                // In an async block: select! builds every branch's future, disabled or
                // not, and only this one may look inside the handle.
                saved = async {
                    finished(self.snapshot_saving.as_mut().expect("guarded by the condition")).await
                }, if self.snapshot_saving.is_some() => {
                    self.snapshot_saving = None;
                    self.on_snapshot_saved(saved);
                }
                Some((decoded, then)) = self.verifying.next(), if !self.verifying.is_empty() => {
                    self.on_verified(decoded, then);
                }
                _ = self.shutdown.changed() => break,
            }
            if self.snapshot_saving.is_none()
                && std::time::Instant::now() >= self.snapshot_not_before
                && self.engine.snapshot_due()
            {
                self.start_snapshot();
            }
        }
        if let Err(e) = self.book.save() {
            tracing::warn!(error = %e, "cannot save the known peers");
        }
        self.audits.stop().await;
        // So the next start applies nothing but what arrives after it.
        if let Some(mut saving) = self.snapshot_saving.take() {
            let saved = finished(&mut saving).await;
            self.on_snapshot_saved(saved);
        }
        let started = std::time::Instant::now();
        let saved = self.engine.save_snapshot().transpose();
        if let Some(saved) = saved {
            // `save_snapshot` took its tree back itself.
            self.on_snapshot_saved((saved, started, None));
        }
        tracing::info!("event loop stopped");
    }

    /// Takes a snapshot of the ledger and saves it on a blocking thread.
    fn start_snapshot(&mut self) {
        let Some(mut snap) = self.engine.snapshot_to_save() else {
            return;
        };
        let store = self.engine.store();
        let started = std::time::Instant::now();
        self.snapshot_saving = Some(tokio::task::spawn_blocking(move || {
            let saved = crate::engine::write_snapshot(&store, &mut snap);
            (saved, started, Some(snap))
        }));
    }

    /// Records a finished save; a failure costs only start-up time, so it is logged.
    fn on_snapshot_saved(&mut self, (saved, started, snap): SnapshotSaved) {
        match saved {
            Ok(s) => {
                self.engine.snapshot_saved(s.events);
                if let Some(mut snap) = snap {
                    self.engine.adopt_saved_tree(&mut snap);
                }
                tracing::info!(
                    events = s.events,
                    bytes = s.bytes,
                    ms = started.elapsed().as_millis() as u64,
                    "saved a ledger snapshot"
                );
            }
            Err(e) => {
                self.snapshot_not_before = std::time::Instant::now() + SNAPSHOT_RETRY;
                tracing::warn!(error = %e, "could not save a ledger snapshot");
            }
        }
    }

    /// Says which newly kept cards this node holds, then seals and publishes the cards
    /// buyers paid for (see `holder`).
    fn deliver(&mut self) {
        for payload in self.engine.holds_due() {
            if let Err(e) = self.sign_as_org(payload) {
                tracing::warn!(error = %e, "could not publish a hold");
            }
        }
        for payload in self.engine.due_deliveries() {
            match self.sign_as_org(payload) {
                Ok(s) => tracing::info!(?s, "delivered a card"),
                Err(e) => tracing::warn!(error = %e, "could not publish a delivery"),
            }
        }
    }

    /// Signs and gossips a settlement checkpoint when one is due.
    /// Seals the org's members' events first, so that the next claims can hold them.
    fn sign_checkpoint(&mut self) {
        for deps in self.engine.seals_due() {
            let r = self
                .engine
                .sign_as_org_with(carnet_protocol::Payload::Seal(Default::default()), deps)
                .and_then(|ev| self.engine.ingest_event(ev));
            if let Err(e) = self.local_ingest(r) {
                tracing::warn!(error = %e, "could not seal members' events");
                break;
            }
        }
        let Some((payload, deps)) = self.engine.checkpoint_due() else {
            return;
        };
        let r = self
            .engine
            .sign_as_org_with(payload, deps)
            .and_then(|ev| self.engine.ingest_event(ev));
        if let Err(e) = self.local_ingest(r) {
            tracing::warn!(error = %e, "could not sign a checkpoint");
        }
    }

    /// Signs `payload` with the org key, ingests it and gossips it.
    fn sign_as_org(&mut self, payload: carnet_protocol::Payload) -> Result<Submitted, IngestError> {
        let r = self
            .engine
            .sign_as_org(payload)
            .and_then(|ev| self.engine.ingest_event(ev));
        self.local_ingest(r)
    }

    /// Signs for a member signed in to the web app and takes the event as from the
    /// API: the card behind a contribution is kept, the event is gossiped.
    fn sign_as_member(
        &mut self,
        key: &carnet_protocol::SecretKey,
        payload: carnet_protocol::Payload,
        card: Option<carnet_protocol::card::Card>,
    ) -> Result<(ContentId, Submitted), IngestError> {
        let ev = match self
            .engine
            .sign_as_member(key, payload, carnet_api::now_ms())
        {
            Ok(ev) => ev,
            Err(e) => {
                self.metrics.inc_rejected(e.code());
                return Err(e);
            }
        };
        let id = ev.id();
        let r = match card {
            Some(card) => self.engine.contribute(ev.as_bytes(), card),
            None => self
                .engine
                .check_position(&ev)
                .and_then(|()| self.engine.ingest_event(ev)),
        };
        self.local_ingest(r).map(|s| (id, s))
    }

    /// Counts and gossips an event that entered through this node (API or org key).
    fn local_ingest(&mut self, r: Result<Ingested, IngestError>) -> Result<Submitted, IngestError> {
        self.account(&r);
        if let Ok(i) = &r {
            self.hold_if_pending(i, None, None);
            self.publish(i);
        }
        self.settle_pending();
        r.map(|i| i.result)
    }

    /// Counts an ingest attempt in the metrics.
    fn account(&self, r: &Result<Ingested, IngestError>) {
        match r {
            Ok(i) => self.account_ingested(i),
            Err(e) => self.metrics.inc_rejected(e.code()),
        }
        self.account_batch();
    }

    /// [`EventLoop::account`]'s count of one ingested event; a batch calls
    /// [`EventLoop::account_batch`] once after its events.
    fn account_ingested(&self, i: &Ingested) {
        if i.new && !is_pending(i) {
            self.metrics.inc_ingested();
            // Nobody listening is fine.
            let _ = self.ingested.send(i.event.id());
        }
    }

    /// The gauges [`EventLoop::account`] sets after each event.
    fn account_batch(&self) {
        self.set_ledger_gauges();
        self.metrics
            .set_storage_healthy(self.engine.storage_fault.is_none());
    }

    /// Records who made this node hold `i`, if it is a new pending event, and gives up
    /// what that pushes out of the sender's bound.
    fn hold_if_pending(&mut self, i: &Ingested, sender: Sender, tag: Tag) {
        if !(i.new && is_pending(i)) {
            return;
        }
        let evicted = self
            .pool
            .add(i.event.id(), sender, tag, std::time::Instant::now());
        self.give_up(evicted, "evicted");
    }

    /// [`EventLoop::hold_if_pending`] for an event a sync fetch of this node brought.
    fn hold_fetched_if_pending(&mut self, i: &Ingested, peer: PeerId) {
        if !(i.new && is_pending(i)) {
            return;
        }
        let evicted = self
            .fetched
            .add(i.event.id(), Some(peer), None, std::time::Instant::now());
        self.give_up(evicted, "evicted");
    }

    /// Asks again, while the events this node's fetches left pending stop completing,
    /// for what they wait for that it neither holds nor asks for: an event given up
    /// (the pool's bounds) or left out of an answer leaves its successors waiting, and
    /// during a long catch-up nothing else would ask for it before the next
    /// reconciliation, which waits for the peer's window to be done, while the window
    /// fetches more events that can only wait. Called once a second; it reads at
    /// most [`MAX_REPAIR_SCAN`] pending events.
    pub(super) fn repair_fetched_holes(&mut self) {
        let held = self.fetched.len();
        let stuck = held > 0 && held >= self.fetched_last;
        self.fetched_last = held;
        if !stuck {
            return;
        }
        let mut wanted: HashMap<PeerId, Vec<ContentId>> = HashMap::new();
        for (id, entry) in self.fetched.iter().take(MAX_REPAIR_SCAN) {
            let (Some(peer), Some(missing)) = (entry.sender, self.engine.pending_waits_for(id))
            else {
                continue;
            };
            wanted.entry(peer).or_default().extend(missing);
        }
        for (peer, mut ids) in wanted {
            ids.sort_unstable();
            ids.dedup();
            self.fetch(peer, ids);
        }
    }

    /// Drops pending events the pool gave up on; their gossip messages are neither
    /// forwarded nor held against the sender (they may be genuine, just early).
    fn give_up(
        &mut self,
        entries: Vec<(ContentId, crate::pending::Entry<Sender, Tag>)>,
        reason: &str,
    ) {
        if entries.is_empty() {
            return;
        }
        let ids: Vec<ContentId> = entries.iter().map(|(id, _)| *id).collect();
        let dropped = self.engine.drop_pending(&ids);
        self.metrics.inc_pending_dropped(reason, dropped as u64);
        for (_, e) in entries {
            if let (Some(peer), Some(msg)) = (e.sender, e.tag) {
                self.validate(&msg, &peer, MessageAcceptance::Ignore);
            }
        }
        self.set_ledger_gauges();
    }

    /// Pending events that waited too long.
    fn expire_pending(&mut self) {
        let now = std::time::Instant::now();
        let mut expired = self.pool.expire(now);
        expired.extend(self.fetched.expire(now));
        self.give_up(expired, "expired");
    }

    /// Acts on pending events that were decided while others were ingested: one now
    /// ordered is passed on (its gossip message forwarded, or published if it came
    /// from this node's API); one that failed the checks is held against its sender.
    fn settle_pending(&mut self) {
        let done = self.engine.take_completions();
        for ev in done.completed {
            let id = ev.id();
            let entry = self.forget_pending(&id);
            self.metrics.inc_ingested();
            let _ = self.ingested.send(id);
            match entry {
                Some(crate::pending::Entry {
                    sender: Some(peer),
                    tag: Some(msg),
                    ..
                }) => self.validate(&msg, &peer, MessageAcceptance::Accept),
                Some(crate::pending::Entry { sender: None, .. }) => {
                    self.publish(&Ingested {
                        result: Submitted::Ordered {
                            id: id.to_hex(),
                            outcome: "ordered".into(),
                        },
                        event: ev,
                        new: true,
                    });
                }
                // Fetched by sync: peers reconcile it themselves.
                _ => {}
            }
        }
        if !done.dropped.is_empty() {
            self.metrics
                .inc_pending_dropped("invalid", done.dropped.len() as u64);
        }
        for (id, e) in done.dropped {
            self.metrics.inc_rejected(e.code());
            if let Some(entry) = self.forget_pending(&id) {
                if let Some(peer) = entry.sender {
                    if let Some(msg) = entry.tag {
                        self.validate(&msg, &peer, MessageAcceptance::Reject);
                    }
                    self.offend(peer, 1, "invalid_event");
                }
            }
        }
        self.set_ledger_gauges();
    }

    /// The entry of a pending event that was decided, from whichever pool held it.
    fn forget_pending(&mut self, id: &ContentId) -> Option<crate::pending::Entry<Sender, Tag>> {
        self.pool.forget(id).or_else(|| self.fetched.forget(id))
    }

    fn engine_pending(&self) -> u64 {
        self.engine.pending_len() as u64
    }

    fn set_ledger_gauges(&self) {
        self.metrics.set_pending(self.engine_pending());
        self.metrics
            .set_events_in_memory(self.engine.events_in_memory() as u64);
    }
}
