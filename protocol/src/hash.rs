//! Content ids, network ids and the keyed hashes built on BLAKE3.
//!
//! Ids are plain BLAKE3 of canonical bytes so anyone can recompute them; every other
//! hash uses BLAKE3's derive-key mode with a fixed context string, so a value hashed
//! for one purpose can never be mistaken for one hashed for another.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A 32-byte BLAKE3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct Hash32(pub [u8; 32]);

/// The order of two 32-byte strings, byte by byte (the order the spec sorts ids and
/// keys by), compared as two big-endian 128-bit words. The derived order called
/// `memcmp` for each comparison: 4% of a settling node's time went to those calls
/// from the ledger's maps.
#[inline]
pub(crate) fn cmp32(a: &[u8; 32], b: &[u8; 32]) -> std::cmp::Ordering {
    let word = |x: &[u8; 32], i: usize| {
        let mut w = [0; 16];
        w.copy_from_slice(&x[16 * i..16 * i + 16]);
        u128::from_be_bytes(w)
    };
    (word(a, 0), word(a, 1)).cmp(&(word(b, 0), word(b, 1)))
}

impl Ord for Hash32 {
    #[inline]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        cmp32(&self.0, &other.0)
    }
}

impl PartialOrd for Hash32 {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Hash32 {
    pub const ZERO: Hash32 = Hash32([0; 32]);

    /// Plain BLAKE3 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Hash32(*blake3::hash(bytes).as_bytes())
    }

    /// BLAKE3 in derive-key mode: `context` names the purpose, `parts` are hashed in order.
    pub fn derive(context: &str, parts: &[&[u8]]) -> Self {
        let mut h = blake3::Hasher::new_derive_key(context);
        for p in parts {
            h.update(p);
        }
        Hash32(*h.finalize().as_bytes())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    pub fn to_hex(&self) -> String {
        // One allocation (a `format!` per byte made 33, a tenth of a catch-up's loop).
        hex::encode(self.0)
    }

    /// Parses 64 lowercase or uppercase hex digits.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = s.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Hash32(out))
    }
}

impl fmt::Debug for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", &self.to_hex()[..16])
    }
}

impl fmt::Display for Hash32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// BLAKE3 of an event's committed body bytes (its canonical body with every teaser
/// erased to its hash): the event's name everywhere.
pub type ContentId = Hash32;
/// BLAKE3 of the genesis document's canonical bytes: names the network.
pub type NetworkId = Hash32;

/// Derive-key contexts. Normative: see docs/protocol.md, "Hashes".
pub mod context {
    pub const EMAIL_COMMITMENT: &str = "carnet v1 commitment email";
    pub const PHONE_COMMITMENT: &str = "carnet v1 commitment phone";
    pub const DEDUP_KEY: &str = "carnet v5 dedup key";
    pub const TEASER: &str = "carnet v4 teaser";
    pub const TEASER_SALT: &str = "carnet v4 teaser salt";
    pub const DELIVER_KEY: &str = "carnet v1 deliver key";
    pub const EVIDENCE: &str = "carnet v1 evidence";
}

/// Hash of a piece of evidence (for example the raw bytes of a bounce message).
pub fn evidence_hash(raw: &[u8]) -> Hash32 {
    Hash32::derive(context::EVIDENCE, &[raw])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_roundtrip() {
        let h = Hash32::of(b"abc");
        assert_eq!(Hash32::from_hex(&h.to_hex()), Some(h));
        assert_eq!(Hash32::from_hex("zz"), None);
        assert_eq!(Hash32::from_hex(&"g".repeat(64)), None);
    }

    proptest::proptest! {
        /// Ids and keys sort by their bytes (docs/protocol.md): the word-wise order
        /// is that order, for strings that differ anywhere or nowhere.
        #[test]
        fn ids_and_keys_sort_by_their_bytes(
            a in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            mut b in proptest::array::uniform32(proptest::prelude::any::<u8>()),
            same in 0usize..33,
        ) {
            b[..same].copy_from_slice(&a[..same]);
            let bytes = a.as_slice().cmp(b.as_slice());
            proptest::prop_assert_eq!(Hash32(a).cmp(&Hash32(b)), bytes);
            proptest::prop_assert_eq!(
                crate::keys::PublicKey(a).cmp(&crate::keys::PublicKey(b)),
                bytes
            );
            proptest::prop_assert_eq!(Hash32(a).partial_cmp(&Hash32(b)), Some(bytes));
        }
    }

    #[test]
    fn blake3_known_answer() {
        // BLAKE3("abc") from the BLAKE3 reference test vectors.
        assert_eq!(
            Hash32::of(b"abc").to_hex(),
            "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
        );
    }
}
