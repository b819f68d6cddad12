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
//! the cost of a pointer, and a change copies only its path.

use super::proof::node_hash;
use crate::hash::Hash32;
use std::sync::Arc;

/// Bit `depth` of a path, most significant bit of byte 0 first.
pub fn bit(path: &Hash32, depth: usize) -> usize {
    ((path.0[depth / 8] >> (7 - depth % 8)) & 1) as usize
}

#[derive(Clone)]
enum Node {
    /// The only leaf of its subtree: its path and its leaf hash.
    Leaf { path: Hash32, hash: Hash32 },
    /// Two or more leaves below. `fresh` says whether `hash` is up to date: a batch of
    /// changes marks its paths stale and [`Trie::root`] rehashes them once.
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
        items.sort_by_key(|a| a.0);
        // Stable sort: of equal paths the last given is the last here.
        items.reverse();
        items.dedup_by(|a, b| a.0 == b.0);
        items.reverse();
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

    /// The root hash: 32 zero bytes for an empty tree.
    pub fn root(&mut self) -> Hash32 {
        rehash(&mut self.root)
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
                Node::Leaf { path: p, hash } => {
                    if p != path {
                        return None;
                    }
                    siblings.reverse();
                    return Some((*hash, siblings));
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

fn hash_of(slot: &Option<Arc<Node>>) -> Hash32 {
    match slot.as_deref() {
        None => Hash32::ZERO,
        Some(Node::Leaf { hash, .. }) | Some(Node::Branch { hash, .. }) => *hash,
    }
}

fn build(items: &[(Hash32, Hash32)], depth: usize) -> Option<Arc<Node>> {
    match items {
        [] => None,
        [(path, hash)] => Some(Arc::new(Node::Leaf {
            path: *path,
            hash: *hash,
        })),
        _ => {
            // Distinct paths differ within 256 bits.
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
        *slot = Some(Arc::new(Node::Leaf { path, hash }));
        return;
    };
    if let Node::Leaf { path: p, hash: h } = &**node {
        if *p == path {
            if *h != hash {
                *slot = Some(Arc::new(Node::Leaf { path, hash }));
            }
            return;
        }
        // Split: the old leaf goes one level down, and the new one after it (which
        // splits again while their paths agree).
        let old = node.clone();
        let mut kids: [Option<Arc<Node>>; 2] = [None, None];
        kids[bit(p, depth)] = Some(old);
        insert(&mut kids[bit(&path, depth)], depth + 1, path, hash);
        *slot = Some(Arc::new(Node::Branch {
            hash: Hash32::ZERO,
            fresh: false,
            kids,
        }));
        return;
    }
    if let Node::Branch { fresh, kids, .. } = Arc::make_mut(node) {
        *fresh = false;
        insert(&mut kids[bit(&path, depth)], depth + 1, path, hash);
    }
}

/// Removes the leaf at `path`; true when there was one. A branch left with a single
/// leaf below becomes that leaf, so the shape stays a function of the keys.
fn remove(slot: &mut Option<Arc<Node>>, depth: usize, path: &Hash32) -> bool {
    let Some(node) = slot else {
        return false;
    };
    match &**node {
        Node::Leaf { path: p, .. } => {
            if p == path {
                *slot = None;
                return true;
            }
            false
        }
        Node::Branch { kids, .. } => {
            let b = bit(path, depth);
            // Look before copying the path: removing an absent key copies nothing.
            if !holds(&kids[b], depth + 1, path) {
                return false;
            }
            let Node::Branch { fresh, kids, .. } = Arc::make_mut(node) else {
                return false;
            };
            *fresh = false;
            remove(&mut kids[b], depth + 1, path);
            let lone = match kids {
                [None, Some(k)] | [Some(k), None] if matches!(**k, Node::Leaf { .. }) => {
                    Some(k.clone())
                }
                [None, None] => None,
                _ => return true,
            };
            *slot = lone;
            true
        }
    }
}

fn holds(slot: &Option<Arc<Node>>, mut depth: usize, path: &Hash32) -> bool {
    let mut node = slot.as_deref();
    while let Some(n) = node {
        match n {
            Node::Leaf { path: p, .. } => return p == path,
            Node::Branch { kids, .. } => {
                node = kids[bit(path, depth)].as_deref();
                depth += 1;
            }
        }
    }
    false
}

fn rehash(slot: &mut Option<Arc<Node>>) -> Hash32 {
    let Some(node) = slot else {
        return Hash32::ZERO;
    };
    match &**node {
        Node::Leaf { hash, .. } => *hash,
        Node::Branch {
            hash, fresh: true, ..
        } => *hash,
        Node::Branch { .. } => {
            let Node::Branch { hash, fresh, kids } = Arc::make_mut(node) else {
                return Hash32::ZERO;
            };
            let l = rehash(&mut kids[0]);
            let r = rehash(&mut kids[1]);
            *hash = node_hash(&l, &r);
            *fresh = true;
            *hash
        }
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

    #[test]
    fn incremental_changes_give_the_built_root_and_proofs_verify() {
        let mut t = Trie::default();
        let mut model = BTreeMap::new();
        assert_eq!(t.root(), Hash32::ZERO);
        // Inserts, updates and removals in a fixed pseudo-random pattern.
        for step in 0..600u64 {
            let key = (step * 7919) % 97;
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
