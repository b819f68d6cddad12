//! The ledger state: what a set of events means.
//!
//! Maps are persistent (imbl), so the ledger can keep cheap snapshots to re-apply
//! from when a late event sorts before ones already applied.

use super::cold::{self, ColdMap};
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::payload::{EmployeeRange, Listing, RevenueRange};
use imbl::{OrdMap, OrdSet, Vector};
use serde::{Deserialize, Serialize};

/// Whether an account may act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    Active,
    /// Revoked by its org: can no longer author events.
    Revoked,
    /// Excluded by the rules (second mobile number, equivocation): no earning, no
    /// spending, listings withdrawn.
    Excluded(ExclusionCause),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExclusionCause {
    MobileNumbers,
    Equivocation,
}

/// Whether an account is an organisation or a member of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountKind {
    Org,
    Member { org: PublicKey },
}

/// Where an account stands with pay-or-play (docs/protocol.md, "Pay-or-play").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayStatus {
    /// Held contributions in the window, counted up to `needed`.
    pub contributions: u32,
    /// `play_min_contributions`.
    pub needed: u32,
    /// Whether a grant falls in the window.
    pub granted: bool,
    /// Whether a purchase passes pay-or-play now.
    pub plays: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub kind: AccountKind,
    pub handle: String,
    pub status: AccountStatus,
    /// Spendable points; penalties can make it negative.
    pub balance: i64,
    /// Points held for purchases awaiting delivery.
    pub escrow: i64,
    /// Rewards earned but not yet vested (docs/protocol.md, "Vesting"): not spendable,
    /// and forfeited if the card bounces or carries a mobile number first.
    pub pending: i64,
    pub mobile_strikes: u32,
    pub contributions: u64,
    /// Claimed times of contributions whose card the org holds, for pay-or-play.
    pub contribution_times: OrdSet<(u64, ContentId)>,
    /// Claimed times of Grants received, for pay-or-play.
    pub grant_times: OrdSet<(u64, ContentId)>,
    pub referrer: Option<PublicKey>,
    /// Points granted in the current grant period: (period number, points).
    pub granted: (u64, u64),
}

