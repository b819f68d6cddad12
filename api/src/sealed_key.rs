//! A member's secret key sealed under the member's password, so that the org node can
//! keep it at rest and open it only while the member is signed in to the web app
//! (docs/web.md, "Keys").
//!
//! The member's side seals (`carnet web password`, where the key file is) and the node
//! opens (at sign-in), so both use this one format. The key-encryption key is
//! Argon2id(password, salt) with the parameters the record names (RFC 9106), and the
//! seal is XChaCha20-Poly1305 with the member's public key as associated data: a record
//! moved to another member's name does not open, and a record that opens yields the
//! very key it names.

use argon2::{Algorithm, Argon2, Params, Version};
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::keys;
use carnet_protocol::{Hash32, NetworkId, PublicKey, SecretKey};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Argon2id memory per derivation, KiB: 64 MiB, RFC 9106's second recommended option,
/// about 0.1 s on a laptop core. Recorded in each record, so it can be raised later.
pub const DEFAULT_M_COST_KIB: u32 = 64 * 1024;
/// Argon2id passes.
pub const DEFAULT_T_COST: u32 = 3;
/// Argon2id lanes: one, so a guess costs an attacker the same as it costs the node.
pub const DEFAULT_P_COST: u32 = 1;
/// Bounds on what a record may ask of the node that opens it: a record is input (it is
/// uploaded), and one naming 4 GiB of memory must not take the node down.
pub const MAX_M_COST_KIB: u32 = 256 * 1024;
pub const MAX_T_COST: u32 = 10;
/// The least a record may ask: below this a stolen record is cheap to guess.
pub const MIN_M_COST_KIB: u32 = 19 * 1024;
/// Shortest password accepted when sealing.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted: Argon2 takes any length, but nobody types more.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// What the record's fields are, for a later change of format.
pub const SEALED_KEY_VERSION: u16 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedKey {
    pub version: u16,
    /// The member whose key this is (hex).
    pub member: String,
    /// Argon2id parameters.
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// 16 random bytes (hex).
    pub salt_hex: String,
    /// 24 random bytes (hex).
    pub nonce_hex: String,
    /// The 32-byte seed sealed, with its 16-byte tag (hex).
    pub sealed_hex: String,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SealError {
    #[error("the password is too short: at least {MIN_PASSWORD_CHARS} characters")]
    PasswordTooShort,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    /// Deliberately one variant for a wrong password and a damaged record: an answer
    /// that told them apart would tell a guesser more than it tells the member.
    #[error("wrong password")]
    WrongPassword,
    #[error("the sealed key record is not usable: {0}")]
    BadRecord(String),
    #[error("the upload is not signed by the key it seals")]
    BadSignature,
}

/// What a member sends its org node to turn web sign-in on or change its password:
/// the record, signed with the key it seals, so that nobody else can set a member's
/// password. `at_ms` is the member's clock: the node refuses one far from its own and
/// one not later than the record it holds, so a captured upload cannot bring back an
/// old password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealedKeyUpload {
    pub record: SealedKey,
    pub at_ms: u64,
    /// Ed25519 (docs/protocol.md, "Signature verification"), by the record's member key over [`upload_message`].
    pub signature_hex: String,
}

/// Domain of the signed upload message.
pub const UPLOAD_DOMAIN: &[u8] = b"carnet/web/sealed-key-upload/v1";

/// The bytes an upload's signature covers: the domain, then BLAKE3 of the canonical
/// encoding of (network, record, at_ms).
pub fn upload_message(network: &NetworkId, record: &SealedKey, at_ms: u64) -> Vec<u8> {
    let mut msg = UPLOAD_DOMAIN.to_vec();
    msg.extend_from_slice(Hash32::of(&to_canonical(&(network, record, at_ms))).as_bytes());
    msg
}

