//! One test per ledger rule, each checking balances against what the rules give by hand.
//!
//! The tests are grouped by topic: trading.rs (contributions, purchases, delivery,
//! pay-or-play), reports.rs (bounce and mobile reports, their penalties and disputes),
//! members.rs (enrollment, grants, transfers, referrals, votes), orgs.rs (admission,
//! eviction, key rotation, the door), settlement.rs (checkpoints, finality, refunds,
//! snapshots) and ordering.rs (clocks, chains, equivocation). The helpers they share
//! are here.

mod members;
mod ordering;
mod orgs;
mod reports;
mod settlement;
mod trading;

use crate::world::World;
use carnet_protocol::ledger::*;

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
