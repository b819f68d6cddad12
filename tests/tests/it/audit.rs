//! Auditors (docs/audit.md): a real scenario (orgs, an admitted org, members, a card
//! contributed and updated, bought, delivered, bounced with a real DSN message and
//! reported mobile, checkpoints signed by a quorum), its bundles built by the ledger
//! and by a node's engine, verified offline; every byte of every signed part flipped
//! must fail the check that names it. The same scenario writes the example bundles of
//! docs/test-vectors/audit/ (CARNET_REGEN_VECTORS=1 rewrites them) and checks them.

use carnet_client::audit::{verify, AuditFile, GenesisFile, Report, Status};
use carnet_node::engine::Engine;
use carnet_node::store::Store;
use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, seal_card, Card};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::audit::{AuditError, Bundle, CheckpointFile};
use carnet_protocol::ledger::{CheckpointClaim, Inserted, Ledger, Outcome};
use carnet_protocol::payload::*;
use carnet_protocol::testkit::{self, seed, T0};
use carnet_protocol::{ContentId, Hash32, SecretKey, SignedEvent};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The bounce a mail server sends when `ada@acme.example` does not exist (RFC 3464).
pub const DSN: &str = "From: Mail Delivery System <MAILER-DAEMON@mx.buyer.example>\r\n\
To: <bob@buyer.example>\r\n\
Subject: Undelivered Mail Returned to Sender\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <20231114221320.1A2B3C@mx.buyer.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/report; report-type=delivery-status;\r\n\
\tboundary=\"BOUNDARY-1\"\r\n\
\r\n\
This is a MIME-encapsulated message.\r\n\
\r\n\
--BOUNDARY-1\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Your message could not be delivered to <ada@acme.example>: user unknown.\r\n\
\r\n\
--BOUNDARY-1\r\n\
Content-Type: message/delivery-status\r\n\
\r\n\
Reporting-MTA: dns; mx.buyer.example\r\n\
Arrival-Date: Tue, 14 Nov 2023 22:13:19 +0000\r\n\
\r\n\
Final-Recipient: rfc822; ada@acme.example\r\n\
Original-Recipient: rfc822; ada@acme.example\r\n\
Action: failed\r\n\
Status: 5.1.1\r\n\
Remote-MTA: dns; mx.acme.example\r\n\
Diagnostic-Code: smtp; 550 5.1.1 <ada@acme.example>: Recipient address rejected: User unknown\r\n\
\r\n\
--BOUNDARY-1--\r\n";

/// Builds the story event by event with fixed keys, clocks and timestamps.
pub struct Story {
    pub genesis: Genesis,
    pub ledger: Ledger,
    pub orgs: Vec<Author>,
    now: u64,
    pub log: Vec<SignedEvent>,
}

impl Story {
    fn put(&mut self, who: &mut Author, payload: Payload) -> SignedEvent {
        self.now += 1000;
        if who.head().is_none() {
            *who = who
                .clone()
                .introduced_by(self.ledger.introduction(&who.public()));
        }
        let ev = who
            .sign(payload, vec![], self.ledger.max_lamport(), self.now)
            .expect("sign");
        let ins = self.ledger.insert(ev.clone()).expect("insert");
        assert_eq!(ins.inserted, Inserted::Ordered);
        assert!(ins.dropped.is_empty());
        assert_eq!(
            self.ledger.state().outcome(&ev.id()),
            Outcome::Applied,
            "{}",
            ev.payload().kind()
        );
        self.log.push(ev.clone());
        ev
    }

    fn org(&mut self, i: usize, payload: Payload) -> SignedEvent {
        self.org_with(i, payload, vec![])
    }

    fn org_with(&mut self, i: usize, payload: Payload, deps: Vec<ContentId>) -> SignedEvent {
        let mut a = self.orgs[i].clone();
        if a.head().is_none() {
            let intro = self.ledger.introduction(&a.public());
            a = a.introduced_by(intro);
        }
        self.now += 1000;
        let ev = a
            .sign(payload, deps, self.ledger.max_lamport(), self.now)
            .expect("sign");
        let ins = self.ledger.insert(ev.clone()).expect("insert");
        assert_eq!(ins.inserted, Inserted::Ordered);
        self.log.push(ev.clone());
        self.orgs[i] = a;
        ev
    }

