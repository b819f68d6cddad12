//! The one task that owns the swarm and the engine.
//!
//! Commands from the API arrive on a channel, swarm events from libp2p, ticks from a
//! timer; the loop handles them one at a time, so the engine needs no lock and the
//! order in which this node ingests events is simply the order they are handled.

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
/// Most queued submissions ingested with one store commit.
const MAX_SUBMIT_BATCH: usize = 256;
/// How often the loop looks for purchases to deliver: short, since a buyer waits, and
/// cheap, since it does nothing unless events were ordered meanwhile.
const DELIVER_INTERVAL: Duration = Duration::from_millis(200);
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

pub use crate::sync::SyncStats;

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
    /// No new save before this: set after a failed one, so a full disk is not
    /// retried on every turn of the loop.
    snapshot_not_before: std::time::Instant,
    /// Sender and arrival of every pending event (see `pending`).
    pool: PendingPool<Sender, Tag>,
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
}

/// How long to wait after a failed snapshot save before trying again.
const SNAPSHOT_RETRY: Duration = Duration::from_secs(60);

/// A snapshot save's result and when it started.
type SnapshotSaved = (
    Result<crate::engine::SavedSnapshot, crate::store::StoreError>,
    std::time::Instant,
);

/// Waits for a save on the blocking pool; a writer that panicked is a failed save.
async fn finished(saving: &mut tokio::task::JoinHandle<SnapshotSaved>) -> SnapshotSaved {
    saving.await.unwrap_or_else(|e| {
        let failed = crate::store::StoreError::Snapshot(format!("the writer stopped: {e}"));
        (Err(failed), std::time::Instant::now())
    })
}

