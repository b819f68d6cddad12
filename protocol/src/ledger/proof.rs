//! Merkle proofs for auditors: an event under a checkpoint's `events_root` and the
//! consistency of two event trees (state leaves are proven by [`super::StateProof`]).
//!
//! The event tree is that of docs/protocol.md ("Event tree"): RFC 6962 with BLAKE3,
//! leaf = H(0x00 || bytes), node = H(0x01 || left || right). Proofs are generated from
//! the leaf hashes (RFC 6962 §2.1.1 `PATH` and §2.1.2 `PROOF`) and verified with the
//! iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which docs/audit.md spells
//! out for other implementations. Verification never panics, whatever it is given.

use crate::hash::Hash32;

/// RFC 6962 leaf hash with BLAKE3: H(0x00 || bytes).
pub fn leaf_hash(bytes: &[u8]) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x00]);
    h.update(bytes);
    Hash32(*h.finalize().as_bytes())
}

/// RFC 6962 interior node hash with BLAKE3: H(0x01 || left || right).
pub fn node_hash(left: &Hash32, right: &Hash32) -> Hash32 {
    let mut h = blake3::Hasher::new();
    h.update(&[0x01]);
    h.update(left.as_bytes());
    h.update(right.as_bytes());
    Hash32(*h.finalize().as_bytes())
}

/// The Merkle tree hash of the empty tree: BLAKE3 of no bytes.
pub fn empty_root() -> Hash32 {
    Hash32::of(&[])
}

/// Largest power of two strictly below `n` (n >= 2).
fn split(n: usize) -> usize {
    let mut k = 1;
    while k << 1 < n {
        k <<= 1;
    }
    k
}

/// MTH over leaf hashes already computed.
pub fn tree_hash(leaves: &[Hash32]) -> Hash32 {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&tree_hash(&leaves[..k]), &tree_hash(&leaves[k..]))
        }
    }
}

/// The audit path of leaf `index` (RFC 6962 `PATH(m, D[n])`), leaf to root; None when
/// `index` is out of range.
pub fn prove_inclusion(leaves: &[Hash32], index: usize) -> Option<Vec<Hash32>> {
    if index >= leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    path(index, leaves, &mut out);
    Some(out)
}

