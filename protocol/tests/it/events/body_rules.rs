//! Errors of the body, refused by `sign` and by `decode` alike: chain link, deps, text
//! rules, domains and field rules, each with its code.

use super::{base_body, enroll, good_listing, SEED};
use crate::common::*;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::text::TextError;
use carnet_protocol::*;

fn teaser_mut(l: &mut Listing) -> &mut Teaser {
    match &mut l.teaser {
        TeaserSlot::Shown { teaser, .. } => teaser,
        TeaserSlot::Erased { .. } => panic!("teaser erased"),
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
            0 => t.name = long_name.clone().into(),
            1 => t.title = " x".into(),
            2 => t.company = Default::default(),
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
