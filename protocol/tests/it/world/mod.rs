//! A simulated network for ledger tests: orgs and members that write valid events.
#![allow(dead_code)]

use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, seal_card, Card};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::hash::{ContentId, NetworkId};
use carnet_protocol::ledger::{
    Archive, ArchiveError, Index, Ledger, MemoryArchive, Resume, Snapshot, Stub,
};
use carnet_protocol::payload::*;
use carnet_protocol::testkit;
use carnet_protocol::{PublicKey, SecretKey, SignedEvent};
use std::sync::Arc;

pub const DAY: u64 = 24 * 60 * 60 * 1000;

pub struct World {
    pub genesis: Genesis,
    pub network: NetworkId,
    /// The network secret its org nodes hold, for the listings' dedup keys.
    pub secret: carnet_protocol::card::NetworkSecret,
    pub orgs: Vec<Author>,
    pub members: Vec<(Author, usize)>,
    pub cards: Vec<(ContentId, Card, usize)>,
    pub clock: u64,
    pub now: u64,
    pub log: Vec<SignedEvent>,
    /// Events every ledger must reject once they are complete (a stranger's), never
    /// part of `log`.
    pub rejected: Vec<SignedEvent>,
}

impl World {
    pub fn new(orgs: usize) -> Self {
        Self::with_rules(orgs, Rules::default())
    }

