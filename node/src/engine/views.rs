//! Read-only answers for the API: balances, histories, deliveries, chain heads (search
//! is in `search.rs`).

use super::*;

impl Engine {
    /// (Lamport, id) of every ordered event, for set reconciliation: a frozen copy
    /// that shares the ledger's chunks.
    pub fn items(&self) -> carnet_protocol::ledger::ItemsView {
        self.ledger.items().view()
    }

    /// Changes whenever [`Engine::items`] does.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The wire bytes of an ordered event: pending ones are not passed on. An error
    /// if it was released and the store cannot give it back: not "no such event".
    pub fn event_bytes(&self, id: &ContentId) -> Result<Option<Vec<u8>>, StoreError> {
        let ev = match self.ledger.get(id) {
            Some(ev) => std::borrow::Cow::Borrowed(ev),
            // Not through the ledger's archive, which takes a failed read for "not
            // held"; and the store before the record that says the event is ordered,
            // which is in the store too: a failed read there says "not ordered".
            None => match self.store.checked_event(id)? {
                Some(ev) => std::borrow::Cow::Owned(ev),
                None => return Ok(None),
            },
        };
        // Not `as_bytes`: the bytes of an event the ledger holds only to fold may have
        // been shed, and a peer's catch-up must not bring them all back.
        Ok(self.ledger.is_ordered(id).then(|| ev.wire().into_owned()))
    }

    pub fn balance(&mut self, account: &PublicKey) -> Option<BalanceView> {
        let play = self.ledger.play_status(account);
        self.ledger
            .state()
            .accounts
            .get(account)
            .map(|a| BalanceView {
                account: account.to_hex(),
                balance: a.balance,
                escrow: a.escrow,
                pending: a.pending,
                status: format!("{:?}", a.status),
                play,
            })
    }

    /// An account's movements, the finalized ones read from the store's records.
    pub fn history(&mut self, account: &PublicKey) -> Result<Vec<MovementView>, StoreError> {
        let movements = self
            .ledger
            .history(account)
            .map_err(|e| StoreError::Unreadable(e.to_string()))?;
        Ok(movements
            .into_iter()
            .map(|m| MovementView {
                event: m.event.to_hex(),
                delta: m.delta,
                reason: format!("{:?}", m.reason),
            })
            .collect())
    }

    /// The Deliver for `purchase`: the first in ledger order among those held. The
    /// store indexes every Deliver it holds (the first in ledger order is the one that
    /// paid); the ledger vouches for each. A store that cannot be read is an error:
    /// taken for "not delivered yet", a buyer would wait for a card it has.
    pub fn delivery(&self, purchase: &ContentId) -> Result<Option<DeliveryView>, StoreError> {
        let mut held = Vec::new();
        for id in &self.store.deliveries_of(purchase)? {
            if let Some(e) = self.ledger.fetch(id)? {
                held.push(e);
            }
        }
        let Some(ev) = held.into_iter().min_by_key(|e| (e.lamport(), e.id())) else {
            return Ok(None);
        };
        let Payload::Deliver(d) = ev.payload() else {
            return Ok(None);
        };
        Ok(Some(DeliveryView {
            purchase_id: purchase.to_hex(),
            deliver_event: ev.id().to_hex(),
            ephemeral_hex: hex::encode(d.ephemeral),
            sealed_card_hex: hex::encode(&d.sealed_card),
        }))
    }

    /// Ordered events whose id, in hex, starts with `prefix` (lowercase hex digits):
    /// at most `limit`, in id order, so a caller can tell "one" from "several" (git's
    /// short ids). An error if the store cannot be read: the events in memory alone
    /// are not all of them (the finalized ones are released), and a prefix that
    /// names one of them and a released one would look unique.
    pub fn ids_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<ContentId>, StoreError> {
        let nibbles: Option<Vec<u8>> = prefix
            .chars()
            .map(|c| c.to_digit(16).map(|d| d as u8))
            .collect();
        let Some(nibbles) = nibbles.filter(|n| !n.is_empty() && n.len() <= 64) else {
            return Ok(Vec::new());
        };
        // The ids with this prefix are exactly those between the prefix padded with
        // zero bits and with one bits: a range of the records of released events,
        // which are keyed by id, not a scan of every ordered event (10 million on the
        // event loop); and the events the ledger holds, which it has not released.
        let (mut lo, mut hi) = ([0u8; 32], [0xffu8; 32]);
        for (i, n) in nibbles.iter().enumerate() {
            let (l, h) = (&mut lo[i / 2], &mut hi[i / 2]);
            match i % 2 {
                0 => (*l, *h) = (n << 4, (n << 4) | 0x0f),
                _ => (*l, *h) = ((*l & 0xf0) | n, (*h & 0xf0) | n),
            }
        }
        let mut ids = self
            .store
            .released_ids_from_to(&lo, &hi, limit, |id| self.ledger.is_ordered(id))?;
        let (lo, hi) = (carnet_protocol::Hash32(lo), carnet_protocol::Hash32(hi));
        ids.extend(
            self.ledger
                .held_ids()
                .into_iter()
                .filter(|id| (lo..=hi).contains(id)),
        );
        ids.sort_unstable();
        ids.dedup();
        ids.truncate(limit);
        Ok(ids)
    }

