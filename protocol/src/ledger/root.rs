//! The state root: the root of a Merkle trie over the state's leaves ([`super::trie`]).
//!
//! Each leaf is the canonical encoding of one [`StateLeaf`], placed at the hash of its
//! [`LeafKey`], so the root depends only on the state. An auditor given a leaf and its
//! siblings can check one balance against a signed checkpoint without the rest.

use super::proof::leaf_hash;
use super::state::*;
use super::trie::Trie;
use crate::encoding::{from_canonical, to_canonical};
use crate::hash::{ContentId, Hash32};
use crate::keys::PublicKey;
use crate::payload::{EmployeeRange, RevenueRange};
use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

impl StateLeaf {
    /// What identifies this leaf in the state: where it sits in the tree.
    pub fn key(&self) -> LeafKey {
        match self {
            StateLeaf::Org { key, .. } => LeafKey::Org { key: *key },
            StateLeaf::Account { key, .. } => LeafKey::Account { key: *key },
            StateLeaf::Listing { id, .. } => LeafKey::Listing { id: *id },
            StateLeaf::Purchase { id, .. } => LeafKey::Purchase { id: *id },
            StateLeaf::Vote {
                company_domain,
                member,
                ..
            } => LeafKey::Vote {
                company_domain: company_domain.clone(),
                member: *member,
            },
            StateLeaf::OptedOut { dedup_key } => LeafKey::OptedOut {
                dedup_key: *dedup_key,
            },
            StateLeaf::Finalized { .. } => LeafKey::Finalized,
        }
    }
}

/// The identity of a state leaf: the fields of its [`StateLeaf`] that no event
/// changes. Its hash is the leaf's path in the state tree. The variant order is
/// normative and follows [`StateLeaf`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LeafKey {
    Org {
        key: PublicKey,
    },
    Account {
        key: PublicKey,
    },
    Listing {
        id: ContentId,
    },
    Purchase {
        id: ContentId,
    },
    Vote {
        company_domain: String,
        member: PublicKey,
    },
    OptedOut {
        dedup_key: Hash32,
    },
    Finalized,
}

impl LeafKey {
    /// The leaf's path in the state tree: BLAKE3 in derive-key mode of its canonical
    /// encoding.
    pub fn path(&self) -> Hash32 {
        Hash32::derive(PATH_CONTEXT, &[&to_canonical(self)])
    }
}

/// The derive-key context of leaf paths (docs/protocol.md, "State root").
pub const PATH_CONTEXT: &str = "carnet v1 state leaf path";

/// Leaves larger than this are not state leaves: the largest holds a company domain
/// and a name, both far shorter.
const MAX_LEAF: usize = 4096;

/// The state as of its last root: the tree, and the maps it was computed from, so the
/// next root hashes only what changed since (imbl's diff skips the subtrees two
/// versions of a map share).
#[derive(Clone, Default)]
pub(crate) struct Committed {
    orgs: OrdMap<PublicKey, OrgState>,
    accounts: OrdMap<PublicKey, Account>,
    listings: OrdMap<ContentId, ListingState>,
    listing_bodies: Bodies,
    purchases: Purchases,
    votes: OrdMap<(String, PublicKey), CompanyVote>,
    opted_out: OrdSet<Hash32>,
    finalized: Option<CheckpointClaim>,
    /// Events applied to the state it was computed from: of two trees of one line of
    /// states, the one with more is the more recent (see [`State::adopt_newer_tree`]).
    applied: u64,
    trie: Trie,
}

type Purchases = super::cold::ColdMap<ContentId, PurchaseState, { super::cold::PURCHASES }>;
type Bodies = super::cold::ColdMap<ContentId, ListingBody, { super::cold::LISTINGS }>;

impl Committed {
    /// Whether this tree's maps on disk read the rows `state`'s do: the condition for
    /// the next root to hash only what changed (see [`diff_cold`]).
    pub(super) fn cold_rows_match(&self, state: &State) -> bool {
        self.purchases.same_rows(&state.purchases)
            && self.listing_bodies.same_rows(&state.listing_bodies)
    }

    /// Takes `state`'s maps on disk, which read the same values as this tree's copies
    /// from other rows (a rebase: see [`State::rebase_cold`]).
    pub(super) fn follow_cold(&mut self, state: &State) {
        self.purchases = state.purchases.clone();
        self.listing_bodies = state.listing_bodies.clone();
    }
}

