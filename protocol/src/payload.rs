//! What an event says: one variant per kind of event.
//!
//! The variant order is the wire discriminant and therefore normative. Which key may
//! author which kind ([`AuthorRole`]) is part of the payload's meaning; whether the key
//! actually holds that role is decided by the ledger, which knows enrollments.

use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::limits::*;
use crate::text::{check_company_domain, check_domain, check_text};
use crate::EventError;
use compact_str::CompactString;
use serde::{Deserialize, Serialize};

/// Which channels a contact can be reached on, as shown in the public teaser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub email: bool,
    pub postal: bool,
    pub phone: bool,
}

/// The public part of a listing: enough to decide to buy, never the contact data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teaser {
    #[serde(deserialize_with = "compact_string")]
    pub name: CompactString,
    #[serde(deserialize_with = "compact_string")]
    pub title: CompactString,
    #[serde(deserialize_with = "compact_string")]
    pub company: CompactString,
    #[serde(deserialize_with = "compact_string")]
    pub company_domain: CompactString,
    #[serde(deserialize_with = "compact_string")]
    pub city: CompactString,
    pub availability: Availability,
}

/// A `CompactString` asked of the decoder as a string it may copy from, as a `String`
/// is: `CompactString`'s own decoding asks for a string it can borrow, which a decoder
/// reading a stream a chunk at a time (a snapshot, [`crate::ledger::Snapshot::read`])
/// cannot give.
fn compact_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<CompactString, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = CompactString;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a string")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CompactString, E> {
            Ok(CompactString::from(s))
        }
        fn visit_string<E: serde::de::Error>(self, s: String) -> Result<CompactString, E> {
            Ok(CompactString::from(s))
        }
    }
    d.deserialize_string(V)
}

/// Salted hash of a teaser: BLAKE3 derive-key("carnet v4 teaser", salt || canonical
/// teaser). The salt keeps an erased teaser from being confirmed by a guess of the
/// person's name, title and company.
pub fn teaser_hash(teaser: &Teaser, salt: &[u8; 32]) -> Hash32 {
    Hash32::derive(
        crate::hash::context::TEASER,
        &[salt, &crate::encoding::to_canonical(teaser)],
    )
}

/// A listing's teaser as an event carries it. An event's content id and signature
/// commit only to the teaser's hash ([`crate::event::EventBody::content_id`]), so a
/// node can drop the teaser of a person who opted out and still serve an event that
/// verifies (docs/protocol.md, "Erasure").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TeaserSlot {
    /// The teaser and the salt of its hash. Boxed: an erased slot, which every
    /// listing of the ledger's state holds, is then 40 bytes rather than the 160 a
    /// teaser takes inline (issue 19); the encoding is the same.
    Shown { teaser: Box<Teaser>, salt: [u8; 32] },
    /// Erased: only the hash is left.
    Erased { hash: Hash32 },
}

impl TeaserSlot {
    /// The hash the content id commits to, whichever form this is.
    pub fn hash(&self) -> Hash32 {
        match self {
            TeaserSlot::Shown { teaser, salt } => teaser_hash(teaser, salt),
            TeaserSlot::Erased { hash } => *hash,
        }
    }

    /// The teaser, unless it was erased.
    pub fn shown(&self) -> Option<&Teaser> {
        match self {
            TeaserSlot::Shown { teaser, .. } => Some(teaser),
            TeaserSlot::Erased { .. } => None,
        }
    }

    pub fn is_erased(&self) -> bool {
        matches!(self, TeaserSlot::Erased { .. })
    }
}

