//! Dedup-key requests: a member asks its own org node for the dedup key of an email.
//!
//! Dedup keys are keyed by the network secret, which only org nodes hold, so a member
//! who contributes a card must ask its org node for the key to put in the listing it
//! signs. The request is signed by the member key: the node answers only its own
//! active members, counts what each asks, and never answers a stranger
//! (docs/protocol.md, "Dedup-key requests").

use crate::encoding::to_canonical;
use crate::hash::{Hash32, NetworkId};
use crate::keys::{self, PublicKey, SecretKey};
use serde::Serialize;

/// Prefix of the signed message, so a request signature is never an event signature,
/// a voucher or a peer attestation.
pub const DEDUP_REQUEST_DOMAIN: &[u8] = b"carnet/v4/dedup-request";

/// What a member signs to ask for a dedup key. Its canonical bytes are hashed into the
/// signed message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DedupRequest {
    pub network: NetworkId,
    pub member: PublicKey,
    /// The normalised work email.
    pub email: String,
    /// The member's clock when it signed (ms since the Unix epoch); a node refuses a
    /// request far from its own clock, so a captured request cannot be replayed later.
    pub at_ms: u64,
}

/// The bytes a member signs: the domain, then BLAKE3 of the request's canonical encoding.
pub fn message(request: &DedupRequest) -> Vec<u8> {
    let mut msg = DEDUP_REQUEST_DOMAIN.to_vec();
    msg.extend_from_slice(Hash32::of(&to_canonical(request)).as_bytes());
    msg
}

pub fn sign(member: &SecretKey, request: &DedupRequest) -> [u8; 64] {
    member.sign_raw(&message(request))
}

/// Verification (docs/protocol.md, "Signature verification") under the request's
/// own member key.
pub fn verify(request: &DedupRequest, signature: &[u8; 64]) -> bool {
    keys::verify(&request.member, &message(request), signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_binds_the_member_the_email_and_the_time() {
        let member = SecretKey::from_seed([4; 32]);
        let req = DedupRequest {
            network: Hash32::of(b"net"),
            member: member.public(),
            email: "ada@acme.example".into(),
            at_ms: 1_000,
        };
        let sig = sign(&member, &req);
        assert!(verify(&req, &sig));
        let other = |f: &dyn Fn(&mut DedupRequest)| {
            let mut r = req.clone();
            f(&mut r);
            verify(&r, &sig)
        };
        assert!(!other(&|r| r.email = "bob@acme.example".into()));
        assert!(!other(&|r| r.at_ms = 1_001));
        assert!(!other(&|r| r.network = Hash32::of(b"other")));
        assert!(!other(
            &|r| r.member = SecretKey::from_seed([5; 32]).public()
        ));
    }
}
