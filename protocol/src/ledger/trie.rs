//! The state tree: a binary Merkle trie whose leaves sit at the hash of their key.
//!
//! Protocol 6 hashed the state's leaves as an RFC 6962 tree in sorted order. One new
//! leaf there shifts the index of every leaf after it, so the root after one event
//! needed a pass over the whole state (1.1 s at a million events, asked on every
//! checkpoint claim and status call). Here a leaf's place is fixed by its key alone,
//! so a change rehashes only the nodes on its path, about log2(n) of them; and the
//! shape depends only on the set of keys, so every node that holds the same state
//! computes the same root (docs/protocol.md, "State root").
//!
//! Nodes are shared (`Arc`) between versions: a copy of the state keeps its tree for
//! the cost of a pointer, and a change copies only its path. The last few leaves of a
//! path share one node (a bucket), hashed as the definition shapes them.

use super::proof::node_hash;
use crate::hash::Hash32;
use std::sync::Arc;

/// Bit `depth` of a path, most significant bit of byte 0 first.
pub fn bit(path: &Hash32, depth: usize) -> usize {
    ((path.0[depth / 8] >> (7 - depth % 8)) & 1) as usize
}

/// Most leaves a bucket holds. A node per leaf, each behind its own `Arc` with its
/// path, cost some 190 bytes a leaf (134 MiB of the 1M bench's heap); buckets of a
/// few leaves bring it to about half, and a change rehashes at most this many. 32
/// rather than 8: 19 MiB less at a million events (a node's RSS 337 against 356 MiB,
/// 344 with 16), for no time the benches can see (the root after one new event 0.023
/// against 0.022 ms at 300k events; a bucket's hash is at most 31 node hashes).
const BUCKET: usize = 32;

#[derive(Clone)]
enum Node {
    /// Every leaf of its subtree, one to [`BUCKET`] of them, sorted by path. `hash`
    /// is the subtree's, as the definition gives it over these leaves (see
    /// [`subtree_hash`]); `fresh` says whether it is up to date.
    Bucket {
        hash: Hash32,
        fresh: bool,
        leaves: Vec<(Hash32, Hash32)>,
    },
    /// More than [`BUCKET`] leaves below. `fresh` says whether `hash` is up to date:
    /// a batch of changes marks its paths stale and [`Trie::root`] rehashes them once.
    Branch {
        hash: Hash32,
        fresh: bool,
        kids: [Option<Arc<Node>>; 2],
    },
}

/// A persistent state tree. Cloning is O(1).
#[derive(Clone, Default)]
pub struct Trie {
    root: Option<Arc<Node>>,
}

impl std::fmt::Debug for Trie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trie")
    }
}

impl Trie {
    /// The tree of these (path, leaf hash) pairs, built bottom-up in one pass. A path
    /// given twice keeps its last hash.
    pub fn build(mut items: Vec<(Hash32, Hash32)>) -> Trie {
        // A saved tree's pairs come sorted, each path once: one pass says so.
        if !items.is_sorted_by(|a, b| a.0 < b.0) {
            items.sort_by_key(|a| a.0);
            // Stable sort: of equal paths the last given is the last here.
            items.reverse();
            items.dedup_by(|a, b| a.0 == b.0);
            items.reverse();
        }
        Trie {
            root: build(&items, 0),
        }
    }

    /// Sets the leaf at `path` to `hash`, or removes it (None). The root is rehashed by
    /// the next [`Trie::root`].
    pub fn set(&mut self, path: Hash32, hash: Option<Hash32>) {
        match hash {
            Some(hash) => insert(&mut self.root, 0, path, hash),
            None => {
                remove(&mut self.root, 0, &path);
            }
        }
    }

    /// Every (path, leaf hash), sorted by path: what [`Trie::build`] takes back.
    #[cfg(test)]
    pub fn leaves(&self) -> Vec<(Hash32, Hash32)> {
        let mut out = Vec::new();
        let _ = self.try_for_each_leaf(|leaf| {
            out.push(*leaf);
            Ok::<(), ()>(())
        });
        out
    }

