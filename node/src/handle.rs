//! The handle the rest of the program uses to talk to the node's event loop.
//!
//! One task owns the swarm, the ledger and the store (see `event_loop`); everything
//! else sends it a [`Command`] over a channel and awaits the reply on a oneshot. No
//! shared locks around the ledger: the loop is the only writer, so the order in which
//! events are ingested is simply the order of the channel.

use crate::store::StoreError;
use carnet_api::{
    BalanceView, ChainHeadView, CompanyInfo, DeliveryView, ListingDetail, MovementView, NodeStatus,
    PeerView, PurchaseView, SearchQuery, Submitted,
};
use carnet_protocol::card::CardError;
use carnet_protocol::ledger::LedgerError;
use carnet_protocol::{ContentId, EventError, PublicKey};
use thiserror::Error;
use tokio::sync::{mpsc, oneshot};

/// Why an event was not accepted. Every variant leaves the node unchanged, and says
/// what the caller can do about it.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// The bytes are not a valid event (decoding, structure, signature). Sending them
    /// again fails the same way: whatever signed them must be fixed.
    #[error("invalid event: {0}")]
    Invalid(#[from] EventError),
    /// A valid event this call does not take (a contribution that is neither a
    /// Contribute nor an Update, a purchase id that names no purchase): send it where
    /// it belongs.
    #[error("{0}")]
    WrongKind(String),
    /// The ledger cannot order the event (its chain link, its clock, an author with no
    /// role): read the author's chain head again and sign a new event on top of it.
    #[error("rejected by the ledger: {0}")]
    Rejected(#[from] LedgerError),
    /// A contributed card that does not open its listing's commitments: build the
    /// listing from the card again.
    #[error("the card does not match its listing: {0}")]
    Card(#[from] CardError),
    /// A contribution of an address already listed (by anyone): refused before it is
    /// signed into the ledger, where it would only be void. Nothing to retry.
    #[error("this email is already listed (listing {0})")]
    DuplicateCard(ContentId),
    /// A contribution of an address whose owner opted out (GDPR erasure). Nothing to
    /// retry.
    #[error("this person opted out; their email cannot be listed")]
    OptedOut,
    /// A contribution from someone this org does not hold cards for: contribute
    /// through one's own org's node, as an active member.
    #[error("{member} is not an active member of this org ({why})")]
    NotMember { member: PublicKey, why: String },
    /// A contribution to a node that cannot check dedup keys yet: retry once it has
    /// met another org's node.
    #[error("this node has not received the network secret from another org's node yet, so it cannot check the card's dedup key; try again once it has peers")]
    NoNetworkSecret,
    /// The operating system gave no randomness: the node cannot seal or salt. Retry
    /// later; the operator should look at the machine.
    #[error("no randomness from the operating system: {0}")]
    NoRandomness(String),
    /// A write failed (a full disk): nothing was stored. Retry once the operator has
    /// made room; the node probes the store and takes writes again by itself.
    #[error("storage failed: {0}")]
    Storage(String),
    /// The node is stopping: retry against it once it is back.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// The author's chain already holds another event at this position, signed
    /// elsewhere with the same key (the web app, or another copy of the key file):
    /// taking this one would be an equivocation, which excludes the member. Nothing
    /// was stored or sent; sign again on top of the chain's head.
    #[error("your chain moved: this node already holds event {held} at position {seq} of your chain (signed elsewhere with your key, e.g. in the web app), so this one was not taken; run the command again")]
    ChainMoved { seq: u64, held: ContentId },
    /// The web app signs for a member only on top of a known chain head, and one of
    /// the member's events still waits for its past.
    #[error("one of your events is waiting for events this node has not received yet; try again once it is in the ledger")]
    ChainPending,
}

impl IngestError {
    /// Stable code: the API's error code and the metrics' reject reason.
    pub fn code(&self) -> &'static str {
        match self {
            IngestError::Invalid(_) | IngestError::WrongKind(_) => "invalid",
            IngestError::Rejected(_) => "rejected",
            IngestError::Card(_) => "card_mismatch",
            IngestError::NotMember { .. } => "not_member",
            IngestError::DuplicateCard(_) => "duplicate_card",
            IngestError::OptedOut => "opted_out",
            IngestError::NoNetworkSecret => "no_network_secret",
            IngestError::NoRandomness(_) => "no_randomness",
            IngestError::Storage(_) => "storage",
            IngestError::ShuttingDown => "shutting_down",
            IngestError::ChainMoved { .. } => "chain_moved",
            IngestError::ChainPending => "chain_pending",
        }
    }

    /// The protocol's own code for what was wrong, where it has one: the code of
    /// docs/protocol.md's vectors (`bad_signature`, `lamport_too_low`, ...).
    pub fn reason(&self) -> Option<&'static str> {
        match self {
            IngestError::Invalid(e) => Some(e.code()),
            IngestError::Rejected(e) => Some(e.code()),
            _ => None,
        }
    }
}

