//! One test per ledger rule, each checking balances against what the rules give by hand.

use crate::world;

use carnet_protocol::genesis::Rules;
use carnet_protocol::ledger::*;
use carnet_protocol::payload::*;
use world::{World, DAY};

fn outcome(w: &World, ev: &carnet_protocol::SignedEvent) -> Outcome {
    w.ledger().state().outcome(&ev.id())
}

fn balance(w: &World, key: &carnet_protocol::PublicKey) -> i64 {
    w.ledger().state().balance(key).unwrap()
}

/// Points earned but not yet vested.
fn pending(w: &World, key: &carnet_protocol::PublicKey) -> i64 {
    w.ledger().state().accounts[key].pending
}

/// Two orgs; member 0 of org 0 sells, member 1 of org 1 buys with a Grant.
fn market() -> (World, usize, usize) {
    let mut w = World::new(2);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    w.grant(buyer, 100);
    (w, seller, buyer)
}

#[test]
fn contribute_earns_once_per_dedup_key() {
    let (mut w, seller, buyer) = market();
    let first = w.contribute(seller, 1, None);
    assert_eq!(outcome(&w, &first), Outcome::Applied);
    // Earned, but pending until the card sells and outlives the bounce window.
    assert_eq!(balance(&w, &w.member_key(seller)), 0);
    assert_eq!(pending(&w, &w.member_key(seller)), 10);
    // The same email from another member: first in ledger order wins, the copy earns nothing.
    let dup = w.contribute(buyer, 1, None);
    assert_eq!(outcome(&w, &dup), Outcome::Void(VoidReason::DuplicateCard));
    assert_eq!(balance(&w, &w.member_key(buyer)), 100);
    let second = w.contribute(seller, 2, None);
    assert_eq!(outcome(&w, &second), Outcome::Applied);
    assert_eq!(pending(&w, &w.member_key(seller)), 20);
}

#[test]
fn update_earns_at_most_once_per_30_days() {
    let (mut w, seller, _) = market();
    let c = w.contribute(seller, 1, None);
    let mut card = w.card(1, None);
    card.teaser.title = "CEO".into();
    let listing = card.listing(&w.secret).unwrap();
    let upd = |w: &mut World, listing: &Listing| {
        w.member_event(
            seller,
            Payload::Update(Update {
                listing_id: c.id(),
                listing: listing.clone(),
            }),
            vec![],
        )
    };
    upd(&mut w, &listing);
    assert_eq!(
        pending(&w, &w.member_key(seller)),
        10,
        "too soon after contributing"
    );
    w.now += 30 * DAY;
    upd(&mut w, &listing);
    assert_eq!(pending(&w, &w.member_key(seller)), 20);
    w.now += DAY;
    upd(&mut w, &listing);
    assert_eq!(
        pending(&w, &w.member_key(seller)),
        20,
        "second update within 30 days"
    );
    // Someone else cannot update the card.
    let other = w.enroll(0);
    let ev = w.member_event(
        other,
        Payload::Update(Update {
            listing_id: c.id(),
            listing,
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &ev), Outcome::Void(VoidReason::NotContributor));
}

#[test]
fn purchase_escrows_and_delivery_pays_the_contributor() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.balance(&w.member_key(buyer)), Some(90));
    assert_eq!(s.accounts[&w.member_key(buyer)].escrow, 10);
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Escrowed);
    w.deliver(&p);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.balance(&w.member_key(buyer)), Some(90));
    assert_eq!(s.accounts[&w.member_key(buyer)].escrow, 0);
    // The price is paid at once; the contribution's reward waits for the window.
    assert_eq!(s.balance(&w.member_key(seller)), Some(10));
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 10);
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Delivered);
    // Buying the same card twice is refused.
    let again = w.purchase(buyer, c.id());
    assert_eq!(outcome(&w, &again), Outcome::Void(VoidReason::AlreadyHeld));
    // A day short of the bounce window nothing vests; past it, the reward does.
    w.advance(w.genesis.rules.bounce_window_ms - DAY);
    assert_eq!(balance(&w, &w.member_key(seller)), 10);
    w.advance(2 * DAY);
    assert_eq!(balance(&w, &w.member_key(seller)), 20);
    assert_eq!(pending(&w, &w.member_key(seller)), 0);
    let hist = w.ledger().state().history(&w.member_key(seller));
    assert_eq!(
        hist.iter().map(|m| (m.delta, m.reason)).collect::<Vec<_>>(),
        vec![
            (10, MovementReason::SaleProceeds),
            (10, MovementReason::ContributeReward)
        ]
    );
}

#[test]
fn commission_goes_to_the_host_org() {
    let rules = Rules {
        commission_bps: 2000,
        ..Rules::default()
    };
    let mut w = World::with_rules(2, rules);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    w.grant(buyer, 100);
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    assert_eq!(balance(&w, &w.member_key(seller)), 8);
    assert_eq!(balance(&w, &w.org_key(0)), 2);
    w.vest();
    assert_eq!(balance(&w, &w.member_key(seller)), 10 + 8);
}

#[test]
fn undelivered_purchase_is_refunded_at_the_next_settled_checkpoint() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    // One org of two is not a quorum (more than 2/3 is needed): nothing settles.
    w.checkpoint(&[0]);
    assert_eq!(balance(&w, &w.member_key(buyer)), 90);
    // Final, but the purchase gets a whole epoch to be delivered.
    w.checkpoint(&[0, 1]);
    assert!(w.ledger().state().finalized.is_some());
    assert_eq!(balance(&w, &w.member_key(buyer)), 90);
    let cps = w.settle_again(&[0, 1]);
    let mut l = w.ledger();
    let s = l.state();
    assert!(s.finalized.is_some());
    assert_eq!(s.balance(&w.member_key(buyer)), Some(100));
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Refunded);
    // A Deliver after the refund pays no one.
    let d = w.deliver(&p);
    assert_eq!(outcome(&w, &d), Outcome::Void(VoidReason::NotEscrowed));
    assert_eq!(balance(&w, &w.member_key(seller)), 0);
    // Unsold, the card's reward never vests.
    w.vest();
    assert_eq!(pending(&w, &w.member_key(seller)), 10);
    assert_eq!(cps.len(), 2);
}

