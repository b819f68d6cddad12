//! Ed25519 signatures made from raw scalars and points, for the cases a signing
//! library never produces: an R or a key with a torsion component, an R of small
//! order, non-canonical encodings. Each is valid or not under docs/protocol.md,
//! "Signature verification", by construction, and the tests say which.

use curve25519_dalek::constants::EIGHT_TORSION;
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

/// The encoding of the identity point with y = p + 1 instead of 1: non-canonical,
/// decoded as the identity by the lenient decoding.
pub const IDENTITY_NON_CANONICAL: [u8; 32] = {
    let mut b = [0xff; 32];
    b[0] = 0xee;
    b[31] = 0x7f;
    b
};

/// A signer holding the scalar `a` whose key is `[a]B + T`, T one of the eight
/// torsion points (index 0, the identity, for an ordinary key).
#[derive(Clone, Copy)]
pub struct Crafted {
    a: Scalar,
    pub key: [u8; 32],
}

impl Crafted {
    pub fn new(secret: u8, key_torsion: usize) -> Crafted {
        let a = Scalar::from_bytes_mod_order([secret; 32]);
        let point = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[key_torsion % 8];
        Crafted {
            a,
            key: point.compress().to_bytes(),
        }
    }

    /// The signer of the RFC 8032 key made from `seed` (so its key is that of
    /// `SecretKey::from_seed(seed)`), its key with the torsion point of index
    /// `key_torsion` added.
    pub fn from_seed(seed: [u8; 32], key_torsion: usize) -> Crafted {
        let h = Sha512::digest(seed);
        let mut lower = [0u8; 32];
        lower.copy_from_slice(&h[..32]);
        lower[0] &= 248;
        lower[31] &= 127;
        lower[31] |= 64;
        let a = Scalar::from_bytes_mod_order(lower);
        let point = EdwardsPoint::mul_base(&a) + EIGHT_TORSION[key_torsion % 8];
        Crafted {
            a,
            key: point.compress().to_bytes(),
        }
    }

    /// A signature with R = `[r]B + T` (T the torsion point of index `r_torsion`),
    /// encoded canonically, and S = r + k·a. Its cofactored equation holds; the
    /// cofactorless one holds only when the torsion terms cancel.
    pub fn sign(&self, msg: &[u8], r: u8, r_torsion: usize) -> [u8; 64] {
        let r = Scalar::from_bytes_mod_order([r; 32]);
        let big_r = EdwardsPoint::mul_base(&r) + EIGHT_TORSION[r_torsion % 8];
        self.sign_with(msg, big_r.compress().to_bytes(), r)
    }

    /// A signature whose R is the identity encoded non-canonically, S = k·a.
    pub fn sign_identity_r(&self, msg: &[u8]) -> [u8; 64] {
        self.sign_with(msg, IDENTITY_NON_CANONICAL, Scalar::ZERO)
    }

    fn sign_with(&self, msg: &[u8], r_bytes: [u8; 32], r: Scalar) -> [u8; 64] {
        let k = Scalar::from_hash(
            Sha512::new()
                .chain_update(r_bytes)
                .chain_update(self.key)
                .chain_update(msg),
        );
        let s = r + k * self.a;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r_bytes);
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }
}

/// The signature rules of docs/protocol.md, "Signature verification", written from
/// the raw primitives (not through the crate that implements them): lenient decoding
/// of the key and R, a key not of small order, canonical S, and the cofactored
/// equation `[8]([S]B − R − [k]A) = 0`.
pub fn verifies(key: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use curve25519_dalek::traits::IsIdentity;
    let Some(a) = CompressedEdwardsY(*key).decompress() else {
        return false;
    };
    if a.is_small_order() {
        return false;
    }
    let r_bytes: [u8; 32] = sig[..32].try_into().expect("32 bytes");
    let Some(big_r) = CompressedEdwardsY(r_bytes).decompress() else {
        return false;
    };
    let s_bytes: [u8; 32] = sig[32..].try_into().expect("32 bytes");
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else {
        return false;
    };
    let k = Scalar::from_hash(
        Sha512::new()
            .chain_update(r_bytes)
            .chain_update(key)
            .chain_update(msg),
    );
    (EdwardsPoint::mul_base(&s) - big_r - k * a)
        .mul_by_cofactor()
        .is_identity()
}
