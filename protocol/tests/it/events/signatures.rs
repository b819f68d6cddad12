//! Author keys and signatures under the strict rules, one event at a time and in
//! batches.

use super::{assert_rejected, base_body, config, enroll, SEED};
use crate::common::*;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::event::{batch_check_stored, verify_batch};
use carnet_protocol::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

/// 32 bytes that are not the encoding of a curve point.
fn not_a_point() -> PublicKey {
    (0..=255u8)
        .map(|b| PublicKey([b; 32]))
        .find(|k| k.verifying_key().is_none())
        .expect("about half of all encodings are not points")
}

#[test]
fn error_bad_author_key() {
    let mut body = base_body(enroll("ada"));
    body.author = not_a_point();
    let bytes = with_signature(&body, [0; 64]);
    // Structurally fine: only the signature check finds it.
    let ev = SignedEvent::decode_unverified(&bytes, &network()).unwrap();
    assert_eq!(ev.verify_signature(), Err(EventError::BadAuthorKey));
    let e = assert_rejected(&bytes);
    assert_eq!(e, EventError::BadAuthorKey);
    assert_eq!(e.code(), "bad_author_key");
}

#[test]
fn error_bad_signature() {
    let body = base_body(enroll("ada"));
    // Signed by another key.
    let bytes = forge(&body, [0x44; 32]);
    let e = assert_rejected(&bytes);
    assert_eq!(e, EventError::BadSignature);
    assert_eq!(e.code(), "bad_signature");
    // All zeros.
    assert_eq!(
        assert_rejected(&with_signature(&body, [0; 64])),
        EventError::BadSignature
    );
    // A signature over the body bytes themselves, without the domain string.
    let sig = ed25519_dalek::Signer::sign(
        &ed25519_dalek::SigningKey::from_bytes(&SEED),
        &to_canonical(&body),
    );
    assert_eq!(
        assert_rejected(&with_signature(&body, sig.to_bytes())),
        EventError::BadSignature
    );
    // Non-canonical S: S + L verifies under lax rules, never under the strict ones.
    let good = forge(&body, SEED);
    let mut sig: [u8; 64] = good[good.len() - 64..].try_into().unwrap();
    add_group_order(&mut sig[32..]);
    assert_eq!(
        assert_rejected(&with_signature(&body, sig)),
        EventError::BadSignature
    );
}

/// Adds the Ed25519 group order L to the little-endian scalar `s` (if it fits).
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = s[i] as u16 + L[i] as u16 + carry;
        s[i] = v as u8;
        carry = v >> 8;
    }
}

/// The identity point as author key with R = identity and S = 0 satisfies the
/// cofactorless equation [S]B = R + [k]A for every message. The strict rules refuse it.
#[test]
fn small_order_author_key_is_rejected() {
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut body = base_body(enroll("ada"));
    body.author = PublicKey(identity);
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&identity);
    let bytes = with_signature(&body, sig);
    let ev = SignedEvent::decode_unverified(&bytes, &network()).unwrap();
    assert_eq!(ev.verify_signature(), Err(EventError::BadSignature));
    assert_eq!(assert_rejected(&bytes), EventError::BadSignature);
    assert_eq!(verify_batch(&[ev]), Err(EventError::BadSignature));
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn verify_batch_agrees_on_valid_sets(events in prop::collection::vec(event(), 0..12)) {
        for ev in &events {
            prop_assert_eq!(ev.verify_signature(), Ok(()));
        }
        prop_assert_eq!(verify_batch(&events), Ok(()));
        prop_assert_eq!(batch_check_stored(&events), Ok(()));
    }

    #[test]
    fn verify_batch_fails_on_one_bad_signature(
        events in prop::collection::vec(event(), 1..12),
        which in any::<prop::sample::Index>(),
        byte in 0..64usize,
        mask in 1..=255u8,
    ) {
        let net = network();
        let bad = which.index(events.len());
        let mut events = events;
        let mut bytes = events[bad].as_bytes().to_vec();
        let n = bytes.len();
        bytes[n - 64 + byte] ^= mask;
        // The body is intact, so the unverified decode accepts it.
        events[bad] = SignedEvent::decode_unverified(&bytes, &net).unwrap();
        for (i, ev) in events.iter().enumerate() {
            prop_assert_eq!(ev.verify_signature().is_ok(), i != bad);
        }
        prop_assert_eq!(verify_batch(&events), Err(EventError::BadSignature));
        prop_assert_eq!(batch_check_stored(&events), Err(EventError::BadSignature));
    }
}

#[test]
fn verify_batch_reports_a_bad_author_key() {
    let mut runner = TestRunner::deterministic();
    let mut events: Vec<SignedEvent> = (0..3)
        .map(|_| event().new_tree(&mut runner).unwrap().current())
        .collect();
    let mut body = base_body(enroll("ada"));
    body.author = not_a_point();
    events
        .push(SignedEvent::decode_unverified(&with_signature(&body, [0; 64]), &network()).unwrap());
    assert_eq!(verify_batch(&events), Err(EventError::BadAuthorKey));
    assert_eq!(batch_check_stored(&events), Err(EventError::BadAuthorKey));
}

/// Keys kept between events (`AuthorKeys`) change no verdict: a mix of good events,
/// forgeries, undecodable and small-order keys, each author seen more than once,
/// gets with one shared cache what it gets event by event.
#[test]
fn author_keys_kept_between_events_change_no_result() {
    let good = forge(&base_body(enroll("ada")), SEED);
    let forged = forge(&base_body(enroll("bob")), [0x44; 32]);
    let mut body = base_body(enroll("cy"));
    body.author = not_a_point();
    let no_key = with_signature(&body, [0; 64]);
    let mut body = base_body(enroll("di"));
    body.author = PublicKey([0; 32]);
    let weak = with_signature(&body, [0; 64]);
    let mut keys = carnet_protocol::event::AuthorKeys::default();
    for bytes in [
        &good, &forged, &no_key, &weak, &good, &no_key, &forged, &weak,
    ] {
        assert_eq!(
            SignedEvent::decode_with(bytes, &network(), &mut keys),
            SignedEvent::decode(bytes, &network())
        );
    }
    assert!(SignedEvent::decode_with(&good, &network(), &mut keys).is_ok());
}
