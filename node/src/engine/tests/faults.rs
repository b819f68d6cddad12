//! The store failing under the engine (issue 14): memory stays equal to disk, and
//! writes resume once it recovers.

use super::*;

/// Issue 14: a write that fails (a full disk, injected) leaves memory equal to the
/// disk: the batch is not kept, this org's chain does not go on over it, a
/// snapshot claims no more than is stored; writes resume once the fault clears.
#[test]
fn a_failed_write_leaves_memory_equal_to_disk_and_writes_resume_after() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org, fail) = crate::test_support::faulty_engine(dir.path());
    let net = genesis.network_id();
    let path = dir.path().join("events.redb");
    let mut member = Author::new(key(10), net);
    let enroll = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: member.public(),
            handle: "m".into(),
        }))
        .unwrap();
    member = member.introduced_by(Some(enroll.id()));
    let short = enroll.id().to_hex()[..8].to_owned();
    e.ingest_event(enroll.clone()).unwrap();
    let vote = |m: &mut Author, e: &mut Engine, d: &str| {
        m.sign(
            Payload::Vote(Vote {
                company_domain: d.into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            e.ledger().max_lamport(),
            1,
        )
        .unwrap()
    };
    for d in ["a.example", "b.example", "c.example"] {
        let v = vote(&mut member, &mut e, d);
        e.ingest_event(v).unwrap();
    }
    let on_disk = |e: &Engine| e.store().load_events(&net).unwrap().len();
    assert_eq!((e.ledger().len(), on_disk(&e)), (4, 4));

    fail.store(true, Ordering::SeqCst);
    let mut lost_member = member.clone();
    let v = vote(&mut lost_member, &mut e, "d.example");
    let err = e.ingest_event(v.clone()).unwrap_err();
    assert!(matches!(err, IngestError::Storage(_)), "{err}");
    assert!(e.ledger().fetch(&v.id()).unwrap().is_none());
    assert_eq!(e.ledger().len(), 4);
    assert!(e.storage_fault.is_some());
    let grant = |points| {
        Payload::Grant(Grant {
            member: member.public(),
            points,
            memo: String::new(),
        })
    };
    let g1 = e.sign_as_org(grant(5)).unwrap();
    assert!(e.ingest_event(g1.clone()).is_err());
    // The store is closed until it reopens: a short id is refused, not looked up
    // among the events in memory alone (a released one would be missed, and a
    // prefix it shares look unique).
    assert!(matches!(
        e.ids_with_prefix(&short, 5),
        Err(StoreError::Reopening)
    ));
    // The org's next event takes the unsaved one's place, not the one after it.
    let g2 = e.sign_as_org(grant(6)).unwrap();
    assert_eq!(g2.body().seq, g1.body().seq);
    assert_eq!(e.ledger().len(), 4);
    let saved = e.save_snapshot().unwrap().unwrap();
    assert_eq!(saved.events, 4);

    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    assert!(e.storage_fault.is_none());
    assert_eq!(e.ids_with_prefix(&short, 5).unwrap(), vec![enroll.id()]);
    e.ingest_event(v).unwrap();
    e.ingest_event(g2).unwrap();
    assert_eq!((e.ledger().len(), on_disk(&e)), (6, 6));
    let root = e.state_root_hex();
    drop(e);
    let store = Store::open(&path, net).unwrap();
    let mut again = Engine::open(store, genesis, org).unwrap();
    assert_eq!(again.state_root_hex(), root);
}

/// Issue 14: a failed write of a held card or of evidence makes the node unhealthy
/// as a failed event write does: nothing is kept, and once the store takes writes
/// again the node is healthy and the same writes go through.
#[test]
fn a_failed_card_or_evidence_write_makes_the_node_unhealthy_until_the_store_recovers() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, org, fail) = crate::test_support::faulty_engine(dir.path());
    e.set_network_secret(crate::test_support::SECRET);
    let (_, mut m) = crate::test_support::enroll(&mut e, 10);
    let ada = crate::test_support::card("ada@acme.example");
    let ev = crate::test_support::contribution(&mut e, &mut m, &ada);

    fail.store(true, Ordering::SeqCst);
    let err = e.contribute(ev.as_bytes(), ada.clone()).unwrap_err();
    assert!(matches!(err, IngestError::Storage(_)), "{err}");
    assert!(e.storage_fault.is_some(), "a failed card write is a fault");
    assert!(e.ledger().fetch(&ev.id()).unwrap().is_none());
    e.storage_fault = None;
    let err = e.put_evidence(b"a bounce").unwrap_err();
    assert_eq!(err.code(), "storage");
    assert!(
        e.storage_fault.is_some(),
        "a failed evidence write is a fault"
    );
    // An input refused for itself is no fault of the store.
    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    let huge = vec![0u8; carnet_protocol::ledger::audit::MAX_EVIDENCE_BYTES + 1];
    assert_eq!(
        e.put_evidence(&huge).unwrap_err().code(),
        "evidence_too_large"
    );
    assert!(e.storage_fault.is_none());

    e.contribute(ev.as_bytes(), ada).unwrap();
    assert!(e.store().get_card(&ev.id(), &org).unwrap().is_some());
    let h = e.put_evidence(b"a bounce").unwrap();
    assert!(e.store().get_evidence(&h, &org).unwrap().is_some());
}