#[test]
fn spending_beyond_the_balance_is_void() {
    let mut w = World::new(2);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    w.grant(buyer, 15);
    let a = w.contribute(seller, 1, None);
    let b = w.contribute(seller, 2, None);
    let p1 = w.purchase(buyer, a.id());
    let p2 = w.purchase(buyer, b.id());
    assert_eq!(outcome(&w, &p1), Outcome::Applied);
    assert_eq!(
        outcome(&w, &p2),
        Outcome::Void(VoidReason::InsufficientBalance)
    );
    let t = w.member_event(
        buyer,
        Payload::Transfer(Transfer {
            to: w.member_key(seller),
            points: 6,
        }),
        vec![],
    );
    assert_eq!(
        outcome(&w, &t),
        Outcome::Void(VoidReason::InsufficientBalance)
    );
    assert_eq!(balance(&w, &w.member_key(buyer)), 5);
}

#[test]
fn pay_or_play_needs_25_recent_held_contributions_or_a_grant() {
    let mut w = World::new(2);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    // A subscribed colleague gives the buyer points: the buyer itself only plays.
    let colleague = w.enroll(1);
    w.grant(colleague, 50);
    w.member_event(
        colleague,
        Payload::Transfer(Transfer {
            to: w.member_key(buyer),
            points: 20,
        }),
        vec![],
    );
    let target = w.contribute(seller, 1000, None);
    let mine: Vec<_> = (0..25).map(|n| w.contribute(buyer, n, None).id()).collect();
    // Contributions count only once the org holds the cards.
    let p = w.purchase(buyer, target.id());
    assert_eq!(outcome(&w, &p), Outcome::Void(VoidReason::PayOrPlay));
    w.hold(1, &mine[..24]);
    let p = w.purchase(buyer, target.id());
    assert_eq!(outcome(&w, &p), Outcome::Void(VoidReason::PayOrPlay));
    let h = w.hold(1, &mine[23..]);
    assert_eq!(
        outcome(&w, &h),
        Outcome::Applied,
        "one new listing is enough"
    );
    let again = w.hold(1, &mine[23..]);
    assert_eq!(outcome(&w, &again), Outcome::Void(VoidReason::NothingHeld));
    // Another org cannot hold them.
    let foreign = w.hold(0, &mine[..1]);
    assert_eq!(
        outcome(&w, &foreign),
        Outcome::Void(VoidReason::NothingHeld)
    );
    let p = w.purchase(buyer, target.id());
    assert_eq!(outcome(&w, &p), Outcome::Applied);
    assert_eq!(balance(&w, &w.member_key(buyer)), 20 - 10);
    assert_eq!(pending(&w, &w.member_key(buyer)), 250);
    // Forty days later (network time) the contributions are out of the window.
    let other = w.contribute(seller, 1001, None);
    w.advance(40 * DAY);
    let p = w.purchase(buyer, other.id());
    assert_eq!(outcome(&w, &p), Outcome::Void(VoidReason::PayOrPlay));
}

#[test]
fn buyers_trade_across_orgs_only() {
    let mut w = World::new(2);
    let seller = w.enroll(0);
    let colleague = w.enroll(0);
    w.grant(colleague, 100);
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(colleague, c.id());
    assert_eq!(outcome(&w, &p), Outcome::Void(VoidReason::SameOrg));
    w.grant(seller, 100);
    let own = w.purchase(seller, c.id());
    assert_eq!(outcome(&w, &own), Outcome::Void(VoidReason::OwnCard));
}

#[test]
fn confirmed_bounce_pays_the_reporter_and_debits_the_contributor() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    // Before delivery there is nothing to report.
    let early = w.bounce(buyer, &p, 5);
    assert_eq!(outcome(&w, &early), Outcome::Void(VoidReason::NotDelivered));
    w.deliver(&p);
    let temp = w.bounce(buyer, &p, 4);
    assert_eq!(
        outcome(&w, &temp),
        Outcome::Void(VoidReason::TemporaryFailure)
    );
    // A voucher of another org than the reporter's is no voucher.
    let foreign = w.bounce_vouched_by(buyer, &p, 5, 0);
    assert_eq!(outcome(&w, &foreign), Outcome::Void(VoidReason::BadVoucher));
    let ok = w.bounce(buyer, &p, 5);
    assert_eq!(outcome(&w, &ok), Outcome::Applied);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.balance(&w.member_key(buyer)), Some(100 - 10 + 10));
    // The sale is paid, the penalty taken, and the card's pending reward lost.
    assert_eq!(s.balance(&w.member_key(seller)), Some(10 - 10));
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 0);
    assert_eq!(s.listings[&c.id()].status, ListingStatus::Bounced);
    let twice = w.bounce(buyer, &p, 5);
    assert_eq!(
        outcome(&w, &twice),
        Outcome::Void(VoidReason::AlreadyReported)
    );
}

/// Protocol 4: the report carries no opening, so the voucher is what ties it to the
/// address; a voucher the reporter's org signed for another address is void.
#[test]
fn bounce_vouched_for_another_address_is_void() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let status = DsnStatus {
        class: 5,
        subject: 1,
        detail: 1,
    };
    let evidence = carnet_protocol::hash::evidence_hash(b"x");
    let body = carnet_protocol::voucher::VoucherBody {
        network: w.network,
        reporter: w.member_key(buyer),
        purchase_id: p.id(),
        evidence,
        status,
        email_commitment: carnet_protocol::card::commit_email(&Opening {
            value: "someone.else@company1.example".into(),
            salt: [0; 32],
        }),
    };
    let org = w.members[buyer].1;
    let voucher = carnet_protocol::voucher::sign(w.orgs[org].key(), &body);
    let ev = w.member_event(
        buyer,
        Payload::BounceReport(BounceReport {
            purchase_id: p.id(),
            evidence,
            status,
            voucher,
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &ev), Outcome::Void(VoidReason::BadVoucher));
}

const UK_MOBILE: &str = "+447400123456";
const FR_MOBILE: &str = "+33612345678";
const UK_FIXED: &str = "+442079460000";

#[test]
fn phone_classification() {
    assert!(is_mobile_number(UK_MOBILE));
    assert!(is_mobile_number(FR_MOBILE));
    assert!(!is_mobile_number(UK_FIXED));
    assert!(!is_mobile_number("not a number"));
}

