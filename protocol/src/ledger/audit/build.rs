//! Building bundles and checkpoint files from a node's ledger.
//!
//! Both need the state at the end of a finalized prefix and the prefix's ids, which
//! only a fold from genesis gives: seconds at a million events, and anyone who can
//! reach a node's API may ask for a bundle. So a request is served in two steps. On
//! the ledger, cheaply, a job is taken: the prefix's order copied, and the few events
//! the request names. Then the job runs wherever its caller likes (a node runs it away
//! from its event loop), folding the prefix with each event read from an [`Archive`].

use super::*;
use crate::hash::NetworkId;
use crate::ledger::{apply, initial_state, Archive, ArchiveError, Prefix};
use crate::payload::Opening;
use imbl::OrdMap;
use std::borrow::Cow;

/// A finalized prefix taken off the ledger, to be folded anywhere: see
/// [`Ledger::prefix_job`].
#[derive(Debug, Clone)]
pub struct PrefixJob {
    genesis: Genesis,
    network: NetworkId,
    claim: CheckpointClaim,
    /// The prefix's ids in ledger order: 32 bytes an event is all a job copies off the
    /// ledger (32 MiB at a million events).
    ids: Vec<ContentId>,
    /// The earlier epochs' claims, each with the index of the first id after its mark:
    /// settled there.
    settles: Vec<(usize, CheckpointClaim)>,
    /// The ordered Checkpoints that carry the claim, by clock and id.
    signatures: Vec<SignedEvent>,
    /// The voids the ledger holds now: an event is evidence only if applied.
    voids: OrdMap<ContentId, VoidReason>,
}

/// A prefix folded, with the applied events the caller asked to keep, in ledger order.
struct Folded {
    prefix: Prefix,
    kept: Vec<SignedEvent>,
}

impl PrefixJob {
    fn applied(&self, id: &ContentId) -> bool {
        !self.voids.contains_key(id)
    }

    /// Folds the prefix from genesis, reading every event from `archive`. The ids move
    /// into the prefix: a job is folded once.
    fn fold(
        &mut self,
        archive: &dyn Archive,
        keep: impl Fn(&SignedEvent) -> bool,
    ) -> Result<Folded, AuditError> {
        let mut state = initial_state(&self.genesis);
        let ctx = apply::Ctx {
            rules: &self.genesis.rules,
            network: self.network,
        };
        let mut kept = Vec::new();
        let mut settles = self.settles.iter().peekable();
        for (i, id) in self.ids.iter().enumerate() {
            while let Some((_, claim)) = settles.next_if(|(at, _)| *at <= i) {
                apply::finalize(&mut state, *claim);
            }
            let e = archive
                .event(id)
                .map_err(|e| AuditError::Missing(format!("event {id} of the prefix: {e}")))?
                .ok_or_else(|| {
                    AuditError::Missing(format!("event {id} of the prefix (unreadable here)"))
                })?;
            apply::apply(&mut state, &ctx, &e);
            if keep(&e) && self.applied(id) {
                kept.push(e);
            }
        }
        // Marks after the last event (an epoch with no event of its own).
        for (_, claim) in settles {
            apply::finalize(&mut state, *claim);
        }
        let ids = std::mem::take(&mut self.ids);
        Ok(Folded {
            prefix: Prefix {
                claim: self.claim,
                state,
                ids,
            },
            kept,
        })
    }

    /// Folds the prefix and checks it is the claim: its event count and state root.
    fn fold_checked(
        &mut self,
        archive: &dyn Archive,
        keep: impl Fn(&SignedEvent) -> bool,
    ) -> Result<Folded, AuditError> {
        let mut folded = self.fold(archive, keep)?;
        let claim = self.claim;
        let prefix = &mut folded.prefix;
        if prefix.ids.len() as u64 != claim.event_count || prefix.state.root() != claim.state_root {
            return Err(AuditError::Inconsistent(format!(
                "this node's prefix at bound {} is not the finalized claim",
                claim.lamport_bound
            )));
        }
        Ok(folded)
    }

