//! The state root: a BLAKE3 Merkle tree (RFC 6962 shape) over the sorted state.
//!
//! Each leaf is the canonical encoding of one [`StateLeaf`]; leaves are sorted by
//! their bytes, so the root depends only on the state. An auditor given a leaf and an
//! inclusion proof can check one balance against a signed checkpoint without the rest.

use super::state::*;
use crate::encoding::to_canonical;
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::payload::{EmployeeRange, RevenueRange};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{InclusionProof, RootHash};
use serde::{Deserialize, Serialize};

/// One entry of the state as committed by the state root. The variant order is
/// normative (docs/protocol.md, "State root").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StateLeaf {
    Org {
        key: PublicKey,
        name: String,
        founding: bool,
    },
    Account {
        key: PublicKey,
        kind: AccountKind,
        status: AccountStatus,
        balance: i64,
        escrow: i64,
        pending: i64,
        mobile_strikes: u32,
        contributions: u64,
        referrer: Option<PublicKey>,
    },
    Listing {
        id: ContentId,
        contributor: PublicKey,
        /// BLAKE3 of the canonical listing as currently in force, its teaser erased (so a
        /// node that holds the erased form agrees).
        listing_hash: Hash32,
        status: ListingStatus,
        sales: u64,
        held: bool,
    },
    Purchase {
        id: ContentId,
        buyer: PublicKey,
        listing_id: ContentId,
        price: u64,
        status: PurchaseStatus,
    },
    Vote {
        company_domain: String,
        member: PublicKey,
        employees: EmployeeRange,
        revenue: RevenueRange,
    },
    OptedOut {
        dedup_key: Hash32,
    },
    Finalized {
        claim: CheckpointClaim,
    },
}

impl State {
    /// Every leaf of the state, encoded and sorted.
    pub fn leaves(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(
            self.orgs.len()
                + self.accounts.len()
                + self.listings.len()
                + self.purchases.len()
                + self.votes.len(),
        );
        for (key, o) in &self.orgs {
            out.push(to_canonical(&StateLeaf::Org {
                key: *key,
                name: o.name.clone(),
                founding: o.founding,
            }));
        }
        for (key, a) in &self.accounts {
            out.push(to_canonical(&account_leaf(key, a)));
        }
        for (id, l) in &self.listings {
            out.push(to_canonical(&StateLeaf::Listing {
                id: *id,
                contributor: l.contributor,
                listing_hash: Hash32::of(&to_canonical(&l.listing.erased())),
                status: l.status,
                sales: l.sales,
                held: l.held,
            }));
        }
        for (id, p) in &self.purchases {
            out.push(to_canonical(&StateLeaf::Purchase {
                id: *id,
                buyer: p.buyer,
                listing_id: p.listing_id,
                price: p.price,
                status: p.status,
            }));
        }
        for ((domain, member), v) in &self.votes {
            out.push(to_canonical(&StateLeaf::Vote {
                company_domain: domain.clone(),
                member: *member,
                employees: v.employees,
                revenue: v.revenue,
            }));
        }
        for k in &self.opted_out {
            out.push(to_canonical(&StateLeaf::OptedOut { dedup_key: *k }));
        }
        if let Some(claim) = self.finalized {
            out.push(to_canonical(&StateLeaf::Finalized { claim }));
        }
        out.sort_unstable();
        out
    }

    /// The state root: see the module doc.
    pub fn root(&self) -> Hash32 {
        merkle_root(self.leaves())
    }

    /// The leaf for `account` with its inclusion proof under [`State::root`].
    pub fn prove_account(&self, account: &PublicKey) -> Option<StateProof> {
        let a = self.accounts.get(account)?;
        let leaf = to_canonical(&account_leaf(account, a));
        let leaves = self.leaves();
        let index = leaves.binary_search(&leaf).ok()?;
        let tree = build(leaves);
        Some(StateProof {
            leaf,
            index: index as u64,
            num_leaves: tree.len(),
            proof: tree.prove_inclusion(index).as_bytes().to_vec(),
        })
    }
}

fn account_leaf(key: &PublicKey, a: &Account) -> StateLeaf {
    StateLeaf::Account {
        key: *key,
        kind: a.kind,
        status: a.status,
        balance: a.balance,
        escrow: a.escrow,
        pending: a.pending,
        mobile_strikes: a.mobile_strikes,
        contributions: a.contributions,
        referrer: a.referrer,
    }
}

fn build(leaves: Vec<Vec<u8>>) -> MemoryBackedTree<blake3::Hasher, Vec<u8>> {
    let mut tree = MemoryBackedTree::new();
    for l in leaves {
        tree.push(l);
    }
    tree
}

/// RFC 6962 Merkle Tree Hash with BLAKE3: leaf = H(0x00 || bytes), node = H(0x01 || l || r).
/// Computed with a frontier (no tree kept); proofs build the full tree with ct-merkle.
pub fn merkle_root(leaves: Vec<Vec<u8>>) -> Hash32 {
    let mut f = super::frontier::EventsFrontier::default();
    for l in &leaves {
        f.push_leaf(l);
    }
    f.root()
}

/// An inclusion proof of one state leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// Canonical bytes of the [`StateLeaf`].
    pub leaf: Vec<u8>,
    pub index: u64,
    pub num_leaves: u64,
    /// The sibling hashes, leaf to root, 32 bytes each (RFC 6962 audit path).
    pub proof: Vec<u8>,
}

impl StateProof {
    /// Checks the proof against a state root.
    pub fn verify(&self, root: &Hash32) -> bool {
        if self.index >= self.num_leaves || !self.proof.len().is_multiple_of(32) {
            return false;
        }
        let Ok(proof) = InclusionProof::<blake3::Hasher>::try_from_bytes(self.proof.clone()) else {
            return false;
        };
        let root = RootHash::<blake3::Hasher>::new((*root.as_bytes()).into(), self.num_leaves);
        root.verify_inclusion(&self.leaf, self.index, &proof)
            .is_ok()
    }
}
