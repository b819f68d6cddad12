//! card.json: the card, its commitments, dedup key and dedup-key request, and the card
//! sealed for the purchase of purchase.json; generated, and checked from the raw
//! primitives.

use super::{
    h32, hexv, key, read, readable, BOUNCE_MESSAGE, EPHEMERAL_SECRET, NETWORK_SECRET,
    RECIPIENT_SECRET, T0,
};
use carnet_protocol::card::{
    commit_email, commit_phone, dedup_key, normalise_email, open_card, recipient_public, Card,
    NetworkSecret,
};
use carnet_protocol::encoding::{from_canonical, to_canonical};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;
use serde_json::{json, Value};

pub(super) fn card_file(
    c: &Card,
    l: &Listing,
    net: NetworkId,
    purchase_id: ContentId,
    ephemeral: [u8; 32],
    sealed: &[u8],
) -> Value {
    let recipient = recipient_public(RECIPIENT_SECRET);
    let shared = x25519_dalek::StaticSecret::from(EPHEMERAL_SECRET)
        .diffie_hellman(&x25519_dalek::PublicKey::from(recipient))
        .to_bytes();
    let deliver_key = Hash32::derive(
        carnet_protocol::hash::context::DELIVER_KEY,
        &[&shared, &ephemeral, &recipient, purchase_id.as_bytes()],
    );
    let emails = [
        (
            " Ada.Lovelace@BÜCHER.example ",
            "surrounding whitespace trimmed, domain lowercased and converted to A-labels",
        ),
        (
            "Ada.Lovelace@xn--bcher-kva.example",
            "already normalised: unchanged",
        ),
        ("ADA@Example.COM", "local part keeps its case"),
        ("a@b@example.com", "'@' in the local part"),
        ("no-at-sign.example", "no '@'"),
        ("ada@localhost", "domain of one label"),
        ("@example.com", "empty local part"),
        ("ada lovelace@example.com", "whitespace in the local part"),
    ];
    let normalisation: Vec<Value> = emails
        .iter()
        .map(|(input, d)| {
            json!({
                "description": d,
                "input": input,
                "output": normalise_email(input).ok(),
            })
        })
        .collect();
    json!({
        "description": "A card, its commitments and dedup key in the network of genesis.json, \
                        and the card sealed to a buyer for the purchase of purchase.json.",
        "network_id_hex": net.to_hex(),
        "email_normalisation": normalisation,
        "card": readable(c),
        "card_canonical_hex": hex::encode(to_canonical(c)),
        "email_commitment_hex": l.email_commitment.to_hex(),
        "phone_commitment_hex": l.phone_commitment.map(|p| p.to_hex()),
        "network_secret_hex": hex::encode(NETWORK_SECRET),
        "dedup_key_hex": l.dedup_key.to_hex(),
        "dedup_key_of_case_variants": case_variants(c),
        "teaser_salt_hex": hex::encode(c.teaser_salt()),
        "teaser_hash_hex": l.teaser.hash().to_hex(),
        "dedup_request": dedup_request_vector(c, net),
        "listing": readable(l),
        "evidence": {
            "raw_hex": hex::encode(BOUNCE_MESSAGE),
            "hash_hex": evidence_hash(BOUNCE_MESSAGE).to_hex(),
        },
        "sealing": {
            "purchase_id_hex": purchase_id.to_hex(),
            "recipient_secret_hex": hex::encode(RECIPIENT_SECRET),
            "recipient_public_hex": hex::encode(recipient),
            "ephemeral_secret_hex": hex::encode(EPHEMERAL_SECRET),
            "ephemeral_public_hex": hex::encode(ephemeral),
            "shared_secret_hex": hex::encode(shared),
            "deliver_key_hex": deliver_key.to_hex(),
            "nonce_hex": hex::encode([0u8; 12]),
            "sealed_hex": hex::encode(sealed),
        },
    })
}

