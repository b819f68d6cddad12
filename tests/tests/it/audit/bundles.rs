//! Bundles of the scenario, from the ledger and from a node's engine, verified offline.

use super::{assert_passes, first_failure, run, scenario, DSN};
use carnet_client::audit::Status;
use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::AuditError;
use carnet_protocol::ledger::Ledger;
use carnet_protocol::testkit::seed;
use carnet_protocol::{Hash32, Payload, SecretKey, SignedEvent};

#[test]
fn bundles_verify_and_name_what_is_missing_before_settlement() {
    let sc = scenario();
    let mut ledger = sc.story.ledger.clone();
    let g = sc.story.genesis.clone();

    let b = ledger
        .audit_bundle(
            &sc.bounce.id(),
            Some(DSN.as_bytes().to_vec()),
            Some(sc.bounce_opening.clone()),
        )
        .unwrap();
    assert_eq!(b.checkpoint.claim.lamport_bound, sc.first_bound);
    assert!(b.listing_update.is_some());
    assert_eq!(b.checkpoint.admissions_hex.len(), 3);
    assert_eq!(b.checkpoint.signatures_hex.len(), 3);
    let r = run(&serde_json::to_value(&b).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
    for n in [
        "evidence.hash",
        "evidence.dsn",
        "opening",
        "checkpoint.quorum",
        "state.contributor_account",
        "inclusion.penalty",
    ] {
        assert!(names.contains(&n), "{n} not run: {names:?}");
    }

    // The same bundle from a node that erased the listing's teaser (the person opted
    // out since): the erased events are the same events, and every check passes.
    let erase = |p: &mut carnet_protocol::ledger::audit::ProvenEvent| {
        let ev = SignedEvent::decode(&p.event_hex, &g.network_id()).unwrap();
        p.event_hex = ev.erased().expect("a teaser to erase").as_bytes().to_vec();
    };
    let mut erased = b.clone();
    erase(&mut erased.listing);
    erase(erased.listing_update.as_mut().unwrap());
    assert_ne!(erased, b);
    let r = run(&serde_json::to_value(&erased).unwrap(), &g, None).unwrap();
    assert_passes(&r);

    // Without the message and the opening: their checks are skipped, not failed;
    // the voucher still binds the report to the listing's email commitment.
    let b = ledger.audit_bundle(&sc.bounce.id(), None, None).unwrap();
    let r = run(&serde_json::to_value(&b).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    for n in ["evidence.dsn", "opening"] {
        assert!(
            r.checks
                .iter()
                .any(|c| c.name == n && c.status == Status::Skip),
            "{n}"
        );
    }
    assert!(r
        .checks
        .iter()
        .any(|c| c.name == "report.voucher" && c.status == Status::Pass));

    let m = ledger
        .audit_bundle(&sc.mobile.id(), None, Some(sc.mobile_opening.clone()))
        .unwrap();
    assert!(m.listing_update.is_none());
    let r = run(&serde_json::to_value(&m).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    for n in ["mobile.classification", "opening", "report.voucher"] {
        assert!(
            r.checks
                .iter()
                .any(|c| c.name == n && c.status == Status::Pass),
            "{n}"
        );
    }
    // Without the number, only what needs it is skipped.
    let bare = ledger.audit_bundle(&sc.mobile.id(), None, None).unwrap();
    let r = run(&serde_json::to_value(&bare).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    assert!(r
        .checks
        .iter()
        .any(|c| c.name == "mobile.classification" && c.status == Status::Skip));
    // An opening that is not the committed number fails at `opening`.
    let mut wrong = m.clone();
    wrong.opening.as_mut().unwrap().value = "+447400123457".into();
    let r = run(&serde_json::to_value(&wrong).unwrap(), &g, None);
    assert_eq!(first_failure(&r), "opening");

    // The later checkpoint proves the earlier events were kept.
    let later = ledger
        .audit_checkpoint(Some(sc.second_bound), Some(sc.first_bound))
        .unwrap();
    let lv = serde_json::to_value(&later).unwrap();
    let r = run(&serde_json::to_value(&m).unwrap(), &g, Some(&lv)).unwrap();
    assert_passes(&r);
    assert!(r.checks.iter().any(|c| c.name == "later.consistency"));
    // A later checkpoint whose proof starts elsewhere, or that has none, fails.
    let mut no_proof = later.clone();
    no_proof.consistency = None;
    let r = run(
        &serde_json::to_value(&m).unwrap(),
        &g,
        Some(&serde_json::to_value(&no_proof).unwrap()),
    );
    assert_eq!(first_failure(&r), "later.consistency");
    // A checkpoint file alone verifies too.
    let r = run(&lv, &g, None).unwrap();
    assert_passes(&r);

    // Not a penalty; unknown; not yet settled.
    assert!(matches!(
        ledger.audit_bundle(&sc.story.log[0].id(), None, None),
        Err(AuditError::NotAPenalty(..))
    ));
    assert!(matches!(
        ledger.audit_bundle(&Hash32::ZERO, None, None),
        Err(AuditError::UnknownEvent(_))
    ));
    let mut early = Ledger::new(g.clone());
    for ev in &sc.story.log[..sc.unsettled] {
        early.insert(ev.clone()).unwrap();
    }
    let e = early.audit_bundle(&sc.bounce.id(), None, None).unwrap_err();
    assert!(matches!(e, AuditError::NotSettled(_)), "{e}");
    assert!(e.to_string().contains("not yet settled"), "{e}");

    // Another genesis: every event is of another network.
    let other = Genesis::new("other", g.founding_orgs.clone(), Rules::default(), 1).unwrap();
    let r = run(&serde_json::to_value(&b).unwrap(), &other, None);
    assert_eq!(first_failure(&r), "network");
}

#[test]
fn a_node_builds_the_same_bundle_and_keeps_the_message_private() {
    let sc = scenario();
    let dir = tempfile::tempdir().unwrap();
    let g = sc.story.genesis.clone();
    let store = Store::open(&dir.path().join("events.redb"), g.network_id()).unwrap();
    let org_b = SecretKey::from_seed(seed("org", 1));
    let mut engine = Engine::open(store, g.clone(), org_b).unwrap();
    for ev in &sc.story.log[..sc.unsettled] {
        engine.ingest_event(ev.clone()).unwrap();
    }
    let e = engine
        .audit_bundle(&sc.bounce.id(), false, false)
        .unwrap_err();
    assert_eq!(e.code(), "not_settled");
    for ev in &sc.story.log[sc.unsettled..] {
        engine.ingest_event(ev.clone()).unwrap();
    }
    // Issue 19: the finalized events left the node's memory, so what follows builds
    // the bundles from its store, and they must equal the ledger's.
    assert!(engine.events_in_memory() < engine.ledger().len());
    // The org has not been given the message: asking for it is refused.
    let e = engine
        .audit_bundle(&sc.bounce.id(), true, false)
        .unwrap_err();
    assert_eq!(e.code(), "no_message");
    let e = engine
        .audit_bundle(&sc.bounce.id(), false, true)
        .unwrap_err();
    assert_eq!(e.code(), "no_opening");
    let h = engine.put_evidence(DSN.as_bytes()).unwrap();
    assert_eq!(h, evidence_hash(DSN.as_bytes()));
    let without = engine.audit_bundle(&sc.bounce.id(), false, false).unwrap();
    assert_eq!(without.bounce_message_hex, None);
    assert_eq!(without.opening, None);
    let with = engine.audit_bundle(&sc.bounce.id(), true, false).unwrap();
    assert_eq!(with.bounce_message_hex.as_deref(), Some(DSN.as_bytes()));
    let mut ledger = sc.story.ledger.clone();
    assert_eq!(
        with,
        ledger
            .audit_bundle(&sc.bounce.id(), Some(DSN.as_bytes().to_vec()), None)
            .unwrap()
    );
    let r = run(&serde_json::to_value(&with).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    assert_eq!(
        engine.audit_bundle(&sc.mobile.id(), false, false).unwrap(),
        ledger.audit_bundle(&sc.mobile.id(), None, None).unwrap()
    );

    // The reporter shows its org node the number to get a voucher: the node keeps
    // it (encrypted) and exports it on request, as the ledger's bundle has it.
    let Payload::MobileReport(m) = sc.mobile.payload() else {
        unreachable!()
    };
    let mut fixed = sc.mobile_opening.clone();
    fixed.value = "+442079460000".into();
    assert_eq!(
        engine.vouch_mobile(&sc.mobile.author(), &m.purchase_id, &fixed),
        Err(carnet_node::vouch::VouchError::OpeningMismatch)
    );
    let voucher = engine
        .vouch_mobile(&sc.mobile.author(), &m.purchase_id, &sc.mobile_opening)
        .unwrap();
    assert_eq!(voucher, m.voucher);
    let exported = engine.audit_bundle(&sc.mobile.id(), false, true).unwrap();
    assert_eq!(
        exported,
        ledger
            .audit_bundle(&sc.mobile.id(), None, Some(sc.mobile_opening.clone()))
            .unwrap()
    );
    assert_passes(&run(&serde_json::to_value(&exported).unwrap(), &g, None).unwrap());
    // Nothing on the log or in a bundle exported without it holds the number.
    let number = sc.mobile_opening.value.as_bytes();
    for ev in &sc.story.log {
        assert!(
            !ev.as_bytes().windows(number.len()).any(|w| w == number),
            "{} holds the number",
            ev.payload().kind()
        );
    }
    let plain = serde_json::to_string(&engine.audit_bundle(&sc.mobile.id(), false, false).unwrap())
        .unwrap();
    assert!(!plain.contains(&sc.mobile_opening.value));

    // After a restart the finalized events leave memory again, their records read
    // back from the store, and the bundles are the same.
    let root = engine.state_root_hex();
    drop(engine);
    let store = Store::open(&dir.path().join("events.redb"), g.network_id()).unwrap();
    assert!(store.released_through().unwrap() > 0);
    let org_b = SecretKey::from_seed(seed("org", 1));
    let mut engine = Engine::open(store, g.clone(), org_b).unwrap();
    assert!(engine.events_in_memory() < engine.ledger().len());
    assert_eq!(engine.state_root_hex(), root);
    assert_eq!(
        engine.audit_bundle(&sc.mobile.id(), false, false).unwrap(),
        ledger.audit_bundle(&sc.mobile.id(), None, None).unwrap()
    );
    let ledger = engine.ledger();
    for ev in sc
        .story
        .log
        .iter()
        .filter(|e| ledger.get(&e.id()).is_none())
    {
        assert!(ledger.is_ordered(&ev.id()));
        assert!(ledger.epoch(&ev.id()).is_some());
        assert!(ledger.fetch(&ev.id()).unwrap().is_some());
    }
    assert!(ledger.take_archive_error().is_none());

    // With a snapshot of the finalized prefix the records hold, a start reads only
    // the events held in memory, and holds the same ledger read for read.
    let (held, len) = (engine.events_in_memory(), engine.ledger().len());
    let finals = engine.ledger().finals().to_vec();
    let items = engine.ledger().all_items();
    let bundle = engine.audit_bundle(&sc.mobile.id(), false, false).unwrap();
    // The replay above saved one already, and started again from it.
    engine.save_snapshot().unwrap();
    assert!(engine.snapshot_events().is_some());
    drop(engine);
    let store = Store::open(&dir.path().join("events.redb"), g.network_id()).unwrap();
    let org_b = SecretKey::from_seed(seed("org", 1));
    let (mut engine, r) = Engine::reopen(store, g.clone(), org_b).unwrap();
    assert!(r.from_records, "{r:?}");
    assert_eq!(r.events, held, "only the events held in memory are read");
    assert!(held < len);
    assert_eq!(engine.events_in_memory(), held);
    assert_eq!(engine.ledger().len(), len);
    assert_eq!(engine.ledger().finals(), &finals[..]);
    assert_eq!(engine.ledger().all_items(), items);
    assert_eq!(engine.state_root_hex(), root);
    assert_eq!(
        engine.audit_bundle(&sc.mobile.id(), false, false).unwrap(),
        bundle
    );
    let ledger = engine.ledger();
    for ev in &sc.story.log {
        assert!(ledger
            .fetch(&ev.id())
            .unwrap()
            .is_some_and(|e| e.id() == ev.id()));
        assert_eq!(ledger.epoch(&ev.id()), sc.story.ledger.epoch(&ev.id()));
    }
    assert!(ledger.take_archive_error().is_none());
}

#[test]
fn the_contributors_dispute_is_shown_beside_the_report() {
    let mut sc = scenario();
    let g = sc.story.genesis.clone();
    let dispute = |finding: &str| {
        Payload::Dispute(carnet_protocol::payload::Dispute {
            report_id: sc.bounce.id(),
            finding: finding.into(),
        })
    };
    // Another org's dispute is void and stays out of the bundle; the contributor's
    // org's (org 0 enrolled the seller) goes in.
    let foreign = sc.story.org(1, dispute("not ours to say"));
    let ours = sc
        .story
        .org(0, dispute("our MX accepted mail to ada that day"));
    let mut ledger = sc.story.ledger.clone();
    let b = ledger.audit_bundle(&sc.bounce.id(), None, None).unwrap();
    assert_eq!(b.dispute_hex.as_deref(), Some(ours.as_bytes()));
    let r = run(&serde_json::to_value(&b).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    let shown = r.checks.iter().find(|c| c.name == "dispute").unwrap();
    assert!(shown.detail.contains("our MX accepted mail"), "{shown:?}");
    // A bundle that passes off another org's statement as the contributor's fails.
    let mut forged = b.clone();
    forged.dispute_hex = Some(foreign.as_bytes().to_vec());
    let r = run(&serde_json::to_value(&forged).unwrap(), &g, None);
    assert_eq!(first_failure(&r), "dispute");
}

/// A write that fails once claims are final (a full disk) takes the node back to
/// what its store holds by starting again from the store's records, reading only the
/// events held in memory, not by inserting every event again; once the store takes
/// writes again the node ends where the network does.
#[test]
fn a_failed_write_after_settlement_rolls_back_from_the_records() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let sc = scenario();
    let g = sc.story.genesis.clone();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.redb");
    drop(Store::open(&path, g.network_id()).unwrap());
    let faults = std::sync::Arc::new(AtomicBool::new(false));
    let store = Store::open_with_faults(&path, g.network_id(), faults.clone()).unwrap();
    let org_b = SecretKey::from_seed(seed("org", 1));
    let mut engine = Engine::open(store, g.clone(), org_b).unwrap();
    let log = &sc.story.log;
    // Up to the first event after a claim was final and its events left memory.
    let mut next = 0;
    while engine.events_in_memory() == engine.ledger().len() {
        engine.ingest_event(log[next].clone()).unwrap();
        next += 1;
    }
    assert!(next < log.len(), "the scenario settles before its end");
    let (len, held) = (engine.ledger().len(), engine.events_in_memory());
    let root = engine.state_root_hex();
    let finals = engine.ledger().finals().to_vec();

    faults.store(true, SeqCst);
    assert!(engine.ingest_event(log[next].clone()).is_err());
    assert_eq!(engine.roll_backs(), (1, 0), "rolled back from the records");
    assert_eq!(engine.ledger().len(), len);
    assert_eq!(engine.events_in_memory(), held);
    assert_eq!(engine.ledger().finals(), &finals[..]);
    assert_eq!(engine.state_root_hex(), root);
    assert!(!engine.ledger().is_ordered(&log[next].id()));
    assert!(engine.ledger().take_archive_error().is_none());

    faults.store(false, SeqCst);
    for ev in &log[next..] {
        engine.ingest_event(ev.clone()).unwrap();
    }
    let mut reference = sc.story.ledger.clone();
    assert_eq!(engine.ledger().finals(), reference.finals());
    assert_eq!(engine.state_root_hex(), reference.state_root().to_hex());
    assert_eq!(engine.roll_backs(), (1, 0));
}
