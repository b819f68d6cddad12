//! What the node and the member's client share.
//!
//! The documents of the node's HTTP API (docs/api.md) are defined once, here, so the
//! node that writes them and the client that reads them cannot drift apart, and the
//! client does not link the node (libp2p, redb, axum) to read them. With them: the
//! wall clock both sides stamp events with, and the operating-system services both
//! rely on for keys ([`os`]).

pub mod os;
pub mod sealed_key;

use serde::{Deserialize, Serialize};

/// Wall-clock milliseconds since the Unix epoch (0 before it): the only clock of the
/// node and of the member's client, used for the claimed timestamps of the events
/// they sign and of a new genesis.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The body of every error answer: `{"error": {"code", "message", "reason"?}}`. `code` is stable
/// (docs/api.md lists them); `message` is for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    /// The protocol's own code when the refusal is the protocol's (`bad_signature`,
    /// `lamport_too_low`, ...: docs/protocol.md's vector codes); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// What happened to a submitted event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Submitted {
    /// Stored and ordered; `outcome` is what the rules made of it.
    Ordered { id: String, outcome: String },
    /// Stored; waits for these events before it can be ordered.
    Pending { id: String, missing: Vec<String> },
    /// Already known.
    Duplicate { id: String },
}

/// The answer to one event of `POST /v1/events/batch`: what `POST /v1/events` would
/// have answered for it, its status aside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BatchResult {
    Submitted(Submitted),
    Error(ErrorBody),
}

/// The answers to `POST /v1/events/batch`, one per event, in their order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSubmitted {
    pub results: Vec<BatchResult>,
}

/// Filters of a listing search. Every word of every given field must match: case and
/// accents are folded ("lumiere" finds "Lumière"), `text` words may match any field
/// ("paris procurement"), a domain may be written in Unicode or punycode. Results
/// come best first, `limit` at a time from `offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchQuery {
    pub text: Option<String>,
    pub company: Option<String>,
    pub domain: Option<String>,
    pub title: Option<String>,
    pub city: Option<String>,
    pub limit: Option<usize>,
    #[serde(default)]
    pub offset: Option<usize>,
}

/// One page of search results.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchPage {
    pub listings: Vec<ListingView>,
    /// How many listings match in all.
    #[serde(default)]
    pub total: usize,
    /// Where this page starts among them.
    #[serde(default)]
    pub offset: usize,
}

/// A listing as buyers see it: the teaser, never the contact data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingView {
    pub id: String,
    pub name: String,
    pub title: String,
    pub company: String,
    pub company_domain: String,
    pub city: String,
    pub email: bool,
    pub postal: bool,
    pub phone: bool,
    pub status: String,
    pub sales: u64,
    /// The company domain as people write it (IDNA U-labels): `bücher.example` where
    /// `company_domain` says `xn--bcher-kva.example`.
    #[serde(default)]
    pub domain_unicode: String,
    /// When the card was listed, and last changed, in network time (ms).
    #[serde(default)]
    pub listed_ms: u64,
    #[serde(default)]
    pub updated_ms: u64,
    /// What a purchase costs under the network's rules.
    #[serde(default)]
    pub price: u64,
    /// The contributor's org (key, hex) and its name: a member cannot buy a card of
    /// its own org.
    #[serde(default)]
    pub org: String,
    #[serde(default)]
    pub org_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    pub account: String,
    /// Spendable points.
    pub balance: i64,
    pub escrow: i64,
    /// Rewards earned but not vested yet (docs/protocol.md, "Vesting").
    pub pending: i64,
    pub status: String,
    /// Where the account stands with pay-or-play now: whether a purchase would pass
    /// it, and why (docs/protocol.md, "Pay-or-play").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub play: Option<carnet_protocol::ledger::PlayStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovementView {
    pub event: String,
    pub delta: i64,
    pub reason: String,
}

/// A sealed card for a purchase: ciphertext only, the buyer decrypts locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub purchase_id: String,
    pub deliver_event: String,
    pub ephemeral_hex: String,
    pub sealed_card_hex: String,
}

/// One member of this node's org (`GET /v1/admin/members`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberView {
    pub member: String,
    pub handle: String,
    /// `Active`, `Revoked` or `Excluded(<cause>)`.
    pub status: String,
    pub balance: i64,
    pub pending: i64,
    pub contributions: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembersView {
    pub members: Vec<MemberView>,
}