    /// The evidence for the claim: the signatures up to the one that completed its
    /// quorum, and the admissions, evictions and rotations of its prefix (`kept`).
    fn evidence(
        &self,
        prefix: &Prefix,
        kept: &[SignedEvent],
    ) -> Result<CheckpointEvidence, AuditError> {
        let admissions: Vec<SignedEvent> =
            kept.iter().filter(|e| is_admission(e)).cloned().collect();
        // Only signers that count: orgs of the state after the claim's prefix, one
        // claim at the bound each.
        let orgs = &prefix.state.orgs;
        let mut seen = BTreeSet::new();
        let signatures: Vec<SignedEvent> = self
            .signatures
            .iter()
            .filter(|e| orgs.contains_key(&e.author()) && seen.insert(e.author()))
            .cloned()
            .collect();
        let q =
            replay_quorum(&self.genesis, &self.claim, &admissions, &signatures).map_err(|e| {
                AuditError::Inconsistent(format!("finalized checkpoint fails the audit rule: {e}"))
            })?;
        Ok(CheckpointEvidence {
            claim: self.claim.into(),
            signatures_hex: signatures
                .iter()
                .filter(|e| (e.lamport(), e.id()) <= q.completed_by)
                .map(|e| e.as_bytes().to_vec())
                .collect(),
            admissions_hex: admissions.iter().map(|e| e.as_bytes().to_vec()).collect(),
        })
    }
}

fn is_admission(e: &SignedEvent) -> bool {
    matches!(
        e.payload(),
        Payload::Admit(_) | Payload::Evict(_) | Payload::Rotate(_)
    )
}

/// The prefix's ids as proof leaves, and each id's index.
struct Leaves {
    hashes: Vec<Hash32>,
    index: HashMap<ContentId, usize>,
}

impl Leaves {
    fn new(ids: &[ContentId]) -> Self {
        Leaves {
            hashes: ids.iter().map(|id| leaf_hash(id.as_bytes())).collect(),
            index: ids.iter().enumerate().map(|(i, id)| (*id, i)).collect(),
        }
    }

    fn index(&self, e: &SignedEvent) -> Result<usize, AuditError> {
        self.index.get(&e.id()).copied().ok_or_else(|| {
            AuditError::Inconsistent(format!("event {} is not below the checkpoint", e.id()))
        })
    }

    fn prove(&self, e: &SignedEvent) -> Result<ProvenEvent, AuditError> {
        let i = self.index(e)?;
        Ok(ProvenEvent {
            event_hex: e.as_bytes().to_vec(),
            index: i as u64,
            path_hex: prove_inclusion(&self.hashes, i)
                .ok_or_else(|| AuditError::Inconsistent("index out of range".into()))?,
        })
    }
}

/// An audit bundle to build: see [`Ledger::bundle_job`].
#[derive(Debug, Clone)]
pub struct BundleJob {
    prefix: PrefixJob,
    penalty: SignedEvent,
    purchase: SignedEvent,
    listing_id: ContentId,
    dispute: Option<SignedEvent>,
    message: Option<Vec<u8>>,
    opening: Option<Opening>,
}

impl BundleJob {
    /// Folds the prefix, reading its events from `archive`, and builds the bundle.
    pub fn run(mut self, archive: &dyn Archive) -> Result<Bundle, AuditError> {
        let (listing_id, purchase_id) = (self.listing_id, self.purchase.id());
        let needed = |e: &SignedEvent| match e.payload() {
            Payload::Contribute(_) => e.id() == listing_id,
            Payload::Update(u) => u.listing_id == listing_id,
            Payload::Deliver(d) => d.purchase_id == purchase_id,
            Payload::Enroll(_) => true,
            _ => is_admission(e),
        };
        let Folded { prefix, kept } = self.prefix.fold_checked(archive, needed)?;
        let missing = |what: &str| AuditError::Missing(what.to_string());
        let leaves = Leaves::new(&prefix.ids);
        let first = |f: &dyn Fn(&SignedEvent) -> bool| kept.iter().find(|e| f(e));
        let listing = first(&|e| e.id() == listing_id)
            .ok_or_else(|| missing("the Contribute of the listing bought"))?;
        let contributor = listing.author();
        let reporter = self.penalty.author();
        // The last Update before the purchase in ledger order: the one whose
        // commitments the purchase recorded.
        let bought_at = leaves.index(&self.purchase)?;
        let mut update = None;
        for e in &kept {
            if matches!(e.payload(), Payload::Update(u) if u.listing_id == listing_id)
                && leaves.index(e)? < bought_at
            {
                update = Some(e);
            }
        }
        let delivery =
            first(&|e| matches!(e.payload(), Payload::Deliver(d) if d.purchase_id == purchase_id))
                .ok_or_else(|| missing("the Deliver of the purchase"))?;
        let enrollment = |member: PublicKey| {
            first(&|e| matches!(e.payload(), Payload::Enroll(n) if n.member == member))
        };
        let contributor_enrollment =
            enrollment(contributor).ok_or_else(|| missing("the contributor's Enroll"))?;
        let reporter_enrollment =
            enrollment(reporter).ok_or_else(|| missing("the reporter's Enroll"))?;
        let contributor_account = prefix
            .state
            .prove_account(&contributor)
            .ok_or_else(|| missing("the contributor's account at the checkpoint"))?;
        let purchase_state = prefix
            .state
            .prove_purchase(&purchase_id)
            .ok_or_else(|| missing("the purchase at the checkpoint"))?;
        let bounce_message = match self.penalty.payload() {
            Payload::BounceReport(_) => self.message.take(),
            _ => None,
        };
        Ok(Bundle {
            format: BUNDLE_FORMAT.into(),
            network_id_hex: self.prefix.network,
            penalty: leaves.prove(&self.penalty)?,
            purchase: leaves.prove(&self.purchase)?,
            delivery: leaves.prove(delivery)?,
            listing: leaves.prove(listing)?,
            listing_update: update.map(|e| leaves.prove(e)).transpose()?,
            contributor_enrollment: leaves.prove(contributor_enrollment)?,
            reporter_enrollment: leaves.prove(reporter_enrollment)?,
            bounce_message_hex: bounce_message,
            opening: self.opening.as_ref().map(OpeningFile::from),
            dispute_hex: self.dispute.as_ref().map(|e| e.as_bytes().to_vec()),
            contributor_account: contributor_account.into(),
            purchase_state: purchase_state.into(),
            checkpoint: self.prefix.evidence(&prefix, &kept)?,
        })
    }
}

