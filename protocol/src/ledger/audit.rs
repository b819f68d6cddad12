//! Audit bundles: a penalty with its whole chain of evidence, in a form an auditor
//! checks offline with nothing but the pinned genesis (docs/audit.md).
//!
//! This module holds the format (JSON, byte strings in lowercase hex), the builder a
//! node runs over its ledger, and the checkpoint quorum rule both sides share. The
//! checks themselves are the verifier's (`carnet_client::audit`).

use super::proof::{leaf_hash, prove_consistency, prove_inclusion, LeafProof};
use super::state::{CheckpointClaim, Outcome, VoidReason};
use super::Ledger;
use crate::genesis::Genesis;
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::payload::Payload;
use crate::SignedEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

/// `format` of a bundle file.
pub const BUNDLE_FORMAT: &str = "carnet-audit-bundle/1";
/// `format` of a checkpoint file (a later checkpoint with a consistency proof).
pub const CHECKPOINT_FORMAT: &str = "carnet-audit-checkpoint/1";
/// Largest bundle or checkpoint file a verifier reads.
pub const MAX_BUNDLE_FILE_BYTES: usize = 8 * 1024 * 1024;
/// Largest bounce message a node keeps or a bundle carries.
pub const MAX_EVIDENCE_BYTES: usize = 1024 * 1024;

/// Serde helpers: byte strings as lowercase hex.
pub mod hexfmt {
    use crate::hash::Hash32;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    fn parse(s: &str) -> Result<Vec<u8>, String> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err("hex must be lowercase".into());
        }
        hex::decode(s).map_err(|e| format!("invalid hex: {e}"))
    }

    fn hash(s: &str) -> Result<Hash32, String> {
        let b = parse(s)?;
        let a: [u8; 32] = b
            .try_into()
            .map_err(|b: Vec<u8>| format!("a hash is 32 bytes, not {}", b.len()))?;
        Ok(Hash32(a))
    }

    pub mod bytes {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(v))
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            parse(&String::deserialize(d)?).map_err(D::Error::custom)
        }
    }

    pub mod opt_bytes {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
            match v {
                Some(b) => s.serialize_some(&hex::encode(b)),
                None => s.serialize_none(),
            }
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|s| parse(&s).map_err(D::Error::custom))
                .transpose()
        }
    }

    pub mod bytes_list {
        use super::*;
        use serde::ser::SerializeSeq;
        pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for b in v {
                seq.serialize_element(&hex::encode(b))?;
            }
            seq.end()
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|s| parse(s).map_err(D::Error::custom))
                .collect()
        }
    }

    pub mod hash {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Hash32, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&v.to_hex())
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Hash32, D::Error> {
            super::hash(&String::deserialize(d)?).map_err(D::Error::custom)
        }
    }

    pub mod hashes {
        use super::*;
        use serde::ser::SerializeSeq;
        pub fn serialize<S: Serializer>(v: &[Hash32], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for h in v {
                seq.serialize_element(&h.to_hex())?;
            }
            seq.end()
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Hash32>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|s| super::hash(s).map_err(D::Error::custom))
                .collect()
        }
    }
}

/// One signed event and its inclusion proof under the checkpoint's `events_root`
/// (the tree has `claim.event_count` leaves, each a content id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEvent {
    /// The event's wire bytes: canonical body || 64-byte signature.
    #[serde(with = "hexfmt::bytes")]
    pub event_hex: Vec<u8>,
    /// Position of the event in ledger order (0-based).
    pub index: u64,
    /// Audit path, leaf to root.
    #[serde(with = "hexfmt::hashes")]
    pub path_hex: Vec<Hash32>,
}

/// One state leaf and its inclusion proof under the checkpoint's `state_root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLeafProof {
    /// Canonical bytes of the `StateLeaf`.
    #[serde(with = "hexfmt::bytes")]
    pub leaf_hex: Vec<u8>,
    pub index: u64,
    /// Number of leaves of the state tree.
    pub size: u64,
    #[serde(with = "hexfmt::hashes")]
    pub path_hex: Vec<Hash32>,
}