impl Account {
    pub(crate) fn new(kind: AccountKind, handle: String) -> Self {
        Account {
            kind,
            handle,
            status: AccountStatus::Active,
            balance: 0,
            escrow: 0,
            pending: 0,
            mobile_strikes: 0,
            contributions: 0,
            contribution_times: OrdSet::new(),
            grant_times: OrdSet::new(),
            referrer: None,
            granted: (0, 0),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == AccountStatus::Active
    }

    pub fn org(&self) -> Option<PublicKey> {
        match self.kind {
            AccountKind::Member { org } => Some(org),
            AccountKind::Org => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListingStatus {
    Active,
    /// A confirmed bounce; buyable again after an Update.
    Bounced,
    /// A confirmed mobile number, or the contributor was excluded.
    Withdrawn,
    /// GDPR erasure of its dedup key.
    OptedOut,
}

/// A listing as most rules and a search read it, kept in memory (one per card:
/// 395,705 at a million events). The rest, which only some events read, is its
/// [`ListingBody`], on disk below memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingState {
    pub contributor: PublicKey,
    /// The hash of the teaser in force: a node keeps the shown teasers of the events
    /// it stores, and finds this one by it.
    pub teaser: Hash32,
    pub status: ListingStatus,
    pub created_ms: u64,
    /// Claimed time of the last event that earned points for this card.
    pub last_reward_ms: u64,
    pub sales: u64,
    /// Whether the contributor's org said it holds the card (a Hold).
    pub held: bool,
}

/// What a listing holds beyond its [`ListingState`]: what a Purchase, an Update, a
/// bounce, a sale's rewards and the state root read. On disk as of the last release
/// ([`State::listing_bodies`], issue 19): two thirds of a listing's memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListingBody {
    /// The listing in force, its teaser always in the erased form (`Erased { hash }`):
    /// no rule reads a teaser, and the state root hashes the erased form.
    pub listing: Listing,
    /// Network times at which rewards of this card are due to vest, ascending (a
    /// card has one or two at most).
    pub vesting: Vec<u64>,
}

/// A reward that waits for its card to vest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reward {
    /// The event that earned it (a Contribute or an Update).
    pub event: ContentId,
    pub account: PublicKey,
    pub points: u64,
    pub reason: MovementReason,
}

/// A bounce report that was applied, kept for disputes and audits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BounceRecord {
    pub listing_id: ContentId,
    /// The contributor's org when the report was applied: who may dispute it.
    pub org: Option<PublicKey>,
    /// Network time when it was applied: a dispute must come within the window.
    pub at_ms: u64,
    /// The disputing org's finding, once disputed.
    pub dispute: Option<ContentId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PurchaseStatus {
    Escrowed,
    Delivered,
    Refunded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseState {
    pub buyer: PublicKey,
    pub listing_id: ContentId,
    pub price: u64,
    pub lamport: u64,
    pub status: PurchaseStatus,
    /// The listing's commitments when bought: reports are checked against these.
    pub email_commitment: Hash32,
    pub phone_commitment: Option<Hash32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgState {
    pub name: String,
    pub founding: bool,
}

/// Why a point balance moved: every movement names the event that caused it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MovementReason {
    ContributeReward,
    UpdateReward,
    PurchaseEscrow,
    SaleProceeds,
    Commission,
    Refund,
    BounceBounty,
    BouncePenalty,
    MobilePenalty,
    ReferralBonus,
    Grant,
    TransferOut,
    TransferIn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Movement {
    pub event: ContentId,
    pub account: PublicKey,
    pub delta: i64,
    pub reason: MovementReason,
}

/// A [`Movement`] as the state keeps it, in its account's list: the account is the
/// list's key. The tail holds one or two for each unfinalized event, and imbl copies
/// an account's last chunk of 64 whole after each fine snapshot: 48 bytes against 80
/// (issue 19: 1,474 against 1,511 MiB with 900,000 events unfinalized).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    pub event: ContentId,
    pub delta: i64,
    pub reason: MovementReason,
}

impl Moved {
    /// The movement with its account named again.
    pub fn of(&self, account: PublicKey) -> Movement {
        Movement {
            event: self.event,
            account,
            delta: self.delta,
            reason: self.reason,
        }
    }
}

impl From<Movement> for Moved {
    fn from(m: Movement) -> Moved {
        Moved {
            event: m.event,
            delta: m.delta,
            reason: m.reason,
        }
    }
}

/// The state's movements saved as they were before [`Moved`]: each account's list of
/// whole [`Movement`]s, so a saved snapshot reads the same either way.
mod saved_movements {
    use super::{Moved, Movement};
    use crate::keys::PublicKey;
    use imbl::{OrdMap, Vector};
    use serde::ser::SerializeSeq;
    use serde::{de::Error, Deserializer, Serialize, Serializer};

    struct Listed<'a>(PublicKey, &'a Vector<Moved>);

    impl Serialize for Listed<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(self.1.len()))?;
            for m in self.1 {
                seq.serialize_element(&m.of(self.0))?;
            }
            seq.end()
        }
    }

    pub fn save<S: Serializer>(
        map: &OrdMap<PublicKey, Vector<Moved>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(map.iter().map(|(k, list)| (k, Listed(*k, list))))
    }

    /// A movement saved under another account than its own is refused: the file is
    /// not what this code wrote.
    pub fn load<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<OrdMap<PublicKey, Vector<Moved>>, D::Error> {
        let saved: OrdMap<PublicKey, Vector<Movement>> = super::super::packed::map(d)?;
        let mut out = OrdMap::new();
        for (account, list) in saved {
            if list.iter().any(|m| m.account != account) {
                return Err(D::Error::custom("a movement saved under another account"));
            }
            out.insert(account, list.into_iter().map(Moved::from).collect());
        }
        Ok(out)
    }
}

