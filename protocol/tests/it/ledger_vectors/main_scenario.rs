//! docs/test-vectors/ledger.json: the main story. Three orgs and their members trade
//! cards over two epochs and a tail: sales, reports, a dispute, vesting, a late event,
//! an eviction, a key rotation and a buyer who forks its chain.

use super::world::World;
use super::{read, replay, scenario_json, vote};
use carnet_protocol::SignedEvent;
use serde_json::Value;

const DESCRIPTION: &str = "Three orgs; enrollments, a grant and a second one above the cap (void), a referral, contributions (one duplicate), two delivered purchases, a bounce report vouched by the wrong org (void) and a vouched one, a mobile report, a dispute of the bounce by the seller's org, a third sale (the referred member's first card) followed by every org signing a Seal past the bounce window (network time moves; that card's reward and the referral bonus on it vest), two Holds (one by an org not the contributor's: void), a checkpoint signed by all three orgs (after org 0 sealed its members' events), a late vote with a clock far below that checkpoint (ordered after its prefix), org 2 evicted by the two others (its own vote, a later vote and its next Grant void), org 1's key rotated by both remaining orgs (the new key grants its member 7 points), an Enroll signed by a member (void), and a second checkpoint signed by the two remaining orgs on top of the first, whose settlement refunds the purchase left undelivered for a whole epoch; then, in the tail, a second late vote and a timely vote (the late one is ordered last), and a buyer who forks after a delivery with a twin whose clock is below its purchase's (the purchase is void as the second twin, the buyer excluded, and the Deliver of it still makes the buyer pay the seller). `finalized_claims`: the claims finalized, epoch 1 first. `rejected`: events that a ledger holding all of them must reject when they complete (ordering check 5).";

pub fn generate() -> Value {
    let w = scenario();
    scenario_json(&w, DESCRIPTION, rejected(&w))
}

fn scenario() -> World {
    let mut w = World::new(3);
    let seller = w.enroll(0);
    let buyer = w.enroll(1);
    let referred = w.enroll(2);
    let idle = w.enroll(2);
    let idle2 = w.enroll(1);
    w.grant(buyer, 100);
    w.grant(buyer, 26); // 126 in one period, above the cap of 125: void
    w.member_event(
        referred,
        carnet_protocol::Payload::Referral(carnet_protocol::payload::Referral {
            referrer: w.member_key(seller),
        }),
        vec![],
    );
    let plain = w.contribute(seller, 1, None);
    let mobile = w.contribute(seller, 2, Some("+447400123456"));
    let first_of_referred = w.contribute(referred, 3, None);
    w.contribute(buyer, 1, None); // duplicate email: void
    let p1 = w.purchase(buyer, plain.id());
    let p2 = w.purchase(buyer, mobile.id());
    w.deliver(&p1);
    w.deliver(&p2);
    w.bounce_vouched_by(buyer, &p1, 5, 0); // vouched by the seller's org: void
    let report = w.bounce(buyer, &p1, 5);
    w.mobile(buyer, &p2);
    // The seller's org disputes the bounce: recorded, no effect on balances.
    w.org_event(
        0,
        carnet_protocol::Payload::Dispute(carnet_protocol::payload::Dispute {
            report_id: report.id(),
            finding: "the mailbox accepted mail that day".into(),
        }),
        vec![],
    );
    let extra = w.contribute(seller, 4, None);
    w.purchase(buyer, extra.id()); // never delivered: refunded at the second settlement
                                   // A card that sells cleanly, the referred member's first: its reward, and the
                                   // referrer's bonus that hangs on it, vest once network time passes the bounce
                                   // window.
    let p3 = w.purchase(buyer, first_of_referred.id());
    w.deliver(&p3);
    w.hold(0, &[plain.id(), extra.id()]);
    w.hold(2, &[plain.id()]); // not its member's card: void
    w.vest();
    w.checkpoint(&[0, 1, 2]);
    // A late event: the idle member's first event, with the clock of its Enroll, far
    // below the finalized bound. It is ordered after the finalized prefix.
    let late = w.backdated_vote(idle);
    w.log.push(late);
    // Org 2 is evicted: its own vote is void, the other two are a quorum of the others;
    // a vote after that is void, and so is org 2's next grant.
    let evict = |reason: &str| {
        carnet_protocol::Payload::Evict(carnet_protocol::payload::Evict {
            org: w.org_key(2),
            reason: reason.into(),
        })
    };
    let (own, late) = (evict("resigning"), evict("late vote"));
    let (first, second) = (evict("no deliveries"), evict("no deliveries"));
    w.org_event(2, own, vec![]);
    w.org_event(0, first, vec![]);
    w.org_event(1, second, vec![]);
    w.org_event(0, late, vec![]);
    w.grant(referred, 50);
    // Org 1 rotates its key: both remaining orgs vote; the buyer, its member, moves to
    // the new key, which grants it points (its first event names the rotation).
    let new_key = carnet_protocol::SecretKey::from_seed([0x5c; 32]);
    let rotate = carnet_protocol::Payload::Rotate(carnet_protocol::payload::Rotate {
        org: w.org_key(1),
        to: new_key.public(),
    });
    let first = w.org_event(1, rotate.clone(), vec![]);
    w.org_event(0, rotate, vec![]);
    w.orgs[1] =
        carnet_protocol::author::Author::new(new_key, w.network).introduced_by(Some(first.id()));
    w.grant(buyer, 7);
    // A member enrolls a key of its own: void (only orgs enroll), and it introduces
    // nobody (see `rejected`).
    w.member_event(
        seller,
        carnet_protocol::Payload::Enroll(carnet_protocol::payload::Enroll {
            member: sybil().public(),
            handle: "sybil".into(),
        }),
        vec![],
    );
    // The two remaining orgs (one under its new key) seal what no org event reaches
    // (the late vote among it) and finalize a second claim on top of the first.
    w.checkpoint(&[0, 1]);
    // After it, a second late vote (clock far below the finalized bound) and a timely
    // one: both in the tail, the late one last although its clock is lower.
    let late = w.backdated_vote(idle2);
    w.log.push(late);
    w.member_event(seller, vote(), vec![]);
    // A buyer who forks after delivery: its twin of a purchase has a lower clock than
    // the purchase, so the purchase is the second twin and void, and the buyer is
    // excluded; the Deliver of it still makes the buyer pay and the seller is paid.
    let sixth = w.contribute(seller, 6, None);
    w.member_event(buyer, vote(), vec![]);
    let mut twin = w.members[buyer].0.clone();
    let before = w.clock;
    w.clock += 10;
    let p6 = w.purchase(buyer, sixth.id());
    w.deliver(&p6);
    let fork = twin.sign(vote(), vec![], before, w.now).unwrap();
    assert!(fork.lamport() < p6.lamport());
    w.log.push(fork);
    w
}