/// A listing as contributed or updated: the teaser plus commitments that bind the
/// contributor to the hidden email and direct line (see [`crate::card`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    pub teaser: TeaserSlot,
    /// Salted commitment to the work email (always present: a card without an email
    /// cannot be checked for bounces).
    pub email_commitment: Hash32,
    /// Salted commitment to the direct line, present exactly when the teaser says phone.
    pub phone_commitment: Option<Hash32>,
    /// Network-keyed hash of the normalised email: the same address gives the same
    /// key on every listing, so duplicates and opt-outs can be found without the address.
    pub dedup_key: Hash32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enroll {
    pub member: PublicKey,
    /// Pseudonym shown to other members; contributors stay pseudonymous to buyers.
    pub handle: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revoke {
    pub member: PublicKey,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribute {
    pub listing: Listing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Content id of the Contribute event that created the listing.
    pub listing_id: ContentId,
    pub listing: Listing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Purchase {
    /// Content id of the Contribute event.
    pub listing_id: ContentId,
    /// X25519 public key the card is to be sealed to; the buyer holds its secret.
    pub recipient: [u8; 32],
    /// Most the buyer agrees to pay; the purchase fails if the price is higher.
    pub max_price: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deliver {
    /// Content id of the Purchase being fulfilled.
    pub purchase_id: ContentId,
    /// Sender's ephemeral X25519 public key.
    pub ephemeral: [u8; 32],
    /// The card sealed to the purchase's recipient key (ChaCha20-Poly1305).
    pub sealed_card: Vec<u8>,
}

/// An enhanced mail system status code, RFC 3463: class.subject.detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DsnStatus {
    pub class: u8,
    pub subject: u16,
    pub detail: u16,
}

impl DsnStatus {
    /// A permanent failure (5.x.x) is the only kind that proves a bad address.
    pub fn is_permanent(&self) -> bool {
        self.class == 5
    }
}

/// The revealed value and salt of a commitment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opening {
    pub value: String,
    pub salt: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceReport {
    /// The reporter's own Purchase of the listing.
    pub purchase_id: ContentId,
    /// [`crate::hash::evidence_hash`] of the raw bounce message.
    pub evidence: Hash32,
    pub status: DsnStatus,
    /// The reporter's org's signature over [`crate::voucher::message`]: the org node
    /// read the bounce message and found it a permanent failure for the address behind
    /// the card's email commitment. The address itself is not on the log: the
    /// reporter showed its opening to its org node only.
    pub voucher: Voucher,
}

/// An org's 64-byte Ed25519 signature vouching for a bounce report (docs/protocol.md,
/// "Report vouchers"). Encoded as 64 bytes with no length, like an array.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Voucher(pub [u8; 64]);

impl std::fmt::Debug for Voucher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Voucher({})",
            Hash32(self.0[..32].try_into().unwrap_or([0; 32])).to_hex()
        )
    }
}

impl Serialize for Voucher {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = s.serialize_tuple(64)?;
        for b in &self.0 {
            t.serialize_element(b)?;
        }
        t.end()
    }
}

impl<'de> Deserialize<'de> for Voucher {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Voucher;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("64 bytes")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Voucher, A::Error> {
                let mut out = [0u8; 64];
                for (i, b) in out.iter_mut().enumerate() {
                    *b = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(Voucher(out))
            }
        }
        d.deserialize_tuple(64, V)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MobileReport {
    pub purchase_id: ContentId,
    /// The reporter's org's signature over [`crate::voucher::mobile_message`]: the
    /// org node was shown the opening of the card's phone commitment and classified
    /// the number a mobile. The number itself is not on the log.
    pub voucher: Voucher,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EmployeeRange {
    From1To10,
    From11To50,
    From51To200,
    From201To1000,
    From1001To5000,
    From5001To10000,
    Over10000,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RevenueRange {
    Under1M,
    From1MTo10M,
    From10MTo50M,
    From50MTo100M,
    From100MTo500M,
    From500MTo1B,
    Over1B,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub company_domain: String,
    pub employees: EmployeeRange,
    pub revenue: RevenueRange,
}

/// Authored by the referred member: names who brought them in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub referrer: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub member: PublicKey,
    pub points: u64,
    pub memo: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub to: PublicKey,
    pub points: u64,
}

/// An org's statement that its node holds the cards of these listings, checked
/// against their commitments: from then on each counts for its contributor's
/// pay-or-play.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// Contribute event ids; sorted ascending, no repeats, at most `MAX_HOLD_LISTINGS`.
    pub listings: Vec<ContentId>,
}

/// The contributor's org disputes a bounce report with its own finding. No effect on
/// balances: auditors are shown both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// Content id of the BounceReport.
    pub report_id: ContentId,
    pub finding: String,
}

/// GDPR erasure: every node drops listings with this dedup key and refuses new ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptOut {
    pub dedup_key: Hash32,
}

/// An org's signed statement of a prefix of the ledger: the events its `heads` reach
/// (through `prev` and `deps`), added to the prefix of the claim it builds on, whose
/// `events_root` is `source` (zero for the first). It states how many events that
/// prefix holds, the Merkle root of their content ids in ledger order and the state
/// root after applying them. `lamport_bound` numbers the claim: every head has a clock
/// at most the bound, and an org signs one claim per bound.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub lamport_bound: u64,
    pub source: Hash32,
    pub event_count: u64,
    pub events_root: Hash32,
    pub state_root: Hash32,
    /// Sorted ascending, no repeats, at most `MAX_CLAIM_HEADS`.
    pub heads: Vec<ContentId>,
}

