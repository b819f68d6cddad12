//! Any corruption of the wire bytes is rejected, never a panic.

use super::{assert_rejected, config};
use crate::common::*;
use carnet_protocol::encoding::{to_canonical, EncodingError};
use carnet_protocol::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

proptest! {
    #![proptest_config(config(256))]

    /// Changing any one byte, of the body or of the signature, makes decode fail.
    #[test]
    fn single_byte_change_is_rejected(ev in event(), at in any::<prop::sample::Index>(), mask in 1..=255u8) {
        let mut bytes = ev.as_bytes().to_vec();
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        let e = assert_rejected(&bytes);
        if i >= ev.body_bytes().len() {
            // Only the signature changed: the body is still fine.
            prop_assert_eq!(e, EventError::BadSignature);
        }
    }

    /// Every strict prefix of a valid event is rejected.
    #[test]
    fn truncation_is_rejected(ev in event()) {
        let bytes = ev.as_bytes();
        for n in 0..bytes.len() {
            let e = assert_rejected(&bytes[..n]);
            if n >= ev.body_bytes().len() {
                prop_assert_eq!(&e, &EventError::MissingSignature);
                prop_assert_eq!(e.code(), "malformed");
            }
        }
    }

    /// Anything appended to a valid event is rejected.
    #[test]
    fn extension_is_rejected(ev in event(), extra in prop::collection::vec(any::<u8>(), 1..100)) {
        let mut bytes = ev.as_bytes().to_vec();
        bytes.extend_from_slice(&extra);
        let e = assert_rejected(&bytes);
        prop_assert_eq!(e, EventError::Encoding(EncodingError::TrailingBytes(extra.len())));
    }

    /// Arbitrary bytes never panic the decoder (whatever they decode to).
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = SignedEvent::decode(&bytes, &network());
        let _ = SignedEvent::decode_unverified(&bytes, &network());
    }

    /// Random bytes after a valid network id and author reach the later fields.
    #[test]
    fn random_tail_never_panics(
        seed in any::<[u8; 32]>(),
        tail in prop::collection::vec(any::<u8>(), 0..1024),
    ) {
        let mut bytes = network().0.to_vec();
        bytes.extend_from_slice(&SecretKey::from_seed(seed).public().0);
        bytes.extend_from_slice(&tail);
        if let Ok(ev) = SignedEvent::decode_unverified(&bytes, &network()) {
            prop_assert_eq!(ev.as_bytes(), &bytes[..]);
            prop_assert_eq!(ev.body_bytes(), &to_canonical(ev.body())[..]);
        }
    }

    /// Several random edits of a valid event never panic; anything that still decodes
    /// is canonical.
    #[test]
    fn random_edits_never_panic(
        ev in event(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..8),
    ) {
        let mut bytes = ev.as_bytes().to_vec();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 if i < bytes.len() => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ if i < bytes.len() => { bytes.remove(i); }
                _ => {}
            }
        }
        if let Ok(d) = SignedEvent::decode_unverified(&bytes, &network()) {
            prop_assert_eq!(d.body_bytes(), &to_canonical(d.body())[..]);
        }
        if bytes != ev.as_bytes() {
            assert_rejected(&bytes);
        }
    }
}

/// Every position of one event of each kind, with three masks, exhaustively.
#[test]
fn every_single_byte_flip_is_rejected() {
    let mut runner = TestRunner::deterministic();
    for kind in 0..KINDS.len() {
        let ev = event_of_kind(kind).new_tree(&mut runner).unwrap().current();
        let mut bytes = ev.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for mask in [0x01, 0x80, 0xff] {
                bytes[i] ^= mask;
                assert_rejected(&bytes);
                bytes[i] ^= mask;
            }
        }
        assert_eq!(SignedEvent::decode(&bytes, &network()), Ok(ev));
    }
}
