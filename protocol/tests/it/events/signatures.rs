//! Author keys and signatures under the rules of docs/protocol.md, "Signature
//! verification", one event at a time and in batches: the cases a signing library
//! never makes (torsion components, an R of small order, non-canonical encodings)
//! are built from raw scalars (`common::crafted`), and a batch check must agree with
//! single checks on every mix of them.

use super::{assert_rejected, base_body, config, enroll, SEED};
use crate::common::crafted;
use crate::common::*;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::event::verify_batch;
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
/// equation for every message (cofactorless and cofactored alike); a key of small
/// order verifies nothing.
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

/// `body` (made by `name`'s Enroll) with `signer` as author, signed by `sign` over
/// its signing message.
fn crafted_event(
    signer: &crafted::Crafted,
    name: &str,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
) -> SignedEvent {
    let mut body = base_body(enroll(name));
    body.author = PublicKey(signer.key);
    let msg = carnet_protocol::event::signing_message(&body.content_id());
    let bytes = with_signature(&body, sign(&msg));
    SignedEvent::decode_unverified(&bytes, &network()).expect("structurally valid")
}

/// What the cofactorless rules of protocol 7 said (`verify_strict`), for the tests
/// that show what changed.
fn strict(ev: &SignedEvent) -> bool {
    let key = ed25519_dalek::VerifyingKey::from_bytes(&ev.author().0).expect("a point");
    let msg = carnet_protocol::event::signing_message(&ev.id());
    key.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(ev.signature()))
        .is_ok()
}

/// An R with a torsion component, and a key with one: the cofactored equation holds,
/// so the signature is valid, alone and in a batch; the cofactorless equation of the
/// strict rules did not hold (the torsion terms do not cancel).
#[test]
fn a_torsion_component_in_r_or_the_key_is_valid() {
    for t in 1..8 {
        for (name, signer, r_torsion) in [
            ("r", crafted::Crafted::new(0x21, 0), t),
            ("key", crafted::Crafted::new(0x22, t), 0),
        ] {
            let ev = crafted_event(&signer, "ada", |m| signer.sign(m, 0x31, r_torsion));
            assert_eq!(ev.verify_signature(), Ok(()), "{name} torsion {t}");
            assert!(crafted::verifies(
                &signer.key,
                &carnet_protocol::event::signing_message(&ev.id()),
                ev.signature()
            ));
            assert_eq!(
                verify_batch(std::slice::from_ref(&ev)),
                Ok(()),
                "{name} torsion {t}"
            );
            assert!(SignedEvent::decode(ev.as_bytes(), &network()).is_ok());
            if name == "r" {
                assert!(!strict(&ev), "the cofactorless rule refused it");
            }
        }
    }
}

/// R the identity (small order), encoded non-canonically (y = p + 1), S = k·a: valid
/// under the lenient decoding and the cofactored equation; the strict rules refused
/// both the encoding and the small order.
#[test]
fn an_identity_r_encoded_non_canonically_is_valid() {
    let signer = crafted::Crafted::new(0x23, 0);
    let ev = crafted_event(&signer, "ada", |m| signer.sign_identity_r(m));
    assert_eq!(ev.signature()[..32], crafted::IDENTITY_NON_CANONICAL);
    assert_eq!(ev.verify_signature(), Ok(()));
    assert_eq!(verify_batch(std::slice::from_ref(&ev)), Ok(()));
    assert!(!strict(&ev));
}

/// Every key of small order (the eight torsion points): under the cofactored equation
/// anyone can sign for it (S = r with R = [r]B + T works for every message), so no
/// signature verifies under it, alone or in a batch of valid events.
#[test]
fn every_small_order_key_is_refused() {
    let good = crafted::Crafted::new(0x24, 0);
    let good = crafted_event(&good, "bob", |m| good.sign(m, 0x32, 0));
    for t in 0..8 {
        // a = 0: the key is the torsion point itself.
        let signer = crafted::Crafted::new(0, t);
        let ev = crafted_event(&signer, "ada", |m| signer.sign(m, 0x33, t));
        assert!(!crafted::verifies(
            &signer.key,
            &carnet_protocol::event::signing_message(&ev.id()),
            ev.signature()
        ));
        assert_eq!(
            ev.verify_signature(),
            Err(EventError::BadSignature),
            "torsion {t}"
        );
        assert_eq!(
            verify_batch(&[good.clone(), ev.clone()]),
            Err(EventError::BadSignature),
            "torsion {t}"
        );
    }
}

