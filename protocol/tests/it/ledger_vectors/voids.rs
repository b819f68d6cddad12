//! The `voids` scenario of docs/test-vectors/ledger.json: one event for each void
//! reason the main story leaves out, next to an applied event of each payload kind it
//! leaves out (Revoke, Update, Transfer, OptOut, Admit), and one event rejected by each
//! ordering check 1-4. Every step's outcome is checked as the scenario is built
//! (`Expect`), so the description stays true.

use super::world::World;
use super::{scenario_json, vote};
use carnet_protocol::hash::ContentId;
use carnet_protocol::ledger::Outcome::{self, Applied, Void};
use carnet_protocol::ledger::VoidReason::{self, *};
use carnet_protocol::payload::*;
use carnet_protocol::{EventBody, Hash32, Payload, PublicKey, SecretKey, SignedEvent};
use serde_json::Value;

const DESCRIPTION: &str = "Three orgs (the genesis of the main scenario) and six members: seller and colleague (org 0), buyer and second (org 1), poor and leaver (org 2). Each step shows one outcome (void reasons in snake case here). Org 0 enrolls buyer again (already_enrolled) and org 1's key (already_org), revokes buyer, org 1's member (not_the_members_org), and a key with no account (unknown_account); org 2 revokes leaver (applied), whose next event is void (author_not_active_member). Colleague names itself as referrer (bad_referrer), then the seller (applied), then the seller again (already_referred). Org 0 opts out a dedup key (applied) and again (opted_out); the seller contributes the card with that key (opted_out), then three cards, the second with a mobile line. Second buys before any grant (pay_or_play); poor, granted 5 points, buys (insufficient_balance); buyer buys with max_price 5 (price_above_max); the seller buys its own card (own_card); colleague buys it (same_org); buyer buys a Grant's id (unknown_listing), then the card (applied) and again (already_held); second and buyer buy three more. Org 0 delivers a listing's id (unknown_purchase); org 1 delivers the seller's card (not_holder); org 0 delivers buyer's purchase (applied), again (not_escrowed), and two of the others; buyer's purchase of the third card stays escrowed (bought in the epoch the checkpoint settles, it waits for the next settlement). Buyer reports a 4.x.x bounce (temporary_failure); second reports buyer's purchase (not_buyer); buyer reports its undelivered purchase (not_delivered), then a bounce (applied); second reports the same address (already_reported); poor buys the bounced card (listing_not_buyable); org 0 disputes the report (applied) and again (cannot_dispute); buyer reports a mobile number on its card without a phone (opening_mismatch), then on the card with one (applied: withdrawn). Updates by another member (not_contributor), of a Grant's id (unknown_listing), of the withdrawn card (listing_not_buyable), to the opted-out dedup key (opted_out), to the dedup key of another listing (duplicate_card), and a new title (applied: the bounced card is Active again). Buyer transfers to itself (self_transfer), to a key with no account (unknown_account), above its balance (insufficient_balance), and 5 points to poor (applied). Org 0 votes to admit a fourth org (applied), again (already_voted), and votes to admit the seller (already_enrolled); orgs 1 and 2 vote (applied: admitted, a quorum of three is all three); org 1 votes once more (already_org); the new org signs a Seal naming the Admit (applied). Org 0 signs a Checkpoint whose bound is not below its own clock (bound_not_below_clock); org 0 seals its members' events and all four orgs sign one claim (finalized: the only epoch); in the tail, org 0 signs its claim at that bound a second time (already_signed). `rejected`: events a ledger holding all of them must reject, the next event of buyer's chain with one ordering check failing each: prev names another author's event, and prev with a seq gap (both prev_mismatch), time_backwards, lamport_too_low, lamport_jump.";

pub fn generate() -> Value {
    let (w, buyer) = scenario();
    scenario_json(&w, DESCRIPTION, rejected(&w, buyer))
}

/// A key no org introduced: no account.
fn nobody() -> PublicKey {
    SecretKey::from_seed([0x6b; 32]).public()
}

