//! The node's Prometheus metrics, kept by the event loop and rendered at `GET /metrics`.

use super::*;

/// The node's Prometheus metrics. The event loop updates them through the methods
/// below; `GET /metrics` renders them in the OpenMetrics text format.
pub struct Metrics {
    registry: Registry,
    ingested: Counter,
    rejected: Family<RejectReason, Counter>,
    pending: Gauge,
    events_in_memory: Gauge,
    start_events_read: Gauge,
    start_from_records: Gauge,
    peers: Gauge,
    gossip: Counter,
    gossip_mesh: Gauge,
    pending_dropped: Family<RejectReason, Counter>,
    peers_banned: Counter,
    peers_refused: Family<RejectReason, Counter>,
    peers_admitted: Gauge,
    peer_offences: Family<RejectReason, Counter>,
    sync_refused: Family<RejectReason, Counter>,
    gossip_refused: Family<RejectReason, Counter>,
    storage_healthy: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RejectReason {
    reason: String,
}

/// Adds `n` to the counter of `family` labelled `reason`.
fn count(family: &Family<RejectReason, Counter>, reason: &str, n: u64) {
    family
        .get_or_create(&RejectReason {
            reason: reason.to_owned(),
        })
        .inc_by(n);
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("events_ingested", &self.ingested.get())
            .field("events_pending", &self.pending.get())
            .field("peers_connected", &self.peers.get())
            .field("gossip_messages", &self.gossip.get())
            .finish_non_exhaustive()
    }
}

/// The figures of [`Metrics`] an operator reads first (the web app's operator page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub events_ingested: u64,
    pub events_pending: i64,
    pub peers_connected: i64,
    pub peers_admitted: i64,
    pub peers_banned: u64,
    pub gossip_messages: u64,
}

impl Metrics {
    /// The counters an operator reads first, as they stand now.
    pub fn summary(&self) -> Summary {
        Summary {
            events_ingested: self.ingested.get(),
            events_pending: self.pending.get(),
            peers_connected: self.peers.get(),
            peers_admitted: self.peers_admitted.get(),
            peers_banned: self.peers_banned.get(),
            gossip_messages: self.gossip.get(),
        }
    }

