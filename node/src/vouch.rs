//! Bounce vouchers: the org node's side of a member's bounce report.
//!
//! A BounceReport applies only with a voucher of the reporter's org (docs/protocol.md,
//! "Bounce vouchers"). The member sends its org node the raw bounce message and the
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
    #[error("the email and salt do not open the commitment of the card you bought")]
    OpeningMismatch,
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

impl VouchError {
    pub fn code(&self) -> &'static str {
        match self {
            VouchError::UnknownPurchase(_) => "unknown_purchase",
            VouchError::NotBuyer(_) => "not_buyer",
            VouchError::NotDelivered(_) => "not_delivered",
            VouchError::OpeningMismatch => "opening_mismatch",
            VouchError::NotOurMember => "not_our_member",
            VouchError::TooManyMessages(_) => "too_many_messages",
            VouchError::Storage(_) => "storage",
        }
    }
}