    /// How many leaves the tree holds: a walk down to its buckets.
    pub fn count_leaves(&self) -> u64 {
        fn walk(node: &Option<Arc<Node>>) -> u64 {
            match node.as_deref() {
                None => 0,
                Some(Node::Bucket { leaves, .. }) => leaves.len() as u64,
                Some(Node::Branch { kids, .. }) => walk(&kids[0]) + walk(&kids[1]),
            }
        }
        walk(&self.root)
    }

    /// Gives `f` every (path, leaf hash) in path order, what a [`Builder`] takes
    /// back, until `f` fails: a snapshot writes them without a list of them all
    /// (381 MB at 10M events).
    pub fn try_for_each_leaf<E>(
        &self,
        mut f: impl FnMut(&(Hash32, Hash32)) -> Result<(), E>,
    ) -> Result<(), E> {
        fn walk<E>(
            node: &Option<Arc<Node>>,
            f: &mut impl FnMut(&(Hash32, Hash32)) -> Result<(), E>,
        ) -> Result<(), E> {
            match node.as_deref() {
                None => Ok(()),
                Some(Node::Bucket { leaves, .. }) => leaves.iter().try_for_each(&mut *f),
                Some(Node::Branch { kids, .. }) => {
                    walk(&kids[0], f)?;
                    walk(&kids[1], f)
                }
            }
        }
        walk(&self.root, &mut f)
    }

    /// The root hash: 32 zero bytes for an empty tree.
    pub fn root(&mut self) -> Hash32 {
        rehash(&mut self.root, 0)
    }

    /// The leaf hash at `path` and its siblings from the leaf up to the root (32 zero
    /// bytes for an empty sibling). None when no leaf is at `path`. The tree must have
    /// been rehashed since its last change.
    pub fn prove(&self, path: &Hash32) -> Option<(Hash32, Vec<Hash32>)> {
        let mut siblings = Vec::new();
        let mut node = self.root.as_deref()?;
        let mut depth = 0;
        loop {
            match node {
                Node::Bucket { leaves, .. } => {
                    let mut items = leaves.as_slice();
                    let leaf = items.iter().find(|(p, _)| p == path)?.1;
                    // Down the bucket's part of the tree, as the definition shapes it.
                    while items.len() > 1 {
                        let split = items.partition_point(|(p, _)| bit(p, depth) == 0);
                        let (left, right) = items.split_at(split);
                        let (own, other) = match bit(path, depth) {
                            0 => (left, right),
                            _ => (right, left),
                        };
                        siblings.push(subtree_hash(other, depth + 1));
                        items = own;
                        depth += 1;
                    }
                    siblings.reverse();
                    return Some((leaf, siblings));
                }
                Node::Branch { kids, .. } => {
                    let b = bit(path, depth);
                    siblings.push(hash_of(&kids[1 - b]));
                    node = kids[b].as_deref()?;
                    depth += 1;
                }
            }
        }
    }
}

/// Leading bits of a path that pick its slot in a [`Builder`]: 4,096 subtrees, each
/// built once its last pair is given (at 10M events, some 1,500 pairs each).
const SLOT_BITS: usize = 12;

fn slot_of(path: &Hash32) -> usize {
    usize::from(u16::from_be_bytes([path.0[0], path.0[1]])) >> (16 - SLOT_BITS)
}

/// A pair given to a [`Builder`] whose path is not after the last one's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSorted;

/// Builds the tree of (path, leaf hash) pairs given one at a time in path order, the
/// same tree [`Trie::build`] gives for them, holding beside it only the pairs of one
/// slot (the subtree under the path's first [`SLOT_BITS`] bits). A start at 10M
/// events read the saved tree's 6M pairs into one list first: 381 MB alive at the
/// start's memory peak.
pub struct Builder {
    /// The pairs of the slot being filled, whose number is `done.len()`.
    pending: Vec<(Hash32, Hash32)>,
    /// Each slot before it: how many leaves, and its subtree at depth [`SLOT_BITS`].
    done: Vec<(usize, Option<Arc<Node>>)>,
    last: Option<Hash32>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    pub fn new() -> Builder {
        Builder {
            pending: Vec::new(),
            done: Vec::with_capacity(1 << SLOT_BITS),
            last: None,
        }
    }

