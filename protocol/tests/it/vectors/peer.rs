//! peer.json: an org's attestation of its node's libp2p peer id, and its check.

use super::{h32, hexv, key};
use carnet_protocol::*;
use serde_json::{json, Value};

/// The bytes of the libp2p peer id of the Ed25519 transport key `public`: the identity
/// multihash (0x00, length 0x24) of the protobuf PublicKey {Type: Ed25519 (1), Data}.
fn ed25519_peer_id(public: [u8; 32]) -> Vec<u8> {
    let mut id = vec![0x00, 0x24, 0x08, 0x01, 0x12, 0x20];
    id.extend_from_slice(&public);
    id
}

pub(super) fn peer_file(net: NetworkId) -> Value {
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

pub(super) fn check_peer_file(f: &Value, network: NetworkId) {
    assert_eq!(Hash32(h32(&f["network_id_hex"])), network);
    let transport = ed25519_dalek::SigningKey::from_bytes(&h32(&f["transport_seed_hex"]));
    let peer_id = ed25519_peer_id(transport.verifying_key().to_bytes());
    assert_eq!(hexv(&f["peer_id_hex"]), peer_id);
    let mut msg = b"carnet/v3/peer-attestation".to_vec();
    msg.extend_from_slice(network.as_bytes());
    msg.extend_from_slice(&peer_id);
    assert_eq!(hexv(&f["message_hex"]), msg);
    let sig: [u8; 64] = hexv(&f["attestation_hex"]).try_into().unwrap();
    assert!(crate::common::crafted::verifies(
        &h32(&f["org_public_key_hex"]),
        &msg,
        &sig
    ));
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
