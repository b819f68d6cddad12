//! Identities: organisation and member keys are both Ed25519 keys; what a key may do
//! is decided by the ledger (a founding/admitted org, or a member enrolled by one).
//!
//! Keys travel as raw 32-byte values and are only turned into curve points when a
//! signature is checked, so decoding never does curve arithmetic.

use crate::hash::Hash32;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;

/// An Ed25519 public key (RFC 8032 encoding).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

/// Byte order, as the derived order had it, without its `memcmp` call (see
/// `hash::cmp32`).
impl Ord for PublicKey {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        crate::hash::cmp32(&self.0, &other.0)
    }
}

impl PartialOrd for PublicKey {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        Hash32(self.0).to_hex()
    }

    pub fn from_hex(s: &str) -> Option<Self> {
        Hash32::from_hex(s).map(|h| PublicKey(h.0))
    }

    /// The curve point, if these bytes encode one.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.0).ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pk:{}", &self.to_hex()[..12])
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A secret key held by an organisation or a member. The protocol never makes one
/// itself: it is built from 32 bytes of randomness the caller supplies.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

impl SecretKey {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    pub(crate) fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        self.0.sign(msg).to_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({:?})", self.public())
    }
}

/// A public key decoded for checking signatures: what a caller checking many
/// signatures of one author keeps (`event::AuthorKeys`), as decoding a key is about
/// a tenth of a verification.
#[derive(Clone, Copy, Debug)]
pub(crate) enum DecodedKey {
    /// The 32 bytes are no point of the curve.
    NotAPoint,
    /// A point of small order: the cofactored equation ignores `[k]A` for it, so anyone
    /// could sign anything under it. No signature verifies.
    SmallOrder,
    Key(ed25519_zebra::VerificationKey),
}

impl DecodedKey {
    pub(crate) fn of(key: &PublicKey) -> DecodedKey {
        // Both crates decode with curve25519-dalek's lenient decoding (docs/protocol.md,
        // "Decoding points"), so they agree on what is a point.
        match VerifyingKey::from_bytes(&key.0) {
            Err(_) => DecodedKey::NotAPoint,
            Ok(vk) if vk.is_weak() => DecodedKey::SmallOrder,
            Ok(_) => ed25519_zebra::VerificationKey::try_from(key.0)
                .map_or(DecodedKey::NotAPoint, DecodedKey::Key),
        }
    }

    /// The signature check of docs/protocol.md, "Signature verification".
    pub(crate) fn verifies(&self, msg: &[u8], signature: &[u8; 64]) -> bool {
        match self {
            DecodedKey::Key(key) => key
                .verify(&ed25519_zebra::Signature::from_bytes(signature), msg)
                .is_ok(),
            DecodedKey::NotAPoint | DecodedKey::SmallOrder => false,
        }
    }
}

/// Checks `signature` over `msg` under `key` with the rules of docs/protocol.md,
/// "Signature verification": RFC 8032 with the cofactored equation, as ZIP 215 has
/// it (canonical S; lenient point decoding), and no key of small order. The rules are
/// those under which a batch check accepts exactly what single checks accept
/// ([`crate::event::verify_batch`]).
pub fn verify(key: &PublicKey, msg: &[u8], signature: &[u8; 64]) -> bool {
    DecodedKey::of(key).verifies(msg, signature)
}