fn path(m: usize, d: &[Hash32], out: &mut Vec<Hash32>) {
    if d.len() <= 1 {
        return;
    }
    let k = split(d.len());
    if m < k {
        path(m, &d[..k], out);
        out.push(tree_hash(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(tree_hash(&d[..k]));
    }
}

/// The consistency proof from the first `old_size` leaves to all of `leaves`
/// (RFC 6962 `PROOF(m, D[n])`); None unless `0 < old_size <= leaves.len()`.
pub fn prove_consistency(leaves: &[Hash32], old_size: usize) -> Option<Vec<Hash32>> {
    if old_size == 0 || old_size > leaves.len() {
        return None;
    }
    let mut out = Vec::new();
    subproof(old_size, leaves, true, &mut out);
    Some(out)
}

fn subproof(m: usize, d: &[Hash32], whole: bool, out: &mut Vec<Hash32>) {
    let n = d.len();
    if m == n {
        if !whole {
            out.push(tree_hash(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], whole, out);
        out.push(tree_hash(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(tree_hash(&d[..k]));
    }
}

/// Checks that `leaf` (the leaf's bytes, not its hash) is at `index` of a tree of
/// `size` leaves with root `root`, given its audit path (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &[u8],
    index: u64,
    size: u64,
    path: &[Hash32],
    root: &Hash32,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = leaf_hash(leaf);
    for p in path {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && &r == root
}

/// Checks that the tree of `old_size` leaves with root `old_root` is a prefix of the
/// tree of `new_size` leaves with root `new_root` (RFC 9162 §2.1.4.2). An empty old
/// tree is a prefix of every tree: the proof must then be empty.
pub fn verify_consistency(
    old_size: u64,
    old_root: &Hash32,
    new_size: u64,
    new_root: &Hash32,
    proof: &[Hash32],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if proof.is_empty() {
        return false;
    }
    // With a power-of-two old size the old root itself starts the path.
    let mut path: Vec<Hash32> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    let (mut f_n, mut s_n) = (old_size - 1, new_size - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    &fr == old_root && &sr == new_root && s_n == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use ct_merkle::mem_backed_tree::MemoryBackedTree;

    fn ids(n: usize) -> Vec<Vec<u8>> {
        (0..n as u64)
            .map(|i| Hash32::of(&i.to_le_bytes()).0.to_vec())
            .collect()
    }

    fn ct(leaves: &[Vec<u8>]) -> MemoryBackedTree<blake3::Hasher, Vec<u8>> {
        let mut t = MemoryBackedTree::new();
        for l in leaves {
            t.push(l.clone());
        }
        t
    }

    fn bytes(path: &[Hash32]) -> Vec<u8> {
        path.iter().flat_map(|h| h.0).collect()
    }

    #[test]
    fn inclusion_matches_ct_merkle_and_verifies() {
        for n in 1..40 {
            let leaves = ids(n);
            let hashes: Vec<Hash32> = leaves.iter().map(|l| leaf_hash(l)).collect();
            let t = ct(&leaves);
            let root = tree_hash(&hashes);
            assert_eq!(root.0[..], t.root().as_bytes()[..]);
            assert_eq!(root, super::super::merkle_root(leaves.clone()));
            for (i, leaf) in leaves.iter().enumerate() {
                let p = prove_inclusion(&hashes, i).unwrap();
                assert_eq!(bytes(&p), t.prove_inclusion(i).as_bytes(), "n={n} i={i}");
                assert!(verify_inclusion(leaf, i as u64, n as u64, &p, &root));
                // Wrong index, leaf or a path one hash short or long: refused. (A path
                // can fit several sizes: the size is taken from the signed claim.)
                assert!(!verify_inclusion(leaf, i as u64 + 1, n as u64, &p, &root));
                assert!(!verify_inclusion(b"x", i as u64, n as u64, &p, &root));
                let mut longer = p.clone();
                longer.push(root);
                assert!(!verify_inclusion(leaf, i as u64, n as u64, &longer, &root));
                if let Some((_, shorter)) = p.split_last() {
                    assert!(!verify_inclusion(leaf, i as u64, n as u64, shorter, &root));
                }
            }
            assert!(prove_inclusion(&hashes, n).is_none());
        }
    }

    #[test]
    fn consistency_matches_ct_merkle_and_verifies() {
        for n in 1..34 {
            let leaves = ids(n);
            let hashes: Vec<Hash32> = leaves.iter().map(|l| leaf_hash(l)).collect();
            let t = ct(&leaves);
            let root = tree_hash(&hashes);
            for m in 1..=n {
                let p = prove_consistency(&hashes, m).unwrap();
                assert_eq!(
                    bytes(&p),
                    t.prove_consistency(n - m).as_bytes(),
                    "n={n} m={m}"
                );
                let old = tree_hash(&hashes[..m]);
                assert!(
                    verify_consistency(m as u64, &old, n as u64, &root, &p),
                    "n={n} m={m}"
                );
                // Another old tree (one leaf changed) is not a prefix.
                let mut other = hashes.clone();
                other[m - 1] = leaf_hash(b"removed");
                let other_old = tree_hash(&other[..m]);
                assert!(!verify_consistency(
                    m as u64, &other_old, n as u64, &root, &p
                ));
                if m < n {
                    assert!(!verify_consistency(m as u64 + 1, &old, n as u64, &root, &p));
                    assert!(!verify_consistency(m as u64, &old, n as u64, &old, &p));
                }
            }
            assert!(verify_consistency(0, &empty_root(), n as u64, &root, &[]));
            assert!(!verify_consistency(
                n as u64 + 1,
                &root,
                n as u64,
                &root,
                &[]
            ));
        }
    }
}
