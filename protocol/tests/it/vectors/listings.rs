//! contribute.json and update.json: alice contributes the card of card.json (alice seq
//! 0), then updates its title (alice seq 1).

use super::{event_file, h, header_len, listing, teaser_with, Builder, Story};
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;

/// Returns the Contribute event's content id, which later events name.
pub(super) fn generate(s: &mut Story, enroll_alice_id: ContentId) -> ContentId {
    let Story {
        net,
        card: ref c,
        listing: ref l,
        ref mut alice,
        ref mut files,
        ..
    } = *s;

    // -- contribute (alice seq 0) -----------------------------------------------
    let contribute = alice.next(
        net,
        3,
        vec![enroll_alice_id],
        Payload::Contribute(Contribute { listing: l.clone() }),
    );
    let mut b = Builder::new(alice, contribute.clone());
    b.valid(
        "alice contributes the card of card.json",
        contribute.clone(),
        None,
    );
    b.valid(
        "the same contribute with its teaser erased (an opt-out): same content id, same signature",
        contribute.erased().unwrap(),
        None,
    );
    b.common();
    let contrib = |l: Listing| Payload::Contribute(Contribute { listing: l });
    b.payload(
        "no phone, no postal address, empty city",
        None,
        contrib({
            let mut l = teaser_with(|t| {
                t.availability.phone = false;
                t.availability.postal = false;
                t.city = "".into();
            });
            l.phone_commitment = None;
            l
        }),
    );
    b.payload(
        "name of 129 bytes (limit 128)",
        Some("invalid_field"),
        contrib(teaser_with(|t| {
            t.name = "n".repeat(MAX_NAME_BYTES + 1).into()
        })),
    );
    b.payload(
        "empty title",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.title = "".into())),
    );
    b.payload(
        "company with a trailing newline",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company = "Bücher\n".into())),
    );
    b.payload(
        "name with a zero-width space (U+200B, an invisible formatting character)",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.name = "Jane\u{200B} Doe".into())),
    );
    b.payload(
        "name with a right-to-left override (U+202E)",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.name = "Jane \u{202E}eoD".into())),
    );
    b.payload(
        "name with a zero-width non-joiner (U+200C, allowed: Persian needs it)",
        None,
        contrib(teaser_with(|t| t.name = "Mi\u{200C}na Doe".into())),
    );
    b.payload(
        "company domain of a free mail provider",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "gmail.com".into())),
    );
    b.payload(
        "company domain under a free mail provider's",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "mail.yahoo.com".into())),
    );
    b.payload(
        "company domain with an uppercase letter",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "Example.com".into())),
    );
    b.payload(
        "company domain of one label",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "localhost".into())),
    );
    b.payload(
        "company domain in Unicode (must be IDNA A-labels)",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "bücher.example".into())),
    );
    b.payload(
        "company domain with a label ending in '-'",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "bad-.example".into())),
    );
    b.payload(
        "availability without email",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.availability.email = false)),
    );
    b.payload(
        "teaser offers a phone but no phone commitment",
        Some("invalid_field"),
        contrib({
            let mut l = listing(c);
            l.phone_commitment = None;
            l
        }),
    );
    b.mangle(
        "availability.email is the byte 0x02, not a bool",
        "malformed",
        |bytes| {
            let t = &contribute_teaser(&contribute);
            // Payload tag, then the teaser slot's tag (0: shown), then the teaser.
            let at = header_len(&contribute)
                + 2
                + to_canonical(&(&t.name, &t.title, &t.company, &t.company_domain, &t.city)).len();
            assert_eq!(bytes[at], 1);
            bytes[at] = 2;
        },
    );
    alice.advance(&contribute);
    let contribute_id = alice.head.unwrap().id;
    files.insert(
        "contribute".into(),
        event_file("contribute", 2, "member", net, b.finish()),
    );

    // -- update (alice seq 1) -------------------------------------------------------
    let new_listing = teaser_with(|t| t.title = "Chief Analyst".into());
    let update = alice.next(
        net,
        4,
        vec![contribute_id],
        Payload::Update(Update {
            listing_id: contribute_id,
            listing: new_listing.clone(),
        }),
    );
    let mut b = Builder::new(alice, update.clone());
    b.valid(
        "alice updates her listing's title; listing_id is among the deps",
        update.clone(),
        alice.head,
    );
    b.common();
    b.with("listing_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![h("some other event")]
    });
    b.payload(
        "updated listing with an empty name",
        Some("invalid_field"),
        Payload::Update(Update {
            listing_id: contribute_id,
            listing: teaser_with(|t| t.name = "".into()),
        }),
    );
    alice.advance(&update);
    files.insert(
        "update".into(),
        event_file("update", 3, "member", net, b.finish()),
    );

    contribute_id
}

fn contribute_teaser(b: &EventBody) -> Teaser {
    match &b.payload {
        Payload::Contribute(c) => c.listing.teaser.shown().cloned().unwrap(),
        _ => unreachable!(),
    }
}