impl From<LeafProof> for StateLeafProof {
    fn from(p: LeafProof) -> Self {
        StateLeafProof {
            leaf_hex: p.leaf,
            index: p.index,
            size: p.size,
            path_hex: p.path,
        }
    }
}

/// A checkpoint claim as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    pub lamport_bound: u64,
    #[serde(with = "hexfmt::hash")]
    pub source_hex: Hash32,
    pub event_count: u64,
    #[serde(with = "hexfmt::hash")]
    pub events_root_hex: Hash32,
    #[serde(with = "hexfmt::hash")]
    pub state_root_hex: Hash32,
}

impl From<CheckpointClaim> for Claim {
    fn from(c: CheckpointClaim) -> Self {
        Claim {
            lamport_bound: c.lamport_bound,
            source_hex: c.source,
            event_count: c.event_count,
            events_root_hex: c.events_root,
            state_root_hex: c.state_root,
        }
    }
}

impl From<Claim> for CheckpointClaim {
    fn from(c: Claim) -> Self {
        CheckpointClaim {
            lamport_bound: c.lamport_bound,
            source: c.source_hex,
            event_count: c.event_count,
            events_root: c.events_root_hex,
            state_root: c.state_root_hex,
        }
    }
}

/// A settlement checkpoint and what makes it final: the org-signed Checkpoint events
/// carrying the claim, and the Admit events that made orgs of keys not in the genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointEvidence {
    pub claim: Claim,
    /// Checkpoint events (wire bytes), in ledger order.
    #[serde(with = "hexfmt::bytes_list")]
    pub signatures_hex: Vec<Vec<u8>>,
    /// Admit events applied before the last signature (wire bytes), in ledger order.
    #[serde(with = "hexfmt::bytes_list")]
    pub admissions_hex: Vec<Vec<u8>>,
}

/// An opening in a bundle: the value and its commitment salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpeningFile {
    pub value: String,
    #[serde(with = "hexfmt::hash")]
    pub salt_hex: Hash32,
}

impl From<&crate::payload::Opening> for OpeningFile {
    fn from(o: &crate::payload::Opening) -> Self {
        OpeningFile {
            value: o.value.clone(),
            salt_hex: Hash32(o.salt),
        }
    }
}

impl From<&OpeningFile> for crate::payload::Opening {
    fn from(o: &OpeningFile) -> Self {
        crate::payload::Opening {
            value: o.value.clone(),
            salt: o.salt_hex.0,
        }
    }
}

/// The penalty and its chain of evidence, settled under one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// BLAKE3 of the genesis' canonical bytes.
    #[serde(with = "hexfmt::hash")]
    pub network_id_hex: Hash32,
    /// The BounceReport or MobileReport.
    pub penalty: ProvenEvent,
    /// The reporter's Purchase it names.
    pub purchase: ProvenEvent,
    /// The holder org's Deliver of that purchase.
    pub delivery: ProvenEvent,
    /// The contributor's Contribute: the listing bought.
    pub listing: ProvenEvent,
    /// The contributor's Update in force when the purchase was made, if any: its
    /// commitments are the ones the purchase recorded.
    pub listing_update: Option<ProvenEvent>,
    /// The org's Enroll of the contributor.
    pub contributor_enrollment: ProvenEvent,
    /// The org's Enroll of the reporter.
    pub reporter_enrollment: ProvenEvent,
    /// The raw bounce message, when the reporter's org agreed to include it.
    #[serde(with = "hexfmt::opt_bytes")]
    pub bounce_message_hex: Option<Vec<u8>>,
    /// The opening of the reported commitment (the email of a bounce, the number of a
    /// mobile report), when the exporting org (the reporter's, which was shown it, or
    /// the contributor's, which holds the card) agreed to include it. Reports carry no
    /// opening: it is never on the log. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opening: Option<OpeningFile>,
    /// The contributor's org's Dispute of the report (wire bytes), when it disputed
    /// it: signed, but not proven under the checkpoint (it changes no balance and may
    /// come after it). Absent from bundles of undisputed penalties.
    #[serde(
        default,
        with = "hexfmt::opt_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    pub dispute_hex: Option<Vec<u8>>,
    /// The contributor's account at the checkpoint (the balance after the penalty).
    pub contributor_account: StateLeafProof,
    /// The purchase at the checkpoint (buyer, price, Delivered).
    pub purchase_state: StateLeafProof,
    pub checkpoint: CheckpointEvidence,
}

