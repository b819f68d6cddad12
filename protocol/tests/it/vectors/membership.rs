//! enroll.json and revoke.json: org_a enrolls alice and bob (org_a seq 0 and 1), then
//! org_b revokes bob (org_b seq 0). The encoding and signature edge cases every kind
//! shares beyond `Builder::common` are here, on the first event of the story.

use super::{event_file, h, header_len, sign_bytes, Builder, Chain, Story, Vector};
use crate::common::crafted::Crafted;
use carnet_protocol::encoding::to_canonical;
use carnet_protocol::event::signing_message;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;

/// The two Enroll events' content ids, which later events name.
pub(super) struct Enrolled {
    pub(super) alice: ContentId,
    pub(super) bob: ContentId,
}

pub(super) fn generate(s: &mut Story) -> Enrolled {
    let Story {
        net,
        ref mut org_a,
        ref mut org_b,
        ref alice,
        ref bob,
        ref carol,
        ref mut files,
        ..
    } = *s;

    // -- enroll (org_a seq 0 and 1) -------------------------------------------------
    let enroll_alice = org_a.next(
        net,
        1,
        vec![],
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "alice".into(),
        }),
    );
    let mut b = Builder::new(org_a, enroll_alice.clone());
    b.valid(
        "org_a enrolls alice: the first event of org_a's chain",
        enroll_alice.clone(),
        None,
    );
    b.common();
    b.payload(
        "empty handle",
        Some("invalid_field"),
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "".into(),
        }),
    );
    b.payload(
        "handle of 65 bytes (limit 64)",
        Some("invalid_field"),
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "a".repeat(MAX_HANDLE_BYTES + 1),
        }),
    );
    b.payload(
        "handle of exactly 64 bytes, 2-byte UTF-8 characters",
        None,
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "é".repeat(MAX_HANDLE_BYTES / 2),
        }),
    );
    b.payload(
        "handle with a trailing space",
        Some("invalid_field"),
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "alice ".into(),
        }),
    );
    b.payload(
        "handle with a control character (U+0007)",
        Some("invalid_field"),
        Payload::Enroll(Enroll {
            member: alice.key.public(),
            handle: "al\u{7}ice".into(),
        }),
    );
    b.with("seq 0 with a prev", "chain_link", |b| {
        b.prev = Some(h("anything"))
    });
    b.with("seq 1 without a prev", "chain_link", |b| b.seq = 1);
    b.mangle(
        "prev Option tag 0x02 (only 0x00 and 0x01 exist)",
        "malformed",
        |b| b[65] = 0x02,
    );
    b.mangle(
        "payload variant index 18 (the last is 17)",
        "malformed",
        |b| {
            let at = header_len(&enroll_alice);
            b[at] = 18;
        },
    );
    b.mangle(
        "payload variant index 0 as the over-long varint 0x80 0x00",
        "non_canonical",
        |b| {
            let at = header_len(&enroll_alice);
            b.splice(at..at + 1, [0x80, 0x00]);
        },
    );
    b.mangle("handle is not UTF-8 (last byte 0xff)", "malformed", |b| {
        *b.last_mut().unwrap() = 0xff
    });
    b.mangle("body cut short by one byte", "malformed", |b| {
        b.pop();
    });
    b.raw("ten zero bytes", "malformed", vec![0; 10]);
    b.wire(
        "S replaced by S + L (the group order): same point equation, non-canonical S",
        "bad_signature",
        |_, s, _| add_group_order(&mut s[32..]),
    );
    b.wire(
        &format!(
            "event of {} bytes, one over the limit of {MAX_EVENT_BYTES} (zero bytes appended)",
            MAX_EVENT_BYTES + 1
        ),
        "too_large",
        |b, s, t| t.resize(MAX_EVENT_BYTES + 1 - b.len() - s.len(), 0),
    );
    {
        // Author key that is not a curve point.
        let bad = bad_point();
        let mut body = enroll_alice.clone();
        body.author = PublicKey(bad);
        let bytes = to_canonical(&body);
        let signature = sign_bytes(&org_a.key, &bytes);
        b.vectors.push(Vector {
            description: "author key is not the encoding of a curve point".into(),
            public_key: bad,
            body: Some(body),
            bytes,
            signature,
            trailing: vec![],
            chain_head: None,
            error: Some("bad_author_key"),
        });
        // Small-order author key: the identity. With R = B and S = 1 the equation
        // [S]B = R + [k]A holds for every message; a key of small order verifies nothing.
        let identity = {
            let mut a = [0u8; 32];
            a[0] = 1;
            a
        };
        let mut body = enroll_alice.clone();
        body.author = PublicKey(identity);
        let bytes = to_canonical(&body);
        // The compressed base point B.
        let mut signature = vec![0x66u8; 32];
        signature[0] = 0x58;
        let mut one = [0u8; 32];
        one[0] = 1;
        signature.extend_from_slice(&one);
        b.vectors.push(Vector {
            description: "author key of small order (the identity point), R = B, S = 1: \
                          passes the equation for every message, refused as a key of \
                          small order"
                .into(),
            public_key: identity,
            body: Some(body),
            bytes,
            signature,
            trailing: vec![],
            chain_head: None,
            error: Some("bad_signature"),
        });
        // Signatures no signing library makes, valid under the cofactored equation
        // (docs/protocol.md, "Signature verification"): org_a's own enrolment of
        // alice, the same body and id, signed from org_a's raw scalar.
        let signer = Crafted::from_seed([0x11; 32], 0);
        assert_eq!(PublicKey(signer.key), org_a.key.public());
        let msg = signing_message(&enroll_alice.content_id());
        for (description, signature) in [
            (
                "R = [r]B + T, T a torsion point of order 8, S = r + k·a: valid (the \
                 cofactored equation ignores T); the same event as the first vector \
                 (same body, same content id), in another form",
                signer.sign(&msg, 0x77, 1),
            ),
            (
                "R the identity encoded non-canonically (y = p + 1), S = k·a: valid \
                 (lenient decoding; an R of small order is allowed); same content id as \
                 the first vector",
                signer.sign_identity_r(&msg),
            ),
        ] {
            b.vectors.push(Vector {
                description: description.into(),
                public_key: signer.key,
                body: Some(enroll_alice.clone()),
                bytes: to_canonical(&enroll_alice),
                signature: signature.to_vec(),
                trailing: vec![],
                chain_head: None,
                error: None,
            });
        }
        // A key with a torsion component: not of small order, so it signs.
        let mixed = Crafted::from_seed([0x11; 32], 4);
        let mut body = enroll_alice.clone();
        body.author = PublicKey(mixed.key);
        let signature = mixed.sign(&signing_message(&body.content_id()), 0x78, 0);
        b.vectors.push(Vector {
            description: "author key [a]B + T, T the torsion point of order 2 (org_a's \
                          scalar), R = [r]B, S = r + k·a: valid (the cofactored equation \
                          ignores [k]T)"
                .into(),
            public_key: mixed.key,
            bytes: to_canonical(&body),
            body: Some(body),
            signature: signature.to_vec(),
            trailing: vec![],
            chain_head: None,
            error: None,
        });
    }
    org_a.advance(&enroll_alice);
    let enroll_alice_id = org_a.head.unwrap().id;
    let enroll_bob = org_a.next(
        net,
        2,
        vec![enroll_alice_id],
        Payload::Enroll(Enroll {
            member: bob.key.public(),
            handle: "bob".into(),
        }),
    );
    b.valid(
        "org_a enrolls bob: seq 1 extends the chain head (seq 0)",
        enroll_bob.clone(),
        org_a.head,
    );
    b.body(
        "a second, different event at seq 0 when the head is seq 0",
        Chain::new("org_a").next(
            net,
            1,
            vec![],
            Payload::Enroll(Enroll {
                member: carol.key.public(),
                handle: "carol".into(),
            }),
        ),
        org_a.head,
        Some("equivocation"),
    );
    org_a.advance(&enroll_bob);
    let enroll_bob_id = org_a.head.unwrap().id;
    files.insert(
        "enroll".to_string(),
        event_file("enroll", 0, "org", net, b.finish()),
    );

    // -- revoke (org_b seq 0) -----------------------------------------------------
    let revoke = org_b.next(
        net,
        3,
        vec![enroll_bob_id],
        Payload::Revoke(Revoke {
            member: bob.key.public(),
            reason: "left the company".into(),
        }),
    );
    let mut b = Builder::new(org_b, revoke.clone());
    b.valid("org_b revokes bob", revoke.clone(), None);
    b.common();
    b.payload(
        "empty reason is allowed",
        None,
        Payload::Revoke(Revoke {
            member: bob.key.public(),
            reason: "".into(),
        }),
    );
    b.payload(
        "reason of 257 bytes (limit 256)",
        Some("invalid_field"),
        Payload::Revoke(Revoke {
            member: bob.key.public(),
            reason: "r".repeat(MAX_MEMO_BYTES + 1),
        }),
    );
    b.payload(
        "reason with a leading space",
        Some("invalid_field"),
        Payload::Revoke(Revoke {
            member: bob.key.public(),
            reason: " left".into(),
        }),
    );
    org_b.advance(&revoke);
    files.insert(
        "revoke".into(),
        event_file("revoke", 1, "org", net, b.finish()),
    );

    Enrolled {
        alice: enroll_alice_id,
        bob: enroll_bob_id,
    }
}

/// Adds the Ed25519 group order L to a 32-byte little-endian scalar.
fn add_group_order(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (x, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*x) + u16::from(l) + carry;
        *x = sum as u8;
        carry = sum >> 8;
    }
    assert_eq!(carry, 0);
}

/// The smallest y (as y, 0, ..., 0) that is not the y-coordinate of a curve point.
fn bad_point() -> [u8; 32] {
    (2u8..)
        .map(|y| {
            let mut a = [0u8; 32];
            a[0] = y;
            a
        })
        .find(|a| PublicKey(*a).verifying_key().is_none())
        .unwrap()
}