#[test]
fn mobile_numbers_cost_100_and_the_second_excludes() {
    let (mut w, seller, buyer) = market();
    let a = w.contribute(seller, 1, Some(UK_MOBILE));
    let b = w.contribute(seller, 2, Some(FR_MOBILE));
    let fixed = w.contribute(seller, 3, Some(UK_FIXED));
    let spare = w.contribute(seller, 4, None);
    let pa = w.purchase(buyer, a.id());
    let pb = w.purchase(buyer, b.id());
    let pf = w.purchase(buyer, fixed.id());
    for p in [&pa, &pb, &pf] {
        w.deliver(p);
    }
    // The ledger does not see the number: the reporter's org node classified it
    // before vouching, and a report vouched by another org (here the contributor's)
    // or by none is void.
    let seller_org = w.members[seller].1;
    let wrong_org = w.mobile_vouched_by(buyer, &pf, seller_org);
    assert_eq!(
        outcome(&w, &wrong_org),
        Outcome::Void(VoidReason::BadVoucher)
    );
    w.mobile(buyer, &pa);
    let mut l = w.ledger();
    let s = l.state();
    // Three sales paid, the penalty taken, the reported card's reward lost.
    assert_eq!(s.balance(&w.member_key(seller)), Some(30 - 100));
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 30);
    assert_eq!(s.listings[&a.id()].status, ListingStatus::Withdrawn);
    assert!(s.accounts[&w.member_key(seller)].is_active());
    w.mobile(buyer, &pb);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.balance(&w.member_key(seller)), Some(30 - 200));
    // Excluded: every pending reward is lost.
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 0);
    assert_eq!(
        s.accounts[&w.member_key(seller)].status,
        AccountStatus::Excluded(ExclusionCause::MobileNumbers)
    );
    // Excluded: listings withdrawn, no more contributing or buying.
    assert_eq!(s.listings[&spare.id()].status, ListingStatus::Withdrawn);
    let late = w.contribute(seller, 5, None);
    assert_eq!(
        outcome(&w, &late),
        Outcome::Void(VoidReason::AuthorNotActiveMember)
    );
}

#[test]
fn referral_bonus_lands_with_the_first_contribution() {
    let mut w = World::new(1);
    let referrer = w.enroll(0);
    let newcomer = w.enroll(0);
    let r = w.member_event(
        newcomer,
        Payload::Referral(Referral {
            referrer: w.member_key(referrer),
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &r), Outcome::Applied);
    assert_eq!(balance(&w, &w.member_key(referrer)), 0);
    w.contribute(newcomer, 1, None);
    // The bonus hangs on the first card: pending until it vests.
    assert_eq!(pending(&w, &w.member_key(referrer)), 125);
    w.contribute(newcomer, 2, None);
    assert_eq!(pending(&w, &w.member_key(referrer)), 125);
    assert_eq!(balance(&w, &w.member_key(referrer)), 0);
    let again = w.member_event(
        newcomer,
        Payload::Referral(Referral {
            referrer: w.member_key(referrer),
        }),
        vec![],
    );
    assert_eq!(
        outcome(&w, &again),
        Outcome::Void(VoidReason::AlreadyReferred)
    );
}

#[test]
fn grants_and_transfers() {
    let mut w = World::new(2);
    let a = w.enroll(0);
    let b = w.enroll(1);
    // 20 dollars of subscription at 5 points per dollar.
    w.grant(a, 20 * w.genesis.rules.points_per_dollar);
    w.member_event(
        a,
        Payload::Transfer(Transfer {
            to: w.member_key(b),
            points: 30,
        }),
        vec![],
    );
    assert_eq!(balance(&w, &w.member_key(a)), 70);
    assert_eq!(balance(&w, &w.member_key(b)), 30);
    // An org cannot grant to another org's member.
    let bad = w.org_event(
        0,
        Payload::Grant(Grant {
            member: w.member_key(b),
            points: 5,
            memo: String::new(),
        }),
        vec![],
    );
    assert_eq!(
        outcome(&w, &bad),
        Outcome::Void(VoidReason::NotTheMembersOrg)
    );
    let hist = w.ledger().state().history(&w.member_key(a));
    assert_eq!(
        hist.iter().map(|m| (m.delta, m.reason)).collect::<Vec<_>>(),
        vec![
            (100, MovementReason::Grant),
            (-30, MovementReason::TransferOut)
        ]
    );
}

#[test]
fn revoked_members_cannot_act() {
    let mut w = World::new(1);
    let m = w.enroll(0);
    w.org_event(
        0,
        Payload::Revoke(Revoke {
            member: w.member_key(m),
            reason: "left the company".into(),
        }),
        vec![],
    );
    let c = w.contribute(m, 1, None);
    assert_eq!(
        outcome(&w, &c),
        Outcome::Void(VoidReason::AuthorNotActiveMember)
    );
}

#[test]
fn unenrolled_keys_and_members_posing_as_orgs_are_void() {
    let mut w = World::new(1);
    let m = w.enroll(0);
    // A member cannot enroll anyone: Enroll needs an org author.
    let ev = w.member_event(
        m,
        Payload::Enroll(Enroll {
            member: carnet_protocol::PublicKey([9; 32]),
            handle: "x".into(),
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &ev), Outcome::Void(VoidReason::AuthorNotOrg));
}

#[test]
fn opt_out_erases_the_listing_and_refuses_the_key() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let key = w.card(1, None).listing(&w.secret).unwrap().dedup_key;
    w.org_event(1, Payload::OptOut(OptOut { dedup_key: key }), vec![]);
    let mut l = w.ledger();
    assert!(!l.state().listings.contains_key(&c.id()));
    let p = w.purchase(buyer, c.id());
    assert_eq!(outcome(&w, &p), Outcome::Void(VoidReason::UnknownListing));
    let again = w.contribute(buyer, 1, None);
    assert_eq!(outcome(&w, &again), Outcome::Void(VoidReason::OptedOut));
}

#[test]
fn company_votes_show_the_median() {
    let mut w = World::new(1);
    let ms: Vec<usize> = (0..3).map(|_| w.enroll(0)).collect();
    let votes = [
        (EmployeeRange::From11To50, RevenueRange::Under1M),
        (EmployeeRange::From51To200, RevenueRange::From10MTo50M),
        (EmployeeRange::Over10000, RevenueRange::From1MTo10M),
    ];
    for (m, (e, r)) in ms.iter().zip(votes) {
        w.member_event(
            *m,
            Payload::Vote(Vote {
                company_domain: "acme.example".into(),
                employees: e,
                revenue: r,
            }),
            vec![],
        );
    }
    // A member's later vote replaces its earlier one.
    w.member_event(
        ms[2],
        Payload::Vote(Vote {
            company_domain: "acme.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Over1B,
        }),
        vec![],
    );
    let view = w.ledger().state().company("acme.example").unwrap();
    assert_eq!(view.votes, 3);
    assert_eq!(view.employees, EmployeeRange::From11To50);
    assert_eq!(view.revenue, RevenueRange::From10MTo50M);
    assert!(w.ledger().state().company("other.example").is_none());
}

#[test]
fn admitting_an_org_needs_a_quorum() {
    let mut w = World::new(3);
    let newcomer = carnet_protocol::SecretKey::from_seed([42; 32]).public();
    let admit = |w: &mut World, o: usize| {
        w.org_event(
            o,
            Payload::Admit(Admit {
                org: newcomer,
                name: "Newco".into(),
            }),
            vec![],
        )
    };
    admit(&mut w, 0);
    admit(&mut w, 1);
    // 2 of 3 is not more than two thirds.
    assert!(!w.ledger().state().orgs.contains_key(&newcomer));
    let dup = admit(&mut w, 1);
    assert_eq!(outcome(&w, &dup), Outcome::Void(VoidReason::AlreadyVoted));
    admit(&mut w, 2);
    assert!(w.ledger().state().orgs.contains_key(&newcomer));
}

#[test]
fn equivocation_excludes_the_author_from_the_second_twin_on() {
    let (mut w, seller, _) = market();
    let before = w.contribute(seller, 1, None);
    // Fork the seller's chain: two different events at the same seq.
    let mut twin = w.members[seller].0.clone();
    let a = w.contribute(seller, 2, None);
    let b = w.twin_contribute(&mut twin, 3);
    assert_eq!(a.seq(), b.seq());
    w.log.push(b.clone());
    let mut l = w.ledger();
    let (x, y) = l.equivocation(&w.member_key(seller)).expect("proof");
    assert_eq!(x.seq(), y.seq());
    assert_ne!(x.id(), y.id());
    // The first twin in ledger order stands; the second is void and excludes.
    let (first, second) = if (a.lamport(), a.id()) < (b.lamport(), b.id()) {
        (a, b)
    } else {
        (b, a)
    };
    let s = l.state();
    assert_eq!(s.outcome(&before.id()), Outcome::Applied);
    assert_eq!(s.outcome(&first.id()), Outcome::Applied);
    assert_eq!(
        s.outcome(&second.id()),
        Outcome::Void(VoidReason::AuthorEquivocated)
    );
    assert_eq!(
        s.accounts[&w.member_key(seller)].status,
        AccountStatus::Excluded(ExclusionCause::Equivocation)
    );
    // Excluded: the unvested rewards are lost.
    assert_eq!(s.balance(&w.member_key(seller)), Some(0));
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 0);
}

