use super::*;
use carnet_protocol::card::{recipient_public, seal_card};
use carnet_protocol::genesis::Rules;
use carnet_protocol::payload::*;

mod faults;
mod search;
mod start;

pub(super) fn key(i: u8) -> SecretKey {
    SecretKey::from_seed([i; 32])
}

/// A member of the engine's org, enrolled (its Enroll ingested) and introduced by it.
pub(super) fn enrolled(e: &mut Engine, seed: u8) -> Author {
    crate::test_support::enroll(e, seed).1
}

/// `member` contributes `card` (claimed at `t`) to its own org's engine: its id.
pub(super) fn contribute(
    e: &mut Engine,
    member: &mut Author,
    card: carnet_protocol::card::Card,
    t: u64,
) -> ContentId {
    let c = crate::test_support::contribution_at(e, member, &card, t);
    e.contribute(c.as_bytes(), card).unwrap();
    c.id()
}

#[test]
fn cards_kept_in_one_burst_are_held_in_holds_of_at_most_31() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 10);
    let mut ids = Vec::new();
    for n in 0..40 {
        let card = crate::test_support::card(&format!("p{n}@acme.example"));
        ids.push(contribute(&mut e, &mut member, card, 1));
    }
    let holds = e.holds_due();
    let sizes: Vec<usize> = holds
        .iter()
        .map(|h| match h {
            Payload::Hold(h) => h.listings.len(),
            _ => 0,
        })
        .collect();
    assert_eq!(sizes, [31, 9]);
    for h in holds {
        let ev = e.sign_as_org(h).expect("a Hold fits in one event");
        e.ingest_event(ev).unwrap();
    }
    assert!(e.holds_due().is_empty(), "nothing left to hold");
    for id in ids {
        assert!(e.listing(&id).unwrap().unwrap().held);
    }
}

#[test]
fn deliveries_are_indexed_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let orgs = [key(1), key(2)];
    let genesis = carnet_protocol::testkit::genesis("t", &orgs, Rules::default(), 0);
    let net = genesis.network_id();
    let path = dir.path().join("events.redb");
    let mut e0 = Engine::open(
        Store::open(&path, net).unwrap(),
        genesis.clone(),
        orgs[0].clone(),
    )
    .unwrap();
    let mut seller = Author::new(key(10), net);
    let mut buyer = Author::new(key(11), net);
    let mut org1 = Author::new(orgs[1].clone(), net);
    let put = |e: &mut Engine, ev: SignedEvent| e.ingest_event(ev).unwrap();
    let enroll = |m: PublicKey| {
        Payload::Enroll(Enroll {
            member: m,
            handle: "m".into(),
        })
    };
    let ev = e0.sign_as_org(enroll(seller.public())).unwrap();
    seller = seller.introduced_by(Some(ev.id()));
    put(&mut e0, ev);
    let ev = org1
        .sign(enroll(buyer.public()), vec![], e0.ledger().max_lamport(), 1)
        .unwrap();
    buyer = buyer.introduced_by(Some(ev.id()));
    put(&mut e0, ev);
    let ev = org1
        .sign(
            Payload::Grant(Grant {
                member: buyer.public(),
                points: 50,
                memo: String::new(),
            }),
            vec![],
            e0.ledger().max_lamport(),
            1,
        )
        .unwrap();
    put(&mut e0, ev);
    let card = crate::test_support::card("ada@acme.example");
    let c = seller
        .sign(
            Payload::Contribute(Contribute {
                listing: card.listing(&crate::test_support::SECRET).unwrap(),
            }),
            vec![],
            e0.ledger().max_lamport(),
            1,
        )
        .unwrap();
    put(&mut e0, c.clone());
    let recipient = recipient_public([9; 32]);
    let p = buyer
        .sign(
            Payload::Purchase(Purchase {
                listing_id: c.id(),
                recipient,
                max_price: 10,
            }),
            vec![],
            e0.ledger().max_lamport(),
            1,
        )
        .unwrap();
    put(&mut e0, p.clone());
    assert!(e0.delivery(&p.id()).unwrap().is_none());
    let (ephemeral, sealed_card) = seal_card(&card, &recipient, [5; 32], &p.id()).unwrap();
    let d = e0
        .sign_as_org(Payload::Deliver(Deliver {
            purchase_id: p.id(),
            ephemeral,
            sealed_card,
        }))
        .unwrap();
    put(&mut e0, d.clone());
    let view = e0.delivery(&p.id()).unwrap().expect("indexed");
    assert_eq!(view.deliver_event, d.id().to_hex());
    // The sale is paid; the contribution's reward waits for the bounce window.
    let b = e0.balance(&seller.public()).unwrap();
    assert_eq!((b.balance, b.pending), (10, 10));
    drop(e0);
    let e1 = Engine::open(Store::open(&path, net).unwrap(), genesis, orgs[0].clone()).unwrap();
    assert_eq!(
        e1.delivery(&p.id()).unwrap().unwrap().deliver_event,
        d.id().to_hex()
    );
}