/// What a purchase would do if ordered now (`GET /v1/listings/{id}/quote`): asked
/// before signing, so a purchase the rules refuse is never published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteView {
    pub listing: String,
    pub buyer: String,
    /// The card's price under the network's rules.
    pub price: u64,
    pub max_price: u64,
    /// The buyer's spendable points, if the buyer has an account.
    pub balance: Option<i64>,
    /// The void reason the purchase would get (e.g. `InsufficientBalance`), or none
    /// if it would go through.
    pub refusal: Option<String>,
}

/// Where an author's chain stands, so a client can sign its next event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHeadView {
    pub author: String,
    /// Next seq to use, and the prev to name (None for the first event).
    pub next_seq: u64,
    pub prev: Option<String>,
    /// Lamport clock and timestamp of that prev event: the next must not go below them.
    pub last_lamport: Option<u64>,
    pub last_timestamp_ms: Option<u64>,
    /// Highest Lamport clock the node knows: the next event's clock must exceed it.
    pub clock: u64,
    /// For an author with no event yet: the event that introduces it (its Enroll, or
    /// an Admit of it), which its first event must name among its deps; None if the
    /// node knows none (a founding org needs none).
    #[serde(default)]
    pub introduction: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub org: String,
    pub network: String,
    pub peer_id: String,
    pub listen_addrs: Vec<String>,
    pub events: u64,
    pub pending: u64,
    pub state_root: String,
    pub max_lamport: u64,
    pub finalized_bound: Option<u64>,
    /// Events the last saved ledger snapshot covers: a restart applies only the rest.
    #[serde(default)]
    pub snapshot_events: Option<u64>,
    /// Why the last write to the event store failed, while none has succeeded since
    /// (a full disk): the node refuses writes meanwhile. None when healthy.
    #[serde(default)]
    pub storage_error: Option<String>,
    /// Whether this node holds the network secret (docs/protocol.md, "Network
    /// secret"); until it does it cannot take contributions.
    #[serde(default)]
    pub network_secret: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    pub peer_id: String,
    pub addrs: Vec<String>,
    /// The org key the peer proved it serves (hex); none while it has not.
    #[serde(default)]
    pub org: Option<String>,
}

/// One listing with its commitments (canonical [`carnet_protocol::payload::Listing`]
/// bytes), so a buyer can check a delivered card against what the contributor signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingDetail {
    pub id: String,
    /// The contributor's pseudonym: contributors stay pseudonymous to buyers.
    pub contributor_handle: String,
    pub status: String,
    pub sales: u64,
    /// Whether the contributor's org node said it holds the card (a Hold): it is
    /// what delivers, and only held cards count for pay-or-play.
    pub held: bool,
    pub listing_hex: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseView {
    pub purchase_id: String,
    pub listing_id: String,
    /// Escrowed, Delivered or Refunded.
    pub status: String,
    pub price: u64,
    pub name: String,
    pub company: String,
}

/// The crowd's view of a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyInfo {
    pub domain: String,
    pub votes: u64,
    /// Median ranges (the lower median for an even number of votes).
    pub employees: carnet_protocol::payload::EmployeeRange,
    pub revenue: carnet_protocol::payload::RevenueRange,
    /// How many votes each employee range got, smallest first (ranges with none left
    /// out).
    #[serde(default)]
    pub employee_votes: Vec<(carnet_protocol::payload::EmployeeRange, u64)>,
    /// How many votes each revenue range got, smallest first.
    #[serde(default)]
    pub revenue_votes: Vec<(carnet_protocol::payload::RevenueRange, u64)>,
}

/// An org of the network as the ledger has it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgView {
    pub key: String,
    pub name: String,
    /// A founder (in the genesis) rather than admitted later.
    pub founding: bool,
}

/// A vote in progress among the orgs: an admission, an eviction or a key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteView {
    /// The org the vote is about (for a rotation, its current key).
    pub org: String,
    /// For a rotation: the new key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// Orgs that voted so far, and how many votes complete it today.
    pub votes: usize,
    pub needed: usize,
    pub voters: Vec<String>,
}

/// The orgs of the network and the votes among them still open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgsView {
    pub orgs: Vec<OrgView>,
    /// The settlement quorum, "NUM/DEN": strictly more than that share must agree.
    pub quorum: String,
    pub admissions: Vec<VoteView>,
    pub evictions: Vec<VoteView>,
    pub rotations: Vec<VoteView>,
}
