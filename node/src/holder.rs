//! The holder's side of a sale: the cards this org's members contribute, and sealing
//! them to buyers.
//!
//! A listing on the network carries only commitments; the card itself stays with the
//! contributor's org node, encrypted at rest. When a purchase of one of those listings
//! is escrowed, this node seals the card to the buyer's key and publishes the Deliver
//! that pays the contributor. Nobody else can: only the holder has the card.

use crate::engine::{Engine, Ingested};
use crate::handle::IngestError;
use crate::store::StoreError;
use carnet_api::{CompanyInfo, ListingDetail, PurchaseView};
use carnet_protocol::card::{seal_card, Card};
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::ledger::PurchaseStatus;
use carnet_protocol::payload::{Deliver, Listing, Payload};
use carnet_protocol::{ContentId, PublicKey, SignedEvent};

fn random<const N: usize>() -> Result<[u8; N], IngestError> {
    carnet_api::os::random().map_err(|e| IngestError::NoRandomness(e.to_string()))
}

impl Engine {
    /// Takes a member's Contribute (or Update) together with the card behind it: the
    /// card is checked against the listing's commitments, kept encrypted, and the
    /// event ingested. If the ledger refuses the event or voids it, the card is not
    /// kept (an Update's refusal leaves the previous card in place).
    pub fn contribute(&mut self, bytes: &[u8], card: Card) -> Result<Ingested, IngestError> {
        let ev = SignedEvent::decode(bytes, &self.network).map_err(IngestError::Invalid)?;
        let (listing_id, listing): (ContentId, &Listing) = match ev.payload() {
            Payload::Contribute(c) => (ev.id(), &c.listing),
            Payload::Update(u) => (u.listing_id, &u.listing),
            other => {
                return Err(IngestError::WrongKind(format!(
                    "a contribution must be a contribute or update event, not {}",
                    other.kind()
                )))
            }
        };
        self.check_member(&ev.author())?;
        self.check_position(&ev)?;
        // A contribution submitted again (a retry) is answered as a duplicate below,
        // not refused as a listed address: the listed address is its own.
        let known = self.ledger.is_ordered(&ev.id()) || self.ledger.get(&ev.id()).is_some();
        if let (Payload::Contribute(c), false) = (ev.payload(), known) {
            let state = self.ledger.state();
            let key = c.listing.dedup_key;
            if state.opted_out.contains(&key) {
                return Err(IngestError::OptedOut);
            }
            let held = state.dedup.try_get(&key);
            let held = held.map_err(|e| IngestError::Storage(e.to_string()))?;
            if let Some(existing) = held {
                return Err(IngestError::DuplicateCard(existing));
            }
        }
        card.verify_against(listing).map_err(IngestError::Card)?;
        let secret = self.secret.as_ref().ok_or(IngestError::NoNetworkSecret)?;
        card.verify_dedup_key(listing, secret)
            .map_err(IngestError::Card)?;
        let storage = |e: crate::store::StoreError| IngestError::Storage(e.to_string());
        // While the store refuses writes, no card is taken (its event could not be
        // stored either).
        self.writable()?;
        let previous = self
            .store
            .get_card(&listing_id, self.org.key())
            .map_err(storage)?;
        let put = self
            .store
            .put_card(&listing_id, &card, self.org.key(), random()?);
        self.written(put).map_err(storage)?;
        let restore = |engine: &mut Engine| -> Result<(), IngestError> {
            let undo = match &previous {
                Some(old) => engine
                    .store
                    .put_card(&listing_id, old, engine.org.key(), random()?),
                None => {
                    engine.held.remove(&listing_id);
                    engine.store.remove_card(&listing_id)
                }
            };
            engine.written(undo).map_err(storage)
        };
        let ingested = match self.ingest_event(ev) {
            Ok(i) => i,
            Err(e) => {
                restore(self)?;
                return Err(e);
            }
        };
        if let carnet_api::Submitted::Ordered { outcome, .. } = &ingested.result {
            if outcome.starts_with("void") {
                restore(self)?;
                return Ok(ingested);
            }
        }
        self.held.insert(listing_id);
        self.hold_due.insert(listing_id);
        self.delivery_check_due = true;
        Ok(ingested)
    }