    /// Adds a pair, whose path must come after every path given before (a saved
    /// tree's do); else nothing changes.
    pub fn push(&mut self, path: Hash32, hash: Hash32) -> Result<(), NotSorted> {
        if self.last.is_some_and(|last| path <= last) {
            return Err(NotSorted);
        }
        self.last = Some(path);
        let slot = slot_of(&path);
        while self.done.len() < slot {
            self.close();
        }
        self.pending.push((path, hash));
        Ok(())
    }

    /// The tree of every pair given.
    pub fn finish(mut self) -> Trie {
        while self.done.len() < 1 << SLOT_BITS {
            self.close();
        }
        Trie {
            root: assemble(&self.done, 0),
        }
    }

    /// Builds the slot being filled and moves on to the next.
    fn close(&mut self) {
        let node = build(&self.pending, SLOT_BITS);
        self.done.push((self.pending.len(), node));
        self.pending.clear();
    }
}

/// The node at `depth` over these consecutive slots (a power of two of them, whose
/// subtrees sit at depth [`SLOT_BITS`]), shaped as [`build`] shapes it: nothing for
/// no leaf, one bucket for a few, else a branch over the two halves.
fn assemble(slots: &[(usize, Option<Arc<Node>>)], depth: usize) -> Option<Arc<Node>> {
    let total: usize = slots.iter().map(|(n, _)| n).sum();
    match (total, slots) {
        (0, _) => None,
        (_, [(_, node)]) => node.clone(),
        (n, _) if n <= BUCKET => {
            // Every slot here holds a bucket, or nothing: none has more leaves.
            let leaves: Vec<_> = slots
                .iter()
                .filter_map(|(_, node)| match node.as_deref() {
                    Some(Node::Bucket { leaves, .. }) => Some(leaves),
                    _ => None,
                })
                .flatten()
                .copied()
                .collect();
            Some(Arc::new(Node::Bucket {
                hash: subtree_hash(&leaves, depth),
                fresh: true,
                leaves,
            }))
        }
        _ => {
            let (left, right) = slots.split_at(slots.len() / 2);
            let kids = [assemble(left, depth + 1), assemble(right, depth + 1)];
            let hash = node_hash(&hash_of(&kids[0]), &hash_of(&kids[1]));
            Some(Arc::new(Node::Branch {
                hash,
                fresh: true,
                kids,
            }))
        }
    }
}

/// The hash of the subtree at `depth` holding exactly `items` (sorted by path, all
/// agreeing on the bits above `depth`), by the definition: zero for none, the leaf
/// hash for one, else the node hash of the two halves one level down.
fn subtree_hash(items: &[(Hash32, Hash32)], depth: usize) -> Hash32 {
    match items {
        [] => Hash32::ZERO,
        [(_, hash)] => *hash,
        _ => {
            // Distinct paths differ within 256 bits.
            let split = items.partition_point(|(p, _)| bit(p, depth) == 0);
            node_hash(
                &subtree_hash(&items[..split], depth + 1),
                &subtree_hash(&items[split..], depth + 1),
            )
        }
    }
}

fn hash_of(slot: &Option<Arc<Node>>) -> Hash32 {
    match slot.as_deref() {
        None => Hash32::ZERO,
        Some(Node::Bucket { hash, .. }) | Some(Node::Branch { hash, .. }) => *hash,
    }
}

