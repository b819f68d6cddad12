use super::*;
use carnet_protocol::author::Author;
use carnet_protocol::payload::{Grant, Payload};

fn network() -> NetworkId {
    Hash32::of(b"store test network")
}

fn events(seed: u8, n: usize) -> Vec<SignedEvent> {
    let mut author = Author::new(SecretKey::from_seed([seed; 32]), network());
    let member = SecretKey::from_seed([seed.wrapping_add(1); 32]).public();
    (0..n)
        .map(|i| {
            author
                .sign(
                    Payload::Grant(Grant {
                        member,
                        points: 1 + i as u64,
                        memo: format!("test {i}"),
                    }),
                    vec![],
                    0,
                    1_000 + i as u64,
                )
                .unwrap()
        })
        .collect()
}

/// Every stored event read as a start that replays reads them: two at a time, then
/// the count checked against the store's.
fn load_in_windows(store: &Store) -> Result<Vec<SignedEvent>, StoreError> {
    let mut out: Vec<SignedEvent> = Vec::new();
    loop {
        let after = out.last().map(|e| (e.lamport(), e.id()));
        let window = store.load_events_after(&network(), after, 2)?;
        if window.is_empty() {
            break;
        }
        out.extend(window);
    }
    if out.len() as u64 != store.event_count()? {
        return Err(store.unindexed_event()?);
    }
    Ok(out)
}

fn card() -> Card {
    carnet_protocol::testkit::full_card()
}

fn ids(evs: &[SignedEvent]) -> Vec<ContentId> {
    evs.iter().map(SignedEvent::id).collect()
}

fn sorted(mut evs: Vec<SignedEvent>) -> Vec<SignedEvent> {
    evs.sort_by_key(|e| (e.lamport(), e.id()));
    evs
}

#[test]
fn events_roundtrip_in_ledger_order_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut all = events(1, 20);
    all.extend(events(2, 15));
    {
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.event_count().unwrap(), 0);
        store.put_events(&all[..10]).unwrap();
        store.put_events(&all[10..]).unwrap();
        assert_eq!(store.event_count().unwrap(), 35);
    }
    let store = Store::open(&path, network()).unwrap();
    let loaded = store.load_events(&network()).unwrap();
    assert_eq!(ids(&loaded), ids(&sorted(all.clone())));
    for ev in &all {
        assert!(store.has_event_at(ev.lamport(), &ev.id()).unwrap());
        assert_eq!(
            store
                .event_bytes_at(ev.lamport(), &ev.id())
                .unwrap()
                .as_deref(),
            Some(ev.as_bytes())
        );
    }
    assert!(!store.has_event_at(1, &Hash32::of(b"nothing")).unwrap());
    assert_eq!(
        store.event_bytes_at(1, &Hash32::of(b"nothing")).unwrap(),
        None
    );
    // Not at its clock, not there: an id has one key.
    let ev = &all[0];
    assert!(!store.has_event_at(ev.lamport() + 1, &ev.id()).unwrap());
    // Found by its id alone only once released (the records name its clock).
    assert_eq!(store.event_bytes(&ev.id()).unwrap(), None);
}

#[test]
fn duplicates_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s"), network()).unwrap();
    let evs = events(3, 5);
    store.put_events(&evs).unwrap();
    store.put_events(&evs).unwrap();
    let mut twice = evs.clone();
    twice.extend(evs.iter().cloned());
    store.put_events(&twice).unwrap();
    assert_eq!(store.event_count().unwrap(), 5);
    assert_eq!(ids(&store.load_events(&network()).unwrap()), ids(&evs));
    let all = store.ids_between((0, Hash32::ZERO), (u64::MAX, Hash32::ZERO));
    assert_eq!(all.unwrap().len(), 5);
}

#[test]
fn remove_drops_event_and_order_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s"), network()).unwrap();
    let evs = events(4, 6);
    store.put_events(&evs).unwrap();
    store
        .remove_events(&[evs[1].id(), evs[4].id(), Hash32::of(b"unknown")])
        .unwrap();
    assert_eq!(store.event_count().unwrap(), 4);
    assert!(!store.has_event_at(evs[1].lamport(), &evs[1].id()).unwrap());
    let want: Vec<_> = [0, 2, 3, 5].iter().map(|&i| evs[i].id()).collect();
    assert_eq!(ids(&store.load_events(&network()).unwrap()), want);
    assert_eq!(ids(&load_in_windows(&store).unwrap()), want);
    let keys = store
        .ids_between((0, Hash32::ZERO), (u64::MAX, Hash32::ZERO))
        .unwrap();
    assert_eq!(keys.iter().map(|k| k.1).collect::<Vec<_>>(), want);
}

#[test]
fn ids_between_is_half_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s"), network()).unwrap();
    let evs = events(5, 6); // Lamport clocks 1..=6, one author
    store.put_events(&evs).unwrap();
    let key = |i: usize| (evs[i].lamport(), evs[i].id());
    let got = store.ids_between(key(1), key(4)).unwrap();
    assert_eq!(got, vec![key(1), key(2), key(3)]);
    assert_eq!(store.ids_between(key(4), key(1)).unwrap(), vec![]);
    assert_eq!(store.ids_between(key(2), key(2)).unwrap(), vec![]);
}

#[test]
fn another_network_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    drop(Store::open(&path, network()).unwrap());
    let other = Hash32::of(b"another network");
    let e = Store::open(&path, other).unwrap_err();
    assert!(
        matches!(e, StoreError::WrongNetwork { expected, stored }
        if expected == other && stored == network()),
        "{e}"
    );
    let store = Store::open(&path, network()).unwrap();
    assert!(matches!(
        store.load_events(&other),
        Err(StoreError::WrongNetwork { .. })
    ));
    let mut foreign = Author::new(SecretKey::from_seed([9; 32]), other);
    let ev = foreign
        .sign(
            Payload::Grant(Grant {
                member: SecretKey::from_seed([10; 32]).public(),
                points: 1,
                memo: String::new(),
            }),
            vec![],
            0,
            0,
        )
        .unwrap();
    assert!(matches!(
        store.put_events(&[ev]),
        Err(StoreError::EventNetwork { .. })
    ));
    assert!(matches!(
        store.put_meta(NETWORK_META_KEY, b"x"),
        Err(StoreError::ReservedMeta(_))
    ));
}