impl SealedKeyUpload {
    /// The upload of `record` (sealed from `key`) at `at_ms`, signed.
    pub fn signed(key: &SecretKey, network: &NetworkId, record: SealedKey, at_ms: u64) -> Self {
        let signing = ed25519_dalek::SigningKey::from_bytes(&key.seed());
        let signature = signing.sign(&upload_message(network, &record, at_ms));
        SealedKeyUpload {
            record,
            at_ms,
            signature_hex: hex::encode(signature.to_bytes()),
        }
    }

    /// The member the upload is for, when its record is well formed and its
    /// signature verifies under that member's key for `network`.
    pub fn verify(&self, network: &NetworkId) -> Result<PublicKey, SealError> {
        let member = check(&self.record)?;
        let signature: [u8; 64] = hex::decode(&self.signature_hex)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| SealError::BadRecord("signature is not 64 bytes of hex".into()))?;
        let msg = upload_message(network, &self.record, self.at_ms);
        if !keys::verify(&member, &msg, &signature) {
            return Err(SealError::BadSignature);
        }
        Ok(member)
    }
}

/// Seals `key` under `password`, with `salt` and `nonce` from the caller's randomness.
pub fn seal(
    key: &SecretKey,
    password: &str,
    salt: [u8; 16],
    nonce: [u8; 24],
) -> Result<SealedKey, SealError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(SealError::PasswordTooShort);
    }
    let mut record = SealedKey {
        version: SEALED_KEY_VERSION,
        member: key.public().to_hex(),
        m_cost_kib: DEFAULT_M_COST_KIB,
        t_cost: DEFAULT_T_COST,
        p_cost: DEFAULT_P_COST,
        salt_hex: hex::encode(salt),
        nonce_hex: hex::encode(nonce),
        sealed_hex: String::new(),
    };
    let cipher = cipher(&record, password)?;
    let public = key.public();
    let sealed = cipher
        .encrypt(
            (&nonce).into(),
            Payload {
                msg: &key.seed(),
                aad: &public.0,
            },
        )
        .map_err(|_| SealError::BadRecord("sealing failed".into()))?;
    record.sealed_hex = hex::encode(sealed);
    Ok(record)
}

/// Opens `record` with `password`: the member's secret key, checked to be the key the
/// record names.
pub fn open(record: &SealedKey, password: &str) -> Result<SecretKey, SealError> {
    let member = check(record)?;
    let nonce: [u8; 24] = decode(&record.nonce_hex, "nonce")?;
    let sealed = hex::decode(&record.sealed_hex)
        .map_err(|_| SealError::BadRecord("sealed key is not hex".into()))?;
    let cipher = cipher(record, password)?;
    let seed = cipher
        .decrypt(
            (&nonce).into(),
            Payload {
                msg: &sealed,
                aad: &member.0,
            },
        )
        .map_err(|_| SealError::WrongPassword)?;
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| SealError::BadRecord("the sealed key is not 32 bytes".into()))?;
    let key = SecretKey::from_seed(seed);
    if key.public() != member {
        return Err(SealError::BadRecord(
            "the sealed key is not the member's".into(),
        ));
    }
    Ok(key)
}

/// The record's shape and bounds, before any work is spent on it: its member key.
pub fn check(record: &SealedKey) -> Result<PublicKey, SealError> {
    let bad = |s: &str| Err(SealError::BadRecord(s.into()));
    if record.version != SEALED_KEY_VERSION {
        return bad("unknown version");
    }
    if !(MIN_M_COST_KIB..=MAX_M_COST_KIB).contains(&record.m_cost_kib)
        || !(1..=MAX_T_COST).contains(&record.t_cost)
        || record.p_cost != DEFAULT_P_COST
    {
        return bad("Argon2id parameters out of bounds");
    }
    if record.sealed_hex.len() != 2 * (32 + 16) {
        return bad("the sealed key is not 48 bytes");
    }
    let _: [u8; 16] = decode(&record.salt_hex, "salt")?;
    let _: [u8; 24] = decode(&record.nonce_hex, "nonce")?;
    PublicKey::from_hex(&record.member)
        .filter(|k| k.verifying_key().is_some())
        .ok_or_else(|| SealError::BadRecord("member is not a public key".into()))
}

