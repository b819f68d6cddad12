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
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PublicKey(pub [u8; 32]);

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

/// Checks `signature` over `msg` with the strict rules of docs/protocol.md:
/// RFC 8032 verification that also rejects non-canonical S, and small-order keys or R.
pub fn verify_strict(key: &PublicKey, msg: &[u8], signature: &[u8; 64]) -> bool {
    key.verifying_key()
        .is_some_and(|vk| verify_strict_decoded(&vk, msg, signature))
}

/// [`verify_strict`] with the key already decoded, for a caller that keeps decoded
/// keys between signatures (`event::AuthorKeys`).
pub(crate) fn verify_strict_decoded(
    key: &ed25519_dalek::VerifyingKey,
    msg: &[u8],
    signature: &[u8; 64],
) -> bool {
    let sig = ed25519_dalek::Signature::from_bytes(signature);
    key.verify_strict(msg, &sig).is_ok()
}
