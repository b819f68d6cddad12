//! Swarm events and gossip: validating what peers send, offences and bans, publishing.

use super::*;

impl EventLoop {
    pub(super) fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
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

    pub(super) fn on_gossip(
        &mut self,
        source: PeerId,
        id: gossipsub::MessageId,
        message: gossipsub::Message,
    ) {
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

    pub(super) fn validate(
        &mut self,
        msg: &gossipsub::MessageId,
        peer: &PeerId,
        a: MessageAcceptance,
    ) {
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
    pub(super) fn offend(&mut self, peer: PeerId, n: u32, reason: &str) {
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
    pub(super) fn lift_bans(&mut self) {
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
    pub(super) fn is_banned(&mut self, peer: &PeerId) -> bool {
        match self.banned.get(peer) {
            Some(until) if *until > std::time::Instant::now() => true,
            Some(_) => {
                self.banned.remove(peer);
                false
            }
            None => false,
        }
    }

    /// Gossips a new event; a pending one is passed on only once it is ordered.
    pub(super) fn publish(&mut self, ingested: &Ingested) {
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
}