/// A company's crowd-sourced size and revenue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyVote {
    pub employees: EmployeeRange,
    pub revenue: RevenueRange,
}

/// What a checkpoint claims (its payload but the heads, which only say how to find the
/// prefix): orgs that sign equal claims agree on the prefix and its state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CheckpointClaim {
    pub lamport_bound: u64,
    /// `events_root` of the claim this one builds on; zero for the first.
    pub source: Hash32,
    pub event_count: u64,
    pub events_root: Hash32,
    pub state_root: Hash32,
}

impl From<&crate::payload::Checkpoint> for CheckpointClaim {
    fn from(c: &crate::payload::Checkpoint) -> Self {
        CheckpointClaim {
            lamport_bound: c.lamport_bound,
            source: c.source,
            event_count: c.event_count,
            events_root: c.events_root,
            state_root: c.state_root,
        }
    }
}

impl CheckpointClaim {
    /// The Checkpoint payload an org signs for this claim, naming `heads`.
    pub fn payload(self, heads: Vec<ContentId>) -> crate::payload::Checkpoint {
        crate::payload::Checkpoint {
            lamport_bound: self.lamport_bound,
            source: self.source,
            event_count: self.event_count,
            events_root: self.events_root,
            state_root: self.state_root,
            heads,
        }
    }
}

/// What happened to one event when applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    Applied,
    /// Valid and stored, but the rules gave it no effect.
    Void(VoidReason),
}

/// Why a valid event had no effect. Deterministic: every node gives the same reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VoidReason {
    AuthorNotOrg,
    AuthorNotActiveMember,
    AuthorEquivocated,
    NotTheMembersOrg,
    AlreadyEnrolled,
    AlreadyOrg,
    DuplicateCard,
    OptedOut,
    UnknownListing,
    NotContributor,
    ListingNotBuyable,
    OwnCard,
    SameOrg,
    AlreadyHeld,
    PriceAboveMax,
    InsufficientBalance,
    PayOrPlay,
    UnknownPurchase,
    NotHolder,
    NotEscrowed,
    NotBuyer,
    NotDelivered,
    AlreadyReported,
    TemporaryFailure,
    OpeningMismatch,
    NotMobile,
    AlreadyReferred,
    BadReferrer,
    UnknownAccount,
    SelfTransfer,
    BoundNotBelowClock,
    AlreadySigned,
    AlreadyVoted,
    /// A BounceReport without a valid voucher of the reporter's org.
    BadVoucher,
    /// A Grant above the subscription cap of its period.
    GrantAboveCap,
    /// A Hold none of whose listings could be held.
    NothingHeld,
    /// A Dispute of no applied bounce report, by another org than the contributor's,
    /// after the window, or a second one.
    CannotDispute,
    /// An Evict of a key that is not an org.
    NotAnOrg,
    /// An org voting to evict itself.
    SelfEviction,
}