/// Issue 14: vouched bounce messages that no report names are deleted once their
/// time is up; recent ones stay.
#[test]
fn evidence_no_report_names_is_swept_after_twice_the_bounce_window() {
    use crate::vouch::{encode_records, VouchedRecord, VOUCHED_META_PREFIX};
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let window = genesis.rules.bounce_window_ms;
    let now = 100 * window;
    let old = e.store.put_evidence(b"an old bounce", &org).unwrap();
    let new = e.store.put_evidence(b"a new bounce", &org).unwrap();
    let records = [
        VouchedRecord {
            evidence: old,
            at_ms: now - 2 * window,
        },
        VouchedRecord {
            evidence: new,
            at_ms: now - window,
        },
    ];
    let key = format!(
        "{VOUCHED_META_PREFIX}{}",
        carnet_protocol::Hash32::of(b"purchase").to_hex()
    );
    e.store.put_meta(&key, &encode_records(&records)).unwrap();
    assert_eq!(e.sweep_evidence(now).unwrap(), 1);
    assert_eq!(e.store.get_evidence(&old, &org).unwrap(), None);
    assert!(e.store.get_evidence(&new, &org).unwrap().is_some());
    assert_eq!(e.sweep_evidence(now).unwrap(), 0);
    assert_eq!(e.sweep_evidence(now + window).unwrap(), 1);
}

/// Issue 19: a checkpoint claim folds the events above the finalized state over the
/// state's maps on disk. A read of them that fails (taken for "none" by the rules)
/// makes the claim of another state, which an org must never sign, as it signs one
/// claim per bound: none is signed, writes are refused until the store reads again,
/// and the claim signed then is the one a node that never failed makes.
#[test]
fn a_claim_folded_while_the_store_fails_to_read_is_not_signed() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _, fail) = crate::test_support::faulty_engine(dir.path());
    e.set_network_secret(crate::test_support::SECRET);
    let mut member = enrolled(&mut e, 10);
    let settle = |e: &mut Engine| {
        for deps in e.seals_due() {
            let seal = e
                .sign_as_org_with(Payload::Seal(Default::default()), deps)
                .unwrap();
            e.ingest_event(seal).unwrap();
        }
        let _ = e.checkpoint_due();
        let (claim, deps) = e.checkpoint_due().expect("a claim to sign");
        let cp = e.sign_as_org_with(claim, deps).unwrap();
        e.ingest_event(cp).unwrap();
    };
    let first = crate::test_support::card("ada@acme.example");
    contribute(&mut e, &mut member, first, 5);
    settle(&mut e);
    assert!(
        e.ledger().state().dedup.is_empty(),
        "the first card's key on disk"
    );
    // Whether a new card copies one on disk, the claim's fold asks the disk.
    let next = crate::test_support::card("grace@acme.example");
    contribute(&mut e, &mut member, next, 6);
    for deps in e.seals_due() {
        let seal = e
            .sign_as_org_with(Payload::Seal(Default::default()), deps)
            .unwrap();
        e.ingest_event(seal).unwrap();
    }
    let mut reference = e.ledger().clone();
    let good = reference.claim_at(reference.max_lamport());
    assert!(good.is_some());

    fail.store(true, Ordering::SeqCst);
    assert!(e.store().reopen().is_err(), "the disk fails");
    for _ in 0..2 {
        assert!(e.checkpoint_due().is_none(), "a claim over failed reads");
    }
    assert!(e.storage_fault.is_some());
    assert!(e.ledger().take_archive_error().is_none());

    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    let (claim, _) = e.checkpoint_due().expect("signed once the store reads");
    assert_eq!(Some(claim), good.map(Payload::Checkpoint));
}