/// Rewrites one stored event through redb with `flip` applied to its bytes.
/// Changes the stored bytes of event `id` behind the store's back.
pub(crate) fn tamper(path: &Path, id: &ContentId, flip: impl FnOnce(&mut Vec<u8>)) {
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(EVENTS).unwrap();
        let lamport = table
            .iter()
            .unwrap()
            .find_map(|e| {
                let (key, _) = e.unwrap();
                let (lamport, stored) = key.value();
                (stored == &id.0).then_some(lamport)
            })
            .unwrap();
        let mut bytes = table
            .get((lamport, &id.0))
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        flip(&mut bytes);
        table.insert((lamport, &id.0), bytes.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

#[test]
fn corrupted_event_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let evs = events(6, 300); // more than one signature-check chunk
    let store = Store::open(&path, network()).unwrap();
    store.put_events(&evs).unwrap();
    drop(store);

    // A flipped signature byte: the batch check fails, the single checks name it.
    let victim = evs[270].id();
    tamper(&path, &victim, |b| {
        let n = b.len();
        b[n - 10] ^= 0x01;
    });
    let store = Store::open(&path, network()).unwrap();
    let loaded = store.load_events(&network()).unwrap();
    match verify_loaded(&loaded.iter().collect::<Vec<_>>()) {
        Err(StoreError::Corrupt { id, reason }) => {
            assert_eq!(id, victim.to_hex(), "{reason}");
            assert!(reason.contains("signature"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    drop(store);

    // A flipped body byte: the bytes no longer decode, or hash to another id.
    let victim2 = evs[3].id();
    tamper(&path, &victim2, |b| {
        let n = b.len();
        b[n - 70] ^= 0x01;
    });
    let store = Store::open(&path, network()).unwrap();
    match store.load_events(&network()) {
        Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, victim2.to_hex()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // The bad events can be removed, after which the rest loads.
    store.remove_events(&[victim, victim2]).unwrap();
    assert_eq!(store.load_events(&network()).unwrap().len(), 298);
}

#[test]
fn cards_roundtrip_encrypted_and_refuse_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let org = SecretKey::from_seed([11; 32]);
    let listing = Hash32::of(b"listing");
    let c = card();
    {
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_card(&listing, &org).unwrap(), None);
        store.put_card(&listing, &c, &org, [1; 12]).unwrap();
        assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c.clone()));
    }
    // Not in clear on disk.
    let raw = std::fs::read(&path).unwrap();
    let email = c.email.value.as_bytes();
    assert!(!raw.windows(email.len()).any(|w| w == email));

    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c.clone()));
    let other = SecretKey::from_seed([12; 32]);
    let e = store.get_card(&listing, &other).unwrap_err();
    assert!(
        matches!(e, StoreError::CardKey { listing: l } if l == listing),
        "{e}"
    );
    // Bound to its listing: the same value moved under another listing does not open.
    let moved = Hash32::of(b"another listing");
    let txn = store.db().unwrap().begin_write().unwrap();
    {
        let mut cards = txn.open_table(CARDS).unwrap();
        let value = cards.get(&listing.0).unwrap().unwrap().value().to_vec();
        cards.insert(&moved.0, value.as_slice()).unwrap();
    }
    txn.commit().unwrap();
    assert!(matches!(
        store.get_card(&moved, &org),
        Err(StoreError::CardKey { .. })
    ));
    // Overwriting with a fresh nonce replaces the card.
    let mut c2 = c.clone();
    c2.teaser.city = "Paris".into();
    store.put_card(&listing, &c2, &org, [2; 12]).unwrap();
    assert_eq!(store.get_card(&listing, &org).unwrap(), Some(c2));
}

#[test]
fn evidence_roundtrip_keyed_by_hash_encrypted_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let org = SecretKey::from_seed([11; 32]);
    let store = Store::open(&path, network()).unwrap();
    let msg = b"Final-Recipient: rfc822; ada.lovelace@acme.example";
    let h = store.put_evidence(msg, &org).unwrap();
    assert_eq!(h, evidence_hash(msg));
    assert_eq!(store.put_evidence(msg, &org).unwrap(), h);
    assert_eq!(store.get_evidence(&h, &org).unwrap().unwrap(), msg);
    assert_eq!(store.get_evidence(&Hash32::ZERO, &org).unwrap(), None);
    let big = vec![0u8; MAX_EVIDENCE_BYTES + 1];
    assert!(matches!(
        store.put_evidence(&big, &org),
        Err(StoreError::EvidenceTooLarge(_))
    ));
    // Another key reads garbage, which the hash check names.
    let other = SecretKey::from_seed([12; 32]);
    assert!(matches!(
        store.get_evidence(&h, &other),
        Err(StoreError::Corrupt { .. })
    ));
    drop(store);
    // Not in clear on disk.
    let raw = std::fs::read(&path).unwrap();
    let needle = b"ada.lovelace@acme.example";
    assert!(!raw.windows(needle.len()).any(|w| w == needle));
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.get_evidence(&h, &org).unwrap().unwrap(), msg);
}

#[cfg(unix)]
#[test]
fn the_store_and_the_snapshot_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(mode(&path), 0o600);
    store.put_snapshot(b"a snapshot").unwrap();
    assert_eq!(mode(&path.with_extension(SNAPSHOT_EXTENSION)), 0o600);
    drop(store);
    // A store left readable by others is tightened when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    Store::open(&path, network()).unwrap();
    assert_eq!(mode(&path), 0o600);
}