fn sybil() -> carnet_protocol::SecretKey {
    carnet_protocol::SecretKey::from_seed([0x5b; 32])
}

/// Events a ledger holding the scenario must reject at ordering (check 5, `no_role`):
/// (description, event).
fn rejected(w: &World) -> Vec<(&'static str, SignedEvent)> {
    use carnet_protocol::author::Author;
    let stranger = Author::new(carnet_protocol::SecretKey::from_seed([0x5a; 32]), w.network)
        .sign(vote(), vec![], 0, w.now)
        .unwrap();
    let void_enroll = w
        .log
        .iter()
        .find(|e| {
            matches!(e.payload(), carnet_protocol::Payload::Enroll(x) if x.member == sybil().public())
        })
        .unwrap()
        .id();
    let sybil = Author::new(sybil(), w.network)
        .introduced_by(Some(void_enroll))
        .sign(vote(), vec![], w.clock, w.now)
        .unwrap();
    vec![
        ("a key nobody enrolled signs a first event with no deps (clock 1)", stranger),
        ("a key whose first event names an Enroll of it signed by a member (void), not by an org", sybil),
    ]
}

/// What the main story must show beyond the replay: the balances the rules give by
/// hand, and the late vote ordered last.
#[test]
fn main_scenario_balances_and_order_are_the_rules() {
    let v = read();
    let net = replay("main", &v);
    // The balances are those the rules give by hand (docs/protocol.md, "Ledger").
    let mut by_balance: Vec<i64> = v["accounts"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["balance"].as_i64().unwrap())
        .collect();
    by_balance.sort();
    // seller: +10 +10 (two sales) -10 (bounce) -100 (mobile) = -90; its three cards'
    // rewards are pending: the bounced and the mobile one forfeited, the unsold one
    // still pending. The referral bonus (+125) vests with the referred member's first
    // card: -90 + 125 = 35; and the sixth card's sale +10 = 45.
    // buyer: 100 grant (the second, above the cap, is void) -10 -10 -10 -10 (purchases)
    // +10 (bounty) +10 (refund) +7 (grant from its org's new key) -10 (the card it
    // forked over, paid all the same) = 77; duplicate earns 0.
    // referred: +10 (sale) +10 (its card's reward, vested); orgs: 0 each.
    // idle, idle2: 0 (a vote earns nothing).
    assert_eq!(by_balance, vec![0, 0, 0, 0, 0, 20, 45, 77]);
    // The late vote is last in ledger order, after a timely event with a higher clock.
    let order = v["events_in_ledger_order_hex"].as_array().unwrap();
    let clock = |i: usize| {
        let bytes = hex::decode(order[i].as_str().unwrap()).unwrap();
        SignedEvent::decode(&bytes, &net).unwrap().lamport()
    };
    assert!(clock(order.len() - 1) < clock(order.len() - 2));
}