impl std::fmt::Debug for Committed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Committed")
    }
}

fn org_leaf(key: &PublicKey, o: &OrgState) -> StateLeaf {
    StateLeaf::Org {
        key: *key,
        name: o.name.clone(),
        founding: o.founding,
    }
}

fn listing_leaf(id: &ContentId, l: &ListingState, body: &ListingBody) -> StateLeaf {
    StateLeaf::Listing {
        id: *id,
        contributor: l.contributor,
        listing_hash: Hash32::of(&to_canonical(&body.listing.erased())),
        status: l.status,
        sales: l.sales,
        held: l.held,
    }
}

fn purchase_leaf(id: &ContentId, p: &PurchaseState) -> StateLeaf {
    StateLeaf::Purchase {
        id: *id,
        buyer: p.buyer,
        listing_id: p.listing_id,
        price: p.price,
        status: p.status,
    }
}

fn vote_leaf(key: &(String, PublicKey), v: &CompanyVote) -> StateLeaf {
    StateLeaf::Vote {
        company_domain: key.0.clone(),
        member: key.1,
        employees: v.employees,
        revenue: v.revenue,
    }
}

/// (path, leaf hash) of a leaf.
fn placed(leaf: &StateLeaf) -> (Hash32, Hash32) {
    (leaf.key().path(), leaf_hash(&to_canonical(leaf)))
}

/// Feeds the changes from `old` to `new`, maps that read the same rows, into the
/// tree: a key whose entries in memory differ is set to what `new` reads (an old
/// version of a map reads its own rows, so no row changes under it).
fn diff_cold<K, V, const TABLE: u8>(
    trie: &mut Trie,
    old: &super::cold::ColdMap<K, V, TABLE>,
    new: &super::cold::ColdMap<K, V, TABLE>,
    leaf: impl Fn(&K, &V) -> StateLeaf,
    path: impl Fn(&K) -> Hash32,
) where
    K: Ord + Clone + Serialize + serde::de::DeserializeOwned,
    V: Clone + PartialEq + Serialize + serde::de::DeserializeOwned,
{
    set_leaves(
        trie,
        new.changed_from(old),
        |k| Some(leaf(k, &new.get(k)?)),
        path,
    );
}

/// Sets each of `keys` in the tree to its leaf, or takes it out where it has none.
fn set_leaves<K>(
    trie: &mut Trie,
    keys: Vec<K>,
    leaf: impl Fn(&K) -> Option<StateLeaf>,
    path: impl Fn(&K) -> Hash32,
) {
    for k in keys {
        match leaf(&k) {
            Some(leaf) => {
                let (path, hash) = placed(&leaf);
                trie.set(path, Some(hash));
            }
            None => trie.set(path(&k), None),
        }
    }
}

/// Feeds the listings that changed since `old` into the tree: a listing's leaf reads
/// its state (in memory) and its body (on disk), so a change to either counts.
fn diff_listings(
    trie: &mut Trie,
    (old, old_bodies): (&OrdMap<ContentId, ListingState>, &Bodies),
    new: &State,
) {
    let mut changed = super::cold::changed_keys(old, &new.listings);
    changed.extend(new.listing_bodies.changed_from(old_bodies));
    changed.sort_unstable();
    changed.dedup();
    // A body that cannot be read is recorded by `get` for the ledger, which rebuilds;
    // the leaf is left out meanwhile.
    set_leaves(
        trie,
        changed,
        |id| {
            let l = new.listings.get(id)?;
            Some(listing_leaf(id, l, &new.listing_bodies.get(id)?))
        },
        |id| LeafKey::Listing { id: *id }.path(),
    );
}

/// Feeds the changes from `old` to `new` into the tree.
fn diff_map<K: Ord + Clone, V: PartialEq + Clone>(
    trie: &mut Trie,
    old: &OrdMap<K, V>,
    new: &OrdMap<K, V>,
    leaf: impl Fn(&K, &V) -> StateLeaf,
) {
    use imbl::ordmap::DiffItem;
    for d in old.diff(new) {
        match d {
            DiffItem::Add(k, v) | DiffItem::Update { new: (k, v), .. } => {
                let (path, hash) = placed(&leaf(k, v));
                trie.set(path, Some(hash));
            }
            DiffItem::Remove(k, v) => trie.set(leaf(k, v).key().path(), None),
        }
    }
}

