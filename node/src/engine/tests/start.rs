//! Starts with no snapshot to resume from: every event replayed a window at a time
//! (see `engine::start`).

use super::*;
use carnet_protocol::testkit::workload::{generate_settled, org_key};

/// A settled log of about `n` events, a claim finalized every `epoch`, stored at
/// `path`; with the state root of a ledger that held every event at once.
fn settled_store(
    path: &std::path::Path,
    n: usize,
    epoch: usize,
) -> (carnet_protocol::Genesis, Vec<SignedEvent>, String) {
    let mut log = Vec::new();
    let (genesis, total) = generate_settled(n, epoch, |batch| log.extend_from_slice(batch));
    let store = Store::open(path, genesis.network_id()).unwrap();
    store.put_events(&log).unwrap();
    assert_eq!(log.len(), total);
    let mut reference = Ledger::new(genesis.clone());
    for ev in &log {
        reference.insert(ev.clone()).unwrap();
    }
    (genesis, log, reference.state_root().to_hex())
}

#[test]
fn a_replay_lets_each_window_go_and_writes_the_records_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, log, root) = settled_store(&path, 8_000, 250);
    let total = log.len();
    let reopen = || {
        let store = Store::open(&path, genesis.network_id()).unwrap();
        Engine::reopen(store, genesis.clone(), org_key(0)).unwrap()
    };
    let (mut e, r) = reopen();
    assert_eq!(
        (r.events, r.from_snapshot, r.from_records, r.started_again),
        (total, 0, false, true)
    );
    // Every signature, then the tail's again when the start after the replay reads
    // it from the store.
    assert!(r.verified > total, "{r:?}");
    assert_eq!(e.state_root_hex(), root);
    let held = e.events_in_memory();
    assert_eq!(r.released + held, total);
    // At most the workload's setup (some 4,000 events, all final with the first
    // claim) and a window were held at once; a start that held every event until the
    // end held all of them.
    assert!(r.most_held < total * 3 / 5, "{r:?}");
    let through = e.store().released_through().unwrap();
    assert!(through > 10, "{through} epochs recorded");
    drop(e);

    // The records written as the replay went, and the snapshot saved after it, are
    // what a start reads.
    let (mut e, r) = reopen();
    assert!(r.from_records && r.from_snapshot > 0, "{r:?}");
    assert_eq!(r.events, held);
    assert_eq!(e.state_root_hex(), root);

    // A replay over the records of an earlier start (a snapshot of another build
    // forces one) drops them and writes the same again.
    e.store().remove_snapshot().unwrap();
    drop(e);
    let (mut e, r) = reopen();
    assert_eq!(
        (r.events, r.released, r.from_records),
        (total, total - held, false)
    );
    assert_eq!(e.state_root_hex(), root);
    assert_eq!(e.store().released_through().unwrap(), through);
    drop(e);
    let (mut e, r) = reopen();
    assert_eq!((r.events, r.from_records), (held, true));
    assert_eq!(e.state_root_hex(), root);
}

#[test]
fn a_replay_stopped_by_a_bad_signature_names_it_and_the_next_one_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, mut log, root) = settled_store(&path, 8_000, 250);
    let reopen = || {
        let store = Store::open(&path, genesis.network_id()).unwrap();
        Engine::reopen(store, genesis.clone(), org_key(0))
    };
    // A signature that rotted in a late window: the windows before it are replayed
    // and their records written when the replay meets it.
    log.sort_by_key(|e| (e.lamport(), e.id()));
    let victim = log[log.len() * 9 / 10].id();
    let flip = |b: &mut Vec<u8>| {
        let n = b.len();
        b[n - 1] ^= 1;
    };
    crate::store::tests::tamper(&path, &victim, flip);
    match reopen() {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, victim.to_hex());
            assert!(reason.contains("signature"), "{reason}");
        }
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got an engine"),
    }
    let store = Store::open(&path, genesis.network_id()).unwrap();
    let midway = store.released_through().unwrap();
    assert!(midway > 5, "{midway} epochs recorded before the bad window");
    assert_eq!(
        store.event_count().unwrap(),
        log.len() as u64,
        "nothing is lost"
    );
    drop(store);

    // What a replay cut short left (as a kill would, or a disk that failed to read)
    // is replayed over by the next start, with the same result.
    crate::store::tests::tamper(&path, &victim, flip);
    let (mut e, r) = reopen().unwrap();
    assert_eq!((r.events, r.from_records), (log.len(), false));
    assert_eq!(e.state_root_hex(), root);
    assert!(e.store().released_through().unwrap() > midway);
    drop(e);
    let (mut e, r) = reopen().unwrap();
    assert!(r.from_records, "{r:?}");
    assert_eq!(e.state_root_hex(), root);
}

