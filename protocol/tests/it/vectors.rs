//! Test vectors for docs/protocol.md: generated here, written to docs/test-vectors/,
//! and checked here.
//!
//! * `vectors`: first, regenerating the vectors gives exactly the files on disk (run
//!   with `CARNET_REGEN_VECTORS=1` to rewrite them instead); then every JSON file is
//!   read back and each vector run through the decoder and the chain check, with
//!   hashes, keys and the sealed card recomputed from the raw primitives.
//! * `encoding_rules`: the wire-encoding claims of docs/protocol.md, checked on postcard.
//!
//! The generator states the expected outcome of each vector itself; only the checker
//! runs the decoder, so a vector can never agree with the code just by construction.

use carnet_protocol::card::{
    commit_email, commit_phone, dedup_key, normalise_email, open_card, recipient_public, seal_card,
    Card, NetworkSecret,
};
use carnet_protocol::chain::{check_extends, ChainHead};
use carnet_protocol::encoding::{from_canonical, take_canonical, to_canonical, EncodingError};
use carnet_protocol::event::signing_message;
use carnet_protocol::genesis::{OrgEntry, PROTOCOL_VERSION};
use carnet_protocol::hash::evidence_hash;
use carnet_protocol::limits::*;
use carnet_protocol::payload::*;
use carnet_protocol::*;
use ed25519_dalek::Signer;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

// ---------------------------------------------------------------------------------
// Fixture: keys, genesis, a small story of events whose ids the vectors reuse.
// ---------------------------------------------------------------------------------

/// Named keys with fixed seeds: seed = 32 copies of the byte.
const KEYS: [(&str, u8); 6] = [
    ("org_a", 0x11),
    ("org_b", 0x22),
    ("alice", 0x33),
    ("bob", 0x44),
    ("carol", 0x55),
    ("org_c", 0x66),
];

const T0: u64 = 1_700_000_000_000;

fn key(name: &str) -> SecretKey {
    let (_, b) = KEYS.iter().find(|(n, _)| *n == name).unwrap();
    SecretKey::from_seed([*b; 32])
}

fn genesis_named(name: &str) -> Genesis {
    Genesis::new(
        name,
        vec![
            OrgEntry {
                key: key("org_a").public(),
                name: "Org A Ltd".into(),
            },
            OrgEntry {
                key: key("org_b").public(),
                name: "Org B GmbH".into(),
            },
        ],
        Rules::default(),
        T0,
    )
    .unwrap()
}

fn genesis() -> Genesis {
    genesis_named("Carnet test vectors")
}

fn other_genesis() -> Genesis {
    genesis_named("Carnet test vectors (other network)")
}

const RECIPIENT_SECRET: [u8; 32] = [0xA1; 32];
const EPHEMERAL_SECRET: [u8; 32] = [0xE5; 32];
const EMAIL_SALT: [u8; 32] = [0x5A; 32];
const PHONE_SALT: [u8; 32] = [0x5B; 32];
const BOUNCE_MESSAGE: &[u8] =
    b"Final-Recipient: rfc822; Ada.Lovelace@xn--bcher-kva.example\r\nStatus: 5.1.1\r\n";

fn card() -> Card {
    carnet_protocol::testkit::full_card()
}

fn h(label: &str) -> Hash32 {
    Hash32::of(label.as_bytes())
}

/// An author's chain while the story is written.
struct Chain {
    key: SecretKey,
    head: Option<ChainHead>,
}

impl Chain {
    fn new(name: &str) -> Self {
        Chain {
            key: key(name),
            head: None,
        }
    }

    /// The next body of this chain.
    fn next(&self, network: NetworkId, lamport: u64, deps: Vec<Hash32>, p: Payload) -> EventBody {
        let mut deps = deps;
        deps.sort();
        deps.dedup();
        EventBody {
            network,
            author: self.key.public(),
            seq: self.head.map_or(0, |h| h.seq + 1),
            prev: self.head.map(|h| h.id),
            lamport,
            deps,
            timestamp_ms: T0 + lamport * 1000,
            payload: p,
        }
    }

    fn advance(&mut self, body: &EventBody) {
        self.head = Some(ChainHead {
            seq: body.seq,
            id: body.content_id(),
        });
    }
}

/// The committed body of body bytes, whose BLAKE3 is the content id: the canonical
/// body with its teaser erased to its hash where they decode, the bytes themselves
/// where they do not.
fn committed(body: &[u8]) -> Vec<u8> {
    match take_canonical::<EventBody>(body) {
        Ok((b, [])) => b.erased().map_or(body.to_vec(), |e| e.to_bytes()),
        _ => body.to_vec(),
    }
}

fn content_id(body: &[u8]) -> Hash32 {
    Hash32::of(&committed(body))
}

/// Signs any body bytes, valid or not, the way an author does.
fn sign_bytes(key: &SecretKey, body: &[u8]) -> Vec<u8> {
    let sk = ed25519_dalek::SigningKey::from_bytes(&key.seed());
    sk.sign(&signing_message(&content_id(body)))
        .to_bytes()
        .to_vec()
}

// ---------------------------------------------------------------------------------
// Vectors
// ---------------------------------------------------------------------------------

struct Vector {
    description: String,
    body: Option<EventBody>,
    bytes: Vec<u8>,
    public_key: [u8; 32],
    signature: Vec<u8>,
    trailing: Vec<u8>,
    chain_head: Option<ChainHead>,
    error: Option<&'static str>,
}

impl Vector {
    fn to_json(&self) -> Value {
        json!({
            "description": self.description,
            "canonical_hex": hex::encode(&self.bytes),
            "signature_hex": hex::encode(&self.signature),
            "trailing_hex": hex::encode(&self.trailing),
            "public_key_hex": hex::encode(self.public_key),
            "committed_hex": hex::encode(committed(&self.bytes)),
            "content_id_hex": content_id(&self.bytes).to_hex(),
            "chain_head": self.chain_head.map(|h| json!({
                "seq": h.seq,
                "content_id_hex": h.id.to_hex(),
            })),
            "valid": self.error.is_none(),
            "error": self.error,
            "body": self.body.as_ref().map(readable),
        })
    }
}

