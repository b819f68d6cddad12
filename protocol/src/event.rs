//! Signed events: the only thing nodes exchange and the only input of the ledger.
//!
//! An event is a canonical body followed by a 64-byte Ed25519 signature. The body
//! names the network, the author, the author's chain position (seq + hash of the
//! previous event) and a Lamport clock, so every event can be ordered and checked on
//! its own. The content id is BLAKE3 of the committed body bytes, in which a listing's
//! teaser is replaced by its salted hash; the signature covers a domain string and
//! that id. So a teaser can be erased (an opt-out) without changing the id or breaking
//! the signature: the erased event is the same event.

use crate::encoding::{take_canonical, to_canonical, EncodingError};
use crate::hash::{ContentId, Hash32, NetworkId};
use crate::keys::{verify_strict_decoded, PublicKey, SecretKey};
use crate::limits::*;
use crate::payload::Payload;
use crate::text::TextError;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Prefix of every signed message, so an event signature can never be replayed as a
/// signature over anything else (normative: docs/protocol.md, "Signatures").
pub const EVENT_SIGNATURE_DOMAIN: &[u8] = b"carnet/v1/event-signature";

/// Authors' keys as decoded points, or None for bytes that are no key: what a
/// caller verifying many events keeps between them. A key decodes alike every time,
/// so keeping it changes no result.
#[derive(Debug, Default)]
pub struct AuthorKeys(std::collections::HashMap<PublicKey, Option<ed25519_dalek::VerifyingKey>>);

impl AuthorKeys {
    /// Most keys kept: a batch of a few thousand events has far fewer authors, and a
    /// stranger's batch of distinct keys must not grow it without bound.
    const MAX: usize = 4096;

    fn get(&mut self, key: &PublicKey) -> Option<ed25519_dalek::VerifyingKey> {
        if let Some(k) = self.0.get(key) {
            return *k;
        }
        let decoded = key.verifying_key();
        if self.0.len() < Self::MAX {
            self.0.insert(*key, decoded);
        }
        decoded
    }
}

/// The signed part of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventBody {
    pub network: NetworkId,
    pub author: PublicKey,
    /// Position in the author's chain, starting at 0.
    pub seq: u64,
    /// Content id of the author's event at `seq - 1`; absent exactly when `seq == 0`.
    pub prev: Option<ContentId>,
    /// Lamport clock: greater than the clock of `prev` and of every dependency.
    pub lamport: u64,
    /// Events this one refers to or causally follows; sorted ascending, no duplicates.
    pub deps: Vec<ContentId>,
    /// Claimed wall-clock time in milliseconds since the Unix epoch. Informative for
    /// ordering; rules that need time (windows, intervals) use it as claimed.
    pub timestamp_ms: u64,
    pub payload: Payload,
}

/// A decoded, structurally valid, signature-checked event.
///
/// The only ways to get one are [`SignedEvent::sign`] and [`SignedEvent::decode`], so
/// holding a `SignedEvent` means the checks of docs/protocol.md "Event validity" passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEvent {
    body: EventBody,
    id: ContentId,
    signature: [u8; 64],
    bytes: Vec<u8>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum EventError {
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    #[error("event is shorter than its 64-byte signature")]
    MissingSignature,
    #[error("event belongs to network {got}, not {expected}")]
    WrongNetwork { expected: NetworkId, got: NetworkId },
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("seq {seq} with prev {has_prev}: only seq 0 has no prev")]
    ChainLink { seq: u64, has_prev: bool },
    #[error("{0} dependencies, over the limit of {MAX_DEPS}")]
    TooManyDeps(usize),
    #[error("dependencies are not sorted ascending without duplicates")]
    DepsNotSorted,
    #[error("payload refers to {0:?}, which is not among the dependencies")]
    MissingDep(ContentId),
    #[error("invalid field: {0}")]
    Field(&'static str),
    #[error("author key is not a valid Ed25519 public key")]
    BadAuthorKey,
    #[error("signature does not verify")]
    BadSignature,
}

impl EventError {
    /// Stable short code used in test vectors and API errors.
    pub fn code(&self) -> &'static str {
        match self {
            EventError::Encoding(EncodingError::TooLarge { .. }) => "too_large",
            EventError::Encoding(EncodingError::Malformed(_)) => "malformed",
            EventError::Encoding(EncodingError::TrailingBytes(_)) => "trailing_bytes",
            EventError::Encoding(EncodingError::NonCanonical) => "non_canonical",
            EventError::MissingSignature => "malformed",
            EventError::WrongNetwork { .. } => "wrong_network",
            EventError::Text(_) | EventError::Field(_) => "invalid_field",
            EventError::ChainLink { .. } => "chain_link",
            EventError::TooManyDeps(_) | EventError::DepsNotSorted | EventError::MissingDep(_) => {
                "invalid_deps"
            }
            EventError::BadAuthorKey => "bad_author_key",
            EventError::BadSignature => "bad_signature",
        }
    }
}

