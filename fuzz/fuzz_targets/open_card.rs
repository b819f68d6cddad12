//! A card as `open_card` decodes it after decryption: `from_canonical::<Card>` on
//! arbitrary bytes. Never panics; whatever decodes re-encodes to the same bytes; a card
//! that passes its checks has a listing it verifies against, and seals and opens back
//! to itself.
#![no_main]

use carnet_fuzz::{EPHEMERAL_SECRET, PURCHASE, RECIPIENT_SECRET};
use carnet_protocol::card::{
    normalise_email, open_card, recipient_public, seal_card, Card, NetworkSecret,
};
use carnet_protocol::encoding::{from_canonical, to_canonical};
use carnet_protocol::limits::MAX_SEALED_CARD_BYTES;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(card) = from_canonical::<Card>(data, MAX_SEALED_CARD_BYTES) else {
        return;
    };
    assert_eq!(
        to_canonical(&card),
        data,
        "decoded card does not re-encode to its bytes"
    );
    // Normalising is idempotent whenever it succeeds.
    if let Ok(e) = normalise_email(&card.email.value) {
        assert_eq!(
            normalise_email(&e).as_deref(),
            Ok(e.as_str()),
            "not idempotent"
        );
    }
    let recipient = recipient_public(RECIPIENT_SECRET);
    if card.check().is_err() {
        assert!(seal_card(&card, &recipient, EPHEMERAL_SECRET, &PURCHASE).is_err());
        return;
    }
    let listing = card
        .listing(&NetworkSecret([0x4b; 32]))
        .expect("a valid card has a listing");
    card.verify_against(&listing)
        .expect("a card matches its own listing");
    let (ephemeral, sealed) =
        seal_card(&card, &recipient, EPHEMERAL_SECRET, &PURCHASE).expect("a valid card seals");
    let opened = open_card(&sealed, &ephemeral, RECIPIENT_SECRET, &PURCHASE).expect("opens");
    assert_eq!(opened, card);
});
