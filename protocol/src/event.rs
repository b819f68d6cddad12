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
use crate::keys::{DecodedKey, PublicKey, SecretKey};
use crate::limits::*;
use crate::payload::Payload;
use crate::text::TextError;
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use thiserror::Error;

/// Prefix of every signed message, so an event signature can never be replayed as a
/// signature over anything else (normative: docs/protocol.md, "Signatures").
pub const EVENT_SIGNATURE_DOMAIN: &[u8] = b"carnet/v1/event-signature";

/// Authors' keys as decoded points (or what is wrong with them): what a caller
/// verifying many events keeps between them. A key decodes alike every time, so
/// keeping it changes no result.
#[derive(Debug, Default)]
pub struct AuthorKeys(std::collections::HashMap<PublicKey, DecodedKey>);

impl AuthorKeys {
    /// Most keys kept: a batch of a few thousand events has far fewer authors, and a
    /// stranger's batch of distinct keys must not grow it without bound.
    const MAX: usize = 4096;

    fn get(&mut self, key: &PublicKey) -> DecodedKey {
        if let Some(k) = self.0.get(key) {
            return *k;
        }
        let decoded = DecodedKey::of(key);
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
///
/// Shared, not copied, when cloned: a node hands the same event to its ledger, its
/// store and its peers, and a deep copy (the body's strings and the wire bytes) was
/// 8% of what ordering a catch-up cost its event loop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedEvent(std::sync::Arc<Parts>);

#[derive(Debug)]
struct Parts {
    body: EventBody,
    id: ContentId,
    signature: [u8; 64],
    /// The wire form, which the body and signature give again (the encoding is
    /// canonical): empty once [`SignedEvent::shed_bytes`] let it go, filled again by
    /// the first [`SignedEvent::as_bytes`] after.
    bytes: std::sync::OnceLock<Box<[u8]>>,
}

/// By what the bytes say, not whether they are held: an event whose bytes were shed is
/// the same event.
impl PartialEq for Parts {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && self.signature == other.signature && self.body == other.body
    }
}

impl Eq for Parts {}

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
        Ok(SignedEvent(std::sync::Arc::new(Parts {
            body,
            id,
            signature,
            bytes: bytes.into_boxed_slice().into(),
        })))
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
        Ok(SignedEvent(std::sync::Arc::new(Parts {
            body,
            id,
            signature,
            bytes: Box::<[u8]>::from(bytes).into(),
        })))
    }

    /// The same event with its teaser erased (same id, same signature), or `None` if
    /// it carries no shown teaser.
    pub fn erased(&self) -> Option<SignedEvent> {
        let body = self.0.body.erased()?;
        let bytes = wire_form(&body, &self.0.signature);
        Some(SignedEvent(std::sync::Arc::new(Parts {
            body,
            id: self.0.id,
            signature: self.0.signature,
            bytes: bytes.into(),
        })))
    }

    pub fn verify_signature(&self) -> Result<(), EventError> {
        self.verify_signature_with(&mut AuthorKeys::default())
    }

    /// [`SignedEvent::verify_signature`] with the author's key decoded once per
    /// [`AuthorKeys`] (it was decoded twice per event: once to check it, once to
    /// verify).
    pub fn verify_signature_with(&self, keys: &mut AuthorKeys) -> Result<(), EventError> {
        let key = keys.get(&self.0.body.author);
        if let DecodedKey::NotAPoint = key {
            return Err(EventError::BadAuthorKey);
        }
        if key.verifies(&signing_message(&self.0.id), &self.0.signature) {
            Ok(())
        } else {
            Err(EventError::BadSignature)
        }
    }

    pub fn body(&self) -> &EventBody {
        &self.0.body
    }
    pub fn id(&self) -> ContentId {
        self.0.id
    }
    pub fn author(&self) -> PublicKey {
        self.0.body.author
    }
    pub fn seq(&self) -> u64 {
        self.0.body.seq
    }
    pub fn lamport(&self) -> u64 {
        self.0.body.lamport
    }
    pub fn payload(&self) -> &Payload {
        &self.0.body.payload
    }
    pub fn signature(&self) -> &[u8; 64] {
        &self.0.signature
    }
    /// The wire form: canonical body bytes followed by the signature. Encoded again
    /// (and kept) if they were shed.
    pub fn as_bytes(&self) -> &[u8] {
        self.0
            .bytes
            .get_or_init(|| wire_form(&self.0.body, &self.0.signature))
    }
    /// The canonical body bytes (the content id is the BLAKE3 hash of their erased
    /// form, [`EventBody::erased`]).
    pub fn body_bytes(&self) -> &[u8] {
        let bytes = self.as_bytes();
        &bytes[..bytes.len() - 64]
    }

    /// The wire form, as [`SignedEvent::as_bytes`] gives it, without keeping it if it
    /// was shed: for a caller that passes it on once (a peer's fetch), so that the
    /// bytes of an event held only to fold do not come back into memory.
    pub fn wire(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.0.bytes.get() {
            Some(b) => std::borrow::Cow::Borrowed(b),
            None => std::borrow::Cow::Owned(wire_form(&self.0.body, &self.0.signature).into()),
        }
    }

    /// Whether the wire bytes are held (not shed, or encoded again since).
    pub fn has_wire_bytes(&self) -> bool {
        self.0.bytes.get().is_some()
    }

    /// Lets the wire bytes go if this is the only handle on the event; whether it
    /// was. A ledger holds an unfinalized event to fold it and check what follows it,
    /// which reads only the body, while the store holds its bytes: they were a fifth
    /// of what such an event cost in memory (docs/benchmarks.md, "The wire bytes let
    /// go once stored").
    pub fn shed_bytes(&mut self) -> bool {
        match std::sync::Arc::get_mut(&mut self.0) {
            Some(parts) => {
                parts.bytes.take();
                true
            }
            None => false,
        }
    }
}