/// Proof that a later checkpoint's events extend an earlier one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    pub from_lamport_bound: u64,
    pub from_event_count: u64,
    #[serde(with = "hexfmt::hashes")]
    pub path_hex: Vec<Hash32>,
}

/// A (later) checkpoint on its own, optionally with a consistency proof from an
/// earlier checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointFile {
    /// [`CHECKPOINT_FORMAT`].
    pub format: String,
    #[serde(with = "hexfmt::hash")]
    pub network_id_hex: Hash32,
    pub checkpoint: CheckpointEvidence,
    pub consistency: Option<Consistency>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuditError {
    #[error("no ordered event {0} on this node")]
    UnknownEvent(ContentId),
    #[error("event {0} is a {1}, not a penalty (bounce_report or mobile_report)")]
    NotAPenalty(ContentId, &'static str),
    #[error("penalty {0} was void ({1:?}): it moved no points")]
    Void(ContentId, VoidReason),
    #[error("missing evidence: {0}")]
    Missing(String),
    #[error("not yet settled: no checkpoint with a quorum covers it (Lamport clock {0})")]
    NotSettled(u64),
    #[error("no finalized checkpoint at bound {0}")]
    NoCheckpoint(u64),
    #[error("{0}")]
    Inconsistent(String),
}

/// Why checkpoint signatures do not make a quorum (or are not what they claim).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum QuorumError {
    #[error("event {0} is not a {1}")]
    WrongKind(ContentId, &'static str),
    #[error("signature {0} carries another claim")]
    OtherClaim(ContentId),
    #[error("signature {0} has clock {1}, not above the bound {2}")]
    BoundNotBelowClock(ContentId, u64, u64),
    #[error("event {0} appears twice")]
    Duplicate(ContentId),
    #[error("event {0} is signed by {1}, not an org at that point")]
    NotAnOrg(ContentId, PublicKey),
    #[error("org {1} signed twice (event {0})")]
    AlreadySigned(ContentId, PublicKey),
    #[error("admission {0} names {1}, already an org")]
    AlreadyOrg(ContentId, PublicKey),
    #[error("eviction or rotation {0} names {1}, not an org at that point (or, to evict, its own author)")]
    NotEvictable(ContentId, PublicKey),
    #[error("org {1} voted twice for one admission or eviction (event {0})")]
    AlreadyVoted(ContentId, PublicKey),
    #[error("{signers} of {orgs} orgs signed: not more than {num}/{den}")]
    NoQuorum {
        signers: usize,
        orgs: usize,
        num: u32,
        den: u32,
    },
}

/// Who made a claim final.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// Orgs that signed, in ledger order, up to the one that completed the quorum.
    pub signers: Vec<PublicKey>,
    /// Orgs at that point.
    pub orgs: usize,
    /// The signature that completed the quorum.
    /// (Lamport clock, content id) of the signature that completed the quorum.
    pub completed_by: (u64, ContentId),
    /// Orgs admitted by the admissions, in order.
    pub admitted: Vec<PublicKey>,
    /// Orgs evicted by the evictions among them, in order.
    pub evicted: Vec<PublicKey>,
    /// Org keys rotated by the rotations among them, (old, new), in order.
    pub rotated: Vec<(PublicKey, PublicKey)>,
}

