//! Cards: sealing to a buyer and opening, checking a card against its listing, email
//! normalisation, and refusing small-order X25519 keys.

use crate::common;

use carnet_protocol::card::*;
use carnet_protocol::encoding::{to_canonical, EncodingError};
use carnet_protocol::hash::context;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::text::{check_text, TextError};
use carnet_protocol::*;
use chacha20poly1305::aead::{Aead, KeyInit, Payload as AeadPayload};
use chacha20poly1305::ChaCha20Poly1305;
use common::*;
use proptest::prelude::*;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

fn sample_card() -> Card {
    carnet_protocol::testkit::full_card()
}

/// A recipient secret different from `secret` after X25519 clamping.
fn other_secret(secret: [u8; 32]) -> [u8; 32] {
    let mut s = secret;
    s[1] ^= 1;
    assert_ne!(recipient_public(s), recipient_public(secret));
    s
}

// ---------------------------------------------------------------------------------
// Seal and open
// ---------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn strategy_cards_are_valid(card in card()) {
        prop_assert_eq!(card.check(), Ok(()));
        let listing = card.listing(&secret()).unwrap();
        prop_assert_eq!(listing.check(), Ok(()));
    }

    #[test]
    fn seal_open_roundtrip(
        card in card(),
        recipient_secret in any::<[u8; 32]>(),
        ephemeral_secret in any::<[u8; 32]>(),
        purchase in hash(),
    ) {
        let recipient = recipient_public(recipient_secret);
        let (ephemeral, sealed) = seal_card(&card, &recipient, ephemeral_secret, &purchase).unwrap();
        prop_assert_eq!(ephemeral, recipient_public(ephemeral_secret));
        prop_assert_eq!(sealed.len(), to_canonical(&card).len() + 16);
        prop_assert!(sealed.len() <= MAX_SEALED_CARD_BYTES / 2);
        // Fits a valid Deliver event.
        let deliver = Payload::Deliver(Deliver { purchase_id: purchase, ephemeral, sealed_card: sealed.clone() });
        prop_assert_eq!(deliver.check(), Ok(()));
        let opened = open_card(&sealed, &ephemeral, recipient_secret, &purchase).unwrap();
        prop_assert_eq!(&opened, &card);
        prop_assert_eq!(opened.verify_against(&card.listing(&secret()).unwrap()), Ok(()));
    }

    #[test]
    fn wrong_key_purchase_or_ephemeral_does_not_open(
        card in card(),
        recipient_secret in any::<[u8; 32]>(),
        ephemeral_secret in any::<[u8; 32]>(),
        purchase in hash(),
        other_purchase in hash(),
        other_ephemeral in any::<[u8; 32]>(),
    ) {
        let recipient = recipient_public(recipient_secret);
        let (ephemeral, sealed) = seal_card(&card, &recipient, ephemeral_secret, &purchase).unwrap();
        // Another recipient key.
        prop_assert_eq!(
            open_card(&sealed, &ephemeral, other_secret(recipient_secret), &purchase),
            Err(CardError::Decrypt)
        );
        // Another purchase.
        prop_assume!(other_purchase != purchase);
        prop_assert_eq!(open_card(&sealed, &ephemeral, recipient_secret, &other_purchase), Err(CardError::Decrypt));
        // Another ephemeral key.
        let other_ephemeral = recipient_public(other_ephemeral);
        prop_assume!(other_ephemeral != ephemeral);
        prop_assert_eq!(open_card(&sealed, &other_ephemeral, recipient_secret, &purchase), Err(CardError::Decrypt));
        // Sealed to someone else entirely.
        let (e2, s2) = seal_card(&card, &recipient_public(other_secret(recipient_secret)), ephemeral_secret, &purchase).unwrap();
        prop_assert_eq!(open_card(&s2, &e2, recipient_secret, &purchase), Err(CardError::Decrypt));
    }

    #[test]
    fn tampered_ciphertext_does_not_open(
        card in card(),
        recipient_secret in any::<[u8; 32]>(),
        ephemeral_secret in any::<[u8; 32]>(),
        purchase in hash(),
        at in any::<prop::sample::Index>(),
        mask in 1..=255u8,
        cut in any::<prop::sample::Index>(),
        extra in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let (ephemeral, sealed) =
            seal_card(&card, &recipient_public(recipient_secret), ephemeral_secret, &purchase).unwrap();
        let mut flipped = sealed.clone();
        flipped[at.index(sealed.len())] ^= mask;
        prop_assert_eq!(open_card(&flipped, &ephemeral, recipient_secret, &purchase), Err(CardError::Decrypt));
        let truncated = &sealed[..cut.index(sealed.len())];
        prop_assert_eq!(open_card(truncated, &ephemeral, recipient_secret, &purchase), Err(CardError::Decrypt));
        let mut longer = sealed.clone();
        longer.extend_from_slice(&extra);
        prop_assert_eq!(open_card(&longer, &ephemeral, recipient_secret, &purchase), Err(CardError::Decrypt));
    }

    /// Arbitrary bytes as a sealed card never panic and never open.
    #[test]
    fn random_sealed_bytes_never_open(
        sealed in prop::collection::vec(any::<u8>(), 0..600),
        ephemeral in any::<[u8; 32]>(),
        secret in any::<[u8; 32]>(),
        purchase in hash(),
    ) {
        let r = open_card(&sealed, &ephemeral, secret, &purchase);
        prop_assert!(matches!(r, Err(CardError::Decrypt) | Err(CardError::WeakRecipient)), "{:?}", r);
    }
}