/// An Enroll of member key 10 signed by the org and not yet ingested, and the member
/// it introduces: its events wait for the Enroll.
fn unstored_enrollment(e: &mut Engine, net: NetworkId) -> (SignedEvent, Author) {
    let enroll = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: key(10).public(),
            handle: "m".into(),
        }))
        .unwrap();
    let member = Author::new(key(10), net).introduced_by(Some(enroll.id()));
    (enroll, member)
}

#[test]
fn pending_events_are_never_stored_and_older_stored_ones_are_dropped_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let net = genesis.network_id();
    let (enroll, mut member) = unstored_enrollment(&mut e, net);
    let vote = Payload::Vote(Vote {
        company_domain: "c.example".into(),
        employees: EmployeeRange::From1To10,
        revenue: RevenueRange::Under1M,
    });
    let waiting = member.sign(vote, vec![], enroll.lamport(), 5).unwrap();
    // Its introduction is missing: held, not stored.
    let r = e.ingest_event(waiting.clone()).unwrap();
    assert!(matches!(r.result, Submitted::Pending { .. }), "{r:?}");
    assert_eq!(e.store.load_events(&net).unwrap().len(), 0);
    assert_eq!(
        e.event_bytes(&waiting.id()).unwrap(),
        None,
        "not served while pending"
    );
    // Once complete, it is stored with what completed it, and reported.
    e.ingest_event(enroll.clone()).unwrap();
    assert_eq!(e.store.load_events(&net).unwrap().len(), 2);
    let done = e.take_completions();
    assert_eq!(done.completed, vec![waiting.clone()]);
    assert!(done.dropped.is_empty());
    // An older build stored pending events: they are dropped at start.
    let orphan = Author::new(key(11), net)
        .sign(
            Payload::Grant(Grant {
                member: key(10).public(),
                points: 1,
                memo: String::new(),
            }),
            vec![carnet_protocol::Hash32([7; 32])],
            9,
            5,
        )
        .unwrap();
    e.store.put_events(std::slice::from_ref(&orphan)).unwrap();
    drop(e);
    let store = Store::open(&dir.path().join("events.redb"), net).unwrap();
    let e = Engine::open(store, genesis, org).unwrap();
    assert_eq!(e.pending_len(), 0);
    let kept: Vec<_> = e.store.load_events(&net).unwrap();
    assert_eq!(kept.len(), 2);
    assert!(!kept.contains(&orphan));
}

/// Issue 19: an event that waits for an event itself waiting (a chain fetched out of
/// order) waits for nothing to fetch: fetching the waiting one again, as catch-up
/// did, cost 16,000 events fetched twice in a catch-up of 40,000.
#[test]
fn an_event_waiting_on_a_pending_one_asks_for_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, _) = crate::test_support::one_org_engine(dir.path());
    let net = genesis.network_id();
    let (enroll, mut member) = unstored_enrollment(&mut e, net);
    let vote = |d: &str| {
        Payload::Vote(Vote {
            company_domain: d.into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        })
    };
    let first = member
        .sign(vote("a.example"), vec![], enroll.lamport(), 5)
        .unwrap();
    let second = member.sign(vote("b.example"), vec![], 0, 6).unwrap();
    for ev in [&first, &second] {
        let r = e.ingest_event(ev.clone()).unwrap();
        assert!(matches!(r.result, Submitted::Pending { .. }), "{r:?}");
    }
    assert_eq!(e.waits_for(&first), vec![enroll.id()]);
    assert_eq!(e.waits_for(&second), Vec::<ContentId>::new());
}