/// The whole derived state. Equal event sets give equal states.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(deserialize_with = "super::packed::map")]
    pub accounts: OrdMap<PublicKey, Account>,
    #[serde(deserialize_with = "super::packed::map")]
    pub orgs: OrdMap<PublicKey, OrgState>,
    /// Orgs that voted to admit a candidate org.
    #[serde(deserialize_with = "super::packed::map")]
    pub admit_votes: OrdMap<PublicKey, OrdSet<PublicKey>>,
    /// Orgs that voted to evict an org.
    #[serde(deserialize_with = "super::packed::map")]
    pub evict_votes: OrdMap<PublicKey, OrdSet<PublicKey>>,
    /// Orgs that voted to rotate org key `.0` to `.1`.
    #[serde(deserialize_with = "super::packed::map")]
    pub rotate_votes: OrdMap<(PublicKey, PublicKey), OrdSet<PublicKey>>,
    /// Inline, not behind an `Arc` as when a listing held its teaser: a snapshot
    /// shares the map's nodes, and the first write after it copies a node of 64
    /// entries (8 KiB now, 38 KiB then: 660 MiB of snapshots for a fold of 300k
    /// events), while an `Arc` costs 40 bytes a listing.
    #[serde(deserialize_with = "super::packed::map")]
    pub listings: OrdMap<ContentId, ListingState>,
    /// The rest of each listing: on disk as of the last release (see `cold.rs`).
    pub listing_bodies: ColdMap<ContentId, ListingBody, { cold::LISTINGS }>,
    /// The listing that holds each dedup key (first in ledger order). On disk as of
    /// the last release (see `cold.rs`), as are `holdings` and `unsold`.
    pub dedup: ColdMap<Hash32, ContentId, { cold::DEDUP }>,
    #[serde(deserialize_with = "super::packed::set")]
    pub opted_out: OrdSet<Hash32>,
    /// On disk as of the last release, as `dedup` is; the state root covers it (see
    /// `cold.rs` and `root.rs`).
    pub purchases: ColdMap<ContentId, PurchaseState, { cold::PURCHASES }>,
    /// (buyer, listing) → purchase: who owns which card.
    pub holdings: ColdMap<(PublicKey, ContentId), ContentId, { cold::HOLDINGS }>,
    /// Escrowed purchases by Lamport clock, for refunds at settlement.
    #[serde(deserialize_with = "super::packed::set")]
    pub escrowed: OrdSet<(u64, ContentId)>,
    /// Purchases applied since the last settlement: they wait for the next one, so
    /// that every purchase has at least one whole epoch to be delivered.
    #[serde(deserialize_with = "super::packed::set")]
    pub fresh: OrdSet<ContentId>,
    #[serde(deserialize_with = "super::packed::map")]
    pub votes: OrdMap<(String, PublicKey), CompanyVote>,
    /// (listing, email commitment) pairs with a confirmed bounce.
    #[serde(deserialize_with = "super::packed::set")]
    pub bounced: OrdSet<(ContentId, Hash32)>,
    /// (listing, phone commitment) pairs with a confirmed mobile number.
    #[serde(deserialize_with = "super::packed::set")]
    pub mobile_reported: OrdSet<(ContentId, Hash32)>,
    /// (org, bound) pairs already signed: an org makes one claim per bound.
    #[serde(deserialize_with = "super::packed::set")]
    pub signed_bounds: OrdSet<(PublicKey, u64)>,
    /// Each author's next seq in ledger order: an event below it is the second of two
    /// at one seq (an equivocation).
    #[serde(deserialize_with = "super::packed::map")]
    pub next_seq: OrdMap<PublicKey, u64>,
    /// Authors that equivocated: every event of theirs applied after the second twin
    /// is void.
    #[serde(deserialize_with = "super::packed::set")]
    pub equivocated: OrdSet<PublicKey>,
    /// Purchases void because their author equivocated, by id: (buyer, listing,
    /// max_price). A Deliver of one still makes the buyer pay (docs/protocol.md,
    /// "Equivocation").
    #[serde(deserialize_with = "super::packed::map")]
    pub forked_purchases: OrdMap<ContentId, (PublicKey, ContentId, u64)>,
    /// Each current org's highest event timestamp.
    #[serde(deserialize_with = "super::packed::map")]
    pub org_clocks: OrdMap<PublicKey, u64>,
    /// Network time: the highest time a quorum of the orgs has reached (docs/protocol.md,
    /// "Network time"). Never goes back.
    pub now_ms: u64,
    /// Rewards of cards with no delivered sale since they were earned.
    pub unsold: ColdMap<ContentId, Vec<Reward>, { cold::UNSOLD }>,
    /// Rewards due to vest at a network time, by (time, listing): on disk as of the
    /// last release (see `cold.rs`), their keys in `vesting_due`.
    pub vesting: ColdMap<(u64, ContentId), Vec<Reward>, { cold::VESTING }>,
    /// The keys of `vesting`, in memory: vesting takes the earliest due first, which a
    /// map on disk cannot say (an entry here is a fifth of one with its rewards).
    #[serde(deserialize_with = "super::packed::set")]
    pub vesting_due: OrdSet<(u64, ContentId)>,
    /// Applied bounce reports by event id.
    #[serde(deserialize_with = "super::packed::map")]
    pub bounce_reports: OrdMap<ContentId, BounceRecord>,
    /// Latest finalized claim.
    pub finalized: Option<CheckpointClaim>,
    /// Every claim finalized so far (the greatest is `finalized`): auditors are sent
    /// the earliest one that covers an event. Not part of the state root.
    #[serde(deserialize_with = "super::packed::set")]
    pub finalized_claims: OrdSet<CheckpointClaim>,
    /// Events the rules made void, with the reason; every other ordered event applied.
    /// (Only voids are kept: most events apply, and a map entry per event would cost
    /// more than the rest of applying it.)
    #[serde(deserialize_with = "super::packed::map")]
    pub voids: OrdMap<ContentId, VoidReason>,
    /// Each account's movements since the last finalized epoch, in ledger order (the
    /// ledger hands the finalized ones to its archive: see
    /// [`super::Ledger::history`]). Kept by account: a history is asked of one
    /// account.
    #[serde(
        serialize_with = "saved_movements::save",
        deserialize_with = "saved_movements::load"
    )]
    pub movements: OrdMap<PublicKey, Vector<Moved>>,
    pub applied: u64,
    /// Lamport clock of the last applied event.
    pub last_lamport: u64,
    /// Merkle frontier over the ids applied so far, in ledger order.
    pub frontier: super::frontier::EventsFrontier,
    /// The state tree as of the last [`State::root`]: not saved, rebuilt whole after a
    /// decode.
    #[serde(skip)]
    pub(super) tree: Option<std::sync::Arc<super::root::Committed>>,
}