/// `body`'s canonical bytes followed by `signature`: an event's wire form.
fn wire_form(body: &EventBody, signature: &[u8; 64]) -> Box<[u8]> {
    let mut bytes = body.to_bytes();
    bytes.extend_from_slice(signature);
    bytes.into_boxed_slice()
}

/// Verifies the signatures of many events in one batch check; `Ok` exactly when
/// [`SignedEvent::verify_signature`] accepts every one of them.
///
/// The rules of docs/protocol.md ("Signature verification") use the cofactored
/// equation (ZIP 215), under which a batch check agrees with single checks: each
/// signature's equation holding makes the batch's random combination hold, and one
/// failing leaves a non-zero point of prime order that the combination cancels only
/// with probability about 2^-128. (The cofactorless equation has no such batch: a
/// torsion component can cancel with probability 1/8, so nodes batching differently
/// would disagree.) A batch of 256 checks 2.5 times as many signatures a second as
/// single checks do when every event has its own author, 5 times when all have one
/// (the `[k]A` terms are summed per key).
///
/// On `Err` the batch does not say which event failed: `BadAuthorKey` if some
/// author's key is no point, else `BadSignature`. A caller that must place the
/// errors checks the events one by one then.
pub fn verify_batch<E: Borrow<SignedEvent>>(events: &[E]) -> Result<(), EventError> {
    verify_batch_with(events, &mut AuthorKeys::default())
}

/// [`verify_batch`], taking the authors' decoded keys from `keys` (and adding to it).
pub fn verify_batch_with<E: Borrow<SignedEvent>>(
    events: &[E],
    keys: &mut AuthorKeys,
) -> Result<(), EventError> {
    use rand_chacha::rand_core::SeedableRng;
    // One event (gossip, a lone submission): the single check is cheaper than a
    // batch of one, and gives the same answer.
    if let [one] = events {
        return one.borrow().verify_signature_with(keys);
    }
    // The coefficients come from a hash of the whole batch, as ed25519-dalek derives
    // its own: the protocol takes no randomness it is not given, and whoever makes
    // the events cannot pick them without changing them.
    let mut seed = blake3::Hasher::new_derive_key("carnet batch verification coefficients");
    let mut batch = ed25519_zebra::batch::Verifier::new();
    let mut small_order = false;
    for e in events {
        let e = e.borrow();
        match keys.get(&e.0.body.author) {
            DecodedKey::NotAPoint => return Err(EventError::BadAuthorKey),
            DecodedKey::SmallOrder => small_order = true,
            DecodedKey::Key(_) => {}
        }
        let msg = signing_message(&e.0.id);
        seed.update(&e.0.body.author.0);
        seed.update(&msg);
        seed.update(&e.0.signature);
        batch.queue((
            ed25519_zebra::VerificationKeyBytes::from(e.0.body.author.0),
            ed25519_zebra::Signature::from_bytes(&e.0.signature),
            &msg[..],
        ));
    }
    // A key that is no point is reported before a key of small order, wherever each is.
    if small_order {
        return Err(EventError::BadSignature);
    }
    let rng = rand_chacha::ChaCha20Rng::from_seed(*seed.finalize().as_bytes());
    batch.verify(rng).map_err(|_| EventError::BadSignature)
}