/// The node of the subtree at `depth` holding `items` (sorted, distinct paths),
/// hashed: a bucket for a few, else a branch over the two halves.
fn build(items: &[(Hash32, Hash32)], depth: usize) -> Option<Arc<Node>> {
    match items.len() {
        0 => None,
        n if n <= BUCKET => Some(Arc::new(Node::Bucket {
            hash: subtree_hash(items, depth),
            fresh: true,
            leaves: items.to_vec(),
        })),
        _ => {
            let split = items.partition_point(|(p, _)| bit(p, depth) == 0);
            let kids = [
                build(&items[..split], depth + 1),
                build(&items[split..], depth + 1),
            ];
            let hash = node_hash(&hash_of(&kids[0]), &hash_of(&kids[1]));
            Some(Arc::new(Node::Branch {
                hash,
                fresh: true,
                kids,
            }))
        }
    }
}

fn insert(slot: &mut Option<Arc<Node>>, depth: usize, path: Hash32, hash: Hash32) {
    let Some(node) = slot else {
        *slot = Some(Arc::new(Node::Bucket {
            hash,
            fresh: true,
            leaves: vec![(path, hash)],
        }));
        return;
    };
    if let Node::Bucket { leaves, .. } = &**node {
        let at = leaves.binary_search_by_key(&path, |l| l.0);
        if matches!(at, Ok(i) if leaves[i].1 == hash) {
            return;
        }
        if at.is_err() && leaves.len() == BUCKET {
            // Full: the subtree becomes a branch over its halves (rehashed later).
            let mut items = leaves.clone();
            if let Err(i) = at {
                items.insert(i, (path, hash));
            }
            *slot = build(&items, depth);
            return;
        }
    }
    match Arc::make_mut(node) {
        Node::Bucket {
            fresh, leaves: l, ..
        } => {
            *fresh = false;
            match l.binary_search_by_key(&path, |x| x.0) {
                Ok(i) => l[i].1 = hash,
                Err(i) => {
                    // Room for this leaf alone, not twice the bucket's: a bucket copied
                    // from a shared one has no room left, and the doubling a first
                    // insert made left the buckets of a fold about 60% full (73 MB of
                    // buckets at a replay's peak at 1M events, 45 MB of leaves).
                    l.reserve_exact(1);
                    l.insert(i, (path, hash));
                }
            }
        }
        Node::Branch { fresh, kids, .. } => {
            *fresh = false;
            insert(&mut kids[bit(&path, depth)], depth + 1, path, hash);
        }
    }
}

/// Removes the leaf at `path`; true when there was one. A branch left with
/// [`BUCKET`] leaves or fewer below becomes one bucket, so that every branch holds
/// more (and a subtree of one leaf is that leaf's bucket, whose hash is the leaf's).
fn remove(slot: &mut Option<Arc<Node>>, depth: usize, path: &Hash32) -> bool {
    if !holds(slot, depth, path) {
        // Look before copying the path: removing an absent key copies nothing.
        return false;
    }
    let Some(node) = slot else {
        return false;
    };
    match Arc::make_mut(node) {
        Node::Bucket { fresh, leaves, .. } => {
            leaves.retain(|(p, _)| p != path);
            *fresh = false;
            if leaves.is_empty() {
                *slot = None;
            }
        }
        Node::Branch { fresh, kids, .. } => {
            *fresh = false;
            remove(&mut kids[bit(path, depth)], depth + 1, path);
            let few = |k: &Option<Arc<Node>>| match k.as_deref() {
                None => Some(0),
                Some(Node::Bucket { leaves, .. }) => Some(leaves.len()),
                Some(Node::Branch { .. }) => None,
            };
            if let (Some(a), Some(b)) = (few(&kids[0]), few(&kids[1])) {
                if a + b <= BUCKET {
                    let mut leaves = Vec::with_capacity(a + b);
                    for k in kids.iter().flatten() {
                        if let Node::Bucket { leaves: l, .. } = &**k {
                            leaves.extend_from_slice(l);
                        }
                    }
                    *slot = match leaves.is_empty() {
                        true => None,
                        false => Some(Arc::new(Node::Bucket {
                            hash: Hash32::ZERO,
                            fresh: false,
                            leaves,
                        })),
                    };
                }
            }
        }
    }
    true
}

