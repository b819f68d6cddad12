//! Robustness of signed events: every valid event of every kind survives
//! sign → encode → decode unchanged; any corruption of the wire bytes is rejected
//! (never a panic); and every `EventError` variant is reachable with its documented code.

use crate::common;

use carnet_protocol::encoding::{to_canonical, EncodingError};
use carnet_protocol::event::{batch_check_stored, verify_batch};
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::text::TextError;
use carnet_protocol::*;
use common::*;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

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

// ---------------------------------------------------------------------------------
// Round trip
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn sign_encode_decode_roundtrip(ev in event()) {
        assert_roundtrip(&ev);
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

// ---------------------------------------------------------------------------------
// Corruption
// ---------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------
// Every EventError variant and its code
// ---------------------------------------------------------------------------------

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

fn teaser_mut(l: &mut Listing) -> &mut Teaser {
    match &mut l.teaser {
        TeaserSlot::Shown { teaser, .. } => teaser,
        TeaserSlot::Erased { .. } => panic!("teaser erased"),
    }
}

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

fn good_listing() -> Listing {
    Listing {
        teaser: TeaserSlot::Shown {
            salt: [9; 32],
            teaser: Teaser {
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
            },
        },
        email_commitment: Hash32([1; 32]),
        phone_commitment: Some(Hash32([2; 32])),
        dedup_key: Hash32([3; 32]),
    }
}

/// `body` is refused by `sign` and, signed anyway, by `decode`, both with `expected`.
fn assert_body_error(body: EventBody, expected: EventError, code: &str) {
    assert_eq!(expected.code(), code, "{expected:?}");
    assert_eq!(body.check(), Err(expected.clone()));
    assert_eq!(
        SignedEvent::sign(body.clone(), &SecretKey::from_seed(SEED)),
        Err(expected.clone())
    );
    assert_eq!(
        SignedEvent::decode(&forge(&body, SEED), &network()),
        Err(expected.clone())
    );
    assert_eq!(
        SignedEvent::decode_unverified(&forge(&body, SEED), &network()),
        Err(expected)
    );
}

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

#[test]
fn error_chain_link() {
    let mut body = base_body(enroll("ada"));
    body.prev = Some(Hash32([9; 32]));
    assert_body_error(
        body,
        EventError::ChainLink {
            seq: 0,
            has_prev: true,
        },
        "chain_link",
    );
    for seq in [1, 2, u64::MAX] {
        let mut body = base_body(enroll("ada"));
        body.seq = seq;
        assert_body_error(
            body,
            EventError::ChainLink {
                seq,
                has_prev: false,
            },
            "chain_link",
        );
        let mut body = base_body(enroll("ada"));
        body.seq = seq;
        body.prev = Some(Hash32([9; 32]));
        assert!(SignedEvent::sign(body, &SecretKey::from_seed(SEED)).is_ok());
    }
}

#[test]
fn error_deps() {
    // Too many.
    let mut body = base_body(enroll("ada"));
    body.deps = (0..=MAX_DEPS as u8).map(|i| Hash32([i; 32])).collect();
    assert_body_error(
        body.clone(),
        EventError::TooManyDeps(MAX_DEPS + 1),
        "invalid_deps",
    );
    body.deps.pop();
    assert!(body.check().is_ok(), "exactly MAX_DEPS is fine");
    // Not sorted; duplicated.
    let mut body = base_body(enroll("ada"));
    body.deps = vec![Hash32([2; 32]), Hash32([1; 32])];
    assert_body_error(body.clone(), EventError::DepsNotSorted, "invalid_deps");
    body.deps = vec![Hash32([1; 32]), Hash32([1; 32])];
    assert_body_error(body, EventError::DepsNotSorted, "invalid_deps");
    // Each kind that refers to an event must list it among its deps.
    let r = Hash32([5; 32]);
    let referring = [
        Payload::Update(Update {
            listing_id: r,
            listing: good_listing(),
        }),
        Payload::Purchase(Purchase {
            listing_id: r,
            recipient: [9; 32],
            max_price: 10,
        }),
        Payload::Deliver(Deliver {
            purchase_id: r,
            ephemeral: [9; 32],
            sealed_card: vec![1],
        }),
        Payload::BounceReport(BounceReport {
            purchase_id: r,
            evidence: Hash32([6; 32]),
            status: DsnStatus {
                class: 5,
                subject: 1,
                detail: 1,
            },
            voucher: Voucher([0; 64]),
        }),
        Payload::MobileReport(MobileReport {
            purchase_id: r,
            voucher: Voucher([0; 64]),
        }),
    ];
    for payload in referring {
        assert_eq!(payload.references(), &[r]);
        let mut body = base_body(payload);
        assert!(body.check().is_ok());
        body.deps = vec![Hash32([1; 32]), Hash32([7; 32])];
        assert_body_error(body, EventError::MissingDep(r), "invalid_deps");
    }
}

#[test]
fn error_text_rules() {
    let cases: Vec<(String, TextError)> = vec![
        ("".into(), TextError::Empty { field: "handle" }),
        ("a\u{7}b".into(), TextError::Control { field: "handle" }),
        ("a\nb".into(), TextError::Control { field: "handle" }),
        ("a\u{85}b".into(), TextError::Control { field: "handle" }),
        (" ada".into(), TextError::Padded { field: "handle" }),
        ("ada ".into(), TextError::Padded { field: "handle" }),
        ("ada\u{a0}".into(), TextError::Padded { field: "handle" }),
        ("\u{3000}ada".into(), TextError::Padded { field: "handle" }),
        (
            "a".repeat(MAX_HANDLE_BYTES + 1),
            TextError::TooLong {
                field: "handle",
                len: MAX_HANDLE_BYTES + 1,
                limit: MAX_HANDLE_BYTES,
            },
        ),
        // The limit counts bytes, not characters: 22 three-byte characters.
        (
            "日".repeat(22),
            TextError::TooLong {
                field: "handle",
                len: 66,
                limit: MAX_HANDLE_BYTES,
            },
        ),
    ];
    for (handle, err) in cases {
        assert_body_error(
            base_body(enroll(&handle)),
            EventError::Text(err),
            "invalid_field",
        );
    }
    // At the limit and with inner spaces is fine.
    assert!(base_body(enroll(&"a".repeat(MAX_HANDLE_BYTES)))
        .check()
        .is_ok());
    assert!(base_body(enroll("Ada  Lovelace")).check().is_ok());

    // Each text field of each kind is checked.
    let long_name = "n".repeat(MAX_NAME_BYTES + 1);
    let long_memo = "m".repeat(MAX_MEMO_BYTES + 1);
    let mut listings = Vec::new();
    for f in 0..5 {
        let mut l = good_listing();
        let t = teaser_mut(&mut l);
        match f {
            0 => t.name = long_name.clone(),
            1 => t.title = " x".into(),
            2 => t.company = String::new(),
            3 => t.city = "a\tb".into(),
            _ => t.company_domain = "Engines.example".into(),
        }
        listings.push(l);
    }
    let mut payloads: Vec<Payload> = listings
        .into_iter()
        .map(|listing| Payload::Contribute(Contribute { listing }))
        .collect();
    payloads.extend([
        Payload::Revoke(Revoke {
            member: PublicKey([1; 32]),
            reason: long_memo.clone(),
        }),
        Payload::Grant(Grant {
            member: PublicKey([1; 32]),
            points: 1,
            memo: "memo\r".into(),
        }),
        Payload::Admit(Admit {
            org: PublicKey([1; 32]),
            name: String::new(),
        }),
        Payload::Vote(Vote {
            company_domain: "localhost".into(),
            employees: EmployeeRange::Over10000,
            revenue: RevenueRange::Over1B,
        }),
    ]);
    for payload in payloads {
        let body = base_body(payload);
        let e = body.check().unwrap_err();
        assert!(matches!(e, EventError::Text(_)), "{e:?}");
        assert_body_error(body, e, "invalid_field");
    }
}

#[test]
fn error_domain_rules() {
    for bad in [
        "example",
        "Example.com",
        "a..b",
        ".a.b",
        "a.b.",
        "-a.b",
        "a-.b",
        "a_b.com",
        "bücher.example",
        &format!("{}.com", "a".repeat(64)),
        &format!("{}.com", vec!["a".repeat(63); 4].join(".")),
    ] {
        let body = base_body(Payload::Vote(Vote {
            company_domain: bad.into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }));
        let e = body.check().unwrap_err();
        assert!(
            matches!(
                e,
                EventError::Text(TextError::Domain { .. } | TextError::TooLong { .. })
            ),
            "{bad}: {e:?}"
        );
        assert_eq!(e.code(), "invalid_field");
    }
    for good in [
        "a.b",
        "xn--bcher-kva.example",
        "a-b.c0",
        &format!("{}.com", "a".repeat(63)),
    ] {
        let body = base_body(Payload::Vote(Vote {
            company_domain: good.into(),
            employees: EmployeeRange::From1To10,
            revenue: RevenueRange::Under1M,
        }));
        assert_eq!(body.check(), Ok(()), "{good}");
    }
}

#[test]
fn error_field() {
    let mut cases = Vec::new();
    // Sealed card empty or over the limit (the oversize payload of the protocol).
    for len in [0, MAX_SEALED_CARD_BYTES + 1] {
        cases.push(Payload::Deliver(Deliver {
            purchase_id: Hash32([5; 32]),
            ephemeral: [9; 32],
            sealed_card: vec![0; len],
        }));
    }
    // Not an RFC 3463 status.
    for (class, subject, detail) in [
        (1, 0, 0),
        (3, 0, 0),
        (6, 0, 0),
        (0, 0, 0),
        (5, 1000, 0),
        (5, 0, 1000),
    ] {
        cases.push(Payload::BounceReport(BounceReport {
            purchase_id: Hash32([5; 32]),
            evidence: Hash32([6; 32]),
            status: DsnStatus {
                class,
                subject,
                detail,
            },
            voucher: Voucher([0; 64]),
        }));
    }
    // Points out of range.
    for points in [0, MAX_POINTS + 1, u64::MAX] {
        cases.push(Payload::Grant(Grant {
            member: PublicKey([1; 32]),
            points,
            memo: String::new(),
        }));
        cases.push(Payload::Transfer(Transfer {
            to: PublicKey([1; 32]),
            points,
        }));
    }
    // A listing without email, or with a phone commitment the teaser does not offer.
    let mut l = good_listing();
    teaser_mut(&mut l).availability.email = false;
    cases.push(Payload::Contribute(Contribute { listing: l }));
    let mut l = good_listing();
    l.phone_commitment = None;
    cases.push(Payload::Contribute(Contribute { listing: l }));
    let mut l = good_listing();
    teaser_mut(&mut l).availability.phone = false;
    cases.push(Payload::Update(Update {
        listing_id: Hash32([5; 32]),
        listing: l,
    }));
    for payload in cases {
        let body = base_body(payload);
        let e = body.check().unwrap_err();
        assert!(matches!(e, EventError::Field(_)), "{e:?}");
        assert_body_error(body, e, "invalid_field");
    }
    // Signing with a key that is not the author's.
    let e =
        SignedEvent::sign(base_body(enroll("ada")), &SecretKey::from_seed([0x44; 32])).unwrap_err();
    assert!(matches!(e, EventError::Field(_)), "{e:?}");
    assert_eq!(e.code(), "invalid_field");
}

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

// ---------------------------------------------------------------------------------
// Batch verification
// ---------------------------------------------------------------------------------

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