    pub fn new() -> Self {
        let mut registry = Registry::default();
        let ingested = Counter::default();
        let rejected = Family::<RejectReason, Counter>::default();
        let pending = Gauge::default();
        let events_in_memory = Gauge::default();
        let start_events_read = Gauge::default();
        let start_from_records = Gauge::default();
        let peers = Gauge::default();
        let gossip = Counter::default();
        let pending_dropped = Family::<RejectReason, Counter>::default();
        let peers_banned = Counter::default();
        let peers_refused = Family::<RejectReason, Counter>::default();
        let peers_admitted = Gauge::default();
        let peer_offences = Family::<RejectReason, Counter>::default();
        let sync_refused = Family::<RejectReason, Counter>::default();
        let gossip_refused = Family::<RejectReason, Counter>::default();
        let storage_healthy = Gauge::default();
        storage_healthy.set(1);
        registry.register(
            "storage_healthy",
            "1 while the event store takes writes; 0 after a failed one (a full disk) until it takes one again",
            storage_healthy.clone(),
        );
        registry.register(
            "peer_offences",
            "Offences counted against peers, by reason (invalid_event: an event the protocol refuses; bad_sync: a broken sync message); 8 ban a peer",
            peer_offences.clone(),
        );
        registry.register(
            "sync_refused",
            "Sync requests refused, by reason (unproven: from a peer with no valid hello; rate: over the per-peer rate)",
            sync_refused.clone(),
        );
        registry.register(
            "gossip_refused",
            "Gossip messages left unread and not forwarded, by reason (rate: over the per-peer rate; the events come back by sync)",
            gossip_refused.clone(),
        );
        registry.register(
            "peers_refused",
            "Peers refused and disconnected, by reason (other_network, bad_attestation, not_an_org: no valid attestation by a current org of the network; no_hello: none in time)",
            peers_refused.clone(),
        );
        registry.register(
            "peers_admitted",
            "Connected peers that proved they serve an org of the network",
            peers_admitted.clone(),
        );
        registry.register(
            "events_ingested",
            "Events ordered and stored by this node",
            ingested.clone(),
        );
        registry.register(
            "pending_dropped",
            "Pending events given up, by reason (evicted: their sender sent too many; expired: too old; invalid: they failed the ordering checks once complete)",
            pending_dropped.clone(),
        );
        registry.register(
            "peers_banned",
            "Peers disconnected and banned for sending invalid events",
            peers_banned.clone(),
        );
        registry.register(
            "events_rejected",
            "Events refused, by reason",
            rejected.clone(),
        );
        registry.register(
            "events_pending",
            "Events held in memory waiting for missing dependencies (never stored)",
            pending.clone(),
        );
        registry.register(
            "events_in_memory",
            "Ordered events whose bytes the ledger holds in memory; other finalized events are read from the store instead",
            events_in_memory.clone(),
        );
        registry.register(
            "start_events_read",
            "Events the node's start read from the store: every one, or only those it holds in memory when it started from the snapshot and the records of finalized events",
            start_events_read.clone(),
        );
        registry.register(
            "start_from_records",
            "1 when the node's start took the finalized events from the snapshot and the store's records, reading only the events it holds in memory; 0 when it read every event",
            start_from_records.clone(),
        );
        registry.register(
            "peers_connected",
            "Peers with an open connection",
            peers.clone(),
        );
        registry.register(
            "gossip_messages",
            "Gossip messages received",
            gossip.clone(),
        );
        let gossip_mesh = Gauge::default();
        registry.register(
            "gossip_mesh_peers",
            "Peers in this node's gossip mesh of the events topic",
            gossip_mesh.clone(),
        );
        Metrics {
            registry,
            ingested,
            rejected,
            pending,
            events_in_memory,
            start_events_read,
            start_from_records,
            peers,
            gossip,
            gossip_mesh,
            pending_dropped,
            peers_banned,
            peers_refused,
            peers_admitted,
            peer_offences,
            sync_refused,
            gossip_refused,
            storage_healthy,
        }
    }

    pub fn set_storage_healthy(&self, healthy: bool) {
        self.storage_healthy.set(i64::from(healthy));
    }

    pub fn inc_peer_offences(&self, reason: &str, n: u64) {
        count(&self.peer_offences, reason, n);
    }

    pub fn inc_sync_refused(&self, reason: &str) {
        count(&self.sync_refused, reason, 1);
    }

    pub fn inc_gossip_refused(&self, reason: &str) {
        count(&self.gossip_refused, reason, 1);
    }

    /// `reason`: a [`crate::peers::Refusal`] label.
    pub fn inc_peers_refused(&self, reason: &str) {
        count(&self.peers_refused, reason, 1);
    }

    pub fn set_peers_admitted(&self, n: u64) {
        self.peers_admitted
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// `reason`: `evicted`, `expired` or `invalid`.
    pub fn inc_pending_dropped(&self, reason: &str, n: u64) {
        count(&self.pending_dropped, reason, n);
    }

    pub fn inc_peers_banned(&self) {
        self.peers_banned.inc();
    }

    pub fn inc_ingested(&self) {
        self.ingested.inc();
    }

    /// `reason` becomes a label value: keep it to a small fixed set (for example
    /// `invalid`, `rejected`, `storage`), never a message with ids in it.
    pub fn inc_rejected(&self, reason: &str) {
        count(&self.rejected, reason, 1);
    }

    pub fn set_pending(&self, n: u64) {
        self.pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn set_events_in_memory(&self, n: u64) {
        self.events_in_memory
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// What the node's start did (see [`crate::engine::Reopened`]).
    pub fn set_start(&self, events_read: u64, from_records: bool) {
        self.start_events_read
            .set(i64::try_from(events_read).unwrap_or(i64::MAX));
        self.start_from_records.set(i64::from(from_records));
    }

    pub fn set_peers(&self, n: u64) {
        self.peers.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub fn inc_gossip(&self) {
        self.gossip.inc();
    }

    pub fn set_gossip_mesh(&self, n: u64) {
        self.gossip_mesh.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The metrics in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