/// One signature of a mix, by kind: the event and whether it is valid.
fn mixed(kind: u8, t: usize, r: u8, byte: usize, mask: u8) -> (SignedEvent, bool) {
    let name = format!("m{kind}{t}{r}");
    let honest = crafted::Crafted::new(0x40 | (r & 0x0f), 0);
    match kind % 8 {
        0 => (
            crafted_event(&honest, &name, |m| honest.sign(m, r, 0)),
            true,
        ),
        1 => (
            crafted_event(&honest, &name, |m| honest.sign(m, r, t)),
            true,
        ),
        2 => {
            let mixed = crafted::Crafted::new(0x50 | (r & 0x0f), t);
            (
                crafted_event(&mixed, &name, |m| mixed.sign(m, r, t + 3)),
                true,
            )
        }
        3 => (
            crafted_event(&honest, &name, |m| honest.sign_identity_r(m)),
            true,
        ),
        4 => {
            let weak = crafted::Crafted::new(0, t);
            (crafted_event(&weak, &name, |m| weak.sign(m, r, t)), false)
        }
        5 => {
            let ev = crafted_event(&honest, &name, |m| {
                let mut sig = honest.sign(m, r, t);
                sig[byte % 64] ^= mask.max(1);
                sig
            });
            // Flipping the sign bit of an R that is a torsion point of order 1 or 2
            // changes nothing; otherwise it is a forgery. The raw check decides.
            let msg = carnet_protocol::event::signing_message(&ev.id());
            let valid = crafted::verifies(&honest.key, &msg, ev.signature());
            (ev, valid)
        }
        6 => {
            let ev = crafted_event(&honest, &name, |m| {
                let mut sig = honest.sign(m, r, t);
                add_group_order(&mut sig[32..]);
                sig
            });
            (ev, false)
        }
        _ => {
            let mut body = base_body(enroll(&name));
            body.author = not_a_point();
            let bytes = with_signature(&body, honest.sign(b"", r, t));
            (
                SignedEvent::decode_unverified(&bytes, &network()).unwrap(),
                false,
            )
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// A batch check accepts a mix of crafted signatures exactly when every single
    /// check does, and each single check agrees with the rules written from the raw
    /// primitives: nodes that batch differently never disagree on an event.
    #[test]
    fn a_batch_agrees_with_single_checks_on_crafted_signatures(
        items in prop::collection::vec(
            (0..8u8, 0..8usize, any::<u8>(), 0..64usize, any::<u8>()),
            1..10,
        ),
        valid_only in any::<bool>(),
    ) {
        let mut events = Vec::new();
        for (kind, t, r, byte, mask) in items {
            let (ev, valid) = mixed(kind, t, r, byte, mask);
            if valid_only && !valid {
                continue;
            }
            let single = ev.verify_signature();
            prop_assert_eq!(single.is_ok(), valid, "kind {}", kind);
            if kind % 8 != 7 {
                let msg = carnet_protocol::event::signing_message(&ev.id());
                prop_assert_eq!(crafted::verifies(&ev.author().0, &msg, ev.signature()), valid);
            }
            events.push(ev);
        }
        let all = events.iter().all(|e| e.verify_signature().is_ok());
        let batch = verify_batch(&events);
        prop_assert_eq!(batch.is_ok(), all);
        let no_key = events.iter().any(|e| e.verify_signature() == Err(EventError::BadAuthorKey));
        if no_key {
            prop_assert_eq!(batch, Err(EventError::BadAuthorKey));
        }
        // The same events in another order and split in two batches: same verdict.
        events.reverse();
        let (a, b) = events.split_at(events.len() / 2);
        prop_assert_eq!(verify_batch(a).is_ok() && verify_batch(b).is_ok(), all);
    }
}