#[test]
fn late_event_sorting_first_gives_the_same_state() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let reference = w.ledger().state_root();
    // Insert everything but the grant, look at the state, then deliver the grant late.
    let grant_pos = 2;
    let mut l = Ledger::new(w.genesis.clone());
    for (i, e) in w.log.iter().enumerate() {
        if i != grant_pos {
            l.insert(e.clone()).unwrap();
        }
    }
    let _ = l.state_root();
    l.insert(w.log[grant_pos].clone()).unwrap();
    assert_eq!(l.state_root(), reference);
}

#[test]
fn lamport_and_chain_rules_reject_events() {
    use carnet_protocol::{EventBody, SignedEvent};
    let (mut w, seller, _) = market();
    let c = w.contribute(seller, 1, None);
    let mut l = w.ledger();
    // An event depending on `c` with a clock not above it.
    let key = w.members[seller].0.key().clone();
    let head = w.members[seller].0.head().unwrap();
    let body = EventBody {
        network: w.network,
        author: key.public(),
        seq: head.seq + 1,
        prev: Some(head.id),
        lamport: c.lamport(),
        deps: vec![],
        timestamp_ms: w.now,
        payload: Payload::Vote(Vote {
            company_domain: "acme.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }),
    };
    let ev = SignedEvent::sign(body.clone(), &key).unwrap();
    assert!(matches!(
        l.insert(ev),
        Err(LedgerError::LamportTooLow { .. })
    ));
    // Time going backwards along the chain.
    let ev = SignedEvent::sign(
        EventBody {
            lamport: c.lamport() + 1,
            timestamp_ms: w.now - 1,
            ..body.clone()
        },
        &key,
    )
    .unwrap();
    assert_eq!(l.insert(ev), Err(LedgerError::TimeBackwards));
    // An event missing its prev waits, then is ordered when the prev arrives.
    let next = w.contribute(seller, 2, None);
    let after = w.contribute(seller, 3, None);
    let mut fresh = w.ledger();
    let mut partial = Ledger::new(w.genesis.clone());
    for e in &w.log {
        if e.id() != next.id() && e.id() != after.id() {
            partial.insert(e.clone()).unwrap();
        }
    }
    let r = partial.insert(after.clone()).unwrap();
    assert_eq!(r.inserted, Inserted::Pending(vec![next.id()]));
    assert_eq!(partial.pending_len(), 1);
    let r = partial.insert(next).unwrap();
    assert_eq!(r.completed, vec![after.id()]);
    assert_eq!(partial.pending_len(), 0);
    assert_eq!(partial.state_root(), fresh.state_root());
}

#[test]
fn balance_inclusion_proof_verifies_against_the_root() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let mut l = w.ledger();
    let root = l.state_root();
    let proof = l.state().prove_account(&w.member_key(seller)).unwrap();
    assert!(proof.verify(&root));
    let mut forged = proof.clone();
    let n = forged.leaf.len();
    forged.leaf[n - 5] ^= 1;
    assert!(!forged.verify(&root));
    let mut other_root = root;
    other_root.0[0] ^= 1;
    assert!(!proof.verify(&other_root));
}

#[test]
fn checkpoint_claims_match_between_nodes() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    w.purchase(buyer, c.id());
    w.seal(0);
    let bound = w.clock;
    let claim = w.ledger().claim_at(bound).expect("something to claim");
    w.contribute(seller, 2, None);
    // Events above the bound do not change the claim.
    assert_eq!(w.ledger().claim_at(bound), Some(claim.clone()));
    assert_eq!(claim.event_count as usize, w.log.len() - 1);
}