#[test]
fn a_snapshot_saved_at_stop_covers_fetched_events_not_yet_durable() {
    // The readme tour caught a node stopped right after a catch-up, before the loop's
    // settle made the fetched events durable: it saved no snapshot at all.
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 10);
    let clock = e.ledger().max_lamport();
    let fetched: Vec<SignedEvent> = (0..3)
        .map(|i| {
            let vote = Payload::Vote(Vote {
                company_domain: format!("v{i}.example"),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            });
            member.sign(vote, vec![], clock, 1).unwrap()
        })
        .collect();
    e.ingest_fetched_batch(fetched).unwrap();
    assert!(e.snapshot_to_save().is_none(), "not over undurable events");
    let saved = e.save_snapshot().unwrap().expect("a snapshot at stop");
    assert_eq!(saved.events, e.ledger().len() as u64);
    assert!(e.store().open_snapshot().unwrap().is_some());
}

#[test]
fn a_restart_resumes_from_the_snapshot_and_checks_only_later_signatures() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let enroll = |i: u8| {
        Payload::Enroll(Enroll {
            member: key(i).public(),
            handle: format!("m{i}"),
        })
    };
    let mut ids = Vec::new();
    for i in 10..20 {
        let ev = e.sign_as_org(enroll(i)).unwrap();
        ids.push(ev.id());
        e.ingest_event(ev).unwrap();
    }
    assert_eq!(e.snapshot_events(), None);
    let saved = e.save_snapshot().unwrap().expect("a first snapshot");
    assert_eq!(saved.events, 10);
    assert_eq!(e.save_snapshot().unwrap(), None, "nothing new to save");
    for i in 20..25 {
        let ev = e.sign_as_org(enroll(i)).unwrap();
        e.ingest_event(ev).unwrap();
    }
    let root = e.state_root_hex();
    drop(e);
    let reopen = || {
        let store = Store::open(&path, genesis.network_id()).unwrap();
        Engine::reopen(store, genesis.clone(), org.clone())
    };
    let (mut e, r) = reopen().unwrap();
    assert_eq!(
        r,
        Reopened {
            events: 15,
            most_held: 15,
            from_snapshot: 10,
            verified: 5,
            released: 0,
            from_records: false,
            started_again: false,
        }
    );
    assert_eq!(e.state_root_hex(), root);
    assert_eq!(e.snapshot_events(), Some(10));
    // The org's chain goes on from where it was.
    let ev = e.sign_as_org(enroll(25)).unwrap();
    assert_eq!(ev.seq(), 15);
    drop(e);

    // A damaged snapshot costs a full replay, not the node.
    let store = Store::open(&path, genesis.network_id()).unwrap();
    let mut bytes = store.get_snapshot().unwrap().unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    store.put_snapshot(&bytes).unwrap();
    drop(store);
    let (mut e, r) = reopen().unwrap();
    assert_eq!((r.from_snapshot, r.verified), (0, 15));
    assert_eq!(e.state_root_hex(), root);
    e.save_snapshot().unwrap().expect("a fresh snapshot");
    drop(e);

    // A signature that rotted under the snapshot does not hide behind it: the
    // snapshot no longer matches, every signature is checked, and the bad one named.
    crate::store::tests::tamper(&path, &ids[3], |b| {
        let n = b.len();
        b[n - 1] ^= 1;
    });
    match reopen() {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, ids[3].to_hex());
            assert!(reason.contains("signature"), "{reason}");
        }
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("expected Corrupt, got an engine"),
    }
}

