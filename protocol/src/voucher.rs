//! Bounce vouchers: the reporter's org node signs that it read the bounce message.
//!
//! The ledger cannot read a bounce message (it holds only its hash), so a member alone
//! could publish a BounceReport for any card it bought and be paid the bounty. The
//! member's own org node checks the message first (RFC 3464 structure, a permanent
//! 5.x.x status for the card's address, the reporting MTA's DKIM signature when there
//! is one) and signs this voucher; the ledger applies a report only with a voucher that
//! verifies under the key of the reporter's org (docs/protocol.md, "Bounce vouchers").

use crate::encoding::to_canonical;
use crate::hash::{ContentId, Hash32, NetworkId};
use crate::keys::{verify_strict, PublicKey, SecretKey};
use crate::payload::{DsnStatus, Voucher};
use serde::Serialize;

/// Prefix of the signed message, so a voucher signature is never an event signature.
pub const VOUCHER_DOMAIN: &[u8] = b"carnet/v3/bounce-voucher";

/// What an org vouches for. Its canonical bytes are hashed into the signed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VoucherBody {
    pub network: NetworkId,
    /// The member whose report this is.
    pub reporter: PublicKey,
    /// The reporter's Purchase of the card.
    pub purchase_id: ContentId,
    /// `evidence_hash` of the raw bounce message the org read.
    pub evidence: Hash32,
    pub status: DsnStatus,
    /// The email commitment the report opens (the org checked the message names the
    /// address behind it).
    pub email_commitment: Hash32,
}

/// The bytes an org signs: the domain, then BLAKE3 of the body's canonical encoding.
pub fn message(body: &VoucherBody) -> Vec<u8> {
    let mut msg = VOUCHER_DOMAIN.to_vec();
    msg.extend_from_slice(Hash32::of(&to_canonical(body)).as_bytes());
    msg
}

pub fn sign(org: &SecretKey, body: &VoucherBody) -> Voucher {
    Voucher(org.sign_raw(&message(body)))
}

/// Strict verification (docs/protocol.md, "Strict verification") under `org`.
pub fn verify(org: &PublicKey, body: &VoucherBody, voucher: &Voucher) -> bool {
    verify_strict(org, &message(body), &voucher.0)
}