/// Events a catch-up stored without a durable commit and that a failed write then
/// took from the store leave memory too, once the store is reopened: memory equals
/// disk again, and the node opened from that store agrees. Those a durable commit
/// saved first stay, and a snapshot is taken only once they are durable.
#[test]
fn fetched_events_a_failed_write_lost_leave_memory_too() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org, fail) = crate::test_support::faulty_engine(dir.path());
    let net = genesis.network_id();
    let path = dir.path().join("events.redb");
    let (_, mut member) = crate::test_support::enroll(&mut e, 10);
    let mut votes = |n: usize, e: &mut Engine| -> Vec<SignedEvent> {
        let (len, clock) = (e.ledger().len(), e.ledger().max_lamport());
        (0..n)
            .map(|i| {
                member
                    .sign(
                        Payload::Vote(Vote {
                            company_domain: format!("v{i}-{len}.example"),
                            employees: EmployeeRange::From1To10,
                            revenue: RevenueRange::Under1M,
                        }),
                        vec![],
                        clock,
                        1,
                    )
                    .unwrap()
            })
            .collect()
    };
    let on_disk = |e: &Engine| e.store().load_events(&net).unwrap().len();
    // A snapshot never covers what is not durable: none until the settle.
    let fetched = votes(2, &mut e);
    e.ingest_fetched_batch(fetched).unwrap();
    assert_eq!(e.undurable.len(), 2);
    assert!(e.snapshot_to_save().is_none());
    e.settle_store();
    assert!(e.undurable.is_empty());
    assert!(e.snapshot_to_save().is_some());
    // Three fetched, then made durable by the settle; three more, not durable yet.
    let first = votes(3, &mut e);
    e.ingest_fetched_batch(first).unwrap();
    e.settle_store();
    let second = votes(3, &mut e);
    e.ingest_fetched_batch(second.clone()).unwrap();
    assert_eq!((e.ledger().len(), on_disk(&e)), (9, 9), "readable at once");

    // The settle's durable commit fails: the three are lost with the open database.
    fail.store(true, Ordering::SeqCst);
    e.settle_store();
    assert!(e.storage_fault.is_some());
    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    assert_eq!(
        (e.ledger().len(), on_disk(&e)),
        (6, 6),
        "memory equals disk"
    );
    for ev in &second {
        assert!(e.ledger().fetch(&ev.id()).unwrap().is_none());
    }
    // Fetched again, they are taken as new.
    let (accepted, rejected) = e.ingest_fetched_batch(second).unwrap();
    assert_eq!((accepted.len(), rejected.len()), (3, 0));
    let root = e.state_root_hex();
    drop(e);
    let store = Store::open(&path, net).unwrap();
    let mut again = Engine::open(store, genesis, org).unwrap();
    assert_eq!((again.ledger().len(), again.state_root_hex()), (9, root));
}

/// A write that fails in a batch that finalizes an epoch, whose records are written
/// after its events (`release_finalized`), leaves memory equal to the disk: the
/// epoch is not final, no record is written, its events stay in memory. Once the
/// store takes writes again the same batch finalizes, its events leave memory, and
/// the state is the one every event gives, after a restart too.
#[test]
fn a_failed_write_of_a_batch_that_finalizes_leaves_memory_equal_to_disk() {
    use carnet_protocol::testkit::workload::{generate_settled, org_key};
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let mut epochs: Vec<Vec<SignedEvent>> = Vec::new();
    let (genesis, _) = generate_settled(6_000, 250, |b| epochs.push(b.to_vec()));
    assert!(epochs.len() > 6, "{} epochs", epochs.len());
    let net = genesis.network_id();
    let fail = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let store = Store::open_with_faults(&path, net, fail.clone()).unwrap();
    let mut e = Engine::open(store, genesis.clone(), org_key(0)).unwrap();
    let mut reference = Ledger::new(genesis.clone());
    for ev in epochs.iter().flatten() {
        reference.insert(ev.clone()).unwrap();
    }
    let on_disk = |e: &Engine| e.store().load_events(&net).unwrap().len();
    let ingest = |e: &mut Engine, evs: &[SignedEvent]| {
        let (accepted, rejected) = e.ingest_batch(evs.to_vec()).unwrap();
        assert_eq!((accepted.len(), rejected.len()), (evs.len(), 0));
    };
    // The setup (its first epoch) and three more as the API's loop takes them, a
    // few at a time.
    for epoch in &epochs[..4] {
        for chunk in epoch.chunks(64) {
            ingest(&mut e, chunk);
        }
    }
    let fifth = &epochs[4];
    let (body, claim) = fifth.split_at(fifth.len() - 40);
    for chunk in body.chunks(64) {
        ingest(&mut e, chunk);
    }
    let finals = e.ledger().finals().len();
    let through = e.store().released_through().unwrap();
    let held = e.events_in_memory();
    let root = e.state_root_hex();
    assert!(through > 0, "earlier epochs released");

    // The batch that finalizes the fifth epoch fails to write.
    fail.store(true, Ordering::SeqCst);
    let err = e.ingest_batch(claim.to_vec()).unwrap_err();
    assert!(matches!(err, IngestError::Storage(_)), "{err}");
    assert_eq!(e.ledger().finals().len(), finals);
    assert_eq!(e.events_in_memory(), held);
    assert_eq!(e.state_root_hex(), root, "memory equals the disk");
    assert_eq!(e.ledger().len(), on_disk(&e));
    assert_eq!(e.store().released_through().unwrap(), through);

    // Once the store takes writes again, the same batch finalizes and is released.
    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    ingest(&mut e, claim);
    assert_eq!(e.ledger().finals().len(), finals + 1);
    assert!(e.store().released_through().unwrap() > through);
    assert!(e.events_in_memory() < held, "the epoch left memory");
    for chunk in epochs[5..].concat().chunks(64) {
        ingest(&mut e, chunk);
    }
    let root = reference.state_root().to_hex();
    assert_eq!(e.state_root_hex(), root);
    assert_eq!(e.ledger().len(), on_disk(&e));
    drop(e);
    let store = Store::open(&path, net).unwrap();
    let mut again = Engine::open(store, genesis, org_key(0)).unwrap();
    assert_eq!(again.state_root_hex(), root);
}
