//! What this org's node signs by itself: checkpoint claims and seals when they fall
//! due, and any org event, on the org's own chain.

use super::*;

impl Engine {
    /// The Checkpoint this org should sign now, if any, with the deps it names: at the
    /// lowest bound another org signed and nobody decided yet, or else (if it is this
    /// org's turn to open one: the round's leader at once, the others after waiting
    /// two ticks per place behind it) at the highest clock it held at the previous
    /// call (one tick ago: what lies below had a tick to reach every org, so their
    /// views, hence their claims, agree); if the org has not signed there yet, the bound it signed last is
    /// decided (finalized, or out of reach of a quorum), and the claim would settle
    /// something besides other checkpoints. Every honest org holding the same org
    /// chains below the bound names the same heads and claim, so their signatures add
    /// up to a quorum (docs/protocol.md, "Signing checkpoints"). The deps name the
    /// other orgs' signatures at the last bound: whoever holds this one holds why that
    /// bound was decided.
    pub fn checkpoint_due(&mut self) -> Option<(Payload, Vec<ContentId>)> {
        let own = std::mem::replace(&mut self.last_tick_clock, self.ledger.max_lamport());
        let tip = self.ledger.max_lamport();
        let org = self.org.public();
        let orgs: Vec<PublicKey> = self.ledger.state().orgs.keys().copied().collect();
        let rank = orgs.iter().position(|o| *o == org)?;
        let last = self.ledger.last_signed(&org);
        let mut deps = Vec::new();
        if let Some(b) = last {
            if !self.ledger.bound_decided(b) {
                return None;
            }
            let mine = self.org.head().map(|h| h.id);
            for d in self.ledger.signatures_at(b) {
                if Some(d) == mine || deps.len() == carnet_protocol::limits::MAX_DEPS - 2 {
                    continue;
                }
                match self.ledger.fetch(&d) {
                    Ok(Some(e)) if e.author() != org => deps.push(d),
                    Ok(_) => {}
                    // Not signed this tick rather than with deps missing.
                    Err(e) => {
                        tracing::warn!(error = %e, "a checkpoint's deps cannot be read; it is signed at a later tick");
                        return None;
                    }
                }
            }
        }
        // Join the lowest bound another org opened and nobody decided yet: orgs that
        // each opened a bound of their own would never meet.
        let open = self
            .ledger
            .signed_bounds_above(last.unwrap_or(0))
            .into_iter()
            .take_while(|b| *b <= tip)
            .find(|b| !self.ledger.bound_decided(*b));
        let target = match open {
            Some(b) => b,
            None => {
                // Open a new bound: the leader of this round does at once, the others
                // only after waiting in turn (a leader may be down), so that two orgs
                // seldom open different bounds at the same time.
                if own == 0 || last.is_some_and(|b| b >= own) {
                    return None;
                }
                let finalized = self
                    .ledger
                    .finals()
                    .last()
                    .map_or(0, |f| f.claim.lamport_bound);
                let round = self.ledger.signed_bounds_above(finalized).len();
                let turn = (rank + orgs.len() - round % orgs.len()) % orgs.len();
                if self.idle_ticks < 2 * turn as u64 {
                    self.idle_ticks += 1;
                    return None;
                }
                own
            }
        };
        let claim = self.ledger.claim_at(target);
        // The claim's fold reads the state's maps on disk: one that failed to read
        // made a claim of another state, which an org must never sign (it signs one
        // claim per bound). The ledger is rebuilt from the store, as after a batch
        // that read wrong, and the claim waits for a later tick.
        if let Some(e) = self.ledger.take_archive_error() {
            tracing::error!(error = %e, "the store failed a read while folding a checkpoint claim; not signed, and writes are refused until the store reads again");
            self.storage_fault = Some(format!("a read of the store failed: {e}"));
            self.roll_back(&Default::default());
            return None;
        }
        let claim = claim?;
        self.idle_ticks = 0;
        Some((Payload::Checkpoint(claim), deps))
    }

    /// Seals this org's members' events that no org event reaches yet: one Seal per
    /// `MAX_DEPS - 1` members, naming each member's latest such event (its chain
    /// reaches the rest). Sealed events enter the org's line, and from there the next
    /// checkpoint's prefix.
    pub fn seals_due(&mut self) -> Vec<Vec<ContentId>> {
        let org = self.org.public();
        let mut latest: std::collections::BTreeMap<PublicKey, (u64, ContentId)> =
            std::collections::BTreeMap::new();
        {
            let state = self.ledger.state().clone();
            for ev in self.ledger.unsealed() {
                let ours = state
                    .accounts
                    .get(&ev.author())
                    .is_some_and(|a| a.org() == Some(org));
                if ours {
                    let e = latest.entry(ev.author()).or_insert((ev.seq(), ev.id()));
                    if ev.seq() >= e.0 {
                        *e = (ev.seq(), ev.id());
                    }
                }
            }
        }
        let ids: Vec<ContentId> = latest.values().map(|v| v.1).collect();
        ids.chunks(carnet_protocol::limits::MAX_DEPS - 1)
            .map(|c| c.to_vec())
            .collect()
    }

    /// Signs `payload` with the org key, naming `deps`, as the next event of the org's
    /// chain.
    pub fn sign_as_org_with(
        &mut self,
        payload: Payload,
        deps: Vec<ContentId>,
    ) -> Result<SignedEvent, IngestError> {
        self.resync_org_head();
        let clock = self.ledger.max_lamport();
        if self.org.head().is_none() {
            let intro = self.ledger.introduction(&self.org.public());
            self.org = self.org.clone().introduced_by(intro);
        }
        self.org
            .sign(payload, deps, clock, carnet_api::now_ms())
            .map_err(IngestError::Invalid)
    }

    /// Puts this org's signing head where the ledger has its chain. An org event
    /// signed but not ordered (its write failed, or the ledger refused it) must not
    /// become the `prev` of the next one: that would fork the org's chain or leave it
    /// waiting on an event nobody has.
    pub(super) fn resync_org_head(&mut self) {
        let key = self.org.public();
        let head = match self.ledger.chain_head(&key) {
            None => None,
            Some((seq, id)) => match self.ledger.fetch(&id) {
                Ok(Some(ev)) => Some(AuthorHead {
                    seq,
                    id,
                    lamport: ev.lamport(),
                    timestamp_ms: ev.body().timestamp_ms,
                }),
                Ok(None) => None,
                // A head taken for "none" would sign seq 0 again: a fork of the org's
                // own chain. The head stays as it is, and is put right at the next call.
                Err(e) => {
                    tracing::warn!(error = %e, "the org chain's head cannot be read back; not moved");
                    return;
                }
            },
        };
        if self.org.head() != head {
            self.org = Author::resume(self.org.key().clone(), self.network, head);
        }
    }

    /// Signs `payload` with the org key as the next event of the org's chain.
    pub fn sign_as_org(&mut self, payload: Payload) -> Result<SignedEvent, IngestError> {
        self.resync_org_head();
        let clock = self.ledger.max_lamport();
        if self.org.head().is_none() {
            // An admitted org's first event names an Admit of it (ordering check 5).
            let intro = self.ledger.introduction(&self.org.public());
            self.org = self.org.clone().introduced_by(intro);
        }
        self.org
            .sign(payload, vec![], clock, carnet_api::now_ms())
            .map_err(IngestError::Invalid)
    }
}