impl crate::sync::Held for Engine {
    fn generation(&self) -> u64 {
        Engine::generation(self)
    }
    fn items(&self) -> Vec<(u64, ContentId)> {
        Engine::items(self)
    }
    fn bytes(&self, id: &ContentId) -> Option<Vec<u8>> {
        self.event_bytes(id)
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
                snapshot_not_before: std::time::Instant::now(),
                pool: PendingPool::new(timing.max_pending_per_peer, timing.pending_ttl),
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
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                cmd = self.commands.recv() => match cmd {
                    Some(Command::Submit { bytes, reply }) => self.on_submits(bytes, reply),
                    Some(cmd) => self.on_command(cmd),
                    None => break,
                },
                _ = tick.tick() => {
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
        // So the next start applies nothing but what arrives after it.
        if let Some(mut saving) = self.snapshot_saving.take() {
            let saved = finished(&mut saving).await;
            self.on_snapshot_saved(saved);
        }
        let started = std::time::Instant::now();
        let saved = self.engine.save_snapshot().transpose();
        if let Some(saved) = saved {
            self.on_snapshot_saved((saved, started));
        }
        tracing::info!("event loop stopped");
    }

    /// Takes a snapshot of the ledger and saves it on a blocking thread.
    fn start_snapshot(&mut self) {
        let Some(snap) = self.engine.snapshot_to_save() else {
            return;
        };
        let store = self.engine.store();
        let started = std::time::Instant::now();
        self.snapshot_saving = Some(tokio::task::spawn_blocking(move || {
            (crate::engine::write_snapshot(&store, &snap), started)
        }));
    }

    /// Records a finished save; a failure costs only start-up time, so it is logged.
    fn on_snapshot_saved(&mut self, (saved, started): SnapshotSaved) {
        match saved {
            Ok(s) => {
                self.engine.snapshot_saved(s.events);
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
            Ok(i) if i.new && !is_pending(i) => {
                self.metrics.inc_ingested();
                // Nobody listening is fine.
                let _ = self.ingested.send(i.event.id());
            }
            Ok(_) => {}
            Err(e) => self.metrics.inc_rejected(e.code()),
        }
        self.metrics.set_pending(self.engine_pending());
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
        self.metrics.set_pending(self.engine_pending());
    }

    /// Pending events that waited too long.
    fn expire_pending(&mut self) {
        let expired = self.pool.expire(std::time::Instant::now());
        self.give_up(expired, "expired");
    }

    /// Acts on pending events that were decided while others were ingested: one now
    /// ordered is passed on (its gossip message forwarded, or published if it came
    /// from this node's API); one that failed the checks is held against its sender.
    fn settle_pending(&mut self) {
        let done = self.engine.take_completions();
        for ev in done.completed {
            let id = ev.id();
            let entry = self.pool.forget(&id);
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
            if let Some(entry) = self.pool.forget(&id) {
                if let Some(peer) = entry.sender {
                    if let Some(msg) = entry.tag {
                        self.validate(&msg, &peer, MessageAcceptance::Reject);
                    }
                    self.offend(peer, 1, "invalid_event");
                }
            }
        }
        self.metrics.set_pending(self.engine_pending());
    }

    fn validate(&mut self, msg: &gossipsub::MessageId, peer: &PeerId, a: MessageAcceptance) {
        // False when gossipsub no longer holds the message: nothing left to do.
        let _ = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .report_message_validation_result(msg, peer, a);
    }

    /// Counts `n` offences (invalid events, broken sync messages) against `peer`;
    /// past [`MAX_OFFENCES`] it is disconnected and banned for [`BAN_TIME`]: its
    /// connections are denied at the handshake until then.
    fn offend(&mut self, peer: PeerId, n: u32, reason: &str) {
        self.metrics.inc_peer_offences(reason, u64::from(n));
        let count = self.offences.entry(peer).or_default();
        *count = count.saturating_add(n);
        if *count >= MAX_OFFENCES {
            self.offences.remove(&peer);
            tracing::warn!(%peer, "banning a peer for {MAX_OFFENCES} offences (the last: {reason})");
            self.banned
                .insert(peer, std::time::Instant::now() + BAN_TIME);
            self.metrics.inc_peers_banned();
            self.swarm.behaviour_mut().blocked.block_peer(peer);
        }
    }

    /// Lifts the bans that ran out.
    fn lift_bans(&mut self) {
        let now = std::time::Instant::now();
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
    }

    /// Whether `peer` is banned now (forgetting bans that ran out).
    fn is_banned(&mut self, peer: &PeerId) -> bool {
        match self.banned.get(peer) {
            Some(until) if *until > std::time::Instant::now() => true,
            Some(_) => {
                self.banned.remove(peer);
                false
            }
            None => false,
        }
    }

    fn engine_pending(&self) -> u64 {
        self.engine.pending_len() as u64
    }

    /// Gossips a new event; a pending one is passed on only once it is ordered.
    fn publish(&mut self, ingested: &Ingested) {
        if !ingested.new || is_pending(ingested) {
            return;
        }
        let data = ingested.event.as_bytes().to_vec();
        if let Err(e) = self
            .swarm
            .behaviour_mut()
            .gossipsub
            .publish(self.topic.clone(), data)
        {
            // No peers yet is normal; sync will carry the event later.
            tracing::debug!(error = %e, "gossip publish");
        }
    }

    /// Handles a submission together with every other one already queued behind it,
    /// so concurrent submitters share one store commit. Order is kept: the batch
    /// ends at the first other command, which is handled right after it.
    fn on_submits(
        &mut self,
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, IngestError>>,
    ) {
        let mut wires = vec![bytes];
        let mut replies = vec![reply];
        let mut next = None;
        while wires.len() < MAX_SUBMIT_BATCH {
            match self.commands.try_recv() {
                Ok(Command::Submit { bytes, reply }) => {
                    wires.push(bytes);
                    replies.push(reply);
                }
                Ok(other) => {
                    next = Some(other);
                    break;
                }
                Err(_) => break,
            }
        }
        let results = self.engine.ingest_submitted(&wires);
        for (r, reply) in results.into_iter().zip(replies) {
            let _ = reply.send(self.local_ingest(r));
        }
        if let Some(cmd) = next {
            self.on_command(cmd);
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Submit { bytes, reply } => self.on_submits(bytes, reply),
            Command::SubmitAsOrg { payload, reply } => {
                let _ = reply.send(self.sign_as_org(payload));
            }
            Command::Contribute { bytes, card, reply } => {
                let r = self.engine.contribute(&bytes, card);
                let _ = reply.send(self.local_ingest(r));
            }
            Command::Listing { id, reply } => {
                let _ = reply.send(self.engine.listing(&id));
            }
            Command::Purchases { buyer, reply } => {
                let _ = reply.send(self.engine.purchases(&buyer));
            }
            Command::Company { domain, reply } => {
                let _ = reply.send(self.engine.company(&domain));
            }
            Command::Search { query, reply } => {
                let _ = reply.send(self.engine.search(&query));
            }
            Command::Balance { account, reply } => {
                let _ = reply.send(self.engine.balance(&account));
            }
            Command::History { account, reply } => {
                let _ = reply.send(self.engine.history(&account));
            }
            Command::Delivery { purchase, reply } => {
                let _ = reply.send(self.engine.delivery(&purchase));
            }
            Command::ChainHead { author, reply } => {
                let _ = reply.send(self.engine.chain_head(&author));
            }
            Command::Event { id, reply } => {
                let _ = reply.send(self.engine.event_bytes(&id));
            }
            Command::Status { reply } => {
                let status = NodeStatus {
                    org: self.engine.org().to_hex(),
                    network: self.engine.network().to_hex(),
                    peer_id: self.swarm.local_peer_id().to_string(),
                    listen_addrs: self.listen_addrs.iter().map(|a| a.to_string()).collect(),
                    events: self.engine.ledger().len() as u64,
                    pending: self.engine.ledger().pending_len() as u64,
                    state_root: self.engine.state_root_hex(),
                    max_lamport: self.engine.ledger().max_lamport(),
                    finalized_bound: self.engine.finalized_bound(),
                    snapshot_events: self.engine.snapshot_events(),
                    storage_error: self.engine.storage_fault.clone(),
                    network_secret: self.engine.network_secret().is_some(),
                };
                let _ = reply.send(status);
            }
            Command::DedupKey {
                mut request,
                signature,
                reply,
            } => {
                if request.network == carnet_protocol::Hash32::ZERO {
                    request.network = self.engine.network();
                }
                let now = carnet_api::now_ms();
                let _ = reply.send(self.engine.answer_dedup(&request, &signature, now));
            }
            Command::OrgDedupKey { email, reply } => {
                let _ = reply.send(self.engine.org_dedup_key(&email));
            }
            Command::VouchPrecheck {
                reporter,
                purchase_id,
                opening,
                reply,
            } => {
                let _ = reply.send(
                    self.engine
                        .vouch_precheck(&reporter, &purchase_id, &opening),
                );
            }
            Command::VouchMobile {
                reporter,
                purchase_id,
                opening,
                reply,
            } => {
                let _ = reply.send(self.engine.vouch_mobile(&reporter, &purchase_id, &opening));
            }
            Command::Vouch { req, reply } => {
                let _ = reply.send(self.engine.vouch(&req));
            }
            Command::PutEvidence { raw, reply } => {
                let _ = reply.send(self.engine.put_evidence(&raw));
            }
            Command::AuditBundle {
                event,
                include_message,
                include_opening,
                reply,
            } => {
                let _ = reply.send(self.engine.audit_bundle(
                    &event,
                    include_message,
                    include_opening,
                ));
            }
            Command::AuditCheckpoint {
                bound,
                since,
                reply,
            } => {
                let _ = reply.send(self.engine.audit_checkpoint(bound, since));
            }
            Command::Peers { reply } => {
                let peers = self
                    .swarm
                    .connected_peers()
                    .map(|p| PeerView {
                        peer_id: p.to_string(),
                        addrs: Vec::new(),
                        org: self.admission.org_of(p).map(|k| k.to_hex()),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.listen_addrs.push(address);
            }
            SwarmEvent::ConnectionEstablished { peer_id, .. } if self.is_banned(&peer_id) => {
                let _ = self.swarm.disconnect_peer_id(peer_id);
            }
            // A new peer gets nothing until it proves its org: gossipsub ignores it
            // and sends it nothing (its score is far below the graylist), sync
            // refuses it. Both ends send their hello at once.
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } if num_established.get() == 1 => {
                self.metrics
                    .set_peers(self.swarm.connected_peers().count() as u64);
                self.admission.connected(peer_id, std::time::Instant::now());
                let behaviour = self.swarm.behaviour_mut();
                behaviour
                    .gossipsub
                    .set_application_score(&peer_id, UNPROVEN_PEER_SCORE);
                behaviour.hello.send_request(&peer_id, self.hello.clone());
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                self.admission.closed(&peer_id);
                self.announced.remove(&peer_id);
                self.metrics
                    .set_peers(self.swarm.connected_peers().count() as u64);
                self.metrics
                    .set_peers_admitted(self.admission.admitted_count() as u64);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => self.on_gossip(propagation_source, message_id, message),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                let addrs: Vec<Multiaddr> = info.listen_addrs.into_iter().take(8).collect();
                for addr in &addrs {
                    self.swarm
                        .behaviour_mut()
                        .kademlia
                        .add_address(&peer_id, addr.clone());
                }
                self.announced.insert(peer_id, addrs);
                if self.admission.is_admitted(&peer_id) {
                    self.remember(peer_id);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(e)) => self.on_sync(e),
            SwarmEvent::Behaviour(BehaviourEvent::Hello(e)) => self.on_hello(e),
            // Kademlia found a peer: keep a few direct connections, so gossip does not
            // hang on the bootstrap node alone.
            SwarmEvent::Behaviour(BehaviourEvent::Kademlia(kad::Event::RoutingUpdated {
                peer,
                ..
            })) => {
                let connected = self.admission.admitted_count();
                if connected < TARGET_PEERS
                    && !self.swarm.is_connected(&peer)
                    && peer != *self.swarm.local_peer_id()
                {
                    if let Err(e) = self.swarm.dial(peer) {
                        tracing::debug!(%peer, error = %e, "dial discovered peer");
                    }
                }
            }
            _ => {}
        }
    }

    fn on_gossip(&mut self, source: PeerId, id: gossipsub::MessageId, message: gossipsub::Message) {
        self.metrics.inc_gossip();
        if !self.admission.is_admitted(&source) {
            // gossipsub ignores unproven peers already; this is the second lock.
            self.validate(&id, &source, MessageAcceptance::Ignore);
            return;
        }
        if !self.gossip_rate.allow(source, std::time::Instant::now()) {
            // Unread and not forwarded, and no offence: sync brings the events back.
            self.metrics.inc_gossip_refused("rate");
            self.validate(&id, &source, MessageAcceptance::Ignore);
            return;
        }
        let r = self.engine.ingest(&message.data);
        self.account(&r);
        let acceptance = match &r {
            Ok(i) if !i.new => Some(MessageAcceptance::Ignore),
            Ok(i) => match &i.result {
                // Decided once its causal past is here: not forwarded before.
                carnet_api::Submitted::Pending { .. } => {
                    let missing = self.engine.waits_for(&i.event);
                    self.hold_if_pending(i, Some(source), Some(id.clone()));
                    self.fetch(source, missing);
                    None
                }
                _ => Some(MessageAcceptance::Accept),
            },
            Err(IngestError::Storage(e)) => {
                tracing::error!(error = %e, "storage failed while ingesting gossip");
                Some(MessageAcceptance::Ignore)
            }
            Err(e) => {
                tracing::warn!(peer = %source, error = %e, "invalid event from gossip");
                self.offend(source, 1, "invalid_event");
                Some(MessageAcceptance::Reject)
            }
        };
        if let Some(a) = acceptance {
            self.validate(&id, &source, a);
        }
        self.settle_pending();
    }

    /// Asks `peer` for `ids`: what one pending event it sent waits for, and nothing
    /// else, so the requests stay proportional to what is actually missing.
    fn fetch(&mut self, peer: PeerId, ids: Vec<ContentId>) {
        let out = self.sync.fetch(peer, &ids);
        self.send(out);
    }

    /// Hands the sync machine's requests to libp2p.
    fn send(&mut self, out: Vec<Outgoing<PeerId>>) {
        for Outgoing {
            token,
            peer,
            request,
        } in out
        {
            let req = self.swarm.behaviour_mut().sync.send_request(&peer, request);
            self.requests.insert(req, token);
        }
        let _ = self.stats_tx.send(self.sync.stats());
    }

    /// Starts a reconciliation with `peer`, or with the next connected peer in turn.
    fn start_sync(&mut self, peer: Option<PeerId>) {
        let peer = match peer {
            Some(p) => p,
            None => {
                let peers: Vec<PeerId> = self.admission.admitted().copied().collect();
                if peers.is_empty() {
                    return;
                }
                self.next_peer = (self.next_peer + 1) % peers.len();
                peers[self.next_peer]
            }
        };
        let out = self.sync.initiate(peer, &self.engine);
        self.send(out.into_iter().collect());
    }

    fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.answer(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => self.on_response(request_id, response),
            },
            request_response::Event::OutboundFailure {
                request_id,
                peer,
                error,
                ..
            } => {
                tracing::debug!(%peer, %error, "sync request failed");
                if let Some(token) = self.requests.remove(&request_id) {
                    self.sync.on_failure(token);
                }
            }
            _ => {}
        }
    }

    fn answer(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<SyncResponse>,
    ) {
        let response = if !self.admission.is_admitted(&peer) {
            self.metrics.inc_sync_refused("unproven");
            SyncResponse::Refused(
                "this node syncs only with nodes that proved they serve an org of the \
                 network (send a hello first)"
                    .into(),
            )
        } else if !self.sync_rate.allow(peer, std::time::Instant::now()) {
            self.metrics.inc_sync_refused("rate");
            SyncResponse::Refused(format!(
                "rate limited: at most {} sync requests per second",
                crate::peers::SYNC_REQUESTS_PER_SECOND
            ))
        } else {
            self.sync.answer(request, &self.engine)
        };
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            tracing::debug!(%peer, "sync peer went away before our answer");
        }
    }

    fn on_response(&mut self, request_id: OutboundRequestId, response: SyncResponse) {
        let Some(token) = self.requests.remove(&request_id) else {
            return;
        };
        match self.sync.on_response(token, response) {
            Outcome::Idle => {}
            Outcome::Send(out) => self.send(out),
            Outcome::Events { peer, events } => self.on_fetched(peer, events),
            Outcome::Refused { peer, reason } => tracing::debug!(%peer, %reason, "sync refused"),
            Outcome::Misbehaved { peer, reason } => {
                tracing::warn!(%peer, %reason, "peer broke the sync protocol");
                self.penalise(peer);
            }
        }
        let _ = self.stats_tx.send(self.sync.stats());
    }

    /// Ingests the events a fetch brought, and fetches what they still wait for from
    /// the same peer.
    fn on_fetched(&mut self, peer: PeerId, events: Vec<Vec<u8>>) {
        let mut invalid = 0;
        // Ingest in clock order so most events find their dependencies present.
        let mut decoded: Vec<carnet_protocol::SignedEvent> = Vec::new();
        for bytes in &events {
            match carnet_protocol::SignedEvent::decode(bytes, &self.engine.network()) {
                Ok(ev) => decoded.push(ev),
                Err(_) => invalid += 1,
            }
        }
        match self.engine.ingest_batch(decoded) {
            Ok((accepted, rejected)) => {
                invalid += rejected.len();
                for (_, e) in &rejected {
                    self.metrics.inc_rejected(e.code());
                }
                let mut wanted = Vec::new();
                self.sync.fetched(accepted.len() as u64);
                for i in accepted {
                    self.account(&Ok(i.clone()));
                    if is_pending(&i) {
                        wanted.extend(self.engine.waits_for(&i.event));
                    }
                    self.hold_if_pending(&i, Some(peer), None);
                }
                wanted.sort_unstable();
                wanted.dedup();
                self.fetch(peer, wanted);
            }
            Err(e) => tracing::error!(error = %e, "storage failed during sync"),
        }
        self.settle_pending();
        if invalid > 0 {
            tracing::warn!(%peer, invalid, "peer served invalid events");
            self.offend(peer, invalid as u32, "invalid_event");
        }
    }

    fn on_hello(&mut self, event: request_response::Event<Hello, HelloReply>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    let reply = match self.check_hello(&request, &peer) {
                        Ok(org) => {
                            self.admit(peer, org);
                            HelloReply::Welcome {
                                hello: self.hello.clone(),
                                secret: self.engine.network_secret().map(|s| s.0),
                            }
                        }
                        Err(refusal) => {
                            self.refuse(peer, &refusal);
                            HelloReply::Refused(refusal.to_string())
                        }
                    };
                    // Err: the peer is gone already.
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .hello
                        .send_response(channel, reply);
                }
                request_response::Message::Response { response, .. } => match response {
                    HelloReply::Welcome { hello, secret } => {
                        match self.check_hello(&hello, &peer) {
                            Ok(org) => {
                                self.admit(peer, org);
                                if let Some(secret) = secret {
                                    self.take_secret(peer, NetworkSecret(secret));
                                }
                            }
                            Err(refusal) => self.refuse(peer, &refusal),
                        }
                    }
                    HelloReply::Refused(reason) => {
                        tracing::warn!(%peer, %reason, "a peer refused this node");
                        let _ = self.swarm.disconnect_peer_id(peer);
                    }
                },
            },
            // Our hello got no answer: a peer that does not speak the protocol (or
            // is gone) stays unserved; the timeout closes it if it never proves itself.
            request_response::Event::OutboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, %error, "hello request failed");
            }
            request_response::Event::ResponseSent { .. }
            | request_response::Event::InboundFailure { .. } => {}
        }
    }

    /// A network secret from an admitted peer: kept if this node has none yet. A
    /// node never replaces its secret; another one from a peer is logged.
    fn take_secret(&mut self, peer: PeerId, secret: NetworkSecret) {
        match self.engine.network_secret() {
            Some(mine) if *mine == secret => {}
            Some(_) => {
                tracing::error!(%peer, "a peer sent another network secret than this node's; kept this node's")
            }
            None => {
                if let Err(e) = crate::datadir::save_network_secret(&self.data_dir, &secret) {
                    tracing::error!(error = %e, "cannot keep the network secret");
                    return;
                }
                self.engine.set_network_secret(secret);
                tracing::info!(%peer, "received the network secret: contributions can be taken");
            }
        }
    }

    fn check_hello(
        &mut self,
        hello: &Hello,
        peer: &PeerId,
    ) -> Result<carnet_protocol::PublicKey, Refusal> {
        let network = self.engine.network();
        let orgs = &self.engine.ledger().state().orgs;
        check_hello(hello, peer, &network, |k| orgs.contains_key(k))
    }

    /// `peer` proved it serves `org`: gossip and sync with it from now on.
    fn admit(&mut self, peer: PeerId, org: carnet_protocol::PublicKey) {
        if !self.admission.admit(peer, org) {
            return;
        }
        tracing::info!(%peer, %org, "peer admitted");
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, 0.0);
        self.metrics
            .set_peers_admitted(self.admission.admitted_count() as u64);
        self.book.reached(&peer);
        self.remember(peer);
        // Catch up with a new peer at once rather than at the next tick.
        self.start_sync(Some(peer));
        if !self.discovered {
            // First contact: ask the DHT for more peers.
            self.discovered = self.swarm.behaviour_mut().kademlia.bootstrap().is_ok();
        }
    }

    /// Counts and logs a refusal; the connection is closed a moment later
    /// ([`crate::peers::REFUSAL_GRACE`]), once the peer has read why.
    fn refuse(&mut self, peer: PeerId, refusal: &Refusal) {
        tracing::warn!(%peer, reason = %refusal, "peer refused");
        self.metrics.inc_peers_refused(refusal.label());
        self.admission.refuse(peer, std::time::Instant::now());
        self.metrics
            .set_peers_admitted(self.admission.admitted_count() as u64);
        if matches!(
            refusal,
            Refusal::OtherNetwork { .. } | Refusal::BadAttestation
        ) {
            self.book.forget(&peer);
        }
    }

    /// Keeps the announced addresses of admitted `peer` in the address book.
    fn remember(&mut self, peer: PeerId) {
        for addr in self.announced.get(&peer).into_iter().flatten() {
            let mut addr = addr.clone();
            if peer_of(&addr).is_none() {
                addr.push(libp2p::multiaddr::Protocol::P2p(peer));
            }
            if peer_of(&addr) == Some(peer) {
                self.book.add(addr);
            }
        }
    }

    /// On every tick: closes connections that never proved an org, or whose org is
    /// gone; redials known peers that are not connected; saves the address book.
    fn tend_peers(&mut self) {
        let healthy = self.engine.probe_storage();
        self.metrics.set_storage_healthy(healthy);
        self.lift_bans();
        let now = std::time::Instant::now();
        for peer in self.admission.overdue(now) {
            self.refuse(peer, &Refusal::NoHello);
        }
        let orgs = self.engine.ledger().state().orgs.clone();
        for peer in self.admission.no_longer_orgs(|k| orgs.contains_key(k)) {
            tracing::warn!(%peer, "closing the connection of a peer whose org left the network");
            self.metrics
                .inc_peers_refused(Refusal::NoLongerAnOrg.label());
            let _ = self.swarm.disconnect_peer_id(peer);
        }
        self.metrics
            .set_peers_admitted(self.admission.admitted_count() as u64);
        let me = *self.swarm.local_peer_id();
        let swarm = &self.swarm;
        let due = self.book.due(now, |p| *p == me || swarm.is_connected(p));
        for (peer, addrs) in due {
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "redial");
            }
        }
        if let Err(e) = self.book.save() {
            tracing::warn!(error = %e, "cannot save the known peers");
        }
        // Keep looking for the orgs not reached yet: the first walk, at first contact,
        // finds only the peers the DHT knew then.
        let orgs = self.engine.ledger().state().orgs.len();
        let wanted = orgs.saturating_sub(1).min(TARGET_PEERS);
        if now >= self.next_discovery && self.admission.admitted_count() < wanted {
            self.next_discovery = now + DISCOVERY_INTERVAL;
            if self.admission.admitted_count() > 0 {
                let _ = self.swarm.behaviour_mut().kademlia.bootstrap();
            }
        }
    }

    /// A peer that broke the sync protocol is disconnected, and it counts as an
    /// offence.
    fn penalise(&mut self, peer: PeerId) {
        self.offend(peer, 1, "bad_sync");
        let _ = self.swarm.disconnect_peer_id(peer);
    }
}