/// Why the node cannot answer an audit request, or keep a piece of evidence.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuditRefusal {
    /// The ledger's verdict: no such event, not a penalty, a void penalty, not settled
    /// yet (ask again after the next checkpoint), no such checkpoint.
    #[error(transparent)]
    Audit(#[from] carnet_protocol::ledger::audit::AuditError),
    /// The bounce message is not on this node: ask the reporter's org node.
    #[error("this node does not hold the bounce message with evidence {0} (only the reporter's org node does)")]
    NoMessage(carnet_protocol::Hash32),
    /// No opening of the reported commitment here: ask the reporter's org node, or the
    /// contributor's while it holds the card.
    #[error("this node holds no opening for report {0} (only the reporter's org node, which was shown it, or the contributor's, while it holds the card)")]
    NoOpening(ContentId),
    /// Evidence over the size limit: send the message as received, without
    /// attachments.
    #[error("{0}")]
    EvidenceTooLarge(String),
    /// A read or write failed: retry once the operator has looked at the store.
    #[error("storage failed: {0}")]
    Storage(String),
    /// Another bundle or checkpoint file is being built: ask again in a few seconds.
    #[error("another audit is being built on this node; ask again in a few seconds")]
    Busy,
    /// The node stopped while building it.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl AuditRefusal {
    /// Stable code (docs/api.md).
    pub fn code(&self) -> &'static str {
        use carnet_protocol::ledger::audit::AuditError as E;
        match self {
            AuditRefusal::Audit(e) => match e {
                E::UnknownEvent(_) => "not_found",
                E::NotAPenalty(..) => "not_a_penalty",
                E::Void(..) => "void_penalty",
                E::NotSettled(_) => "not_settled",
                E::NoCheckpoint(_) => "no_checkpoint",
                E::Missing(_) | E::Inconsistent(_) => "audit_failed",
            },
            AuditRefusal::NoMessage(_) => "no_message",
            AuditRefusal::NoOpening(_) => "no_opening",
            AuditRefusal::EvidenceTooLarge(_) => "evidence_too_large",
            AuditRefusal::Storage(_) => "storage",
            AuditRefusal::Busy => "audit_busy",
            AuditRefusal::ShuttingDown => "shutting_down",
        }
    }
}