#[test]
fn a_replay_on_a_full_disk_fails_clearly_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, log, root) = settled_store(&path, 5_000, 250);
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let open = || Store::open_with_faults(&path, genesis.network_id(), full.clone()).unwrap();
    let (e, _) = Engine::reopen(open(), genesis.clone(), org_key(0)).unwrap();
    let through = e.store().released_through().unwrap();
    // No snapshot: the next start replays (as after an upgrade).
    e.store().remove_snapshot().unwrap();
    drop(e);
    let store = open();
    full.store(true, std::sync::atomic::Ordering::SeqCst);
    match Engine::reopen(store, genesis.clone(), org_key(0)) {
        Err(StoreError::Db { context, .. }) => assert!(context.contains("forget"), "{context}"),
        Err(e) => panic!("expected a failed write, got {e}"),
        Ok(_) => panic!("expected a failed write, got an engine"),
    }
    full.store(false, std::sync::atomic::Ordering::SeqCst);
    let store = open();
    assert_eq!(
        store.released_through().unwrap(),
        through,
        "the records stay"
    );
    assert_eq!(store.event_count().unwrap(), log.len() as u64);
    let (mut e, r) = Engine::reopen(store, genesis.clone(), org_key(0)).unwrap();
    assert_eq!(r.events, log.len());
    assert_eq!(e.state_root_hex(), root);
}

/// A snapshot that ends a finalized prefix the records do not hold: records lost in
/// a crash between the two writes, or a snapshot copied from another node's store.
/// The start cannot resume from the records, and replays a window at a time: it
/// used to read every event into memory at once to restore the snapshot.
#[test]
fn a_snapshot_ahead_of_the_records_is_replayed_over_a_window_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.redb");
    let (genesis, log, root) = settled_store(&whole, 8_000, 250);
    let total = log.len();
    let open = |path: &std::path::Path| {
        let store = Store::open(path, genesis.network_id()).unwrap();
        Engine::reopen(store, genesis.clone(), org_key(0)).unwrap()
    };
    // The snapshot of a node that finalized every claim of the log.
    drop(open(&whole));
    // A store whose records end well before that snapshot: its node replayed the
    // first half of the log, then took the rest and stopped before recording it.
    let path = dir.path().join("events.redb");
    let mut ordered = log.clone();
    ordered.sort_by_key(|e| (e.lamport(), e.id()));
    let store = Store::open(&path, genesis.network_id()).unwrap();
    store.put_events(&ordered[..total / 2]).unwrap();
    drop(store);
    drop(open(&path));
    let store = Store::open(&path, genesis.network_id()).unwrap();
    let through = store.released_through().unwrap();
    store.put_events(&ordered[total / 2..]).unwrap();
    drop(store);
    std::fs::copy(
        whole.with_extension(crate::store::SNAPSHOT_EXTENSION),
        path.with_extension(crate::store::SNAPSHOT_EXTENSION),
    )
    .unwrap();

    let (mut e, r) = open(&path);
    assert_eq!(
        (r.events, r.from_snapshot, r.from_records, r.started_again),
        (total, 0, false, true),
        "{r:?}"
    );
    assert!(r.most_held < total * 3 / 5, "{r:?}");
    assert_eq!(e.state_root_hex(), root);
    assert!(e.store().released_through().unwrap() > through);
    drop(e);
    let (mut e, r) = open(&path);
    assert!(r.from_records && r.from_snapshot > 0, "{r:?}");
    assert_eq!(e.state_root_hex(), root);
}