#[test]
fn tampering_every_byte_is_detected() {
    let card = sample_card();
    let secret = [0x42; 32];
    let purchase = Hash32([0x77; 32]);
    let (ephemeral, mut sealed) =
        seal_card(&card, &recipient_public(secret), [0x24; 32], &purchase).unwrap();
    for i in 0..sealed.len() {
        for mask in [0x01, 0x80] {
            sealed[i] ^= mask;
            assert_eq!(
                open_card(&sealed, &ephemeral, secret, &purchase),
                Err(CardError::Decrypt),
                "byte {i}"
            );
            sealed[i] ^= mask;
        }
    }
    assert_eq!(open_card(&sealed, &ephemeral, secret, &purchase), Ok(card));
}

/// The sealing construction, rebuilt from the primitives: X25519, BLAKE3 derive-key
/// over (shared, ephemeral, recipient, purchase), ChaCha20-Poly1305 with a zero nonce
/// and the purchase id as associated data.
fn seal_raw(
    plain: &[u8],
    recipient: &[u8; 32],
    ephemeral_secret: [u8; 32],
    purchase: &Hash32,
) -> ([u8; 32], Vec<u8>) {
    let secret = x25519_dalek::StaticSecret::from(ephemeral_secret);
    let ephemeral = x25519_dalek::PublicKey::from(&secret).to_bytes();
    let shared = secret
        .diffie_hellman(&x25519_dalek::PublicKey::from(*recipient))
        .to_bytes();
    let key = Hash32::derive(
        context::DELIVER_KEY,
        &[&shared, &ephemeral, recipient, purchase.as_bytes()],
    );
    let cipher = ChaCha20Poly1305::new_from_slice(key.as_bytes()).unwrap();
    let sealed = cipher
        .encrypt(
            &[0u8; 12].into(),
            AeadPayload {
                msg: plain,
                aad: purchase.as_bytes(),
            },
        )
        .unwrap();
    (ephemeral, sealed)
}

#[test]
fn sealing_matches_the_construction() {
    let card = sample_card();
    let secret = [0x42; 32];
    let recipient = recipient_public(secret);
    let purchase = Hash32([0x77; 32]);
    let ours = seal_card(&card, &recipient, [0x24; 32], &purchase).unwrap();
    assert_eq!(
        ours,
        seal_raw(&to_canonical(&card), &recipient, [0x24; 32], &purchase)
    );
}

/// What decrypts must still be a canonical, valid card.
#[test]
fn opened_plaintext_must_be_a_valid_canonical_card() {
    let secret = [0x42; 32];
    let recipient = recipient_public(secret);
    let purchase = Hash32([0x77; 32]);
    let open = |plain: &[u8]| {
        let (e, s) = seal_raw(plain, &recipient, [0x24; 32], &purchase);
        open_card(&s, &e, secret, &purchase)
    };
    // Not a card at all.
    assert!(matches!(
        open(b""),
        Err(CardError::Encoding(EncodingError::Malformed(_)))
    ));
    assert!(matches!(open(&[0xff; 40]), Err(CardError::Encoding(_))));
    // A card followed by more bytes.
    let mut plain = to_canonical(&sample_card());
    plain.push(0);
    assert_eq!(
        open(&plain),
        Err(CardError::Encoding(EncodingError::TrailingBytes(1)))
    );
    // A canonical card that fails its checks: an email that is not normalised.
    let mut card = sample_card();
    card.email.value = "Ada@ENGINES.example".into();
    assert!(matches!(
        open(&to_canonical(&card)),
        Err(CardError::Email(_))
    ));
    // A phone the teaser does not offer.
    let mut card = sample_card();
    card.teaser.availability.phone = false;
    assert!(matches!(
        open(&to_canonical(&card)),
        Err(CardError::Mismatch(_))
    ));
    // And the valid card opens.
    assert_eq!(open(&to_canonical(&sample_card())), Ok(sample_card()));
}

