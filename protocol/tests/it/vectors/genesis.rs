//! genesis.json: the network every event vector belongs to, and the fixed keys that
//! sign them.

use super::{genesis, key, other_genesis, readable, KEYS};
use serde_json::{json, Map, Value};

pub(super) fn genesis_file() -> Value {
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
