//! Erasure: the teasers of a person who opted out leave this node.
//!
//! An event commits to its listing's teaser only by a salted hash, so a node can drop
//! the teaser's bytes and keep an event whose id and signature still verify
//! (docs/protocol.md, "Erasure"). This node erases, in memory and on disk, the teaser
//! of every Contribute and Update that carries an opted-out dedup key, and of every
//! event of a listing the ledger erased (an opt-out of its current key). What it
//! serves to peers and to `GET /v1/events` from then on is the erased form.
//!
//! The decision reads the folded state (`opted_out`, `listings`), never the OptOut
//! events themselves: an OptOut the rules void erases nothing.

use crate::engine::Engine;
use crate::store::{listing_of, StoreError};
use carnet_protocol::payload::Payload;
use carnet_protocol::{ContentId, Hash32, SignedEvent};
use std::collections::{BTreeSet, HashSet};

impl Engine {
    /// Erases what the events just stored call for. Costs nothing unless one of them
    /// is an OptOut, or shows a teaser under a key some OptOut named or for a listing
    /// already erased; an applied OptOut reads the events of the listings that
    /// carried its key, found through the store's listing index.
    pub(crate) fn erase_after<E: std::borrow::Borrow<SignedEvent>>(
        &mut self,
        stored: &[E],
    ) -> Result<usize, StoreError> {
        let mut new_keys = Vec::new();
        let mut shown = Vec::new();
        for ev in stored {
            let ev = ev.borrow();
            if let Payload::OptOut(o) = ev.payload() {
                self.opt_out_keys.insert(o.dedup_key);
                new_keys.push(o.dedup_key);
            }
            if let Some((listing_id, l)) = listing_of(ev) {
                if !l.teaser.is_erased() {
                    shown.push((ev.id(), listing_id, l.dedup_key));
                }
            }
        }
        let mut suspects = Vec::new();
        for (id, listing_id, key) in shown {
            if self.opt_out_keys.contains(&key) || self.contribute_erased(&listing_id)? {
                suspects.push((id, listing_id, key));
            }
        }
        if new_keys.is_empty() && suspects.is_empty() {
            return Ok(0);
        }
        let state = self.ledger.state().clone();
        let applied: HashSet<Hash32> = new_keys
            .into_iter()
            .filter(|k| state.opted_out.contains(k))
            .collect();
        let mut erase = self.erasable(&applied)?;
        for (id, listing_id, key) in suspects {
            if state.opted_out.contains(&key)
                || (!state.listings.contains_key(&listing_id)
                    && self.contribute_erased(&listing_id)?)
            {
                erase.insert(id);
            }
        }
        self.erase(erase)
    }

    /// Every erasure the held events call for: at start, since a node may have
    /// stopped between storing an event and erasing it, and after a failed erasure.
    /// Reads no event when nothing was opted out: the applied opt-outs are the whole
    /// prefilter `erase_after` needs, since a later one arrives in a stored batch.
    pub(crate) fn erase_all_due(&mut self) -> Result<usize, StoreError> {
        let opted: HashSet<Hash32> = self.ledger.state().opted_out.iter().copied().collect();
        self.opt_out_keys = opted.clone();
        if opted.is_empty() {
            return Ok(0);
        }
        let erase = self.erasable(&opted)?;
        self.erase(erase)
    }

    /// Whether this node holds the listing's Contribute with its teaser erased: the
    /// mark that the ledger erased the listing (or that a peer did, for a reason this
    /// node will learn). A Contribute that cannot be read back is an error: taken
    /// for "not erased", a teaser would stay.
    fn contribute_erased(&self, listing_id: &ContentId) -> Result<bool, StoreError> {
        Ok(matches!(
            self.ledger.fetch(listing_id)?.as_deref().map(|e| e.payload()),
            Some(Payload::Contribute(c)) if c.listing.teaser.is_erased()
        ))
    }