/// redb panics on some damaged pages (a flipped bit at offset 8192 of this store
/// does it): [`quietly`] turns that into an error, and [`salvage`] still reads
/// what it can.
#[test]
fn a_store_redb_panics_on_is_an_error_and_salvage_reads_what_it_can() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let evs = events(6, 300);
    let store = Store::open(&path, network()).unwrap();
    store.put_events(&evs).unwrap();
    drop(store);
    let mut b = std::fs::read(&path).unwrap();
    b[8192] ^= 1;
    std::fs::write(&path, &b).unwrap();
    let loaded = quietly(|| Store::open(&path, network())?.load_events(&network()));
    assert!(loaded.is_err(), "redb read the damaged page after all");
    let salvaged = salvage(&path, &network());
    assert!(!salvaged.lost.is_empty());
    assert!(salvaged.events.len() < 300);
    // Whatever it kept is genuine.
    let all: HashSet<ContentId> = evs.iter().map(|e| e.id()).collect();
    assert!(salvaged.events.iter().all(|e| all.contains(&e.id())));
}

#[test]
fn an_order_index_out_of_step_with_the_events_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let evs = sorted(events(7, 5));
    Store::open(&path, network())
        .unwrap()
        .put_events(&evs)
        .unwrap();
    type OrderTable<'t> = redb::Table<'t, (u64, &'static [u8; 32]), ()>;
    let edit_order = |f: &dyn Fn(&mut OrderTable)| {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        f(&mut txn.open_table(ORDER).unwrap());
        txn.commit().unwrap();
    };
    // Both ways a start reads every event, whole or a window at a time, name the
    // same entry.
    let reason = |want: &ContentId| {
        let store = Store::open(&path, network()).unwrap();
        let mut reasons =
            [store.load_events(&network()), load_in_windows(&store)].map(|r| match r {
                Err(StoreError::Corrupt { id, reason }) => {
                    assert_eq!(&id, &want.to_hex(), "{reason}");
                    reason
                }
                other => panic!("expected Corrupt, got {other:?}"),
            });
        assert_eq!(reasons[0], reasons[1]);
        std::mem::take(&mut reasons[0])
    };
    let (l, id) = (evs[2].lamport(), evs[2].id());
    edit_order(&|t| {
        t.remove((l, &id.0)).unwrap();
    });
    assert!(reason(&id).contains("missing from the order index"));
    edit_order(&|t| {
        t.insert((l + 1000, &id.0), ()).unwrap();
    });
    assert!(reason(&id).contains("indexed at Lamport"));
    let ghost = Hash32([0xee; 32]);
    edit_order(&|t| {
        t.remove((l + 1000, &id.0)).unwrap();
        t.insert((l, &id.0), ()).unwrap();
        t.insert((0, &ghost.0), ()).unwrap();
    });
    assert!(reason(&ghost).contains("not among the events"));
}

#[test]
fn snapshot_is_replaced_whole_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.get_snapshot().unwrap(), None);
    store.put_snapshot(b"first").unwrap();
    store.put_snapshot(&vec![7u8; 3 << 20]).unwrap();
    drop(store);
    // A write a crash cut short is cleared at the next open; the snapshot stays.
    let half = dir.path().join("s.snapshot.abc123.tmp");
    std::fs::write(&half, b"half").unwrap();
    let store = Store::open(&path, network()).unwrap();
    assert!(!half.exists());
    assert_eq!(store.get_snapshot().unwrap(), Some(vec![7u8; 3 << 20]));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"s.snapshot".to_string()), "{names:?}");
}

/// A snapshot is written a chunk at a time into its new file: a write that fails
/// midway (a full disk) leaves the one before, and no part of the new one.
#[test]
fn a_snapshot_write_that_fails_midway_leaves_the_one_before() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    let store = Store::open(&path, network()).unwrap();
    store.put_snapshot(b"first").unwrap();
    let err = store
        .put_snapshot_with(|file| {
            std::io::Write::write_all(file, b"half of it")?;
            Err(std::io::Error::other("no space left"))
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }), "{err}");
    assert_eq!(store.get_snapshot().unwrap(), Some(b"first".to_vec()));
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    let written = store.put_snapshot_with(|file| {
        std::io::Write::write_all(file, b"second")?;
        Ok(6)
    });
    assert_eq!(written.unwrap(), 6);
    assert_eq!(store.get_snapshot().unwrap(), Some(b"second".to_vec()));
}

#[test]
fn meta_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s");
    {
        let store = Store::open(&path, network()).unwrap();
        assert_eq!(store.get_meta("k").unwrap(), None);
        store.put_meta("k", b"v1").unwrap();
        store.put_meta("k", b"v2").unwrap();
    }
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.get_meta("k").unwrap().as_deref(), Some(&b"v2"[..]));
    assert_eq!(
        store.get_meta(NETWORK_META_KEY).unwrap().as_deref(),
        Some(&network().0[..])
    );
}

#[test]
fn store_error_is_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<StoreError>();
    check::<Store>();
}

/// `quietly` silences panics on its own thread only: a panic elsewhere while it runs
/// still reaches the process's hook (it did not when the hook was swapped per call,
/// and a CI failure lost its message that way).
#[test]
fn quietly_leaves_other_threads_panics_reported() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Barrier};
    // The wrapper is in place before the counting hook goes on top of it.
    assert_eq!(salvage::quietly(|| 1), Ok(1));
    let reported = Arc::new(AtomicUsize::new(0));
    let previous = std::panic::take_hook();
    let seen = reported.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("quietly-probe") {
            seen.fetch_add(1, Ordering::SeqCst);
        }
        previous(info);
    }));
    let inside = Arc::new(Barrier::new(2));
    let done = Arc::new(Barrier::new(2));
    let quiet = {
        let (inside, done) = (inside.clone(), done.clone());
        std::thread::spawn(move || {
            salvage::quietly(|| {
                inside.wait();
                done.wait();
                panic!("silenced")
            })
        })
    };
    inside.wait();
    let probe = std::thread::Builder::new()
        .name("quietly-probe".into())
        .spawn(|| panic!("reported"))
        .expect("spawn");
    assert!(probe.join().is_err());
    done.wait();
    let quiet = quiet.join().expect("quietly caught its panic");
    assert_eq!(quiet, Err("silenced".to_string()));
    assert_eq!(reported.load(Ordering::SeqCst), 1);
}