impl EventBody {
    pub fn to_bytes(&self) -> Vec<u8> {
        to_canonical(self)
    }

    /// This body with its teaser erased, if it carries a shown one.
    pub fn erased(&self) -> Option<EventBody> {
        self.payload.erased().map(|payload| EventBody {
            payload,
            ..self.clone()
        })
    }

    /// The content id: BLAKE3 of the committed body, the canonical body with any
    /// teaser erased.
    pub fn content_id(&self) -> ContentId {
        self.content_id_of(&self.to_bytes())
    }

    /// [`EventBody::content_id`] given this body's canonical bytes, which are hashed as
    /// they are when there is no teaser to erase.
    fn content_id_of(&self, bytes: &[u8]) -> ContentId {
        match self.erased() {
            Some(committed) => Hash32::of(&committed.to_bytes()),
            None => Hash32::of(bytes),
        }
    }

    /// Checks everything that needs no other event and no signature.
    pub fn check(&self) -> Result<(), EventError> {
        if (self.seq == 0) != self.prev.is_none() {
            return Err(EventError::ChainLink {
                seq: self.seq,
                has_prev: self.prev.is_some(),
            });
        }
        if self.deps.len() > MAX_DEPS {
            return Err(EventError::TooManyDeps(self.deps.len()));
        }
        if self.deps.windows(2).any(|w| w[0] >= w[1]) {
            return Err(EventError::DepsNotSorted);
        }
        for r in self.payload.references() {
            if self.deps.binary_search(r).is_err() {
                return Err(EventError::MissingDep(*r));
            }
        }
        self.payload.check()
    }
}

/// The message an author signs for the event with content id `id`.
pub fn signing_message(id: &ContentId) -> [u8; EVENT_SIGNATURE_DOMAIN.len() + 32] {
    let mut msg = [0u8; EVENT_SIGNATURE_DOMAIN.len() + 32];
    msg[..EVENT_SIGNATURE_DOMAIN.len()].copy_from_slice(EVENT_SIGNATURE_DOMAIN);
    msg[EVENT_SIGNATURE_DOMAIN.len()..].copy_from_slice(id.as_bytes());
    msg
}

impl SignedEvent {
    /// Checks `body` and signs it. Fails if the body is invalid or `key` is not its author.
    pub fn sign(body: EventBody, key: &SecretKey) -> Result<Self, EventError> {
        if key.public() != body.author {
            return Err(EventError::Field("signing key is not the author"));
        }
        body.check()?;
        let body_bytes = body.to_bytes();
        if body_bytes.len() + 64 > MAX_EVENT_BYTES {
            return Err(EncodingError::TooLarge {
                len: body_bytes.len() + 64,
                limit: MAX_EVENT_BYTES,
            }
            .into());
        }
        let id = body.content_id_of(&body_bytes);
        let signature = key.sign_raw(&signing_message(&id));
        let mut bytes = body_bytes;
        bytes.extend_from_slice(&signature);
        Ok(SignedEvent {
            body,
            id,
            signature,
            bytes,
        })
    }

    /// Decodes untrusted bytes and runs every stateless check, in the order of
    /// docs/protocol.md: size, encoding, network, structure, signature.
    pub fn decode(bytes: &[u8], network: &NetworkId) -> Result<Self, EventError> {
        Self::decode_with(bytes, network, &mut AuthorKeys::default())
    }

    /// [`SignedEvent::decode`], taking the authors' decoded keys from `keys` (and
    /// adding to it): decoding a key is 9% of a verification, and a batch of events
    /// has few authors. The result is the same.
    pub fn decode_with(
        bytes: &[u8],
        network: &NetworkId,
        keys: &mut AuthorKeys,
    ) -> Result<Self, EventError> {
        let ev = Self::decode_unverified(bytes, network)?;
        ev.verify_signature_with(keys)?;
        Ok(ev)
    }