    pub fn with_rules(orgs: usize, rules: Rules) -> Self {
        let keys: Vec<SecretKey> = (0..orgs).map(testkit::org_key).collect();
        let genesis = testkit::genesis("test network", &keys, rules, testkit::T0);
        let network = genesis.network_id();
        World {
            orgs: keys.into_iter().map(|k| Author::new(k, network)).collect(),
            genesis,
            network,
            secret: carnet_protocol::card::NetworkSecret([0x4b; 32]),
            members: Vec::new(),
            cards: Vec::new(),
            clock: 0,
            now: 1_700_000_000_000,
            log: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn record(&mut self, ev: SignedEvent) -> SignedEvent {
        self.clock = self.clock.max(ev.lamport());
        self.log.push(ev.clone());
        ev
    }

    pub fn org_event(&mut self, org: usize, payload: Payload, deps: Vec<ContentId>) -> SignedEvent {
        let ev = self.orgs[org]
            .sign(payload, deps, self.clock, self.now)
            .unwrap();
        self.record(ev)
    }

    pub fn member_event(
        &mut self,
        m: usize,
        payload: Payload,
        deps: Vec<ContentId>,
    ) -> SignedEvent {
        let ev = self.members[m]
            .0
            .sign(payload, deps, self.clock, self.now)
            .unwrap();
        self.record(ev)
    }

    pub fn org_key(&self, org: usize) -> PublicKey {
        self.orgs[org].public()
    }

    pub fn member_key(&self, m: usize) -> PublicKey {
        self.members[m].0.public()
    }

    /// Enrolls a new member of `org`; returns its index.
    pub fn enroll(&mut self, org: usize) -> usize {
        let i = self.members.len();
        let key = testkit::key("member", i);
        let member = key.public();
        let enroll = self.org_event(
            org,
            Payload::Enroll(Enroll {
                member,
                handle: format!("member{i}"),
            }),
            vec![],
        );
        let author = Author::new(key, self.network).introduced_by(Some(enroll.id()));
        self.members.push((author, org));
        i
    }

    pub fn grant(&mut self, m: usize, points: u64) -> SignedEvent {
        let org = self.members[m].1;
        let member = self.member_key(m);
        self.org_event(
            org,
            Payload::Grant(Grant {
                member,
                points,
                memo: String::new(),
            }),
            vec![],
        )
    }

    pub fn card(&self, n: usize, phone: Option<&str>) -> Card {
        testkit::with_phone(testkit::card(n), n, phone)
    }

    /// A vote member `m` signs as its first event with the clock of its Enroll,
    /// without recording it: valid, and sorting before everything after its Enroll,
    /// as from a member that never saw the rest. The member must not have signed
    /// before.
    pub fn backdated_vote(&self, m: usize) -> SignedEvent {
        let member = self.member_key(m);
        let enrolled = self
            .log
            .iter()
            .find(|e| matches!(e.payload(), Payload::Enroll(x) if x.member == member))
            .map_or(0, |e| e.lamport());
        self.members[m]
            .0
            .clone()
            .sign(
                Payload::Vote(Vote {
                    company_domain: "acme.example".into(),
                    employees: EmployeeRange::From1To10,
                    revenue: RevenueRange::Under1M,
                }),
                vec![],
                enrolled,
                self.now,
            )
            .unwrap()
    }

    /// A first event by key `k`, never enrolled, with clock 1 and no deps: what a
    /// stranger with a key and a socket sends. Recorded in `rejected`.
    pub fn stranger_vote(&mut self, k: u8) -> SignedEvent {
        let ev = Author::new(testkit::key("stranger", k as usize), self.network)
            .sign(
                Payload::Vote(Vote {
                    company_domain: "stranger.example".into(),
                    employees: EmployeeRange::From1To10,
                    revenue: RevenueRange::Under1M,
                }),
                vec![],
                0,
                self.now,
            )
            .unwrap();
        self.rejected.push(ev.clone());
        ev
    }

    /// Member `m` enrolls a key of its own (void: only orgs enroll), and that key's
    /// first event names the Enroll as its introduction. The Enroll goes to `log`, the
    /// key's event to `rejected`: a member cannot introduce anyone.
    pub fn sybil(&mut self, m: usize, k: u8) {
        let key = testkit::key("sybil", k as usize);
        let enroll = self.member_event(
            m,
            Payload::Enroll(Enroll {
                member: key.public(),
                handle: format!("sybil{k}"),
            }),
            vec![],
        );
        let ev = Author::new(key, self.network)
            .introduced_by(Some(enroll.id()))
            .sign(
                Payload::Vote(Vote {
                    company_domain: "sybil.example".into(),
                    employees: EmployeeRange::From1To10,
                    revenue: RevenueRange::Under1M,
                }),
                vec![],
                self.clock,
                self.now,
            )
            .unwrap();
        self.rejected.push(ev);
    }

    /// A Contribute of card `n` signed by `twin`, a clone of a member's signer taken
    /// before the member's next event, with today's clock; not recorded. Beside the
    /// member's own next event, a fork of its chain.
    pub fn twin_contribute(&self, twin: &mut Author, n: usize) -> SignedEvent {
        let listing = self.card(n, None).listing(&self.secret).unwrap();
        twin.sign(
            Payload::Contribute(Contribute { listing }),
            vec![],
            self.clock,
            self.now,
        )
        .unwrap()
    }

    /// Member `m` contributes card number `n`; returns the Contribute event.
    pub fn contribute(&mut self, m: usize, n: usize, phone: Option<&str>) -> SignedEvent {
        let card = self.card(n, phone);
        let listing = card.listing(&self.secret).unwrap();
        let ev = self.member_event(m, Payload::Contribute(Contribute { listing }), vec![]);
        self.cards.push((ev.id(), card, m));
        ev
    }

    pub fn card_of(&self, listing: ContentId) -> Card {
        self.cards
            .iter()
            .find(|c| c.0 == listing)
            .unwrap()
            .1
            .clone()
    }

    pub fn purchase(&mut self, m: usize, listing: ContentId) -> SignedEvent {
        self.purchase_at_most(m, listing, 10)
    }

    /// [`World::purchase`] with `max_price` as the most member `m` agrees to pay.
    pub fn purchase_at_most(
        &mut self,
        m: usize,
        listing: ContentId,
        max_price: u64,
    ) -> SignedEvent {
        let recipient = recipient_public(testkit::seed("recipient", m));
        self.member_event(
            m,
            Payload::Purchase(Purchase {
                listing_id: listing,
                recipient,
                max_price,
            }),
            vec![],
        )
    }

    /// The contributor's org delivers the card for `purchase`.
    pub fn deliver(&mut self, purchase: &SignedEvent) -> SignedEvent {
        let Payload::Purchase(p) = purchase.payload() else {
            panic!("not a purchase")
        };
        let contributor = self.cards.iter().find(|c| c.0 == p.listing_id).unwrap().2;
        let org = self.members[contributor].1;
        self.deliver_by(org, purchase)
    }

    /// Org `org` delivers the card for `purchase`, sealed to its recipient, whether or
    /// not it is the contributor's org.
    pub fn deliver_by(&mut self, org: usize, purchase: &SignedEvent) -> SignedEvent {
        let Payload::Purchase(p) = purchase.payload() else {
            panic!("not a purchase")
        };
        let card = self.card_of(p.listing_id);
        let (ephemeral, sealed_card) = seal_card(
            &card,
            &p.recipient,
            testkit::seed("ephemeral", self.log.len()),
            &purchase.id(),
        )
        .unwrap();
        self.org_event(
            org,
            Payload::Deliver(Deliver {
                purchase_id: purchase.id(),
                ephemeral,
                sealed_card,
            }),
            vec![],
        )
    }

    /// A bounce report by member `m`, vouched for by `m`'s org.
    pub fn bounce(&mut self, m: usize, purchase: &SignedEvent, class: u8) -> SignedEvent {
        let org = self.members[m].1;
        self.bounce_vouched_by(m, purchase, class, org)
    }

    /// A bounce report by member `m` with a voucher signed by org `voucher_org`.
    pub fn bounce_vouched_by(
        &mut self,
        m: usize,
        purchase: &SignedEvent,
        class: u8,
        voucher_org: usize,
    ) -> SignedEvent {
        let Payload::Purchase(p) = purchase.payload() else {
            panic!("not a purchase")
        };
        let card = self.card_of(p.listing_id);
        let status = DsnStatus {
            class,
            subject: 1,
            detail: 1,
        };
        let evidence = carnet_protocol::hash::evidence_hash(b"bounce");
        let body = carnet_protocol::voucher::VoucherBody {
            network: self.network,
            reporter: self.member_key(m),
            purchase_id: purchase.id(),
            evidence,
            status,
            email_commitment: carnet_protocol::card::commit_email(&card.email),
        };
        let voucher = carnet_protocol::voucher::sign(self.orgs[voucher_org].key(), &body);
        self.member_event(
            m,
            Payload::BounceReport(BounceReport {
                purchase_id: purchase.id(),
                evidence,
                status,
                voucher,
            }),
            vec![],
        )
    }

    /// Org `org` says it holds the cards of `listings` (sorted here).
    pub fn hold(&mut self, org: usize, listings: &[ContentId]) -> SignedEvent {
        let mut listings = listings.to_vec();
        listings.sort_unstable();
        listings.dedup();
        self.org_event(org, Payload::Hold(Hold { listings }), vec![])
    }

    /// Wall time moves on by `ms` and every org signs an empty Seal, so network time
    /// (a quorum of the orgs' clocks) reaches it: rewards due by then vest.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
        for o in 0..self.orgs.len() {
            self.org_event(o, Payload::Seal(Default::default()), vec![]);
        }
    }

    /// Past the bounce window: every reward of a card sold so far vests.
    pub fn vest(&mut self) {
        let window = self.genesis.rules.bounce_window_ms;
        self.advance(window + 1);
    }

    /// Member `m` reports the direct line of the card it bought with `purchase` as a
    /// mobile, vouched for by its own org (whose node checked the number).
    pub fn mobile(&mut self, m: usize, purchase: &SignedEvent) -> SignedEvent {
        let org = self.members[m].1;
        self.mobile_vouched_by(m, purchase, org)
    }

    /// [`World::mobile`] with the voucher of org `voucher_org`.
    pub fn mobile_vouched_by(
        &mut self,
        m: usize,
        purchase: &SignedEvent,
        voucher_org: usize,
    ) -> SignedEvent {
        let Payload::Purchase(p) = purchase.payload() else {
            panic!("not a purchase")
        };
        let card = self.card_of(p.listing_id);
        let phone = card.phone.clone().expect("a card with a phone");
        let body = carnet_protocol::voucher::MobileVoucherBody {
            network: self.network,
            reporter: self.member_key(m),
            purchase_id: purchase.id(),
            phone_commitment: carnet_protocol::card::commit_phone(&phone),
        };
        let voucher = carnet_protocol::voucher::sign_mobile(self.orgs[voucher_org].key(), &body);
        self.member_event(
            m,
            Payload::MobileReport(MobileReport {
                purchase_id: purchase.id(),
                voucher,
            }),
            vec![],
        )
    }

    /// Org `org` seals every event no org event reaches yet, as an org node does
    /// before it signs a checkpoint.
    pub fn seal(&mut self, org: usize) -> Vec<SignedEvent> {
        let unsealed: Vec<ContentId> = self.ledger().unsealed().map(|e| e.id()).collect();
        unsealed
            .chunks(carnet_protocol::limits::MAX_DEPS - 1)
            .map(|c| self.org_event(org, Payload::Seal(Default::default()), c.to_vec()))
            .collect()
    }

    /// Another round of settlement: the first org signs an empty Seal (something new
    /// to claim), then `orgs` sign a checkpoint. A purchase is refunded at the second
    /// settlement after it, so this follows a `checkpoint` that finalized it.
    pub fn settle_again(&mut self, orgs: &[usize]) -> Vec<SignedEvent> {
        if let Some(&o) = orgs.first() {
            self.org_event(o, Payload::Seal(Default::default()), vec![]);
        }
        self.checkpoint(orgs)
    }

    /// Orgs `orgs` each sign a checkpoint of everything so far (one shared claim),
    /// after the first of them sealed what no org event reaches yet.
    pub fn checkpoint(&mut self, orgs: &[usize]) -> Vec<SignedEvent> {
        if let Some(&o) = orgs.first() {
            self.seal(o);
        }
        let Some(claim) = self.ledger().claim_at(self.clock) else {
            return Vec::new();
        };
        orgs.iter()
            .map(|&o| self.org_event(o, Payload::Checkpoint(claim.clone()), vec![]))
            .collect()
    }

    /// A ledger holding the whole log, inserted in order.
    pub fn ledger(&self) -> Ledger {
        let mut l = Ledger::new(self.genesis.clone());
        for e in &self.log {
            l.insert(e.clone()).unwrap();
        }
        l
    }

    /// [`World::ledger`] as a node keeps it: the finalized events are in `store`,
    /// not in memory.
    pub fn archived_ledger(&self) -> (Ledger, Arc<Store>) {
        let (mut l, store) = Store::ledger(self.genesis.clone());
        for e in &self.log {
            l.insert(e.clone()).unwrap();
        }
        store.keep(&mut l);
        (l, store)
    }
}

/// A node's store, in memory: every event its ledger ordered, as received, and the
/// records of those it released.
#[derive(Default)]
pub struct Store(MemoryArchive, std::sync::atomic::AtomicUsize);

impl Archive for Store {
    fn event(&self, id: &ContentId) -> Result<Option<SignedEvent>, ArchiveError> {
        self.0.event(id)
    }
}

impl Index for Store {
    fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError> {
        self.0.stub(id)
    }