/// An org's seal: its deps (events of its members, or any event no org event reaches
/// yet) enter the org's line, and from there the next checkpoint's prefix. No effect
/// on the state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {}

/// One org's vote to admit a new org; a quorum of these admits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admit {
    pub org: PublicKey,
    pub name: String,
}

/// One org's vote to evict another org; a quorum of the other orgs evicts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evict {
    pub org: PublicKey,
    pub reason: String,
}

/// One org's vote to replace org key `org` by `to`; a quorum of the orgs rotates it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotate {
    pub org: PublicKey,
    pub to: PublicKey,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    Enroll(Enroll),
    Revoke(Revoke),
    Contribute(Contribute),
    Update(Update),
    Purchase(Purchase),
    Deliver(Deliver),
    BounceReport(BounceReport),
    MobileReport(MobileReport),
    Vote(Vote),
    Referral(Referral),
    Grant(Grant),
    Transfer(Transfer),
    OptOut(OptOut),
    Checkpoint(Checkpoint),
    Admit(Admit),
    Evict(Evict),
    Rotate(Rotate),
    Seal(Seal),
    Hold(Hold),
    Dispute(Dispute),
}

/// Who may author an event of a given kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorRole {
    /// A founding or admitted organisation key.
    Org,
    /// A member key enrolled (and not revoked) by an org.
    Member,
}

impl Payload {
    /// The listing this payload carries, for a Contribute or an Update.
    pub fn listing(&self) -> Option<&Listing> {
        match self {
            Payload::Contribute(c) => Some(&c.listing),
            Payload::Update(u) => Some(&u.listing),
            _ => None,
        }
    }

    /// This payload with its teaser erased, if it carries a shown one.
    pub fn erased(&self) -> Option<Payload> {
        match self {
            Payload::Contribute(c) if !c.listing.teaser.is_erased() => {
                Some(Payload::Contribute(Contribute {
                    listing: c.listing.erased(),
                }))
            }
            Payload::Update(u) if !u.listing.teaser.is_erased() => Some(Payload::Update(Update {
                listing_id: u.listing_id,
                listing: u.listing.erased(),
            })),
            _ => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Enroll(_) => "enroll",
            Payload::Revoke(_) => "revoke",
            Payload::Contribute(_) => "contribute",
            Payload::Update(_) => "update",
            Payload::Purchase(_) => "purchase",
            Payload::Deliver(_) => "deliver",
            Payload::BounceReport(_) => "bounce_report",
            Payload::MobileReport(_) => "mobile_report",
            Payload::Vote(_) => "vote",
            Payload::Referral(_) => "referral",
            Payload::Grant(_) => "grant",
            Payload::Transfer(_) => "transfer",
            Payload::OptOut(_) => "opt_out",
            Payload::Checkpoint(_) => "checkpoint",
            Payload::Admit(_) => "admit",
            Payload::Evict(_) => "evict",
            Payload::Rotate(_) => "rotate",
            Payload::Seal(_) => "seal",
            Payload::Hold(_) => "hold",
            Payload::Dispute(_) => "dispute",
        }
    }

    pub fn author_role(&self) -> AuthorRole {
        match self {
            Payload::Enroll(_)
            | Payload::Revoke(_)
            | Payload::Deliver(_)
            | Payload::Grant(_)
            | Payload::OptOut(_)
            | Payload::Checkpoint(_)
            | Payload::Admit(_)
            | Payload::Evict(_)
            | Payload::Rotate(_)
            | Payload::Seal(_)
            | Payload::Hold(_)
            | Payload::Dispute(_) => AuthorRole::Org,
            Payload::Contribute(_)
            | Payload::Update(_)
            | Payload::Purchase(_)
            | Payload::BounceReport(_)
            | Payload::MobileReport(_)
            | Payload::Vote(_)
            | Payload::Referral(_)
            | Payload::Transfer(_) => AuthorRole::Member,
        }
    }

    /// Content ids the payload names; each must also be among the event's deps, so the
    /// causal order never lets an event be applied before what it refers to.
    pub fn references(&self) -> &[ContentId] {
        use std::slice::from_ref;
        match self {
            Payload::Update(u) => from_ref(&u.listing_id),
            Payload::Purchase(p) => from_ref(&p.listing_id),
            Payload::Deliver(d) => from_ref(&d.purchase_id),
            Payload::BounceReport(b) => from_ref(&b.purchase_id),
            Payload::MobileReport(m) => from_ref(&m.purchase_id),
            Payload::Hold(h) => &h.listings,
            Payload::Dispute(d) => from_ref(&d.report_id),
            _ => &[],
        }
    }