/// A released event is read back from the store: when the store cannot give it (it
/// is closed while the disk stays full), asking for it is an error, not "no such
/// event" (the API answered 404 for an event it had), and held events are served
/// from memory all the same.
#[test]
fn a_released_event_the_store_cannot_give_back_is_an_error() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, log, _) = settled_store(&path, 2_000, 250);
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open_with_faults(&path, genesis.network_id(), full.clone()).unwrap();
    let (mut e, r) = Engine::reopen(store, genesis, org_key(0)).unwrap();
    assert!(r.released > 0, "{r:?}");
    let ledger = e.ledger();
    let (released, held): (Vec<&SignedEvent>, Vec<&SignedEvent>) =
        log.iter().partition(|ev| ledger.get(&ev.id()).is_none());
    let (released, held) = (released[0], held[0]);
    assert_eq!(
        e.event_bytes(&released.id()).unwrap().as_deref(),
        Some(released.as_bytes())
    );
    // Short ids find both: a released event through its record, which is keyed by id
    // (the store keeps no other index by id), and a held one in memory.
    for ev in [released, held] {
        let hex = ev.id().to_hex();
        assert_eq!(e.ids_with_prefix(&hex[..10], 5).unwrap(), vec![ev.id()]);
    }
    full.store(true, Ordering::SeqCst);
    assert!(e.store().reopen().is_err(), "the disk is full");
    assert!(matches!(
        e.event_bytes(&released.id()),
        Err(StoreError::Reopening)
    ));
    assert_eq!(
        e.event_bytes(&held.id()).unwrap().as_deref(),
        Some(held.as_bytes())
    );
    // So for every reader of a released event through the ledger: an error, not
    // "not there".
    assert!(matches!(
        e.ledger().fetch(&released.id()),
        Err(carnet_protocol::ledger::ArchiveError(_))
    ));
    full.store(false, Ordering::SeqCst);
    e.store().reopen().unwrap();
    assert_eq!(
        e.event_bytes(&released.id()).unwrap().as_deref(),
        Some(released.as_bytes())
    );
}

/// Issue 19: a roll back after a failed write re-inserts every event when the store's
/// records cannot be read; with the store closed (the disk full) the released events
/// cannot be read back either, and a ledger rebuilt without them was installed: a
/// state missing every finalized event. The ledger now stays as it is (the batch in
/// it, writes refused) until the store can be read, and the roll back finishes then:
/// memory equals the disk again.
#[test]
fn a_roll_back_that_cannot_read_the_released_events_waits_for_the_store() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, log, root) = settled_store(&path, 2_000, 250);
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open_with_faults(&path, genesis.network_id(), full.clone()).unwrap();
    let (mut e, r) = Engine::reopen(store, genesis, org_key(0)).unwrap();
    assert!(r.released > 0, "{r:?}");
    assert_eq!(
        (e.ledger().len(), e.state_root_hex()),
        (log.len(), root.clone())
    );

    full.store(true, Ordering::SeqCst);
    assert!(e.store().reopen().is_err(), "the disk is full");
    let grant = e
        .sign_as_org(Payload::Grant(Grant {
            member: key(77).public(),
            points: 5,
            memo: String::new(),
        }))
        .unwrap();
    let err = e.ingest_event(grant.clone()).unwrap_err();
    assert!(matches!(err, IngestError::Storage(_)), "{err}");
    assert!(
        e.ledger().len() > log.len(),
        "no ledger without the released events: {} of {}",
        e.ledger().len(),
        log.len()
    );
    assert!(!e.probe_storage(), "still full");

    full.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    assert_eq!((e.ledger().len(), e.state_root_hex()), (log.len(), root));
    assert!(e.ledger().fetch(&grant.id()).unwrap().is_none());
}