#[test]
fn snapshots_fall_due_by_count_and_by_share_of_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    e.snapshot_min_events = 4;
    let mut enrolled = 0u8;
    let mut add = |e: &mut Engine, n: u8| {
        for _ in 0..n {
            enrolled += 1;
            let ev = e
                .sign_as_org(Payload::Enroll(Enroll {
                    member: key(100 + enrolled).public(),
                    handle: format!("m{enrolled}"),
                }))
                .unwrap();
            e.ingest_event(ev).unwrap();
        }
    };
    assert!(!e.snapshot_due(), "nothing to save");
    add(&mut e, 3);
    assert!(!e.snapshot_due());
    add(&mut e, 1);
    assert!(e.snapshot_due());
    e.save_snapshot().unwrap();
    assert!(!e.snapshot_due());
    // At 40 events saved, the next waits for a quarter more (10), not for 4.
    add(&mut e, 36);
    e.save_snapshot().unwrap();
    add(&mut e, 9);
    assert!(!e.snapshot_due());
    add(&mut e, 1);
    assert!(e.snapshot_due());
}

#[test]
fn submissions_in_one_batch_are_answered_each_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let net = genesis.network_id();
    let member = Author::new(key(10), net);
    let enroll = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: member.public(),
            handle: "m".into(),
        }))
        .unwrap();
    let mut member = member.introduced_by(Some(enroll.id()));
    let vote = |k: u16| {
        Payload::Vote(Vote {
            company_domain: format!("c{k}.example"),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        })
    };
    let v1 = member.sign(vote(1), vec![], enroll.lamport(), 5).unwrap();
    let v2 = member.sign(vote(2), vec![], enroll.lamport(), 5).unwrap();
    let wires = vec![
        enroll.as_bytes().to_vec(),
        v1.as_bytes().to_vec(),
        b"not an event".to_vec(),
        v2.as_bytes().to_vec(),
        v1.as_bytes().to_vec(),
    ];
    let r = e.ingest_submitted(&wires);
    assert_eq!(r.len(), 5);
    let outcome = |i: usize| match &r[i] {
        Ok(Ingested {
            result: Submitted::Ordered { outcome, .. },
            new,
            ..
        }) => (outcome.clone(), *new),
        other => panic!("{i}: {other:?}"),
    };
    assert_eq!(outcome(0), ("applied".into(), true));
    assert_eq!(outcome(1), ("applied".into(), true));
    assert!(matches!(r[2], Err(IngestError::Invalid(_))));
    assert_eq!(outcome(3), ("applied".into(), true));
    assert_eq!(
        outcome(4),
        ("applied".into(), false),
        "the repeat is not new"
    );
    assert_eq!(e.ledger().len(), 3);
    // Submitted again in a later batch: known.
    let again = e.ingest_submitted(&[v2.as_bytes().to_vec()]);
    assert!(matches!(
        &again[0],
        Ok(Ingested {
            result: Submitted::Duplicate { .. },
            new: false,
            ..
        })
    ));
    // All three survive a restart: they were committed.
    drop(e);
    let mut reopened = Engine::open(
        Store::open(&dir.path().join("events.redb"), net).unwrap(),
        genesis,
        org,
    )
    .unwrap();
    assert_eq!(reopened.ledger().len(), 3);
}

/// The ledger lets go of the wire bytes of what a batch ordered once the batch is
/// stored and passed on (at the next batch), and a peer asking for such an event gets
/// the same bytes without bringing them back into memory (issue 19).
#[test]
fn events_held_only_to_fold_are_served_without_their_bytes_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 10);
    let card = crate::test_support::card("a@acme.example");
    let signed = crate::test_support::contribution_at(&mut e, &mut member, &card, 1);
    let (id, bytes) = (signed.id(), signed.as_bytes().to_vec());
    drop(signed);
    let own = SignedEvent::decode(&bytes, &e.ledger().network()).unwrap();
    e.ingest_batch(vec![own]).unwrap();
    let held = |e: &mut Engine| e.ledger().get(&id).map(SignedEvent::has_wire_bytes);
    assert_eq!(
        held(&mut e),
        Some(true),
        "kept until the batch is passed on"
    );
    // The next batch sheds it.
    e.ingest_batch(Vec::new()).unwrap();
    assert_eq!(held(&mut e), Some(false));
    assert_eq!(e.event_bytes(&id).unwrap(), Some(bytes));
    assert_eq!(held(&mut e), Some(false), "serving keeps nothing");
}