/// A checkpoint file to build: see [`Ledger::checkpoint_job`].
#[derive(Debug, Clone)]
pub struct CheckpointJob {
    prefix: PrefixJob,
    /// The earlier finalized claim to prove consistency from.
    since: Option<CheckpointClaim>,
}

impl CheckpointJob {
    /// Folds the prefix, reading its events from `archive`, and builds the file.
    pub fn run(mut self, archive: &dyn Archive) -> Result<CheckpointFile, AuditError> {
        let Folded { prefix, kept } = self.prefix.fold(archive, is_admission)?;
        let consistency = match self.since {
            None => None,
            Some(old) => {
                let path = if old.event_count == 0 {
                    Vec::new()
                } else {
                    let hashes = Leaves::new(&prefix.ids).hashes;
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
            network_id_hex: self.prefix.network,
            checkpoint: self.prefix.evidence(&prefix, &kept)?,
            consistency,
        })
    }
}

/// The ledger as its own archive: what a ledger that holds its events (tests, tools)
/// folds its prefixes from.
struct Held<'a>(&'a Ledger);

impl Archive for Held<'_> {
    fn event(&self, id: &ContentId) -> Result<Option<SignedEvent>, ArchiveError> {
        Ok(self.0.fetch(id)?.map(Cow::into_owned))
    }
}

impl Ledger {
    /// [`Ledger::prefix_job`], or `otherwise`; or, if the archive failed to list the
    /// prefix, that failure.
    fn job_or(&mut self, epoch: usize, otherwise: AuditError) -> Result<PrefixJob, AuditError> {
        match self.prefix_job(epoch) {
            Some(job) => Ok(job),
            None => Err(match self.take_archive_error() {
                Some(e) => AuditError::Missing(e.to_string()),
                None => otherwise,
            }),
        }
    }

    /// The finalized prefix of epoch `epoch` (from 1), taken off the ledger to be
    /// folded elsewhere; None if no such claim is finalized, or the archive failed to
    /// list its events ([`Ledger::take_archive_error`] says why).
    pub fn prefix_job(&mut self, epoch: usize) -> Option<PrefixJob> {
        let claim = self.finals.get(epoch.checked_sub(1)?)?.claim;
        let mut ids = Vec::new();
        let mut settles = Vec::new();
        // Each epoch's events, then its settlement; the last one's settlement is the
        // claim's, which the fold does not apply. An archive that cannot list an
        // epoch gives no job rather than a prefix with events missing.
        for (e, f) in self.finals.iter().enumerate().take(epoch) {
            ids.extend(self.epoch_ids(e as u64 + 1)?);
            if e + 1 < epoch {
                settles.push((ids.len(), f.claim));
            }
        }
        // A signature the archive cannot read fails the job as a missing epoch does
        // (recorded): a prefix with fewer signatures would not prove finality.
        let mut signatures = Vec::new();
        for i in self.signatures_at(claim.lamport_bound) {
            if let Some(e) = self.recorded(self.fetch(&i))?.map(Cow::into_owned) {
                if matches!(e.payload(), Payload::Checkpoint(c) if CheckpointClaim::from(c) == claim)
                {
                    signatures.push(e);
                }
            }
        }
        signatures.sort_by_key(|e| (e.lamport(), e.id()));
        Some(PrefixJob {
            genesis: self.genesis.clone(),
            network: self.network,
            claim,
            ids,
            settles,
            signatures,
            voids: self.state().voids.clone(),
        })
    }