/// Issue 19: erasure finds a listing's events, and a buyer its purchase's Delivers,
/// through the store, not by reading every event nor by a map of every purchase in
/// memory. The index follows writes and removals, and a store written before it
/// existed is indexed when opened.
#[test]
fn the_event_index_follows_writes_and_is_built_for_an_older_store() {
    use carnet_protocol::payload::{Contribute, Update};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut member = Author::new(SecretKey::from_seed([9; 32]), network());
    let first = carnet_protocol::testkit::card_for(1, "first@acme.example");
    let moved = carnet_protocol::testkit::card_for(2, "moved@acme.example");
    let c = member
        .sign(
            Payload::Contribute(Contribute {
                listing: first
                    .listing(&carnet_protocol::testkit::TEST_SECRET)
                    .unwrap(),
            }),
            vec![],
            0,
            1,
        )
        .unwrap();
    let u = member
        .sign(
            Payload::Update(Update {
                listing_id: c.id(),
                listing: moved
                    .listing(&carnet_protocol::testkit::TEST_SECRET)
                    .unwrap(),
            }),
            vec![c.id()],
            0,
            2,
        )
        .unwrap();
    let key = |card: &Card| {
        card.listing(&carnet_protocol::testkit::TEST_SECRET)
            .unwrap()
            .dedup_key
    };
    // Two Delivers of one purchase (a seller that delivered twice).
    let purchase = Hash32::of(b"a purchase");
    let deliver = |n: u8| {
        let mut seller = Author::new(SecretKey::from_seed([60 + n; 32]), network());
        seller
            .sign(
                Payload::Deliver(carnet_protocol::payload::Deliver {
                    purchase_id: purchase,
                    ephemeral: [n; 32],
                    sealed_card: vec![n; 40],
                }),
                vec![],
                0,
                3,
            )
            .unwrap()
    };
    let (d1, d2) = (deliver(1), deliver(2));
    let mut delivered = vec![d1.id(), d2.id()];
    delivered.sort();
    // A member's purchases, found by its key.
    let mut buyer = Author::new(SecretKey::from_seed([70; 32]), network());
    let bought: Vec<SignedEvent> = (0..2u8)
        .map(|n| {
            let p = carnet_protocol::payload::Purchase {
                listing_id: Hash32([n; 32]),
                recipient: [n; 32],
                max_price: 10,
            };
            buyer
                .sign(Payload::Purchase(p), vec![], 0, 4 + u64::from(n))
                .unwrap()
        })
        .collect();
    let mut bought_ids: Vec<ContentId> = bought.iter().map(|e| e.id()).collect();
    bought_ids.sort();
    let buyer = bought[0].author();
    let store = Store::open(&path, network()).unwrap();
    store.put_events(&[c.clone(), u.clone()]).unwrap();
    store.put_events(&events(3, 5)).unwrap();
    store.put_events(&[d1.clone(), d2.clone()]).unwrap();
    store.put_events(&bought).unwrap();
    assert_eq!(store.purchases_of(&buyer).unwrap(), bought_ids);
    assert_eq!(store.purchases_of(&c.author()).unwrap(), vec![]);
    assert_eq!(store.deliveries_of(&purchase).unwrap(), delivered);
    assert_eq!(store.deliveries_of(&c.id()).unwrap(), vec![]);
    assert_eq!(store.listings_with_key(&key(&first)).unwrap(), vec![c.id()]);
    assert_eq!(store.listings_with_key(&key(&moved)).unwrap(), vec![c.id()]);
    let mut both = vec![c.id(), u.id()];
    both.sort();
    assert_eq!(store.listing_events(&c.id()).unwrap(), both);
    // The teasers the two events showed, each found by its hash.
    let slot = |card: &Card| {
        card.listing(&carnet_protocol::testkit::TEST_SECRET)
            .unwrap()
            .teaser
    };
    let shown = |store: &Store, card: &Card| {
        store
            .shown_teaser(&c.id(), &slot(card).hash())
            .unwrap()
            .map(|s| s.hash())
    };
    assert_eq!(shown(&store, &first), Some(slot(&first).hash()));
    assert_eq!(shown(&store, &moved), Some(slot(&moved).hash()));
    assert_eq!(
        store.shown_teaser(&c.id(), &Hash32::of(b"x")).unwrap(),
        None
    );
    let mut scanned = Vec::new();
    store
        .teasers()
        .unwrap()
        .each(|t| scanned.push((t.listing, t.hash, t.teaser().unwrap().name)))
        .unwrap();
    assert_eq!(scanned.len(), 2);
    assert!(scanned.iter().all(|(l, _, _)| *l == c.id()));
    assert!(scanned.contains(&(c.id(), slot(&first).hash(), first.teaser.name.clone())));
    store
        .remove_events(&[u.id(), d1.id(), bought[0].id()])
        .unwrap();
    assert_eq!(store.listing_events(&c.id()).unwrap(), vec![c.id()]);
    assert_eq!(store.deliveries_of(&purchase).unwrap(), vec![d2.id()]);
    assert_eq!(store.purchases_of(&buyer).unwrap(), vec![bought[1].id()]);
    assert_eq!(shown(&store, &moved), None, "its event removed");
    assert_eq!(shown(&store, &first), Some(slot(&first).hash()));

    // As an older build left it: the listing index only, under its old mark.
    {
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(listings::LISTING_ROWS).unwrap();
        txn.delete_table(listings::KEY_LISTINGS).unwrap();
        txn.delete_table(listings::PURCHASE_DELIVERIES).unwrap();
        txn.delete_table(listings::BUYER_PURCHASES).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.remove("event index 4").unwrap();
        meta.insert("listing index", [1u8].as_slice()).unwrap();
        drop(meta);
        txn.commit().unwrap();
    }
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.listing_events(&c.id()).unwrap(), vec![c.id()]);
    assert_eq!(store.listings_with_key(&key(&first)).unwrap(), vec![c.id()]);
    assert_eq!(store.deliveries_of(&purchase).unwrap(), vec![d2.id()]);
    assert_eq!(shown(&store, &first), Some(slot(&first).hash()));

    // As the build before the purchases by buyer left it: the index marked done
    // without that table.
    {
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(listings::BUYER_PURCHASES).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.remove("event index 4").unwrap();
        meta.insert("event index 2", [1u8].as_slice()).unwrap();
        drop(meta);
        txn.commit().unwrap();
    }
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.purchases_of(&buyer).unwrap(), vec![bought[1].id()]);

    // As the build before the listing rows left it: the listing's events and their
    // teasers in two tables. They are moved over as they are, reading no event: the
    // row of `c` carries the teaser the older table held for it, here the one `u`
    // showed (a rebuild from the events would give `c`'s own).
    older(&store, &c, Some(listings::teaser_row(&u).unwrap()));
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(shown(&store, &moved), Some(slot(&moved).hash()));
    assert_eq!(shown(&store, &first), None);
    assert_eq!(store.listing_events(&c.id()).unwrap(), vec![c.id()]);
    assert!(!has_table(&store, "listing_events"));
    assert!(!has_table(&store, "teasers"));

    // As the build before the teasers left it: every table but that one, so every
    // event is indexed again.
    older(&store, &c, None);
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(shown(&store, &first), Some(slot(&first).hash()));
    assert_eq!(shown(&store, &moved), None);
    assert_eq!(store.listing_events(&c.id()).unwrap(), vec![c.id()]);
    assert!(!has_table(&store, "listing_events"));

    // An erased form stored over the event takes its teaser out.
    store.replace_events(&[c.erased().unwrap()]).unwrap();
    assert_eq!(shown(&store, &first), None, "erased");
    // The whole form stored again (a peer serving it) leaves the erased one: a stored
    // event stays as it is.
    store.put_events(std::slice::from_ref(&c)).unwrap();
    assert_eq!(shown(&store, &first), None, "erased still");
    let kept = store.event_bytes_at(c.lamport(), &c.id()).unwrap().unwrap();
    assert_eq!(kept, c.erased().unwrap().as_bytes());
    let mut left = 0;
    store.teasers().unwrap().each(|_| left += 1).unwrap();
    assert_eq!(left, 0);

    // The build before the listing rows, run on this store after this one (a
    // downgrade, then an upgrade), kept its own two tables and marks and never touched
    // the rows: they lack `u`, which it stored again, and still hold a row it erased
    // (here `c`'s whole teaser under another id). Its marks beside this build's say
    // so, and the rows are moved over from its tables again.
    let gone = Hash32::of(b"erased by the older build");
    {
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut events = txn.open_table(listings::OLD_LISTING_EVENTS).unwrap();
            let mut teasers = txn.open_table(listings::OLD_TEASERS).unwrap();
            for ev in [&c, &u] {
                events.insert((&c.id().0, &ev.id().0), ()).unwrap();
            }
            let row = listings::teaser_row(&u).unwrap();
            teasers
                .insert((&c.id().0, &u.id().0), row.as_slice())
                .unwrap();
            let mut rows = txn.open_table(listings::LISTING_ROWS).unwrap();
            let row = listings::teaser_row(&c).unwrap();
            rows.insert((&c.id().0, &gone.0), row.as_slice()).unwrap();
            let mut meta = txn.open_table(META).unwrap();
            meta.insert("event index 3", [1u8].as_slice()).unwrap();
            meta.insert("teaser index 1", [1u8].as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.listing_events(&c.id()).unwrap(), both);
    assert_eq!(shown(&store, &moved), Some(slot(&moved).hash()));
    assert_eq!(shown(&store, &first), None, "the erased teaser stays gone");
    assert!(!has_table(&store, "listing_events"));
    assert!(!has_table(&store, "teasers"));
    assert_eq!(store.get_meta("event index 3").unwrap(), None);
}

