//! Ordering: Lamport clocks and chain rules, late events, and equivocation (forked
//! chains) and what it voids.

use super::{balance, market};
use carnet_protocol::ledger::*;
use carnet_protocol::payload::*;

#[test]
fn equivocation_excludes_the_author_from_the_second_twin_on() {
    let (mut w, seller, _) = market();
    let before = w.contribute(seller, 1, None);
    // Fork the seller's chain: two different events at the same seq.
    let mut twin = w.members[seller].0.clone();
    let a = w.contribute(seller, 2, None);
    let b = w.twin_contribute(&mut twin, 3);
    assert_eq!(a.seq(), b.seq());
    w.log.push(b.clone());
    let mut l = w.ledger();
    let (x, y) = l.equivocation(&w.member_key(seller)).expect("proof");
    assert_eq!(x.seq(), y.seq());
    assert_ne!(x.id(), y.id());
    // The first twin in ledger order stands; the second is void and excludes.
    let (first, second) = if (a.lamport(), a.id()) < (b.lamport(), b.id()) {
        (a, b)
    } else {
        (b, a)
    };
    let s = l.state();
    assert_eq!(s.outcome(&before.id()), Outcome::Applied);
    assert_eq!(s.outcome(&first.id()), Outcome::Applied);
    assert_eq!(
        s.outcome(&second.id()),
        Outcome::Void(VoidReason::AuthorEquivocated)
    );
    assert_eq!(
        s.accounts[&w.member_key(seller)].status,
        AccountStatus::Excluded(ExclusionCause::Equivocation)
    );
    // Excluded: the unvested rewards are lost.
    assert_eq!(s.balance(&w.member_key(seller)), Some(0));
    assert_eq!(s.accounts[&w.member_key(seller)].pending, 0);
}

#[test]
fn late_event_sorting_first_gives_the_same_state() {
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.deliver(&p);
    let reference = w.ledger().state_root();
    // Insert everything but the grant, look at the state, then deliver the grant late.
    let grant_pos = 2;
    let mut l = Ledger::new(w.genesis.clone());
    for (i, e) in w.log.iter().enumerate() {
        if i != grant_pos {
            l.insert(e.clone()).unwrap();
        }
    }
    let _ = l.state_root();
    l.insert(w.log[grant_pos].clone()).unwrap();
    assert_eq!(l.state_root(), reference);
}