    /// Hold payloads naming every listing this node keeps the card of and the ledger
    /// does not count as held yet (docs/protocol.md, "Applying an event", Hold): from
    /// then on it counts for its contributor's pay-or-play. A listing whose Contribute
    /// is not ordered yet waits for the next call; one named here stays queued until
    /// the ledger holds it, so a Hold that could not be published is tried again.
    pub fn holds_due(&mut self) -> Vec<Payload> {
        if self.hold_due.is_empty() {
            return Vec::new();
        }
        let org = self.org.public();
        // A clone of persistent maps: cheap, and frees the ledger for `get`.
        let state = self.ledger.state().clone();
        let mut ready = Vec::new();
        let ledger = &self.ledger;
        self.hold_due.retain(|id| match state.listings.get(id) {
            Some(l) => {
                let ours = state.accounts.get(&l.contributor).and_then(|a| a.org()) == Some(org);
                let due = ours
                    && !l.held
                    && l.status != carnet_protocol::ledger::ListingStatus::Withdrawn;
                if due {
                    ready.push(*id);
                }
                due
            }
            // Not ordered yet: wait. Ordered without a listing: void or erased.
            None => !ledger.is_ordered(id) && ledger.get(id).is_none(),
        });
        ready
            .chunks(carnet_protocol::limits::MAX_HOLD_LISTINGS)
            .map(|c| {
                Payload::Hold(carnet_protocol::payload::Hold {
                    listings: c.to_vec(),
                })
            })
            .collect()
    }

    /// Refuses cards from anyone but an active member of this org: the node would
    /// hold them for nothing, since only the contributor's org may deliver.
    fn check_member(&mut self, author: &PublicKey) -> Result<(), IngestError> {
        let org = self.org.public();
        let state = self.ledger.state();
        match state.accounts.get(author) {
            Some(a) if a.org() == Some(org) && a.is_active() => Ok(()),
            Some(a) if a.org() == Some(org) => Err(IngestError::NotMember {
                member: *author,
                why: format!("its status is {:?}", a.status),
            }),
            _ => Err(IngestError::NotMember {
                member: *author,
                why: "not enrolled by this org".into(),
            }),
        }
    }

    /// Deliver payloads for every escrowed purchase of a card this node holds and has
    /// not sealed yet. Cheap when nothing was ordered since the last call.
    pub fn due_deliveries(&mut self) -> Vec<Payload> {
        if !std::mem::take(&mut self.delivery_check_due) || self.held.is_empty() {
            return Vec::new();
        }
        self.forget_erased();
        let state = self.ledger.state();
        let due: Vec<(ContentId, ContentId)> = state
            .escrowed
            .iter()
            .filter(|(_, pid)| !self.delivered.contains(pid))
            .filter_map(|(_, pid)| {
                let p = state.purchases.get(pid)?;
                (p.status == PurchaseStatus::Escrowed && self.held.contains(&p.listing_id))
                    .then_some((*pid, p.listing_id))
            })
            .collect();
        let mut out = Vec::new();
        for (pid, listing_id) in due {
            match self.seal_for(&pid, &listing_id) {
                Ok(payload) => {
                    self.delivered.insert(pid);
                    out.push(payload);
                }
                Err(e) => {
                    tracing::warn!(purchase = %pid, error = %e, "cannot deliver");
                    // Try again on the next call rather than never.
                    self.delivery_check_due = true;
                }
            }
        }
        out
    }

