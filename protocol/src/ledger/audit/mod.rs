//! Audit bundles: a penalty with its whole chain of evidence, in a form an auditor
//! checks offline with nothing but the pinned genesis (docs/audit.md).
//!
//! This module holds the format (JSON, byte strings in lowercase hex), the builder a
//! node runs over its ledger, and the checkpoint quorum rule both sides share. The
//! checks themselves are the verifier's (`carnet_client::audit`).

use super::proof::{leaf_hash, prove_consistency, prove_inclusion};
use super::state::{CheckpointClaim, Outcome, VoidReason};
use super::Ledger;
use super::StateProof;
use crate::genesis::Genesis;
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::payload::Payload;
use crate::SignedEvent;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use thiserror::Error;

mod build;
mod quorum;

pub use build::{BundleJob, CheckpointJob, PrefixJob};
pub use quorum::{replay_quorum, Quorum};

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

/// One state leaf and its proof under the checkpoint's `state_root`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateLeafProof {
    /// Canonical bytes of the `StateLeaf`.
    #[serde(with = "hexfmt::bytes")]
    pub leaf_hex: Vec<u8>,
    /// The siblings on the leaf's path in the state tree, from the leaf up.
    #[serde(with = "hexfmt::hashes")]
    pub siblings_hex: Vec<Hash32>,
}

impl From<StateProof> for StateLeafProof {
    fn from(p: StateProof) -> Self {
        StateLeafProof {
            leaf_hex: p.leaf,
            siblings_hex: p.siblings,
        }
    }
}

impl From<&StateLeafProof> for StateProof {
    fn from(p: &StateLeafProof) -> Self {
        StateProof {
            leaf: p.leaf_hex.clone(),
            siblings: p.siblings_hex.clone(),
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
