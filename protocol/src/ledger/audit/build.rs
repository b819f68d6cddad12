//! Building bundles and checkpoint files from a node's ledger.

use super::*;

/// The ledger's events of interest for audits, found in one pass in ledger order.
struct Finder<'a> {
    events: Vec<std::borrow::Cow<'a, SignedEvent>>,
}

impl Finder<'_> {
    fn first(&self, f: impl Fn(&SignedEvent) -> bool) -> Option<&SignedEvent> {
        self.events.iter().map(|e| &**e).find(|e| f(e))
    }
}

impl Ledger {
    /// The evidence for the claim finalized as epoch `epoch`, whose prefix is `prefix`:
    /// the signatures up to the one that completed its quorum, and the admissions,
    /// evictions and rotations of its prefix.
    fn checkpoint_evidence(
        &mut self,
        epoch: u64,
        prefix: &crate::ledger::Prefix,
    ) -> Result<CheckpointEvidence, AuditError> {
        let claim = prefix.claim;
        let state = self.state().clone();
        let applied = |e: &SignedEvent| state.outcome(&e.id()) == Outcome::Applied;
        let mut signatures: Vec<SignedEvent> = self
            .signatures_at(claim.lamport_bound)
            .iter()
            .filter_map(|i| self.fetch(i))
            .filter(|e| matches!(e.payload(), Payload::Checkpoint(c) if CheckpointClaim::from(c) == claim))
            .map(|e| e.into_owned())
            .collect();
        signatures.sort_by_key(|e| (e.lamport(), e.id()));
        let admissions: Vec<SignedEvent> = self
            .events()
            .filter(|e| self.epoch(&e.id()).is_some_and(|x| x <= epoch) && applied(e))
            .filter(|e| {
                matches!(
                    e.payload(),
                    Payload::Admit(_) | Payload::Evict(_) | Payload::Rotate(_)
                )
            })
            .map(|e| e.into_owned())
            .collect();
        // Only signers that count: orgs of the state after the claim's prefix, one
        // claim at the bound each.
        let orgs = &prefix.state.orgs;
        let mut seen = BTreeSet::new();
        signatures.retain(|e| orgs.contains_key(&e.author()) && seen.insert(e.author()));
        let q = replay_quorum(&self.genesis, &claim, &admissions, &signatures).map_err(|e| {
            AuditError::Inconsistent(format!("finalized checkpoint fails the audit rule: {e}"))
        })?;
        let signatures: Vec<Vec<u8>> = signatures
            .iter()
            .filter(|e| (e.lamport(), e.id()) <= q.completed_by)
            .map(|e| e.as_bytes().to_vec())
            .collect();
        let admissions: Vec<Vec<u8>> = admissions.iter().map(|e| e.as_bytes().to_vec()).collect();
        Ok(CheckpointEvidence {
            claim: claim.into(),
            signatures_hex: signatures,
            admissions_hex: admissions,
        })
    }