fn holds(slot: &Option<Arc<Node>>, mut depth: usize, path: &Hash32) -> bool {
    let mut node = slot.as_deref();
    while let Some(n) = node {
        match n {
            Node::Bucket { leaves, .. } => return leaves.iter().any(|(p, _)| p == path),
            Node::Branch { kids, .. } => {
                node = kids[bit(path, depth)].as_deref();
                depth += 1;
            }
        }
    }
    false
}

fn rehash(slot: &mut Option<Arc<Node>>, depth: usize) -> Hash32 {
    let Some(node) = slot else {
        return Hash32::ZERO;
    };
    match &**node {
        Node::Bucket {
            hash, fresh: true, ..
        }
        | Node::Branch {
            hash, fresh: true, ..
        } => *hash,
        _ => match Arc::make_mut(node) {
            Node::Bucket {
                hash,
                fresh,
                leaves,
            } => {
                *hash = subtree_hash(leaves, depth);
                *fresh = true;
                *hash
            }
            Node::Branch { hash, fresh, kids } => {
                let l = rehash(&mut kids[0], depth + 1);
                let r = rehash(&mut kids[1], depth + 1);
                *hash = node_hash(&l, &r);
                *fresh = true;
                *hash
            }
        },
    }
}

/// Checks that the leaf hash `leaf` sits at `path` under `root`, given its siblings
/// from the leaf up. At most 256 siblings: one per bit of the path.
pub fn verify(path: &Hash32, leaf: Hash32, siblings: &[Hash32], root: &Hash32) -> bool {
    if siblings.len() > 256 {
        return false;
    }
    let mut h = leaf;
    for (i, s) in siblings.iter().enumerate() {
        let depth = siblings.len() - 1 - i;
        h = if bit(path, depth) == 0 {
            node_hash(&h, s)
        } else {
            node_hash(s, &h)
        };
    }
    &h == root
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn p(i: u64) -> Hash32 {
        Hash32::of(&i.to_le_bytes())
    }

    fn h(i: u64, v: u64) -> Hash32 {
        Hash32::of(&[i.to_le_bytes(), v.to_le_bytes()].concat())
    }

    /// The definition, recursively over the sorted set: what the spec says.
    fn reference(items: &BTreeMap<Hash32, Hash32>) -> Hash32 {
        fn go(items: &[(Hash32, Hash32)], depth: usize) -> Hash32 {
            match items {
                [] => Hash32::ZERO,
                [(_, h)] => *h,
                _ => {
                    let (l, r): (Vec<_>, Vec<_>) =
                        items.iter().partition(|(p, _)| bit(p, depth) == 0);
                    node_hash(&go(&l, depth + 1), &go(&r, depth + 1))
                }
            }
        }
        let v: Vec<_> = items.iter().map(|(a, b)| (*a, *b)).collect();
        go(&v, 0)
    }

    /// (leaves, room) over every bucket.
    fn bucket_room(t: &Trie) -> (usize, usize) {
        fn walk(node: &Option<Arc<Node>>, sum: &mut (usize, usize)) {
            match node.as_deref() {
                None => {}
                Some(Node::Bucket { leaves, .. }) => {
                    sum.0 += leaves.len();
                    sum.1 += leaves.capacity();
                }
                Some(Node::Branch { kids, .. }) => kids.iter().for_each(|k| walk(k, sum)),
            }
        }
        let mut sum = (0, 0);
        walk(&t.root, &mut sum);
        sum
    }

    #[test]
    fn a_bucket_holds_room_for_its_leaves_only() {
        // A fold keeps each state's tree and sets the next one's leaves in a copy: the
        // buckets it writes to are shared, copied without room, then grown by one.
        let mut t = Trie::build((0..20_000).map(|i| (p(i), h(i, 0))).collect());
        let kept: Vec<Trie> = (1..=20u64)
            .map(|round| {
                for i in 0..500 {
                    let k = 20_000 + round * 1_000 + i;
                    t.set(p(k), Some(h(k, 0)));
                }
                t.clone()
            })
            .collect();
        let (leaves, room) = bucket_room(&t);
        assert_eq!(leaves, 30_000);
        assert_eq!(
            room, leaves,
            "room for {room} leaves in buckets of {leaves}"
        );
        // Growing one bucket a leaf at a time, unshared, leaves no room either.
        let mut one = Trie::default();
        for i in 0..BUCKET as u64 {
            one.set(p(i), Some(h(i, 0)));
        }
        assert_eq!(bucket_room(&one), (BUCKET, BUCKET));
        drop(kept);
    }

    #[test]
    fn incremental_changes_give_the_built_root_and_proofs_verify() {
        let mut t = Trie::default();
        let mut model = BTreeMap::new();
        assert_eq!(t.root(), Hash32::ZERO);
        // Inserts, updates and removals in a fixed pseudo-random pattern, over enough
        // keys for buckets to fill, split and merge many times.
        for step in 0..2400u64 {
            let key = (step * 7919) % 389;
            if step % 5 == 3 {
                t.set(p(key), None);
                model.remove(&p(key));
            } else {
                t.set(p(key), Some(h(key, step)));
                model.insert(p(key), h(key, step));
            }
            if step % 7 == 0 {
                let root = t.root();
                assert_eq!(root, reference(&model), "step {step}");
                let built = Trie::build(model.iter().map(|(a, b)| (*a, *b)).collect()).root();
                assert_eq!(built, root);
                // What a snapshot saves: every leaf, sorted, and the same tree back.
                let leaves = t.leaves();
                assert_eq!(
                    leaves,
                    model.iter().map(|(a, b)| (*a, *b)).collect::<Vec<_>>()
                );
                assert_eq!(Trie::build(leaves).root(), root);
            }
        }
        let root = t.root();
        for (path, leaf) in &model {
            let (got, siblings) = t.prove(path).unwrap();
            assert_eq!(got, *leaf);
            assert!(verify(path, *leaf, &siblings, &root));
            assert!(!verify(path, h(0, 0), &siblings, &root));
            let mut other = *path;
            other.0[0] ^= 0x80;
            assert!(!verify(&other, *leaf, &siblings, &root) || siblings.is_empty());
        }
        assert!(t.prove(&p(1000)).is_none());
    }

    /// Paths that agree on all but their last bits sit deep under one branch: the
    /// buckets hash them, and prove them, as the definition does, level by level.
    #[test]
    fn leaves_with_long_common_prefixes_hash_and_prove_as_defined() {
        let deep = |i: u8| {
            let mut path = p(5);
            path.0[31] = i;
            path
        };
        let mut t = Trie::default();
        let mut model = BTreeMap::new();
        for step in 0..400u64 {
            let path = match step % 3 {
                0 => p(step % 40),
                _ => deep((step * 37 % 23) as u8),
            };
            if step % 4 == 1 {
                t.set(path, None);
                model.remove(&path);
            } else {
                t.set(path, Some(h(step, 1)));
                model.insert(path, h(step, 1));
            }
            let root = t.root();
            assert_eq!(root, reference(&model), "step {step}");
            for (path, leaf) in &model {
                let (got, siblings) = t.prove(path).unwrap();
                assert_eq!(got, *leaf);
                assert!(verify(path, *leaf, &siblings, &root), "step {step}");
            }
        }
        // Emptied leaf by leaf, the tree comes back to nothing.
        for path in model.keys() {
            t.set(*path, None);
        }
        assert_eq!(t.root(), Hash32::ZERO);
    }

    /// Whether two subtrees have the same shape, hashes and leaves.
    fn same(a: &Option<Arc<Node>>, b: &Option<Arc<Node>>) -> bool {
        match (a.as_deref(), b.as_deref()) {
            (None, None) => true,
            (
                Some(Node::Bucket {
                    hash: h1,
                    fresh: true,
                    leaves: l1,
                }),
                Some(Node::Bucket {
                    hash: h2,
                    fresh: true,
                    leaves: l2,
                }),
            ) => h1 == h2 && l1 == l2,
            (
                Some(Node::Branch {
                    hash: h1,
                    fresh: true,
                    kids: k1,
                }),
                Some(Node::Branch {
                    hash: h2,
                    fresh: true,
                    kids: k2,
                }),
            ) => h1 == h2 && same(&k1[0], &k2[0]) && same(&k1[1], &k2[1]),
            _ => false,
        }
    }

    /// What a start does with a saved tree: the pairs walked out of one tree and
    /// pushed one by one into a builder give the very tree `Trie::build` gives.
    fn rebuilt(t: &Trie) -> Trie {
        let mut b = Builder::new();
        t.try_for_each_leaf(|(path, hash)| b.push(*path, *hash))
            .unwrap();
        b.finish()
    }

    fn built_both_ways(pairs: Vec<(Hash32, Hash32)>) {
        let mut whole = Trie::build(pairs.clone());
        assert_eq!(whole.count_leaves(), pairs.len() as u64);
        let mut b = Builder::new();
        for (path, hash) in &pairs {
            b.push(*path, *hash).unwrap();
        }
        let mut streamed = b.finish();
        assert!(same(&streamed.root, &whole.root));
        assert!(same(&rebuilt(&whole).root, &whole.root));
        let model: BTreeMap<_, _> = pairs.into_iter().collect();
        assert_eq!(streamed.root(), reference(&model));
        assert_eq!(whole.root(), reference(&model));
    }

    #[test]
    fn a_builder_gives_the_tree_build_gives_at_any_size() {
        for n in [0, 1, 2, 31, 32, 33, 64, 65, 1000, 20_000] {
            let mut pairs: Vec<_> = (0..n).map(|i| (p(i), h(i, 0))).collect();
            pairs.sort();
            built_both_ways(pairs);
        }
    }

    proptest::proptest! {
        /// Paths crowded into a few slots, or spread over a few neighbouring ones
        /// with a handful of leaves each: slots merge into buckets above their depth,
        /// or split far below it.
        #[test]
        fn a_builder_gives_the_tree_build_gives_for_crowded_paths(
            paths in proptest::collection::btree_set(
                (0u8..3, proptest::prelude::any::<u8>(), 0u8..4, proptest::prelude::any::<u8>()),
                0..400,
            ),
        ) {
            let pairs = paths
                .into_iter()
                .map(|(a, b, c, d)| {
                    let mut path = Hash32::ZERO;
                    path.0[0] = a;
                    path.0[1] = b & 0x31;
                    path.0[2] = c;
                    path.0[31] = d;
                    (path, h(u64::from(d), u64::from(a)))
                })
                .collect::<BTreeMap<_, _>>()
                .into_iter()
                .collect();
            built_both_ways(pairs);
        }
    }

    #[test]
    fn a_builder_refuses_a_path_out_of_order_and_keeps_what_it_had() {
        let mut b = Builder::new();
        b.push(p(1), h(1, 0)).unwrap();
        assert_eq!(b.push(p(1), h(1, 1)), Err(NotSorted));
        assert_eq!(b.push(Hash32::ZERO, h(2, 0)), Err(NotSorted));
        let mut t = b.finish();
        assert_eq!(t.root(), h(1, 0));
        assert_eq!(t.leaves(), vec![(p(1), h(1, 0))]);
    }

    #[test]
    fn a_copy_keeps_its_root_while_the_original_changes() {
        let mut t = Trie::build((0..50).map(|i| (p(i), h(i, 0))).collect());
        let before = t.root();
        let mut copy = t.clone();
        t.set(p(3), Some(h(3, 1)));
        t.set(p(60), Some(h(60, 0)));
        t.set(p(7), None);
        assert_ne!(t.root(), before);
        assert_eq!(copy.root(), before);
    }

    #[test]
    fn one_leaf_is_its_own_root_and_removing_all_empties_the_tree() {
        let mut t = Trie::default();
        t.set(p(1), Some(h(1, 1)));
        assert_eq!(t.root(), h(1, 1));
        t.set(p(2), Some(h(2, 1)));
        t.set(p(1), None);
        assert_eq!(t.root(), h(2, 1));
        t.set(p(2), None);
        assert_eq!(t.root(), Hash32::ZERO);
    }
}