    /// The first signer seals what no org event reaches yet, then every org in
    /// `signers` signs the claim at the current tip.
    fn checkpoint(&mut self, signers: &[usize]) -> u64 {
        let unsealed: Vec<ContentId> = self.ledger.unsealed().map(|e| e.id()).collect();
        for chunk in unsealed.chunks(31) {
            self.org_with(
                signers[0],
                Payload::Seal(Default::default()),
                chunk.to_vec(),
            );
        }
        let bound = self.ledger.max_lamport();
        let claim = self.ledger.claim_at(bound).expect("something to claim");
        for &i in signers {
            self.org(i, Payload::Checkpoint(claim.clone()));
        }
        assert_eq!(
            self.ledger.state().finalized,
            Some(CheckpointClaim::from(&claim))
        );
        bound
    }
}

pub struct Scenario {
    pub story: Story,
    pub bounce: SignedEvent,
    pub mobile: SignedEvent,
    /// The openings the reports do not carry: the reporter showed them to its org.
    pub bounce_opening: Opening,
    pub mobile_opening: Opening,
    pub first_bound: u64,
    pub second_bound: u64,
    /// Events up to the reports, before any checkpoint (for the "not settled" case).
    pub unsettled: usize,
}

fn card(n: usize, email: &str, phone: Option<&str>) -> Card {
    let card = testkit::card_for(n, email);
    match phone {
        Some(p) => testkit::with_phone(card, n, p),
        None => card,
    }
}

pub fn scenario() -> Scenario {
    scenario_with(DSN.as_bytes())
}

