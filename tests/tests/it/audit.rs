//! Auditors (docs/audit.md): a real scenario (orgs, an admitted org, members, a card
//! contributed and updated, bought, delivered, bounced with a real DSN message and
//! reported mobile, checkpoints signed by a quorum), its bundles built by the ledger
//! and by a node's engine, verified offline; every byte of every signed part flipped
//! must fail the check that names it. The same scenario writes the example bundles of
//! docs/test-vectors/audit/ (CARNET_REGEN_VECTORS=1 rewrites them) and checks them.

use carnet_client::audit::{verify, AuditFile, GenesisFile, Report, Status};
use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, seal_card, Card};
use carnet_protocol::genesis::{Genesis, Rules};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::ledger::{CheckpointClaim, Inserted, Ledger, Outcome};
use carnet_protocol::payload::*;
use carnet_protocol::testkit::{self, seed, T0};
use carnet_protocol::{ContentId, SecretKey, SignedEvent};
use serde_json::Value;

mod bundles;
mod dishonest;
mod tampering;
mod vectors;

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
    testkit::with_phone(testkit::card_for(n, email), n, phone)
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