/// A JSON view of a value for human readers: byte arrays become hex strings.
fn readable<T: serde::Serialize>(value: &T) -> Value {
    fn walk(v: Value) -> Value {
        match v {
            Value::Array(a) => {
                let bytes: Option<Vec<u8>> = a
                    .iter()
                    .map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                    .collect();
                match bytes {
                    Some(b) if !b.is_empty() => Value::String(hex::encode(b)),
                    _ => Value::Array(a.into_iter().map(walk).collect()),
                }
            }
            Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, walk(v))).collect()),
            other => other,
        }
    }
    walk(serde_json::to_value(value).unwrap())
}

/// Vectors of one event kind, built around one valid "base" event.
struct Builder {
    other_network: NetworkId,
    key: SecretKey,
    base: EventBody,
    head: Option<ChainHead>,
    vectors: Vec<Vector>,
}

impl Builder {
    fn new(chain: &Chain, base: EventBody) -> Self {
        Builder {
            other_network: other_genesis().network_id(),
            key: chain.key.clone(),
            base,
            head: chain.head,
            vectors: Vec::new(),
        }
    }

    /// A body signed by the builder's key, with an expected outcome.
    fn body(&mut self, d: &str, body: EventBody, head: Option<ChainHead>, e: Option<&'static str>) {
        let bytes = to_canonical(&body);
        let signature = sign_bytes(&self.key, &bytes);
        self.vectors.push(Vector {
            description: d.into(),
            public_key: body.author.0,
            body: Some(body),
            bytes,
            signature,
            trailing: vec![],
            chain_head: head,
            error: e,
        });
    }

    fn valid(&mut self, d: &str, body: EventBody, head: Option<ChainHead>) {
        self.body(d, body, head, None);
    }

    /// The base event with one change; `e` is the expected error.
    fn with(&mut self, d: &str, e: &'static str, f: impl FnOnce(&mut EventBody)) {
        let mut b = self.base.clone();
        f(&mut b);
        self.body(d, b, self.head, Some(e));
    }

    /// The base payload replaced; `e` is the expected error, `None` if still valid.
    fn payload(&mut self, d: &str, e: Option<&'static str>, p: Payload) {
        let mut b = self.base.clone();
        b.payload = p;
        self.body(d, b, self.head, e);
    }

    /// Raw body bytes (signed correctly by the builder's key).
    fn raw(&mut self, d: &str, e: &'static str, bytes: Vec<u8>) {
        let signature = sign_bytes(&self.key, &bytes);
        self.vectors.push(Vector {
            description: d.into(),
            body: None,
            bytes,
            public_key: self.base.author.0,
            signature,
            trailing: vec![],
            chain_head: self.head,
            error: Some(e),
        });
    }

    /// The base event's canonical bytes with `f` applied to them, re-signed.
    fn mangle(&mut self, d: &str, e: &'static str, f: impl FnOnce(&mut Vec<u8>)) {
        let mut bytes = to_canonical(&self.base);
        f(&mut bytes);
        self.raw(d, e, bytes);
    }

    /// The base event as signed, with its wire form then changed.
    fn wire(
        &mut self,
        d: &str,
        e: &'static str,
        f: impl FnOnce(&mut Vec<u8>, &mut Vec<u8>, &mut Vec<u8>),
    ) {
        let mut bytes = to_canonical(&self.base);
        let mut signature = sign_bytes(&self.key, &bytes);
        let mut trailing = vec![];
        f(&mut bytes, &mut signature, &mut trailing);
        self.vectors.push(Vector {
            description: d.into(),
            body: None,
            bytes,
            public_key: self.base.author.0,
            signature,
            trailing,
            chain_head: self.head,
            error: Some(e),
        });
    }

    /// The invalid vectors every kind gets.
    fn common(&mut self) {
        self.wire(
            "signature with one bit of R flipped",
            "bad_signature",
            |_, s, _| s[0] ^= 0x01,
        );
        let k = self.key.clone();
        self.wire(
            "signature by the author over another body",
            "bad_signature",
            |b, s, _| {
                let mut other = b.clone();
                other.push(0);
                *s = sign_bytes(&k, &other);
            },
        );
        self.mangle(
            "seq as an over-long varint (one extra 0x00 group), signed correctly",
            "non_canonical",
            |b| {
                // seq starts after network (32) and author (32).
                let seq_len = to_canonical(&b_seq(b)).len();
                let mut v = b[64..64 + seq_len].to_vec();
                *v.last_mut().unwrap() |= 0x80;
                v.push(0x00);
                b.splice(64..64 + seq_len, v);
            },
        );
        let other = self.other_network;
        self.with(
            "network id of another genesis, signed correctly",
            "wrong_network",
            |b| b.network = other,
        );
        self.wire(
            "one trailing 0x00 after the signature",
            "trailing_bytes",
            |_, _, t| t.push(0),
        );
        self.wire("signature truncated to 63 bytes", "malformed", |_, s, _| {
            s.pop();
        });
        let next_but_one = self.head.map_or(1, |head| head.seq + 2);
        self.with(
            "seq skips one position of the author's chain",
            "seq_gap",
            |b| {
                b.seq = next_but_one;
                b.prev = Some(h("an event the node has not seen"));
            },
        );
        if self.head.is_some() {
            self.with(
                "prev names another event than the chain head",
                "prev_mismatch",
                |b| b.prev = Some(h("not the chain head")),
            );
        }
    }

    fn finish(self) -> Vec<Vector> {
        self.vectors
    }
}

/// Decodes the seq varint that follows network and author in body bytes.
fn b_seq(b: &[u8]) -> u64 {
    let mut out = 0u64;
    for (i, byte) in b[64..].iter().enumerate() {
        out |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            break;
        }
    }
    out
}

/// Encoded length of the event header: every field before the payload.
fn header_len(b: &EventBody) -> usize {
    to_canonical(&(
        b.network,
        b.author,
        b.seq,
        b.prev,
        b.lamport,
        &b.deps,
        b.timestamp_ms,
    ))
    .len()
}

/// The network secret of genesis.json's network (docs/protocol.md, "Network secret").
const NETWORK_SECRET: [u8; 32] = [0x4E; 32];