/// Replays the org set and the signatures of `claim` as the ledger does
/// (docs/protocol.md, "Finality"): orgs start as the genesis' founders; the Admit,
/// Evict and Rotate events of the claim's prefix, taken in
/// ledger order, change it as they do in the ledger (an Admit by an org adds a vote
/// and, on a quorum of the orgs of that moment, an org; an Evict, on a quorum of the
/// other orgs, removes one; a Rotate, on a quorum of the orgs, replaces the old key by
/// the new one; votes count only while their author is an org). The claim is final
/// when the orgs of the resulting set that signed it are a quorum of that set.
/// Signatures are taken by Lamport clock, then content id, and must already be
/// checked. `admissions` holds the Admit, Evict and Rotate events, in ledger order.
pub fn replay_quorum(
    genesis: &Genesis,
    claim: &CheckpointClaim,
    admissions: &[SignedEvent],
    signatures: &[SignedEvent],
) -> Result<Quorum, QuorumError> {
    let mut sorted: Vec<&SignedEvent> = signatures.iter().collect();
    sorted.sort_by_key(|e| (e.lamport(), e.id()));
    let all: Vec<&SignedEvent> = admissions.iter().chain(sorted).collect();
    let mut ids: Vec<ContentId> = all.iter().map(|e| e.id()).collect();
    ids.sort_unstable();
    if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
        return Err(QuorumError::Duplicate(w[0]));
    }
    let admit_ids: BTreeSet<ContentId> = admissions.iter().map(|e| e.id()).collect();
    let mut orgs: BTreeSet<PublicKey> = genesis.founding_orgs.iter().map(|o| o.key).collect();
    let mut votes: BTreeMap<PublicKey, BTreeSet<PublicKey>> = BTreeMap::new();
    let mut evictions: BTreeMap<PublicKey, BTreeSet<PublicKey>> = BTreeMap::new();
    let mut rotations: BTreeMap<(PublicKey, PublicKey), BTreeSet<PublicKey>> = BTreeMap::new();
    let mut rotated = Vec::new();
    let mut signers: Vec<PublicKey> = Vec::new();
    let mut admitted = Vec::new();
    let mut evicted = Vec::new();
    let mut completed: Option<((u64, ContentId), usize, usize)> = None;
    let rules = &genesis.rules;
    let current = |orgs: &BTreeSet<PublicKey>, keys: &mut dyn Iterator<Item = &PublicKey>| {
        keys.filter(|k| orgs.contains(*k)).count()
    };
    for ev in all {
        let id = ev.id();
        let author = ev.author();
        if admit_ids.contains(&id) {
            if !orgs.contains(&author) {
                return Err(QuorumError::NotAnOrg(id, author));
            }
            match ev.payload() {
                Payload::Admit(a) => {
                    if orgs.contains(&a.org) {
                        return Err(QuorumError::AlreadyOrg(id, a.org));
                    }
                    let set = votes.entry(a.org).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len()) {
                        votes.remove(&a.org);
                        orgs.insert(a.org);
                        admitted.push(a.org);
                    }
                }
                Payload::Evict(e) => {
                    if !orgs.contains(&e.org) || e.org == author {
                        return Err(QuorumError::NotEvictable(id, e.org));
                    }
                    let set = evictions.entry(e.org).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len() - 1) {
                        evictions.remove(&e.org);
                        orgs.remove(&e.org);
                        evicted.push(e.org);
                    }
                }
                Payload::Rotate(k) => {
                    if !orgs.contains(&k.org) {
                        return Err(QuorumError::NotEvictable(id, k.org));
                    }
                    if orgs.contains(&k.to) {
                        return Err(QuorumError::AlreadyOrg(id, k.to));
                    }
                    let set = rotations.entry((k.org, k.to)).or_default();
                    if !set.insert(author) {
                        return Err(QuorumError::AlreadyVoted(id, author));
                    }
                    if rules.is_quorum(current(&orgs, &mut set.iter()), orgs.len()) {
                        rotations.remove(&(k.org, k.to));
                        orgs.remove(&k.org);
                        orgs.insert(k.to);
                        if let Some(v) = evictions.remove(&k.org) {
                            evictions.insert(k.to, v);
                        }
                        rotated.push((k.org, k.to));
                    }
                }
                _ => return Err(QuorumError::WrongKind(id, "admit, evict or rotate")),
            }
            continue;
        }
        let Payload::Checkpoint(c) = ev.payload() else {
            return Err(QuorumError::WrongKind(id, "checkpoint"));
        };
        if CheckpointClaim::from(c) != *claim {
            return Err(QuorumError::OtherClaim(id));
        }
        if ev.lamport() <= claim.lamport_bound {
            return Err(QuorumError::BoundNotBelowClock(
                id,
                ev.lamport(),
                claim.lamport_bound,
            ));
        }
        if !orgs.contains(&author) {
            return Err(QuorumError::NotAnOrg(id, author));
        }
        if signers.contains(&author) {
            return Err(QuorumError::AlreadySigned(id, author));
        }
        signers.push(author);
        let counted = current(&orgs, &mut signers.iter());
        if completed.is_none() && rules.is_quorum(counted, orgs.len()) {
            completed = Some(((ev.lamport(), id), signers.len(), orgs.len()));
        }
    }
    match completed {
        Some((key, n, orgs)) => Ok(Quorum {
            signers: signers.into_iter().take(n).collect(),
            orgs,
            completed_by: key,
            admitted,
            evicted,
            rotated,
        }),
        None => Err(QuorumError::NoQuorum {
            signers: signers.len(),
            orgs: orgs.len(),
            num: rules.quorum_num,
            den: rules.quorum_den,
        }),
    }
}

