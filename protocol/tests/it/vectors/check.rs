//! The driver: regenerating the vectors gives exactly the files on disk (or rewrites
//! them), then every file is read back and checked independently: decoded, run through
//! the chain check, and recomputed from the raw primitives.

use super::{committed, generate, h32, hexv, key, read, readable, vectors_dir};
use carnet_protocol::chain::{check_extends, ChainHead};
use carnet_protocol::payload::*;
use carnet_protocol::*;
use serde_json::Value;

/// Pretty JSON with keys sorted, whatever serde_json's map type.
fn render(v: &Value) -> String {
    fn sorted(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&m[k])))
                        .collect(),
                )
            }
            Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut s = serde_json::to_string_pretty(&sorted(v)).unwrap();
    s.push('\n');
    s
}

pub(super) fn vectors_match_files() {
    let dir = vectors_dir();
    let generated = generate();
    let regen = carnet_protocol::testkit::regen_vectors();
    if regen {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = vec![];
    for (name, value) in &generated.files {
        let path = dir.join(format!("{name}.json"));
        let text = render(value);
        if regen {
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    // No stray vector files either.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "json") {
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            // ledger.json has its own generator and checker (tests/ledger_vectors.rs).
            assert!(
                generated.files.contains_key(&stem) || stem == "ledger",
                "{} is not a generated vector file",
                p.display()
            );
        }
    }
    assert!(
        stale.is_empty(),
        "vector files differ from the generator: {stale:?}; \
         run with CARNET_REGEN_VECTORS=1 to rewrite them"
    );
}

pub(super) fn vectors_check() {
    let g = read("genesis");
    let genesis_bytes = hexv(&g["canonical_hex"]);
    assert_eq!(
        blake3::hash(&genesis_bytes).as_bytes(),
        &h32(&g["network_id_hex"])
    );
    let decoded = Genesis::decode(&genesis_bytes).unwrap();
    assert_eq!(readable(&decoded), g["genesis"]);
    for (_, k) in g["keys"].as_object().unwrap() {
        let sk = ed25519_dalek::SigningKey::from_bytes(&h32(&k["seed_hex"]));
        assert_eq!(sk.verifying_key().to_bytes(), h32(&k["public_key_hex"]));
    }
    let network = Hash32(h32(&g["network_id_hex"]));

    let mut seen_errors = std::collections::BTreeSet::new();
    for (index, kind) in crate::common::KINDS.iter().enumerate() {
        let f = read(kind);
        assert_eq!(f["kind"], *kind);
        assert_eq!(f["payload_index"], index);
        assert_eq!(Hash32(h32(&f["network_id_hex"])), network);
        let vectors = f["vectors"].as_array().unwrap();
        let mut valid = 0;
        let mut codes = std::collections::BTreeSet::new();
        for v in vectors {
            let d = v["description"].as_str().unwrap();
            let body = hexv(&v["canonical_hex"]);
            let sig = hexv(&v["signature_hex"]);
            let trailing = hexv(&v["trailing_hex"]);
            let id = h32(&v["content_id_hex"]);
            let committed_bytes = hexv(&v["committed_hex"]);
            assert_eq!(committed_bytes, committed(&body), "{kind}: {d}");
            assert_eq!(
                blake3::hash(&committed_bytes).as_bytes(),
                &id,
                "{kind}: {d}"
            );
            let head = match &v["chain_head"] {
                Value::Null => None,
                hd => Some(ChainHead {
                    seq: hd["seq"].as_u64().unwrap(),
                    id: Hash32(h32(&hd["content_id_hex"])),
                }),
            };
            let wire = [&body[..], &sig, &trailing].concat();
            let got = SignedEvent::decode(&wire, &network)
                .map_err(|e| e.code())
                .and_then(|ev| {
                    check_extends(head, &ev).map_err(|e| e.code())?;
                    Ok(ev)
                });
            match (&got, v["valid"].as_bool().unwrap()) {
                (Ok(ev), true) => {
                    valid += 1;
                    assert!(v["error"].is_null(), "{kind}: {d}");
                    assert_eq!(ev.id().0, id, "{kind}: {d}");
                    assert_eq!(ev.author().0, h32(&v["public_key_hex"]), "{kind}: {d}");
                    assert_eq!(ev.payload().kind(), *kind, "{kind}: {d}");
                    assert_eq!(readable(ev.body()), v["body"], "{kind}: {d}");
                    // The signature, from the raw primitives.
                    let msg = [&b"carnet/v1/event-signature"[..], &id].concat();
                    let s: [u8; 64] = sig[..].try_into().unwrap();
                    assert!(
                        crate::common::crafted::verifies(&h32(&v["public_key_hex"]), &msg, &s),
                        "{kind}: {d}"
                    );
                }
                (Err(code), false) => {
                    assert_eq!(v["error"].as_str(), Some(*code), "{kind}: {d}");
                    codes.insert(*code);
                    seen_errors.insert(*code);
                }
                (got, _) => panic!("{kind}: {d}: expected {}, got {got:?}", v["error"]),
            }
        }
        assert!(valid >= 1, "{kind}: no valid vector");
        for required in [
            "bad_signature",
            "non_canonical",
            "wrong_network",
            "seq_gap",
            "trailing_bytes",
        ] {
            assert!(codes.contains(required), "{kind}: no {required} vector");
        }
    }
    for code in [
        "too_large",
        "malformed",
        "trailing_bytes",
        "non_canonical",
        "wrong_network",
        "invalid_field",
        "chain_link",
        "invalid_deps",
        "bad_author_key",
        "bad_signature",
        "seq_gap",
        "prev_mismatch",
        "equivocation",
    ] {
        assert!(seen_errors.contains(code), "no vector for {code}");
    }

    super::card::check_card_file(&read("card"), network);
    super::peer::check_peer_file(&read("peer"), network);
    super::phone::check_phone_file(&read("phone"));
    check_mobile_voucher(network);
}

/// docs/protocol.md, "Report vouchers": the first mobile_report.json vector's voucher,
/// checked from raw primitives. The body's four fields are 32 bytes each, so its
/// canonical encoding is their concatenation; the phone commitment is that of
/// card.json's direct line, which the purchase of purchase.json recorded.
fn check_mobile_voucher(network: NetworkId) {
    let m = read("mobile_report");
    let v = &m["vectors"][0];
    let ev = SignedEvent::decode(
        &[hexv(&v["canonical_hex"]), hexv(&v["signature_hex"])].concat(),
        &network,
    )
    .unwrap();
    let Payload::MobileReport(report) = ev.payload() else {
        panic!("mobile_report.json's first vector is not a MobileReport")
    };
    let card = read("card");
    let mut canonical = network.as_bytes().to_vec();
    canonical.extend_from_slice(&ev.author().0);
    canonical.extend_from_slice(report.purchase_id.as_bytes());
    canonical.extend_from_slice(&h32(&card["phone_commitment_hex"]));
    let mut msg = b"carnet/v4/mobile-voucher".to_vec();
    msg.extend_from_slice(blake3::hash(&canonical).as_bytes());
    assert!(
        crate::common::crafted::verifies(&key("org_a").public().0, &msg, &report.voucher.0),
        "org_a's mobile voucher"
    );
}
