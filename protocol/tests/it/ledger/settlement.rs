//! Checkpoints and settlement: refunds at the next settled checkpoint, claims and
//! state proofs, late events after the finalized prefix, and snapshots.

use super::{balance, market, outcome, pending};
use crate::world::World;
use carnet_protocol::ledger::*;

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
    assert_eq!(
        s.purchases.get(&p.id()).unwrap().status,
        PurchaseStatus::Refunded
    );
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
        without.state().purchases.get(&p.id()).unwrap().status,
        PurchaseStatus::Refunded
    );
    let mut with = w.ledger();
    with.insert(late.clone()).unwrap();
    let s = with.state();
    assert_eq!(s.finalized, Some(claim));
    assert_eq!(
        s.purchases.get(&p.id()).unwrap().status,
        PurchaseStatus::Refunded
    );
    assert_eq!(s.outcome(&late.id()), Outcome::Applied);
    assert_eq!(with.epoch(&late.id()), None);
    // Below the finalized bound: late, so after every timely event of the tail.
    assert_eq!(with.events().last().map(|e| e.id()), Some(late.id()));
    assert_eq!(
        with.finalized_state().root_once(),
        without.finalized_state().root_once()
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
        Snapshot::decode(&bytes[..70], &w.network).unwrap_err(),
        SnapshotError::Checksum
    );
    // Read a chunk at a time, the checksum is of the whole: a byte flipped where it
    // still decodes (in the lengths of the first two parts, in any part), or bytes
    // after the end, are refused all the same.
    for at in [
        SNAPSHOT_MAGIC.len() + 32,
        SNAPSHOT_MAGIC.len() + 40,
        SNAPSHOT_MAGIC.len() + 48,
        SNAPSHOT_MAGIC.len() + 56,
        bytes.len() / 2,
        bytes.len() - 40,
    ] {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x40;
        assert_eq!(
            Snapshot::decode(&flipped, &w.network).unwrap_err(),
            SnapshotError::Checksum,
            "byte {at}"
        );
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Snapshot::decode(&longer, &w.network).unwrap_err(),
        SnapshotError::Checksum
    );
    // A reader that gives one byte at a time reads the same snapshot.
    struct Trickle<'a>(&'a [u8]);
    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            match buf.first_mut() {
                Some(b) => *b = *first,
                None => return Ok(0),
            }
            self.0 = rest;
            Ok(1)
        }
    }
    let from = |at: u64| bytes.get(at as usize..).unwrap_or_default();
    let read = Snapshot::read(|at| Ok(Trickle(from(at))), &w.network).unwrap();
    assert_eq!(read.encode().unwrap(), bytes);
    // Its parts read from two files (the snapshot replaced between the two
    // opens): refused.
    let other = {
        w.contribute(seller, 2, None);
        w.ledger().snapshot().unwrap().encode().unwrap()
    };
    let mixed = |at: u64| match at {
        0 => Ok(Trickle(&bytes)),
        at => Ok(Trickle(other.get(at as usize..).unwrap_or_default())),
    };
    assert_eq!(
        Snapshot::read(mixed, &w.network).unwrap_err(),
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

/// Issue 19: once a claim is final, the snapshot is of the state at the end of the
/// finalized prefix, with the finalized claims. A start (`begin_load`, the stored
/// events, `restore`, `end_load`) takes the claims from it instead of folding each
/// finalized prefix again, and ends where a replay does; a claim finalized after the
/// snapshot is folded as usual.
#[test]
fn a_snapshot_at_the_finalized_mark_restores_the_finalized_claims() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    w.purchase(buyer, c.id());
    w.checkpoint(&[0, 1]);
    w.settle_again(&[0, 1]);
    let tail = w.contribute(seller, 2, None);
    let snap = w.ledger().snapshot().expect("a snapshot");
    assert!(snap.at().0 != TAIL, "taken at the mark, not in the tail");
    let decoded = Snapshot::decode(&snap.encode().unwrap(), &w.network).unwrap();
    // Another claim is finalized after the snapshot was taken.
    w.checkpoint(&[0, 1]);
    let mut reference = w.ledger();
    assert_eq!(reference.finals().len(), 3);
    assert!(reference.epoch(&tail.id()).is_some());

    let mut l = Ledger::new(w.genesis.clone());
    l.begin_load();
    for e in &w.log {
        l.insert(e.clone()).unwrap();
    }
    assert!(l.finals().is_empty(), "nothing is finalized while loading");
    assert_eq!(l.restore(decoded), Ok(()));
    assert_eq!(l.finals(), &reference.finals()[..2]);
    l.end_load();
    assert_eq!(l.finals(), reference.finals());
    assert_eq!(l.state_root(), reference.state_root());
    assert_eq!(l.state().leaves(), reference.state().leaves());
    assert_eq!(
        l.finalized_state().root_once(),
        reference.finalized_state().root_once()
    );
    // The snapshot it would save next names the same prefix as the reference's.
    let (a, b) = (l.snapshot().unwrap(), reference.snapshot().unwrap());
    assert_eq!(a.encode().unwrap(), b.encode().unwrap());

    // Loaded without an event of the finalized prefix, the snapshot is refused and
    // the start folds what it has, as a replay of those events does.
    let without: Vec<_> = w.log.iter().filter(|e| e.id() != c.id()).cloned().collect();
    let mut l = Ledger::new(w.genesis.clone());
    l.begin_load();
    for e in &without {
        l.insert(e.clone()).unwrap();
    }
    assert_eq!(l.restore(snap), Err(SnapshotError::OtherEvents));
    l.end_load();
    let mut replay = Ledger::new(w.genesis.clone());
    for e in &without {
        replay.insert(e.clone()).unwrap();
    }
    assert_eq!(l.finals(), replay.finals());
    assert_eq!(l.state_root(), replay.state_root());
}
