//! What a member does: sign an event locally and hand it to the org node, and make
//! sense of what comes back (a sealed card, a bounce).

use crate::api::{ApiError, NodeApi};
use crate::cardbook::CardBook;
use crate::contact::Prepared;
use crate::keyfile::{ChainLock, Journal, KeyFileError, MemberKey};
use carnet_api::{PurchaseView, Submitted};
use carnet_protocol::author::{Author, AuthorHead};
use carnet_protocol::card::{open_card, recipient_public, Card, CardError};
use carnet_protocol::encoding::{from_canonical, to_canonical};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::is_mobile_number;
use carnet_protocol::limits::MAX_EVENT_BYTES;
use carnet_protocol::payload::{
    BounceReport, Contribute, DsnStatus, EmployeeRange, Listing, MobileReport, Payload, Purchase,
    Referral, RevenueRange, Transfer, Update, Vote, Voucher,
};
use carnet_protocol::{ContentId, Hash32, PublicKey, SignedEvent};
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MemberError {
    #[error(transparent)]
    Key(#[from] KeyFileError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("this key belongs to network {key}, but the node runs network {node}")]
    WrongNetwork { key: String, node: String },
    #[error("cannot sign: {0}")]
    Sign(String),
    /// The rules would make the event void: nothing was signed. The numbers say why
    /// (a purchase: its price, the most the member would pay, the member's balance).
    #[error("the rules would refuse this purchase ({reason}): the card costs {price}, you would pay at most {max_price}, you have {} points", balance.map_or("no".into(), |b| b.to_string()))]
    WouldBeVoid {
        reason: String,
        price: u64,
        max_price: u64,
        balance: Option<i64>,
    },
    #[error("no listing {0} on this node")]
    NoListing(String),
    #[error("you have not bought listing {0}")]
    NotBought(String),
    #[error("listing {listing} is bought but not delivered yet (purchase {purchase} is {status}); the contributor's org node delivers it when it is online")]
    NotDelivered {
        listing: String,
        purchase: String,
        status: String,
    },
    #[error("the delivered card cannot be opened: {0}")]
    Open(CardError),
    #[error("refusing the delivered card: {0}")]
    Mismatch(CardError),
    #[error(transparent)]
    Bounce(#[from] crate::dsn::DsnError),
    #[error("{0}")]
    Refused(String),
    /// The event an earlier command signed was never sent, and the member's chain
    /// moved past its position (the web app signed there): it will never be taken.
    #[error("the event {0} an earlier command signed never reached the node, and your chain has moved on since (you signed with the web app): that earlier command did not happen. Nothing else was signed; run it again if you still want it, then this one")]
    ChainMoved(String),
    /// The member's last signed event was never accepted: signing another would fork
    /// the chain, so nothing more can be signed until the operator looks.
    #[error("{0}")]
    Stuck(String),
    #[error("the node's answer is malformed: {0}")]
    Malformed(String),
}

fn is_void(s: &Submitted) -> bool {
    matches!(s, Submitted::Ordered { outcome, .. } if outcome.starts_with("void"))
}

/// A member key and the node it talks to.
pub struct Session {
    pub key: MemberKey,
    key_path: PathBuf,
    pub api: NodeApi,
}

/// A card a member bought, opened and checked against its listing.
#[derive(Debug, Clone)]
pub struct Bought {
    pub purchase: PurchaseView,
    pub purchase_id: ContentId,
    pub card: Card,
}

impl Session {
    /// Opens the key at `key_path`; `api` overrides the node named in the key file.
    pub fn open(key_path: &Path, api: Option<&str>) -> Result<Self, MemberError> {
        let key = MemberKey::load(key_path)?;
        let api = NodeApi::new(api.unwrap_or(&key.api))?;
        Ok(Session {
            key,
            key_path: key_path.to_owned(),
            api,
        })
    }

    /// The key file this session signs with (its card book and journal sit beside it).
    pub fn key_path(&self) -> &Path {
        &self.key_path
    }

    pub fn public(&self) -> PublicKey {
        self.key.public()
    }

    /// Signs `payload` as the member's next event and submits it (with `card`, for a
    /// contribution). See `keyfile` for why the chain is journalled first.
    pub fn publish(
        &self,
        payload: Payload,
        card: Option<&Card>,
    ) -> Result<(SignedEvent, Submitted), MemberError> {
        self.publish_staged(payload, card, |_| Ok(()), |_| Ok(()))
    }

    /// Like [`Session::publish`], with `stage` run once the event is signed and
    /// before it is journalled or sent (a contribution writes its card to the card
    /// book there, so no interruption can leave an accepted card the member cannot
    /// update), and `unstage` run if the node refuses it.
    fn publish_staged(
        &self,
        payload: Payload,
        card: Option<&Card>,
        stage: impl FnOnce(&SignedEvent) -> Result<(), MemberError>,
        unstage: impl FnOnce(&SignedEvent) -> Result<(), MemberError>,
    ) -> Result<(SignedEvent, Submitted), MemberError> {
        let lock = ChainLock::acquire(&self.key_path)?;
        let node = self.api.chain_head(&self.public())?;
        let mut head = match (node.prev.as_deref(), node.last_lamport) {
            (Some(prev), Some(lamport)) => Some(AuthorHead {
                seq: node.next_seq.saturating_sub(1),
                id: Hash32::from_hex(prev)
                    .ok_or_else(|| MemberError::Malformed("chain head prev".into()))?,
                lamport,
                timestamp_ms: node.last_timestamp_ms.unwrap_or(0),
            }),
            (None, _) => None,
            // Signing as if the chain were empty would fork it: refuse instead.
            (Some(_), None) => {
                return Err(MemberError::Malformed(
                    "the node names a previous event but not its clock (an older node?)".into(),
                ))
            }
        };
        let previous = lock.journal()?;
        if let Some(j) = &previous {
            // The node has not ordered our last event: it never got it, or holds it
            // pending. Hand it over again and continue from it, never beside it.
            if j.seq >= node.next_seq {
                self.resubmit(&lock, j)?;
                head = j.head();
            } else if self.superseded(j, &node)? {
                return Err(self.drop_superseded(&lock, j)?);
            }
        }
        let introduction = match node.introduction.as_deref() {
            Some(h) => Some(
                Hash32::from_hex(h)
                    .ok_or_else(|| MemberError::Malformed("chain head introduction".into()))?,
            ),
            None => None,
        };
        let mut author = Author::resume(self.key.secret.clone(), self.key.network, head)
            .introduced_by(introduction);
        let ev = author
            .sign(payload, Vec::new(), node.clock, carnet_api::now_ms())
            .map_err(|e| MemberError::Sign(e.to_string()))?;
        // Journalled first, staged second: a run stopped in between is completed by
        // the next one, which hands the journalled event over and stages it again.
        lock.record(&Journal {
            seq: ev.seq(),
            id: ev.id().to_hex(),
            lamport: ev.lamport(),
            timestamp_ms: ev.body().timestamp_ms,
            event_hex: hex::encode(ev.as_bytes()),
            card_hex: card.map(|c| hex::encode(to_canonical(c))),
        })?;
        stage(&ev)?;
        let submitted = match card {
            Some(c) => self.api.contribute(ev.as_bytes(), c),
            None => self.api.submit(ev.as_bytes()),
        };
        match submitted {
            Ok(s) => Ok((ev, s)),
            // The node answered and refused (a 4xx): it stored nothing, so the event
            // must not stay the chain's head. Anything else (no answer, a 5xx) may
            // have stored it: keep it journalled, to be resubmitted next time.
            Err(e @ ApiError::Refused { status, .. }) if (400..500).contains(&status) => {
                lock.restore(previous.as_ref())?;
                unstage(&ev)?;
                Err(e.into())
            }
            Err(e) => Err(e.into()),
        }
    }

    fn resubmit(&self, lock: &ChainLock, j: &Journal) -> Result<(), MemberError> {
        let bytes = hex::decode(&j.event_hex)
            .ok()
            .filter(|b| b.len() <= MAX_EVENT_BYTES)
            .ok_or_else(|| MemberError::Malformed("journalled event".into()))?;
        let card = match &j.card_hex {
            Some(h) => Some(
                hex::decode(h)
                    .ok()
                    .and_then(|b| from_canonical::<Card>(&b, MAX_EVENT_BYTES).ok())
                    .ok_or_else(|| MemberError::Malformed("journalled card".into()))?,
            ),
            None => None,
        };
        let r = match &card {
            Some(c) => self.api.contribute(&bytes, c),
            None => self.api.submit(&bytes),
        };
        if let (Ok(s), Some(card)) = (&r, &card) {
            self.book_after_resubmit(&bytes, card, is_void(s))?;
        }
        if let Err(ApiError::Refused { code, .. }) = &r {
            if code == "chain_moved" {
                return Err(self.drop_superseded(lock, j)?);
            }
        }
        r.map(|_| ()).map_err(|e| {
            MemberError::Stuck(format!(
                "your last event {} was never accepted by the node ({e}); signing another \
                 would fork your chain. Ask your org's operator.",
                j.id
            ))
        })
    }

    /// Whether the journalled event lost its position: the node's chain holds another
    /// event there (the web app signed it first), so the node will never take it.
    fn superseded(
        &self,
        j: &Journal,
        node: &carnet_api::ChainHeadView,
    ) -> Result<bool, MemberError> {
        if j.seq + 1 == node.next_seq {
            return Ok(node.prev.as_deref() != Some(j.id.as_str()));
        }
        let id = Hash32::from_hex(&j.id)
            .ok_or_else(|| MemberError::Malformed("journalled id".into()))?;
        Ok(self.api.event(&id)?.is_none())
    }

    /// Forgets a superseded journalled event (it did not happen; the chain goes on from
    /// the node's head) and says so: the command that signed it must be run again.
    fn drop_superseded(&self, lock: &ChainLock, j: &Journal) -> Result<MemberError, MemberError> {
        lock.restore(None)?;
        let ev = hex::decode(&j.event_hex)
            .ok()
            .and_then(|b| SignedEvent::decode(&b, &self.key.network).ok());
        if let Some(ev) = ev {
            if let Payload::Contribute(_) = ev.payload() {
                CardBook::new(&self.key_path).remove(&ev.id())?;
            }
        }
        Ok(MemberError::ChainMoved(j.id.clone()))
    }

    /// The card book as a journalled contribution or update leaves it, whether or not
    /// the run that signed it got to write it there.
    fn book_after_resubmit(
        &self,
        bytes: &[u8],
        card: &Card,
        void: bool,
    ) -> Result<(), MemberError> {
        let Ok(ev) = SignedEvent::decode(bytes, &self.key.network) else {
            return Ok(());
        };
        let book = CardBook::new(&self.key_path);
        match (ev.payload(), void) {
            (Payload::Contribute(_), false) => book.put(&ev.id(), card)?,
            (Payload::Contribute(_), true) => book.remove(&ev.id())?,
            (Payload::Update(u), false) => book.put(&u.listing_id, card)?,
            _ => {}
        }
        Ok(())
    }

    /// Hands the node the member's last signed event if it never got it (a run
    /// interrupted after signing), without signing anything new. True if there was one.
    pub fn flush(&self) -> Result<bool, MemberError> {
        let lock = ChainLock::acquire(&self.key_path)?;
        let node = self.api.chain_head(&self.public())?;
        match lock.journal()? {
            Some(j) if j.seq >= node.next_seq => {
                self.resubmit(&lock, &j)?;
                Ok(true)
            }
            Some(j) if self.superseded(&j, &node)? => Err(self.drop_superseded(&lock, &j)?),
            _ => Ok(false),
        }
    }

    /// Checks that the key and the node are on the same network.
    pub fn check_network(&self) -> Result<(), MemberError> {
        let status = self.api.status()?;
        if status.network != self.key.network.to_hex() {
            return Err(MemberError::WrongNetwork {
                key: self.key.network.to_hex(),
                node: status.network,
            });
        }
        Ok(())
    }

    /// The dedup key of `email`, from the member's org node: only org nodes hold the
    /// network secret it is keyed by. An address listed by another member, or opted
    /// out, is refused here, before anything is signed.
    pub fn dedup_key(&self, email: &str) -> Result<Hash32, MemberError> {
        let request = carnet_protocol::dedup::DedupRequest {
            network: self.key.network,
            member: self.public(),
            email: email.to_owned(),
            at_ms: carnet_api::now_ms(),
        };
        let signature = carnet_protocol::dedup::sign(&self.key.secret, &request);
        Ok(self.api.dedup_key(&request, &signature)?)
    }

    /// Publishes a new card: its listing (teaser and commitments) to everyone, the
    /// card itself only to the org node. Returns the listing id.
    pub fn contribute(&self, card: &Card) -> Result<(ContentId, Submitted), MemberError> {
        card.check()
            .map_err(|e| MemberError::Refused(e.to_string()))?;
        let listing = card
            .listing_keyed(self.dedup_key(&card.email.value)?)
            .map_err(|e| MemberError::Refused(e.to_string()))?;
        let book = CardBook::new(&self.key_path);
        let (ev, s) = self.publish_staged(
            Payload::Contribute(Contribute { listing }),
            Some(card),
            |ev| Ok(book.put(&ev.id(), card)?),
            |ev| Ok(book.remove(&ev.id())?),
        )?;
        if is_void(&s) {
            book.remove(&ev.id())?;
        }
        Ok((ev.id(), s))
    }

    /// The cards this member contributed (from the card book beside the key file).
    pub fn contributed(&self) -> Result<Vec<(ContentId, Card)>, MemberError> {
        Ok(CardBook::new(&self.key_path).load()?)
    }

    /// Replaces a contributed card: `change` edits its draft, which is prepared like a
    /// new contribution (fresh salts, mobile numbers refused) and published as an
    /// Update. Changing the channels (phone, postal address) is the card's
    /// availability signal: buyers see which ones a card offers.
    pub fn update(
        &self,
        listing: &ContentId,
        region: Option<&str>,
        salts: crate::contact::Salts,
        change: impl FnOnce(&mut crate::contact::ContactDraft),
    ) -> Result<(Prepared, Submitted), MemberError> {
        let book = CardBook::new(&self.key_path);
        let Some((_, old)) = book.load()?.into_iter().find(|(id, _)| id == listing) else {
            return Err(MemberError::Refused(format!(
                "listing {listing} is not among the cards you contributed from this key file"
            )));
        };
        let mut draft = crate::contact::ContactDraft::from(&old);
        change(&mut draft);
        let prepared = draft
            .prepare(region, salts)
            .map_err(|e| MemberError::Refused(e.to_string()))?;
        prepared
            .card
            .check()
            .map_err(|e| MemberError::Refused(e.to_string()))?;
        let new_listing = prepared
            .card
            .listing_keyed(self.dedup_key(&prepared.card.email.value)?)
            .map_err(|e| MemberError::Refused(e.to_string()))?;
        let (_, s) = self.publish_staged(
            Payload::Update(Update {
                listing_id: *listing,
                listing: new_listing,
            }),
            Some(&prepared.card),
            |_| Ok(book.put(listing, &prepared.card)?),
            |_| Ok(book.put(listing, &old)?),
        )?;
        if is_void(&s) {
            book.put(listing, &old)?;
        }
        Ok((prepared, s))
    }

    pub fn buy(
        &self,
        listing: &ContentId,
        max_price: u64,
    ) -> Result<(ContentId, Submitted), MemberError> {
        if self.api.listing(listing)?.is_none() {
            return Err(MemberError::NoListing(listing.to_hex()));
        }
        // Checked before signing: a purchase the rules refuse would still be
        // published, as a void event, and say nothing of the numbers.
        let quote = self.api.quote(listing, &self.public(), max_price)?;
        if let Some(reason) = quote.refusal {
            return Err(MemberError::WouldBeVoid {
                reason,
                price: quote.price,
                max_price,
                balance: quote.balance,
            });
        }
        let recipient = recipient_public(self.key.recipient_secret(listing));
        let (ev, s) = self.publish(
            Payload::Purchase(Purchase {
                listing_id: *listing,
                recipient,
                max_price,
            }),
            None,
        )?;
        Ok((ev.id(), s))
    }

    /// The member's latest purchase of `listing`.
    pub fn purchase_of(&self, listing: &ContentId) -> Result<PurchaseView, MemberError> {
        let hex = listing.to_hex();
        self.api
            .purchases(&self.public())?
            .into_iter()
            .rev()
            .find(|p| p.listing_id == hex)
            .ok_or(MemberError::NotBought(hex))
    }

    /// Fetches, opens and checks the card bought for `listing`. A card that does not
    /// open the listing's commitments is refused: the buyer would pay for a lie.
    pub fn bought(&self, listing: &ContentId) -> Result<Bought, MemberError> {
        let purchase = self.purchase_of(listing)?;
        let purchase_id = Hash32::from_hex(&purchase.purchase_id)
            .ok_or_else(|| MemberError::Malformed("purchase id".into()))?;
        let Some(delivery) = self.api.delivery(&purchase_id)? else {
            return Err(MemberError::NotDelivered {
                listing: listing.to_hex(),
                purchase: purchase.purchase_id.clone(),
                status: purchase.status.clone(),
            });
        };
        let card = open_delivery(&delivery, self.key.recipient_secret(listing), &purchase_id)?;
        self.verify_card(listing, &card)?;
        Ok(Bought {
            purchase,
            purchase_id,
            card,
        })
    }

    /// The card must open the commitments the contributor signed: those of the current
    /// listing, or of the original contribution (the card may predate an update).
    fn verify_card(&self, listing_id: &ContentId, card: &Card) -> Result<(), MemberError> {
        let detail = self
            .api
            .listing(listing_id)?
            .ok_or_else(|| MemberError::NoListing(listing_id.to_hex()))?;
        let current: Listing = hex::decode(&detail.listing_hex)
            .ok()
            .and_then(|b| from_canonical(&b, MAX_EVENT_BYTES).ok())
            .ok_or_else(|| MemberError::Malformed("listing".into()))?;
        if card.verify_against(&current).is_ok() {
            return Ok(());
        }
        let original = match self.api.event(listing_id)? {
            Some(ev) => hex::decode(&ev.event_hex)
                .ok()
                .and_then(|b| SignedEvent::decode(&b, &self.key.network).ok()),
            None => None,
        };
        check_delivered(listing_id, card, &current, original.as_ref())
    }
}

/// Opens a delivered card with the buyer's recipient secret for it.
pub fn open_delivery(
    delivery: &carnet_api::DeliveryView,
    recipient_secret: [u8; 32],
    purchase_id: &ContentId,
) -> Result<Card, MemberError> {
    let ephemeral: [u8; 32] = hex::decode(&delivery.ephemeral_hex)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| MemberError::Malformed("ephemeral key".into()))?;
    let sealed = hex::decode(&delivery.sealed_card_hex)
        .map_err(|_| MemberError::Malformed("sealed card".into()))?;
    open_card(&sealed, &ephemeral, recipient_secret, purchase_id).map_err(MemberError::Open)
}

/// Whether a delivered card opens the commitments its contributor signed: those of
/// the `current` listing, or of the `original` contribution event (the card may
/// predate an update). A card that does not is refused: the buyer would pay for a lie.
pub fn check_delivered(
    listing_id: &ContentId,
    card: &Card,
    current: &Listing,
    original: Option<&SignedEvent>,
) -> Result<(), MemberError> {
    let first = card.verify_against(current);
    if first.is_ok() {
        return Ok(());
    }
    if let Some(ev) = original.filter(|e| e.id() == *listing_id) {
        if let Payload::Contribute(c) = ev.payload() {
            if card.verify_against(&c.listing).is_ok() {
                return Ok(());
            }
        }
    }
    first.map_err(MemberError::Mismatch)
}

impl Session {
    /// Reports a bounced email: checks the bounce message names the card's address
    /// with a permanent failure, has the member's org node check it too and vouch for
    /// the report (the node keeps the message as evidence), and publishes the report
    /// with the message's hash and the voucher. Returns the report's id, the status,
    /// what the org's DKIM check found (`dkim:<domain>` or `unsigned`) and the
    /// submission.
    pub fn report_bounce(
        &self,
        listing: &ContentId,
        message: &[u8],
    ) -> Result<(ContentId, DsnStatus, String, Submitted), MemberError> {
        let bought = self.bought(listing)?;
        let status = crate::dsn::permanent_failure_for(message, &bought.card.email.value)?;
        let evidence = evidence_hash(message);
        let issued = self.api.vouch(
            &self.key.public(),
            &bought.purchase_id,
            &bought.card.email,
            message,
        )?;
        if issued.evidence != evidence.to_hex() {
            return Err(MemberError::Malformed(format!(
                "the node hashed the message to {}, expected {evidence}",
                issued.evidence
            )));
        }
        let voucher = hex::decode(&issued.voucher_hex)
            .ok()
            .and_then(|b| <[u8; 64]>::try_from(b).ok())
            .map(Voucher)
            .ok_or_else(|| MemberError::Malformed("the node's voucher is not 64 bytes".into()))?;
        let (ev, s) = self.publish(
            Payload::BounceReport(BounceReport {
                purchase_id: bought.purchase_id,
                evidence,
                status,
                voucher,
            }),
            None,
        )?;
        Ok((ev.id(), status, issued.finding, s))
    }

    /// Reports that a card's direct line is a mobile number.
    pub fn report_mobile(
        &self,
        listing: &ContentId,
    ) -> Result<(ContentId, Submitted), MemberError> {
        let bought = self.bought(listing)?;
        let Some(phone) = bought.card.phone.clone() else {
            return Err(MemberError::Refused(
                "this card has no direct line to report".into(),
            ));
        };
        if !is_mobile_number(&phone.value) {
            return Err(MemberError::Refused(format!(
                "{} is not classified as a mobile number, so a report would be void",
                phone.value
            )));
        }
        // The number goes to the member's own org node only, which vouches for it;
        // the report on the log carries the voucher, not the number.
        let voucher = self
            .api
            .vouch_mobile(&self.key.public(), &bought.purchase_id, &phone)?;
        let (ev, s) = self.publish(
            Payload::MobileReport(MobileReport {
                purchase_id: bought.purchase_id,
                voucher,
            }),
            None,
        )?;
        Ok((ev.id(), s))
    }

    pub fn vote(
        &self,
        domain: &str,
        employees: EmployeeRange,
        revenue: RevenueRange,
    ) -> Result<(ContentId, Submitted), MemberError> {
        let (ev, s) = self.publish(
            Payload::Vote(Vote {
                company_domain: domain.trim().to_ascii_lowercase(),
                employees,
                revenue,
            }),
            None,
        )?;
        Ok((ev.id(), s))
    }

    /// Gives `points` of the member's spendable points to `to`. Refused before
    /// signing when the member has fewer, or `to` has no account.
    pub fn transfer(
        &self,
        to: PublicKey,
        points: u64,
    ) -> Result<(ContentId, Submitted), MemberError> {
        let balance = self.api.balance(&self.public())?.map_or(0, |b| b.balance);
        if balance < points as i64 {
            return Err(MemberError::Refused(format!(
                "not enough points: you have {balance}, you would give {points}; nothing was signed"
            )));
        }
        if to == self.public() {
            return Err(MemberError::Refused(
                "you cannot give points to yourself; nothing was signed".into(),
            ));
        }
        match self.api.balance(&to)? {
            None => {
                return Err(MemberError::Refused(format!(
                    "{to} has no account on this network; nothing was signed"
                )))
            }
            Some(b) if b.status != "Active" => {
                return Err(MemberError::Refused(format!(
                    "{to} is {}, not active; nothing was signed",
                    b.status
                )))
            }
            Some(_) => {}
        }
        let (ev, s) = self.publish(Payload::Transfer(Transfer { to, points }), None)?;
        Ok((ev.id(), s))
    }

    pub fn referral(&self, referrer: PublicKey) -> Result<(ContentId, Submitted), MemberError> {
        let (ev, s) = self.publish(Payload::Referral(Referral { referrer }), None)?;
        Ok((ev.id(), s))
    }
}