/// The attack that used to unsettle the network: an event written with an old clock
/// by a key that was offline. It lands after the finalized prefix, on every node,
/// whatever order the events came in; the claim stays final and its refunds stand.
#[test]
fn a_late_event_is_ordered_after_the_finalized_prefix() {
    let (mut w, seller, buyer) = market();
    let idle = w.enroll(0);
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    // The idle member writes an event with an old clock: it sorts below the bound the
    // orgs are about to sign, but the orgs never saw it.
    let late = w.backdated_vote(idle);
    assert!(late.lamport() <= w.clock);
    w.checkpoint(&[0, 1]);
    w.settle_again(&[0, 1]);
    let mut without = w.ledger();
    let claim = without.state().finalized.expect("final");
    assert_eq!(
        without.state().purchases[&p.id()].status,
        PurchaseStatus::Refunded
    );
    let mut with = w.ledger();
    with.insert(late.clone()).unwrap();
    let s = with.state();
    assert_eq!(s.finalized, Some(claim));
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Refunded);
    assert_eq!(s.outcome(&late.id()), Outcome::Applied);
    assert_eq!(with.epoch(&late.id()), None);
    // Below the finalized bound: late, so after every timely event of the tail.
    assert_eq!(with.events().last().map(|e| e.id()), Some(late.id()));
    assert_eq!(
        with.finalized_state().root(),
        without.finalized_state().root()
    );
    // The late event first: the same state.
    let mut first = Ledger::new(w.genesis.clone());
    first.insert(late.clone()).unwrap();
    for e in &w.log {
        first.insert(e.clone()).unwrap();
    }
    assert_eq!(first.state_root(), with.state_root());
    assert_eq!(first.finals(), with.finals());
    // Sealed and claimed later, it joins the next epoch.
    w.log.push(late.clone());
    w.checkpoint(&[0, 1]);
    let l = w.ledger();
    assert_eq!(l.finals().len(), 3);
    assert_eq!(l.epoch(&late.id()), Some(3));
}

#[test]
fn a_clock_jumping_to_the_end_is_rejected() {
    use carnet_protocol::limits::MAX_LAMPORT_STEP;
    let (mut w, seller, _) = market();
    let c = w.contribute(seller, 1, None);
    let fresh = w.enroll(0);
    let enrolled = w.log.last().unwrap().lamport();
    let mut l = w.ledger();
    // A first event may start anywhere up to MAX_LAMPORT_STEP above its Enroll.
    let mut fresh = w.members[fresh].0.clone();
    let vote = Payload::Vote(Vote {
        company_domain: "acme.example".into(),
        employees: EmployeeRange::From1To10,
        revenue: RevenueRange::Under1M,
    });
    let ok = fresh
        .clone()
        .sign(vote.clone(), vec![], enrolled + MAX_LAMPORT_STEP - 1, w.now)
        .unwrap();
    assert!(l.insert(ok).is_ok());
    let far = fresh
        .sign(vote.clone(), vec![], u64::MAX - 1, w.now)
        .unwrap();
    assert!(matches!(
        l.insert(far),
        Err(LedgerError::LamportJump { .. })
    ));
    // Likewise above a dependency.
    let mut seller_author = w.members[seller].0.clone();
    let jump = seller_author
        .sign(vote, vec![c.id()], c.lamport() + MAX_LAMPORT_STEP, w.now)
        .unwrap();
    assert!(matches!(
        l.insert(jump),
        Err(LedgerError::LamportJump { .. })
    ));
}

/// A ledger of `events` whose state is taken from `snap` if it restores.
fn restored(
    w: &World,
    events: &[carnet_protocol::SignedEvent],
    snap: &Snapshot,
) -> (Ledger, Result<(), SnapshotError>) {
    let mut l = Ledger::new(w.genesis.clone());
    for e in events {
        l.insert(e.clone()).unwrap();
    }
    let r = l.restore(snap.clone());
    (l, r)
}

#[test]
fn a_snapshot_resumes_the_same_events_and_round_trips_its_bytes() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let mut full = w.ledger();
    let snap = full.snapshot().expect("events are ordered");
    assert_eq!(snap.applied() as usize, w.log.len());
    let bytes = snap.encode().unwrap();
    assert!(bytes.starts_with(SNAPSHOT_MAGIC));
    let decoded = Snapshot::decode(&bytes, &w.network).unwrap();
    assert_eq!(decoded.encode().unwrap(), bytes);

    // Restored over the same events, then more arrive: as if it never stopped.
    let (mut l, r) = restored(&w, &w.log, &decoded);
    assert_eq!(r, Ok(()));
    assert_eq!(l.state_root(), full.state_root());
    let more = w.contribute(seller, 2, None);
    l.insert(more.clone()).unwrap();
    full.insert(more).unwrap();
    assert_eq!(l.state_root(), full.state_root());
    assert_eq!(l.state().leaves(), full.state().leaves());
}

#[test]
fn a_snapshot_is_refused_when_its_bytes_are_damaged_or_not_for_this_network() {
    let (mut w, seller, _) = market();
    w.contribute(seller, 1, None);
    let bytes = w.ledger().snapshot().unwrap().encode().unwrap();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert_eq!(
        Snapshot::decode(&flipped, &w.network).unwrap_err(),
        SnapshotError::Checksum
    );
    assert_eq!(
        Snapshot::decode(&bytes[..60], &w.network).unwrap_err(),
        SnapshotError::Checksum
    );
    assert_eq!(
        Snapshot::decode(&bytes[..20], &w.network).unwrap_err(),
        SnapshotError::Format
    );
    assert_eq!(
        Snapshot::decode(b"not a snapshot", &w.network).unwrap_err(),
        SnapshotError::Format
    );
    let other = World::new(3).network;
    assert!(matches!(
        Snapshot::decode(&bytes, &other),
        Err(SnapshotError::WrongNetwork { .. })
    ));
}

#[test]
fn a_snapshot_is_refused_when_a_late_event_sorts_before_its_end() {
    let (mut w, seller, _) = market();
    let idle = w.enroll(0);
    w.contribute(seller, 1, None);
    w.contribute(seller, 2, None);
    let snap = w.ledger().snapshot().unwrap();
    let late = w.backdated_vote(idle);
    assert!(late.lamport() < snap.at().0);
    w.log.push(late);
    let (mut l, r) = restored(&w, &w.log, &snap);
    assert_eq!(r, Err(SnapshotError::OtherEvents));
    assert_eq!(l.state_root(), w.ledger().state_root());
}

