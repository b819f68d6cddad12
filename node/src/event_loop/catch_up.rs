//! Catch-up sync on the wire: the loop carries the messages of `crate::sync`'s state
//! machine and ingests the events it fetched.

use super::*;

impl EventLoop {
    /// Asks `peer` for `ids`: what one pending event it sent waits for, and nothing
    /// else, so the requests stay proportional to what is actually missing.
    pub(super) fn fetch(&mut self, peer: PeerId, ids: Vec<ContentId>) {
        let out = self.sync.fetch(peer, &ids);
        self.send(out);
    }

    /// Hands the sync machine's requests to libp2p.
    pub(super) fn send(&mut self, out: Vec<Outgoing<PeerId>>) {
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
    pub(super) fn start_sync(&mut self, peer: Option<PeerId>) {
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

    pub(super) fn on_sync(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
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

    pub(super) fn answer(
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

    pub(super) fn on_response(&mut self, request_id: OutboundRequestId, response: SyncResponse) {
        let Some(token) = self.requests.remove(&request_id) else {
            return;
        };
        match self.sync.on_response(token, response, &self.engine) {
            Outcome::Idle => {}
            Outcome::Send(out) => self.send(out),
            Outcome::Events {
                peer,
                events,
                asked,
            } => self.on_fetched(peer, events, asked),
            Outcome::Refused { peer, reason } => tracing::debug!(%peer, %reason, "sync refused"),
            Outcome::Misbehaved { peer, reason } => {
                tracing::warn!(%peer, %reason, "peer broke the sync protocol");
                self.penalise(peer);
            }
        }
        let _ = self.stats_tx.send(self.sync.stats());
    }

    /// Has the events a fetch brought verified away from the loop; they are ingested
    /// in [`EventLoop::ingest_fetched`].
    pub(super) fn on_fetched(&mut self, peer: PeerId, events: Vec<Vec<u8>>, asked: Vec<ContentId>) {
        let network = self.engine.network();
        self.verifying
            .start(events, network, verifying::Then::Fetched { peer, asked });
    }

    /// Ingests the events a fetch brought, and fetches what they still wait for from
    /// the same peer. An event that is none of those asked for counts as invalid and
    /// is not ingested: what a fetch leaves pending is held under the larger bound of
    /// solicited events, which a peer must not fill with events of its choosing.
    pub(super) fn ingest_fetched(
        &mut self,
        peer: PeerId,
        decoded: verifying::Decoded,
        asked: Vec<ContentId>,
    ) {
        let mut invalid = 0;
        let wanted_ids: std::collections::HashSet<&ContentId> = asked.iter().collect();
        let mut events: Vec<carnet_protocol::SignedEvent> = Vec::new();
        for r in decoded {
            match r {
                Ok(ev) if wanted_ids.contains(&ev.id()) => events.push(ev),
                Ok(_) | Err(_) => invalid += 1,
            }
        }
        match self.engine.ingest_fetched_batch(events) {
            Ok((accepted, rejected)) => {
                invalid += rejected.len();
                for (_, e) in &rejected {
                    self.metrics.inc_rejected(e.code());
                }
                let mut wanted = Vec::new();
                let new_events = accepted.len() as u64;
                for i in accepted {
                    self.account_ingested(&i);
                    if is_pending(&i) {
                        wanted.extend(self.engine.waits_for(&i.event));
                    }
                    self.hold_fetched_if_pending(&i, peer);
                }
                self.account_batch();
                wanted.sort_unstable();
                wanted.dedup();
                // This fetch's place in the window goes to what the pending ones wait
                // for, ahead of the queue (an id asked and not served among them).
                // What waits from this peer holds room in its window.
                let pending = self.fetched.of(&Some(peer));
                let next =
                    self.sync
                        .fetched(peer, &asked, new_events, &wanted, pending, &self.engine);
                self.send(next);
            }
            Err(e) => {
                self.sync.abandon(peer, &asked);
                tracing::error!(error = %e, "storage failed during sync");
            }
        }
        self.settle_pending();
        if invalid > 0 {
            tracing::warn!(%peer, invalid, "peer served invalid events");
            self.offend(peer, invalid as u32, "invalid_event");
        }
    }
}