    /// Field rules that need nothing but the payload.
    pub fn check(&self) -> Result<(), EventError> {
        match self {
            Payload::Enroll(e) => check_text("handle", &e.handle, MAX_HANDLE_BYTES, true)?,
            Payload::Revoke(r) => check_text("reason", &r.reason, MAX_MEMO_BYTES, false)?,
            Payload::Contribute(c) => c.listing.check()?,
            Payload::Update(u) => u.listing.check()?,
            Payload::Purchase(_) => {}
            Payload::Deliver(d) => {
                if d.sealed_card.is_empty() || d.sealed_card.len() > MAX_SEALED_CARD_BYTES {
                    return Err(EventError::Field("sealed card is empty or too large"));
                }
            }
            Payload::BounceReport(b) => {
                if !matches!(b.status.class, 2 | 4 | 5)
                    || b.status.subject > 999
                    || b.status.detail > 999
                {
                    return Err(EventError::Field("status is not an RFC 3463 code"));
                }
            }
            Payload::MobileReport(_) => {}
            Payload::Vote(v) => check_domain("company domain", &v.company_domain)?,
            Payload::Referral(_) => {}
            Payload::Grant(g) => {
                check_points(g.points)?;
                check_text("memo", &g.memo, MAX_MEMO_BYTES, false)?;
            }
            Payload::Transfer(t) => check_points(t.points)?,
            Payload::OptOut(_) => {}
            Payload::Checkpoint(c) => {
                if c.heads.len() > MAX_CLAIM_HEADS {
                    return Err(EventError::Field("a checkpoint names too many heads"));
                }
                if c.heads.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(EventError::Field(
                        "checkpoint heads are not sorted ascending without repeats",
                    ));
                }
            }
            Payload::Seal(_) => {}
            Payload::Hold(h) => {
                if h.listings.is_empty() || h.listings.len() > MAX_HOLD_LISTINGS {
                    return Err(EventError::Field("a hold names no listing or too many"));
                }
                if h.listings.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(EventError::Field(
                        "hold listings are not sorted ascending without repeats",
                    ));
                }
            }
            Payload::Dispute(d) => check_text("finding", &d.finding, MAX_MEMO_BYTES, true)?,
            Payload::Admit(a) => check_text("org name", &a.name, MAX_NAME_BYTES, true)?,
            Payload::Evict(e) => check_text("reason", &e.reason, MAX_MEMO_BYTES, false)?,
            Payload::Rotate(r) => {
                if r.org == r.to {
                    return Err(EventError::Field("a key rotated to itself"));
                }
            }
        }
        Ok(())
    }
}

fn check_points(points: u64) -> Result<(), EventError> {
    if points == 0 || points > MAX_POINTS {
        return Err(EventError::Field("points must be between 1 and MAX_POINTS"));
    }
    Ok(())
}

impl Teaser {
    pub fn check(&self) -> Result<(), EventError> {
        check_text("name", &self.name, MAX_NAME_BYTES, true)?;
        check_text("title", &self.title, MAX_NAME_BYTES, true)?;
        check_text("company", &self.company, MAX_NAME_BYTES, true)?;
        check_company_domain("company domain", &self.company_domain)?;
        check_text("city", &self.city, MAX_NAME_BYTES, false)?;
        if !self.availability.email {
            return Err(EventError::Field("a card always has a work email"));
        }
        Ok(())
    }
}

impl Listing {
    /// Checks the teaser where it is shown. An erased teaser was checked by every node
    /// that saw it shown; what is left (a hash) has nothing to check.
    pub fn check(&self) -> Result<(), EventError> {
        let Some(teaser) = self.teaser.shown() else {
            return Ok(());
        };
        teaser.check()?;
        if teaser.availability.phone != self.phone_commitment.is_some() {
            return Err(EventError::Field(
                "phone commitment present exactly when the teaser offers a phone",
            ));
        }
        Ok(())
    }

    /// This listing with its teaser erased: what the content id commits to.
    pub fn erased(&self) -> Listing {
        Listing {
            teaser: TeaserSlot::Erased {
                hash: self.teaser.hash(),
            },
            email_commitment: self.email_commitment,
            phone_commitment: self.phone_commitment,
            dedup_key: self.dedup_key,
        }
    }
}