fn listing(card: &Card) -> Listing {
    card.listing(&NetworkSecret(NETWORK_SECRET)).unwrap()
}

fn teaser_with(f: impl FnOnce(&mut Teaser)) -> Listing {
    let mut l = listing(&card());
    if let TeaserSlot::Shown { teaser, .. } = &mut l.teaser {
        f(teaser);
    }
    l
}

struct Generated {
    files: BTreeMap<String, Value>,
}

fn event_file(kind: &str, index: u32, role: &str, network: NetworkId, v: Vec<Vector>) -> Value {
    json!({
        "kind": kind,
        "payload_index": index,
        "author_role": role,
        "network_id_hex": network.to_hex(),
        "genesis": "genesis.json",
        "vectors": v.iter().map(Vector::to_json).collect::<Vec<_>>(),
    })
}

fn generate() -> Generated {
    let g = genesis();
    let net = g.network_id();
    let c = card();
    let l = listing(&c);
    let mut files = BTreeMap::new();

    let mut org_a = Chain::new("org_a");
    let mut org_b = Chain::new("org_b");
    let mut alice = Chain::new("alice");
    let mut bob = Chain::new("bob");
    let mut carol = Chain::new("carol");

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
    let mut b = Builder::new(&org_a, enroll_alice.clone());
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
        // Small-order author key: the identity. With R = B and S = 1 the cofactorless
        // equation [S]B = R + [k]A holds for every message; strict rules reject it.
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
                          passes the cofactorless equation, rejected by the strict rules"
                .into(),
            public_key: identity,
            body: Some(body),
            bytes,
            signature,
            trailing: vec![],
            chain_head: None,
            error: Some("bad_signature"),
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
    let mut b = Builder::new(&org_b, revoke.clone());
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

    // -- contribute (alice seq 0) -----------------------------------------------
    let contribute = alice.next(
        net,
        3,
        vec![enroll_alice_id],
        Payload::Contribute(Contribute { listing: l.clone() }),
    );
    let mut b = Builder::new(&alice, contribute.clone());
    b.valid(
        "alice contributes the card of card.json",
        contribute.clone(),
        None,
    );
    b.valid(
        "the same contribute with its teaser erased (an opt-out): same content id, same signature",
        contribute.erased().unwrap(),
        None,
    );
    b.common();
    let contrib = |l: Listing| Payload::Contribute(Contribute { listing: l });
    b.payload(
        "no phone, no postal address, empty city",
        None,
        contrib({
            let mut l = teaser_with(|t| {
                t.availability.phone = false;
                t.availability.postal = false;
                t.city = "".into();
            });
            l.phone_commitment = None;
            l
        }),
    );
    b.payload(
        "name of 129 bytes (limit 128)",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.name = "n".repeat(MAX_NAME_BYTES + 1))),
    );
    b.payload(
        "empty title",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.title = "".into())),
    );
    b.payload(
        "company with a trailing newline",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company = "Bücher\n".into())),
    );
    b.payload(
        "company domain with an uppercase letter",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "Example.com".into())),
    );
    b.payload(
        "company domain of one label",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "localhost".into())),
    );
    b.payload(
        "company domain in Unicode (must be IDNA A-labels)",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "bücher.example".into())),
    );
    b.payload(
        "company domain with a label ending in '-'",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.company_domain = "bad-.example".into())),
    );
    b.payload(
        "availability without email",
        Some("invalid_field"),
        contrib(teaser_with(|t| t.availability.email = false)),
    );
    b.payload(
        "teaser offers a phone but no phone commitment",
        Some("invalid_field"),
        contrib({
            let mut l = listing(&c);
            l.phone_commitment = None;
            l
        }),
    );
    b.mangle(
        "availability.email is the byte 0x02, not a bool",
        "malformed",
        |bytes| {
            let t = &contribute_teaser(&contribute);
            // Payload tag, then the teaser slot's tag (0: shown), then the teaser.
            let at = header_len(&contribute)
                + 2
                + to_canonical(&(&t.name, &t.title, &t.company, &t.company_domain, &t.city)).len();
            assert_eq!(bytes[at], 1);
            bytes[at] = 2;
        },
    );
    alice.advance(&contribute);
    let contribute_id = alice.head.unwrap().id;
    files.insert(
        "contribute".into(),
        event_file("contribute", 2, "member", net, b.finish()),
    );

    // -- update (alice seq 1) -------------------------------------------------------
    let new_listing = teaser_with(|t| t.title = "Chief Analyst".into());
    let update = alice.next(
        net,
        4,
        vec![contribute_id],
        Payload::Update(Update {
            listing_id: contribute_id,
            listing: new_listing.clone(),
        }),
    );
    let mut b = Builder::new(&alice, update.clone());
    b.valid(
        "alice updates her listing's title; listing_id is among the deps",
        update.clone(),
        alice.head,
    );
    b.common();
    b.with("listing_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![h("some other event")]
    });
    b.payload(
        "updated listing with an empty name",
        Some("invalid_field"),
        Payload::Update(Update {
            listing_id: contribute_id,
            listing: teaser_with(|t| t.name = "".into()),
        }),
    );
    alice.advance(&update);
    files.insert(
        "update".into(),
        event_file("update", 3, "member", net, b.finish()),
    );

    // -- purchase (bob seq 0) -----------------------------------------------------
    let recipient = recipient_public(RECIPIENT_SECRET);
    let purchase = bob.next(
        net,
        5,
        vec![contribute_id, enroll_bob_id],
        Payload::Purchase(Purchase {
            listing_id: contribute_id,
            recipient,
            max_price: 10,
        }),
    );
    let mut b = Builder::new(&bob, purchase.clone());
    b.valid(
        "bob buys alice's card, to be sealed to the recipient key of card.json",
        purchase.clone(),
        None,
    );
    b.common();
    b.with("listing_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![enroll_bob_id]
    });
    b.with("deps in descending order", "invalid_deps", |b| {
        b.deps.sort();
        b.deps.reverse();
    });
    b.with("a dependency listed twice", "invalid_deps", |b| {
        b.deps = vec![contribute_id, contribute_id];
        b.deps.sort();
    });
    b.with(
        &format!("{} deps (limit {MAX_DEPS})", MAX_DEPS + 1),
        "invalid_deps",
        |b| {
            b.deps = (0..MAX_DEPS as u32)
                .map(|i| h(&format!("dep {i}")))
                .chain([contribute_id])
                .collect();
            b.deps.sort();
        },
    );
    {
        let mut body = purchase.clone();
        body.deps = (0..MAX_DEPS as u32 - 1)
            .map(|i| h(&format!("dep {i}")))
            .chain([contribute_id])
            .collect();
        body.deps.sort();
        b.valid(&format!("exactly {MAX_DEPS} deps"), body, None);
    }
    b.payload(
        "max_price u64::MAX (ten-byte varint)",
        None,
        Payload::Purchase(Purchase {
            listing_id: contribute_id,
            recipient,
            max_price: u64::MAX,
        }),
    );
    b.mangle(
        "max_price as an over-long varint (0x8a 0x00 for 10)",
        "non_canonical",
        |bytes| {
            // max_price is the last field: 10 = 0x0a.
            assert_eq!(bytes.last(), Some(&0x0a));
            bytes.pop();
            bytes.extend_from_slice(&[0x8a, 0x00]);
        },
    );
    bob.advance(&purchase);
    let purchase_id = bob.head.unwrap().id;
    files.insert(
        "purchase".into(),
        event_file("purchase", 4, "member", net, b.finish()),
    );

    // -- deliver (org_a seq 2) -----------------------------------------------------
    let (ephemeral, sealed) = seal_card(&c, &recipient, EPHEMERAL_SECRET, &purchase_id).unwrap();
    let deliver_p = |sealed_card: Vec<u8>| {
        Payload::Deliver(Deliver {
            purchase_id,
            ephemeral,
            sealed_card,
        })
    };
    let deliver = org_a.next(net, 6, vec![purchase_id], deliver_p(sealed.clone()));
    let mut b = Builder::new(&org_a, deliver.clone());
    b.valid(
        "org_a delivers the sealed card of card.json for bob's purchase",
        deliver.clone(),
        org_a.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload(
        "empty sealed card",
        Some("invalid_field"),
        deliver_p(vec![]),
    );
    b.payload(
        &format!(
            "sealed card of {} bytes (limit {MAX_SEALED_CARD_BYTES})",
            MAX_SEALED_CARD_BYTES + 1
        ),
        Some("invalid_field"),
        deliver_p(vec![0xab; MAX_SEALED_CARD_BYTES + 1]),
    );
    org_a.advance(&deliver);
    let deliver_id = org_a.head.unwrap().id;
    files.insert(
        "deliver".into(),
        event_file("deliver", 5, "org", net, b.finish()),
    );

    // -- bounce_report (bob seq 1) -----------------------------------------------
    // bob's org, org_a, vouches for each report it read (docs/protocol.md, "Bounce
    // vouchers"); the voucher's validity is the ledger's concern, not the event's.
    let bounce_p = |class: u8, subject: u16, detail: u16, email: &str| {
        // The report carries no opening (protocol 4): the voucher binds the email
        // commitment the reporter's org checked the opening against.
        let status = DsnStatus {
            class,
            subject,
            detail,
        };
        let opening = Opening {
            value: email.into(),
            salt: EMAIL_SALT,
        };
        let voucher = carnet_protocol::voucher::sign(
            &org_a.key,
            &carnet_protocol::voucher::VoucherBody {
                network: net,
                reporter: bob.key.public(),
                purchase_id,
                evidence: evidence_hash(BOUNCE_MESSAGE),
                status,
                email_commitment: commit_email(&opening),
            },
        );
        Payload::BounceReport(BounceReport {
            purchase_id,
            evidence: evidence_hash(BOUNCE_MESSAGE),
            status,
            voucher,
        })
    };
    let email = c.email.value.clone();
    let bounce = bob.next(
        net,
        7,
        vec![purchase_id, deliver_id],
        bounce_p(5, 1, 1, &email),
    );
    let mut b = Builder::new(&bob, bounce.clone());
    b.valid(
        "bob reports that the email bounced with 5.1.1, vouched for by his org",
        bounce.clone(),
        bob.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![deliver_id]
    });
    b.payload(
        "status 4.4.7 (transient, still a valid code)",
        None,
        bounce_p(4, 4, 7, &email),
    );
    b.payload(
        "status class 6",
        Some("invalid_field"),
        bounce_p(6, 1, 1, &email),
    );
    b.payload(
        "status class 1",
        Some("invalid_field"),
        bounce_p(1, 1, 1, &email),
    );
    b.payload(
        "status subject 1000",
        Some("invalid_field"),
        bounce_p(5, 1000, 1, &email),
    );
    b.payload(
        "status detail 1000",
        Some("invalid_field"),
        bounce_p(5, 1, 1000, &email),
    );
    b.payload(
        "status 5.999.999 (largest valid)",
        None,
        bounce_p(5, 999, 999, &email),
    );
    bob.advance(&bounce);
    let bounce_id = bob.head.unwrap().id;
    files.insert(
        "bounce_report".into(),
        event_file("bounce_report", 6, "member", net, b.finish()),
    );

    // -- mobile_report (bob seq 2) -----------------------------------------------
    // Vouched by bob's org, which was shown the opening of the phone commitment and
    // classified the number (docs/protocol.md, "Report vouchers").
    let mobile_p = |value: &str| {
        let voucher = carnet_protocol::voucher::sign_mobile(
            &org_a.key,
            &carnet_protocol::voucher::MobileVoucherBody {
                network: net,
                reporter: bob.key.public(),
                purchase_id,
                phone_commitment: commit_phone(&Opening {
                    value: value.into(),
                    salt: PHONE_SALT,
                }),
            },
        );
        Payload::MobileReport(MobileReport {
            purchase_id,
            voucher,
        })
    };
    let mobile = bob.next(net, 8, vec![purchase_id], mobile_p("+442079460000"));
    let mut b = Builder::new(&bob, mobile.clone());
    b.valid(
        "bob reports the direct line as a mobile number, vouched for by his org",
        mobile.clone(),
        bob.head,
    );
    b.common();
    b.with("purchase_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    bob.advance(&mobile);
    files.insert(
        "mobile_report".into(),
        event_file("mobile_report", 7, "member", net, b.finish()),
    );

    // -- vote (alice seq 2) --------------------------------------------------------
    let vote_p = |d: &str| {
        Payload::Vote(Vote {
            company_domain: d.into(),
            employees: EmployeeRange::From201To1000,
            revenue: RevenueRange::From10MTo50M,
        })
    };
    let vote = alice.next(net, 9, vec![], vote_p("xn--bcher-kva.example"));
    let mut b = Builder::new(&alice, vote.clone());
    b.valid(
        "alice votes 201-1000 employees (index 3) and 10M-50M revenue (index 2)",
        vote.clone(),
        alice.head,
    );
    b.common();
    b.payload(
        "domain with a trailing dot",
        Some("invalid_field"),
        vote_p("example.com."),
    );
    b.payload(
        "domain with a label of 64 bytes",
        Some("invalid_field"),
        vote_p(&format!("{}.example", "a".repeat(64))),
    );
    b.payload(
        "domain with a label of 63 bytes",
        None,
        vote_p(&format!("{}.example", "a".repeat(63))),
    );
    b.payload(
        "domain with an underscore",
        Some("invalid_field"),
        vote_p("my_company.example"),
    );
    b.mangle(
        "employees variant index 7 (the last is 6)",
        "malformed",
        |bytes| {
            let n = bytes.len();
            assert_eq!(bytes[n - 2], 3);
            bytes[n - 2] = 7;
        },
    );
    b.mangle(
        "revenue variant index as the over-long varint 0x82 0x00",
        "non_canonical",
        |bytes| {
            assert_eq!(bytes.pop(), Some(2));
            bytes.extend_from_slice(&[0x82, 0x00]);
        },
    );
    alice.advance(&vote);
    files.insert(
        "vote".into(),
        event_file("vote", 8, "member", net, b.finish()),
    );

    // -- referral (carol seq 0) ------------------------------------------------------
    let referral = carol.next(
        net,
        3,
        vec![],
        Payload::Referral(Referral {
            referrer: alice.key.public(),
        }),
    );
    let mut b = Builder::new(&carol, referral.clone());
    b.valid(
        "carol names alice as the member who referred her",
        referral.clone(),
        None,
    );
    b.common();
    carol.advance(&referral);
    files.insert(
        "referral".into(),
        event_file("referral", 9, "member", net, b.finish()),
    );

    // -- grant (org_b seq 1) -------------------------------------------------------
    let grant_p = |points: u64, memo: &str| {
        Payload::Grant(Grant {
            member: alice.key.public(),
            points,
            memo: memo.into(),
        })
    };
    let grant = org_b.next(net, 4, vec![], grant_p(500, "subscription: 100 USD"));
    let mut b = Builder::new(&org_b, grant.clone());
    b.valid("org_b grants alice 500 points", grant.clone(), org_b.head);
    b.common();
    b.payload("zero points", Some("invalid_field"), grant_p(0, "x"));
    b.payload(
        &format!("{MAX_POINTS} points (the limit)"),
        None,
        grant_p(MAX_POINTS, ""),
    );
    b.payload(
        &format!("{} points (limit {MAX_POINTS})", MAX_POINTS + 1),
        Some("invalid_field"),
        grant_p(MAX_POINTS + 1, ""),
    );
    b.payload(
        "memo of 257 bytes (limit 256)",
        Some("invalid_field"),
        grant_p(1, &"m".repeat(MAX_MEMO_BYTES + 1)),
    );
    org_b.advance(&grant);
    files.insert(
        "grant".into(),
        event_file("grant", 10, "org", net, b.finish()),
    );

    // -- transfer (alice seq 3) -----------------------------------------------------
    let transfer_p = |points: u64| {
        Payload::Transfer(Transfer {
            to: bob.key.public(),
            points,
        })
    };
    let transfer = alice.next(net, 10, vec![], transfer_p(25));
    let mut b = Builder::new(&alice, transfer.clone());
    b.valid(
        "alice transfers 25 points to bob",
        transfer.clone(),
        alice.head,
    );
    b.common();
    b.payload("zero points", Some("invalid_field"), transfer_p(0));
    b.payload(
        &format!("{} points (limit {MAX_POINTS})", MAX_POINTS + 1),
        Some("invalid_field"),
        transfer_p(MAX_POINTS + 1),
    );
    alice.advance(&transfer);
    files.insert(
        "transfer".into(),
        event_file("transfer", 11, "member", net, b.finish()),
    );

    // -- opt_out (org_b seq 2) --------------------------------------------------------
    let opt_out = org_b.next(
        net,
        11,
        vec![],
        Payload::OptOut(OptOut {
            dedup_key: l.dedup_key,
        }),
    );
    let mut b = Builder::new(&org_b, opt_out.clone());
    b.valid(
        "org_b records the erasure request for the email of card.json (its dedup key)",
        opt_out.clone(),
        org_b.head,
    );
    b.common();
    org_b.advance(&opt_out);
    files.insert(
        "opt_out".into(),
        event_file("opt_out", 12, "org", net, b.finish()),
    );

    // -- checkpoint (org_a seq 3) -----------------------------------------------------
    let cp = |heads: Vec<ContentId>| {
        Payload::Checkpoint(Checkpoint {
            lamport_bound: 11,
            source: Hash32::ZERO,
            event_count: 14,
            events_root: h("events root (placeholder)"),
            state_root: h("state root (placeholder)"),
            heads,
        })
    };
    let checkpoint = org_a.next(net, 12, vec![deliver_id], cp(vec![deliver_id]));
    let mut b = Builder::new(&org_a, checkpoint.clone());
    b.valid(
        "org_a checkpoints (roots are placeholders: their meaning belongs to the ledger)",
        checkpoint.clone(),
        org_a.head,
    );
    b.common();
    let (x, y) = (h("head x"), h("head y"));
    let (lo, hi) = if x < y { (x, y) } else { (y, x) };
    b.payload(
        "heads not in ascending order",
        Some("invalid_field"),
        cp(vec![hi, lo]),
    );
    b.payload(
        "a head named twice",
        Some("invalid_field"),
        cp(vec![lo, lo]),
    );
    b.payload(
        "257 heads (limit 256)",
        Some("invalid_field"),
        cp((0..=MAX_CLAIM_HEADS)
            .map(|i| h(&format!("head {i:03}")))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()),
    );
    org_a.advance(&checkpoint);
    files.insert(
        "checkpoint".into(),
        event_file("checkpoint", 13, "org", net, b.finish()),
    );

    // -- admit (org_a seq 4) ----------------------------------------------------------
    let admit_p = |name: &str| {
        Payload::Admit(Admit {
            org: key("org_c").public(),
            name: name.into(),
        })
    };
    let admit = org_a.next(net, 13, vec![], admit_p("Org C SARL"));
    let mut b = Builder::new(&org_a, admit.clone());
    b.valid("org_a votes to admit org_c", admit.clone(), org_a.head);
    b.common();
    b.payload("empty org name", Some("invalid_field"), admit_p(""));
    b.payload(
        "org name of 129 bytes (limit 128)",
        Some("invalid_field"),
        admit_p(&"o".repeat(MAX_NAME_BYTES + 1)),
    );
    org_a.advance(&admit);
    files.insert(
        "admit".into(),
        event_file("admit", 14, "org", net, b.finish()),
    );

    // -- evict (org_a seq 5) ----------------------------------------------------------
    let evict_p = |reason: &str| {
        Payload::Evict(Evict {
            org: key("org_b").public(),
            reason: reason.into(),
        })
    };
    let evict = org_a.next(net, 14, vec![], evict_p("stopped delivering cards"));
    let mut b = Builder::new(&org_a, evict.clone());
    b.valid("org_a votes to evict org_b", evict.clone(), org_a.head);
    b.common();
    b.payload("empty reason is allowed", None, evict_p(""));
    b.payload(
        "reason of 257 bytes (limit 256)",
        Some("invalid_field"),
        evict_p(&"r".repeat(MAX_MEMO_BYTES + 1)),
    );
    b.payload(
        "reason with a trailing space",
        Some("invalid_field"),
        evict_p("late "),
    );
    org_a.advance(&evict);
    files.insert(
        "evict".into(),
        event_file("evict", 15, "org", net, b.finish()),
    );

    // -- rotate (org_a seq 6) ---------------------------------------------------------
    let rotate_p = |to: PublicKey| {
        Payload::Rotate(Rotate {
            org: key("org_a").public(),
            to,
        })
    };
    let rotate = org_a.next(net, 15, vec![], rotate_p(key("org_c").public()));
    let mut b = Builder::new(&org_a, rotate.clone());
    b.valid(
        "org_a votes to replace its own key by org_c's",
        rotate.clone(),
        org_a.head,
    );
    b.common();
    b.payload(
        "a key rotated to itself",
        Some("invalid_field"),
        rotate_p(key("org_a").public()),
    );
    org_a.advance(&rotate);
    files.insert(
        "rotate".into(),
        event_file("rotate", 16, "org", net, b.finish()),
    );

    // -- seal (org_a seq 7) -----------------------------------------------------------
    let seal = org_a.next(net, 16, vec![deliver_id], Payload::Seal(Seal {}));
    let mut b = Builder::new(&org_a, seal.clone());
    b.valid(
        "org_a seals an event (its deps enter org_a's line; no effect on the state)",
        seal.clone(),
        org_a.head,
    );
    b.common();
    org_a.advance(&seal);
    files.insert(
        "seal".into(),
        event_file("seal", 17, "org", net, b.finish()),
    );

    // -- hold (org_a seq 8) -----------------------------------------------------------
    let hold_p = |listings: Vec<Hash32>| Payload::Hold(Hold { listings });
    let hold = org_a.next(net, 17, vec![contribute_id], hold_p(vec![contribute_id]));
    let mut b = Builder::new(&org_a, hold.clone());
    b.valid("org_a says it holds alice's card", hold.clone(), org_a.head);
    b.common();
    b.with("the listing is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload("no listing", Some("invalid_field"), hold_p(vec![]));
    b.payload(
        "the same listing twice",
        Some("invalid_field"),
        hold_p(vec![contribute_id, contribute_id]),
    );
    // Every listing among the deps too (so only the count is wrong): 32 deps is the
    // most an event may name.
    let mut many: Vec<Hash32> = (0..=MAX_HOLD_LISTINGS as u32)
        .map(|i| h(&i.to_string()))
        .collect();
    many.sort();
    b.with(
        &format!(
            "{} listings (limit {MAX_HOLD_LISTINGS}), each among the deps",
            MAX_HOLD_LISTINGS + 1
        ),
        "invalid_field",
        |b| {
            b.payload = hold_p(many.clone());
            b.deps = many;
        },
    );
    org_a.advance(&hold);
    files.insert(
        "hold".into(),
        event_file("hold", 18, "org", net, b.finish()),
    );

    // -- dispute (org_a seq 9) --------------------------------------------------------
    let dispute_p = |finding: &str| {
        Payload::Dispute(Dispute {
            report_id: bounce_id,
            finding: finding.into(),
        })
    };
    let dispute = org_a.next(
        net,
        18,
        vec![bounce_id],
        dispute_p("our MX accepted a test message to this address on the same day"),
    );
    let mut b = Builder::new(&org_a, dispute.clone());
    b.valid(
        "org_a disputes bob's bounce report with its own finding",
        dispute.clone(),
        org_a.head,
    );
    b.common();
    b.with("report_id is not among the deps", "invalid_deps", |b| {
        b.deps = vec![]
    });
    b.payload("empty finding", Some("invalid_field"), dispute_p(""));
    b.payload(
        &format!(
            "finding of {} bytes (limit {MAX_MEMO_BYTES})",
            MAX_MEMO_BYTES + 1
        ),
        Some("invalid_field"),
        dispute_p(&"f".repeat(MAX_MEMO_BYTES + 1)),
    );
    org_a.advance(&dispute);
    files.insert(
        "dispute".into(),
        event_file("dispute", 19, "org", net, b.finish()),
    );

    files.insert("genesis".into(), genesis_file());
    files.insert("peer".into(), peer_file(net));
    files.insert(
        "card".into(),
        card_file(&c, &l, net, purchase_id, ephemeral, &sealed),
    );

    Generated { files }
}

fn contribute_teaser(b: &EventBody) -> Teaser {
    match &b.payload {
        Payload::Contribute(c) => c.listing.teaser.shown().cloned().unwrap(),
        _ => unreachable!(),
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

/// The bytes of the libp2p peer id of the Ed25519 transport key `public`: the identity
/// multihash (0x00, length 0x24) of the protobuf PublicKey {Type: Ed25519 (1), Data}.
fn ed25519_peer_id(public: [u8; 32]) -> Vec<u8> {
    let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    id.extend_from_slice(&public);
    id
}

fn peer_file(net: NetworkId) -> Value {
    let org = key("org_a");
    let transport = ed25519_dalek::SigningKey::from_bytes(&[0x77; 32]);
    let peer_id = ed25519_peer_id(transport.verifying_key().to_bytes());
    let attestation = carnet_protocol::peer::sign(&org, &net, &peer_id);
    json!({
        "description": "org_a's attestation of the libp2p peer id of its node (transport \
                        key seed 77…77) in the network of genesis.json: the hello it shows.",
        "network_id_hex": net.to_hex(),
        "org_public_key_hex": org.public().to_hex(),
        "transport_seed_hex": hex::encode([0x77u8; 32]),
        "peer_id_hex": hex::encode(&peer_id),
        "message_hex": hex::encode(carnet_protocol::peer::message(&net, &peer_id)),
        "attestation_hex": hex::encode(attestation),
    })
}

fn check_peer_file(f: &Value, network: NetworkId) {
    assert_eq!(Hash32(h32(&f["network_id_hex"])), network);
    let transport = ed25519_dalek::SigningKey::from_bytes(&h32(&f["transport_seed_hex"]));
    let peer_id = ed25519_peer_id(transport.verifying_key().to_bytes());
    assert_eq!(hexv(&f["peer_id_hex"]), peer_id);
    let mut msg = b"carnet/v3/peer-attestation".to_vec();
    msg.extend_from_slice(network.as_bytes());
    msg.extend_from_slice(&peer_id);
    assert_eq!(hexv(&f["message_hex"]), msg);
    let org = ed25519_dalek::VerifyingKey::from_bytes(&h32(&f["org_public_key_hex"])).unwrap();
    let sig: [u8; 64] = hexv(&f["attestation_hex"]).try_into().unwrap();
    org.verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .unwrap();
    let public = PublicKey(h32(&f["org_public_key_hex"]));
    assert!(carnet_protocol::peer::verify(
        &public, &network, &peer_id, &sig
    ));
    assert!(!carnet_protocol::peer::verify(
        &public,
        &network,
        &peer_id[1..],
        &sig
    ));
}

fn genesis_file() -> Value {
    let g = genesis();
    let o = other_genesis();
    let keys: Map<String, Value> = KEYS
        .iter()
        .map(|(name, b)| {
            let k = key(name);
            (
                name.to_string(),
                json!({
                    "seed_hex": hex::encode([*b; 32]),
                    "public_key_hex": k.public().to_hex(),
                }),
            )
        })
        .collect();
    json!({
        "description": "The network all event vectors belong to, and the fixed keys that sign them. \
                        Keys are RFC 8032 Ed25519 keys from the given 32-byte seeds.",
        "keys": keys,
        "genesis": readable(&g),
        "canonical_hex": hex::encode(g.to_bytes()),
        "network_id_hex": g.network_id().to_hex(),
        "other_network": {
            "description": "The same genesis with another name: events of this network are wrong_network vectors.",
            "genesis": readable(&o),
            "canonical_hex": hex::encode(o.to_bytes()),
            "network_id_hex": o.network_id().to_hex(),
        },
    })
}

fn card_file(
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

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors")
}

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

/// One test, so that the check never reads a file while it is being rewritten.
#[test]
fn vectors() {
    vectors_match_files();
    vectors_check();
}

fn vectors_match_files() {
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

// ---------------------------------------------------------------------------------
// Independent check: read the files back, decode, recompute from raw primitives.
// ---------------------------------------------------------------------------------

fn read(name: &str) -> Value {
    let text = std::fs::read_to_string(vectors_dir().join(format!("{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn hexv(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    hexv(v).try_into().unwrap()
}

const KINDS: [&str; 20] = [
    "enroll",
    "revoke",
    "contribute",
    "update",
    "purchase",
    "deliver",
    "bounce_report",
    "mobile_report",
    "vote",
    "referral",
    "grant",
    "transfer",
    "opt_out",
    "checkpoint",
    "admit",
    "evict",
    "rotate",
    "seal",
    "hold",
    "dispute",
];

fn vectors_check() {
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
    for (index, kind) in KINDS.iter().enumerate() {
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
                    let vk = ed25519_dalek::VerifyingKey::from_bytes(&h32(&v["public_key_hex"]))
                        .unwrap();
                    let msg = [&b"carnet/v1/event-signature"[..], &id].concat();
                    let s = ed25519_dalek::Signature::from_slice(&sig).unwrap();
                    vk.verify_strict(&msg, &s).unwrap();
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

    check_card_file(&read("card"), network);
    check_peer_file(&read("peer"), network);
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
    let org_a = ed25519_dalek::VerifyingKey::from_bytes(&key("org_a").public().0).unwrap();
    org_a
        .verify_strict(
            &msg,
            &ed25519_dalek::Signature::from_bytes(&report.voucher.0),
        )
        .expect("org_a's mobile voucher");
}

fn check_card_file(f: &Value, network: NetworkId) {
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
    assert_eq!(
        derive("carnet v4 dedup key", &[&secret, email]),
        h32(&f["dedup_key_hex"])
    );
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
    let member = ed25519_dalek::VerifyingKey::from_bytes(&key("alice").public().0).unwrap();
    let sig: [u8; 64] = hexv(&r["signature_hex"]).try_into().unwrap();
    member
        .verify_strict(&msg, &ed25519_dalek::Signature::from_bytes(&sig))
        .unwrap();

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

// ---------------------------------------------------------------------------------
// The encoding claims of docs/protocol.md, "Wire encoding".
// ---------------------------------------------------------------------------------

fn enc<T: serde::Serialize>(v: &T) -> String {
    hex::encode(to_canonical(v))
}

#[test]
fn encoding_rules() {
    // Unsigned integers: u8 is one raw byte, wider ones are minimal LEB128 varints.
    assert_eq!(enc(&200u8), "c8");
    assert_eq!(enc(&127u64), "7f");
    assert_eq!(enc(&128u64), "8001");
    assert_eq!(enc(&300u16), "ac02");
    assert_eq!(enc(&u16::MAX), "ffff03");
    assert_eq!(enc(&u32::MAX), "ffffffff0f");
    assert_eq!(enc(&u64::MAX), "ffffffffffffffffff01");
    // bool, Option.
    assert_eq!(enc(&false), "00");
    assert_eq!(enc(&true), "01");
    assert_eq!(enc(&None::<u64>), "00");
    assert_eq!(enc(&Some(5u64)), "0105");
    // String and Vec: varint length, then the UTF-8 bytes / the elements.
    assert_eq!(enc(&"hé".to_string()), "0368c3a9");
    assert_eq!(&enc(&"a".repeat(200))[..8], "c8016161");
    assert_eq!(enc(&vec![1u8, 2, 3]), "03010203");
    assert_eq!(
        enc(&vec![Hash32([7; 32])]),
        format!("01{}", "07".repeat(32))
    );
    // Fixed arrays and newtypes: the raw bytes, no length.
    assert_eq!(enc(&[7u8; 32]), "07".repeat(32));
    assert_eq!(enc(&Hash32([7; 32])), "07".repeat(32));
    assert_eq!(enc(&PublicKey([7; 32])), "07".repeat(32));
    // Structs: fields in order, no tags. A tuple of the same fields encodes the same.
    let dsn = DsnStatus {
        class: 5,
        subject: 1,
        detail: 300,
    };
    assert_eq!(enc(&dsn), "0501ac02");
    assert_eq!(enc(&(5u8, 1u16, 300u16)), "0501ac02");
    // Enums: varint variant index, then the variant's fields.
    assert_eq!(enc(&EmployeeRange::From1To10), "00");
    assert_eq!(enc(&RevenueRange::Over1B), "06");
    assert_eq!(
        enc(&Payload::Admit(Admit {
            org: PublicKey([9; 32]),
            name: "x".into()
        })),
        format!("0e{}0178", "09".repeat(32))
    );

    // Decoding: what postcard rejects is malformed; what it accepts but does not
    // re-encode to the same bytes is non_canonical.
    let malformed = |r: Result<(), EncodingError>| matches!(r, Err(EncodingError::Malformed(_)));
    let u64_of = |b: &[u8]| from_canonical::<u64>(b, 64).map(|_| ());
    let u16_of = |b: &[u8]| from_canonical::<u16>(b, 64).map(|_| ());
    let u32_of = |b: &[u8]| from_canonical::<u32>(b, 64).map(|_| ());
    assert_eq!(u64_of(&[0x80, 0x00]), Err(EncodingError::NonCanonical));
    assert_eq!(
        u64_of(&[0x81, 0x80, 0x00]),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        u64_of(&[0xff; 9].iter().chain(&[0x01]).copied().collect::<Vec<_>>()),
        Ok(())
    );
    assert!(malformed(u64_of(
        &[0xff; 9].iter().chain(&[0x02]).copied().collect::<Vec<_>>()
    )));
    assert!(malformed(u64_of(
        &[0x80; 10]
            .iter()
            .chain(&[0x00])
            .copied()
            .collect::<Vec<_>>()
    )));
    assert!(malformed(u64_of(&[0x80])));
    assert!(malformed(u64_of(&[])));
    assert_eq!(u16_of(&[0xff, 0xff, 0x03]), Ok(()));
    assert!(malformed(u16_of(&[0xff, 0xff, 0x04])));
    assert_eq!(
        u16_of(&[0x80, 0x80, 0x00]),
        Err(EncodingError::NonCanonical)
    );
    assert!(malformed(u16_of(&[0x80, 0x80, 0x80, 0x00])));
    assert_eq!(u32_of(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok(()));
    assert!(malformed(u32_of(&[0xff, 0xff, 0xff, 0xff, 0x10])));
    assert!(malformed(from_canonical::<bool>(&[2], 8).map(|_| ())));
    assert!(malformed(from_canonical::<Option<u8>>(&[2], 8).map(|_| ())));
    assert!(malformed(
        from_canonical::<String>(&[2, 0xff, 0xfe], 8).map(|_| ())
    ));
    assert!(malformed(
        from_canonical::<String>(&[5, 0x61], 8).map(|_| ())
    ));
    assert!(malformed(
        from_canonical::<EmployeeRange>(&[7], 8).map(|_| ())
    ));
    assert!(malformed(from_canonical::<Payload>(&[15], 8).map(|_| ())));
    assert_eq!(
        from_canonical::<EmployeeRange>(&[0x80, 0x00], 8),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        from_canonical::<String>(&[0x81, 0x00, 0x61], 8),
        Err(EncodingError::NonCanonical)
    );
    assert_eq!(
        from_canonical::<u8>(&[1, 2], 8),
        Err(EncodingError::TrailingBytes(1))
    );
    // A malformed field after a non-minimal one: malformed wins.
    assert!(malformed(
        from_canonical::<(u64, bool)>(&[0x80, 0x00, 0x02], 8).map(|_| ())
    ));

    // Genesis layout and defaults.
    assert_eq!(PROTOCOL_VERSION, 4);
    let r = Rules::default();
    assert_eq!(
        enc(&r),
        // Two tuples (serde stops at 16 fields): a tuple has no length prefix, so
        // the bytes are the eighteen fields in order.
        enc(&(
            (
                10u64,
                10u64,
                2_592_000_000u64,
                10u64,
                10u64,
                10u64,
                100u64,
                2u32,
                125u64,
            ),
            (
                5u64,
                25u64,
                2_592_000_000u64,
                1_209_600_000u64,
                25u32,
                2_592_000_000u64,
                0u32,
                2u32,
                3u32
            )
        ))
    );
}
