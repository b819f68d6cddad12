//! Orgs: admission by quorum, the door (only a key an org introduced gets in),
//! eviction and key rotation.

use super::{market, outcome};
use crate::world::World;
use carnet_protocol::ledger::*;
use carnet_protocol::payload::*;

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
    assert_eq!(
        s.purchases.get(&p.id()).unwrap().status,
        PurchaseStatus::Refunded
    );
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
    assert_eq!(
        s.purchases.get(&p.id()).unwrap().status,
        PurchaseStatus::Delivered
    );
    assert_eq!(s.balance(&w.member_key(seller)), Some(10));
    // Two signers of the two orgs, the new key among them, settle; the replay agrees.
    let sigs = w.checkpoint(&[0, 1]);
    let mut l = w.ledger();
    let claim = l.state().finalized.expect("final");
    let q = replay_quorum(&w.genesis, &claim, &[v0, v1], &sigs).expect("final");
    assert_eq!(q.rotated, vec![(old, w.org_key(0))]);
    assert_eq!(q.orgs, 2);
}