/// The same story, the bounce report's evidence being the hash of `message` (the
/// ledger sees only that hash and the claimed 5.1.1 status).
pub fn scenario_with(message: &[u8]) -> Scenario {
    let keys: Vec<SecretKey> = (0..4).map(testkit::org_key).collect();
    let genesis = testkit::genesis("Carnet audit example", &keys[..3], Rules::default(), T0);
    let net = genesis.network_id();
    let mut s = Story {
        ledger: Ledger::new(genesis.clone()),
        orgs: keys.iter().map(|k| Author::new(k.clone(), net)).collect(),
        genesis,
        now: T0,
        log: Vec::new(),
    };
    // The three founders admit org D.
    for i in 0..3 {
        s.org(
            i,
            Payload::Admit(Admit {
                org: keys[3].public(),
                name: "Org D".into(),
            }),
        );
    }
    let mut seller = Author::new(SecretKey::from_seed(seed("member", 0)), net);
    let mut buyer = Author::new(SecretKey::from_seed(seed("member", 1)), net);
    let enroll = |m: &Author, h: &str| {
        Payload::Enroll(Enroll {
            member: m.public(),
            handle: h.into(),
        })
    };
    s.org(0, enroll(&seller, "seller"));
    s.org(1, enroll(&buyer, "buyer"));
    s.org(
        1,
        Payload::Grant(Grant {
            member: buyer.public(),
            points: 100,
            memo: "subscription".into(),
        }),
    );
    // A card contributed, then updated (new salt): the purchase records the update.
    let first = card(1, "ada@acme.example", None);
    let c1 = s.put(
        &mut seller,
        Payload::Contribute(Contribute {
            listing: first.listing(&carnet_tests::TEST_SECRET).unwrap(),
        }),
    );
    let mut updated = first.clone();
    updated.email.salt = seed("salt", 100);
    updated.teaser.title = "Chief Technology Officer".into();
    s.put(
        &mut seller,
        Payload::Update(Update {
            listing_id: c1.id(),
            listing: updated.listing(&carnet_tests::TEST_SECRET).unwrap(),
        }),
    );
    let mobile_card = card(2, "grace@acme.example", Some("+447400123456"));
    let c2 = s.put(
        &mut seller,
        Payload::Contribute(Contribute {
            listing: mobile_card.listing(&carnet_tests::TEST_SECRET).unwrap(),
        }),
    );
    let recipient = recipient_public(seed("recipient", 0));
    let mut delivered = Vec::new();
    for (c, cardv, n) in [(&c1, &updated, 0usize), (&c2, &mobile_card, 1)] {
        let p = s.put(
            &mut buyer,
            Payload::Purchase(Purchase {
                listing_id: c.id(),
                recipient,
                max_price: 10,
            }),
        );
        let (ephemeral, sealed_card) =
            seal_card(cardv, &recipient, seed("ephemeral", n), &p.id()).unwrap();
        s.org(
            0,
            Payload::Deliver(Deliver {
                purchase_id: p.id(),
                ephemeral,
                sealed_card,
            }),
        );
        delivered.push(p);
    }
    let status = DsnStatus {
        class: 5,
        subject: 1,
        detail: 1,
    };
    // The buyer's org (org 1) read the message and vouches for the report.
    let voucher = carnet_protocol::voucher::sign(
        s.orgs[1].key(),
        &carnet_protocol::voucher::VoucherBody {
            network: net,
            reporter: buyer.public(),
            purchase_id: delivered[0].id(),
            evidence: evidence_hash(message),
            status,
            email_commitment: carnet_protocol::card::commit_email(&updated.email),
        },
    );
    let bounce = s.put(
        &mut buyer,
        Payload::BounceReport(BounceReport {
            purchase_id: delivered[0].id(),
            evidence: evidence_hash(message),
            status,
            voucher,
        }),
    );
    // The buyer's org was shown the number, classified it a mobile and vouches.
    let mobile_opening = mobile_card.phone.clone().unwrap();
    let voucher = carnet_protocol::voucher::sign_mobile(
        s.orgs[1].key(),
        &carnet_protocol::voucher::MobileVoucherBody {
            network: net,
            reporter: buyer.public(),
            purchase_id: delivered[1].id(),
            phone_commitment: carnet_protocol::card::commit_phone(&mobile_opening),
        },
    );
    let mobile = s.put(
        &mut buyer,
        Payload::MobileReport(MobileReport {
            purchase_id: delivered[1].id(),
            voucher,
        }),
    );
    let unsettled = s.log.len();
    // Four orgs: three signatures are a quorum (3 * 3 > 2 * 4), two are not.
    let first_bound = s.checkpoint(&[0, 1, 2]);
    // Later business, then a later checkpoint signed with the admitted org.
    let later = card(3, "linus@acme.example", None);
    s.put(
        &mut seller,
        Payload::Contribute(Contribute {
            listing: later.listing(&carnet_tests::TEST_SECRET).unwrap(),
        }),
    );
    let second_bound = s.checkpoint(&[3, 2, 1]);
    Scenario {
        story: s,
        bounce,
        mobile,
        bounce_opening: updated.email.clone(),
        mobile_opening,
        first_bound,
        second_bound,
        unsettled,
    }
}

fn genesis_file(g: &Genesis) -> GenesisFile {
    GenesisFile::new(g)
}

fn run(file: &Value, genesis: &Genesis, later: Option<&Value>) -> Result<Report, String> {
    let bytes = serde_json::to_vec(file).unwrap();
    let f = AuditFile::parse(&bytes)?;
    let later = match later {
        Some(l) => match AuditFile::parse(&serde_json::to_vec(l).unwrap())? {
            AuditFile::Checkpoint(c) => Some(*c),
            AuditFile::Bundle(_) => return Err("later is a bundle".into()),
        },
        None => None,
    };
    Ok(verify(&f, genesis, later.as_ref()))
}

fn first_failure(r: &Result<Report, String>) -> String {
    match r {
        Ok(r) => r
            .first_failure()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "none".into()),
        Err(_) => "parse".into(),
    }
}

fn assert_passes(r: &Report) {
    assert!(
        r.ok(),
        "{:#?}",
        r.checks
            .iter()
            .filter(|c| c.status != Status::Pass)
            .collect::<Vec<_>>()
    );
}

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

