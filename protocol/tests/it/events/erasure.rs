//! An erased teaser leaves the same event, still verifiable.

use super::{base_body, good_listing};
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::payload::*;
use carnet_protocol::*;

/// Erasing a teaser keeps the event: the same content id, a signature that still
/// verifies, and none of the teaser's bytes left. Tampering with the hash that stands
/// in for it is caught like any other change to a signed body.
#[test]
fn an_erased_teaser_leaves_the_same_verifiable_event() {
    let key = SecretKey::from_seed([0x21; 32]);
    let mut body = base_body(Payload::Contribute(Contribute {
        listing: good_listing(),
    }));
    body.author = key.public();
    let shown = SignedEvent::sign(body, &key).unwrap();
    let erased = shown.erased().unwrap();
    assert_eq!(erased.id(), shown.id());
    assert!(erased.erased().is_none(), "erasing twice changes nothing");
    let net = shown.body().network;
    let decoded = SignedEvent::decode(erased.as_bytes(), &net).unwrap();
    assert_eq!(decoded.id(), shown.id());
    assert_eq!(decoded, erased);
    let bytes = erased.as_bytes();
    for needle in [
        &b"Ada Lovelace"[..],
        b"Engines Ltd",
        b"engines.example",
        b"London",
    ] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "erased event still holds {}",
            String::from_utf8_lossy(needle)
        );
        assert!(shown.as_bytes().windows(needle.len()).any(|w| w == needle));
    }
    // The teaser's hash is salted: the same teaser under another salt hashes apart.
    let Some(Payload::Contribute(c)) = Some(erased.payload()) else {
        panic!("not a contribute");
    };
    let teaser = good_listing().teaser.shown().cloned().unwrap();
    assert_eq!(c.listing.teaser.hash(), teaser_hash(&teaser, &[9; 32]));
    assert_ne!(c.listing.teaser.hash(), teaser_hash(&teaser, &[0; 32]));
    // A forged stand-in changes the id, so the signature no longer covers it.
    let mut forged = erased.body().clone();
    if let Payload::Contribute(c) = &mut forged.payload {
        c.listing.teaser = TeaserSlot::Erased {
            hash: Hash32([0xee; 32]),
        };
    }
    let mut bytes = to_canonical(&forged);
    bytes.extend_from_slice(erased.signature());
    let e = SignedEvent::decode(&bytes, &net).unwrap_err();
    assert_eq!(e.code(), "bad_signature");
}