/// The ledger's events of interest for audits, found in one pass in ledger order.
struct Finder<'a> {
    events: Vec<&'a SignedEvent>,
}

impl<'a> Finder<'a> {
    fn first(&self, f: impl Fn(&SignedEvent) -> bool) -> Option<&'a SignedEvent> {
        self.events.iter().copied().find(|e| f(e))
    }
}

impl Ledger {
    /// The evidence for the claim finalized as epoch `epoch`, whose prefix is `prefix`:
    /// the signatures up to the one that completed its quorum, and the admissions,
    /// evictions and rotations of its prefix.
    fn checkpoint_evidence(
        &mut self,
        epoch: u64,
        prefix: &super::Prefix,
    ) -> Result<CheckpointEvidence, AuditError> {
        let claim = prefix.claim;
        let state = self.state().clone();
        let applied = |e: &SignedEvent| state.outcome(&e.id()) == Outcome::Applied;
        let mut signatures: Vec<SignedEvent> = self
            .signatures_at(claim.lamport_bound)
            .iter()
            .filter_map(|i| self.events.get(i))
            .filter(|e| matches!(e.payload(), Payload::Checkpoint(c) if CheckpointClaim::from(c) == claim))
            .map(|e| (**e).clone())
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
            .cloned()
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
            .events
            .get(penalty)
            .map(|e| (**e).clone())
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
        let finder = Finder {
            events: self.events().filter(|e| applied(e)).collect(),
        };
        let purchase = finder
            .first(|e| e.id() == purchase_id)
            .ok_or_else(|| missing("the applied Purchase the report names"))?;
        let Payload::Purchase(p) = purchase.payload() else {
            return Err(missing("the report names no Purchase"));
        };
        let listing_id = p.listing_id;
        let purchase_key = (purchase.lamport(), purchase.id());
        let listing = finder
            .first(|e| e.id() == listing_id)
            .ok_or_else(|| missing("the Contribute of the listing bought"))?;
        let contributor = listing.author();
        let reporter = ev.author();
        let update = finder.events.iter().copied().rfind(|e| {
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

        let prefix = self
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
            .prove_account_leaf(&contributor)
            .ok_or_else(|| missing("the contributor's account at the checkpoint"))?;
        let purchase_state = prefix
            .state
            .prove_purchase_leaf(&purchase_id)
            .ok_or_else(|| missing("the purchase at the checkpoint"))?;
        let bounce_message = match (ev.payload(), message) {
            (Payload::BounceReport(_), m) => m,
            (_, _) => None,
        };
        let dispute = state
            .bounce_reports
            .get(penalty)
            .and_then(|r| r.dispute)
            .and_then(|d| self.events.get(&d))
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