impl State {
    /// Every leaf of the state, encoded and sorted (what the test vectors list).
    pub fn leaves(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = self.leaf_values().iter().map(to_canonical).collect();
        out.sort_unstable();
        out
    }

    fn leaf_values(&self) -> Vec<StateLeaf> {
        let mut out = Vec::with_capacity(
            self.orgs.len()
                + self.accounts.len()
                + self.listings.len()
                + self.purchases.len()
                + self.votes.len(),
        );
        out.extend(self.orgs.iter().map(|(k, o)| org_leaf(k, o)));
        out.extend(self.accounts.iter().map(|(k, a)| account_leaf(k, a)));
        let bodies = self.listing_bodies.whole_or_record();
        out.extend(
            self.listings
                .iter()
                .filter_map(|(k, l)| Some(listing_leaf(k, l, bodies.get(k)?))),
        );
        let purchases = self.purchases.whole_or_record();
        out.extend(purchases.iter().map(|(k, p)| purchase_leaf(k, p)));
        out.extend(self.votes.iter().map(|(k, v)| vote_leaf(k, v)));
        out.extend(
            self.opted_out
                .iter()
                .map(|k| StateLeaf::OptedOut { dedup_key: *k }),
        );
        if let Some(claim) = self.finalized {
            out.push(StateLeaf::Finalized { claim });
        }
        out
    }

    /// The tree of this state: the last one computed, brought up to date with what
    /// changed since, or built whole when there is none (a state just decoded).
    fn committed(&self) -> Committed {
        let mut c = match &self.tree {
            // A tree whose maps on disk read other rows cannot say what changed.
            Some(c) if c.cold_rows_match(self) => {
                let mut c = (**c).clone();
                let t = &mut c.trie;
                diff_map(t, &c.orgs, &self.orgs, org_leaf);
                diff_map(t, &c.accounts, &self.accounts, account_leaf);
                diff_listings(t, (&c.listings, &c.listing_bodies), self);
                diff_cold(t, &c.purchases, &self.purchases, purchase_leaf, |id| {
                    LeafKey::Purchase { id: *id }.path()
                });
                diff_map(t, &c.votes, &self.votes, vote_leaf);
                for d in c.opted_out.diff(&self.opted_out) {
                    let (k, add) = match d {
                        imbl::ordset::DiffItem::Add(k) => (k, true),
                        imbl::ordset::DiffItem::Remove(k) => (k, false),
                    };
                    let (path, hash) = placed(&StateLeaf::OptedOut { dedup_key: *k });
                    t.set(path, add.then_some(hash));
                }
                if c.finalized != self.finalized {
                    match self.finalized {
                        Some(claim) => {
                            let (path, hash) = placed(&StateLeaf::Finalized { claim });
                            t.set(path, Some(hash));
                        }
                        None => t.set(LeafKey::Finalized.path(), None),
                    }
                }
                c
            }
            _ => Committed {
                trie: Trie::build(self.leaf_values().iter().map(placed).collect()),
                ..Committed::default()
            },
        };
        c.trie.root();
        c.orgs = self.orgs.clone();
        c.accounts = self.accounts.clone();
        c.listings = self.listings.clone();
        c.listing_bodies = self.listing_bodies.clone();
        c.purchases = self.purchases.clone();
        c.votes = self.votes.clone();
        c.opted_out = self.opted_out.clone();
        c.finalized = self.finalized;
        c.applied = self.applied;
        c
    }

    /// The state root (docs/protocol.md, "State root"). Keeps the tree, so the next
    /// root after a few changes costs a few paths: O(log n) each.
    pub fn root(&mut self) -> Hash32 {
        let mut c = self.committed();
        let root = c.trie.root();
        self.tree = Some(Arc::new(c));
        root
    }

    /// Takes the state tree out, to hand it to a state derived from this one
    /// ([`State::adopt_tree`]).
    pub(super) fn take_tree(&mut self) -> Option<Arc<Committed>> {
        self.tree.take()
    }

    /// Uses `tree` for the next root if there is one: any kept tree is valid for any
    /// state (the next root hashes the differences), and a recent one is cheaper; but
    /// only one whose maps on disk read this state's rows tells the differences.
    pub(super) fn adopt_tree(&mut self, tree: Option<Arc<Committed>>) {
        if let Some(t) = tree {
            // One whose maps on disk read other rows would cost a root built whole:
            // this state's own, if any, is better.
            if t.cold_rows_match(self) || self.tree.is_none() {
                self.tree = Some(t);
            }
        }
    }

