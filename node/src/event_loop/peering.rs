//! Peer admission: hellos, the network secret, admitted and refused peers, the
//! address book and discovery.

use super::*;

impl EventLoop {
    pub(super) fn on_hello(&mut self, event: request_response::Event<Hello, HelloReply>) {
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
    pub(super) fn take_secret(&mut self, peer: PeerId, secret: NetworkSecret) {
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

    pub(super) fn check_hello(
        &mut self,
        hello: &Hello,
        peer: &PeerId,
    ) -> Result<carnet_protocol::PublicKey, Refusal> {
        let network = self.engine.network();
        let orgs = &self.engine.ledger().state().orgs;
        check_hello(hello, peer, &network, |k| orgs.contains_key(k))
    }

    /// `peer` proved it serves `org`: gossip and sync with it from now on.
    pub(super) fn admit(&mut self, peer: PeerId, org: carnet_protocol::PublicKey) {
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
    pub(super) fn refuse(&mut self, peer: PeerId, refusal: &Refusal) {
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
    pub(super) fn remember(&mut self, peer: PeerId) {
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
    pub(super) fn tend_peers(&mut self) {
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
        // finds only the peers the DHT knew then, and fails if the first peer's
        // addresses (identify) came after its hello; then it is retried on the next
        // tick rather than a discovery interval later.
        let orgs = self.engine.ledger().state().orgs.len();
        let wanted = orgs.saturating_sub(1).min(TARGET_PEERS);
        let admitted = self.admission.admitted_count();
        if admitted > 0 && admitted < wanted && (!self.discovered || now >= self.next_discovery) {
            self.next_discovery = now + DISCOVERY_INTERVAL;
            self.discovered = self.swarm.behaviour_mut().kademlia.bootstrap().is_ok();
        }
    }

    /// A peer that broke the sync protocol is disconnected, and it counts as an
    /// offence.
    pub(super) fn penalise(&mut self, peer: PeerId) {
        self.offend(peer, 1, "bad_sync");
        let _ = self.swarm.disconnect_peer_id(peer);
    }
}