/// Issue 19: which listing holds each dedup key, who holds which card, each card's
/// unsold rewards, the rewards due to vest, the purchases and the listings' bodies
/// leave memory with the finalized events (rows of the store), and read
/// back as a ledger that holds them all has them: after the replay, and after a start
/// from the snapshot and the records. A store that cannot be read gives an error, not
/// "none".
#[test]
fn the_state_maps_on_disk_read_as_a_ledger_holding_them_all() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, log, root) = settled_store(&path, 8_000, 250);
    let mut reference = Ledger::new(genesis.clone());
    for ev in &log {
        reference.insert(ev.clone()).unwrap();
    }
    let all = reference.state().clone();
    let full = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let agree = |e: &mut Engine| {
        let s = e.ledger().state().clone();
        for (k, v) in all.dedup.memory() {
            assert_eq!(s.dedup.try_get(k).unwrap().as_ref(), v);
        }
        for (k, v) in all.holdings.memory() {
            assert_eq!(s.holdings.try_get(k).unwrap().as_ref(), v);
        }
        for id in all.listings.keys() {
            assert_eq!(s.unsold.try_get(id).unwrap(), all.unsold.get(id));
        }
        for (k, v) in all.vesting.memory() {
            assert_eq!(s.vesting.try_get(k).unwrap().as_ref(), v);
        }
        assert_eq!(s.vesting_due, all.vesting_due);
        // Purchases too, read whole (the state root covers them), and each buyer's
        // list, which the store's index of Purchases by author finds.
        let purchases = all.purchases.whole().unwrap();
        assert_eq!(s.purchases.whole().unwrap(), purchases);
        let bodies = all.listing_bodies.whole().unwrap();
        assert_eq!(s.listing_bodies.whole().unwrap(), bodies);
        let buyer = purchases.values().next().unwrap().buyer;
        let mut mine: Vec<String> = purchases
            .iter()
            .filter(|(_, p)| p.buyer == buyer)
            .map(|(id, _)| id.to_hex())
            .collect();
        let mut listed: Vec<String> = e
            .purchases(&buyer)
            .unwrap()
            .into_iter()
            .map(|p| p.purchase_id)
            .collect();
        mine.sort();
        listed.sort();
        assert!(!mine.is_empty());
        assert_eq!(listed, mine);
        assert!(e.ledger().take_archive_error().is_none());
        // What is left in memory: what changed since the last release.
        let (kept, whole) = (s.dedup.len(), all.dedup.len());
        assert!(kept * 10 < whole, "{kept} of {whole} dedup keys in memory");
        let (kept, whole) = (s.holdings.len(), all.holdings.len());
        assert!(kept * 10 < whole, "{kept} of {whole} holdings in memory");
        let (kept, whole) = (s.purchases.len(), purchases.len());
        assert!(kept * 10 < whole, "{kept} of {whole} purchases in memory");
        let (kept, whole) = (s.listing_bodies.len(), bodies.len());
        assert!(
            kept * 10 < whole,
            "{kept} of {whole} listing bodies in memory"
        );
    };
    assert!(all.dedup.len() > 1_000 && all.holdings.len() > 500);
    assert!(all.vesting.len() > 100 && all.unsold.len() > 500);
    for start in ["replay", "snapshot and records"] {
        let store = Store::open_with_faults(&path, genesis.network_id(), full.clone()).unwrap();
        let (mut e, r) = Engine::reopen(store, genesis.clone(), org_key(0)).unwrap();
        // The replay starts again from its snapshot and the records, as the next
        // start does.
        let again = match start {
            "replay" => r.started_again,
            _ => r.from_records,
        };
        assert!(again, "{r:?}");
        assert_eq!(e.state_root_hex(), root);
        agree(&mut e);
        if start == "replay" {
            continue;
        }
        let (key, _) = all.dedup.memory().next().unwrap();
        full.store(true, Ordering::SeqCst);
        assert!(e.store().reopen().is_err(), "the disk is full");
        assert!(e.ledger().state().dedup.try_get(key).is_err());
        // What the rules read takes it for "none", and the ledger says so.
        assert_eq!(e.ledger().state().dedup.get(key), None);
        assert!(e.ledger().take_archive_error().is_some());
        full.store(false, Ordering::SeqCst);
        e.store().reopen().unwrap();
        agree(&mut e);
    }
}
