//! Test vectors for docs/protocol.md: generated here, written to docs/test-vectors/,
//! and checked here.
//!
//! * `vectors`: first, regenerating the vectors gives exactly the files on disk (run
//!   with `CARNET_REGEN_VECTORS=1` to rewrite them instead); then every JSON file is
//!   read back and each vector run through the decoder and the chain check, with
//!   hashes, keys and the sealed card recomputed from the raw primitives.
//! * `encoding_rules`: the wire-encoding claims of docs/protocol.md, checked on postcard.
//!
//! This file holds the fixture, the vector builder and `generate`, which calls one
//! generator per group of files: membership.rs, listings.rs, trade.rs, reports.rs,
//! members.rs and orgs.rs write the event files in story order; genesis.rs, peer.rs and
//! card.rs the others (peer.rs and card.rs also check theirs); check.rs is the driver
//! that compares, rewrites and checks the files; encoding.rs holds `encoding_rules`.
//!
//! The generator states the expected outcome of each vector itself; only the checker
//! runs the decoder, so a vector can never agree with the code just by construction.

use carnet_protocol::card::{Card, NetworkSecret};
use carnet_protocol::chain::ChainHead;
use carnet_protocol::encoding::{take_canonical, to_canonical};
use carnet_protocol::event::signing_message;
use carnet_protocol::genesis::OrgEntry;
use carnet_protocol::payload::*;
use carnet_protocol::*;
use ed25519_dalek::Signer;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;

mod card;
mod check;
mod encoding;
mod genesis;
mod listings;
mod members;
mod membership;
mod orgs;
mod peer;
mod phone;
mod reports;
mod trade;

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

/// The story the event vectors tell, written group by group: the network, the card of
/// card.json and its listing, each author's chain so far, and the files written.
struct Story {
    net: NetworkId,
    card: Card,
    listing: Listing,
    org_a: Chain,
    org_b: Chain,
    alice: Chain,
    bob: Chain,
    carol: Chain,
    files: BTreeMap<String, Value>,
}

impl Story {
    fn new() -> Self {
        let g = genesis();
        let c = card();
        Story {
            net: g.network_id(),
            listing: listing(&c),
            card: c,
            org_a: Chain::new("org_a"),
            org_b: Chain::new("org_b"),
            alice: Chain::new("alice"),
            bob: Chain::new("bob"),
            carol: Chain::new("carol"),
            files: BTreeMap::new(),
        }
    }
}

/// Every vector file, one generator per group of files. The event groups run in story
/// order: each author's chain grows in the order its events appear, and later events
/// name earlier ones.
fn generate() -> Generated {
    let mut s = Story::new();
    let enrolled = membership::generate(&mut s);
    let contribute_id = listings::generate(&mut s, enrolled.alice);
    let sale = trade::generate(&mut s, contribute_id, enrolled.bob);
    let bounce_id = reports::generate(&mut s, sale.purchase_id, sale.deliver_id);
    members::generate(&mut s);
    orgs::generate(&mut s, contribute_id, sale.deliver_id, bounce_id);

    s.files.insert("genesis".into(), genesis::genesis_file());
    s.files.insert("peer".into(), peer::peer_file(s.net));
    s.files.insert("phone".into(), phone::phone_file());
    s.files.insert(
        "card".into(),
        card::card_file(
            &s.card,
            &s.listing,
            s.net,
            sale.purchase_id,
            sale.ephemeral,
            &sale.sealed,
        ),
    );

    Generated { files: s.files }
}

// ---------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors")
}

/// One test, so that the check never reads a file while it is being rewritten.
#[test]
fn vectors() {
    check::vectors_match_files();
    check::vectors_check();
}

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