/// Requests to the event loop, each with its reply channel.
#[derive(Debug)]
pub enum Command {
    Submit {
        bytes: Vec<u8>,
        reply: oneshot::Sender<Result<Submitted, IngestError>>,
    },
    /// Several events in one submission, answered together in their order: they share
    /// one store commit, as queued submissions do.
    SubmitMany {
        events: Vec<Vec<u8>>,
        reply: oneshot::Sender<Vec<Result<Submitted, IngestError>>>,
    },
    /// Sign `payload` with the org key and ingest it (admin calls).
    SubmitAsOrg {
        payload: carnet_protocol::Payload,
        reply: oneshot::Sender<Result<Submitted, IngestError>>,
    },
    /// A member's Contribute or Update with the card behind it (see `holder`).
    Contribute {
        bytes: Vec<u8>,
        card: carnet_protocol::card::Card,
        reply: oneshot::Sender<Result<Submitted, IngestError>>,
    },
    /// Sign `payload` for a member signed in to the web app, with the key their
    /// password opened, and ingest it (with `card`, for a contribution).
    SignAsMember {
        key: Box<carnet_protocol::SecretKey>,
        payload: carnet_protocol::Payload,
        card: Option<Box<carnet_protocol::card::Card>>,
        reply: oneshot::Sender<Result<(ContentId, Submitted), IngestError>>,
    },
    Listing {
        id: ContentId,
        reply: oneshot::Sender<Result<Option<ListingDetail>, StoreError>>,
    },
    Purchases {
        buyer: PublicKey,
        reply: oneshot::Sender<Result<Vec<PurchaseView>, StoreError>>,
    },
    Company {
        domain: String,
        reply: oneshot::Sender<Option<CompanyInfo>>,
    },
    /// A member's own vote on a company.
    VoteOf {
        domain: String,
        member: PublicKey,
        reply: oneshot::Sender<Option<carnet_protocol::ledger::CompanyVote>>,
    },
    Search {
        query: SearchQuery,
        reply: oneshot::Sender<Result<carnet_api::SearchPage, StoreError>>,
    },
    Balance {
        account: PublicKey,
        reply: oneshot::Sender<Option<BalanceView>>,
    },
    History {
        account: PublicKey,
        reply: oneshot::Sender<Result<Vec<MovementView>, StoreError>>,
    },
    Delivery {
        purchase: ContentId,
        reply: oneshot::Sender<Result<Option<DeliveryView>, StoreError>>,
    },
    ChainHead {
        author: PublicKey,
        reply: oneshot::Sender<Result<ChainHeadView, StoreError>>,
    },
    /// Ordered events whose id starts with a hex prefix (at most a few).
    IdsWithPrefix {
        prefix: String,
        reply: oneshot::Sender<Result<Vec<ContentId>, StoreError>>,
    },
    /// This org's members.
    Members {
        reply: oneshot::Sender<Vec<carnet_api::MemberView>>,
    },
    Quote {
        buyer: PublicKey,
        listing: ContentId,
        max_price: u64,
        reply: oneshot::Sender<carnet_api::QuoteView>,
    },
    /// The wire bytes of one stored event.
    Event {
        id: ContentId,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, StoreError>>,
    },
    Status {
        reply: oneshot::Sender<NodeStatus>,
    },
    /// The last finalized claims, oldest first (the operator's settlement chart).
    Settlement {
        limit: usize,
        reply: oneshot::Sender<Result<Vec<crate::engine::Settled>, StoreError>>,
    },
    /// A member's dedup-key request (see [`crate::dedup`]). A zero `network` stands
    /// for this node's: the API takes the network from the member only when it names
    /// one.
    DedupKey {
        request: carnet_protocol::dedup::DedupRequest,
        signature: [u8; 64],
        reply: oneshot::Sender<Result<carnet_protocol::Hash32, crate::dedup::DedupError>>,
    },
    /// A member's sealed key for the web app (docs/web.md, "Keys").
    PutSealedKey {
        upload: carnet_api::sealed_key::SealedKeyUpload,
        reply: oneshot::Sender<Result<PublicKey, crate::web::keys::WebKeyError>>,
    },
    /// The sealed key a member of this org uploaded, if any.
    SealedKey {
        member: PublicKey,
        reply: oneshot::Sender<Option<crate::store::web::StoredSealedKey>>,
    },
    /// The dedup key of an email, for the org's own use (an opt-out).
    OrgDedupKey {
        email: String,
        reply: oneshot::Sender<Result<carnet_protocol::Hash32, crate::dedup::DedupError>>,
    },
    /// The ledger checks of a voucher request, before its message is read.
    VouchPrecheck {
        reporter: PublicKey,
        purchase_id: ContentId,
        opening: carnet_protocol::payload::Opening,
        reply: oneshot::Sender<Result<carnet_protocol::Hash32, crate::vouch::VouchError>>,
    },
    /// Check a mobile report's opening against the ledger and the phone metadata,
    /// keep it and sign a mobile voucher.
    VouchMobile {
        reporter: PublicKey,
        purchase_id: ContentId,
        opening: carnet_protocol::payload::Opening,
        reply: oneshot::Sender<Result<carnet_protocol::payload::Voucher, crate::vouch::VouchError>>,
    },
    /// Check a bounce report against the ledger, keep its message and sign a voucher.
    Vouch {
        req: crate::vouch::VouchRequest,
        reply: oneshot::Sender<Result<crate::vouch::Vouched, crate::vouch::VouchError>>,
    },
    /// Keep a piece of evidence (a bounce message); replies with its evidence hash.
    PutEvidence {
        raw: Vec<u8>,
        reply: oneshot::Sender<Result<carnet_protocol::Hash32, AuditRefusal>>,
    },
    /// The audit bundle of a penalty event, with the bounce message if asked for.
    AuditBundle {
        event: ContentId,
        include_message: bool,
        include_opening: bool,
        reply: oneshot::Sender<Result<carnet_protocol::ledger::audit::Bundle, AuditRefusal>>,
    },
    /// A finalized checkpoint (at `bound`, or the latest), with a consistency proof
    /// from the finalized checkpoint at `since` if given.
    AuditCheckpoint {
        bound: Option<u64>,
        since: Option<u64>,
        reply:
            oneshot::Sender<Result<carnet_protocol::ledger::audit::CheckpointFile, AuditRefusal>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<PeerView>>,
    },
    /// The orgs and the open votes among them.
    Orgs {
        reply: oneshot::Sender<carnet_api::OrgsView>,
    },
}