/// Leaves `store` with the listing index of the build before the listing rows: the
/// listing events in one table (here `c`'s) and, with `teaser`, the teasers in
/// another (`teaser` as `c`'s) under that build's marks; without, under the marks of
/// the build before the teasers.
fn older(store: &Store, c: &SignedEvent, teaser: Option<Vec<u8>>) {
    let db = store.db().unwrap();
    let txn = db.begin_write().unwrap();
    txn.delete_table(listings::LISTING_ROWS).unwrap();
    {
        let mut events = txn.open_table(listings::OLD_LISTING_EVENTS).unwrap();
        events.insert((&c.id().0, &c.id().0), ()).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        meta.remove("event index 4").unwrap();
        meta.insert("event index 3", [1u8].as_slice()).unwrap();
        if let Some(value) = teaser {
            let mut rows = txn.open_table(listings::OLD_TEASERS).unwrap();
            rows.insert((&c.id().0, &c.id().0), value.as_slice())
                .unwrap();
            meta.insert("teaser index 1", [1u8].as_slice()).unwrap();
        }
    }
    txn.commit().unwrap();
}

/// What the ledger keeps of a finalized event is read back as written, and a start
/// reads back what the ledger holds; an epoch recorded whole is not written again;
/// and taking a finalized event out of the store drops every record, to be written
/// again from the events left.
#[test]
fn released_records_are_kept_once_and_dropped_with_their_events() {
    use carnet_protocol::ledger::cold::ColdRow;
    use carnet_protocol::ledger::{Index, Movement, MovementReason, Records, Release, Stub};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("events.redb"), network()).unwrap();
    let evs = events(1, 5);
    store.put_events(&evs).unwrap();
    let author = evs[0].author();
    let ids = |v: Vec<SignedEvent>| {
        let mut ids: Vec<ContentId> = v.iter().map(|e| e.id()).collect();
        ids.sort();
        ids
    };
    let all = ids(evs.clone());
    // Nothing finalized yet: every lookup says so, though no table exists, and a
    // start reads every event.
    assert_eq!(store.stub(&evs[0].id()), Ok(None));
    assert_eq!(store.first_at(&author, 0), Ok(None));
    assert_eq!(store.epoch_ids(1), Ok(vec![]));
    assert_eq!(store.released_through().unwrap(), 0);
    assert_eq!(store.recorded_heads().unwrap(), vec![]);
    assert_eq!(ids(store.load_held(0).unwrap()), all);
    let release = |ev: &SignedEvent, epoch: u64, stays: bool| Release {
        id: ev.id(),
        stub: Stub {
            lamport: ev.lamport(),
            timestamp_ms: ev.body().timestamp_ms,
            epoch,
            org_line: epoch == 1,
        },
        first_at: Some((ev.author(), ev.seq())),
        stays,
    };
    let row = |table: u8, key: &[u8], value: Option<&[u8]>| ColdRow {
        table,
        key: key.to_vec(),
        value: value.map(<[u8]>::to_vec),
    };
    assert_eq!(store.cold(1, b"a", 0, 5), Ok(None));
    assert_eq!(store.cold_scan(1, 0, 5), Ok(vec![]));
    // Epoch 1: two released, one staying in memory.
    let first = vec![
        release(&evs[0], 1, false),
        release(&evs[1], 1, false),
        release(&evs[2], 1, true),
    ];
    let grant = |ev: &SignedEvent, delta: i64| Movement {
        event: ev.id(),
        account: author,
        delta,
        reason: MovementReason::Grant,
    };
    let other = carnet_protocol::PublicKey([7; 32]);
    let theirs = Movement {
        account: other,
        ..grant(&evs[0], 5)
    };
    assert_eq!(store.movements(&author), Ok((0, vec![])));
    store
        .put_released(&Records {
            events: first.clone(),
            movements: vec![(
                1,
                vec![grant(&evs[0], 3), theirs.clone(), grant(&evs[1], -1)],
            )],
            cold: vec![row(1, b"a", Some(b"one")), row(1, b"b", Some(b"x"))],
            cold_since: (0, 0),
            at: (1, Hash32([1; 32])),
        })
        .unwrap();
    assert_eq!(store.cold(1, b"a", 0, 1), Ok(Some(b"one".to_vec())));
    assert_eq!(store.cold(1, b"a", 0, 0), Ok(None));
    assert_eq!(store.cold(2, b"a", 0, 1), Ok(None));
    assert_eq!(store.released_through().unwrap(), 1);
    // Each account's movements in order, with the epoch they are recorded through.
    let mine = vec![grant(&evs[0], 3), grant(&evs[1], -1)];
    assert_eq!(store.movements(&author), Ok((1, mine.clone())));
    assert_eq!(store.movements(&other), Ok((1, vec![theirs])));
    assert_eq!(store.finalized_digest_at(1).unwrap(), Some(Hash32([1; 32])));
    assert_eq!(store.finalized_digest_at(2).unwrap(), None);
    assert_eq!(store.stub(&evs[1].id()), Ok(Some(first[1].stub)));
    assert_eq!(store.stub(&evs[2].id()), Ok(Some(first[2].stub)));
    assert_eq!(store.first_at(&author, 1), Ok(Some(evs[1].id())));
    assert_eq!(store.recorded_heads().unwrap(), vec![(author, 2)]);
    let mut epoch: Vec<(u64, ContentId)> = evs[..3].iter().map(|e| (e.lamport(), e.id())).collect();
    epoch.sort();
    assert_eq!(store.epoch_ids(1), Ok(epoch));
    // A start reads the held events: the one staying and those not finalized; and
    // those of the epochs above its snapshot's.
    assert_eq!(ids(store.load_held(1).unwrap()), ids(evs[2..].to_vec()));
    assert_eq!(ids(store.load_held(0).unwrap()), all);
    // Epoch 1 again (a start hands over every finalized event) with a record that
    // was never written: skipped, as the epoch is whole. Epoch 2 is written.
    let again = vec![release(&evs[3], 1, false), release(&evs[4], 2, false)];
    store
        .put_released(&Records {
            events: again,
            movements: vec![(1, vec![grant(&evs[3], 9)]), (2, vec![grant(&evs[4], 2)])],
            cold: vec![row(1, b"a", None), row(3, b"a", Some(b"w"))],
            cold_since: (1, 1),
            at: (2, Hash32([2; 32])),
        })
        .unwrap();
    // The state's rows: each key's as of the epoch asked, a removal hiding the value
    // before it. Written even for a release whose epochs are recorded already.
    assert_eq!(store.cold(1, b"a", 0, 1), Ok(Some(b"one".to_vec())));
    assert_eq!(store.cold(1, b"a", 0, 2), Ok(None));
    assert_eq!(store.cold(1, b"a", 0, 9), Ok(None));
    assert_eq!(store.cold(1, b"b", 0, 9), Ok(Some(b"x".to_vec())));
    // Rows below the floor asked are not read.
    assert_eq!(store.cold(1, b"b", 2, 9), Ok(None));
    assert_eq!(store.cold(3, b"a", 2, 9), Ok(Some(b"w".to_vec())));
    assert_eq!(store.cold(3, b"a", 0, 1), Ok(None));
    assert_eq!(store.cold(3, b"a", 0, 2), Ok(Some(b"w".to_vec())));
    let again = Records {
        cold: vec![row(1, b"b", Some(b"y"))],
        at: (2, Hash32([2; 32])),
        ..Records::default()
    };
    store.put_released(&again).unwrap();
    assert_eq!(store.cold(1, b"b", 0, 2), Ok(Some(b"y".to_vec())));
    // A map read whole: each key's latest row in range, removals left out.
    let entry = |k: &[u8], v: &[u8]| (k.to_vec(), v.to_vec());
    assert_eq!(
        store.cold_scan(1, 0, 1),
        Ok(vec![entry(b"a", b"one"), entry(b"b", b"x")])
    );
    assert_eq!(store.cold_scan(1, 0, 2), Ok(vec![entry(b"b", b"y")]));
    assert_eq!(store.cold_scan(1, 2, 2), Ok(vec![entry(b"b", b"y")]));
    assert_eq!(store.cold_scan(3, 0, 9), Ok(vec![entry(b"a", b"w")]));
    assert_eq!(store.released_through().unwrap(), 2);
    let mine = [mine, vec![grant(&evs[4], 2)]].concat();
    assert_eq!(store.movements(&author), Ok((2, mine)));
    assert_eq!(store.stub(&evs[3].id()), Ok(None));
    assert_eq!(store.stub(&evs[4].id()).unwrap().map(|s| s.epoch), Some(2));
    assert_eq!(store.released_through().unwrap(), 2);
    assert_eq!(store.recorded_heads().unwrap(), vec![(author, 4)]);
    assert_eq!(ids(store.load_held(2).unwrap()), ids(evs[2..4].to_vec()));
    // Taking out an event that is not finalized keeps the records.
    store.remove_events(&[evs[3].id()]).unwrap();
    assert_eq!(store.released_through().unwrap(), 2);
    assert_eq!(ids(store.load_held(2).unwrap()), vec![evs[2].id()]);
    // Taking out one that is drops them all, and lists every event left as held;
    // the snapshot goes too, as the finalized movements are not in it.
    store.put_snapshot(b"a snapshot").unwrap();
    store.remove_events(&[evs[0].id()]).unwrap();
    assert_eq!(store.released_through().unwrap(), 0);
    assert_eq!(store.movements(&author), Ok((0, vec![])));
    assert_eq!(store.get_snapshot().unwrap(), None);
    assert_eq!(store.stub(&evs[1].id()), Ok(None));
    assert_eq!(store.first_at(&author, 1), Ok(None));
    assert_eq!(store.epoch_ids(1), Ok(vec![]));
    assert_eq!(store.finalized_digest_at(1).unwrap(), None);
    assert_eq!(store.cold(1, b"b", 0, 2), Ok(None));
    assert_eq!(store.cold_scan(1, 0, 2), Ok(vec![]));
    let left = vec![evs[1].clone(), evs[2].clone(), evs[4].clone()];
    assert_eq!(ids(store.load_held(0).unwrap()), ids(left));
}