/// The crowd's view of a company: median ranges and the number of votes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyView {
    pub votes: usize,
    pub employees: EmployeeRange,
    pub revenue: RevenueRange,
    /// How many votes each employee range got, smallest range first (ranges with none
    /// left out): what a chart of the crowd's votes draws.
    pub employee_votes: Vec<(EmployeeRange, usize)>,
    /// The same for revenue ranges.
    pub revenue_votes: Vec<(RevenueRange, usize)>,
}

/// (range, count) of each distinct range in `sorted`, in order.
fn counts<T: Copy + PartialEq>(sorted: &[T]) -> Vec<(T, usize)> {
    let mut out: Vec<(T, usize)> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some((last, n)) if last == r => *n += 1,
            _ => out.push((*r, 1)),
        }
    }
    out
}

impl State {
    /// Median of the votes for `domain` (the lower median for an even count).
    pub fn company(&self, domain: &str) -> Option<CompanyView> {
        let lo = (domain.to_owned(), PublicKey([0; 32]));
        let hi = (domain.to_owned(), PublicKey([0xff; 32]));
        let mut emp = Vec::new();
        let mut rev = Vec::new();
        for (_, v) in self.votes.range(lo..=hi) {
            emp.push(v.employees);
            rev.push(v.revenue);
        }
        if emp.is_empty() {
            return None;
        }
        emp.sort();
        rev.sort();
        let mid = (emp.len() - 1) / 2;
        Some(CompanyView {
            votes: emp.len(),
            employees: emp[mid],
            revenue: rev[mid],
            employee_votes: counts(&emp),
            revenue_votes: counts(&rev),
        })
    }

    /// The outcome of an event that has been applied (an ordered event).
    pub fn outcome(&self, id: &ContentId) -> Outcome {
        self.voids
            .get(id)
            .map_or(Outcome::Applied, |r| Outcome::Void(*r))
    }

    pub fn balance(&self, key: &PublicKey) -> Option<i64> {
        self.accounts.get(key).map(|a| a.balance)
    }