    fn first_at(&self, author: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError> {
        self.0.first_at(author, seq)
    }

    fn epoch_ids(&self, epoch: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError> {
        self.0.epoch_ids(epoch)
    }

    fn movements(
        &self,
        account: &PublicKey,
    ) -> Result<(u64, Vec<carnet_protocol::ledger::Movement>), ArchiveError> {
        self.0.movements(account)
    }

    fn cold(
        &self,
        table: u8,
        key: &[u8],
        floor: u64,
        at: u64,
    ) -> Result<Option<Vec<u8>>, ArchiveError> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.0.cold(table, key, floor, at)
    }

    fn cold_scan(
        &self,
        table: u8,
        floor: u64,
        at: u64,
    ) -> Result<carnet_protocol::ledger::ColdEntries, ArchiveError> {
        self.0.cold_scan(table, floor, at)
    }
}

impl Store {
    /// How many keys of the state's maps were looked up on disk so far.
    pub fn cold_reads(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// An empty ledger whose archive is a new, empty store.
    pub fn ledger(genesis: Genesis) -> (Ledger, Arc<Store>) {
        let store = Arc::new(Store::default());
        let mut l = Ledger::with_snapshot_interval(genesis, 4);
        l.set_archive(store.clone());
        (l, store)
    }

    /// An empty ledger on this store, which keeps what it recorded: a node's start.
    pub fn reopen(self: &Arc<Self>, genesis: Genesis) -> Ledger {
        let mut l = Ledger::with_snapshot_interval(genesis, 4);
        l.set_archive(self.clone());
        l
    }

    /// Stores what `l` ordered so far, as a node does after each write, and lets `l`
    /// release what is finalized.
    pub fn keep(&self, l: &mut Ledger) {
        let items = l.all_items();
        self.0.keep(items.iter().filter_map(|(_, id)| l.get(id)));
        let released = l.releasable();
        self.0.put_released(&released);
        l.release(&released);
        assert!(l.take_archive_error().is_none());
    }

    /// Stores what `l` ordered so far, writing no record: a node that stopped
    /// between storing events and recording what it finalized.
    pub fn keep_events(&self, l: &Ledger) {
        let items = l.all_items();
        self.0.keep(items.iter().filter_map(|(_, id)| l.get(id)));
    }

    /// What a node's start from this store is given besides the snapshot: the events
    /// `l` holds in memory and those recorded above the snapshot's last epoch, and
    /// the records (see [`carnet_protocol::ledger::Resume`]).
    pub fn resume(self: &Arc<Self>, l: &Ledger, snapshot: Snapshot) -> Resume {
        let (epochs, _) = snapshot.finalized_digest();
        let items = l.all_items();
        let mut events: Vec<SignedEvent> = items
            .iter()
            .filter_map(|(_, id)| l.get(id).cloned())
            .collect();
        events.extend(
            self.0
                .ids_above(epochs)
                .iter()
                .filter_map(|id| self.0.event(id).ok().flatten()),
        );
        Resume {
            digest: self.0.digest_at(epochs).unwrap_or_default(),
            snapshot,
            archive: self.clone(),
            heads: self.0.heads(),
            items: carnet_protocol::ledger::Items::from_items(items),
            events,
        }
    }
}