/// Flips one byte of every hex string of `v` in turn (every byte of events,
/// signatures and messages; the first and last byte of each hash and state leaf) and
/// bumps the claim's numbers; calls `f` with the JSON path and the tampered document.
fn tampered(v: &Value, mut f: impl FnMut(&str, Value)) {
    fn walk(root: &Value, at: &Value, path: String, f: &mut dyn FnMut(&str, Value)) {
        match at {
            Value::Object(m) => {
                for (k, x) in m {
                    walk(root, x, format!("{path}/{k}"), f);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(root, x, format!("{path}/{i}"), f);
                }
            }
            Value::String(s) if path != "/format" => {
                let Ok(bytes) = hex::decode(s) else {
                    return;
                };
                let every = path.ends_with("event_hex")
                    || path.contains("signatures_hex")
                    || path.contains("admissions_hex")
                    || path.ends_with("bounce_message_hex");
                let positions: Vec<usize> = if every {
                    (0..bytes.len()).collect()
                } else {
                    vec![0, bytes.len() - 1]
                };
                for i in positions {
                    let mut b = bytes.clone();
                    b[i] ^= 0x01;
                    let mut doc = root.clone();
                    *doc.pointer_mut(&path).unwrap() = Value::String(hex::encode(b));
                    f(&path, doc);
                }
            }
            Value::Number(n) if path.starts_with("/checkpoint/claim/") => {
                let mut doc = root.clone();
                *doc.pointer_mut(&path).unwrap() = json!(n.as_u64().unwrap() + 1);
                f(&path, doc);
            }
            _ => {}
        }
    }
    walk(v, v, String::new(), &mut f);
}

/// The check that must fail first when the part at `path` is changed.
fn expected_check(path: &str) -> String {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["network_id_hex"] => "network".into(),
        ["bounce_message_hex"] => "evidence.hash".into(),
        ["opening", "salt_hex"] => "opening".into(),
        ["contributor_account", ..] => "state.contributor_account".into(),
        ["purchase_state", ..] => "state.purchase".into(),
        ["checkpoint", "signatures_hex", ..] => "checkpoint.signatures".into(),
        ["checkpoint", "admissions_hex", ..] => "checkpoint.admissions".into(),
        ["checkpoint", "claim", ..] => "checkpoint.quorum".into(),
        [role, "event_hex"] => format!("event.{role}"),
        [role, "path_hex", ..] => format!("inclusion.{role}"),
        _ => panic!("unexpected part {path}"),
    }
}

#[test]
fn every_signed_byte_is_checked() {
    let sc = scenario();
    let mut ledger = sc.story.ledger.clone();
    let g = sc.story.genesis.clone();
    let mut count = 0;
    for (id, msg, opening) in [
        (
            sc.bounce.id(),
            Some(DSN.as_bytes().to_vec()),
            sc.bounce_opening.clone(),
        ),
        (sc.mobile.id(), None, sc.mobile_opening.clone()),
    ] {
        let b =
            serde_json::to_value(ledger.audit_bundle(&id, msg, Some(opening)).unwrap()).unwrap();
        tampered(&b, |path, doc| {
            count += 1;
            let r = run(&doc, &g, None);
            assert_eq!(first_failure(&r), expected_check(path), "{path}");
        });
    }
    assert!(count > 3000, "{count} tampered bundles");

    // The later checkpoint: its signatures, admissions, claim and consistency path.
    let b =
        serde_json::to_value(ledger.audit_bundle(&sc.bounce.id(), None, None).unwrap()).unwrap();
    let later = serde_json::to_value(
        ledger
            .audit_checkpoint(Some(sc.second_bound), Some(sc.first_bound))
            .unwrap(),
    )
    .unwrap();
    tampered(&later, |path, doc| {
        let r = run(&b, &g, Some(&doc));
        let want = match path {
            p if p.starts_with("/consistency/") => "later.consistency".to_string(),
            p => format!("later.{}", expected_check(p)),
        };
        assert_eq!(first_failure(&r), want, "{path}");
    });
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
}

// ---------------------------------------------------------------------------------
// A dishonest reporter: a signed 5.1.1 BounceReport whose evidence is the hash of a
// real message that does not prove the address dead. The ledger accepts it (it sees
// only the hash and the claimed status); the auditor catches it, with the message.

/// [`DSN`] with every `from` replaced by `to`.
fn dsn_with(replacements: &[(&str, &str)]) -> String {
    replacements.iter().fold(DSN.to_string(), |m, (from, to)| {
        assert!(m.contains(from), "{from:?} not in the DSN");
        m.replace(from, to)
    })
}

