//! Members: referrals, grants and transfers, the grant cap, revocation, keys that are
//! not members or pose as orgs, and company votes.

use super::{balance, outcome, pending};
use crate::world::{World, DAY};
use carnet_protocol::ledger::*;
use carnet_protocol::payload::*;

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
