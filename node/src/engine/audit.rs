//! Evidence and audit bundles: what an auditor needs to check a penalty offline.

use super::*;

impl Engine {
    /// Keeps a piece of evidence (a bounce message) and returns its evidence hash.
    pub fn put_evidence(&mut self, raw: &[u8]) -> Result<carnet_protocol::Hash32, AuditRefusal> {
        self.writable()
            .map_err(|e| AuditRefusal::Storage(e.to_string()))?;
        let put = self.store.put_evidence(raw, self.org.key());
        self.written(put).map_err(|e| match e {
            crate::store::StoreError::EvidenceTooLarge(_) => {
                AuditRefusal::EvidenceTooLarge(e.to_string())
            }
            e => AuditRefusal::Storage(e.to_string()),
        })
    }

    /// The job of the audit bundle of penalty `event` (the fold it needs is run away
    /// from the event loop: `event_loop::audits`). With `include_message` (the org
    /// agrees to disclose it), a bounce report's message must be held by this node;
    /// with `include_opening`, the opening of the reported commitment (which this node
    /// was shown by the reporter, or holds the card of).
    pub fn bundle_job(
        &mut self,
        event: &ContentId,
        include_message: bool,
        include_opening: bool,
    ) -> Result<carnet_protocol::ledger::audit::BundleJob, AuditRefusal> {
        let penalty = self
            .ledger
            .fetch(event)
            .map_err(|e| AuditRefusal::Storage(e.to_string()))?
            .map(std::borrow::Cow::into_owned);
        let opening = if include_opening {
            let storage = |e: StoreError| AuditRefusal::Storage(e.to_string());
            let reported = match penalty.as_ref().map(|e| e.payload()) {
                Some(Payload::BounceReport(b)) => Some((b.purchase_id, false)),
                Some(Payload::MobileReport(m)) => Some((m.purchase_id, true)),
                _ => None,
            };
            let found = match reported.and_then(|(id, mobile)| {
                let p = self.ledger.state().purchases.get(&id)?;
                let commitment = if mobile {
                    p.phone_commitment?
                } else {
                    p.email_commitment
                };
                Some((id, p.listing_id, commitment))
            }) {
                Some((id, listing, commitment)) => self
                    .opening_for(&id, &listing, &commitment)
                    .map_err(storage)?,
                None => None,
            };
            Some(found.ok_or(AuditRefusal::NoOpening(*event))?)
        } else {
            None
        };
        let message = match penalty.as_ref().map(|e| e.payload()) {
            Some(Payload::BounceReport(b)) if include_message => {
                let raw = self
                    .store
                    .get_evidence(&b.evidence, self.org.key())
                    .map_err(|e| AuditRefusal::Storage(e.to_string()))?
                    .ok_or(AuditRefusal::NoMessage(b.evidence))?;
                Some(raw)
            }
            _ => None,
        };
        Ok(self.ledger.bundle_job(event, message, opening)?)
    }

    /// The job of a checkpoint file: see [`Command::AuditCheckpoint`].
    pub fn checkpoint_job(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<carnet_protocol::ledger::audit::CheckpointJob, AuditRefusal> {
        Ok(self.ledger.checkpoint_job(bound, since)?)
    }

    /// The audit bundle of penalty `event`, built here and now over the store (tests
    /// and tools; the event loop runs [`Engine::bundle_job`] on a thread).
    pub fn audit_bundle(
        &mut self,
        event: &ContentId,
        include_message: bool,
        include_opening: bool,
    ) -> Result<carnet_protocol::ledger::audit::Bundle, AuditRefusal> {
        let job = self.bundle_job(event, include_message, include_opening)?;
        Ok(job.run(&self.store)?)
    }

    /// A checkpoint file, built here and now over the store: see
    /// [`Engine::audit_bundle`].
    pub fn audit_checkpoint(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<carnet_protocol::ledger::audit::CheckpointFile, AuditRefusal> {
        Ok(self.checkpoint_job(bound, since)?.run(&self.store)?)
    }

    pub fn finalized_bound(&mut self) -> Option<u64> {
        self.ledger.state().finalized.map(|c| c.lamport_bound)
    }

    /// The last `limit` finalized claims, oldest first: what the operator's settlement
    /// chart draws. A claim's time is the latest timestamp among the Checkpoints that
    /// signed its bound (when the quorum was complete, as their authors' clocks say).
    /// A Checkpoint the store cannot give back is an error, not a claim without its
    /// time.
    pub fn settlement(&self, limit: usize) -> Result<Vec<Settled>, StoreError> {
        let finals = self.ledger.finals();
        let skip = finals.len().saturating_sub(limit);
        let mut out = Vec::new();
        for (i, f) in finals.iter().enumerate().skip(skip) {
            let bound = f.claim.lamport_bound;
            let mut at_ms = 0;
            for id in self.ledger.signatures_at(bound) {
                if let Some(e) = self.ledger.fetch(&id)? {
                    at_ms = at_ms.max(e.body().timestamp_ms);
                }
            }
            out.push(Settled {
                epoch: i as u64 + 1,
                bound,
                events: f.claim.event_count,
                at_ms,
            });
        }
        Ok(out)
    }
}

/// One finalized claim, for the operator's settlement chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Its epoch number, from 1.
    pub epoch: u64,
    /// Its Lamport bound.
    pub bound: u64,
    /// Events settled up to it (the claim's event count).
    pub events: u64,
    /// When it was finalized, in ms (the signers' clocks).
    pub at_ms: u64,
}