/// The scenario, and the index of the member whose chain `rejected` extends.
fn scenario() -> (World, usize) {
    let mut w = World::new(3);
    let mut ex = Expect::default();
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    let second = w.enroll(1);
    let colleague = w.enroll(0);
    let poor = w.enroll(2);
    let leaver = w.enroll(2);

    // Enroll and Revoke.
    let enroll = |member: PublicKey| {
        Payload::Enroll(Enroll {
            member,
            handle: "again".into(),
        })
    };
    let (again, org1) = (enroll(w.member_key(buyer)), enroll(w.org_key(1)));
    w.org_event(0, again, vec![]);
    ex.void(&w, AlreadyEnrolled);
    w.org_event(0, org1, vec![]);
    ex.void(&w, AlreadyOrg);
    let revoke = |member: PublicKey| {
        Payload::Revoke(Revoke {
            member,
            reason: "left".into(),
        })
    };
    let (other_org, unknown, own) = (
        revoke(w.member_key(buyer)),
        revoke(nobody()),
        revoke(w.member_key(leaver)),
    );
    w.org_event(0, other_org, vec![]);
    ex.void(&w, NotTheMembersOrg);
    w.org_event(0, unknown, vec![]);
    ex.void(&w, UnknownAccount);
    w.org_event(2, own, vec![]);
    ex.applied(&w);
    w.member_event(leaver, vote(), vec![]);
    ex.void(&w, AuthorNotActiveMember);

    // Referral.
    let refer = |referrer: PublicKey| Payload::Referral(Referral { referrer });
    let (itself, seller_ref) = (refer(w.member_key(colleague)), refer(w.member_key(seller)));
    w.member_event(colleague, itself, vec![]);
    ex.void(&w, BadReferrer);
    w.member_event(colleague, seller_ref.clone(), vec![]);
    ex.applied(&w);
    w.member_event(colleague, seller_ref, vec![]);
    ex.void(&w, AlreadyReferred);

    // OptOut.
    let opted = w.card(9, None).listing(&w.secret).unwrap();
    let opt_out = Payload::OptOut(OptOut {
        dedup_key: opted.dedup_key,
    });
    w.org_event(0, opt_out.clone(), vec![]);
    ex.applied(&w);
    w.org_event(0, opt_out, vec![]);
    ex.void(&w, OptedOut);
    w.contribute(seller, 9, None);
    ex.void(&w, OptedOut);

    // Purchases.
    let c1 = w.contribute(seller, 1, None).id();
    let c2 = w.contribute(seller, 2, Some("+447400123456")).id();
    let c3 = w.contribute(seller, 3, None).id();
    let granted = w.grant(buyer, 100).id();
    w.purchase(second, c1);
    ex.void(&w, PayOrPlay); // no grant, no held contribution
    w.grant(second, 100);
    w.grant(poor, 5);
    w.purchase(poor, c3);
    ex.void(&w, InsufficientBalance);
    w.purchase_at_most(buyer, c3, 5);
    ex.void(&w, PriceAboveMax);
    w.purchase(seller, c1);
    ex.void(&w, OwnCard);
    w.purchase(colleague, c1);
    ex.void(&w, SameOrg);
    w.purchase(buyer, granted);
    ex.void(&w, UnknownListing);
    let p1 = w.purchase(buyer, c1);
    ex.applied(&w);
    w.purchase(buyer, c1);
    ex.void(&w, AlreadyHeld);
    let p2 = w.purchase(second, c1);
    let p3 = w.purchase(buyer, c3); // never delivered: escrowed at the end
    let p4 = w.purchase(buyer, c2);

    // Deliveries.
    let deliver_listing = Payload::Deliver(Deliver {
        purchase_id: c1,
        ephemeral: [0x11; 32],
        sealed_card: vec![0x22; 48],
    });
    w.org_event(0, deliver_listing, vec![]);
    ex.void(&w, UnknownPurchase);
    w.deliver_by(1, &p1);
    ex.void(&w, NotHolder);
    w.deliver(&p1);
    ex.applied(&w);
    w.deliver(&p1);
    ex.void(&w, NotEscrowed);
    w.deliver(&p2);
    w.deliver(&p4);

    // Reports and a dispute.
    w.bounce(buyer, &p1, 4);
    ex.void(&w, TemporaryFailure);
    w.bounce(second, &p1, 5);
    ex.void(&w, NotBuyer);
    w.bounce(buyer, &p3, 5);
    ex.void(&w, NotDelivered);
    let report = w.bounce(buyer, &p1, 5).id();
    ex.applied(&w);
    w.bounce(second, &p2, 5);
    ex.void(&w, AlreadyReported);
    w.purchase(poor, c1);
    ex.void(&w, ListingNotBuyable); // bounced
    let dispute = Payload::Dispute(Dispute {
        report_id: report,
        finding: "the mailbox accepted mail that day".into(),
    });
    w.org_event(0, dispute.clone(), vec![]);
    ex.applied(&w);
    w.org_event(0, dispute, vec![]);
    ex.void(&w, CannotDispute);
    let no_phone = Payload::MobileReport(MobileReport {
        purchase_id: p1.id(),
        voucher: Voucher([0x33; 64]),
    });
    w.member_event(buyer, no_phone, vec![]);
    ex.void(&w, OpeningMismatch);
    w.mobile(buyer, &p4);
    ex.applied(&w); // the card is withdrawn

    // Updates.
    let mut retitled = w.card(1, None);
    retitled.teaser.title = "CEO".into();
    let retitled = retitled.listing(&w.secret).unwrap();
    let taken = w.card(3, None).listing(&w.secret).unwrap();
    let update = |listing_id: ContentId, listing: &Listing| {
        Payload::Update(Update {
            listing_id,
            listing: listing.clone(),
        })
    };
    let withdrawn = w.card(2, None).listing(&w.secret).unwrap();
    let steps = [
        (second, update(c1, &retitled), Void(NotContributor)),
        (seller, update(granted, &retitled), Void(UnknownListing)),
        (seller, update(c2, &withdrawn), Void(ListingNotBuyable)),
        (seller, update(c1, &opted), Void(OptedOut)),
        (seller, update(c1, &taken), Void(DuplicateCard)),
        // The bounced card is Active again.
        (seller, update(c1, &retitled), Applied),
    ];
    for (m, payload, outcome) in steps {
        w.member_event(m, payload, vec![]);
        ex.last(&w, outcome);
    }

    // Transfers.
    let transfer = |to: PublicKey, points: u64| Payload::Transfer(Transfer { to, points });
    let steps = [
        (transfer(w.member_key(buyer), 5), Void(SelfTransfer)),
        (transfer(nobody(), 5), Void(UnknownAccount)),
        (
            transfer(w.member_key(second), 1000),
            Void(InsufficientBalance),
        ),
        (transfer(w.member_key(poor), 5), Applied),
    ];
    for (payload, outcome) in steps {
        w.member_event(buyer, payload, vec![]);
        ex.last(&w, outcome);
    }

    // Admit: a quorum of three orgs is all three.
    let fourth = SecretKey::from_seed([0x6c; 32]);
    let admit = |org: PublicKey| {
        Payload::Admit(Admit {
            org,
            name: "Org 3".into(),
        })
    };
    let (admit_fourth, admit_seller) = (admit(fourth.public()), admit(w.member_key(seller)));
    w.org_event(0, admit_fourth.clone(), vec![]);
    ex.applied(&w); // a vote
    w.org_event(0, admit_fourth.clone(), vec![]);
    ex.void(&w, AlreadyVoted);
    w.org_event(0, admit_seller, vec![]);
    ex.void(&w, AlreadyEnrolled);
    w.org_event(1, admit_fourth.clone(), vec![]);
    ex.applied(&w); // a vote
    let admitted = w.org_event(2, admit_fourth.clone(), vec![]).id();
    ex.applied(&w); // admitted
    w.org_event(1, admit_fourth, vec![]);
    ex.void(&w, AlreadyOrg);
    w.orgs.push(
        carnet_protocol::author::Author::new(fourth, w.network).introduced_by(Some(admitted)),
    );
    w.org_event(3, Payload::Seal(Seal {}), vec![]);
    ex.applied(&w); // the admitted org's first event names the Admit

    // Checkpoints.
    let bound = w.clock + 1;
    let early = Payload::Checkpoint(Checkpoint {
        lamport_bound: bound,
        source: Hash32::ZERO,
        event_count: 0,
        events_root: Hash32::ZERO,
        state_root: Hash32::ZERO,
        heads: vec![],
    });
    let early = w.org_event(0, early, vec![]);
    ex.void(&w, BoundNotBelowClock);
    assert!(early.lamport() <= bound);
    let signed = w.checkpoint(&[0, 1, 2, 3]);
    assert_eq!(signed.len(), 4, "something to claim");
    for e in &signed {
        ex.0.push((e.id(), Applied));
    }
    let claim = signed[0].payload().clone();
    w.org_event(0, claim, vec![]);
    ex.void(&w, AlreadySigned);
    ex.check(&w);
    (w, buyer)
}

