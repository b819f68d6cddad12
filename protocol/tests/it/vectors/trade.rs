//! purchase.json and deliver.json: bob buys alice's card (bob seq 0) and org_a
//! delivers it sealed (org_a seq 2).

use super::{event_file, h, Builder, Story, EPHEMERAL_SECRET, RECIPIENT_SECRET};
use carnet_protocol::card::{recipient_public, seal_card};
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;

/// The sale the later events name, and the sealing card.json shows.
pub(super) struct Sale {
    pub(super) purchase_id: ContentId,
    pub(super) deliver_id: ContentId,
    pub(super) ephemeral: [u8; 32],
    pub(super) sealed: Vec<u8>,
}

pub(super) fn generate(s: &mut Story, contribute_id: ContentId, enroll_bob_id: ContentId) -> Sale {
    let Story {
        net,
        card: ref c,
        ref mut org_a,
        ref mut bob,
        ref mut files,
        ..
    } = *s;

    // -- purchase (bob seq 0) -----------------------------------------------------
    let recipient = recipient_public(RECIPIENT_SECRET);
    let purchase = bob.next(
        net,
        5,
        vec![contribute_id, enroll_bob_id],
        Payload::Purchase(Purchase {
            listing_id: contribute_id,
            recipient,
            max_price: 10,
        }),
    );
    let mut b = Builder::new(bob, purchase.clone());
    b.valid(
        "bob buys alice's card, to be sealed to the recipient key of card.json",
        purchase.clone(),
        None,
    );
    b.common();
    b.with("listing_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![enroll_bob_id]
    });
    b.with("deps in descending order", "invalid_deps", |b| {
        b.deps.sort();
        b.deps.reverse();
    });
    b.with("a dependency listed twice", "invalid_deps", |b| {
        b.deps = vec![contribute_id, contribute_id];
        b.deps.sort();
    });
    b.with(
        &format!("{} deps (limit {MAX_DEPS})", MAX_DEPS + 1),
        "invalid_deps",
        |b| {
            b.deps = (0..MAX_DEPS as u32)
                .map(|i| h(&format!("dep {i}")))
                .chain([contribute_id])
                .collect();
            b.deps.sort();
        },
    );
    {
        let mut body = purchase.clone();
        body.deps = (0..MAX_DEPS as u32 - 1)
            .map(|i| h(&format!("dep {i}")))
            .chain([contribute_id])
            .collect();
        body.deps.sort();
        b.valid(&format!("exactly {MAX_DEPS} deps"), body, None);
    }
    b.payload(
        "max_price u64::MAX (ten-byte varint)",
        None,
        Payload::Purchase(Purchase {
            listing_id: contribute_id,
            recipient,
            max_price: u64::MAX,
        }),
    );
    b.mangle(
        "max_price as an over-long varint (0x8a 0x00 for 10)",
        "non_canonical",
        |bytes| {
            // max_price is the last field: 10 = 0x0a.
            assert_eq!(bytes.last(), Some(&0x0a));
            bytes.pop();
            bytes.extend_from_slice(&[0x8a, 0x00]);
        },
    );
    bob.advance(&purchase);
    let purchase_id = bob.head.unwrap().id;
    files.insert(
        "purchase".into(),
        event_file("purchase", 4, "member", net, b.finish()),
    );

    // -- deliver (org_a seq 2) -----------------------------------------------------
    let (ephemeral, sealed) = seal_card(c, &recipient, EPHEMERAL_SECRET, &purchase_id).unwrap();
    let deliver_p = |sealed_card: Vec<u8>| {
        Payload::Deliver(Deliver {
            purchase_id,
            ephemeral,
            sealed_card,
        })
    };
    let deliver = org_a.next(net, 6, vec![purchase_id], deliver_p(sealed.clone()));
    let mut b = Builder::new(org_a, deliver.clone());
    b.valid(
        "org_a delivers the sealed card of card.json for bob's purchase",
        deliver.clone(),
        org_a.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload(
        "empty sealed card",
        Some("invalid_field"),
        deliver_p(vec![]),
    );
    b.payload(
        &format!(
            "sealed card of {} bytes (limit {MAX_SEALED_CARD_BYTES})",
            MAX_SEALED_CARD_BYTES + 1
        ),
        Some("invalid_field"),
        deliver_p(vec![0xab; MAX_SEALED_CARD_BYTES + 1]),
    );
    org_a.advance(&deliver);
    let deliver_id = org_a.head.unwrap().id;
    files.insert(
        "deliver".into(),
        event_file("deliver", 5, "org", net, b.finish()),
    );

    Sale {
        purchase_id,
        deliver_id,
        ephemeral,
        sealed,
    }
}