    /// The point movements of one account this state holds (those since the last
    /// finalized epoch, in a ledger's state), in ledger order.
    pub fn history(&self, key: &PublicKey) -> Vec<Movement> {
        self.movements
            .get(key)
            .map(|m| m.iter().map(|m| m.of(*key)).collect())
            .unwrap_or_default()
    }

    /// Records a movement of its account's balance.
    pub(super) fn record(&mut self, m: Movement) {
        self.movements
            .entry(m.account)
            .or_default()
            .push_back(Moved::from(m));
    }

    /// Listings a buyer can currently buy.
    pub fn buyable(&self, id: &ContentId) -> bool {
        self.listings
            .get(id)
            .is_some_and(|l| l.status == ListingStatus::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: an account's list names its account once, not in every movement.
    #[test]
    fn a_movement_in_the_state_stays_small() {
        let size = std::mem::size_of::<Moved>();
        assert!(size <= 48, "Moved is {size} bytes");
    }

    fn movements() -> OrdMap<PublicKey, Vector<Movement>> {
        let mut map = OrdMap::new();
        for a in 1..4u8 {
            let account = PublicKey([a; 32]);
            let list: Vector<Movement> = (0..70u8)
                .map(|i| Movement {
                    event: Hash32([i; 32]),
                    account,
                    delta: i64::from(i) - i64::from(a) * 20,
                    reason: MovementReason::SaleProceeds,
                })
                .collect();
            map.insert(account, list);
        }
        map
    }

    #[derive(Serialize, Deserialize)]
    struct Saved(
        #[serde(
            serialize_with = "saved_movements::save",
            deserialize_with = "saved_movements::load"
        )]
        OrdMap<PublicKey, Vector<Moved>>,
    );

    /// A snapshot saved before the state kept [`Moved`] reads the same, and one saved
    /// now is byte for byte what the older code wrote.
    #[test]
    fn movements_are_saved_as_before() {
        let whole = movements();
        let kept: OrdMap<PublicKey, Vector<Moved>> = whole
            .iter()
            .map(|(k, l)| {
                (
                    *k,
                    l.iter().cloned().map(Moved::from).collect::<Vector<_>>(),
                )
            })
            .collect();
        let before = postcard::to_allocvec(&whole).expect("encodes");
        let now = postcard::to_allocvec(&Saved(kept.clone())).expect("encodes");
        assert_eq!(before, now);
        let read: Saved = postcard::from_bytes(&before).expect("decodes");
        assert_eq!(read.0, kept);
        let mut state = State::default();
        for m in whole.values().flatten() {
            state.record(m.clone());
        }
        assert_eq!(state.movements, kept);
        for (account, list) in &whole {
            assert_eq!(
                state.history(account),
                list.iter().cloned().collect::<Vec<_>>()
            );
        }
    }

    /// A movement filed under another account than its own is not taken for that
    /// account's: the file is refused.
    #[test]
    fn a_movement_saved_under_another_account_is_refused() {
        let mut whole = movements();
        let (first, mut list) = whole.get_min().map(|(k, l)| (*k, l.clone())).expect("one");
        list[3].account = PublicKey([9; 32]);
        whole.insert(first, list);
        let bytes = postcard::to_allocvec(&whole).expect("encodes");
        assert!(postcard::from_bytes::<Saved>(&bytes).is_err());
    }

    /// Issue 19: a listing's state in memory is most of the node's memory at scale
    /// (one per card, 395,705 at a million events): what few events read is in its
    /// body, on disk. The body's listing holds the teaser erased, and a shown teaser
    /// is boxed, so the slot costs 40 bytes rather than 160.
    #[test]
    fn a_listing_in_the_state_stays_small() {
        assert!(std::mem::size_of::<crate::payload::TeaserSlot>() <= 40);
        let size = std::mem::size_of::<ListingState>();
        assert!(size <= 96, "ListingState is {size} bytes");
    }
}