/// The outcome each step of the scenario is there to show, checked against the ledger.
#[derive(Default)]
struct Expect(Vec<(ContentId, Outcome)>);

impl Expect {
    /// The last event of the log must have `outcome`.
    fn last(&mut self, w: &World, outcome: Outcome) {
        self.0.push((w.log.last().expect("an event").id(), outcome));
    }

    fn void(&mut self, w: &World, reason: VoidReason) {
        self.last(w, Void(reason));
    }

    fn applied(&mut self, w: &World) {
        self.last(w, Applied);
    }

    fn check(&self, w: &World) {
        let mut l = w.ledger();
        assert_eq!(l.finals().len(), 1, "the checkpoint is final");
        let s = l.state();
        for (id, outcome) in &self.0 {
            assert_eq!(s.outcome(id), *outcome, "{id:?}");
        }
    }
}

/// Events a ledger holding the scenario must reject at ordering, checks 1-4: each
/// would be the next event of member `m`'s chain.
fn rejected(w: &World, m: usize) -> Vec<(&'static str, SignedEvent)> {
    use carnet_protocol::limits::MAX_LAMPORT_STEP;
    let key = w.members[m].0.key().clone();
    let head = w.members[m].0.head().expect("the member has signed");
    let other = w
        .log
        .iter()
        .rev()
        .find(|e| e.author() != key.public() && e.lamport() < w.clock)
        .expect("another author's event")
        .id();
    let body = EventBody {
        network: w.network,
        author: key.public(),
        seq: head.seq + 1,
        prev: Some(head.id),
        lamport: w.clock + 1,
        deps: vec![],
        timestamp_ms: w.now,
        payload: vote(),
    };
    let sign = |b: EventBody| SignedEvent::sign(b, &key).unwrap();
    vec![
        (
            "prev names another author's event (check 1, prev_mismatch)",
            sign(EventBody {
                prev: Some(other),
                ..body.clone()
            }),
        ),
        (
            "prev names the author's last event, but seq skips one (check 1, prev_mismatch)",
            sign(EventBody {
                seq: head.seq + 2,
                ..body.clone()
            }),
        ),
        (
            "timestamp_ms 1 ms below that of the prev event (check 2, time_backwards)",
            sign(EventBody {
                timestamp_ms: head.timestamp_ms - 1,
                ..body.clone()
            }),
        ),
        (
            "lamport equal to that of the prev event (check 3, lamport_too_low)",
            sign(EventBody {
                lamport: head.lamport,
                ..body.clone()
            }),
        ),
        (
            "lamport MAX_LAMPORT_STEP + 1 above that of the prev event, its only reference (check 4, lamport_jump)",
            sign(EventBody {
                lamport: head.lamport + MAX_LAMPORT_STEP + 1,
                ..body
            }),
        ),
    ]
}