    /// This org's members, in key order.
    pub fn members(&mut self) -> Vec<carnet_api::MemberView> {
        let org = self.org();
        self.ledger
            .state()
            .accounts
            .iter()
            .filter(|(_, a)| a.org() == Some(org))
            .map(|(k, a)| carnet_api::MemberView {
                member: k.to_hex(),
                handle: a.handle.clone(),
                status: format!("{:?}", a.status),
                balance: a.balance,
                pending: a.pending,
                contributions: a.contributions,
            })
            .collect()
    }

    /// What a purchase of `listing` by `buyer` would do if ordered now.
    pub fn quote(
        &mut self,
        buyer: PublicKey,
        listing: ContentId,
        max_price: u64,
    ) -> carnet_api::QuoteView {
        let outcome = self.ledger.purchase_quote(buyer, listing, max_price);
        let balance = self.ledger.state().accounts.get(&buyer).map(|a| a.balance);
        carnet_api::QuoteView {
            listing: listing.to_hex(),
            buyer: buyer.to_hex(),
            price: self.ledger.genesis().rules.card_price,
            max_price,
            balance,
            refusal: outcome.err().map(|r| format!("{r:?}")),
        }
    }

    /// Where `author`'s chain stands. Its last event is read back from the store once
    /// released: one that cannot be read is an error, not a chain without its clock.
    pub fn chain_head(&self, author: &PublicKey) -> Result<ChainHeadView, StoreError> {
        let head = self.ledger.chain_head(author);
        let last = match head {
            Some((_, id)) => self.ledger.fetch(&id)?,
            None => None,
        };
        let last = last.as_deref();
        Ok(ChainHeadView {
            author: author.to_hex(),
            next_seq: head.map_or(0, |(s, _)| s + 1),
            prev: head.map(|(_, id)| id.to_hex()),
            last_lamport: last.map(|e| e.lamport()),
            last_timestamp_ms: last.map(|e| e.body().timestamp_ms),
            clock: self.ledger.max_lamport(),
            introduction: head
                .is_none()
                .then(|| self.ledger.introduction(author))
                .flatten()
                .map(|id| id.to_hex()),
        })
    }

    /// The orgs and the open votes among them, each with the votes it still needs
    /// (docs/protocol.md, "Quorum": an eviction counts the other orgs only).
    pub fn orgs(&mut self) -> OrgsView {
        let rules = self.ledger.genesis().rules.clone();
        let state = self.ledger.state();
        let n = state.orgs.len();
        OrgsView {
            orgs: state
                .orgs
                .iter()
                .map(|(k, o)| OrgView {
                    key: k.to_hex(),
                    name: o.name.clone(),
                    founding: o.founding,
                })
                .collect(),
            quorum: format!("{}/{}", rules.quorum_num, rules.quorum_den),
            admissions: state
                .admit_votes
                .iter()
                .map(|(org, voters)| VoteView {
                    org: org.to_hex(),
                    to: None,
                    votes: voters.len(),
                    needed: rules.quorum_size(n),
                    voters: voters.iter().map(|k| k.to_hex()).collect(),
                })
                .collect(),
            evictions: state
                .evict_votes
                .iter()
                .map(|(org, voters)| VoteView {
                    org: org.to_hex(),
                    to: None,
                    votes: voters.len(),
                    needed: rules.quorum_size(n.saturating_sub(1)),
                    voters: voters.iter().map(|k| k.to_hex()).collect(),
                })
                .collect(),
            rotations: state
                .rotate_votes
                .iter()
                .map(|((org, to), voters)| VoteView {
                    org: org.to_hex(),
                    to: Some(to.to_hex()),
                    votes: voters.len(),
                    needed: rules.quorum_size(n),
                    voters: voters.iter().map(|k| k.to_hex()).collect(),
                })
                .collect(),
        }
    }

    pub fn state_root_hex(&mut self) -> String {
        self.ledger.state_root().to_hex()
    }
}
