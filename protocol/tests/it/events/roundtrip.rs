//! Every valid event of every kind survives sign → encode → decode unchanged.

use super::{assert_roundtrip, config};
use crate::common::*;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sign_encode_decode_roundtrip(ev in event()) {
        assert_roundtrip(&ev);
    }

    /// An event whose wire bytes were shed (a ledger holds only what it folds) is the
    /// same event: equal, and its bytes encoded again are the bytes it was decoded from.
    #[test]
    fn an_event_without_its_wire_bytes_gives_them_back(ev in event()) {
        let net = network();
        let mut held = SignedEvent::decode(ev.as_bytes(), &net).unwrap();
        let other = held.clone();
        prop_assert!(!held.shed_bytes(), "shed while another handle holds it");
        drop(other);
        prop_assert!(held.shed_bytes());
        prop_assert!(!held.has_wire_bytes());
        prop_assert_eq!(&held, &ev);
        prop_assert_eq!(&held.wire()[..], ev.as_bytes());
        prop_assert!(!held.has_wire_bytes(), "wire() keeps nothing");
        prop_assert_eq!(held.erased(), ev.erased());
        prop_assert_eq!(held.body_bytes(), ev.body_bytes());
        prop_assert_eq!(held.as_bytes(), ev.as_bytes());
        prop_assert!(held.has_wire_bytes(), "as_bytes() keeps them again");
    }

    /// Signing is deterministic: the same body and key give the same bytes and id.
    #[test]
    fn signing_is_deterministic((body, seed) in body_for(payload())) {
        let key = SecretKey::from_seed(seed);
        let a = SignedEvent::sign(body.clone(), &key).unwrap();
        let b = SignedEvent::sign(body.clone(), &key).unwrap();
        prop_assert_eq!(a.as_bytes(), b.as_bytes());
        prop_assert_eq!(a.id(), body.content_id());
        prop_assert_eq!(a.as_bytes(), &forge(&body, seed)[..]);
    }
}

#[test]
fn every_kind_roundtrips() {
    let mut seen = Vec::new();
    for (kind, name) in KINDS.iter().enumerate() {
        let mut runner = TestRunner::new(Config {
            cases: 32,
            ..Config::default()
        });
        runner
            .run(&event_of_kind(kind), |ev| {
                prop_assert_eq!(ev.payload().kind(), *name);
                // The wire discriminant is the kind's index in KINDS.
                let payload_bytes = to_canonical(ev.payload());
                prop_assert_eq!(payload_bytes[0] as usize, kind);
                assert_roundtrip(&ev);
                Ok(())
            })
            .unwrap_or_else(|e| panic!("kind {name}: {e}"));
        seen.push(*name);
    }
    assert_eq!(seen.len(), KINDS.len());
}

#[test]
fn strategies_only_make_valid_payloads() {
    let mut runner = TestRunner::deterministic();
    for kind in 0..KINDS.len() {
        for _ in 0..64 {
            let p = payload_of_kind(kind)
                .new_tree(&mut runner)
                .unwrap()
                .current();
            assert_eq!(p.check(), Ok(()), "{p:?}");
        }
    }
}