    /// Shown teasers to erase for the opted-out `keys`: every event carrying one of
    /// them, and every event of a listing that carried one and left the state. Found
    /// through the store's listing index: only the listings' own events are read.
    fn erasable(&mut self, keys: &HashSet<Hash32>) -> Result<BTreeSet<ContentId>, StoreError> {
        let mut erase = BTreeSet::new();
        let mut touched = BTreeSet::new();
        for key in keys {
            touched.extend(self.store.listings_with_key(key)?);
        }
        let listings = self.ledger.state().listings.clone();
        for listing in touched {
            let left = !listings.contains_key(&listing);
            for id in self.store.listing_events(&listing)? {
                // Stored is ordered; the ledger is what says so.
                let Some(ev) = self.ledger.fetch(&id)? else {
                    continue;
                };
                if let Some((_, l)) = listing_of(&ev) {
                    if !l.teaser.is_erased() && (left || keys.contains(&l.dedup_key)) {
                        erase.insert(id);
                    }
                }
            }
        }
        Ok(erase)
    }

    /// Writes the erased forms over the stored events, then swaps them in memory.
    fn erase(&mut self, ids: BTreeSet<ContentId>) -> Result<usize, StoreError> {
        let mut erased = Vec::new();
        for id in &ids {
            if let Some(e) = self.ledger.fetch(id)?.and_then(|e| e.erased()) {
                erased.push(e);
            }
        }
        if erased.is_empty() {
            return Ok(0);
        }
        self.store.replace_events(&erased)?;
        for ev in &erased {
            self.ledger.erase_teaser(&ev.id());
        }
        // No snapshot holds a teaser (the state's listings are erased). Held cards of
        // erased listings go at the next look for deliveries.
        self.delivery_check_due = true;
        tracing::info!(
            count = erased.len(),
            "erased the teasers of opted-out listings"
        );
        Ok(erased.len())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::Engine;
    use crate::store::Store;
    use crate::test_support::{card, contribution, enroll, one_org_engine, SECRET};
    use carnet_protocol::card::{dedup_key, Card};
    use carnet_protocol::ledger::Ledger;
    use carnet_protocol::payload::{Contribute, OptOut, Payload, Update};
    use carnet_protocol::SignedEvent;

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    fn named(name: &str, email: &str) -> Card {
        let mut c = card(email);
        c.teaser.name = name.into();
        c
    }

    /// This org settles what it holds on its own: seals its members' events, then
    /// signs the claim at the tip, which a network of one org finalizes.
    fn settle(e: &mut Engine) {
        for deps in e.seals_due() {
            let seal = e
                .sign_as_org_with(Payload::Seal(Default::default()), deps)
                .unwrap();
            e.ingest_event(seal).unwrap();
        }
        // The first tick only notes the clock a claim will be made at.
        assert!(e.checkpoint_due().is_none());
        let (claim, deps) = e.checkpoint_due().expect("a claim to sign");
        let cp = e.sign_as_org_with(claim, deps).unwrap();
        e.ingest_event(cp).unwrap();
    }

    /// Issue 19: a finalized listing's events are no longer in memory, but an opt-out
    /// still finds them (through the store's listing index) and erases them on disk,
    /// where they are served from.
    #[test]
    fn an_opt_out_erases_teasers_no_longer_held_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org) = one_org_engine(dir.path());
        let (_, mut m) = enroll(&mut e, 10);
        let ada = named("Ada Lovelace", "ada@acme.example");
        let c = m
            .sign(
                Payload::Contribute(Contribute {
                    listing: ada.listing(&SECRET).unwrap(),
                }),
                vec![],
                e.ledger().max_lamport(),
                5,
            )
            .unwrap();
        e.contribute(c.as_bytes(), ada).unwrap();
        settle(&mut e);
        e.save_snapshot()
            .unwrap()
            .expect("a snapshot at the finalized mark");
        // The state holds listings with their teasers erased (issue 19): no snapshot
        // ever held hers, even before she opted out.
        assert!(!contains(
            &e.store().get_snapshot().unwrap().unwrap(),
            b"Ada Lovelace"
        ));
        let body = e.ledger().state().listing_bodies.get(&c.id()).unwrap();
        assert!(body.listing.teaser.is_erased());
        assert!(e.ledger().epoch(&c.id()).is_some(), "the listing is final");
        // Its short id is found from the store's events, not from memory.
        assert_eq!(
            e.ids_with_prefix(&c.id().to_hex()[..7], 5).unwrap(),
            vec![c.id()]
        );
        assert!(e.ledger().get(&c.id()).is_none(), "and out of memory");
        assert!(contains(
            &e.event_bytes(&c.id()).unwrap().unwrap(),
            b"Ada Lovelace"
        ));