    /// Deletes held cards whose listing the ledger erased: an opt-out of the listing's
    /// current key took it out of the state, so the personal data must not stay here
    /// either. The key that counts is the current one (an Update may have changed the
    /// email); a listing that left the state carrying an opted-out key is one.
    fn forget_erased(&mut self) {
        let state = self.ledger.state().clone();
        if state.opted_out.is_empty() {
            return;
        }
        let ledger = &self.ledger;
        let mut gone = Vec::new();
        for id in self
            .held
            .iter()
            .filter(|id| ledger.is_ordered(id) && !state.listings.contains_key(*id))
        {
            // The Contribute erased (`erasure` marks the listing so), or its own key
            // opted out. One that cannot be read back is looked at again next time.
            match ledger.fetch(id) {
                Ok(ev) => {
                    if matches!(ev.as_deref().map(|e| e.payload()), Some(Payload::Contribute(c))
                        if c.listing.teaser.is_erased()
                            || state.opted_out.contains(&c.listing.dedup_key))
                    {
                        gone.push(*id);
                    }
                }
                Err(e) => {
                    tracing::warn!(listing = %id, error = %e, "cannot read a held card's listing back; looked at again at the next look");
                    self.delivery_check_due = true;
                }
            }
        }
        for id in gone {
            match self.store.remove_card(&id) {
                Ok(()) => {
                    self.held.remove(&id);
                    tracing::info!(listing = %id, "erased the card of an opted-out listing");
                }
                Err(e) => {
                    tracing::warn!(listing = %id, error = %e, "cannot erase a card; tried again at the next look");
                    // Looked at again on the next call for deliveries.
                    self.delivery_check_due = true;
                    let _ = self.written::<()>(Err(e));
                }
            }
        }
    }

    fn seal_for(
        &mut self,
        pid: &ContentId,
        listing_id: &ContentId,
    ) -> Result<Payload, IngestError> {
        let purchase = self
            .ledger
            .fetch(pid)
            .map_err(|e| IngestError::Storage(e.to_string()))?;
        let recipient = match purchase.as_deref().map(|e| e.payload()) {
            Some(Payload::Purchase(p)) => p.recipient,
            _ => return Err(IngestError::WrongKind(format!("{pid} is not a purchase"))),
        };
        let card = self
            .store
            .get_card(listing_id, self.org.key())
            .map_err(|e| IngestError::Storage(e.to_string()))?
            .ok_or_else(|| IngestError::Storage(format!("card for {listing_id} vanished")))?;
        let (ephemeral, sealed_card) =
            seal_card(&card, &recipient, random()?, pid).map_err(IngestError::Card)?;
        Ok(Payload::Deliver(Deliver {
            purchase_id: *pid,
            ephemeral,
            sealed_card,
        }))
    }

    /// One listing with its commitments, so a buyer can check a delivered card.
    pub fn listing(&mut self, id: &ContentId) -> Result<Option<ListingDetail>, StoreError> {
        let state = self.ledger.state();
        let Some(l) = state.listings.get(id) else {
            return Ok(None);
        };
        let handle = state
            .accounts
            .get(&l.contributor)
            .map(|a| a.handle.clone())
            .unwrap_or_default();
        // The state holds the listing with its teaser erased; the store the teaser
        // its events showed, if this node holds one not erased.
        let Some(body) = state
            .listing_bodies
            .try_get(id)
            .map_err(|e| StoreError::Unreadable(e.to_string()))?
        else {
            return Ok(None);
        };
        let mut listing = body.listing;
        if let Some(shown) = self.store.shown_teaser(id, &l.teaser)? {
            listing.teaser = shown;
        }
        Ok(Some(ListingDetail {
            id: id.to_hex(),
            contributor_handle: handle,
            status: format!("{:?}", l.status),
            sales: l.sales,
            held: l.held,
            listing_hex: hex::encode(to_canonical(&listing)),
        }))
    }