/// The card's address in other cases: one dedup key for all (the key folds case).
fn case_variants(c: &Card) -> Value {
    let secret = NetworkSecret(NETWORK_SECRET);
    let e = &c.email.value;
    let variants = [e.to_uppercase(), e.to_lowercase()];
    json!({
        "description": "the dedup key hashes the normalised email lowercased, so these \
                        are all one address to the network",
        "folded": e.to_lowercase(),
        "variants": variants.iter().map(|v| json!({
            "email": v,
            "dedup_key_hex": dedup_key(&secret, v).to_hex(),
        })).collect::<Vec<_>>(),
    })
}

/// alice asks her org node for the dedup key of the card's email.
fn dedup_request_vector(c: &Card, net: NetworkId) -> Value {
    use carnet_protocol::dedup::{message, sign, DedupRequest};
    let request = DedupRequest {
        network: net,
        member: key("alice").public(),
        email: c.email.value.clone(),
        at_ms: T0 + 60_000,
    };
    json!({
        "member": "alice",
        "email": request.email,
        "at_ms": request.at_ms,
        "canonical_hex": hex::encode(to_canonical(&request)),
        "message_hex": hex::encode(message(&request)),
        "signature_hex": hex::encode(sign(&key("alice"), &request)),
    })
}

pub(super) fn check_card_file(f: &Value, network: NetworkId) {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload as Aad};
    assert_eq!(Hash32(h32(&f["network_id_hex"])), network);
    for e in f["email_normalisation"].as_array().unwrap() {
        let got = normalise_email(e["input"].as_str().unwrap()).ok();
        assert_eq!(got.as_deref(), e["output"].as_str(), "{e}");
    }
    let card_bytes = hexv(&f["card_canonical_hex"]);
    let card: Card = from_canonical(&card_bytes, MAX_SEALED_CARD_BYTES).unwrap();
    assert_eq!(readable(&card), f["card"]);

    // Commitments and dedup key from BLAKE3 derive-key directly.
    let derive = |ctx: &str, parts: &[&[u8]]| {
        let mut h = blake3::Hasher::new_derive_key(ctx);
        for p in parts {
            h.update(p);
        }
        *h.finalize().as_bytes()
    };
    let email = card.email.value.as_bytes();
    let phone = card.phone.as_ref().unwrap();
    assert_eq!(
        derive("carnet v1 commitment email", &[&card.email.salt, email]),
        h32(&f["email_commitment_hex"])
    );
    assert_eq!(
        derive(
            "carnet v1 commitment phone",
            &[&phone.salt, phone.value.as_bytes()]
        ),
        h32(&f["phone_commitment_hex"])
    );
    // The teaser's salt and hash, from the raw primitives.
    let teaser_salt = derive("carnet v4 teaser salt", &[&card.email.salt]);
    assert_eq!(teaser_salt, h32(&f["teaser_salt_hex"]));
    assert_eq!(
        derive(
            "carnet v4 teaser",
            &[&teaser_salt, &to_canonical(&card.teaser)]
        ),
        h32(&f["teaser_hash_hex"])
    );
    let secret = h32(&f["network_secret_hex"]);
    let folded = card.email.value.to_lowercase();
    assert_eq!(
        derive("carnet v5 dedup key", &[&secret, folded.as_bytes()]),
        h32(&f["dedup_key_hex"])
    );
    let cases = &f["dedup_key_of_case_variants"];
    assert_eq!(cases["folded"], folded.as_str());
    for v in cases["variants"].as_array().unwrap() {
        let e = v["email"].as_str().unwrap();
        assert_eq!(
            derive(
                "carnet v5 dedup key",
                &[&secret, e.to_lowercase().as_bytes()]
            ),
            h32(&f["dedup_key_hex"]),
            "{v}"
        );
        assert_eq!(v["dedup_key_hex"], f["dedup_key_hex"], "{v}");
    }
    assert_eq!(commit_email(&card.email).0, h32(&f["email_commitment_hex"]));
    assert_eq!(commit_phone(phone).0, h32(&f["phone_commitment_hex"]));
    assert_eq!(
        dedup_key(&NetworkSecret(secret), &card.email.value).0,
        h32(&f["dedup_key_hex"])
    );
    assert_eq!(
        derive("carnet v1 evidence", &[&hexv(&f["evidence"]["raw_hex"])]),
        h32(&f["evidence"]["hash_hex"])
    );
    let listing = card.listing(&NetworkSecret(secret)).unwrap();
    assert_eq!(readable(&listing), f["listing"]);

    // The dedup-key request: network id, member key, the email (varint length then
    // UTF-8) and at_ms (varint), hashed under its domain and signed by the member.
    let varint = |mut n: u64, out: &mut Vec<u8>| loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    };
    let r = &f["dedup_request"];
    let email = r["email"].as_str().unwrap();
    assert_eq!(email, card.email.value);
    let mut canonical = network.as_bytes().to_vec();
    canonical.extend_from_slice(&key(r["member"].as_str().unwrap()).public().0);
    varint(email.len() as u64, &mut canonical);
    canonical.extend_from_slice(email.as_bytes());
    varint(r["at_ms"].as_u64().unwrap(), &mut canonical);
    assert_eq!(hexv(&r["canonical_hex"]), canonical);
    let mut msg = b"carnet/v4/dedup-request".to_vec();
    msg.extend_from_slice(blake3::hash(&canonical).as_bytes());
    assert_eq!(hexv(&r["message_hex"]), msg);
    let sig: [u8; 64] = hexv(&r["signature_hex"]).try_into().unwrap();
    assert!(crate::common::crafted::verifies(
        &key("alice").public().0,
        &msg,
        &sig
    ));

    // Opening the sealed card from the raw primitives.
    let s = &f["sealing"];
    let purchase = h32(&s["purchase_id_hex"]);
    let rsecret = x25519_dalek::StaticSecret::from(h32(&s["recipient_secret_hex"]));
    let rpublic = x25519_dalek::PublicKey::from(&rsecret).to_bytes();
    assert_eq!(rpublic, h32(&s["recipient_public_hex"]));
    let esecret = x25519_dalek::StaticSecret::from(h32(&s["ephemeral_secret_hex"]));
    let epublic = x25519_dalek::PublicKey::from(&esecret).to_bytes();
    assert_eq!(epublic, h32(&s["ephemeral_public_hex"]));
    let shared = rsecret
        .diffie_hellman(&x25519_dalek::PublicKey::from(epublic))
        .to_bytes();
    assert_eq!(shared, h32(&s["shared_secret_hex"]));
    let key = derive(
        "carnet v1 deliver key",
        &[&shared, &epublic, &rpublic, &purchase],
    );
    assert_eq!(key, h32(&s["deliver_key_hex"]));
    let nonce: [u8; 12] = hexv(&s["nonce_hex"]).try_into().unwrap();
    assert_eq!(nonce, [0; 12]);
    let sealed = hexv(&s["sealed_hex"]);
    let cipher = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key).unwrap();
    let plain = cipher
        .decrypt(
            &nonce.into(),
            Aad {
                msg: &sealed,
                aad: &purchase,
            },
        )
        .unwrap();
    assert_eq!(plain, card_bytes);
    assert_eq!(sealed.len(), card_bytes.len() + 16);
    let opened = open_card(
        &sealed,
        &epublic,
        h32(&s["recipient_secret_hex"]),
        &Hash32(purchase),
    )
    .unwrap();
    assert_eq!(opened, card);
    opened.verify_against(&listing).unwrap();

    // The sealed card is the one the deliver vector carries.
    let d = read("deliver");
    let deliver = SignedEvent::decode(
        &[
            hexv(&d["vectors"][0]["canonical_hex"]),
            hexv(&d["vectors"][0]["signature_hex"]),
        ]
        .concat(),
        &network,
    )
    .unwrap();
    match deliver.payload() {
        Payload::Deliver(dl) => {
            assert_eq!(dl.sealed_card, sealed);
            assert_eq!(dl.ephemeral, epublic);
            assert_eq!(dl.purchase_id.0, purchase);
        }
        _ => panic!("deliver.json's first vector is not a Deliver"),
    }
}
