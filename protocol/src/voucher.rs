//! Report vouchers: the reporter's org node signs that it read the bounce message, or
//! that the number behind a card's phone commitment is a mobile.
//!
//! The ledger cannot read a bounce message (it holds only its hash), so a member alone
//! could publish a BounceReport for any card it bought and be paid the bounty. The
//! member's own org node checks the message first (RFC 3464 structure, a permanent
//! 5.x.x status for the card's address, the reporting MTA's DKIM signature when there
//! is one) and signs this voucher; the ledger applies a report only with a voucher that
//! verifies under the key of the reporter's org (docs/protocol.md, "Report vouchers").

use crate::encoding::to_canonical;
use crate::hash::{ContentId, Hash32, NetworkId};
use crate::keys::{self, PublicKey, SecretKey};
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

/// Verification (docs/protocol.md, "Signature verification") under `org`.
pub fn verify(org: &PublicKey, body: &VoucherBody, voucher: &Voucher) -> bool {
    keys::verify(org, &message(body), &voucher.0)
}

/// Prefix of the signed message of a mobile voucher.
pub const MOBILE_VOUCHER_DOMAIN: &[u8] = b"carnet/v4/mobile-voucher";

/// What an org vouches for in a mobile report: it was shown the opening of the card's
/// phone commitment, and the number is classified Mobile ([`crate::ledger::is_mobile_number`]).
/// The number stays off the log; the contributor's org holds the card and can check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MobileVoucherBody {
    pub network: NetworkId,
    pub reporter: PublicKey,
    pub purchase_id: ContentId,
    pub phone_commitment: Hash32,
}

/// The bytes an org signs: the domain, then BLAKE3 of the body's canonical encoding.
pub fn mobile_message(body: &MobileVoucherBody) -> Vec<u8> {
    let mut msg = MOBILE_VOUCHER_DOMAIN.to_vec();
    msg.extend_from_slice(Hash32::of(&to_canonical(body)).as_bytes());
    msg
}

pub fn sign_mobile(org: &SecretKey, body: &MobileVoucherBody) -> Voucher {
    Voucher(org.sign_raw(&mobile_message(body)))
}

/// Verification (docs/protocol.md, "Signature verification") under `org`.
pub fn verify_mobile(org: &PublicKey, body: &MobileVoucherBody, voucher: &Voucher) -> bool {
    keys::verify(org, &mobile_message(body), &voucher.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bounce voucher is never a mobile voucher, and the other way round.
    #[test]
    fn the_two_vouchers_are_domain_separated() {
        let org = SecretKey::from_seed([1; 32]);
        let c = Hash32::of(b"commitment");
        let mobile = MobileVoucherBody {
            network: Hash32::of(b"net"),
            reporter: SecretKey::from_seed([2; 32]).public(),
            purchase_id: Hash32::of(b"purchase"),
            phone_commitment: c,
        };
        let v = sign_mobile(&org, &mobile);
        assert!(verify_mobile(&org.public(), &mobile, &v));
        let bounce = VoucherBody {
            network: mobile.network,
            reporter: mobile.reporter,
            purchase_id: mobile.purchase_id,
            evidence: Hash32::ZERO,
            status: DsnStatus {
                class: 5,
                subject: 1,
                detail: 1,
            },
            email_commitment: c,
        };
        assert!(!verify(&org.public(), &bounce, &v));
        assert!(!verify_mobile(&org.public(), &mobile, &sign(&org, &bounce)));
        let other = MobileVoucherBody {
            phone_commitment: Hash32::of(b"other"),
            ..mobile.clone()
        };
        assert!(!verify_mobile(&org.public(), &other, &v));
    }
}