    /// Every purchase `buyer` made, newest last, with the listing's teaser.
    pub fn purchases(&mut self, buyer: &PublicKey) -> Result<Vec<PurchaseView>, StoreError> {
        let state = self.ledger.state();
        // One read of the teasers for every purchase.
        let teasers = self.store.teasers()?;
        // The state holds purchases by id, most of them on disk: the store says which
        // are the buyer's.
        let mut mine = Vec::new();
        for id in self.store.purchases_of(buyer)? {
            let held = state
                .purchases
                .try_get(&id)
                .map_err(|e| StoreError::Unreadable(e.to_string()))?;
            mine.extend(held.filter(|p| p.buyer == *buyer).map(|p| (id, p)));
        }
        let mut out: Vec<(u64, PurchaseView)> = mine
            .iter()
            .map(|(id, p)| {
                let slot = match state.listings.get(&p.listing_id) {
                    Some(l) => teasers.shown(&p.listing_id, &l.teaser)?,
                    None => None,
                };
                let teaser = slot.as_ref().and_then(|s| s.shown());
                Ok((
                    p.lamport,
                    PurchaseView {
                        purchase_id: id.to_hex(),
                        listing_id: p.listing_id.to_hex(),
                        status: format!("{:?}", p.status),
                        price: p.price,
                        name: teaser.map(|t| t.name.to_string()).unwrap_or_default(),
                        company: teaser.map(|t| t.company.to_string()).unwrap_or_default(),
                    },
                ))
            })
            .collect::<Result<_, StoreError>>()?;
        out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.purchase_id.cmp(&b.1.purchase_id)));
        Ok(out.into_iter().map(|(_, v)| v).collect())
    }

    /// `member`'s own vote on the company of `domain`, if any.
    pub fn vote_of(
        &mut self,
        domain: &str,
        member: &PublicKey,
    ) -> Option<carnet_protocol::ledger::CompanyVote> {
        let key = (domain.trim().to_ascii_lowercase(), *member);
        self.ledger.state().votes.get(&key).copied()
    }

    /// The crowd's view of a company: median employee and revenue ranges.
    pub fn company(&mut self, domain: &str) -> Option<CompanyInfo> {
        let domain = domain.trim().to_ascii_lowercase();
        let v = self.ledger.state().company(&domain)?;
        Some(CompanyInfo {
            domain,
            votes: v.votes as u64,
            employees: v.employees,
            revenue: v.revenue,
            employee_votes: v
                .employee_votes
                .iter()
                .map(|(r, n)| (*r, *n as u64))
                .collect(),
            revenue_votes: v
                .revenue_votes
                .iter()
                .map(|(r, n)| (*r, *n as u64))
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{card, one_org_engine};
    use carnet_api::Submitted;
    use carnet_protocol::author::Author;
    use carnet_protocol::payload::Contribute;
    use carnet_protocol::SecretKey;

    #[test]
    fn contributions_keep_only_cards_that_match_and_count() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, _) = one_org_engine(dir.path());
        let net = genesis.network_id();
        let (_, mut member) = crate::test_support::enroll(&mut e, 10);
        let mut stranger = Author::new(SecretKey::from_seed([11; 32]), net);
        let contribute = |a: &mut Author, c: &Card, clock: u64| {
            a.sign(
                Payload::Contribute(Contribute {
                    listing: c.listing(&crate::test_support::SECRET).unwrap(),
                }),
                vec![],
                clock,
                5,
            )
            .unwrap()
        };
        let ada = card("ada@acme.example");
        let clock = e.ledger().max_lamport();

        // Not a member of this org: refused, nothing kept.
        let ev = contribute(&mut stranger, &ada, clock);
        assert!(matches!(
            e.contribute(ev.as_bytes(), ada.clone()),
            Err(IngestError::NotMember { .. })
        ));
        // A card that is not the listed one: refused, nothing kept.
        let ev = contribute(&mut member, &ada, clock);
        let other = card("bob@acme.example");
        assert!(matches!(
            e.contribute(ev.as_bytes(), other),
            Err(IngestError::Card(_))
        ));
        assert!(e.store.card_ids().unwrap().is_empty());
        assert_eq!(e.ledger().len(), 1);

        // The right card: kept, and a retry of the same event is a duplicate.
        let r = e.contribute(ev.as_bytes(), ada.clone()).unwrap();
        assert!(matches!(r.result, Submitted::Ordered { .. }), "{r:?}");
        assert_eq!(e.store.card_ids().unwrap(), vec![ev.id()]);
        let again = e.contribute(ev.as_bytes(), ada.clone()).unwrap();
        assert!(matches!(again.result, Submitted::Duplicate { .. }));

        // Another listing of the same address: refused before it is signed into the
        // ledger.
        let mut ada2 = ada.clone();
        ada2.teaser.title = "CEO".into();
        let clock = e.ledger().max_lamport();
        let dup = contribute(&mut member, &ada2, clock);
        assert!(matches!(
            e.contribute(dup.as_bytes(), ada2),
            Err(IngestError::DuplicateCard(_))
        ));
        assert_eq!(e.ledger().len(), 2);
        assert_eq!(e.store.card_ids().unwrap(), vec![ev.id()]);
    }
}
