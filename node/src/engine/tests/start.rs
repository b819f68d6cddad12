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
) -> (carnet_protocol::Genesis, usize, String) {
    let mut log = Vec::new();
    let (genesis, total) = generate_settled(n, epoch, |batch| log.extend_from_slice(batch));
    let store = Store::open(path, genesis.network_id()).unwrap();
    store.put_events(&log).unwrap();
    let mut reference = Ledger::new(genesis.clone());
    for ev in log {
        reference.insert(ev).unwrap();
    }
    (genesis, total, reference.state_root().to_hex())
}

#[test]
fn a_replay_lets_each_window_go_and_writes_the_records_as_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (genesis, total, root) = settled_store(&path, 8_000, 250);
    let reopen = || {
        let store = Store::open(&path, genesis.network_id()).unwrap();
        Engine::reopen(store, genesis.clone(), org_key(0)).unwrap()
    };
    let (mut e, r) = reopen();
    assert_eq!(
        (r.events, r.verified, r.from_snapshot, r.from_records),
        (total, total, 0, false)
    );
    assert_eq!(e.state_root_hex(), root);
    let held = e.events_in_memory();
    assert_eq!(r.released + held, total);
    // At most the workload's setup (some 4,000 events, all final with the first
    // claim) and a window were held at once; a start that held every event until the
    // end held all of them.
    assert!(r.most_held < total * 3 / 5, "{r:?}");
    let through = e.store().released_through().unwrap();
    assert!(through > 10, "{through} epochs recorded");
    e.save_snapshot().unwrap().expect("a snapshot");
    drop(e);

    // The records written as the replay went are the ones a start reads.
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
    e.save_snapshot().unwrap().expect("a snapshot");
    drop(e);
    let (mut e, r) = reopen();
    assert_eq!((r.events, r.from_records), (held, true));
    assert_eq!(e.state_root_hex(), root);
}
