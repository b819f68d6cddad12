//! A saved ledger state, so a node restarts from where it was instead of re-applying
//! (and re-verifying) every event since genesis.
//!
//! A snapshot is a cache, never a source of truth: it names the exact prefix of the
//! ledger order it was folded from (a digest over the ids and signatures, in order)
//! and the facts of the whole event set the fold depended on (checkpoint bounds,
//! equivocations). [`Ledger::restore`](super::Ledger::restore) accepts it only if the
//! ledger it is restored into has that same prefix and no fact that would have folded
//! it differently; otherwise the caller replays from genesis, and gets the same state
//! either way.

use super::state::State;
use super::OrderKey;
use crate::hash::{Hash32, NetworkId};
use crate::keys::PublicKey;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// First bytes of an encoded snapshot; the last byte is the format version.
pub const SNAPSHOT_MAGIC: &[u8; 16] = b"carnet-snapshot\x01";

/// BLAKE3 derive-key context of the prefix digest.
pub(crate) const PREFIX_DIGEST_CONTEXT: &str = "carnet v1 ledger snapshot prefix";

/// BLAKE3 derive-key context of the checksum that guards an encoded snapshot.
const CHECKSUM_CONTEXT: &str = "carnet v1 ledger snapshot checksum";

/// The rules a state was folded with are those of this build: a node upgraded to other
/// rules must not resume from a state its predecessor computed.
const RULES_BUILD: &str = env!("CARGO_PKG_VERSION");

/// The state after applying a prefix of the ledger order, and what it depended on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub(crate) rules_build: String,
    pub(crate) network: NetworkId,
    /// Last key applied.
    pub(crate) at: OrderKey,
    /// Digest of (id, signature) of every event applied, in ledger order.
    pub(crate) prefix_digest: Hash32,
    pub(crate) claimed_bounds: BTreeSet<u64>,
    pub(crate) equivocators: BTreeMap<PublicKey, u64>,
    pub(crate) state: State,
}

/// Why a snapshot cannot be used. None of these is an error for a node: it replays.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SnapshotError {
    #[error("the snapshot could not be encoded: {0}")]
    Encode(String),
    #[error("not a ledger snapshot of this format")]
    Format,
    #[error("the snapshot's bytes do not match its checksum")]
    Checksum,
    #[error("the snapshot does not decode: {0}")]
    Decode(String),
    #[error("the snapshot was made by carnet {0}, whose rules may differ from this build's")]
    OtherBuild(String),
    #[error("the snapshot is of network {got}, not {expected}")]
    WrongNetwork { expected: NetworkId, got: NetworkId },
    #[error("the events up to the snapshot's position are not the ones it was folded from")]
    OtherEvents,
    #[error(
        "an event that arrived after the snapshot (a checkpoint bound or an \
         equivocation) changes the state before its position"
    )]
    Stale,
}

impl Snapshot {
    /// Events the snapshot's state has applied.
    pub fn applied(&self) -> u64 {
        self.state.applied
    }

    /// The last position in ledger order it covers.
    pub fn at(&self) -> OrderKey {
        self.at
    }

    /// The state it holds.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Magic, a BLAKE3 checksum of the body, then the body (postcard). Node-local: the
    /// format is this implementation's and not part of the protocol.
    pub fn encode(&self) -> Result<Vec<u8>, SnapshotError> {
        let body = postcard::to_stdvec(self).map_err(|e| SnapshotError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(SNAPSHOT_MAGIC.len() + 32 + body.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(Hash32::derive(CHECKSUM_CONTEXT, &[&body]).as_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Decodes what [`Snapshot::encode`] wrote, for `network`, by this build.
    pub fn decode(bytes: &[u8], network: &NetworkId) -> Result<Snapshot, SnapshotError> {
        let rest = bytes
            .strip_prefix(SNAPSHOT_MAGIC.as_slice())
            .ok_or(SnapshotError::Format)?;
        if rest.len() < 32 {
            return Err(SnapshotError::Format);
        }
        let (sum, body) = rest.split_at(32);
        if Hash32::derive(CHECKSUM_CONTEXT, &[body]).as_bytes() != sum {
            return Err(SnapshotError::Checksum);
        }
        let snap: Snapshot =
            postcard::from_bytes(body).map_err(|e| SnapshotError::Decode(e.to_string()))?;
        if snap.rules_build != RULES_BUILD {
            return Err(SnapshotError::OtherBuild(snap.rules_build));
        }
        if &snap.network != network {
            return Err(SnapshotError::WrongNetwork {
                expected: *network,
                got: snap.network,
            });
        }
        Ok(snap)
    }

    pub(crate) fn new(
        network: NetworkId,
        at: OrderKey,
        prefix_digest: Hash32,
        claimed_bounds: BTreeSet<u64>,
        equivocators: BTreeMap<PublicKey, u64>,
        state: State,
    ) -> Self {
        Snapshot {
            rules_build: RULES_BUILD.to_string(),
            network,
            at,
            prefix_digest,
            claimed_bounds,
            equivocators,
            state,
        }
    }
}