/// Builds the scenario with `message` as the report's evidence, exports its bundle
/// (from the ledger and from the reporter's org node) with and without the message,
/// and checks that only `evidence.dsn` fails, for a reason containing every `reason`,
/// and that without the message every check passes and only the two message checks
/// are skipped.
fn dishonest_report_is_caught_only_with_the_message(message: &str, reason: &[&str]) {
    let raw = message.as_bytes();
    let sc = scenario_with(raw);
    let g = sc.story.genesis.clone();
    let mut ledger = sc.story.ledger.clone();
    // The ledger applied the report (Story::put asserts it) and settled it.
    let with = ledger
        .audit_bundle(
            &sc.bounce.id(),
            Some(raw.to_vec()),
            Some(sc.bounce_opening.clone()),
        )
        .unwrap();

    // The reporter's org node holds the message and exports the same bundle.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("events.redb"), g.network_id()).unwrap();
    let mut engine = Engine::open(store, g.clone(), SecretKey::from_seed(seed("org", 1))).unwrap();
    for ev in &sc.story.log {
        engine.ingest_event(ev.clone()).unwrap();
    }
    let Payload::BounceReport(report) = sc.bounce.payload() else {
        unreachable!()
    };
    let vouched = engine
        .vouch(&carnet_node::vouch::VouchRequest {
            reporter: sc.bounce.author(),
            purchase_id: report.purchase_id,
            opening: sc.bounce_opening.clone(),
            status: report.status,
            message: raw.to_vec(),
        })
        .unwrap();
    assert_eq!(vouched.evidence, evidence_hash(raw));
    assert_eq!(
        engine.audit_bundle(&sc.bounce.id(), true, true).unwrap(),
        with
    );

    let r = run(&serde_json::to_value(&with).unwrap(), &g, None).unwrap();
    assert!(!r.ok());
    let failed: Vec<_> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let f = r.first_failure().unwrap();
    assert_eq!(f.name, "evidence.dsn", "{failed:#?}");
    for w in reason {
        assert!(f.detail.contains(w), "{w:?} not in {:?}", f.detail);
    }
    // The links before it hold: the message is the one the report named, and the
    // report claims a permanent failure.
    for n in ["evidence.hash", "report.status", "opening"] {
        assert!(
            r.checks
                .iter()
                .any(|c| c.name == n && c.status == Status::Pass),
            "{n}"
        );
    }

    // The same bundle without the message: nothing the auditor holds is wrong.
    let without = engine.audit_bundle(&sc.bounce.id(), false, false).unwrap();
    assert_eq!(
        without,
        Bundle {
            bounce_message_hex: None,
            opening: None,
            ..with.clone()
        }
    );
    let r = run(&serde_json::to_value(&without).unwrap(), &g, None).unwrap();
    assert_passes(&r);
    let skipped: Vec<(&str, &str)> = r
        .checks
        .iter()
        .filter(|c| c.status == Status::Skip)
        .map(|c| (c.name.as_str(), c.detail.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [
            ("opening", "the opening is not included"),
            ("evidence.hash", "the bounce message is not included"),
            ("evidence.dsn", "the bounce message is not included"),
            (
                "dispute",
                "the contributor's org did not dispute the report"
            ),
        ]
    );
}

#[test]
fn a_bounce_for_another_address_is_caught_by_evidence_dsn() {
    // A real bounce, but for eve@acme.example, not the card's ada@acme.example.
    let m = dsn_with(&[("ada@acme.example", "eve@acme.example")]);
    dishonest_report_is_caught_only_with_the_message(
        &m,
        &[
            "reports nothing about ada@acme.example",
            "it names: eve@acme.example",
        ],
    );
}

#[test]
fn a_temporary_failure_is_caught_by_evidence_dsn() {
    // Action: delayed, 4.x.x: the server is still retrying.
    let delayed = dsn_with(&[
        (
            "Action: failed\r\nStatus: 5.1.1",
            "Action: delayed\r\nStatus: 4.2.2",
        ),
        (
            "550 5.1.1 <ada@acme.example>: Recipient address rejected: User unknown",
            "452 4.2.2 <ada@acme.example>: Mailbox full",
        ),
    ]);
    dishonest_report_is_caught_only_with_the_message(
        &delayed,
        &[
            "temporary problem for ada@acme.example",
            "4.2.2",
            "Mailbox full",
        ],
    );
    // Action: failed, but a 4.x.x status: the server gave up on a transient problem.
    let gave_up = dsn_with(&[
        ("Status: 5.1.1", "Status: 4.4.7"),
        (
            "550 5.1.1 <ada@acme.example>: Recipient address rejected: User unknown",
            "421 4.4.7 message expired",
        ),
    ]);
    dishonest_report_is_caught_only_with_the_message(
        &gave_up,
        &["temporary problem for ada@acme.example", "4.4.7"],
    );
}

#[test]
fn a_plain_email_is_caught_by_evidence_dsn() {
    let plain = "From: Ada <ada@acme.example>\r\n\
To: <bob@buyer.example>\r\n\
Subject: Re: meeting\r\n\
Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n\
Message-ID: <20231114221320.9F8E7D@acme.example>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
Tuesday works for me. Ada\r\n";
    dishonest_report_is_caught_only_with_the_message(
        plain,
        &["not a bounce message", "text/plain"],
    );
}

// ---------------------------------------------------------------------------------
// docs/test-vectors/audit/

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors/audit")
}

fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).unwrap();
    s.push('\n');
    s
}

/// Flips the lowest bit of byte `i` of the hex string at `pointer`.
fn flip(doc: &Value, pointer: &str, i: usize) -> Value {
    let mut d = doc.clone();
    let s = d
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap()
        .to_string();
    let mut b = hex::decode(s).unwrap();
    b[i] ^= 0x01;
    *d.pointer_mut(pointer).unwrap() = Value::String(hex::encode(b));
    d
}

/// (file name, content) of every vector file, and the manifest.
fn generate() -> Vec<(String, Value)> {
    let sc = scenario();
    let mut ledger = sc.story.ledger.clone();
    let g = sc.story.genesis.clone();
    let bounce: Bundle = ledger
        .audit_bundle(
            &sc.bounce.id(),
            Some(DSN.as_bytes().to_vec()),
            Some(sc.bounce_opening.clone()),
        )
        .unwrap();
    let mobile: Bundle = ledger
        .audit_bundle(&sc.mobile.id(), None, Some(sc.mobile_opening.clone()))
        .unwrap();
    let later: CheckpointFile = ledger
        .audit_checkpoint(Some(sc.second_bound), Some(sc.first_bound))
        .unwrap();
    let bv = serde_json::to_value(&bounce).unwrap();
    let mv = serde_json::to_value(&mobile).unwrap();
    let lv = serde_json::to_value(&later).unwrap();
    let mut files = vec![
        (
            "genesis.json".to_string(),
            serde_json::to_value(genesis_file(&g)).unwrap(),
        ),
        ("bounce.json".into(), bv.clone()),
        ("mobile.json".into(), mv.clone()),
        ("later-checkpoint.json".into(), lv.clone()),
    ];
    // (file, description, content, later file, first failing check)
    let mut cases: Vec<(String, String, Option<String>, Option<String>)> = vec![
        (
            "bounce.json".into(),
            "a bounce report with the bounce message: every check passes".into(),
            None,
            None,
        ),
        (
            "mobile.json".into(),
            "a mobile report: every check passes".into(),
            None,
            None,
        ),
        (
            "mobile.json".into(),
            "with the later checkpoint: it is final and its events extend the bundle's".into(),
            Some("later-checkpoint.json".into()),
            None,
        ),
    ];
    let mut tamper = |name: &str, desc: &str, doc: Value, later: Option<&str>, check: &str| {
        files.push((name.to_string(), doc));
        cases.push((
            name.to_string(),
            desc.to_string(),
            later.map(str::to_string),
            Some(check.to_string()),
        ));
    };
    tamper(
        "tampered-penalty.json",
        "one bit of the report's body changed (its signature no longer verifies)",
        flip(&bv, "/penalty/event_hex", 80),
        None,
        "event.penalty",
    );
    let sig_at = hex::decode(bv["listing"]["event_hex"].as_str().unwrap())
        .unwrap()
        .len()
        - 1;
    tamper(
        "tampered-listing-signature.json",
        "the last byte of the contributor's signature on the listing changed",
        flip(&bv, "/listing/event_hex", sig_at),
        None,
        "event.listing",
    );
    tamper(
        "tampered-message.json",
        "one byte of the bounce message changed",
        flip(&bv, "/bounce_message_hex", 700),
        None,
        "evidence.hash",
    );
    tamper(
        "tampered-inclusion.json",
        "one byte of the penalty's audit path changed",
        flip(&bv, "/penalty/path_hex/0", 0),
        None,
        "inclusion.penalty",
    );
    tamper(
        "tampered-balance.json",
        "the contributor's account leaf changed (another balance)",
        flip(&bv, "/contributor_account/leaf_hex", 66),
        None,
        "state.contributor_account",
    );
    tamper(
        "tampered-checkpoint-signature.json",
        "one byte of an org's checkpoint signature changed",
        flip(&bv, "/checkpoint/signatures_hex/1", 100),
        None,
        "checkpoint.signatures",
    );
    let mut no_quorum = bv.clone();
    no_quorum["checkpoint"]["signatures_hex"]
        .as_array_mut()
        .unwrap()
        .pop();
    tamper(
        "no-quorum.json",
        "one checkpoint signature left out: 2 of 4 orgs is not a quorum",
        no_quorum,
        None,
        "checkpoint.quorum",
    );
    let mut root = bv.clone();
    root["checkpoint"]["claim"]["state_root_hex"] = json!(Hash32::of(b"another state").to_hex());
    tamper(
        "tampered-claim.json",
        "the claim's state root replaced: the signatures are for another claim",
        root,
        None,
        "checkpoint.quorum",
    );
    tamper(
        "tampered-consistency.json",
        "a later checkpoint whose consistency proof was altered",
        flip(&lv, "/consistency/path_hex/0", 5),
        None,
        "later.consistency",
    );
    // The consistency case is checked with mobile.json as the earlier checkpoint.
    if let Some(c) = cases.last_mut() {
        c.0 = "mobile.json".into();
        c.2 = Some("tampered-consistency.json".into());
    }
    let manifest: Vec<Value> = cases
        .iter()
        .map(|(file, desc, later, fail)| {
            json!({
                "file": file,
                "description": desc,
                "later": later,
                "valid": fail.is_none(),
                "first_failure": fail,
            })
        })
        .collect();
    files.push((
        "manifest.json".into(),
        json!({
            "description": "Audit bundles of docs/audit.md, all verified against genesis.json. \
                Each case: the file, an optional later checkpoint file, whether it verifies, \
                and the first check that fails.",
            "genesis": "genesis.json",
            "network_id_hex": g.network_id().to_hex(),
            "cases": manifest,
        }),
    ));
    files
}