/// Cheap to clone; every clone talks to the same event loop.
#[derive(Debug, Clone)]
pub struct NodeHandle {
    tx: mpsc::Sender<Command>,
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("the node is shutting down")]
pub struct Closed;

impl NodeHandle {
    pub fn new(tx: mpsc::Sender<Command>) -> Self {
        NodeHandle { tx }
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Closed> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).await.map_err(|_| Closed)?;
        rx.await.map_err(|_| Closed)
    }

    pub async fn submit(&self, bytes: Vec<u8>) -> Result<Submitted, IngestError> {
        self.ask(|reply| Command::Submit { bytes, reply })
            .await
            .unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// Submits `events` at once, each answered as [`NodeHandle::submit`] answers it,
    /// in their order. They are ingested as if submitted one after the other (an event
    /// may build on one before it) and share one durable commit, which is what a
    /// submission costs on most disks: a submitter with many events gets them in
    /// many times faster this way than one by one (docs/benchmarks.md).
    pub async fn submit_many(&self, events: Vec<Vec<u8>>) -> Vec<Result<Submitted, IngestError>> {
        if events.is_empty() {
            return Vec::new();
        }
        let n = events.len();
        self.ask(|reply| Command::SubmitMany { events, reply })
            .await
            .unwrap_or_else(|_| vec![Err(IngestError::ShuttingDown); n])
    }

    pub async fn submit_as_org(
        &self,
        payload: carnet_protocol::Payload,
    ) -> Result<Submitted, IngestError> {
        self.ask(|reply| Command::SubmitAsOrg { payload, reply })
            .await
            .unwrap_or(Err(IngestError::ShuttingDown))
    }

    pub async fn contribute(
        &self,
        bytes: Vec<u8>,
        card: carnet_protocol::card::Card,
    ) -> Result<Submitted, IngestError> {
        self.ask(|reply| Command::Contribute { bytes, card, reply })
            .await
            .unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// Signs `payload` as the member `key` opens (see `web::signer`) and ingests it.
    pub async fn sign_as_member(
        &self,
        key: carnet_protocol::SecretKey,
        payload: carnet_protocol::Payload,
        card: Option<carnet_protocol::card::Card>,
    ) -> Result<(ContentId, Submitted), IngestError> {
        let key = Box::new(key);
        let card = card.map(Box::new);
        self.ask(|reply| Command::SignAsMember {
            key,
            payload,
            card,
            reply,
        })
        .await
        .unwrap_or(Err(IngestError::ShuttingDown))
    }

    /// A listing with the teaser in force (read from the store: a store that cannot
    /// be read is an error, not a listing without its teaser).
    pub async fn listing(
        &self,
        id: ContentId,
    ) -> Result<Result<Option<ListingDetail>, StoreError>, Closed> {
        self.ask(|reply| Command::Listing { id, reply }).await
    }

    pub async fn purchases(
        &self,
        buyer: PublicKey,
    ) -> Result<Result<Vec<PurchaseView>, StoreError>, Closed> {
        self.ask(|reply| Command::Purchases { buyer, reply }).await
    }

    pub async fn company(&self, domain: String) -> Result<Option<CompanyInfo>, Closed> {
        self.ask(|reply| Command::Company { domain, reply }).await
    }

    pub async fn vote_of(
        &self,
        domain: String,
        member: PublicKey,
    ) -> Result<Option<carnet_protocol::ledger::CompanyVote>, Closed> {
        self.ask(|reply| Command::VoteOf {
            domain,
            member,
            reply,
        })
        .await
    }

    /// Matching listings; the teasers are the store's, so a store that cannot be read
    /// is an error.
    pub async fn search(
        &self,
        query: SearchQuery,
    ) -> Result<Result<carnet_api::SearchPage, StoreError>, Closed> {
        self.ask(|reply| Command::Search { query, reply }).await
    }

    pub async fn balance(&self, account: PublicKey) -> Result<Option<BalanceView>, Closed> {
        self.ask(|reply| Command::Balance { account, reply }).await
    }

    /// An account's movements; a store that cannot be read is an error, not a
    /// shorter history.
    pub async fn history(
        &self,
        account: PublicKey,
    ) -> Result<Result<Vec<MovementView>, StoreError>, Closed> {
        self.ask(|reply| Command::History { account, reply }).await
    }

    /// The Deliver of a purchase; a store that cannot be read is an error.
    pub async fn delivery(
        &self,
        purchase: ContentId,
    ) -> Result<Result<Option<DeliveryView>, StoreError>, Closed> {
        self.ask(|reply| Command::Delivery { purchase, reply })
            .await
    }

    pub async fn chain_head(
        &self,
        author: PublicKey,
    ) -> Result<Result<ChainHeadView, StoreError>, Closed> {
        self.ask(|reply| Command::ChainHead { author, reply }).await
    }

    /// Ordered events whose id starts with `prefix`; an error if the store cannot be
    /// read (see [`crate::engine::Engine::ids_with_prefix`]).
    pub async fn ids_with_prefix(
        &self,
        prefix: String,
    ) -> Result<Result<Vec<ContentId>, StoreError>, Closed> {
        self.ask(|reply| Command::IdsWithPrefix { prefix, reply })
            .await
    }

    pub async fn members(&self) -> Result<Vec<carnet_api::MemberView>, Closed> {
        self.ask(|reply| Command::Members { reply }).await
    }

    pub async fn quote(
        &self,
        buyer: PublicKey,
        listing: ContentId,
        max_price: u64,
    ) -> Result<carnet_api::QuoteView, Closed> {
        self.ask(|reply| Command::Quote {
            buyer,
            listing,
            max_price,
            reply,
        })
        .await
    }

    /// An ordered event's wire bytes; an error if the store cannot give back a
    /// released one.
    pub async fn event(
        &self,
        id: ContentId,
    ) -> Result<Result<Option<Vec<u8>>, StoreError>, Closed> {
        self.ask(|reply| Command::Event { id, reply }).await
    }

    pub async fn status(&self) -> Result<NodeStatus, Closed> {
        self.ask(|reply| Command::Status { reply }).await
    }

    /// The last `limit` finalized claims for the operator's chart; the Checkpoints are
    /// read from the store, so a store that cannot be read is an error.
    pub async fn settlement(
        &self,
        limit: usize,
    ) -> Result<Result<Vec<crate::engine::Settled>, StoreError>, Closed> {
        self.ask(|reply| Command::Settlement { limit, reply }).await
    }

    pub async fn dedup_key(
        &self,
        request: carnet_protocol::dedup::DedupRequest,
        signature: [u8; 64],
    ) -> Result<Result<carnet_protocol::Hash32, crate::dedup::DedupError>, Closed> {
        self.ask(|reply| Command::DedupKey {
            request,
            signature,
            reply,
        })
        .await
    }

    pub async fn put_sealed_key(
        &self,
        upload: carnet_api::sealed_key::SealedKeyUpload,
    ) -> Result<Result<PublicKey, crate::web::keys::WebKeyError>, Closed> {
        self.ask(|reply| Command::PutSealedKey { upload, reply })
            .await
    }

    pub async fn sealed_key(
        &self,
        member: PublicKey,
    ) -> Result<Option<crate::store::web::StoredSealedKey>, Closed> {
        self.ask(|reply| Command::SealedKey { member, reply }).await
    }

    pub async fn org_dedup_key(
        &self,
        email: String,
    ) -> Result<Result<carnet_protocol::Hash32, crate::dedup::DedupError>, Closed> {
        self.ask(|reply| Command::OrgDedupKey { email, reply })
            .await
    }

    pub async fn vouch_precheck(
        &self,
        reporter: PublicKey,
        purchase_id: ContentId,
        opening: carnet_protocol::payload::Opening,
    ) -> Result<Result<carnet_protocol::Hash32, crate::vouch::VouchError>, Closed> {
        self.ask(|reply| Command::VouchPrecheck {
            reporter,
            purchase_id,
            opening,
            reply,
        })
        .await
    }

    pub async fn vouch_mobile(
        &self,
        reporter: PublicKey,
        purchase_id: ContentId,
        opening: carnet_protocol::payload::Opening,
    ) -> Result<Result<carnet_protocol::payload::Voucher, crate::vouch::VouchError>, Closed> {
        self.ask(|reply| Command::VouchMobile {
            reporter,
            purchase_id,
            opening,
            reply,
        })
        .await
    }

    pub async fn vouch(
        &self,
        req: crate::vouch::VouchRequest,
    ) -> Result<Result<crate::vouch::Vouched, crate::vouch::VouchError>, Closed> {
        self.ask(|reply| Command::Vouch { req, reply }).await
    }

    pub async fn put_evidence(
        &self,
        raw: Vec<u8>,
    ) -> Result<Result<carnet_protocol::Hash32, AuditRefusal>, Closed> {
        self.ask(|reply| Command::PutEvidence { raw, reply }).await
    }

    pub async fn audit_bundle(
        &self,
        event: ContentId,
        include_message: bool,
        include_opening: bool,
    ) -> Result<Result<carnet_protocol::ledger::audit::Bundle, AuditRefusal>, Closed> {
        self.ask(|reply| Command::AuditBundle {
            event,
            include_message,
            include_opening,
            reply,
        })
        .await
    }

    pub async fn audit_checkpoint(
        &self,
        bound: Option<u64>,
        since: Option<u64>,
    ) -> Result<Result<carnet_protocol::ledger::audit::CheckpointFile, AuditRefusal>, Closed> {
        self.ask(|reply| Command::AuditCheckpoint {
            bound,
            since,
            reply,
        })
        .await
    }

    pub async fn peers(&self) -> Result<Vec<PeerView>, Closed> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    pub async fn orgs(&self) -> Result<carnet_api::OrgsView, Closed> {
        self.ask(|reply| Command::Orgs { reply }).await
    }
}