#[test]
fn a_snapshot_is_refused_when_a_later_finalization_moves_events_it_folded() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    w.purchase(buyer, c.id());
    let snap = w.ledger().snapshot().unwrap();
    // A finalized checkpoint after the snapshot orders its prefix in an epoch: the
    // snapshot's position is no longer in the tail.
    w.checkpoint(&[0, 1]);
    let (mut l, r) = restored(&w, &w.log, &snap);
    assert_eq!(r, Err(SnapshotError::OtherEvents));
    let mut reference = w.ledger();
    assert_eq!(l.state_root(), reference.state_root());
    assert_eq!(l.state().voids, reference.state().voids);
}

#[test]
fn a_later_fork_voids_only_what_comes_after_it() {
    let (mut w, seller, _) = market();
    let mut twin = w.members[seller].0.clone();
    let a = w.contribute(seller, 1, None);
    w.grant(seller, 5);
    let snap = w.ledger().snapshot().unwrap();
    // The twin signs at a's seq with today's clock: it sorts after the snapshot, and
    // after a, which stands.
    let b = w.twin_contribute(&mut twin, 3);
    assert_eq!(a.seq(), b.seq());
    assert!((TAIL, 0, b.lamport(), b.id()) > snap.at());
    w.log.push(b.clone());
    let (mut l, r) = restored(&w, &w.log, &snap);
    assert_eq!(r, Ok(()));
    assert_eq!(l.state().outcome(&a.id()), Outcome::Applied);
    assert_eq!(
        l.state().outcome(&b.id()),
        Outcome::Void(VoidReason::AuthorEquivocated)
    );
    assert_eq!(
        l.state().accounts[&w.member_key(seller)].status,
        AccountStatus::Excluded(ExclusionCause::Equivocation)
    );
    assert_eq!(l.state_root(), w.ledger().state_root());
}

#[test]
fn only_a_key_an_org_introduced_gets_past_the_door() {
    use carnet_protocol::author::Author;
    use carnet_protocol::SecretKey;
    let (mut w, seller, _) = market();
    let vote = |d: &str| {
        Payload::Vote(Vote {
            company_domain: d.into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        })
    };
    // A stranger: rejected whatever its clock, and nothing changes.
    let mut l = w.ledger();
    let root = l.state_root();
    for clock in [0, w.clock, w.clock + 1000] {
        let stranger = Author::new(SecretKey::from_seed([0x77; 32]), w.network)
            .sign(vote("s.example"), vec![], clock, w.now)
            .unwrap();
        assert_eq!(l.insert(stranger), Err(LedgerError::NoRole));
    }
    assert_eq!(
        (l.state_root(), l.len(), l.pending_len()),
        (root, w.log.len(), 0)
    );
    // A new org admitted by one org's vote: its first event names that Admit, and the
    // key it then enrolls gets in too (the ledger decides whether the Admit applied).
    let newco = SecretKey::from_seed([0x78; 32]);
    let admit = w.org_event(
        0,
        Payload::Admit(Admit {
            org: newco.public(),
            name: "Newco".into(),
        }),
        vec![],
    );
    let mut l = w.ledger();
    assert_eq!(l.introduction(&newco.public()), Some(admit.id()));
    let mut newco = Author::new(newco, w.network).introduced_by(Some(admit.id()));
    let hire = SecretKey::from_seed([0x79; 32]);
    let enroll = newco
        .sign(
            Payload::Enroll(Enroll {
                member: hire.public(),
                handle: "hire".into(),
            }),
            vec![],
            w.clock,
            w.now,
        )
        .unwrap();
    assert!(l.insert(enroll.clone()).is_ok());
    let mut hire = Author::new(hire, w.network).introduced_by(Some(enroll.id()));
    let first = hire
        .sign(vote("h.example"), vec![], enroll.lamport(), w.now)
        .unwrap();
    assert!(l.insert(first).is_ok());
    // Later events of the chain inherit the role without naming anything.
    let second = hire
        .sign(vote("i.example"), vec![], enroll.lamport(), w.now)
        .unwrap();
    assert!(second.body().deps.is_empty());
    assert!(l.insert(second).is_ok());
    // A member's Admit of a key introduces nobody: it is not on an org's line.
    let puppet = SecretKey::from_seed([0x7a; 32]);
    let fake = w.member_event(
        seller,
        Payload::Admit(Admit {
            org: puppet.public(),
            name: "Puppet".into(),
        }),
        vec![],
    );
    assert!(l.insert(fake.clone()).is_ok());
    let puppet_ev = Author::new(puppet, w.network)
        .introduced_by(Some(fake.id()))
        .sign(vote("p.example"), vec![], fake.lamport(), w.now)
        .unwrap();
    assert_eq!(l.insert(puppet_ev), Err(LedgerError::NoRole));
}

#[test]
fn a_quorum_of_the_other_orgs_evicts_an_org_and_settlement_counts_the_rest() {
    use carnet_protocol::ledger::audit::replay_quorum;
    // Three orgs, so that two of them are not a quorum.
    let mut w = World::new(3);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    w.grant(buyer, 100);
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    // Two of three orgs sign: not a quorum yet.
    w.checkpoint(&[0, 1]);
    assert!(w.ledger().state().finalized.is_none());
    let evict = |w: &World| {
        Payload::Evict(Evict {
            org: w.org_key(2),
            reason: "gone".into(),
        })
    };
    let own = w.org_event(2, evict(&w), vec![]);
    let e0 = w.org_event(0, evict(&w), vec![]);
    assert!(
        w.ledger().state().orgs.contains_key(&w.org_key(2)),
        "1 of 2"
    );
    let e1 = w.org_event(1, evict(&w), vec![]);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(
        s.outcome(&own.id()),
        Outcome::Void(VoidReason::SelfEviction)
    );
    assert_eq!(
        (s.outcome(&e0.id()), s.outcome(&e1.id())),
        (Outcome::Applied, Outcome::Applied)
    );
    assert!(!s.orgs.contains_key(&w.org_key(2)));
    assert!(s.accounts.contains_key(&w.org_key(2)), "its account stays");
    // Its org events are void from now on; two signers are a quorum of two orgs.
    let grant = w.org_event(
        2,
        Payload::Grant(Grant {
            member: w.member_key(buyer),
            points: 5,
            memo: String::new(),
        }),
        vec![],
    );
    let late_sig = w.checkpoint(&[2]);
    w.checkpoint(&[0, 1]);
    let sigs = w.settle_again(&[0, 1]);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(
        s.outcome(&grant.id()),
        Outcome::Void(VoidReason::AuthorNotOrg)
    );
    assert_eq!(
        s.outcome(&late_sig[0].id()),
        Outcome::Void(VoidReason::AuthorNotOrg)
    );
    let claim = s.finalized.expect("two of two remaining orgs settle");
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Refunded);
    // The audit replay counts the same orgs from the same events.
    let q = replay_quorum(&w.genesis, &claim, &[e0, e1], &sigs).expect("final");
    assert_eq!((q.orgs, q.signers.len()), (2, 2));
    assert_eq!(q.evicted, vec![w.org_key(2)]);
    // Without the evictions the replay sees three orgs, and two signers fall short.
    assert!(replay_quorum(&w.genesis, &claim, &[], &sigs).is_err());
}