#[test]
fn vectors() {
    let dir = vectors_dir();
    let files = generate();
    if testkit::regen_vectors() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, v) in &files {
            std::fs::write(dir.join(name), render(v)).unwrap();
        }
    }
    for (name, v) in &files {
        let on_disk = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert_eq!(
            on_disk,
            render(v),
            "{name} differs from the generator; run with CARNET_REGEN_VECTORS=1"
        );
    }
    // Check the files as read from disk.
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let genesis = GenesisFile::parse(&read("genesis.json"))
        .unwrap()
        .open()
        .unwrap();
    let manifest: Value = serde_json::from_slice(&read("manifest.json")).unwrap();
    assert_eq!(manifest["network_id_hex"], genesis.network_id().to_hex());
    for case in manifest["cases"].as_array().unwrap() {
        let file = AuditFile::parse(&read(case["file"].as_str().unwrap())).unwrap();
        let later = case["later"]
            .as_str()
            .map(|l| match AuditFile::parse(&read(l)) {
                Ok(AuditFile::Checkpoint(c)) => *c,
                other => panic!("{l}: {other:?}"),
            });
        let r = verify(&file, &genesis, later.as_ref());
        assert_eq!(r.ok(), case["valid"].as_bool().unwrap(), "{case}");
        assert_eq!(
            r.first_failure().map(|c| c.name.as_str()),
            case["first_failure"].as_str(),
            "{case}"
        );
    }
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