        let opt = e
            .sign_as_org(Payload::OptOut(OptOut {
                dedup_key: dedup_key(&SECRET, "ada@acme.example"),
            }))
            .unwrap();
        e.ingest_event(opt).unwrap();
        let served = e.event_bytes(&c.id()).unwrap().unwrap();
        assert!(!contains(&served, b"Ada Lovelace"), "still served with Ada");
        assert_eq!(
            SignedEvent::decode(&served, &e.network()).unwrap().id(),
            c.id()
        );
        // Nor a snapshot: the state at the end of the finalized prefix still lists
        // her card while the OptOut is not final, with her teaser erased as every
        // listing's is. So a start while the OptOut waits still starts from it: the
        // finalized prefix did not move, and the saved snapshot stands.
        assert!(e.save_snapshot().unwrap().is_none());
        let saved = e.store().get_snapshot().unwrap().expect("a snapshot");
        assert!(!contains(&saved, b"Ada Lovelace"), "the snapshot holds Ada");
        let root = e.ledger().state_root();
        let store = e.store();
        drop(e);
        let (mut again, reopened) = Engine::reopen(store, genesis, org).unwrap();
        assert!(
            reopened.from_records,
            "started from the snapshot and the records"
        );
        assert_eq!(again.ledger().state_root(), root);
        assert!(!contains(
            &again.event_bytes(&c.id()).unwrap().unwrap(),
            b"Ada Lovelace"
        ));
    }

    /// An opt-out of a listing's current key erases every teaser of the listing, in
    /// memory and on disk, with its held card; a late Update of it is stored erased;
    /// another listing is left alone; ids and the state root do not depend on which
    /// form a node holds; and a node that stopped before erasing erases at start.
    #[test]
    fn an_opt_out_erases_the_listings_teasers_its_card_and_late_arrivals() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, genesis, org) = one_org_engine(dir.path());
        let (_, mut m) = enroll(&mut e, 10);
        let mut shown: Vec<SignedEvent> = e.ledger().events().map(|e| e.into_owned()).collect();
        let mut put = |e: &mut Engine, payload: Payload, card: Card| {
            let ev = m
                .sign(payload, vec![], e.ledger().max_lamport(), 5)
                .unwrap();
            e.contribute(ev.as_bytes(), card).unwrap();
            ev
        };
        let ada = named("Ada Lovelace", "ada@acme.example");
        let bob = named("Bob Babbage", "bob@acme.example");
        let c_ada = put(
            &mut e,
            Payload::Contribute(Contribute {
                listing: ada.listing(&SECRET).unwrap(),
            }),
            ada.clone(),
        );
        let c_bob = put(
            &mut e,
            Payload::Contribute(Contribute {
                listing: bob.listing(&SECRET).unwrap(),
            }),
            bob.clone(),
        );
        // Ada moves; the opt-out names her new address, the listing's current key.
        let moved = named("Ada Lovelace", "ada@analytical.example");
        let u_ada = put(
            &mut e,
            Payload::Update(Update {
                listing_id: c_ada.id(),
                listing: moved.listing(&SECRET).unwrap(),
            }),
            moved.clone(),
        );
        shown.extend([c_ada.clone(), c_bob.clone(), u_ada.clone()]);
        // The erased forms give the same ids and the same state root as the shown ones.
        let root = |events: &[SignedEvent]| {
            let mut l = Ledger::new(genesis.clone());
            for ev in events {
                l.insert(ev.clone()).unwrap();
            }
            l.state_root()
        };
        let erased: Vec<SignedEvent> = shown
            .iter()
            .map(|ev| ev.erased().unwrap_or_else(|| ev.clone()))
            .collect();
        assert_eq!(root(&shown), root(&erased));

        let opt = e
            .sign_as_org(Payload::OptOut(OptOut {
                dedup_key: dedup_key(&SECRET, "ada@analytical.example"),
            }))
            .unwrap();
        e.ingest_event(opt).unwrap();
        let store = e.store();
        for ev in [&c_ada, &u_ada] {
            let id = ev.id();
            let held = e.event_bytes(&id).unwrap().unwrap();
            assert!(!contains(&held, b"Ada Lovelace"), "{id} still shows Ada");
            let stored = store.event_bytes_at(ev.lamport(), &id).unwrap();
            assert_eq!(stored.unwrap(), held);
            assert_eq!(SignedEvent::decode(&held, &e.network()).unwrap().id(), id);
        }
        assert!(contains(
            &e.event_bytes(&c_bob.id()).unwrap().unwrap(),
            b"Bob Babbage"
        ));
        // No snapshot holds a teaser: an erasure makes none due.
        assert!(!e.snapshot_due());
        // The held card goes at the next look for deliveries; Bob's stays.
        e.due_deliveries();
        assert_eq!(store.get_card(&c_ada.id(), &org).unwrap(), None);
        assert!(store.get_card(&c_bob.id(), &org).unwrap().is_some());

        // A late Update of the erased listing (void) is stored erased.
        let late = m
            .sign(
                Payload::Update(Update {
                    listing_id: c_ada.id(),
                    listing: ada.listing(&SECRET).unwrap(),
                }),
                vec![c_ada.id()],
                e.ledger().max_lamport(),
                6,
            )
            .unwrap();
        e.ingest_event(late.clone()).unwrap();
        assert!(!contains(
            &e.event_bytes(&late.id()).unwrap().unwrap(),
            b"Ada Lovelace"
        ));

        // A node that stopped between storing and erasing erases at start.
        store.replace_events(std::slice::from_ref(&c_ada)).unwrap();
        drop((e, store));
        let store = Store::open(&dir.path().join("events.redb"), genesis.network_id()).unwrap();
        let e = Engine::open(store.clone(), genesis.clone(), org).unwrap();
        for ev in [&c_ada, &u_ada, &late] {
            let id = ev.id();
            assert!(!contains(
                &store.event_bytes_at(ev.lamport(), &id).unwrap().unwrap(),
                b"Ada Lovelace"
            ));
            assert!(!contains(
                &e.event_bytes(&id).unwrap().unwrap(),
                b"Ada Lovelace"
            ));
        }
        assert!(contains(
            &e.event_bytes(&c_bob.id()).unwrap().unwrap(),
            b"Bob Babbage"
        ));
    }

    /// An opt-out of an address the listing no longer has erases only the events that
    /// carried it: the listing lives on under its new address and shows its teaser.
    #[test]
    fn an_opt_out_of_a_former_address_erases_only_the_events_that_carried_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut e, _, org) = one_org_engine(dir.path());
        let (_, mut m) = enroll(&mut e, 10);
        let ada = named("Ada Lovelace", "ada@acme.example");
        let c = contribution(&mut e, &mut m, &ada);
        e.contribute(c.as_bytes(), ada).unwrap();
        let moved = named("Ada Byron", "ada@analytical.example");
        let u = m
            .sign(
                Payload::Update(Update {
                    listing_id: c.id(),
                    listing: moved.listing(&SECRET).unwrap(),
                }),
                vec![c.id()],
                e.ledger().max_lamport(),
                6,
            )
            .unwrap();
        e.contribute(u.as_bytes(), moved).unwrap();
        let opt = e
            .sign_as_org(Payload::OptOut(OptOut {
                dedup_key: dedup_key(&SECRET, "ada@acme.example"),
            }))
            .unwrap();
        e.ingest_event(opt).unwrap();
        assert!(!contains(
            &e.event_bytes(&c.id()).unwrap().unwrap(),
            b"Ada Lovelace"
        ));
        assert!(contains(
            &e.event_bytes(&u.id()).unwrap().unwrap(),
            b"Ada Byron"
        ));
        e.due_deliveries();
        assert!(e.store().get_card(&c.id(), &org).unwrap().is_some());
        assert!(e.ledger().state().listings.contains_key(&c.id()));
    }
}