    /// This state's tree, kept as its own: a snapshot saves its (path, leaf hash)
    /// pairs so that a start does not encode and hash every leaf again, and hands it
    /// back to the ledger it was taken from ([`State::adopt_newer_tree`]).
    pub(super) fn keep_tree(&mut self) -> Trie {
        let c = self.committed();
        let trie = c.trie.clone();
        self.tree = Some(Arc::new(c));
        trie
    }

    /// Takes `tree` for the next root if it is more recent than this state's own (it
    /// was computed from a state with more events applied) and tells the differences
    /// (its maps on disk read this state's rows). Any such tree gives the same root;
    /// the more recent one has fewer differences to hash. A node that asks no root
    /// while it catches up gets back the tree each snapshot computed: each save then
    /// hashed everything since the node's start (at 900k events, 18% of a catch-up's
    /// CPU).
    pub(super) fn adopt_newer_tree(&mut self, tree: Option<Arc<Committed>>) {
        let Some(t) = tree else {
            return;
        };
        let own = self.tree.as_ref().filter(|c| c.cold_rows_match(self));
        if t.cold_rows_match(self) && own.is_none_or(|c| c.applied < t.applied) {
            self.tree = Some(t);
        }
    }

    /// Takes the tree of this state, built from its (path, leaf hash) pairs as
    /// [`State::keep_tree`] gave them for it: the next root hashes only the nodes
    /// above the leaves (at 1M events, a third of a start was encoding and hashing
    /// 700,000 leaves). A start builds it on a thread of its own while the rest of the
    /// state decodes.
    pub(super) fn restore_trie(&mut self, trie: Trie) {
        self.tree = Some(Arc::new(Committed {
            orgs: self.orgs.clone(),
            accounts: self.accounts.clone(),
            listings: self.listings.clone(),
            listing_bodies: self.listing_bodies.clone(),
            purchases: self.purchases.clone(),
            votes: self.votes.clone(),
            opted_out: self.opted_out.clone(),
            finalized: self.finalized,
            applied: self.applied,
            trie,
        }));
    }

    /// The state root without keeping the tree (for a state only looked at).
    pub fn root_once(&self) -> Hash32 {
        self.committed().trie.root()
    }

    fn prove(&self, leaf: StateLeaf) -> Option<StateProof> {
        let c = self.committed();
        let (_, siblings) = c.trie.prove(&leaf.key().path())?;
        Some(StateProof {
            leaf: to_canonical(&leaf),
            siblings,
        })
    }

    /// The leaf of `account` (balance, escrow, status...) with its proof under
    /// [`State::root`].
    pub fn prove_account(&self, account: &PublicKey) -> Option<StateProof> {
        let a = self.accounts.get(account)?;
        self.prove(account_leaf(account, a))
    }

    /// The leaf of a purchase (buyer, listing, price, status) with its proof.
    pub fn prove_purchase(&self, purchase: &ContentId) -> Option<StateProof> {
        let p = self.purchases.get(purchase)?;
        self.prove(purchase_leaf(purchase, &p))
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

/// RFC 6962 Merkle Tree Hash with BLAKE3 over `leaves` in the order given: what
/// `events_root` is, over content ids. leaf = H(0x00 || bytes), node = H(0x01 || l || r).
pub fn merkle_root(leaves: Vec<Vec<u8>>) -> Hash32 {
    let mut f = super::frontier::EventsFrontier::default();
    for l in &leaves {
        f.push_leaf(l);
    }
    f.root()
}

/// One state leaf and its proof: the siblings on its path, from the leaf up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProof {
    /// Canonical bytes of the [`StateLeaf`].
    pub leaf: Vec<u8>,
    /// 32 bytes each, the first next to the leaf; 32 zero bytes for an empty subtree.
    pub siblings: Vec<Hash32>,
}

impl StateProof {
    /// Checks the proof against a state root: the leaf must be a canonical
    /// [`StateLeaf`], which gives its path. Never panics.
    pub fn verify(&self, root: &Hash32) -> bool {
        let Ok(leaf) = from_canonical::<StateLeaf>(&self.leaf, MAX_LEAF) else {
            return false;
        };
        super::trie::verify(
            &leaf.key().path(),
            leaf_hash(&self.leaf),
            &self.siblings,
            root,
        )
    }
}