#[test]
fn seal_refuses_an_invalid_card() {
    let recipient = recipient_public([0x42; 32]);
    let purchase = Hash32([0x77; 32]);
    let mut cards = Vec::new();
    let mut c = sample_card();
    c.email.value = "not an email".into();
    cards.push(c);
    let mut c = sample_card();
    c.phone = None;
    cards.push(c);
    let mut c = sample_card();
    c.postal_address = None;
    cards.push(c);
    let mut c = sample_card();
    c.postal_address = Some("x".repeat(MAX_POSTAL_BYTES + 1));
    cards.push(c);
    let mut c = sample_card();
    c.phone.as_mut().unwrap().value = "+1".repeat(MAX_PHONE_BYTES);
    cards.push(c);
    let mut c = sample_card();
    c.teaser.availability.email = false;
    cards.push(c);
    let mut c = sample_card();
    c.teaser.name = "Ada\u{0}".into();
    cards.push(c);
    for c in cards {
        let e = seal_card(&c, &recipient, [0x24; 32], &purchase).unwrap_err();
        assert_eq!(c.check(), Err(e.clone()), "{c:?}");
        assert_eq!(c.listing(&secret()), Err(e));
    }
}

// ---------------------------------------------------------------------------------
// Small-order keys
// ---------------------------------------------------------------------------------