fn decode<const N: usize>(s: &str, what: &str) -> Result<[u8; N], SealError> {
    hex::decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| SealError::BadRecord(format!("{what} is not {N} bytes of hex")))
}

/// The cipher under Argon2id(password, salt) with the record's parameters.
fn cipher(record: &SealedKey, password: &str) -> Result<XChaCha20Poly1305, SealError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(SealError::PasswordTooLong);
    }
    let salt: [u8; 16] = decode(&record.salt_hex, "salt")?;
    let params = Params::new(record.m_cost_kib, record.t_cost, record.p_cost, Some(32))
        .map_err(|e| SealError::BadRecord(format!("Argon2id parameters: {e}")))?;
    let mut kek = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(password.as_bytes(), &salt, &mut kek)
        .map_err(|e| SealError::BadRecord(format!("Argon2id: {e}")))?;
    let cipher = XChaCha20Poly1305::new_from_slice(&kek)
        .map_err(|_| SealError::BadRecord("key-encryption key".into()));
    kek.fill(0);
    cipher
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(password: &str) -> (SecretKey, SealedKey) {
        let key = SecretKey::from_seed([7; 32]);
        let record = seal(&key, password, [1; 16], [2; 24]).unwrap();
        (key, record)
    }

    #[test]
    fn opens_with_its_password_only() {
        let (key, record) = sealed("correct horse battery");
        assert_eq!(record.member, key.public().to_hex());
        assert_eq!(
            open(&record, "correct horse battery").unwrap().seed(),
            key.seed()
        );
        assert_eq!(
            open(&record, "correct horse batterY").unwrap_err(),
            SealError::WrongPassword
        );
    }

    #[test]
    fn an_upload_verifies_only_for_its_member_and_network() {
        let (key, record) = sealed("correct horse battery");
        let net = Hash32::of(b"net");
        let up = SealedKeyUpload::signed(&key, &net, record.clone(), 5);
        assert_eq!(up.verify(&net), Ok(key.public()));
        assert_eq!(
            up.verify(&Hash32::of(b"other")),
            Err(SealError::BadSignature)
        );
        let mut later = up.clone();
        later.at_ms = 6;
        assert_eq!(
            later.verify(&net),
            Err(SealError::BadSignature),
            "at_ms is signed"
        );
        // Signed by another key: refused, whatever the record says.
        let other = SecretKey::from_seed([9; 32]);
        let forged = SealedKeyUpload::signed(&other, &net, record, 5);
        assert_eq!(forged.verify(&net), Err(SealError::BadSignature));
    }

    #[test]
    fn a_record_moved_to_another_member_does_not_open() {
        let (_, mut record) = sealed("correct horse battery");
        record.member = SecretKey::from_seed([8; 32]).public().to_hex();
        assert_eq!(
            open(&record, "correct horse battery").unwrap_err(),
            SealError::WrongPassword
        );
    }

    #[test]
    fn short_passwords_and_costly_or_damaged_records_are_refused() {
        let key = SecretKey::from_seed([7; 32]);
        assert_eq!(
            seal(&key, "too short", [1; 16], [2; 24]).unwrap_err(),
            SealError::PasswordTooShort
        );
        let (_, record) = sealed("correct horse battery");
        type Change = fn(&mut SealedKey);
        let cases: [(&str, Change); 5] = [
            ("4 GiB", |r| r.m_cost_kib = 4 * 1024 * 1024),
            ("cheap", |r| r.m_cost_kib = 8),
            ("passes", |r| r.t_cost = 1000),
            ("salt", |r| r.salt_hex = "zz".into()),
            ("sealed", |r| r.sealed_hex.truncate(10)),
        ];
        for (what, change) in cases {
            let mut r = record.clone();
            change(&mut r);
            assert!(
                matches!(
                    open(&r, "correct horse battery"),
                    Err(SealError::BadRecord(_))
                ),
                "{what}"
            );
        }
    }
}
