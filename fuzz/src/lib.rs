//! Fixtures shared by the fuzz targets and the seed generator (`examples/seed.rs`):
//! the network every decoded event must belong to, and a few valid values to seed
//! the corpora with.

use carnet_protocol::author::Author;
use carnet_protocol::card::{recipient_public, seal_card, Card};
use carnet_protocol::genesis::OrgEntry;
use carnet_protocol::hash::ContentId;
use carnet_protocol::payload::*;
use carnet_protocol::{Genesis, Hash32, NetworkId, PublicKey, Rules, SecretKey, SignedEvent};
use std::sync::OnceLock;

/// Recipient secret, ephemeral secret and purchase id the `open_card` target seals with.
pub const RECIPIENT_SECRET: [u8; 32] = [0x42; 32];
pub const EPHEMERAL_SECRET: [u8; 32] = [0x24; 32];
pub const PURCHASE: ContentId = Hash32([0x77; 32]);

fn org_key(i: u8) -> SecretKey {
    SecretKey::from_seed([0x10 + i; 32])
}

/// The fuzzing network's genesis: two founding orgs, default rules.
pub fn genesis() -> Genesis {
    Genesis::new(
        "Carnet fuzz network",
        (0..2)
            .map(|i| OrgEntry {
                key: org_key(i).public(),
                name: format!("Fuzz Org {i}"),
            })
            .collect(),
        Rules::default(),
        1_700_000_000_000,
    )
    .expect("valid genesis")
}

/// The network id `decode_event` decodes against (computed once).
pub fn network() -> NetworkId {
    static ID: OnceLock<NetworkId> = OnceLock::new();
    *ID.get_or_init(|| genesis().network_id())
}

/// Valid cards: with and without phone and postal address, an IDN company domain.
pub fn cards() -> Vec<Card> {
    let card = |phone: bool, postal: bool, email: &str, domain: &str| Card {
        teaser: Teaser {
            name: "Ada Lovelace".into(),
            title: "Head of Analysis".into(),
            company: "Analytical Engines Ltd".into(),
            company_domain: domain.into(),
            city: if postal {
                "London".into()
            } else {
                String::new()
            },
            availability: Availability {
                email: true,
                postal,
                phone,
            },
        },
        email: Opening {
            value: email.into(),
            salt: [0x5a; 32],
        },
        phone: phone.then(|| Opening {
            value: "+442079460000".into(),
            salt: [0xa5; 32],
        }),
        postal_address: postal.then(|| "12 St James's Square, London SW1Y 4JH".into()),
    };
    vec![
        card(
            true,
            true,
            "Ada.Lovelace@engines.example",
            "engines.example",
        ),
        card(
            false,
            false,
            "ada@xn--bcher-kva.example",
            "xn--bcher-kva.example",
        ),
        card(true, false, "a+b@mail.engines.example", "engines.example"),
    ]
}

/// One valid event of every kind, in a plausible story, all in [`network`].
pub fn events() -> Vec<SignedEvent> {
    let net = network();
    let mut org = Author::new(org_key(0), net);
    let mut alice = Author::new(SecretKey::from_seed([0x33; 32]), net);
    let mut bob = Author::new(SecretKey::from_seed([0x44; 32]), net);
    let (alice_pk, bob_pk) = (alice.public(), bob.public());
    let t = 1_700_000_000_000;
    let mut out: Vec<SignedEvent> = Vec::new();
    let mut push = |author: &mut Author, payload: Payload, deps: Vec<ContentId>| {
        let clock = out.iter().map(|e| e.lamport()).max().unwrap_or(0);
        let ev = author.sign(payload, deps, clock, t).expect("valid event");
        out.push(ev.clone());
        ev
    };
    let enroll_a = push(
        &mut org,
        Payload::Enroll(Enroll {
            member: alice.public(),
            handle: "alice".into(),
        }),
        vec![],
    );
    push(
        &mut org,
        Payload::Enroll(Enroll {
            member: bob.public(),
            handle: "bob".into(),
        }),
        vec![],
    );
    let card = &cards()[0];
    let listing = card
        .listing(&carnet_protocol::card::NetworkSecret([0x4b; 32]))
        .expect("valid card");
    let contribute = push(
        &mut alice,
        Payload::Contribute(Contribute {
            listing: listing.clone(),
        }),
        vec![enroll_a.id()],
    );
    push(
        &mut alice,
        Payload::Update(Update {
            listing_id: contribute.id(),
            listing: listing.clone(),
        }),
        vec![],
    );
    push(
        &mut org,
        Payload::Grant(Grant {
            member: bob_pk,
            points: 100,
            memo: "subscription".into(),
        }),
        vec![],
    );
    let purchase = push(
        &mut bob,
        Payload::Purchase(Purchase {
            listing_id: contribute.id(),
            recipient: recipient_public(RECIPIENT_SECRET),
            max_price: 10,
        }),
        vec![],
    );
    let (ephemeral, sealed_card) = seal_card(
        card,
        &recipient_public(RECIPIENT_SECRET),
        EPHEMERAL_SECRET,
        &purchase.id(),
    )
    .expect("seals");
    push(
        &mut org,
        Payload::Deliver(Deliver {
            purchase_id: purchase.id(),
            ephemeral,
            sealed_card,
        }),
        vec![],
    );
    push(
        &mut bob,
        Payload::BounceReport(BounceReport {
            purchase_id: purchase.id(),
            evidence: carnet_protocol::hash::evidence_hash(b"550 5.1.1 no such user"),
            status: DsnStatus {
                class: 5,
                subject: 1,
                detail: 1,
            },
            voucher: carnet_protocol::payload::Voucher([0; 64]),
        }),
        vec![],
    );
    push(
        &mut bob,
        Payload::MobileReport(MobileReport {
            purchase_id: purchase.id(),
            voucher: carnet_protocol::payload::Voucher([0; 64]),
        }),
        vec![],
    );
    push(
        &mut bob,
        Payload::Vote(Vote {
            company_domain: "engines.example".into(),
            employees: EmployeeRange::From51To200,
            revenue: RevenueRange::From10MTo50M,
        }),
        vec![],
    );
    push(
        &mut bob,
        Payload::Referral(Referral { referrer: alice_pk }),
        vec![],
    );
    push(
        &mut bob,
        Payload::Transfer(Transfer {
            to: alice_pk,
            points: 5,
        }),
        vec![],
    );
    push(
        &mut org,
        Payload::Revoke(Revoke {
            member: bob_pk,
            reason: "left the company".into(),
        }),
        vec![],
    );
    push(
        &mut org,
        Payload::OptOut(OptOut {
            dedup_key: listing.dedup_key,
        }),
        vec![],
    );
    push(
        &mut org,
        Payload::Checkpoint(Checkpoint {
            lamport_bound: 10,
            source: Hash32::ZERO,
            event_count: 12,
            events_root: Hash32([1; 32]),
            state_root: Hash32([2; 32]),
            heads: vec![Hash32([3; 32])],
        }),
        vec![],
    );
    push(&mut org, Payload::Seal(Seal {}), vec![]);
    push(
        &mut org,
        Payload::Hold(Hold {
            listings: vec![Hash32([4; 32])],
        }),
        vec![Hash32([4; 32])],
    );
    push(
        &mut org,
        Payload::Dispute(Dispute {
            report_id: Hash32([5; 32]),
            finding: "accepted mail that day".into(),
        }),
        vec![Hash32([5; 32])],
    );
    push(
        &mut org,
        Payload::Admit(Admit {
            org: PublicKey([9; 32]),
            name: "New Org GmbH".into(),
        }),
        vec![],
    );
    out
}