/// The balances the rules give by hand (docs/protocol.md, "Ledger"), as the file says.
#[test]
fn voids_scenario_balances_are_the_rules() {
    let file = super::read();
    let (_, v) = super::scenarios(&file)
        .into_iter()
        .find(|(name, _)| name == "voids")
        .expect("the voids scenario");
    let (w, _) = scenario();
    let account = |m: usize| &v["accounts"][w.member_key(m).to_hex()];
    let balance = |m: usize| account(m)["balance"].as_i64().unwrap();
    // seller: three sales at 10 (no commission), -10 (bounce), -100 (mobile); its
    // cards' rewards: the bounced and the mobile one forfeited, the unsold one pending.
    assert_eq!(balance(0), 30 - 10 - 100);
    assert_eq!(account(0)["pending"], 10);
    // buyer: grant 100, three purchases, bounty 10, 5 transferred; one purchase in escrow.
    assert_eq!(balance(1), 100 - 30 + 10 - 5);
    assert_eq!(account(1)["escrow"], 10);
    // second: grant 100, one purchase. poor: grant 5 and the 5 transferred.
    assert_eq!(balance(2), 90);
    assert_eq!(balance(4), 10);
    // colleague and leaver: 0; the four orgs: 0.
    assert_eq!(balance(3), 0);
    assert_eq!(balance(5), 0);
    assert_eq!(v["accounts"].as_object().unwrap().len(), 6 + 4);
}