    /// The audit bundle of a penalty (a BounceReport or MobileReport), settled under
    /// the earliest finalized checkpoint whose bound covers it. `message` is the raw
    /// bounce message to include, if the reporter's org agreed to; `opening` that of
    /// the reported commitment, if the exporting org agreed to.
    pub fn audit_bundle(
        &mut self,
        penalty: &ContentId,
        message: Option<Vec<u8>>,
        opening: Option<crate::payload::Opening>,
    ) -> Result<Bundle, AuditError> {
        let state = self.state().clone();
        let ev = self
            .fetch(penalty)
            .map(|e| e.into_owned())
            .ok_or(AuditError::UnknownEvent(*penalty))?;
        let purchase_id = match ev.payload() {
            Payload::BounceReport(b) => b.purchase_id,
            Payload::MobileReport(m) => m.purchase_id,
            other => return Err(AuditError::NotAPenalty(*penalty, other.kind())),
        };
        if let Outcome::Void(r) = state.outcome(penalty) {
            return Err(AuditError::Void(*penalty, r));
        }
        let missing = |what: &str| AuditError::Missing(what.to_string());
        let epoch = self
            .epoch(penalty)
            .ok_or(AuditError::NotSettled(ev.lamport()))?;
        let applied = |e: &SignedEvent| state.outcome(&e.id()) == Outcome::Applied;
        let purchase = self
            .fetch(&purchase_id)
            .filter(|e| applied(e))
            .map(|e| e.into_owned())
            .ok_or_else(|| missing("the applied Purchase the report names"))?;
        let purchase = &purchase;
        let Payload::Purchase(p) = purchase.payload() else {
            return Err(missing("the report names no Purchase"));
        };
        let listing_id = p.listing_id;
        let purchase_key = (purchase.lamport(), purchase.id());
        // Only the events a bundle may need are kept: the ledger's finalized events
        // are read back from the archive one at a time, not held all at once.
        let needed = |e: &SignedEvent| match e.payload() {
            Payload::Contribute(_) => e.id() == listing_id,
            Payload::Update(u) => u.listing_id == listing_id,
            Payload::Deliver(d) => d.purchase_id == purchase_id,
            Payload::Enroll(_) => true,
            _ => false,
        };
        let finder = Finder {
            events: self.events().filter(|e| needed(e) && applied(e)).collect(),
        };
        let listing = finder
            .first(|e| e.id() == listing_id)
            .ok_or_else(|| missing("the Contribute of the listing bought"))?;
        let contributor = listing.author();
        let reporter = ev.author();
        let update = finder.events.iter().map(|e| &**e).rfind(|e| {
            (e.lamport(), e.id()) < purchase_key
                && matches!(e.payload(), Payload::Update(u) if u.listing_id == listing_id)
        });
        let delivery = finder
            .first(|e| matches!(e.payload(), Payload::Deliver(d) if d.purchase_id == purchase_id))
            .ok_or_else(|| missing("the Deliver of the purchase"))?;
        let enrollment = |member: PublicKey| {
            finder.first(|e| matches!(e.payload(), Payload::Enroll(n) if n.member == member))
        };
        let contributor_enrollment =
            enrollment(contributor).ok_or_else(|| missing("the contributor's Enroll"))?;
        let reporter_enrollment =
            enrollment(reporter).ok_or_else(|| missing("the reporter's Enroll"))?;

        let mut prefix = self
            .finalized_prefix(epoch as usize)
            .ok_or(AuditError::NotSettled(ev.lamport()))?;
        let claim = prefix.claim;
        if prefix.ids.len() as u64 != claim.event_count || prefix.state.root() != claim.state_root {
            return Err(AuditError::Inconsistent(format!(
                "this node's prefix of epoch {epoch} is not the finalized claim"
            )));
        }
        let hashes: Vec<Hash32> = prefix
            .ids
            .iter()
            .map(|id| leaf_hash(id.as_bytes()))
            .collect();
        let index: HashMap<ContentId, usize> = prefix
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, i))
            .collect();
        let prove = |e: &SignedEvent| -> Result<ProvenEvent, AuditError> {
            let i = *index.get(&e.id()).ok_or_else(|| {
                AuditError::Inconsistent(format!("event {} is not below the checkpoint", e.id()))
            })?;
            Ok(ProvenEvent {
                event_hex: e.as_bytes().to_vec(),
                index: i as u64,
                path_hex: prove_inclusion(&hashes, i)
                    .ok_or_else(|| AuditError::Inconsistent("index out of range".into()))?,
            })
        };
        let contributor_account = prefix
            .state
            .prove_account(&contributor)
            .ok_or_else(|| missing("the contributor's account at the checkpoint"))?;
        let purchase_state = prefix
            .state
            .prove_purchase(&purchase_id)
            .ok_or_else(|| missing("the purchase at the checkpoint"))?;
        let bounce_message = match (ev.payload(), message) {
            (Payload::BounceReport(_), m) => m,
            (_, _) => None,
        };
        let dispute = state
            .bounce_reports
            .get(penalty)
            .and_then(|r| r.dispute)
            .and_then(|d| self.fetch(&d))
            .map(|e| e.as_bytes().to_vec());
        let bundle = Bundle {
            format: BUNDLE_FORMAT.into(),
            network_id_hex: self.network,
            penalty: prove(&ev)?,
            purchase: prove(purchase)?,
            delivery: prove(delivery)?,
            listing: prove(listing)?,
            listing_update: update.map(prove).transpose()?,
            contributor_enrollment: prove(contributor_enrollment)?,
            reporter_enrollment: prove(reporter_enrollment)?,
            bounce_message_hex: bounce_message,
            opening: opening.as_ref().map(OpeningFile::from),
            dispute_hex: dispute,
            contributor_account: contributor_account.into(),
            purchase_state: purchase_state.into(),
            checkpoint: CheckpointEvidence {
                claim: claim.into(),
                signatures_hex: vec![],
                admissions_hex: vec![],
            },
        };
        let checkpoint = self.checkpoint_evidence(epoch, &prefix)?;
        Ok(Bundle {
            checkpoint,
            ..bundle
        })
    }

    /// A finalized checkpoint on its own (the one at `bound`, or the latest), with a
    /// consistency proof from the finalized checkpoint at `since` if given.
    pub fn audit_checkpoint(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<CheckpointFile, AuditError> {
        let finalized: Vec<CheckpointClaim> = self.finals.iter().map(|f| f.claim).collect();
        let find = |b: u64| {
            finalized
                .iter()
                .position(|c| c.lamport_bound == b)
                .map(|i| (i as u64 + 1, finalized[i]))
                .ok_or(AuditError::NoCheckpoint(b))
        };
        let (epoch, claim) = match bound {
            Some(b) => find(b)?,
            None => finalized
                .last()
                .map(|c| (finalized.len() as u64, *c))
                .ok_or_else(|| AuditError::Missing("a finalized checkpoint".into()))?,
        };
        let prefix = self
            .finalized_prefix(epoch as usize)
            .ok_or(AuditError::NoCheckpoint(claim.lamport_bound))?;
        let consistency = match since {
            None => None,
            Some(s) => {
                let (_, old) = find(s)?;
                if old.lamport_bound > claim.lamport_bound {
                    return Err(AuditError::Inconsistent(format!(
                        "checkpoint {s} is later than {}",
                        claim.lamport_bound
                    )));
                }
                let hashes: Vec<Hash32> = prefix
                    .ids
                    .iter()
                    .map(|id| leaf_hash(id.as_bytes()))
                    .collect();
                let path = if old.event_count == 0 {
                    Vec::new()
                } else {
                    prove_consistency(&hashes, old.event_count as usize).ok_or_else(|| {
                        AuditError::Inconsistent("the earlier checkpoint has more events".into())
                    })?
                };
                Some(Consistency {
                    from_lamport_bound: old.lamport_bound,
                    from_event_count: old.event_count,
                    path_hex: path,
                })
            }
        };
        Ok(CheckpointFile {
            format: CHECKPOINT_FORMAT.into(),
            network_id_hex: self.network,
            checkpoint: self.checkpoint_evidence(epoch, &prefix)?,
            consistency,
        })
    }
}