/// A store an older build wrote (records of released events only, no list of held
/// events) lists every event as held once opened, and its records are gone: the
/// next start writes them again.
#[test]
fn an_older_stores_records_are_dropped_and_every_event_held() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let evs = events(1, 3);
    {
        let store = Store::open(&path, network()).unwrap();
        store.put_events(&evs).unwrap();
        // What an older build had: no held list, its own record tables.
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.delete_table(released::HELD).unwrap();
        {
            let old: TableDefinition<&[u8; 32], (u64, u64, u64)> = TableDefinition::new("released");
            let mut t = txn.open_table(old).unwrap();
            t.insert(&evs[0].id().0, (1, 1, 1)).unwrap();
            let mut meta = txn.open_table(META).unwrap();
            meta.remove("held index").unwrap();
            meta.remove("movements recorded").unwrap();
            meta.insert("released through", 1u64.to_be_bytes().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.load_held(0).unwrap().len(), 3);
    assert_eq!(store.get_meta("released through").unwrap(), None);
    assert!(!has_table(&store, "released"));
}

/// Whether the store's file has a table of that name.
fn has_table(store: &Store, name: &str) -> bool {
    use redb::TableHandle;
    let db = store.db().unwrap();
    let txn = db.begin_read().unwrap();
    let mut tables = txn.list_tables().unwrap();
    tables.any(|t| t.name() == name)
}

/// Records the build before the movements wrote (finalized through some epoch, with
/// no movement recorded) are dropped once: kept, that epoch's movements would never be
/// written, as a release skips the epochs already recorded whole.
#[test]
fn records_without_movements_are_dropped_once() {
    use carnet_protocol::ledger::Records;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let evs = events(1, 2);
    {
        let store = Store::open(&path, network()).unwrap();
        store.put_events(&evs).unwrap();
        let records = Records {
            events: vec![released(&evs[0], true)],
            movements: Vec::new(),
            cold: Vec::new(),
            cold_since: (0, 0),
            at: (1, Hash32([1; 32])),
        };
        store.put_released(&records).unwrap();
        // What the build before wrote: the same, without the mark.
        let db = store.db().unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .remove("movements recorded")
            .unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.released_through().unwrap(), 0);
    assert_eq!(store.load_held(0).unwrap().len(), 2);
    // Marked: records written from now on are kept across opens.
    drop(store);
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.get_meta("movements recorded").unwrap(), Some(vec![1]));
}

