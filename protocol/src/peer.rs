//! Peer attestations: an org key vouching for the libp2p peer id of its node.
//!
//! A node's transport identity (its libp2p peer id) is not its org key, so on its own
//! a connection says nothing about which org, if any, is at the other end. Before a
//! node gossips or syncs with a peer, the peer shows an attestation: the org key's
//! signature over the network id and the peer id the connection authenticated
//! (docs/protocol.md, "Peer admission"). A node serves only peers whose attesting key
//! is a current org of the network; a stranger with a key and a socket gets nothing.

use crate::hash::NetworkId;
use crate::keys::{self, PublicKey, SecretKey};

/// Prefix of the signed message, so an attestation is never an event signature or a
/// voucher.
pub const PEER_ATTESTATION_DOMAIN: &[u8] = b"carnet/v3/peer-attestation";

/// Longest peer id accepted (bytes of its multihash); an Ed25519 peer id is 38.
pub const MAX_PEER_ID_BYTES: usize = 64;

/// The bytes an org signs: the domain, the network id, then the peer id's bytes (its
/// multihash, as libp2p writes it). The first two have fixed lengths, so the peer id
/// needs no length prefix.
pub fn message(network: &NetworkId, peer_id: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(PEER_ATTESTATION_DOMAIN.len() + 32 + peer_id.len());
    msg.extend_from_slice(PEER_ATTESTATION_DOMAIN);
    msg.extend_from_slice(network.as_bytes());
    msg.extend_from_slice(peer_id);
    msg
}

pub fn sign(org: &SecretKey, network: &NetworkId, peer_id: &[u8]) -> [u8; 64] {
    org.sign_raw(&message(network, peer_id))
}

/// Verification (docs/protocol.md, "Signature verification") under `org`.
pub fn verify(org: &PublicKey, network: &NetworkId, peer_id: &[u8], signature: &[u8; 64]) -> bool {
    peer_id.len() <= MAX_PEER_ID_BYTES && keys::verify(org, &message(network, peer_id), signature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::Hash32;

    #[test]
    fn an_attestation_binds_the_key_the_network_and_the_peer() {
        let org = SecretKey::from_seed([1; 32]);
        let net = Hash32::of(b"net");
        let peer = [7u8; 38];
        let sig = sign(&org, &net, &peer);
        assert!(verify(&org.public(), &net, &peer, &sig));
        assert!(!verify(
            &SecretKey::from_seed([2; 32]).public(),
            &net,
            &peer,
            &sig
        ));
        assert!(!verify(&org.public(), &Hash32::of(b"other"), &peer, &sig));
        assert!(!verify(&org.public(), &net, &[8u8; 38], &sig));
        assert!(!verify(
            &org.public(),
            &net,
            &[7u8; 65],
            &sign(&org, &net, &[7u8; 65])
        ));
    }
}
