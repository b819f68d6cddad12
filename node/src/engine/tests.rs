use super::*;
use carnet_protocol::card::{recipient_public, seal_card};
use carnet_protocol::genesis::Rules;
use carnet_protocol::payload::*;

fn key(i: u8) -> SecretKey {
    SecretKey::from_seed([i; 32])
}

/// A member of the engine's org, enrolled (its Enroll ingested) and introduced by it.
fn enrolled(e: &mut Engine, seed: u8) -> Author {
    let member = Author::new(key(seed), e.network());
    let enroll = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: member.public(),
            handle: "m".into(),
        }))
        .unwrap();
    let member = member.introduced_by(Some(enroll.id()));
    e.ingest_event(enroll).unwrap();
    member
}

/// `member` contributes `card` (claimed at `t`) to its own org's engine: its id.
fn contribute(
    e: &mut Engine,
    member: &mut Author,
    card: carnet_protocol::card::Card,
    t: u64,
) -> ContentId {
    let c = member
        .sign(
            Payload::Contribute(Contribute {
                listing: card.listing(&crate::test_support::SECRET).unwrap(),
            }),
            vec![],
            e.ledger().max_lamport(),
            t,
        )
        .unwrap();
    e.contribute(c.as_bytes(), card).unwrap();
    c.id()
}

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
    e.ingest_event(enroll).unwrap();
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
    assert!(e.ledger().get(&v.id()).is_none());
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
    // The org's next event takes the unsaved one's place, not the one after it.
    let g2 = e.sign_as_org(grant(6)).unwrap();
    assert_eq!(g2.body().seq, g1.body().seq);
    assert_eq!(e.ledger().len(), 4);
    let saved = e.save_snapshot().unwrap().unwrap();
    assert_eq!(saved.events, 4);

    fail.store(false, Ordering::SeqCst);
    assert!(e.probe_storage());
    assert!(e.storage_fault.is_none());
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
    assert!(e.ledger().get(&ev.id()).is_none());
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
        assert!(e.listing(&id).unwrap().held);
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
    assert!(e0.delivery(&p.id()).is_none());
    let (ephemeral, sealed_card) = seal_card(&card, &recipient, [5; 32], &p.id()).unwrap();
    let d = e0
        .sign_as_org(Payload::Deliver(Deliver {
            purchase_id: p.id(),
            ephemeral,
            sealed_card,
        }))
        .unwrap();
    put(&mut e0, d.clone());
    let view = e0.delivery(&p.id()).expect("indexed");
    assert_eq!(view.deliver_event, d.id().to_hex());
    // The sale is paid; the contribution's reward waits for the bounce window.
    let b = e0.balance(&seller.public()).unwrap();
    assert_eq!((b.balance, b.pending), (10, 10));
    drop(e0);
    let e1 = Engine::open(Store::open(&path, net).unwrap(), genesis, orgs[0].clone()).unwrap();
    assert_eq!(e1.delivery(&p.id()).unwrap().deliver_event, d.id().to_hex());
}

#[test]
fn pending_events_are_never_stored_and_older_stored_ones_are_dropped_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, genesis, org) = crate::test_support::one_org_engine(dir.path());
    let net = genesis.network_id();
    let enroll = e
        .sign_as_org(Payload::Enroll(Enroll {
            member: key(10).public(),
            handle: "m".into(),
        }))
        .unwrap();
    let mut member = Author::new(key(10), net).introduced_by(Some(enroll.id()));
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
        e.event_bytes(&waiting.id()),
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
            from_snapshot: 10,
            verified: 5
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

/// Issue 16: search folds accents and case, takes several words, ranks, pages, finds
/// a domain by its Unicode form and shows what a buyer decides on.
#[test]
fn search_folds_ranks_pages_and_shows_the_teaser_a_buyer_needs() {
    let dir = tempfile::tempdir().unwrap();
    let (mut e, _, _) = crate::test_support::one_org_engine(dir.path());
    let mut member = enrolled(&mut e, 11);
    let mut listed = std::collections::HashMap::new();
    let people = [
        (
            "Élodie Lumière",
            "Head of Procurement",
            "Acme",
            "acme.example",
            "Paris",
        ),
        (
            "Jean Martin",
            "Procurement Officer",
            "Initech",
            "xn--bcher-kva.example",
            "Lyon",
        ),
        ("Paul Proc", "Sales", "Globex", "globex.example", "Paris"),
    ]
    .into_iter()
    .chain((0..5).map(|_| {
        (
            "Filler",
            "Engineer",
            "Filler Co",
            "filler.example",
            "Berlin",
        )
    }));
    for (n, (name, title, company, domain, city)) in people.enumerate() {
        let mut card = crate::test_support::card(&format!("p{n}@{domain}"));
        card.teaser.name = name.into();
        card.teaser.title = title.into();
        card.teaser.company = company.into();
        card.teaser.company_domain = domain.into();
        card.teaser.city = city.into();
        let id = contribute(&mut e, &mut member, card, 1_000 + n as u64);
        listed.insert(id.to_hex(), name);
    }
    let org = e.org().to_hex();
    let mut search = |text: Option<&str>, domain: Option<&str>, limit, offset| {
        e.search(&SearchQuery {
            text: text.map(str::to_owned),
            domain: domain.map(str::to_owned),
            limit: Some(limit),
            offset: Some(offset),
            ..Default::default()
        })
    };
    let names =
        |p: &SearchPage| -> Vec<String> { p.listings.iter().map(|l| l.name.clone()).collect() };

    assert_eq!(
        names(&search(Some("lumiere"), None, 50, 0)),
        ["Élodie Lumière"]
    );
    assert_eq!(
        names(&search(Some("PARIS procurement"), None, 50, 0)),
        ["Élodie Lumière"]
    );
    // A name that starts with the word outranks titles that do.
    let proc = search(Some("proc"), None, 50, 0);
    assert_eq!(proc.total, 3);
    assert_eq!(proc.listings[0].name, "Paul Proc");
    let bucher = search(None, Some("Bücher.example"), 50, 0);
    assert_eq!(names(&bucher), ["Jean Martin"]);
    let l = &bucher.listings[0];
    assert_eq!(l.domain_unicode, "bücher.example");
    assert_eq!(l.company_domain, "xn--bcher-kva.example");
    assert_eq!((l.price, l.org_name.as_str()), (10, "Org 0"));
    assert_eq!(l.org, org);
    assert!(l.listed_ms > 0 && l.updated_ms >= l.listed_ms, "{l:?}");

    // Five fillers, two a page: every one once.
    let mut seen = Vec::new();
    for offset in [0, 2, 4] {
        let page = search(Some("filler"), None, 2, offset);
        assert_eq!((page.total, page.offset), (5, offset));
        seen.extend(page.listings.into_iter().map(|l| l.id));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert!(search(Some("filler"), None, 2, 6).listings.is_empty());
    assert!(listed.len() == 8);
    // Short ids, as git takes them: any number of hex digits, odd ones too.
    for id in listed.keys() {
        for n in [5, 9, 64] {
            let found = e.ids_with_prefix(&id[..n], 5);
            assert!(
                found.iter().any(|f| f.to_hex() == *id),
                "{id} by {n} digits"
            );
            assert!(found.iter().all(|f| f.to_hex().starts_with(&id[..n])));
        }
    }
    assert!(e.ids_with_prefix("", 5).is_empty());
    assert!(e.ids_with_prefix("xyz", 5).is_empty());
    // One hex digit matches about one id in 16: the limit caps what comes back.
    assert!(e.ids_with_prefix("0", 2).len() <= 2);
}
