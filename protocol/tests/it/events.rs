//! Robustness of signed events: every valid event of every kind survives
//! sign → encode → decode unchanged; any corruption of the wire bytes is rejected
//! (never a panic); and every `EventError` variant is reachable with its documented code.
//!
//! roundtrip.rs and corruption.rs hold the first two; erasure.rs the erased teaser;
//! decoding.rs, body_rules.rs and signatures.rs the errors found decoding the wire
//! form, checking the body and verifying signatures (batch verification included).
//! The helpers they share, and the table of every variant's code, are here.

mod body_rules;
mod corruption;
mod decoding;
mod erasure;
mod roundtrip;
mod signatures;

use crate::common;

use carnet_protocol::encoding::{to_canonical, EncodingError};
use carnet_protocol::payload::*;
use carnet_protocol::text::TextError;
use carnet_protocol::*;
use common::*;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Decoding `bytes` must fail, and in the same way with and without the signature check
/// when it fails before the signature.
fn assert_rejected(bytes: &[u8]) -> EventError {
    match SignedEvent::decode(bytes, &network()) {
        Ok(ev) => panic!("corrupt bytes decoded to {ev:?}"),
        Err(e) => e,
    }
}

fn assert_roundtrip(ev: &SignedEvent) {
    let net = network();
    let decoded = SignedEvent::decode(ev.as_bytes(), &net).expect("valid event decodes");
    assert_eq!(&decoded, ev);
    assert_eq!(decoded.id(), ev.id());
    assert_eq!(decoded.id(), decoded.body().content_id());
    match decoded.body().erased() {
        Some(erased) => assert_eq!(decoded.id(), Hash32::of(&to_canonical(&erased))),
        None => assert_eq!(decoded.id(), Hash32::of(decoded.body_bytes())),
    }
    // Its erased form, if it has a teaser, is the same event.
    if let Some(erased) = ev.erased() {
        let d = SignedEvent::decode(erased.as_bytes(), &net).expect("erased form decodes");
        assert_eq!(d.id(), ev.id());
        assert_eq!(d, erased);
    }
    assert_eq!(decoded.body_bytes(), &to_canonical(ev.body())[..]);
    assert_eq!(decoded.as_bytes().len(), decoded.body_bytes().len() + 64);
    assert_eq!(
        &decoded.as_bytes()[decoded.body_bytes().len()..],
        ev.signature()
    );
    let unverified = SignedEvent::decode_unverified(ev.as_bytes(), &net).unwrap();
    assert_eq!(&unverified, ev);
    assert_eq!(unverified.verify_signature(), Ok(()));
}

const SEED: [u8; 32] = [0x33; 32];

fn base_body(payload: Payload) -> EventBody {
    let mut deps = payload.references().to_vec();
    deps.sort();
    EventBody {
        network: network(),
        author: SecretKey::from_seed(SEED).public(),
        seq: 0,
        prev: None,
        lamport: 1,
        deps,
        timestamp_ms: 1_700_000_000_000,
        payload,
    }
}

fn enroll(handle: &str) -> Payload {
    Payload::Enroll(Enroll {
        member: PublicKey([7; 32]),
        handle: handle.into(),
    })
}

fn good_listing() -> Listing {
    Listing {
        teaser: TeaserSlot::Shown {
            salt: [9; 32],
            teaser: Box::new(Teaser {
                name: "Ada Lovelace".into(),
                title: "Analyst".into(),
                company: "Engines Ltd".into(),
                company_domain: "engines.example".into(),
                city: "London".into(),
                availability: Availability {
                    email: true,
                    postal: false,
                    phone: true,
                },
            }),
        },
        email_commitment: Hash32([1; 32]),
        phone_commitment: Some(Hash32([2; 32])),
        dedup_key: Hash32([3; 32]),
    }
}

#[test]
fn every_variant_has_its_code() {
    // The table of EventError::code(), variant by variant, as documented.
    let table: Vec<(EventError, &str)> = vec![
        (
            EncodingError::TooLarge { len: 1, limit: 0 }.into(),
            "too_large",
        ),
        (EncodingError::Malformed("x".into()).into(), "malformed"),
        (EncodingError::TrailingBytes(1).into(), "trailing_bytes"),
        (EncodingError::NonCanonical.into(), "non_canonical"),
        (EventError::MissingSignature, "malformed"),
        (
            EventError::WrongNetwork {
                expected: Hash32::ZERO,
                got: Hash32::ZERO,
            },
            "wrong_network",
        ),
        (TextError::Empty { field: "f" }.into(), "invalid_field"),
        (EventError::Field("f"), "invalid_field"),
        (
            EventError::ChainLink {
                seq: 0,
                has_prev: true,
            },
            "chain_link",
        ),
        (EventError::TooManyDeps(33), "invalid_deps"),
        (EventError::DepsNotSorted, "invalid_deps"),
        (EventError::MissingDep(Hash32::ZERO), "invalid_deps"),
        (EventError::BadAuthorKey, "bad_author_key"),
        (EventError::BadSignature, "bad_signature"),
    ];
    for (e, code) in table {
        assert_eq!(e.code(), code, "{e:?}");
        assert!(!e.to_string().is_empty());
    }
}
