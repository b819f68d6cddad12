//! Fixtures shared by the node's unit tests.

use crate::engine::Engine;
use crate::store::Store;
use carnet_protocol::author::Author;
use carnet_protocol::card::{Card, NetworkSecret};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::payload::{Contribute, Enroll, Payload};
use carnet_protocol::testkit;
use carnet_protocol::{SecretKey, SignedEvent};
use std::path::Path;

/// The network secret of the tests' networks.
pub const SECRET: NetworkSecret = testkit::TEST_SECRET;

/// A card with only an email.
pub fn card(email: &str) -> Card {
    testkit::card_for(0, email)
}

/// An engine in `dir` for the only org of a one-org network, with that genesis and
/// org key (to reopen it).
pub fn one_org_engine(dir: &Path) -> (Engine, Genesis, SecretKey) {
    let (genesis, org) = one_org_genesis();
    let store = Store::open(&dir.join("events.redb"), genesis.network_id()).unwrap();
    let mut engine = Engine::open(store, genesis.clone(), org.clone()).unwrap();
    engine.set_network_secret(SECRET);
    (engine, genesis, org)
}

/// [`one_org_engine`] over a store whose writes fail (as on a full disk) while the
/// returned flag is set.
pub fn faulty_engine(
    dir: &Path,
) -> (
    Engine,
    Genesis,
    SecretKey,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let (genesis, org) = one_org_genesis();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store =
        Store::open_with_faults(&dir.join("events.redb"), genesis.network_id(), fail.clone())
            .unwrap();
    let engine = Engine::open(store, genesis.clone(), org.clone()).unwrap();
    (engine, genesis, org, fail)
}

/// The genesis of a one-org network and that org's key, for tests that open the
/// engine's store themselves.
pub fn one_org_genesis() -> (Genesis, SecretKey) {
    let org = testkit::org_key(0);
    let genesis = testkit::genesis("t", std::slice::from_ref(&org), Rules::default(), 0);
    (genesis, org)
}

/// Enrolls the member of seed `[seed; 32]` with the engine's org.
pub fn enroll(e: &mut Engine, seed: u8) -> (SecretKey, Author) {
    let key = SecretKey::from_seed([seed; 32]);
    let ev = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: key.public(),
            handle: format!("m{seed}"),
        }))
        .unwrap();
    let author = Author::new(key.clone(), e.network()).introduced_by(Some(ev.id()));
    e.ingest_event(ev).unwrap();
    (key, author)
}

/// `member`'s Contribute of `card` (its listing under [`SECRET`]), signed on top of
/// the clock the engine holds.
pub fn contribution(e: &mut Engine, member: &mut Author, card: &Card) -> SignedEvent {
    contribution_at(e, member, card, 5)
}

/// [`contribution`] claimed at time `t` (ms).
pub fn contribution_at(e: &mut Engine, member: &mut Author, card: &Card, t: u64) -> SignedEvent {
    let listing = card.listing(&SECRET).unwrap();
    member
        .sign(
            Payload::Contribute(Contribute { listing }),
            vec![],
            e.ledger().max_lamport(),
            t,
        )
        .unwrap()
}