#[test]
fn a_quorum_rotates_an_org_key_and_the_new_key_carries_on() {
    use carnet_protocol::author::Author;
    use carnet_protocol::ledger::audit::replay_quorum;
    use carnet_protocol::SecretKey;
    let mut w = World::new(2);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    w.grant(buyer, 100);
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    let (old, new) = (w.org_key(0), SecretKey::from_seed([0x90; 32]));
    let rotate = Payload::Rotate(Rotate {
        org: old,
        to: new.public(),
    });
    let v0 = w.org_event(0, rotate.clone(), vec![]);
    assert!(
        w.ledger().state().orgs.contains_key(&old),
        "1 of 2 is no quorum"
    );
    let v1 = w.org_event(1, rotate, vec![]);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(
        (s.outcome(&v0.id()), s.outcome(&v1.id())),
        (Outcome::Applied, Outcome::Applied)
    );
    assert!(!s.orgs.contains_key(&old));
    assert_eq!(s.orgs[&new.public()].name, "Org 0");
    assert!(s.orgs[&new.public()].founding);
    assert_eq!(
        s.accounts[&w.member_key(seller)].kind,
        AccountKind::Member { org: new.public() }
    );
    assert!(!s.accounts.contains_key(&old) && s.accounts.contains_key(&new.public()));
    // The old key's org events are void from now on.
    let stale = w.deliver(&p);
    assert_eq!(
        w.ledger().state().outcome(&stale.id()),
        Outcome::Void(VoidReason::AuthorNotOrg)
    );
    // The new key gets past the door by naming the rotation, and delivers the card
    // of the seller, now its member.
    let intro = l.introduction(&new.public());
    assert!(
        intro == Some(v0.id()) || intro == Some(v1.id()),
        "{intro:?}"
    );
    w.orgs[0] = Author::new(new, w.network).introduced_by(intro);
    let d = w.deliver(&p);
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.outcome(&d.id()), Outcome::Applied);
    assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Delivered);
    assert_eq!(s.balance(&w.member_key(seller)), Some(10));
    // Two signers of the two orgs, the new key among them, settle; the replay agrees.
    let sigs = w.checkpoint(&[0, 1]);
    let mut l = w.ledger();
    let claim = l.state().finalized.expect("final");
    let q = replay_quorum(&w.genesis, &claim, &[v0, v1], &sigs).expect("final");
    assert_eq!(q.rotated, vec![(old, w.org_key(0))]);
    assert_eq!(q.orgs, 2);
}