/// A store at `path` of `evs` as a build before ledger order kept it: events and the
/// held list keyed by content id (those of `held` listed), no clock index.
fn older_layout(path: &Path, evs: &[SignedEvent], held: &[ContentId]) {
    Store::open(path, network())
        .unwrap()
        .put_events(evs)
        .unwrap();
    let db = Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    assert!(txn.delete_table(EVENTS).unwrap());
    assert!(txn.delete_table(released::HELD).unwrap());
    {
        let mut old = txn.open_table(layout::OLD_EVENTS).unwrap();
        for ev in evs {
            old.insert(&ev.id().0, ev.as_bytes()).unwrap();
        }
        let mut old_held: redb::Table<&[u8; 32], ()> =
            txn.open_table(TableDefinition::new("held")).unwrap();
        for id in held {
            old_held.insert(&id.0, ()).unwrap();
        }
    }
    txn.commit().unwrap();
}

/// A store an older build wrote, events keyed by content id, is moved into ledger
/// order when opened, a chunk a transaction: a move cut short (a kill) resumes where
/// its last chunk ended, and the store ends with every event, the same held list, and
/// none of the old tables. `carnet node repair` reads the old layout too.
#[test]
fn a_store_of_the_older_layout_is_moved_into_ledger_order_even_if_cut_short() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let evs = sorted(events(3, 7));
    let held = vec![evs[1].id(), evs[4].id(), evs[6].id()];
    older_layout(&path, &evs, &held);
    let salvaged = salvage(&path, &network());
    assert!(salvaged.lost.is_empty(), "{:?}", salvaged.lost);
    assert_eq!(sorted(salvaged.events), evs);
    {
        // Two chunks of 3, then the process dies: 6 events moved, the old tables kept.
        let db = Database::create(&path).unwrap();
        assert!(!layout::move_events_once(&db, &network(), 3, 2).unwrap());
        let txn = db.begin_read().unwrap();
        assert_eq!(txn.open_table(EVENTS).unwrap().len().unwrap(), 6);
        assert_eq!(
            txn.open_table(layout::OLD_EVENTS).unwrap().len().unwrap(),
            7
        );
    }
    let store = Store::open(&path, network()).unwrap();
    assert_eq!(store.load_events(&network()).unwrap(), evs);
    assert_eq!(load_in_windows(&store).unwrap(), evs);
    assert_eq!(store.event_count().unwrap(), 7);
    assert_eq!(ids(&store.load_held(0).unwrap()), held);
    for ev in &evs {
        let stored = store.event_bytes_at(ev.lamport(), &ev.id()).unwrap();
        assert_eq!(stored.unwrap(), ev.as_bytes());
    }
    assert_eq!(store.get_meta("events moved through").unwrap(), None);
    assert!(!has_table(&store, "events") && !has_table(&store, "held"));
    assert!(has_table(&store, "events_in_order"));
}