/// X25519 u-coordinates of small order (and their non-canonical encodings): with any
/// clamped secret the shared secret is all zeros.
fn small_order_points() -> Vec<[u8; 32]> {
    let hex32 = |s: &str| -> [u8; 32] { hex::decode(s).unwrap().try_into().unwrap() };
    let mut points = vec![
        [0u8; 32],
        {
            let mut p = [0u8; 32];
            p[0] = 1;
            p
        },
        hex32("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
        hex32("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
        // p - 1, p, p + 1.
        hex32("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex32("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
        hex32("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"),
    ];
    // The top bit is ignored by X25519: the same points with it set.
    for i in 0..points.len() {
        let mut p = points[i];
        p[31] |= 0x80;
        points.push(p);
    }
    points
}

#[test]
fn small_order_recipient_is_rejected() {
    let card = sample_card();
    let purchase = Hash32([0x77; 32]);
    for p in small_order_points() {
        for eph in [[0x24; 32], [0x99; 32]] {
            assert_eq!(
                seal_card(&card, &p, eph, &purchase),
                Err(CardError::WeakRecipient),
                "{}",
                hex::encode(p)
            );
        }
    }
}

#[test]
fn small_order_ephemeral_is_rejected() {
    let (ephemeral, sealed) = seal_card(
        &sample_card(),
        &recipient_public([0x42; 32]),
        [0x24; 32],
        &Hash32([0x77; 32]),
    )
    .unwrap();
    assert!(open_card(&sealed, &ephemeral, [0x42; 32], &Hash32([0x77; 32])).is_ok());
    for p in small_order_points() {
        assert_eq!(
            open_card(&sealed, &p, [0x42; 32], &Hash32([0x77; 32])),
            Err(CardError::WeakRecipient),
            "{}",
            hex::encode(p)
        );
    }
}

// ---------------------------------------------------------------------------------
// The card against its listing
// ---------------------------------------------------------------------------------

fn mismatch(r: Result<(), CardError>) -> &'static str {
    match r {
        Err(CardError::Mismatch(m)) => m,
        other => panic!("expected a mismatch, got {other:?}"),
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn verify_against_catches_every_change(
        card in card(),
        other in card(),
        salt in any::<[u8; 32]>(),
        other_phone in phone(),
        other_key in hash(),
    ) {
        let listing = card.listing(&secret()).unwrap();
        prop_assert_eq!(card.verify_against(&listing), Ok(()));
        prop_assert_eq!(listing.dedup_key, dedup_key(&secret(), &card.email.value));
        prop_assert_eq!(listing.email_commitment, commit_email(&card.email));
        prop_assert_eq!(listing.phone_commitment, card.phone.as_ref().map(commit_phone));

        // The listing shows another teaser.
        if other.teaser != card.teaser {
            let mut l = listing.clone();
            l.teaser = TeaserSlot::Shown { teaser: Box::new(other.teaser.clone()), salt: card.teaser_salt() };
            prop_assert_eq!(mismatch(card.verify_against(&l)), "teaser differs");
        }
        // An erased teaser still binds the card: the hash stands in for it.
        prop_assert_eq!(card.verify_against(&listing.erased()), Ok(()));
        // The card carries another email, or the same email with another salt.
        if other.email.value != card.email.value {
            let mut c = card.clone();
            c.email.value = other.email.value.clone();
            prop_assert_eq!(mismatch(c.verify_against(&listing)), "email does not open the email commitment");
        }
        if salt != card.email.salt {
            let mut c = card.clone();
            c.email.salt = salt;
            prop_assert_eq!(mismatch(c.verify_against(&listing)), "email does not open the email commitment");
        }
        // Another direct line, or another salt for it.
        if let Some(p) = &card.phone {
            let mut c = card.clone();
            c.phone.as_mut().unwrap().value = other_phone.clone();
            if other_phone != p.value {
                prop_assert_eq!(mismatch(c.verify_against(&listing)), "direct line does not open the phone commitment");
            }
            let mut c = card.clone();
            c.phone.as_mut().unwrap().salt = salt;
            if salt != p.salt {
                prop_assert_eq!(mismatch(c.verify_against(&listing)), "direct line does not open the phone commitment");
            }
        }
        // Another dedup key in the listing: the card still opens it (buyers cannot
        // compute dedup keys), but an org node holding the secret sees it is wrong.
        let secret = secret();
        prop_assert_eq!(card.verify_dedup_key(&listing, &secret), Ok(()));
        if other_key != listing.dedup_key {
            let mut l = listing.clone();
            l.dedup_key = other_key;
            prop_assert_eq!(card.verify_against(&l), Ok(()));
            prop_assert_eq!(mismatch(card.verify_dedup_key(&l, &secret)), "dedup key is not that of the email");
        }
        let elsewhere = NetworkSecret([0xee; 32]);
        prop_assert_eq!(mismatch(card.verify_dedup_key(&listing, &elsewhere)), "dedup key is not that of the email");
    }
}

/// The attack of issue 13: the teaser gives the name and the company domain, so an
/// outsider guesses a handful of addresses. Under protocol 3 the dedup key was a hash
/// of the network id (public) and the email, and the right guess matched it; keyed
/// by the network secret, no guess can be checked without the secret.
#[test]
fn a_guessed_email_cannot_be_tested_against_a_listing_without_the_secret() {
    let card = sample_card();
    let listing = card.listing(&secret()).unwrap();
    let guesses = [
        "Ada.Lovelace@xn--bcher-kva.example",
        "ada.lovelace@xn--bcher-kva.example",
        "a.lovelace@xn--bcher-kva.example",
        "alovelace@xn--bcher-kva.example",
        "ada@xn--bcher-kva.example",
        "lovelace@xn--bcher-kva.example",
        "ada_lovelace@xn--bcher-kva.example",
    ];
    assert!(guesses.contains(&card.email.value.as_str()));
    let net = network();
    for g in guesses {
        // What an outsider can compute: anything from public values and the guess.
        let unkeyed = Hash32::derive("carnet v1 dedup key", &[net.as_bytes(), g.as_bytes()]);
        let keyed_by_id = dedup_key(&NetworkSecret(net.0), g);
        assert_ne!(unkeyed, listing.dedup_key);
        assert_ne!(keyed_by_id, listing.dedup_key);
        assert_ne!(Hash32::of(g.as_bytes()), listing.dedup_key);
    }
    // The org node, holding the secret, does recognise the address.
    assert_eq!(dedup_key(&secret(), &card.email.value), listing.dedup_key);
}

#[test]
fn dedup_key_is_per_address_and_network() {
    let secret = secret();
    let a = dedup_key(&secret, "ada@engines.example");
    assert_eq!(a, dedup_key(&secret, "ada@engines.example"));
    // Issue 16: one address whatever its case, so it is listed (and rewarded) once.
    assert_eq!(
        a,
        dedup_key(&secret, "Ada@engines.example"),
        "the key folds the local part's case"
    );
    assert_ne!(a, dedup_key(&secret, "ada2@engines.example"));
    assert_ne!(
        a,
        dedup_key(&NetworkSecret([0xee; 32]), "ada@engines.example")
    );
    // Salted commitments: same email, different salts, different commitments.
    let o = |salt| Opening {
        value: "ada@engines.example".into(),
        salt,
    };
    assert_ne!(commit_email(&o([1; 32])), commit_email(&o([2; 32])));
    // Email and phone commitments are domain-separated.
    assert_ne!(commit_email(&o([1; 32])), commit_phone(&o([1; 32])));
}

// ---------------------------------------------------------------------------------
// Email normalisation
// ---------------------------------------------------------------------------------

#[test]
fn normalise_email_cases() {
    let ok = [
        ("Ada@EXAMPLE.COM", "Ada@example.com"),
        ("Ada.Lovelace@Engines.Co.UK", "Ada.Lovelace@engines.co.uk"),
        ("ADA@example.com", "ADA@example.com"),
        ("  ada@example.com\n", "ada@example.com"),
        ("user@bücher.example", "user@xn--bcher-kva.example"),
        ("user@BÜCHER.example", "user@xn--bcher-kva.example"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ("ada@例え.jp", "ada@xn--r8jz45g.jp"),
        ("ada@ＥＸＡＭＰＬＥ.com", "ada@example.com"),
        ("a+tag@mail.example.com", "a+tag@mail.example.com"),
        ("Zoë@example.com", "Zoë@example.com"),
    ];
    for (raw, want) in ok {
        assert_eq!(normalise_email(raw).as_deref(), Ok(want), "{raw:?}");
        assert_eq!(
            normalise_email(want).as_deref(),
            Ok(want),
            "idempotent: {want:?}"
        );
    }
    let long_domain = format!("{}.com", vec!["a".repeat(60); 5].join("."));
    let long_local = "a".repeat(65);
    let bad = [
        "",
        "   ",
        "ada",
        "ada.example.com",
        "@example.com",
        "ada@",
        "ada@localhost",
        "a da@example.com",
        "ada@exa mple.com",
        "a\u{0}da@example.com",
        "ada\t@example.com",
        "a@b@example.com",
        "ada@example..com",
        "ada@.example.com",
        "ada@example.com.",
        "ada@-example.com",
        "ada@exa_mple.com",
        "ada@xn--a.com",
        &format!("{long_local}@example.com"),
        &format!("ada@{long_domain}"),
    ];
    for raw in bad {
        assert!(
            normalise_email(raw).is_err(),
            "{raw:?} -> {:?}",
            normalise_email(raw)
        );
    }
    // Specific errors.
    assert!(matches!(normalise_email("ada"), Err(CardError::Email(_))));
    assert!(matches!(
        normalise_email("@example.com"),
        Err(CardError::Email(_))
    ));
    assert!(matches!(
        normalise_email(&format!("{long_local}@example.com")),
        Err(CardError::Email(_))
    ));
    assert!(matches!(
        normalise_email("ada@localhost"),
        Err(CardError::Text(TextError::Domain { .. }))
    ));
    // 64-byte local part and a long domain: within each limit, 254 bytes together is
    // the most an email may have.
    let local = "a".repeat(64);
    let domain = format!("{}.com", vec!["b".repeat(61); 3].join("."));
    let email = format!("{local}@{domain}");
    assert_eq!(email.len(), MAX_EMAIL_BYTES);
    assert_eq!(normalise_email(&email), Ok(email));
    let domain = format!("{}.com", vec!["b".repeat(62); 3].join("."));
    assert!(matches!(
        normalise_email(&format!("{local}@{domain}")),
        Err(CardError::Text(TextError::TooLong { .. }))
    ));
}

fn assert_normalised(raw: &str) {
    if let Ok(e) = normalise_email(raw) {
        assert_eq!(
            normalise_email(&e).as_deref(),
            Ok(e.as_str()),
            "not idempotent: {raw:?}"
        );
        assert_eq!(check_text("email", &e, MAX_EMAIL_BYTES, true), Ok(()));
        let (local, domain) = e.rsplit_once('@').unwrap();
        assert_eq!(
            Some(local),
            raw.trim().rsplit_once('@').map(|(l, _)| l),
            "local part kept"
        );
        assert!(domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.'));
    }
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn normalise_email_never_panics(raw in any::<String>()) {
        assert_normalised(&raw);
    }

    #[test]
    fn normalise_email_on_email_shapes(
        raw in r"[ \t]?[A-Za-z0-9._+@ü-]{0,20}@[A-Za-z0-9.ÄÖüß例え_-]{0,30}[ \t]?",
    ) {
        assert_normalised(&raw);
    }

    #[test]
    fn normalised_emails_are_fixed_points(email in email()) {
        prop_assert_eq!(normalise_email(&email), Ok(email.clone()));
        // Uppercasing the domain normalises back to it.
        let (local, domain) = email.rsplit_once('@').unwrap();
        let upper = format!(" {local}@{} ", domain.to_uppercase());
        prop_assert_eq!(normalise_email(&upper), Ok(email.clone()));
    }
}