#[test]
fn lamport_and_chain_rules_reject_events() {
    use carnet_protocol::{EventBody, SignedEvent};
    let (mut w, seller, _) = market();
    let c = w.contribute(seller, 1, None);
    let mut l = w.ledger();
    // An event depending on `c` with a clock not above it.
    let key = w.members[seller].0.key().clone();
    let head = w.members[seller].0.head().unwrap();
    let body = EventBody {
        network: w.network,
        author: key.public(),
        seq: head.seq + 1,
        prev: Some(head.id),
        lamport: c.lamport(),
        deps: vec![],
        timestamp_ms: w.now,
        payload: Payload::Vote(Vote {
            company_domain: "acme.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }),
    };
    let ev = SignedEvent::sign(body.clone(), &key).unwrap();
    assert!(matches!(
        l.insert(ev),
        Err(LedgerError::LamportTooLow { .. })
    ));
    // Time going backwards along the chain.
    let ev = SignedEvent::sign(
        EventBody {
            lamport: c.lamport() + 1,
            timestamp_ms: w.now - 1,
            ..body.clone()
        },
        &key,
    )
    .unwrap();
    assert_eq!(l.insert(ev), Err(LedgerError::TimeBackwards));
    // An event missing its prev waits, then is ordered when the prev arrives.
    let next = w.contribute(seller, 2, None);
    let after = w.contribute(seller, 3, None);
    let mut fresh = w.ledger();
    let mut partial = Ledger::new(w.genesis.clone());
    for e in &w.log {
        if e.id() != next.id() && e.id() != after.id() {
            partial.insert(e.clone()).unwrap();
        }
    }
    let r = partial.insert(after.clone()).unwrap();
    assert_eq!(r.inserted, Inserted::Pending(vec![next.id()]));
    assert_eq!(partial.pending_len(), 1);
    let r = partial.insert(next).unwrap();
    assert_eq!(r.completed, vec![after.id()]);
    assert_eq!(partial.pending_len(), 0);
    assert_eq!(partial.state_root(), fresh.state_root());
}

#[test]
fn a_clock_jumping_to_the_end_is_rejected() {
    use carnet_protocol::limits::MAX_LAMPORT_STEP;
    let (mut w, seller, _) = market();
    let c = w.contribute(seller, 1, None);
    let fresh = w.enroll(0);
    let enrolled = w.log.last().unwrap().lamport();
    let mut l = w.ledger();
    // A first event may start anywhere up to MAX_LAMPORT_STEP above its Enroll.
    let mut fresh = w.members[fresh].0.clone();
    let vote = Payload::Vote(Vote {
        company_domain: "acme.example".into(),
        employees: EmployeeRange::From1To10,
        revenue: RevenueRange::Under1M,
    });
    let ok = fresh
        .clone()
        .sign(vote.clone(), vec![], enrolled + MAX_LAMPORT_STEP - 1, w.now)
        .unwrap();
    assert!(l.insert(ok).is_ok());
    let far = fresh
        .sign(vote.clone(), vec![], u64::MAX - 1, w.now)
        .unwrap();
    assert!(matches!(
        l.insert(far),
        Err(LedgerError::LamportJump { .. })
    ));
    // Likewise above a dependency.
    let mut seller_author = w.members[seller].0.clone();
    let jump = seller_author
        .sign(vote, vec![c.id()], c.lamport() + MAX_LAMPORT_STEP, w.now)
        .unwrap();
    assert!(matches!(
        l.insert(jump),
        Err(LedgerError::LamportJump { .. })
    ));
}

/// Issue 12's "free cards by equivocation": a buyer buys two cards, gets them
/// delivered, then signs a second event at the first purchase's seq. The later twin
/// is void and excludes the buyer; both purchases stay delivered, the seller stays
/// paid, and the buyer's balance does not come back, in any arrival order.
#[test]
fn a_buyer_who_forks_after_delivery_gets_nothing_back() {
    let (mut w, seller, buyer) = market();
    let c1 = w.contribute(seller, 1, None);
    let c2 = w.contribute(seller, 2, None);
    let mut twin = w.members[buyer].0.clone();
    let p1 = w.purchase(buyer, c1.id());
    let p2 = w.purchase(buyer, c2.id());
    w.deliver(&p1);
    w.deliver(&p2);
    let paid = balance(&w, &w.member_key(seller));
    // The twin of the first purchase, signed after both deliveries.
    let fork = twin
        .sign(
            Payload::Vote(Vote {
                company_domain: "fork.example".into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            w.clock,
            w.now,
        )
        .unwrap();
    assert_eq!(fork.seq(), p1.seq());
    w.log.push(fork.clone());
    for l in [w.ledger(), {
        let mut l = Ledger::new(w.genesis.clone());
        for e in w.log.iter().rev() {
            l.insert(e.clone()).unwrap();
        }
        l
    }] {
        let mut l = l;
        let s = l.state();
        assert_eq!(
            s.outcome(&fork.id()),
            Outcome::Void(VoidReason::AuthorEquivocated)
        );
        for p in [&p1, &p2] {
            assert_eq!(
                s.purchases.get(&p.id()).unwrap().status,
                PurchaseStatus::Delivered
            );
        }
        assert_eq!(s.balance(&w.member_key(seller)), Some(paid));
        assert_eq!(s.balance(&w.member_key(buyer)), Some(100 - 20));
        assert_eq!(
            s.accounts[&w.member_key(buyer)].status,
            AccountStatus::Excluded(ExclusionCause::Equivocation)
        );
    }
}

#[test]
fn a_twin_with_a_lower_clock_does_not_make_a_delivered_card_free() {
    // The buyer's twin sorts before its own purchase (a clock just above the buyer's
    // previous event): the purchases become void in ledger order, but the Delivers of
    // them still make the buyer pay, and the seller is paid.
    let (mut w, seller, buyer) = market();
    let c1 = w.contribute(seller, 1, None);
    let c2 = w.contribute(seller, 2, None);
    let before = w.member_event(
        buyer,
        Payload::Vote(Vote {
            company_domain: "before.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }),
        vec![],
    );
    let mut twin = w.members[buyer].0.clone();
    w.clock += 10;
    let p1 = w.purchase(buyer, c1.id());
    let p2 = w.purchase(buyer, c2.id());
    w.deliver(&p1);
    w.deliver(&p2);
    let fork = twin
        .sign(
            Payload::Vote(Vote {
                company_domain: "fork.example".into(),
                employees: EmployeeRange::From1To10,
                revenue: RevenueRange::Under1M,
            }),
            vec![],
            before.lamport(),
            w.now,
        )
        .unwrap();
    assert_eq!(fork.seq(), p1.seq());
    assert!(fork.lamport() < p1.lamport(), "the twin sorts first");
    w.log.push(fork.clone());
    let mut l = w.ledger();
    let s = l.state();
    assert_eq!(s.outcome(&fork.id()), Outcome::Applied);
    assert_eq!(
        s.outcome(&p1.id()),
        Outcome::Void(VoidReason::AuthorEquivocated)
    );
    for p in [&p1, &p2] {
        assert_eq!(
            s.purchases.get(&p.id()).unwrap().status,
            PurchaseStatus::Delivered
        );
    }
    assert_eq!(s.balance(&w.member_key(seller)), Some(20));
    assert_eq!(s.balance(&w.member_key(buyer)), Some(100 - 20));
    assert_eq!(
        s.accounts[&w.member_key(buyer)].status,
        AccountStatus::Excluded(ExclusionCause::Equivocation)
    );
}

/// A node lets finalized events out of memory (docs/protocol.md does not know: it is
/// the reference node's choice). The ordering checks must hold just as well against
/// a prev or a dependency that is no longer held: a member whose last event was
/// finalized must not get a backdated timestamp, a low clock or another chain's event
/// as prev past them.
#[test]
fn the_ordering_checks_hold_against_events_let_out_of_memory() {
    use carnet_protocol::{EventBody, SignedEvent};
    let (mut w, seller, buyer) = market();
    let c = w.contribute(seller, 1, None);
    let p = w.purchase(buyer, c.id());
    w.checkpoint(&[0, 1]);
    w.settle_again(&[0, 1]);
    let (mut archived, _store) = w.archived_ledger();
    let mut held = w.ledger();
    assert!(
        archived.epoch(&c.id()).is_some(),
        "the Contribute is finalized"
    );
    assert!(archived.get(&c.id()).is_none(), "and no longer in memory");
    assert!(archived.get(&p.id()).is_none());
    assert_eq!(
        archived.fetch(&c.id()).unwrap().map(|e| e.into_owned()),
        Some(c.clone()),
        "but read back from the archive"
    );
    assert!(archived.held_len() < archived.len());
    assert_eq!(archived.len(), held.len());

    let key = w.members[seller].0.key().clone();
    let head = w.members[seller].0.head().expect("a chain");
    assert_eq!(head.id, c.id());
    let body = EventBody {
        network: w.network,
        author: key.public(),
        seq: head.seq + 1,
        prev: Some(head.id),
        lamport: w.clock + 1,
        deps: vec![],
        timestamp_ms: w.now,
        payload: Payload::Vote(Vote {
            company_domain: "acme.example".into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }),
    };
    let sign = |b: EventBody, k: &carnet_protocol::SecretKey| SignedEvent::sign(b, k).unwrap();
    let bad = [
        (
            sign(
                EventBody {
                    timestamp_ms: c.body().timestamp_ms - 1,
                    ..body.clone()
                },
                &key,
            ),
            "time_backwards",
        ),
        (
            sign(
                EventBody {
                    lamport: c.lamport(),
                    ..body.clone()
                },
                &key,
            ),
            "lamport_too_low",
        ),
        (
            sign(
                EventBody {
                    seq: head.seq + 2,
                    ..body.clone()
                },
                &key,
            ),
            "prev_mismatch",
        ),
        // The seller's event naming the buyer's Purchase, also let out, as its prev.
        (
            sign(
                EventBody {
                    seq: p.seq() + 1,
                    prev: Some(p.id()),
                    ..body.clone()
                },
                &key,
            ),
            "prev_mismatch",
        ),
    ];
    for (ev, code) in bad {
        let r = archived.insert(ev.clone());
        assert_eq!(r.as_ref().map_err(|e| e.code()), Err(code));
        assert_eq!(r, held.insert(ev.clone()), "as a ledger holding everything");
        assert!(!archived.is_ordered(&ev.id()));
    }
    // A valid next event is ordered, and both ledgers agree.
    let ok = sign(body.clone(), &key);
    assert_eq!(archived.insert(ok.clone()), held.insert(ok));
    assert_eq!(archived.state_root(), held.state_root());
    // A twin of the Contribute, at its seq: an equivocation, found though the first
    // of the two is no longer in memory.
    let twin = sign(
        EventBody {
            seq: c.seq(),
            prev: c.body().prev,
            deps: c.body().deps.clone(),
            lamport: w.clock + 2,
            ..body
        },
        &key,
    );
    assert_eq!(archived.insert(twin.clone()), held.insert(twin.clone()));
    assert!(archived.is_ordered(&twin.id()));
    let (first, second) = archived.equivocation(&key.public()).expect("a proof");
    assert_eq!((first.id(), second.id()), (c.id(), twin.id()));
    assert_eq!(archived.state_root(), held.state_root());
    assert!(archived.take_archive_error().is_none());
    // Audits fold the finalized prefix again from the archive.
    let epochs = archived.finals().len();
    assert!(epochs > 0);
    for e in 1..=epochs {
        let (a, h) = (archived.finalized_prefix(e), held.finalized_prefix(e));
        let (mut a, mut h) = (a.expect("from the archive"), h.expect("held"));
        assert_eq!(a.ids, h.ids);
        assert_eq!(a.state.root(), h.state.root());
    }
}

/// An index that fails to read is never taken for one that holds nothing: the ledger
/// reports the failure, so that its node rebuilds it rather than order an event
/// against a chain it could not see.
#[test]
fn an_index_that_fails_to_read_is_reported() {
    use carnet_protocol::ledger::{Archive, ArchiveError, ColdEntries, Index, MemoryArchive, Stub};
    use carnet_protocol::{ContentId, PublicKey, SignedEvent};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[derive(Default)]
    struct Failing(MemoryArchive, AtomicBool);
    impl Failing {
        fn fail<T>(&self, ok: T) -> Result<T, ArchiveError> {
            match self.1.load(Ordering::SeqCst) {
                true => Err(ArchiveError("read error".into())),
                false => Ok(ok),
            }
        }
    }
    impl Archive for Failing {
        fn event(&self, id: &ContentId) -> Result<Option<SignedEvent>, ArchiveError> {
            self.fail(self.0.event(id)?)
        }
    }
    impl Index for Failing {
        fn stub(&self, id: &ContentId) -> Result<Option<Stub>, ArchiveError> {
            self.fail(self.0.stub(id)?)
        }
        fn first_at(&self, a: &PublicKey, seq: u64) -> Result<Option<ContentId>, ArchiveError> {
            self.fail(self.0.first_at(a, seq)?)
        }
        fn epoch_ids(&self, epoch: u64) -> Result<Vec<(u64, ContentId)>, ArchiveError> {
            self.fail(self.0.epoch_ids(epoch)?)
        }
        fn movements(&self, a: &PublicKey) -> Result<(u64, Vec<Movement>), ArchiveError> {
            self.fail(self.0.movements(a)?)
        }
        fn cold(&self, t: u8, k: &[u8], f: u64, at: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
            self.fail(self.0.cold(t, k, f, at)?)
        }
        fn cold_scan(&self, t: u8, f: u64, at: u64) -> Result<ColdEntries, ArchiveError> {
            self.fail(self.0.cold_scan(t, f, at)?)
        }
    }

    let (mut w, seller, _buyer) = market();
    let c = w.contribute(seller, 1, None);
    w.checkpoint(&[0, 1]);
    w.settle_again(&[0, 1]);
    let index = Arc::new(Failing::default());
    let mut l = carnet_protocol::ledger::Ledger::new(w.genesis.clone());
    l.set_archive(index.clone());
    for e in &w.log {
        l.insert(e.clone()).unwrap();
    }
    index.0.keep(w.log.iter());
    let released = l.releasable();
    index.0.put_released(&released);
    assert!(l.release(&released) > 0);
    assert!(l.get(&c.id()).is_none(), "the Contribute is released");
    assert!(l.is_ordered(&c.id()));
    assert!(l.take_archive_error().is_none());
    // The finalized movements left memory with the events: a history is put together
    // from the archive, and is the one a ledger without an archive keeps.
    let mut whole = w.ledger();
    let keys: Vec<PublicKey> = whole.state().accounts.keys().copied().collect();
    let moved: usize = keys.iter().map(|k| whole.history(k).unwrap().len()).sum();
    let in_state: usize = l.state().movements.values().map(|m| m.len()).sum();
    assert!(
        moved > 0 && in_state < moved,
        "{in_state} of {moved} in the state"
    );
    for k in &keys {
        assert_eq!(l.history(k).unwrap(), whole.history(k).unwrap());
    }

    index.1.store(true, Ordering::SeqCst);
    // A history the archive cannot give is an error, not a shorter one; so is a
    // released event it cannot read back (never "not there"), and a read is no
    // failure of the order.
    assert_eq!(l.history(&keys[0]), Err(ArchiveError("read error".into())));
    assert_eq!(
        l.fetch(&c.id()).map(|e| e.is_some()),
        Err(ArchiveError("read error".into()))
    );
    assert!(l.take_archive_error().is_none());
    // Its seller's next event names it: the ledger cannot see it, and says so.
    let next = w.contribute(seller, 2, None);
    let _ = l.insert(next);
    assert_eq!(
        l.take_archive_error(),
        Some(ArchiveError("read error".into()))
    );
    assert!(l.take_archive_error().is_none(), "reported once");
    // An audit's prefix is not folded with events missing from it.
    assert!(l.finalized_prefix(1).is_none());
    assert!(l.take_archive_error().is_some());
    index.1.store(false, Ordering::SeqCst);
    assert!(l.finalized_prefix(1).is_some());

    // A start from the records while the index fails says so too.
    let snap = l.snapshot().expect("a snapshot of the finalized prefix");
    let (epochs, _) = snap.finalized_digest();
    let items = l.all_items();
    let held: Vec<SignedEvent> = items
        .iter()
        .filter_map(|(_, id)| l.get(id).cloned())
        .collect();
    index.1.store(true, Ordering::SeqCst);
    let mut again = carnet_protocol::ledger::Ledger::new(w.genesis.clone());
    let started = again.resume(carnet_protocol::ledger::Resume {
        snapshot: snap,
        archive: index.clone(),
        digest: index.0.digest_at(epochs).expect("recorded"),
        heads: index.0.heads(),
        items: carnet_protocol::ledger::Items::from_items(items),
        events: held,
    });
    assert!(started.is_ok());
    assert_eq!(
        again.take_archive_error(),
        Some(ArchiveError("read error".into()))
    );
}

/// A ledger lets go of the wire bytes of the events it ordered once nothing else holds
/// them (issue 19: a fifth of what an unfinalized event cost in memory), and they come
/// back byte for byte when asked; an event still held elsewhere is tried once more,
/// then kept whole.
#[test]
fn a_ledger_sheds_the_wire_bytes_of_what_it_ordered() {
    use carnet_protocol::testkit::workload::generate;
    use carnet_protocol::SignedEvent;
    let (genesis, log) = generate(3_000);
    let net = genesis.network_id();
    let own = |ev: &SignedEvent| SignedEvent::decode(ev.as_bytes(), &net).unwrap();
    let mut l = Ledger::new(genesis.clone());
    let kept = own(&log[2_000]);
    for ev in &log {
        l.insert(match ev.id() == kept.id() {
            true => kept.clone(),
            false => own(ev),
        })
        .unwrap();
    }
    let root = l.state_root();
    l.shed_wire_bytes();
    for ev in &log {
        let held = l.get(&ev.id()).expect("held");
        assert_eq!(held.has_wire_bytes(), ev.id() == kept.id(), "{}", ev.id());
    }
    // Nothing read from the events changes, and their bytes are the same.
    assert_eq!(l.state_root(), root);
    for ev in &log {
        assert_eq!(&l.get(&ev.id()).unwrap().wire()[..], ev.as_bytes());
    }
    // Tried again at the next call: shed once the other handle is gone.
    drop(kept);
    l.shed_wire_bytes();
    assert!(!l.get(&log[2_000].id()).unwrap().has_wire_bytes());
    // Missed twice, an event is kept whole: the list does not carry it for ever.
    let mut m = Ledger::new(genesis);
    let first = own(&log[0]);
    m.insert(first.clone()).unwrap();
    m.shed_wire_bytes();
    m.shed_wire_bytes();
    drop(first);
    m.shed_wire_bytes();
    assert!(m.get(&log[0].id()).unwrap().has_wire_bytes());
}
