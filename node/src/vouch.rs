//! Bounce vouchers: the org node's side of a member's bounce report.
//!
//! A BounceReport applies only with a voucher of the reporter's org (docs/protocol.md,
//! "Report vouchers"). The member sends its org node the raw bounce message and the
//! opening of the card's email; the API checks the message (carnet-mail: RFC 3464
//! structure, a permanent failure for that address, DKIM when signed), then the event
//! loop checks the purchase against the ledger, keeps the message as evidence and signs.

use carnet_protocol::payload::{DsnStatus, Opening, Voucher};
use carnet_protocol::{ContentId, Hash32, PublicKey};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// What the event loop needs once the message passed the mail checks.
#[derive(Debug, Clone)]
pub struct VouchRequest {
    pub reporter: PublicKey,
    pub purchase_id: ContentId,
    pub opening: Opening,
    /// The status the bounce message gives for the address.
    pub status: DsnStatus,
    pub message: Vec<u8>,
}

/// The voucher and the evidence hash the report must name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vouched {
    pub voucher: Voucher,
    pub evidence: Hash32,
}

/// Why the node will not vouch. `code()` is the stable API code (docs/api.md).
#[derive(Debug, Error, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VouchError {
    #[error("no purchase {0} is known to this node")]
    UnknownPurchase(String),
    #[error("purchase {0} was made by another member")]
    NotBuyer(String),
    #[error("purchase {0} has not been delivered: only a delivered card can bounce")]
    NotDelivered(String),
    #[error("the value and salt do not open the commitment of the card you bought")]
    OpeningMismatch,
    #[error("the card you bought has no direct line")]
    NoPhone,
    #[error(
        "{0} is not classified as a mobile number (libphonenumber metadata the protocol pins)"
    )]
    NotMobile(String),
    #[error("the reporter is not a member of this node's org: ask your own org's node")]
    NotOurMember,
    #[error(
        "purchase {0} already has {MAX_MESSAGES_PER_PURCHASE} bounce messages on this node; \
         report with one of them"
    )]
    TooManyMessages(String),
    #[error("cannot keep the bounce message: {0}")]
    Storage(String),
}

/// Different bounce messages a node keeps (and vouches for) per purchase: a retry with
/// the same message is free, but one delivered card cannot fill the node's disk.
pub const MAX_MESSAGES_PER_PURCHASE: usize = 3;

/// Prefix of the store's meta keys that record, per purchase, the messages vouched
/// for: `vouched:<purchase id hex>` → records of [`RECORD_BYTES`].
pub const VOUCHED_META_PREFIX: &str = "vouched:";
/// A record: the evidence hash, then the wall-clock ms it was vouched at (u64 LE).
pub const RECORD_BYTES: usize = 40;

/// Prefix of the store's meta keys that name, per purchase, the opening a reporter
/// showed this node: `opening:<purchase id hex>` → the evidence hash under which the
/// opening's canonical bytes are kept, encrypted like a bounce message. It leaves the
/// node only in an audit bundle exported with `include_opening` (docs/audit.md).
pub const OPENING_META_PREFIX: &str = "opening:";

/// One vouched message of a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VouchedRecord {
    pub evidence: Hash32,
    pub at_ms: u64,
}

pub fn decode_records(bytes: &[u8]) -> Vec<VouchedRecord> {
    bytes
        .chunks_exact(RECORD_BYTES)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(&c[..32]);
            let mut t = [0u8; 8];
            t.copy_from_slice(&c[32..]);
            VouchedRecord {
                evidence: Hash32(h),
                at_ms: u64::from_le_bytes(t),
            }
        })
        .collect()
}

pub fn encode_records(records: &[VouchedRecord]) -> Vec<u8> {
    let mut out = Vec::with_capacity(records.len() * RECORD_BYTES);
    for r in records {
        out.extend_from_slice(r.evidence.as_bytes());
        out.extend_from_slice(&r.at_ms.to_le_bytes());
    }
    out
}

/// The retention rule: a vouched message is kept while a BounceReport on the ledger
/// names it (an auditor may ask for it), or for `keep_ms` after it was vouched (the
/// member's time to publish the report). Returns (kept, to delete).
pub fn retain(
    records: &[VouchedRecord],
    named: impl Fn(&Hash32) -> bool,
    now_ms: u64,
    keep_ms: u64,
) -> (Vec<VouchedRecord>, Vec<Hash32>) {
    let mut kept = Vec::new();
    let mut gone = Vec::new();
    for r in records {
        if named(&r.evidence) || now_ms < r.at_ms.saturating_add(keep_ms) {
            kept.push(*r);
        } else {
            gone.push(r.evidence);
        }
    }
    (kept, gone)
}

impl VouchError {
    pub fn code(&self) -> &'static str {
        match self {
            VouchError::UnknownPurchase(_) => "unknown_purchase",
            VouchError::NotBuyer(_) => "not_buyer",
            VouchError::NotDelivered(_) => "not_delivered",
            VouchError::OpeningMismatch => "opening_mismatch",
            VouchError::NoPhone => "no_phone",
            VouchError::NotMobile(_) => "not_mobile",
            VouchError::NotOurMember => "not_our_member",
            VouchError::TooManyMessages(_) => "too_many_messages",
            VouchError::Storage(_) => "storage",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vouched_messages_no_report_names_go_after_their_time() {
        let r = |n: u8, at_ms| VouchedRecord {
            evidence: Hash32([n; 32]),
            at_ms,
        };
        let records = vec![r(1, 1_000), r(2, 1_000), r(3, 9_000)];
        assert_eq!(decode_records(&encode_records(&records)), records);
        let named = |h: &Hash32| *h == Hash32([2; 32]);
        // Message 1: old and named by no report; 2: named; 3: recent.
        let (kept, gone) = retain(&records, named, 10_000, 5_000);
        assert_eq!(kept, vec![r(2, 1_000), r(3, 9_000)]);
        assert_eq!(gone, vec![Hash32([1; 32])]);
        let (kept, gone) = retain(&records, named, 2_000, 5_000);
        assert_eq!((kept.len(), gone.len()), (3, 0));
    }
}
