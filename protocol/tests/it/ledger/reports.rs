//! Bounce and mobile-number reports: their vouchers, penalties and exclusions, the
//! bounce window, and disputes by the contributor's org.

use super::{balance, market, outcome, pending};
use crate::world::World;
use carnet_protocol::ledger::*;
use carnet_protocol::payload::*;

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