/// Issue 12's "free cards by equivocation": a buyer buys two cards, gets them
/// delivered, then signs a second event at the first purchase's seq. The later twin
/// is void and excludes the buyer; both purchases stay delivered, the seller stays
/// paid, and the buyer's balance does not come back, in any arrival order.
#[test]
fn a_buyer_who_forks_after_delivery_gets_nothing_back() {
    let (mut w, seller, buyer) = market();
    let c1 = w.contribute(seller, 1, None);
    let c2 = w.contribute(seller, 2, None);
    let mut twin = w.members[buyer].0.clone();
    let p1 = w.purchase(buyer, c1.id());
    let p2 = w.purchase(buyer, c2.id());
    w.deliver(&p1);
    w.deliver(&p2);
    let paid = balance(&w, &w.member_key(seller));
    // The twin of the first purchase, signed after both deliveries.
    let fork = twin
        .sign(
            Payload::Vote(Vote {
                company_domain: "fork.example".into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            w.clock,
            w.now,
        )
        .unwrap();
    assert_eq!(fork.seq(), p1.seq());
    w.log.push(fork.clone());
    for l in [w.ledger(), {
        let mut l = Ledger::new(w.genesis.clone());
        for e in w.log.iter().rev() {
            l.insert(e.clone()).unwrap();
        }
        l
    }] {
        let mut l = l;
        let s = l.state();
        assert_eq!(
            s.outcome(&fork.id()),
            Outcome::Void(VoidReason::AuthorEquivocated)
        );
        for p in [&p1, &p2] {
            assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Delivered);
        }
        assert_eq!(s.balance(&w.member_key(seller)), Some(paid));
        assert_eq!(s.balance(&w.member_key(buyer)), Some(100 - 20));
        assert_eq!(
            s.accounts[&w.member_key(buyer)].status,
            AccountStatus::Excluded(ExclusionCause::Equivocation)
        );
    }
}

#[test]
fn fabricated_listings_earn_nothing_until_they_vest() {
    // The minting attack: a member lists made-up cards. Each reward is pending; with
    // no sale none ever vests, however much time passes, and none counts for
    // pay-or-play without the org holding the card.
    let (mut w, seller, _) = market();
    let fakes: Vec<_> = (0..8)
        .map(|n| w.contribute(seller, 100 + n, None))
        .collect();
    assert!(fakes.iter().all(|f| outcome(&w, f) == Outcome::Applied));
    assert_eq!(pending(&w, &w.member_key(seller)), 80);
    assert_eq!(balance(&w, &w.member_key(seller)), 0);
    w.advance(365 * DAY);
    assert_eq!(balance(&w, &w.member_key(seller)), 0);
    let t = w.member_event(
        seller,
        Payload::Transfer(Transfer {
            to: w.member_key(1),
            points: 1,
        }),
        vec![],
    );
    assert_eq!(
        outcome(&w, &t),
        Outcome::Void(VoidReason::InsufficientBalance)
    );
}

#[test]
fn a_bounce_within_the_window_forfeits_the_reward_and_after_it_only_costs_the_penalty() {
    let (mut w, seller, buyer) = market();
    let early = w.contribute(seller, 1, None);
    let late = w.contribute(seller, 2, None);
    let pe = w.purchase(buyer, early.id());
    let pl = w.purchase(buyer, late.id());
    w.deliver(&pe);
    w.deliver(&pl);
    w.bounce(buyer, &pe, 5);
    assert_eq!(
        pending(&w, &w.member_key(seller)),
        10,
        "only the late card's"
    );
    w.vest();
    assert_eq!(pending(&w, &w.member_key(seller)), 0);
    // Sales 20, penalty 10, the late card's reward 10.
    assert_eq!(balance(&w, &w.member_key(seller)), 20 - 10 + 10);
    w.bounce(buyer, &pl, 5);
    assert_eq!(balance(&w, &w.member_key(seller)), 20 - 10 + 10 - 10);
}

#[test]
fn a_report_without_its_orgs_voucher_is_void() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let forged = w.member_event(
        buyer,
        Payload::BounceReport(BounceReport {
            purchase_id: p.id(),
            evidence: carnet_protocol::hash::evidence_hash(b"hand-written"),
            status: DsnStatus {
                class: 5,
                subject: 1,
                detail: 1,
            },
            voucher: Voucher([0; 64]),
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &forged), Outcome::Void(VoidReason::BadVoucher));
    assert_eq!(balance(&w, &w.member_key(buyer)), 90);
    assert_eq!(balance(&w, &w.member_key(seller)), 10);
    assert_eq!(
        w.ledger().state().listings[&c.id()].status,
        ListingStatus::Active
    );
}

#[test]
fn grants_are_capped_per_member_and_period_of_network_time() {
    let mut w = World::new(2);
    let a = w.enroll(0);
    let cap = w.genesis.rules.grant_cap().unwrap();
    assert_eq!(cap, 125, "25 dollars at 5 points per dollar");
    let g1 = w.grant(a, 100);
    let g2 = w.grant(a, 25);
    let over = w.grant(a, 1);
    assert_eq!(
        [outcome(&w, &g1), outcome(&w, &g2), outcome(&w, &over)],
        [
            Outcome::Applied,
            Outcome::Applied,
            Outcome::Void(VoidReason::GrantAboveCap)
        ]
    );
    // One org alone running its clock a year ahead does not move network time.
    w.now += 365 * DAY;
    w.org_event(0, Payload::Seal(Default::default()), vec![]);
    let ahead = w.grant(a, 1);
    assert_eq!(
        outcome(&w, &ahead),
        Outcome::Void(VoidReason::GrantAboveCap)
    );
    // When the quorum's clocks reach the next period, the cap is fresh.
    w.advance(0);
    let next = w.grant(a, 125);
    assert_eq!(outcome(&w, &next), Outcome::Applied);
    assert_eq!(balance(&w, &w.member_key(a)), 250);
}

#[test]
fn the_contributors_org_may_dispute_a_bounce_within_the_window() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let report = w.bounce(buyer, &p, 5);
    let dispute = |w: &mut World, org: usize| {
        w.org_event(
            org,
            Payload::Dispute(Dispute {
                report_id: report.id(),
                finding: "the address accepted mail on the same day".into(),
            }),
            vec![],
        )
    };
    let by_buyers_org = dispute(&mut w, 1);
    assert_eq!(
        outcome(&w, &by_buyers_org),
        Outcome::Void(VoidReason::CannotDispute)
    );
    let d = dispute(&mut w, 0);
    assert_eq!(outcome(&w, &d), Outcome::Applied);
    let again = dispute(&mut w, 0);
    assert_eq!(
        outcome(&w, &again),
        Outcome::Void(VoidReason::CannotDispute)
    );
    let mut l = w.ledger();
    assert_eq!(l.state().bounce_reports[&report.id()].dispute, Some(d.id()));
    // Balances stand as the report left them: the auditor weighs both.
    assert_eq!(balance(&w, &w.member_key(seller)), 0);

    // Past the window, a report can no longer be disputed.
    let c2 = w.contribute(seller, 2, None);
    let p2 = w.purchase(buyer, c2.id());
    w.deliver(&p2);
    let r2 = w.bounce(buyer, &p2, 5);
    w.vest();
    let late = w.org_event(
        0,
        Payload::Dispute(Dispute {
            report_id: r2.id(),
            finding: "too late".into(),
        }),
        vec![],
    );
    assert_eq!(outcome(&w, &late), Outcome::Void(VoidReason::CannotDispute));
}

#[test]
fn a_twin_with_a_lower_clock_does_not_make_a_delivered_card_free() {
    // The buyer's twin sorts before its own purchase (a clock just above the buyer's
    // previous event): the purchases become void in ledger order, but the Delivers of
    // them still make the buyer pay, and the seller is paid.
    let (mut w, seller, buyer) = market();
    let c1 = w.contribute(seller, 1, None);
    let c2 = w.contribute(seller, 2, None);
    let before = w.member_event(
        buyer,
        Payload::Vote(Vote {
            company_domain: "before.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }),
        vec![],
    );
    let mut twin = w.members[buyer].0.clone();
    w.clock += 10;
    let p1 = w.purchase(buyer, c1.id());
    let p2 = w.purchase(buyer, c2.id());
    w.deliver(&p1);
    w.deliver(&p2);
    let fork = twin
        .sign(
            Payload::Vote(Vote {
                company_domain: "fork.example".into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            before.lamport(),
            w.now,
        )
        .unwrap();
    assert_eq!(fork.seq(), p1.seq());
    assert!(fork.lamport() < p1.lamport(), "the twin sorts first");
    w.log.push(fork.clone());
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.outcome(&fork.id()), Outcome::Applied);
    assert_eq!(
        s.outcome(&p1.id()),
        Outcome::Void(VoidReason::AuthorEquivocated)
    );
    for p in [&p1, &p2] {
        assert_eq!(s.purchases[&p.id()].status, PurchaseStatus::Delivered);
    }
    assert_eq!(s.balance(&w.member_key(seller)), Some(20));
    assert_eq!(s.balance(&w.member_key(buyer)), Some(100 - 20));
    assert_eq!(
        s.accounts[&w.member_key(buyer)].status,
        AccountStatus::Excluded(ExclusionCause::Equivocation)
    );
}