    /// Everything [`SignedEvent::decode`] does except the signature check, for callers
    /// that verify many signatures in one batch. The result must not be trusted until
    /// [`SignedEvent::verify_signature`] or [`verify_batch`] passed.
    pub fn decode_unverified(bytes: &[u8], network: &NetworkId) -> Result<Self, EventError> {
        if bytes.len() > MAX_EVENT_BYTES {
            return Err(EncodingError::TooLarge {
                len: bytes.len(),
                limit: MAX_EVENT_BYTES,
            }
            .into());
        }
        let (body, rest): (EventBody, &[u8]) = take_canonical(bytes)?;
        let signature: [u8; 64] = match rest.len() {
            n if n < 64 => return Err(EventError::MissingSignature),
            64 => rest.try_into().map_err(|_| EventError::MissingSignature)?,
            n => return Err(EncodingError::TrailingBytes(n - 64).into()),
        };
        if &body.network != network {
            return Err(EventError::WrongNetwork {
                expected: *network,
                got: body.network,
            });
        }
        body.check()?;
        let id = body.content_id_of(&bytes[..bytes.len() - 64]);
        Ok(SignedEvent {
            body,
            id,
            signature,
            bytes: bytes.to_vec(),
        })
    }

    /// The same event with its teaser erased (same id, same signature), or `None` if
    /// it carries no shown teaser.
    pub fn erased(&self) -> Option<SignedEvent> {
        let body = self.body.erased()?;
        let mut bytes = body.to_bytes();
        bytes.extend_from_slice(&self.signature);
        Some(SignedEvent {
            body,
            id: self.id,
            signature: self.signature,
            bytes,
        })
    }

    pub fn verify_signature(&self) -> Result<(), EventError> {
        self.verify_signature_with(&mut AuthorKeys::default())
    }

    /// [`SignedEvent::verify_signature`] with the author's key decoded once per
    /// [`AuthorKeys`] (it was decoded twice per event: once to check it, once to
    /// verify).
    pub fn verify_signature_with(&self, keys: &mut AuthorKeys) -> Result<(), EventError> {
        let key = keys
            .get(&self.body.author)
            .ok_or(EventError::BadAuthorKey)?;
        if verify_strict_decoded(&key, &signing_message(&self.id), &self.signature) {
            Ok(())
        } else {
            Err(EventError::BadSignature)
        }
    }

    pub fn body(&self) -> &EventBody {
        &self.body
    }
    pub fn id(&self) -> ContentId {
        self.id
    }
    pub fn author(&self) -> PublicKey {
        self.body.author
    }
    pub fn seq(&self) -> u64 {
        self.body.seq
    }
    pub fn lamport(&self) -> u64 {
        self.body.lamport
    }
    pub fn payload(&self) -> &Payload {
        &self.body.payload
    }
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }
    /// The wire form: canonical body bytes followed by the signature.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
    /// The canonical body bytes (the content id is the BLAKE3 hash of their erased
    /// form, [`EventBody::erased`]).
    pub fn body_bytes(&self) -> &[u8] {
        &self.bytes[..self.bytes.len() - 64]
    }
}

/// Verifies the signatures of many events; `Ok` only if all are valid.
///
/// This checks each event with [`SignedEvent::verify_signature`], one by one, on
/// purpose. Ed25519 batch verification (`ed25519_dalek::verify_batch`) accepts
/// signatures the strict rules of docs/protocol.md reject: a small-order author key
/// or R, a non-canonical R, and, with a probability that depends on how events are
/// grouped into a batch, an R or key with a torsion component. Nodes batching
/// differently would then disagree on an event's validity. Making a batch exactly as
/// strict needs a prime-order-subgroup check per point, which costs more than it saves.
pub fn verify_batch(events: &[SignedEvent]) -> Result<(), EventError> {
    events.iter().try_for_each(SignedEvent::verify_signature)
}

/// Re-checks signatures of events this node already accepted (and so verified one by
/// one under the strict rules), with Ed25519 batch verification: about three times
/// faster, for replaying a node's own store at start-up or after a crash.
///
/// Not a validity decision: batch verification is more lenient than the strict rules
/// (see [`verify_batch`]), so it must never be used on events from the network. It
/// detects storage corruption, which flips bits at random, not crafted torsion points.
pub fn batch_check_stored<'a>(
    events: impl IntoIterator<Item = &'a SignedEvent>,
) -> Result<(), EventError> {
    let events = events.into_iter();
    let mut msgs = Vec::with_capacity(events.size_hint().0);
    let mut sigs = Vec::with_capacity(events.size_hint().0);
    let mut keys = Vec::with_capacity(events.size_hint().0);
    for e in events {
        msgs.push(signing_message(&e.id));
        sigs.push(ed25519_dalek::Signature::from_bytes(&e.signature));
        keys.push(
            e.body
                .author
                .verifying_key()
                .ok_or(EventError::BadAuthorKey)?,
        );
    }
    let refs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
    ed25519_dalek::verify_batch(&refs, &sigs, &keys).map_err(|_| EventError::BadSignature)
}
