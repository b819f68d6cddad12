//! Commands from the API: submissions (batched into one store commit) and queries.

use super::*;
use crate::handle::AuditRefusal;
use carnet_protocol::ledger::audit::AuditError;

impl EventLoop {
    /// Runs a search off the loop, on the state and the stored teasers as of now (a
    /// search reads every stored teaser); at most [`SEARCHES_AT_ONCE`] at a time.
    fn search(
        &mut self,
        query: carnet_api::SearchQuery,
        reply: oneshot::Sender<Result<carnet_api::SearchPage, crate::store::StoreError>>,
    ) {
        let (state, store, price) = self.engine.search_view();
        let permits = self.searches.clone();
        tokio::spawn(async move {
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let page = tokio::task::spawn_blocking(move || {
                crate::engine::search_in(&state, &store.teasers()?, price, &query)
            })
            .await;
            // A search that panicked drops the reply: the caller is told the node
            // did not answer.
            if let Ok(page) = page {
                let _ = reply.send(page);
            }
        });
    }

    /// Takes an audit job from the engine and builds it away from the loop
    /// (`audits`); refused at once, before the job is taken, while another is built.
    fn audit<J: Send + 'static, T: Send + 'static>(
        &mut self,
        take: impl FnOnce(&mut Engine) -> Result<J, AuditRefusal>,
        run: fn(J, &dyn carnet_protocol::ledger::Archive) -> Result<T, AuditError>,
        reply: oneshot::Sender<Result<T, AuditRefusal>>,
    ) {
        if self.audits.busy() {
            let _ = reply.send(Err(AuditRefusal::Busy));
            return;
        }
        match take(&mut self.engine) {
            Ok(job) => self
                .audits
                .start(self.engine.store(), move |a| run(job, a), reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Takes a submission together with every other one already queued behind it,
    /// so concurrent submitters share one store commit. While fetched events are being
    /// verified away from the loop (`verifying`), the batch is verified after them,
    /// as batches are ordered in the order they came; else on the loop at once. The
    /// batch ends at the first other command, which is handled right after it (a
    /// submitter that waits for its answer before asking anything else sees its event
    /// in any answer after it). Returns how many submissions the batch took.
    /// A submission of several events counts as one, and a batch takes no more once
    /// it holds [`MAX_SUBMIT_BATCH`] events, but does not split one.
    pub(super) fn on_submits(&mut self, first: Command) -> usize {
        let mut wires = Vec::new();
        let mut replies = Vec::new();
        let mut next = None;
        let mut cmd = Some(first);
        while let Some(c) = cmd.take() {
            match c {
                Command::Submit { bytes, reply } => {
                    wires.push(bytes);
                    replies.push(verifying::Answer::One(reply));
                }
                Command::SubmitMany { events, reply }
                    if wires.is_empty() || wires.len() + events.len() <= MAX_SUBMIT_BATCH =>
                {
                    replies.push(verifying::Answer::Many(events.len(), reply));
                    wires.extend(events);
                }
                other => {
                    next = Some(other);
                    break;
                }
            }
            if wires.len() < MAX_SUBMIT_BATCH {
                cmd = self.commands.try_recv().ok();
            }
        }
        let taken = replies.len();
        let network = self.engine.network();
        let then = verifying::Then::Submits(replies);
        if self.verifying.is_empty() && wires.len() < VERIFY_OFF_LOOP_FROM {
            // Nothing verified ahead of them to wait for: a hop to a blocking thread
            // would only add to their wait (1,300 against 1,600 events/s one by one).
            // A large batch goes there all the same: the batches queued behind it
            // are then verified while the loop stores it.
            let decoded = crate::decode::decode_all(&wires, &network);
            self.on_verified(decoded, then);
        } else {
            self.verifying.start(wires, network, then);
        }
        if let Some(cmd) = next {
            self.on_command(cmd);
        }
        taken
    }

    /// Orders a batch once verified: submissions are answered, fetched events
    /// ingested (see `catch_up`).
    pub(super) fn on_verified(&mut self, decoded: verifying::Decoded, then: verifying::Then) {
        match then {
            verifying::Then::Submits(replies) => {
                let mut results = self.engine.ingest_decoded(decoded).into_iter();
                for answer in replies {
                    match answer {
                        verifying::Answer::One(reply) => {
                            if let Some(r) = results.next() {
                                let _ = reply.send(self.local_ingest(r));
                            }
                        }
                        verifying::Answer::Many(n, reply) => {
                            let answers: Vec<_> = results
                                .by_ref()
                                .take(n)
                                .map(|r| self.local_ingest(r))
                                .collect();
                            let _ = reply.send(answers);
                        }
                    }
                }
            }
            verifying::Then::Fetched { peer, asked } => self.ingest_fetched(peer, decoded, asked),
        }
    }

    pub(super) fn on_command(&mut self, cmd: Command) {
        match cmd {
            cmd @ (Command::Submit { .. } | Command::SubmitMany { .. }) => {
                self.on_submits(cmd);
            }
            Command::SubmitAsOrg { payload, reply } => {
                let _ = reply.send(self.sign_as_org(payload));
            }
            Command::Contribute { bytes, card, reply } => {
                let r = self.engine.contribute(&bytes, card);
                let _ = reply.send(self.local_ingest(r));
            }
            Command::SignAsMember {
                key,
                payload,
                card,
                reply,
            } => {
                let _ = reply.send(self.sign_as_member(&key, payload, card.map(|c| *c)));
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
            Command::VoteOf {
                domain,
                member,
                reply,
            } => {
                let _ = reply.send(self.engine.vote_of(&domain, &member));
            }
            Command::Search { query, reply } => self.search(query, reply),
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
            Command::IdsWithPrefix { prefix, reply } => {
                let _ = reply.send(self.engine.ids_with_prefix(&prefix, MAX_PREFIX_MATCHES));
            }
            Command::Members { reply } => {
                let _ = reply.send(self.engine.members());
            }
            Command::Quote {
                buyer,
                listing,
                max_price,
                reply,
            } => {
                let _ = reply.send(self.engine.quote(buyer, listing, max_price));
            }
            Command::Event { id, reply } => {
                let _ = reply.send(self.engine.event_bytes(&id));
            }
            Command::Settlement { limit, reply } => {
                let _ = reply.send(self.engine.settlement(limit));
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
            Command::PutSealedKey { upload, reply } => {
                let now = carnet_api::now_ms();
                let _ = reply.send(self.engine.put_sealed_key(upload, now));
            }
            Command::SealedKey { member, reply } => {
                // A read failure is the same as no key here: the member cannot sign
                // in until the store answers again, and the page says nothing more.
                let _ = reply.send(self.engine.store().sealed_key(&member).ok().flatten());
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
            } => self.audit(
                |engine| engine.bundle_job(&event, include_message, include_opening),
                |job, archive| job.run(archive),
                reply,
            ),
            Command::AuditCheckpoint {
                bound,
                since,
                reply,
            } => self.audit(
                |engine| engine.checkpoint_job(bound, since),
                |job, archive| job.run(archive),
                reply,
            ),
            Command::Orgs { reply } => {
                let _ = reply.send(self.engine.orgs());
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
}