/// An entry of the older layout whose bytes do not hash to its id stops the move and
/// is named, as a start names it; nothing is lost: the old tables stay for
/// `carnet node repair`.
#[test]
fn a_corrupt_event_of_the_older_layout_is_named_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let evs = sorted(events(4, 3));
    older_layout(&path, &evs, &[]);
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut old = txn.open_table(layout::OLD_EVENTS).unwrap();
            // A byte of the body: the bytes no longer hash to the id.
            let mut bytes = evs[1].as_bytes().to_vec();
            bytes[8] ^= 1;
            old.insert(&evs[1].id().0, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    match Store::open(&path, network()) {
        Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, evs[1].id().to_hex()),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let salvaged = salvage(&path, &network());
    assert_eq!(salvaged.events.len(), 2);
    assert!(
        salvaged.lost.iter().any(|l| l.contains("1 events")),
        "{:?}",
        salvaged.lost
    );
}

/// A store a build with an index from id to clock wrote opens with the index dropped
/// and its events, held list and order as they were: nothing reads the index.
#[test]
fn the_id_index_of_an_earlier_build_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    let evs = sorted(events(5, 6));
    {
        let store = Store::open(&path, network()).unwrap();
        store.put_events(&evs).unwrap();
    }
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut index: redb::Table<&[u8; 32], u64> = txn
                .open_table(TableDefinition::new("event_clocks"))
                .unwrap();
            for ev in &evs {
                index.insert(&ev.id().0, ev.lamport()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    let store = Store::open(&path, network()).unwrap();
    assert!(!has_table(&store, "event_clocks"));
    assert_eq!(store.load_events(&network()).unwrap(), evs);
    assert_eq!(load_in_windows(&store).unwrap(), evs);
    assert_eq!(ids(&store.load_held(0).unwrap()), ids(&evs));
    assert_eq!(store.event_count().unwrap(), 6);
}

/// `ev` released in epoch 1, first at its (author, seq), its clock and timestamp its
/// own.
fn released(ev: &SignedEvent, org_line: bool) -> carnet_protocol::ledger::Release {
    carnet_protocol::ledger::Release {
        id: ev.id(),
        stub: carnet_protocol::ledger::Stub {
            lamport: ev.lamport(),
            timestamp_ms: ev.body().timestamp_ms,
            epoch: 1,
            org_line,
        },
        first_at: Some((ev.author(), ev.seq())),
        stays: false,
    }
}

/// The tables the ledger's lookups share hold a read transaction of the database: a
/// reopen (after a failed write) lets them go with it, and the lookups after it read
/// the reopened one.
#[test]
fn a_reopen_lets_the_shared_lookups_go() {
    use carnet_protocol::ledger::{Index, Records};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("events.redb"), network()).unwrap();
    let evs = events(1, 2);
    store.put_events(&evs).unwrap();
    let records = Records {
        events: vec![released(&evs[0], false)],
        at: (1, Hash32([1; 32])),
        ..Records::default()
    };
    let stub = records.events[0].stub;
    store.put_released(&records).unwrap();
    assert_eq!(store.stub(&evs[0].id()), Ok(Some(stub)));
    store.reopen().unwrap();
    assert_eq!(store.stub(&evs[0].id()), Ok(Some(stub)));
    assert_eq!(store.stub(&evs[1].id()), Ok(None));
    assert_eq!(
        store.first_at(&evs[0].author(), evs[0].seq()),
        Ok(Some(evs[0].id()))
    );
}