    /// The finalized prefix of epoch `epoch` (1 = first): its claim, the state before
    /// its settlement (what `state_root` commits to) and its ids in ledger order (the
    /// leaves of `events_root`), from which auditors' proofs are built. Folds from
    /// genesis, reading released events back from the archive: for audits and tests,
    /// not for every event. None if no such claim is final or an event is not held.
    pub fn finalized_prefix(&mut self, epoch: usize) -> Option<Prefix> {
        let mut job = self.prefix_job(epoch)?;
        job.fold(&Held(self), |_| false).ok().map(|f| f.prefix)
    }

    /// The job of the audit bundle of a penalty (a BounceReport or MobileReport),
    /// settled under the earliest finalized checkpoint whose bound covers it.
    /// `message` is the raw bounce message to include, if the reporter's org agreed
    /// to; `opening` that of the reported commitment, if the exporting org agreed to.
    /// Every refusal that needs no fold is given here.
    pub fn bundle_job(
        &mut self,
        penalty: &ContentId,
        message: Option<Vec<u8>>,
        opening: Option<Opening>,
    ) -> Result<BundleJob, AuditError> {
        let unreadable = |e: ArchiveError| AuditError::Missing(e.to_string());
        let ev = self
            .fetch(penalty)
            .map_err(unreadable)?
            .map(Cow::into_owned)
            .ok_or(AuditError::UnknownEvent(*penalty))?;
        let purchase_id = match ev.payload() {
            Payload::BounceReport(b) => b.purchase_id,
            Payload::MobileReport(m) => m.purchase_id,
            other => return Err(AuditError::NotAPenalty(*penalty, other.kind())),
        };
        let state = self.state();
        if let Outcome::Void(r) = state.outcome(penalty) {
            return Err(AuditError::Void(*penalty, r));
        }
        let purchase_void = state.outcome(&purchase_id) != Outcome::Applied;
        let dispute = state.bounce_reports.get(penalty).and_then(|r| r.dispute);
        let epoch = self
            .epoch(penalty)
            .ok_or(AuditError::NotSettled(ev.lamport()))?;
        let purchase = self
            .fetch(&purchase_id)
            .map_err(unreadable)?
            .filter(|_| !purchase_void)
            .map(Cow::into_owned)
            .ok_or_else(|| AuditError::Missing("the applied Purchase the report names".into()))?;
        let Payload::Purchase(p) = purchase.payload() else {
            return Err(AuditError::Missing("the report names no Purchase".into()));
        };
        let listing_id = p.listing_id;
        let dispute = match dispute {
            Some(d) => self.fetch(&d).map_err(unreadable)?.map(Cow::into_owned),
            None => None,
        };
        let prefix = self.job_or(epoch as usize, AuditError::NotSettled(ev.lamport()))?;
        Ok(BundleJob {
            prefix,
            penalty: ev,
            purchase,
            listing_id,
            dispute,
            message,
            opening,
        })
    }

    /// The audit bundle of a penalty: [`Ledger::bundle_job`] run over this ledger's
    /// own events.
    pub fn audit_bundle(
        &mut self,
        penalty: &ContentId,
        message: Option<Vec<u8>>,
        opening: Option<Opening>,
    ) -> Result<Bundle, AuditError> {
        self.bundle_job(penalty, message, opening)?.run(&Held(self))
    }

    /// The job of a finalized checkpoint file (the one at `bound`, or the latest),
    /// with a consistency proof from the finalized checkpoint at `since` if given.
    pub fn checkpoint_job(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<CheckpointJob, AuditError> {
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
        let since = match since {
            None => None,
            Some(s) => {
                let (_, old) = find(s)?;
                if old.lamport_bound > claim.lamport_bound {
                    return Err(AuditError::Inconsistent(format!(
                        "checkpoint {s} is later than {}",
                        claim.lamport_bound
                    )));
                }
                Some(old)
            }
        };
        let prefix = self.job_or(
            epoch as usize,
            AuditError::NoCheckpoint(claim.lamport_bound),
        )?;
        Ok(CheckpointJob { prefix, since })
    }

    /// A finalized checkpoint file: [`Ledger::checkpoint_job`] run over this ledger's
    /// own events.
    pub fn audit_checkpoint(
        &mut self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<CheckpointFile, AuditError> {
        self.checkpoint_job(bound, since)?.run(&Held(self))
    }
}
