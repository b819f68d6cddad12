//! Errors of the wire form: size, structure, trailing bytes, canonical encoding and
//! the network, each with its code.

use super::{assert_rejected, assert_roundtrip, base_body, enroll, SEED};
use crate::common::*;
use carnet_protocol::encoding::{to_canonical, EncodingError};
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;

fn valid_bytes() -> Vec<u8> {
    SignedEvent::sign(base_body(enroll("ada")), &SecretKey::from_seed(SEED))
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn baseline_is_valid() {
    let bytes = valid_bytes();
    assert!(SignedEvent::decode(&bytes, &network()).is_ok());
    assert_eq!(forge(&base_body(enroll("ada")), SEED), bytes);
}

#[test]
fn error_too_large() {
    let mut bytes = valid_bytes();
    bytes.resize(MAX_EVENT_BYTES + 1, 0);
    let e = assert_rejected(&bytes);
    assert_eq!(
        e,
        EventError::Encoding(EncodingError::TooLarge {
            len: MAX_EVENT_BYTES + 1,
            limit: MAX_EVENT_BYTES
        })
    );
    assert_eq!(e.code(), "too_large");
    // The limit is checked first, before any parsing, even for garbage.
    let e = assert_rejected(&vec![0xff; MAX_EVENT_BYTES * 4]);
    assert_eq!(e.code(), "too_large");
    // Exactly at the limit the size is fine; what follows the signature is not.
    let mut bytes = valid_bytes();
    let len = bytes.len();
    bytes.resize(MAX_EVENT_BYTES, 0);
    let e = assert_rejected(&bytes);
    assert_eq!(
        e,
        EventError::Encoding(EncodingError::TrailingBytes(MAX_EVENT_BYTES - len))
    );
}

#[test]
fn largest_valid_event_is_far_below_the_limit() {
    // Every field at its maximum: the size limit only ever catches garbage.
    let payload = Payload::Deliver(Deliver {
        purchase_id: Hash32([0xff; 32]),
        ephemeral: [0xff; 32],
        sealed_card: vec![0xff; MAX_SEALED_CARD_BYTES],
    });
    let mut body = base_body(payload);
    body.seq = u64::MAX;
    body.prev = Some(Hash32([0xff; 32]));
    body.lamport = u64::MAX;
    body.timestamp_ms = u64::MAX;
    body.deps = (0..MAX_DEPS as u8 - 1).map(|i| Hash32([i; 32])).collect();
    body.deps.push(Hash32([0xff; 32]));
    let ev = SignedEvent::sign(body, &SecretKey::from_seed(SEED)).unwrap();
    assert!(
        ev.as_bytes().len() < MAX_EVENT_BYTES / 2,
        "{}",
        ev.as_bytes().len()
    );
    assert_roundtrip(&ev);
}

#[test]
fn error_malformed() {
    for bytes in [&[][..], &[0u8; 10][..], &network().0[..]] {
        let e = assert_rejected(bytes);
        assert!(
            matches!(e, EventError::Encoding(EncodingError::Malformed(_))),
            "{e:?}"
        );
        assert_eq!(e.code(), "malformed");
    }
    let body = base_body(enroll("ada"));
    let payload_at = to_canonical(&body).len() - to_canonical(&body.payload).len();
    // A payload discriminant past the last kind.
    let mut bytes = valid_bytes();
    bytes[payload_at] = KINDS.len() as u8;
    assert_eq!(assert_rejected(&bytes).code(), "malformed");
    // An Option tag that is neither 0 nor 1 (prev sits after network, author, seq).
    let mut bytes = valid_bytes();
    assert_eq!(bytes[65], 0, "prev is None");
    bytes[65] = 2;
    assert_eq!(assert_rejected(&bytes).code(), "malformed");
    // Invalid UTF-8 in the handle ("ada" ends the body).
    let mut bytes = valid_bytes();
    let end = bytes.len() - 64;
    bytes[end - 1] = 0xff;
    assert_eq!(assert_rejected(&bytes).code(), "malformed");
}

#[test]
fn error_missing_signature() {
    let bytes = valid_bytes();
    let body_len = bytes.len() - 64;
    for n in [body_len, body_len + 1, body_len + 63] {
        let e = assert_rejected(&bytes[..n]);
        assert_eq!(e, EventError::MissingSignature);
        assert_eq!(e.code(), "malformed");
    }
}

#[test]
fn error_trailing_bytes() {
    let mut bytes = valid_bytes();
    bytes.push(0);
    let e = assert_rejected(&bytes);
    assert_eq!(e, EventError::Encoding(EncodingError::TrailingBytes(1)));
    assert_eq!(e.code(), "trailing_bytes");
}

#[test]
fn error_non_canonical() {
    // seq = 0 is the varint 0x00 at offset 64; 0x80 0x00 is the same number, over-long.
    let bytes = valid_bytes();
    assert_eq!(bytes[64], 0);
    let mut long = bytes[..64].to_vec();
    long.extend_from_slice(&[0x80, 0x00]);
    long.extend_from_slice(&bytes[65..]);
    let e = assert_rejected(&long);
    assert_eq!(e, EventError::Encoding(EncodingError::NonCanonical));
    assert_eq!(e.code(), "non_canonical");
    // Same for a string length: "ada" has length byte 3 just before it.
    let end = bytes.len() - 64;
    assert_eq!(bytes[end - 4], 3);
    let mut long = bytes[..end - 4].to_vec();
    long.extend_from_slice(&[0x83, 0x00]);
    long.extend_from_slice(&bytes[end - 3..]);
    assert_eq!(assert_rejected(&long).code(), "non_canonical");
}

#[test]
fn error_wrong_network() {
    let mut body = base_body(enroll("ada"));
    let other = Hash32::of(b"another network");
    body.network = other;
    let ev = SignedEvent::sign(body.clone(), &SecretKey::from_seed(SEED)).unwrap();
    // Valid in its own network, refused in ours.
    assert!(SignedEvent::decode(ev.as_bytes(), &other).is_ok());
    let e = assert_rejected(ev.as_bytes());
    assert_eq!(
        e,
        EventError::WrongNetwork {
            expected: network(),
            got: other
        }
    );
    assert_eq!(e.code(), "wrong_network");
    // The network is checked before the structure and the signature.
    body.seq = 5;
    let mut bytes = forge(&body, SEED);
    let n = bytes.len();
    bytes[n - 1] ^= 1;
    assert_eq!(assert_rejected(&bytes).code(), "wrong_network");
}
